//! TTLV, the wire format of KMIP: items of Tag, Type, Length and Value, nested in structures.
//!
//! This module knows the format and nothing of KMIP's meaning: an item tree in, bytes out, and back, with every
//! limit checked before anything is allocated. Tag numbers are plain `u32`s; names exist only for the XML and JSON
//! forms, which learn them through a [`Dictionary`].

use std::fmt;

use zeroize::Zeroizing;

/// A tag: three bytes on the wire, 0x42xxxx for the specification's, 0x54xxxx for extensions.
pub type Tag = u32;

/// One TTLV item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ttlv {
    pub tag: Tag,
    pub value: Value,
}

/// An item's value, one variant per item type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Structure(Vec<Ttlv>),
    Integer(i32),
    LongInteger(i64),
    /// Big-endian two's complement, as on the wire: the length is a multiple of 8.
    BigInteger(SecretBytes),
    Enumeration(u32),
    Boolean(bool),
    TextString(String),
    ByteString(SecretBytes),
    /// Seconds since the Unix epoch.
    DateTime(i64),
    /// Seconds.
    Interval(u32),
    /// Microseconds since the Unix epoch (KMIP 2.0 and later).
    DateTimeExtended(i64),
}

/// The item type byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ItemType {
    Structure = 0x01,
    Integer = 0x02,
    LongInteger = 0x03,
    BigInteger = 0x04,
    Enumeration = 0x05,
    Boolean = 0x06,
    TextString = 0x07,
    ByteString = 0x08,
    DateTime = 0x09,
    Interval = 0x0A,
    DateTimeExtended = 0x0B,
}

impl ItemType {
    /// Reads the type byte of the wire format.
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0x01 => Self::Structure,
            0x02 => Self::Integer,
            0x03 => Self::LongInteger,
            0x04 => Self::BigInteger,
            0x05 => Self::Enumeration,
            0x06 => Self::Boolean,
            0x07 => Self::TextString,
            0x08 => Self::ByteString,
            0x09 => Self::DateTime,
            0x0A => Self::Interval,
            0x0B => Self::DateTimeExtended,
            _ => return None,
        })
    }

    /// The name the XML and JSON encodings give the type.
    pub fn name(self) -> &'static str {
        match self {
            Self::Structure => "Structure",
            Self::Integer => "Integer",
            Self::LongInteger => "LongInteger",
            Self::BigInteger => "BigInteger",
            Self::Enumeration => "Enumeration",
            Self::Boolean => "Boolean",
            Self::TextString => "TextString",
            Self::ByteString => "ByteString",
            Self::DateTime => "DateTime",
            Self::Interval => "Interval",
            Self::DateTimeExtended => "DateTimeExtended",
        }
    }

    /// The inverse of [`ItemType::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Structure,
            Self::Integer,
            Self::LongInteger,
            Self::BigInteger,
            Self::Enumeration,
            Self::Boolean,
            Self::TextString,
            Self::ByteString,
            Self::DateTime,
            Self::Interval,
            Self::DateTimeExtended,
        ]
        .into_iter()
        .find(|t| t.name() == name)
    }
}

impl Value {
    /// The item type of this value.
    pub fn item_type(&self) -> ItemType {
        match self {
            Value::Structure(_) => ItemType::Structure,
            Value::Integer(_) => ItemType::Integer,
            Value::LongInteger(_) => ItemType::LongInteger,
            Value::BigInteger(_) => ItemType::BigInteger,
            Value::Enumeration(_) => ItemType::Enumeration,
            Value::Boolean(_) => ItemType::Boolean,
            Value::TextString(_) => ItemType::TextString,
            Value::ByteString(_) => ItemType::ByteString,
            Value::DateTime(_) => ItemType::DateTime,
            Value::Interval(_) => ItemType::Interval,
            Value::DateTimeExtended(_) => ItemType::DateTimeExtended,
        }
    }
}

impl Ttlv {
    /// Builds an item.
    pub fn new(tag: Tag, value: Value) -> Self {
        Ttlv { tag, value }
    }

    /// Builds a structure.
    pub fn structure(tag: Tag, children: Vec<Ttlv>) -> Self {
        Ttlv { tag, value: Value::Structure(children) }
    }

    /// The children of a structure; empty for any other type.
    pub fn children(&self) -> &[Ttlv] {
        match &self.value {
            Value::Structure(c) => c,
            _ => &[],
        }
    }

    /// The first child with this tag.
    pub fn child(&self, tag: Tag) -> Option<&Ttlv> {
        self.children().iter().find(|c| c.tag == tag)
    }

    /// Every child with this tag, in order.
    pub fn children_with(&self, tag: Tag) -> impl Iterator<Item = &Ttlv> {
        self.children().iter().filter(move |c| c.tag == tag)
    }
}

/// Bytes that may be key material: wiped from memory when dropped, and never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of the bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(bytes))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<&[u8]> for SecretBytes {
    fn from(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }
}

impl std::ops::Deref for SecretBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// The bounds a peer's input must stay within; each is checked before the memory it would cost is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded message, header included.
    pub max_message_bytes: usize,
    /// Deepest nesting of structures (the outermost structure is depth 1).
    pub max_depth: usize,
    /// Most children one structure may hold.
    pub max_items_per_structure: usize,
}

impl Limits {
    /// 1 MiB frames, 32 levels, 10,000 children.
    pub const DEFAULT: Limits = Limits { max_message_bytes: 1 << 20, max_depth: 32, max_items_per_structure: 10_000 };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What the XML and JSON encodings need to know of the names of tags and enumerations. `spec` provides the
/// specification's; the codec itself knows none.
pub trait Dictionary {
    /// The normalized name of a tag.
    fn tag_name(&self, tag: Tag) -> Option<&'static str>;
    /// The tag of a normalized name.
    fn tag_by_name(&self, name: &str) -> Option<Tag>;
    /// The enumeration or mask the value of an item with `tag` is named from. `attribute_name` is the text of the
    /// sibling Attribute Name when the item is a KMIP 1.x Attribute Value, because its type follows from that name.
    fn value_names(&self, tag: Tag, attribute_name: Option<&str>) -> Option<&'static NamedValues>;
}

/// The names of an enumeration's values, or of a mask's bits.
#[derive(Debug)]
pub struct NamedValues {
    /// The enumeration's normalized name.
    pub name: &'static str,
    /// A mask is an Integer whose bits are named; an enumeration's values are whole.
    pub is_mask: bool,
    /// (normalized name, value), in the specification's order.
    pub values: &'static [(&'static str, u32)],
}
