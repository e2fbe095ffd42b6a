//! Attributes as the operations handle them, and their request and response forms in every version: the 1.x
//! `Attribute{Attribute Name, Attribute Index, Attribute Value}` and Template-Attribute, the 2.x `Attributes`
//! structure whose children carry the attribute's own tag, the 2.x vendor `Attribute`, and the names a request
//! asks for (1.x Attribute Name text, 2.x Attribute Reference).
//!
//! Custom attributes: a 1.x `x-Foo` (or `y-Foo`) is the 2.x vendor attribute of Vendor Identification `x` (`y`)
//! and Attribute Name `Foo` — the 2.1 profiles' test cases send `x`-vendor attributes where the 1.4 ones send
//! `x-` names — so one stored attribute answers both.

use crate::kmip::{KmipError, ProtocolVersion, ResultReason};
use crate::spec::{self, tag};
use crate::store::SearchKey;
use crate::ttlv::{self, Limits, Ttlv, Value};

/// The name of an attribute, version-neutral.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AttrName {
    /// A standard attribute, by its tag.
    Standard(u32),
    /// A custom (1.x `x-`/`y-`) or vendor (2.x) attribute.
    Vendor {
        /// Vendor Identification; `x` or `y` for 1.x custom attributes.
        vendor: String,
        /// The name within the vendor's space.
        name: String,
    },
}

/// One attribute instance: its name and value. A standard attribute's value carries the attribute's tag; a
/// vendor attribute's carries Attribute Value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    /// The attribute's name.
    pub name: AttrName,
    /// Its value.
    pub value: Ttlv,
}

impl Attr {
    /// A standard attribute with a value of any type.
    pub fn standard(t: u32, value: Value) -> Attr {
        Attr {
            name: AttrName::Standard(t),
            value: Ttlv::new(t, value),
        }
    }
}

fn invalid_attribute(message: String) -> KmipError {
    KmipError::new(ResultReason::InvalidAttribute, message)
}

impl AttrName {
    /// Reads a 1.x Attribute Name.
    pub fn from_1x(text: &str) -> Result<AttrName, KmipError> {
        for prefix in ["x-", "y-"] {
            if let Some(rest) = text.strip_prefix(prefix) {
                return Ok(AttrName::Vendor {
                    vendor: prefix.trim_end_matches('-').to_string(),
                    name: rest.to_string(),
                });
            }
        }
        spec::tag_by_spec_name(text)
            .map(|def| AttrName::Standard(def.tag))
            .ok_or_else(|| invalid_attribute(format!("{text:?} is not an attribute name")))
    }

    /// The 1.x Attribute Name.
    pub fn to_1x(&self) -> String {
        match self {
            AttrName::Standard(t) => spec::tag_by_number(*t)
                .map_or_else(|| format!("{t:#08x}"), |d| d.spec_name.to_string()),
            AttrName::Vendor { vendor, name } => format!("{vendor}-{name}"),
        }
    }

    /// The key the store files instances under: the tag for standard attributes, the 1.x name for custom ones.
    pub fn storage_key(&self) -> String {
        match self {
            AttrName::Standard(t) => format!("Standard:{t:#08X}"),
            AttrName::Vendor { vendor, name } => format!("Vendor:{vendor}:{name}"),
        }
    }

    /// The inverse of [`AttrName::storage_key`].
    pub fn from_storage_key(key: &str) -> Option<AttrName> {
        if let Some(hex) = key.strip_prefix("Standard:0x") {
            return u32::from_str_radix(hex, 16).ok().map(AttrName::Standard);
        }
        let rest = key.strip_prefix("Vendor:")?;
        let (vendor, name) = rest.split_once(':')?;
        Some(AttrName::Vendor {
            vendor: vendor.to_string(),
            name: name.to_string(),
        })
    }

    /// Whether `version` knows the attribute: custom and vendor attributes exist everywhere; a standard one in
    /// the versions the attribute rules table (`kmip::attribute_rules`) gives it.
    pub fn known_in(&self, version: ProtocolVersion) -> bool {
        match self {
            AttrName::Vendor { .. } => true,
            AttrName::Standard(t) => {
                crate::kmip::attributes::AttributeName::Standard(*t).known_in(version)
            }
        }
    }
}

fn text_of(item: Option<&Ttlv>, what: &str) -> Result<String, KmipError> {
    match item.map(|i| &i.value) {
        Some(Value::TextString(s)) => Ok(s.clone()),
        Some(_) => Err(KmipError::invalid_message(format!(
            "{what} is not a Text String"
        ))),
        None => Err(KmipError::invalid_message(format!("{what} is missing"))),
    }
}

/// A 1.x Attribute structure, or a 2.x vendor Attribute structure: the attribute and the index it names.
pub fn decode_attribute_structure(item: &Ttlv) -> Result<(Attr, Option<u32>), KmipError> {
    let raw_name = text_of(item.child(tag::ATTRIBUTE_NAME), "Attribute Name")?;
    let name = match item.child(tag::VENDOR_IDENTIFICATION) {
        Some(v) => AttrName::Vendor {
            vendor: text_of(Some(v), "Vendor Identification")?,
            name: raw_name,
        },
        None => AttrName::from_1x(&raw_name)?,
    };
    let index =
        match item.child(tag::ATTRIBUTE_INDEX).map(|i| &i.value) {
            None => None,
            Some(Value::Integer(i)) => Some(u32::try_from(*i).map_err(|_| {
                KmipError::invalid_field(format!("Attribute Index {i} is negative"))
            })?),
            Some(_) => {
                return Err(KmipError::invalid_message(
                    "Attribute Index is not an Integer",
                ));
            }
        };
    let value = item.child(tag::ATTRIBUTE_VALUE).map(|v| match &name {
        AttrName::Standard(t) => Ttlv::new(*t, v.value.clone()),
        AttrName::Vendor { .. } => v.clone(),
    });
    let value = value.unwrap_or_else(|| Ttlv::structure(tag::ATTRIBUTE_VALUE, Vec::new()));
    Ok((Attr { name, value }, index))
}

/// One child of a 2.x Attributes structure (or a 2.x New/Current Attribute's content).
pub fn decode_2x(item: &Ttlv) -> Result<Attr, KmipError> {
    if item.tag == tag::ATTRIBUTE {
        return decode_attribute_structure(item).map(|(a, _)| a);
    }
    match spec::tag_by_number(item.tag) {
        Some(_) => Ok(Attr {
            name: AttrName::Standard(item.tag),
            value: item.clone(),
        }),
        None => Err(invalid_attribute(format!(
            "tag {:#08x} is not an attribute",
            item.tag
        ))),
    }
}

/// The attributes a request carries for a new object: 1.x Template-Attribute (named templates are not
/// supported), or 2.x Attributes; `container` is the tag to look for first (e.g. Common Template-Attribute).
pub fn request_attributes(
    payload: &Ttlv,
    version: ProtocolVersion,
) -> Result<Vec<Attr>, KmipError> {
    let mut out = Vec::new();
    for t in [tag::TEMPLATE_ATTRIBUTE, tag::ATTRIBUTES] {
        let Some(container) = payload.child(t) else {
            continue;
        };
        for child in container.children() {
            if child.tag == tag::NAME && t == tag::TEMPLATE_ATTRIBUTE {
                return Err(KmipError::feature_not_supported(
                    "named templates are not supported",
                ));
            }
            if t == tag::TEMPLATE_ATTRIBUTE || !version.is_2x() && child.tag == tag::ATTRIBUTE {
                out.push(decode_attribute_structure(child)?.0);
            } else {
                out.push(decode_2x(child)?);
            }
        }
    }
    Ok(out)
}

/// A name a request asks for: a 1.x Attribute Name, or a 2.x Attribute Reference (the attribute's tag as an
/// Enumeration, or a vendor's Vendor Identification and Attribute Name).
pub fn decode_reference(item: &Ttlv) -> Result<AttrName, KmipError> {
    match &item.value {
        Value::TextString(s) => AttrName::from_1x(s),
        Value::Enumeration(t) => Ok(AttrName::Standard(*t)),
        Value::Structure(_) => Ok(AttrName::Vendor {
            vendor: text_of(
                item.child(tag::VENDOR_IDENTIFICATION),
                "Vendor Identification",
            )?,
            name: text_of(item.child(tag::ATTRIBUTE_NAME), "Attribute Name")?,
        }),
        _ => Err(KmipError::invalid_message(
            "attribute reference is neither a name nor a reference",
        )),
    }
}

/// An attribute instance in a response of `version`, or `None` when that version does not know it.
pub fn encode(attr: &Attr, index: u32, version: ProtocolVersion) -> Option<Ttlv> {
    if !attr.name.known_in(version) {
        return None;
    }
    if version.is_2x() {
        return Some(match &attr.name {
            AttrName::Standard(_) => attr.value.clone(),
            AttrName::Vendor { vendor, name } => Ttlv::structure(
                tag::ATTRIBUTE,
                vec![
                    Ttlv::new(
                        tag::VENDOR_IDENTIFICATION,
                        Value::TextString(vendor.clone()),
                    ),
                    Ttlv::new(tag::ATTRIBUTE_NAME, Value::TextString(name.clone())),
                    Ttlv::new(tag::ATTRIBUTE_VALUE, attr.value.value.clone()),
                ],
            ),
        });
    }
    let mut fields = vec![Ttlv::new(
        tag::ATTRIBUTE_NAME,
        Value::TextString(attr.name.to_1x()),
    )];
    if index > 0 {
        fields.push(Ttlv::new(
            tag::ATTRIBUTE_INDEX,
            Value::Integer(i32::try_from(index).unwrap_or(i32::MAX)),
        ));
    }
    fields.push(Ttlv::new(tag::ATTRIBUTE_VALUE, attr.value.value.clone()));
    Some(Ttlv::structure(tag::ATTRIBUTE, fields))
}

/// A name as Get Attribute List returns it in `version`.
pub fn encode_name(name: &AttrName, version: ProtocolVersion) -> Ttlv {
    match (name, version.is_2x()) {
        (AttrName::Standard(t), true) => {
            Ttlv::new(tag::ATTRIBUTE_REFERENCE, Value::Enumeration(*t))
        }
        (AttrName::Vendor { vendor, name }, true) => Ttlv::structure(
            tag::ATTRIBUTE_REFERENCE,
            vec![
                Ttlv::new(
                    tag::VENDOR_IDENTIFICATION,
                    Value::TextString(vendor.clone()),
                ),
                Ttlv::new(tag::ATTRIBUTE_NAME, Value::TextString(name.clone())),
            ],
        ),
        (_, false) => Ttlv::new(tag::ATTRIBUTE_NAME, Value::TextString(name.to_1x())),
    }
}

/// What Locate compares for an attribute: integers, enumerations, booleans and dates as integers; text as
/// text; a Name by its Name Value; other structures only by presence.
pub fn search_key(attr: &Attr) -> SearchKey {
    let value = match (
        &attr.value.value,
        attr.name == AttrName::Standard(tag::NAME),
    ) {
        (Value::Structure(_), true) => attr.value.child(tag::NAME_VALUE).map(|v| &v.value),
        (v, _) => Some(v),
    };
    match value {
        Some(Value::Integer(i)) => SearchKey::Int(i64::from(*i)),
        Some(Value::LongInteger(i) | Value::DateTime(i) | Value::DateTimeExtended(i)) => {
            SearchKey::Int(*i)
        }
        Some(Value::Enumeration(e)) => SearchKey::Int(i64::from(*e)),
        Some(Value::Interval(i)) => SearchKey::Int(i64::from(*i)),
        Some(Value::Boolean(b)) => SearchKey::Int(i64::from(*b)),
        Some(Value::TextString(s)) => SearchKey::Text(s.clone()),
        _ => SearchKey::None,
    }
}

/// The stored bytes of an attribute value.
pub fn value_bytes(attr: &Attr) -> Vec<u8> {
    ttlv::encode(&attr.value)
}

/// The value back from its stored bytes.
pub fn value_from_bytes(bytes: &[u8]) -> Result<Ttlv, KmipError> {
    ttlv::decode(bytes, &Limits::DEFAULT)
        .map_err(|e| KmipError::general_failure(format!("stored attribute is unreadable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_between_versions_and_storage() {
        let custom = AttrName::from_1x("x-VendorAttribute1").unwrap();
        assert_eq!(
            custom,
            AttrName::Vendor {
                vendor: "x".into(),
                name: "VendorAttribute1".into()
            }
        );
        assert_eq!(custom.to_1x(), "x-VendorAttribute1");
        let alg = AttrName::from_1x("Cryptographic Algorithm").unwrap();
        assert_eq!(alg, AttrName::Standard(tag::CRYPTOGRAPHIC_ALGORITHM));
        for n in [custom, alg] {
            assert_eq!(AttrName::from_storage_key(&n.storage_key()), Some(n));
        }
        assert_eq!(
            AttrName::from_1x("No Such Thing").unwrap_err().reason,
            ResultReason::InvalidAttribute
        );
    }

    #[test]
    fn attributes_round_trip_through_both_forms() {
        let name = Attr {
            name: AttrName::Standard(tag::NAME),
            value: Ttlv::structure(
                tag::NAME,
                vec![
                    Ttlv::new(tag::NAME_VALUE, Value::TextString("k".into())),
                    Ttlv::new(tag::NAME_TYPE, Value::Enumeration(1)),
                ],
            ),
        };
        let one = encode(&name, 2, ProtocolVersion::V1_4).unwrap();
        let (back, index) = decode_attribute_structure(&one).unwrap();
        assert_eq!((back, index), (name.clone(), Some(2)));
        let two = encode(&name, 0, ProtocolVersion::V2_1).unwrap();
        assert_eq!(decode_2x(&two).unwrap(), name);
        assert_eq!(search_key(&name), SearchKey::Text("k".into()));
        let fresh = Attr::standard(tag::FRESH, Value::Boolean(true));
        assert!(encode(&fresh, 0, ProtocolVersion::V1_0).is_none());
        assert!(encode(&fresh, 0, ProtocolVersion::V1_1).is_some());
    }
}
