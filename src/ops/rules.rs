//! Which attributes a client may set, change or delete, and which may have several instances (KMIP 2.1
//! section 4, 1.4 section 3: each attribute's rules table), as the operations enforce them. Vendor and custom
//! attributes are the client's entirely.

use crate::kmip::state::State;
use crate::kmip::{KmipError, ResultReason};
use crate::spec::tag;

use super::attr_io::AttrName;

/// Attributes that may have more than one instance.
const MULTI_INSTANCE: &[u32] = &[
    tag::ALTERNATIVE_NAME,
    tag::APPLICATION_SPECIFIC_INFORMATION,
    tag::CRYPTOGRAPHIC_PARAMETERS,
    tag::DIGEST,
    tag::DIGITAL_SIGNATURE_ALGORITHM,
    tag::KEY_VALUE_LOCATION,
    tag::LINK,
    tag::NIST_KEY_TYPE,
    tag::NAME,
    tag::OBJECT_GROUP,
];

/// Attributes only the server sets: a client may not supply them at creation nor add or change them later.
const SERVER_ONLY: &[u32] = &[
    tag::ALWAYS_SENSITIVE,
    tag::ARCHIVE_DATE,
    tag::CERTIFICATE_IDENTIFIER,
    tag::CERTIFICATE_ISSUER,
    tag::CERTIFICATE_LENGTH,
    tag::CERTIFICATE_SUBJECT,
    tag::CERTIFICATE_TYPE,
    tag::COMPROMISE_DATE,
    tag::COMPROMISE_OCCURRENCE_DATE,
    tag::DESTROY_DATE,
    tag::DIGEST,
    tag::INITIAL_DATE,
    tag::KEY_FORMAT_TYPE,
    tag::KEY_VALUE_PRESENT,
    tag::LAST_CHANGE_DATE,
    tag::LEASE_TIME,
    tag::NEVER_EXTRACTABLE,
    tag::REVOCATION_REASON,
    tag::ROTATE_DATE,
    tag::ROTATE_GENERATION,
    tag::ROTATE_LATEST,
    tag::SHORT_UNIQUE_IDENTIFIER,
    tag::STATE,
    tag::UNIQUE_IDENTIFIER,
    tag::X_509_CERTIFICATE_IDENTIFIER,
    tag::X_509_CERTIFICATE_ISSUER,
    tag::X_509_CERTIFICATE_SUBJECT,
];

/// Attributes a client may give when an object is made but never change afterwards.
const FIXED_AFTER_CREATION: &[u32] = &[
    tag::CRYPTOGRAPHIC_ALGORITHM,
    tag::CRYPTOGRAPHIC_LENGTH,
    tag::CRYPTOGRAPHIC_USAGE_MASK,
    tag::CRYPTOGRAPHIC_DOMAIN_PARAMETERS,
    tag::FRESH,
    tag::OBJECT_TYPE,
    tag::OPERATION_POLICY_NAME,
    tag::ORIGINAL_CREATION_DATE,
    tag::RANDOM_NUMBER_GENERATOR,
    tag::ROTATE_AUTOMATIC,
    tag::ROTATE_INTERVAL,
    tag::ROTATE_OFFSET,
    tag::NIST_KEY_TYPE,
];

/// Attributes a client may change but not delete.
const NOT_DELETABLE: &[u32] = &[
    tag::ACTIVATION_DATE,
    tag::DEACTIVATION_DATE,
    tag::EXTRACTABLE,
    tag::SENSITIVE,
    tag::PROCESS_START_DATE,
    tag::PROTECT_STOP_DATE,
];

/// Whether an attribute may have several instances.
pub fn multi_instance(name: &AttrName) -> bool {
    match name {
        AttrName::Standard(t) => MULTI_INSTANCE.contains(t),
        AttrName::Vendor { .. } => true,
    }
}

fn read_only(name: &AttrName, what: &str) -> KmipError {
    KmipError::new(
        ResultReason::AttributeReadOnly,
        format!(
            "{} is set by the server only; a client may not {what} it",
            name.to_1x()
        ),
    )
}

/// Attributes that describe the object's content: the server derives them, but a client registering the object
/// may state them too (the 2.1 Baseline vectors register certificates with Certificate Type).
const DESCRIBES_CONTENT: &[u32] = &[
    tag::CERTIFICATE_IDENTIFIER,
    tag::CERTIFICATE_ISSUER,
    tag::CERTIFICATE_LENGTH,
    tag::CERTIFICATE_SUBJECT,
    tag::CERTIFICATE_TYPE,
    tag::KEY_FORMAT_TYPE,
    tag::X_509_CERTIFICATE_IDENTIFIER,
    tag::X_509_CERTIFICATE_ISSUER,
    tag::X_509_CERTIFICATE_SUBJECT,
];

/// May a client supply this attribute when an object is created or registered?
pub fn check_client_initial(name: &AttrName) -> Result<(), KmipError> {
    match name {
        AttrName::Standard(t) if SERVER_ONLY.contains(t) && !DESCRIBES_CONTENT.contains(t) => {
            Err(read_only(name, "supply"))
        }
        _ => Ok(()),
    }
}

/// May a client add or change this attribute of an object now in `state`?
pub fn check_client_modify(name: &AttrName, state: State) -> Result<(), KmipError> {
    let AttrName::Standard(t) = name else {
        return Ok(());
    };
    if SERVER_ONLY.contains(t) || FIXED_AFTER_CREATION.contains(t) {
        return Err(read_only(name, "change"));
    }
    // Activation Date, Process Start Date and Protect Stop Date only while Pre-Active; Deactivation Date
    // while Pre-Active or Active (1.4 section 3.24-3.27).
    let allowed = match *t {
        tag::ACTIVATION_DATE | tag::PROCESS_START_DATE | tag::PROTECT_STOP_DATE => {
            state == State::PreActive
        }
        tag::DEACTIVATION_DATE => matches!(state, State::PreActive | State::Active),
        _ => true,
    };
    if allowed {
        Ok(())
    } else {
        Err(KmipError::new(
            ResultReason::WrongKeyLifecycleState,
            format!("{} cannot change in state {state}", name.to_1x()),
        ))
    }
}

/// May a client delete this attribute?
pub fn check_client_delete(name: &AttrName) -> Result<(), KmipError> {
    let AttrName::Standard(t) = name else {
        return Ok(());
    };
    if SERVER_ONLY.contains(t) || FIXED_AFTER_CREATION.contains(t) || NOT_DELETABLE.contains(t) {
        return Err(read_only(name, "delete"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_the_attribute_tables() {
        let state = AttrName::Standard(tag::STATE);
        let name = AttrName::Standard(tag::NAME);
        let activation = AttrName::Standard(tag::ACTIVATION_DATE);
        let custom = AttrName::from_1x("x-Foo").unwrap();
        assert!(multi_instance(&name) && multi_instance(&custom));
        assert!(!multi_instance(&state));
        assert!(check_client_initial(&state).is_err());
        assert!(check_client_initial(&activation).is_ok());
        assert!(check_client_modify(&activation, State::PreActive).is_ok());
        assert_eq!(
            check_client_modify(&activation, State::Active)
                .unwrap_err()
                .reason,
            ResultReason::WrongKeyLifecycleState
        );
        assert!(check_client_delete(&activation).is_err());
        assert!(check_client_delete(&name).is_ok());
        assert!(check_client_delete(&custom).is_ok());
        assert!(
            check_client_modify(
                &AttrName::Standard(tag::CRYPTOGRAPHIC_LENGTH),
                State::PreActive
            )
            .is_err()
        );
    }
}
