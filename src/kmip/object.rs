//! Managed objects (keys, secret data, certificates, opaque objects) in one version-neutral form, read from and
//! written to the TTLV of each protocol version, and to the canonical bytes the store keeps. Key bytes live in
//! `SecretBytes` (wiped on drop, never printed); Transparent key structures keep their numbers as Big Integers,
//! which are `SecretBytes` too.

use sha2::{Digest as _, Sha256};

use crate::spec::{enums, tag};
use crate::ttlv::{self, Limits, SecretBytes, Tag, Ttlv, Value};

use super::attributes::{Attribute, Attributes};
use super::enums::ObjectType;
use super::error::{KmipError, ResultReason};
use super::version::ProtocolVersion;

/// A managed object's content (its attributes are kept apart, in [`Attributes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedObject {
    /// Which kind of object; decides the TTLV tag of the object.
    pub object_type: ObjectType,
    /// The content.
    pub body: ObjectBody,
}

/// The content of each object type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectBody {
    /// Symmetric Key, Public Key, Private Key: a Key Block.
    Key(KeyBlock),
    /// Secret Data: its type (Password, Seed, ...) and a Key Block.
    SecretData {
        /// Secret Data Type enumeration value.
        secret_data_type: u32,
        /// The data, as a key block.
        key_block: KeyBlock,
    },
    /// Certificate: type and DER (public, but kept in `SecretBytes` like all object bytes).
    Certificate {
        /// Certificate Type enumeration value (X.509 = 1).
        certificate_type: u32,
        /// The encoded certificate.
        value: SecretBytes,
    },
    /// Opaque Object: type and bytes.
    Opaque {
        /// Opaque Data Type enumeration value.
        opaque_data_type: u32,
        /// The bytes.
        value: SecretBytes,
    },
}

/// Key Block (2.1 section 2.6; 1.4 section 2.1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyBlock {
    /// Key Format Type enumeration value.
    pub key_format_type: u32,
    /// Key Compression Type enumeration value.
    pub key_compression_type: Option<u32>,
    /// The key value; `None` where the server holds no key value (Key Value Location).
    pub key_value: Option<KeyValue>,
    /// Cryptographic Algorithm enumeration value.
    pub cryptographic_algorithm: Option<u32>,
    /// Cryptographic Length in bits.
    pub cryptographic_length: Option<i32>,
    /// Present when the key value is wrapped.
    pub key_wrapping_data: Option<KeyWrappingData>,
}

/// Key Value: key material and its encapsulated attributes, or, once wrapped, the wrapped bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyValue {
    /// The clear key value.
    Plain {
        /// The key material.
        key_material: KeyMaterial,
        /// Attributes carried inside the key value (1.x `Attribute`s, 2.x `Attributes`).
        attributes: Attributes,
    },
    /// The wrapped TTLV-encoded Key Value (TTLV Encoding) or wrapped Key Material bytes (No Encoding).
    Wrapped(SecretBytes),
}

/// Key Material: bytes (Raw, Opaque, PKCS#1, PKCS#8, ECPrivateKey, X.509) or a Transparent structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyMaterial {
    /// Byte String key material.
    Bytes(SecretBytes),
    /// A Transparent* structure (tag Key Material), e.g. `{Recommended Curve, D}`; numbers are Big Integers.
    Transparent(Vec<Ttlv>),
}

/// Key Wrapping Data (2.1 section 2.7; 1.4 section 2.1.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyWrappingData {
    /// Wrapping Method enumeration value.
    pub wrapping_method: u32,
    /// Encryption Key Information.
    pub encryption_key: Option<WrappingKeyInfo>,
    /// MAC/Signature Key Information.
    pub mac_signature_key: Option<WrappingKeyInfo>,
    /// MAC/Signature.
    pub mac_signature: Option<Vec<u8>>,
    /// IV/Counter/Nonce.
    pub iv_counter_nonce: Option<Vec<u8>>,
    /// Encoding Option enumeration value (absent means TTLV Encoding).
    pub encoding_option: Option<u32>,
}

/// Encryption Key Information / MAC/Signature Key Information.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappingKeyInfo {
    /// The wrapping key's Unique Identifier.
    pub unique_identifier: String,
    /// Cryptographic Parameters, as sent.
    pub cryptographic_parameters: Option<Ttlv>,
}

impl ManagedObject {
    /// A symmetric key of raw bytes.
    pub fn symmetric_key(algorithm: u32, key: SecretBytes) -> Self {
        let bits = i32::try_from(key.len().saturating_mul(8)).unwrap_or(i32::MAX);
        ManagedObject {
            object_type: ObjectType::SYMMETRIC_KEY,
            body: ObjectBody::Key(KeyBlock::plain(
                enums::key_format_type::RAW,
                KeyMaterial::Bytes(key),
                Some(algorithm),
                Some(bits),
            )),
        }
    }

    /// The Key Block of keys and secret data.
    pub fn key_block(&self) -> Option<&KeyBlock> {
        match &self.body {
            ObjectBody::Key(kb) | ObjectBody::SecretData { key_block: kb, .. } => Some(kb),
            _ => None,
        }
    }

    /// The Key Block of keys and secret data, to change.
    pub fn key_block_mut(&mut self) -> Option<&mut KeyBlock> {
        match &mut self.body {
            ObjectBody::Key(kb) | ObjectBody::SecretData { key_block: kb, .. } => Some(kb),
            _ => None,
        }
    }

    /// The TTLV tag of an object type's item (`Symmetric Key`, ...); `None` for types the server does not hold.
    pub fn tag_of(object_type: ObjectType) -> Option<Tag> {
        Some(match object_type {
            ObjectType::SYMMETRIC_KEY => tag::SYMMETRIC_KEY,
            ObjectType::PUBLIC_KEY => tag::PUBLIC_KEY,
            ObjectType::PRIVATE_KEY => tag::PRIVATE_KEY,
            ObjectType::SECRET_DATA => tag::SECRET_DATA,
            ObjectType::CERTIFICATE => tag::CERTIFICATE,
            ObjectType::OPAQUE_OBJECT => tag::OPAQUE_OBJECT,
            _ => return None,
        })
    }

    /// The object type an object item's tag stands for.
    pub fn type_of_tag(t: Tag) -> Option<ObjectType> {
        [
            ObjectType::SYMMETRIC_KEY,
            ObjectType::PUBLIC_KEY,
            ObjectType::PRIVATE_KEY,
            ObjectType::SECRET_DATA,
            ObjectType::CERTIFICATE,
            ObjectType::OPAQUE_OBJECT,
        ]
        .into_iter()
        .find(|o| Self::tag_of(*o) == Some(t))
    }

    /// Reads an object item (`<SymmetricKey>`, `<Certificate>`, ...) of a request of `version`.
    pub fn from_ttlv(item: &Ttlv, version: ProtocolVersion) -> Result<Self, KmipError> {
        let object_type = Self::type_of_tag(item.tag).ok_or_else(|| {
            KmipError::new(
                ResultReason::InvalidObjectType,
                format!("tag {:#08x} is not an object the server holds", item.tag),
            )
        })?;
        let major = version.major;
        let body = match object_type {
            ObjectType::SECRET_DATA => ObjectBody::SecretData {
                secret_data_type: enum_child(item, tag::SECRET_DATA_TYPE, "Secret Data")?,
                key_block: KeyBlock::from_ttlv(
                    required(item, tag::KEY_BLOCK, "Secret Data")?,
                    major,
                )?,
            },
            ObjectType::CERTIFICATE => ObjectBody::Certificate {
                certificate_type: enum_child(item, tag::CERTIFICATE_TYPE, "Certificate")?,
                value: bytes_child(item, tag::CERTIFICATE_VALUE, "Certificate")?,
            },
            ObjectType::OPAQUE_OBJECT => ObjectBody::Opaque {
                opaque_data_type: enum_child(item, tag::OPAQUE_DATA_TYPE, "Opaque Object")?,
                value: bytes_child(item, tag::OPAQUE_DATA_VALUE, "Opaque Object")?,
            },
            _ => ObjectBody::Key(KeyBlock::from_ttlv(
                required(item, tag::KEY_BLOCK, "key")?,
                major,
            )?),
        };
        Ok(ManagedObject { object_type, body })
    }

    /// The object item a response of `version` carries.
    pub fn to_ttlv(&self, version: ProtocolVersion) -> Ttlv {
        self.encode(Some(version))
    }

    fn encode(&self, version: Option<ProtocolVersion>) -> Ttlv {
        let t = Self::tag_of(self.object_type).unwrap_or(tag::SYMMETRIC_KEY);
        let children = match &self.body {
            ObjectBody::Key(kb) => vec![kb.encode(version)],
            ObjectBody::SecretData {
                secret_data_type,
                key_block,
            } => vec![
                Ttlv::new(tag::SECRET_DATA_TYPE, Value::Enumeration(*secret_data_type)),
                key_block.encode(version),
            ],
            ObjectBody::Certificate {
                certificate_type,
                value,
            } => vec![
                Ttlv::new(tag::CERTIFICATE_TYPE, Value::Enumeration(*certificate_type)),
                Ttlv::new(tag::CERTIFICATE_VALUE, Value::ByteString(value.clone())),
            ],
            ObjectBody::Opaque {
                opaque_data_type,
                value,
            } => vec![
                Ttlv::new(tag::OPAQUE_DATA_TYPE, Value::Enumeration(*opaque_data_type)),
                Ttlv::new(tag::OPAQUE_DATA_VALUE, Value::ByteString(value.clone())),
            ],
        };
        Ttlv::structure(t, children)
    }

    /// The canonical bytes the store keeps: binary TTLV of the 2.x form, with every attribute inside the key
    /// value kept, whichever version it came from.
    pub fn to_storage_bytes(&self) -> SecretBytes {
        SecretBytes::new(ttlv::encode(&self.encode(None)))
    }

    /// The inverse of [`ManagedObject::to_storage_bytes`].
    pub fn from_storage_bytes(bytes: &[u8]) -> Result<Self, KmipError> {
        let item = ttlv::decode(bytes, &Limits::DEFAULT)
            .map_err(|e| KmipError::general_failure(format!("stored object is corrupt: {e}")))?;
        Self::from_ttlv(&item, ProtocolVersion::V2_1)
    }

    /// The SHA-256 Digest attribute of the object (2.1 section 4.21; 1.4 section 3.17): over the Key Material
    /// bytes, or the TTLV encoding of a Transparent Key Material structure, the Certificate Value, or the
    /// Opaque Data Value. `None` for a wrapped key or one without a value.
    pub fn digest(&self) -> Option<Attribute> {
        let (data, format) = match &self.body {
            ObjectBody::Certificate { value, .. } | ObjectBody::Opaque { value, .. } => {
                (value.clone(), None)
            }
            ObjectBody::Key(kb) | ObjectBody::SecretData { key_block: kb, .. } => {
                let Some(KeyValue::Plain { key_material, .. }) = &kb.key_value else {
                    return None;
                };
                let data = match key_material {
                    KeyMaterial::Bytes(b) => b.clone(),
                    KeyMaterial::Transparent(children) => SecretBytes::new(ttlv::encode(
                        &Ttlv::structure(tag::KEY_MATERIAL, children.clone()),
                    )),
                };
                (data, Some(kb.key_format_type))
            }
        };
        let hash = Sha256::digest(&data[..]);
        let mut children = vec![
            Ttlv::new(
                tag::HASHING_ALGORITHM,
                Value::Enumeration(enums::hashing_algorithm::SHA_256),
            ),
            Ttlv::new(
                tag::DIGEST_VALUE,
                Value::ByteString(SecretBytes::from(hash.as_ref())),
            ),
        ];
        if let Some(f) = format {
            children.push(Ttlv::new(tag::KEY_FORMAT_TYPE, Value::Enumeration(f)));
        }
        Some(Attribute::standard(tag::DIGEST, Value::Structure(children)))
    }
}

impl KeyBlock {
    /// A clear key block.
    pub fn plain(
        key_format_type: u32,
        key_material: KeyMaterial,
        cryptographic_algorithm: Option<u32>,
        cryptographic_length: Option<i32>,
    ) -> Self {
        KeyBlock {
            key_format_type,
            key_compression_type: None,
            key_value: Some(KeyValue::Plain {
                key_material,
                attributes: Attributes::new(),
            }),
            cryptographic_algorithm,
            cryptographic_length,
            key_wrapping_data: None,
        }
    }

    /// The clear key material, if the key value is present and not wrapped.
    pub fn key_material(&self) -> Option<&KeyMaterial> {
        match &self.key_value {
            Some(KeyValue::Plain { key_material, .. }) => Some(key_material),
            _ => None,
        }
    }

    /// Reads a Key Block of protocol major version `major`.
    pub fn from_ttlv(item: &Ttlv, major: i32) -> Result<Self, KmipError> {
        let key_format_type = enum_child(item, tag::KEY_FORMAT_TYPE, "Key Block")?;
        let key_compression_type = optional_enum(item, tag::KEY_COMPRESSION_TYPE)?;
        let key_wrapping_data = item
            .child(tag::KEY_WRAPPING_DATA)
            .map(KeyWrappingData::from_ttlv)
            .transpose()?;
        let key_value = match item.child(tag::KEY_VALUE) {
            None => None,
            Some(kv) => Some(match &kv.value {
                Value::ByteString(b) if key_wrapping_data.is_some() => KeyValue::Wrapped(b.clone()),
                Value::ByteString(_) => {
                    return Err(KmipError::invalid_field(
                        "a Key Value Byte String needs Key Wrapping Data",
                    ));
                }
                Value::Structure(_) => KeyValue::from_structure(kv, major)?,
                _ => {
                    return Err(KmipError::invalid_field(
                        "Key Value is neither bytes nor a structure",
                    ));
                }
            }),
        };
        let cryptographic_algorithm = optional_enum(item, tag::CRYPTOGRAPHIC_ALGORITHM)?;
        let cryptographic_length = match item.child(tag::CRYPTOGRAPHIC_LENGTH).map(|c| &c.value) {
            None => None,
            Some(Value::Integer(i)) => Some(*i),
            Some(_) => {
                return Err(KmipError::invalid_field(
                    "Cryptographic Length is not an Integer",
                ));
            }
        };
        Ok(KeyBlock {
            key_format_type,
            key_compression_type,
            key_value,
            cryptographic_algorithm,
            cryptographic_length,
            key_wrapping_data,
        })
    }

    /// The Key Block item of `version` (`None`: the storage form, keeping every attribute).
    fn encode(&self, version: Option<ProtocolVersion>) -> Ttlv {
        let mut children = vec![Ttlv::new(
            tag::KEY_FORMAT_TYPE,
            Value::Enumeration(self.key_format_type),
        )];
        if let Some(c) = self.key_compression_type {
            children.push(Ttlv::new(tag::KEY_COMPRESSION_TYPE, Value::Enumeration(c)));
        }
        match &self.key_value {
            Some(KeyValue::Wrapped(b)) => {
                children.push(Ttlv::new(tag::KEY_VALUE, Value::ByteString(b.clone())));
            }
            Some(kv @ KeyValue::Plain { .. }) => children.push(kv.encode(version)),
            None => {}
        }
        if let Some(a) = self.cryptographic_algorithm {
            children.push(Ttlv::new(
                tag::CRYPTOGRAPHIC_ALGORITHM,
                Value::Enumeration(a),
            ));
        }
        if let Some(l) = self.cryptographic_length {
            children.push(Ttlv::new(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(l)));
        }
        if let Some(w) = &self.key_wrapping_data {
            children.push(w.to_ttlv());
        }
        Ttlv::structure(tag::KEY_BLOCK, children)
    }

    /// The Key Block item a response of `version` carries.
    pub fn to_ttlv(&self, version: ProtocolVersion) -> Ttlv {
        self.encode(Some(version))
    }
}

impl KeyValue {
    /// Reads a Key Value structure: Key Material and 1.x `Attribute`s or a 2.x `Attributes` structure.
    pub fn from_structure(item: &Ttlv, major: i32) -> Result<Self, KmipError> {
        let material = required(item, tag::KEY_MATERIAL, "Key Value")?;
        let key_material = match &material.value {
            Value::ByteString(b) => KeyMaterial::Bytes(b.clone()),
            Value::Structure(children) => KeyMaterial::Transparent(children.clone()),
            _ => {
                return Err(KmipError::invalid_field(
                    "Key Material is neither bytes nor a structure",
                ));
            }
        };
        let mut attributes = Attributes::new();
        for child in item.children() {
            match child.tag {
                tag::KEY_MATERIAL => {}
                tag::ATTRIBUTE if major < 2 => {
                    attributes.add(Attribute::from_1x(child)?.0);
                }
                tag::ATTRIBUTES => {
                    for a in Attributes::from_attributes_2x(child)?.iter() {
                        attributes.add(a.clone());
                    }
                }
                other => {
                    return Err(KmipError::invalid_field(format!(
                        "unexpected tag {other:#08x} in a Key Value"
                    )));
                }
            }
        }
        Ok(KeyValue::Plain {
            key_material,
            attributes,
        })
    }

    /// The Key Value item: a structure, or the wrapped Byte String.
    fn encode(&self, version: Option<ProtocolVersion>) -> Ttlv {
        match self {
            KeyValue::Wrapped(b) => Ttlv::new(tag::KEY_VALUE, Value::ByteString(b.clone())),
            KeyValue::Plain {
                key_material,
                attributes,
            } => {
                let mut children = vec![key_material.to_ttlv()];
                match version {
                    Some(v) if !v.is_2x() => children.extend(attributes.to_items(v)),
                    Some(v) if !attributes.is_empty() => {
                        children.push(attributes.to_structure(v, tag::ATTRIBUTES));
                    }
                    None if !attributes.is_empty() => children.push(Ttlv::structure(
                        tag::ATTRIBUTES,
                        attributes.iter().map(Attribute::to_2x).collect(),
                    )),
                    _ => {}
                }
                Ttlv::structure(tag::KEY_VALUE, children)
            }
        }
    }

    /// The Key Value structure item of `version` (what TTLV Encoding wraps).
    pub fn to_ttlv(&self, version: ProtocolVersion) -> Ttlv {
        self.encode(Some(version))
    }
}

impl KeyMaterial {
    /// The Key Material item.
    pub fn to_ttlv(&self) -> Ttlv {
        match self {
            KeyMaterial::Bytes(b) => Ttlv::new(tag::KEY_MATERIAL, Value::ByteString(b.clone())),
            KeyMaterial::Transparent(children) => {
                Ttlv::structure(tag::KEY_MATERIAL, children.clone())
            }
        }
    }

    /// The bytes of Byte String key material.
    pub fn bytes(&self) -> Option<&SecretBytes> {
        match self {
            KeyMaterial::Bytes(b) => Some(b),
            KeyMaterial::Transparent(_) => None,
        }
    }

    /// A field of a Transparent structure.
    pub fn field(&self, t: Tag) -> Option<&Value> {
        match self {
            KeyMaterial::Transparent(children) => {
                children.iter().find(|c| c.tag == t).map(|c| &c.value)
            }
            KeyMaterial::Bytes(_) => None,
        }
    }
}

impl KeyWrappingData {
    /// Reads a Key Wrapping Data structure.
    pub fn from_ttlv(item: &Ttlv) -> Result<Self, KmipError> {
        Ok(KeyWrappingData {
            wrapping_method: enum_child(item, tag::WRAPPING_METHOD, "Key Wrapping Data")?,
            encryption_key: item
                .child(tag::ENCRYPTION_KEY_INFORMATION)
                .map(WrappingKeyInfo::from_ttlv)
                .transpose()?,
            mac_signature_key: item
                .child(tag::MAC_SIGNATURE_KEY_INFORMATION)
                .map(WrappingKeyInfo::from_ttlv)
                .transpose()?,
            mac_signature: optional_bytes(item, tag::MAC_SIGNATURE)?,
            iv_counter_nonce: optional_bytes(item, tag::IV_COUNTER_NONCE)?,
            encoding_option: optional_enum(item, tag::ENCODING_OPTION)?,
        })
    }

    /// The Key Wrapping Data item.
    pub fn to_ttlv(&self) -> Ttlv {
        let mut children = vec![Ttlv::new(
            tag::WRAPPING_METHOD,
            Value::Enumeration(self.wrapping_method),
        )];
        if let Some(k) = &self.encryption_key {
            children.push(k.to_ttlv(tag::ENCRYPTION_KEY_INFORMATION));
        }
        if let Some(k) = &self.mac_signature_key {
            children.push(k.to_ttlv(tag::MAC_SIGNATURE_KEY_INFORMATION));
        }
        if let Some(m) = &self.mac_signature {
            children.push(Ttlv::new(
                tag::MAC_SIGNATURE,
                Value::ByteString(m.as_slice().into()),
            ));
        }
        if let Some(iv) = &self.iv_counter_nonce {
            children.push(Ttlv::new(
                tag::IV_COUNTER_NONCE,
                Value::ByteString(iv.as_slice().into()),
            ));
        }
        if let Some(e) = self.encoding_option {
            children.push(Ttlv::new(tag::ENCODING_OPTION, Value::Enumeration(e)));
        }
        Ttlv::structure(tag::KEY_WRAPPING_DATA, children)
    }
}

impl WrappingKeyInfo {
    /// Reads Encryption Key Information or MAC/Signature Key Information.
    pub fn from_ttlv(item: &Ttlv) -> Result<Self, KmipError> {
        let unique_identifier = match item.child(tag::UNIQUE_IDENTIFIER).map(|c| &c.value) {
            Some(Value::TextString(s)) => s.clone(),
            Some(_) => return Err(KmipError::invalid_field("Unique Identifier is not text")),
            None => {
                return Err(KmipError::missing_data(
                    "Key Information has no Unique Identifier",
                ));
            }
        };
        Ok(WrappingKeyInfo {
            unique_identifier,
            cryptographic_parameters: item.child(tag::CRYPTOGRAPHIC_PARAMETERS).cloned(),
        })
    }

    /// The item, under `t` (Encryption Key Information or MAC/Signature Key Information).
    pub fn to_ttlv(&self, t: Tag) -> Ttlv {
        let mut children = vec![Ttlv::new(
            tag::UNIQUE_IDENTIFIER,
            Value::TextString(self.unique_identifier.clone()),
        )];
        children.extend(self.cryptographic_parameters.clone());
        Ttlv::structure(t, children)
    }
}

fn required<'a>(item: &'a Ttlv, t: Tag, what: &str) -> Result<&'a Ttlv, KmipError> {
    item.child(t)
        .ok_or_else(|| KmipError::invalid_field(format!("{what} lacks {}", tag_name(t))))
}

fn enum_child(item: &Ttlv, t: Tag, what: &str) -> Result<u32, KmipError> {
    optional_enum(item, t)?
        .ok_or_else(|| KmipError::invalid_field(format!("{what} lacks {}", tag_name(t))))
}

fn optional_enum(item: &Ttlv, t: Tag) -> Result<Option<u32>, KmipError> {
    match item.child(t).map(|c| &c.value) {
        None => Ok(None),
        Some(Value::Enumeration(e)) => Ok(Some(*e)),
        Some(_) => Err(KmipError::invalid_field(format!(
            "{} is not an Enumeration",
            tag_name(t)
        ))),
    }
}

fn bytes_child(item: &Ttlv, t: Tag, what: &str) -> Result<SecretBytes, KmipError> {
    match item.child(t).map(|c| &c.value) {
        Some(Value::ByteString(b)) => Ok(b.clone()),
        Some(_) => Err(KmipError::invalid_field(format!(
            "{} is not bytes",
            tag_name(t)
        ))),
        None => Err(KmipError::invalid_field(format!(
            "{what} lacks {}",
            tag_name(t)
        ))),
    }
}

fn optional_bytes(item: &Ttlv, t: Tag) -> Result<Option<Vec<u8>>, KmipError> {
    match item.child(t).map(|c| &c.value) {
        None => Ok(None),
        Some(Value::ByteString(b)) => Ok(Some(b.to_vec())),
        Some(_) => Err(KmipError::invalid_field(format!(
            "{} is not bytes",
            tag_name(t)
        ))),
    }
}

fn tag_name(t: Tag) -> &'static str {
    crate::spec::tag_by_number(t).map_or("a field", |d| d.spec_name)
}

#[cfg(test)]
mod tests;
