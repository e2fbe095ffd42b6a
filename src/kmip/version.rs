//! Protocol versions: which ones the server speaks, in which order it prefers them, and how a request's version
//! is matched to one of them. Every message carries its own version, so this is decided per message.

use std::fmt;

use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

use super::error::KmipError;

/// A KMIP protocol version as the Protocol Version structure carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolVersion {
    /// Versions of one major version are backward compatible.
    pub major: i32,
    /// The minor version.
    pub minor: i32,
}

impl ProtocolVersion {
    /// KMIP 1.0.
    pub const V1_0: Self = Self::new(1, 0);
    /// KMIP 1.1.
    pub const V1_1: Self = Self::new(1, 1);
    /// KMIP 1.2.
    pub const V1_2: Self = Self::new(1, 2);
    /// KMIP 1.3.
    pub const V1_3: Self = Self::new(1, 3);
    /// KMIP 1.4.
    pub const V1_4: Self = Self::new(1, 4);
    /// KMIP 2.0.
    pub const V2_0: Self = Self::new(2, 0);
    /// KMIP 2.1.
    pub const V2_1: Self = Self::new(2, 1);

    /// The versions the server speaks, in its order of preference (newest first), as Discover Versions lists them.
    pub const SUPPORTED: [Self; 7] = [
        Self::V2_1,
        Self::V2_0,
        Self::V1_4,
        Self::V1_3,
        Self::V1_2,
        Self::V1_1,
        Self::V1_0,
    ];

    /// The version the server answers in when the request's own version cannot be read.
    pub const HIGHEST: Self = Self::V2_1;

    /// Builds a version.
    pub const fn new(major: i32, minor: i32) -> Self {
        ProtocolVersion { major, minor }
    }

    /// KMIP 2.x changed the attribute model and several message fields; callers branch on this.
    pub fn is_2x(self) -> bool {
        self.major == 2
    }

    /// Whether the server speaks exactly this version.
    pub fn is_supported(self) -> bool {
        Self::SUPPORTED.contains(&self)
    }

    /// The version the server processes a request of version `self` in: the same version when supported, else the
    /// newest supported one of the same major version below it. The specification requires backward
    /// compatibility within a major version, and asks a server of an older minor version to ignore the fields it
    /// does not know. `None` when no supported version shares the major version (a major version mismatch).
    pub fn negotiate(self) -> Option<Self> {
        Self::SUPPORTED
            .iter()
            .copied()
            .find(|v| v.major == self.major && v.minor <= self.minor)
    }

    /// Reads a Protocol Version structure (or Protocol Version-shaped item) whatever its tag.
    pub fn from_ttlv(item: &Ttlv) -> Result<Self, KmipError> {
        if !matches!(item.value, Value::Structure(_)) {
            return Err(KmipError::invalid_message(
                "Protocol Version is not a structure",
            ));
        }
        let part = |tag, name| match item.child(tag).map(|c| &c.value) {
            Some(Value::Integer(n)) => Ok(*n),
            Some(_) => Err(KmipError::invalid_message(format!(
                "{name} is not an Integer"
            ))),
            None => Err(KmipError::invalid_message(format!(
                "Protocol Version lacks {name}"
            ))),
        };
        Ok(ProtocolVersion {
            major: part(tag::PROTOCOL_VERSION_MAJOR, "Protocol Version Major")?,
            minor: part(tag::PROTOCOL_VERSION_MINOR, "Protocol Version Minor")?,
        })
    }

    /// The Protocol Version structure.
    pub fn to_ttlv(self) -> Ttlv {
        Ttlv::structure(
            tag::PROTOCOL_VERSION,
            vec![
                Ttlv::new(tag::PROTOCOL_VERSION_MAJOR, Value::Integer(self.major)),
                Ttlv::new(tag::PROTOCOL_VERSION_MINOR, Value::Integer(self.minor)),
            ],
        )
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_versions_are_newest_first() {
        let mut sorted = ProtocolVersion::SUPPORTED;
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(sorted, ProtocolVersion::SUPPORTED);
        assert_eq!(ProtocolVersion::SUPPORTED[0], ProtocolVersion::HIGHEST);
    }

    #[test]
    fn negotiation_keeps_known_versions_and_steps_down_within_a_major() {
        for v in ProtocolVersion::SUPPORTED {
            assert_eq!(v.negotiate(), Some(v));
        }
        assert_eq!(
            ProtocolVersion::new(1, 7).negotiate(),
            Some(ProtocolVersion::V1_4)
        );
        assert_eq!(
            ProtocolVersion::new(2, 3).negotiate(),
            Some(ProtocolVersion::V2_1)
        );
        assert_eq!(ProtocolVersion::new(3, 0).negotiate(), None);
        assert_eq!(ProtocolVersion::new(0, 9).negotiate(), None);
        assert_eq!(ProtocolVersion::new(1, -1).negotiate(), None);
    }

    #[test]
    fn structure_round_trips_and_bad_shapes_are_invalid_messages() {
        let v = ProtocolVersion::V1_2;
        assert_eq!(ProtocolVersion::from_ttlv(&v.to_ttlv()).unwrap(), v);
        let no_minor = Ttlv::structure(
            tag::PROTOCOL_VERSION,
            vec![Ttlv::new(tag::PROTOCOL_VERSION_MAJOR, Value::Integer(1))],
        );
        let err = ProtocolVersion::from_ttlv(&no_minor).unwrap_err();
        assert_eq!(
            err.reason,
            super::super::error::ResultReason::InvalidMessage
        );
        let not_struct = Ttlv::new(tag::PROTOCOL_VERSION, Value::Integer(1));
        assert!(ProtocolVersion::from_ttlv(&not_struct).is_err());
    }

    #[test]
    fn is_2x_splits_the_generations() {
        assert!(ProtocolVersion::V2_0.is_2x());
        assert!(ProtocolVersion::V2_1.is_2x());
        assert!(!ProtocolVersion::V1_4.is_2x());
    }
}
