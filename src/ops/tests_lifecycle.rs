//! Lifecycle operation tests: requests built as item trees in 1.x and 2.x shapes, run through
//! [`Engine::handle_request`] over a fresh temporary store, including the client flows of CLIENTS.md.

use super::test_support::{
    NOW, answer, en, engine, fails, int, ok, request, run, secret_data, st, status, text, text_of,
    uid, v,
};
use super::*;
use crate::kmip::{ResultReason, ResultStatus};
use crate::spec::enums::{
    cryptographic_algorithm as alg, key_format_type as kft, link_type, name_type,
    object_type as ot, revocation_reason_code as rrc, secret_data_type, state,
    storage_status_mask as ssm, unique_identifier as ue,
};
use crate::spec::tag;
use crate::ttlv::Value;

/// A 1.x Attribute structure.
fn attr1(name: &str, value: Value) -> Ttlv {
    st(
        tag::ATTRIBUTE,
        vec![
            text(tag::ATTRIBUTE_NAME, name),
            v(tag::ATTRIBUTE_VALUE, value),
        ],
    )
}

fn name_value(name: &str) -> Value {
    Value::Structure(vec![
        text(tag::NAME_VALUE, name),
        en(tag::NAME_TYPE, name_type::UNINTERPRETED_TEXT_STRING),
    ])
}

fn uid_of(payload: &Ttlv) -> String {
    text_of(payload, tag::UNIQUE_IDENTIFIER)
}

/// 1.x Create of an AES key.
fn create_1x(engine: &Engine, minor: i32, bits: i32, extra: Vec<Ttlv>) -> String {
    let mut attrs = vec![
        attr1("Cryptographic Algorithm", Value::Enumeration(alg::AES)),
        attr1("Cryptographic Length", Value::Integer(bits)),
        attr1("Cryptographic Usage Mask", Value::Integer(12)),
    ];
    attrs.extend(extra);
    let payload = ok(
        engine,
        1,
        minor,
        Operation::CREATE,
        vec![
            en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
            st(tag::TEMPLATE_ATTRIBUTE, attrs),
        ],
    );
    uid_of(&payload)
}

/// 2.x Create of an AES key.
fn create_2x(engine: &Engine, extra: Vec<Ttlv>) -> String {
    let mut attrs = vec![
        en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::AES),
        int(tag::CRYPTOGRAPHIC_LENGTH, 256),
        int(tag::CRYPTOGRAPHIC_USAGE_MASK, 12),
    ];
    attrs.extend(extra);
    let payload = ok(
        engine,
        2,
        1,
        Operation::CREATE,
        vec![
            en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
            st(tag::ATTRIBUTES, attrs),
        ],
    );
    uid_of(&payload)
}

/// The value of a 1.x Get Attributes response's attribute `name`, if present.
fn attr_value_1x(payload: &Ttlv, name: &str) -> Option<Value> {
    payload
        .children_with(tag::ATTRIBUTE)
        .find(|a| a.child(tag::ATTRIBUTE_NAME).unwrap().value == Value::TextString(name.into()))
        .map(|a| a.child(tag::ATTRIBUTE_VALUE).unwrap().value.clone())
}

fn get_attrs_1x(engine: &Engine, minor: i32, u: &str, names: &[&str]) -> Ttlv {
    let mut payload = vec![uid(u)];
    payload.extend(names.iter().map(|n| text(tag::ATTRIBUTE_NAME, n)));
    ok(engine, 1, minor, Operation::GET_ATTRIBUTES, payload)
}

fn state_1x(engine: &Engine, u: &str) -> Value {
    attr_value_1x(&get_attrs_1x(engine, 4, u, &["State"]), "State").unwrap()
}

fn key_bytes(get_payload: &Ttlv) -> Vec<u8> {
    let material = get_payload
        .child(tag::SYMMETRIC_KEY)
        .unwrap()
        .child(tag::KEY_BLOCK)
        .unwrap()
        .child(tag::KEY_VALUE)
        .unwrap()
        .child(tag::KEY_MATERIAL)
        .unwrap();
    match &material.value {
        Value::ByteString(b) => b.as_slice().to_vec(),
        _ => panic!("Key Material is not bytes"),
    }
}

#[test]
fn create_activate_get_in_one_batch_through_the_id_placeholder() {
    let e = engine();
    for (major, minor) in [(1, 2), (2, 1)] {
        let create = if major == 1 {
            vec![
                en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
                st(
                    tag::TEMPLATE_ATTRIBUTE,
                    vec![
                        attr1("Cryptographic Algorithm", Value::Enumeration(alg::AES)),
                        attr1("Cryptographic Length", Value::Integer(128)),
                    ],
                ),
            ]
        } else {
            vec![
                en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
                st(
                    tag::ATTRIBUTES,
                    vec![
                        en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::AES),
                        int(tag::CRYPTOGRAPHIC_LENGTH, 128),
                    ],
                ),
            ]
        };
        let items = run(
            &e,
            major,
            minor,
            vec![
                (Operation::CREATE, create),
                (Operation::ACTIVATE, vec![]),
                (Operation::GET, vec![]),
            ],
        );
        assert_eq!(items.len(), 3);
        for item in &items {
            assert_eq!(status(item), ResultStatus::Success.code(), "{item:?}");
        }
        let created = uid_of(items[0].child(tag::RESPONSE_PAYLOAD).unwrap());
        let got = items[2].child(tag::RESPONSE_PAYLOAD).unwrap();
        assert_eq!(uid_of(got), created);
        assert_eq!(key_bytes(got).len(), 16);
        assert_eq!(state_1x(&e, &created), Value::Enumeration(state::ACTIVE));
    }
}

#[test]
fn an_empty_placeholder_fails_the_item() {
    let e = engine();
    let reason = fails(&e, 1, 4, Operation::GET, vec![]);
    assert_eq!(reason, ResultReason::MissingData.code());
}

#[test]
fn unique_identifier_enumeration_and_integer_refer_to_earlier_items() {
    let e = engine();
    let create = vec![
        en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
        st(
            tag::ATTRIBUTES,
            vec![
                en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::AES),
                int(tag::CRYPTOGRAPHIC_LENGTH, 256),
            ],
        ),
    ];
    let items = run(
        &e,
        2,
        1,
        vec![
            (Operation::CREATE, create.clone()),
            (Operation::CREATE, create),
            (Operation::GET, vec![en(tag::UNIQUE_IDENTIFIER, ue::CREATE)]),
            (Operation::GET, vec![int(tag::UNIQUE_IDENTIFIER, 0)]),
        ],
    );
    let uid_at = |i: usize| uid_of(items[i].child(tag::RESPONSE_PAYLOAD).unwrap());
    assert_eq!(uid_at(2), uid_at(1), "Create refers to the latest Create");
    assert_eq!(
        uid_at(3),
        uid_at(0),
        "0 is the first identifier of the response"
    );
}

#[test]
fn server_sets_its_attributes_and_versions_see_only_theirs() {
    let e = engine();
    let u = create_1x(&e, 0, 256, vec![]);
    let all_1_0 = ok(&e, 1, 0, Operation::GET_ATTRIBUTES, vec![uid(&u)]);
    assert_eq!(
        attr_value_1x(&all_1_0, "State"),
        Some(Value::Enumeration(state::PRE_ACTIVE))
    );
    assert_eq!(
        attr_value_1x(&all_1_0, "Initial Date"),
        Some(Value::DateTime(NOW))
    );
    assert_eq!(
        attr_value_1x(&all_1_0, "Last Change Date"),
        Some(Value::DateTime(NOW))
    );
    assert_eq!(
        attr_value_1x(&all_1_0, "Unique Identifier"),
        Some(Value::TextString(u.clone()))
    );
    assert!(attr_value_1x(&all_1_0, "Digest").is_some());
    // A 1.0 client never sees Fresh (1.1 and later).
    assert_eq!(attr_value_1x(&all_1_0, "Fresh"), None);
    let all_1_4 = ok(&e, 1, 4, Operation::GET_ATTRIBUTES, vec![uid(&u)]);
    assert_eq!(attr_value_1x(&all_1_4, "Fresh"), Some(Value::Boolean(true)));
    // 2.x: one Attributes structure of attribute-tagged items.
    let two = ok(
        &e,
        2,
        1,
        Operation::GET_ATTRIBUTES,
        vec![uid(&u), en(tag::ATTRIBUTE_REFERENCE, tag::STATE)],
    );
    let attrs = two.child(tag::ATTRIBUTES).unwrap();
    assert_eq!(attrs.children(), &[en(tag::STATE, state::PRE_ACTIVE)]);
    // The first Get clears Fresh.
    ok(&e, 1, 4, Operation::GET, vec![uid(&u)]);
    let after = get_attrs_1x(&e, 4, &u, &["Fresh"]);
    assert_eq!(attr_value_1x(&after, "Fresh"), Some(Value::Boolean(false)));
    // Client may not supply server-only attributes.
    let reason = fails(
        &e,
        1,
        4,
        Operation::CREATE,
        vec![
            en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
            st(
                tag::TEMPLATE_ATTRIBUTE,
                vec![
                    attr1("Cryptographic Algorithm", Value::Enumeration(alg::AES)),
                    attr1("Cryptographic Length", Value::Integer(128)),
                    attr1("Initial Date", Value::DateTime(5)),
                ],
            ),
        ],
    );
    assert_eq!(reason, ResultReason::PermissionDenied.code());
}

#[test]
fn create_refuses_what_it_cannot_generate() {
    let e = engine();
    let bad = |attrs: Vec<Ttlv>| {
        fails(
            &e,
            2,
            1,
            Operation::CREATE,
            vec![
                en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
                st(tag::ATTRIBUTES, attrs),
            ],
        )
    };
    assert_eq!(
        bad(vec![
            en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::AES),
            int(tag::CRYPTOGRAPHIC_LENGTH, 100)
        ]),
        ResultReason::InvalidField.code()
    );
    assert_eq!(
        bad(vec![int(tag::CRYPTOGRAPHIC_LENGTH, 128)]),
        ResultReason::InvalidField.code()
    );
    assert_eq!(
        bad(vec![
            en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::RSA),
            int(tag::CRYPTOGRAPHIC_LENGTH, 2048)
        ]),
        ResultReason::InvalidField.code()
    );
    let hmac = ok(
        &e,
        2,
        1,
        Operation::CREATE,
        vec![
            en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
            st(
                tag::ATTRIBUTES,
                vec![
                    en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::HMAC_SHA256),
                    int(tag::CRYPTOGRAPHIC_LENGTH, 512),
                ],
            ),
        ],
    );
    let got = ok(&e, 2, 1, Operation::GET, vec![uid(&uid_of(&hmac))]);
    assert_eq!(key_bytes(&got).len(), 64);
}

#[test]
fn an_activation_date_in_the_past_creates_an_active_key_and_dates_move_state() {
    let e = engine();
    let u = create_1x(
        &e,
        4,
        128,
        vec![attr1("Activation Date", Value::DateTime(NOW - 10))],
    );
    assert_eq!(state_1x(&e, &u), Value::Enumeration(state::ACTIVE));
    let later = create_1x(
        &e,
        4,
        128,
        vec![attr1("Activation Date", Value::DateTime(NOW + 10))],
    );
    assert_eq!(state_1x(&e, &later), Value::Enumeration(state::PRE_ACTIVE));
    // Modifying the Deactivation Date to now deactivates an Active key.
    ok(
        &e,
        1,
        4,
        Operation::ADD_ATTRIBUTE,
        vec![uid(&u), attr1("Deactivation Date", Value::DateTime(NOW))],
    );
    assert_eq!(state_1x(&e, &u), Value::Enumeration(state::DEACTIVATED));
}

#[test]
fn the_state_machine_governs_activate_revoke_and_destroy() {
    let e = engine();
    let u = create_1x(&e, 4, 256, vec![]);
    ok(&e, 1, 4, Operation::ACTIVATE, vec![uid(&u)]);
    // Activate twice: Wrong Key Lifecycle State in 2.x, Permission Denied in 1.x.
    assert_eq!(
        fails(&e, 2, 1, Operation::ACTIVATE, vec![uid(&u)]),
        ResultReason::WrongKeyLifecycleState.code()
    );
    assert_eq!(
        fails(&e, 1, 4, Operation::ACTIVATE, vec![uid(&u)]),
        ResultReason::PermissionDenied.code()
    );
    assert_eq!(
        fails(&e, 2, 1, Operation::DESTROY, vec![uid(&u)]),
        ResultReason::WrongKeyLifecycleState.code()
    );
    let reason = |code: u32| {
        st(
            tag::REVOCATION_REASON,
            vec![en(tag::REVOCATION_REASON_CODE, code)],
        )
    };
    ok(
        &e,
        1,
        4,
        Operation::REVOKE,
        vec![uid(&u), reason(rrc::CESSATION_OF_OPERATION)],
    );
    let attrs = get_attrs_1x(
        &e,
        4,
        &u,
        &["State", "Deactivation Date", "Revocation Reason"],
    );
    assert_eq!(
        attr_value_1x(&attrs, "State"),
        Some(Value::Enumeration(state::DEACTIVATED))
    );
    assert_eq!(
        attr_value_1x(&attrs, "Deactivation Date"),
        Some(Value::DateTime(NOW))
    );
    assert!(attr_value_1x(&attrs, "Revocation Reason").is_some());
    ok(&e, 1, 4, Operation::DESTROY, vec![uid(&u)]);
    assert_eq!(state_1x(&e, &u), Value::Enumeration(state::DESTROYED));
    // Metadata stays; the key does not.
    assert_eq!(
        fails(&e, 2, 1, Operation::GET, vec![uid(&u)]),
        ResultReason::ObjectDestroyed.code()
    );
    assert_eq!(
        fails(&e, 2, 1, Operation::DESTROY, vec![uid(&u)]),
        ResultReason::ObjectDestroyed.code()
    );
    // A compromise afterwards: Destroyed Compromised.
    ok(
        &e,
        2,
        1,
        Operation::REVOKE,
        vec![uid(&u), reason(rrc::KEY_COMPROMISE)],
    );
    assert_eq!(
        state_1x(&e, &u),
        Value::Enumeration(state::DESTROYED_COMPROMISED)
    );

    let c = create_1x(&e, 4, 256, vec![]);
    ok(
        &e,
        1,
        4,
        Operation::REVOKE,
        vec![uid(&c), reason(rrc::KEY_COMPROMISE)],
    );
    let attrs = get_attrs_1x(
        &e,
        4,
        &c,
        &["State", "Compromise Date", "Compromise Occurrence Date"],
    );
    assert_eq!(
        attr_value_1x(&attrs, "State"),
        Some(Value::Enumeration(state::COMPROMISED))
    );
    assert_eq!(
        attr_value_1x(&attrs, "Compromise Date"),
        Some(Value::DateTime(NOW))
    );
    assert_eq!(
        attr_value_1x(&attrs, "Compromise Occurrence Date"),
        Some(Value::DateTime(NOW))
    );
    ok(&e, 1, 4, Operation::DESTROY, vec![uid(&c)]);
    assert_eq!(
        state_1x(&e, &c),
        Value::Enumeration(state::DESTROYED_COMPROMISED)
    );
    assert_eq!(
        fails(&e, 1, 4, Operation::GET, vec![uid("no-such-object")]),
        ResultReason::ItemNotFound.code()
    );
    assert_eq!(
        fails(&e, 2, 1, Operation::GET, vec![uid("no-such-object")]),
        ResultReason::ObjectNotFound.code()
    );
}

#[test]
fn vsphere_asks_for_custom_attributes_before_they_exist_then_adds_three_in_one_batch() {
    let e = engine();
    let u = create_1x(&e, 1, 256, vec![]);
    let empty = get_attrs_1x(&e, 1, &u, &["x-Vendor"]);
    assert_eq!(empty.children(), &[uid(&u)]);
    let add = |name: &str, value: &str| {
        (
            Operation::ADD_ATTRIBUTE,
            vec![uid(&u), attr1(name, Value::TextString(value.into()))],
        )
    };
    let req = {
        let mut r = request(
            1,
            1,
            vec![
                add("x-Vendor", "VMware"),
                add("x-Product", "vSphere"),
                add("x-Name", "k"),
            ],
        );
        // 8-byte batch item IDs are echoed.
        if let Value::Structure(items) = &mut r.value {
            for (i, item) in items.iter_mut().skip(1).enumerate() {
                if let Value::Structure(fields) = &mut item.value {
                    for f in fields
                        .iter_mut()
                        .filter(|f| f.tag == tag::UNIQUE_BATCH_ITEM_ID)
                    {
                        f.value = Value::ByteString(vec![u8::try_from(i).unwrap(); 8].into());
                    }
                }
            }
        }
        r
    };
    let resp = e.handle_request(&req);
    let items: Vec<&Ttlv> = resp.children_with(tag::BATCH_ITEM).collect();
    assert_eq!(items.len(), 3);
    for (i, item) in items.iter().enumerate() {
        assert_eq!(status(item), ResultStatus::Success.code());
        assert_eq!(
            item.child(tag::UNIQUE_BATCH_ITEM_ID).unwrap().value,
            Value::ByteString(vec![u8::try_from(i).unwrap(); 8].into())
        );
    }
    let got = get_attrs_1x(&e, 1, &u, &["x-Vendor", "x-Product", "x-Name", "State"]);
    assert_eq!(
        attr_value_1x(&got, "x-Product"),
        Some(Value::TextString("vSphere".into()))
    );
    assert_eq!(
        attr_value_1x(&got, "State"),
        Some(Value::Enumeration(state::PRE_ACTIVE))
    );
    // The 1.x custom attribute is the 2.x vendor attribute of vendor "x".
    let two = ok(&e, 2, 1, Operation::GET_ATTRIBUTE_LIST, vec![uid(&u)]);
    assert!(
        two.children_with(tag::ATTRIBUTE_REFERENCE)
            .any(|r| r.child(tag::VENDOR_IDENTIFICATION)
                == Some(&text(tag::VENDOR_IDENTIFICATION, "x"))
                && r.child(tag::ATTRIBUTE_NAME) == Some(&text(tag::ATTRIBUTE_NAME, "Name")))
    );
}

#[test]
fn synology_registers_secret_data_keeps_operation_policy_name_and_modifies_the_name() {
    let e = engine();
    let secret = secret_data(secret_data_type::PASSWORD, &[7; 32]);
    let reg = ok(
        &e,
        1,
        2,
        Operation::REGISTER,
        vec![
            en(tag::OBJECT_TYPE, ot::SECRET_DATA),
            st(
                tag::TEMPLATE_ATTRIBUTE,
                vec![
                    attr1("Operation Policy Name", Value::TextString("default".into())),
                    attr1("Name", name_value("old")),
                ],
            ),
            secret.clone(),
        ],
    );
    let u = uid_of(&reg);
    ok(&e, 1, 2, Operation::ACTIVATE, vec![uid(&u)]);
    let modified = ok(
        &e,
        1,
        2,
        Operation::MODIFY_ATTRIBUTE,
        vec![uid(&u), attr1("Name", name_value("new"))],
    );
    assert_eq!(attr_value_1x(&modified, "Name"), Some(name_value("new")));
    let attrs = get_attrs_1x(&e, 2, &u, &["Name", "Operation Policy Name"]);
    assert_eq!(attr_value_1x(&attrs, "Name"), Some(name_value("new")));
    assert_eq!(
        attr_value_1x(&attrs, "Operation Policy Name"),
        Some(Value::TextString("default".into()))
    );
    let got = ok(&e, 1, 2, Operation::GET, vec![uid(&u)]);
    assert_eq!(got.child(tag::SECRET_DATA), Some(&secret));
    // MySQL sends Attribute Index 0 explicitly.
    let indexed = st(
        tag::ATTRIBUTE,
        vec![
            text(tag::ATTRIBUTE_NAME, "Name"),
            int(tag::ATTRIBUTE_INDEX, 0),
            v(tag::ATTRIBUTE_VALUE, name_value("third")),
        ],
    );
    ok(
        &e,
        1,
        1,
        Operation::MODIFY_ATTRIBUTE,
        vec![uid(&u), indexed],
    );
    let attrs = get_attrs_1x(&e, 1, &u, &["Name"]);
    assert_eq!(attr_value_1x(&attrs, "Name"), Some(name_value("third")));
}

#[test]
fn percona_locates_by_object_group_with_maximum_and_offset_under_1_0() {
    let e = engine();
    let mut made = Vec::new();
    for _ in 0..5 {
        made.push(create_1x(
            &e,
            4,
            128,
            vec![attr1("Object Group", Value::TextString("mysql".into()))],
        ));
    }
    create_1x(
        &e,
        4,
        128,
        vec![attr1("Object Group", Value::TextString("other".into()))],
    );
    let locate = |major: i32, minor: i32, extra: Vec<Ttlv>| {
        let mut payload = extra;
        payload.push(attr1("Object Group", Value::TextString("mysql".into())));
        ok(&e, major, minor, Operation::LOCATE, payload)
    };
    let uids = |p: &Ttlv| -> Vec<String> {
        p.children_with(tag::UNIQUE_IDENTIFIER)
            .map(|u| match &u.value {
                Value::TextString(s) => s.clone(),
                _ => panic!(),
            })
            .collect()
    };
    let all = locate(1, 0, vec![]);
    let newest_first: Vec<String> = made.iter().rev().cloned().collect();
    assert_eq!(uids(&all), newest_first);
    let page = locate(
        1,
        0,
        vec![int(tag::MAXIMUM_ITEMS, 2), int(tag::OFFSET_ITEMS, 1)],
    );
    assert_eq!(uids(&page), newest_first[1..3].to_vec());
    assert!(
        page.child(tag::LOCATED_ITEMS).is_none(),
        "1.0 has no Located Items"
    );
    let page14 = locate(
        1,
        4,
        vec![int(tag::MAXIMUM_ITEMS, 2), int(tag::OFFSET_ITEMS, 4)],
    );
    assert_eq!(uids(&page14), newest_first[4..].to_vec());
    assert_eq!(
        page14.child(tag::LOCATED_ITEMS),
        Some(&int(tag::LOCATED_ITEMS, 5))
    );
    // By Object Type and by Name; by a date range.
    let by_type = ok(
        &e,
        1,
        4,
        Operation::LOCATE,
        vec![attr1("Object Type", Value::Enumeration(ot::SYMMETRIC_KEY))],
    );
    assert_eq!(uids(&by_type).len(), 6);
    let by_range = ok(
        &e,
        1,
        4,
        Operation::LOCATE,
        vec![
            attr1("Initial Date", Value::DateTime(NOW - 1)),
            attr1("Initial Date", Value::DateTime(NOW + 1)),
        ],
    );
    assert_eq!(uids(&by_range).len(), 6);
    // Archived objects leave the default search; MySQL's Integer/Enumeration mask brings them back.
    ok(&e, 1, 4, Operation::ARCHIVE, vec![uid(&made[0])]);
    assert_eq!(uids(&locate(1, 4, vec![])).len(), 4);
    let archived = locate(
        1,
        1,
        vec![en(tag::STORAGE_STATUS_MASK, ssm::ARCHIVAL_STORAGE)],
    );
    assert_eq!(uids(&archived), vec![made[0].clone()]);
    assert_eq!(
        fails(&e, 1, 4, Operation::GET, vec![uid(&made[0])]),
        ResultReason::ObjectArchived.code()
    );
    ok(&e, 1, 4, Operation::RECOVER, vec![uid(&made[0])]);
    assert_eq!(uids(&locate(1, 4, vec![])).len(), 5);
    // Destroyed objects are found in 2.x only with Destroyed Storage.
    ok(&e, 1, 4, Operation::DESTROY, vec![uid(&made[1])]);
    assert_eq!(uids(&locate(1, 4, vec![])).len(), 4);
    let destroyed = ok(
        &e,
        2,
        1,
        Operation::LOCATE,
        vec![
            int(tag::STORAGE_STATUS_MASK, 4),
            st(tag::ATTRIBUTES, vec![text(tag::OBJECT_GROUP, "mysql")]),
        ],
    );
    assert_eq!(uids(&destroyed), vec![made[1].clone()]);
}

#[test]
fn locate_by_usage_mask_and_link_checks_the_candidates() {
    let e = engine();
    let u = create_2x(&e, vec![]);
    let found = ok(
        &e,
        2,
        1,
        Operation::LOCATE,
        vec![st(
            tag::ATTRIBUTES,
            vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 4)],
        )],
    );
    assert_eq!(found.children_with(tag::UNIQUE_IDENTIFIER).count(), 1);
    let none = ok(
        &e,
        2,
        1,
        Operation::LOCATE,
        vec![st(
            tag::ATTRIBUTES,
            vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 1)],
        )],
    );
    assert_eq!(none.children_with(tag::UNIQUE_IDENTIFIER).count(), 0);
    let rekeyed = uid_of(&ok(&e, 2, 1, Operation::REKEY, vec![uid(&u)]));
    let by_link = ok(
        &e,
        2,
        1,
        Operation::LOCATE,
        vec![st(
            tag::ATTRIBUTES,
            vec![st(tag::LINK, vec![text(tag::LINKED_OBJECT_IDENTIFIER, &u)])],
        )],
    );
    assert_eq!(uid_of(&by_link), rekeyed);
}

#[test]
fn rekey_shifts_dates_by_offset_and_links_both_ways() {
    let e = engine();
    let u = create_1x(
        &e,
        4,
        256,
        vec![
            attr1("Activation Date", Value::DateTime(NOW - 100)),
            attr1("Deactivation Date", Value::DateTime(NOW + 1000)),
            attr1("x-Owner", Value::TextString("db".into())),
        ],
    );
    let payload = ok(
        &e,
        1,
        4,
        Operation::REKEY,
        vec![uid(&u), v(tag::OFFSET, Value::Interval(50))],
    );
    let new = uid_of(&payload);
    assert_ne!(new, u);
    let attrs = get_attrs_1x(
        &e,
        4,
        &new,
        &[
            "Activation Date",
            "Deactivation Date",
            "Link",
            "x-Owner",
            "State",
            "Cryptographic Length",
        ],
    );
    assert_eq!(
        attr_value_1x(&attrs, "Activation Date"),
        Some(Value::DateTime(NOW + 50))
    );
    assert_eq!(
        attr_value_1x(&attrs, "Deactivation Date"),
        Some(Value::DateTime(NOW + 50 + 1100))
    );
    assert_eq!(
        attr_value_1x(&attrs, "x-Owner"),
        Some(Value::TextString("db".into()))
    );
    assert_eq!(
        attr_value_1x(&attrs, "State"),
        Some(Value::Enumeration(state::PRE_ACTIVE))
    );
    assert_eq!(
        attr_value_1x(&attrs, "Cryptographic Length"),
        Some(Value::Integer(256))
    );
    let link = |kind: u32, to: &str| {
        Value::Structure(vec![
            en(tag::LINK_TYPE, kind),
            text(tag::LINKED_OBJECT_IDENTIFIER, to),
        ])
    };
    assert_eq!(
        attr_value_1x(&attrs, "Link"),
        Some(link(link_type::REPLACED_OBJECT_LINK, &u))
    );
    let old = get_attrs_1x(&e, 4, &u, &["Link"]);
    assert_eq!(
        attr_value_1x(&old, "Link"),
        Some(link(link_type::REPLACEMENT_OBJECT_LINK, &new))
    );
    let old_key = key_bytes(&ok(&e, 1, 4, Operation::GET, vec![uid(&u)]));
    let new_key = key_bytes(&ok(&e, 1, 4, Operation::GET, vec![uid(&new)]));
    assert_ne!(old_key, new_key);
}

#[test]
fn attribute_operations_in_2x_forms() {
    let e = engine();
    let u = create_2x(&e, vec![]);
    let new_attr = |a: Ttlv| st(tag::NEW_ATTRIBUTE, vec![a]);
    ok(
        &e,
        2,
        1,
        Operation::ADD_ATTRIBUTE,
        vec![uid(&u), new_attr(v(tag::NAME, name_value("a")))],
    );
    ok(
        &e,
        2,
        1,
        Operation::ADD_ATTRIBUTE,
        vec![uid(&u), new_attr(v(tag::NAME, name_value("b")))],
    );
    ok(
        &e,
        2,
        1,
        Operation::MODIFY_ATTRIBUTE,
        vec![
            uid(&u),
            st(tag::CURRENT_ATTRIBUTE, vec![v(tag::NAME, name_value("b"))]),
            new_attr(v(tag::NAME, name_value("c"))),
        ],
    );
    // Current and New Attribute must be the same attribute.
    assert_eq!(
        fails(
            &e,
            2,
            1,
            Operation::MODIFY_ATTRIBUTE,
            vec![
                uid(&u),
                st(tag::CURRENT_ATTRIBUTE, vec![v(tag::NAME, name_value("c"))]),
                new_attr(text(tag::COMMENT, "not a name")),
            ],
        ),
        ResultReason::InvalidField.code()
    );
    ok(
        &e,
        2,
        1,
        Operation::SET_ATTRIBUTE,
        vec![uid(&u), new_attr(text(tag::COMMENT, "hello"))],
    );
    assert_eq!(
        fails(
            &e,
            2,
            1,
            Operation::SET_ATTRIBUTE,
            vec![uid(&u), new_attr(v(tag::NAME, name_value("x")))]
        ),
        ResultReason::MultiValuedAttribute.code()
    );
    assert_eq!(
        fails(
            &e,
            2,
            1,
            Operation::SET_ATTRIBUTE,
            vec![uid(&u), new_attr(en(tag::STATE, state::ACTIVE))]
        ),
        ResultReason::AttributeReadOnly.code()
    );
    ok(
        &e,
        2,
        1,
        Operation::SET_ATTRIBUTE,
        vec![
            uid(&u),
            new_attr(v(tag::DEACTIVATION_DATE, Value::DateTime(NOW + 100))),
        ],
    );
    ok(
        &e,
        2,
        1,
        Operation::ADJUST_ATTRIBUTE,
        vec![
            uid(&u),
            en(tag::ATTRIBUTE_REFERENCE, tag::DEACTIVATION_DATE),
            en(
                tag::ADJUSTMENT_TYPE,
                crate::spec::enums::adjustment_type::INCREMENT,
            ),
            v(tag::ADJUSTMENT_VALUE, Value::LongInteger(20)),
        ],
    );
    let got = ok(&e, 2, 1, Operation::GET_ATTRIBUTES, vec![uid(&u)]);
    let attrs = got.child(tag::ATTRIBUTES).unwrap();
    let names: Vec<&Ttlv> = attrs.children_with(tag::NAME).collect();
    assert_eq!(
        names,
        vec![
            &v(tag::NAME, name_value("a")),
            &v(tag::NAME, name_value("c"))
        ]
    );
    assert_eq!(
        attrs.child(tag::COMMENT),
        Some(&text(tag::COMMENT, "hello"))
    );
    assert_eq!(
        attrs.child(tag::DEACTIVATION_DATE),
        Some(&v(tag::DEACTIVATION_DATE, Value::DateTime(NOW + 120)))
    );
    ok(
        &e,
        2,
        1,
        Operation::DELETE_ATTRIBUTE,
        vec![uid(&u), en(tag::ATTRIBUTE_REFERENCE, tag::NAME)],
    );
    ok(
        &e,
        2,
        1,
        Operation::DELETE_ATTRIBUTE,
        vec![
            uid(&u),
            st(tag::CURRENT_ATTRIBUTE, vec![text(tag::COMMENT, "hello")]),
        ],
    );
    assert_eq!(
        fails(
            &e,
            2,
            1,
            Operation::DELETE_ATTRIBUTE,
            vec![uid(&u), en(tag::ATTRIBUTE_REFERENCE, tag::NAME)]
        ),
        ResultReason::AttributeNotFound.code()
    );
    let after = ok(&e, 2, 1, Operation::GET_ATTRIBUTES, vec![uid(&u)]);
    let attrs = after.child(tag::ATTRIBUTES).unwrap();
    assert!(attrs.child(tag::NAME).is_none() && attrs.child(tag::COMMENT).is_none());
    assert_eq!(
        attrs.child(tag::LAST_CHANGE_DATE),
        Some(&v(tag::LAST_CHANGE_DATE, Value::DateTime(NOW)))
    );
}

#[test]
fn delete_attribute_in_1x_returns_what_it_deleted() {
    let e = engine();
    let u = create_1x(
        &e,
        4,
        128,
        vec![
            attr1("Name", name_value("n0")),
            attr1("Name", name_value("n1")),
        ],
    );
    let deleted = ok(
        &e,
        1,
        4,
        Operation::DELETE_ATTRIBUTE,
        vec![
            uid(&u),
            text(tag::ATTRIBUTE_NAME, "Name"),
            int(tag::ATTRIBUTE_INDEX, 1),
        ],
    );
    assert_eq!(attr_value_1x(&deleted, "Name"), Some(name_value("n1")));
    assert_eq!(
        fails(
            &e,
            1,
            4,
            Operation::DELETE_ATTRIBUTE,
            vec![
                uid(&u),
                text(tag::ATTRIBUTE_NAME, "Name"),
                int(tag::ATTRIBUTE_INDEX, 1)
            ]
        ),
        ResultReason::ItemNotFound.code()
    );
    assert_eq!(
        fails(
            &e,
            1,
            4,
            Operation::DELETE_ATTRIBUTE,
            vec![uid(&u), text(tag::ATTRIBUTE_NAME, "Cryptographic Length")]
        ),
        ResultReason::PermissionDenied.code()
    );
}

#[test]
fn sensitive_and_unextractable_keys_are_not_returned_in_clear() {
    let e = engine();
    let sensitive = create_2x(&e, vec![v(tag::SENSITIVE, Value::Boolean(true))]);
    assert_eq!(
        fails(&e, 2, 1, Operation::GET, vec![uid(&sensitive)]),
        ResultReason::Sensitive.code()
    );
    assert_eq!(
        fails(&e, 1, 2, Operation::GET, vec![uid(&sensitive)]),
        ResultReason::PermissionDenied.code()
    );
    let kept = create_2x(&e, vec![v(tag::EXTRACTABLE, Value::Boolean(false))]);
    assert_eq!(
        fails(&e, 2, 1, Operation::GET, vec![uid(&kept)]),
        ResultReason::NotExtractable.code()
    );
}

#[test]
fn get_converts_between_raw_and_transparent_symmetric_key() {
    let e = engine();
    let u = create_2x(&e, vec![]);
    let raw = key_bytes(&ok(&e, 2, 1, Operation::GET, vec![uid(&u)]));
    let transparent = ok(
        &e,
        2,
        1,
        Operation::GET,
        vec![
            uid(&u),
            en(tag::KEY_FORMAT_TYPE, kft::TRANSPARENT_SYMMETRIC_KEY),
        ],
    );
    let block = transparent
        .child(tag::SYMMETRIC_KEY)
        .unwrap()
        .child(tag::KEY_BLOCK)
        .unwrap();
    assert_eq!(
        block.child(tag::KEY_FORMAT_TYPE),
        Some(&en(tag::KEY_FORMAT_TYPE, kft::TRANSPARENT_SYMMETRIC_KEY))
    );
    let key = block
        .child(tag::KEY_VALUE)
        .unwrap()
        .child(tag::KEY_MATERIAL)
        .unwrap()
        .child(tag::KEY)
        .unwrap();
    assert_eq!(key.value, Value::ByteString(raw.into()));
    assert_eq!(
        fails(
            &e,
            2,
            1,
            Operation::GET,
            vec![uid(&u), en(tag::KEY_FORMAT_TYPE, kft::PKCS_8)]
        ),
        ResultReason::KeyFormatTypeNotSupported.code()
    );
}

#[test]
fn check_obtain_lease_and_usage_allocation() {
    let e = engine();
    let u = create_2x(
        &e,
        vec![st(
            tag::USAGE_LIMITS,
            vec![
                v(tag::USAGE_LIMITS_TOTAL, Value::LongInteger(10)),
                v(tag::USAGE_LIMITS_COUNT, Value::LongInteger(10)),
                en(tag::USAGE_LIMITS_UNIT, 1),
            ],
        )],
    );
    ok(
        &e,
        2,
        1,
        Operation::CHECK,
        vec![uid(&u), int(tag::CRYPTOGRAPHIC_USAGE_MASK, 4)],
    );
    assert_eq!(
        fails(
            &e,
            2,
            1,
            Operation::CHECK,
            vec![uid(&u), int(tag::CRYPTOGRAPHIC_USAGE_MASK, 1)]
        ),
        ResultReason::IncompatibleCryptographicUsageMask.code()
    );
    assert_eq!(
        fails(&e, 2, 1, Operation::OBTAIN_LEASE, vec![uid(&u)]),
        ResultReason::PermissionDenied.code()
    );
    ok(&e, 2, 1, Operation::ACTIVATE, vec![uid(&u)]);
    let lease = ok(&e, 2, 1, Operation::OBTAIN_LEASE, vec![uid(&u)]);
    assert_eq!(
        lease.child(tag::LEASE_TIME),
        Some(&v(
            tag::LEASE_TIME,
            Value::Interval(super::lifecycle::DEFAULT_LEASE_SECONDS)
        ))
    );
    ok(
        &e,
        2,
        1,
        Operation::GET_USAGE_ALLOCATION,
        vec![uid(&u), v(tag::USAGE_LIMITS_COUNT, Value::LongInteger(7))],
    );
    assert_eq!(
        fails(
            &e,
            2,
            1,
            Operation::GET_USAGE_ALLOCATION,
            vec![uid(&u), v(tag::USAGE_LIMITS_COUNT, Value::LongInteger(4))]
        ),
        ResultReason::PermissionDenied.code()
    );
    assert_eq!(
        fails(
            &e,
            2,
            1,
            Operation::CHECK,
            vec![uid(&u), v(tag::USAGE_LIMITS_COUNT, Value::LongInteger(4))]
        ),
        ResultReason::UsageLimitExceeded.code()
    );
}

#[test]
fn keys_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Engine::open(EngineConfig {
            clock: || NOW,
            data_dir: dir.path().to_path_buf(),
            ..EngineConfig::default()
        })
        .unwrap()
    };
    let (u, key) = {
        let e = open();
        let u = create_2x(&e, vec![]);
        (
            u.clone(),
            key_bytes(&ok(&e, 2, 1, Operation::GET, vec![uid(&u)])),
        )
    };
    let e = open();
    assert_eq!(key_bytes(&ok(&e, 2, 1, Operation::GET, vec![uid(&u)])), key);
}

#[test]
fn the_configured_lease_is_set_on_new_objects_and_caps_obtain_lease() {
    let dir = tempfile::tempdir().unwrap();
    let open = |lease_seconds| {
        Engine::open(EngineConfig {
            clock: || NOW,
            data_dir: dir.path().to_path_buf(),
            lease_seconds,
            ..EngineConfig::default()
        })
        .unwrap()
    };
    let lease_of = |e: &Engine, u: &str| {
        ok(e, 2, 1, Operation::OBTAIN_LEASE, vec![uid(u)])
            .child(tag::LEASE_TIME)
            .map(|l| l.value.clone())
    };
    let attr_of = |e: &Engine, u: &str| {
        ok(e, 2, 1, Operation::GET_ATTRIBUTES, vec![uid(u)])
            .child(tag::ATTRIBUTES)
            .and_then(|a| a.child(tag::LEASE_TIME))
            .map(|l| l.value.clone())
    };
    // Made under the default lease (3600 s).
    let old = {
        let e = open(super::lifecycle::DEFAULT_LEASE_SECONDS);
        let u = create_2x(&e, vec![]);
        ok(&e, 2, 1, Operation::ACTIVATE, vec![uid(&u)]);
        assert_eq!(lease_of(&e, &u), Some(Value::Interval(3600)));
        u
    };
    // Reopened with a 90-second lease: new objects carry it, and no lease granted is longer.
    let e = open(90);
    let new = create_2x(&e, vec![]);
    assert_eq!(attr_of(&e, &new), Some(Value::Interval(90)));
    ok(&e, 2, 1, Operation::ACTIVATE, vec![uid(&new)]);
    assert_eq!(lease_of(&e, &new), Some(Value::Interval(90)));
    assert_eq!(attr_of(&e, &old), Some(Value::Interval(3600)));
    assert_eq!(lease_of(&e, &old), Some(Value::Interval(90)));
}

#[test]
fn query_reports_the_lifecycle_operations() {
    let ops: Vec<Operation> = implemented_operations().collect();
    for op in [
        Operation::CREATE,
        Operation::REGISTER,
        Operation::GET,
        Operation::LOCATE,
        Operation::REKEY,
        Operation::ACTIVATE,
        Operation::REVOKE,
        Operation::DESTROY,
        Operation::ARCHIVE,
        Operation::RECOVER,
        Operation::SET_ATTRIBUTE,
        Operation::ADJUST_ATTRIBUTE,
    ] {
        assert!(ops.contains(&op), "{op}");
    }
}

#[test]
fn get_wraps_a_sensitive_key_under_another_managed_key() {
    use crate::kmip::wrap::{AesKeyWrap, aes_unwrap};
    use crate::spec::enums::{encoding_option, wrapping_method};
    let e = engine();
    let kek = wrapping_kek(&e);
    let secret = create_2x(&e, vec![v(tag::SENSITIVE, Value::Boolean(true))]);
    let kek_bytes = key_bytes(&ok(&e, 2, 1, Operation::GET, vec![uid(&kek)]));
    let spec = |wrapping: &str| {
        st(
            tag::KEY_WRAPPING_SPECIFICATION,
            vec![
                en(tag::WRAPPING_METHOD, wrapping_method::ENCRYPT),
                st(tag::ENCRYPTION_KEY_INFORMATION, vec![uid(wrapping)]),
                en(tag::ENCODING_OPTION, encoding_option::NO_ENCODING),
            ],
        )
    };
    let got = ok(&e, 2, 1, Operation::GET, vec![uid(&secret), spec(&kek)]);
    let block = got
        .child(tag::SYMMETRIC_KEY)
        .unwrap()
        .child(tag::KEY_BLOCK)
        .unwrap();
    assert!(block.child(tag::KEY_WRAPPING_DATA).is_some());
    let wrapped = match &block.child(tag::KEY_VALUE).unwrap().value {
        Value::ByteString(b) => b.as_slice().to_vec(),
        other => panic!("wrapped Key Value is not bytes: {other:?}"),
    };
    let clear = aes_unwrap(&kek_bytes, &wrapped, AesKeyWrap::Rfc3394).unwrap();
    assert_eq!(clear.len(), 32);
    assert_eq!(
        fails(
            &e,
            2,
            1,
            Operation::GET,
            vec![uid(&secret), spec("missing")]
        ),
        ResultReason::WrappingObjectNotFound.code()
    );
    ok(&e, 2, 1, Operation::ARCHIVE, vec![uid(&kek)]);
    assert_eq!(
        fails(&e, 2, 1, Operation::GET, vec![uid(&secret), spec(&kek)]),
        ResultReason::WrappingObjectArchived.code()
    );
}

#[test]
fn get_attributes_skips_names_the_object_cannot_have() {
    let e = engine();
    let u = create_1x(&e, 4, 128, vec![]);
    let got = get_attrs_1x(&e, 4, &u, &["No Such Attribute", "State", "x-Missing"]);
    assert_eq!(
        attr_value_1x(&got, "State"),
        Some(Value::Enumeration(state::PRE_ACTIVE))
    );
    assert_eq!(got.children_with(tag::ATTRIBUTE).count(), 1);
}

#[test]
fn interop_answers_only_on_a_test_server_and_log_always() {
    let e = engine();
    let payload = || {
        vec![
            en(
                tag::INTEROP_FUNCTION,
                crate::spec::enums::interop_function::BEGIN,
            ),
            text(tag::INTEROP_IDENTIFIER, "BL-M-1-21"),
        ]
    };
    assert_eq!(
        fails(&e, 2, 1, Operation::INTEROP, payload()),
        ResultReason::OperationNotSupported.code()
    );
    assert!(!implemented_operations().any(|op| op == Operation::INTEROP));
    ok(
        &e,
        2,
        1,
        Operation::LOG,
        vec![text(tag::LOG_MESSAGE, "hello")],
    );
    let dir = tempfile::tempdir().unwrap();
    let test_server = Engine::open(EngineConfig {
        data_dir: dir.path().to_path_buf(),
        interop_tests: true,
        ..EngineConfig::default()
    })
    .unwrap();
    let done = ok(&test_server, 2, 1, Operation::INTEROP, payload());
    assert!(done.children().is_empty());
    assert!(operations_for(test_server.config()).any(|op| op == Operation::INTEROP));
}

#[test]
fn names_are_unique_and_sensitivity_history_is_kept() {
    let e = engine();
    let a = create_2x(&e, vec![v(tag::NAME, name_value("shared"))]);
    let b = create_2x(&e, vec![v(tag::SENSITIVE, Value::Boolean(true))]);
    let new_attr = |a: Ttlv| st(tag::NEW_ATTRIBUTE, vec![a]);
    assert_eq!(
        fails(
            &e,
            2,
            1,
            Operation::ADD_ATTRIBUTE,
            vec![uid(&b), new_attr(v(tag::NAME, name_value("shared")))]
        ),
        ResultReason::NonUniqueNameAttribute.code()
    );
    let flags = |u: &str| {
        let got = ok(&e, 2, 1, Operation::GET_ATTRIBUTES, vec![uid(u)]);
        let attrs = got.child(tag::ATTRIBUTES).unwrap().clone();
        [
            tag::SENSITIVE,
            tag::ALWAYS_SENSITIVE,
            tag::EXTRACTABLE,
            tag::NEVER_EXTRACTABLE,
        ]
        .map(|t| attrs.child(t).map(|x| x.value.clone()))
    };
    let t = Some(Value::Boolean(true));
    let f = Some(Value::Boolean(false));
    assert_eq!(flags(&a), [f.clone(), f.clone(), t.clone(), f.clone()]);
    assert_eq!(flags(&b), [t.clone(), t.clone(), t.clone(), f.clone()]);
    ok(
        &e,
        2,
        1,
        Operation::SET_ATTRIBUTE,
        vec![uid(&b), new_attr(v(tag::SENSITIVE, Value::Boolean(false)))],
    );
    ok(
        &e,
        2,
        1,
        Operation::SET_ATTRIBUTE,
        vec![uid(&b), new_attr(v(tag::SENSITIVE, Value::Boolean(true)))],
    );
    assert_eq!(flags(&b), [t.clone(), f.clone(), t, f]);
}

#[test]
fn locate_by_state_sees_states_that_dates_have_changed() {
    let dir = tempfile::tempdir().unwrap();
    let open = |clock: fn() -> i64| {
        Engine::open(EngineConfig {
            clock,
            data_dir: dir.path().to_path_buf(),
            ..EngineConfig::default()
        })
        .unwrap()
    };
    let u = {
        let e = open(|| NOW);
        create_1x(
            &e,
            4,
            128,
            vec![attr1("Activation Date", Value::DateTime(NOW + 10))],
        )
    };
    let later = open(|| NOW + 20);
    let active = ok(
        &later,
        1,
        4,
        Operation::LOCATE,
        vec![attr1("State", Value::Enumeration(state::ACTIVE))],
    );
    assert_eq!(uid_of(&active), u);
    let pre_active = ok(
        &later,
        1,
        4,
        Operation::LOCATE,
        vec![attr1("State", Value::Enumeration(state::PRE_ACTIVE))],
    );
    assert!(pre_active.child(tag::UNIQUE_IDENTIFIER).is_none());
}

/// A request like [`request`] whose header asks for Batch Error Continuation Option Undo.
fn undo_request(major: i32, minor: i32, items: Vec<(Operation, Vec<Ttlv>)>) -> Ttlv {
    let mut req = request(major, minor, items);
    let Value::Structure(fields) = &mut req.value else {
        unreachable!()
    };
    let Value::Structure(header) = &mut fields[0].value else {
        unreachable!()
    };
    header.insert(1, en(tag::BATCH_ERROR_CONTINUATION_OPTION, 3));
    req
}

fn run_undo(engine: &Engine, items: Vec<(Operation, Vec<Ttlv>)>) -> Vec<Ttlv> {
    let resp = engine.handle_request(&undo_request(1, 4, items));
    resp.children_with(tag::BATCH_ITEM).cloned().collect()
}

#[test]
fn undo_reverts_every_earlier_item_of_a_failing_batch() {
    let engine = engine();
    let kept = create_1x(&engine, 4, 256, vec![attr1("Name", name_value("kept"))]);
    let doomed = create_1x(&engine, 4, 128, vec![]);
    let material = key_bytes(&ok(&engine, 1, 4, Operation::GET, vec![uid(&doomed)]));
    let before = ok(&engine, 1, 4, Operation::LOCATE, vec![]);
    let items = run_undo(
        &engine,
        vec![
            (Operation::ACTIVATE, vec![uid(&kept)]),
            (
                Operation::ADD_ATTRIBUTE,
                vec![uid(&kept), attr1("Name", name_value("added"))],
            ),
            (
                Operation::CREATE,
                vec![
                    en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
                    st(
                        tag::TEMPLATE_ATTRIBUTE,
                        vec![
                            attr1("Cryptographic Algorithm", Value::Enumeration(alg::AES)),
                            attr1("Cryptographic Length", Value::Integer(128)),
                        ],
                    ),
                ],
            ),
            (Operation::DESTROY, vec![uid(&doomed)]),
            (Operation::GET, vec![uid("no-such-object")]),
            (Operation::ACTIVATE, vec![uid(&doomed)]),
        ],
    );
    // The failing item ends the batch; the four before it are answered Operation Undone with their payloads.
    assert_eq!(items.len(), 5);
    for item in &items[..4] {
        assert_eq!(
            status(item),
            ResultStatus::OperationUndone.code(),
            "{item:?}"
        );
        assert!(item.child(tag::RESPONSE_PAYLOAD).is_some());
    }
    assert_eq!(status(&items[4]), ResultStatus::OperationFailed.code());
    let created = uid_of(items[2].child(tag::RESPONSE_PAYLOAD).unwrap());
    // Activate, Add Attribute, Create and Destroy left no trace.
    assert_eq!(
        state_1x(&engine, &kept),
        Value::Enumeration(state::PRE_ACTIVE)
    );
    let names = get_attrs_1x(&engine, 4, &kept, &["Name"]);
    assert_eq!(names.children_with(tag::ATTRIBUTE).count(), 1);
    assert_eq!(
        fails(&engine, 1, 4, Operation::GET, vec![uid(&created)]),
        ResultReason::ItemNotFound.code()
    );
    let again = ok(&engine, 1, 4, Operation::GET, vec![uid(&doomed)]);
    assert_eq!(key_bytes(&again), material);
    assert_eq!(ok(&engine, 1, 4, Operation::LOCATE, vec![]), before);
}

#[test]
fn undo_batches_that_succeed_are_answered_success_and_kept() {
    let engine = engine();
    let key = create_1x(&engine, 4, 256, vec![]);
    let items = run_undo(
        &engine,
        vec![
            (Operation::ACTIVATE, vec![uid(&key)]),
            (Operation::GET, vec![uid(&key)]),
        ],
    );
    assert_eq!(items.len(), 2);
    for item in &items {
        assert_eq!(status(item), ResultStatus::Success.code());
    }
    assert_eq!(state_1x(&engine, &key), Value::Enumeration(state::ACTIVE));
}

#[test]
fn undo_batches_that_step_a_stream_are_refused_whole() {
    let engine = engine();
    let key = create_1x(&engine, 4, 256, vec![]);
    let items = run_undo(
        &engine,
        vec![
            (Operation::ACTIVATE, vec![uid(&key)]),
            (
                Operation::ENCRYPT,
                vec![uid(&key), v(tag::INIT_INDICATOR, Value::Boolean(true))],
            ),
        ],
    );
    assert_eq!(items.len(), 2);
    let feature = ResultReason::FeatureNotSupported.code();
    for item in &items {
        assert_eq!(status(item), ResultStatus::OperationFailed.code());
        assert_eq!(
            item.child(tag::RESULT_REASON).map(|r| &r.value),
            Some(&Value::Enumeration(feature))
        );
    }
    // Nothing ran.
    assert_eq!(
        state_1x(&engine, &key),
        Value::Enumeration(state::PRE_ACTIVE)
    );
}

#[test]
fn register_of_a_wrapped_key_stores_it_wrapped_or_unwraps_it_when_asked() {
    use crate::spec::enums::{key_wrap_type, wrapping_method};
    let e = engine();
    let kek = wrapping_kek(&e);
    let key = create_2x(&e, vec![]);
    let clear = key_bytes(&ok(&e, 2, 1, Operation::GET, vec![uid(&key)]));
    let spec = st(
        tag::KEY_WRAPPING_SPECIFICATION,
        vec![
            en(tag::WRAPPING_METHOD, wrapping_method::ENCRYPT),
            st(tag::ENCRYPTION_KEY_INFORMATION, vec![uid(&kek)]),
        ],
    );
    let wrapped = ok(&e, 2, 1, Operation::GET, vec![uid(&key), spec])
        .child(tag::SYMMETRIC_KEY)
        .unwrap()
        .clone();
    let register = |extra: Vec<Ttlv>| {
        let mut payload = vec![
            en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
            st(
                tag::ATTRIBUTES,
                vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 12)],
            ),
            wrapped.clone(),
        ];
        payload.extend(extra);
        payload
    };
    // As provided: stored wrapped, linked to the wrapping key, returned as registered unless asked otherwise.
    let as_is = uid_of(&ok(&e, 2, 1, Operation::REGISTER, register(vec![])));
    let got = ok(&e, 2, 1, Operation::GET, vec![uid(&as_is)]);
    assert_eq!(got.child(tag::SYMMETRIC_KEY).unwrap(), &wrapped);
    let links = ok(
        &e,
        2,
        1,
        Operation::GET_ATTRIBUTES,
        vec![uid(&as_is), en(tag::ATTRIBUTE_REFERENCE, tag::LINK)],
    );
    let link = links
        .child(tag::ATTRIBUTES)
        .unwrap()
        .child(tag::LINK)
        .unwrap();
    assert_eq!(
        link.child(tag::LINK_TYPE).unwrap().value,
        Value::Enumeration(link_type::WRAPPING_KEY_LINK)
    );
    assert_eq!(
        link.child(tag::LINKED_OBJECT_IDENTIFIER).unwrap().value,
        Value::TextString(kek.clone())
    );
    let not_wrapped = en(tag::KEY_WRAP_TYPE, key_wrap_type::NOT_WRAPPED);
    let unwrapped_get = ok(
        &e,
        2,
        1,
        Operation::GET,
        vec![uid(&as_is), not_wrapped.clone()],
    );
    assert_eq!(key_bytes(&unwrapped_get), clear);
    // Not Wrapped: unwrapped before it is stored.
    let opened = uid_of(&ok(
        &e,
        2,
        1,
        Operation::REGISTER,
        register(vec![not_wrapped.clone()]),
    ));
    assert_eq!(
        key_bytes(&ok(&e, 2, 1, Operation::GET, vec![uid(&opened)])),
        clear
    );
    // The wrapping key must be there to unwrap with (an Active key is revoked before it can be destroyed).
    ok(
        &e,
        2,
        1,
        Operation::REVOKE,
        vec![
            uid(&kek),
            st(
                tag::REVOCATION_REASON,
                vec![en(tag::REVOCATION_REASON_CODE, rrc::CESSATION_OF_OPERATION)],
            ),
        ],
    );
    ok(&e, 2, 1, Operation::DESTROY, vec![uid(&kek)]);
    assert_eq!(
        fails(&e, 2, 1, Operation::REGISTER, register(vec![not_wrapped])),
        ResultReason::WrappingObjectDestroyed.code()
    );
}

#[test]
fn generated_objects_carry_their_generator_lease_and_short_identifier() {
    use crate::spec::enums::{drbg_algorithm, rng_algorithm};
    let e = engine();
    let created = create_2x(&e, vec![]);
    let all = ok(&e, 2, 1, Operation::GET_ATTRIBUTES, vec![uid(&created)]);
    let attrs = all.child(tag::ATTRIBUTES).unwrap();
    let rng = attrs.child(tag::RANDOM_NUMBER_GENERATOR).unwrap();
    assert_eq!(
        rng.child(tag::RNG_ALGORITHM).unwrap().value,
        Value::Enumeration(rng_algorithm::DRBG)
    );
    assert_eq!(
        rng.child(tag::DRBG_ALGORITHM).unwrap().value,
        Value::Enumeration(drbg_algorithm::CTR)
    );
    assert_eq!(
        attrs.child(tag::ORIGINAL_CREATION_DATE),
        attrs
            .child(tag::INITIAL_DATE)
            .map(|d| v(tag::ORIGINAL_CREATION_DATE, d.value.clone()))
            .as_ref()
    );
    assert_eq!(
        attrs.child(tag::LEASE_TIME).unwrap().value,
        Value::Interval(super::lifecycle::DEFAULT_LEASE_SECONDS)
    );
    assert_eq!(
        attrs.child(tag::KEY_FORMAT_TYPE).unwrap().value,
        Value::Enumeration(kft::RAW)
    );
    let short = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, created.as_bytes());
    assert_eq!(
        attrs.child(tag::SHORT_UNIQUE_IDENTIFIER).unwrap().value,
        Value::ByteString(short.as_ref().to_vec().into())
    );
    // 1.x has no Short Unique Identifier; it does have Lease Time and Random Number Generator.
    let names = ok(&e, 1, 4, Operation::GET_ATTRIBUTE_LIST, vec![uid(&created)]);
    let names: Vec<&Value> = names
        .children_with(tag::ATTRIBUTE_NAME)
        .map(|n| &n.value)
        .collect();
    assert!(names.contains(&&Value::TextString("Lease Time".into())));
    assert!(names.contains(&&Value::TextString("Random Number Generator".into())));
    assert!(
        !names
            .iter()
            .any(|n| matches!(n, Value::TextString(s) if s.contains("Short")))
    );
    // A client may ask for the server's generator, not for one it does not have; the generator is read-only.
    let asked = |alg: u32| {
        st(
            tag::RANDOM_NUMBER_GENERATOR,
            vec![en(tag::RNG_ALGORITHM, alg)],
        )
    };
    create_2x(&e, vec![asked(rng_algorithm::DRBG)]);
    create_2x(&e, vec![asked(rng_algorithm::UNSPECIFIED)]);
    let refused = run(
        &e,
        2,
        1,
        vec![(
            Operation::CREATE,
            vec![
                en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
                st(
                    tag::ATTRIBUTES,
                    vec![
                        en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::AES),
                        int(tag::CRYPTOGRAPHIC_LENGTH, 256),
                        asked(rng_algorithm::ANSIX9_31),
                    ],
                ),
            ],
        )],
    );
    assert_eq!(
        refused[0].child(tag::RESULT_REASON).unwrap().value,
        Value::Enumeration(ResultReason::InvalidAttributeValue.code())
    );
    assert_eq!(
        fails(
            &e,
            2,
            1,
            Operation::MODIFY_ATTRIBUTE,
            vec![
                uid(&created),
                st(tag::NEW_ATTRIBUTE, vec![asked(rng_algorithm::DRBG)])
            ]
        ),
        ResultReason::AttributeReadOnly.code()
    );
    // A registered object was not generated here: no generator, no Original Creation Date unless the client
    // gives one.
    let registered = uid_of(&ok(
        &e,
        2,
        1,
        Operation::REGISTER,
        vec![
            en(tag::OBJECT_TYPE, ot::SECRET_DATA),
            st(tag::ATTRIBUTES, vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 0)]),
            secret_data(secret_data_type::PASSWORD, b"pw"),
        ],
    ));
    let reg = ok(&e, 2, 1, Operation::GET_ATTRIBUTES, vec![uid(&registered)]);
    let reg = reg.child(tag::ATTRIBUTES).unwrap();
    assert!(reg.child(tag::RANDOM_NUMBER_GENERATOR).is_none());
    assert!(reg.child(tag::ORIGINAL_CREATION_DATE).is_none());
    assert!(reg.child(tag::LEASE_TIME).is_some());
    // ... which it may add once later, and never change.
    let original = || {
        st(
            tag::NEW_ATTRIBUTE,
            vec![v(
                tag::ORIGINAL_CREATION_DATE,
                Value::DateTime(NOW - 86_400),
            )],
        )
    };
    ok(
        &e,
        2,
        1,
        Operation::ADD_ATTRIBUTE,
        vec![uid(&registered), original()],
    );
    assert_eq!(
        fails(
            &e,
            2,
            1,
            Operation::ADD_ATTRIBUTE,
            vec![uid(&registered), original()]
        ),
        ResultReason::AttributeSingleValued.code()
    );
    assert_eq!(
        fails(
            &e,
            2,
            1,
            Operation::MODIFY_ATTRIBUTE,
            vec![uid(&registered), original()]
        ),
        ResultReason::AttributeReadOnly.code()
    );
}

#[test]
fn a_registered_certificate_gets_its_attributes_in_each_version() {
    use crate::spec::enums::certificate_type;
    let e = engine();
    let mut params = rcgen::CertificateParams::new(vec!["db.example".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "db key");
    let key = rcgen::KeyPair::generate().unwrap();
    let der = params.self_signed(&key).unwrap().der().to_vec();
    let certificate = |value: Vec<u8>| {
        st(
            tag::CERTIFICATE,
            vec![
                en(tag::CERTIFICATE_TYPE, certificate_type::X_509),
                v(tag::CERTIFICATE_VALUE, Value::ByteString(value.into())),
            ],
        )
    };
    let registered = uid_of(&ok(
        &e,
        1,
        4,
        Operation::REGISTER,
        vec![
            en(tag::OBJECT_TYPE, ot::CERTIFICATE),
            st(tag::TEMPLATE_ATTRIBUTE, vec![]),
            certificate(der.clone()),
        ],
    ));
    let got = get_attrs_1x(
        &e,
        4,
        &registered,
        &[
            "Certificate Length",
            "X.509 Certificate Subject",
            "Certificate Type",
        ],
    );
    assert_eq!(
        attr_value_1x(&got, "Certificate Length"),
        Some(Value::Integer(i32::try_from(der.len()).unwrap()))
    );
    assert_eq!(
        attr_value_1x(&got, "Certificate Type"),
        Some(Value::Enumeration(certificate_type::X_509))
    );
    assert!(attr_value_1x(&got, "X.509 Certificate Subject").is_some());
    let two = ok(
        &e,
        2,
        1,
        Operation::GET_ATTRIBUTES,
        vec![
            uid(&registered),
            en(tag::ATTRIBUTE_REFERENCE, tag::CERTIFICATE_SUBJECT_CN),
        ],
    );
    assert_eq!(
        two.child(tag::ATTRIBUTES).unwrap().children(),
        &[text(tag::CERTIFICATE_SUBJECT_CN, "db key")]
    );
    assert_eq!(
        fails(
            &e,
            1,
            4,
            Operation::MODIFY_ATTRIBUTE,
            vec![
                uid(&registered),
                attr1("Certificate Length", Value::Integer(1))
            ]
        ),
        ResultReason::AttributeReadOnly.code_in(ProtocolVersion::V1_4)
    );
    assert_eq!(
        fails(
            &e,
            1,
            4,
            Operation::REGISTER,
            vec![
                en(tag::OBJECT_TYPE, ot::CERTIFICATE),
                certificate(b"not DER".to_vec()),
            ]
        ),
        ResultReason::InvalidField.code()
    );
}

#[test]
fn locate_set_based_visibility_matches_the_per_object_check() {
    use crate::access::grants::{self, Grant, Target};
    use crate::access::policy::{Decision, OpClass, Policy, Subject};
    use crate::access::{AccessControl, Caller};
    use std::sync::Arc;

    let e = engine();
    let group = |g: &str| text(tag::OBJECT_GROUP, g);
    // Owned by alice, by bob, by nobody (from before access control), in no group, in one, in two.
    let made: Vec<(String, Option<&str>)> = vec![
        (create_2x(&e, vec![]), Some("alice")),
        (create_2x(&e, vec![group("payroll")]), Some("alice")),
        (create_2x(&e, vec![]), Some("bob")),
        (create_2x(&e, vec![group("payroll")]), Some("bob")),
        (create_2x(&e, vec![group("mongodb")]), Some("bob")),
        (
            create_2x(&e, vec![group("mongodb"), group("payroll")]),
            None,
        ),
        (create_2x(&e, vec![group("other")]), Some("bob")),
        (create_2x(&e, vec![]), None),
        (create_2x(&e, vec![group("other")]), Some("carol")),
    ];
    let owners: Vec<_> = made
        .iter()
        .filter_map(|(uid, owner)| owner.map(|o| grants::set_owner(uid, o)))
        .collect();
    e.store.commit(owners).unwrap();
    // A grant on one of bob's objects to alice, and one on Object Group "other" to group ops.
    for grant in [
        Grant {
            id: "one".into(),
            subject: Subject::User("alice".into()),
            target: Target::Object(made[2].0.clone()),
            classes: vec![OpClass::Get],
            granted_by: "bob".into(),
        },
        Grant {
            id: "group".into(),
            subject: Subject::Group("ops".into()),
            target: Target::ObjectGroup("other".into()),
            classes: vec![OpClass::Use],
            granted_by: "root".into(),
        },
    ] {
        grants::put(&e.store, &grant).unwrap();
    }
    let policy = Policy::from_toml(
        r#"
        administrators = ["root"]
        users = ["alice", "bob", "carol", "dave"]
        [groups]
        ops = ["alice"]
        mongodb = ["mongo-1"]
        [[rules]]
        subjects = ["group:mongodb"]
        object_group = "mongodb"
        operations = ["get"]
        "#,
    )
    .unwrap();
    let mut config = e.config.clone();
    config.access = AccessControl {
        policy: Arc::new(policy),
        audit: None,
    };
    let all: Vec<String> = made.iter().map(|(uid, _)| uid.clone()).collect();
    let at = |i: usize| all[i].clone();
    let expectations: Vec<(&str, Vec<String>)> = vec![
        // Owned, granted by object, granted by Object Group.
        ("alice", vec![at(0), at(1), at(2), at(6), at(8)]),
        ("bob", vec![at(2), at(3), at(4), at(6)]),
        // By standing rule on Object Group mongodb only.
        ("mongo-1", vec![at(4), at(5)]),
        ("dave", vec![]),
        ("root", all.clone()),
        ("stranger", vec![]),
    ];
    for (identity, expected) in expectations {
        let caller = Caller {
            peer: "127.0.0.1:1".parse().unwrap(),
            identity: identity.into(),
            certificate_sha256: [0; 32],
            in_process: false,
        };
        let principal = config.access.policy.principal(&caller, None).unwrap();
        let ctx = OpContext {
            version: ProtocolVersion::new(2, 1),
            strict: true,
            config: &config,
            store: &e.store,
            caller: &caller,
            batch: BatchIds::default(),
            now: 0,
            undo: None,
            principal: Some(principal.clone()),
            new_owner: None,
            streams: &e.streams,
            access_cache: Default::default(),
            operation: None,
        };
        let set_based = super::authorize::visible(&ctx, all.clone()).unwrap();
        // The per-object check: each object's own facts, read one by one, through the same decision.
        let stored_grants = grants::all(&e.store).unwrap();
        let one_by_one: Vec<String> = all
            .iter()
            .filter(|uid| {
                let facts = super::authorize::facts(&ctx, uid).unwrap();
                OpClass::ON_OBJECTS.iter().any(|c| {
                    config
                        .access
                        .policy
                        .decide(&principal, &facts, *c, &stored_grants)
                        == Decision::Allow
                })
            })
            .cloned()
            .collect();
        assert_eq!(set_based, one_by_one, "{identity}");
        assert_eq!(set_based, expected, "{identity}");
    }
}

/// An engine under a policy, its clock at NOW, and a network caller named `identity`.
fn engine_with_policy(
    dir: &tempfile::TempDir,
    policy: &str,
) -> (Engine, impl Fn(&str) -> crate::access::Caller) {
    use crate::access::policy::Policy;
    use crate::access::{AccessControl, Caller};
    let engine = Engine::open(EngineConfig {
        clock: || NOW,
        data_dir: dir.path().to_path_buf(),
        access: AccessControl {
            policy: std::sync::Arc::new(Policy::from_toml(policy).unwrap()),
            audit: None,
        },
        ..EngineConfig::default()
    })
    .unwrap();
    let caller = |identity: &str| Caller {
        peer: "127.0.0.1:1".parse().unwrap(),
        identity: identity.into(),
        certificate_sha256: [0; 32],
        in_process: false,
    };
    (engine, caller)
}

#[test]
fn access_checks_read_grants_once_and_each_object_once_per_request() {
    use crate::access::grants::{self, Grant, Target};
    use crate::access::policy::{OpClass, Subject};
    let dir = tempfile::tempdir().unwrap();
    let (e, caller) = engine_with_policy(&dir, "users = [\"alice\", \"bob\"]");
    let objects: Vec<String> = (0..5).map(|_| create_2x(&e, vec![])).collect();
    let bobs = create_2x(&e, vec![]);
    let hidden = create_2x(&e, vec![]);
    let mut owners: Vec<_> = objects
        .iter()
        .map(|u| grants::set_owner(u, "alice"))
        .collect();
    owners.push(grants::set_owner(&bobs, "bob"));
    owners.push(grants::set_owner(&hidden, "bob"));
    e.store.commit(owners).unwrap();
    grants::put(
        &e.store,
        &Grant {
            id: "g".into(),
            subject: Subject::User("alice".into()),
            target: Target::Object(bobs.clone()),
            classes: vec![OpClass::Get],
            granted_by: "bob".into(),
        },
    )
    .unwrap();
    let alice = caller("alice");
    let principal = e.config.access.policy.principal(&alice, None).unwrap();
    let mut ctx = OpContext {
        version: ProtocolVersion::new(2, 1),
        strict: true,
        config: &e.config,
        store: &e.store,
        caller: &alice,
        batch: BatchIds::default(),
        now: NOW,
        undo: None,
        principal: Some(principal.clone()),
        new_owner: None,
        streams: &e.streams,
        access_cache: Default::default(),
        operation: None,
    };
    // Three passes over the same objects, as a batch of Gets, Get Attributes and Encrypts would make.
    for class in [OpClass::Get, OpClass::Get, OpClass::Use] {
        for uid in &objects {
            super::authorize::object_allowed(&mut ctx, &principal, uid, class).unwrap();
        }
    }
    super::authorize::object_allowed(&mut ctx, &principal, &bobs, OpClass::Get).unwrap();
    let denied = super::authorize::object_allowed(&mut ctx, &principal, &bobs, OpClass::Use);
    assert_eq!(denied.unwrap_err().reason, ResultReason::PermissionDenied);
    let hidden_err = super::authorize::object_allowed(&mut ctx, &principal, &hidden, OpClass::Get);
    assert_eq!(hidden_err.unwrap_err().reason, ResultReason::ObjectNotFound);
    // The grants once; existence and owner once for each of the 7 objects (no rule or grant of alice's turns
    // on Object Groups, so none are read): the 18 checks of the old per-item path read 4 times each.
    assert_eq!(ctx.access_cache.reads(), 1 + 7 * 2);
    // A missing object is read again each time (it may be created by a later item), and costs the reads of
    // an existing one (existence and owner), so that refusing it takes as long as refusing a hidden one.
    for _ in 0..2 {
        let missing = super::authorize::object_allowed(&mut ctx, &principal, "nope", OpClass::Get);
        assert_eq!(missing.unwrap_err().reason, ResultReason::ObjectNotFound);
    }
    assert_eq!(ctx.access_cache.reads(), 1 + 7 * 2 + 2 * 2);
    // An item that may change access facts clears what was read; a read-only one keeps it.
    ctx.access_cache.after(Operation::GET);
    super::authorize::object_allowed(&mut ctx, &principal, &bobs, OpClass::Get).unwrap();
    assert_eq!(ctx.access_cache.reads(), 1 + 7 * 2 + 2 * 2);
    ctx.access_cache.after(Operation::ADD_ATTRIBUTE);
    super::authorize::object_allowed(&mut ctx, &principal, &bobs, OpClass::Get).unwrap();
    assert_eq!(ctx.access_cache.reads(), 1 + 7 * 2 + 2 * 2 + 3);
}

/// The status and, on failure, the Result Reason of each batch item.
fn outcomes(response: &Ttlv) -> Vec<Result<(), u32>> {
    response
        .children_with(tag::BATCH_ITEM)
        .map(
            |item| match item.child(tag::RESULT_REASON).map(|r| &r.value) {
                Some(Value::Enumeration(r)) => Err(*r),
                _ => Ok(()),
            },
        )
        .collect()
}

/// A request like [`request`] whose header asks for Batch Error Continuation Option Continue.
fn continue_request(major: i32, minor: i32, items: Vec<(Operation, Vec<Ttlv>)>) -> Ttlv {
    let mut req = request(major, minor, items);
    if let Value::Structure(fields) = &mut req.value
        && let Some(Value::Structure(header)) = fields.first_mut().map(|f| &mut f.value)
    {
        header.insert(1, en(tag::BATCH_ERROR_CONTINUATION_OPTION, 2));
    }
    req
}

#[test]
fn a_grant_revoked_within_a_batch_applies_to_its_later_items() {
    use crate::access::client::{OP_REVOKE_GRANT, TAG_ACCESS_JSON};
    use crate::access::grants::{self, Grant, Target};
    use crate::access::policy::{OpClass, Subject};
    // It can happen: carol granted herself Get on alice's key while she was an administrator; no longer one,
    // she may still revoke her own grant, and does so between two Gets of one batch.
    let dir = tempfile::tempdir().unwrap();
    let (e, caller) = engine_with_policy(&dir, "users = [\"alice\", \"carol\"]");
    let key = create_2x(&e, vec![]);
    e.store
        .commit(vec![grants::set_owner(&key, "alice")])
        .unwrap();
    grants::put(
        &e.store,
        &Grant {
            id: "own-grant".into(),
            subject: Subject::User("carol".into()),
            target: Target::Object(key.clone()),
            classes: vec![OpClass::Get],
            granted_by: "carol".into(),
        },
    )
    .unwrap();
    let revoke = vec![text(TAG_ACCESS_JSON, r#"{"id":"own-grant"}"#)];
    let response = e.handle_request_from(
        &continue_request(
            2,
            1,
            vec![
                (Operation::GET, vec![uid(&key)]),
                (OP_REVOKE_GRANT, revoke),
                (Operation::GET, vec![uid(&key)]),
            ],
        ),
        &caller("carol"),
    );
    assert_eq!(
        outcomes(&response),
        vec![Ok(()), Ok(()), Err(ResultReason::ObjectNotFound.code())]
    );
}

#[test]
fn an_object_group_removed_within_a_batch_applies_to_its_later_items() {
    // A rule gives dave Get and Add/Delete Attribute on Object Group "team"; he takes a key out of it and
    // then may no longer see it.
    let dir = tempfile::tempdir().unwrap();
    let (e, caller) = engine_with_policy(
        &dir,
        r#"
        users = ["alice", "dave"]
        [[rules]]
        subjects = ["dave"]
        object_group = "team"
        operations = ["get", "manage-attributes"]
        "#,
    );
    let key = create_2x(&e, vec![text(tag::OBJECT_GROUP, "team")]);
    e.store
        .commit(vec![crate::access::grants::set_owner(&key, "alice")])
        .unwrap();
    let response = e.handle_request_from(
        &continue_request(
            1,
            4,
            vec![
                (Operation::GET, vec![uid(&key)]),
                (
                    Operation::DELETE_ATTRIBUTE,
                    vec![uid(&key), text(tag::ATTRIBUTE_NAME, "Object Group")],
                ),
                (Operation::GET, vec![uid(&key)]),
            ],
        ),
        &caller("dave"),
    );
    assert_eq!(
        outcomes(&response),
        vec![
            Ok(()),
            Ok(()),
            Err(ResultReason::ObjectNotFound.code_in(ProtocolVersion::V1_4))
        ]
    );
}

/// Issue 11, finding 3, deterministically: a Get loads the key (Fresh set), a Destroy is acknowledged, then the
/// Get's write-back of Fresh = false, based on what it loaded, is refused: the key material does not come back.
#[test]
fn a_write_back_of_a_record_loaded_before_a_destroy_is_refused() {
    use super::object::Managed;
    use crate::store::{Mutation, StoreError};

    let engine = engine();
    let u = create_1x(&engine, 4, 256, vec![]);
    let store = engine.store();
    // The Get's load...
    let mut loaded = Managed::from_record(store.get(&u).unwrap().unwrap()).unwrap();
    assert_eq!(loaded.flag(tag::FRESH), Some(true));
    assert!(loaded.object.is_some());
    // ... a Destroy acknowledged meanwhile ...
    ok(&engine, 1, 4, Operation::DESTROY, vec![uid(&u)]);
    // ... and the Get's write-back of what it loaded.
    loaded.set(tag::FRESH, Value::Boolean(false));
    let refused = store.commit(vec![Mutation::Put(loaded.to_record())]);
    assert!(
        matches!(&refused, Err(StoreError::VersionConflict { uid: id, expected, found: Some(found) })
            if *id == u && *expected == loaded.version && *found > loaded.version),
        "{refused:?}"
    );
    let stored = store.get(&u).unwrap().unwrap();
    assert!(
        stored.object.is_none(),
        "the destroyed key material came back"
    );
    assert_eq!(
        fails(&engine, 2, 1, Operation::GET, vec![uid(&u)]),
        ResultReason::ObjectDestroyed.code()
    );
    // A client's request answered with the conflict is told so, as a failure naming the object.
    let kmip = refused.unwrap_err().to_kmip();
    assert!(
        kmip.message.contains("changed by another request"),
        "{}",
        kmip.message
    );
}

/// A change based on an older read of the object is refused for every write, not only Get's: an Archive that
/// loaded the key before an Activate was acknowledged cannot write back the Pre-Active key it read.
#[test]
fn an_operation_whose_read_went_stale_changes_nothing() {
    use super::object::Managed;
    use crate::store::{Mutation, StoreError};

    let engine = engine();
    let u = create_1x(&engine, 4, 256, vec![]);
    let store = engine.store();
    let mut stale = Managed::from_record(store.get(&u).unwrap().unwrap()).unwrap();
    ok(&engine, 1, 4, Operation::ACTIVATE, vec![uid(&u)]);
    stale.archived = true;
    assert!(matches!(
        store.commit(vec![Mutation::Put(stale.to_record())]),
        Err(StoreError::VersionConflict { .. })
    ));
    let stored = store.get(&u).unwrap().unwrap();
    assert!(!stored.archived);
    assert_eq!(state_1x(&engine, &u), Value::Enumeration(state::ACTIVE));
}

/// Create draws random bytes of a valid length for every symmetric algorithm of the specification, whether or
/// not kmipd has its cipher; DES and Triple DES keys carry odd parity in every byte; an invalid length or an
/// asymmetric algorithm is refused.
#[test]
fn create_makes_keys_of_every_symmetric_algorithm_with_des_parity() {
    let e = engine();
    let create = |algorithm: u32, bits: i32| {
        answer(
            &e,
            2,
            1,
            Operation::CREATE,
            vec![
                en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
                st(
                    tag::ATTRIBUTES,
                    vec![
                        en(tag::CRYPTOGRAPHIC_ALGORITHM, algorithm),
                        int(tag::CRYPTOGRAPHIC_LENGTH, bits),
                        int(tag::CRYPTOGRAPHIC_USAGE_MASK, 12),
                    ],
                ),
            ],
        )
    };
    let key_of = |algorithm: u32, bits: i32| {
        let response = create(algorithm, bits);
        assert_eq!(
            status(&response),
            ResultStatus::Success.code(),
            "algorithm {algorithm:#x}, {bits} bits: {response:?}"
        );
        let id = uid_of(response.child(tag::RESPONSE_PAYLOAD).unwrap());
        key_bytes(&ok(&e, 2, 1, Operation::GET, vec![uid(&id)]))
    };
    for (algorithm, bits, bytes) in [
        (alg::BLOWFISH, 128, 16),
        (alg::BLOWFISH, 448, 56),
        (alg::CAMELLIA, 192, 24),
        (alg::CAST5, 40, 5),
        (alg::IDEA, 128, 16),
        (alg::TWOFISH, 256, 32),
        (alg::RC4, 2048, 256),
        (alg::SKIPJACK, 80, 10),
        (alg::ARIA, 128, 16),
        (alg::SM4, 128, 16),
        (alg::CHA_CHA20, 256, 32),
        (alg::HMAC_SHA3_256, 256, 32),
        (alg::DES, 56, 8),
        (alg::DES3, 112, 16),
        (alg::DES3, 168, 24),
    ] {
        let key = key_of(algorithm, bits);
        assert_eq!(key.len(), bytes, "algorithm {algorithm:#x}, {bits} bits");
        if algorithm == alg::DES || algorithm == alg::DES3 {
            assert!(
                key.iter().all(|b| b.count_ones() % 2 == 1),
                "a DES key byte without odd parity: {key:02x?}"
            );
        }
    }
    for (algorithm, bits) in [
        (alg::BLOWFISH, 30),
        (alg::BLOWFISH, 456),
        (alg::CAMELLIA, 64),
        (alg::DES, 48),
        (alg::MARS, 130),
        (alg::RSA, 2048),
        (alg::SHA3_256, 256),
    ] {
        let response = create(algorithm, bits);
        assert_eq!(
            status(&response),
            ResultStatus::OperationFailed.code(),
            "algorithm {algorithm:#x}, {bits} bits was accepted"
        );
    }
}

/// Get of a destroyed key: Object Destroyed in 2.x; Item Not Found in 1.x, which has no Object Destroyed and
/// whose clients expect a destroyed object to be gone.
#[test]
fn get_after_destroy_answers_each_version_in_its_own_terms() {
    let e = engine();
    let k = create_2x(&e, vec![]);
    ok(&e, 2, 1, Operation::DESTROY, vec![uid(&k)]);
    assert_eq!(
        fails(&e, 2, 1, Operation::GET, vec![uid(&k)]),
        ResultReason::ObjectDestroyed.code()
    );
    for minor in [0, 2, 4] {
        assert_eq!(
            fails(&e, 1, minor, Operation::GET, vec![uid(&k)]),
            ResultReason::ItemNotFound.code(),
            "1.{minor}"
        );
    }
}

/// An Activation Date at or before now, given at creation (1.x and 2.x) or set later, makes the object Active;
/// a Deactivation Date at or before now makes it Deactivated; dates in the future leave it Pre-Active.
#[test]
fn reached_lifecycle_dates_move_the_state_at_creation_and_when_set() {
    let e = engine();
    let state_of = |u: &str| state_1x(&e, u);
    let past = create_2x(&e, vec![v(tag::ACTIVATION_DATE, Value::DateTime(NOW - 10))]);
    assert_eq!(state_of(&past), Value::Enumeration(state::ACTIVE));
    let now = create_2x(&e, vec![v(tag::ACTIVATION_DATE, Value::DateTime(NOW))]);
    assert_eq!(state_of(&now), Value::Enumeration(state::ACTIVE));
    let future = create_2x(
        &e,
        vec![v(tag::ACTIVATION_DATE, Value::DateTime(NOW + 100))],
    );
    assert_eq!(state_of(&future), Value::Enumeration(state::PRE_ACTIVE));
    let both = create_2x(
        &e,
        vec![
            v(tag::ACTIVATION_DATE, Value::DateTime(NOW - 20)),
            v(tag::DEACTIVATION_DATE, Value::DateTime(NOW - 10)),
        ],
    );
    assert_eq!(state_of(&both), Value::Enumeration(state::DEACTIVATED));
    let old = create_1x(
        &e,
        4,
        256,
        vec![attr1("Activation Date", Value::DateTime(NOW - 5))],
    );
    assert_eq!(state_of(&old), Value::Enumeration(state::ACTIVE));
    // Set later on a Pre-Active object.
    let later = create_2x(&e, vec![]);
    assert_eq!(state_of(&later), Value::Enumeration(state::PRE_ACTIVE));
    ok(
        &e,
        2,
        1,
        Operation::SET_ATTRIBUTE,
        vec![
            uid(&later),
            st(
                tag::NEW_ATTRIBUTE,
                vec![v(tag::ACTIVATION_DATE, Value::DateTime(NOW - 1))],
            ),
        ],
    );
    assert_eq!(state_of(&later), Value::Enumeration(state::ACTIVE));
    let added = create_1x(&e, 4, 256, vec![]);
    ok(
        &e,
        1,
        4,
        Operation::ADD_ATTRIBUTE,
        vec![uid(&added), attr1("Activation Date", Value::DateTime(NOW))],
    );
    assert_eq!(state_of(&added), Value::Enumeration(state::ACTIVE));
}

/// An Active AES key whose usage mask allows wrapping and unwrapping keys (and encrypting).
fn wrapping_kek(e: &Engine) -> String {
    let payload = ok(
        e,
        2,
        1,
        Operation::CREATE,
        vec![
            en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
            st(
                tag::ATTRIBUTES,
                vec![
                    en(tag::CRYPTOGRAPHIC_ALGORITHM, alg::AES),
                    int(tag::CRYPTOGRAPHIC_LENGTH, 256),
                    int(tag::CRYPTOGRAPHIC_USAGE_MASK, 0x0C | 0x10 | 0x20),
                ],
            ),
        ],
    );
    let kek = uid_of(&payload);
    ok(e, 2, 1, Operation::ACTIVATE, vec![uid(&kek)]);
    kek
}

/// Key wrapping is judged like Encrypt and Decrypt (`usage::check`): a wrapping key must be Active and carry
/// the Wrap Key bit; unwrapping needs the Unwrap Key bit and is also allowed for a key that may still process
/// (Compromised); a Pre-Active key, or one without the bit, cannot wrap.
#[test]
fn wrapping_keys_are_held_to_their_usage_mask_and_state() {
    use crate::spec::enums::{key_wrap_type, wrapping_method};
    let e = engine();
    let key = create_2x(&e, vec![]);
    let spec = |kek: &str| {
        st(
            tag::KEY_WRAPPING_SPECIFICATION,
            vec![
                en(tag::WRAPPING_METHOD, wrapping_method::ENCRYPT),
                st(tag::ENCRYPTION_KEY_INFORMATION, vec![uid(kek)]),
            ],
        )
    };
    let get_wrapped = |kek: &str| fails(&e, 2, 1, Operation::GET, vec![uid(&key), spec(kek)]);
    // Encrypt/Decrypt only (mask 12), Pre-Active: refused.
    let pre_active = create_2x(&e, vec![]);
    assert_eq!(
        get_wrapped(&pre_active),
        ResultReason::WrongKeyLifecycleState.code()
    );
    // Active but without the Wrap Key bit: refused.
    ok(&e, 2, 1, Operation::ACTIVATE, vec![uid(&pre_active)]);
    assert_eq!(
        get_wrapped(&pre_active),
        ResultReason::IncompatibleCryptographicUsageMask.code()
    );
    // With the bits and Active: wraps; the wrapped key unwraps under it.
    let kek = wrapping_kek(&e);
    let wrapped = ok(&e, 2, 1, Operation::GET, vec![uid(&key), spec(&kek)])
        .child(tag::SYMMETRIC_KEY)
        .unwrap()
        .clone();
    let register = vec![
        en(tag::OBJECT_TYPE, ot::SYMMETRIC_KEY),
        st(
            tag::ATTRIBUTES,
            vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 12)],
        ),
        wrapped,
    ];
    let stored = uid_of(&ok(&e, 2, 1, Operation::REGISTER, register));
    let not_wrapped = en(tag::KEY_WRAP_TYPE, key_wrap_type::NOT_WRAPPED);
    // Compromised: may no longer wrap, may still unwrap what it wrapped.
    ok(
        &e,
        2,
        1,
        Operation::REVOKE,
        vec![
            uid(&kek),
            st(
                tag::REVOCATION_REASON,
                vec![en(tag::REVOCATION_REASON_CODE, rrc::KEY_COMPROMISE)],
            ),
            v(tag::COMPROMISE_OCCURRENCE_DATE, Value::DateTime(NOW - 10)),
        ],
    );
    assert_eq!(
        get_wrapped(&kek),
        ResultReason::WrongKeyLifecycleState.code()
    );
    ok(&e, 2, 1, Operation::GET, vec![uid(&stored), not_wrapped]);
}

#[test]
fn a_link_to_an_object_the_caller_may_not_see_is_left_out_of_its_attributes() {
    use crate::access::grants::{self, Grant, Target};
    use crate::access::policy::{OpClass, Subject};
    // alice re-keys her key: the old one now links to its replacement. bob, granted Get on the old key only,
    // reads its attributes: the replacement's identifier would tell him an object he may not see exists.
    let dir = tempfile::tempdir().unwrap();
    let (e, caller) = engine_with_policy(&dir, "users = [\"alice\", \"bob\"]");
    let old = create_2x(&e, vec![]);
    e.store
        .commit(vec![grants::set_owner(&old, "alice")])
        .unwrap();
    let rekeyed = e.handle_request_from(
        &request(2, 1, vec![(Operation::REKEY, vec![uid(&old)])]),
        &caller("alice"),
    );
    let texts = |response: &Ttlv| {
        fn walk(item: &Ttlv, out: &mut Vec<String>) {
            match &item.value {
                Value::Structure(children) => children.iter().for_each(|c| walk(c, out)),
                Value::TextString(s) => out.push(s.clone()),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(response, &mut out);
        out
    };
    let new = uid_of(
        rekeyed
            .child(tag::BATCH_ITEM)
            .and_then(|item| item.child(tag::RESPONSE_PAYLOAD))
            .expect("alice re-keys her own key"),
    );
    assert_ne!(new, old);
    grants::put(
        &e.store,
        &Grant {
            id: "bob-reads-the-old-key".into(),
            subject: Subject::User("bob".into()),
            target: Target::Object(old.clone()),
            classes: vec![OpClass::Get],
            granted_by: "alice".into(),
        },
    )
    .unwrap();
    let ask = |who: &str, operation: Operation| {
        e.handle_request_from(
            &request(1, 4, vec![(operation, vec![uid(&old)])]),
            &caller(who),
        )
    };
    for operation in [Operation::GET_ATTRIBUTES, Operation::GET_ATTRIBUTE_LIST] {
        let for_bob = texts(&ask("bob", operation));
        assert_eq!(outcomes(&ask("bob", operation)), vec![Ok(())]);
        assert!(!for_bob.contains(&new), "{operation}: {for_bob:?}");
        assert!(
            !for_bob.iter().any(|t| t == "Link"),
            "{operation}: {for_bob:?}"
        );
        // The owner sees the link.
        let for_alice = texts(&ask("alice", operation));
        assert!(
            for_alice.iter().any(|t| t == "Link"),
            "{operation}: {for_alice:?}"
        );
    }
    assert!(texts(&ask("alice", Operation::GET_ATTRIBUTES)).contains(&new));
}
