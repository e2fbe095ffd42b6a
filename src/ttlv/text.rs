//! What the XML and JSON encodings of TTLV (KMIP Additional Message Encodings 1.0) have in common: the error
//! type, the placeholder hook, tag and value spellings (names, hex, ISO 8601 dates) and the limits on text input.
//! Each encoding's own file only reads and writes its syntax and hands every leaf value to this file.

use std::fmt::Write as _;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Dictionary, ItemType, Limits, NamedValues, SecretBytes, Tag, Value};

/// How many bytes of XML or JSON text one byte of the binary form may take. A text message is refused when it is
/// longer than `Limits::max_message_bytes` times this factor: names, attribute syntax and indentation make the
/// text forms several times larger than TTLV (an Integer item is 16 bytes on the wire and about 60 as
/// indented XML), and the factor leaves room for that without letting a peer send unbounded text.
pub const TEXT_EXPANSION_FACTOR: usize = 8;

/// Why an XML or JSON text is not a TTLV item. Messages name the tag and type but never echo a value, since a
/// value may be key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TextError {
    #[error("text of {len} bytes is longer than the {max} allowed")]
    TooLong { len: usize, max: usize },
    #[error("XML syntax error at byte {position}: {message}")]
    Xml { position: u64, message: String },
    #[error("JSON syntax error: {0}")]
    Json(String),
    #[error("the document must be a <KMIP> element, found <{0}>")]
    NotKmipDocument(String),
    #[error("expected exactly one top-level item, found {0}")]
    TopLevelCount(usize),
    #[error("unknown tag {0:?}")]
    UnknownTag(String),
    #[error("unknown item type {0:?}")]
    UnknownType(String),
    #[error("{context}: unexpected {what} {name:?}")]
    Unexpected {
        context: String,
        what: &'static str,
        name: String,
    },
    #[error("{context}: {what} is missing")]
    Missing { context: String, what: &'static str },
    #[error("{tag}: a {item_type} has no {what}")]
    Misplaced {
        tag: String,
        item_type: &'static str,
        what: &'static str,
    },
    #[error("{tag}: invalid {item_type} value: {reason}")]
    InvalidValue {
        tag: String,
        item_type: &'static str,
        reason: String,
    },
    #[error("{tag}: {name:?} is not a known name of its {kind}")]
    UnknownName {
        tag: String,
        kind: &'static str,
        name: String,
    },
    #[error("structures nest deeper than {max} levels")]
    TooDeep { max: usize },
    #[error("a structure holds more than {max} items")]
    TooManyItems { max: usize },
    #[error("{tag}: placeholder {text:?} was refused: {reason}")]
    Placeholder {
        tag: String,
        text: String,
        reason: String,
    },
    #[error("{tag}: placeholder {text:?} resolved to a {got}, expected a {expected}")]
    PlaceholderType {
        tag: String,
        text: String,
        expected: &'static str,
        got: &'static str,
    },
}

/// A `$NAME` value met in the text where a typed value belongs, as the conformance test vectors write identifiers
/// and times that differ per run (`$UNIQUE_IDENTIFIER_0`, `$NOW-3600`). The codec does not interpret it; the
/// [`Resolver`] given to a `*_with` parser does, knowing which item and where.
#[derive(Debug)]
pub struct Placeholder<'a> {
    /// The whole value text, `$` included.
    pub text: &'a str,
    pub tag: Tag,
    /// The type the item declares; the resolved value must have it.
    pub item_type: ItemType,
    /// Which top-level item of the text (a message of a `<KMIP>` document) holds it; 0 for a single item.
    pub message: usize,
    /// Child indices from that top-level item down to this item (empty when it is the top-level item).
    pub path: &'a [usize],
}

/// Turns a placeholder into the value the item gets: `Ok(Some(v))` uses `v` (it must have the declared type),
/// `Ok(None)` reads the text as an ordinary value (so a Text String "$x" stays text), `Err` refuses the input.
/// A conformance runner records `message` and `path` here to bind the placeholder later, and returns any value of
/// the right type to stand in meanwhile.
///
/// ```
/// use kmipd::spec::DICTIONARY;
/// use kmipd::ttlv::{ItemType, Limits, Placeholder, Value, xml};
///
/// let doc = r#"<KMIP><ResponseMessage><ResponseHeader>
///   <TimeStamp type="DateTime" value="$NOW"/>
/// </ResponseHeader></ResponseMessage></KMIP>"#;
/// let mut sites = Vec::new();
/// let mut resolve = |p: &Placeholder<'_>| {
///     sites.push((p.text.to_owned(), p.message, p.path.to_vec()));
///     Ok(match p.item_type {
///         ItemType::DateTime => Some(Value::DateTime(0)),
///         _ => None,
///     })
/// };
/// let messages = xml::from_xml_document_with(doc, &DICTIONARY, &Limits::DEFAULT, &mut resolve)?;
/// assert_eq!(sites, vec![("$NOW".to_owned(), 0, vec![0, 0])]);
/// assert_eq!(messages[0].children()[0].children()[0].value, Value::DateTime(0));
/// # Ok::<(), kmipd::ttlv::TextError>(())
/// ```
pub type Resolver<'r> = dyn FnMut(&Placeholder<'_>) -> Result<Option<Value>, String> + 'r;

/// The two text syntaxes differ in a few spellings of the same values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    Xml,
    Json,
}

impl Flavor {
    /// What joins the parts of a mask written by names.
    fn mask_separator(self) -> char {
        match self {
            Flavor::Xml => ' ',
            Flavor::Json => '|',
        }
    }
}

/// A leaf value as the text carries it, before it is typed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scalar<'a> {
    Text(&'a str),
    Number(&'a serde_json::Number),
    Bool(bool),
}

/// Refuses text longer than the limits allow, before any of it is parsed.
pub(crate) fn check_length(text: &str, limits: &Limits) -> Result<(), TextError> {
    let max = limits
        .max_message_bytes
        .saturating_mul(TEXT_EXPANSION_FACTOR);
    if text.len() > max {
        return Err(TextError::TooLong {
            len: text.len(),
            max,
        });
    }
    Ok(())
}

/// The name of a tag for messages: its normalized name, or its hex form.
pub(crate) fn tag_label(tag: Tag, dict: &dyn Dictionary) -> String {
    match dict.tag_name(tag) {
        Some(name) => name.to_owned(),
        None => tag_hex(tag),
    }
}

/// A tag's hex form, `0x` and six digits.
pub(crate) fn tag_hex(tag: Tag) -> String {
    format!("0x{tag:06X}")
}

/// Reads a tag written as `0x` and six hex digits, or as a name the dictionary knows.
pub(crate) fn parse_tag(text: &str, dict: &dyn Dictionary) -> Result<Tag, TextError> {
    if let Some(digits) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return parse_fixed_hex(digits, 6)
            .map(|v| v as Tag)
            .ok_or_else(|| TextError::UnknownTag(text.to_owned()));
    }
    dict.tag_by_name(text)
        .ok_or_else(|| TextError::UnknownTag(text.to_owned()))
}

/// Exactly `width` hex digits as a number (at most 16 digits).
fn parse_fixed_hex(digits: &str, width: usize) -> Option<u64> {
    if digits.len() != width || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// `0x` followed by exactly `width` hex digits.
fn parse_prefixed_hex(text: &str, width: usize) -> Option<u64> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))?;
    parse_fixed_hex(digits, width)
}

/// Hex bytes of any even length, without prefix.
fn parse_hex_bytes(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!("{} hex digits is an odd number", text.len()));
    }
    hex::decode(text).map_err(|_| "not hex digits".to_owned())
}

/// Whether a value's text is a placeholder: `$` then at least one more character.
fn is_placeholder(text: &str) -> bool {
    text.len() > 1 && text.starts_with('$')
}

/// Everything needed to type the leaves of one text: names, syntax flavor and the placeholder hook.
pub(crate) struct Typer<'d, 'r, 'f> {
    pub dict: &'d dyn Dictionary,
    pub flavor: Flavor,
    pub resolver: Option<&'f mut Resolver<'r>>,
    pub message: usize,
    pub path: Vec<usize>,
}

impl Typer<'_, '_, '_> {
    /// Types one leaf. `attribute_name` is the text of the item's sibling Attribute Name, if any.
    pub(crate) fn value(
        &mut self,
        tag: Tag,
        item_type: ItemType,
        scalar: Scalar<'_>,
        attribute_name: Option<&str>,
    ) -> Result<Value, TextError> {
        if let (Scalar::Text(text), Some(resolver)) = (scalar, self.resolver.as_mut())
            && is_placeholder(text)
        {
            let placeholder = Placeholder {
                text,
                tag,
                item_type,
                message: self.message,
                path: &self.path,
            };
            let resolved = resolver(&placeholder).map_err(|reason| TextError::Placeholder {
                tag: tag_label(tag, self.dict),
                text: text.to_owned(),
                reason,
            })?;
            if let Some(value) = resolved {
                if value.item_type() != item_type {
                    return Err(TextError::PlaceholderType {
                        tag: tag_label(tag, self.dict),
                        text: text.to_owned(),
                        expected: item_type.name(),
                        got: value.item_type().name(),
                    });
                }
                return Ok(value);
            }
        }
        let names = match item_type {
            ItemType::Integer | ItemType::Enumeration => self.dict.value_names(tag, attribute_name),
            _ => None,
        };
        parse_scalar(item_type, scalar, self.flavor, names).map_err(|e| match e {
            LeafError::Invalid(reason) => TextError::InvalidValue {
                tag: tag_label(tag, self.dict),
                item_type: item_type.name(),
                reason,
            },
            LeafError::UnknownName { kind, name } => TextError::UnknownName {
                tag: tag_label(tag, self.dict),
                kind,
                name,
            },
        })
    }
}

/// Why a leaf did not parse, before the tag is known to the message.
enum LeafError {
    Invalid(String),
    UnknownName { kind: &'static str, name: String },
}

fn invalid<T>(reason: impl Into<String>) -> Result<T, LeafError> {
    Err(LeafError::Invalid(reason.into()))
}

/// Types one leaf value per the rules of section 4.1.6 (JSON) and 6.1.6 (XML).
fn parse_scalar(
    item_type: ItemType,
    scalar: Scalar<'_>,
    flavor: Flavor,
    names: Option<&NamedValues>,
) -> Result<Value, LeafError> {
    match item_type {
        ItemType::Structure => invalid("a structure has no value"),
        ItemType::Integer => parse_integer(scalar, flavor, names).map(Value::Integer),
        ItemType::LongInteger => parse_long(scalar, flavor).map(Value::LongInteger),
        ItemType::BigInteger => {
            parse_big(scalar, flavor).map(|b| Value::BigInteger(SecretBytes::new(b)))
        }
        ItemType::Enumeration => parse_enumeration(scalar, names).map(Value::Enumeration),
        ItemType::Boolean => parse_boolean(scalar, flavor).map(Value::Boolean),
        ItemType::TextString => match scalar {
            Scalar::Text(t) => Ok(Value::TextString(t.to_owned())),
            _ => invalid("a Text String must be a string"),
        },
        ItemType::ByteString => match scalar {
            Scalar::Text(t) => parse_hex_bytes(t)
                .map(|b| Value::ByteString(SecretBytes::new(b)))
                .or_else(invalid),
            _ => invalid("a Byte String must be a hex string"),
        },
        ItemType::DateTime => parse_date(scalar, false).map(Value::DateTime),
        ItemType::Interval => parse_interval(scalar, flavor).map(Value::Interval),
        ItemType::DateTimeExtended => parse_date(scalar, true).map(Value::DateTimeExtended),
    }
}

/// An integral JSON number within `T`'s range.
fn json_number<T: TryFrom<i64> + TryFrom<u64>>(n: &serde_json::Number) -> Result<T, LeafError> {
    let converted = match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => T::try_from(i).ok(),
        (None, Some(u)) => T::try_from(u).ok(),
        (None, None) => return invalid("not a whole number"),
    };
    converted.map_or_else(|| invalid("number out of range"), Ok)
}

/// Trims the whitespace xsd's numeric types allow around a value.
fn trimmed(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii_whitespace())
}

fn parse_integer(
    scalar: Scalar<'_>,
    flavor: Flavor,
    names: Option<&NamedValues>,
) -> Result<i32, LeafError> {
    let text = match scalar {
        Scalar::Number(n) => return json_number(n),
        Scalar::Bool(_) => return invalid("an Integer cannot be a boolean"),
        Scalar::Text(t) => trimmed(t),
    };
    if let Some(v) = parse_prefixed_hex(text, 8) {
        return Ok(v as u32 as i32);
    }
    if flavor == Flavor::Xml
        && text
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'+')
    {
        return text
            .parse::<i32>()
            .or_else(|_| invalid("not a 32-bit signed integer"));
    }
    match names {
        Some(mask) if mask.is_mask => parse_mask(text, flavor, mask).map(|bits| bits as i32),
        _ => invalid(match flavor {
            Flavor::Xml => "expected a decimal number",
            Flavor::Json => "expected a number or 0x and 8 hex digits",
        }),
    }
}

/// A mask written as names and hex parts joined by the flavor's separator.
fn parse_mask(text: &str, flavor: Flavor, mask: &NamedValues) -> Result<u32, LeafError> {
    let mut bits = 0u32;
    let mut parts = 0usize;
    for part in text
        .split(flavor.mask_separator())
        .map(trimmed)
        .filter(|p| !p.is_empty())
    {
        parts += 1;
        let digits = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X"));
        bits |= match digits {
            // The specification's own example writes a part as 0x0000008: accept 1 to 8 digits.
            Some(d) if (1..=8).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_hexdigit()) => {
                u32::from_str_radix(d, 16).or_else(|_| invalid("bad hex mask part"))?
            }
            Some(_) => return invalid("a hex mask part has 1 to 8 hex digits"),
            None => lookup_name(mask, part, "mask")?,
        };
    }
    if parts == 0 {
        return invalid("an empty mask");
    }
    Ok(bits)
}

fn lookup_name(names: &NamedValues, name: &str, kind: &'static str) -> Result<u32, LeafError> {
    names
        .values
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, v)| v)
        .ok_or_else(|| LeafError::UnknownName {
            kind,
            name: name.to_owned(),
        })
}

fn parse_long(scalar: Scalar<'_>, flavor: Flavor) -> Result<i64, LeafError> {
    match scalar {
        Scalar::Number(n) => json_number(n),
        Scalar::Bool(_) => invalid("a Long Integer cannot be a boolean"),
        Scalar::Text(t) => {
            let t = trimmed(t);
            if let Some(v) = parse_prefixed_hex(t, 16) {
                Ok(v as i64)
            } else if flavor == Flavor::Xml {
                t.parse::<i64>()
                    .or_else(|_| invalid("not a 64-bit signed integer"))
            } else {
                invalid("expected a number or 0x and 16 hex digits")
            }
        }
    }
}

fn parse_big(scalar: Scalar<'_>, flavor: Flavor) -> Result<Vec<u8>, LeafError> {
    let digits = match scalar {
        Scalar::Number(n) => {
            return match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Ok(i.to_be_bytes().to_vec()),
                (None, Some(u)) => {
                    let mut bytes = vec![0u8; 8];
                    bytes.extend_from_slice(&u.to_be_bytes());
                    Ok(bytes)
                }
                (None, None) => invalid("not a whole number"),
            };
        }
        Scalar::Bool(_) => return invalid("a Big Integer cannot be a boolean"),
        Scalar::Text(t) => match flavor {
            // xsd:hexBinary, without prefix.
            Flavor::Xml => trimmed(t),
            Flavor::Json => match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(d) => d,
                None => return invalid("expected a number or 0x and hex digits"),
            },
        },
    };
    let bytes = parse_hex_bytes(digits).or_else(invalid)?;
    if !bytes.len().is_multiple_of(8) {
        return invalid(format!(
            "{} bytes: a Big Integer is sign-extended to a multiple of 8 bytes",
            bytes.len()
        ));
    }
    Ok(bytes)
}

fn parse_enumeration(scalar: Scalar<'_>, names: Option<&NamedValues>) -> Result<u32, LeafError> {
    let text = match scalar {
        Scalar::Number(n) => return json_number(n),
        Scalar::Bool(_) => return invalid("an Enumeration cannot be a boolean"),
        Scalar::Text(t) => trimmed(t),
    };
    if text.starts_with("0x") || text.starts_with("0X") {
        return parse_prefixed_hex(text, 8)
            .map(|v| v as u32)
            .map_or_else(|| invalid("a hex Enumeration is 0x and 8 hex digits"), Ok);
    }
    match names {
        Some(names) if !names.is_mask => lookup_name(names, text, "enumeration"),
        _ => Err(LeafError::UnknownName {
            kind: "enumeration",
            name: text.to_owned(),
        }),
    }
}

fn parse_boolean(scalar: Scalar<'_>, flavor: Flavor) -> Result<bool, LeafError> {
    let text = match scalar {
        Scalar::Bool(b) => return Ok(b),
        Scalar::Number(_) => return invalid("a Boolean is true or false"),
        Scalar::Text(t) => trimmed(t),
    };
    match (text, flavor) {
        ("true", Flavor::Xml) | ("1", Flavor::Xml) => Ok(true),
        ("false", Flavor::Xml) | ("0", Flavor::Xml) => Ok(false),
        _ => match parse_prefixed_hex(text, 16) {
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            Some(_) => invalid("a hex Boolean is 0 or 1"),
            None => invalid("expected true, false or 0x and 16 hex digits"),
        },
    }
}

fn parse_interval(scalar: Scalar<'_>, flavor: Flavor) -> Result<u32, LeafError> {
    match scalar {
        Scalar::Number(n) => json_number(n),
        Scalar::Bool(_) => invalid("an Interval cannot be a boolean"),
        Scalar::Text(t) => {
            let t = trimmed(t);
            if let Some(v) = parse_prefixed_hex(t, 8) {
                Ok(v as u32)
            } else if flavor == Flavor::Xml && !t.starts_with('-') {
                t.parse::<u32>()
                    .or_else(|_| invalid("not a 32-bit unsigned integer"))
            } else {
                invalid("expected a number or 0x and 8 hex digits")
            }
        }
    }
}

/// A Date-Time (seconds) or Date-Time Extended (microseconds) as ISO 8601 with an offset, or as 0x and 16 hex
/// digits. Digits finer than the unit are truncated, as the specification says.
fn parse_date(scalar: Scalar<'_>, micros: bool) -> Result<i64, LeafError> {
    let text = match scalar {
        Scalar::Text(t) => trimmed(t),
        _ => return invalid("a date is an ISO 8601 string or 0x and 16 hex digits"),
    };
    if let Some(v) = parse_prefixed_hex(text, 16) {
        return Ok(v as i64);
    }
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|e| invalid(format!("not an ISO 8601 date-time with offset ({e})")))?;
    if micros {
        let us = parsed.unix_timestamp_nanos().div_euclid(1000);
        i64::try_from(us).or_else(|_| invalid("out of range"))
    } else {
        Ok(parsed.unix_timestamp())
    }
}

/// The text form of a leaf: a string to quote, or (JSON only) a bare literal.
pub(crate) enum Written {
    Text(String),
    Bare(String),
}

/// Writes one leaf value; `names` is what the dictionary says names it.
pub(crate) fn write_scalar(value: &Value, flavor: Flavor, names: Option<&NamedValues>) -> Written {
    match value {
        Value::Structure(_) => Written::Bare("null".to_owned()),
        Value::Integer(v) => match names {
            Some(mask) if mask.is_mask && *v != 0 => {
                Written::Text(write_mask(*v as u32, flavor, mask))
            }
            _ => number(*v, flavor),
        },
        Value::LongInteger(v) => {
            // JSON numbers are exact only up to 2^53; write larger ones in hex (section 4.1.6.5).
            if flavor == Flavor::Json && v.unsigned_abs() >= 1 << 52 {
                Written::Text(format!("0x{:016x}", *v as u64))
            } else {
                number(*v, flavor)
            }
        }
        Value::BigInteger(b) => match flavor {
            Flavor::Xml => Written::Text(hex::encode(sign_extend(b))),
            Flavor::Json => Written::Text(format!("0x{}", hex::encode(sign_extend(b)))),
        },
        Value::Enumeration(v) => {
            let name = names
                .filter(|n| !n.is_mask)
                .and_then(|n| n.values.iter().find(|(_, x)| x == v))
                .map(|(n, _)| (*n).to_owned());
            Written::Text(name.unwrap_or_else(|| format!("0x{v:08x}")))
        }
        Value::Boolean(b) => match flavor {
            Flavor::Xml => Written::Text(b.to_string()),
            Flavor::Json => Written::Bare(b.to_string()),
        },
        Value::TextString(s) => Written::Text(s.clone()),
        Value::ByteString(b) => Written::Text(hex::encode(b.as_slice())),
        Value::DateTime(secs) => Written::Text(
            write_date(i128::from(*secs) * 1_000_000_000, false)
                .unwrap_or_else(|| format!("0x{:016x}", *secs as u64)),
        ),
        Value::Interval(v) => number(*v, flavor),
        Value::DateTimeExtended(us) => Written::Text(
            write_date(i128::from(*us) * 1000, true)
                .unwrap_or_else(|| format!("0x{:016x}", *us as u64)),
        ),
    }
}

fn number(v: impl std::fmt::Display, flavor: Flavor) -> Written {
    match flavor {
        Flavor::Xml => Written::Text(v.to_string()),
        Flavor::Json => Written::Bare(v.to_string()),
    }
}

/// The bytes of a Big Integer sign-extended to a multiple of 8, as the text forms require.
fn sign_extend(bytes: &[u8]) -> Vec<u8> {
    let pad = (8 - bytes.len() % 8) % 8;
    let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        0xFF
    } else {
        0x00
    };
    let mut out = vec![fill; pad];
    out.extend_from_slice(bytes);
    out
}

fn write_mask(bits: u32, flavor: Flavor, mask: &NamedValues) -> String {
    let mut out = String::new();
    let mut rest = bits;
    for &(name, value) in mask.values {
        if value != 0 && value & rest == value {
            if !out.is_empty() {
                out.push(flavor.mask_separator());
            }
            out.push_str(name);
            rest &= !value;
        }
    }
    if rest != 0 {
        if !out.is_empty() {
            out.push(flavor.mask_separator());
        }
        let _ = write!(out, "0x{rest:08x}");
    }
    out
}

/// ISO 8601 in UTC, or `None` when the year is outside 0000-9999 and only hex can carry it.
fn write_date(nanos: i128, micros: bool) -> Option<String> {
    let t = OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if micros {
        let _ = write!(out, ".{:06}", t.microsecond());
    }
    out.push_str("+00:00");
    Some(out)
}

/// The text of the Attribute Name among `siblings`, which names the type of a KMIP 1.x Attribute Value. The
/// codec finds it by the tag the dictionary calls "AttributeName"; what the name means is the dictionary's.
pub(crate) fn attribute_name<'a, T>(
    siblings: &'a [T],
    dict: &dyn Dictionary,
    tag_and_text: impl Fn(&'a T) -> Option<(Tag, &'a str)>,
) -> Option<&'a str> {
    let name_tag = dict.tag_by_name("AttributeName")?;
    siblings
        .iter()
        .filter_map(tag_and_text)
        .find(|(t, _)| *t == name_tag)
        .map(|(_, s)| s)
}

/// Counts structure nesting and children against the limits while a text is read.
pub(crate) fn check_depth(depth: usize, limits: &Limits) -> Result<(), TextError> {
    if depth > limits.max_depth {
        return Err(TextError::TooDeep {
            max: limits.max_depth,
        });
    }
    Ok(())
}

/// Refuses a structure with more children than the limits allow.
pub(crate) fn check_items(count: usize, limits: &Limits) -> Result<(), TextError> {
    if count > limits.max_items_per_structure {
        return Err(TextError::TooManyItems {
            max: limits.max_items_per_structure,
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    //! A small dictionary and arbitrary item trees, shared by the XML and JSON tests.

    use proptest::prelude::*;

    use super::super::{Dictionary, NamedValues, SecretBytes, Tag, Ttlv, Value};

    pub const TAGS: &[(Tag, &str)] = &[
        (0x420001, "ActivationDate"),
        (0x420008, "Attribute"),
        (0x42000A, "AttributeName"),
        (0x42000B, "AttributeValue"),
        (0x42000D, "BatchCount"),
        (0x42000F, "BatchItem"),
        (0x420028, "CryptographicAlgorithm"),
        (0x42002C, "CryptographicUsageMask"),
        (0x420057, "ObjectType"),
        (0x42005C, "Operation"),
        (0x420078, "RequestMessage"),
        (0x420094, "UniqueIdentifier"),
    ];

    pub static ALGORITHMS: NamedValues = NamedValues {
        name: "CryptographicAlgorithm",
        is_mask: false,
        values: &[("DES", 1), ("TripleDES", 2), ("AES", 3), ("RSA", 4)],
    };
    pub static USAGE: NamedValues = NamedValues {
        name: "CryptographicUsageMask",
        is_mask: true,
        values: &[
            ("Sign", 1),
            ("Verify", 2),
            ("Encrypt", 4),
            ("Decrypt", 8),
            ("WrapKey", 16),
        ],
    };
    pub static OBJECT_TYPES: NamedValues = NamedValues {
        name: "ObjectType",
        is_mask: false,
        values: &[("Certificate", 1), ("SymmetricKey", 2), ("PublicKey", 3)],
    };

    /// Knows the tags above; an Attribute Value is named by its Attribute Name, like KMIP 1.x.
    pub struct TestDict;

    impl Dictionary for TestDict {
        fn tag_name(&self, tag: Tag) -> Option<&'static str> {
            TAGS.iter().find(|(t, _)| *t == tag).map(|(_, n)| *n)
        }
        fn tag_by_name(&self, name: &str) -> Option<Tag> {
            TAGS.iter().find(|(_, n)| *n == name).map(|(t, _)| *t)
        }
        fn value_names(
            &self,
            tag: Tag,
            attribute_name: Option<&str>,
        ) -> Option<&'static NamedValues> {
            match (tag, attribute_name) {
                (0x420028, _) | (0x42000B, Some("Cryptographic Algorithm")) => Some(&ALGORITHMS),
                (0x42002C, _) | (0x42000B, Some("Cryptographic Usage Mask")) => Some(&USAGE),
                (0x420057, _) => Some(&OBJECT_TYPES),
                _ => None,
            }
        }
    }

    fn arb_tag() -> impl Strategy<Value = Tag> {
        prop_oneof![
            prop::sample::select(TAGS.iter().map(|(t, _)| *t).collect::<Vec<_>>()),
            (0x540000u32..=0x54FFFF),
            (0u32..=0xFFFFFF),
        ]
    }

    fn arb_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ -~\t\n\r]{0,20}",
            Just("$UNIQUE_IDENTIFIER_0".to_owned()),
            Just("Cryptographic Usage Mask".to_owned()),
            Just("Cryptographic Algorithm".to_owned()),
        ]
    }

    fn arb_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i32>().prop_map(Value::Integer),
            any::<i64>().prop_map(Value::LongInteger),
            (0usize..4)
                .prop_flat_map(|n| prop::collection::vec(any::<u8>(), n * 8))
                .prop_map(|b| Value::BigInteger(SecretBytes::new(b))),
            prop_oneof![0u32..6, any::<u32>()].prop_map(Value::Enumeration),
            any::<bool>().prop_map(Value::Boolean),
            arb_text().prop_map(Value::TextString),
            prop::collection::vec(any::<u8>(), 0..40)
                .prop_map(|b| Value::ByteString(SecretBytes::new(b))),
            prop_oneof![any::<i64>(), -100_000_000_000i64..300_000_000_000]
                .prop_map(Value::DateTime),
            any::<u32>().prop_map(Value::Interval),
            prop_oneof![
                any::<i64>(),
                -1_000_000_000_000_000i64..5_000_000_000_000_000
            ]
            .prop_map(Value::DateTimeExtended),
        ]
    }

    /// A KMIP 1.x Attribute whose value is named by its Attribute Name, in either order.
    fn arb_attribute() -> impl Strategy<Value = Ttlv> {
        let name = prop::sample::select(vec![
            "Cryptographic Usage Mask",
            "Cryptographic Algorithm",
            "Other",
        ]);
        let value = prop_oneof![
            any::<i32>().prop_map(Value::Integer),
            any::<u32>().prop_map(Value::Enumeration)
        ];
        (name, value, any::<bool>()).prop_map(|(name, value, name_first)| {
            let name = Ttlv::new(0x42000A, Value::TextString(name.to_owned()));
            let value = Ttlv::new(0x42000B, value);
            let children = if name_first {
                vec![name, value]
            } else {
                vec![value, name]
            };
            Ttlv::structure(0x420008, children)
        })
    }

    /// Arbitrary trees of at most a few levels, with named and unknown tags and every item type.
    pub fn arb_item() -> impl Strategy<Value = Ttlv> {
        let leaf = prop_oneof![
            4 => (arb_tag(), arb_leaf()).prop_map(|(t, v)| Ttlv::new(t, v)),
            1 => arb_attribute(),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            (arb_tag(), prop::collection::vec(inner, 0..6)).prop_map(|(t, c)| Ttlv::structure(t, c))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_extension_keeps_the_value() {
        assert_eq!(sign_extend(&[0x01]), vec![0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            sign_extend(&[0x80]),
            vec![0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80]
        );
        assert_eq!(sign_extend(&[0u8; 8]), vec![0u8; 8]);
        assert!(sign_extend(&[]).is_empty());
    }

    #[test]
    fn dates_outside_four_digit_years_fall_back_to_hex() {
        assert_eq!(
            write_date(0, false).as_deref(),
            Some("1970-01-01T00:00:00+00:00")
        );
        assert_eq!(
            write_date(1_500, true).as_deref(),
            Some("1970-01-01T00:00:00.000001+00:00")
        );
        assert_eq!(write_date(-62_167_219_201 * 1_000_000_000, false), None);
        assert_eq!(
            write_date(i128::from(i64::MAX) * 1_000_000_000, false),
            None
        );
    }

    #[test]
    fn text_longer_than_the_factor_allows_is_refused() {
        let limits = Limits {
            max_message_bytes: 4,
            ..Limits::DEFAULT
        };
        assert!(check_length(&"x".repeat(4 * TEXT_EXPANSION_FACTOR), &limits).is_ok());
        assert_eq!(
            check_length(&"x".repeat(4 * TEXT_EXPANSION_FACTOR + 1), &limits),
            Err(TextError::TooLong { len: 33, max: 32 })
        );
    }
}
