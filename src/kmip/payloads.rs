//! The request and response payloads of the operations implemented so far, read from and written to each
//! version's TTLV. What a version's payload may carry is decided here, not in the operations.

use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

use super::enums::{AttestationType, ObjectType, Operation, QueryFunction, RngAlgorithm};
use super::error::KmipError;
use super::message::name;
use super::version::ProtocolVersion;

/// Discover Versions request: the client's versions, most preferred first; may be empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoverVersionsRequest {
    /// The client's versions.
    pub versions: Vec<ProtocolVersion>,
}

/// Discover Versions response: the versions both sides speak, in the server's order of preference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoverVersionsResponse {
    /// The shared versions.
    pub versions: Vec<ProtocolVersion>,
}

impl DiscoverVersionsRequest {
    /// Reads the Request Payload. `strict` makes an unknown field an error (a request of a version the server
    /// speaks exactly); otherwise unknown fields are ignored, as from a newer minor version.
    pub fn from_payload(payload: &Ttlv, strict: bool) -> Result<Self, KmipError> {
        let mut versions = Vec::new();
        for f in children(payload)? {
            match f.tag {
                tag::PROTOCOL_VERSION => versions.push(ProtocolVersion::from_ttlv(f)?),
                _ if strict => return Err(unexpected(f, "the Discover Versions Request Payload")),
                _ => {}
            }
        }
        Ok(DiscoverVersionsRequest { versions })
    }
}

impl DiscoverVersionsResponse {
    /// The Response Payload (the same in every version).
    pub fn to_payload(&self) -> Ttlv {
        Ttlv::structure(
            tag::RESPONSE_PAYLOAD,
            self.versions.iter().map(|v| v.to_ttlv()).collect(),
        )
    }
}

/// Query request: the functions asked for, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryRequest {
    /// The Query Functions, possibly unknown values.
    pub functions: Vec<QueryFunction>,
}

impl QueryRequest {
    /// Reads the Request Payload; at least one Query Function is required. Object Groups (2.1) is accepted: the
    /// server's answers do not depend on it. `strict` as for [`DiscoverVersionsRequest::from_payload`].
    pub fn from_payload(payload: &Ttlv, strict: bool) -> Result<Self, KmipError> {
        let mut functions = Vec::new();
        let mut groups = 0;
        for f in children(payload)? {
            match (f.tag, &f.value) {
                (tag::QUERY_FUNCTION, Value::Enumeration(e)) => functions.push(QueryFunction(*e)),
                (tag::QUERY_FUNCTION, _) => {
                    return Err(KmipError::invalid_message(
                        "Query Function must be an Enumeration",
                    ));
                }
                (tag::OBJECT_GROUPS, Value::Structure(_)) if groups == 0 => groups += 1,
                (tag::OBJECT_GROUPS, _) => {
                    return Err(KmipError::invalid_message(
                        "Object Groups must be one structure",
                    ));
                }
                _ if strict => return Err(unexpected(f, "the Query Request Payload")),
                _ => {}
            }
        }
        if functions.is_empty() {
            return Err(KmipError::invalid_message(
                "Query Request Payload lacks a Query Function",
            ));
        }
        Ok(QueryRequest { functions })
    }
}

/// Server Information: vendor-specific in 1.x, with standard fields from 2.0 on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerInformation {
    /// The server's name.
    pub server_name: Option<String>,
    /// The server's version.
    pub server_version: Option<String>,
    /// The product's name.
    pub product_name: Option<String>,
    /// The build.
    pub build_level: Option<String>,
}

/// Capability Information (1.3 and later): what the server can do beyond plain synchronous batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapabilityInformation {
    /// Streaming cryptographic operations (Init/Final Indicators).
    pub streaming_capability: bool,
    /// Asynchronous processing of batch items.
    pub asynchronous_capability: bool,
    /// Attestation credentials.
    pub attestation_capability: bool,
    /// Batch Error Continuation Option Undo.
    pub batch_undo_capability: bool,
    /// Batch Error Continuation Option Continue.
    pub batch_continue_capability: bool,
}

/// RNG Parameters (1.3 and later): a random number generator the server uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngParameters {
    /// Unspecified when the server does not detail its generator.
    pub rng_algorithm: RngAlgorithm,
    /// The block cipher or hash the generator is built on (Cryptographic Algorithm value), if any.
    pub cryptographic_algorithm: Option<u32>,
    /// That algorithm's strength in bits.
    pub cryptographic_length: Option<i32>,
    /// DRBG Algorithm value, for a DRBG.
    pub drbg_algorithm: Option<u32>,
}

/// Query response. Kinds of answer the server never gives (Extension Information, Profile Information,
/// Validation Information, Defaults Information) have no field yet.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct QueryResponse {
    /// Query Operations: the operations implemented.
    pub operations: Vec<Operation>,
    /// Query Objects: the object types the server can hold.
    pub object_types: Vec<ObjectType>,
    /// Query Server Information: who made the server.
    pub vendor_identification: Option<String>,
    /// Query Server Information: what server it is.
    pub server_information: Option<ServerInformation>,
    /// Query Application Namespaces: namespaces the server generates Application Data for.
    pub application_namespaces: Vec<String>,
    /// Query Attestation Types (1.2 and later).
    pub attestation_types: Vec<AttestationType>,
    /// Query RNGs (1.3 and later).
    pub rng_parameters: Vec<RngParameters>,
    /// Query Capabilities (1.3 and later).
    pub capability_information: Vec<CapabilityInformation>,
    /// Client Registration Method values.
    pub client_registration_methods: Vec<u32>,
    /// `Some` when asked for: the Protection Storage Mask values the server offers (2.0 and later).
    pub protection_storage_masks: Option<Vec<i32>>,
}

impl QueryResponse {
    /// The Response Payload in `version`, fields in the specification's order, leaving out what the version
    /// does not define.
    pub fn to_payload(&self, version: ProtocolVersion) -> Ttlv {
        let enumeration = |t, v| Ttlv::new(t, Value::Enumeration(v));
        let text = |t, s: &String| Ttlv::new(t, Value::TextString(s.clone()));
        let mut out = Vec::new();
        // Only what the request's version defines: a 1.x client that decodes the list strictly fails on an
        // operation or object type its version does not know (Set Attribute, 0x31, in a 1.4 answer).
        out.extend(
            self.operations
                .iter()
                .filter(|o| defined_in("Operation", o.0, version))
                .map(|o| enumeration(tag::OPERATION, o.0)),
        );
        out.extend(
            self.object_types
                .iter()
                .filter(|o| defined_in("ObjectType", o.0, version))
                .map(|o| enumeration(tag::OBJECT_TYPE, o.0)),
        );
        if let Some(v) = &self.vendor_identification {
            out.push(text(tag::VENDOR_IDENTIFICATION, v));
        }
        if let Some(info) = &self.server_information {
            let mut fields = Vec::new();
            // 1.x Server Information is vendor-specific; the standard fields arrived in 2.0.
            if version.is_2x() {
                let standard = [
                    (tag::SERVER_NAME, &info.server_name),
                    (tag::SERVER_VERSION, &info.server_version),
                    (tag::PRODUCT_NAME, &info.product_name),
                    (tag::BUILD_LEVEL, &info.build_level),
                ];
                fields.extend(
                    standard
                        .into_iter()
                        .filter_map(|(t, v)| v.as_ref().map(|s| text(t, s))),
                );
            }
            out.push(Ttlv::structure(tag::SERVER_INFORMATION, fields));
        }
        out.extend(
            self.application_namespaces
                .iter()
                .map(|n| text(tag::APPLICATION_NAMESPACE, n)),
        );
        if version >= ProtocolVersion::V1_2 {
            out.extend(
                self.attestation_types
                    .iter()
                    .map(|a| enumeration(tag::ATTESTATION_TYPE, a.0)),
            );
        }
        if version >= ProtocolVersion::V1_3 {
            out.extend(self.rng_parameters.iter().map(|r| {
                let mut fields = vec![enumeration(tag::RNG_ALGORITHM, r.rng_algorithm.0)];
                fields.extend(
                    r.cryptographic_algorithm
                        .map(|a| enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, a)),
                );
                fields.extend(
                    r.cryptographic_length
                        .map(|l| Ttlv::new(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(l))),
                );
                fields.extend(
                    r.drbg_algorithm
                        .map(|d| enumeration(tag::DRBG_ALGORITHM, d)),
                );
                Ttlv::structure(tag::RNG_PARAMETERS, fields)
            }));
            out.extend(self.capability_information.iter().map(|c| {
                let flag = |t, b| Ttlv::new(t, Value::Boolean(b));
                Ttlv::structure(
                    tag::CAPABILITY_INFORMATION,
                    vec![
                        flag(tag::STREAMING_CAPABILITY, c.streaming_capability),
                        flag(tag::ASYNCHRONOUS_CAPABILITY, c.asynchronous_capability),
                        flag(tag::ATTESTATION_CAPABILITY, c.attestation_capability),
                        flag(tag::BATCH_UNDO_CAPABILITY, c.batch_undo_capability),
                        flag(tag::BATCH_CONTINUE_CAPABILITY, c.batch_continue_capability),
                    ],
                )
            }));
            out.extend(
                self.client_registration_methods
                    .iter()
                    .map(|m| enumeration(tag::CLIENT_REGISTRATION_METHOD, *m)),
            );
        }
        if version.is_2x()
            && let Some(masks) = &self.protection_storage_masks
        {
            let masks = masks
                .iter()
                .map(|m| Ttlv::new(tag::PROTECTION_STORAGE_MASK, Value::Integer(*m)));
            out.push(Ttlv::structure(
                tag::PROTECTION_STORAGE_MASKS,
                masks.collect(),
            ));
        }
        Ttlv::structure(tag::RESPONSE_PAYLOAD, out)
    }
}

/// Whether `version` defines `value` of the enumeration `enumeration`. Values of the extension range
/// (0x8xxxxxxx, the vendor operations) exist in every version.
fn defined_in(enumeration: &str, value: u32, version: ProtocolVersion) -> bool {
    value & 0x8000_0000 != 0
        || crate::spec::enumeration(enumeration)
            .and_then(|e| e.name_in(value, version.major, version.minor))
            .is_some()
}

fn children(payload: &Ttlv) -> Result<&[Ttlv], KmipError> {
    match &payload.value {
        Value::Structure(c) => Ok(c),
        _ => Err(KmipError::invalid_message(
            "Request Payload is not a structure",
        )),
    }
}

fn unexpected(f: &Ttlv, what: &str) -> KmipError {
    KmipError::invalid_field(format!("{} is not a field of {what}", name(f.tag)))
}
