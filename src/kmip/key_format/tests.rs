use super::*;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
// aws-lc-rs is the independent implementation the P-256 forms (read and written by `p256`) are checked against.
use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn key(
    object_type: ObjectType,
    algorithm: u32,
    format: u32,
    material: KeyMaterial,
) -> ManagedObject {
    ManagedObject {
        object_type,
        body: ObjectBody::Key(KeyBlock::plain(format, material, Some(algorithm), None)),
    }
}

fn material(o: &ManagedObject) -> &KeyMaterial {
    o.key_block().unwrap().key_material().unwrap()
}

fn bytes(o: &ManagedObject) -> Vec<u8> {
    material(o).bytes().unwrap().to_vec()
}

#[test]
fn symmetric_raw_and_transparent() {
    let raw = ManagedObject::symmetric_key(alg::AES, SecretBytes::new(vec![0xAB; 16]));
    let t = convert(&raw, kft::TRANSPARENT_SYMMETRIC_KEY).unwrap();
    assert_eq!(
        material(&t).field(tag::KEY),
        Some(&Value::ByteString(SecretBytes::new(vec![0xAB; 16])))
    );
    assert_eq!(convert(&t, kft::RAW).unwrap(), raw);
    assert_eq!(
        convert(&raw, kft::PKCS_8).unwrap_err().reason,
        ResultReason::KeyFormatTypeNotSupported
    );
}

#[test]
fn rsa_private_pkcs8_pkcs1_and_transparent_agree_with_aws_lc() {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let pkcs8 = pair.as_der().unwrap().as_ref().to_vec();
    let k8 = key(
        ObjectType::PRIVATE_KEY,
        alg::RSA,
        kft::PKCS_8,
        KeyMaterial::Bytes(SecretBytes::new(pkcs8.clone())),
    );
    let k1 = convert(&k8, kft::PKCS_1).unwrap();
    // The library reads our PKCS#1 as the same key.
    let reread = RsaKeyPair::from_der(&bytes(&k1)).unwrap();
    assert_eq!(reread.public_key().as_ref(), pair.public_key().as_ref());
    // Back to PKCS#8: the very bytes the library wrote.
    assert_eq!(bytes(&convert(&k1, kft::PKCS_8).unwrap()), pkcs8);
    // Through Transparent and back: the same PKCS#1.
    let t = convert(&k1, kft::TRANSPARENT_RSA_PRIVATE_KEY).unwrap();
    let modulus = match material(&t).field(tag::MODULUS) {
        Some(Value::BigInteger(m)) => m.clone(),
        _ => panic!("no modulus"),
    };
    assert_eq!(modulus.len() % 8, 0);
    assert_eq!(
        der::unsigned_from_twos(&modulus).as_slice(),
        pair.public_key()
            .modulus()
            .big_endian_without_leading_zero()
    );
    assert_eq!(bytes(&convert(&t, kft::PKCS_1).unwrap()), bytes(&k1));
    assert_eq!(bytes(&convert(&t, kft::PKCS_8).unwrap()), pkcs8);
    assert!(convert(&k1, kft::EC_PRIVATE_KEY).is_err());
}

#[test]
fn rsa_public_pkcs1_spki_and_transparent_agree_with_aws_lc() {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let spki = pair.public_key().as_der().unwrap().as_ref().to_vec();
    let pkcs1 = pair.public_key().as_ref().to_vec();
    let kx = key(
        ObjectType::PUBLIC_KEY,
        alg::RSA,
        kft::X_509,
        KeyMaterial::Bytes(SecretBytes::new(spki.clone())),
    );
    let k1 = convert(&kx, kft::PKCS_1).unwrap();
    assert_eq!(bytes(&k1), pkcs1);
    assert_eq!(bytes(&convert(&k1, kft::X_509).unwrap()), spki);
    let t = convert(&kx, kft::TRANSPARENT_RSA_PUBLIC_KEY).unwrap();
    assert_eq!(
        material(&t).field(tag::PUBLIC_EXPONENT),
        Some(&Value::BigInteger(SecretBytes::new(h("0000000000010001"))))
    );
    assert_eq!(bytes(&convert(&t, kft::X_509).unwrap()), spki);
}

#[test]
fn p256_private_forms_agree_with_aws_lc() {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let pkcs8 = pair.to_pkcs8v1().unwrap().as_ref().to_vec();
    let k8 = key(
        ObjectType::PRIVATE_KEY,
        alg::EC,
        kft::PKCS_8,
        KeyMaterial::Bytes(SecretBytes::new(pkcs8.clone())),
    );
    let sec1 = convert(&k8, kft::EC_PRIVATE_KEY).unwrap();
    assert_eq!(bytes(&sec1), pair.private_key().as_der().unwrap().as_ref());
    let t = convert(&sec1, kft::TRANSPARENT_EC_PRIVATE_KEY).unwrap();
    let d = match material(&t).field(tag::D) {
        Some(Value::BigInteger(d)) => d.clone(),
        _ => panic!("no D"),
    };
    assert_eq!(
        der::unsigned_from_twos(&d).as_slice(),
        der::unsigned_from_twos(pair.private_key().as_be_bytes().unwrap().as_ref()).as_slice()
    );
    // From the scalar alone the library derives the same key: the same PKCS#8 and public point.
    assert_eq!(bytes(&convert(&t, kft::PKCS_8).unwrap()), pkcs8);
    assert_eq!(
        public_from_private(t.key_block().unwrap()).unwrap(),
        pair.public_key().as_ref()
    );
    assert!(convert(&t, kft::PKCS_1).is_err());
}

#[test]
fn p256_public_forms_agree_with_aws_lc() {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let spki = pair.public_key().as_der().unwrap().as_ref().to_vec();
    let kx = key(
        ObjectType::PUBLIC_KEY,
        alg::ECDSA,
        kft::X_509,
        KeyMaterial::Bytes(SecretBytes::new(spki.clone())),
    );
    let t = convert(&kx, kft::TRANSPARENT_EC_PUBLIC_KEY).unwrap();
    assert_eq!(
        material(&t).field(tag::Q_STRING),
        Some(&Value::ByteString(SecretBytes::from(
            pair.public_key().as_ref()
        )))
    );
    assert_eq!(bytes(&convert(&t, kft::X_509).unwrap()), spki);
}

#[test]
fn ed25519_rfc8032_and_rfc8410() {
    // RFC 8032 section 7.1, test 1.
    let seed = h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    let public = h("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    let raw = key(
        ObjectType::PRIVATE_KEY,
        alg::ED25519,
        kft::RAW,
        KeyMaterial::Bytes(SecretBytes::new(seed.clone())),
    );
    let p8 = convert(&raw, kft::PKCS_8).unwrap();
    let mut expected = h("302e020100300506032b657004220420");
    expected.extend_from_slice(&seed);
    assert_eq!(bytes(&p8), expected);
    assert_eq!(convert(&p8, kft::RAW).unwrap(), raw);
    assert_eq!(
        public_from_private(raw.key_block().unwrap()).unwrap(),
        public
    );
    let pub_raw = key(
        ObjectType::PUBLIC_KEY,
        alg::ED25519,
        kft::RAW,
        KeyMaterial::Bytes(SecretBytes::new(public.clone())),
    );
    let spki = convert(&pub_raw, kft::X_509).unwrap();
    let mut expected = h("302a300506032b6570032100");
    expected.extend_from_slice(&public);
    assert_eq!(bytes(&spki), expected);
    assert_eq!(convert(&spki, kft::RAW).unwrap(), pub_raw);
}

#[test]
fn certificates_and_impossible_conversions() {
    let cert = ManagedObject {
        object_type: ObjectType::CERTIFICATE,
        body: ObjectBody::Certificate {
            certificate_type: crate::spec::enums::certificate_type::X_509,
            value: SecretBytes::from(&b"der"[..]),
        },
    };
    assert_eq!(convert(&cert, kft::X_509).unwrap(), cert);
    assert_eq!(
        convert(&cert, kft::PKCS_1).unwrap_err().reason,
        ResultReason::KeyFormatTypeNotSupported
    );
    let junk = key(
        ObjectType::PRIVATE_KEY,
        alg::RSA,
        kft::PKCS_1,
        KeyMaterial::Bytes(SecretBytes::from(&[0x30, 0x82, 0xFF][..])),
    );
    assert!(convert(&junk, kft::PKCS_8).is_err());
    let dsa = key(
        ObjectType::PRIVATE_KEY,
        alg::DSA,
        kft::PKCS_8,
        KeyMaterial::Bytes(SecretBytes::from(&b"x"[..])),
    );
    assert_eq!(
        convert(&dsa, kft::PKCS_1).unwrap_err().reason,
        ResultReason::KeyFormatTypeNotSupported
    );
}

#[test]
fn der_lengths_and_integers() {
    let long = vec![7u8; 300];
    let e = der::tlv(der::OCTET_STRING, &long);
    assert_eq!(&e[..4], &[0x04, 0x82, 0x01, 0x2C]);
    assert_eq!(der::expect(&e, der::OCTET_STRING).unwrap(), long.as_slice());
    assert_eq!(der::integer(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
    assert_eq!(der::integer(&[0, 0, 5]), vec![0x02, 0x01, 0x05]);
    assert_eq!(der::integer(&[]), vec![0x02, 0x01, 0x00]);
    assert_eq!(
        der::big_integer(&[0x01, 0x00, 0x01]).as_slice(),
        &h("0000000000010001")[..]
    );
    assert_eq!(
        der::big_from_unsigned(&[0xFF]).as_slice(),
        &h("00000000000000ff")[..]
    );
    assert!(der::read(&[0x30, 0x85, 0, 0, 0, 0, 1]).is_err());
    assert!(der::read(&[0x30, 0x05, 1]).is_err());
}

#[test]
fn every_rsa_key_of_the_test_vectors_converts_and_comes_back() {
    use crate::kmip::vector_items::{each_item, vector_files};
    let mut seen = 0;
    for (path, messages, version) in vector_files() {
        each_item(&messages, &mut |item| {
            if ManagedObject::type_of_tag(item.tag).is_none() || item.children().is_empty() {
                return;
            }
            let Ok(object) = ManagedObject::from_ttlv(item, version) else {
                return;
            };
            let Some(kb) = object.key_block() else { return };
            if kb.cryptographic_algorithm != Some(alg::RSA) || kb.key_material().is_none() {
                return;
            }
            let targets: &[u32] = if object.object_type == ObjectType::PRIVATE_KEY {
                &[kft::PKCS_1, kft::PKCS_8, kft::TRANSPARENT_RSA_PRIVATE_KEY]
            } else {
                &[kft::PKCS_1, kft::X_509, kft::TRANSPARENT_RSA_PUBLIC_KEY]
            };
            for &t in targets {
                let there = convert(&object, t).unwrap_or_else(|e| panic!("{path}: {e:?}"));
                let back = convert(&there, kb.key_format_type).unwrap();
                assert_eq!(back, object, "{path}: through {t}");
            }
            seen += 1;
        });
    }
    assert!(seen >= 4, "only {seen} RSA keys in the vectors");
}

#[test]
fn transparent_ecdsa_of_1x_reads_as_transparent_ec() {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let k8 = key(
        ObjectType::PRIVATE_KEY,
        alg::ECDSA,
        kft::PKCS_8,
        KeyMaterial::Bytes(SecretBytes::new(
            pair.to_pkcs8v1().unwrap().as_ref().to_vec(),
        )),
    );
    let t = convert(&k8, kft::TRANSPARENT_ECDSA_PRIVATE_KEY).unwrap();
    assert_eq!(convert(&t, kft::PKCS_8).unwrap(), k8);
}

#[test]
fn items_convert_like_objects() {
    let raw = ManagedObject::symmetric_key(alg::AES, SecretBytes::new(vec![1; 32]));
    let v = crate::kmip::version::ProtocolVersion::V2_0;
    let item = convert_item(&raw.to_ttlv(v), v, kft::TRANSPARENT_SYMMETRIC_KEY).unwrap();
    assert_eq!(
        item,
        convert(&raw, kft::TRANSPARENT_SYMMETRIC_KEY)
            .unwrap()
            .to_ttlv(v)
    );
    assert!(convert_item(&raw.to_ttlv(v), v, kft::PKCS_1).is_err());
}
