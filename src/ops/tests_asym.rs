//! Create Key Pair, Sign / Signature Verify and RSA Encrypt / Decrypt through [`Engine::handle_request`] over a
//! fresh store, in 1.x and 2.x shapes.

use super::object::Managed;
use super::test_support::{
    self, NOW, b as bytes, bytes_of, en, engine, enum_of, run, st, text_of, uid, v,
};
use super::*;
use crate::kmip::{ResultReason, ResultStatus};
use crate::spec::enums::{
    cryptographic_algorithm as alg, hashing_algorithm as ha, key_format_type as kft, link_type,
    object_type as ot, padding_method as pm, unique_identifier as ue, validity_indicator as vi,
};
use crate::spec::tag;
use crate::ttlv::Value;

const SIGN: i32 = 0x01;
const VERIFY: i32 = 0x02;
const ENCRYPT: i32 = 0x04;
const DECRYPT: i32 = 0x08;

/// The version `minor` stands for in these tests: 14 is 1.4, 21 is 2.1.
fn version(minor: i32) -> (i32, i32) {
    (if minor >= 10 { 2 } else { 1 }, minor % 10)
}

fn ok(engine: &Engine, minor: i32, op: Operation, payload: Vec<Ttlv>) -> Ttlv {
    let (major, minor) = version(minor);
    test_support::ok(engine, major, minor, op, payload)
}

fn fails(engine: &Engine, minor: i32, op: Operation, payload: Vec<Ttlv>) -> ResultReason {
    let (major, minor) = version(minor);
    let code = test_support::fails(engine, major, minor, op, payload);
    ResultReason::ALL
        .iter()
        .copied()
        .find(|r| r.code_in(ProtocolVersion::new(major, minor)) == code)
        .unwrap()
}

fn stored(engine: &Engine, u: &str) -> Managed {
    Managed::from_record(engine.store().get(u).unwrap().unwrap()).unwrap()
}

/// 2.1 Create Key Pair, both halves active from an hour ago; (private, public).
fn pair_21(
    engine: &Engine,
    algorithm: u32,
    bits: i32,
    private_mask: i32,
    public_mask: i32,
) -> (String, String) {
    let payload = ok(
        engine,
        21,
        Operation::CREATE_KEY_PAIR,
        vec![
            st(
                tag::COMMON_ATTRIBUTES,
                vec![
                    en(tag::CRYPTOGRAPHIC_ALGORITHM, algorithm),
                    v(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(bits)),
                    v(tag::ACTIVATION_DATE, Value::DateTime(NOW - 3600)),
                ],
            ),
            st(
                tag::PRIVATE_KEY_ATTRIBUTES,
                vec![v(
                    tag::CRYPTOGRAPHIC_USAGE_MASK,
                    Value::Integer(private_mask),
                )],
            ),
            st(
                tag::PUBLIC_KEY_ATTRIBUTES,
                vec![v(
                    tag::CRYPTOGRAPHIC_USAGE_MASK,
                    Value::Integer(public_mask),
                )],
            ),
        ],
    );
    (
        text_of(&payload, tag::PRIVATE_KEY_UNIQUE_IDENTIFIER),
        text_of(&payload, tag::PUBLIC_KEY_UNIQUE_IDENTIFIER),
    )
}

fn link_to(m: &Managed, kind: u32) -> String {
    let link = m.get(tag::LINK).unwrap();
    assert_eq!(enum_of(link, tag::LINK_TYPE), kind);
    text_of(link, tag::LINKED_OBJECT_IDENTIFIER)
}

#[test]
fn a_1_4_rsa_pair_has_both_attribute_sets_links_and_pkcs1_halves() {
    let e = engine();
    let attr = |name: &str, value: Value| {
        st(
            tag::ATTRIBUTE,
            vec![
                v(tag::ATTRIBUTE_NAME, Value::TextString(name.to_string())),
                v(tag::ATTRIBUTE_VALUE, value),
            ],
        )
    };
    let payload = ok(
        &e,
        4,
        Operation::CREATE_KEY_PAIR,
        vec![
            st(
                tag::COMMON_TEMPLATE_ATTRIBUTE,
                vec![
                    attr("Cryptographic Algorithm", Value::Enumeration(alg::RSA)),
                    attr("Cryptographic Length", Value::Integer(2048)),
                ],
            ),
            st(
                tag::PRIVATE_KEY_TEMPLATE_ATTRIBUTE,
                vec![attr("Cryptographic Usage Mask", Value::Integer(SIGN))],
            ),
            st(
                tag::PUBLIC_KEY_TEMPLATE_ATTRIBUTE,
                vec![attr("Cryptographic Usage Mask", Value::Integer(VERIFY))],
            ),
        ],
    );
    let private_uid = text_of(&payload, tag::PRIVATE_KEY_UNIQUE_IDENTIFIER);
    let public_uid = text_of(&payload, tag::PUBLIC_KEY_UNIQUE_IDENTIFIER);
    let private = stored(&e, &private_uid);
    let public = stored(&e, &public_uid);
    assert_eq!(private.object_type, ot::PRIVATE_KEY);
    assert_eq!(public.object_type, ot::PUBLIC_KEY);
    assert_eq!(link_to(&private, link_type::PUBLIC_KEY_LINK), public_uid);
    assert_eq!(link_to(&public, link_type::PRIVATE_KEY_LINK), private_uid);
    assert_eq!(
        private.get(tag::CRYPTOGRAPHIC_USAGE_MASK).unwrap().value,
        Value::Integer(SIGN)
    );
    assert_eq!(
        public.get(tag::CRYPTOGRAPHIC_USAGE_MASK).unwrap().value,
        Value::Integer(VERIFY)
    );
    for m in [&private, &public] {
        assert_eq!(
            m.get(tag::CRYPTOGRAPHIC_LENGTH).unwrap().value,
            Value::Integer(2048)
        );
        assert_eq!(
            m.get(tag::ORIGINAL_CREATION_DATE).unwrap().value,
            Value::DateTime(NOW)
        );
        let kb = m.object.as_ref().unwrap().key_block().unwrap();
        assert_eq!(kb.key_format_type, kft::PKCS_1);
    }
    // Get converts the private half to PKCS#8, which aws-lc-rs reads back.
    let got = ok(
        &e,
        4,
        Operation::GET,
        vec![uid(&private_uid), en(tag::KEY_FORMAT_TYPE, kft::PKCS_8)],
    );
    let material = bytes_of(
        got.child(tag::PRIVATE_KEY)
            .unwrap()
            .child(tag::KEY_BLOCK)
            .unwrap()
            .child(tag::KEY_VALUE)
            .unwrap(),
        tag::KEY_MATERIAL,
    );
    assert!(aws_lc_rs::rsa::KeyPair::from_pkcs8(&material).is_ok());
}

#[test]
fn every_kind_signs_and_verifies_through_the_engine() {
    let e = engine();
    let cases = [
        (alg::EC, 256),
        (alg::ED25519, 256),
        (alg::RSA, 2048),
        (alg::RSA, 3072),
    ];
    for (algorithm, bits) in cases {
        let (private, public) = pair_21(&e, algorithm, bits, SIGN, VERIFY);
        let data = b"the message".to_vec();
        let signed = ok(
            &e,
            21,
            Operation::SIGN,
            vec![uid(&private), bytes(tag::DATA, &data)],
        );
        assert_eq!(text_of(&signed, tag::UNIQUE_IDENTIFIER), private);
        let signature = bytes_of(&signed, tag::SIGNATURE_DATA);
        let verify = |data: &[u8], signature: &[u8]| {
            let p = ok(
                &e,
                21,
                Operation::SIGNATURE_VERIFY,
                vec![
                    uid(&public),
                    bytes(tag::DATA, data),
                    bytes(tag::SIGNATURE_DATA, signature),
                ],
            );
            enum_of(&p, tag::VALIDITY_INDICATOR)
        };
        assert_eq!(verify(&data, &signature), vi::VALID, "{algorithm}");
        assert_eq!(
            verify(b"another message", &signature),
            vi::INVALID,
            "{algorithm}"
        );
        if algorithm == alg::EC {
            // DER: SEQUENCE of two INTEGERs.
            assert_eq!(signature.first(), Some(&0x30));
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &data);
            let p = ok(
                &e,
                21,
                Operation::SIGNATURE_VERIFY,
                vec![
                    uid(&public),
                    bytes(tag::DIGESTED_DATA, digest.as_ref()),
                    bytes(tag::SIGNATURE_DATA, &signature),
                ],
            );
            assert_eq!(enum_of(&p, tag::VALIDITY_INDICATOR), vi::VALID);
        }
    }
}

#[test]
fn rsa_pss_and_pkcs1_follow_the_cryptographic_parameters() {
    let e = engine();
    let (private, public) = pair_21(&e, alg::RSA, 2048, SIGN, VERIFY);
    for padding in [pm::PSS, pm::PKCS1_V1_5] {
        for hash in [ha::SHA_256, ha::SHA_384, ha::SHA_512] {
            let params = st(
                tag::CRYPTOGRAPHIC_PARAMETERS,
                vec![
                    en(tag::PADDING_METHOD, padding),
                    en(tag::HASHING_ALGORITHM, hash),
                ],
            );
            let s = ok(
                &e,
                21,
                Operation::SIGN,
                vec![uid(&private), params.clone(), bytes(tag::DATA, b"m")],
            );
            let signature = bytes_of(&s, tag::SIGNATURE_DATA);
            let check = |p: Ttlv| {
                let r = ok(
                    &e,
                    21,
                    Operation::SIGNATURE_VERIFY,
                    vec![
                        uid(&public),
                        p,
                        bytes(tag::DATA, b"m"),
                        bytes(tag::SIGNATURE_DATA, &signature),
                    ],
                );
                enum_of(&r, tag::VALIDITY_INDICATOR)
            };
            assert_eq!(check(params.clone()), vi::VALID);
            let other = if padding == pm::PSS {
                pm::PKCS1_V1_5
            } else {
                pm::PSS
            };
            let wrong = st(
                tag::CRYPTOGRAPHIC_PARAMETERS,
                vec![
                    en(tag::PADDING_METHOD, other),
                    en(tag::HASHING_ALGORITHM, hash),
                ],
            );
            assert_eq!(check(wrong), vi::INVALID);
        }
    }
}

#[test]
fn policy_of_use_and_object_types_are_enforced() {
    let e = engine();
    let (private, public) = pair_21(&e, alg::EC, 256, VERIFY, VERIFY);
    // The private key's mask does not allow signing.
    assert_eq!(
        fails(
            &e,
            21,
            Operation::SIGN,
            vec![uid(&private), bytes(tag::DATA, b"m")]
        ),
        ResultReason::IncompatibleCryptographicUsageMask
    );
    // A public key does not sign.
    assert_eq!(
        fails(
            &e,
            21,
            Operation::SIGN,
            vec![uid(&public), bytes(tag::DATA, b"m")]
        ),
        ResultReason::InvalidObjectType
    );
    // A Pre-Active key is not used.
    let payload = ok(
        &e,
        21,
        Operation::CREATE_KEY_PAIR,
        vec![st(
            tag::COMMON_ATTRIBUTES,
            vec![en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::ED25519)],
        )],
    );
    let pre_active = text_of(&payload, tag::PRIVATE_KEY_UNIQUE_IDENTIFIER);
    assert_eq!(
        fails(
            &e,
            21,
            Operation::SIGN,
            vec![uid(&pre_active), bytes(tag::DATA, b"m")]
        ),
        ResultReason::WrongKeyLifecycleState
    );
    // Ed25519 has no digested form.
    let (ed, _) = pair_21(&e, alg::ED25519, 256, SIGN, VERIFY);
    assert_eq!(
        fails(
            &e,
            21,
            Operation::SIGN,
            vec![uid(&ed), bytes(tag::DIGESTED_DATA, &[0; 32])]
        ),
        ResultReason::FeatureNotSupported
    );
}

#[test]
fn bad_key_pair_requests_are_refused() {
    let e = engine();
    let create = |common: Vec<Ttlv>, private: Vec<Ttlv>| {
        fails(
            &e,
            21,
            Operation::CREATE_KEY_PAIR,
            vec![
                st(tag::COMMON_ATTRIBUTES, common),
                st(tag::PRIVATE_KEY_ATTRIBUTES, private),
            ],
        )
    };
    let rsa = |bits: i32| {
        vec![
            en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::RSA),
            v(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(bits)),
        ]
    };
    assert_eq!(create(rsa(1024), vec![]), ResultReason::InvalidField);
    assert_eq!(create(vec![], vec![]), ResultReason::InvalidField);
    assert_eq!(
        create(vec![en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::AES)], vec![]),
        ResultReason::InvalidField
    );
    // The halves disagree on the algorithm.
    assert_eq!(
        fails(
            &e,
            21,
            Operation::CREATE_KEY_PAIR,
            vec![
                st(
                    tag::PRIVATE_KEY_ATTRIBUTES,
                    vec![en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::EC)]
                ),
                st(
                    tag::PUBLIC_KEY_ATTRIBUTES,
                    vec![en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::ED25519)]
                ),
            ],
        ),
        ResultReason::InvalidField
    );
    assert_eq!(e.store().last_seq().unwrap(), 0, "nothing was committed");
}

#[test]
fn a_batch_creates_a_pair_and_signs_with_the_id_placeholder() {
    let e = engine();
    let items = run(
        &e,
        2,
        1,
        vec![
            (
                Operation::CREATE_KEY_PAIR,
                vec![st(
                    tag::COMMON_ATTRIBUTES,
                    vec![
                        en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::EC),
                        v(tag::ACTIVATION_DATE, Value::DateTime(NOW - 1)),
                    ],
                )],
            ),
            (Operation::SIGN, vec![bytes(tag::DATA, b"m")]),
            (
                Operation::GET,
                vec![en(tag::UNIQUE_IDENTIFIER, ue::CREATE_KEY_PAIR_PUBLIC_KEY)],
            ),
        ],
    );
    assert_eq!(items.len(), 3);
    for item in &items {
        assert_eq!(
            enum_of(item, tag::RESULT_STATUS),
            ResultStatus::Success.code(),
            "{item:?}"
        );
    }
    let created = items[0].child(tag::RESPONSE_PAYLOAD).unwrap();
    let signed = items[1].child(tag::RESPONSE_PAYLOAD).unwrap();
    let got = items[2].child(tag::RESPONSE_PAYLOAD).unwrap();
    assert_eq!(
        text_of(signed, tag::UNIQUE_IDENTIFIER),
        text_of(created, tag::PRIVATE_KEY_UNIQUE_IDENTIFIER)
    );
    assert_eq!(
        text_of(got, tag::UNIQUE_IDENTIFIER),
        text_of(created, tag::PUBLIC_KEY_UNIQUE_IDENTIFIER)
    );
}

#[test]
fn rsa_oaep_and_pkcs1_encrypt_and_decrypt_round_trip() {
    let e = engine();
    let (private, public) = pair_21(&e, alg::RSA, 2048, DECRYPT, ENCRYPT);
    let secret = b"a data encryption key".to_vec();
    let cases = [
        vec![
            en(tag::PADDING_METHOD, pm::OAEP),
            en(tag::HASHING_ALGORITHM, ha::SHA_1),
        ],
        vec![
            en(tag::PADDING_METHOD, pm::OAEP),
            en(tag::HASHING_ALGORITHM, ha::SHA_256),
            bytes(tag::P_SOURCE, b"label"),
        ],
        vec![en(tag::PADDING_METHOD, pm::PKCS1_V1_5)],
    ];
    for params in cases {
        let params = st(tag::CRYPTOGRAPHIC_PARAMETERS, params);
        let c = ok(
            &e,
            21,
            Operation::ENCRYPT,
            vec![uid(&public), params.clone(), bytes(tag::DATA, &secret)],
        );
        let ciphertext = bytes_of(&c, tag::DATA);
        assert_eq!(ciphertext.len(), 256);
        let p = ok(
            &e,
            21,
            Operation::DECRYPT,
            vec![uid(&private), params, bytes(tag::DATA, &ciphertext)],
        );
        assert_eq!(bytes_of(&p, tag::DATA), secret);
    }
    // No Padding Method in the request or on the key.
    assert_eq!(
        fails(
            &e,
            21,
            Operation::ENCRYPT,
            vec![uid(&public), bytes(tag::DATA, &secret)]
        ),
        ResultReason::InvalidField
    );
    // A public key does not decrypt; the key's mask forbids the private key to encrypt.
    let oaep = st(
        tag::CRYPTOGRAPHIC_PARAMETERS,
        vec![en(tag::PADDING_METHOD, pm::OAEP)],
    );
    assert_eq!(
        fails(
            &e,
            21,
            Operation::DECRYPT,
            vec![uid(&public), oaep.clone(), bytes(tag::DATA, &[0; 256])]
        ),
        // Encrypt and Decrypt judge the key's use before its type: the public key's mask has no Decrypt.
        ResultReason::IncompatibleCryptographicUsageMask
    );
    // A ciphertext that does not decrypt is a Cryptographic Failure.
    assert_eq!(
        fails(
            &e,
            21,
            Operation::DECRYPT,
            vec![uid(&private), oaep, bytes(tag::DATA, &[7; 256])]
        ),
        ResultReason::CryptographicFailure
    );
}
