//! Key wrapping: the Key Wrapping Specification a Get (or Export) request carries, and the wrapping and
//! unwrapping of a key block under an AES key-encryption key with AES Key Wrap (RFC 3394, "NIST Key Wrap") or
//! AES Key Wrap with Padding (RFC 5649), as 2.1 sections 2.7 and 2.8 (1.4 sections 2.1.5 and 2.1.6) describe:
//! Encoding Option "No Encoding" wraps the Key Material bytes; "TTLV Encoding" (the default) wraps the
//! TTLV-encoded Key Value structure, with the attributes the specification names inside it.

use crate::crypto::{CryptoError, block};

use crate::spec::{enums, tag};
use crate::ttlv::{self, Limits, SecretBytes, Ttlv, Value};

use super::attributes::{AttributeName, Attributes};
use super::error::{KmipError, ResultReason};
use super::object::{
    KeyBlock, KeyMaterial, KeyValue, KeyWrappingData, ManagedObject, WrappingKeyInfo,
};
use super::version::ProtocolVersion;

/// Key Wrapping Specification (2.1 section 2.8; 1.4 section 2.1.6): how the client wants a key wrapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyWrappingSpecification {
    /// Wrapping Method enumeration value.
    pub wrapping_method: u32,
    /// Encryption Key Information: the wrapping key and its parameters.
    pub encryption_key: Option<WrappingKeyInfo>,
    /// MAC/Signature Key Information.
    pub mac_signature_key: Option<WrappingKeyInfo>,
    /// Attribute Names: attributes to wrap together with the key material.
    pub attribute_names: Vec<AttributeName>,
    /// Encoding Option enumeration value; absent means TTLV Encoding.
    pub encoding_option: Option<u32>,
}

impl KeyWrappingSpecification {
    /// Reads a Key Wrapping Specification structure.
    pub fn from_ttlv(item: &Ttlv) -> Result<Self, KmipError> {
        let wrapping_method = match item.child(tag::WRAPPING_METHOD).map(|c| &c.value) {
            Some(Value::Enumeration(m)) => *m,
            _ => {
                return Err(KmipError::invalid_field(
                    "Key Wrapping Specification lacks a Wrapping Method",
                ));
            }
        };
        let mut attribute_names = Vec::new();
        for n in item.children_with(tag::ATTRIBUTE_NAME) {
            match &n.value {
                Value::TextString(s) => attribute_names.push(AttributeName::from_1x(s)?),
                _ => return Err(KmipError::invalid_field("Attribute Name is not text")),
            }
        }
        let encoding_option = match item.child(tag::ENCODING_OPTION).map(|c| &c.value) {
            None => None,
            Some(Value::Enumeration(e)) => Some(*e),
            Some(_) => {
                return Err(KmipError::invalid_field(
                    "Encoding Option is not an Enumeration",
                ));
            }
        };
        Ok(KeyWrappingSpecification {
            wrapping_method,
            encryption_key: item
                .child(tag::ENCRYPTION_KEY_INFORMATION)
                .map(WrappingKeyInfo::from_ttlv)
                .transpose()?,
            mac_signature_key: item
                .child(tag::MAC_SIGNATURE_KEY_INFORMATION)
                .map(WrappingKeyInfo::from_ttlv)
                .transpose()?,
            attribute_names,
            encoding_option,
        })
    }

    /// The Key Wrapping Specification item.
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
        for n in &self.attribute_names {
            if let Some(name) = n.name_1x() {
                children.push(Ttlv::new(tag::ATTRIBUTE_NAME, Value::TextString(name)));
            }
        }
        if let Some(e) = self.encoding_option {
            children.push(Ttlv::new(tag::ENCODING_OPTION, Value::Enumeration(e)));
        }
        Ttlv::structure(tag::KEY_WRAPPING_SPECIFICATION, children)
    }

    /// The wrapping key's Unique Identifier, which the operation must fetch.
    pub fn wrapping_key_id(&self) -> Option<&str> {
        self.encryption_key
            .as_ref()
            .map(|k| k.unique_identifier.as_str())
    }
}

/// The two AES key wrap algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AesKeyWrap {
    /// RFC 3394 (Block Cipher Mode "NIST Key Wrap"): data a multiple of 8 bytes, at least 16.
    Rfc3394,
    /// RFC 5649 (Block Cipher Mode "AES Key Wrap Padding"): any length from 1 byte.
    Rfc5649,
}

impl AesKeyWrap {
    /// The algorithm Cryptographic Parameters ask for; without a Block Cipher Mode, NIST Key Wrap where the data
    /// allows it (a multiple of 8 bytes, at least 16), else Key Wrap with Padding.
    pub fn from_parameters(parameters: Option<&Ttlv>, data_len: usize) -> Result<Self, KmipError> {
        let mode = parameters
            .and_then(|p| p.child(tag::BLOCK_CIPHER_MODE))
            .map(|m| &m.value);
        match mode {
            None if data_len.is_multiple_of(8) && data_len >= 16 => Ok(AesKeyWrap::Rfc3394),
            None => Ok(AesKeyWrap::Rfc5649),
            Some(Value::Enumeration(enums::block_cipher_mode::NIST_KEY_WRAP)) => {
                Ok(AesKeyWrap::Rfc3394)
            }
            Some(Value::Enumeration(enums::block_cipher_mode::AES_KEY_WRAP_PADDING)) => {
                Ok(AesKeyWrap::Rfc5649)
            }
            Some(_) => Err(KmipError::new(
                ResultReason::UnsupportedCryptographicParameters,
                "keys are wrapped with NIST Key Wrap or AES Key Wrap Padding only",
            )),
        }
    }
}

/// Wraps `data` under the AES key `kek` (16, 24 or 32 bytes), through the one AES key wrap of `crypto`.
pub fn aes_wrap(kek: &[u8], data: &[u8], mode: AesKeyWrap) -> Result<SecretBytes, KmipError> {
    block::key_wrap(kek, data, mode == AesKeyWrap::Rfc5649)
        .map(SecretBytes::new)
        .map_err(|e| wrap_error(kek, e, "key wrap"))
}

/// Unwraps `wrapped` under the AES key `kek`; an integrity check failure is a Cryptographic Failure.
pub fn aes_unwrap(kek: &[u8], wrapped: &[u8], mode: AesKeyWrap) -> Result<SecretBytes, KmipError> {
    block::key_unwrap(kek, wrapped, mode == AesKeyWrap::Rfc5649)
        .map(|plain| SecretBytes::new(plain.to_vec()))
        .map_err(|e| wrap_error(kek, e, "key unwrap"))
}

/// A wrapping key that is no AES key is an Invalid Field; anything else the wrap refuses (data length,
/// integrity) is a Cryptographic Failure.
fn wrap_error(kek: &[u8], e: CryptoError, what: &str) -> KmipError {
    match e {
        CryptoError::KeyLength(..) => bad_kek_length(kek.len()),
        e => KmipError::new(ResultReason::CryptographicFailure, format!("{what}: {e}")),
    }
}

fn bad_kek_length(n: usize) -> KmipError {
    KmipError::new(
        ResultReason::InvalidField,
        format!("a wrapping key of {n} bytes is not an AES key"),
    )
}

/// The AES key bytes of a wrapping key object: a symmetric AES key in Raw or Transparent Symmetric form.
fn kek_bytes(wrapping_key: &ManagedObject) -> Result<&SecretBytes, KmipError> {
    let kb = wrapping_key
        .key_block()
        .filter(|_| wrapping_key.object_type == super::enums::ObjectType::SYMMETRIC_KEY)
        .ok_or_else(|| {
            KmipError::new(
                ResultReason::IllegalObjectType,
                "the wrapping key is not a symmetric key",
            )
        })?;
    if kb.cryptographic_algorithm != Some(enums::cryptographic_algorithm::AES) {
        return Err(KmipError::new(
            ResultReason::KeyWrapTypeNotSupported,
            "only AES keys wrap keys",
        ));
    }
    match kb.key_material() {
        Some(KeyMaterial::Bytes(b)) => Ok(b),
        Some(m @ KeyMaterial::Transparent(_)) => match m.field(tag::KEY) {
            Some(Value::ByteString(b)) => Ok(b),
            _ => Err(KmipError::invalid_field(
                "Transparent Symmetric Key lacks Key",
            )),
        },
        None => Err(KmipError::new(
            ResultReason::KeyValueNotPresent,
            "the wrapping key has no clear key value",
        )),
    }
}

/// Wraps the key value of `key` under `wrapping_key` as `spec` asks, putting the attributes `spec` names
/// (taken from `attributes`, the object's) inside the Key Value first. The Key Value is encoded in `version`'s
/// form before wrapping (1.x carries `Attribute`s in it, 2.x an `Attributes` structure).
pub fn wrap(
    key: &ManagedObject,
    wrapping_key: &ManagedObject,
    spec: &KeyWrappingSpecification,
    attributes: &Attributes,
    version: ProtocolVersion,
) -> Result<ManagedObject, KmipError> {
    if spec.wrapping_method != enums::wrapping_method::ENCRYPT {
        return Err(KmipError::new(
            ResultReason::KeyWrapTypeNotSupported,
            "only the Encrypt wrapping method is supported",
        ));
    }
    let encryption = spec.encryption_key.as_ref().ok_or_else(|| {
        KmipError::missing_data("Key Wrapping Specification lacks Encryption Key Information")
    })?;
    let kek = kek_bytes(wrapping_key)?;
    let mut wrapped = key.clone();
    let kb = wrapped.key_block_mut().ok_or_else(|| {
        KmipError::new(
            ResultReason::IllegalObjectType,
            "only keys and secret data are wrapped",
        )
    })?;
    if kb.key_wrapping_data.is_some() {
        return Err(KmipError::new(
            ResultReason::KeyWrapTypeNotSupported,
            "the key is already wrapped",
        ));
    }
    let Some(KeyValue::Plain {
        key_material,
        attributes: inner,
    }) = &kb.key_value
    else {
        return Err(KmipError::new(
            ResultReason::KeyValueNotPresent,
            "the key has no value to wrap",
        ));
    };
    let no_encoding = spec.encoding_option == Some(enums::encoding_option::NO_ENCODING);
    let plain = if no_encoding {
        if !spec.attribute_names.is_empty() || !inner.is_empty() {
            return Err(KmipError::new(
                ResultReason::EncodingOptionError,
                "No Encoding wraps key material alone: no attributes can go with it",
            ));
        }
        key_material.bytes().cloned().ok_or_else(|| {
            KmipError::new(
                ResultReason::EncodingOptionError,
                "No Encoding needs Byte String key material",
            )
        })?
    } else {
        let mut carried = inner.clone();
        for name in &spec.attribute_names {
            for a in attributes.get_all(name) {
                carried.add(a.clone());
            }
        }
        let value = KeyValue::Plain {
            key_material: key_material.clone(),
            attributes: carried,
        };
        SecretBytes::new(ttlv::encode(&value.to_ttlv(version)))
    };
    let mode =
        AesKeyWrap::from_parameters(encryption.cryptographic_parameters.as_ref(), plain.len())?;
    let bytes = aes_wrap(kek, &plain, mode)?;
    kb.key_value = Some(KeyValue::Wrapped(bytes));
    kb.key_wrapping_data = Some(KeyWrappingData {
        wrapping_method: spec.wrapping_method,
        encryption_key: Some(encryption.clone()),
        mac_signature_key: None,
        mac_signature: None,
        iv_counter_nonce: None,
        encoding_option: spec.encoding_option,
    });
    Ok(wrapped)
}

/// [`wrap`] on items in `version`'s form (the key and wrapping key objects, the Key Wrapping Specification), for
/// callers that keep objects as TTLV.
pub fn wrap_item(
    key: &Ttlv,
    wrapping_key: &Ttlv,
    spec: &Ttlv,
    attributes: &Attributes,
    version: ProtocolVersion,
) -> Result<Ttlv, KmipError> {
    let spec = KeyWrappingSpecification::from_ttlv(spec)?;
    let key = ManagedObject::from_ttlv(key, version)?;
    let wrapping_key = ManagedObject::from_ttlv(wrapping_key, version)?;
    Ok(wrap(&key, &wrapping_key, &spec, attributes, version)?.to_ttlv(version))
}

/// Unwraps a wrapped key block (Register of a wrapped key, or a client's own check) with `wrapping_key`.
pub fn unwrap(
    key: &ManagedObject,
    wrapping_key: &ManagedObject,
    version: ProtocolVersion,
) -> Result<ManagedObject, KmipError> {
    let kek = kek_bytes(wrapping_key)?;
    let mut clear = key.clone();
    let kb: &mut KeyBlock = clear.key_block_mut().ok_or_else(|| {
        KmipError::new(
            ResultReason::IllegalObjectType,
            "only keys and secret data are wrapped",
        )
    })?;
    let (Some(data), Some(KeyValue::Wrapped(bytes))) = (&kb.key_wrapping_data, &kb.key_value)
    else {
        return Err(KmipError::invalid_field("the key is not wrapped"));
    };
    if data.wrapping_method != enums::wrapping_method::ENCRYPT {
        return Err(KmipError::new(
            ResultReason::KeyWrapTypeNotSupported,
            "only the Encrypt wrapping method is supported",
        ));
    }
    let parameters = data
        .encryption_key
        .as_ref()
        .and_then(|k| k.cryptographic_parameters.as_ref());
    let has_mode = parameters.is_some_and(|p| p.child(tag::BLOCK_CIPHER_MODE).is_some());
    let plain = if has_mode {
        aes_unwrap(kek, bytes, AesKeyWrap::from_parameters(parameters, 0)?)?
    } else {
        // Without a Block Cipher Mode either algorithm may have been used; each checks its own integrity value.
        aes_unwrap(kek, bytes, AesKeyWrap::Rfc3394)
            .or_else(|_| aes_unwrap(kek, bytes, AesKeyWrap::Rfc5649))?
    };
    let value = if data.encoding_option == Some(enums::encoding_option::NO_ENCODING) {
        KeyValue::Plain {
            key_material: KeyMaterial::Bytes(plain),
            attributes: Attributes::new(),
        }
    } else {
        let item = ttlv::decode(&plain, &Limits::DEFAULT).map_err(|e| {
            KmipError::new(
                ResultReason::EncodingOptionError,
                format!("the unwrapped Key Value is not TTLV: {e}"),
            )
        })?;
        if item.tag != tag::KEY_VALUE {
            return Err(KmipError::new(
                ResultReason::EncodingOptionError,
                "the unwrapped item is not a Key Value",
            ));
        }
        KeyValue::from_structure(&item, version.major)?
    };
    kb.key_value = Some(value);
    kb.key_wrapping_data = None;
    Ok(clear)
}

#[cfg(test)]
mod tests;
