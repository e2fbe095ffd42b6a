//! The engine's audit lines: a change writes its intent line before it runs, its outcome after, and an Undo
//! batch's undone items get a line saying so.

use std::sync::Arc;

use super::test_support::*;
use super::*;
use crate::access::AccessControl;
use crate::access::audit::{AuditKey, AuditLog, AuditSettings, INTENT};
use crate::spec::enums::{cryptographic_algorithm as alg, object_type as ot};
use crate::spec::tag;
use crate::store::MasterKey;
use crate::ttlv::Value;

fn aes_create() -> (Operation, Vec<Ttlv>) {
    let attr = |name: &str, value: Value| {
        st(
            tag::ATTRIBUTE,
            vec![
                text(tag::ATTRIBUTE_NAME, name),
                v(tag::ATTRIBUTE_VALUE, value),
            ],
        )
    };
    (
        Operation::CREATE,
        vec![
            en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
            st(
                tag::TEMPLATE_ATTRIBUTE,
                vec![
                    attr("Cryptographic Algorithm", Value::Enumeration(alg::AES)),
                    attr("Cryptographic Length", Value::Integer(128)),
                ],
            ),
        ],
    )
}

#[test]
fn a_change_is_preceded_by_its_intent_and_an_undone_item_is_recorded_as_undone() {
    let dir = tempfile::tempdir().unwrap();
    let key = AuditKey::derive(&MasterKey::from_bytes([7; 32])).unwrap();
    let log =
        Arc::new(AuditLog::open(&dir.path().join("audit"), AuditSettings::default(), key).unwrap());
    let engine = Engine::open(EngineConfig {
        data_dir: dir.path().to_path_buf(),
        access: AccessControl {
            audit: Some(log),
            ..AccessControl::default()
        },
        ..EngineConfig::default()
    })
    .unwrap();
    let mut req = request(
        1,
        4,
        vec![aes_create(), (Operation::GET, vec![uid("no-such-object")])],
    );
    // Batch Error Continuation Option Undo.
    let Value::Structure(fields) = &mut req.value else {
        unreachable!()
    };
    let Value::Structure(header) = &mut fields[0].value else {
        unreachable!()
    };
    header.insert(1, en(tag::BATCH_ERROR_CONTINUATION_OPTION, 3));
    engine.handle_request(&req);

    let text = std::fs::read_to_string(dir.path().join("audit").join("audit.log")).unwrap();
    let lines: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["operation"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let pair = |op: &str, status: &str| (op.to_string(), status.to_string());
    assert_eq!(
        lines,
        vec![
            pair("Create", INTENT),
            pair("Create", "success"),
            // Get is read-only: no intent line.
            pair("Get", "failure"),
            pair("Create", "undone"),
        ]
    );
}
