//! Grant management against a running server: three vendor-specific KMIP operations (KMIP lets vendors define
//! operations in the 0x8000_0000 range) whose request and response payloads carry one vendor Text String
//! holding JSON, sent by the `kmipd grant`/`revoke`/`grants list` commands through [`crate::client`].
//! The server answers them only for administrators and, per object, its owner.

pub use crate::client::Connection;
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

/// A KMIP 1.4 request message with one batch item of `operation` carrying `json`.
pub fn request(operation: Operation, json: &str) -> Ttlv {
    crate::client::request(operation, vec![payload_json_item(json)])
}

fn payload_json_item(json: &str) -> Ttlv {
    Ttlv::new(TAG_ACCESS_JSON, Value::TextString(json.to_string()))
}

/// The JSON of a successful response, or the failure's reason and message.
pub fn response_json(response: &Ttlv) -> Result<String, String> {
    let payload = crate::client::success_payload(response).map_err(|e| e.to_string())?;
    payload_json(payload)
        .map(str::to_string)
        .ok_or_else(|| "the response carries no JSON".to_string())
}

/// Sends one vendor request over mutual TLS and returns the response's JSON.
pub fn call(conn: &Connection<'_>, operation: Operation, json: &str) -> Result<String, String> {
    let response =
        crate::client::exchange(conn, &request(operation, json)).map_err(|e| e.to_string())?;
    response_json(&response)
}
