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
