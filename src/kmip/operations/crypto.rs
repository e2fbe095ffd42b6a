//! Payloads of the cryptographic services, which share one family of fields (2.1 sections 6.1.18-6.1.25,
//! 6.1.32, 6.1.54-6.1.55): Encrypt, Decrypt, Sign, Signature Verify, MAC, MAC Verify and Hash read a
//! [`CryptoRequest`] and answer a [`CryptoResponse`]; RNG Retrieve and RNG Seed have their own. Byte fields are
//! borrowed from the request tree, never copied, so key material and data are held once.

use crate::spec::tag::{self};
use crate::ttlv::{SecretBytes, Tag, Ttlv, Value};

use super::{Fields, ObjectRef, Request, Response, uid_item};
use crate::kmip::crypto_params::CryptographicParameters;
use crate::kmip::error::KmipError;
use crate::kmip::message::name;
use crate::kmip::version::ProtocolVersion;

/// Where a request stands in a stream (Init Indicator, Final Indicator, Correlation Value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Not streamed: the whole data in one request.
    Whole,
    /// The first request of a stream (Init Indicator true, Final Indicator not true).
    Init,
    /// A middle request of the stream with this Correlation Value.
    Continue(Vec<u8>),
    /// The last request of the stream with this Correlation Value.
    Final(Vec<u8>),
}

impl Step {
    /// Reads only the stream fields of a request payload (the engine asks before anything runs whether a batch
    /// steps a stream).
    pub fn of_payload(payload: &Ttlv) -> Result<Step, KmipError> {
        let fields = Fields::of(payload)?;
        Step::from_fields(
            fields.boolean(tag::INIT_INDICATOR)?,
            fields.boolean(tag::FINAL_INDICATOR)?,
            fields.bytes(tag::CORRELATION_VALUE)?,
        )
    }

    fn from_fields(
        init: Option<bool>,
        fin: Option<bool>,
        correlation: Option<&[u8]>,
    ) -> Result<Step, KmipError> {
        match (
            init.unwrap_or(false),
            fin.unwrap_or(false),
            correlation.map(<[u8]>::to_vec),
        ) {
            (true, true, None) | (false, false, None) => Ok(Step::Whole),
            (true, false, None) => Ok(Step::Init),
            (false, false, Some(c)) => Ok(Step::Continue(c)),
            (false, true, Some(c)) => Ok(Step::Final(c)),
            (true, _, Some(_)) => Err(KmipError::invalid_message(
                "a request with Init Indicator starts a stream and cannot carry a Correlation Value",
            )),
            (false, true, None) => Err(KmipError::invalid_message(
                "Final Indicator needs the Correlation Value of the stream it ends",
            )),
        }
    }
}

/// The request of Encrypt, Decrypt, Sign, Signature Verify, MAC, MAC Verify or Hash: each reads the fields
/// its operation defines.
#[derive(Clone, Debug, Default)]
pub struct CryptoRequest<'a> {
    /// The key (absent: the ID Placeholder; Hash names none).
    pub unique_identifier: Option<ObjectRef>,
    /// The request's Cryptographic Parameters.
    pub cryptographic_parameters: Option<CryptographicParameters>,
    /// Data.
    pub data: Option<&'a [u8]>,
    /// Digested Data (Sign, Signature Verify).
    pub digested_data: Option<&'a [u8]>,
    /// Signature Data (Signature Verify).
    pub signature_data: Option<&'a [u8]>,
    /// MAC Data (MAC Verify).
    pub mac_data: Option<&'a [u8]>,
    /// IV/Counter/Nonce (Encrypt, Decrypt).
    pub iv_counter_nonce: Option<&'a [u8]>,
    /// Authenticated Encryption Additional Data (Encrypt, Decrypt).
    pub authenticated_encryption_additional_data: Option<&'a [u8]>,
    /// Authenticated Encryption Tag (Decrypt).
    pub authenticated_encryption_tag: Option<&'a [u8]>,
    /// Init Indicator.
    pub init_indicator: Option<bool>,
    /// Final Indicator.
    pub final_indicator: Option<bool>,
    /// Correlation Value.
    pub correlation_value: Option<&'a [u8]>,
}

impl<'a> Request<'a> for CryptoRequest<'a> {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        Ok(CryptoRequest {
            unique_identifier: fields.object_ref()?,
            cryptographic_parameters: fields
                .get(tag::CRYPTOGRAPHIC_PARAMETERS)
                .map(CryptographicParameters::from_ttlv)
                .transpose()?,
            data: fields.bytes(tag::DATA)?,
            digested_data: fields.bytes(tag::DIGESTED_DATA)?,
            signature_data: fields.bytes(tag::SIGNATURE_DATA)?,
            mac_data: fields.bytes(tag::MAC_DATA)?,
            iv_counter_nonce: fields.bytes(tag::IV_COUNTER_NONCE)?,
            authenticated_encryption_additional_data: fields
                .bytes(tag::AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA)?,
            authenticated_encryption_tag: fields.bytes(tag::AUTHENTICATED_ENCRYPTION_TAG)?,
            init_indicator: fields.boolean(tag::INIT_INDICATOR)?,
            final_indicator: fields.boolean(tag::FINAL_INDICATOR)?,
            correlation_value: fields.bytes(tag::CORRELATION_VALUE)?,
        })
    }
}

impl CryptoRequest<'_> {
    /// Where the request stands in a stream.
    pub fn step(&self) -> Result<Step, KmipError> {
        Step::from_fields(
            self.init_indicator,
            self.final_indicator,
            self.correlation_value,
        )
    }

    /// Whether the request carries any stream field (Correlation Value, Init or Final Indicator).
    pub fn has_stream_fields(&self) -> bool {
        self.correlation_value.is_some()
            || self.init_indicator.is_some()
            || self.final_indicator.is_some()
    }

    /// The first field that has no meaning for RSA encryption (stream fields, IV, authenticated-encryption
    /// fields), by its specification name.
    pub fn field_without_meaning_for_rsa(&self) -> Option<String> {
        let present = [
            (tag::CORRELATION_VALUE, self.correlation_value.is_some()),
            (tag::INIT_INDICATOR, self.init_indicator.is_some()),
            (tag::FINAL_INDICATOR, self.final_indicator.is_some()),
            (tag::IV_COUNTER_NONCE, self.iv_counter_nonce.is_some()),
            (
                tag::AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA,
                self.authenticated_encryption_additional_data.is_some(),
            ),
            (
                tag::AUTHENTICATED_ENCRYPTION_TAG,
                self.authenticated_encryption_tag.is_some(),
            ),
        ];
        present
            .iter()
            .find(|(_, here)| *here)
            .map(|(t, _)| name(*t))
    }

    /// The Unique Identifier text the request gives, if it gives one as text (a continued stream's key must
    /// be the one it names).
    pub fn named_uid(&self) -> Option<&str> {
        match &self.unique_identifier {
            Some(ObjectRef::Uid(uid)) => Some(uid),
            _ => None,
        }
    }
}

/// The response of Encrypt, Decrypt, Sign, Signature Verify, MAC, MAC Verify or Hash: the fields its
/// operation answers, in the order the specification gives them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CryptoResponse {
    /// The key used (Hash uses none).
    pub unique_identifier: Option<String>,
    /// Data (Encrypt, Decrypt, Hash).
    pub data: Option<SecretBytes>,
    /// The IV/Counter/Nonce the server made (Encrypt).
    pub iv_counter_nonce: Option<Vec<u8>>,
    /// Signature Data (Sign).
    pub signature_data: Option<Vec<u8>>,
    /// MAC Data (MAC).
    pub mac_data: Option<Vec<u8>>,
    /// Validity Indicator (Signature Verify, MAC Verify).
    pub validity_indicator: Option<u32>,
    /// The Correlation Value of a stream left open.
    pub correlation_value: Option<Vec<u8>>,
    /// Authenticated Encryption Tag (Encrypt).
    pub authenticated_encryption_tag: Option<Vec<u8>>,
}

impl CryptoResponse {
    /// A response naming the key used.
    pub fn for_key(uid: &str) -> CryptoResponse {
        CryptoResponse {
            unique_identifier: Some(uid.to_string()),
            ..CryptoResponse::default()
        }
    }
}

fn bytes_item(t: Tag, bytes: &[u8]) -> Ttlv {
    Ttlv::new(t, Value::ByteString(SecretBytes::new(bytes.to_vec())))
}

impl Response for CryptoResponse {
    fn encode(&self, _version: ProtocolVersion) -> Ttlv {
        let mut out = Vec::new();
        if let Some(uid) = &self.unique_identifier {
            out.push(uid_item(uid));
        }
        if let Some(d) = &self.data {
            out.push(Ttlv::new(tag::DATA, Value::ByteString(d.clone())));
        }
        for (t, bytes) in [
            (tag::IV_COUNTER_NONCE, &self.iv_counter_nonce),
            (tag::SIGNATURE_DATA, &self.signature_data),
            (tag::MAC_DATA, &self.mac_data),
        ] {
            if let Some(b) = bytes {
                out.push(bytes_item(t, b));
            }
        }
        if let Some(v) = self.validity_indicator {
            out.push(Ttlv::new(tag::VALIDITY_INDICATOR, Value::Enumeration(v)));
        }
        for (t, bytes) in [
            (tag::CORRELATION_VALUE, &self.correlation_value),
            (
                tag::AUTHENTICATED_ENCRYPTION_TAG,
                &self.authenticated_encryption_tag,
            ),
        ] {
            if let Some(b) = bytes {
                out.push(bytes_item(t, b));
            }
        }
        Ttlv::structure(tag::RESPONSE_PAYLOAD, out)
    }
}

/// RNG Retrieve request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RngRetrieveRequest {
    /// The number of bytes wanted; required.
    pub data_length: Option<i32>,
}

impl<'a> Request<'a> for RngRetrieveRequest {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        Ok(RngRetrieveRequest {
            data_length: Fields::of(payload)?.integer(tag::DATA_LENGTH)?,
        })
    }
}

/// RNG Seed request.
#[derive(Clone, Debug)]
pub struct RngSeedRequest<'a> {
    /// The seed offered; required.
    pub data: Option<&'a [u8]>,
}

impl<'a> Request<'a> for RngSeedRequest<'a> {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        Ok(RngSeedRequest {
            data: Fields::of(payload)?.bytes(tag::DATA)?,
        })
    }
}

/// RNG Seed response: how many bytes of the seed the server used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngSeedResponse {
    /// Data Length.
    pub data_length: i32,
}

impl Response for RngSeedResponse {
    fn encode(&self, _version: ProtocolVersion) -> Ttlv {
        Ttlv::structure(
            tag::RESPONSE_PAYLOAD,
            vec![Ttlv::new(
                tag::DATA_LENGTH,
                Value::Integer(self.data_length),
            )],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_fields_make_the_step() {
        let payload = |fields: Vec<Ttlv>| Ttlv::structure(tag::REQUEST_PAYLOAD, fields);
        let init = Ttlv::new(tag::INIT_INDICATOR, Value::Boolean(true));
        let fin = Ttlv::new(tag::FINAL_INDICATOR, Value::Boolean(true));
        let corr = bytes_item(tag::CORRELATION_VALUE, b"c1");
        assert_eq!(Step::of_payload(&payload(vec![])).unwrap(), Step::Whole);
        assert_eq!(
            Step::of_payload(&payload(vec![init.clone()])).unwrap(),
            Step::Init
        );
        assert_eq!(
            Step::of_payload(&payload(vec![corr.clone(), fin.clone()])).unwrap(),
            Step::Final(b"c1".to_vec())
        );
        assert!(Step::of_payload(&payload(vec![init, corr])).is_err());
        assert!(Step::of_payload(&payload(vec![fin])).is_err());
    }

    #[test]
    fn a_crypto_response_keeps_the_specification_order() {
        let response = CryptoResponse {
            data: Some(SecretBytes::new(b"d".to_vec())),
            iv_counter_nonce: Some(b"iv".to_vec()),
            correlation_value: Some(b"c".to_vec()),
            ..CryptoResponse::for_key("k")
        }
        .encode(ProtocolVersion::V1_4);
        let tags: Vec<u32> = response.children().iter().map(|c| c.tag).collect();
        assert_eq!(
            tags,
            vec![
                tag::UNIQUE_IDENTIFIER,
                tag::DATA,
                tag::IV_COUNTER_NONCE,
                tag::CORRELATION_VALUE
            ]
        );
    }
}
