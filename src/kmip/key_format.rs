//! Key Format Type conversion, for a Get that asks for a key in another format than it was registered in:
//! Raw ↔ Transparent Symmetric Key; RSA PKCS#1 ↔ PKCS#8 / X.509 (SubjectPublicKeyInfo) ↔ Transparent RSA
//! (structurally, no RSA arithmetic); P-256 ECPrivateKey (SEC 1) ↔ PKCS#8 ↔ Transparent EC, X.509 ↔ Transparent
//! EC public key; Ed25519 Raw ↔ PKCS#8 and Raw ↔ X.509. Each family converts through one canonical form (PKCS#1
//! for RSA, the scalar or seed for P-256 and Ed25519, the point for public keys). What cannot be converted is
//! refused with Key Format Type Not Supported. The P-256 forms are read and written by the `p256` crate and the
//! Ed25519 ones by `ed25519-dalek` (their secret keys zeroize themselves on drop); the DER
//! structures around RSA keys are read and written by the small DER module at the end of this file. The 1.x
//! Transparent ECDSA/ECDH/ECMQV key formats have the Transparent EC shape (Recommended Curve with D or Q String)
//! and convert as it does.

use p256::elliptic_curve::sec1::ToSec1Point as _;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use zeroize::Zeroizing;

use crate::spec::enums::{
    cryptographic_algorithm as alg, key_format_type as kft, recommended_curve,
};
use crate::spec::tag;
use crate::ttlv::{SecretBytes, Ttlv, Value};

use super::enums::ObjectType;
use super::error::{KmipError, ResultReason};
use super::object::{KeyBlock, KeyMaterial, KeyValue, ManagedObject, ObjectBody};

/// The object with its key material in Key Format Type `target`; the same object when it already is.
pub fn convert(object: &ManagedObject, target: u32) -> Result<ManagedObject, KmipError> {
    let ObjectBody::Key(kb) = &object.body else {
        return match &object.body {
            ObjectBody::Certificate { .. } if target == kft::X_509 => Ok(object.clone()),
            ObjectBody::SecretData { key_block, .. } if key_block.key_format_type == target => {
                Ok(object.clone())
            }
            _ => Err(unsupported(format!(
                "a {} is not converted to another Key Format Type",
                object.object_type
            ))),
        };
    };
    if kb.key_format_type == target {
        return Ok(object.clone());
    }
    let Some(KeyValue::Plain {
        key_material,
        attributes,
    }) = &kb.key_value
    else {
        return Err(unsupported(
            "a wrapped key or one without a value cannot change Key Format Type",
        ));
    };
    let material = match (object.object_type, kb.cryptographic_algorithm) {
        (ObjectType::SYMMETRIC_KEY, _) => symmetric(kb.key_format_type, key_material, target)?,
        (ObjectType::PRIVATE_KEY, Some(alg::RSA)) => {
            let pkcs1 = rsa_private_to_pkcs1(kb.key_format_type, key_material)?;
            rsa_private_from_pkcs1(&pkcs1, target)?
        }
        (ObjectType::PUBLIC_KEY, Some(alg::RSA)) => {
            let pkcs1 = rsa_public_to_pkcs1(kb.key_format_type, key_material)?;
            rsa_public_from_pkcs1(&pkcs1, target)?
        }
        (ObjectType::PRIVATE_KEY, Some(alg::EC | alg::ECDSA | alg::ECDH)) => {
            let secret = p256_private(kb.key_format_type, key_material)?;
            p256_private_to(&secret, target)?
        }
        (ObjectType::PUBLIC_KEY, Some(alg::EC | alg::ECDSA | alg::ECDH)) => {
            let point = p256_public(kb.key_format_type, key_material)?;
            p256_public_to(&point, target)?
        }
        (ObjectType::PRIVATE_KEY, Some(alg::ED25519)) => {
            let seed = ed25519_seed(kb.key_format_type, key_material)?;
            ed25519_private_to(&seed, target)?
        }
        (ObjectType::PUBLIC_KEY, Some(alg::ED25519)) => {
            let raw = ed25519_public(kb.key_format_type, key_material)?;
            ed25519_public_to(&raw, target)?
        }
        _ => {
            return Err(unsupported(format!(
                "no Key Format Type conversion for this {} algorithm",
                object.object_type
            )));
        }
    };
    let mut out = object.clone();
    if let ObjectBody::Key(kb) = &mut out.body {
        kb.key_format_type = target;
        kb.key_value = Some(KeyValue::Plain {
            key_material: material,
            attributes: attributes.clone(),
        });
    }
    Ok(out)
}

/// [`convert`] on an object item (`<PrivateKey>`, ...) in `version`'s form, for callers that keep objects as TTLV.
pub fn convert_item(
    item: &Ttlv,
    version: super::version::ProtocolVersion,
    target: u32,
) -> Result<Ttlv, KmipError> {
    let object = ManagedObject::from_ttlv(item, version)?;
    Ok(convert(&object, target)?.to_ttlv(version))
}

/// Whether [`convert`] can turn a key of this type, algorithm and format into `target` (for a Get's early check).
pub fn can_convert(object: &ManagedObject, target: u32) -> bool {
    convert(object, target).is_ok()
}

fn unsupported(message: impl Into<String>) -> KmipError {
    KmipError::new(ResultReason::KeyFormatTypeNotSupported, message)
}

fn bytes_of<'a>(material: &'a KeyMaterial, what: &str) -> Result<&'a SecretBytes, KmipError> {
    material.bytes().ok_or_else(|| {
        KmipError::invalid_field(format!("{what} key material must be a Byte String"))
    })
}

fn big_field(material: &KeyMaterial, t: u32) -> Result<&SecretBytes, KmipError> {
    match material.field(t) {
        Some(Value::BigInteger(b)) => Ok(b),
        _ => Err(KmipError::invalid_field(format!(
            "the Transparent key lacks {}",
            crate::spec::tag_by_number(t).map_or("a field", |d| d.spec_name)
        ))),
    }
}

// ---- symmetric keys ----

fn symmetric(from: u32, material: &KeyMaterial, target: u32) -> Result<KeyMaterial, KmipError> {
    let raw = match from {
        kft::RAW => bytes_of(material, "Raw")?.clone(),
        kft::TRANSPARENT_SYMMETRIC_KEY => match material.field(tag::KEY) {
            Some(Value::ByteString(b)) => b.clone(),
            _ => {
                return Err(KmipError::invalid_field(
                    "Transparent Symmetric Key lacks Key",
                ));
            }
        },
        _ => {
            return Err(unsupported(
                "a symmetric key converts from Raw or Transparent Symmetric Key",
            ));
        }
    };
    match target {
        kft::RAW => Ok(KeyMaterial::Bytes(raw)),
        kft::TRANSPARENT_SYMMETRIC_KEY => Ok(KeyMaterial::Transparent(vec![Ttlv::new(
            tag::KEY,
            Value::ByteString(raw),
        )])),
        _ => Err(unsupported(
            "a symmetric key converts to Raw or Transparent Symmetric Key",
        )),
    }
}

// ---- RSA ----

/// `rsaEncryption` with its NULL parameters, the AlgorithmIdentifier of PKCS#8 and SPKI RSA keys.
const RSA_ALGORITHM: &[u8] = &[
    0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// The fields of RSAPrivateKey (RFC 8017 A.1.2) after the version, in order, with their KMIP tags.
const RSA_PRIVATE_FIELDS: [u32; 8] = [
    tag::MODULUS,
    tag::PUBLIC_EXPONENT,
    tag::PRIVATE_EXPONENT,
    tag::P,
    tag::Q,
    tag::PRIME_EXPONENT_P,
    tag::PRIME_EXPONENT_Q,
    tag::CRT_COEFFICIENT,
];

/// The fields of a Transparent RSA Private Key in the specification's order.
const TRANSPARENT_RSA_PRIVATE_ORDER: [u32; 8] = [
    tag::MODULUS,
    tag::PRIVATE_EXPONENT,
    tag::PUBLIC_EXPONENT,
    tag::P,
    tag::Q,
    tag::PRIME_EXPONENT_P,
    tag::PRIME_EXPONENT_Q,
    tag::CRT_COEFFICIENT,
];

fn rsa_private_to_pkcs1(from: u32, material: &KeyMaterial) -> Result<SecretBytes, KmipError> {
    match from {
        kft::PKCS_1 => {
            let b = bytes_of(material, "PKCS#1")?;
            rsa_private_fields(b)?;
            Ok(b.clone())
        }
        kft::PKCS_8 => {
            let b = bytes_of(material, "PKCS#8")?;
            let (algorithm, key) = der::private_key_info(b)?;
            if algorithm != RSA_ALGORITHM {
                return Err(unsupported("the PKCS#8 key is not an RSA key"));
            }
            rsa_private_fields(key)?;
            Ok(SecretBytes::from(key))
        }
        kft::TRANSPARENT_RSA_PRIVATE_KEY => {
            let mut body = Zeroizing::new(der::integer(&[0]));
            for t in RSA_PRIVATE_FIELDS {
                body.extend_from_slice(&der::integer(&der::unsigned_from_twos(big_field(
                    material, t,
                )?)));
            }
            Ok(SecretBytes::new(der::tlv(der::SEQUENCE, &body)))
        }
        _ => Err(unsupported(
            "an RSA private key converts from PKCS#1, PKCS#8 or Transparent RSA",
        )),
    }
}

fn rsa_private_fields(pkcs1: &[u8]) -> Result<Vec<&[u8]>, KmipError> {
    let body = der::expect(pkcs1, der::SEQUENCE)?;
    let mut fields = der::sequence_items(body, der::INTEGER)?;
    if fields.len() != 9 {
        return Err(KmipError::invalid_field(
            "RSAPrivateKey must have nine integers (two primes)",
        ));
    }
    fields.remove(0);
    Ok(fields)
}

fn rsa_private_from_pkcs1(pkcs1: &SecretBytes, target: u32) -> Result<KeyMaterial, KmipError> {
    match target {
        kft::PKCS_1 => Ok(KeyMaterial::Bytes(pkcs1.clone())),
        kft::PKCS_8 => {
            let mut body = Zeroizing::new(der::integer(&[0]));
            body.extend_from_slice(RSA_ALGORITHM);
            body.extend_from_slice(&der::tlv(der::OCTET_STRING, pkcs1));
            Ok(KeyMaterial::Bytes(SecretBytes::new(der::tlv(
                der::SEQUENCE,
                &body,
            ))))
        }
        kft::TRANSPARENT_RSA_PRIVATE_KEY => {
            let fields = rsa_private_fields(pkcs1)?;
            let by_tag: Vec<(u32, &[u8])> =
                RSA_PRIVATE_FIELDS.iter().copied().zip(fields).collect();
            // In the order of the Transparent RSA Private Key table (2.1 section 3.6), not PKCS#1's.
            Ok(KeyMaterial::Transparent(
                TRANSPARENT_RSA_PRIVATE_ORDER
                    .iter()
                    .filter_map(|t| by_tag.iter().find(|(ft, _)| ft == t))
                    .map(|(t, f)| Ttlv::new(*t, Value::BigInteger(der::big_integer(f))))
                    .collect(),
            ))
        }
        _ => Err(unsupported(
            "an RSA private key converts to PKCS#1, PKCS#8 or Transparent RSA",
        )),
    }
}

fn rsa_public_fields(pkcs1: &[u8]) -> Result<Vec<&[u8]>, KmipError> {
    let body = der::expect(pkcs1, der::SEQUENCE)?;
    let fields = der::sequence_items(body, der::INTEGER)?;
    if fields.len() != 2 {
        return Err(KmipError::invalid_field(
            "RSAPublicKey must have two integers",
        ));
    }
    Ok(fields)
}

fn rsa_public_to_pkcs1(from: u32, material: &KeyMaterial) -> Result<SecretBytes, KmipError> {
    match from {
        kft::PKCS_1 => {
            let b = bytes_of(material, "PKCS#1")?;
            rsa_public_fields(b)?;
            Ok(b.clone())
        }
        kft::X_509 => {
            let b = bytes_of(material, "X.509")?;
            let (algorithm, key) = der::subject_public_key_info(b)?;
            if algorithm != RSA_ALGORITHM {
                return Err(unsupported("the SubjectPublicKeyInfo is not an RSA key"));
            }
            rsa_public_fields(key)?;
            Ok(SecretBytes::from(key))
        }
        kft::TRANSPARENT_RSA_PUBLIC_KEY => {
            let mut body = Vec::new();
            for t in [tag::MODULUS, tag::PUBLIC_EXPONENT] {
                body.extend_from_slice(&der::integer(&der::unsigned_from_twos(big_field(
                    material, t,
                )?)));
            }
            Ok(SecretBytes::new(der::tlv(der::SEQUENCE, &body)))
        }
        _ => Err(unsupported(
            "an RSA public key converts from PKCS#1, X.509 or Transparent RSA",
        )),
    }
}

fn rsa_public_from_pkcs1(pkcs1: &SecretBytes, target: u32) -> Result<KeyMaterial, KmipError> {
    match target {
        kft::PKCS_1 => Ok(KeyMaterial::Bytes(pkcs1.clone())),
        kft::X_509 => {
            let mut bits = vec![0u8];
            bits.extend_from_slice(pkcs1);
            let mut body = RSA_ALGORITHM.to_vec();
            body.extend_from_slice(&der::tlv(der::BIT_STRING, &bits));
            Ok(KeyMaterial::Bytes(SecretBytes::new(der::tlv(
                der::SEQUENCE,
                &body,
            ))))
        }
        kft::TRANSPARENT_RSA_PUBLIC_KEY => {
            let fields = rsa_public_fields(pkcs1)?;
            Ok(KeyMaterial::Transparent(
                [tag::MODULUS, tag::PUBLIC_EXPONENT]
                    .iter()
                    .zip(fields)
                    .map(|(t, f)| Ttlv::new(*t, Value::BigInteger(der::big_integer(f))))
                    .collect(),
            ))
        }
        _ => Err(unsupported(
            "an RSA public key converts to PKCS#1, X.509 or Transparent RSA",
        )),
    }
}

// ---- P-256 ----

/// SubjectPublicKeyInfo of a P-256 key up to the point: id-ecPublicKey, prime256v1, BIT STRING of 66 bytes.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A,
    0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

fn rejected(what: &str) -> KmipError {
    KmipError::invalid_field(format!("the key is not a valid P-256 {what}"))
}

fn p256_private(from: u32, material: &KeyMaterial) -> Result<p256::SecretKey, KmipError> {
    match from {
        kft::PKCS_8 => p256::SecretKey::from_pkcs8_der(bytes_of(material, "PKCS#8")?)
            .map_err(|_| rejected("PKCS#8 private key")),
        kft::EC_PRIVATE_KEY => p256::SecretKey::from_sec1_der(bytes_of(material, "ECPrivateKey")?)
            .map_err(|_| rejected("ECPrivateKey")),
        kft::TRANSPARENT_EC_PRIVATE_KEY
        | kft::TRANSPARENT_ECDSA_PRIVATE_KEY
        | kft::TRANSPARENT_ECDH_PRIVATE_KEY
        | kft::TRANSPARENT_ECMQV_PRIVATE_KEY => {
            if material.field(tag::RECOMMENDED_CURVE)
                != Some(&Value::Enumeration(recommended_curve::P_256))
            {
                return Err(unsupported("only P-256 Transparent EC keys are converted"));
            }
            let d = der::unsigned_from_twos(big_field(material, tag::D)?);
            if d.len() > 32 {
                return Err(rejected("scalar"));
            }
            // Left-padded to the field size, so parsing takes the same time whatever the scalar's length.
            let mut scalar = Zeroizing::new(vec![0u8; 32 - d.len()]);
            scalar.extend_from_slice(&d);
            p256::SecretKey::from_slice(&scalar).map_err(|_| rejected("scalar"))
        }
        _ => Err(unsupported(
            "a P-256 private key converts from PKCS#8, ECPrivateKey or Transparent EC Private Key",
        )),
    }
}

fn p256_private_to(secret: &p256::SecretKey, target: u32) -> Result<KeyMaterial, KmipError> {
    let failed = || {
        KmipError::new(
            ResultReason::CryptographicFailure,
            "P-256 key encoding failed",
        )
    };
    match target {
        kft::PKCS_8 => {
            let doc = secret.to_pkcs8_der().map_err(|_| failed())?;
            Ok(KeyMaterial::Bytes(SecretBytes::from(doc.as_bytes())))
        }
        kft::EC_PRIVATE_KEY => {
            let der = secret.to_sec1_der().map_err(|_| failed())?;
            Ok(KeyMaterial::Bytes(SecretBytes::from(der.as_slice())))
        }
        kft::TRANSPARENT_EC_PRIVATE_KEY
        | kft::TRANSPARENT_ECDSA_PRIVATE_KEY
        | kft::TRANSPARENT_ECDH_PRIVATE_KEY
        | kft::TRANSPARENT_ECMQV_PRIVATE_KEY => {
            let d = Zeroizing::new(secret.to_bytes());
            Ok(KeyMaterial::Transparent(vec![
                Ttlv::new(
                    tag::RECOMMENDED_CURVE,
                    Value::Enumeration(recommended_curve::P_256),
                ),
                Ttlv::new(
                    tag::D,
                    Value::BigInteger(der::big_from_unsigned(d.as_slice())),
                ),
            ]))
        }
        _ => Err(unsupported(
            "a P-256 private key converts to PKCS#8, ECPrivateKey or Transparent EC Private Key",
        )),
    }
}

/// The uncompressed SEC 1 point of a P-256 private key's public key.
fn p256_point(secret: &p256::SecretKey) -> Vec<u8> {
    secret.public_key().to_sec1_point(false).as_bytes().to_vec()
}

fn p256_public(from: u32, material: &KeyMaterial) -> Result<Vec<u8>, KmipError> {
    let point = match from {
        kft::X_509 => {
            let b = bytes_of(material, "X.509")?;
            b.strip_prefix(P256_SPKI_PREFIX)
                .ok_or_else(|| unsupported("the SubjectPublicKeyInfo is not a P-256 key"))?
                .to_vec()
        }
        kft::TRANSPARENT_EC_PUBLIC_KEY
        | kft::TRANSPARENT_ECDSA_PUBLIC_KEY
        | kft::TRANSPARENT_ECDH_PUBLIC_KEY
        | kft::TRANSPARENT_ECMQV_PUBLIC_KEY => {
            if material.field(tag::RECOMMENDED_CURVE)
                != Some(&Value::Enumeration(recommended_curve::P_256))
            {
                return Err(unsupported("only P-256 Transparent EC keys are converted"));
            }
            match material.field(tag::Q_STRING) {
                Some(Value::ByteString(q)) => q.to_vec(),
                _ => {
                    return Err(KmipError::invalid_field(
                        "Transparent EC Public Key lacks Q String",
                    ));
                }
            }
        }
        _ => {
            return Err(unsupported(
                "a P-256 public key converts from X.509 or Transparent EC Public Key",
            ));
        }
    };
    if point.len() != 65 || point.first() != Some(&0x04) {
        return Err(rejected("uncompressed point"));
    }
    Ok(point)
}

fn p256_public_to(point: &[u8], target: u32) -> Result<KeyMaterial, KmipError> {
    match target {
        kft::X_509 => {
            let mut spki = P256_SPKI_PREFIX.to_vec();
            spki.extend_from_slice(point);
            Ok(KeyMaterial::Bytes(SecretBytes::new(spki)))
        }
        kft::TRANSPARENT_EC_PUBLIC_KEY
        | kft::TRANSPARENT_ECDSA_PUBLIC_KEY
        | kft::TRANSPARENT_ECDH_PUBLIC_KEY
        | kft::TRANSPARENT_ECMQV_PUBLIC_KEY => Ok(KeyMaterial::Transparent(vec![
            Ttlv::new(
                tag::RECOMMENDED_CURVE,
                Value::Enumeration(recommended_curve::P_256),
            ),
            Ttlv::new(tag::Q_STRING, Value::ByteString(SecretBytes::from(point))),
        ])),
        _ => Err(unsupported(
            "a P-256 public key converts to X.509 or Transparent EC Public Key",
        )),
    }
}

// ---- Ed25519 ----

/// PKCS#8 (RFC 8410) of an Ed25519 private key up to the 32-byte seed.
const ED25519_PKCS8_PREFIX: &[u8] = &[
    0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// SubjectPublicKeyInfo (RFC 8410) of an Ed25519 public key up to the 32-byte key.
const ED25519_SPKI_PREFIX: &[u8] = &[
    0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn ed25519_seed(from: u32, material: &KeyMaterial) -> Result<SecretBytes, KmipError> {
    let bad = || KmipError::invalid_field("the key is not a valid Ed25519 private key");
    // Any 32 bytes are a seed; PKCS#8 is v1 (seed only) or v2 (seed and a public key that must match it).
    let key = match from {
        kft::RAW => ed25519_dalek::SigningKey::try_from(bytes_of(material, "Raw")?.as_slice())
            .map_err(|_| bad())?,
        kft::PKCS_8 => ed25519_dalek::SigningKey::from_pkcs8_der(bytes_of(material, "PKCS#8")?)
            .map_err(|_| bad())?,
        _ => {
            return Err(unsupported(
                "an Ed25519 private key converts from Raw or PKCS#8",
            ));
        }
    };
    Ok(SecretBytes::from(key.as_bytes().as_slice()))
}

fn ed25519_private_to(seed: &SecretBytes, target: u32) -> Result<KeyMaterial, KmipError> {
    match target {
        kft::RAW => Ok(KeyMaterial::Bytes(seed.clone())),
        kft::PKCS_8 => {
            let mut out = ED25519_PKCS8_PREFIX.to_vec();
            out.extend_from_slice(seed);
            Ok(KeyMaterial::Bytes(SecretBytes::new(out)))
        }
        _ => Err(unsupported(
            "an Ed25519 private key converts to Raw or PKCS#8",
        )),
    }
}

fn ed25519_public(from: u32, material: &KeyMaterial) -> Result<Vec<u8>, KmipError> {
    let raw = match from {
        kft::RAW => bytes_of(material, "Raw")?.to_vec(),
        kft::X_509 => bytes_of(material, "X.509")?
            .strip_prefix(ED25519_SPKI_PREFIX)
            .ok_or_else(|| unsupported("the SubjectPublicKeyInfo is not an Ed25519 key"))?
            .to_vec(),
        _ => {
            return Err(unsupported(
                "an Ed25519 public key converts from Raw or X.509",
            ));
        }
    };
    if raw.len() != 32 {
        return Err(KmipError::invalid_field(
            "an Ed25519 public key is 32 bytes",
        ));
    }
    Ok(raw)
}

fn ed25519_public_to(raw: &[u8], target: u32) -> Result<KeyMaterial, KmipError> {
    match target {
        kft::RAW => Ok(KeyMaterial::Bytes(SecretBytes::from(raw))),
        kft::X_509 => {
            let mut out = ED25519_SPKI_PREFIX.to_vec();
            out.extend_from_slice(raw);
            Ok(KeyMaterial::Bytes(SecretBytes::new(out)))
        }
        _ => Err(unsupported(
            "an Ed25519 public key converts to Raw or X.509",
        )),
    }
}

/// The public key of an Ed25519 or P-256 private key, for Create Key Pair and for tests.
pub fn public_from_private(private: &KeyBlock) -> Result<Vec<u8>, KmipError> {
    let material = private
        .key_material()
        .ok_or_else(|| unsupported("the private key has no clear value"))?;
    match private.cryptographic_algorithm {
        Some(alg::ED25519) => {
            let seed = ed25519_seed(private.key_format_type, material)?;
            let key = ed25519_dalek::SigningKey::try_from(seed.as_slice())
                .map_err(|_| KmipError::invalid_field("bad Ed25519 seed"))?;
            Ok(key.verifying_key().to_bytes().to_vec())
        }
        Some(alg::EC | alg::ECDSA | alg::ECDH) => {
            let secret = p256_private(private.key_format_type, material)?;
            Ok(p256_point(&secret))
        }
        _ => Err(unsupported(
            "public keys are derived for P-256 and Ed25519 only",
        )),
    }
}

/// Just enough DER (X.690) for the structures around RSA keys: definite lengths, no indefinite forms.
mod der {
    use super::{KmipError, SecretBytes};

    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const SEQUENCE: u8 = 0x30;

    fn malformed(what: &str) -> KmipError {
        KmipError::invalid_field(format!("malformed DER: {what}"))
    }

    /// Splits one element off `input`: (tag, contents, the rest).
    pub fn read(input: &[u8]) -> Result<(u8, &[u8], &[u8]), KmipError> {
        let (&t, rest) = input.split_first().ok_or_else(|| malformed("empty"))?;
        let (&first, rest) = rest.split_first().ok_or_else(|| malformed("no length"))?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7F);
            if n == 0 || n > 4 {
                return Err(malformed("unsupported length form"));
            }
            let (digits, rest) = rest
                .split_at_checked(n)
                .ok_or_else(|| malformed("short length"))?;
            let len = digits
                .iter()
                .fold(0usize, |acc, d| (acc << 8) | usize::from(*d));
            (len, rest)
        };
        let (contents, rest) = rest
            .split_at_checked(len)
            .ok_or_else(|| malformed("short contents"))?;
        Ok((t, contents, rest))
    }

    /// The contents of the whole of `input`, which must be one element with tag `t`.
    pub fn expect(input: &[u8], t: u8) -> Result<&[u8], KmipError> {
        match read(input)? {
            (got, contents, []) if got == t => Ok(contents),
            (got, _, []) => Err(malformed(&format!("tag {got:#04x} where {t:#04x} belongs"))),
            _ => Err(malformed("trailing bytes")),
        }
    }

    /// The contents of each element of a sequence's contents, all of tag `t`.
    pub fn sequence_items(mut body: &[u8], t: u8) -> Result<Vec<&[u8]>, KmipError> {
        let mut out = Vec::new();
        while !body.is_empty() {
            let (got, contents, rest) = read(body)?;
            if got != t {
                return Err(malformed("unexpected element in a sequence"));
            }
            out.push(contents);
            body = rest;
        }
        Ok(out)
    }

    /// PrivateKeyInfo (RFC 5208): (the whole AlgorithmIdentifier element, the privateKey contents).
    pub fn private_key_info(input: &[u8]) -> Result<(&[u8], &[u8]), KmipError> {
        let body = expect(input, SEQUENCE)?;
        let (t, version, rest) = read(body)?;
        if t != INTEGER || !(version == [0] || version == [1]) {
            return Err(malformed("PrivateKeyInfo version"));
        }
        let (t, _, after) = read(rest)?;
        if t != SEQUENCE {
            return Err(malformed("PrivateKeyInfo algorithm"));
        }
        let algorithm = rest
            .get(..rest.len() - after.len())
            .ok_or_else(|| malformed("algorithm"))?;
        let (t, key, _) = read(after)?;
        if t != OCTET_STRING {
            return Err(malformed("PrivateKeyInfo privateKey"));
        }
        Ok((algorithm, key))
    }

    /// SubjectPublicKeyInfo (RFC 5280): (the whole AlgorithmIdentifier element, the key bits).
    pub fn subject_public_key_info(input: &[u8]) -> Result<(&[u8], &[u8]), KmipError> {
        let body = expect(input, SEQUENCE)?;
        let (t, _, after) = read(body)?;
        if t != SEQUENCE {
            return Err(malformed("SubjectPublicKeyInfo algorithm"));
        }
        let algorithm = body
            .get(..body.len() - after.len())
            .ok_or_else(|| malformed("algorithm"))?;
        let bits = expect(after, BIT_STRING)?;
        match bits.split_first() {
            Some((0, key)) => Ok((algorithm, key)),
            _ => Err(malformed("SubjectPublicKeyInfo bits")),
        }
    }

    /// One element.
    pub fn tlv(t: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![t];
        let len = contents.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let digits: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|d| *d == 0)
                .collect();
            out.push(0x80 | digits.len() as u8);
            out.extend_from_slice(&digits);
        }
        out.extend_from_slice(contents);
        out
    }

    /// An INTEGER of a non-negative big-endian magnitude.
    pub fn integer(magnitude: &[u8]) -> Vec<u8> {
        let trimmed: &[u8] = match magnitude.iter().position(|b| *b != 0) {
            Some(i) => magnitude.get(i..).unwrap_or_default(),
            None => &[],
        };
        let mut contents = Vec::with_capacity(trimmed.len() + 1);
        if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
            contents.push(0);
        }
        contents.extend_from_slice(trimmed);
        tlv(INTEGER, &contents)
    }

    /// The magnitude of a non-negative two's complement number (DER INTEGER contents or a KMIP Big Integer).
    pub fn unsigned_from_twos(bytes: &[u8]) -> SecretBytes {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        SecretBytes::from(bytes.get(start..).unwrap_or_default())
    }

    /// A KMIP Big Integer of a non-negative big-endian magnitude.
    pub fn big_from_unsigned(magnitude: &[u8]) -> SecretBytes {
        let mut contents = vec![0u8];
        contents.extend_from_slice(magnitude);
        let trimmed = unsigned_from_twos(&contents);
        let mut twos = vec![0u8];
        twos.extend_from_slice(&trimmed);
        big_integer(&twos)
    }

    /// A KMIP Big Integer (big-endian two's complement, a multiple of 8 bytes) of DER INTEGER contents.
    pub fn big_integer(der_contents: &[u8]) -> SecretBytes {
        let negative = der_contents.first().is_some_and(|b| b & 0x80 != 0);
        let pad = (8 - der_contents.len() % 8) % 8;
        let fill = if negative { 0xFF } else { 0x00 };
        let mut out = vec![fill; pad];
        out.extend_from_slice(der_contents);
        if out.is_empty() {
            out = vec![0; 8];
        }
        SecretBytes::new(out)
    }
}

#[cfg(test)]
mod tests;
