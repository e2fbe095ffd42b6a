//! What the operation tests share: an engine over a fresh store in a temporary directory (the directory lives
//! exactly as long as the engine), a fixed clock, TTLV field builders, requests of any version built from
//! (operation, payload) items, and readers of the answers. Each test file keeps only the helpers of its own.

use std::ops::Deref;

use super::{Engine, EngineConfig, Operation};
use crate::kmip::{ProtocolVersion, ResultStatus};
use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

/// The time the tests' engines see: fixed, so that dates in answers can be compared exactly.
pub(crate) const NOW: i64 = 1_700_000_000;

/// An engine and the temporary data directory its store lives in.
pub(crate) struct TestEngine {
    engine: Engine,
    _dir: tempfile::TempDir,
}

impl Deref for TestEngine {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.engine
    }
}

/// Opens an engine on a new temporary store, its clock fixed at `now`.
pub(crate) fn engine_at(clock: fn() -> i64) -> TestEngine {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineConfig {
        clock,
        data_dir: dir.path().to_path_buf(),
        ..EngineConfig::default()
    })
    .unwrap();
    TestEngine { engine, _dir: dir }
}

/// An engine on a new temporary store whose clock stands at [`NOW`].
pub(crate) fn engine() -> TestEngine {
    engine_at(|| NOW)
}

/// A field of any type.
pub(crate) fn v(t: u32, value: Value) -> Ttlv {
    Ttlv::new(t, value)
}

/// A Text String field.
pub(crate) fn text(t: u32, s: &str) -> Ttlv {
    v(t, Value::TextString(s.to_string()))
}

/// An Enumeration field.
pub(crate) fn en(t: u32, e: u32) -> Ttlv {
    v(t, Value::Enumeration(e))
}

/// An Integer field.
pub(crate) fn int(t: u32, i: i32) -> Ttlv {
    v(t, Value::Integer(i))
}

/// A Byte String field.
pub(crate) fn b(t: u32, bytes: &[u8]) -> Ttlv {
    v(t, Value::ByteString(bytes.to_vec().into()))
}

/// A Structure.
pub(crate) fn st(t: u32, children: Vec<Ttlv>) -> Ttlv {
    Ttlv::structure(t, children)
}

/// A Secret Data object of `kind` (Secret Data Type) holding `material` in Opaque format.
pub(crate) fn secret_data(kind: u32, material: &[u8]) -> Ttlv {
    st(
        tag::SECRET_DATA,
        vec![
            en(tag::SECRET_DATA_TYPE, kind),
            st(
                tag::KEY_BLOCK,
                vec![
                    en(
                        tag::KEY_FORMAT_TYPE,
                        crate::spec::enums::key_format_type::OPAQUE,
                    ),
                    st(tag::KEY_VALUE, vec![b(tag::KEY_MATERIAL, material)]),
                ],
            ),
        ],
    )
}

/// A Unique Identifier field naming `u`.
pub(crate) fn uid(u: &str) -> Ttlv {
    text(tag::UNIQUE_IDENTIFIER, u)
}

/// A request of `major.minor` with these (operation, payload) items; a batch of more than one item carries
/// Unique Batch Item IDs 1, 2, ...
pub(crate) fn request(major: i32, minor: i32, items: Vec<(Operation, Vec<Ttlv>)>) -> Ttlv {
    let count = i32::try_from(items.len()).unwrap();
    let mut fields = vec![st(
        tag::REQUEST_HEADER,
        vec![
            ProtocolVersion::new(major, minor).to_ttlv(),
            int(tag::BATCH_COUNT, count),
        ],
    )];
    for (i, (op, payload)) in items.into_iter().enumerate() {
        let mut item = vec![en(tag::OPERATION, op.0)];
        if count > 1 {
            let id = u8::try_from(i + 1).unwrap();
            item.push(v(
                tag::UNIQUE_BATCH_ITEM_ID,
                Value::ByteString(vec![id].into()),
            ));
        }
        item.push(st(tag::REQUEST_PAYLOAD, payload));
        fields.push(st(tag::BATCH_ITEM, item));
    }
    st(tag::REQUEST_MESSAGE, fields)
}

/// Runs a request and returns its response batch items.
pub(crate) fn run(
    engine: &Engine,
    major: i32,
    minor: i32,
    items: Vec<(Operation, Vec<Ttlv>)>,
) -> Vec<Ttlv> {
    let resp = engine.handle_request(&request(major, minor, items));
    resp.children_with(tag::BATCH_ITEM).cloned().collect()
}

/// Runs one item and returns its response batch item, whatever its status.
pub(crate) fn answer(
    engine: &Engine,
    major: i32,
    minor: i32,
    op: Operation,
    payload: Vec<Ttlv>,
) -> Ttlv {
    run(engine, major, minor, vec![(op, payload)])
        .into_iter()
        .next()
        .unwrap()
}

/// Runs one item that must succeed and returns its response payload.
pub(crate) fn ok(
    engine: &Engine,
    major: i32,
    minor: i32,
    op: Operation,
    payload: Vec<Ttlv>,
) -> Ttlv {
    let item = answer(engine, major, minor, op, payload);
    assert_eq!(
        status(&item),
        ResultStatus::Success.code(),
        "{op}: {item:?}"
    );
    item.child(tag::RESPONSE_PAYLOAD).unwrap().clone()
}

/// Runs one item that must fail and returns its Result Reason code.
pub(crate) fn fails(
    engine: &Engine,
    major: i32,
    minor: i32,
    op: Operation,
    payload: Vec<Ttlv>,
) -> u32 {
    let item = answer(engine, major, minor, op, payload);
    assert_eq!(
        status(&item),
        ResultStatus::OperationFailed.code(),
        "{op}: {item:?}"
    );
    enum_of(&item, tag::RESULT_REASON)
}

/// The Enumeration field `t` of `item`.
pub(crate) fn enum_of(item: &Ttlv, t: u32) -> u32 {
    match item.child(t).unwrap().value {
        Value::Enumeration(e) => e,
        _ => panic!("{t:#08x} is not an enumeration"),
    }
}

/// The Result Status of a response batch item.
pub(crate) fn status(item: &Ttlv) -> u32 {
    enum_of(item, tag::RESULT_STATUS)
}

/// The Text String field `t` of `payload`.
pub(crate) fn text_of(payload: &Ttlv, t: u32) -> String {
    match &payload.child(t).unwrap().value {
        Value::TextString(s) => s.clone(),
        other => panic!("{t:#08x} is not text: {other:?}"),
    }
}

/// The Byte String field `t` of `payload`.
pub(crate) fn bytes_of(payload: &Ttlv, t: u32) -> Vec<u8> {
    match &payload.child(t).unwrap().value {
        Value::ByteString(b) => b.as_slice().to_vec(),
        other => panic!("{t:#08x} is not bytes: {other:?}"),
    }
}
