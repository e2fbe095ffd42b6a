//! Cryptographic Parameters (2.1 section 7.6; 1.x section 3.6 of the attribute list): the one structure that
//! says how a key is used by Encrypt, Decrypt, Sign, Signature Verify, MAC, Derive Key and key wrapping. It is
//! read here once, in any version's form, so every operation sees the same typed value and judges the same
//! fields; an absent structure and an empty one mean the same thing (defaults apply).

use crate::spec::tag;
use crate::ttlv::{SecretBytes, Tag, Ttlv, Value};

use super::enums::{
    BlockCipherMode, CryptographicAlgorithm, DigitalSignatureAlgorithm, HashingAlgorithm,
    MaskGenerator, PaddingMethod,
};
use super::error::{KmipError, ResultReason};

/// The Cryptographic Parameters of a request or of a key's attribute. Every field is optional: what a client
/// leaves out is decided by the operation's defaults or by the key's own Cryptographic Parameters attribute.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CryptographicParameters {
    /// Block Cipher Mode.
    pub block_cipher_mode: Option<BlockCipherMode>,
    /// Padding Method.
    pub padding_method: Option<PaddingMethod>,
    /// Hashing Algorithm.
    pub hashing_algorithm: Option<HashingAlgorithm>,
    /// Key Role Type (an enumeration the server only carries).
    pub key_role_type: Option<u32>,
    /// Digital Signature Algorithm (1.1 and later).
    pub digital_signature_algorithm: Option<DigitalSignatureAlgorithm>,
    /// Cryptographic Algorithm (1.1 and later).
    pub cryptographic_algorithm: Option<CryptographicAlgorithm>,
    /// Random IV: the server generates the IV/nonce and returns it.
    pub random_iv: Option<bool>,
    /// IV Length, in bits.
    pub iv_length: Option<i32>,
    /// Tag Length, in bytes (the AEAD tag).
    pub tag_length: Option<i32>,
    /// Fixed Field Length, in bits (deterministic GCM IV construction).
    pub fixed_field_length: Option<i32>,
    /// Invocation Field Length, in bits.
    pub invocation_field_length: Option<i32>,
    /// Counter Length, in bits (CTR mode).
    pub counter_length: Option<i32>,
    /// Initial Counter Value (CTR mode).
    pub initial_counter_value: Option<i32>,
    /// Salt Length, in bytes (PSS).
    pub salt_length: Option<i32>,
    /// Mask Generator (OAEP, PSS).
    pub mask_generator: Option<MaskGenerator>,
    /// Mask Generator Hashing Algorithm (OAEP, PSS).
    pub mask_generator_hashing_algorithm: Option<HashingAlgorithm>,
    /// P Source (the OAEP label).
    pub p_source: Option<Vec<u8>>,
    /// Trailer Field (PSS).
    pub trailer_field: Option<i32>,
}

impl CryptographicParameters {
    /// Reads the structure. A field of the wrong item type is Invalid Field; unknown fields are ignored, as a
    /// newer minor version may add some.
    pub fn from_ttlv(item: &Ttlv) -> Result<Self, KmipError> {
        if !matches!(item.value, Value::Structure(_)) {
            return Err(KmipError::new(
                ResultReason::InvalidField,
                "Cryptographic Parameters is not a structure",
            ));
        }
        Ok(CryptographicParameters {
            block_cipher_mode: enumeration(item, tag::BLOCK_CIPHER_MODE)?.map(BlockCipherMode),
            padding_method: enumeration(item, tag::PADDING_METHOD)?.map(PaddingMethod),
            hashing_algorithm: enumeration(item, tag::HASHING_ALGORITHM)?.map(HashingAlgorithm),
            key_role_type: enumeration(item, tag::KEY_ROLE_TYPE)?,
            digital_signature_algorithm: enumeration(item, tag::DIGITAL_SIGNATURE_ALGORITHM)?
                .map(DigitalSignatureAlgorithm),
            cryptographic_algorithm: enumeration(item, tag::CRYPTOGRAPHIC_ALGORITHM)?
                .map(CryptographicAlgorithm),
            random_iv: boolean(item, tag::RANDOM_IV)?,
            iv_length: integer(item, tag::IV_LENGTH)?,
            tag_length: integer(item, tag::TAG_LENGTH)?,
            fixed_field_length: integer(item, tag::FIXED_FIELD_LENGTH)?,
            invocation_field_length: integer(item, tag::INVOCATION_FIELD_LENGTH)?,
            counter_length: integer(item, tag::COUNTER_LENGTH)?,
            initial_counter_value: integer(item, tag::INITIAL_COUNTER_VALUE)?,
            salt_length: integer(item, tag::SALT_LENGTH)?,
            mask_generator: enumeration(item, tag::MASK_GENERATOR)?.map(MaskGenerator),
            mask_generator_hashing_algorithm: enumeration(
                item,
                tag::MASK_GENERATOR_HASHING_ALGORITHM,
            )?
            .map(HashingAlgorithm),
            p_source: bytes(item, tag::P_SOURCE)?,
            trailer_field: integer(item, tag::TRAILER_FIELD)?,
        })
    }

    /// Reads the optional Cryptographic Parameters child of a request payload or structure.
    pub fn from_parent(parent: &Ttlv) -> Result<Option<Self>, KmipError> {
        parent
            .child(tag::CRYPTOGRAPHIC_PARAMETERS)
            .map(Self::from_ttlv)
            .transpose()
    }

    /// Writes the structure with the fields that are set, in the specification's order.
    pub fn to_ttlv(&self) -> Ttlv {
        let mut children = Vec::new();
        let mut push = |t: Tag, v: Option<Value>| {
            if let Some(v) = v {
                children.push(Ttlv::new(t, v));
            }
        };
        push(
            tag::BLOCK_CIPHER_MODE,
            self.block_cipher_mode.map(|m| Value::Enumeration(m.0)),
        );
        push(
            tag::PADDING_METHOD,
            self.padding_method.map(|m| Value::Enumeration(m.0)),
        );
        push(
            tag::HASHING_ALGORITHM,
            self.hashing_algorithm.map(|m| Value::Enumeration(m.0)),
        );
        push(
            tag::KEY_ROLE_TYPE,
            self.key_role_type.map(Value::Enumeration),
        );
        push(
            tag::DIGITAL_SIGNATURE_ALGORITHM,
            self.digital_signature_algorithm
                .map(|m| Value::Enumeration(m.0)),
        );
        push(
            tag::CRYPTOGRAPHIC_ALGORITHM,
            self.cryptographic_algorithm
                .map(|m| Value::Enumeration(m.0)),
        );
        push(tag::RANDOM_IV, self.random_iv.map(Value::Boolean));
        push(tag::IV_LENGTH, self.iv_length.map(Value::Integer));
        push(tag::TAG_LENGTH, self.tag_length.map(Value::Integer));
        push(
            tag::FIXED_FIELD_LENGTH,
            self.fixed_field_length.map(Value::Integer),
        );
        push(
            tag::INVOCATION_FIELD_LENGTH,
            self.invocation_field_length.map(Value::Integer),
        );
        push(tag::COUNTER_LENGTH, self.counter_length.map(Value::Integer));
        push(
            tag::INITIAL_COUNTER_VALUE,
            self.initial_counter_value.map(Value::Integer),
        );
        push(tag::SALT_LENGTH, self.salt_length.map(Value::Integer));
        push(
            tag::MASK_GENERATOR,
            self.mask_generator.map(|m| Value::Enumeration(m.0)),
        );
        push(
            tag::MASK_GENERATOR_HASHING_ALGORITHM,
            self.mask_generator_hashing_algorithm
                .map(|m| Value::Enumeration(m.0)),
        );
        push(
            tag::P_SOURCE,
            self.p_source
                .clone()
                .map(|p| Value::ByteString(SecretBytes::new(p))),
        );
        push(tag::TRAILER_FIELD, self.trailer_field.map(Value::Integer));
        Ttlv::structure(tag::CRYPTOGRAPHIC_PARAMETERS, children)
    }

    /// The request's parameters with every field it leaves out taken from `fallback` (typically the key's own
    /// Cryptographic Parameters attribute): the request wins field by field.
    pub fn or(&self, fallback: &CryptographicParameters) -> CryptographicParameters {
        let f = fallback;
        CryptographicParameters {
            block_cipher_mode: self.block_cipher_mode.or(f.block_cipher_mode),
            padding_method: self.padding_method.or(f.padding_method),
            hashing_algorithm: self.hashing_algorithm.or(f.hashing_algorithm),
            key_role_type: self.key_role_type.or(f.key_role_type),
            digital_signature_algorithm: self
                .digital_signature_algorithm
                .or(f.digital_signature_algorithm),
            cryptographic_algorithm: self.cryptographic_algorithm.or(f.cryptographic_algorithm),
            random_iv: self.random_iv.or(f.random_iv),
            iv_length: self.iv_length.or(f.iv_length),
            tag_length: self.tag_length.or(f.tag_length),
            fixed_field_length: self.fixed_field_length.or(f.fixed_field_length),
            invocation_field_length: self.invocation_field_length.or(f.invocation_field_length),
            counter_length: self.counter_length.or(f.counter_length),
            initial_counter_value: self.initial_counter_value.or(f.initial_counter_value),
            salt_length: self.salt_length.or(f.salt_length),
            mask_generator: self.mask_generator.or(f.mask_generator),
            mask_generator_hashing_algorithm: self
                .mask_generator_hashing_algorithm
                .or(f.mask_generator_hashing_algorithm),
            p_source: self.p_source.clone().or_else(|| f.p_source.clone()),
            trailer_field: self.trailer_field.or(f.trailer_field),
        }
    }
}

fn wrong_type(t: Tag, expected: &str) -> KmipError {
    let name = crate::spec::tag_by_number(t).map_or("field", |d| d.spec_name);
    KmipError::new(
        ResultReason::InvalidField,
        format!("Cryptographic Parameters: {name} is not {expected}"),
    )
}

fn enumeration(item: &Ttlv, t: Tag) -> Result<Option<u32>, KmipError> {
    match item.child(t).map(|c| &c.value) {
        None => Ok(None),
        Some(Value::Enumeration(v)) => Ok(Some(*v)),
        Some(_) => Err(wrong_type(t, "an Enumeration")),
    }
}

fn integer(item: &Ttlv, t: Tag) -> Result<Option<i32>, KmipError> {
    match item.child(t).map(|c| &c.value) {
        None => Ok(None),
        Some(Value::Integer(v)) => Ok(Some(*v)),
        Some(_) => Err(wrong_type(t, "an Integer")),
    }
}

fn boolean(item: &Ttlv, t: Tag) -> Result<Option<bool>, KmipError> {
    match item.child(t).map(|c| &c.value) {
        None => Ok(None),
        Some(Value::Boolean(v)) => Ok(Some(*v)),
        Some(_) => Err(wrong_type(t, "a Boolean")),
    }
}

fn bytes(item: &Ttlv, t: Tag) -> Result<Option<Vec<u8>>, KmipError> {
    match item.child(t).map(|c| &c.value) {
        None => Ok(None),
        Some(Value::ByteString(v)) => Ok(Some(v.as_slice().to_vec())),
        Some(_) => Err(wrong_type(t, "a Byte String")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> CryptographicParameters {
        CryptographicParameters {
            block_cipher_mode: Some(BlockCipherMode::GCM),
            padding_method: Some(PaddingMethod::NONE),
            hashing_algorithm: Some(HashingAlgorithm::SHA_256),
            key_role_type: Some(0x0B),
            digital_signature_algorithm: Some(DigitalSignatureAlgorithm::ECDSA_WITH_SHA256),
            cryptographic_algorithm: Some(CryptographicAlgorithm::AES),
            random_iv: Some(true),
            iv_length: Some(96),
            tag_length: Some(16),
            fixed_field_length: Some(32),
            invocation_field_length: Some(64),
            counter_length: Some(32),
            initial_counter_value: Some(1),
            salt_length: Some(32),
            mask_generator: Some(MaskGenerator::MGF1),
            mask_generator_hashing_algorithm: Some(HashingAlgorithm::SHA_1),
            p_source: Some(vec![1, 2, 3]),
            trailer_field: Some(1),
        }
    }

    #[test]
    fn every_field_round_trips() {
        let p = full();
        assert_eq!(CryptographicParameters::from_ttlv(&p.to_ttlv()).unwrap(), p);
        let empty = CryptographicParameters::default();
        assert_eq!(
            CryptographicParameters::from_ttlv(&empty.to_ttlv()).unwrap(),
            empty
        );
    }

    #[test]
    fn a_field_of_the_wrong_type_is_invalid_field() {
        let item = Ttlv::structure(
            tag::CRYPTOGRAPHIC_PARAMETERS,
            vec![Ttlv::new(tag::BLOCK_CIPHER_MODE, Value::Integer(9))],
        );
        let err = CryptographicParameters::from_ttlv(&item).unwrap_err();
        assert_eq!(err.reason, ResultReason::InvalidField);
        let not_structure = Ttlv::new(tag::CRYPTOGRAPHIC_PARAMETERS, Value::Integer(1));
        assert!(CryptographicParameters::from_ttlv(&not_structure).is_err());
    }

    #[test]
    fn the_request_wins_field_by_field_over_the_key() {
        let request = CryptographicParameters {
            block_cipher_mode: Some(BlockCipherMode::CBC),
            ..Default::default()
        };
        let merged = request.or(&full());
        assert_eq!(merged.block_cipher_mode, Some(BlockCipherMode::CBC));
        assert_eq!(merged.padding_method, Some(PaddingMethod::NONE));
        assert_eq!(merged.p_source, Some(vec![1, 2, 3]));
    }

    #[test]
    fn absent_parameters_read_as_none() {
        let payload = Ttlv::structure(tag::REQUEST_PAYLOAD, vec![]);
        assert_eq!(
            CryptographicParameters::from_parent(&payload).unwrap(),
            None
        );
    }
}
