//! Typed request and response payloads of the operations, one file per operation or family. Each request is
//! read once from the item tree by [`Request::decode`] (through the one field reader, [`Fields`]) and each
//! response written once by [`Response::encode`]; what a version's payload carries, and any client quirk
//! (`kmip::quirks`), is applied there, so the operations in `ops` see only these types.

pub mod attributes;
pub mod create;
pub mod crypto;
pub mod derive;
pub mod get;
pub mod interop;
pub mod lifecycle;
pub mod locate;

use crate::spec::tag;
use crate::ttlv::{Tag, Ttlv, Value};

use super::error::KmipError;
use super::message::name;
use super::version::ProtocolVersion;

/// A request payload, read from its TTLV.
pub trait Request<'a>: Sized {
    /// Reads the Request Payload of a request in `version`; byte fields may be borrowed from it.
    fn decode(payload: &'a Ttlv, version: ProtocolVersion) -> Result<Self, KmipError>;
}

/// A response payload, written to its TTLV.
pub trait Response {
    /// The Response Payload in `version`.
    fn encode(&self, version: ProtocolVersion) -> Ttlv;
}

/// How a request names an object: the Unique Identifier field as sent. 2.x may refer to an identifier an
/// earlier batch item returned, by the Unique Identifier enumeration value of that operation or by position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectRef {
    /// A Unique Identifier.
    Uid(String),
    /// A Unique Identifier enumeration value (ID Placeholder, or the operation that returned it).
    Producer(u32),
    /// The nth identifier returned in the batch (negative: counted from the last).
    Position(i32),
}

impl ObjectRef {
    /// Reads a Unique Identifier field.
    pub fn from_ttlv(item: &Ttlv) -> Result<ObjectRef, KmipError> {
        match &item.value {
            Value::TextString(uid) => Ok(ObjectRef::Uid(uid.clone())),
            Value::Enumeration(e) => Ok(ObjectRef::Producer(*e)),
            Value::Integer(n) => Ok(ObjectRef::Position(*n)),
            _ => Err(KmipError::invalid_message(
                "Unique Identifier is not a Text String, Enumeration or Integer",
            )),
        }
    }
}

/// A request that names only an object (Activate, Destroy, Archive, Recover, Obtain Lease, Get Attribute
/// List): absent, the ID Placeholder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdRequest {
    /// The object named.
    pub unique_identifier: Option<ObjectRef>,
}

impl<'a> Request<'a> for IdRequest {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        Ok(IdRequest {
            unique_identifier: Fields::of(payload)?.object_ref()?,
        })
    }
}

/// A response that carries only the Unique Identifier of the object operated on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdResponse {
    /// The object's Unique Identifier.
    pub unique_identifier: String,
}

impl Response for IdResponse {
    fn encode(&self, _version: ProtocolVersion) -> Ttlv {
        Ttlv::structure(
            tag::RESPONSE_PAYLOAD,
            vec![uid_item(&self.unique_identifier)],
        )
    }
}

/// A response with an empty payload (Log, Interop).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmptyResponse;

impl Response for EmptyResponse {
    fn encode(&self, _version: ProtocolVersion) -> Ttlv {
        Ttlv::structure(tag::RESPONSE_PAYLOAD, Vec::new())
    }
}

/// A Unique Identifier item.
pub fn uid_item(uid: &str) -> Ttlv {
    Ttlv::new(tag::UNIQUE_IDENTIFIER, Value::TextString(uid.to_string()))
}

/// The one reader of payload fields: the first field of a tag, typed, with one wording for every operation's
/// errors ("X is not a Byte String", Invalid Message). Unknown fields are left alone: operations ignore what
/// they do not read, as a server of a newer minor version must.
#[derive(Clone, Copy, Debug)]
pub struct Fields<'a> {
    fields: &'a [Ttlv],
}

macro_rules! typed_field {
    ($(#[$doc:meta])* $fn:ident, $variant:ident, $ty:ty, $what:literal) => {
        $(#[$doc])*
        pub fn $fn(&self, t: Tag) -> Result<Option<$ty>, KmipError> {
            match self.get(t).map(|f| &f.value) {
                None => Ok(None),
                Some(Value::$variant(v)) => Ok(Some(v.clone())),
                Some(_) => Err(wrong_type(t, $what)),
            }
        }
    };
}

impl<'a> Fields<'a> {
    /// The fields of a payload (a structure).
    pub fn of(payload: &'a Ttlv) -> Result<Fields<'a>, KmipError> {
        match &payload.value {
            Value::Structure(fields) => Ok(Fields { fields }),
            _ => Err(KmipError::invalid_message(format!(
                "{} is not a structure",
                name(payload.tag)
            ))),
        }
    }

    /// The first field tagged `t`.
    pub fn get(&self, t: Tag) -> Option<&'a Ttlv> {
        self.fields.iter().find(|f| f.tag == t)
    }

    /// Every field tagged `t`, in order.
    pub fn all(&self, t: Tag) -> impl Iterator<Item = &'a Ttlv> + 'a {
        self.fields.iter().filter(move |f| f.tag == t)
    }

    /// The Unique Identifier field, when present.
    pub fn object_ref(&self) -> Result<Option<ObjectRef>, KmipError> {
        self.get(tag::UNIQUE_IDENTIFIER)
            .map(ObjectRef::from_ttlv)
            .transpose()
    }

    typed_field!(
        /// An optional Text String field.
        text, TextString, String, "a Text String"
    );
    typed_field!(
        /// An optional Enumeration field.
        enumeration, Enumeration, u32, "an Enumeration"
    );
    typed_field!(
        /// An optional Integer field.
        integer, Integer, i32, "an Integer"
    );
    typed_field!(
        /// An optional Long Integer field.
        long, LongInteger, i64, "a Long Integer"
    );
    typed_field!(
        /// An optional Interval field.
        interval, Interval, u32, "an Interval"
    );
    typed_field!(
        /// An optional Date-Time field.
        date_time, DateTime, i64, "a Date-Time"
    );
    typed_field!(
        /// An optional Boolean field.
        boolean, Boolean, bool, "a Boolean"
    );

    /// An optional Byte String field.
    pub fn bytes(&self, t: Tag) -> Result<Option<&'a [u8]>, KmipError> {
        match self.get(t).map(|f| &f.value) {
            None => Ok(None),
            Some(Value::ByteString(b)) => Ok(Some(b.as_slice())),
            Some(_) => Err(wrong_type(t, "a Byte String")),
        }
    }

    /// An optional Structure field, whole.
    pub fn structure(&self, t: Tag) -> Result<Option<&'a Ttlv>, KmipError> {
        match self.get(t) {
            None => Ok(None),
            Some(f) if matches!(f.value, Value::Structure(_)) => Ok(Some(f)),
            Some(_) => Err(wrong_type(t, "a Structure")),
        }
    }
}

fn wrong_type(t: Tag, expected: &str) -> KmipError {
    KmipError::invalid_message(format!("{} is not {expected}", name(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_by_type_and_a_wrong_type_is_named() {
        let payload = Ttlv::structure(
            tag::REQUEST_PAYLOAD,
            vec![
                uid_item("k-1"),
                Ttlv::new(tag::DATA, Value::TextString("not bytes".into())),
                Ttlv::new(tag::USAGE_LIMITS_COUNT, Value::LongInteger(7)),
            ],
        );
        let fields = Fields::of(&payload).unwrap();
        assert_eq!(
            fields.object_ref().unwrap(),
            Some(ObjectRef::Uid("k-1".into()))
        );
        assert_eq!(fields.long(tag::USAGE_LIMITS_COUNT).unwrap(), Some(7));
        assert_eq!(fields.bytes(tag::IV_COUNTER_NONCE).unwrap(), None);
        let e = fields.bytes(tag::DATA).unwrap_err();
        assert_eq!(e.message, "Data is not a Byte String");
        assert!(Fields::of(&uid_item("x")).is_err());
    }

    #[test]
    fn a_unique_identifier_of_another_type_is_refused() {
        let bad = Ttlv::new(tag::UNIQUE_IDENTIFIER, Value::Boolean(true));
        assert!(ObjectRef::from_ttlv(&bad).is_err());
        let by_position = Ttlv::new(tag::UNIQUE_IDENTIFIER, Value::Integer(-1));
        assert_eq!(
            ObjectRef::from_ttlv(&by_position).unwrap(),
            ObjectRef::Position(-1)
        );
    }
}
