//! Known-answer tests from the published vectors of each algorithm, and the refusals.

use super::aead::*;
use super::block::*;
use super::digest::*;
use super::kdf::*;
use super::mac::*;
use super::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

const SP800_38A_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const SP800_38A_PT: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51";

#[test]
fn aes_ecb_sp800_38a_f_1_1() {
    let ct = ecb_encrypt(&h(SP800_38A_KEY), &h(SP800_38A_PT), Padding::None).unwrap();
    assert_eq!(
        ct,
        h("3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf")
    );
    let pt = ecb_decrypt(&h(SP800_38A_KEY), &ct, Padding::None).unwrap();
    assert_eq!(*pt, h(SP800_38A_PT));
}

#[test]
fn aes_256_ecb_sp800_38a_f_1_5() {
    let key = h("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
    let ct = ecb_encrypt(&key, &h("6bc1bee22e409f96e93d7e117393172a"), Padding::None).unwrap();
    assert_eq!(ct, h("f3eed1bdb5d2a03c064b5a7e3db181f8"));
}

#[test]
fn aes_cbc_sp800_38a_f_2_1() {
    let iv = h("000102030405060708090a0b0c0d0e0f");
    let ct = cbc_encrypt(&h(SP800_38A_KEY), &iv, &h(SP800_38A_PT), Padding::None).unwrap();
    assert_eq!(
        ct,
        h("7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2")
    );
    let pt = cbc_decrypt(&h(SP800_38A_KEY), &iv, &ct, Padding::None).unwrap();
    assert_eq!(*pt, h(SP800_38A_PT));
}

#[test]
fn pkcs5_padding_adds_a_block_to_whole_blocks_and_round_trips_every_length() {
    let key = h(SP800_38A_KEY);
    let iv = [7u8; 16];
    for len in 0..40 {
        let data = vec![0xA5u8; len];
        let ct = cbc_encrypt(&key, &iv, &data, Padding::Pkcs5).unwrap();
        assert_eq!(ct.len(), (len / 16 + 1) * 16);
        assert_eq!(*cbc_decrypt(&key, &iv, &ct, Padding::Pkcs5).unwrap(), data);
        let ct = ecb_encrypt(&key, &data, Padding::Pkcs5).unwrap();
        assert_eq!(*ecb_decrypt(&key, &ct, Padding::Pkcs5).unwrap(), data);
    }
    // The first block of a padded 16-byte message is the unpadded ciphertext.
    let ct = ecb_encrypt(&key, &h("6bc1bee22e409f96e93d7e117393172a"), Padding::Pkcs5).unwrap();
    assert_eq!(ct.get(..16).unwrap(), h("3ad77bb40d7a3660a89ecaf32466ef97"));
}

#[test]
fn bad_padding_and_partial_blocks_are_refused() {
    let key = h(SP800_38A_KEY);
    let iv = [0u8; 16];
    // A block that decrypts to random bytes almost never carries valid PKCS#5 padding.
    let ct = cbc_encrypt(&key, &iv, &[0u8; 16], Padding::None).unwrap();
    let mut wrong_last = [0u8; 16];
    wrong_last[15] = 0x11;
    let forged = cbc_encrypt(&key, &iv, &wrong_last, Padding::None).unwrap();
    assert_eq!(
        cbc_decrypt(&key, &iv, &forged, Padding::Pkcs5).unwrap_err(),
        CryptoError::Padding
    );
    assert!(cbc_decrypt(&key, &iv, &ct, Padding::Pkcs5).is_err());
    assert!(matches!(
        cbc_encrypt(&key, &iv, &[1, 2, 3], Padding::None),
        Err(CryptoError::DataLength(3, _))
    ));
    assert!(matches!(
        cbc_decrypt(&key, &iv, &[0u8; 17], Padding::None),
        Err(CryptoError::DataLength(17, _))
    ));
    assert!(matches!(
        cbc_encrypt(&key, &[0u8; 8], &[0u8; 16], Padding::None),
        Err(CryptoError::IvLength(8, _))
    ));
    assert!(matches!(
        ecb_encrypt(&[0u8; 15], &[0u8; 16], Padding::None),
        Err(CryptoError::KeyLength(15, _))
    ));
}

#[test]
fn aes_ctr_sp800_38a_f_5_1() {
    let ctr = h("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
    let ct = ctr_apply(
        &h(SP800_38A_KEY),
        &ctr,
        CounterWidth::Bits128,
        &h(SP800_38A_PT),
    )
    .unwrap();
    assert_eq!(
        *ct,
        h("874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff")
    );
    let pt = ctr_apply(&h(SP800_38A_KEY), &ctr, CounterWidth::Bits32, &ct).unwrap();
    assert_eq!(*pt, h(SP800_38A_PT));
}

#[test]
fn aes_key_wrap_rfc3394_4_1_and_4_6() {
    let kek = h("000102030405060708090A0B0C0D0E0F");
    let key = h("00112233445566778899AABBCCDDEEFF");
    let wrapped = key_wrap(&kek, &key, false).unwrap();
    assert_eq!(
        wrapped,
        h("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")
    );
    assert_eq!(*key_unwrap(&kek, &wrapped, false).unwrap(), key);
    let kek = h("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    let key = h("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
    assert_eq!(
        key_wrap(&kek, &key, false).unwrap(),
        h("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
    );
    let mut tampered = wrapped_copy(&kek, &key);
    tampered[0] ^= 1;
    assert_eq!(
        key_unwrap(&kek, &tampered, false).unwrap_err(),
        CryptoError::Authentication
    );
}

fn wrapped_copy(kek: &[u8], key: &[u8]) -> Vec<u8> {
    key_wrap(kek, key, false).unwrap()
}

#[test]
fn aes_key_wrap_with_padding_rfc5649_6() {
    let kek = h("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
    let key = h("c37b7e6492584340bed12207808941155068f738");
    let wrapped = key_wrap(&kek, &key, true).unwrap();
    assert_eq!(
        wrapped,
        h("138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a")
    );
    assert_eq!(*key_unwrap(&kek, &wrapped, true).unwrap(), key);
    let wrapped = key_wrap(&kek, &h("466f7250617369"), true).unwrap();
    assert_eq!(wrapped, h("afbeb0f07dfbf5419200f2ccb50bb24f"));
    assert_eq!(
        *key_unwrap(&kek, &wrapped, true).unwrap(),
        h("466f7250617369")
    );
}

#[test]
fn aes_gcm_sp800_38d_test_cases_1_to_4() {
    let zero16 = [0u8; 16];
    let iv = [0u8; 12];
    let s = gcm_seal(&zero16, &iv, &[], &[], 16).unwrap();
    assert_eq!(s.tag, h("58e2fccefa7e3061367f1d57a4e7455a"));
    let s = gcm_seal(&zero16, &iv, &[], &zero16, 16).unwrap();
    assert_eq!(s.ciphertext, h("0388dace60b6a392f328c2b971b2fe78"));
    assert_eq!(s.tag, h("ab6e47d42cec13bdf53a67b21257bddf"));
    // Truncated tags are the leading bytes, and are checked at their length.
    let short = gcm_seal(&zero16, &iv, &[], &zero16, 12).unwrap();
    assert_eq!(short.tag, h("ab6e47d42cec13bdf53a67b2"));
    assert_eq!(
        *gcm_open(&zero16, &iv, &[], &short.ciphertext, &short.tag).unwrap(),
        zero16
    );
    // Test case 4: AAD and a 60-byte message; test case 5: a 64-bit IV.
    let key = h("feffe9928665731c6d6a8f9467308308");
    let pt = h(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let s = gcm_seal(&key, &h("cafebabefacedbaddecaf888"), &aad, &pt, 16).unwrap();
    assert_eq!(s.tag, h("5bc94fbc3221a5db94fae95ae7121a47"));
    assert_eq!(
        s.ciphertext.get(..16).unwrap(),
        h("42831ec2217774244b7221b784d0d49c")
    );
    let s5 = gcm_seal(&key, &h("cafebabefacedbad"), &aad, &pt, 16).unwrap();
    assert_eq!(s5.tag, h("3612d2e79e3b0785561be14aaca2fccb"));
    assert_eq!(
        s5.ciphertext.get(..16).unwrap(),
        h("61353b4c2806934a777ff51fa22a4755")
    );
    assert_eq!(
        *gcm_open(&key, &h("cafebabefacedbad"), &aad, &s5.ciphertext, &s5.tag).unwrap(),
        pt
    );
}

/// NIST CAVP gcmEncryptExtIV128.rsp cases, one per truncated tag length (Taglen 96, 104, 112, 120): key, IV,
/// plaintext, AAD, ciphertext, tag.
const GCM_TRUNCATED_TAG_KATS: &[[&str; 6]] = &[
    [
        "70fb02388301f16c4193b0fc70683f3f",
        "aec612be7c1ddb659a4b315c",
        "68e6bc0b08b8adbdc00005ae44723c8e",
        "3859b3c9d0b42d45c43e8ebd4c8cbde1b6eb2106",
        "a7c52a23b09062a1fb77d47ff83a114f",
        "79f91fa572220432ee3a6495",
    ],
    [
        "27e3626a8347f252519f3a391712f65a",
        "e50b6bbe4ac7307f75421a71",
        "bf386209503082f15ed8461ddd",
        "96fe6e72597f596ae93907a820ba79a8",
        "34d347fa1b56d2cf691f1ce062",
        "cb083ec9d63075bea3bba1c0d4",
    ],
    [
        "c75116c19f5ea4ed1b10bf0eaaebe5a1",
        "48a53fc17d4300f4a23a5a39",
        "4569944fcde5b3f4ae4d50eb7a0e3ef88dab44b684c737b90aa88cf579bf0558",
        "",
        "d58b89300c62e0b0ea729d6de39545ea35ddc5a04e22b709f45af532bc67d90d",
        "c428abd4bf85468d57236ed16d36",
    ],
    [
        "da0b615656135194ba6d3c851099bc48",
        "d39d4b4d3cc927885090e6c3",
        "",
        "e7e5e6f8dac913036cb2ff29e8625e0e",
        "",
        "ab967711a5770461724460b07237e2",
    ],
];

#[test]
fn aes_gcm_nist_truncated_tag_vectors_12_to_15_bytes() {
    for [key, iv, pt, aad, ct, tag] in GCM_TRUNCATED_TAG_KATS.iter().map(|c| c.map(h)) {
        let s = gcm_seal(&key, &iv, &aad, &pt, tag.len()).unwrap();
        assert_eq!(
            (&s.ciphertext, &s.tag),
            (&ct, &tag),
            "tag of {} bytes",
            tag.len()
        );
        assert_eq!(*gcm_open(&key, &iv, &aad, &ct, &tag).unwrap(), pt);
        // Every bit of a truncated tag is checked.
        let mut bad = tag.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(
            gcm_open(&key, &iv, &aad, &ct, &bad).unwrap_err(),
            CryptoError::Authentication
        );
        // A tag is checked at the length it has: one byte less is the tag of that length (MSB_t), down to 12.
        let shorter = tag.get(..tag.len() - 1).unwrap();
        match shorter.len() {
            11 => assert_eq!(
                gcm_open(&key, &iv, &aad, &ct, shorter).unwrap_err(),
                CryptoError::TagLength(11, "AES-GCM")
            ),
            _ => assert_eq!(*gcm_open(&key, &iv, &aad, &ct, shorter).unwrap(), pt),
        }
    }
    // The lengths SP 800-38D allows only under extra limits (32 and 64 bits) are refused both ways.
    let (key, iv) = ([0u8; 16], [0u8; 12]);
    for n in [4, 8] {
        assert_eq!(
            gcm_seal(&key, &iv, &[], b"data", n).unwrap_err(),
            CryptoError::TagLength(n, "AES-GCM")
        );
        assert_eq!(
            gcm_open(&key, &iv, &[], b"data", &vec![0; n]).unwrap_err(),
            CryptoError::TagLength(n, "AES-GCM")
        );
    }
}

#[test]
fn aes_gcm_refuses_a_wrong_tag_and_bad_lengths() {
    let key = [0u8; 16];
    let iv = [0u8; 12];
    let s = gcm_seal(&key, &iv, b"aad", b"secret", 16).unwrap();
    let mut tag = s.tag.clone();
    tag[0] ^= 0xff;
    assert_eq!(
        gcm_open(&key, &iv, b"aad", &s.ciphertext, &tag).unwrap_err(),
        CryptoError::Authentication
    );
    assert_eq!(
        gcm_open(&key, &iv, b"other", &s.ciphertext, &s.tag).unwrap_err(),
        CryptoError::Authentication
    );
    assert!(matches!(
        gcm_seal(&key, &iv, &[], &[], 1),
        Err(CryptoError::TagLength(1, _))
    ));
    assert!(matches!(
        gcm_seal(&key, &iv, &[], &[], 32),
        Err(CryptoError::TagLength(32, _))
    ));
    assert!(matches!(
        gcm_seal(&key, &[0u8; 7], &[], &[], 16),
        Err(CryptoError::IvLength(7, _))
    ));
}

const SUNSCREEN: &[u8] = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";

#[test]
fn chacha20_rfc8439_2_4_2() {
    let key: Vec<u8> = (0u8..32).collect();
    let nonce = h("000000000000004a00000000");
    let ct = chacha20_apply(&key, &nonce, 1, SUNSCREEN).unwrap();
    assert_eq!(
        ct.get(..32).unwrap(),
        h("6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b")
    );
    assert_eq!(*chacha20_apply(&key, &nonce, 1, &ct).unwrap(), SUNSCREEN);
}

#[test]
fn chacha20_original_64_bit_nonce_keystream() {
    // The all-zero key and nonce keystream (draft-agl-tls-chacha20poly1305 test vector 1).
    let ks = chacha20_apply(&[0u8; 32], &[0u8; 8], 0, &[0u8; 32]).unwrap();
    assert_eq!(
        *ks,
        h("76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7")
    );
}

#[test]
fn chacha20_poly1305_rfc8439_2_8_2() {
    let key: Vec<u8> = (0x80u8..0xa0).collect();
    let nonce = h("070000004041424344454647");
    let aad = h("50515253c0c1c2c3c4c5c6c7");
    let s = chacha20poly1305_seal(&key, &nonce, &aad, SUNSCREEN, 16).unwrap();
    assert_eq!(s.tag, h("1ae10b594f09e26a7e902ecbd0600691"));
    assert_eq!(
        s.ciphertext.get(..16).unwrap(),
        h("d31a8d34648e60db7b86afbc53ef7ec2")
    );
    assert_eq!(
        *chacha20poly1305_open(&key, &nonce, &aad, &s.ciphertext, &s.tag).unwrap(),
        SUNSCREEN
    );
    // A truncated tag is the leading bytes and is checked at its length.
    let short = chacha20poly1305_seal(&key, &nonce, &aad, SUNSCREEN, 12).unwrap();
    assert_eq!(short.tag, h("1ae10b594f09e26a7e902ecb"));
    assert_eq!(
        *chacha20poly1305_open(&key, &nonce, &aad, &s.ciphertext, &short.tag).unwrap(),
        SUNSCREEN
    );
    let mut bad_short = short.tag.clone();
    bad_short[0] ^= 1;
    assert_eq!(
        chacha20poly1305_open(&key, &nonce, &aad, &s.ciphertext, &bad_short).unwrap_err(),
        CryptoError::Authentication
    );
    assert!(chacha20poly1305_seal(&key, &nonce, &aad, SUNSCREEN, 8).is_err());
    let mut bad = s.tag.clone();
    bad[15] ^= 1;
    assert_eq!(
        chacha20poly1305_open(&key, &nonce, &aad, &s.ciphertext, &bad).unwrap_err(),
        CryptoError::Authentication
    );
}

#[test]
fn hmac_rfc4231_test_case_2() {
    let key = b"Jefe";
    let data = b"what do ya want for nothing?";
    let cases = [
        (
            HashAlg::Sha224,
            "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
        ),
        (
            HashAlg::Sha256,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            HashAlg::Sha384,
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
        ),
        (
            HashAlg::Sha512,
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
    ];
    for (alg, expected) in cases {
        let m = mac(MacAlg::Hmac(alg), key, data).unwrap();
        assert_eq!(m, h(expected), "{alg:?}");
        assert!(verify(&m, &m).is_ok());
    }
    // RFC 2202 test case 2 for HMAC-SHA-1.
    assert_eq!(
        mac(MacAlg::Hmac(HashAlg::Sha1), key, data).unwrap(),
        h("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
    );
}

#[test]
fn mac_verification_is_exact() {
    let m = mac(MacAlg::Hmac(HashAlg::Sha256), b"k", b"data").unwrap();
    let mut wrong = m.clone();
    wrong[31] ^= 1;
    assert_eq!(verify(&wrong, &m).unwrap_err(), CryptoError::Authentication);
    assert!(verify(m.get(..16).unwrap(), &m).is_ok());
    assert!(verify(m.get(..3).unwrap(), &m).is_err());
    assert!(verify(&[], &m).is_err());
}

#[test]
fn aes_cmac_rfc4493_examples() {
    let key = h(SP800_38A_KEY);
    assert_eq!(
        mac(MacAlg::AesCmac, &key, &[]).unwrap(),
        h("bb1d6929e95937287fa37d129b756746")
    );
    assert_eq!(
        mac(
            MacAlg::AesCmac,
            &key,
            &h("6bc1bee22e409f96e93d7e117393172a")
        )
        .unwrap(),
        h("070a16b46b4d4144f79bdd9dd04a287c")
    );
    let mut streamed = MacState::new(MacAlg::AesCmac, &key).unwrap();
    streamed.update(&h("6bc1bee22e409f96"));
    streamed.update(&h("e93d7e117393172a"));
    assert_eq!(streamed.finish(), h("070a16b46b4d4144f79bdd9dd04a287c"));
    assert!(matches!(
        MacState::new(MacAlg::AesCmac, &[0u8; 20]),
        Err(CryptoError::KeyLength(20, _))
    ));
}

#[test]
fn sha_family_fips180_abc() {
    let cases = [
        (HashAlg::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (
            HashAlg::Sha224,
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
        ),
        (
            HashAlg::Sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            HashAlg::Sha384,
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        ),
        (
            HashAlg::Sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
    ];
    for (alg, expected) in cases {
        assert_eq!(hash(alg, b"abc"), h(expected), "{alg:?}");
        assert_eq!(alg.output_len(), h(expected).len());
        let mut s = Hasher::new(alg);
        s.update(b"a");
        s.update(b"bc");
        assert_eq!(s.finish(), h(expected));
    }
}

#[test]
fn hkdf_rfc5869_test_case_1() {
    let okm = hkdf(
        HashAlg::Sha256,
        &[0x0b; 22],
        Some(&h("000102030405060708090a0b0c")),
        &h("f0f1f2f3f4f5f6f7f8f9"),
        42,
    )
    .unwrap();
    assert_eq!(
        *okm,
        h("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    );
    assert!(hkdf(HashAlg::Sha256, b"k", None, b"", 255 * 32 + 1).is_err());
}

#[test]
fn pbkdf2_rfc6070_and_rfc7914() {
    let one = pbkdf2(HashAlg::Sha1, b"password", b"salt", 1, 20).unwrap();
    assert_eq!(*one, h("0c60c80f961f0e71f3a9b524af6012062fe037a6"));
    let two = pbkdf2(HashAlg::Sha1, b"password", b"salt", 2, 20).unwrap();
    assert_eq!(*two, h("ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"));
    // RFC 7914 section 11: PBKDF2-HMAC-SHA256, c = 1.
    let s = pbkdf2(HashAlg::Sha256, b"passwd", b"salt", 1, 64).unwrap();
    assert_eq!(
        *s,
        h(
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
           49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        )
    );
    assert!(pbkdf2(HashAlg::Sha1, b"p", b"s", 0, 20).is_err());
    assert!(pbkdf2(HashAlg::Sha1, b"p", b"s", MAX_PBKDF2_ITERATIONS + 1, 20).is_err());
}

#[test]
fn errors_never_carry_bytes() {
    // Every message is built from lengths and static text; a decryption failure says only that.
    assert_eq!(
        CryptoError::Authentication.to_string(),
        "authentication failed"
    );
    assert_eq!(
        CryptoError::KeyLength(15, "AES").to_string(),
        "a key of 15 bytes is not valid for AES"
    );
    assert_eq!(random(32).unwrap().len(), 32);
    assert_ne!(*random(32).unwrap(), *random(32).unwrap());
}

/// The classic DES example (FIPS 46 worked example): key 133457799BBCDFF1 encrypts 0123456789ABCDEF to
/// 85E813540F0AB405. Triple DES with three equal keys is single DES, so three-key TDES must give the same.
#[test]
fn tdes_with_three_equal_keys_is_the_classic_des_example() {
    let key = h("133457799BBCDFF1133457799BBCDFF1133457799BBCDFF1");
    let ct = block::tdes_ecb_encrypt(&key, &h("0123456789ABCDEF"), Padding::None).unwrap();
    assert_eq!(ct, h("85E813540F0AB405"));
    let back = block::tdes_ecb_decrypt(&key, &ct, Padding::None).unwrap();
    assert_eq!(back.as_slice(), h("0123456789ABCDEF").as_slice());
    // Two-key TDES with K1 = K2 is single DES too.
    let two = h("133457799BBCDFF1133457799BBCDFF1");
    assert_eq!(
        block::tdes_ecb_encrypt(&two, &h("0123456789ABCDEF"), Padding::None).unwrap(),
        h("85E813540F0AB405")
    );
}

/// NIST SP 800-67 Rev. 2, the TDEA example: three distinct keys, "The qufck brown fox jump".
#[test]
fn tdes_ecb_sp800_67_example() {
    let key = h("0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123");
    let plain = h("5468652071756663 6B2062726F776E20 666F78206A756D70"
        .replace(' ', "")
        .as_str());
    let ct = block::tdes_ecb_encrypt(&key, &plain, Padding::None).unwrap();
    assert_eq!(ct, h("A826FD8CE53B855FCCE21C8112256FE668D5C05DD9B6B900"));
}

/// CBC chains: the first block is ECB of plaintext XOR IV, each next one ECB of plaintext XOR the previous
/// ciphertext; PKCS#5 pads to 8-byte blocks; wrong IV and key lengths are refused.
#[test]
fn tdes_cbc_chains_pads_to_eight_bytes_and_round_trips() {
    let key = h("0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123");
    let iv = h("F69F2445DF4F9B17");
    let plain = h("5468652071756663 6B2062726F776E20"
        .replace(' ', "")
        .as_str());
    let ct = block::tdes_cbc_encrypt(&key, &iv, &plain, Padding::None).unwrap();
    let xor = |a: &[u8], b: &[u8]| a.iter().zip(b).map(|(x, y)| x ^ y).collect::<Vec<u8>>();
    let first = block::tdes_ecb_encrypt(&key, &xor(&plain[..8], &iv), Padding::None).unwrap();
    let second = block::tdes_ecb_encrypt(&key, &xor(&plain[8..], &first), Padding::None).unwrap();
    assert_eq!(ct, [first, second].concat());
    for len in 0..20 {
        let data = vec![0x5A; len];
        let ct = block::tdes_cbc_encrypt(&key, &iv, &data, Padding::Pkcs5).unwrap();
        assert_eq!(ct.len(), (len / 8 + 1) * 8);
        let back = block::tdes_cbc_decrypt(&key, &iv, &ct, Padding::Pkcs5).unwrap();
        assert_eq!(back.as_slice(), data.as_slice());
    }
    assert!(
        block::tdes_cbc_encrypt(
            &key,
            &h("00112233445566778899AABBCCDDEEFF"),
            &plain,
            Padding::None
        )
        .is_err()
    );
    assert!(block::tdes_cbc_encrypt(&key[..8], &iv, &plain, Padding::None).is_err());
    assert!(block::tdes_cbc_encrypt(&key, &iv, &plain[..5], Padding::None).is_err());
}
