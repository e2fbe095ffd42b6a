//! The enumerations the message layer and the first operations need, with the values of the specification (2.1
//! section 11; 1.4 section 9.1.3.2). Enumerations a peer sends and the server must echo or judge (Operation, Query
//! Function, ...) are open: a newtype over the wire value, with a constant per known value, so an unknown value
//! is carried rather than lost. Enumerations only the server writes, or whose unknown values are an error at once,
//! are closed Rust enums.

use std::fmt;

use super::error::KmipError;

/// Declares an open enumeration: `pub struct Name(pub u32)` with a constant and a name per known value.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($konst:ident = $value:expr, $text:literal;)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);

        impl $name {
            $(
                #[doc = $text]
                pub const $konst: Self = Self($value);
            )*

            /// Every value the specification defines, in numeric order.
            pub const KNOWN: &'static [Self] = &[$(Self::$konst),*];

            /// The specification's name of the value, if it is a known one.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $(Self::$konst => Some($text),)*
                    _ => None,
                }
            }

            /// Whether the specification defines this value (extensions, 0x8XXXXXXX, are not known).
            pub fn is_known(self) -> bool {
                self.name().is_some()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}({n})", stringify!($name)),
                    None => write!(f, "{}({:#010x})", stringify!($name), self.0),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{:#010x}", self.0),
                }
            }
        }
    };
}

open_enum! {
    /// Operation (2.1 section 11.36).
    Operation {
        CREATE = 0x01, "Create";
        CREATE_KEY_PAIR = 0x02, "Create Key Pair";
        REGISTER = 0x03, "Register";
        REKEY = 0x04, "Re-key";
        DERIVE_KEY = 0x05, "Derive Key";
        CERTIFY = 0x06, "Certify";
        RECERTIFY = 0x07, "Re-certify";
        LOCATE = 0x08, "Locate";
        CHECK = 0x09, "Check";
        GET = 0x0A, "Get";
        GET_ATTRIBUTES = 0x0B, "Get Attributes";
        GET_ATTRIBUTE_LIST = 0x0C, "Get Attribute List";
        ADD_ATTRIBUTE = 0x0D, "Add Attribute";
        MODIFY_ATTRIBUTE = 0x0E, "Modify Attribute";
        DELETE_ATTRIBUTE = 0x0F, "Delete Attribute";
        OBTAIN_LEASE = 0x10, "Obtain Lease";
        GET_USAGE_ALLOCATION = 0x11, "Get Usage Allocation";
        ACTIVATE = 0x12, "Activate";
        REVOKE = 0x13, "Revoke";
        DESTROY = 0x14, "Destroy";
        ARCHIVE = 0x15, "Archive";
        RECOVER = 0x16, "Recover";
        VALIDATE = 0x17, "Validate";
        QUERY = 0x18, "Query";
        CANCEL = 0x19, "Cancel";
        POLL = 0x1A, "Poll";
        NOTIFY = 0x1B, "Notify";
        PUT = 0x1C, "Put";
        REKEY_KEY_PAIR = 0x1D, "Re-key Key Pair";
        DISCOVER_VERSIONS = 0x1E, "Discover Versions";
        ENCRYPT = 0x1F, "Encrypt";
        DECRYPT = 0x20, "Decrypt";
        SIGN = 0x21, "Sign";
        SIGNATURE_VERIFY = 0x22, "Signature Verify";
        MAC = 0x23, "MAC";
        MAC_VERIFY = 0x24, "MAC Verify";
        RNG_RETRIEVE = 0x25, "RNG Retrieve";
        RNG_SEED = 0x26, "RNG Seed";
        HASH = 0x27, "Hash";
        CREATE_SPLIT_KEY = 0x28, "Create Split Key";
        JOIN_SPLIT_KEY = 0x29, "Join Split Key";
        IMPORT = 0x2A, "Import";
        EXPORT = 0x2B, "Export";
        LOG = 0x2C, "Log";
        LOGIN = 0x2D, "Login";
        LOGOUT = 0x2E, "Logout";
        DELEGATED_LOGIN = 0x2F, "Delegated Login";
        ADJUST_ATTRIBUTE = 0x30, "Adjust Attribute";
        SET_ATTRIBUTE = 0x31, "Set Attribute";
        SET_ENDPOINT_ROLE = 0x32, "Set Endpoint Role";
        PKCS_11 = 0x33, "PKCS#11";
        INTEROP = 0x34, "Interop";
        REPROVISION = 0x35, "Re-Provision";
        SET_DEFAULTS = 0x36, "Set Defaults";
        SET_CONSTRAINTS = 0x37, "Set Constraints";
        GET_CONSTRAINTS = 0x38, "Get Constraints";
        QUERY_ASYNCHRONOUS_REQUESTS = 0x39, "Query Asynchronous Requests";
        PROCESS = 0x3A, "Process";
        PING = 0x3B, "Ping";
    }
}

open_enum! {
    /// Query Function (2.1 section 11.44). 1.0 defines 0x01-0x04, 1.1 adds 0x05-0x06, 1.2 adds 0x07, 1.3 adds
    /// 0x08-0x0C, 2.0 adds 0x0D-0x0E.
    QueryFunction {
        QUERY_OPERATIONS = 0x01, "Query Operations";
        QUERY_OBJECTS = 0x02, "Query Objects";
        QUERY_SERVER_INFORMATION = 0x03, "Query Server Information";
        QUERY_APPLICATION_NAMESPACES = 0x04, "Query Application Namespaces";
        QUERY_EXTENSION_LIST = 0x05, "Query Extension List";
        QUERY_EXTENSION_MAP = 0x06, "Query Extension Map";
        QUERY_ATTESTATION_TYPES = 0x07, "Query Attestation Types";
        QUERY_RNGS = 0x08, "Query RNGs";
        QUERY_VALIDATIONS = 0x09, "Query Validations";
        QUERY_PROFILES = 0x0A, "Query Profiles";
        QUERY_CAPABILITIES = 0x0B, "Query Capabilities";
        QUERY_CLIENT_REGISTRATION_METHODS = 0x0C, "Query Client Registration Methods";
        QUERY_DEFAULTS_INFORMATION = 0x0D, "Query Defaults Information";
        QUERY_STORAGE_PROTECTION_MASKS = 0x0E, "Query Storage Protection Masks";
    }
}

open_enum! {
    /// Object Type (2.1 section 11.34; 1.x also has Template 0x06, reserved in 2.x).
    ObjectType {
        CERTIFICATE = 0x01, "Certificate";
        SYMMETRIC_KEY = 0x02, "Symmetric Key";
        PUBLIC_KEY = 0x03, "Public Key";
        PRIVATE_KEY = 0x04, "Private Key";
        SPLIT_KEY = 0x05, "Split Key";
        TEMPLATE = 0x06, "Template";
        SECRET_DATA = 0x07, "Secret Data";
        OPAQUE_OBJECT = 0x08, "Opaque Object";
        PGP_KEY = 0x09, "PGP Key";
        CERTIFICATE_REQUEST = 0x0A, "Certificate Request";
    }
}

open_enum! {
    /// Credential Type (2.1 section 11.11).
    CredentialType {
        USERNAME_AND_PASSWORD = 0x01, "Username and Password";
        DEVICE = 0x02, "Device";
        ATTESTATION = 0x03, "Attestation";
        ONE_TIME_PASSWORD = 0x04, "One Time Password";
        HASHED_PASSWORD = 0x05, "Hashed Password";
        TICKET = 0x06, "Ticket";
    }
}

open_enum! {
    /// Attestation Type (2.1 section 11.4).
    AttestationType {
        TPM_QUOTE = 0x01, "TPM Quote";
        TCG_INTEGRITY_REPORT = 0x02, "TCG Integrity Report";
        SAML_ASSERTION = 0x03, "SAML Assertion";
    }
}

open_enum! {
    /// RNG Algorithm (2.1 section 11.49).
    RngAlgorithm {
        UNSPECIFIED = 0x01, "Unspecified";
        FIPS_186_2 = 0x02, "FIPS 186-2";
        DRBG = 0x03, "DRBG";
        NRBG = 0x04, "NRBG";
        ANSI_X9_31 = 0x05, "ANSI X9.31";
        ANSI_X9_62 = 0x06, "ANSI X9.62";
    }
}

/// Result Status (2.1 section 11.47): only the server writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ResultStatus {
    /// The operation completed.
    Success = 0x00,
    /// The operation failed; a Result Reason says why.
    OperationFailed = 0x01,
    /// The operation runs asynchronously; poll for its result.
    OperationPending = 0x02,
    /// The operation was done and then undone because a later item of an Undo batch failed.
    OperationUndone = 0x03,
}

impl ResultStatus {
    /// The wire value.
    pub fn code(self) -> u32 {
        self as u32
    }
}

/// Batch Error Continuation Option (2.1 section 11.5): what happens to the rest of a batch after an item fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u32)]
pub enum BatchErrorContinuationOption {
    /// Run the remaining items.
    Continue = 0x01,
    /// Run no further item; completed ones stand. The default.
    #[default]
    Stop = 0x02,
    /// Undo the completed items.
    Undo = 0x03,
}

impl BatchErrorContinuationOption {
    /// Reads the wire value; any other value is an Invalid Field.
    pub fn from_code(code: u32) -> Result<Self, KmipError> {
        match code {
            0x01 => Ok(Self::Continue),
            0x02 => Ok(Self::Stop),
            0x03 => Ok(Self::Undo),
            other => Err(KmipError::invalid_field(format!(
                "Batch Error Continuation Option {other:#x} is not defined"
            ))),
        }
    }

    /// The wire value.
    pub fn code(self) -> u32 {
        self as u32
    }
}

/// Asynchronous Indicator. KMIP 2.x sends an enumeration (2.1 section 11.3); 1.x a Boolean, where True means
/// the client accepts asynchronous responses (as Optional) and False forbids them (as Prohibited).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u32)]
pub enum AsynchronousIndicator {
    /// Every item must be processed asynchronously.
    Mandatory = 0x01,
    /// The server may choose per item.
    Optional = 0x02,
    /// Every item is processed synchronously. The default.
    #[default]
    Prohibited = 0x03,
}

impl AsynchronousIndicator {
    /// Reads the 2.x wire value; any other value is an Invalid Field.
    pub fn from_code(code: u32) -> Result<Self, KmipError> {
        match code {
            0x01 => Ok(Self::Mandatory),
            0x02 => Ok(Self::Optional),
            0x03 => Ok(Self::Prohibited),
            other => Err(KmipError::invalid_field(format!(
                "Asynchronous Indicator {other:#x} is not defined"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_enums_name_known_values_and_carry_unknown_ones() {
        assert_eq!(Operation::DISCOVER_VERSIONS.0, 0x1E);
        assert_eq!(Operation::QUERY.name(), Some("Query"));
        assert_eq!(Operation::PING.0, 0x3B);
        assert_eq!(Operation::KNOWN.len(), 0x3B);
        let vendor = Operation(0x8000_0001);
        assert!(!vendor.is_known());
        assert_eq!(format!("{vendor:?}"), "Operation(0x80000001)");
        assert_eq!(QueryFunction::QUERY_STORAGE_PROTECTION_MASKS.0, 0x0E);
        assert_eq!(QueryFunction::KNOWN.len(), 14);
    }

    #[test]
    fn closed_enums_reject_undefined_values() {
        assert_eq!(
            BatchErrorContinuationOption::from_code(3),
            Ok(BatchErrorContinuationOption::Undo)
        );
        assert!(BatchErrorContinuationOption::from_code(4).is_err());
        assert_eq!(
            AsynchronousIndicator::from_code(1),
            Ok(AsynchronousIndicator::Mandatory)
        );
        assert!(AsynchronousIndicator::from_code(0).is_err());
        assert_eq!(ResultStatus::OperationUndone.code(), 3);
    }
}

open_enum! {
    /// Cryptographic Algorithm (2.1 section 11.13): what a key is for, and what a Create asks for.
    CryptographicAlgorithm {
        DES = 0x01, "DES";
        TRIPLE_DES = 0x02, "3DES";
        AES = 0x03, "AES";
        RSA = 0x04, "RSA";
        DSA = 0x05, "DSA";
        ECDSA = 0x06, "ECDSA";
        HMAC_SHA1 = 0x07, "HMAC-SHA1";
        HMAC_SHA224 = 0x08, "HMAC-SHA224";
        HMAC_SHA256 = 0x09, "HMAC-SHA256";
        HMAC_SHA384 = 0x0A, "HMAC-SHA384";
        HMAC_SHA512 = 0x0B, "HMAC-SHA512";
        HMAC_MD5 = 0x0C, "HMAC-MD5";
        DH = 0x0D, "DH";
        ECDH = 0x0E, "ECDH";
        EC = 0x1A, "EC";
        CHACHA20 = 0x1C, "ChaCha20";
        POLY1305 = 0x1D, "Poly1305";
        CHACHA20_POLY1305 = 0x1E, "ChaCha20Poly1305";
        SHA3_224 = 0x1F, "SHA3-224";
        SHA3_256 = 0x20, "SHA3-256";
        SHA3_384 = 0x21, "SHA3-384";
        SHA3_512 = 0x22, "SHA3-512";
        HMAC_SHA3_224 = 0x23, "HMAC-SHA3-224";
        HMAC_SHA3_256 = 0x24, "HMAC-SHA3-256";
        HMAC_SHA3_384 = 0x25, "HMAC-SHA3-384";
        HMAC_SHA3_512 = 0x26, "HMAC-SHA3-512";
        ED25519 = 0x37, "Ed25519";
        ED448 = 0x38, "Ed448";
    }
}

open_enum! {
    /// Block Cipher Mode (2.1 section 11.5).
    BlockCipherMode {
        CBC = 0x01, "CBC";
        ECB = 0x02, "ECB";
        PCBC = 0x03, "PCBC";
        CFB = 0x04, "CFB";
        OFB = 0x05, "OFB";
        CTR = 0x06, "CTR";
        CMAC = 0x07, "CMAC";
        CCM = 0x08, "CCM";
        GCM = 0x09, "GCM";
        CBC_MAC = 0x0A, "CBC-MAC";
        XTS = 0x0B, "XTS";
        AES_KEY_WRAP_PADDING = 0x0C, "AESKeyWrapPadding";
        NIST_KEY_WRAP = 0x0D, "NISTKeyWrap";
        X9_102_AESKW = 0x0E, "X9.102 AESKW";
        X9_102_TDKW = 0x0F, "X9.102 TDKW";
        X9_102_AKW1 = 0x10, "X9.102 AKW1";
        X9_102_AKW2 = 0x11, "X9.102 AKW2";
        AEAD = 0x12, "AEAD";
    }
}

open_enum! {
    /// Padding Method (2.1 section 11.38).
    PaddingMethod {
        NONE = 0x01, "None";
        OAEP = 0x02, "OAEP";
        PKCS5 = 0x03, "PKCS5";
        SSL3 = 0x04, "SSL3";
        ZEROS = 0x05, "Zeros";
        ANSI_X9_23 = 0x06, "ANSI X9.23";
        ISO_10126 = 0x07, "ISO 10126";
        PKCS1_V1_5 = 0x08, "PKCS1 v1.5";
        X9_31 = 0x09, "X9.31";
        PSS = 0x0A, "PSS";
    }
}

open_enum! {
    /// Hashing Algorithm (2.1 section 11.25); also the Mask Generator Hashing Algorithm.
    HashingAlgorithm {
        MD2 = 0x01, "MD2";
        MD4 = 0x02, "MD4";
        MD5 = 0x03, "MD5";
        SHA_1 = 0x04, "SHA-1";
        SHA_224 = 0x05, "SHA-224";
        SHA_256 = 0x06, "SHA-256";
        SHA_384 = 0x07, "SHA-384";
        SHA_512 = 0x08, "SHA-512";
        RIPEMD_160 = 0x09, "RIPEMD-160";
        TIGER = 0x0A, "Tiger";
        WHIRLPOOL = 0x0B, "Whirlpool";
        SHA_512_224 = 0x0C, "SHA-512/224";
        SHA_512_256 = 0x0D, "SHA-512/256";
        SHA3_224 = 0x0E, "SHA3-224";
        SHA3_256 = 0x0F, "SHA3-256";
        SHA3_384 = 0x10, "SHA3-384";
        SHA3_512 = 0x11, "SHA3-512";
    }
}

open_enum! {
    /// Digital Signature Algorithm (2.1 section 11.20).
    DigitalSignatureAlgorithm {
        MD2_WITH_RSA = 0x01, "MD2 with RSA Encryption (PKCS#1 v1.5)";
        MD5_WITH_RSA = 0x02, "MD5 with RSA Encryption (PKCS#1 v1.5)";
        SHA1_WITH_RSA = 0x03, "SHA-1 with RSA Encryption (PKCS#1 v1.5)";
        SHA224_WITH_RSA = 0x04, "SHA-224 with RSA Encryption (PKCS#1 v1.5)";
        SHA256_WITH_RSA = 0x05, "SHA-256 with RSA Encryption (PKCS#1 v1.5)";
        SHA384_WITH_RSA = 0x06, "SHA-384 with RSA Encryption (PKCS#1 v1.5)";
        SHA512_WITH_RSA = 0x07, "SHA-512 with RSA Encryption (PKCS#1 v1.5)";
        RSASSA_PSS = 0x08, "RSASSA-PSS (PKCS#1 v2.1)";
        DSA_WITH_SHA1 = 0x09, "DSA with SHA-1";
        DSA_WITH_SHA224 = 0x0A, "DSA with SHA224";
        DSA_WITH_SHA256 = 0x0B, "DSA with SHA256";
        ECDSA_WITH_SHA1 = 0x0C, "ECDSA with SHA-1";
        ECDSA_WITH_SHA224 = 0x0D, "ECDSA with SHA224";
        ECDSA_WITH_SHA256 = 0x0E, "ECDSA with SHA256";
        ECDSA_WITH_SHA384 = 0x0F, "ECDSA with SHA384";
        ECDSA_WITH_SHA512 = 0x10, "ECDSA with SHA512";
        SHA3_256_WITH_RSA = 0x11, "SHA3-256 with RSA Encryption";
        SHA3_384_WITH_RSA = 0x12, "SHA3-384 with RSA Encryption";
        SHA3_512_WITH_RSA = 0x13, "SHA3-512 with RSA Encryption";
    }
}

open_enum! {
    /// Mask Generator (2.1 section 11.31).
    MaskGenerator {
        MGF1 = 0x01, "MGF1";
    }
}
