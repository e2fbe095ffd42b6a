//! Attributes in one version-neutral form. KMIP 1.x sends an attribute as `Attribute{Attribute Name (text),
//! Attribute Index?, Attribute Value}`; 2.x sends the attribute's own item (`<CryptographicAlgorithm>`) inside an
//! `Attributes` structure, and vendor attributes as `Attribute{Vendor Identification, Attribute Name, Attribute
//! Value}`. Inside the server every standard attribute is the item with its own tag and 2.x shape; the edge
//! converts. Custom attributes (1.x `x-Foo`/`y-Foo`) are the same attribute as the 2.x vendor attribute with
//! Vendor Identification `x`/`y` and name `Foo` (2.1 section 4.60 reserves those identifications for them);
//! their values, of any type, keep the wire's `Attribute Value` tag so they round-trip byte for byte.

use std::collections::HashMap;
use std::fmt;

use crate::spec::{self, tag};
use crate::ttlv::{self, Limits, Tag, Ttlv, Value};

use super::attribute_rules;
use super::error::{KmipError, ResultReason};
use super::version::ProtocolVersion;

/// The indexable form of an attribute value, chosen by the model (`search_key`): the store indexes these and Locate compares them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SearchKey {
    /// Not searchable by value (only by presence).
    None,
    /// Integers, enumerations, booleans, dates (seconds), intervals.
    Int(i64),
    /// Text strings (compared exactly).
    Text(String),
}

/// The name of an attribute, whichever version named it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttributeName {
    /// A standard attribute, by its own tag (`tag::CRYPTOGRAPHIC_ALGORITHM`).
    Standard(Tag),
    /// A 1.x custom attribute, `x-Foo` (client) or `y-Foo` (server); 2.x vendor `x`/`y`, name `Foo`.
    Custom(String),
    /// A 2.x vendor attribute of any other Vendor Identification.
    Vendor {
        /// Vendor Identification.
        vendor: String,
        /// Attribute Name.
        name: String,
    },
}

impl AttributeName {
    /// Whether this is the Name attribute (one object per Name).
    pub fn is_name(&self) -> bool {
        *self == AttributeName::Standard(tag::NAME)
    }

    /// Reads a 1.x Attribute Name: a standard attribute's printed name (`Cryptographic Algorithm`), or a custom
    /// `x-`/`y-` name. Anything else is not an attribute the server knows. A standard name matches with runs
    /// of spaces between its words (the KMIP 1.0-1.2 test cases write "Cryptographic   Usage Mask"); a
    /// custom name is taken exactly as written.
    pub fn from_1x(name: &str) -> Result<Self, KmipError> {
        if is_custom_name(name) {
            return Ok(AttributeName::Custom(name.to_string()));
        }
        let words = name.split_whitespace().collect::<Vec<_>>().join(" ");
        match attribute_rules::by_name(&words).and_then(|d| d.tag) {
            Some(t) => Ok(AttributeName::Standard(t)),
            None => Err(KmipError::new(
                ResultReason::UnsupportedAttribute,
                format!("{name:?} is not an attribute name (custom names begin with x- or y-)"),
            )),
        }
    }

    /// Reads a 2.x Attribute Reference: an Enumeration whose value is the attribute's tag, or a structure
    /// `{Vendor Identification, Attribute Name}` naming a vendor attribute.
    pub fn from_reference(item: &Ttlv) -> Result<Self, KmipError> {
        match &item.value {
            Value::Enumeration(t) => {
                if attribute_rules::by_tag(*t).is_some() {
                    Ok(AttributeName::Standard(*t))
                } else {
                    Err(KmipError::new(
                        ResultReason::UnsupportedAttribute,
                        format!("Attribute Reference {t:#08x} is not an attribute"),
                    ))
                }
            }
            Value::Structure(_) => {
                let vendor = text_child(item, tag::VENDOR_IDENTIFICATION, "Attribute Reference")?;
                let name = text_child(item, tag::ATTRIBUTE_NAME, "Attribute Reference")?;
                Ok(Self::from_vendor(vendor, name))
            }
            _ => Err(KmipError::new(
                ResultReason::InvalidDataType,
                "Attribute Reference is neither an Enumeration nor a structure",
            )),
        }
    }

    /// A 2.x vendor attribute's name: identifications `x` and `y` are the 1.x custom attributes.
    pub fn from_vendor(vendor: &str, name: &str) -> Self {
        if vendor == "x" || vendor == "y" {
            AttributeName::Custom(format!("{vendor}-{name}"))
        } else {
            AttributeName::Vendor {
                vendor: vendor.to_string(),
                name: name.to_string(),
            }
        }
    }

    /// The name a 1.x Attribute Name carries; `None` where 1.x has no name for the attribute (2.x-only standard
    /// attributes and vendor attributes).
    pub fn name_1x(&self) -> Option<String> {
        match self {
            AttributeName::Standard(t) => attribute_rules::by_tag(*t)
                .and_then(|d| d.spec_name_1x)
                .map(str::to_string),
            AttributeName::Custom(n) => Some(n.clone()),
            AttributeName::Vendor { .. } => None,
        }
    }

    /// The (Vendor Identification, Attribute Name) pair of 2.x, for custom and vendor attributes.
    pub fn vendor_pair(&self) -> Option<(&str, &str)> {
        match self {
            AttributeName::Standard(_) => None,
            AttributeName::Custom(n) => n.split_once('-'),
            AttributeName::Vendor { vendor, name } => Some((vendor, name)),
        }
    }

    /// The 2.x Attribute Reference naming this attribute.
    pub fn to_reference(&self) -> Ttlv {
        match (self, self.vendor_pair()) {
            (AttributeName::Standard(t), _) => {
                Ttlv::new(tag::ATTRIBUTE_REFERENCE, Value::Enumeration(*t))
            }
            (_, Some((vendor, name))) => Ttlv::structure(
                tag::ATTRIBUTE_REFERENCE,
                vec![
                    text(tag::VENDOR_IDENTIFICATION, vendor),
                    text(tag::ATTRIBUTE_NAME, name),
                ],
            ),
            (_, None) => Ttlv::structure(tag::ATTRIBUTE_REFERENCE, Vec::new()),
        }
    }

    /// Whether protocol version `version` can carry the attribute.
    pub fn known_in(&self, version: ProtocolVersion) -> bool {
        match self {
            AttributeName::Standard(_) => attribute_rules::rule(self).known_in(version),
            AttributeName::Custom(_) => true,
            AttributeName::Vendor { .. } => version.is_2x(),
        }
    }

    /// The attribute names a Get Attributes request asks for: 1.x `Attribute Name` texts, 2.x `Attribute
    /// Reference`s (children of `payload`). None listed means all.
    pub fn list_from_payload(
        payload: &Ttlv,
        version: ProtocolVersion,
    ) -> Result<Vec<AttributeName>, KmipError> {
        if version.is_2x() {
            payload
                .children_with(tag::ATTRIBUTE_REFERENCE)
                .map(Self::from_reference)
                .collect()
        } else {
            payload
                .children_with(tag::ATTRIBUTE_NAME)
                .map(|n| match &n.value {
                    Value::TextString(s) => Self::from_1x(s),
                    _ => Err(KmipError::invalid_field("Attribute Name is not text")),
                })
                .collect()
        }
    }

    /// Reads a name as any request form gives it: a 1.x Attribute Name text, or a 2.x Attribute Reference
    /// (Enumeration or vendor structure). Delete Attribute and Get Attributes accept either.
    pub fn from_name_or_reference(item: &Ttlv) -> Result<Self, KmipError> {
        match &item.value {
            Value::TextString(s) => Self::from_1x(s),
            _ => Self::from_reference(item),
        }
    }

    /// The item a Get Attribute List response of `version` names the attribute with (1.x `Attribute Name`,
    /// 2.x `Attribute Reference`); `None` where the version has no name for it.
    pub fn to_list_item(&self, version: ProtocolVersion) -> Option<Ttlv> {
        if !self.known_in(version) {
            return None;
        }
        if version.is_2x() {
            Some(self.to_reference())
        } else {
            self.name_1x().map(|n| text(tag::ATTRIBUTE_NAME, &n))
        }
    }

    /// The standard attribute's tag.
    pub fn tag(&self) -> Option<Tag> {
        match self {
            AttributeName::Standard(t) => Some(*t),
            _ => None,
        }
    }
}

impl fmt::Display for AttributeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeName::Standard(t) => match spec::tag_by_number(*t) {
                Some(d) => f.write_str(d.spec_name),
                None => write!(f, "{t:#08x}"),
            },
            AttributeName::Custom(n) => f.write_str(n),
            AttributeName::Vendor { vendor, name } => write!(f, "{vendor}:{name}"),
        }
    }
}

/// Whether a 1.x Attribute Name is a custom attribute's (`x-` set by clients, `y-` by servers).
pub fn is_custom_name(name: &str) -> bool {
    name.starts_with("x-") || name.starts_with("y-")
}

/// One attribute instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// Which attribute.
    pub name: AttributeName,
    /// For a standard attribute, an item with the attribute's tag and 2.x shape; for custom and vendor
    /// attributes, an `Attribute Value` item of any type.
    pub value: Ttlv,
}

impl Attribute {
    /// The object a Link attribute names (its Linked Object Identifier); None for any other attribute.
    pub fn linked_object(&self) -> Option<&str> {
        if self.name != AttributeName::Standard(tag::LINK) {
            return None;
        }
        match self
            .value
            .child(tag::LINKED_OBJECT_IDENTIFIER)
            .map(|v| &v.value)
        {
            Some(Value::TextString(uid)) => Some(uid),
            _ => None,
        }
    }

    /// A standard attribute from its value.
    pub fn standard(tag: Tag, value: Value) -> Self {
        Attribute {
            name: AttributeName::Standard(tag),
            value: Ttlv::new(tag, value),
        }
    }

    /// A standard attribute from its item (`<CryptographicAlgorithm>`, `<Name>{..}`).
    pub fn from_item(item: Ttlv) -> Self {
        Attribute {
            name: AttributeName::Standard(item.tag),
            value: item,
        }
    }

    /// A custom or vendor attribute; the value is re-tagged Attribute Value.
    pub fn custom(name: AttributeName, value: Value) -> Self {
        let tag = match name {
            AttributeName::Standard(t) => t,
            _ => tag::ATTRIBUTE_VALUE,
        };
        Attribute {
            name,
            value: Ttlv::new(tag, value),
        }
    }

    /// Reads a 1.x `Attribute{Attribute Name, Attribute Index?, Attribute Value?}` (also the 2.x vendor form
    /// `Attribute{Vendor Identification, Attribute Name, Attribute Value}`). The value is optional where the
    /// request only names the attribute (Delete Attribute); then the value is an empty structure.
    pub fn from_1x(item: &Ttlv) -> Result<(Attribute, Option<u32>), KmipError> {
        if !matches!(item.value, Value::Structure(_)) {
            return Err(KmipError::invalid_field("Attribute is not a structure"));
        }
        let raw_name = text_child(item, tag::ATTRIBUTE_NAME, "Attribute")?;
        let name = match item.child(tag::VENDOR_IDENTIFICATION) {
            Some(v) => match &v.value {
                Value::TextString(vendor) => AttributeName::from_vendor(vendor, raw_name),
                _ => {
                    return Err(KmipError::invalid_field(
                        "Vendor Identification is not text",
                    ));
                }
            },
            None => AttributeName::from_1x(raw_name)?,
        };
        let index = match item.child(tag::ATTRIBUTE_INDEX).map(|i| &i.value) {
            None => None,
            Some(Value::Integer(i)) => Some(u32::try_from(*i).map_err(|_| {
                KmipError::invalid_field(format!("Attribute Index {i} is negative"))
            })?),
            Some(_) => {
                return Err(KmipError::invalid_field(
                    "Attribute Index is not an Integer",
                ));
            }
        };
        let value = match item.child(tag::ATTRIBUTE_VALUE) {
            Some(v) => v.clone(),
            None => Ttlv::structure(tag::ATTRIBUTE_VALUE, Vec::new()),
        };
        let attribute = match name {
            AttributeName::Standard(t) => {
                if Attribute::has_value_1x(item) {
                    check_type(t, &value.value, 1)?;
                }
                Attribute {
                    name,
                    value: Ttlv::new(t, value.value),
                }
            }
            _ => Attribute { name, value },
        };
        Ok((attribute, index))
    }

    /// Whether this 1.x-form Attribute carried no Attribute Value (a request naming the attribute only).
    pub fn has_value_1x(item: &Ttlv) -> bool {
        item.child(tag::ATTRIBUTE_VALUE).is_some()
    }

    /// Reads one child of a 2.x `Attributes` structure: a standard attribute's own item, or a vendor
    /// `Attribute` structure.
    pub fn from_2x(item: &Ttlv) -> Result<Attribute, KmipError> {
        if item.tag == tag::ATTRIBUTE {
            // 2.x has no Vendor Attribute tag: vendor attributes are Attribute structures (2.1 section 4.60).
            return Attribute::from_1x(item).map(|(a, _)| a);
        }
        if attribute_rules::by_tag(item.tag).is_none() {
            return Err(KmipError::new(
                ResultReason::UnsupportedAttribute,
                format!("tag {:#08x} is not an attribute", item.tag),
            ));
        }
        check_type(item.tag, &item.value, 2)?;
        Ok(Attribute::from_item(item.clone()))
    }

    /// Reads the one attribute inside a 2.x `New Attribute` or `Current Attribute` structure (Add, Modify, Set,
    /// Delete Attribute).
    pub fn from_container_2x(item: &Ttlv) -> Result<Attribute, KmipError> {
        match item.children() {
            [only] => Attribute::from_2x(only),
            _ => Err(KmipError::invalid_field(format!(
                "{} must hold exactly one attribute",
                AttributeName::Standard(item.tag)
            ))),
        }
    }

    /// The 1.x `Attribute` structure; `None` where 1.x has no name for the attribute.
    pub fn to_1x(&self, index: u32) -> Option<Ttlv> {
        let name = self.name.name_1x()?;
        let mut children = vec![text(tag::ATTRIBUTE_NAME, &name)];
        if index > 0 {
            children.push(Ttlv::new(
                tag::ATTRIBUTE_INDEX,
                Value::Integer(i32::try_from(index).unwrap_or(i32::MAX)),
            ));
        }
        children.push(Ttlv::new(tag::ATTRIBUTE_VALUE, self.value.value.clone()));
        Some(Ttlv::structure(tag::ATTRIBUTE, children))
    }

    /// The 2.x item: the attribute's own item, or a vendor `Attribute` structure.
    pub fn to_2x(&self) -> Ttlv {
        match self.name.vendor_pair() {
            None => self.value.clone(),
            Some((vendor, name)) => Ttlv::structure(
                tag::ATTRIBUTE,
                vec![
                    text(tag::VENDOR_IDENTIFICATION, vendor),
                    text(tag::ATTRIBUTE_NAME, name),
                    Ttlv::new(tag::ATTRIBUTE_VALUE, self.value.value.clone()),
                ],
            ),
        }
    }

    /// The item a response of `version` carries, `None` when that version does not know the attribute (never
    /// `Fresh` to 1.0). `index` is the instance's index among its name's instances (1.x only).
    pub fn to_ttlv(&self, version: ProtocolVersion, index: u32) -> Option<Ttlv> {
        if !self.name.known_in(version) {
            return None;
        }
        if version.is_2x() {
            Some(self.to_2x())
        } else {
            self.to_1x(index)
        }
    }
}

/// The attributes of an object or a request, in order. An instance's index is its position among the instances
/// of the same name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    items: Vec<Attribute>,
}

impl Attributes {
    /// No attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many instances, of all names.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every instance, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Attribute> {
        self.items.iter()
    }

    /// Every instance with its index among its name's instances, in order.
    pub fn iter_indexed(&self) -> impl Iterator<Item = (&Attribute, u32)> {
        let mut seen: HashMap<&AttributeName, u32> = HashMap::new();
        self.items.iter().map(move |a| {
            let next = seen.entry(&a.name).or_insert(0);
            let index = *next;
            *next = next.saturating_add(1);
            (a, index)
        })
    }

    /// The distinct names, in order of first appearance.
    pub fn names(&self) -> Vec<AttributeName> {
        let mut names: Vec<AttributeName> = Vec::new();
        for a in &self.items {
            if !names.contains(&a.name) {
                names.push(a.name.clone());
            }
        }
        names
    }

    /// The first instance of a name.
    pub fn get(&self, name: &AttributeName) -> Option<&Attribute> {
        self.items.iter().find(|a| &a.name == name)
    }

    /// The first instance of a standard attribute's value.
    pub fn get_value(&self, tag: Tag) -> Option<&Value> {
        self.get(&AttributeName::Standard(tag))
            .map(|a| &a.value.value)
    }

    /// Every instance of a name, in index order.
    pub fn get_all<'a>(
        &'a self,
        name: &'a AttributeName,
    ) -> impl Iterator<Item = &'a Attribute> + 'a {
        self.items.iter().filter(move |a| &a.name == name)
    }

    /// The instance of a name at an index.
    pub fn get_at(&self, name: &AttributeName, index: u32) -> Option<&Attribute> {
        self.items
            .iter()
            .filter(|a| &a.name == name)
            .nth(index as usize)
    }

    /// How many instances a name has.
    pub fn count(&self, name: &AttributeName) -> usize {
        self.items.iter().filter(|a| &a.name == name).count()
    }

    /// Appends an instance; returns its index.
    pub fn add(&mut self, attribute: Attribute) -> u32 {
        let index = self.count(&attribute.name);
        self.items.push(attribute);
        u32::try_from(index).unwrap_or(u32::MAX)
    }

    /// Makes `attribute` the only instance of its name: replaces the first instance in place (removing the
    /// others), or appends.
    pub fn set(&mut self, attribute: Attribute) {
        match self.items.iter().position(|a| a.name == attribute.name) {
            Some(first) => {
                let name = attribute.name.clone();
                if let Some(slot) = self.items.get_mut(first) {
                    *slot = attribute;
                }
                let mut seen = 0usize;
                self.items.retain(|a| {
                    if a.name != name {
                        return true;
                    }
                    seen += 1;
                    seen == 1
                });
            }
            None => self.items.push(attribute),
        }
    }

    /// Replaces the value of the instance of a name at an index; the old instance, or `None` when there is no
    /// such instance (nothing changes then).
    pub fn replace_at(&mut self, index: u32, attribute: Attribute) -> Option<Attribute> {
        let position = self.position(&attribute.name, index)?;
        let slot = self.items.get_mut(position)?;
        Some(std::mem::replace(slot, attribute))
    }

    /// Removes the instance of a name at an index; later instances move down one index.
    pub fn remove_at(&mut self, name: &AttributeName, index: u32) -> Option<Attribute> {
        let position = self.position(name, index)?;
        Some(self.items.remove(position))
    }

    /// Removes every instance of a name; returns how many.
    pub fn remove_all(&mut self, name: &AttributeName) -> usize {
        let before = self.items.len();
        self.items.retain(|a| &a.name != name);
        before - self.items.len()
    }

    /// Whether an instance equal to `attribute` (name and value) exists.
    pub fn contains(&self, attribute: &Attribute) -> bool {
        self.items.contains(attribute)
    }

    /// The index (among its name's instances) of the first instance equal to `attribute`.
    pub fn index_of(&self, attribute: &Attribute) -> Option<u32> {
        let position = self.items.iter().position(|a| a == attribute)?;
        let before = self
            .items
            .iter()
            .take(position)
            .filter(|a| a.name == attribute.name)
            .count();
        u32::try_from(before).ok()
    }

    /// The first instance of a name, to change in place.
    pub fn first_mut(&mut self, name: &AttributeName) -> Option<&mut Attribute> {
        self.items.iter_mut().find(|a| &a.name == name)
    }

    fn position(&self, name: &AttributeName, index: u32) -> Option<usize> {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, a)| &a.name == name)
            .nth(index as usize)
            .map(|(i, _)| i)
    }

    /// Reads a 1.x `Template-Attribute` (or Common/Private Key/Public Key Template-Attribute): its `Attribute`
    /// children. Templates referenced by `Name` are refused: the server keeps no Template objects.
    pub fn from_template_1x(item: &Ttlv) -> Result<Attributes, KmipError> {
        let mut out = Attributes::new();
        for child in item.children() {
            match child.tag {
                tag::ATTRIBUTE => {
                    let (attribute, _) = Attribute::from_1x(child)?;
                    out.add(attribute);
                }
                tag::NAME => {
                    return Err(KmipError::new(
                        ResultReason::ItemNotFound,
                        "templates referenced by name are not supported: send the attributes instead",
                    ));
                }
                other => {
                    return Err(KmipError::invalid_field(format!(
                        "unexpected tag {other:#08x} in a Template-Attribute"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// Reads a 2.x `Attributes` (or Common/Private Key/Public Key Attributes) structure.
    pub fn from_attributes_2x(item: &Ttlv) -> Result<Attributes, KmipError> {
        let mut out = Attributes::new();
        for child in item.children() {
            out.add(Attribute::from_2x(child)?);
        }
        Ok(out)
    }

    /// Reads the attributes a request payload carries for a new object, in either version's form: 1.x
    /// `template_tag_1x` (e.g. `tag::TEMPLATE_ATTRIBUTE`) or 2.x `attributes_tag_2x` (e.g. `tag::ATTRIBUTES`).
    /// Missing means none.
    pub fn from_payload(
        payload: &Ttlv,
        version: ProtocolVersion,
        template_tag_1x: Tag,
        attributes_tag_2x: Tag,
    ) -> Result<Attributes, KmipError> {
        if version.is_2x() {
            payload
                .child(attributes_tag_2x)
                .map_or_else(|| Ok(Attributes::new()), Attributes::from_attributes_2x)
        } else {
            payload
                .child(template_tag_1x)
                .map_or_else(|| Ok(Attributes::new()), Attributes::from_template_1x)
        }
    }

    /// Reads the attributes a request carries for a new object (or as Locate filters) in whichever form it
    /// sent them, whatever the header's version: 1.x `Template-Attribute`, 2.x `Attributes` (whose children may
    /// also be 1.x `Attribute` structures from a client mixing forms), in that order. Missing means none.
    pub fn from_request(payload: &Ttlv) -> Result<Attributes, KmipError> {
        let mut out = match payload.child(tag::TEMPLATE_ATTRIBUTE) {
            Some(template) => Attributes::from_template_1x(template)?,
            None => Attributes::new(),
        };
        if let Some(container) = payload.child(tag::ATTRIBUTES) {
            // A 1.x `Attribute` child reads as the 2.x vendor form does (`Attribute::from_2x`).
            for child in container.children() {
                out.add(Attribute::from_2x(child)?);
            }
        }
        Ok(out)
    }

    /// The items a response of `version` carries: 1.x `Attribute` structures, or the children of a 2.x
    /// `Attributes` structure. Attributes the version does not know are left out.
    pub fn to_items(&self, version: ProtocolVersion) -> Vec<Ttlv> {
        self.iter_indexed()
            .filter_map(|(a, index)| a.to_ttlv(version, index))
            .collect()
    }

    /// A 2.x `Attributes` structure (any tag: `Attributes`, `Common Attributes`, ...) of the attributes 2.x
    /// knows; for 1.x, a `Template-Attribute`-shaped structure of `Attribute`s under `tag`.
    pub fn to_structure(&self, version: ProtocolVersion, tag: Tag) -> Ttlv {
        Ttlv::structure(tag, self.to_items(version))
    }
}

impl FromIterator<Attribute> for Attributes {
    fn from_iter<I: IntoIterator<Item = Attribute>>(iter: I) -> Self {
        Attributes {
            items: iter.into_iter().collect(),
        }
    }
}

impl<'a> IntoIterator for &'a Attributes {
    type Item = &'a Attribute;
    type IntoIter = std::slice::Iter<'a, Attribute>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

/// The key Locate matches an attribute instance by: Name → its Name Value; Link → the linked object's
/// identifier; Object Group and other text → the text; enumerations, integers and dates → the number.
pub fn search_key(attribute: &Attribute) -> SearchKey {
    let value = &attribute.value;
    match (&attribute.name, &value.value) {
        (AttributeName::Standard(tag::NAME), _) => child_text(value, tag::NAME_VALUE),
        (AttributeName::Standard(tag::ALTERNATIVE_NAME), _) => {
            child_text(value, tag::ALTERNATIVE_NAME_VALUE)
        }
        (AttributeName::Standard(tag::LINK), _) => child_text(value, tag::LINKED_OBJECT_IDENTIFIER),
        (AttributeName::Standard(tag::APPLICATION_SPECIFIC_INFORMATION), _) => {
            child_text(value, tag::APPLICATION_NAMESPACE)
        }
        (_, v) => primitive_key(v),
    }
}

fn child_text(item: &Ttlv, tag: Tag) -> SearchKey {
    item.child(tag)
        .map_or(SearchKey::None, |c| primitive_key(&c.value))
}

fn primitive_key(value: &Value) -> SearchKey {
    match value {
        Value::Integer(i) => SearchKey::Int(i64::from(*i)),
        Value::LongInteger(i) | Value::DateTime(i) | Value::DateTimeExtended(i) => {
            SearchKey::Int(*i)
        }
        Value::Enumeration(e) => SearchKey::Int(i64::from(*e)),
        Value::Interval(i) => SearchKey::Int(i64::from(*i)),
        Value::Boolean(b) => SearchKey::Int(i64::from(*b)),
        Value::TextString(s) => SearchKey::Text(s.clone()),
        Value::Structure(_) | Value::BigInteger(_) | Value::ByteString(_) => SearchKey::None,
    }
}

/// The name the store keeps an attribute under: `Standard:0x420028`; `Vendor:<vendor>:<name>` for custom and
/// vendor attributes (`Vendor:x:Foo` is the 1.x `x-Foo`), the form stores have held since the first release;
/// `VendorLen:<len>:<vendor><name>` for the rare Vendor Identification that contains a colon.
pub fn attribute_storage_name(name: &AttributeName) -> String {
    match (name, name.vendor_pair()) {
        (AttributeName::Standard(t), _) => format!("Standard:0x{t:06X}"),
        (_, Some((vendor, name))) if !vendor.contains(':') => format!("Vendor:{vendor}:{name}"),
        (_, Some((vendor, name))) => format!("VendorLen:{}:{vendor}{name}", vendor.len()),
        (_, None) => format!("Vendor::{name}"),
    }
}

/// The inverse of [`attribute_storage_name`].
pub fn attribute_name_from_storage(stored: &str) -> Result<AttributeName, KmipError> {
    let bad =
        || KmipError::general_failure(format!("stored attribute name {stored:?} is malformed"));
    if let Some(hex) = stored.strip_prefix("Standard:0x") {
        return u32::from_str_radix(hex, 16)
            .map(AttributeName::Standard)
            .map_err(|_| bad());
    }
    if let Some(rest) = stored.strip_prefix("Vendor:") {
        let (vendor, name) = rest.split_once(':').ok_or_else(bad)?;
        return Ok(AttributeName::from_vendor(vendor, name));
    }
    let rest = stored.strip_prefix("VendorLen:").ok_or_else(bad)?;
    let (len, rest) = rest.split_once(':').ok_or_else(bad)?;
    let len: usize = len.parse().map_err(|_| bad())?;
    let (vendor, name) = rest.split_at_checked(len).ok_or_else(bad)?;
    Ok(AttributeName::from_vendor(vendor, name))
}

/// The bytes the store keeps of an attribute's value: binary TTLV of the value item.
pub fn attribute_storage_value(attribute: &Attribute) -> Vec<u8> {
    ttlv::encode(&attribute.value)
}

/// Rebuilds an attribute from its stored name and value bytes.
pub fn attribute_from_storage(name: &str, value: &[u8]) -> Result<Attribute, KmipError> {
    let name = attribute_name_from_storage(name)?;
    let value = ttlv::decode(value, &Limits::DEFAULT).map_err(|e| {
        KmipError::general_failure(format!("stored attribute {name} is corrupt: {e}"))
    })?;
    Ok(Attribute { name, value })
}

/// A standard attribute's value must have the type its tag has in that major version (structures aside,
/// whose shape the operations check).
fn check_type(t: Tag, value: &Value, major: i32) -> Result<(), KmipError> {
    let expected = spec::tag_by_number(t).and_then(|d| d.item_type_in(major));
    match expected {
        Some(e) if e != value.item_type() => Err(KmipError::new(
            ResultReason::InvalidAttributeValue,
            format!(
                "{} must be {}, not {}",
                AttributeName::Standard(t),
                e.name(),
                value.item_type().name()
            ),
        )),
        _ => Ok(()),
    }
}

fn text_child<'a>(item: &'a Ttlv, t: Tag, what: &str) -> Result<&'a str, KmipError> {
    match item.child(t).map(|c| &c.value) {
        Some(Value::TextString(s)) => Ok(s),
        Some(_) => Err(KmipError::invalid_field(format!(
            "{} of {what} is not text",
            AttributeName::Standard(t)
        ))),
        None => Err(KmipError::missing_data(format!(
            "{what} has no {}",
            AttributeName::Standard(t)
        ))),
    }
}

fn text(t: Tag, s: &str) -> Ttlv {
    Ttlv::new(t, Value::TextString(s.to_string()))
}

#[cfg(test)]
mod tests;
