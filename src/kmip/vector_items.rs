//! Test support: the XML test vectors of 1.4 and 2.1 as item trees, for tests that check the model against every
//! object and attribute the vectors hold.

use std::path::Path;

use crate::spec::DICTIONARY;
use crate::ttlv::{ItemType, Limits, Placeholder, Ttlv, Value, xml};

use super::version::ProtocolVersion;

/// Every vector file: (file name, its messages, the protocol version of its messages).
pub fn vector_files() -> Vec<(String, Vec<Ttlv>, ProtocolVersion)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/kmip-vectors");
    let mut out = Vec::new();
    for (dir, version) in [
        ("v1.4", ProtocolVersion::V1_4),
        ("v2.1", ProtocolVersion::V2_1),
    ] {
        // The vectors are part of the repository: a missing folder is a broken checkout, never a skip.
        let entries = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{}: {e}", root.join(dir).display()));
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.extension().is_none_or(|e| e != "xml") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut resolve = |p: &Placeholder<'_>| {
                Ok(match p.item_type {
                    ItemType::DateTime => Some(Value::DateTime(0)),
                    ItemType::Integer => Some(Value::Integer(0)),
                    ItemType::LongInteger => Some(Value::LongInteger(0)),
                    ItemType::Interval => Some(Value::Interval(0)),
                    _ => None,
                })
            };
            if let Ok(messages) =
                xml::from_xml_document_with(&text, &DICTIONARY, &Limits::DEFAULT, &mut resolve)
            {
                out.push((path.display().to_string(), messages, version));
            }
        }
    }
    out
}

/// Calls `f` on every item of the messages, depth first.
pub fn each_item(items: &[Ttlv], f: &mut dyn FnMut(&Ttlv)) {
    for item in items {
        f(item);
        each_item(item.children(), f);
    }
}
