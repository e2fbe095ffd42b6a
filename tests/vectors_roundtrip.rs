//! Every conformance test vector (KMIP Profiles 1.4 and 2.1, `testdata/kmip-vectors/**.xml`) must read with the
//! specification's dictionary, and each message must come back unchanged through the XML form, the JSON form and
//! the binary TTLV form. Placeholders are bound to fixed values of their declared type.

use std::fs;
use std::path::{Path, PathBuf};

use kmipd::spec::DICTIONARY;
use kmipd::ttlv::{self, ItemType, Limits, Placeholder, SecretBytes, Value, json, xml};

/// 2023-11-14T22:13:20Z, standing in for `$NOW`.
const NOW: i64 = 1_700_000_000;

/// A fixed value of the placeholder's type: `$NOW±seconds` as a date, identifiers as themselves (they are Text
/// Strings), opaque data as a few bytes.
fn stand_in(p: &Placeholder<'_>) -> Result<Option<Value>, String> {
    let value = match p.item_type {
        ItemType::DateTime => {
            let offset = match p.text.strip_prefix("$NOW") {
                Some("") => 0,
                Some(rest) => rest
                    .parse::<i64>()
                    .map_err(|e| format!("bad offset: {e}"))?,
                None => return Err(format!("no date stands in for {}", p.text)),
            };
            Value::DateTime(NOW + offset)
        }
        ItemType::TextString => Value::TextString(p.text.to_owned()),
        ItemType::ByteString => Value::ByteString(SecretBytes::new(p.text.as_bytes().to_vec())),
        ItemType::Integer => Value::Integer(1),
        ItemType::LongInteger => Value::LongInteger(1),
        ItemType::Enumeration => Value::Enumeration(1),
        ItemType::Interval => Value::Interval(1),
        ItemType::Boolean => Value::Boolean(true),
        ItemType::BigInteger => Value::BigInteger(SecretBytes::new(vec![0, 0, 0, 0, 0, 0, 0, 1])),
        ItemType::DateTimeExtended => Value::DateTimeExtended(NOW * 1_000_000),
        ItemType::Structure => return Err("a structure has no value".to_owned()),
    };
    Ok(Some(value))
}

fn vector_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/kmip-vectors");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "xml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_vector_round_trips_through_xml_json_and_ttlv() {
    let limits = Limits::DEFAULT;
    let files = vector_files();
    assert!(files.len() > 100, "only {} vector files found", files.len());
    let mut messages = 0usize;
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(file).unwrap();
        let items = match xml::from_xml_document_with(&text, &DICTIONARY, &limits, &mut stand_in) {
            Ok(items) => items,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        assert!(!items.is_empty(), "{name}: no messages");
        let document = xml::to_xml_document(&items, &DICTIONARY);
        assert_eq!(
            xml::from_xml_document(&document, &DICTIONARY, &limits).as_ref(),
            Ok(&items),
            "{name}"
        );
        for (i, item) in items.iter().enumerate() {
            let again = xml::to_xml(item, &DICTIONARY);
            assert_eq!(
                xml::from_xml(&again, &DICTIONARY, &limits).as_ref(),
                Ok(item),
                "{name} #{i} XML"
            );
            let as_json = json::to_json(item, &DICTIONARY);
            assert_eq!(
                json::from_json(&as_json, &DICTIONARY, &limits).as_ref(),
                Ok(item),
                "{name} #{i} JSON"
            );
            let bytes = ttlv::encode(item);
            assert_eq!(
                ttlv::decode(&bytes, &limits).as_ref(),
                Ok(item),
                "{name} #{i} TTLV"
            );
            messages += 1;
        }
    }
    println!(
        "vectors: {} files, {messages} messages round-tripped",
        files.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} files failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// The JSON form of the first request of the JSON profile test case (MSGENC-JSON-M-1), in the spelling of the
/// specification's example (hex integers, omitted structure types), reads as the same tree as its XML form.
#[test]
fn json_profile_request_matches_its_xml_form() {
    let json = r#"{"tag":"RequestMessage", "value":[
      {"tag":"RequestHeader", "value":[
        {"tag":"ProtocolVersion", "value":[
          {"tag":"ProtocolVersionMajor", "type":"Integer", "value":"0x00000001"},
          {"tag":"ProtocolVersionMinor", "type":"Integer", "value":"0x00000000"}
        ]},
        {"tag":"MaximumResponseSize", "type":"Integer", "value":"0x00000100"},
        {"tag":"BatchCount", "type":"Integer", "value":"0x00000001"}
      ]},
      {"tag":"BatchItem", "value":[
        {"tag":"Operation", "type":"Enumeration", "value":"Query"},
        {"tag":"RequestPayload", "value":[
          {"tag":"QueryFunction", "type":"Enumeration", "value":"QueryOperations"},
          {"tag":"QueryFunction", "type":"Enumeration", "value":"0x00000002"}
        ]}
      ]}
    ]}"#;
    let xml = r#"<RequestMessage>
      <RequestHeader>
        <ProtocolVersion>
          <ProtocolVersionMajor type="Integer" value="1"/>
          <ProtocolVersionMinor type="Integer" value="0"/>
        </ProtocolVersion>
        <MaximumResponseSize type="Integer" value="256"/>
        <BatchCount type="Integer" value="1"/>
      </RequestHeader>
      <BatchItem>
        <Operation type="Enumeration" value="Query"/>
        <RequestPayload>
          <QueryFunction type="Enumeration" value="QueryOperations"/>
          <QueryFunction type="Enumeration" value="QueryObjects"/>
        </RequestPayload>
      </BatchItem>
    </RequestMessage>"#;
    let limits = Limits::DEFAULT;
    let from_json = json::from_json(json, &DICTIONARY, &limits).unwrap();
    let from_xml = xml::from_xml(xml, &DICTIONARY, &limits).unwrap();
    assert_eq!(from_json, from_xml);
    // The binary form the specification gives for this request.
    let wire = "42007801000000904200770100000048420069010000002042006a02000000040000000100000000\
                42006b020000000400000000000000004200500200000004000001000000000042000d0200000004\
                000000010000000042000f010000003842005c050000000400000018000000004200790100000020\
                4200740500000004000000010000000042007405000000040000000200000000";
    assert_eq!(hex::encode(ttlv::encode(&from_xml)), wire);
}
