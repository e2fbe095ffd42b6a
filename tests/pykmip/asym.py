#!/usr/bin/env python3
"""Runs key pairs, signatures and RSA encryption through PyKMIP's ProxyKmipClient against a KMIP
server over mutual TLS, in KMIP 1.2 (PyKMIP's default), with the `cryptography` package (installed
with PyKMIP) as an independent second implementation:

create_key_pair (RSA 2048, EC P-256, Ed25519), activate both halves, get the public keys, sign with
RSA-PSS (SHA-256, SHA-512) / RSA PKCS#1 v1.5 / ECDSA / Ed25519 and check each signature locally with
`cryptography` and with signature_verify (a tampered message must come back Invalid), encrypt with RSA-OAEP on
the server and decrypt locally, encrypt locally (OAEP SHA-1, SHA-256, SHA-512, PKCS#1 v1.5) and decrypt on the
server.

Prints one JSON object on stdout: {"steps": [{"step": ..., "ok": true, "detail": ...}, ...]}.
Exits 0 when every step passed, 1 when some failed, 2 when the client could not connect, 64 on
bad arguments. The Rust test tests/pykmip_asym.rs drives it.

Usage: asym.py HOST PORT CERT KEY CA
"""

import logging
import sys
import warnings

warnings.simplefilter("ignore")

from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding  # noqa: E402
from kmip.core import enums  # noqa: E402
from steps import Steps, cannot_connect, connect, expect  # noqa: E402

MESSAGE = b"signed by kmipd for PyKMIP"
SECRET = b"a 32-byte data encryption key..."



def local_public_key(managed):
    """The public key PyKMIP got, loaded by `cryptography` (SubjectPublicKeyInfo or PKCS#1)."""
    der = bytes(managed.value)
    try:
        return serialization.load_der_public_key(der)
    except ValueError:
        # PKCS#1 RSAPublicKey: cryptography reads it through the PEM form.
        pem = b"-----BEGIN RSA PUBLIC KEY-----\n"
        import base64
        body = base64.encodebytes(der)
        pem += body + b"-----END RSA PUBLIC KEY-----\n"
        return serialization.load_pem_public_key(pem)


def asymmetric(c, steps):
    ids = {}
    usage = enums.CryptographicUsageMask

    def create(name, algorithm, length, private_masks, public_masks):
        def action():
            public_uid, private_uid = c.create_key_pair(
                algorithm, length,
                public_name=name + "-public", public_usage_mask=public_masks,
                private_name=name + "-private", private_usage_mask=private_masks)
            expect(public_uid and private_uid and public_uid != private_uid,
                   "create_key_pair returned {} {}".format(public_uid, private_uid))
            c.activate(public_uid)
            c.activate(private_uid)
            ids[name] = (public_uid, private_uid)
            return [public_uid, private_uid]
        steps.run("create_key_pair " + name, action)

    create("rsa", enums.CryptographicAlgorithm.RSA, 2048,
           [usage.SIGN, usage.DECRYPT], [usage.VERIFY, usage.ENCRYPT])
    create("ec", enums.CryptographicAlgorithm.EC, 256, [usage.SIGN], [usage.VERIFY])
    create("ed25519", enums.CryptographicAlgorithm.ED25519, 256, [usage.SIGN], [usage.VERIFY])

    def get_public(name):
        def action():
            key = c.get(ids[name][0])
            ids[name + "-local"] = local_public_key(key)
            return {"format": str(key.key_format_type), "bytes": len(key.value)}
        steps.run("get public " + name, action)

    get_public("rsa")
    get_public("ec")
    get_public("ed25519")

    def sign_and_verify(label, name, parameters, local_verify):
        def action():
            public_uid, private_uid = ids[name]
            signature = c.sign(MESSAGE, uid=private_uid, cryptographic_parameters=parameters)
            local_verify(ids[name + "-local"], bytes(signature))
            valid = c.signature_verify(MESSAGE, signature, uid=public_uid,
                                       cryptographic_parameters=parameters)
            expect(valid == enums.ValidityIndicator.VALID, "server says {}".format(valid))
            invalid = c.signature_verify(MESSAGE + b"!", signature, uid=public_uid,
                                         cryptographic_parameters=parameters)
            expect(invalid == enums.ValidityIndicator.INVALID,
                   "tampered message: server says {}".format(invalid))
            return len(signature)
        steps.run("sign and signature_verify " + label, action)

    sign_and_verify(
        "RSA-PSS SHA-256", "rsa",
        {"padding_method": enums.PaddingMethod.PSS,
         "hashing_algorithm": enums.HashingAlgorithm.SHA_256,
         "cryptographic_algorithm": enums.CryptographicAlgorithm.RSA},
        lambda key, sig: key.verify(
            sig, MESSAGE,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()))
    sign_and_verify(
        "RSA-PSS SHA-512", "rsa",
        {"padding_method": enums.PaddingMethod.PSS,
         "hashing_algorithm": enums.HashingAlgorithm.SHA_512,
         "cryptographic_algorithm": enums.CryptographicAlgorithm.RSA},
        lambda key, sig: key.verify(
            sig, MESSAGE,
            padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64), hashes.SHA512()))
    sign_and_verify(
        "RSA PKCS#1 v1.5 SHA-384", "rsa",
        {"digital_signature_algorithm":
            enums.DigitalSignatureAlgorithm.SHA384_WITH_RSA_ENCRYPTION},
        lambda key, sig: key.verify(sig, MESSAGE, padding.PKCS1v15(), hashes.SHA384()))
    sign_and_verify(
        "ECDSA P-256 SHA-256", "ec",
        {"digital_signature_algorithm": enums.DigitalSignatureAlgorithm.ECDSA_WITH_SHA256},
        lambda key, sig: key.verify(sig, MESSAGE, ec.ECDSA(hashes.SHA256())))

    sign_and_verify(
        "Ed25519", "ed25519", None,
        lambda key, sig: key.verify(sig, MESSAGE))

    def tampered_signature_fails_locally():
        public_uid, private_uid = ids["ec"]
        signature = bytearray(c.sign(MESSAGE, uid=private_uid))
        try:
            ids["ec-local"].verify(bytes(signature), MESSAGE + b"!", ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return True
        raise AssertionError("a signature over another message verified locally")
    steps.run("local check rejects a wrong message", tampered_signature_fails_locally)

    oaep_sha256 = {"padding_method": enums.PaddingMethod.OAEP,
                   "hashing_algorithm": enums.HashingAlgorithm.SHA_256,
                   "cryptographic_algorithm": enums.CryptographicAlgorithm.RSA}

    def server_round_trip():
        public_uid, private_uid = ids["rsa"]
        ciphertext, _ = c.encrypt(SECRET, uid=public_uid, cryptographic_parameters=oaep_sha256)
        expect(len(ciphertext) == 256, "ciphertext of {} bytes".format(len(ciphertext)))
        plain = c.decrypt(ciphertext, uid=private_uid, cryptographic_parameters=oaep_sha256)
        expect(plain == SECRET, "server round trip differs")
        return len(ciphertext)
    steps.run("encrypt and decrypt RSA-OAEP SHA-256", server_round_trip)

    def local_encrypt_server_decrypts(label, local_padding, parameters):
        def action():
            public_uid, private_uid = ids["rsa"]
            ciphertext = ids["rsa-local"].encrypt(SECRET, local_padding)
            plain = c.decrypt(ciphertext, uid=private_uid, cryptographic_parameters=parameters)
            expect(plain == SECRET, "decrypted {!r}".format(plain))
            return True
        steps.run("decrypt what cryptography encrypted " + label, action)

    local_encrypt_server_decrypts(
        "OAEP SHA-256",
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
        oaep_sha256)
    for label, local_hash, kmip_hash in [
            ("SHA-1", hashes.SHA1(), enums.HashingAlgorithm.SHA_1),
            ("SHA-512", hashes.SHA512(), enums.HashingAlgorithm.SHA_512)]:
        local_encrypt_server_decrypts(
            "OAEP " + label,
            padding.OAEP(mgf=padding.MGF1(local_hash), algorithm=local_hash, label=None),
            {"padding_method": enums.PaddingMethod.OAEP,
             "hashing_algorithm": kmip_hash,
             "cryptographic_algorithm": enums.CryptographicAlgorithm.RSA})
    local_encrypt_server_decrypts(
        "PKCS#1 v1.5", padding.PKCS1v15(),
        {"padding_method": enums.PaddingMethod.PKCS1v15,
         "cryptographic_algorithm": enums.CryptographicAlgorithm.RSA})

    def wrong_key_refused():
        public_uid, _ = ids["rsa"]
        try:
            c.sign(MESSAGE, uid=public_uid)
        except Exception as error:
            return "refused: {}".format(error)
        raise AssertionError("a public key signed")
    steps.run("sign with a public key is refused", wrong_key_refused)


def main(argv):
    if len(argv) != 6:
        sys.stderr.write(__doc__)
        return 64
    logging.basicConfig(level=logging.CRITICAL)
    steps = Steps()
    try:
        c = connect(argv[1:], enums.KMIPVersion.KMIP_1_2)
        c.open()
    except Exception as error:
        return cannot_connect(error)
    try:
        asymmetric(c, steps)
    finally:
        c.close()
    return steps.report()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
