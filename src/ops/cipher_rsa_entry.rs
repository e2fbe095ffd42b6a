//! Encrypt and Decrypt for RSA keys until `cipher.rs` dispatches Public and Private Key objects to `asym_cipher`
//! (the integrator folds this file into it): loads the named key and hands it over.

use crate::kmip::KmipError;
use crate::kmip::enums::ObjectType;
use crate::ttlv::Ttlv;

use super::OpContext;
use super::asym_cipher;
use super::object;

/// Encrypt and Decrypt with other keys belong to `cipher.rs`, not on this branch.
fn asymmetric_only(key: &object::Managed, operation: &str) -> Result<(), KmipError> {
    if key.object_type == ObjectType::PUBLIC_KEY.0 || key.object_type == ObjectType::PRIVATE_KEY.0 {
        return Ok(());
    }
    Err(KmipError::operation_not_supported(format!(
        "{operation} with a {} is not implemented here",
        ObjectType(key.object_type)
    )))
}

/// Runs Encrypt with an RSA key.
pub(super) fn encrypt(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let key = object::load_named(ctx, payload)?;
    asymmetric_only(&key, "Encrypt")?;
    let request = asym_cipher::read_request(payload)?;
    asym_cipher::encrypt(
        ctx,
        &key,
        &request.params.unwrap_or_default(),
        &request.data,
    )
}

/// Runs Decrypt with an RSA key.
pub(super) fn decrypt(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let key = object::load_named(ctx, payload)?;
    asymmetric_only(&key, "Decrypt")?;
    let request = asym_cipher::read_request(payload)?;
    asym_cipher::decrypt(
        ctx,
        &key,
        &request.params.unwrap_or_default(),
        &request.data,
    )
}
