//! What one batch item leaves for the next: the ID Placeholder (1.4 section 3.1 / 2.1 section 6.1) and the
//! identifiers earlier items returned, which 2.x clients may also name by a Unique Identifier enumeration value
//! ("the object Create returned") or an Integer (the nth identifier of the response). Both live only as long as
//! the batch.

use crate::kmip::KmipError;
use crate::kmip::operations::ObjectRef;
use crate::spec::enums::unique_identifier as ue;
use crate::ttlv::Ttlv;

/// The identifiers a batch has produced so far.
#[derive(Clone, Debug, Default)]
pub struct BatchIds {
    /// The ID Placeholder: the Unique Identifier an item uses when it names none.
    pub placeholder: Option<String>,
    /// Every Unique Identifier returned so far, in response order, with the Unique Identifier enumeration value
    /// of the operation that returned it.
    returned: Vec<(u32, String)>,
}

impl BatchIds {
    /// Records an identifier an item returned and makes it the ID Placeholder. `producer` is the Unique
    /// Identifier enumeration value naming what returned it (`ue::CREATE`, `ue::REGISTER`, ...).
    pub fn produced(&mut self, producer: u32, uid: &str) {
        self.returned.push((producer, uid.to_string()));
        self.placeholder = Some(uid.to_string());
    }

    /// Records identifiers a Locate returned: the ID Placeholder holds one only when exactly one was found
    /// (2.1 section 6.1.27), and is emptied otherwise.
    pub fn located(&mut self, uids: &[String]) {
        for uid in uids {
            self.returned.push((ue::LOCATE, uid.clone()));
        }
        self.placeholder = match uids {
            [one] => Some(one.clone()),
            _ => None,
        };
    }

    /// The object an item names: its Unique Identifier field when present (Text String; in 2.x also an
    /// Enumeration or an Integer referring to earlier results), else the ID Placeholder.
    pub fn resolve(&self, field: Option<&Ttlv>) -> Result<String, KmipError> {
        let named = field.map(ObjectRef::from_ttlv).transpose()?;
        self.resolve_ref(named.as_ref())
    }

    /// The object a typed request names ([`ObjectRef`]), else the ID Placeholder.
    pub fn resolve_ref(&self, named: Option<&ObjectRef>) -> Result<String, KmipError> {
        let Some(named) = named else {
            return self.placeholder.clone().ok_or_else(|| {
                KmipError::missing_data(
                    "no Unique Identifier was given and the ID Placeholder is empty",
                )
            });
        };
        match named {
            ObjectRef::Uid(uid) => Ok(uid.clone()),
            ObjectRef::Producer(ue::ID_PLACEHOLDER) => self.resolve_ref(None),
            ObjectRef::Producer(producer) => self
                .returned
                .iter()
                .rev()
                .find(|(p, _)| p == producer)
                .map(|(_, uid)| uid.clone())
                .ok_or_else(|| {
                    KmipError::item_not_found(format!(
                        "no earlier batch item returned a Unique Identifier of kind {producer}"
                    ))
                }),
            ObjectRef::Position(n) => {
                let position = if *n >= 0 {
                    usize::try_from(*n).ok()
                } else {
                    usize::try_from(n.unsigned_abs())
                        .ok()
                        .and_then(|back| self.returned.len().checked_sub(back))
                };
                position
                    .and_then(|i| self.returned.get(i))
                    .map(|(_, uid)| uid.clone())
                    .ok_or_else(|| {
                        KmipError::item_not_found(format!(
                            "Unique Identifier {n} does not refer to an identifier returned in this batch"
                        ))
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::ResultReason;
    use crate::spec::tag;
    use crate::ttlv::Value;

    fn field(value: Value) -> Ttlv {
        Ttlv::new(tag::UNIQUE_IDENTIFIER, value)
    }

    #[test]
    fn placeholder_follows_the_last_producer() {
        let mut ids = BatchIds::default();
        assert_eq!(
            ids.resolve(None).unwrap_err().reason,
            ResultReason::MissingData
        );
        ids.produced(ue::CREATE, "a");
        ids.produced(ue::REGISTER, "b");
        assert_eq!(ids.resolve(None).unwrap(), "b");
        let by_enum = |v| ids.resolve(Some(&field(Value::Enumeration(v))));
        assert_eq!(by_enum(ue::ID_PLACEHOLDER).unwrap(), "b");
        assert_eq!(by_enum(ue::CREATE).unwrap(), "a");
        assert_eq!(
            by_enum(ue::RE_KEY).unwrap_err().reason,
            ResultReason::ItemNotFound
        );
        let by_int = |n| ids.resolve(Some(&field(Value::Integer(n))));
        assert_eq!(by_int(0).unwrap(), "a");
        assert_eq!(by_int(1).unwrap(), "b");
        assert_eq!(by_int(-1).unwrap(), "b");
        assert_eq!(by_int(-2).unwrap(), "a");
        assert!(by_int(2).is_err());
        assert!(by_int(-3).is_err());
        assert!(by_int(i32::MIN).is_err());
        assert_eq!(
            ids.resolve(Some(&field(Value::TextString("x".into()))))
                .unwrap(),
            "x"
        );
        assert_eq!(
            ids.resolve(Some(&field(Value::Boolean(true))))
                .unwrap_err()
                .reason,
            ResultReason::InvalidMessage
        );
    }

    #[test]
    fn locate_sets_the_placeholder_only_for_one_result() {
        let mut ids = BatchIds::default();
        ids.produced(ue::CREATE, "a");
        ids.located(&["x".to_string(), "y".to_string()]);
        assert!(ids.resolve(None).is_err());
        ids.located(&["z".to_string()]);
        assert_eq!(ids.resolve(None).unwrap(), "z");
    }
}
