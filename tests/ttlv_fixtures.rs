//! Pins every fixture in `testdata/ttlv/` to the outcome `MANIFEST` names for it: malformed inputs to
//! the exact error kind and offset, valid ones to a tree that re-encodes to the same bytes. Also pins
//! the decoded values of the specification's own encoding examples, and the inputs too large to keep
//! as files (deep nesting, many items, 4 GiB lengths), which are generated here.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use kmipd::ttlv::{
    HEADER_LEN, ItemType, Limits, SecretBytes, Ttlv, TtlvError, Value, decode, encode, frame_len,
};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/ttlv")
}

/// Reads a fixture: hex digits, with whitespace, `|` separators and `#` comments ignored.
fn read_hex(name: &str) -> Vec<u8> {
    let text = fs::read_to_string(fixture_dir().join(format!("{name}.hex")))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    let digits: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.chars())
        .filter(|c| !c.is_whitespace() && *c != '|')
        .collect();
    hex::decode(&digits).unwrap_or_else(|e| panic!("fixture {name} is not hex: {e}"))
}

struct Entry {
    name: String,
    expected: String,
    offset: Option<usize>,
}

fn manifest() -> Vec<Entry> {
    let text = fs::read_to_string(fixture_dir().join("MANIFEST")).unwrap();
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(cols.len(), 3, "MANIFEST line {line:?}");
            Entry {
                name: cols[0].to_string(),
                expected: cols[1].to_string(),
                offset: (cols[2] != "-").then(|| cols[2].parse().unwrap()),
            }
        })
        .collect()
}

#[test]
fn every_fixture_decodes_as_the_manifest_says() {
    let entries = manifest();
    assert!(entries.len() >= 60, "only {} fixtures", entries.len());
    let mut failures = Vec::new();
    for entry in &entries {
        let bytes = read_hex(&entry.name);
        match (decode(&bytes, &Limits::DEFAULT), entry.expected.as_str()) {
            (Ok(tree), "ok") => {
                if encode(&tree) != bytes {
                    failures.push(format!("{}: re-encodes to different bytes", entry.name));
                }
            }
            (Ok(tree), expected) => failures.push(format!(
                "{}: expected {expected}, decoded {tree:?}",
                entry.name
            )),
            (Err(e), expected) if e.kind() != expected || e.offset() != entry.offset => failures
                .push(format!(
                    "{}: expected {expected} at {:?}, got {e:?} ({e})",
                    entry.name, entry.offset
                )),
            (Err(_), _) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn manifest_and_fixture_files_match() {
    let listed: BTreeSet<String> = manifest().into_iter().map(|e| e.name).collect();
    let on_disk: BTreeSet<String> = fs::read_dir(fixture_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".hex").map(str::to_string)
        })
        .collect();
    assert_eq!(listed, on_disk);
}

#[test]
fn every_error_kind_has_a_fixture() {
    let kinds: BTreeSet<String> = manifest().into_iter().map(|e| e.expected).collect();
    for kind in [
        "ok",
        "MessageTooLarge",
        "Truncated",
        "TrailingBytes",
        "BadTag",
        "UnknownType",
        "WrongLength",
        "BadBigIntegerLength",
        "LengthMismatch",
        "BadBoolean",
        "BadPadding",
        "InvalidUtf8",
        "TooDeep",
    ] {
        assert!(kinds.contains(kind), "no fixture expects {kind}");
    }
}

const T: u32 = 0x420020;

fn decode_fixture(name: &str) -> Ttlv {
    decode(&read_hex(name), &Limits::DEFAULT).unwrap()
}

#[test]
fn spec_examples_decode_to_their_stated_values() {
    assert_eq!(
        decode_fixture("spec-integer"),
        Ttlv::new(T, Value::Integer(8))
    );
    assert_eq!(
        decode_fixture("spec-long-integer"),
        Ttlv::new(T, Value::LongInteger(123_456_789_000_000_000))
    );
    let big = decode_fixture("spec-big-integer");
    let Value::BigInteger(bytes) = &big.value else {
        panic!("{big:?}")
    };
    let as_number = bytes.iter().fold(0u128, |n, &b| (n << 8) | u128::from(b));
    assert_eq!(as_number, 1_234_567_890_000_000_000_000_000_000);
    assert_eq!(
        decode_fixture("spec-enumeration"),
        Ttlv::new(T, Value::Enumeration(255))
    );
    assert_eq!(
        decode_fixture("spec-boolean-true"),
        Ttlv::new(T, Value::Boolean(true))
    );
    assert_eq!(
        decode_fixture("spec-text-string"),
        Ttlv::new(T, Value::TextString("Hello World".into()))
    );
    assert_eq!(
        decode_fixture("spec-byte-string"),
        Ttlv::new(T, Value::ByteString(SecretBytes::from(vec![1, 2, 3])))
    );
    // Friday, March 14, 2008, 11:56:40 GMT.
    assert_eq!(
        decode_fixture("spec-date-time"),
        Ttlv::new(T, Value::DateTime(1_205_495_800))
    );
    assert_eq!(
        decode_fixture("spec-interval"),
        Ttlv::new(T, Value::Interval(10 * 86_400))
    );
    assert_eq!(
        decode_fixture("spec-structure"),
        Ttlv::structure(
            T,
            vec![
                Ttlv::new(0x420004, Value::Enumeration(254)),
                Ttlv::new(0x420005, Value::Integer(255)),
            ]
        )
    );
    assert_eq!(
        decode_fixture("text-string-multibyte"),
        Ttlv::new(T, Value::TextString("clé".into()))
    );
    assert_eq!(
        decode_fixture("extension-tag"),
        Ttlv::new(0x540001, Value::Integer(-1))
    );
}

#[test]
fn errors_carry_the_lengths_involved() {
    let decode_err = |name: &str| decode(&read_hex(name), &Limits::DEFAULT).unwrap_err();
    assert_eq!(
        decode_err("length-4gib-structure"),
        TtlvError::MessageTooLarge {
            declared: 8 + 0xFFFF_FFFF,
            limit: 1 << 20
        }
    );
    assert_eq!(
        decode_err("structure-length-short"),
        TtlvError::LengthMismatch {
            offset: 8,
            declared: 20,
            actual: 16
        }
    );
    assert_eq!(
        decode_err("structure-child-overruns"),
        TtlvError::LengthMismatch {
            offset: 0,
            declared: 16,
            actual: 24
        }
    );
    assert_eq!(
        decode_err("nested-length-4gib"),
        TtlvError::LengthMismatch {
            offset: 0,
            declared: 16,
            actual: 8 + 0x1_0000_0000
        }
    );
    assert_eq!(
        decode_err("truncated-structure"),
        TtlvError::Truncated {
            offset: 0,
            needed: 40,
            available: 24
        }
    );
    assert_eq!(
        decode_err("boolean-2"),
        TtlvError::BadBoolean {
            offset: 0,
            value: 2
        }
    );
    assert_eq!(
        decode_err("interval-length-8"),
        TtlvError::WrongLength {
            offset: 0,
            item_type: ItemType::Interval,
            declared: 8,
            expected: 4
        }
    );
    assert_eq!(
        decode_err("trailing-byte"),
        TtlvError::TrailingBytes {
            offset: 16,
            count: 1
        }
    );
    assert_eq!(
        decode_err("big-integer-length-12"),
        TtlvError::BadBigIntegerLength {
            offset: 0,
            declared: 12
        }
    );
}

#[test]
fn a_4gib_length_under_a_4gib_limit_is_truncated_input_not_an_allocation() {
    let limits = Limits {
        max_message_bytes: usize::MAX,
        ..Limits::DEFAULT
    };
    assert_eq!(
        decode(&read_hex("length-4gib-byte-string"), &limits),
        Err(TtlvError::Truncated {
            offset: 0,
            needed: 8 + 0xFFFF_FFFF + 1,
            available: 16
        })
    );
}

#[test]
fn input_longer_than_the_limit_is_refused_before_reading() {
    let bytes = read_hex("spec-structure");
    let limits = Limits {
        max_message_bytes: bytes.len() - 1,
        ..Limits::DEFAULT
    };
    assert_eq!(
        decode(&bytes, &limits),
        Err(TtlvError::MessageTooLarge {
            declared: bytes.len() as u64,
            limit: bytes.len() - 1
        })
    );
    let limits = Limits {
        max_message_bytes: bytes.len(),
        ..Limits::DEFAULT
    };
    assert!(decode(&bytes, &limits).is_ok());
}

/// `levels` structures, each the only item of the one around it.
fn nested(levels: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(levels * HEADER_LEN);
    for k in 0..levels {
        let length = u32::try_from((levels - 1 - k) * HEADER_LEN).unwrap();
        out.extend_from_slice(&[0x42, 0x00, 0x78, 0x01]);
        out.extend_from_slice(&length.to_be_bytes());
    }
    out
}

#[test]
fn a_million_levels_of_nesting_stop_at_the_depth_limit() {
    let bytes = nested(1_000_000);
    let limits = Limits {
        max_message_bytes: bytes.len(),
        ..Limits::DEFAULT
    };
    assert_eq!(
        decode(&bytes, &limits),
        Err(TtlvError::TooDeep {
            offset: 32 * HEADER_LEN,
            limit: 32
        })
    );
}

#[test]
fn depth_is_bounded_by_the_configured_limit_not_the_stack() {
    // The decoder keeps open structures on the heap, so a generous limit is only a memory bound.
    let bytes = nested(1_000);
    let limits = Limits {
        max_depth: 1_000,
        ..Limits::DEFAULT
    };
    let tree = decode(&bytes, &limits).unwrap();
    assert_eq!(encode(&tree), bytes);
    let limits = Limits {
        max_depth: 999,
        ..Limits::DEFAULT
    };
    assert_eq!(
        decode(&bytes, &limits),
        Err(TtlvError::TooDeep {
            offset: 999 * HEADER_LEN,
            limit: 999
        })
    );
    let limits = Limits {
        max_depth: 0,
        ..Limits::DEFAULT
    };
    assert_eq!(
        decode(&nested(1), &limits),
        Err(TtlvError::TooDeep {
            offset: 0,
            limit: 0
        })
    );
}

/// A structure of `count` Integers.
fn wide(count: usize) -> Vec<u8> {
    let items = (0..count)
        .map(|i| Ttlv::new(0x420004, Value::Integer(i as i32)))
        .collect();
    encode(&Ttlv::structure(0x420078, items))
}

#[test]
fn items_per_structure_are_bounded() {
    let limits = Limits {
        max_items_per_structure: 3,
        ..Limits::DEFAULT
    };
    assert!(decode(&wide(3), &limits).is_ok());
    assert_eq!(
        decode(&wide(4), &limits),
        Err(TtlvError::TooManyItems {
            offset: 0,
            limit: 3
        })
    );
    // The default limit, at and one past.
    assert!(decode(&wide(10_000), &Limits::DEFAULT).is_ok());
    assert_eq!(
        decode(&wide(10_001), &Limits::DEFAULT),
        Err(TtlvError::TooManyItems {
            offset: 0,
            limit: 10_000
        })
    );
    // The limit applies to each structure, nested ones included.
    let inner = Ttlv::structure(
        0x420079,
        (0..4)
            .map(|i| Ttlv::new(0x420004, Value::Integer(i)))
            .collect(),
    );
    let bytes = encode(&Ttlv::structure(0x420078, vec![inner]));
    assert_eq!(
        decode(&bytes, &limits),
        Err(TtlvError::TooManyItems {
            offset: 8,
            limit: 3
        })
    );
}

#[test]
fn frame_len_reads_the_length_from_the_header_alone() {
    let message = read_hex("spec-structure");
    assert_eq!(
        frame_len(&message[..HEADER_LEN], &Limits::DEFAULT),
        Ok(message.len())
    );
    assert_eq!(frame_len(&message, &Limits::DEFAULT), Ok(message.len()));
    assert_eq!(
        frame_len(&read_hex("empty-structure"), &Limits::DEFAULT),
        Ok(8)
    );
    assert_eq!(
        frame_len(&message[..7], &Limits::DEFAULT),
        Err(TtlvError::Truncated {
            offset: 0,
            needed: 8,
            available: 7
        })
    );
    assert_eq!(
        frame_len(&read_hex("length-4gib-structure"), &Limits::DEFAULT),
        Err(TtlvError::MessageTooLarge {
            declared: 8 + 0xFFFF_FFFF,
            limit: 1 << 20
        })
    );
    let limits = Limits {
        max_message_bytes: 40,
        ..Limits::DEFAULT
    };
    assert_eq!(frame_len(&message, &limits), Ok(40));
    let limits = Limits {
        max_message_bytes: 39,
        ..Limits::DEFAULT
    };
    assert_eq!(
        frame_len(&message, &limits),
        Err(TtlvError::MessageTooLarge {
            declared: 40,
            limit: 39
        })
    );
    assert_eq!(
        frame_len(&read_hex("spec-integer"), &Limits::DEFAULT),
        Err(TtlvError::NotAStructure {
            offset: 0,
            found: ItemType::Integer
        })
    );
    assert_eq!(
        frame_len(&read_hex("bad-tag-43"), &Limits::DEFAULT),
        Err(TtlvError::BadTag {
            offset: 0,
            tag: 0x430020
        })
    );
    assert_eq!(
        frame_len(&read_hex("unknown-type-00"), &Limits::DEFAULT),
        Err(TtlvError::UnknownType { offset: 0, byte: 0 })
    );
}

#[test]
fn error_messages_name_the_offset() {
    let err = decode(&read_hex("bad-tag-nested"), &Limits::DEFAULT).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tag 0x410004 at offset 8 is outside the 0x42xxxx and 0x54xxxx ranges"
    );
    let err = decode(&read_hex("text-invalid-utf8"), &Limits::DEFAULT).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Text String at offset 0 is not valid UTF-8"
    );
}

#[test]
fn limits_read_from_toml_default_what_is_missing() {
    let limits: Limits = toml::from_str("max_depth = 8").unwrap();
    assert_eq!(
        limits,
        Limits {
            max_depth: 8,
            ..Limits::DEFAULT
        }
    );
    assert!(toml::from_str::<Limits>("max_dept = 8").is_err());
}
