//! Known answers (RFC 8032 Ed25519, RFC 6979 ECDSA P-256 with SHA-256) and round trips for every scheme and
//! padding, with tampering that must be caught.

use super::keys::{PairKind, generate};
use super::rsa_cipher::{self, Padding};
use super::signature::{Input, Scheme, sign, verify};
use super::{AsymError, Hash};

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// PKCS#8 v1 of an Ed25519 seed (RFC 8410).
fn ed25519_pkcs8(seed: &[u8]) -> Vec<u8> {
    let mut out = hex("302e020100300506032b657004220420");
    out.extend_from_slice(seed);
    out
}

#[test]
fn ed25519_rfc8032_test_vectors_1_and_2() {
    let cases = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
    ];
    for (seed, public, message, expected) in cases {
        let message = hex(message);
        let signature = sign(
            Scheme::Ed25519,
            &ed25519_pkcs8(&hex(seed)),
            Input::Message(&message),
        )
        .unwrap();
        assert_eq!(signature, hex(expected));
        assert!(
            verify(
                Scheme::Ed25519,
                &hex(public),
                Input::Message(&message),
                &signature
            )
            .unwrap()
        );
        let mut bad = signature.clone();
        bad[0] ^= 1;
        assert!(
            !verify(
                Scheme::Ed25519,
                &hex(public),
                Input::Message(&message),
                &bad
            )
            .unwrap()
        );
    }
}

#[test]
fn ecdsa_p256_rfc6979_sample_signature_verifies_as_der() {
    // RFC 6979 A.2.5, P-256 / SHA-256, message "sample"; r and s DER-encoded (both need a leading zero).
    let public = hex(concat!(
        "04",
        "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6",
        "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"
    ));
    let signature = hex(concat!(
        "3046",
        "022100efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716",
        "022100f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"
    ));
    let message = b"sample";
    assert!(
        verify(
            Scheme::EcdsaP256Sha256,
            &public,
            Input::Message(message),
            &signature
        )
        .unwrap()
    );
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
    assert!(
        verify(
            Scheme::EcdsaP256Sha256,
            &public,
            Input::Digest(digest.as_ref()),
            &signature
        )
        .unwrap()
    );
    assert!(
        !verify(
            Scheme::EcdsaP256Sha256,
            &public,
            Input::Message(b"test"),
            &signature
        )
        .unwrap()
    );
}

#[test]
fn ecdsa_p256_rfc6979_sample_signature_is_reproduced_from_message_and_digest() {
    // RFC 6979 A.2.5: signing is deterministic, so the private key gives the very r and s of the RFC (s is the
    // high one: P-256 signatures are not normalised to low S).
    use p256::pkcs8::EncodePrivateKey;
    let x = hex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721");
    let pkcs8 = p256::SecretKey::from_slice(&x)
        .unwrap()
        .to_pkcs8_der()
        .unwrap();
    let expected = hex(concat!(
        "3046",
        "022100efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716",
        "022100f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"
    ));
    let message = b"sample";
    let signed = sign(
        Scheme::EcdsaP256Sha256,
        pkcs8.as_bytes(),
        Input::Message(message),
    )
    .unwrap();
    assert_eq!(signed, expected);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
    let from_digest = sign(
        Scheme::EcdsaP256Sha256,
        pkcs8.as_bytes(),
        Input::Digest(digest.as_ref()),
    )
    .unwrap();
    assert_eq!(from_digest, expected);
}

#[test]
fn every_signature_scheme_round_trips_with_message_and_digest() {
    let rsa = generate(PairKind::Rsa(2048)).unwrap();
    let p256 = generate(PairKind::P256).unwrap();
    let ed = generate(PairKind::Ed25519).unwrap();
    let message = b"kmipd signs this";
    let cases = [
        (Scheme::EcdsaP256Sha256, &p256),
        (Scheme::Ed25519, &ed),
        (Scheme::RsaPkcs1(Hash::Sha256), &rsa),
        (Scheme::RsaPkcs1(Hash::Sha384), &rsa),
        (Scheme::RsaPkcs1(Hash::Sha512), &rsa),
        (Scheme::RsaPss(Hash::Sha256, None), &rsa),
        (Scheme::RsaPss(Hash::Sha512, Some(20)), &rsa),
    ];
    for (scheme, pair) in cases {
        let s = sign(scheme, &pair.private_pkcs8, Input::Message(message)).unwrap();
        assert!(
            verify(scheme, &pair.public_spki, Input::Message(message), &s).unwrap(),
            "{scheme:?}"
        );
        assert!(!verify(scheme, &pair.public_spki, Input::Message(b"other"), &s).unwrap());
        if let Some(hash) = scheme.hash() {
            let digest = aws_lc_rs::digest::digest(hash.algorithm(), message);
            let d = sign(scheme, &pair.private_pkcs8, Input::Digest(digest.as_ref())).unwrap();
            assert!(verify(scheme, &pair.public_spki, Input::Message(message), &d).unwrap());
            assert!(matches!(
                sign(scheme, &pair.private_pkcs8, Input::Digest(&[0; 5])),
                Err(AsymError::BadInput(_))
            ));
        }
    }
    assert!(matches!(
        sign(Scheme::Ed25519, &ed.private_pkcs8, Input::Digest(&[0; 32])),
        Err(AsymError::Unsupported(_))
    ));
    // A PSS signature with the largest salt verifies when the verifier is not told the salt length.
    let max = sign(
        Scheme::RsaPss(Hash::Sha256, Some(222)),
        &rsa.private_pkcs8,
        Input::Message(message),
    )
    .unwrap();
    assert!(
        verify(
            Scheme::RsaPss(Hash::Sha256, None),
            &rsa.public_spki,
            Input::Message(message),
            &max
        )
        .unwrap()
    );
}

#[test]
fn rsa_encryption_round_trips_and_rejects_tampering() {
    let pair = generate(PairKind::Rsa(2048)).unwrap();
    let secret = b"a 32-byte data encryption key...";
    for padding in [
        Padding::Pkcs1v15,
        Padding::Oaep(Hash::Sha1),
        Padding::Oaep(Hash::Sha256),
        Padding::Oaep(Hash::Sha512),
    ] {
        let label: Option<&[u8]> = matches!(padding, Padding::Oaep(_)).then_some(b"label");
        let c = rsa_cipher::encrypt(padding, &pair.public_spki, secret, label).unwrap();
        assert_eq!(c.len(), 256);
        let p = rsa_cipher::decrypt(padding, &pair.private_pkcs8, &c, label).unwrap();
        assert_eq!(p.as_slice(), secret);
        let mut bad = c.clone();
        bad[100] ^= 0x40;
        assert!(rsa_cipher::decrypt(padding, &pair.private_pkcs8, &bad, label).is_err());
    }
    let too_long = vec![0u8; 300];
    assert!(matches!(
        rsa_cipher::encrypt(
            Padding::Oaep(Hash::Sha256),
            &pair.public_spki,
            &too_long,
            None
        ),
        Err(AsymError::BadInput(_))
    ));
}

#[test]
fn rsa_sizes_other_than_the_three_are_refused_and_errors_carry_no_key_bytes() {
    assert!(matches!(
        generate(PairKind::Rsa(1024)),
        Err(AsymError::Unsupported(_))
    ));
    let limit = super::signature::MAX_PSS_SALT;
    let rsa = generate(PairKind::Rsa(2048)).unwrap();
    assert!(matches!(
        sign(
            Scheme::RsaPss(Hash::Sha256, Some(limit + 1)),
            &rsa.private_pkcs8,
            Input::Message(b"x")
        ),
        Err(AsymError::BadInput(_))
    ));
    // The largest salt a 2048-bit key allows with SHA-256 is 222 bytes: a longer one fails in the primitive.
    assert!(
        sign(
            Scheme::RsaPss(Hash::Sha256, Some(223)),
            &rsa.private_pkcs8,
            Input::Message(b"x")
        )
        .is_err()
    );
    let err = sign(
        Scheme::EcdsaP256Sha256,
        &[0x30, 0x01, 0x02],
        Input::Message(b"x"),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "the key is not a usable P-256 key");
}

#[test]
fn ed25519_pkcs8_v2_is_accepted_only_with_its_own_public_key() {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes, PublicKeyBytes};
    // RFC 8032 test 1: seed and public key.
    let seed: [u8; 32] = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
        .try_into()
        .unwrap();
    let public: [u8; 32] = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        .try_into()
        .unwrap();
    let v2 = KeypairBytes {
        secret_key: seed,
        public_key: Some(PublicKeyBytes(public)),
    }
    .to_pkcs8_der()
    .unwrap();
    let signature = sign(Scheme::Ed25519, v2.as_bytes(), Input::Message(b"")).unwrap();
    assert_eq!(
        signature,
        sign(Scheme::Ed25519, &ed25519_pkcs8(&seed), Input::Message(b"")).unwrap()
    );
    let mut other = public;
    other[0] ^= 1;
    let mismatched = KeypairBytes {
        secret_key: seed,
        public_key: Some(PublicKeyBytes(other)),
    }
    .to_pkcs8_der()
    .unwrap();
    assert_eq!(
        sign(Scheme::Ed25519, mismatched.as_bytes(), Input::Message(b"")).unwrap_err(),
        AsymError::BadKey("Ed25519")
    );
}

#[test]
fn ed25519_verification_is_strict_about_small_order_keys() {
    // Public key and R the identity point, s = 0: the cofactorless equation [s]B = R + [k]A holds for every
    // message, so only a strict verifier refuses it.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut forged = identity.to_vec();
    forged.extend_from_slice(&[0u8; 32]);
    for message in [&b""[..], b"any message"] {
        assert!(!verify(Scheme::Ed25519, &identity, Input::Message(message), &forged).unwrap());
    }
}

#[test]
fn ecdsa_p256_public_key_forms_and_malformed_signatures() {
    let pair = generate(PairKind::P256).unwrap();
    let message = b"kmipd";
    let signature = sign(
        Scheme::EcdsaP256Sha256,
        &pair.private_pkcs8,
        Input::Message(message),
    )
    .unwrap();
    // The uncompressed point is the SubjectPublicKeyInfo's last 65 bytes.
    let point = &pair.public_spki[pair.public_spki.len() - 65..];
    for key in [&pair.public_spki[..], point] {
        assert!(
            verify(
                Scheme::EcdsaP256Sha256,
                key,
                Input::Message(message),
                &signature
            )
            .unwrap()
        );
    }
    // Not DER, or a fixed-size r||s: does not verify, and is no error.
    assert!(
        !verify(
            Scheme::EcdsaP256Sha256,
            point,
            Input::Message(message),
            &[0x30, 0x00]
        )
        .unwrap()
    );
    assert!(
        !verify(
            Scheme::EcdsaP256Sha256,
            point,
            Input::Message(message),
            &[1u8; 64]
        )
        .unwrap()
    );
    // A point off the curve is an unusable key.
    let mut off = point.to_vec();
    off[64] ^= 1;
    assert_eq!(
        verify(
            Scheme::EcdsaP256Sha256,
            &off,
            Input::Message(message),
            &signature
        )
        .unwrap_err(),
        AsymError::BadKey("P-256")
    );
}
