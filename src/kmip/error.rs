//! Failures as the protocol reports them: a Result Reason and a message. Operations speak the 2.1 vocabulary of
//! reasons; [`ResultReason::code_in`] is the one place that decides what an older version receives instead.

use std::fmt;

use super::version::ProtocolVersion;

/// Result Reason, every value of KMIP 2.1 (specification 2.1 section 11.46) with its number.
///
/// KMIP 1.0 has the values 0x01-0x11 and General Failure (0x0B and 0x0E meant Illegal Operation and Index Out
/// of Bounds there; 2.x reserves them); 1.1 adds 0x12; 1.2 adds 0x13-0x15; 1.4 adds 0x16-0x18; 2.0 adds
/// 0x19-0x49; 2.1 adds 0x4A-0x4C. [`ResultReason::introduced_in`] says which, per value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ResultReason {
    ItemNotFound = 0x01,
    ResponseTooLarge = 0x02,
    AuthenticationNotSuccessful = 0x03,
    InvalidMessage = 0x04,
    OperationNotSupported = 0x05,
    MissingData = 0x06,
    InvalidField = 0x07,
    FeatureNotSupported = 0x08,
    OperationCanceledByRequester = 0x09,
    CryptographicFailure = 0x0A,
    PermissionDenied = 0x0C,
    ObjectArchived = 0x0D,
    ApplicationNamespaceNotSupported = 0x0F,
    KeyFormatTypeNotSupported = 0x10,
    KeyCompressionTypeNotSupported = 0x11,
    EncodingOptionError = 0x12,
    KeyValueNotPresent = 0x13,
    AttestationRequired = 0x14,
    AttestationFailed = 0x15,
    Sensitive = 0x16,
    NotExtractable = 0x17,
    ObjectAlreadyExists = 0x18,
    InvalidTicket = 0x19,
    UsageLimitExceeded = 0x1A,
    NumericRange = 0x1B,
    InvalidDataType = 0x1C,
    ReadOnlyAttribute = 0x1D,
    MultiValuedAttribute = 0x1E,
    UnsupportedAttribute = 0x1F,
    AttributeInstanceNotFound = 0x20,
    AttributeNotFound = 0x21,
    AttributeReadOnly = 0x22,
    AttributeSingleValued = 0x23,
    BadCryptographicParameters = 0x24,
    BadPassword = 0x25,
    CodecError = 0x26,
    IllegalObjectType = 0x28,
    IncompatibleCryptographicUsageMask = 0x29,
    InternalServerError = 0x2A,
    InvalidAsynchronousCorrelationValue = 0x2B,
    InvalidAttribute = 0x2C,
    InvalidAttributeValue = 0x2D,
    InvalidCorrelationValue = 0x2E,
    InvalidCsr = 0x2F,
    InvalidObjectType = 0x30,
    KeyWrapTypeNotSupported = 0x32,
    MissingInitializationVector = 0x34,
    NonUniqueNameAttribute = 0x35,
    ObjectDestroyed = 0x36,
    ObjectNotFound = 0x37,
    NotAuthorised = 0x39,
    ServerLimitExceeded = 0x3A,
    UnknownEnumeration = 0x3B,
    UnknownMessageExtension = 0x3C,
    UnknownTag = 0x3D,
    UnsupportedCryptographicParameters = 0x3E,
    UnsupportedProtocolVersion = 0x3F,
    WrappingObjectArchived = 0x40,
    WrappingObjectDestroyed = 0x41,
    WrappingObjectNotFound = 0x42,
    WrongKeyLifecycleState = 0x43,
    ProtectionStorageUnavailable = 0x44,
    Pkcs11CodecError = 0x45,
    Pkcs11InvalidFunction = 0x46,
    Pkcs11InvalidInterface = 0x47,
    PrivateProtectionStorageUnavailable = 0x48,
    PublicProtectionStorageUnavailable = 0x49,
    UnknownObjectGroup = 0x4A,
    ConstraintViolation = 0x4B,
    DuplicateProcessRequest = 0x4C,
    GeneralFailure = 0x100,
}

/// The KMIP 1.x value "Illegal Operation", reserved in 2.x; only [`ResultReason::code_in`] produces it.
pub const ILLEGAL_OPERATION_1X: u32 = 0x0B;

impl ResultReason {
    /// Every value, in numeric order.
    pub const ALL: [ResultReason; 71] = {
        use ResultReason::*;
        [
            ItemNotFound,
            ResponseTooLarge,
            AuthenticationNotSuccessful,
            InvalidMessage,
            OperationNotSupported,
            MissingData,
            InvalidField,
            FeatureNotSupported,
            OperationCanceledByRequester,
            CryptographicFailure,
            PermissionDenied,
            ObjectArchived,
            ApplicationNamespaceNotSupported,
            KeyFormatTypeNotSupported,
            KeyCompressionTypeNotSupported,
            EncodingOptionError,
            KeyValueNotPresent,
            AttestationRequired,
            AttestationFailed,
            Sensitive,
            NotExtractable,
            ObjectAlreadyExists,
            InvalidTicket,
            UsageLimitExceeded,
            NumericRange,
            InvalidDataType,
            ReadOnlyAttribute,
            MultiValuedAttribute,
            UnsupportedAttribute,
            AttributeInstanceNotFound,
            AttributeNotFound,
            AttributeReadOnly,
            AttributeSingleValued,
            BadCryptographicParameters,
            BadPassword,
            CodecError,
            IllegalObjectType,
            IncompatibleCryptographicUsageMask,
            InternalServerError,
            InvalidAsynchronousCorrelationValue,
            InvalidAttribute,
            InvalidAttributeValue,
            InvalidCorrelationValue,
            InvalidCsr,
            InvalidObjectType,
            KeyWrapTypeNotSupported,
            MissingInitializationVector,
            NonUniqueNameAttribute,
            ObjectDestroyed,
            ObjectNotFound,
            NotAuthorised,
            ServerLimitExceeded,
            UnknownEnumeration,
            UnknownMessageExtension,
            UnknownTag,
            UnsupportedCryptographicParameters,
            UnsupportedProtocolVersion,
            WrappingObjectArchived,
            WrappingObjectDestroyed,
            WrappingObjectNotFound,
            WrongKeyLifecycleState,
            ProtectionStorageUnavailable,
            Pkcs11CodecError,
            Pkcs11InvalidFunction,
            Pkcs11InvalidInterface,
            PrivateProtectionStorageUnavailable,
            PublicProtectionStorageUnavailable,
            UnknownObjectGroup,
            ConstraintViolation,
            DuplicateProcessRequest,
            GeneralFailure,
        ]
    };

    /// The enumeration value as KMIP 2.1 numbers it.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The value with this number, if KMIP 2.1 defines one.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The first protocol version that defines this value.
    pub fn introduced_in(self) -> ProtocolVersion {
        match self.code() {
            0x01..=0x11 | 0x100 => ProtocolVersion::V1_0,
            0x12 => ProtocolVersion::V1_1,
            0x13..=0x15 => ProtocolVersion::V1_2,
            0x16..=0x18 => ProtocolVersion::V1_4,
            0x19..=0x49 => ProtocolVersion::V2_0,
            _ => ProtocolVersion::V2_1,
        }
    }

    /// The value a response of `version` carries for this reason. The one function that decides: a reason the
    /// version defines is sent as is; one it lacks becomes the reason that version's error tables give for the same
    /// situation (1.4 section 11), and General Failure where they give none.
    pub fn code_in(self, version: ProtocolVersion) -> u32 {
        use ResultReason::*;
        if self.introduced_in() <= version {
            return self.code();
        }
        let older = match self {
            // 2.1 additions, for 2.0 and older.
            UnknownObjectGroup => ItemNotFound,
            ConstraintViolation | DuplicateProcessRequest => InvalidField,
            // 2.0 additions, for 1.x: the 1.x tables name these situations with the older values.
            CodecError | Pkcs11CodecError => InvalidMessage,
            // 1.x General Errors: a critical extension the server does not understand is Feature Not Supported.
            UnknownMessageExtension
            | UnsupportedCryptographicParameters
            | KeyWrapTypeNotSupported
            | ProtectionStorageUnavailable
            | PrivateProtectionStorageUnavailable
            | PublicProtectionStorageUnavailable
            | Pkcs11InvalidFunction
            | Pkcs11InvalidInterface => FeatureNotSupported,
            UnsupportedProtocolVersion => OperationNotSupported,
            AttributeInstanceNotFound
            | AttributeNotFound
            | ObjectNotFound
            | WrappingObjectNotFound
            | InvalidAsynchronousCorrelationValue => ItemNotFound,
            ReadOnlyAttribute
            | AttributeReadOnly
            | UnsupportedAttribute
            | InvalidAttribute
            | WrongKeyLifecycleState
            | ObjectDestroyed
            | WrappingObjectDestroyed
            | InvalidObjectType
            | IncompatibleCryptographicUsageMask
            | NotAuthorised
            | UsageLimitExceeded => PermissionDenied,
            InvalidTicket => AuthenticationNotSuccessful,
            MissingInitializationVector => MissingData,
            WrappingObjectArchived => ObjectArchived,
            // "Check cannot be performed on this object" is Illegal Operation in 1.x.
            IllegalObjectType => return ILLEGAL_OPERATION_1X,
            NumericRange
            | InvalidDataType
            | MultiValuedAttribute
            | AttributeSingleValued
            | BadCryptographicParameters
            | BadPassword
            | InvalidAttributeValue
            | InvalidCorrelationValue
            | InvalidCsr
            | NonUniqueNameAttribute
            | UnknownEnumeration
            | UnknownTag => InvalidField,
            // 1.4 additions, for 1.0-1.3.
            Sensitive | NotExtractable => PermissionDenied,
            ObjectAlreadyExists => InvalidField,
            // 1.2 additions, for 1.0 and 1.1: 1.x answers missing attestation with Permission Denied.
            AttestationRequired | AttestationFailed => PermissionDenied,
            // 1.1 addition, for 1.0.
            EncodingOptionError => InvalidField,
            _ => GeneralFailure,
        };
        // Each replacement is older than what it replaces, so this ends.
        older.code_in(version)
    }

    /// The name the specification gives the value.
    pub fn name(self) -> &'static str {
        use ResultReason::*;
        match self {
            ItemNotFound => "Item Not Found",
            ResponseTooLarge => "Response Too Large",
            AuthenticationNotSuccessful => "Authentication Not Successful",
            InvalidMessage => "Invalid Message",
            OperationNotSupported => "Operation Not Supported",
            MissingData => "Missing Data",
            InvalidField => "Invalid Field",
            FeatureNotSupported => "Feature Not Supported",
            OperationCanceledByRequester => "Operation Canceled By Requester",
            CryptographicFailure => "Cryptographic Failure",
            PermissionDenied => "Permission Denied",
            ObjectArchived => "Object Archived",
            ApplicationNamespaceNotSupported => "Application Namespace Not Supported",
            KeyFormatTypeNotSupported => "Key Format Type Not Supported",
            KeyCompressionTypeNotSupported => "Key Compression Type Not Supported",
            EncodingOptionError => "Encoding Option Error",
            KeyValueNotPresent => "Key Value Not Present",
            AttestationRequired => "Attestation Required",
            AttestationFailed => "Attestation Failed",
            Sensitive => "Sensitive",
            NotExtractable => "Not Extractable",
            ObjectAlreadyExists => "Object Already Exists",
            InvalidTicket => "Invalid Ticket",
            UsageLimitExceeded => "Usage Limit Exceeded",
            NumericRange => "Numeric Range",
            InvalidDataType => "Invalid Data Type",
            ReadOnlyAttribute => "Read Only Attribute",
            MultiValuedAttribute => "Multi Valued Attribute",
            UnsupportedAttribute => "Unsupported Attribute",
            AttributeInstanceNotFound => "Attribute Instance Not Found",
            AttributeNotFound => "Attribute Not Found",
            AttributeReadOnly => "Attribute Read Only",
            AttributeSingleValued => "Attribute Single Valued",
            BadCryptographicParameters => "Bad Cryptographic Parameters",
            BadPassword => "Bad Password",
            CodecError => "Codec Error",
            IllegalObjectType => "Illegal Object Type",
            IncompatibleCryptographicUsageMask => "Incompatible Cryptographic Usage Mask",
            InternalServerError => "Internal Server Error",
            InvalidAsynchronousCorrelationValue => "Invalid Asynchronous Correlation Value",
            InvalidAttribute => "Invalid Attribute",
            InvalidAttributeValue => "Invalid Attribute Value",
            InvalidCorrelationValue => "Invalid Correlation Value",
            InvalidCsr => "Invalid CSR",
            InvalidObjectType => "Invalid Object Type",
            KeyWrapTypeNotSupported => "Key Wrap Type Not Supported",
            MissingInitializationVector => "Missing Initialization Vector",
            NonUniqueNameAttribute => "Non Unique Name Attribute",
            ObjectDestroyed => "Object Destroyed",
            ObjectNotFound => "Object Not Found",
            NotAuthorised => "Not Authorised",
            ServerLimitExceeded => "Server Limit Exceeded",
            UnknownEnumeration => "Unknown Enumeration",
            UnknownMessageExtension => "Unknown Message Extension",
            UnknownTag => "Unknown Tag",
            UnsupportedCryptographicParameters => "Unsupported Cryptographic Parameters",
            UnsupportedProtocolVersion => "Unsupported Protocol Version",
            WrappingObjectArchived => "Wrapping Object Archived",
            WrappingObjectDestroyed => "Wrapping Object Destroyed",
            WrappingObjectNotFound => "Wrapping Object Not Found",
            WrongKeyLifecycleState => "Wrong Key Lifecycle State",
            ProtectionStorageUnavailable => "Protection Storage Unavailable",
            Pkcs11CodecError => "PKCS#11 Codec Error",
            Pkcs11InvalidFunction => "PKCS#11 Invalid Function",
            Pkcs11InvalidInterface => "PKCS#11 Invalid Interface",
            PrivateProtectionStorageUnavailable => "Private Protection Storage Unavailable",
            PublicProtectionStorageUnavailable => "Public Protection Storage Unavailable",
            UnknownObjectGroup => "Unknown Object Group",
            ConstraintViolation => "Constraint Violation",
            DuplicateProcessRequest => "Duplicate Process Request",
            GeneralFailure => "General Failure",
        }
    }
}

impl fmt::Display for ResultReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed request or batch item, as the response will report it: Result Status Operation Failed, this Result
/// Reason, and the message as Result Message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct KmipError {
    /// The Result Reason, in the 2.1 vocabulary.
    pub reason: ResultReason,
    /// The Result Message.
    pub message: String,
}

impl KmipError {
    /// A failure with any reason.
    pub fn new(reason: ResultReason, message: impl Into<String>) -> Self {
        KmipError {
            reason,
            message: message.into(),
        }
    }

    /// The request was not syntactically understood: missing or repeated fields, wrong item types, wrong tags.
    pub fn invalid_message(message: impl Into<String>) -> Self {
        Self::new(ResultReason::InvalidMessage, message)
    }

    /// The request was understood but a field (other than an attribute value) has an invalid value.
    pub fn invalid_field(message: impl Into<String>) -> Self {
        Self::new(ResultReason::InvalidField, message)
    }

    /// The server does not implement the requested operation.
    pub fn operation_not_supported(message: impl Into<String>) -> Self {
        Self::new(ResultReason::OperationNotSupported, message)
    }

    /// The operation is implemented, but not a feature the request asks for.
    pub fn feature_not_supported(message: impl Into<String>) -> Self {
        Self::new(ResultReason::FeatureNotSupported, message)
    }

    /// The response would exceed the request's Maximum Response Size.
    pub fn response_too_large(message: impl Into<String>) -> Self {
        Self::new(ResultReason::ResponseTooLarge, message)
    }

    /// The bytes were not well-formed TTLV.
    pub fn codec_error(message: impl Into<String>) -> Self {
        Self::new(ResultReason::CodecError, message)
    }

    /// A batch item carries a critical Message Extension the server does not understand.
    pub fn unknown_message_extension(message: impl Into<String>) -> Self {
        Self::new(ResultReason::UnknownMessageExtension, message)
    }

    /// The request needs data it did not carry.
    pub fn missing_data(message: impl Into<String>) -> Self {
        Self::new(ResultReason::MissingData, message)
    }

    /// The caller may not do this.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(ResultReason::PermissionDenied, message)
    }

    /// No object with the given identifier exists.
    pub fn item_not_found(message: impl Into<String>) -> Self {
        Self::new(ResultReason::ItemNotFound, message)
    }

    /// A failure no other reason describes.
    pub fn general_failure(message: impl Into<String>) -> Self {
        Self::new(ResultReason::GeneralFailure, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for r in ResultReason::ALL {
            assert_eq!(ResultReason::from_code(r.code()), Some(r));
        }
        let mut codes: Vec<u32> = ResultReason::ALL.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ResultReason::ALL.len());
        for reserved in [0x0B, 0x0E, 0x27, 0x31, 0x33, 0x38, 0x4D, 0xFF] {
            assert_eq!(ResultReason::from_code(reserved), None);
        }
    }

    #[test]
    fn every_version_receives_only_values_it_defines() {
        let v1_0: Vec<u32> = (0x01..=0x11).chain([0x100]).collect();
        for version in ProtocolVersion::SUPPORTED {
            for r in ResultReason::ALL {
                let code = r.code_in(version);
                if version == ProtocolVersion::V1_0 {
                    assert!(v1_0.contains(&code), "{r} -> {code:#x} in 1.0");
                }
                match ResultReason::from_code(code) {
                    Some(sent) => assert!(
                        sent.introduced_in() <= version,
                        "{r} -> {sent} in {version}"
                    ),
                    None => assert!(code == ILLEGAL_OPERATION_1X && !version.is_2x()),
                }
            }
        }
    }

    #[test]
    fn version_mapping_follows_the_1x_error_tables() {
        use ResultReason::*;
        assert_eq!(
            CodecError.code_in(ProtocolVersion::V1_4),
            InvalidMessage.code()
        );
        assert_eq!(CodecError.code_in(ProtocolVersion::V2_0), CodecError.code());
        assert_eq!(
            UnknownMessageExtension.code_in(ProtocolVersion::V1_2),
            FeatureNotSupported.code()
        );
        assert_eq!(
            WrongKeyLifecycleState.code_in(ProtocolVersion::V1_0),
            PermissionDenied.code()
        );
        assert_eq!(
            ObjectAlreadyExists.code_in(ProtocolVersion::V1_4),
            ObjectAlreadyExists.code()
        );
        assert_eq!(
            ObjectAlreadyExists.code_in(ProtocolVersion::V1_3),
            InvalidField.code()
        );
        assert_eq!(EncodingOptionError.code_in(ProtocolVersion::V1_1), 0x12);
        assert_eq!(
            EncodingOptionError.code_in(ProtocolVersion::V1_0),
            InvalidField.code()
        );
        assert_eq!(
            UnknownObjectGroup.code_in(ProtocolVersion::V2_0),
            ItemNotFound.code()
        );
        assert_eq!(
            IllegalObjectType.code_in(ProtocolVersion::V1_4),
            ILLEGAL_OPERATION_1X
        );
        assert_eq!(
            InternalServerError.code_in(ProtocolVersion::V1_4),
            GeneralFailure.code()
        );
    }

    #[test]
    fn error_displays_reason_and_message() {
        let e = KmipError::invalid_field("Query Function 99 is unknown");
        assert_eq!(e.to_string(), "Invalid Field: Query Function 99 is unknown");
    }
}
