#!/usr/bin/env python3
"""Runs the symmetric cryptographic services through PyKMIP's ProxyKmipClient over mutual TLS.

Steps (KMIP 1.2, PyKMIP's default): create an AES-256 key and activate it; encrypt with CBC/PKCS5 and Random IV
(the server returns the IV) and decrypt it back; encrypt with no Cryptographic Parameters (CBC/PKCS5 with a
server IV, as MongoDB does) and decrypt it back; register an HMAC-SHA256 key and mac with it (checked against
Python's hmac); derive keys by PBKDF2, HMAC and Encrypt and check each derived key's bytes against Python's own
computation. Each step is judged here; a failed step does not stop the others.

Prints one JSON object: {"steps": [{"step": ..., "ok": ..., "detail"|"error": ...}]}; exits 0 when every step
passed, 1 when some failed, 2 when the client could not connect, 64 on bad arguments.

Usage: crypto.py HOST PORT CERT KEY CA
"""

import hashlib
import hmac
import logging
import sys
import warnings

warnings.simplefilter("ignore")

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from kmip.core import enums  # noqa: E402
from kmip.pie import objects  # noqa: E402
from steps import Steps, cannot_connect, connect, expect  # noqa: E402

MASKS = [
    enums.CryptographicUsageMask.ENCRYPT,
    enums.CryptographicUsageMask.DECRYPT,
    enums.CryptographicUsageMask.MAC_GENERATE,
    enums.CryptographicUsageMask.MAC_VERIFY,
    enums.CryptographicUsageMask.DERIVE_KEY,
]
DATA = b"MongoDB encrypts its audit log through the server."



def main(argv):
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 64
    logging.disable(logging.CRITICAL)
    client = connect(argv[1:])
    try:
        client.open()
    except Exception as error:
        return cannot_connect(error)
    steps = Steps()
    state = {}

    def create():
        uid = client.create(enums.CryptographicAlgorithm.AES, 256, cryptographic_usage_mask=MASKS)
        client.activate(uid)
        state["aes"] = uid
        state["aes_bytes"] = client.get(uid).value
        return uid

    def cbc_random_iv():
        params = {
            "block_cipher_mode": enums.BlockCipherMode.CBC,
            "padding_method": enums.PaddingMethod.PKCS5,
            "random_iv": True,
        }
        ct, iv = client.encrypt(DATA, uid=state["aes"], cryptographic_parameters=params)
        expect(iv is not None and len(iv) == 16, "no 16-byte IV returned: {!r}".format(iv))
        expect(len(ct) == (len(DATA) // 16 + 1) * 16, "ciphertext of {} bytes".format(len(ct)))
        dec = Cipher(algorithms.AES(state["aes_bytes"]), modes.CBC(iv)).decryptor()
        padded = dec.update(ct) + dec.finalize()
        expect(padded[: len(DATA)] == DATA, "Python cannot decrypt the server's ciphertext")
        back = client.decrypt(ct, uid=state["aes"], cryptographic_parameters=params,
                              iv_counter_nonce=iv)
        expect(back == DATA, "decrypt gave {!r}".format(back))
        return {"ciphertext_bytes": len(ct)}

    def no_parameters():
        ct, iv = client.encrypt(DATA, uid=state["aes"])
        expect(iv is not None and len(iv) == 16, "no IV returned without parameters")
        back = client.decrypt(ct, uid=state["aes"], iv_counter_nonce=iv)
        expect(back == DATA, "decrypt gave {!r}".format(back))
        return {"iv_bytes": len(iv)}

    def mac():
        key = objects.SymmetricKey(
            enums.CryptographicAlgorithm.HMAC_SHA256, 256, bytes(range(32)), MASKS)
        uid = client.register(key)
        client.activate(uid)
        _, mac_data = client.mac(DATA, uid=uid,
                                 algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)
        want = hmac.new(bytes(range(32)), DATA, hashlib.sha256).digest()
        expect(mac_data == want, "MAC differs from Python's HMAC-SHA256")
        return uid

    def derived_bytes(method, params):
        uid = client.derive_key(
            enums.ObjectType.SYMMETRIC_KEY, [state["aes"]], method, params,
            cryptographic_algorithm=enums.CryptographicAlgorithm.AES,
            cryptographic_length=128,
        )
        return uid, client.get(uid).value

    def derive_pbkdf2():
        uid, got = derived_bytes(enums.DerivationMethod.PBKDF2, {
            "cryptographic_parameters": {
                "hashing_algorithm": enums.HashingAlgorithm.SHA_256},
            "salt": b"kmipd-salt",
            "iteration_count": 1000,
        })
        want = hashlib.pbkdf2_hmac("sha256", state["aes_bytes"], b"kmipd-salt", 1000, 16)
        expect(got == want, "PBKDF2 key differs from Python's")
        return uid

    def derive_hmac():
        uid, got = derived_bytes(enums.DerivationMethod.HMAC, {
            "cryptographic_parameters": {
                "hashing_algorithm": enums.HashingAlgorithm.SHA_256},
            "derivation_data": b"context",
        })
        want = hmac.new(state["aes_bytes"], b"context", hashlib.sha256).digest()[:16]
        expect(got == want, "HMAC-derived key differs from Python's")
        return uid

    def derive_encrypt():
        data = bytes(range(16))
        uid, got = derived_bytes(enums.DerivationMethod.ENCRYPT, {
            "cryptographic_parameters": {
                "block_cipher_mode": enums.BlockCipherMode.ECB,
                "padding_method": enums.PaddingMethod.NONE},
            "derivation_data": data,
        })
        enc = Cipher(algorithms.AES(state["aes_bytes"]), modes.ECB()).encryptor()
        want = enc.update(data) + enc.finalize()
        expect(got == want, "Encrypt-derived key differs from Python's AES-ECB")
        return uid

    steps.run("create", create)
    steps.run("encrypt/decrypt CBC random IV", cbc_random_iv)
    steps.run("encrypt/decrypt without parameters", no_parameters)
    steps.run("mac", mac)
    steps.run("derive_key PBKDF2", derive_pbkdf2)
    steps.run("derive_key HMAC", derive_hmac)
    steps.run("derive_key ENCRYPT", derive_encrypt)
    client.close()
    return steps.report()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
