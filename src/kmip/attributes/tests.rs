use super::*;
use crate::spec::enums;

fn text_item(t: Tag, s: &str) -> Ttlv {
    Ttlv::new(t, Value::TextString(s.into()))
}

fn attr_1x(name: &str, value: Value) -> Ttlv {
    Ttlv::structure(
        tag::ATTRIBUTE,
        vec![
            text_item(tag::ATTRIBUTE_NAME, name),
            Ttlv::new(tag::ATTRIBUTE_VALUE, value),
        ],
    )
}

fn name_value(n: &str) -> Value {
    Value::Structure(vec![
        text_item(tag::NAME_VALUE, n),
        Ttlv::new(
            tag::NAME_TYPE,
            Value::Enumeration(enums::name_type::UNINTERPRETED_TEXT_STRING),
        ),
    ])
}

#[test]
fn a_1x_attribute_is_retagged_to_its_own_tag_and_back() {
    let wire = attr_1x(
        "Cryptographic Algorithm",
        Value::Enumeration(enums::cryptographic_algorithm::AES),
    );
    let (a, index) = Attribute::from_1x(&wire).unwrap();
    assert_eq!(index, None);
    assert_eq!(
        a.name,
        AttributeName::Standard(tag::CRYPTOGRAPHIC_ALGORITHM)
    );
    assert_eq!(a.value.tag, tag::CRYPTOGRAPHIC_ALGORITHM);
    assert_eq!(a.to_ttlv(ProtocolVersion::V1_0, 0), Some(wire));
    assert_eq!(
        a.to_ttlv(ProtocolVersion::V2_1, 0),
        Some(Ttlv::new(
            tag::CRYPTOGRAPHIC_ALGORITHM,
            Value::Enumeration(enums::cryptographic_algorithm::AES)
        ))
    );
}

#[test]
fn a_structured_attribute_has_the_same_shape_in_both_versions() {
    let wire = attr_1x("Name", name_value("key1"));
    let (a, _) = Attribute::from_1x(&wire).unwrap();
    let v2 = a.to_2x();
    assert_eq!(v2.tag, tag::NAME);
    assert_eq!(Attribute::from_2x(&v2).unwrap(), a);
    assert_eq!(search_key(&a), SearchKey::Text("key1".into()));
}

#[test]
fn wrong_value_types_and_unknown_names_are_refused() {
    let err = Attribute::from_1x(&attr_1x(
        "Cryptographic Length",
        Value::TextString("x".into()),
    ))
    .unwrap_err();
    assert_eq!(err.reason, ResultReason::InvalidAttributeValue);
    let err = Attribute::from_1x(&attr_1x("Colour", Value::Integer(1))).unwrap_err();
    assert_eq!(err.reason, ResultReason::UnsupportedAttribute);
    let err = Attribute::from_2x(&Ttlv::new(tag::BATCH_COUNT, Value::Integer(1))).unwrap_err();
    assert_eq!(err.reason, ResultReason::UnsupportedAttribute);
}

#[test]
fn custom_attributes_round_trip_exactly_and_map_to_vendor_x() {
    for value in [
        Value::TextString("vsphere".into()),
        Value::Integer(7),
        Value::DateTime(1_700_000_000),
        Value::Structure(vec![text_item(tag::NAME_VALUE, "n")]),
    ] {
        let wire = attr_1x("x-Owner", value.clone());
        let (a, _) = Attribute::from_1x(&wire).unwrap();
        assert_eq!(a.name, AttributeName::Custom("x-Owner".into()));
        assert_eq!(a.to_1x(0), Some(wire.clone()));
        let v2 = a.to_2x();
        assert_eq!(v2.tag, tag::ATTRIBUTE);
        assert_eq!(
            v2.child(tag::VENDOR_IDENTIFICATION).unwrap().value,
            Value::TextString("x".into())
        );
        assert_eq!(
            v2.child(tag::ATTRIBUTE_NAME).unwrap().value,
            Value::TextString("Owner".into())
        );
        let back = Attribute::from_2x(&v2).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.to_1x(0), Some(wire));
    }
}

#[test]
fn other_vendors_exist_only_in_2x() {
    let a = Attribute::custom(
        AttributeName::from_vendor("acme", "Colour"),
        Value::TextString("red".into()),
    );
    assert!(matches!(a.name, AttributeName::Vendor { .. }));
    assert_eq!(a.to_ttlv(ProtocolVersion::V1_4, 0), None);
    let v2 = a.to_ttlv(ProtocolVersion::V2_0, 0).unwrap();
    assert_eq!(Attribute::from_2x(&v2).unwrap(), a);
}

#[test]
fn attributes_a_version_lacks_are_left_out() {
    let mut attrs = Attributes::new();
    attrs.add(Attribute::standard(tag::FRESH, Value::Boolean(true)));
    attrs.add(Attribute::standard(
        tag::STATE,
        Value::Enumeration(enums::state::PRE_ACTIVE),
    ));
    attrs.add(Attribute::standard(
        tag::ROTATE_NAME,
        Value::TextString("r".into()),
    ));
    assert_eq!(attrs.to_items(ProtocolVersion::V1_0).len(), 1);
    assert_eq!(attrs.to_items(ProtocolVersion::V1_1).len(), 2);
    assert_eq!(attrs.to_items(ProtocolVersion::V2_0).len(), 2);
    assert_eq!(attrs.to_items(ProtocolVersion::V2_1).len(), 3);
}

#[test]
fn instances_are_indexed_per_name() {
    let mut attrs = Attributes::new();
    let n = AttributeName::Standard(tag::NAME);
    let name = |s: &str| Attribute {
        name: n.clone(),
        value: Ttlv::new(tag::NAME, name_value(s)),
    };
    assert_eq!(attrs.add(name("a")), 0);
    attrs.add(Attribute::standard(tag::STATE, Value::Enumeration(1)));
    assert_eq!(attrs.add(name("b")), 1);
    assert_eq!(attrs.add(name("c")), 2);
    assert_eq!(attrs.get_at(&n, 1), Some(&name("b")));
    let items = attrs.to_items(ProtocolVersion::V1_2);
    assert_eq!(
        items[3].child(tag::ATTRIBUTE_INDEX).unwrap().value,
        Value::Integer(2)
    );
    assert!(items[0].child(tag::ATTRIBUTE_INDEX).is_none());
    assert_eq!(attrs.replace_at(1, name("B")), Some(name("b")));
    assert_eq!(attrs.replace_at(5, name("Z")), None);
    assert_eq!(attrs.remove_at(&n, 0), Some(name("a")));
    assert_eq!(
        attrs.get_all(&n).cloned().collect::<Vec<_>>(),
        vec![name("B"), name("c")]
    );
    attrs.set(name("only"));
    assert_eq!(attrs.count(&n), 1);
    assert_eq!(attrs.len(), 2);
    assert_eq!(attrs.remove_all(&n), 1);
    assert_eq!(attrs.names(), vec![AttributeName::Standard(tag::STATE)]);
}

#[test]
fn templates_by_name_are_refused_and_attributes_read() {
    let template = Ttlv::structure(
        tag::TEMPLATE_ATTRIBUTE,
        vec![
            attr_1x("Cryptographic Length", Value::Integer(256)),
            attr_1x("x-ID", Value::TextString("1".into())),
        ],
    );
    let attrs = Attributes::from_template_1x(&template).unwrap();
    assert_eq!(
        attrs.get_value(tag::CRYPTOGRAPHIC_LENGTH),
        Some(&Value::Integer(256))
    );
    let by_name = Ttlv::structure(
        tag::TEMPLATE_ATTRIBUTE,
        vec![Ttlv::new(tag::NAME, name_value("tmpl"))],
    );
    assert!(Attributes::from_template_1x(&by_name).is_err());
    let payload = Ttlv::structure(tag::REQUEST_PAYLOAD, vec![template]);
    let read = Attributes::from_payload(
        &payload,
        ProtocolVersion::V1_4,
        tag::TEMPLATE_ATTRIBUTE,
        tag::ATTRIBUTES,
    )
    .unwrap();
    assert_eq!(read, attrs);
    let v2 = attrs.to_structure(ProtocolVersion::V2_1, tag::ATTRIBUTES);
    assert_eq!(Attributes::from_attributes_2x(&v2).unwrap(), attrs);
}

#[test]
fn references_name_standard_and_vendor_attributes() {
    let r = Ttlv::new(
        tag::ATTRIBUTE_REFERENCE,
        Value::Enumeration(tag::CRYPTOGRAPHIC_LENGTH),
    );
    let n = AttributeName::from_reference(&r).unwrap();
    assert_eq!(n, AttributeName::Standard(tag::CRYPTOGRAPHIC_LENGTH));
    assert_eq!(n.to_reference(), r);
    let v = Ttlv::structure(
        tag::ATTRIBUTE_REFERENCE,
        vec![
            text_item(tag::VENDOR_IDENTIFICATION, "x"),
            text_item(tag::ATTRIBUTE_NAME, "Barcode"),
        ],
    );
    let n = AttributeName::from_reference(&v).unwrap();
    assert_eq!(n, AttributeName::Custom("x-Barcode".into()));
    assert_eq!(n.to_reference(), v);
    let bad = Ttlv::new(
        tag::ATTRIBUTE_REFERENCE,
        Value::Enumeration(tag::BATCH_COUNT),
    );
    assert!(AttributeName::from_reference(&bad).is_err());
}

#[test]
fn storage_form_round_trips() {
    let attrs = [
        Attribute::standard(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(128)),
        Attribute::custom(AttributeName::Custom("x-a:b".into()), Value::Integer(1)),
        Attribute::custom(
            AttributeName::from_vendor("ac:me", "n:1"),
            Value::TextString("v".into()),
        ),
    ];
    for a in attrs {
        let name = attribute_storage_name(&a.name);
        let back = attribute_from_storage(&name, &attribute_storage_value(&a)).unwrap();
        assert_eq!(back, a);
    }
    assert!(attribute_from_storage("Bogus", &[]).is_err());
    assert_eq!(
        attribute_storage_name(&AttributeName::Standard(tag::NAME)),
        "Standard:0x420053"
    );
    // The names stores already hold: custom attributes as vendor `x`/`y`.
    assert_eq!(
        attribute_storage_name(&AttributeName::Custom("x-Foo".into())),
        "Vendor:x:Foo"
    );
    assert_eq!(
        attribute_name_from_storage("Vendor:x:Foo").unwrap(),
        AttributeName::Custom("x-Foo".into())
    );
    assert_eq!(
        attribute_name_from_storage("Vendor:acme:n").unwrap(),
        AttributeName::from_vendor("acme", "n")
    );
}

#[test]
fn search_keys() {
    let link = Attribute::standard(
        tag::LINK,
        Value::Structure(vec![
            Ttlv::new(
                tag::LINK_TYPE,
                Value::Enumeration(enums::link_type::PUBLIC_KEY_LINK),
            ),
            text_item(tag::LINKED_OBJECT_IDENTIFIER, "uid-1"),
        ]),
    );
    assert_eq!(search_key(&link), SearchKey::Text("uid-1".into()));
    let group = Attribute::standard(tag::OBJECT_GROUP, Value::TextString("g".into()));
    assert_eq!(search_key(&group), SearchKey::Text("g".into()));
    let date = Attribute::standard(tag::ACTIVATION_DATE, Value::DateTime(5));
    assert_eq!(search_key(&date), SearchKey::Int(5));
    let digest = Attribute::standard(tag::DIGEST, Value::Structure(vec![]));
    assert_eq!(search_key(&digest), SearchKey::None);
}

#[test]
fn every_attribute_of_the_test_vectors_round_trips() {
    use crate::kmip::vector_items::{each_item, vector_files};
    let (mut v1, mut v2) = (0, 0);
    for (path, messages, version) in vector_files() {
        each_item(&messages, &mut |item| {
            if version.is_2x() {
                if item.tag == tag::ATTRIBUTES {
                    let attrs = Attributes::from_attributes_2x(item)
                        .unwrap_or_else(|e| panic!("{path}: {e:?}"));
                    assert_eq!(
                        &attrs.to_structure(version, tag::ATTRIBUTES),
                        item,
                        "{path}"
                    );
                    v2 += attrs.len();
                }
            } else if item.tag == tag::ATTRIBUTE && Attribute::has_value_1x(item) {
                let (a, index) =
                    Attribute::from_1x(item).unwrap_or_else(|e| panic!("{path}: {e:?} {item:?}"));
                assert_eq!(a.to_1x(index.unwrap_or(0)).as_ref(), Some(item), "{path}");
                v1 += 1;
            }
        });
    }
    assert!(v1 > 200 && v2 > 200, "{v1} 1.x and {v2} 2.x attributes");
}

#[test]
fn requested_names_and_list_items_per_version() {
    let p1 = Ttlv::structure(
        tag::REQUEST_PAYLOAD,
        vec![
            text_item(tag::UNIQUE_IDENTIFIER, "1"),
            text_item(tag::ATTRIBUTE_NAME, "State"),
            text_item(tag::ATTRIBUTE_NAME, "x-Owner"),
        ],
    );
    let names = AttributeName::list_from_payload(&p1, ProtocolVersion::V1_1).unwrap();
    assert_eq!(
        names,
        vec![
            AttributeName::Standard(tag::STATE),
            AttributeName::Custom("x-Owner".into())
        ]
    );
    let p2 = Ttlv::structure(
        tag::REQUEST_PAYLOAD,
        names
            .iter()
            .filter_map(|n| n.to_list_item(ProtocolVersion::V2_1))
            .collect(),
    );
    assert_eq!(
        AttributeName::list_from_payload(&p2, ProtocolVersion::V2_1).unwrap(),
        names
    );
    assert_eq!(
        AttributeName::Standard(tag::STATE).to_list_item(ProtocolVersion::V1_0),
        Some(text_item(tag::ATTRIBUTE_NAME, "State"))
    );
    assert_eq!(
        AttributeName::Standard(tag::FRESH).to_list_item(ProtocolVersion::V1_0),
        None
    );
    let bad = Ttlv::structure(
        tag::REQUEST_PAYLOAD,
        vec![text_item(tag::ATTRIBUTE_NAME, "Nope")],
    );
    assert!(AttributeName::list_from_payload(&bad, ProtocolVersion::V1_4).is_err());
}

#[test]
fn new_attribute_holds_exactly_one() {
    let state = Ttlv::new(tag::STATE, Value::Enumeration(1));
    let new = Ttlv::structure(tag::NEW_ATTRIBUTE, vec![state.clone()]);
    assert_eq!(
        Attribute::from_container_2x(&new).unwrap(),
        Attribute::from_item(state.clone())
    );
    let two = Ttlv::structure(tag::NEW_ATTRIBUTE, vec![state.clone(), state]);
    assert!(Attribute::from_container_2x(&two).is_err());
}

#[test]
fn an_attribute_named_without_value_reads() {
    let named = Ttlv::structure(
        tag::ATTRIBUTE,
        vec![text_item(tag::ATTRIBUTE_NAME, "State")],
    );
    assert!(!Attribute::has_value_1x(&named));
    let (a, index) = Attribute::from_1x(&named).unwrap();
    assert_eq!(a.name, AttributeName::Standard(tag::STATE));
    assert_eq!(index, None);
}

#[test]
fn a_request_may_carry_attributes_in_either_form() {
    let payload = Ttlv::structure(
        tag::REQUEST_PAYLOAD,
        vec![
            Ttlv::structure(
                tag::TEMPLATE_ATTRIBUTE,
                vec![attr_1x("Cryptographic Length", Value::Integer(128))],
            ),
            Ttlv::structure(
                tag::ATTRIBUTES,
                vec![
                    Ttlv::new(tag::CRYPTOGRAPHIC_ALGORITHM, Value::Enumeration(3)),
                    attr_1x("x-Owner", Value::TextString("me".into())),
                ],
            ),
        ],
    );
    let attrs = Attributes::from_request(&payload).unwrap();
    assert_eq!(attrs.len(), 3);
    assert_eq!(
        attrs.get_value(tag::CRYPTOGRAPHIC_LENGTH),
        Some(&Value::Integer(128))
    );
    assert_eq!(
        attrs.get_value(tag::CRYPTOGRAPHIC_ALGORITHM),
        Some(&Value::Enumeration(3))
    );
    assert!(
        attrs
            .get(&AttributeName::Custom("x-Owner".into()))
            .is_some()
    );
    let none = Ttlv::structure(tag::REQUEST_PAYLOAD, vec![]);
    assert!(Attributes::from_request(&none).unwrap().is_empty());
}

#[test]
fn names_read_from_text_or_reference_and_instances_are_found_by_value() {
    let by_text = AttributeName::from_name_or_reference(&text_item(tag::ATTRIBUTE_NAME, "Name"));
    let by_ref = AttributeName::from_name_or_reference(&Ttlv::new(
        tag::ATTRIBUTE_REFERENCE,
        Value::Enumeration(tag::NAME),
    ));
    assert_eq!(by_text.unwrap(), AttributeName::Standard(tag::NAME));
    assert_eq!(by_ref.unwrap(), AttributeName::Standard(tag::NAME));
    assert_eq!(
        AttributeName::from_name_or_reference(&text_item(tag::ATTRIBUTE_NAME, "Nope"))
            .unwrap_err()
            .reason,
        ResultReason::UnsupportedAttribute
    );
    let mut attrs = Attributes::new();
    let a = Attribute::standard(tag::NAME, name_value("a"));
    let b = Attribute::standard(tag::NAME, name_value("b"));
    attrs.add(a.clone());
    attrs.add(b.clone());
    assert!(attrs.contains(&b));
    assert_eq!(attrs.index_of(&b), Some(1));
    assert_eq!(
        attrs.index_of(&Attribute::standard(tag::NAME, name_value("c"))),
        None
    );
    attrs
        .first_mut(&AttributeName::Standard(tag::NAME))
        .unwrap()
        .value = Ttlv::new(tag::NAME, name_value("z"));
    assert_eq!(attrs.index_of(&b), Some(1));
    assert!(!attrs.contains(&a));
}

#[test]
fn a_1x_standard_name_matches_with_runs_of_spaces_and_a_custom_name_exactly() {
    let spaced = AttributeName::from_1x("Cryptographic   Usage  Mask").unwrap();
    assert_eq!(
        spaced,
        AttributeName::Standard(tag::CRYPTOGRAPHIC_USAGE_MASK)
    );
    assert_eq!(
        AttributeName::from_1x(" Object\tType ").unwrap(),
        AttributeName::Standard(tag::OBJECT_TYPE)
    );
    assert_eq!(
        AttributeName::from_1x("x-my  name").unwrap(),
        AttributeName::Custom("x-my  name".into())
    );
    assert!(AttributeName::from_1x("CryptographicUsage Mask X").is_err());
}
