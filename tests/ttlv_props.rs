//! Properties of the binary TTLV codec over generated trees and bytes: encoding then decoding is the
//! identity, the encoder's size estimate is exact, the decoder accepts only the canonical form (what it
//! accepts re-encodes to the very same bytes), and no input, cut short, mutated or random, makes it
//! panic.

use proptest::collection::vec;
use proptest::prelude::*;

use kmipd::ttlv::{
    HEADER_LEN, Limits, SecretBytes, Ttlv, TtlvError, Value, decode, encode, encode_into,
    encoded_len, try_encode,
};

fn valid_tag() -> impl Strategy<Value = u32> {
    prop_oneof![0x42_0000u32..=0x42_FFFF, 0x54_0000u32..=0x54_FFFF]
}

/// A primitive value as it can arrive off the wire (Big Integers a positive multiple of 8 long).
fn wire_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::Integer),
        any::<i64>().prop_map(Value::LongInteger),
        (1usize..4)
            .prop_flat_map(|words| vec(any::<u8>(), words * 8))
            .prop_map(|b| Value::BigInteger(SecretBytes::new(b))),
        any::<u32>().prop_map(Value::Enumeration),
        any::<bool>().prop_map(Value::Boolean),
        "\\PC{0,24}".prop_map(Value::TextString),
        vec(any::<u8>(), 0..40).prop_map(|b| Value::ByteString(SecretBytes::new(b))),
        any::<i64>().prop_map(Value::DateTime),
        any::<u32>().prop_map(Value::Interval),
        any::<i64>().prop_map(Value::DateTimeExtended),
    ]
}

/// Trees of bounded depth (at most 5 structures deep) and size.
fn wire_tree() -> impl Strategy<Value = Ttlv> {
    let leaf = (valid_tag(), wire_value()).prop_map(|(tag, value)| Ttlv::new(tag, value));
    leaf.prop_recursive(4, 96, 8, |inner| {
        (valid_tag(), vec(inner, 0..8)).prop_map(|(tag, items)| Ttlv::structure(tag, items))
    })
}

/// Trees as the server might build them by mistake: any tag, Big Integers of any length.
fn any_tree() -> impl Strategy<Value = Ttlv> {
    let value = prop_oneof![
        4 => wire_value(),
        1 => vec(any::<u8>(), 0..20).prop_map(|b| Value::BigInteger(SecretBytes::new(b))),
    ];
    let tag = prop_oneof![4 => valid_tag(), 1 => any::<u32>()];
    let leaf = (tag.clone(), value).prop_map(|(tag, value)| Ttlv::new(tag, value));
    leaf.prop_recursive(4, 64, 6, move |inner| {
        (tag.clone(), vec(inner, 0..6)).prop_map(|(tag, items)| Ttlv::structure(tag, items))
    })
}

/// Structure nesting depth: 0 for a primitive, 1 for a structure of primitives.
fn depth(item: &Ttlv) -> usize {
    match &item.value {
        Value::Structure(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn tags_valid(item: &Ttlv) -> bool {
    matches!(item.tag >> 16, 0x42 | 0x54) && item.children().iter().all(tags_valid)
}

/// What a Big Integer of any length becomes on the wire: sign-extended to a positive multiple of 8.
fn sign_extended(item: &Ttlv) -> Ttlv {
    let value = match &item.value {
        Value::Structure(items) => Value::Structure(items.iter().map(sign_extended).collect()),
        Value::BigInteger(bytes) => {
            let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
                0xFF
            } else {
                0
            };
            let pad = if bytes.is_empty() {
                8
            } else {
                (8 - bytes.len() % 8) % 8
            };
            let mut wide = vec![fill; pad];
            wide.extend_from_slice(bytes);
            Value::BigInteger(SecretBytes::new(wide))
        }
        other => other.clone(),
    };
    Ttlv::new(item.tag, value)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_is_identity(tree in wire_tree()) {
        let bytes = encode(&tree);
        prop_assert_eq!(decode(&bytes, &Limits::DEFAULT), Ok(tree));
    }

    #[test]
    fn encoded_len_is_exact_and_every_entry_point_agrees(tree in wire_tree(), prefix in vec(any::<u8>(), 0..16)) {
        let bytes = encode(&tree);
        prop_assert_eq!(encoded_len(&tree), bytes.len());
        prop_assert_eq!(bytes.len() % 8, 0);
        prop_assert_eq!(try_encode(&tree), Ok(bytes.clone()));
        let mut out = prefix.clone();
        encode_into(&tree, &mut out);
        prop_assert_eq!(&out[..prefix.len()], &prefix[..]);
        prop_assert_eq!(&out[prefix.len()..], &bytes[..]);
    }

    #[test]
    fn depth_limit_is_exact(tree in wire_tree()) {
        let bytes = encode(&tree);
        let d = depth(&tree);
        let at = Limits { max_depth: d, ..Limits::DEFAULT };
        prop_assert!(decode(&bytes, &at).is_ok());
        if d > 0 {
            let under = Limits { max_depth: d - 1, ..Limits::DEFAULT };
            let err = decode(&bytes, &under).unwrap_err();
            prop_assert!(matches!(err, TtlvError::TooDeep { .. }), "{:?}", err);
        }
    }

    #[test]
    fn every_proper_prefix_is_truncated(tree in wire_tree()) {
        let bytes = encode(&tree);
        for cut in 0..bytes.len() {
            match decode(&bytes[..cut], &Limits::DEFAULT) {
                Err(TtlvError::Truncated { offset: 0, available, .. }) => prop_assert_eq!(available, cut),
                other => prop_assert!(false, "cut at {}: {:?}", cut, other),
            }
        }
    }

    #[test]
    fn extra_bytes_are_trailing(tree in wire_tree(), extra in vec(any::<u8>(), 1..24)) {
        let mut bytes = encode(&tree);
        let end = bytes.len();
        bytes.extend_from_slice(&extra);
        prop_assert_eq!(
            decode(&bytes, &Limits::DEFAULT),
            Err(TtlvError::TrailingBytes { offset: end, count: extra.len() })
        );
    }

    #[test]
    fn random_bytes_never_panic_and_accepted_input_is_canonical(bytes in vec(any::<u8>(), 0..300)) {
        if let Ok(tree) = decode(&bytes, &Limits::DEFAULT) {
            prop_assert_eq!(encode(&tree), bytes);
        }
    }

    #[test]
    fn plausible_headers_never_panic_and_accepted_input_is_canonical(
        items in vec((valid_tag(), 0u8..13, 0u32..48, vec(any::<u8>(), 0..48)), 1..6)
    ) {
        // Well-formed-looking headers with arbitrary lengths and contents reach deeper checks than
        // uniformly random bytes do.
        let mut bytes = Vec::new();
        for (tag, item_type, length, value) in items {
            bytes.extend_from_slice(&tag.to_be_bytes()[1..]);
            bytes.push(item_type);
            bytes.extend_from_slice(&length.to_be_bytes());
            bytes.extend_from_slice(&value);
        }
        if let Ok(tree) = decode(&bytes, &Limits::DEFAULT) {
            prop_assert_eq!(encode(&tree), bytes);
        }
    }

    #[test]
    fn mutated_encodings_never_panic_and_accepted_input_is_canonical(
        tree in wire_tree(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encode(&tree);
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(tree) = decode(&bytes, &Limits::DEFAULT) {
            prop_assert_eq!(encode(&tree), bytes);
        }
    }

    #[test]
    fn any_tree_encodes_without_panic_and_try_encode_only_passes_readable_output(tree in any_tree()) {
        let bytes = encode(&tree);
        prop_assert_eq!(encoded_len(&tree), bytes.len());
        match try_encode(&tree) {
            Ok(checked) => {
                prop_assert!(tags_valid(&tree));
                prop_assert_eq!(&checked, &bytes);
                let limits = Limits { max_depth: usize::MAX, ..Limits::DEFAULT };
                prop_assert_eq!(decode(&bytes, &limits), Ok(sign_extended(&tree)));
            }
            Err(err) => {
                prop_assert!(!tags_valid(&tree));
                prop_assert!(matches!(err, TtlvError::BadTag { .. }), "{:?}", err);
                let offset = err.offset().unwrap();
                prop_assert!(offset + HEADER_LEN <= bytes.len());
            }
        }
    }
}
