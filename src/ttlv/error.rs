//! Why a byte sequence is not acceptable TTLV, or why an item tree cannot be written as TTLV.
//!
//! Every rejection the binary codec makes is one variant here, carrying the byte offset it concerns so
//! that a log line points at the offending item. Nothing here ever holds value bytes, so an error can be
//! logged without leaking key material.

use super::ItemType;

/// A TTLV decoding or encoding failure. Offsets count bytes from the start of the message (when
/// decoding) or of the output (when encoding), and point at the start of the item concerned unless a
/// variant says otherwise.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TtlvError {
    /// The message, or the length its outermost header declares, is over the configured maximum.
    #[error("message of {declared} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge { declared: u64, limit: usize },

    /// The input ends inside the outermost item.
    #[error(
        "truncated input: the item at offset {offset} needs {needed} bytes, only {available} remain"
    )]
    Truncated {
        offset: usize,
        needed: u64,
        available: usize,
    },

    /// Bytes follow the one item a message may hold; `offset` is where they begin.
    #[error("{count} unexpected bytes after the message, from offset {offset}")]
    TrailingBytes { offset: usize, count: usize },

    /// A tag whose first byte is neither 0x42 (specification) nor 0x54 (extension).
    #[error("tag 0x{tag:06X} at offset {offset} is outside the 0x42xxxx and 0x54xxxx ranges")]
    BadTag { offset: usize, tag: u32 },

    /// A type byte that names no item type.
    #[error("unknown item type 0x{byte:02X} at offset {offset}")]
    UnknownType { offset: usize, byte: u8 },

    /// A message header whose type is not Structure: every KMIP message is one structure.
    #[error("the message at offset {offset} is a {found:?}, not a Structure")]
    NotAStructure { offset: usize, found: ItemType },

    /// A fixed-size item (Integer, Long Integer, Enumeration, Boolean, Date-Time, Interval, Date-Time
    /// Extended) whose length field is not that size.
    #[error(
        "{item_type:?} at offset {offset} declares length {declared}, its type requires {expected}"
    )]
    WrongLength {
        offset: usize,
        item_type: ItemType,
        declared: u32,
        expected: u32,
    },

    /// A Big Integer whose length is zero or not a multiple of eight.
    #[error(
        "Big Integer at offset {offset} declares length {declared}, not a positive multiple of 8"
    )]
    BadBigIntegerLength { offset: usize, declared: u32 },

    /// A structure whose length field differs from what its items occupy: either its items run past
    /// its end (`actual` > `declared`) or bytes too few to hold an item are left over (`actual` <
    /// `declared`).
    #[error("structure at offset {offset} declares {declared} bytes but its items take {actual}")]
    LengthMismatch {
        offset: usize,
        declared: u64,
        actual: u64,
    },

    /// A Boolean whose eight bytes are neither 0 nor 1.
    #[error("Boolean at offset {offset} holds {value:#x}, not 0 or 1")]
    BadBoolean { offset: usize, value: u64 },

    /// Padding after an Integer, Enumeration, Interval, Text String or Byte String that is not all
    /// zero.
    #[error("non-zero padding after the item at offset {offset}")]
    BadPadding { offset: usize },

    /// A Text String that is not UTF-8.
    #[error("Text String at offset {offset} is not valid UTF-8")]
    InvalidUtf8 { offset: usize },

    /// Structures nested deeper than the configured maximum.
    #[error("structure at offset {offset} is nested deeper than the limit of {limit}")]
    TooDeep { offset: usize, limit: usize },

    /// A structure holding more items than the configured maximum.
    #[error("structure at offset {offset} holds more than the limit of {limit} items")]
    TooManyItems { offset: usize, limit: usize },

    /// Encoding only: an item whose value is longer than a 32-bit length field can state.
    #[error(
        "the item at output offset {offset} would be {length} bytes long, over the 4 GiB TTLV limit"
    )]
    TooLongToEncode { offset: usize, length: u64 },
}

impl TtlvError {
    /// The variant's name, stable across releases: for metrics, logs, and the fixture manifest.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MessageTooLarge { .. } => "MessageTooLarge",
            Self::Truncated { .. } => "Truncated",
            Self::TrailingBytes { .. } => "TrailingBytes",
            Self::BadTag { .. } => "BadTag",
            Self::UnknownType { .. } => "UnknownType",
            Self::NotAStructure { .. } => "NotAStructure",
            Self::WrongLength { .. } => "WrongLength",
            Self::BadBigIntegerLength { .. } => "BadBigIntegerLength",
            Self::LengthMismatch { .. } => "LengthMismatch",
            Self::BadBoolean { .. } => "BadBoolean",
            Self::BadPadding { .. } => "BadPadding",
            Self::InvalidUtf8 { .. } => "InvalidUtf8",
            Self::TooDeep { .. } => "TooDeep",
            Self::TooManyItems { .. } => "TooManyItems",
            Self::TooLongToEncode { .. } => "TooLongToEncode",
        }
    }

    /// The byte offset the error concerns; `None` for a message-wide size error.
    pub fn offset(&self) -> Option<usize> {
        match *self {
            Self::MessageTooLarge { .. } => None,
            Self::Truncated { offset, .. }
            | Self::TrailingBytes { offset, .. }
            | Self::BadTag { offset, .. }
            | Self::UnknownType { offset, .. }
            | Self::NotAStructure { offset, .. }
            | Self::WrongLength { offset, .. }
            | Self::BadBigIntegerLength { offset, .. }
            | Self::LengthMismatch { offset, .. }
            | Self::BadBoolean { offset, .. }
            | Self::BadPadding { offset }
            | Self::InvalidUtf8 { offset }
            | Self::TooDeep { offset, .. }
            | Self::TooManyItems { offset, .. }
            | Self::TooLongToEncode { offset, .. } => Some(offset),
        }
    }
}
