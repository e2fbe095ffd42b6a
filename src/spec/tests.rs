//! Checks the generated tables against themselves, against the specification's text, and against every name the
//! OASIS XML test vectors use.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::*;
use crate::ttlv::Dictionary;

#[test]
fn lookups_by_number_and_name_agree_for_every_tag() {
    assert!(TAGS.len() > 350, "only {} tags", TAGS.len());
    for def in TAGS {
        assert_eq!(tag_by_number(def.tag).map(|d| d.name), Some(def.name));
        assert_eq!(
            tag_by_name(def.name).map(|d| d.tag),
            Some(def.tag),
            "{}",
            def.name
        );
        assert_eq!(
            tag_by_spec_name(def.spec_name).map(|d| d.tag),
            Some(def.tag),
            "{}",
            def.spec_name
        );
        assert_eq!(
            tag_by_spec_name(def.name).map(|d| d.tag),
            Some(def.tag),
            "{}",
            def.name
        );
        assert_eq!(DICTIONARY.tag_name(def.tag), Some(def.name));
        assert_eq!(DICTIONARY.tag_by_name(def.name), Some(def.tag));
        assert_ne!(def.versions.0, 0, "{} is in no version", def.name);
    }
    assert!(
        TAGS.windows(2).all(|w| w[0].tag < w[1].tag),
        "TAGS is sorted by number"
    );
    assert!(tag_by_number(0x420000).is_none());
    assert!(tag_by_name("NoSuchTag").is_none());
}

#[test]
fn every_value_set_a_tag_names_exists() {
    for def in TAGS {
        if let Some(values) = def.values {
            assert!(
                enumeration(values).is_some(),
                "{} takes values from unknown {values}",
                def.name
            );
        }
    }
}

#[test]
fn the_tag_enumeration_agrees_with_the_tag_table() {
    let tags = enumeration("Tag").expect("the 2.x Tag enumeration");
    assert!(
        tags.values.len() > 300,
        "only {} tags enumerated",
        tags.values.len()
    );
    for v in tags.values {
        let def =
            tag_by_number(v.value).unwrap_or_else(|| panic!("Tag value {} is no tag", v.name));
        assert_eq!(def.name, v.name);
        assert!(
            def.versions.contains(2, 0) || def.versions.contains(2, 1),
            "{}",
            v.name
        );
    }
}

#[test]
fn enumeration_value_names_are_unique_and_lookups_agree() {
    assert!(
        ENUMERATIONS.len() >= 60,
        "only {} enumerations",
        ENUMERATIONS.len()
    );
    for e in ENUMERATIONS {
        let mut seen = HashSet::new();
        for v in e.values {
            assert!(seen.insert(v.name), "{} names {} twice", e.name, v.name);
            assert_ne!(v.versions.0, 0, "{}.{} is in no version", e.name, v.name);
        }
        assert_eq!(enumeration(e.name).map(|d| d.name), Some(e.name));
        assert_eq!(e.named.name, e.name);
        assert_eq!(e.named.is_mask, e.is_mask);
        assert_eq!(e.named.values.len(), e.values.len());
        if e.is_mask {
            for v in e.values {
                assert_eq!(
                    v.value.count_ones(),
                    1,
                    "mask {} bit {} is not one bit",
                    e.name,
                    v.name
                );
            }
        }
    }
    assert!(enumeration("NoSuchEnumeration").is_none());
}

#[test]
fn spot_checks_against_the_specification() {
    assert_eq!(enums::operation::CREATE, 1);
    assert_eq!(enums::operation::DISCOVER_VERSIONS, 0x1E);
    assert_eq!(enums::result_reason::ITEM_NOT_FOUND, 1);
    assert_eq!(enums::result_status::OPERATION_FAILED, 1);
    assert_eq!(enums::object_type::SYMMETRIC_KEY, 2);
    assert_eq!(enums::cryptographic_algorithm::AES, 3);
    assert_eq!(enums::state::PRE_ACTIVE, 1);
    assert_eq!(enums::cryptographic_usage_mask::ENCRYPT, 4);
    assert_eq!(enums::storage_status_mask::ARCHIVAL_STORAGE, 2);
    assert_eq!(enums::unique_identifier::ID_PLACEHOLDER, 1);
    assert_eq!(enums::tag::UNIQUE_BATCH_ITEM_ID, 0x420093);
    assert_eq!(tag::UNIQUE_BATCH_ITEM_ID, 0x420093);
    assert_eq!(tag::BATCH_ITEM, 0x42000F);
    assert_eq!(tag::PROTOCOL_VERSION_MAJOR, 0x42006A);
    assert_eq!(tag::REQUEST_MESSAGE, 0x420078);
    assert_eq!(tag::REQUEST_PAYLOAD, 0x420079);
    assert_eq!(tag::OPERATION, 0x42005C);
    assert_eq!(tag::RESULT_REASON, 0x42007E);

    let operation = tag_by_name("Operation").expect("Operation");
    assert_eq!(operation.item_type, Some(ItemType::Enumeration));
    assert_eq!(operation.values, Some("Operation"));
    let usage = tag_by_spec_name("Cryptographic Usage Mask").expect("Cryptographic Usage Mask");
    assert_eq!(usage.item_type, Some(ItemType::Integer));
    assert!(usage.enumeration().is_some_and(|e| e.is_mask));
    assert_eq!(
        tag_by_name("ActivationDate").and_then(|d| d.item_type),
        Some(ItemType::DateTime)
    );
    assert_eq!(
        tag_by_name("BatchItem").and_then(|d| d.item_type),
        Some(ItemType::Structure)
    );
    assert_eq!(
        tag_by_name("AttributeValue").and_then(|d| d.item_type),
        None
    );

    let async_indicator = tag_by_name("AsynchronousIndicator").expect("AsynchronousIndicator");
    assert_eq!(async_indicator.item_type_in(1), Some(ItemType::Boolean));
    assert_eq!(async_indicator.item_type_in(2), Some(ItemType::Enumeration));

    let newest = tag_by_number(0x420176).expect("0x420176");
    assert_eq!(newest.name, "AsynchronousCorrelationValues");
    assert!(newest.versions.contains(2, 1) && !newest.versions.contains(2, 0));
    assert!(!newest.versions.contains(1, 4));
    let index = tag_by_name("AttributeIndex").expect("AttributeIndex, removed in 2.0");
    assert!(index.versions.contains(1, 4) && index.versions.contains(1, 0));
    assert!(!index.versions.contains(2, 0) && !index.versions.contains(2, 1));
    // 1.1 and 1.3 are inferred from their neighbours.
    assert!(index.versions.contains(1, 1) && index.versions.contains(1, 3));
    assert!(!VersionSet(0x7F).contains(3, 0));

    // Names that changed: each version has its own, the codecs' list gives the newest first.
    let hashing = enumeration("HashingAlgorithm").expect("HashingAlgorithm");
    assert_eq!(hashing.name_in(0x0E, 1, 4), Some("SHA_3_224"));
    assert_eq!(hashing.name_in(0x0E, 2, 1), Some("SHA3_224"));
    assert_eq!(hashing.name_in(0x0E, 1, 0), None);
    let first = hashing
        .named
        .values
        .iter()
        .find(|(_, v)| *v == 0x0E)
        .map(|(n, _)| *n);
    assert_eq!(first, Some("SHA3_224"));

    let discover = enumeration("Operation")
        .and_then(|e| e.by_value(0x1E))
        .expect("Discover Versions");
    assert_eq!(discover.spec_name, "Discover Versions");
    assert!(discover.versions.contains(1, 1) && !discover.versions.contains(1, 0));
}

#[test]
fn dictionary_names_values_of_tags_and_of_1x_attribute_values() {
    let names = |tag, attr| DICTIONARY.value_names(tag, attr).map(|n| n.name);
    assert_eq!(names(tag::OPERATION, None), Some("Operation"));
    assert_eq!(names(tag::ATTRIBUTE_VALUE, Some("State")), Some("State"));
    assert_eq!(
        names(tag::ATTRIBUTE_VALUE, Some("Cryptographic Algorithm")),
        Some("CryptographicAlgorithm")
    );
    assert_eq!(
        names(tag::ATTRIBUTE_VALUE, Some("Object Type")),
        Some("ObjectType")
    );
    assert_eq!(
        names(tag::ATTRIBUTE_VALUE, Some("Cryptographic Usage Mask")),
        Some("CryptographicUsageMask")
    );
    assert_eq!(
        names(tag::ATTRIBUTE_VALUE, Some("x-Cryptographic Algorithm")),
        None
    );
    assert_eq!(names(tag::ATTRIBUTE_VALUE, Some("y-State")), None);
    assert_eq!(names(tag::ATTRIBUTE_VALUE, None), None);
    assert_eq!(names(tag::ATTRIBUTE_VALUE, Some("Name")), None);
    assert_eq!(names(tag::BATCH_ITEM, None), None);
    assert_eq!(names(0x54_0001, None), None);
}

/// One element of a test vector: its name, `type` and `value`, and the Attribute Name before it in its parent.
struct Element {
    file: PathBuf,
    name: String,
    item_type: Option<String>,
    value: Option<String>,
    attribute_name: Option<String>,
    /// Whether a Vendor Identification came before it in its parent: a 2.x vendor attribute, whose name is not
    /// the specification's.
    vendor_attribute: bool,
}

/// What the scanner remembers of the children of one open element.
#[derive(Clone, Default)]
struct Siblings {
    attribute_name: Option<String>,
    vendor: bool,
}

/// Reads the elements of the XML test vectors. The files are simple (no CDATA, attributes in double quotes), so
/// a small scanner serves.
fn vector_elements() -> Vec<Element> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/kmip-vectors");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "xml") {
                files.push(path);
            }
        }
    }
    assert!(
        files.len() > 100,
        "only {} vector files under {}",
        files.len(),
        root.display()
    );
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut open: Vec<Siblings> = vec![Siblings::default()];
        let mut rest = text.as_str();
        while let Some(start) = rest.find('<') {
            rest = &rest[start..];
            if rest.starts_with("<!--") {
                let end = rest.find("-->").expect("comment ends");
                rest = &rest[end + 3..];
                continue;
            }
            let end = rest.find('>').expect("element ends");
            let element = &rest[1..end];
            rest = &rest[end + 1..];
            if element.starts_with('?') {
                continue;
            }
            if element.starts_with('/') {
                open.pop();
                continue;
            }
            let name: String = element
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '/')
                .collect();
            let attr = |key: &str| {
                let at = element.find(&format!(" {key}=\""))? + key.len() + 3;
                let len = element[at..].find('"')?;
                Some(element[at..at + len].to_string())
            };
            let parsed = Element {
                file: file.clone(),
                item_type: attr("type"),
                value: attr("value"),
                attribute_name: open.last().and_then(|s| s.attribute_name.clone()),
                vendor_attribute: open.last().is_some_and(|s| s.vendor),
                name,
            };
            if let Some(siblings) = open.last_mut() {
                match parsed.name.as_str() {
                    "AttributeName" => siblings.attribute_name = parsed.value.clone(),
                    "VendorIdentification" => siblings.vendor = true,
                    _ => {}
                }
            }
            if !element.ends_with('/') {
                open.push(Siblings::default());
            }
            out.push(parsed);
        }
    }
    out
}

fn is_number(text: &str) -> bool {
    text.starts_with("0x") || text.parse::<i64>().is_ok()
}

#[test]
fn every_name_in_the_xml_test_vectors_resolves() {
    let elements = vector_elements();
    let mut failures = Vec::new();
    let mut checked = (0, 0, 0);
    for e in &elements {
        let file = e.file.file_name().and_then(|f| f.to_str()).unwrap_or("?");
        if e.name == "KMIP" || e.name == "TTLV" {
            continue;
        }
        let Some(def) = tag_by_name(&e.name) else {
            failures.push(format!("{file}: element {}", e.name));
            continue;
        };
        checked.0 += 1;
        if def.tag == tag::ATTRIBUTE_NAME
            && let Some(name) = e.value.as_deref()
            && !e.vendor_attribute
            && !name.starts_with("x-")
            && !name.starts_with("y-")
            && tag_by_spec_name(name).is_none()
        {
            failures.push(format!("{file}: attribute name {name}"));
        }
        let attribute = (def.tag == tag::ATTRIBUTE_VALUE && !e.vendor_attribute)
            .then_some(e.attribute_name.as_deref())
            .flatten();
        let Some(value) = e
            .value
            .as_deref()
            .filter(|v| !v.starts_with('$') && !is_number(v))
        else {
            continue;
        };
        match e.item_type.as_deref() {
            Some("Enumeration") => {
                checked.1 += 1;
                let named = DICTIONARY.value_names(def.tag, attribute);
                if !named.is_some_and(|n| !n.is_mask && n.values.iter().any(|(n, _)| *n == value)) {
                    failures.push(format!("{file}: {} ({attribute:?}) = {value}", e.name));
                }
            }
            Some("Integer") => {
                checked.2 += 1;
                let named = DICTIONARY
                    .value_names(def.tag, attribute)
                    .filter(|n| n.is_mask);
                let bits = value
                    .split(|c: char| c.is_whitespace() || c == '|')
                    .filter(|b| !b.is_empty());
                let resolves =
                    |bit: &str| named.is_some_and(|n| n.values.iter().any(|(n, _)| *n == bit));
                if !bits.clone().all(resolves) {
                    failures.push(format!("{file}: mask {} ({attribute:?}) = {value}", e.name));
                }
            }
            _ => {}
        }
    }
    failures.sort();
    failures.dedup();
    assert!(
        failures.is_empty(),
        "{} names do not resolve:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        checked.0 > 10_000 && checked.1 > 1_000 && checked.2 > 100,
        "checked {checked:?}"
    );
}
