//! The specification's names handed to the TTLV text codecs: `ttlv` knows no KMIP, so the XML and JSON forms
//! learn tag and enumeration names through this [`Dictionary`].

use crate::ttlv::{Dictionary, NamedValues, Tag};

use super::{tag, tag_by_name, tag_by_number, tag_by_spec_name};

/// The names of KMIP 1.0-2.1, as one [`Dictionary`].
#[derive(Debug, Clone, Copy, Default)]
pub struct KmipDictionary;

/// The dictionary to give the TTLV text codecs.
pub static DICTIONARY: KmipDictionary = KmipDictionary;

impl Dictionary for KmipDictionary {
    fn tag_name(&self, tag: Tag) -> Option<&'static str> {
        tag_by_number(tag).map(|d| d.name)
    }

    fn tag_by_name(&self, name: &str) -> Option<Tag> {
        tag_by_name(name).map(|d| d.tag)
    }

    fn value_names(&self, tag: Tag, attribute_name: Option<&str>) -> Option<&'static NamedValues> {
        let def = match (tag, attribute_name) {
            (tag::ATTRIBUTE_VALUE, Some(attribute)) if !is_custom_attribute(attribute) => {
                tag_by_spec_name(attribute)?
            }
            (tag::ATTRIBUTE_VALUE, _) => return None,
            _ => tag_by_number(tag)?,
        };
        def.enumeration().map(|e| e.named)
    }
}

/// Custom attributes (`x-` from clients, `y-` from servers) carry values the specification does not name.
fn is_custom_attribute(name: &str) -> bool {
    name.starts_with("x-")
        || name.starts_with("y-")
        || name.starts_with("X-")
        || name.starts_with("Y-")
}
