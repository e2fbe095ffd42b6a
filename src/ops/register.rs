//! Register: a client's object (Symmetric Key, Secret Data, Opaque Object, Public Key, Private Key,
//! Certificate, Split Key, PGP Key) is stored as given, with the client's attributes and the server's; a wrapped
//! key is unwrapped first when the request's Key Wrap Type is Not Wrapped.

use crate::kmip::KmipError;
use crate::spec::enums::unique_identifier as ue;
use crate::spec::enums::{key_wrap_type, link_type};

use crate::kmip::operations::IdResponse;
use crate::kmip::operations::create::RegisterRequest;

use super::OpContext;
use super::{gate, get, new_object, object};

pub use crate::kmip::operations::create::OBJECT_TAGS;

/// Runs Register.
pub(super) fn run(req: RegisterRequest, ctx: &mut OpContext<'_>) -> Result<IdResponse, KmipError> {
    let mut object = req.object;
    let attrs = req.attributes;
    // A wrapped key is unwrapped when Key Wrap Type says Not Wrapped (2.1 section 6.1.22, as for Import), and
    // is otherwise stored as provided, linked to the key that wrapped it (2.1 section 6.1.43).
    let mut wrapped_by = None;
    if get::is_wrapped(&object) {
        if req.key_wrap_type == Some(key_wrap_type::NOT_WRAPPED) {
            object = get::unwrapped(ctx, &object)?;
        } else {
            wrapped_by = object
                .key_block()
                .and_then(|kb| kb.key_wrapping_data.as_ref())
                .and_then(|d| d.encryption_key.as_ref().or(d.mac_signature_key.as_ref()))
                .map(|k| k.unique_identifier.clone());
        }
    }
    // The link is made only to a key the caller may see: a missing key and one it may not see are alike (no
    // link), so the answer tells nothing about another owner's keys.
    if let Some(uid) = &wrapped_by
        && !gate::sees(ctx, uid)?
    {
        wrapped_by = None;
    }
    let mut managed = new_object::build(ctx, object, attrs)?;
    if let Some(wrapping) = wrapped_by {
        managed
            .attrs
            .add(new_object::link(link_type::WRAPPING_KEY_LINK, &wrapping));
    }
    object::save(ctx, &[&managed])?;
    ctx.batch.produced(ue::REGISTER, &managed.uid);
    Ok(IdResponse {
        unique_identifier: managed.uid,
    })
}
