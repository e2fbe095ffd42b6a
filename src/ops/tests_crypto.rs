//! Cryptographic operation tests: Encrypt/Decrypt, MAC, Hash, RNG and Derive Key through
//! [`Engine::handle_request`] in 2.1 shapes over a fresh store, cross-checked with the `crypto` functions and
//! their published vectors.

use super::test_support::{
    self, NOW, b, bytes_of as bytes, en, engine, int, secret_data, st, text_of, uid, v,
};
use super::*;
use crate::crypto;
use crate::kmip::ResultReason;
use crate::kmip::enums::{BlockCipherMode, HashingAlgorithm, PaddingMethod};
use crate::spec::enums::{
    cryptographic_algorithm as alg, derivation_method, key_format_type as kft, link_type,
    object_type as ot, secret_data_type, usage_limits_unit, validity_indicator,
};
use crate::spec::tag;
use crate::ttlv::Value;

const ALL_USES: i32 = 0x0000_000C | 0x80 | 0x100 | 0x200;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// Requests of these tests are 2.1.
fn answer(engine: &Engine, op: Operation, payload: Vec<Ttlv>) -> Ttlv {
    test_support::answer(engine, 2, 1, op, payload)
}

fn ok(engine: &Engine, op: Operation, payload: Vec<Ttlv>) -> Ttlv {
    test_support::ok(engine, 2, 1, op, payload)
}

fn fails(engine: &Engine, op: Operation, payload: Vec<Ttlv>) -> ResultReason {
    ResultReason::from_code(test_support::fails(engine, 2, 1, op, payload)).unwrap()
}

/// Registers and activates a symmetric key of `algorithm` with these bytes and extra attributes.
fn register_key(engine: &Engine, algorithm: u32, key: &[u8], extra: Vec<Ttlv>) -> String {
    let bits = i32::try_from(key.len() * 8).unwrap();
    let mut attrs = vec![
        en(tag::CRYPTOGRAPHIC_ALGORITHM, algorithm),
        int(tag::CRYPTOGRAPHIC_LENGTH, bits),
        int(tag::CRYPTOGRAPHIC_USAGE_MASK, ALL_USES),
    ];
    attrs.extend(extra);
    let object = st(
        tag::SYMMETRIC_KEY,
        vec![st(
            tag::KEY_BLOCK,
            vec![
                en(tag::KEY_FORMAT_TYPE, kft::RAW),
                st(tag::KEY_VALUE, vec![b(tag::KEY_MATERIAL, key)]),
                en(tag::CRYPTOGRAPHIC_ALGORITHM, algorithm),
                int(tag::CRYPTOGRAPHIC_LENGTH, bits),
            ],
        )],
    );
    let reply = ok(
        engine,
        Operation::REGISTER,
        vec![
            en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
            st(tag::ATTRIBUTES, attrs),
            object,
        ],
    );
    let u = text_of(&reply, tag::UNIQUE_IDENTIFIER);
    ok(engine, Operation::ACTIVATE, vec![uid(&u)]);
    u
}

fn params(fields: Vec<Ttlv>) -> Ttlv {
    st(tag::CRYPTOGRAPHIC_PARAMETERS, fields)
}

const KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";

#[test]
fn encrypt_without_parameters_is_cbc_pkcs5_with_a_generated_iv_that_decrypt_takes_back() {
    let e = engine();
    let k = register_key(&e, alg::AES, &h(KEY), vec![]);
    let data = b"MongoDB master key to protect: 37 bytes".to_vec();
    let reply = ok(&e, Operation::ENCRYPT, vec![uid(&k), b(tag::DATA, &data)]);
    let iv = bytes(&reply, tag::IV_COUNTER_NONCE);
    let ct = bytes(&reply, tag::DATA);
    assert_eq!(iv.len(), 16);
    let expected = crypto::block::cbc_encrypt(&h(KEY), &iv, &data, crypto::block::Padding::Pkcs5);
    assert_eq!(ct, expected.unwrap());
    // Decrypt without parameters and with the IV returned gives the data back.
    let back = ok(
        &e,
        Operation::DECRYPT,
        vec![uid(&k), b(tag::DATA, &ct), b(tag::IV_COUNTER_NONCE, &iv)],
    );
    assert_eq!(bytes(&back, tag::DATA), data);
    // Without the IV, Decrypt is refused as the vectors expect.
    assert_eq!(
        fails(&e, Operation::DECRYPT, vec![uid(&k), b(tag::DATA, &ct)]),
        ResultReason::InvalidMessage
    );
    // Two encryptions of the same data use different IVs.
    let again = ok(&e, Operation::ENCRYPT, vec![uid(&k), b(tag::DATA, &data)]);
    assert_ne!(bytes(&again, tag::IV_COUNTER_NONCE), iv);
}

#[test]
fn random_iv_cbc_returns_the_iv_and_the_keys_own_parameters_fill_the_gaps() {
    let e = engine();
    // The key says ECB without padding; the request overrides only the mode.
    let k = register_key(
        &e,
        alg::AES,
        &h(KEY),
        vec![params(vec![
            en(tag::BLOCK_CIPHER_MODE, BlockCipherMode::ECB.0),
            en(tag::PADDING_METHOD, PaddingMethod::NONE.0),
        ])],
    );
    let block = h("6bc1bee22e409f96e93d7e117393172a");
    let ecb = ok(&e, Operation::ENCRYPT, vec![uid(&k), b(tag::DATA, &block)]);
    assert_eq!(
        bytes(&ecb, tag::DATA),
        h("3ad77bb40d7a3660a89ecaf32466ef97")
    );
    assert!(ecb.child(tag::IV_COUNTER_NONCE).is_none());
    let cbc = ok(
        &e,
        Operation::ENCRYPT,
        vec![
            uid(&k),
            params(vec![
                en(tag::BLOCK_CIPHER_MODE, BlockCipherMode::CBC.0),
                v(tag::RANDOM_IV, Value::Boolean(true)),
            ]),
            b(tag::DATA, &block),
        ],
    );
    let iv = bytes(&cbc, tag::IV_COUNTER_NONCE);
    // Padding None came from the key: one block in, one block out.
    assert_eq!(bytes(&cbc, tag::DATA).len(), 16);
    let back = ok(
        &e,
        Operation::DECRYPT,
        vec![
            uid(&k),
            params(vec![en(tag::BLOCK_CIPHER_MODE, BlockCipherMode::CBC.0)]),
            b(tag::DATA, &bytes(&cbc, tag::DATA)),
            b(tag::IV_COUNTER_NONCE, &iv),
        ],
    );
    assert_eq!(bytes(&back, tag::DATA), block);
}

fn gcm(tag_len: i32) -> Ttlv {
    params(vec![
        en(tag::BLOCK_CIPHER_MODE, BlockCipherMode::GCM.0),
        int(tag::TAG_LENGTH, tag_len),
    ])
}

#[test]
fn gcm_with_aad_round_trips_and_a_wrong_tag_is_a_cryptographic_failure() {
    let e = engine();
    let key = h("feffe9928665731c6d6a8f9467308308");
    let k = register_key(&e, alg::AES, &key, vec![]);
    let iv = h("cafebabefacedbaddecaf888");
    let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let data = b"libmongocrypt data key".to_vec();
    let reply = ok(
        &e,
        Operation::ENCRYPT,
        vec![
            uid(&k),
            gcm(16),
            b(tag::DATA, &data),
            b(tag::IV_COUNTER_NONCE, &iv),
            b(tag::AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA, &aad),
        ],
    );
    let ct = bytes(&reply, tag::DATA);
    let t = bytes(&reply, tag::AUTHENTICATED_ENCRYPTION_TAG);
    let decrypt = |t: &[u8], aad: &[u8]| {
        vec![
            uid(&k),
            gcm(i32::try_from(t.len()).unwrap()),
            b(tag::DATA, &ct),
            b(tag::IV_COUNTER_NONCE, &iv),
            b(tag::AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA, aad),
            b(tag::AUTHENTICATED_ENCRYPTION_TAG, t),
        ]
    };
    assert_eq!(
        bytes(&ok(&e, Operation::DECRYPT, decrypt(&t, &aad)), tag::DATA),
        data
    );
    let mut bad = t.clone();
    bad[3] ^= 0x40;
    assert_eq!(
        fails(&e, Operation::DECRYPT, decrypt(&bad, &aad)),
        ResultReason::CryptographicFailure
    );
    assert_eq!(
        fails(&e, Operation::DECRYPT, decrypt(&t, b"other")),
        ResultReason::CryptographicFailure
    );
    // A 12-byte tag is the leading bytes of the full one.
    assert_eq!(
        bytes(
            &ok(&e, Operation::DECRYPT, decrypt(&t[..12], &aad)),
            tag::DATA
        ),
        data
    );
    // A tag length the mode does not allow.
    assert_eq!(
        fails(
            &e,
            Operation::ENCRYPT,
            vec![uid(&k), gcm(1), b(tag::DATA, &data)]
        ),
        ResultReason::GeneralFailure
    );
    // Without an IV the server makes a 96-bit one.
    let generated = ok(
        &e,
        Operation::ENCRYPT,
        vec![uid(&k), gcm(16), b(tag::DATA, &data)],
    );
    assert_eq!(bytes(&generated, tag::IV_COUNTER_NONCE).len(), 12);
}

#[test]
fn ctr_keywrap_and_chacha_modes_match_their_vectors() {
    let e = engine();
    let k = register_key(&e, alg::AES, &h(KEY), vec![]);
    let ctr = ok(
        &e,
        Operation::ENCRYPT,
        vec![
            uid(&k),
            params(vec![en(tag::BLOCK_CIPHER_MODE, BlockCipherMode::CTR.0)]),
            b(tag::DATA, &h("6bc1bee22e409f96e93d7e117393172a")),
            b(
                tag::IV_COUNTER_NONCE,
                &h("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"),
            ),
        ],
    );
    assert_eq!(
        bytes(&ctr, tag::DATA),
        h("874d6191b620e3261bef6864990db6ce")
    );
    let kek = register_key(&e, alg::AES, &h("000102030405060708090A0B0C0D0E0F"), vec![]);
    let wrapped = ok(
        &e,
        Operation::ENCRYPT,
        vec![
            uid(&kek),
            params(vec![en(
                tag::BLOCK_CIPHER_MODE,
                BlockCipherMode::NIST_KEY_WRAP.0,
            )]),
            b(tag::DATA, &h("00112233445566778899AABBCCDDEEFF")),
        ],
    );
    assert_eq!(
        bytes(&wrapped, tag::DATA),
        h("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")
    );
    let chacha_key: Vec<u8> = (0x80u8..0xa0).collect();
    let c = register_key(&e, alg::CHA_CHA20_POLY1305, &chacha_key, vec![]);
    let sealed = ok(
        &e,
        Operation::ENCRYPT,
        vec![
            uid(&c),
            b(tag::DATA, b"Ladies and Gentlemen"),
            b(tag::IV_COUNTER_NONCE, &h("070000004041424344454647")),
            b(
                tag::AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA,
                &h("50515253c0c1c2c3c4c5c6c7"),
            ),
        ],
    );
    assert_eq!(
        bytes(&sealed, tag::DATA),
        h("d31a8d34648e60db7b86afbc53ef7ec2a4aded51")
    );
}

#[test]
fn usage_limits_count_protection_down_and_refuse_when_spent() {
    let e = engine();
    let limits = st(
        tag::USAGE_LIMITS,
        vec![
            v(tag::USAGE_LIMITS_TOTAL, Value::LongInteger(32)),
            en(tag::USAGE_LIMITS_UNIT, usage_limits_unit::BYTE),
        ],
    );
    let k = register_key(
        &e,
        alg::AES,
        &h(KEY),
        vec![
            limits,
            params(vec![en(tag::BLOCK_CIPHER_MODE, BlockCipherMode::ECB.0)]),
        ],
    );
    let block = [7u8; 16];
    let ct = ok(&e, Operation::ENCRYPT, vec![uid(&k), b(tag::DATA, &block)]);
    ok(&e, Operation::ENCRYPT, vec![uid(&k), b(tag::DATA, &block)]);
    assert_eq!(
        fails(&e, Operation::ENCRYPT, vec![uid(&k), b(tag::DATA, &block)]),
        ResultReason::PermissionDenied
    );
    // Decryption is processing, which Usage Limits do not limit.
    let back = ok(
        &e,
        Operation::DECRYPT,
        vec![uid(&k), b(tag::DATA, &bytes(&ct, tag::DATA))],
    );
    assert_eq!(bytes(&back, tag::DATA), block);
}

#[test]
fn a_key_without_the_mask_bit_or_not_active_is_refused() {
    let e = engine();
    let k = register_key(
        &e,
        alg::AES,
        &h(KEY),
        vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 0x8)],
    );
    assert_eq!(
        fails(
            &e,
            Operation::ENCRYPT,
            vec![uid(&k), b(tag::DATA, &[0u8; 16])]
        ),
        ResultReason::IncompatibleCryptographicUsageMask
    );
    assert_eq!(
        fails(&e, Operation::MAC, vec![uid(&k), b(tag::DATA, b"x")]),
        ResultReason::IncompatibleCryptographicUsageMask
    );
}

/// A streamed request's payload.
fn chunk(first: Option<&str>, correlation: Option<&[u8]>, last: bool, data: &[u8]) -> Vec<Ttlv> {
    let mut p = Vec::new();
    if let Some(u) = first {
        p.push(uid(u));
    }
    p.push(b(tag::DATA, data));
    if let Some(c) = correlation {
        p.push(b(tag::CORRELATION_VALUE, c));
    }
    if first.is_some() && !last {
        p.push(v(tag::INIT_INDICATOR, Value::Boolean(true)));
    }
    if last {
        p.push(v(tag::FINAL_INDICATOR, Value::Boolean(true)));
    }
    p
}

#[test]
fn gcm_tag_lengths_12_to_16_are_served_and_others_refused_as_the_oasis_cases_expect() {
    let e = engine();
    // NIST CAVP gcmEncryptExtIV128.rsp, Taglen = 104: a 13-byte tag.
    let k = register_key(&e, alg::AES, &h("27e3626a8347f252519f3a391712f65a"), vec![]);
    let iv = h("e50b6bbe4ac7307f75421a71");
    let aad = h("96fe6e72597f596ae93907a820ba79a8");
    let pt = h("bf386209503082f15ed8461ddd");
    let encrypt = |tag_len: i32| {
        vec![
            uid(&k),
            gcm(tag_len),
            b(tag::DATA, &pt),
            b(tag::IV_COUNTER_NONCE, &iv),
            b(tag::AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA, &aad),
        ]
    };
    let reply = ok(&e, Operation::ENCRYPT, encrypt(13));
    assert_eq!(bytes(&reply, tag::DATA), h("34d347fa1b56d2cf691f1ce062"));
    assert_eq!(
        bytes(&reply, tag::AUTHENTICATED_ENCRYPTION_TAG),
        h("cb083ec9d63075bea3bba1c0d4")
    );
    for n in 12..=16 {
        let reply = ok(&e, Operation::ENCRYPT, encrypt(n));
        let t = bytes(&reply, tag::AUTHENTICATED_ENCRYPTION_TAG);
        assert_eq!(t.len(), usize::try_from(n).unwrap());
        let back = ok(
            &e,
            Operation::DECRYPT,
            vec![
                uid(&k),
                gcm(n),
                b(tag::DATA, &bytes(&reply, tag::DATA)),
                b(tag::IV_COUNTER_NONCE, &iv),
                b(tag::AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA, &aad),
                b(tag::AUTHENTICATED_ENCRYPTION_TAG, &t),
            ],
        );
        assert_eq!(bytes(&back, tag::DATA), pt, "tag of {n} bytes");
    }
    for n in [-1, 0, 4, 8, 11, 17, 32] {
        let item = answer(&e, Operation::ENCRYPT, encrypt(n));
        assert_eq!(
            item.child(tag::RESULT_REASON).map(|r| r.value.clone()),
            Some(Value::Enumeration(ResultReason::GeneralFailure.code())),
            "tag of {n} bytes: {item:?}"
        );
        assert_eq!(
            text_of(&item, tag::RESULT_MESSAGE),
            format!(
                "invalid tag length: Tag Length {n} bytes is not supported for AES-GCM: use 12 to 16 bytes"
            )
        );
    }
    // A Decrypt whose tag is not as long as its Tag Length says.
    assert_eq!(
        fails(
            &e,
            Operation::DECRYPT,
            vec![
                uid(&k),
                gcm(16),
                b(tag::DATA, &pt),
                b(tag::IV_COUNTER_NONCE, &iv),
                b(tag::AUTHENTICATED_ENCRYPTION_TAG, &[0; 13]),
            ],
        ),
        ResultReason::GeneralFailure
    );
    // KMIP 1.4 answers the same (CS-BC-M-GCM-1-14 expects General Failure too).
    let v14 = test_support::request(1, 4, vec![(Operation::ENCRYPT, encrypt(8))]);
    let resp = e.handle_request(&v14);
    let item = resp.child(tag::BATCH_ITEM).unwrap();
    assert_eq!(
        item.child(tag::RESULT_REASON).unwrap().value,
        Value::Enumeration(ResultReason::GeneralFailure.code()),
        "{item:?}"
    );
    assert!(text_of(item, tag::RESULT_MESSAGE).contains("Tag Length 8 bytes"));
}

#[test]
fn streamed_gcm_and_cbc_give_what_one_request_gives() {
    let e = engine();
    let key = h("feffe9928665731c6d6a8f9467308308");
    let k = register_key(&e, alg::AES, &key, vec![]);
    let data: Vec<u8> = (0u8..=200).collect();
    let iv = h("cafebabefacedbad");
    let mut first = chunk(Some(&k), None, false, &data[..37]);
    first.push(gcm(16));
    first.push(b(tag::IV_COUNTER_NONCE, &iv));
    let r1 = ok(&e, Operation::ENCRYPT, first);
    let cv = bytes(&r1, tag::CORRELATION_VALUE);
    let r2 = ok(
        &e,
        Operation::ENCRYPT,
        chunk(None, Some(&cv), false, &data[37..150]),
    );
    let r3 = ok(
        &e,
        Operation::ENCRYPT,
        chunk(None, Some(&cv), true, &data[150..]),
    );
    let mut streamed = bytes(&r1, tag::DATA);
    streamed.extend(bytes(&r2, tag::DATA));
    streamed.extend(bytes(&r3, tag::DATA));
    let whole = crypto::aead::gcm_seal(&key, &iv, &[], &data, 16).unwrap();
    assert_eq!(streamed, whole.ciphertext);
    assert_eq!(bytes(&r3, tag::AUTHENTICATED_ENCRYPTION_TAG), whole.tag);
    assert!(r3.child(tag::CORRELATION_VALUE).is_none());
    // The stream is closed after Final.
    assert_eq!(
        fails(
            &e,
            Operation::ENCRYPT,
            chunk(None, Some(&cv), true, b"more")
        ),
        ResultReason::InvalidCorrelationValue
    );
    // CBC decryption in odd-sized chunks, padding removed at the end.
    let iv = [9u8; 16];
    let ct = crypto::block::cbc_encrypt(&key, &iv, &data, crypto::block::Padding::Pkcs5).unwrap();
    let mut first = chunk(Some(&k), None, false, &ct[..20]);
    first.push(b(tag::IV_COUNTER_NONCE, &iv));
    let d1 = ok(&e, Operation::DECRYPT, first);
    let cv = bytes(&d1, tag::CORRELATION_VALUE);
    let d2 = ok(
        &e,
        Operation::DECRYPT,
        chunk(None, Some(&cv), false, &ct[20..192]),
    );
    let d3 = ok(
        &e,
        Operation::DECRYPT,
        chunk(None, Some(&cv), true, &ct[192..]),
    );
    let mut plain = bytes(&d1, tag::DATA);
    plain.extend(bytes(&d2, tag::DATA));
    plain.extend(bytes(&d3, tag::DATA));
    assert_eq!(plain, data);
    // A continuing request may not name another key.
    let mut first = chunk(Some(&k), None, false, &[0u8; 16]);
    first.push(b(tag::IV_COUNTER_NONCE, &iv));
    let open = ok(&e, Operation::ENCRYPT, first);
    let cv = bytes(&open, tag::CORRELATION_VALUE);
    let other = register_key(&e, alg::AES, &h(KEY), vec![]);
    let mut wrong_key = chunk(None, Some(&cv), true, &[0u8; 16]);
    wrong_key.push(uid(&other));
    assert_eq!(
        fails(&e, Operation::ENCRYPT, wrong_key),
        ResultReason::InvalidField
    );
    // A stream continues only under the operation that opened it.
    let mut first = chunk(Some(&k), None, false, &[0u8; 16]);
    first.push(b(tag::IV_COUNTER_NONCE, &iv));
    let open = ok(&e, Operation::ENCRYPT, first);
    let cv = bytes(&open, tag::CORRELATION_VALUE);
    assert_eq!(
        fails(
            &e,
            Operation::DECRYPT,
            chunk(None, Some(&cv), true, &[0u8; 16])
        ),
        ResultReason::InvalidCorrelationValue
    );
}

#[test]
fn open_streams_are_bounded_in_number_size_and_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    static CLOCK: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(NOW);
    let e = Engine::open(EngineConfig {
        clock: || CLOCK.load(std::sync::atomic::Ordering::SeqCst),
        data_dir: dir.path().to_path_buf(),
        crypto: CryptoLimits {
            max_open_streams: 2,
            stream_lifetime_secs: 60,
            max_stream_bytes: 64,
            max_rng_bytes: 8,
            ..CryptoLimits::DEFAULT
        },
        ..EngineConfig::default()
    })
    .unwrap();
    let k = register_key(&e, alg::AES, &h(KEY), vec![]);
    let open = |e: &Engine| {
        let mut p = chunk(Some(&k), None, false, &[0u8; 16]);
        p.push(b(tag::IV_COUNTER_NONCE, &[0u8; 16]));
        answer(e, Operation::ENCRYPT, p)
    };
    let first = open(&e).child(tag::RESPONSE_PAYLOAD).unwrap().clone();
    let cv = bytes(&first, tag::CORRELATION_VALUE);
    open(&e);
    assert_eq!(
        fails(&e, Operation::ENCRYPT, {
            let mut p = chunk(Some(&k), None, false, &[0u8; 16]);
            p.push(b(tag::IV_COUNTER_NONCE, &[0u8; 16]));
            p
        }),
        ResultReason::ServerLimitExceeded
    );
    // Too many bytes in one stream.
    assert_eq!(
        fails(
            &e,
            Operation::ENCRYPT,
            chunk(None, Some(&cv), false, &[0u8; 64])
        ),
        ResultReason::ServerLimitExceeded
    );
    // After their lifetime the streams are gone and new ones may open.
    CLOCK.store(NOW + 61, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        fails(
            &e,
            Operation::ENCRYPT,
            chunk(None, Some(&cv), true, &[0u8; 16])
        ),
        ResultReason::InvalidCorrelationValue
    );
    let reopened = open(&e);
    assert!(
        reopened.child(tag::RESPONSE_PAYLOAD).is_some(),
        "{reopened:?}"
    );
    // RNG Retrieve is bounded too.
    assert_eq!(
        fails(&e, Operation::RNG_RETRIEVE, vec![int(tag::DATA_LENGTH, 9)]),
        ResultReason::ServerLimitExceeded
    );
    let r = ok(&e, Operation::RNG_RETRIEVE, vec![int(tag::DATA_LENGTH, 8)]);
    assert_eq!(bytes(&r, tag::DATA).len(), 8);
}

#[test]
fn mac_and_mac_verify_with_hmac_and_cmac() {
    let e = engine();
    let hk = register_key(&e, alg::HMAC_SHA256, b"Jefe", vec![]);
    let data = b"what do ya want for nothing?";
    let m = ok(&e, Operation::MAC, vec![uid(&hk), b(tag::DATA, data)]);
    let expected = h("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_eq!(bytes(&m, tag::MAC_DATA), expected);
    let verify = |mac: &[u8]| {
        let r = ok(
            &e,
            Operation::MAC_VERIFY,
            vec![uid(&hk), b(tag::DATA, data), b(tag::MAC_DATA, mac)],
        );
        r.child(tag::VALIDITY_INDICATOR).unwrap().value.clone()
    };
    assert_eq!(
        verify(&expected),
        Value::Enumeration(validity_indicator::VALID)
    );
    let mut wrong = expected.clone();
    wrong[0] ^= 1;
    assert_eq!(
        verify(&wrong),
        Value::Enumeration(validity_indicator::INVALID)
    );
    // An AES key: CMAC by default, HMAC when the parameters name one (CS-AC-M-4).
    let ak = register_key(&e, alg::AES, &h(KEY), vec![]);
    let cmac = ok(
        &e,
        Operation::MAC,
        vec![
            uid(&ak),
            b(tag::DATA, &h("6bc1bee22e409f96e93d7e117393172a")),
        ],
    );
    assert_eq!(
        bytes(&cmac, tag::MAC_DATA),
        h("070a16b46b4d4144f79bdd9dd04a287c")
    );
    let hmac = ok(
        &e,
        Operation::MAC,
        vec![
            uid(&ak),
            params(vec![en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::HMAC_SHA512)]),
            b(tag::DATA, b"abc"),
        ],
    );
    assert_eq!(bytes(&hmac, tag::MAC_DATA).len(), 64);
    // Streamed MAC equals the whole.
    let first = ok(
        &e,
        Operation::MAC,
        chunk(Some(&hk), None, false, &data[..10]),
    );
    let cv = bytes(&first, tag::CORRELATION_VALUE);
    let last = ok(
        &e,
        Operation::MAC,
        chunk(None, Some(&cv), true, &data[10..]),
    );
    assert_eq!(bytes(&last, tag::MAC_DATA), expected);
}

#[test]
fn hash_rng_and_seed() {
    let e = engine();
    let sha = |alg: HashingAlgorithm, data: &[u8]| {
        ok(
            &e,
            Operation::HASH,
            vec![
                params(vec![en(tag::HASHING_ALGORITHM, alg.0)]),
                b(tag::DATA, data),
            ],
        )
    };
    assert_eq!(
        bytes(&sha(HashingAlgorithm::SHA_256, b"abc"), tag::DATA),
        h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(
        fails(
            &e,
            Operation::HASH,
            vec![
                params(vec![en(tag::HASHING_ALGORITHM, HashingAlgorithm::MD5.0)]),
                b(tag::DATA, b"x")
            ]
        ),
        ResultReason::CryptographicFailure
    );
    let r1 = ok(&e, Operation::RNG_RETRIEVE, vec![int(tag::DATA_LENGTH, 32)]);
    let r2 = ok(&e, Operation::RNG_RETRIEVE, vec![int(tag::DATA_LENGTH, 32)]);
    assert_eq!(bytes(&r1, tag::DATA).len(), 32);
    assert_ne!(bytes(&r1, tag::DATA), bytes(&r2, tag::DATA));
    assert_eq!(
        fails(&e, Operation::RNG_RETRIEVE, vec![int(tag::DATA_LENGTH, 0)]),
        ResultReason::InvalidField
    );
    let seed = ok(&e, Operation::RNG_SEED, vec![b(tag::DATA, &[1u8; 32])]);
    assert_eq!(
        seed.child(tag::DATA_LENGTH).unwrap().value,
        Value::Integer(0)
    );
}

#[test]
fn streamed_hash_gives_what_one_request_gives() {
    let e = engine();
    let sha256 = || {
        params(vec![en(
            tag::HASHING_ALGORITHM,
            HashingAlgorithm::SHA_256.0,
        )])
    };
    let first = ok(
        &e,
        Operation::HASH,
        vec![
            sha256(),
            b(tag::DATA, b"a"),
            v(tag::INIT_INDICATOR, Value::Boolean(true)),
        ],
    );
    assert!(first.child(tag::DATA).is_none());
    let cv = bytes(&first, tag::CORRELATION_VALUE);
    let middle = ok(&e, Operation::HASH, chunk(None, Some(&cv), false, b"b"));
    assert_eq!(bytes(&middle, tag::CORRELATION_VALUE), cv);
    let last = ok(&e, Operation::HASH, chunk(None, Some(&cv), true, b"c"));
    assert_eq!(
        bytes(&last, tag::DATA),
        h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    // The stream is gone once finished, and another operation cannot continue a Hash stream.
    assert_eq!(
        fails(&e, Operation::HASH, chunk(None, Some(&cv), true, b"d")),
        ResultReason::InvalidCorrelationValue
    );
    let other = ok(
        &e,
        Operation::HASH,
        vec![
            sha256(),
            b(tag::DATA, b"a"),
            v(tag::INIT_INDICATOR, Value::Boolean(true)),
        ],
    );
    let other_cv = bytes(&other, tag::CORRELATION_VALUE);
    let k = register_key(&e, alg::HMAC_SHA256, &[7u8; 32], vec![]);
    assert_eq!(
        fails(
            &e,
            Operation::MAC,
            chunk(Some(&k), Some(&other_cv), true, b"b")
        ),
        ResultReason::InvalidCorrelationValue
    );
}

fn derive(e: &Engine, base: &str, method: u32, dp: Vec<Ttlv>, object_type: u32) -> Ttlv {
    answer(
        e,
        Operation::DERIVE_KEY,
        vec![
            en(tag::OBJECT_TYPE, object_type),
            uid(base),
            en(tag::DERIVATION_METHOD, method),
            st(tag::DERIVATION_PARAMETERS, dp),
            st(
                tag::ATTRIBUTES,
                vec![
                    en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::AES),
                    int(tag::CRYPTOGRAPHIC_LENGTH, 128),
                    int(tag::CRYPTOGRAPHIC_USAGE_MASK, 12),
                ],
            ),
        ],
    )
}

fn material(e: &Engine, u: &str) -> Vec<u8> {
    let got = ok(e, Operation::GET, vec![uid(u)]);
    let kv = got
        .child(tag::SYMMETRIC_KEY)
        .unwrap()
        .child(tag::KEY_BLOCK)
        .unwrap()
        .child(tag::KEY_VALUE)
        .unwrap();
    bytes(kv, tag::KEY_MATERIAL)
}

fn links(e: &Engine, u: &str) -> Vec<(u32, String)> {
    let attrs = ok(
        e,
        Operation::GET_ATTRIBUTES,
        vec![uid(u), en(tag::ATTRIBUTE_REFERENCE, tag::LINK)],
    );
    attrs
        .child(tag::ATTRIBUTES)
        .unwrap()
        .children_with(tag::LINK)
        .map(|l| {
            let Value::Enumeration(t) = l.child(tag::LINK_TYPE).unwrap().value else {
                panic!()
            };
            (t, text_of(l, tag::LINKED_OBJECT_IDENTIFIER))
        })
        .collect()
}

#[test]
fn derive_key_by_hkdf_pbkdf2_hmac_and_encrypt_stores_a_linked_key() {
    let e = engine();
    let ikm = [0x0bu8; 22];
    let base = register_key(&e, alg::HMAC_SHA256, &ikm, vec![]);
    let r = derive(
        &e,
        &base,
        derivation_method::HKDF,
        vec![
            params(vec![en(
                tag::HASHING_ALGORITHM,
                HashingAlgorithm::SHA_256.0,
            )]),
            b(tag::DERIVATION_DATA, &h("f0f1f2f3f4f5f6f7f8f9")),
            b(tag::SALT, &h("000102030405060708090a0b0c")),
        ],
        ot::SYMMETRIC_KEY,
    );
    let derived = text_of(
        r.child(tag::RESPONSE_PAYLOAD).unwrap(),
        tag::UNIQUE_IDENTIFIER,
    );
    assert_eq!(
        material(&e, &derived),
        h("3cb25f25faacd57a90434f64d0362f2a")
    );
    assert!(links(&e, &derived).contains(&(link_type::DERIVATION_BASE_OBJECT_LINK, base.clone())));
    assert!(links(&e, &base).contains(&(link_type::DERIVED_KEY_LINK, derived.clone())));
    // PBKDF2 from a password held as Secret Data (RFC 6070 with SHA-1, 16 of its 20 bytes).
    let password = ok(
        &e,
        Operation::REGISTER,
        vec![
            en(tag::OBJECT_TYPE, ot::SECRET_DATA),
            st(
                tag::ATTRIBUTES,
                vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 0x200)],
            ),
            secret_data(secret_data_type::PASSWORD, b"password"),
        ],
    );
    let pw = text_of(&password, tag::UNIQUE_IDENTIFIER);
    ok(&e, Operation::ACTIVATE, vec![uid(&pw)]);
    let r = derive(
        &e,
        &pw,
        derivation_method::PBKDF2,
        vec![
            params(vec![en(tag::HASHING_ALGORITHM, HashingAlgorithm::SHA_1.0)]),
            b(tag::SALT, b"salt"),
            int(tag::ITERATION_COUNT, 2),
        ],
        ot::SYMMETRIC_KEY,
    );
    let derived = text_of(
        r.child(tag::RESPONSE_PAYLOAD).unwrap(),
        tag::UNIQUE_IDENTIFIER,
    );
    assert_eq!(
        material(&e, &derived),
        h("ea6c014dc72d6f8ccd1ed92ace1d41f0")
    );
    // HMAC: the MAC of the Derivation Data under the base key, truncated.
    let r = derive(
        &e,
        &base,
        derivation_method::HMAC,
        vec![b(tag::DERIVATION_DATA, b"context")],
        ot::SYMMETRIC_KEY,
    );
    let derived = text_of(
        r.child(tag::RESPONSE_PAYLOAD).unwrap(),
        tag::UNIQUE_IDENTIFIER,
    );
    let full = crypto::mac::mac(
        crypto::mac::MacAlg::Hmac(crypto::digest::HashAlg::Sha256),
        &ikm,
        b"context",
    )
    .unwrap();
    assert_eq!(material(&e, &derived), full[..16]);
    // Encrypt: the AES-ECB encryption of the Derivation Data.
    let aes = register_key(&e, alg::AES, &h(KEY), vec![]);
    let r = derive(
        &e,
        &aes,
        derivation_method::ENCRYPT,
        vec![
            params(vec![en(tag::BLOCK_CIPHER_MODE, BlockCipherMode::ECB.0)]),
            b(tag::DERIVATION_DATA, &h("6bc1bee22e409f96e93d7e117393172a")),
        ],
        ot::SYMMETRIC_KEY,
    );
    let derived = text_of(
        r.child(tag::RESPONSE_PAYLOAD).unwrap(),
        tag::UNIQUE_IDENTIFIER,
    );
    assert_eq!(
        material(&e, &derived),
        h("3ad77bb40d7a3660a89ecaf32466ef97")
    );
    // A base key without the Derive Key bit is refused.
    let no_derive = register_key(
        &e,
        alg::AES,
        &h(KEY),
        vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 4)],
    );
    let r = derive(
        &e,
        &no_derive,
        derivation_method::HKDF,
        vec![],
        ot::SYMMETRIC_KEY,
    );
    assert_eq!(
        r.child(tag::RESULT_REASON).unwrap().value,
        Value::Enumeration(ResultReason::IncompatibleCryptographicUsageMask.code())
    );
}

#[test]
fn encrypt_of_a_non_key_object_is_invalid_object_type() {
    let e = engine();
    let secret = ok(
        &e,
        Operation::REGISTER,
        vec![
            en(tag::OBJECT_TYPE, ot::SECRET_DATA),
            st(tag::ATTRIBUTES, vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 4)]),
            secret_data(secret_data_type::SEED, &[1u8; 16]),
        ],
    );
    let s = text_of(&secret, tag::UNIQUE_IDENTIFIER);
    ok(&e, Operation::ACTIVATE, vec![uid(&s)]);
    assert_eq!(
        fails(
            &e,
            Operation::ENCRYPT,
            vec![uid(&s), b(tag::DATA, &[0u8; 16])]
        ),
        ResultReason::InvalidObjectType
    );
}

#[test]
fn a_hash_stream_expires_from_its_init_even_when_continued() {
    let dir = tempfile::tempdir().unwrap();
    static CLOCK: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(NOW);
    let e = Engine::open(EngineConfig {
        clock: || CLOCK.load(std::sync::atomic::Ordering::SeqCst),
        data_dir: dir.path().to_path_buf(),
        crypto: CryptoLimits {
            stream_lifetime_secs: 60,
            ..CryptoLimits::default()
        },
        ..EngineConfig::default()
    })
    .unwrap();
    let first = ok(
        &e,
        Operation::HASH,
        vec![
            params(vec![en(
                tag::HASHING_ALGORITHM,
                HashingAlgorithm::SHA_256.0,
            )]),
            b(tag::DATA, b"a"),
            v(tag::INIT_INDICATOR, Value::Boolean(true)),
        ],
    );
    let cv = bytes(&first, tag::CORRELATION_VALUE);
    // Continued at 40 s: still inside its lifetime.
    CLOCK.store(NOW + 40, std::sync::atomic::Ordering::SeqCst);
    ok(&e, Operation::HASH, chunk(None, Some(&cv), false, b"b"));
    // At 70 s it has lived past 60 s since Init, however recently it was continued.
    CLOCK.store(NOW + 70, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        fails(&e, Operation::HASH, chunk(None, Some(&cv), true, b"c")),
        ResultReason::InvalidCorrelationValue
    );
}

/// Triple DES through Encrypt/Decrypt: a registered three-key TDES key gives the NIST SP 800-67 example in ECB;
/// without a mode it is CBC with PKCS#5 padding and a server-made 8-byte IV that Decrypt takes back; a mode
/// other than ECB or CBC is refused.
#[test]
fn triple_des_encrypts_in_ecb_and_cbc() {
    let e = engine();
    let key = h("0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123");
    let k = register_key(&e, alg::DES3, &key, vec![]);
    let plain = h("54686520717566636B2062726F776E20666F78206A756D70");
    let ecb = ok(
        &e,
        Operation::ENCRYPT,
        vec![
            uid(&k),
            params(vec![
                en(tag::BLOCK_CIPHER_MODE, BlockCipherMode::ECB.0),
                en(tag::PADDING_METHOD, PaddingMethod::NONE.0),
            ]),
            b(tag::DATA, &plain),
        ],
    );
    assert_eq!(
        bytes(&ecb, tag::DATA),
        h("A826FD8CE53B855FCCE21C8112256FE668D5C05DD9B6B900")
    );
    let data = b"tape volume key, 29 bytes ...".to_vec();
    let cbc = ok(&e, Operation::ENCRYPT, vec![uid(&k), b(tag::DATA, &data)]);
    let iv = bytes(&cbc, tag::IV_COUNTER_NONCE);
    let ct = bytes(&cbc, tag::DATA);
    assert_eq!(iv.len(), 8);
    assert_eq!(ct.len(), 32);
    let back = ok(
        &e,
        Operation::DECRYPT,
        vec![uid(&k), b(tag::DATA, &ct), b(tag::IV_COUNTER_NONCE, &iv)],
    );
    assert_eq!(bytes(&back, tag::DATA), data);
    assert_eq!(
        fails(
            &e,
            Operation::ENCRYPT,
            vec![
                uid(&k),
                params(vec![en(tag::BLOCK_CIPHER_MODE, BlockCipherMode::GCM.0)]),
                b(tag::DATA, &data),
            ],
        ),
        ResultReason::InvalidField
    );
}

/// Streaming (Init Indicator, Final Indicator, Correlation Value) exists from KMIP 1.3: a 1.3 and a 1.4 client
/// stream a CBC encryption and get what one request gives; Query's Capability Information says so from 1.3.
#[test]
fn streaming_works_in_1_3_and_1_4_and_query_says_so() {
    let e = engine();
    let key = h(KEY);
    let k = register_key(&e, alg::AES, &key, vec![]);
    let data: Vec<u8> = (0u8..100).collect();
    let iv = [7u8; 16];
    for minor in [3, 4] {
        let run14 =
            |payload: Vec<Ttlv>| test_support::ok(&e, 1, minor, Operation::ENCRYPT, payload);
        let mut first = chunk(Some(&k), None, false, &data[..30]);
        first.push(b(tag::IV_COUNTER_NONCE, &iv));
        let r1 = run14(first);
        let cv = bytes(&r1, tag::CORRELATION_VALUE);
        let r2 = run14(chunk(None, Some(&cv), true, &data[30..]));
        let mut streamed = bytes(&r1, tag::DATA);
        streamed.extend(bytes(&r2, tag::DATA));
        let whole = ok(
            &e,
            Operation::ENCRYPT,
            vec![uid(&k), b(tag::DATA, &data), b(tag::IV_COUNTER_NONCE, &iv)],
        );
        assert_eq!(streamed, bytes(&whole, tag::DATA), "1.{minor}");
    }
    for (major, minor) in [(1, 3), (1, 4), (2, 0), (2, 1)] {
        let reply = test_support::ok(
            &e,
            major,
            minor,
            Operation::QUERY,
            vec![en(
                tag::QUERY_FUNCTION,
                crate::spec::enums::query_function::QUERY_CAPABILITIES,
            )],
        );
        let capability = reply.child(tag::CAPABILITY_INFORMATION).unwrap();
        assert_eq!(
            capability.child(tag::STREAMING_CAPABILITY).unwrap().value,
            Value::Boolean(true),
            "{major}.{minor}"
        );
    }
}
