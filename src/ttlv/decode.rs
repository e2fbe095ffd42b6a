//! The binary TTLV decoder: bytes from a peer in, one item tree out, or the reason the bytes are
//! refused.
//!
//! Each item's header and value are read with `nom` parsers. Nesting is walked with an explicit stack
//! of open structures rather than by recursion, so a hostile message cannot exhaust the thread's
//! stack whatever depth limit is configured. Every length a peer declares is compared with the bytes
//! actually present, and with the limits, before anything is allocated; no capacity is ever taken from
//! a declared length. The decoder is strict where the specification is: tag ranges, type bytes, fixed
//! lengths, Boolean values, zero padding, UTF-8, and structure lengths equal to their contents.

use nom::bytes::complete::take;
use nom::error::{ErrorKind, ParseError};
use nom::number::complete::{be_i32, be_i64, be_u8, be_u24, be_u32, be_u64};
use nom::{IResult, Parser};

use super::{ItemType, Limits, SecretBytes, Tag, Ttlv, TtlvError, Value};

/// Bytes in an item header (tag 3, type 1, length 4): what the transport reads before it knows a
/// frame's length.
pub const HEADER_LEN: usize = 8;

/// Checks a message header and returns the length of the whole frame, header included, so that the
/// transport can refuse an oversized message before reading or allocating its body. `header` must hold
/// at least [`HEADER_LEN`] bytes; only those are looked at.
pub fn frame_len(header: &[u8], limits: &Limits) -> Result<usize, TtlvError> {
    let (tag, type_byte, length) = match item_header(header) {
        Ok((_, fields)) => fields,
        Err(_) => {
            return Err(TtlvError::Truncated {
                offset: 0,
                needed: HEADER_LEN as u64,
                available: header.len(),
            });
        }
    };
    check_tag(tag, 0)?;
    let item_type = ItemType::from_byte(type_byte).ok_or(TtlvError::UnknownType {
        offset: 0,
        byte: type_byte,
    })?;
    if item_type != ItemType::Structure {
        return Err(TtlvError::NotAStructure {
            offset: 0,
            found: item_type,
        });
    }
    let declared = HEADER_LEN as u64 + u64::from(length);
    let too_large = TtlvError::MessageTooLarge {
        declared,
        limit: limits.max_message_bytes,
    };
    if declared > limits.max_message_bytes as u64 {
        return Err(too_large);
    }
    usize::try_from(declared).map_err(|_| too_large)
}

/// Decodes exactly one item filling all of `input`. Refuses input over `limits.max_message_bytes`,
/// structures nested deeper than `limits.max_depth`, and structures of more than
/// `limits.max_items_per_structure` items, as well as every malformation [`TtlvError`] names.
pub fn decode(input: &[u8], limits: &Limits) -> Result<Ttlv, TtlvError> {
    if input.len() > limits.max_message_bytes {
        return Err(TtlvError::MessageTooLarge {
            declared: input.len() as u64,
            limit: limits.max_message_bytes,
        });
    }
    let mut decoder = Decoder {
        input,
        pos: 0,
        limits,
        open: Vec::new(),
    };
    let item = decoder.run()?;
    if decoder.pos != input.len() {
        return Err(TtlvError::TrailingBytes {
            offset: decoder.pos,
            count: input.len().saturating_sub(decoder.pos),
        });
    }
    Ok(item)
}

/// A structure whose header has been read and whose items are being read.
struct Open {
    tag: Tag,
    /// Where its header starts.
    offset: usize,
    /// Where its value ends: its last item must end exactly here.
    end: usize,
    children: Vec<Ttlv>,
}

impl Open {
    fn value_start(&self) -> usize {
        self.offset + HEADER_LEN
    }
}

/// The walk over one message: a position in it and the structures currently open around it.
struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    limits: &'a Limits,
    open: Vec<Open>,
}

/// What an item's header and value turned out to be.
enum Parsed {
    /// A structure: its items follow.
    Structure,
    /// Any other type, read in full.
    Primitive(Value),
}

impl Decoder<'_> {
    /// Reads items until the outermost one is complete.
    fn run(&mut self) -> Result<Ttlv, TtlvError> {
        loop {
            let offset = self.pos;
            // The item must fit in what is left of its parent, or of the input for the outermost.
            let bound = self
                .open
                .last()
                .map_or(self.input.len(), |parent| parent.end);
            let room = self.input.get(offset..bound).unwrap_or_default();
            if let Some(parent) = self.open.last()
                && parent.children.len() >= self.limits.max_items_per_structure
            {
                return Err(TtlvError::TooManyItems {
                    offset: parent.offset,
                    limit: self.limits.max_items_per_structure,
                });
            }
            let Ok((_, (tag, type_byte, length))) = item_header(room) else {
                return Err(self.overrun(offset, HEADER_LEN as u64, room.len()));
            };
            check_tag(tag, offset)?;
            let item_type = ItemType::from_byte(type_byte).ok_or(TtlvError::UnknownType {
                offset,
                byte: type_byte,
            })?;
            let value_len = wire_value_len(item_type, length, offset)?;
            let needed = HEADER_LEN as u64 + value_len;
            if self.open.is_empty() && needed > self.limits.max_message_bytes as u64 {
                return Err(TtlvError::MessageTooLarge {
                    declared: needed,
                    limit: self.limits.max_message_bytes,
                });
            }
            // From here on `needed` fits within `room`, so it fits in usize.
            let item_len = match usize::try_from(needed) {
                Ok(len) if len <= room.len() => len,
                _ => return Err(self.overrun(offset, needed, room.len())),
            };
            let value = room.get(HEADER_LEN..item_len).unwrap_or_default();
            let parsed = item_value(item_type, length, value).map_err(|fault| fault.at(offset))?;
            let mut done = match parsed {
                Parsed::Structure => {
                    if self.open.len() >= self.limits.max_depth {
                        return Err(TtlvError::TooDeep {
                            offset,
                            limit: self.limits.max_depth,
                        });
                    }
                    self.open.push(Open {
                        tag,
                        offset,
                        end: offset + item_len,
                        children: Vec::new(),
                    });
                    self.pos = offset + HEADER_LEN;
                    None
                }
                Parsed::Primitive(value) => {
                    self.pos = offset + item_len;
                    Some(Ttlv { tag, value })
                }
            };
            // Hand the finished item to its parent, closing every structure that ends here.
            loop {
                if let Some(item) = done.take() {
                    match self.open.last_mut() {
                        Some(parent) => parent.children.push(item),
                        None => return Ok(item),
                    }
                }
                match self.open.pop_if(|top| top.end == self.pos) {
                    Some(closed) => {
                        done = Some(Ttlv {
                            tag: closed.tag,
                            value: Value::Structure(closed.children),
                        })
                    }
                    None => break,
                }
            }
        }
    }

    /// The error for an item at `offset` needing `needed` bytes where only `available` remain: the
    /// input is cut short if the item is the outermost, else its parent's length is wrong.
    fn overrun(&self, offset: usize, needed: u64, available: usize) -> TtlvError {
        match self.open.last() {
            None => TtlvError::Truncated {
                offset,
                needed,
                available,
            },
            Some(parent) => {
                let declared = (parent.end - parent.value_start()) as u64;
                let before = (offset - parent.value_start()) as u64;
                // Too few bytes for even a header are left-over bytes, not a short item.
                let actual = if available < HEADER_LEN {
                    before
                } else {
                    before + needed
                };
                TtlvError::LengthMismatch {
                    offset: parent.offset,
                    declared,
                    actual,
                }
            }
        }
    }
}

fn check_tag(tag: Tag, offset: usize) -> Result<(), TtlvError> {
    match tag >> 16 {
        0x42 | 0x54 => Ok(()),
        _ => Err(TtlvError::BadTag { offset, tag }),
    }
}

/// The bytes an item's value occupies on the wire, padding included, once its length field is
/// checked against its type.
fn wire_value_len(item_type: ItemType, length: u32, offset: usize) -> Result<u64, TtlvError> {
    let fixed = |expected: u32| {
        if length == expected {
            Ok(8)
        } else {
            Err(TtlvError::WrongLength {
                offset,
                item_type,
                declared: length,
                expected,
            })
        }
    };
    match item_type {
        ItemType::Structure => Ok(u64::from(length)),
        ItemType::Integer | ItemType::Enumeration | ItemType::Interval => fixed(4),
        ItemType::LongInteger
        | ItemType::Boolean
        | ItemType::DateTime
        | ItemType::DateTimeExtended => fixed(8),
        ItemType::BigInteger if length > 0 && length.is_multiple_of(8) => Ok(u64::from(length)),
        ItemType::BigInteger => Err(TtlvError::BadBigIntegerLength {
            offset,
            declared: length,
        }),
        ItemType::TextString | ItemType::ByteString => Ok(u64::from(length).next_multiple_of(8)),
    }
}

/// Why a value's bytes were refused, before the item's offset is attached.
#[derive(Debug)]
enum Fault {
    /// The value ended early; the decoder sizes every value beforehand, so this means a bug here.
    Short,
    Padding,
    Boolean(u64),
    Utf8,
}

impl Fault {
    fn at(self, offset: usize) -> TtlvError {
        match self {
            Fault::Short => TtlvError::Truncated {
                offset,
                needed: HEADER_LEN as u64,
                available: 0,
            },
            Fault::Padding => TtlvError::BadPadding { offset },
            Fault::Boolean(value) => TtlvError::BadBoolean { offset, value },
            Fault::Utf8 => TtlvError::InvalidUtf8 { offset },
        }
    }
}

impl<I> ParseError<I> for Fault {
    fn from_error_kind(_: I, _: ErrorKind) -> Self {
        Fault::Short
    }

    fn append(_: I, _: ErrorKind, other: Self) -> Self {
        other
    }
}

type Res<'a, T> = IResult<&'a [u8], T, Fault>;

/// Tag (three bytes), type (one), length (four), all big-endian.
fn item_header(input: &[u8]) -> IResult<&[u8], (u32, u8, u32), ()> {
    (be_u24, be_u8, be_u32).parse(input)
}

/// `n` bytes that must all be zero.
fn zero_padding<'a>(n: usize) -> impl Parser<&'a [u8], Output = (), Error = Fault> {
    move |input: &'a [u8]| -> Res<'a, ()> {
        let (rest, pad) = take(n).parse(input)?;
        if pad.iter().all(|&b| b == 0) {
            Ok((rest, ()))
        } else {
            Err(nom::Err::Failure(Fault::Padding))
        }
    }
}

/// `length` bytes followed by zeros up to the next multiple of eight.
fn padded_bytes<'a>(length: usize) -> impl Parser<&'a [u8], Output = &'a [u8], Error = Fault> {
    (take(length), zero_padding((8 - length % 8) % 8)).map(|(bytes, ())| bytes)
}

/// A four-byte number followed by four bytes of zero padding.
fn padded_to_8<'a, P>(number: P) -> impl Parser<&'a [u8], Output = P::Output, Error = Fault>
where
    P: Parser<&'a [u8], Error = Fault>,
{
    (number, zero_padding(4)).map(|(n, ())| n)
}

fn boolean(input: &[u8]) -> Res<'_, bool> {
    let (rest, raw) = be_u64(input)?;
    match raw {
        0 => Ok((rest, false)),
        1 => Ok((rest, true)),
        other => Err(nom::Err::Failure(Fault::Boolean(other))),
    }
}

fn text(length: usize) -> impl for<'a> Fn(&'a [u8]) -> Res<'a, String> {
    move |input| {
        let (rest, bytes) = padded_bytes(length).parse(input)?;
        let text = std::str::from_utf8(bytes).map_err(|_| nom::Err::Failure(Fault::Utf8))?;
        Ok((rest, text.to_owned()))
    }
}

/// Reads the value of an item whose `wire` bytes (value and padding) are all present.
fn item_value(item_type: ItemType, length: u32, wire: &[u8]) -> Result<Parsed, Fault> {
    let length = length as usize;
    let result = match item_type {
        ItemType::Structure => return Ok(Parsed::Structure),
        ItemType::Integer => padded_to_8(be_i32).map(Value::Integer).parse(wire),
        ItemType::Enumeration => padded_to_8(be_u32).map(Value::Enumeration).parse(wire),
        ItemType::Interval => padded_to_8(be_u32).map(Value::Interval).parse(wire),
        ItemType::LongInteger => be_i64.map(Value::LongInteger).parse(wire),
        ItemType::DateTime => be_i64.map(Value::DateTime).parse(wire),
        ItemType::DateTimeExtended => be_i64.map(Value::DateTimeExtended).parse(wire),
        ItemType::Boolean => boolean.map(Value::Boolean).parse(wire),
        ItemType::BigInteger => take(length)
            .map(|b: &[u8]| Value::BigInteger(SecretBytes::from(b)))
            .parse(wire),
        ItemType::TextString => text(length).map(Value::TextString).parse(wire),
        ItemType::ByteString => padded_bytes(length)
            .map(|b| Value::ByteString(SecretBytes::from(b)))
            .parse(wire),
    };
    match result {
        Ok((_, value)) => Ok(Parsed::Primitive(value)),
        Err(nom::Err::Error(fault) | nom::Err::Failure(fault)) => Err(fault),
        Err(nom::Err::Incomplete(_)) => Err(Fault::Short),
    }
}
