//! The binary TTLV encoder: an item tree in, the bytes a peer reads out.
//!
//! The output is the canonical form the decoder accepts: minimal zero padding, Booleans as 0 or 1,
//! structure lengths equal to their contents. Each structure's length field is written as a
//! placeholder and filled in once its items are written, so the tree is walked once (twice with the
//! up-front [`encoded_len`] that sizes the buffer), and with an explicit stack rather than recursion,
//! so no tree is too deep to encode.
//!
//! Two entry points differ only in what they do with a tree that cannot be valid TTLV (a tag outside
//! 0x42xxxx/0x54xxxx or above 24 bits, or a value over 4 GiB): [`try_encode`] refuses it, while
//! [`encode`] and [`encode_into`], meant for the trees the server builds itself, never fail and write
//! such an item as well as it can (low 24 bits of the tag, a saturated length), which any peer refuses.

use std::slice;

use super::{HEADER_LEN, Ttlv, TtlvError, Value};

/// The number of bytes [`encode`] produces for `item`, so that a buffer is allocated once.
pub fn encoded_len(item: &Ttlv) -> usize {
    let mut total = 0usize;
    let mut pending = vec![slice::from_ref(item).iter()];
    while let Some(items) = pending.last_mut() {
        let Some(item) = items.next() else {
            pending.pop();
            continue;
        };
        total = total.saturating_add(HEADER_LEN);
        match &item.value {
            Value::Structure(children) => pending.push(children.iter()),
            value => total = total.saturating_add(primitive_layout(value).wire_len),
        }
    }
    total
}

/// Encodes a tree the server built. Never fails; see the module documentation for what becomes of a
/// tree that cannot be valid TTLV, and use [`try_encode`] where that cannot be ruled out.
pub fn encode(item: &Ttlv) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(item));
    write(item, &mut out);
    out
}

/// Like [`encode`], appending to `out`, for a caller that reuses its buffer across messages.
pub fn encode_into(item: &Ttlv, out: &mut Vec<u8>) {
    out.reserve(encoded_len(item));
    write(item, out);
}

/// Encodes a tree, or says why its encoding would not be valid TTLV: a tag outside the
/// 0x42xxxx/0x54xxxx ranges ([`TtlvError::BadTag`]) or an item too long for a 32-bit length
/// ([`TtlvError::TooLongToEncode`]). Offsets in the error count from the start of the output.
pub fn try_encode(item: &Ttlv) -> Result<Vec<u8>, TtlvError> {
    let mut out = Vec::with_capacity(encoded_len(item));
    match write(item, &mut out) {
        None => Ok(out),
        Some(problem) => Err(problem),
    }
}

/// Writes `item` at the end of `out`; returns the first reason the output is not valid TTLV, if any.
fn write(item: &Ttlv, out: &mut Vec<u8>) -> Option<TtlvError> {
    let base = out.len();
    let mut problem = None;
    // Structures being written: their items still to write, and where their length field is.
    let mut open: Vec<(slice::Iter<'_, Ttlv>, usize)> = Vec::new();
    let mut next = Some(item);
    loop {
        if let Some(item) = next.take()
            && let Some(structure) = start_item(item, base, out, &mut problem)
        {
            open.push(structure);
        }
        let Some((children, length_at)) = open.last_mut() else {
            return problem;
        };
        match children.next() {
            Some(child) => next = Some(child),
            None => {
                let length_at = *length_at;
                open.pop();
                let length = out.len() - length_at - 4;
                let field = length_field(length, length_at - 4 - base, &mut problem);
                if let Some(slot) = out.get_mut(length_at..length_at + 4) {
                    slot.copy_from_slice(&field.to_be_bytes());
                }
            }
        }
    }
}

/// Writes an item's header and, unless it is a structure, its value. For a structure, returns its
/// items and the position of its length field, which is filled in once they are written.
fn start_item<'t>(
    item: &'t Ttlv,
    base: usize,
    out: &mut Vec<u8>,
    problem: &mut Option<TtlvError>,
) -> Option<(slice::Iter<'t, Ttlv>, usize)> {
    let offset = out.len() - base;
    if !matches!(item.tag >> 16, 0x42 | 0x54) {
        problem.get_or_insert(TtlvError::BadTag {
            offset,
            tag: item.tag,
        });
    }
    let [_, t1, t2, t3] = item.tag.to_be_bytes();
    out.extend_from_slice(&[t1, t2, t3, item.value.item_type() as u8]);
    let value = match &item.value {
        Value::Structure(children) => {
            let length_at = out.len();
            out.extend_from_slice(&[0; 4]);
            return Some((children.iter(), length_at));
        }
        value => value,
    };
    let layout = primitive_layout(value);
    out.extend_from_slice(&length_field(layout.length, offset, problem).to_be_bytes());
    match value {
        Value::Integer(v) => out.extend_from_slice(&v.to_be_bytes()),
        Value::Enumeration(v) | Value::Interval(v) => out.extend_from_slice(&v.to_be_bytes()),
        Value::LongInteger(v) | Value::DateTime(v) | Value::DateTimeExtended(v) => {
            out.extend_from_slice(&v.to_be_bytes())
        }
        Value::Boolean(b) => out.extend_from_slice(&u64::from(*b).to_be_bytes()),
        Value::BigInteger(bytes) => {
            // Sign-extend to a multiple of eight, as the specification asks.
            let fill = match bytes.first() {
                Some(first) if first & 0x80 != 0 => 0xFF,
                _ => 0x00,
            };
            out.resize(out.len() + layout.padding, fill);
            out.extend_from_slice(bytes);
        }
        Value::TextString(text) => out.extend_from_slice(text.as_bytes()),
        Value::ByteString(bytes) => out.extend_from_slice(bytes),
        Value::Structure(_) => {}
    }
    if !matches!(value, Value::BigInteger(_)) {
        out.resize(out.len() + layout.padding, 0);
    }
    None
}

/// The length field for a value of `length` bytes, or the reason it has none.
fn length_field(length: usize, offset: usize, problem: &mut Option<TtlvError>) -> u32 {
    u32::try_from(length).unwrap_or_else(|_| {
        problem.get_or_insert(TtlvError::TooLongToEncode {
            offset,
            length: length as u64,
        });
        u32::MAX
    })
}

/// How a primitive value is laid out on the wire.
struct Layout {
    /// What the length field says.
    length: usize,
    /// Bytes of padding: zeros after the value, or sign-extension before a Big Integer.
    padding: usize,
    /// Bytes after the header, padding included.
    wire_len: usize,
}

/// The layout of a value other than a structure (whose length is that of its items, counted apart).
fn primitive_layout(value: &Value) -> Layout {
    let fixed = |length| Layout {
        length,
        padding: 8 - length,
        wire_len: 8,
    };
    let variable = |len: usize, padding: usize| Layout {
        length: len,
        padding,
        wire_len: len.saturating_add(padding),
    };
    let to_eight = |len: usize| (8 - len % 8) % 8;
    match value {
        Value::Structure(_) => Layout {
            length: 0,
            padding: 0,
            wire_len: 0,
        },
        Value::Integer(_) | Value::Enumeration(_) | Value::Interval(_) => fixed(4),
        Value::LongInteger(_)
        | Value::Boolean(_)
        | Value::DateTime(_)
        | Value::DateTimeExtended(_) => fixed(8),
        Value::BigInteger(bytes) => {
            let padding = if bytes.is_empty() {
                8
            } else {
                to_eight(bytes.len())
            };
            let total = bytes.len().saturating_add(padding);
            Layout {
                length: total,
                padding,
                wire_len: total,
            }
        }
        Value::TextString(text) => variable(text.len(), to_eight(text.len())),
        Value::ByteString(bytes) => variable(bytes.len(), to_eight(bytes.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ttlv::SecretBytes;

    const T: u32 = 0x420020;

    fn big(bytes: &[u8]) -> Ttlv {
        Ttlv::new(T, Value::BigInteger(SecretBytes::from(bytes)))
    }

    #[test]
    fn spec_examples_encode_as_printed() {
        let cases = [
            (Value::Integer(8), "42002002000000040000000800000000"),
            (
                Value::LongInteger(123_456_789_000_000_000),
                "420020030000000801B69B4BA5749200",
            ),
            (Value::Enumeration(255), "4200200500000004000000FF00000000"),
            (Value::Boolean(true), "42002006000000080000000000000001"),
            (
                Value::TextString("Hello World".into()),
                "420020070000000B48656C6C6F20576F726C640000000000",
            ),
            (
                Value::ByteString(SecretBytes::from(vec![1, 2, 3])),
                "42002008000000030102030000000000",
            ),
            (
                Value::DateTime(0x47DA_67F8),
                "42002009000000080000000047DA67F8",
            ),
            (Value::Interval(864_000), "4200200A00000004000D2F0000000000"),
        ];
        for (value, hex) in cases {
            assert_eq!(
                encode(&Ttlv::new(T, value.clone())),
                hex::decode(hex).unwrap(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn big_integers_are_sign_extended_to_eight_bytes() {
        assert_eq!(
            encode(&big(&[0x80])),
            hex::decode("4200200400000008FFFFFFFFFFFFFF80").unwrap()
        );
        assert_eq!(
            encode(&big(&[0x01, 0x02])),
            hex::decode("42002004000000080000000000000102").unwrap()
        );
        assert_eq!(
            encode(&big(&[])),
            hex::decode("42002004000000080000000000000000").unwrap()
        );
        let nine = encode(&big(&[0xFF; 9]));
        assert_eq!(nine.len(), 24);
        assert_eq!(nine[4..8], 16u32.to_be_bytes());
        assert!(nine[8..].iter().all(|&b| b == 0xFF));
        // Already a multiple of eight: written as is, even when not minimal.
        let sixteen = [0u8; 16];
        assert_eq!(encode(&big(&sixteen))[8..], sixteen);
        assert_eq!(encoded_len(&big(&[0x80])), 16);
    }

    #[test]
    fn structure_lengths_are_filled_in() {
        let tree = Ttlv::structure(
            0x420078,
            vec![
                Ttlv::structure(0x420077, vec![]),
                Ttlv::structure(
                    0x420079,
                    vec![Ttlv::new(T, Value::TextString("abc".into()))],
                ),
            ],
        );
        let bytes = encode(&tree);
        assert_eq!(bytes.len(), 8 + 8 + 8 + 16);
        assert_eq!(bytes[4..8], 32u32.to_be_bytes());
        assert_eq!(bytes[12..16], 0u32.to_be_bytes());
        assert_eq!(bytes[20..24], 16u32.to_be_bytes());
    }

    #[test]
    fn try_encode_refuses_tags_a_peer_would_refuse() {
        let tree = Ttlv::structure(
            0x420078,
            vec![
                Ttlv::new(T, Value::Integer(1)),
                Ttlv::new(0x0142_0001, Value::Integer(2)),
            ],
        );
        assert_eq!(
            try_encode(&tree),
            Err(TtlvError::BadTag {
                offset: 24,
                tag: 0x0142_0001
            })
        );
        // The infallible form does not panic: it writes the low 24 bits of the tag.
        assert_eq!(encode(&tree).len(), 40);
        let tree = Ttlv::new(0x430000, Value::Boolean(false));
        assert_eq!(
            try_encode(&tree),
            Err(TtlvError::BadTag {
                offset: 0,
                tag: 0x430000
            })
        );
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn lengths_beyond_32_bits_are_reported_and_saturated() {
        let mut problem = None;
        assert_eq!(length_field(1 << 32, 16, &mut problem), u32::MAX);
        assert_eq!(
            problem,
            Some(TtlvError::TooLongToEncode {
                offset: 16,
                length: 1 << 32
            })
        );
        let mut problem = None;
        assert_eq!(length_field(u32::MAX as usize, 0, &mut problem), u32::MAX);
        assert_eq!(problem, None);
    }
}
