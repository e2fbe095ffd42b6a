use super::*;
use crate::kmip::attributes::Attribute;
use crate::kmip::enums::ObjectType;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

#[test]
fn rfc3394_vectors() {
    // RFC 3394 section 4.1, 4.2, 4.3 and 4.6.
    let cases = [
        (
            "000102030405060708090A0B0C0D0E0F",
            "00112233445566778899AABBCCDDEEFF",
            "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5",
        ),
        (
            "000102030405060708090A0B0C0D0E0F1011121314151617",
            "00112233445566778899AABBCCDDEEFF",
            "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D",
        ),
        (
            "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
            "00112233445566778899AABBCCDDEEFF",
            "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7",
        ),
        (
            "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
            "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
            "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21",
        ),
    ];
    for (kek, key, wrapped) in cases {
        let w = aes_wrap(&h(kek), &h(key), AesKeyWrap::Rfc3394).unwrap();
        assert_eq!(w.as_slice(), h(wrapped).as_slice());
        let u = aes_unwrap(&h(kek), &w, AesKeyWrap::Rfc3394).unwrap();
        assert_eq!(u.as_slice(), h(key).as_slice());
    }
}

#[test]
fn rfc5649_vectors() {
    // RFC 5649 section 6.
    let kek = h("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
    for (key, wrapped) in [
        (
            "c37b7e6492584340bed12207808941155068f738",
            "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
        ),
        ("466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"),
    ] {
        let w = aes_wrap(&kek, &h(key), AesKeyWrap::Rfc5649).unwrap();
        assert_eq!(w.as_slice(), h(wrapped).as_slice());
        assert_eq!(
            aes_unwrap(&kek, &w, AesKeyWrap::Rfc5649)
                .unwrap()
                .as_slice(),
            h(key).as_slice()
        );
    }
}

#[test]
fn tampering_and_bad_keys_fail() {
    let kek = [7u8; 16];
    let mut w = aes_wrap(&kek, &[1u8; 16], AesKeyWrap::Rfc3394)
        .unwrap()
        .to_vec();
    w[3] ^= 1;
    assert_eq!(
        aes_unwrap(&kek, &w, AesKeyWrap::Rfc3394)
            .unwrap_err()
            .reason,
        ResultReason::CryptographicFailure
    );
    assert!(aes_wrap(&[0u8; 15], &[1u8; 16], AesKeyWrap::Rfc3394).is_err());
    assert!(aes_wrap(&kek, &[1u8; 12], AesKeyWrap::Rfc3394).is_err());
    assert!(aes_unwrap(&kek, &[0u8; 3], AesKeyWrap::Rfc5649).is_err());
}

fn aes_key(byte: u8, len: usize) -> ManagedObject {
    ManagedObject::symmetric_key(
        enums::cryptographic_algorithm::AES,
        SecretBytes::new(vec![byte; len]),
    )
}

fn spec(
    mode: Option<u32>,
    encoding: Option<u32>,
    names: Vec<AttributeName>,
) -> KeyWrappingSpecification {
    KeyWrappingSpecification {
        wrapping_method: enums::wrapping_method::ENCRYPT,
        encryption_key: Some(WrappingKeyInfo {
            unique_identifier: "kek".into(),
            cryptographic_parameters: mode.map(|m| {
                Ttlv::structure(
                    tag::CRYPTOGRAPHIC_PARAMETERS,
                    vec![Ttlv::new(tag::BLOCK_CIPHER_MODE, Value::Enumeration(m))],
                )
            }),
        }),
        mac_signature_key: None,
        attribute_names: names,
        encoding_option: encoding,
    }
}

#[test]
fn no_encoding_wraps_the_key_material_bytes() {
    let kek = aes_key(9, 32);
    let key = aes_key(1, 32);
    let s = spec(
        Some(enums::block_cipher_mode::NIST_KEY_WRAP),
        Some(enums::encoding_option::NO_ENCODING),
        vec![],
    );
    let wrapped = wrap(&key, &kek, &s, &Attributes::new(), ProtocolVersion::V1_4).unwrap();
    let kb = wrapped.key_block().unwrap();
    let Some(KeyValue::Wrapped(bytes)) = &kb.key_value else {
        panic!("not wrapped")
    };
    assert_eq!(
        aes_unwrap(&[9; 32], bytes, AesKeyWrap::Rfc3394)
            .unwrap()
            .as_slice(),
        &[1u8; 32]
    );
    assert_eq!(
        kb.key_wrapping_data.as_ref().unwrap().encoding_option,
        s.encoding_option
    );
    // The wrapped form survives the wire and storage, and unwraps back.
    let item = wrapped.to_ttlv(ProtocolVersion::V1_4);
    let read = ManagedObject::from_ttlv(&item, ProtocolVersion::V1_4).unwrap();
    assert_eq!(read, wrapped);
    assert_eq!(unwrap(&read, &kek, ProtocolVersion::V1_4).unwrap(), key);
    // No attributes can ride along with No Encoding.
    let with_names = spec(
        None,
        Some(enums::encoding_option::NO_ENCODING),
        vec![AttributeName::Standard(tag::CRYPTOGRAPHIC_LENGTH)],
    );
    assert_eq!(
        wrap(
            &key,
            &kek,
            &with_names,
            &Attributes::new(),
            ProtocolVersion::V1_4
        )
        .unwrap_err()
        .reason,
        ResultReason::EncodingOptionError
    );
}

#[test]
fn ttlv_encoding_wraps_the_key_value_with_named_attributes() {
    let kek = aes_key(3, 16);
    let key = aes_key(4, 24);
    let mut attrs = Attributes::new();
    attrs.add(Attribute::standard(
        tag::CRYPTOGRAPHIC_LENGTH,
        Value::Integer(192),
    ));
    attrs.add(Attribute::standard(
        tag::OBJECT_GROUP,
        Value::TextString("g".into()),
    ));
    for version in [ProtocolVersion::V1_2, ProtocolVersion::V2_1] {
        let s = spec(
            Some(enums::block_cipher_mode::AES_KEY_WRAP_PADDING),
            None,
            vec![AttributeName::Standard(tag::CRYPTOGRAPHIC_LENGTH)],
        );
        let wrapped = wrap(&key, &kek, &s, &attrs, version).unwrap();
        let Some(KeyValue::Wrapped(bytes)) = &wrapped.key_block().unwrap().key_value else {
            panic!("not wrapped")
        };
        let plain = aes_unwrap(&[3; 16], bytes, AesKeyWrap::Rfc5649).unwrap();
        let item = ttlv::decode(&plain, &Limits::DEFAULT).unwrap();
        assert_eq!(item.tag, tag::KEY_VALUE);
        let clear = unwrap(&wrapped, &kek, version).unwrap();
        let Some(KeyValue::Plain { attributes, .. }) = &clear.key_block().unwrap().key_value else {
            panic!("not clear")
        };
        assert_eq!(attributes.len(), 1);
        assert_eq!(
            attributes.get_value(tag::CRYPTOGRAPHIC_LENGTH),
            Some(&Value::Integer(192))
        );
    }
}

#[test]
fn default_mode_and_refusals() {
    let kek = aes_key(5, 16);
    let short = ManagedObject {
        object_type: ObjectType::SECRET_DATA,
        body: crate::kmip::object::ObjectBody::SecretData {
            secret_data_type: enums::secret_data_type::PASSWORD,
            key_block: KeyBlock::plain(
                enums::key_format_type::OPAQUE,
                KeyMaterial::Bytes(SecretBytes::from(&b"pass word"[..])),
                None,
                None,
            ),
        },
    };
    // 9 bytes: RFC 3394 cannot, so the default is RFC 5649; unwrap finds it without parameters.
    let s = spec(None, Some(enums::encoding_option::NO_ENCODING), vec![]);
    let wrapped = wrap(&short, &kek, &s, &Attributes::new(), ProtocolVersion::V2_0).unwrap();
    assert_eq!(
        unwrap(&wrapped, &kek, ProtocolVersion::V2_0).unwrap(),
        short
    );
    // Not AES, or a bad method, or an unsupported mode.
    let mut des = aes_key(5, 16);
    des.key_block_mut().unwrap().cryptographic_algorithm =
        Some(enums::cryptographic_algorithm::DES);
    assert_eq!(
        wrap(&short, &des, &s, &Attributes::new(), ProtocolVersion::V2_0)
            .unwrap_err()
            .reason,
        ResultReason::KeyWrapTypeNotSupported
    );
    let mut mac = s.clone();
    mac.wrapping_method = enums::wrapping_method::MAC_SIGN;
    assert!(
        wrap(
            &short,
            &kek,
            &mac,
            &Attributes::new(),
            ProtocolVersion::V2_0
        )
        .is_err()
    );
    let cbc = spec(Some(enums::block_cipher_mode::CBC), None, vec![]);
    assert_eq!(
        wrap(
            &short,
            &kek,
            &cbc,
            &Attributes::new(),
            ProtocolVersion::V2_0
        )
        .unwrap_err()
        .reason,
        ResultReason::UnsupportedCryptographicParameters
    );
    // Wrong key on unwrap.
    assert!(unwrap(&wrapped, &aes_key(6, 16), ProtocolVersion::V2_0).is_err());
}

#[test]
fn the_specification_round_trips() {
    let s = spec(
        Some(enums::block_cipher_mode::NIST_KEY_WRAP),
        Some(enums::encoding_option::TTLV_ENCODING),
        vec![
            AttributeName::Standard(tag::CRYPTOGRAPHIC_USAGE_MASK),
            AttributeName::Custom("x-Tag".into()),
        ],
    );
    let item = s.to_ttlv();
    assert_eq!(KeyWrappingSpecification::from_ttlv(&item).unwrap(), s);
    assert_eq!(s.wrapping_key_id(), Some("kek"));
}

#[test]
fn items_wrap_like_objects() {
    let kek = aes_key(3, 32);
    let key = aes_key(4, 32);
    let s = spec(Some(enums::block_cipher_mode::NIST_KEY_WRAP), None, vec![]);
    let v = ProtocolVersion::V1_4;
    let item = wrap_item(
        &key.to_ttlv(v),
        &kek.to_ttlv(v),
        &s.to_ttlv(),
        &Attributes::new(),
        v,
    )
    .unwrap();
    let expected = wrap(&key, &kek, &s, &Attributes::new(), v).unwrap();
    assert_eq!(item, expected.to_ttlv(v));
    // AX-M-2-14: the response echoes the Encryption Key Information and carries no Encoding Option.
    let data = item
        .child(tag::KEY_BLOCK)
        .unwrap()
        .child(tag::KEY_WRAPPING_DATA)
        .unwrap();
    assert!(data.child(tag::ENCODING_OPTION).is_none());
    assert_eq!(
        data.child(tag::ENCRYPTION_KEY_INFORMATION),
        Some(
            &s.encryption_key
                .as_ref()
                .unwrap()
                .to_ttlv(tag::ENCRYPTION_KEY_INFORMATION)
        )
    );
}
