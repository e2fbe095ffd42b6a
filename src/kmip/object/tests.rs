use super::*;
use crate::kmip::vector_items::{each_item, vector_files};
use crate::spec::DICTIONARY;

#[test]
fn every_object_of_the_test_vectors_round_trips() {
    let mut count = 0;
    for (path, messages, version) in vector_files() {
        each_item(&messages, &mut |item| {
            if ManagedObject::type_of_tag(item.tag).is_none() || item.children().is_empty() {
                return;
            }
            let object = ManagedObject::from_ttlv(item, version).unwrap_or_else(|e| {
                panic!("{path}: {e:?}\n{}", ttlv::xml::to_xml(item, &DICTIONARY))
            });
            assert_eq!(&object.to_ttlv(version), item, "{path}");
            let stored = ManagedObject::from_storage_bytes(&object.to_storage_bytes()).unwrap();
            assert_eq!(stored, object, "{path}");
            count += 1;
        });
    }
    assert!(count > 100, "only {count} objects in the vectors");
}

#[test]
fn digest_is_sha256_of_the_key_material() {
    // FIPS 180-2 example: SHA-256("abc"). (No vector file shows both a key value and its Digest.)
    let key = ManagedObject {
        object_type: ObjectType::SECRET_DATA,
        body: ObjectBody::SecretData {
            secret_data_type: enums::secret_data_type::PASSWORD,
            key_block: KeyBlock::plain(
                enums::key_format_type::OPAQUE,
                KeyMaterial::Bytes(SecretBytes::from(&b"abc"[..])),
                None,
                None,
            ),
        },
    };
    let d = key.digest().unwrap();
    assert_eq!(
        d.value.child(tag::DIGEST_VALUE).unwrap().value,
        Value::ByteString(SecretBytes::new(
            hex::decode("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
                .unwrap()
        ))
    );
    assert_eq!(
        d.value.child(tag::KEY_FORMAT_TYPE).unwrap().value,
        Value::Enumeration(enums::key_format_type::OPAQUE)
    );
    // A Transparent structure is hashed in its TTLV encoding.
    let fields = vec![Ttlv::new(
        tag::KEY,
        Value::ByteString(SecretBytes::from(&b"abc"[..])),
    )];
    let encoded = ttlv::encode(&Ttlv::structure(tag::KEY_MATERIAL, fields.clone()));
    let transparent = ManagedObject {
        object_type: ObjectType::SYMMETRIC_KEY,
        body: ObjectBody::Key(KeyBlock::plain(
            enums::key_format_type::TRANSPARENT_SYMMETRIC_KEY,
            KeyMaterial::Transparent(fields),
            None,
            None,
        )),
    };
    let expected = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &encoded);
    assert_eq!(
        transparent
            .digest()
            .unwrap()
            .value
            .child(tag::DIGEST_VALUE)
            .unwrap()
            .value,
        Value::ByteString(SecretBytes::from(expected.as_ref()))
    );
    let cert = ManagedObject {
        object_type: ObjectType::CERTIFICATE,
        body: ObjectBody::Certificate {
            certificate_type: enums::certificate_type::X_509,
            value: SecretBytes::from(&b"abc"[..]),
        },
    };
    assert!(
        cert.digest()
            .unwrap()
            .value
            .child(tag::KEY_FORMAT_TYPE)
            .is_none()
    );
}

#[test]
fn symmetric_key_helper_and_wrong_shapes() {
    let key = ManagedObject::symmetric_key(
        enums::cryptographic_algorithm::AES,
        SecretBytes::new(vec![7; 16]),
    );
    let kb = key.key_block().unwrap();
    assert_eq!(kb.cryptographic_length, Some(128));
    assert_eq!(kb.key_material().unwrap().bytes().unwrap().len(), 16);
    let item = key.to_ttlv(ProtocolVersion::V1_0);
    assert_eq!(
        ManagedObject::from_ttlv(&item, ProtocolVersion::V1_0).unwrap(),
        key
    );
    let bogus = Ttlv::structure(tag::SYMMETRIC_KEY, vec![]);
    assert!(ManagedObject::from_ttlv(&bogus, ProtocolVersion::V2_1).is_err());
    let not_object = Ttlv::structure(tag::NAME, vec![]);
    assert_eq!(
        ManagedObject::from_ttlv(&not_object, ProtocolVersion::V2_1)
            .unwrap_err()
            .reason,
        ResultReason::InvalidObjectType
    );
    assert!(ManagedObject::from_storage_bytes(&[1, 2, 3]).is_err());
    assert!(!format!("{key:?}").contains("7, 7"));
}

#[test]
fn key_value_attributes_follow_the_version() {
    let mut key = ManagedObject::symmetric_key(
        enums::cryptographic_algorithm::AES,
        SecretBytes::new(vec![1; 16]),
    );
    if let Some(KeyValue::Plain { attributes, .. }) =
        key.key_block_mut().and_then(|kb| kb.key_value.as_mut())
    {
        attributes.add(Attribute::standard(
            tag::CRYPTOGRAPHIC_LENGTH,
            Value::Integer(128),
        ));
    }
    let v1 = key.to_ttlv(ProtocolVersion::V1_2);
    let kv = v1
        .child(tag::KEY_BLOCK)
        .unwrap()
        .child(tag::KEY_VALUE)
        .unwrap();
    assert!(kv.child(tag::ATTRIBUTE).is_some());
    let v2 = key.to_ttlv(ProtocolVersion::V2_0);
    let kv = v2
        .child(tag::KEY_BLOCK)
        .unwrap()
        .child(tag::KEY_VALUE)
        .unwrap();
    assert!(kv.child(tag::ATTRIBUTES).is_some());
    assert_eq!(
        ManagedObject::from_ttlv(&v1, ProtocolVersion::V1_2).unwrap(),
        key
    );
    assert_eq!(
        ManagedObject::from_ttlv(&v2, ProtocolVersion::V2_0).unwrap(),
        key
    );
}
