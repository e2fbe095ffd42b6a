//! The XML encoding of TTLV (KMIP Additional Message Encodings 1.0, section 6), the form the conformance test
//! vectors are written in. Each item is an element named by its tag (`<BatchCount type="Integer" value="1"/>`),
//! or the generic `<TTLV tag="0x54xxxx" ...>` when the dictionary has no name for the tag; structures nest
//! elements and omit `type`.
//!
//! Reading is two steps: a quick-xml pull parser builds a plain element tree, checking nesting and width against
//! the [`Limits`] as it goes; then each leaf is typed, with its sibling Attribute Name at hand (a KMIP 1.x
//! Attribute Value is named by it, wherever it stands among the siblings) and placeholders handed to the
//! [`Resolver`].

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::text::{
    Flavor, Resolver, Scalar, TextError, Typer, Written, attribute_name, check_depth, check_items,
    check_length, parse_tag, tag_hex, tag_label, write_scalar,
};
use super::{Dictionary, ItemType, Limits, Tag, Ttlv, Value};

/// The element of the generic form, which carries its tag in an attribute.
const GENERIC: &str = "TTLV";
/// The element that wraps a sequence of messages in a test-vector document.
const DOCUMENT: &str = "KMIP";

/// Reads one item written in XML. Placeholders are not interpreted: a `$NAME` value is an ordinary value of its
/// type (text for a Text String, an error for a number).
pub fn from_xml(text: &str, dict: &dyn Dictionary, limits: &Limits) -> Result<Ttlv, TextError> {
    single(read_elements(text, dict, limits, false)?, dict, None)
}

/// Reads one item written in XML, passing each `$NAME` value to `resolve`.
pub fn from_xml_with(
    text: &str,
    dict: &dyn Dictionary,
    limits: &Limits,
    resolve: &mut Resolver<'_>,
) -> Result<Ttlv, TextError> {
    single(
        read_elements(text, dict, limits, false)?,
        dict,
        Some(resolve),
    )
}

/// Reads a `<KMIP>` document, the sequence of request and response messages a test vector file holds;
/// comments are skipped. Placeholders are not interpreted, as in [`from_xml`].
pub fn from_xml_document(
    text: &str,
    dict: &dyn Dictionary,
    limits: &Limits,
) -> Result<Vec<Ttlv>, TextError> {
    build_all(read_elements(text, dict, limits, true)?, dict, None)
}

/// Reads a `<KMIP>` document, passing each `$NAME` value to `resolve`; [`super::text::Placeholder::message`]
/// says which message of the document holds it.
pub fn from_xml_document_with(
    text: &str,
    dict: &dyn Dictionary,
    limits: &Limits,
    resolve: &mut Resolver<'_>,
) -> Result<Vec<Ttlv>, TextError> {
    build_all(
        read_elements(text, dict, limits, true)?,
        dict,
        Some(resolve),
    )
}

/// Writes one item as indented XML (two spaces a level), the layout of the test vectors.
pub fn to_xml(item: &Ttlv, dict: &dyn Dictionary) -> String {
    let mut out = String::new();
    write_item(&mut out, item, dict, None, 0);
    out
}

/// Writes items as a `<KMIP>` document, which [`from_xml_document`] reads back.
pub fn to_xml_document(items: &[Ttlv], dict: &dyn Dictionary) -> String {
    let mut out = String::from("<KMIP>\n");
    for item in items {
        write_item(&mut out, item, dict, None, 1);
    }
    out.push_str("</KMIP>\n");
    out
}

/// An element as read, before its value is typed.
struct Element {
    tag: Tag,
    item_type: ItemType,
    body: Body,
}

enum Body {
    Children(Vec<Element>),
    Value(String),
}

fn single(
    mut elements: Vec<Element>,
    dict: &dyn Dictionary,
    resolver: Option<&mut Resolver<'_>>,
) -> Result<Ttlv, TextError> {
    match (elements.pop(), elements.len()) {
        (Some(only), 0) => {
            let mut typer = Typer {
                dict,
                flavor: Flavor::Xml,
                resolver,
                message: 0,
                path: Vec::new(),
            };
            build(&only, None, &mut typer)
        }
        (last, n) => Err(TextError::TopLevelCount(n + usize::from(last.is_some()))),
    }
}

fn build_all(
    elements: Vec<Element>,
    dict: &dyn Dictionary,
    resolver: Option<&mut Resolver<'_>>,
) -> Result<Vec<Ttlv>, TextError> {
    let mut typer = Typer {
        dict,
        flavor: Flavor::Xml,
        resolver,
        message: 0,
        path: Vec::new(),
    };
    let mut items = Vec::with_capacity(elements.len());
    for (message, element) in elements.iter().enumerate() {
        typer.message = message;
        items.push(build(element, None, &mut typer)?);
    }
    Ok(items)
}

/// Types an element and its descendants. Recursion is as deep as the nesting the reader admitted.
fn build(
    element: &Element,
    attribute: Option<&str>,
    typer: &mut Typer<'_, '_, '_>,
) -> Result<Ttlv, TextError> {
    match &element.body {
        Body::Value(text) => typer
            .value(
                element.tag,
                element.item_type,
                Scalar::Text(text),
                attribute,
            )
            .map(|v| Ttlv::new(element.tag, v)),
        Body::Children(children) => {
            let name = attribute_name(children, typer.dict, |c| match (&c.body, c.item_type) {
                (Body::Value(t), ItemType::TextString) => Some((c.tag, t.as_str())),
                _ => None,
            });
            let mut items = Vec::with_capacity(children.len());
            for (i, child) in children.iter().enumerate() {
                typer.path.push(i);
                let item = build(child, name, typer);
                typer.path.pop();
                items.push(item?);
            }
            Ok(Ttlv::structure(element.tag, items))
        }
    }
}

/// Pulls the elements out of the text: the top-level items, or the messages inside `<KMIP>` when `document`.
fn read_elements(
    text: &str,
    dict: &dyn Dictionary,
    limits: &Limits,
    document: bool,
) -> Result<Vec<Element>, TextError> {
    check_length(text, limits)?;
    let mut reader = Reader::from_str(text);
    let mut top: Vec<Element> = Vec::new();
    let mut open: Vec<Element> = Vec::new();
    // For a document: whether <KMIP> was opened, and whether it was closed.
    let mut root_open = false;
    let mut root_done = false;
    loop {
        let event = reader.read_event().map_err(|e| TextError::Xml {
            position: reader.error_position(),
            message: e.to_string(),
        })?;
        let (start, empty) = match event {
            Event::Start(start) => (start, false),
            Event::Empty(start) => (start, true),
            Event::End(_) => {
                match open.pop() {
                    Some(done) => attach(done, &mut open, &mut top),
                    // quick-xml has matched the end tag to a start tag: it can only be the document's.
                    None => root_done = true,
                }
                continue;
            }
            Event::Text(t) => {
                if !t.chars().all(|c| c.is_ascii_whitespace()) {
                    return Err(unexpected(&open, "text", t.trim()));
                }
                continue;
            }
            Event::CData(_) | Event::GeneralRef(_) => return Err(unexpected(&open, "text", "")),
            Event::DocType(_) => return Err(unexpected(&open, "markup", "DOCTYPE")),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => continue,
            Event::Eof => break,
        };
        if document && !root_open {
            if root_done {
                return Err(unexpected(
                    &open,
                    "element after </KMIP>",
                    start.local_name().as_ref(),
                ));
            }
            open_document(&start, reader.buffer_position())?;
            root_open = true;
            root_done = empty;
            continue;
        }
        if !document && open.is_empty() && !top.is_empty() {
            return Err(TextError::TopLevelCount(top.len() + 1));
        }
        let siblings = match open.last() {
            Some(parent) => match &parent.body {
                Body::Children(children) => children.len(),
                Body::Value(_) => {
                    return Err(TextError::Misplaced {
                        tag: tag_label(parent.tag, dict),
                        item_type: parent.item_type.name(),
                        what: "child elements",
                    });
                }
            },
            None => top.len(),
        };
        if document || !open.is_empty() {
            check_items(siblings + 1, limits)?;
        }
        let element = open_element(&start, dict, reader.buffer_position())?;
        if element.item_type == ItemType::Structure {
            check_depth(open.len() + 1, limits)?;
        }
        if empty {
            attach(element, &mut open, &mut top);
        } else {
            open.push(element);
        }
    }
    if let Some(unclosed) = open.last() {
        return Err(TextError::Missing {
            context: tag_label(unclosed.tag, dict),
            what: "end tag",
        });
    }
    if document && !root_done {
        return Err(TextError::Missing {
            context: "document".to_owned(),
            what: "<KMIP> element",
        });
    }
    if !document && top.is_empty() {
        return Err(TextError::TopLevelCount(0));
    }
    Ok(top)
}

fn attach(element: Element, open: &mut [Element], top: &mut Vec<Element>) {
    match open.last_mut().map(|p| &mut p.body) {
        Some(Body::Children(children)) => children.push(element),
        // read_elements refuses children of a leaf before they are opened.
        Some(Body::Value(_)) => {}
        None => top.push(element),
    }
}

fn unexpected(open: &[Element], what: &'static str, name: &str) -> TextError {
    let context = match open.last() {
        Some(e) => format!("inside {}", tag_hex(e.tag)),
        None => "at top level".to_owned(),
    };
    TextError::Unexpected {
        context,
        what,
        name: name.chars().take(40).collect(),
    }
}

/// Whether an attribute only declares a namespace, which the encoding allows and ignores.
fn is_namespace(key: &str) -> bool {
    key == "xmlns" || key.starts_with("xmlns:")
}

fn open_document(start: &BytesStart<'_>, position: u64) -> Result<(), TextError> {
    let name = start.local_name();
    if name.as_ref() != DOCUMENT {
        return Err(TextError::NotKmipDocument(
            name.as_ref().chars().take(40).collect(),
        ));
    }
    for attr in start.attributes() {
        let attr = attr.map_err(|e| TextError::Xml {
            position,
            message: e.to_string(),
        })?;
        if !is_namespace(attr.key.as_ref()) {
            return Err(TextError::Unexpected {
                context: DOCUMENT.to_owned(),
                what: "attribute",
                name: attr.key.as_ref().to_owned(),
            });
        }
    }
    Ok(())
}

/// Reads an element's tag, type and value attribute.
fn open_element(
    start: &BytesStart<'_>,
    dict: &dyn Dictionary,
    position: u64,
) -> Result<Element, TextError> {
    let name = start.local_name();
    let name = name.as_ref();
    let generic = name == GENERIC;
    let mut tag_attr = None;
    let mut type_attr = None;
    let mut value_attr = None;
    for attr in start.attributes() {
        let attr = attr.map_err(|e| TextError::Xml {
            position,
            message: e.to_string(),
        })?;
        let key = attr.key.as_ref();
        if let Some(bad) = attr.value.bytes().find(|&b| is_forbidden_in_xml(b)) {
            return Err(TextError::Xml {
                position,
                message: format!("character U+{bad:04X} is not allowed in XML 1.0"),
            });
        }
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| TextError::Xml {
                position,
                message: e.to_string(),
            })?;
        match key {
            "type" => type_attr = Some(value.into_owned()),
            "value" => value_attr = Some(value.into_owned()),
            "tag" if generic => tag_attr = Some(value.into_owned()),
            // The generic form may say the tag's name too; the tag attribute decides.
            "name" if generic => {}
            k if is_namespace(k) => {}
            k => {
                return Err(TextError::Unexpected {
                    context: format!("<{}>", name.chars().take(40).collect::<String>()),
                    what: "attribute",
                    name: k.to_owned(),
                });
            }
        }
    }
    let tag = if generic {
        match tag_attr {
            Some(t) => parse_tag(&t, dict)?,
            None => {
                return Err(TextError::Missing {
                    context: "<TTLV>".to_owned(),
                    what: "tag attribute",
                });
            }
        }
    } else {
        element_tag(name, dict)?
    };
    let item_type = match type_attr {
        Some(t) => ItemType::from_name(&t).ok_or(TextError::UnknownType(t))?,
        None => ItemType::Structure,
    };
    let body = match (item_type, value_attr) {
        (ItemType::Structure, None) => Body::Children(Vec::new()),
        (ItemType::Structure, Some(_)) => {
            return Err(TextError::Misplaced {
                tag: tag_label(tag, dict),
                item_type: item_type.name(),
                what: "value attribute",
            });
        }
        (_, Some(v)) => Body::Value(v),
        (_, None) => {
            return Err(TextError::Missing {
                context: tag_label(tag, dict),
                what: "value attribute",
            });
        }
    };
    Ok(Element {
        tag,
        item_type,
        body,
    })
}

/// The tag an element's name stands for: a name the dictionary knows, or `x` and six hex digits (the form of
/// the specification's `<x540001>` example).
fn element_tag(name: &str, dict: &dyn Dictionary) -> Result<Tag, TextError> {
    if let Some(tag) = dict.tag_by_name(name) {
        return Ok(tag);
    }
    match name.strip_prefix('x') {
        Some(digits) if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u32::from_str_radix(digits, 16).map_err(|_| TextError::UnknownTag(name.to_owned()))
        }
        _ => Err(TextError::UnknownTag(name.chars().take(80).collect())),
    }
}

/// Whether a dictionary name can be written as an element name (and is not the generic element's).
fn usable_element_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        && name != GENERIC
        && name != DOCUMENT
}

fn write_item(
    out: &mut String,
    item: &Ttlv,
    dict: &dyn Dictionary,
    attribute: Option<&str>,
    depth: usize,
) {
    for _ in 0..depth {
        out.push_str("  ");
    }
    let name = dict.tag_name(item.tag).filter(|n| usable_element_name(n));
    let element = match name {
        Some(n) => {
            out.push('<');
            out.push_str(n);
            n
        }
        None => {
            out.push_str("<TTLV tag=\"");
            out.push_str(&tag_hex(item.tag));
            out.push('"');
            GENERIC
        }
    };
    match &item.value {
        Value::Structure(children) if children.is_empty() => out.push_str("/>\n"),
        Value::Structure(children) => {
            out.push_str(">\n");
            let attribute = attribute_name(children, dict, |c| match &c.value {
                Value::TextString(t) => Some((c.tag, t.as_str())),
                _ => None,
            });
            for child in children {
                write_item(out, child, dict, attribute, depth + 1);
            }
            for _ in 0..depth {
                out.push_str("  ");
            }
            out.push_str("</");
            out.push_str(element);
            out.push_str(">\n");
        }
        value => {
            let names = match value {
                Value::Integer(_) | Value::Enumeration(_) => dict.value_names(item.tag, attribute),
                _ => None,
            };
            let text = match write_scalar(value, Flavor::Xml, names) {
                Written::Text(t) | Written::Bare(t) => t,
            };
            out.push_str(" type=\"");
            out.push_str(value.item_type().name());
            out.push_str("\" value=\"");
            escape_attribute(out, &text);
            out.push_str("\"/>\n");
        }
    }
}

/// XML 1.0 allows no control character but tab, line feed and carriage return, raw or as a reference;
/// refusing them raw keeps what is read and what [`to_xml`] writes (as references) in agreement.
fn is_forbidden_in_xml(byte: u8) -> bool {
    byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r')
}

/// Escapes an attribute value so that it reads back exactly: markup characters, and the whitespace that
/// attribute-value normalization would otherwise turn into spaces.
fn escape_attribute(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if (c as u32) < 0x20 => {
                out.push_str("&#");
                out.push_str(&(c as u32).to_string());
                out.push(';');
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::text::testing::{TestDict, arb_item};
    use super::super::text::{Placeholder, TEXT_EXPANSION_FACTOR};
    use super::super::{SecretBytes, Value};
    use super::*;

    fn one(xml: &str) -> Result<Ttlv, TextError> {
        from_xml(xml, &TestDict, &Limits::DEFAULT)
    }

    fn leaf(xml: &str) -> Value {
        one(xml).unwrap().value
    }

    #[test]
    fn control_characters_are_refused_raw_and_read_back_when_written() {
        let raw = "<ActivationDate type=\"TextString\" value=\"a\u{0}b\"/>";
        assert!(matches!(one(raw), Err(TextError::Xml { .. })));
        let tab = Ttlv::new(0x420001, Value::TextString("a\tb\u{1}c".into()));
        assert_eq!(one(&to_xml(&tab, &TestDict)).unwrap(), tab);
    }

    #[test]
    fn integers_are_decimal_hex_or_mask_names() {
        assert_eq!(
            leaf(r#"<BatchCount type="Integer" value="10"/>"#),
            Value::Integer(10)
        );
        assert_eq!(
            leaf(r#"<BatchCount type="Integer" value="-2147483648"/>"#),
            Value::Integer(i32::MIN)
        );
        assert_eq!(
            leaf(r#"<BatchCount type="Integer" value="0xffffffff"/>"#),
            Value::Integer(-1)
        );
        assert_eq!(
            leaf(r#"<CryptographicUsageMask type="Integer" value="Encrypt Decrypt"/>"#),
            Value::Integer(12)
        );
        assert_eq!(
            leaf(r#"<CryptographicUsageMask type="Integer" value="Sign 0x00000004 0x0000008"/>"#),
            Value::Integer(13)
        );
        assert!(matches!(
            one(r#"<BatchCount type="Integer" value="2147483648"/>"#),
            Err(TextError::InvalidValue { .. })
        ));
        assert!(matches!(
            one(r#"<BatchCount type="Integer" value="Encrypt"/>"#),
            Err(TextError::InvalidValue { .. })
        ));
        assert!(matches!(
            one(r#"<CryptographicUsageMask type="Integer" value="Encrypt Fly"/>"#),
            Err(TextError::UnknownName { .. })
        ));
    }

    #[test]
    fn masks_are_written_by_name_with_leftover_bits_in_hex() {
        let item = Ttlv::new(0x42002C, Value::Integer(4 | 8 | 0x100));
        let xml = to_xml(&item, &TestDict);
        assert_eq!(
            xml,
            "<CryptographicUsageMask type=\"Integer\" value=\"Encrypt Decrypt 0x00000100\"/>\n"
        );
        assert_eq!(one(&xml).unwrap(), item);
    }

    #[test]
    fn long_integers_and_intervals() {
        assert_eq!(
            leaf(r#"<TTLV tag="0x540001" type="LongInteger" value="-2"/>"#),
            Value::LongInteger(-2)
        );
        assert_eq!(
            leaf(r#"<x540001 type="LongInteger" value="1152921504606846976"/>"#),
            Value::LongInteger(1 << 60)
        );
        assert_eq!(
            leaf(r#"<TTLV tag="0x540002" type="Interval" value="27"/>"#),
            Value::Interval(27)
        );
        assert!(matches!(
            one(r#"<TTLV tag="0x540002" type="Interval" value="-1"/>"#),
            Err(TextError::InvalidValue { .. })
        ));
        assert!(matches!(
            one(r#"<TTLV tag="0x540002" type="Interval" value="4294967296"/>"#),
            Err(TextError::InvalidValue { .. })
        ));
    }

    #[test]
    fn big_integers_are_hex_in_whole_words() {
        assert_eq!(
            leaf(r#"<TTLV tag="0x540003" type="BigInteger" value="0000000000010001"/>"#),
            Value::BigInteger(SecretBytes::new(vec![0, 0, 0, 0, 0, 1, 0, 1]))
        );
        assert!(matches!(
            one(r#"<TTLV tag="0x540003" type="BigInteger" value="010001"/>"#),
            Err(TextError::InvalidValue { .. })
        ));
        assert!(matches!(
            one(r#"<TTLV tag="0x540003" type="BigInteger" value="00000000000100011"/>"#),
            Err(TextError::InvalidValue { .. })
        ));
        let item = Ttlv::new(
            0x540003,
            Value::BigInteger(SecretBytes::new(vec![0xFF; 16])),
        );
        assert_eq!(one(&to_xml(&item, &TestDict)).unwrap(), item);
    }

    #[test]
    fn enumerations_are_names_or_eight_hex_digits() {
        assert_eq!(
            leaf(r#"<ObjectType type="Enumeration" value="SymmetricKey"/>"#),
            Value::Enumeration(2)
        );
        assert_eq!(
            leaf(r#"<ObjectType type="Enumeration" value="0x00000002"/>"#),
            Value::Enumeration(2)
        );
        assert_eq!(
            leaf(r#"<ObjectType type="Enumeration" value="0x8000000A"/>"#),
            Value::Enumeration(0x8000000A)
        );
        assert!(matches!(
            one(r#"<ObjectType type="Enumeration" value="0x2"/>"#),
            Err(TextError::InvalidValue { .. })
        ));
        assert_eq!(
            one(r#"<ObjectType type="Enumeration" value="Spaceship"/>"#),
            Err(TextError::UnknownName {
                tag: "ObjectType".into(),
                kind: "enumeration",
                name: "Spaceship".into()
            })
        );
        assert!(matches!(
            one(r#"<BatchCount type="Enumeration" value="SymmetricKey"/>"#),
            Err(TextError::UnknownName { .. })
        ));
        let unnamed = Ttlv::new(0x420057, Value::Enumeration(77));
        assert!(to_xml(&unnamed, &TestDict).contains("value=\"0x0000004d\""));
    }

    #[test]
    fn attribute_values_are_named_by_their_sibling_attribute_name() {
        let xml = r#"<Attribute>
              <AttributeValue type="Enumeration" value="AES"/>
              <AttributeName type="TextString" value="Cryptographic Algorithm"/>
            </Attribute>"#;
        let item = one(xml).unwrap();
        assert_eq!(item.children()[0].value, Value::Enumeration(3));
        let mask = r#"<Attribute>
              <AttributeName type="TextString" value="Cryptographic Usage Mask"/>
              <AttributeValue type="Integer" value="Decrypt Encrypt"/>
            </Attribute>"#;
        let item = one(mask).unwrap();
        assert_eq!(item.children()[1].value, Value::Integer(12));
        assert!(to_xml(&item, &TestDict).contains("value=\"Encrypt Decrypt\""));
    }

    #[test]
    fn booleans_text_and_bytes() {
        assert_eq!(
            leaf(r#"<TTLV tag="0x540004" type="Boolean" value="true"/>"#),
            Value::Boolean(true)
        );
        assert_eq!(
            leaf(r#"<TTLV tag="0x540004" type="Boolean" value="0"/>"#),
            Value::Boolean(false)
        );
        assert!(one(r#"<TTLV tag="0x540004" type="Boolean" value="yes"/>"#).is_err());
        assert_eq!(
            leaf(
                r#"<UniqueIdentifier type="TextString" value="a &lt;b&gt; &amp; &quot;c&quot;&#10;"/>"#
            ),
            Value::TextString("a <b> & \"c\"\n".into())
        );
        assert_eq!(
            leaf(r#"<TTLV tag="0x540005" type="ByteString" value="C50F77"/>"#),
            Value::ByteString(SecretBytes::new(vec![0xC5, 0x0F, 0x77]))
        );
        assert!(matches!(
            one(r#"<TTLV tag="0x540005" type="ByteString" value="C50F7"/>"#),
            Err(TextError::InvalidValue { .. })
        ));
        assert!(matches!(
            one(r#"<TTLV tag="0x540005" type="ByteString" value="zz"/>"#),
            Err(TextError::InvalidValue { .. })
        ));
    }

    #[test]
    fn invalid_byte_strings_are_not_echoed() {
        let err = one(r#"<TTLV tag="0x540005" type="ByteString" value="5ec2e7k3y"/>"#).unwrap_err();
        assert!(!err.to_string().contains("5ec2e7k3y"), "{err}");
    }

    #[test]
    fn dates_are_iso_8601_with_offset() {
        assert_eq!(
            leaf(r#"<ActivationDate type="DateTime" value="2001-01-01T10:00:00+10:00"/>"#),
            Value::DateTime(978_307_200)
        );
        assert_eq!(
            leaf(r#"<ActivationDate type="DateTime" value="1970-01-01T00:00:06.9Z"/>"#),
            Value::DateTime(6)
        );
        assert_eq!(
            leaf(r#"<ActivationDate type="DateTime" value="0x000000003a505520"/>"#),
            Value::DateTime(0x3a505520)
        );
        assert!(matches!(
            one(r#"<ActivationDate type="DateTime" value="2001-01-01T10:00:00"/>"#),
            Err(TextError::InvalidValue { .. })
        ));
        assert!(one(r#"<ActivationDate type="DateTime" value="2001-13-01T10:00:00Z"/>"#).is_err());
        let item = Ttlv::new(0x420001, Value::DateTime(978_307_200));
        assert_eq!(
            to_xml(&item, &TestDict),
            "<ActivationDate type=\"DateTime\" value=\"2001-01-01T00:00:00+00:00\"/>\n"
        );
        assert_eq!(
            leaf(
                r#"<TTLV tag="0x540006" type="DateTimeExtended" value="1970-01-01T00:00:01.2345678+00:00"/>"#
            ),
            Value::DateTimeExtended(1_234_567)
        );
        let item = Ttlv::new(0x540006, Value::DateTimeExtended(-1));
        let xml = to_xml(&item, &TestDict);
        assert!(xml.contains("1969-12-31T23:59:59.999999+00:00"), "{xml}");
        assert_eq!(one(&xml).unwrap(), item);
    }

    #[test]
    fn structures_default_their_type() {
        let xml = r#"<RequestMessage xmlns="urn:oasis:tc:kmip:xmlns">
            <BatchItem type="Structure"/>
            <TTLV tag="0x54FFFF" name="SomeExtension">
              <BatchCount type="Integer" value="1"/>
            </TTLV>
          </RequestMessage>"#;
        let item = one(xml).unwrap();
        assert_eq!(
            item,
            Ttlv::structure(
                0x420078,
                vec![
                    Ttlv::structure(0x42000F, vec![]),
                    Ttlv::structure(0x54FFFF, vec![Ttlv::new(0x42000D, Value::Integer(1))]),
                ]
            )
        );
        let written = to_xml(&item, &TestDict);
        assert_eq!(
            written,
            "<RequestMessage>\n  <BatchItem/>\n  <TTLV tag=\"0x54FFFF\">\n    \
             <BatchCount type=\"Integer\" value=\"1\"/>\n  </TTLV>\n</RequestMessage>\n"
        );
    }

    #[test]
    fn malformed_elements_are_refused() {
        type Check = fn(&TextError) -> bool;
        let cases: &[(&str, Check)] = &[
            (r#"<Nonsense type="Integer" value="1"/>"#, |e| {
                matches!(e, TextError::UnknownTag(_))
            }),
            (r#"<TTLV tag="0x5400" type="Integer" value="1"/>"#, |e| {
                matches!(e, TextError::UnknownTag(_))
            }),
            (r#"<TTLV tag="0x1000000" type="Integer" value="1"/>"#, |e| {
                matches!(e, TextError::UnknownTag(_))
            }),
            (r#"<TTLV type="Integer" value="1"/>"#, |e| {
                matches!(e, TextError::Missing { .. })
            }),
            (r#"<BatchCount type="Int" value="1"/>"#, |e| {
                matches!(e, TextError::UnknownType(_))
            }),
            (r#"<BatchCount type="Integer"/>"#, |e| {
                matches!(e, TextError::Missing { .. })
            }),
            (r#"<BatchItem value="1"/>"#, |e| {
                matches!(e, TextError::Misplaced { .. })
            }),
            (r#"<BatchCount type="Integer" value="1" extra="2"/>"#, |e| {
                matches!(e, TextError::Unexpected { .. })
            }),
            (
                r#"<BatchCount type="Integer" value="1"><BatchCount type="Integer" value="1"/></BatchCount>"#,
                |e| matches!(e, TextError::Misplaced { .. }),
            ),
            (r#"<BatchItem>hello</BatchItem>"#, |e| {
                matches!(e, TextError::Unexpected { .. })
            }),
            (r#"<BatchItem><![CDATA[x]]></BatchItem>"#, |e| {
                matches!(e, TextError::Unexpected { .. })
            }),
            (r#"<BatchItem/><BatchItem/>"#, |e| {
                matches!(e, TextError::TopLevelCount(2))
            }),
            ("  <!-- nothing -->  ", |e| {
                matches!(e, TextError::TopLevelCount(0))
            }),
            (r#"<BatchItem>"#, |e| {
                matches!(e, TextError::Missing { .. } | TextError::Xml { .. })
            }),
            (r#"<BatchItem></RequestMessage>"#, |e| {
                matches!(e, TextError::Xml { .. })
            }),
            (r#"<BatchItem type="Integer" type="Integer"/>"#, |e| {
                matches!(e, TextError::Xml { .. })
            }),
            (r#"<!DOCTYPE x [<!ENTITY a "b">]><BatchItem/>"#, |e| {
                matches!(e, TextError::Unexpected { .. })
            }),
            (
                r#"<UniqueIdentifier type="TextString" value="&bogus;"/>"#,
                |e| matches!(e, TextError::Xml { .. }),
            ),
        ];
        for (xml, expected) in cases {
            let err = one(xml).unwrap_err();
            assert!(expected(&err), "{xml}: {err:?}");
        }
    }

    #[test]
    fn nesting_and_width_limits_are_enforced() {
        let limits = Limits {
            max_depth: 3,
            max_items_per_structure: 2,
            ..Limits::DEFAULT
        };
        let deep3 = "<BatchItem><BatchItem><BatchItem/></BatchItem></BatchItem>";
        assert!(from_xml(deep3, &TestDict, &limits).is_ok());
        let deep4 =
            "<BatchItem><BatchItem><BatchItem><BatchItem/></BatchItem></BatchItem></BatchItem>";
        assert_eq!(
            from_xml(deep4, &TestDict, &limits),
            Err(TextError::TooDeep { max: 3 })
        );
        let wide = "<BatchItem><BatchItem/><BatchItem/><BatchItem/></BatchItem>";
        assert_eq!(
            from_xml(wide, &TestDict, &limits),
            Err(TextError::TooManyItems { max: 2 })
        );
        let doc = "<KMIP><BatchItem/><BatchItem/><BatchItem/></KMIP>";
        assert_eq!(
            from_xml_document(doc, &TestDict, &limits),
            Err(TextError::TooManyItems { max: 2 })
        );
        let small = Limits {
            max_message_bytes: 4,
            ..Limits::DEFAULT
        };
        let long = format!(
            "<BatchItem>{}</BatchItem>",
            " ".repeat(4 * TEXT_EXPANSION_FACTOR)
        );
        assert!(matches!(
            from_xml(&long, &TestDict, &small),
            Err(TextError::TooLong { .. })
        ));
        // Far deeper than the limit: refused without recursion.
        let abyss = "<BatchItem>".repeat(100_000);
        assert_eq!(
            from_xml(&abyss, &TestDict, &Limits::DEFAULT),
            Err(TextError::TooDeep { max: 32 })
        );
    }

    #[test]
    fn documents_hold_messages_and_comments() {
        let doc = r#"<?xml version="1.0"?>
            <KMIP>
            <!-- first -->
            <RequestMessage><BatchCount type="Integer" value="1"/></RequestMessage>
            <!-- second -->
            <RequestMessage/>
            </KMIP>
            <!-- trailing -->"#;
        let items = from_xml_document(doc, &TestDict, &Limits::DEFAULT).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            from_xml_document(
                &to_xml_document(&items, &TestDict),
                &TestDict,
                &Limits::DEFAULT
            )
            .unwrap(),
            items
        );
        assert_eq!(
            from_xml_document("<KMIP/>", &TestDict, &Limits::DEFAULT),
            Ok(vec![])
        );
        assert!(matches!(
            from_xml_document("<RequestMessage/>", &TestDict, &Limits::DEFAULT),
            Err(TextError::NotKmipDocument(_))
        ));
        assert!(from_xml_document("<KMIP/><KMIP/>", &TestDict, &Limits::DEFAULT).is_err());
        assert!(from_xml_document("", &TestDict, &Limits::DEFAULT).is_err());
    }

    #[test]
    fn placeholders_go_to_the_resolver_with_their_position() {
        let doc = r#"<KMIP>
            <RequestMessage><BatchCount type="Integer" value="1"/></RequestMessage>
            <RequestMessage>
              <BatchItem>
                <UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>
                <ActivationDate type="DateTime" value="$NOW-3600"/>
              </BatchItem>
            </RequestMessage>
          </KMIP>"#;
        let mut seen = Vec::new();
        let mut resolve = |p: &Placeholder<'_>| {
            seen.push((p.text.to_owned(), p.item_type, p.message, p.path.to_vec()));
            Ok(match p.item_type {
                ItemType::DateTime => Some(Value::DateTime(1000)),
                _ => None,
            })
        };
        let items = from_xml_document_with(doc, &TestDict, &Limits::DEFAULT, &mut resolve).unwrap();
        assert_eq!(
            seen,
            vec![
                (
                    "$UNIQUE_IDENTIFIER_0".to_owned(),
                    ItemType::TextString,
                    1,
                    vec![0, 0]
                ),
                ("$NOW-3600".to_owned(), ItemType::DateTime, 1, vec![0, 1]),
            ]
        );
        let batch = &items[1].children()[0];
        assert_eq!(
            batch.children()[0].value,
            Value::TextString("$UNIQUE_IDENTIFIER_0".into())
        );
        assert_eq!(batch.children()[1].value, Value::DateTime(1000));

        // Without a resolver a placeholder is an ordinary value, and a bad one for a date.
        assert!(matches!(
            from_xml_document(doc, &TestDict, &Limits::DEFAULT),
            Err(TextError::InvalidValue { .. })
        ));
        // A resolver must keep the declared type, and may refuse.
        let mut wrong = |_: &Placeholder<'_>| Ok(Some(Value::Integer(1)));
        assert!(matches!(
            from_xml_document_with(doc, &TestDict, &Limits::DEFAULT, &mut wrong),
            Err(TextError::PlaceholderType { .. })
        ));
        let mut refuse = |_: &Placeholder<'_>| Err("unbound".to_owned());
        assert!(matches!(
            from_xml_with(
                r#"<BatchCount type="Integer" value="$N"/>"#,
                &TestDict,
                &Limits::DEFAULT,
                &mut refuse
            ),
            Err(TextError::Placeholder { .. })
        ));
    }

    proptest! {
        #[test]
        fn any_tree_survives_xml(item in arb_item()) {
            let xml = to_xml(&item, &TestDict);
            prop_assert_eq!(from_xml(&xml, &TestDict, &Limits::DEFAULT), Ok(item), "{}", xml);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = from_xml(&text, &TestDict, &Limits::DEFAULT);
            let _ = from_xml_document(&text, &TestDict, &Limits::DEFAULT);
        }

        #[test]
        fn mangled_xml_never_panics(item in arb_item(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut xml = to_xml(&item, &TestDict).into_bytes();
            let i = cut.index(xml.len());
            xml[i] = byte;
            if let Ok(text) = String::from_utf8(xml) {
                let _ = from_xml(&text, &TestDict, &Limits::DEFAULT);
            }
        }
    }
}
