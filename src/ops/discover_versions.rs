//! Discover Versions: which protocol versions client and server share, in the server's order of preference.

use crate::kmip::payloads::{DiscoverVersionsRequest, DiscoverVersionsResponse};
use crate::kmip::{KmipError, ProtocolVersion};
use crate::ttlv::Ttlv;

use super::OpContext;

/// Every supported version when the client lists none; otherwise those of the client's that the server speaks,
/// ordered by the server's preference (the response is "ranked in decreasing order of preference" of the
/// server, 2.1 section 6.1.16). No shared version gives an empty list, not an error.
pub(super) fn run(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let request = DiscoverVersionsRequest::from_payload(payload, ctx.strict)?;
    let versions = ProtocolVersion::SUPPORTED
        .into_iter()
        .filter(|v| request.versions.is_empty() || request.versions.contains(v))
        .collect();
    Ok(DiscoverVersionsResponse { versions }.to_payload())
}
