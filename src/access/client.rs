//! Grant management as KMIP: three vendor-specific operations (KMIP lets vendors define operations in the
//! 0x8000_0000 range) whose request and response payloads carry one vendor Text String holding JSON. The
//! engine answers them (`ops::access_admin`) only for administrators and, per object, its owner; the
//! `kmipd grant`/`revoke`/`grants list` commands send them through `client::access_admin`.

use crate::kmip::Operation;
use crate::ttlv::{Ttlv, Value};

/// Vendor operation: store a grant.
pub const OP_GRANT: Operation = Operation(0x8000_4B01);
/// Vendor operation: remove a grant by its identifier.
pub const OP_REVOKE_GRANT: Operation = Operation(0x8000_4B02);
/// Vendor operation: list the grants the caller may manage.
pub const OP_LIST_GRANTS: Operation = Operation(0x8000_4B03);
/// Vendor extension tag of the JSON text in the payloads.
pub const TAG_ACCESS_JSON: u32 = 0x54_4B01;

/// A payload (request or response) carrying `json`.
pub fn payload(payload_tag: u32, json: &str) -> Ttlv {
    Ttlv::structure(payload_tag, vec![payload_json_item(json)])
}

/// The JSON a payload carries.
pub fn payload_json(payload: &Ttlv) -> Option<&str> {
    match payload.child(TAG_ACCESS_JSON).map(|j| &j.value) {
        Some(Value::TextString(s)) => Some(s),
        _ => None,
    }
}

/// The payload item carrying `json`.
pub fn payload_json_item(json: &str) -> Ttlv {
    Ttlv::new(TAG_ACCESS_JSON, Value::TextString(json.to_string()))
}
