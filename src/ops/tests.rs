//! Engine tests: requests built by hand as item trees for each header generation, answered through
//! [`Engine::handle_request`], and frames answered through [`Engine::respond_to_frame`].

use super::test_support::{NOW, en as enumeration, engine, int};
use super::*;
use crate::kmip::enums::QueryFunction;
use crate::kmip::{ResultReason, ResultStatus};
use crate::spec::tag;
use crate::ttlv::{self, Value};

fn version(major: i32, minor: i32) -> Ttlv {
    ProtocolVersion::new(major, minor).to_ttlv()
}

fn header(major: i32, minor: i32, extra: Vec<Ttlv>, batch_count: i32) -> Ttlv {
    let mut fields = vec![version(major, minor)];
    fields.extend(extra);
    fields.push(int(tag::BATCH_COUNT, batch_count));
    Ttlv::structure(tag::REQUEST_HEADER, fields)
}

fn item(operation: Operation, id: Option<&[u8]>, payload: Vec<Ttlv>) -> Ttlv {
    let mut fields = vec![enumeration(tag::OPERATION, operation.0)];
    if let Some(id) = id {
        fields.push(Ttlv::new(
            tag::UNIQUE_BATCH_ITEM_ID,
            Value::ByteString(id.into()),
        ));
    }
    fields.push(Ttlv::structure(tag::REQUEST_PAYLOAD, payload));
    Ttlv::structure(tag::BATCH_ITEM, fields)
}

fn request(header: Ttlv, items: Vec<Ttlv>) -> Ttlv {
    let mut fields = vec![header];
    fields.extend(items);
    Ttlv::structure(tag::REQUEST_MESSAGE, fields)
}

fn query(functions: &[QueryFunction]) -> Vec<Ttlv> {
    functions
        .iter()
        .map(|f| enumeration(tag::QUERY_FUNCTION, f.0))
        .collect()
}

/// A one-item request of `major.minor` with only the required header fields.
fn single(major: i32, minor: i32, item: Ttlv) -> Ttlv {
    request(header(major, minor, vec![], 1), vec![item])
}

fn response_items(response: &Ttlv) -> Vec<&Ttlv> {
    assert_eq!(response.tag, tag::RESPONSE_MESSAGE);
    response.children_with(tag::BATCH_ITEM).collect()
}

fn response_version(response: &Ttlv) -> ProtocolVersion {
    let header = response.child(tag::RESPONSE_HEADER).unwrap();
    ProtocolVersion::from_ttlv(header.child(tag::PROTOCOL_VERSION).unwrap()).unwrap()
}

fn tags(t: &Ttlv) -> Vec<u32> {
    t.children().iter().map(|c| c.tag).collect()
}

fn status(item: &Ttlv) -> u32 {
    match item.child(tag::RESULT_STATUS).unwrap().value {
        Value::Enumeration(e) => e,
        _ => panic!("Result Status is not an enumeration"),
    }
}

fn reason(item: &Ttlv) -> Option<u32> {
    item.child(tag::RESULT_REASON).map(|r| match r.value {
        Value::Enumeration(e) => e,
        _ => panic!("Result Reason is not an enumeration"),
    })
}

fn versions_in(payload: &Ttlv) -> Vec<ProtocolVersion> {
    payload
        .children()
        .iter()
        .map(|v| ProtocolVersion::from_ttlv(v).unwrap())
        .collect()
}

fn enums_in(payload: &Ttlv, t: u32) -> Vec<u32> {
    payload
        .children_with(t)
        .map(|c| match c.value {
            Value::Enumeration(e) => e,
            _ => panic!("not an enumeration"),
        })
        .collect()
}

fn assert_failed(item: &Ttlv, expected: ResultReason, version: ProtocolVersion) {
    assert_eq!(
        status(item),
        ResultStatus::OperationFailed.code(),
        "{item:?}"
    );
    assert_eq!(reason(item), Some(expected.code_in(version)), "{item:?}");
    assert!(item.child(tag::RESPONSE_PAYLOAD).is_none());
}

#[test]
fn every_header_generation_is_answered_in_its_own_version() {
    let cases: Vec<(i32, i32, Vec<Ttlv>)> = vec![
        (1, 0, vec![int(tag::MAXIMUM_RESPONSE_SIZE, 100_000)]),
        (
            1,
            2,
            vec![
                Ttlv::new(tag::ASYNCHRONOUS_INDICATOR, Value::Boolean(false)),
                Ttlv::new(tag::ATTESTATION_CAPABLE_INDICATOR, Value::Boolean(false)),
            ],
        ),
        (
            1,
            4,
            vec![
                Ttlv::new(
                    tag::CLIENT_CORRELATION_VALUE,
                    Value::TextString("c-1".into()),
                ),
                Ttlv::new(tag::BATCH_ORDER_OPTION, Value::Boolean(true)),
                Ttlv::new(tag::TIME_STAMP, Value::DateTime(NOW - 5)),
            ],
        ),
        (2, 0, vec![enumeration(tag::ASYNCHRONOUS_INDICATOR, 3)]),
        (
            2,
            1,
            vec![
                Ttlv::new(
                    tag::CLIENT_CORRELATION_VALUE,
                    Value::TextString("QS step=0".into()),
                ),
                Ttlv::new(
                    tag::SERVER_CORRELATION_VALUE,
                    Value::TextString("s-1".into()),
                ),
                enumeration(tag::BATCH_ERROR_CONTINUATION_OPTION, 2),
            ],
        ),
    ];
    for (major, minor, extra) in cases {
        let req = request(
            header(major, minor, extra, 1),
            vec![item(Operation::DISCOVER_VERSIONS, None, vec![])],
        );
        let resp = engine().handle_request(&req);
        let v = ProtocolVersion::new(major, minor);
        assert_eq!(response_version(&resp), v);
        let header = resp.child(tag::RESPONSE_HEADER).unwrap();
        // The vectors' shape: version, time stamp, batch count; the client's correlation value is not echoed.
        assert_eq!(
            tags(header),
            vec![tag::PROTOCOL_VERSION, tag::TIME_STAMP, tag::BATCH_COUNT]
        );
        assert_eq!(
            header.child(tag::TIME_STAMP).unwrap().value,
            Value::DateTime(NOW)
        );
        let items = response_items(&resp);
        assert_eq!(items.len(), 1);
        assert_eq!(
            status(items[0]),
            ResultStatus::Success.code(),
            "{v}: {:?}",
            items[0]
        );
    }
}

#[test]
fn request_header_keeps_every_field() {
    let credential = Ttlv::structure(
        tag::CREDENTIAL,
        vec![
            enumeration(tag::CREDENTIAL_TYPE, 1),
            Ttlv::structure(
                tag::CREDENTIAL_VALUE,
                vec![
                    Ttlv::new(tag::USERNAME, Value::TextString("alice".into())),
                    Ttlv::new(tag::PASSWORD, Value::TextString("hunter2".into())),
                ],
            ),
        ],
    );
    let extra = vec![
        int(tag::MAXIMUM_RESPONSE_SIZE, 4096),
        Ttlv::new(tag::CLIENT_CORRELATION_VALUE, Value::TextString("c".into())),
        Ttlv::new(tag::SERVER_CORRELATION_VALUE, Value::TextString("s".into())),
        enumeration(tag::ASYNCHRONOUS_INDICATOR, 2),
        Ttlv::new(tag::ATTESTATION_CAPABLE_INDICATOR, Value::Boolean(true)),
        enumeration(tag::ATTESTATION_TYPE, 1),
        enumeration(tag::ATTESTATION_TYPE, 3),
        Ttlv::structure(tag::AUTHENTICATION, vec![credential]),
        enumeration(tag::BATCH_ERROR_CONTINUATION_OPTION, 1),
        Ttlv::new(tag::BATCH_ORDER_OPTION, Value::Boolean(false)),
        Ttlv::new(tag::TIME_STAMP, Value::DateTime(NOW)),
    ];
    let req = request(
        header(2, 1, extra, 1),
        vec![item(Operation::QUERY, Some(b"1"), vec![])],
    );
    let m = RequestMessage::from_ttlv(&req).unwrap();
    let h = &m.header;
    assert_eq!(h.maximum_response_size, Some(4096));
    assert_eq!(h.client_correlation_value.as_deref(), Some("c"));
    assert_eq!(h.server_correlation_value.as_deref(), Some("s"));
    assert_eq!(
        h.asynchronous_indicator,
        Some(AsynchronousIndicator::Optional)
    );
    assert_eq!(h.attestation_capable_indicator, Some(true));
    assert_eq!(h.attestation_types.len(), 2);
    let auth = h.authentication.as_ref().unwrap();
    assert_eq!(auth.credentials.len(), 1);
    assert_eq!(auth.credentials[0].credential_type.0, 1);
    assert!(
        !format!("{auth:?}").contains("hunter2"),
        "credentials must not be printed"
    );
    assert_eq!(
        h.batch_error_continuation_option,
        Some(BatchErrorContinuationOption::Continue)
    );
    assert_eq!(h.batch_order_option, Some(false));
    assert_eq!(h.time_stamp, Some(NOW));
    assert_eq!(h.batch_count, 1);
    assert_eq!(
        m.items[0].as_ref().unwrap().unique_batch_item_id.as_deref(),
        Some(&b"1"[..])
    );
}

#[test]
fn discover_versions_with_no_list_returns_all_in_server_order() {
    let resp = engine().handle_request(&single(
        1,
        1,
        item(Operation::DISCOVER_VERSIONS, None, vec![]),
    ));
    let item = response_items(&resp)[0];
    assert_eq!(
        tags(item),
        vec![tag::OPERATION, tag::RESULT_STATUS, tag::RESPONSE_PAYLOAD]
    );
    let payload = item.child(tag::RESPONSE_PAYLOAD).unwrap();
    assert_eq!(versions_in(payload), ProtocolVersion::SUPPORTED.to_vec());
}

#[test]
fn discover_versions_intersects_in_server_order() {
    let client = vec![
        version(1, 0),
        version(3, 0),
        version(2, 1),
        version(1, 4),
        version(1, 9),
    ];
    let resp = engine().handle_request(&single(
        1,
        4,
        item(Operation::DISCOVER_VERSIONS, None, client),
    ));
    let payload = response_items(&resp)[0]
        .child(tag::RESPONSE_PAYLOAD)
        .unwrap();
    assert_eq!(
        versions_in(payload),
        vec![
            ProtocolVersion::V2_1,
            ProtocolVersion::V1_4,
            ProtocolVersion::V1_0
        ]
    );
}

#[test]
fn discover_versions_without_a_shared_version_returns_an_empty_list() {
    let client = vec![version(3, 0), version(1, 9)];
    let resp = engine().handle_request(&single(
        2,
        1,
        item(Operation::DISCOVER_VERSIONS, None, client),
    ));
    let item = response_items(&resp)[0];
    assert_eq!(status(item), ResultStatus::Success.code());
    assert!(
        item.child(tag::RESPONSE_PAYLOAD)
            .unwrap()
            .children()
            .is_empty()
    );
}

#[test]
fn discover_versions_rejects_a_malformed_version() {
    let bad = Ttlv::structure(
        tag::PROTOCOL_VERSION,
        vec![int(tag::PROTOCOL_VERSION_MAJOR, 1)],
    );
    let resp = engine().handle_request(&single(
        2,
        1,
        item(Operation::DISCOVER_VERSIONS, None, vec![bad]),
    ));
    assert_failed(
        response_items(&resp)[0],
        ResultReason::InvalidMessage,
        ProtocolVersion::V2_1,
    );
}

#[test]
fn query_matches_the_shape_of_the_2_1_vectors() {
    // TL-M-1-21: Operations, Objects, Server Information and Application Namespaces with ID 01.
    let functions = [
        QueryFunction::QUERY_OPERATIONS,
        QueryFunction::QUERY_OBJECTS,
        QueryFunction::QUERY_SERVER_INFORMATION,
        QueryFunction::QUERY_APPLICATION_NAMESPACES,
    ];
    let resp = engine().handle_request(&single(
        2,
        1,
        item(Operation::QUERY, Some(&[1]), query(&functions)),
    ));
    let item = response_items(&resp)[0];
    assert_eq!(
        tags(item),
        vec![
            tag::OPERATION,
            tag::UNIQUE_BATCH_ITEM_ID,
            tag::RESULT_STATUS,
            tag::RESPONSE_PAYLOAD
        ]
    );
    let payload = item.child(tag::RESPONSE_PAYLOAD).unwrap();
    let ops: Vec<u32> = implemented_operations().map(|o| o.0).collect();
    assert_eq!(enums_in(payload, tag::OPERATION), ops);
    assert!(ops.contains(&Operation::QUERY.0) && ops.contains(&Operation::DISCOVER_VERSIONS.0));
    let mut expected = vec![tag::OPERATION; ops.len()];
    expected.extend(vec![tag::OBJECT_TYPE; super::register::OBJECT_TAGS.len()]);
    expected.extend([tag::VENDOR_IDENTIFICATION, tag::SERVER_INFORMATION]);
    assert_eq!(tags(payload), expected);
    assert_eq!(
        payload.child(tag::VENDOR_IDENTIFICATION).unwrap().value,
        Value::TextString("kmipd".into())
    );
    let info = payload.child(tag::SERVER_INFORMATION).unwrap();
    assert_eq!(
        info.child(tag::SERVER_VERSION).unwrap().value,
        Value::TextString(env!("CARGO_PKG_VERSION").into())
    );
}

#[test]
fn query_in_1x_keeps_server_information_vendor_specific() {
    let functions = [QueryFunction::QUERY_SERVER_INFORMATION];
    let resp = engine().handle_request(&single(
        1,
        4,
        item(Operation::QUERY, None, query(&functions)),
    ));
    let payload = response_items(&resp)[0]
        .child(tag::RESPONSE_PAYLOAD)
        .unwrap();
    assert_eq!(
        tags(payload),
        vec![tag::VENDOR_IDENTIFICATION, tag::SERVER_INFORMATION]
    );
    assert!(
        payload
            .child(tag::SERVER_INFORMATION)
            .unwrap()
            .children()
            .is_empty()
    );
}

#[test]
fn query_capabilities_and_masks_follow_the_version() {
    let functions = [
        QueryFunction::QUERY_CAPABILITIES,
        QueryFunction::QUERY_RNGS,
        QueryFunction::QUERY_STORAGE_PROTECTION_MASKS,
        QueryFunction::QUERY_ATTESTATION_TYPES,
    ];
    let payload_in = |major, minor| {
        let resp = engine().handle_request(&single(
            major,
            minor,
            item(Operation::QUERY, None, query(&functions)),
        ));
        response_items(&resp)[0]
            .child(tag::RESPONSE_PAYLOAD)
            .unwrap()
            .clone()
    };
    // 1.2 knows none of these answers.
    assert!(payload_in(1, 2).children().is_empty());
    // 1.4: RNG Parameters and Capability Information, but not Protection Storage Masks.
    let p14 = payload_in(1, 4);
    assert_eq!(
        tags(&p14),
        vec![tag::RNG_PARAMETERS, tag::CAPABILITY_INFORMATION]
    );
    let caps = p14.child(tag::CAPABILITY_INFORMATION).unwrap();
    assert_eq!(
        caps.child(tag::BATCH_UNDO_CAPABILITY).unwrap().value,
        Value::Boolean(true)
    );
    assert_eq!(
        caps.child(tag::BATCH_CONTINUE_CAPABILITY).unwrap().value,
        Value::Boolean(true)
    );
    assert_eq!(
        caps.child(tag::ASYNCHRONOUS_CAPABILITY).unwrap().value,
        Value::Boolean(false)
    );
    // The generator the Random Number Generator attribute of created keys names: AES-256 CTR_DRBG.
    let rng = p14.child(tag::RNG_PARAMETERS).unwrap();
    assert_eq!(
        rng.child(tag::RNG_ALGORITHM).unwrap().value,
        Value::Enumeration(crate::spec::enums::rng_algorithm::DRBG)
    );
    assert_eq!(
        rng.children(),
        super::new_object::server_rng().value.children()
    );
    // 2.0: plus an empty Protection Storage Masks.
    let p20 = payload_in(2, 0);
    assert_eq!(
        tags(&p20),
        vec![
            tag::RNG_PARAMETERS,
            tag::CAPABILITY_INFORMATION,
            tag::PROTECTION_STORAGE_MASKS
        ]
    );
    assert!(
        p20.child(tag::PROTECTION_STORAGE_MASKS)
            .unwrap()
            .children()
            .is_empty()
    );
}

#[test]
fn query_objects_lists_the_registrable_types_and_bad_functions_fail() {
    // 2.1 defines every registrable type; older versions list only those they define (test below).
    let resp = engine().handle_request(&single(
        2,
        1,
        item(
            Operation::QUERY,
            None,
            query(&[QueryFunction::QUERY_OBJECTS]),
        ),
    ));
    let payload = response_items(&resp)[0]
        .child(tag::RESPONSE_PAYLOAD)
        .unwrap();
    let types = enums_in(payload, tag::OBJECT_TYPE);
    assert_eq!(types.len(), super::register::OBJECT_TAGS.len());
    assert!(types.contains(&crate::spec::enums::object_type::SYMMETRIC_KEY));

    let resp = engine().handle_request(&single(
        2,
        1,
        item(Operation::QUERY, None, query(&[QueryFunction(0x63)])),
    ));
    assert_failed(
        response_items(&resp)[0],
        ResultReason::InvalidField,
        ProtocolVersion::V2_1,
    );

    let resp = engine().handle_request(&single(2, 1, item(Operation::QUERY, None, vec![])));
    assert_failed(
        response_items(&resp)[0],
        ResultReason::InvalidMessage,
        ProtocolVersion::V2_1,
    );
}

fn three_with_unknown_middle(option: Option<u32>) -> Ttlv {
    let extra = option
        .map(|o| enumeration(tag::BATCH_ERROR_CONTINUATION_OPTION, o))
        .into_iter()
        .collect();
    request(
        header(1, 2, extra, 3),
        vec![
            item(Operation::DISCOVER_VERSIONS, Some(b"a"), vec![]),
            item(Operation::CERTIFY, Some(b"b"), vec![]),
            item(
                Operation::QUERY,
                Some(b"c"),
                query(&[QueryFunction::QUERY_OPERATIONS]),
            ),
        ],
    )
}

#[test]
fn unsupported_operation_fails_alone_when_the_batch_continues() {
    let resp = engine().handle_request(&three_with_unknown_middle(Some(1)));
    let items = response_items(&resp);
    assert_eq!(items.len(), 3);
    assert_eq!(status(items[0]), ResultStatus::Success.code());
    assert_failed(
        items[1],
        ResultReason::OperationNotSupported,
        ProtocolVersion::V1_2,
    );
    assert_eq!(
        items[1].child(tag::OPERATION).unwrap().value,
        Value::Enumeration(Operation::CERTIFY.0)
    );
    assert_eq!(
        items[1].child(tag::UNIQUE_BATCH_ITEM_ID).unwrap().value,
        Value::ByteString(b"b"[..].into())
    );
    assert_eq!(status(items[2]), ResultStatus::Success.code());
    let header = resp.child(tag::RESPONSE_HEADER).unwrap();
    assert_eq!(
        header.child(tag::BATCH_COUNT).unwrap().value,
        Value::Integer(3)
    );
}

#[test]
fn stop_is_the_default_and_drops_the_items_after_a_failure() {
    for option in [None, Some(2)] {
        let resp = engine().handle_request(&three_with_unknown_middle(option));
        let items = response_items(&resp);
        assert_eq!(items.len(), 2, "{option:?}");
        assert_failed(
            items[1],
            ResultReason::OperationNotSupported,
            ProtocolVersion::V1_2,
        );
        let header = resp.child(tag::RESPONSE_HEADER).unwrap();
        assert_eq!(
            header.child(tag::BATCH_COUNT).unwrap().value,
            Value::Integer(2)
        );
    }
}

#[test]
fn undo_answers_the_items_before_a_failure_operation_undone() {
    let resp = engine().handle_request(&three_with_unknown_middle(Some(3)));
    let items = response_items(&resp);
    assert_eq!(items.len(), 2);
    assert_eq!(status(items[0]), ResultStatus::OperationUndone.code());
    assert_failed(
        items[1],
        ResultReason::OperationNotSupported,
        ProtocolVersion::V1_2,
    );
}

#[test]
fn mandatory_asynchronous_processing_is_refused() {
    let req = request(
        header(2, 0, vec![enumeration(tag::ASYNCHRONOUS_INDICATOR, 1)], 1),
        vec![item(Operation::DISCOVER_VERSIONS, None, vec![])],
    );
    let resp = engine().handle_request(&req);
    assert_failed(
        response_items(&resp)[0],
        ResultReason::FeatureNotSupported,
        ProtocolVersion::V2_0,
    );
}

/// A message-level rejection: one batch item without Operation (1.4 section 11.1).
fn assert_rejected(resp: &Ttlv, expected: ResultReason, version: ProtocolVersion) {
    assert_eq!(response_version(resp), version);
    let items = response_items(resp);
    assert_eq!(items.len(), 1);
    assert!(items[0].child(tag::OPERATION).is_none());
    assert_failed(items[0], expected, version);
    assert!(items[0].child(tag::RESULT_MESSAGE).is_some());
}

#[test]
fn batch_count_mismatch_is_an_invalid_message() {
    let req = request(
        header(1, 4, vec![], 2),
        vec![item(Operation::DISCOVER_VERSIONS, None, vec![])],
    );
    assert_rejected(
        &engine().handle_request(&req),
        ResultReason::InvalidMessage,
        ProtocolVersion::V1_4,
    );
    let no_items = request(header(2, 1, vec![], 0), vec![]);
    assert_rejected(
        &engine().handle_request(&no_items),
        ResultReason::InvalidMessage,
        ProtocolVersion::V2_1,
    );
}

#[test]
fn an_unknown_major_version_is_answered_in_the_newest() {
    let req = single(3, 0, item(Operation::DISCOVER_VERSIONS, None, vec![]));
    assert_rejected(
        &engine().handle_request(&req),
        ResultReason::UnsupportedProtocolVersion,
        ProtocolVersion::V2_1,
    );
}

#[test]
fn a_newer_minor_version_is_served_as_the_newest_known_one_ignoring_unknown_fields() {
    let unknown = Ttlv::new(0x54_0001, Value::TextString("from 1.9".into()));
    let req = request(
        header(1, 9, vec![unknown.clone()], 1),
        vec![item(Operation::DISCOVER_VERSIONS, None, vec![])],
    );
    let resp = engine().handle_request(&req);
    assert_eq!(response_version(&resp), ProtocolVersion::V1_4);
    assert_eq!(
        status(response_items(&resp)[0]),
        ResultStatus::Success.code()
    );

    // The same unknown field in a version the server speaks exactly is an Invalid Field.
    let req = request(
        header(1, 4, vec![unknown], 1),
        vec![item(Operation::DISCOVER_VERSIONS, None, vec![])],
    );
    assert_rejected(
        &engine().handle_request(&req),
        ResultReason::InvalidField,
        ProtocolVersion::V1_4,
    );
}

#[test]
fn header_problems_reject_the_message() {
    let root_is_response = Ttlv::structure(tag::RESPONSE_MESSAGE, vec![]);
    assert_rejected(
        &engine().handle_request(&root_is_response),
        ResultReason::InvalidMessage,
        ProtocolVersion::V2_1,
    );
    let root_not_structure = Ttlv::new(tag::REQUEST_MESSAGE, Value::Integer(1));
    assert_rejected(
        &engine().handle_request(&root_not_structure),
        ResultReason::InvalidMessage,
        ProtocolVersion::V2_1,
    );
    let repeated = request(
        header(1, 0, vec![int(tag::BATCH_COUNT, 1)], 1),
        vec![item(
            Operation::QUERY,
            None,
            query(&[QueryFunction::QUERY_OPERATIONS]),
        )],
    );
    assert_rejected(
        &engine().handle_request(&repeated),
        ResultReason::InvalidMessage,
        ProtocolVersion::V1_0,
    );
    let wrong_type = request(
        header(
            2,
            0,
            vec![Ttlv::new(
                tag::MAXIMUM_RESPONSE_SIZE,
                Value::TextString("big".into()),
            )],
            1,
        ),
        vec![item(Operation::DISCOVER_VERSIONS, None, vec![])],
    );
    assert_rejected(
        &engine().handle_request(&wrong_type),
        ResultReason::InvalidMessage,
        ProtocolVersion::V2_0,
    );
    let bad_option = request(
        header(
            2,
            0,
            vec![enumeration(tag::BATCH_ERROR_CONTINUATION_OPTION, 9)],
            1,
        ),
        vec![item(Operation::DISCOVER_VERSIONS, None, vec![])],
    );
    assert_rejected(
        &engine().handle_request(&bad_option),
        ResultReason::InvalidField,
        ProtocolVersion::V2_0,
    );
}

#[test]
fn an_eight_byte_unique_batch_item_id_is_echoed() {
    let id = [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF];
    for op in [Operation::DISCOVER_VERSIONS, Operation::GET] {
        let resp = engine().handle_request(&single(1, 1, item(op, Some(&id), vec![])));
        let item = response_items(&resp)[0];
        assert_eq!(
            item.child(tag::UNIQUE_BATCH_ITEM_ID).unwrap().value,
            Value::ByteString(id[..].into())
        );
    }
}

#[test]
fn an_unreadable_item_fails_alone_and_keeps_its_id() {
    let no_operation = Ttlv::structure(
        tag::BATCH_ITEM,
        vec![
            Ttlv::new(
                tag::UNIQUE_BATCH_ITEM_ID,
                Value::ByteString(b"x"[..].into()),
            ),
            Ttlv::structure(tag::REQUEST_PAYLOAD, vec![]),
        ],
    );
    let no_payload = Ttlv::structure(
        tag::BATCH_ITEM,
        vec![enumeration(tag::OPERATION, Operation::QUERY.0)],
    );
    let req = request(
        header(
            2,
            1,
            vec![enumeration(tag::BATCH_ERROR_CONTINUATION_OPTION, 1)],
            3,
        ),
        vec![
            no_operation,
            no_payload,
            item(Operation::DISCOVER_VERSIONS, None, vec![]),
        ],
    );
    let resp = engine().handle_request(&req);
    let items = response_items(&resp);
    assert_eq!(items.len(), 3);
    assert_failed(
        items[0],
        ResultReason::InvalidMessage,
        ProtocolVersion::V2_1,
    );
    assert!(items[0].child(tag::OPERATION).is_none());
    assert_eq!(
        items[0].child(tag::UNIQUE_BATCH_ITEM_ID).unwrap().value,
        Value::ByteString(b"x"[..].into())
    );
    assert_failed(
        items[1],
        ResultReason::InvalidMessage,
        ProtocolVersion::V2_1,
    );
    assert_eq!(status(items[2]), ResultStatus::Success.code());
}

#[test]
fn a_too_small_maximum_response_size_gives_response_too_large() {
    // MSGENC-XML-M-1-21: Maximum Response Size 256 against a Query Operations + Objects answer.
    let functions = [
        QueryFunction::QUERY_OPERATIONS,
        QueryFunction::QUERY_SERVER_INFORMATION,
    ];
    let req = |max| {
        request(
            header(2, 1, vec![int(tag::MAXIMUM_RESPONSE_SIZE, max)], 1),
            vec![item(Operation::QUERY, None, query(&functions))],
        )
    };
    let full = engine().handle_request(&req(1 << 20));
    let full_len = ttlv::encoded_len(&full);
    assert_eq!(
        status(response_items(&full)[0]),
        ResultStatus::Success.code()
    );
    let exact = engine().handle_request(&req(i32::try_from(full_len).unwrap()));
    assert_eq!(exact, full);

    let resp = engine().handle_request(&req(i32::try_from(full_len).unwrap() - 1));
    let item = response_items(&resp)[0];
    assert_eq!(
        tags(item),
        vec![
            tag::OPERATION,
            tag::RESULT_STATUS,
            tag::RESULT_REASON,
            tag::RESULT_MESSAGE
        ]
    );
    assert_failed(item, ResultReason::ResponseTooLarge, ProtocolVersion::V2_1);
    assert_eq!(
        item.child(tag::OPERATION).unwrap().value,
        Value::Enumeration(Operation::QUERY.0)
    );
}

fn with_extension(item: Ttlv, vendor: &str, critical: bool) -> Ttlv {
    let mut fields = item.children().to_vec();
    fields.push(Ttlv::structure(
        tag::MESSAGE_EXTENSION,
        vec![
            Ttlv::new(tag::VENDOR_IDENTIFICATION, Value::TextString(vendor.into())),
            Ttlv::new(tag::CRITICALITY_INDICATOR, Value::Boolean(critical)),
            Ttlv::structure(tag::VENDOR_EXTENSION, vec![]),
        ],
    ));
    Ttlv::structure(tag::BATCH_ITEM, fields)
}

#[test]
fn a_critical_unknown_message_extension_rejects_every_item() {
    for (major, minor) in [(2, 1), (1, 2)] {
        let v = ProtocolVersion::new(major, minor);
        let req = request(
            header(major, minor, vec![], 2),
            vec![
                item(Operation::DISCOVER_VERSIONS, Some(b"1"), vec![]),
                with_extension(
                    item(Operation::DISCOVER_VERSIONS, Some(b"2"), vec![]),
                    "acme.com",
                    true,
                ),
            ],
        );
        let resp = engine().handle_request(&req);
        let items = response_items(&resp);
        assert_eq!(items.len(), 2);
        for i in &items {
            // 2.x: Unknown Message Extension; 1.x: Feature Not Supported (1.4 section 11.1).
            assert_failed(i, ResultReason::UnknownMessageExtension, v);
        }
        if !v.is_2x() {
            assert_eq!(
                reason(items[0]),
                Some(ResultReason::FeatureNotSupported.code())
            );
        }
    }
}

#[test]
fn a_non_critical_message_extension_is_ignored() {
    let req = single(
        2,
        1,
        with_extension(
            item(Operation::DISCOVER_VERSIONS, None, vec![]),
            "acme",
            false,
        ),
    );
    let resp = engine().handle_request(&req);
    assert_eq!(
        status(response_items(&resp)[0]),
        ResultStatus::Success.code()
    );
}

#[test]
fn frames_round_trip_through_the_codec() {
    let req = single(
        1,
        2,
        item(Operation::DISCOVER_VERSIONS, Some(b"01234567"), vec![]),
    );
    let reply = engine().respond_to_frame(&ttlv::encode(&req), &in_process_caller());
    assert!(!reply.close_after);
    let resp = ttlv::decode(&reply.bytes, &Limits::DEFAULT).unwrap();
    assert_eq!(response_version(&resp), ProtocolVersion::V1_2);
    assert_eq!(
        status(response_items(&resp)[0]),
        ResultStatus::Success.code()
    );
}

#[test]
fn garbage_bytes_get_a_codec_error_response_that_decodes() {
    let reply = engine().respond_to_frame(
        b"GET / HTTP/1.1\r\nHost: kmip\r\n\r\n",
        &in_process_caller(),
    );
    assert!(reply.close_after);
    let resp = ttlv::decode(&reply.bytes, &Limits::DEFAULT).unwrap();
    assert_rejected(&resp, ResultReason::CodecError, ProtocolVersion::V2_1);
}

#[test]
fn a_truncated_request_is_answered_in_its_own_version() {
    let bytes = ttlv::encode(&single(
        1,
        2,
        item(Operation::DISCOVER_VERSIONS, None, vec![]),
    ));
    let truncated = &bytes[..bytes.len() - 8];
    let reply = engine().respond_to_frame(truncated, &in_process_caller());
    assert!(reply.close_after);
    let resp = ttlv::decode(&reply.bytes, &Limits::DEFAULT).unwrap();
    // Codec Error does not exist in 1.2: the 1.x answer to unparseable input is Invalid Message.
    assert_rejected(&resp, ResultReason::CodecError, ProtocolVersion::V1_2);
    assert_eq!(
        reason(response_items(&resp)[0]),
        Some(ResultReason::InvalidMessage.code())
    );
}

#[test]
fn a_refused_frame_is_answered_in_the_newest_version() {
    let bytes = engine().respond_to_unread_frame("frame of 5000000 bytes exceeds the limit");
    let resp = ttlv::decode(&bytes, &Limits::DEFAULT).unwrap();
    assert_rejected(&resp, ResultReason::CodecError, ProtocolVersion::V2_1);
}

#[test]
fn repeated_or_unknown_item_fields_fail_the_item() {
    let mut twice = item(
        Operation::QUERY,
        Some(b"t"),
        query(&[QueryFunction::QUERY_OPERATIONS]),
    );
    if let Value::Structure(fields) = &mut twice.value {
        fields.push(Ttlv::new(
            tag::UNIQUE_BATCH_ITEM_ID,
            Value::ByteString(b"u"[..].into()),
        ));
    }
    let mut unknown = item(
        Operation::QUERY,
        Some(b"k"),
        query(&[QueryFunction::QUERY_OPERATIONS]),
    );
    if let Value::Structure(fields) = &mut unknown.value {
        fields.push(Ttlv::new(0x54_0010, Value::Integer(7)));
    }
    let req = request(
        header(
            2,
            1,
            vec![enumeration(tag::BATCH_ERROR_CONTINUATION_OPTION, 1)],
            2,
        ),
        vec![twice, unknown],
    );
    let resp = engine().handle_request(&req);
    let items = response_items(&resp);
    assert_failed(
        items[0],
        ResultReason::InvalidMessage,
        ProtocolVersion::V2_1,
    );
    assert_failed(items[1], ResultReason::InvalidField, ProtocolVersion::V2_1);
    // What could be read is echoed for correlation.
    assert_eq!(
        items[1].child(tag::UNIQUE_BATCH_ITEM_ID).unwrap().value,
        Value::ByteString(b"k"[..].into())
    );
    assert_eq!(
        items[1].child(tag::OPERATION).unwrap().value,
        Value::Enumeration(Operation::QUERY.0)
    );
}

#[test]
fn a_malformed_message_extension_fails_its_item() {
    let mut bad = item(Operation::DISCOVER_VERSIONS, None, vec![]);
    if let Value::Structure(fields) = &mut bad.value {
        let ext = vec![Ttlv::new(
            tag::VENDOR_IDENTIFICATION,
            Value::TextString("acme".into()),
        )];
        fields.push(Ttlv::structure(tag::MESSAGE_EXTENSION, ext));
    }
    let resp = engine().handle_request(&single(1, 4, bad));
    assert_failed(
        response_items(&resp)[0],
        ResultReason::InvalidMessage,
        ProtocolVersion::V1_4,
    );
}

#[test]
fn a_newer_minor_version_with_many_unknown_fields_stays_cheap_and_succeeds() {
    let unknown: Vec<Ttlv> = (0..5_000).map(|i| int(0x54_0000 + i, 0)).collect();
    let req = request(
        header(2, 7, unknown, 1),
        vec![item(Operation::DISCOVER_VERSIONS, None, vec![])],
    );
    let resp = engine().handle_request(&req);
    assert_eq!(response_version(&resp), ProtocolVersion::V2_1);
    assert_eq!(
        status(response_items(&resp)[0]),
        ResultStatus::Success.code()
    );
}

#[test]
fn the_transport_interface_answers_frames_and_refusals() {
    use crate::access::Caller;
    use crate::ops::FrameHandler;
    use crate::ttlv::TtlvError;
    let caller = Caller {
        in_process: false,
        peer: "127.0.0.1:40000".parse().unwrap(),
        identity: "test".into(),
        certificate_sha256: [0; 32],
    };
    let engine = engine();
    let id = [9u8; 8];
    let req = single(1, 1, item(Operation::DISCOVER_VERSIONS, Some(&id), vec![]));
    let reply = engine.handle_frame(&ttlv::encode(&req), &caller);
    assert!(!reply.close_after);
    let resp = ttlv::decode(&reply.bytes, &Limits::DEFAULT).unwrap();
    assert_eq!(response_version(&resp), ProtocolVersion::V1_1);
    let item = response_items(&resp)[0];
    assert_eq!(
        item.child(tag::UNIQUE_BATCH_ITEM_ID).unwrap().value,
        Value::ByteString(id[..].into())
    );

    let refused = TtlvError::MessageTooLarge {
        declared: 5 << 20,
        limit: 1 << 20,
    };
    let bytes = engine.reject_frame(&refused, &caller).unwrap();
    let resp = ttlv::decode(&bytes, &Limits::DEFAULT).unwrap();
    assert_rejected(&resp, ResultReason::CodecError, ProtocolVersion::V2_1);
}

#[test]
fn query_lists_only_the_operations_and_object_types_the_request_version_defines() {
    let functions = [
        QueryFunction::QUERY_OPERATIONS,
        QueryFunction::QUERY_OBJECTS,
    ];
    let listed = |major, minor, what| {
        let resp = engine().handle_request(&single(
            major,
            minor,
            item(Operation::QUERY, None, query(&functions)),
        ));
        let payload = response_items(&resp)[0]
            .child(tag::RESPONSE_PAYLOAD)
            .unwrap()
            .clone();
        enums_in(&payload, what)
    };
    let operation = crate::spec::enumeration("Operation").unwrap();
    for (major, minor) in [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (2, 0), (2, 1)] {
        let ops = listed(major, minor, tag::OPERATION);
        assert!(
            ops.contains(&Operation::QUERY.0),
            "{major}.{minor}: {ops:?}"
        );
        for op in &ops {
            assert!(
                operation.name_in(*op, major, minor).is_some(),
                "{major}.{minor} lists operation {op:#x}, which it does not define"
            );
        }
        let objects = listed(major, minor, tag::OBJECT_TYPE);
        assert!(!objects.is_empty());
    }
    // A 1.4 client (kmip-protocol decodes strictly) never sees Set Attribute (0x31); a 2.1 client does.
    assert!(!listed(1, 4, tag::OPERATION).contains(&Operation::SET_ATTRIBUTE.0));
    assert!(listed(2, 1, tag::OPERATION).contains(&Operation::SET_ATTRIBUTE.0));
    // 1.0 has no Encrypt; 1.1 does.
    assert!(!listed(1, 0, tag::OPERATION).contains(&Operation::ENCRYPT.0));
    assert!(listed(1, 1, tag::OPERATION).contains(&Operation::ENCRYPT.0));
}
