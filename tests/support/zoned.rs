//! Helpers of the replication tests: KMIP requests that create and read keys, their outcomes as values (a
//! refused change is an expected answer there, not a panic), and read-only looks into a zone's SQLite file.

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use kmipd::spec::enums::{cryptographic_algorithm, object_type, operation, result_status};
use kmipd::spec::tag;
use kmipd::store::{DB_FILE_NAME, MASTER_KEY_FILE_NAME, MasterKey, Store};
use kmipd::ttlv::{Ttlv, Value};

use super::kmip::*;

/// KMIP 1.4, what most clients speak.
pub const V14: (i32, i32) = (1, 4);

/// Create an AES-256 key named `name`.
pub fn create_request(name: &str) -> Ttlv {
    let attributes = vec![
        attribute(
            "Cryptographic Algorithm",
            None,
            Value::Enumeration(cryptographic_algorithm::AES),
        ),
        attribute("Cryptographic Length", None, Value::Integer(256)),
        attribute("Cryptographic Usage Mask", None, Value::Integer(12)),
        attribute_structure("Name", name_value(name)),
    ];
    request(
        V14,
        vec![item(
            operation::CREATE,
            vec![
                enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
                template_attribute(attributes),
            ],
        )],
    )
}

/// A one-item request naming `uid`.
pub fn on_uid(op: u32, uid_text: &str) -> Ttlv {
    request(V14, vec![item(op, vec![uid(uid_text)])])
}

/// Locate by Name.
pub fn locate_by_name(name: &str) -> Ttlv {
    request(
        V14,
        vec![item(
            operation::LOCATE,
            vec![attribute_structure("Name", name_value(name))],
        )],
    )
}

/// The only batch item's payload, or its Result Message when it failed.
pub fn outcome(response: &Ttlv) -> Result<Ttlv, String> {
    let items = batch_items(response);
    let item = items.first().ok_or("no batch item")?;
    if item.child(tag::RESULT_STATUS).map(|s| &s.value)
        == Some(&Value::Enumeration(result_status::SUCCESS))
    {
        return item
            .child(tag::RESPONSE_PAYLOAD)
            .cloned()
            .ok_or_else(|| "success without payload".to_string());
    }
    Err(match item.child(tag::RESULT_MESSAGE).map(|m| &m.value) {
        Some(Value::TextString(m)) => m.clone(),
        other => format!("failed without message: {other:?}"),
    })
}

/// The Unique Identifier of a payload.
pub fn uid_of(payload: &Ttlv) -> String {
    text_child(payload, tag::UNIQUE_IDENTIFIER)
}

/// The uids a Locate payload returned.
pub fn located(payload: &Ttlv) -> Vec<String> {
    payload
        .children_with(tag::UNIQUE_IDENTIFIER)
        .map(|u| match &u.value {
            Value::TextString(s) => s.clone(),
            other => panic!("uid is not text: {other:?}"),
        })
        .collect()
}

/// Opens a zone's file on its own (as another process would) under the data directory's master key.
pub fn open_zone(data_dir: &Path, zone_dir: &Path) -> Store {
    let master = MasterKey::from_file(&data_dir.join(MASTER_KEY_FILE_NAME)).unwrap();
    Store::open(&zone_dir.join(DB_FILE_NAME), master).unwrap()
}

/// Polls `check` every 50 ms until it holds or `limit` passes; panics with `what` on timeout.
pub fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
