//! Query: what the server can do, answered truthfully from what is implemented, never from a wish list.

use crate::kmip::KmipError;
use crate::kmip::enums::{ObjectType, QueryFunction, RngAlgorithm};
use crate::kmip::payloads::{CapabilityInformation, QueryRequest, QueryResponse, RngParameters};
use crate::ttlv::Ttlv;

use super::{OpContext, new_object, operations_for};

/// Answers each Query Function asked for. Functions whose truthful answer is "none" (object types, until
/// objects can be stored; application namespaces; extensions; attestation types; validations; profiles; client
/// registration methods; defaults) contribute nothing, which the specification allows ("the response payload is
/// empty if there are no values to return"). An undefined Query Function is an Invalid Field.
pub(super) fn run(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let request = QueryRequest::from_payload(payload, ctx.strict)?;
    let mut response = QueryResponse::default();
    for function in &request.functions {
        match *function {
            QueryFunction::QUERY_OPERATIONS => {
                response.operations = operations_for(ctx.config).collect()
            }
            // The object types Register accepts.
            QueryFunction::QUERY_OBJECTS => {
                response.object_types = super::register::OBJECT_TAGS
                    .iter()
                    .map(|(object_type, _)| ObjectType(*object_type))
                    .collect()
            }
            QueryFunction::QUERY_SERVER_INFORMATION => {
                response.vendor_identification = Some(ctx.config.vendor_identification.clone());
                response.server_information = Some(ctx.config.server_information.clone());
            }
            // The generator keys are made with, as their Random Number Generator attribute states it.
            QueryFunction::QUERY_RNGS => {
                response.rng_parameters = vec![RngParameters {
                    rng_algorithm: RngAlgorithm::DRBG,
                    cryptographic_algorithm: Some(crate::spec::enums::cryptographic_algorithm::AES),
                    cryptographic_length: Some(new_object::SERVER_RNG_AES_BITS),
                    drbg_algorithm: Some(crate::spec::enums::drbg_algorithm::CTR),
                }]
            }
            QueryFunction::QUERY_CAPABILITIES => {
                response.capability_information = vec![CapabilityInformation {
                    // Encrypt, Decrypt, MAC and Hash stream (Init/Final Indicator, Correlation Value).
                    streaming_capability: true,
                    asynchronous_capability: false,
                    attestation_capability: false,
                    batch_undo_capability: true,
                    batch_continue_capability: true,
                }]
            }
            // Protection Storage Masks is required when asked for; an empty list is allowed.
            QueryFunction::QUERY_STORAGE_PROTECTION_MASKS => {
                response.protection_storage_masks = Some(Vec::new())
            }
            QueryFunction::QUERY_APPLICATION_NAMESPACES
            | QueryFunction::QUERY_EXTENSION_LIST
            | QueryFunction::QUERY_EXTENSION_MAP
            | QueryFunction::QUERY_ATTESTATION_TYPES
            | QueryFunction::QUERY_VALIDATIONS
            | QueryFunction::QUERY_PROFILES
            | QueryFunction::QUERY_CLIENT_REGISTRATION_METHODS
            | QueryFunction::QUERY_DEFAULTS_INFORMATION => {}
            other => {
                return Err(KmipError::invalid_field(format!(
                    "Query Function {other} is not defined"
                )));
            }
        }
    }
    Ok(response.to_payload(ctx.version))
}
