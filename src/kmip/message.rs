//! Request and Response Messages: the one internal model of a message of any version 1.0-2.1, read from an item
//! tree and written back in the request's own version. What each version's header and batch items may hold is
//! decided here and nowhere else.
//!
//! Failures are sorted by how much of the message they spoil. A header that cannot be read, or a Batch Count
//! that does not match the items, fails the whole message ([`RejectedRequest`]): the server answers with a
//! header and one batch item without Operation (1.4 section 11.1, "Message cannot be parsed"). A batch item that
//! cannot be read fails alone ([`BatchItemError`]), keeping its Operation and Unique Batch Item ID when those
//! could be read, so that the response still correlates.

use std::fmt;

use crate::spec::{self, tag};
use crate::ttlv::{SecretBytes, Tag, Ttlv, Value};

use super::enums::{
    AsynchronousIndicator, AttestationType, BatchErrorContinuationOption, CredentialType,
    Operation, ResultStatus,
};
use super::error::{KmipError, ResultReason};
use super::version::ProtocolVersion;

/// A request, as read from its item tree.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestMessage {
    /// The version the server processes the request in and answers in: the header's own version when the server
    /// speaks it, else the newest one of the same major version below it (see [`ProtocolVersion::negotiate`]).
    pub version: ProtocolVersion,
    /// The header as sent.
    pub header: RequestHeader,
    /// One entry per Batch Item, in request order; an item that could not be read is an error of its own.
    pub items: Vec<Result<RequestBatchItem, BatchItemError>>,
}

/// The Request Header, with every field of 2.1. Fields a version does not define are still read when present,
/// because clients mix versions (see CLIENTS.md).
#[derive(Clone, Debug, PartialEq)]
pub struct RequestHeader {
    /// The version the request declared.
    pub protocol_version: ProtocolVersion,
    /// The largest response, in bytes, the client can take.
    pub maximum_response_size: Option<i32>,
    /// The client's label for the request, for logs (1.4 and later).
    pub client_correlation_value: Option<String>,
    /// The server's label, in requests a server sends (1.4 and later).
    pub server_correlation_value: Option<String>,
    /// Whether the client accepts asynchronous answers; a 1.x Boolean is read as Optional or Prohibited.
    pub asynchronous_indicator: Option<AsynchronousIndicator>,
    /// Whether the client can make Attestation credentials (1.2 and later).
    pub attestation_capable_indicator: Option<bool>,
    /// The attestation types the client can make (1.2 and later).
    pub attestation_types: Vec<AttestationType>,
    /// Credentials, all of which must be satisfied.
    pub authentication: Option<Authentication>,
    /// What follows a failed item; Stop when absent.
    pub batch_error_continuation_option: Option<BatchErrorContinuationOption>,
    /// Whether items must run in order (absent: False in 1.x, True in 2.x; the server always keeps order).
    pub batch_order_option: Option<bool>,
    /// Seconds since the Unix epoch.
    pub time_stamp: Option<i64>,
    /// The number of Batch Items, checked against the items.
    pub batch_count: i32,
}

/// The Authentication structure: every Credential must be satisfied.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Authentication {
    /// At least one.
    pub credentials: Vec<Credential>,
}

/// One Credential. The value's shape depends on the type and is kept as the item tree for `access` to judge.
#[derive(Clone, PartialEq)]
pub struct Credential {
    /// How to read the value.
    pub credential_type: CredentialType,
    /// The Credential Value item, as sent.
    pub credential_value: Ttlv,
}

impl fmt::Debug for Credential {
    // The value holds passwords and tickets: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("credential_type", &self.credential_type)
            .field("credential_value", &"<hidden>")
            .finish()
    }
}

/// One Batch Item of a request.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestBatchItem {
    /// The operation as sent; values the server does not know are kept so the response can echo them.
    pub operation: Operation,
    /// 2.x: the operation's Data output is not to be returned.
    pub ephemeral: Option<bool>,
    /// Echoed in the response whatever its length.
    pub unique_batch_item_id: Option<Vec<u8>>,
    /// The Request Payload structure; its contents depend on the operation.
    pub payload: Option<Ttlv>,
    /// Vendor extensions; the server understands none.
    pub message_extensions: Vec<MessageExtension>,
}

/// A vendor's addition to a batch item.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageExtension {
    /// Whose extension it is.
    pub vendor_identification: String,
    /// A critical extension the receiver does not understand makes it reject the whole message.
    pub criticality_indicator: bool,
    /// The vendor's structure, as sent.
    pub vendor_extension: Ttlv,
}

/// A batch item that could not be read, with what could be read of it for the response to echo.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchItemError {
    /// The item's Operation, if it was an Enumeration.
    pub operation: Option<Operation>,
    /// The item's Unique Batch Item ID, if it was a Byte String.
    pub unique_batch_item_id: Option<Vec<u8>>,
    /// Why the item could not be read.
    pub error: KmipError,
}

/// A request the server cannot process at all, and the version to say so in.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("request rejected ({version}): {error}")]
pub struct RejectedRequest {
    /// The request's version when it could be read and is spoken, else the newest.
    pub version: ProtocolVersion,
    /// Why the request cannot be processed.
    pub error: KmipError,
}

/// A response.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseMessage {
    /// The header; its version is the version the whole response is written in.
    pub header: ResponseHeader,
    /// One item per request item answered, in request order.
    pub items: Vec<ResponseBatchItem>,
}

/// The Response Header. Batch Count is not stored: it is the number of items, written at encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseHeader {
    /// The version the response is written in.
    pub protocol_version: ProtocolVersion,
    /// Seconds since the Unix epoch.
    pub time_stamp: i64,
    /// 1.2 and later.
    pub nonce: Option<Nonce>,
    /// 1.2 and later.
    pub attestation_types: Vec<AttestationType>,
    /// 1.4 and later.
    pub client_correlation_value: Option<String>,
    /// 1.4 and later.
    pub server_correlation_value: Option<String>,
}

/// A server-chosen random value for attestation (1.2 and later).
#[derive(Clone, Debug, PartialEq)]
pub struct Nonce {
    /// The server's name for the nonce, which the client's Attestation credential refers to.
    pub nonce_id: Vec<u8>,
    /// The random bytes.
    pub nonce_value: SecretBytes,
}

/// One Batch Item of a response.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseBatchItem {
    /// Present when the request's item carried one.
    pub operation: Option<Operation>,
    /// The request item's ID, echoed whatever its length.
    pub unique_batch_item_id: Option<Vec<u8>>,
    /// Success, or why not.
    pub result_status: ResultStatus,
    /// In the 2.1 vocabulary; written as the response version defines it ([`ResultReason::code_in`]).
    pub result_reason: Option<ResultReason>,
    /// A description of a failure, for people and logs.
    pub result_message: Option<String>,
    /// For an Operation Pending result: what to Poll or Cancel with.
    pub asynchronous_correlation_value: Option<Vec<u8>>,
    /// The Response Payload structure.
    pub payload: Option<Ttlv>,
    /// A vendor extension to the response item.
    pub message_extension: Option<MessageExtension>,
}

impl ResponseBatchItem {
    /// A successful item carrying `payload` (a Response Payload structure).
    pub fn success(
        operation: Operation,
        unique_batch_item_id: Option<Vec<u8>>,
        payload: Ttlv,
    ) -> Self {
        ResponseBatchItem {
            operation: Some(operation),
            unique_batch_item_id,
            result_status: ResultStatus::Success,
            result_reason: None,
            result_message: None,
            asynchronous_correlation_value: None,
            payload: Some(payload),
            message_extension: None,
        }
    }

    /// A failed item: Operation Failed, with the error's reason and message.
    pub fn failure(
        operation: Option<Operation>,
        unique_batch_item_id: Option<Vec<u8>>,
        error: &KmipError,
    ) -> Self {
        ResponseBatchItem {
            operation,
            unique_batch_item_id,
            result_status: ResultStatus::OperationFailed,
            result_reason: Some(error.reason),
            result_message: Some(error.message.clone()),
            asynchronous_correlation_value: None,
            payload: None,
            message_extension: None,
        }
    }

    /// Whether the item failed.
    pub fn is_failure(&self) -> bool {
        self.result_status == ResultStatus::OperationFailed
    }
}

impl ResponseHeader {
    /// A header with only the required fields.
    pub fn new(protocol_version: ProtocolVersion, time_stamp: i64) -> Self {
        ResponseHeader {
            protocol_version,
            time_stamp,
            nonce: None,
            attestation_types: Vec::new(),
            client_correlation_value: None,
            server_correlation_value: None,
        }
    }
}

impl ResponseMessage {
    /// The answer to a request that could not be processed at all: the header and one batch item without
    /// Operation, failed with the error (1.4 section 11.1).
    pub fn rejection(rejected: &RejectedRequest, time_stamp: i64) -> Self {
        ResponseMessage {
            header: ResponseHeader::new(rejected.version, time_stamp),
            items: vec![ResponseBatchItem::failure(None, None, &rejected.error)],
        }
    }

    /// The same response with every item replaced by a Response Too Large failure, keeping Operation and Unique
    /// Batch Item ID, for when the encoded response exceeds the request's Maximum Response Size.
    pub fn too_large(&self, encoded_len: usize, maximum: i32) -> Self {
        let error = KmipError::response_too_large(format!(
            "the response is {encoded_len} bytes; the Maximum Response Size is {maximum}"
        ));
        ResponseMessage {
            header: self.header.clone(),
            items: self
                .items
                .iter()
                .map(|i| {
                    ResponseBatchItem::failure(i.operation, i.unique_batch_item_id.clone(), &error)
                })
                .collect(),
        }
    }

    /// The item tree, in the header's protocol version: fields that version does not define are left out, and
    /// Result Reasons become the values that version defines.
    pub fn to_ttlv(&self) -> Ttlv {
        let version = self.header.protocol_version;
        let mut message = vec![self.header.to_ttlv(self.items.len())];
        message.extend(self.items.iter().map(|i| i.to_ttlv(version)));
        Ttlv::structure(tag::RESPONSE_MESSAGE, message)
    }
}

impl ResponseHeader {
    fn to_ttlv(&self, batch_count: usize) -> Ttlv {
        let v = self.protocol_version;
        let mut fields = vec![
            v.to_ttlv(),
            Ttlv::new(tag::TIME_STAMP, Value::DateTime(self.time_stamp)),
        ];
        if v >= ProtocolVersion::V1_2 {
            if let Some(nonce) = &self.nonce {
                fields.push(Ttlv::structure(
                    tag::NONCE,
                    vec![
                        Ttlv::new(
                            tag::NONCE_ID,
                            Value::ByteString(nonce.nonce_id.clone().into()),
                        ),
                        Ttlv::new(
                            tag::NONCE_VALUE,
                            Value::ByteString(nonce.nonce_value.clone()),
                        ),
                    ],
                ));
            }
            fields.extend(
                self.attestation_types
                    .iter()
                    .map(|a| Ttlv::new(tag::ATTESTATION_TYPE, Value::Enumeration(a.0))),
            );
        }
        if v >= ProtocolVersion::V1_4 {
            if let Some(c) = &self.client_correlation_value {
                fields.push(Ttlv::new(
                    tag::CLIENT_CORRELATION_VALUE,
                    Value::TextString(c.clone()),
                ));
            }
            if let Some(c) = &self.server_correlation_value {
                fields.push(Ttlv::new(
                    tag::SERVER_CORRELATION_VALUE,
                    Value::TextString(c.clone()),
                ));
            }
        }
        // A batch never holds more than i32::MAX items: the request's own Batch Count bounds it.
        let count = i32::try_from(batch_count).unwrap_or(i32::MAX);
        fields.push(Ttlv::new(tag::BATCH_COUNT, Value::Integer(count)));
        Ttlv::structure(tag::RESPONSE_HEADER, fields)
    }
}

impl ResponseBatchItem {
    fn to_ttlv(&self, version: ProtocolVersion) -> Ttlv {
        let mut fields = Vec::new();
        if let Some(op) = self.operation {
            fields.push(Ttlv::new(tag::OPERATION, Value::Enumeration(op.0)));
        }
        if let Some(id) = &self.unique_batch_item_id {
            fields.push(Ttlv::new(
                tag::UNIQUE_BATCH_ITEM_ID,
                Value::ByteString(id.clone().into()),
            ));
        }
        fields.push(Ttlv::new(
            tag::RESULT_STATUS,
            Value::Enumeration(self.result_status.code()),
        ));
        if let Some(reason) = self.result_reason {
            fields.push(Ttlv::new(
                tag::RESULT_REASON,
                Value::Enumeration(reason.code_in(version)),
            ));
        }
        if let Some(m) = &self.result_message {
            fields.push(Ttlv::new(tag::RESULT_MESSAGE, Value::TextString(m.clone())));
        }
        if let Some(a) = &self.asynchronous_correlation_value {
            fields.push(Ttlv::new(
                tag::ASYNCHRONOUS_CORRELATION_VALUE,
                Value::ByteString(a.clone().into()),
            ));
        }
        if let Some(p) = &self.payload {
            fields.push(Ttlv {
                tag: tag::RESPONSE_PAYLOAD,
                value: p.value.clone(),
            });
        }
        if let Some(ext) = &self.message_extension {
            fields.push(ext.to_ttlv());
        }
        Ttlv::structure(tag::BATCH_ITEM, fields)
    }
}

impl MessageExtension {
    fn to_ttlv(&self) -> Ttlv {
        Ttlv::structure(
            tag::MESSAGE_EXTENSION,
            vec![
                Ttlv::new(
                    tag::VENDOR_IDENTIFICATION,
                    Value::TextString(self.vendor_identification.clone()),
                ),
                Ttlv::new(
                    tag::CRITICALITY_INDICATOR,
                    Value::Boolean(self.criticality_indicator),
                ),
                Ttlv {
                    tag: tag::VENDOR_EXTENSION,
                    value: self.vendor_extension.value.clone(),
                },
            ],
        )
    }

    fn from_ttlv(item: &Ttlv) -> Result<Self, KmipError> {
        let defined = &[
            tag::VENDOR_IDENTIFICATION,
            tag::CRITICALITY_INDICATOR,
            tag::VENDOR_EXTENSION,
        ];
        let mut fields = Fields::new(item, "Message Extension", defined, &[], true)?;
        let mut vendor = None;
        let mut critical = None;
        let mut extension = None;
        while let Some(f) = fields.next_field()? {
            match f.tag {
                tag::VENDOR_IDENTIFICATION => vendor = Some(text(f)?),
                tag::CRITICALITY_INDICATOR => critical = Some(boolean(f)?),
                tag::VENDOR_EXTENSION => {
                    structure(f)?;
                    extension = Some(f.clone());
                }
                _ => {}
            }
        }
        Ok(MessageExtension {
            vendor_identification: vendor
                .ok_or_else(|| missing("Message Extension", "Vendor Identification"))?,
            criticality_indicator: critical
                .ok_or_else(|| missing("Message Extension", "Criticality Indicator"))?,
            vendor_extension: extension
                .ok_or_else(|| missing("Message Extension", "Vendor Extension"))?,
        })
    }
}

impl RequestMessage {
    /// Reads a Request Message tree. Header problems reject the whole request; batch item problems fail that
    /// item only.
    pub fn from_ttlv(root: &Ttlv) -> Result<RequestMessage, RejectedRequest> {
        let reject = |version, error| RejectedRequest { version, error };
        let highest = ProtocolVersion::HIGHEST;
        if root.tag != tag::REQUEST_MESSAGE {
            let error = KmipError::invalid_message(format!(
                "expected a Request Message, got {}",
                name(root.tag)
            ));
            return Err(reject(highest, error));
        }
        let Value::Structure(children) = &root.value else {
            return Err(reject(
                highest,
                KmipError::invalid_message("Request Message is not a structure"),
            ));
        };
        let mut headers = children.iter().filter(|c| c.tag == tag::REQUEST_HEADER);
        let Some(header_item) = headers.next() else {
            return Err(reject(
                highest,
                KmipError::invalid_message("Request Message has no Request Header"),
            ));
        };
        // Read the version first so that every later failure is answered in it.
        let declared = header_item
            .child(tag::PROTOCOL_VERSION)
            .ok_or_else(|| missing("Request Header", "Protocol Version"))
            .and_then(ProtocolVersion::from_ttlv)
            .map_err(|e| reject(highest, e))?;
        let Some(version) = declared.negotiate() else {
            let spoken: Vec<String> = ProtocolVersion::SUPPORTED
                .iter()
                .map(|v| v.to_string())
                .collect();
            let error = KmipError::new(
                ResultReason::UnsupportedProtocolVersion,
                format!(
                    "protocol version {declared} is not supported; supported: {}",
                    spoken.join(", ")
                ),
            );
            return Err(reject(highest, error));
        };
        let exact = version == declared;
        if headers.next().is_some() {
            return Err(reject(
                version,
                KmipError::invalid_message("Request Header appears more than once"),
            ));
        }
        let header = RequestHeader::from_ttlv(header_item, declared, exact)
            .map_err(|e| reject(version, e))?;

        let mut items = Vec::new();
        for child in children {
            match child.tag {
                tag::REQUEST_HEADER => {}
                tag::BATCH_ITEM => items.push(RequestBatchItem::from_ttlv(child, exact)),
                _ if exact => return Err(reject(version, unexpected(child, "Request Message"))),
                _ => {}
            }
        }
        if items.is_empty() {
            return Err(reject(
                version,
                KmipError::invalid_message("Request Message has no Batch Item"),
            ));
        }
        if usize::try_from(header.batch_count).ok() != Some(items.len()) {
            let error = KmipError::invalid_message(format!(
                "Batch Count is {} but the message holds {} Batch Items",
                header.batch_count,
                items.len()
            ));
            return Err(reject(version, error));
        }
        Ok(RequestMessage {
            version,
            header,
            items,
        })
    }

    /// Reads the Protocol Version of a request from the first bytes of its TTLV encoding, for answering a
    /// request whose remainder cannot be decoded. `None` unless the frame opens with a Request Message whose
    /// Request Header starts with a well-formed Protocol Version, as the specification orders it.
    pub fn peek_version(frame: &[u8]) -> Option<ProtocolVersion> {
        const STRUCTURE: u8 = 0x01;
        const INTEGER: u8 = 0x02;
        let header_at = |at: usize, tag: Tag, item_type: u8, len: Option<u32>| -> Option<()> {
            let tag_bytes = tag.to_be_bytes();
            let bytes = frame.get(at..at + 8)?;
            let tag_ok = bytes.get(0..3)? == tag_bytes.get(1..4)?;
            let type_ok = bytes.get(3) == Some(&item_type);
            let len_ok = len.is_none_or(|l| bytes.get(4..8) == Some(&l.to_be_bytes()[..]));
            (tag_ok && type_ok && len_ok).then_some(())
        };
        let int_at = |at: usize| -> Option<i32> {
            let b = frame.get(at..at + 4)?;
            Some(i32::from_be_bytes(b.try_into().ok()?))
        };
        header_at(0, tag::REQUEST_MESSAGE, STRUCTURE, None)?;
        header_at(8, tag::REQUEST_HEADER, STRUCTURE, None)?;
        header_at(16, tag::PROTOCOL_VERSION, STRUCTURE, Some(32))?;
        header_at(24, tag::PROTOCOL_VERSION_MAJOR, INTEGER, Some(4))?;
        header_at(40, tag::PROTOCOL_VERSION_MINOR, INTEGER, Some(4))?;
        Some(ProtocolVersion::new(int_at(32)?, int_at(48)?))
    }
}

/// The fields of a Request Header in any version.
const HEADER_FIELDS: &[Tag] = &[
    tag::PROTOCOL_VERSION,
    tag::MAXIMUM_RESPONSE_SIZE,
    tag::CLIENT_CORRELATION_VALUE,
    tag::SERVER_CORRELATION_VALUE,
    tag::ASYNCHRONOUS_INDICATOR,
    tag::ATTESTATION_CAPABLE_INDICATOR,
    tag::ATTESTATION_TYPE,
    tag::AUTHENTICATION,
    tag::BATCH_ERROR_CONTINUATION_OPTION,
    tag::BATCH_ORDER_OPTION,
    tag::TIME_STAMP,
    tag::BATCH_COUNT,
];

/// The fields of a request's Batch Item in any version.
const BATCH_ITEM_FIELDS: &[Tag] = &[
    tag::OPERATION,
    tag::EPHEMERAL,
    tag::UNIQUE_BATCH_ITEM_ID,
    tag::REQUEST_PAYLOAD,
    tag::MESSAGE_EXTENSION,
];

impl RequestHeader {
    fn from_ttlv(item: &Ttlv, declared: ProtocolVersion, exact: bool) -> Result<Self, KmipError> {
        let mut fields = Fields::new(
            item,
            "Request Header",
            HEADER_FIELDS,
            &[tag::ATTESTATION_TYPE],
            exact,
        )?;
        let mut h = RequestHeader {
            protocol_version: declared,
            maximum_response_size: None,
            client_correlation_value: None,
            server_correlation_value: None,
            asynchronous_indicator: None,
            attestation_capable_indicator: None,
            attestation_types: Vec::new(),
            authentication: None,
            batch_error_continuation_option: None,
            batch_order_option: None,
            time_stamp: None,
            batch_count: 0,
        };
        let mut batch_count = None;
        while let Some(f) = fields.next_field()? {
            match f.tag {
                // Already read by the caller.
                tag::PROTOCOL_VERSION => {}
                tag::MAXIMUM_RESPONSE_SIZE => h.maximum_response_size = Some(integer(f)?),
                tag::CLIENT_CORRELATION_VALUE => h.client_correlation_value = Some(text(f)?),
                tag::SERVER_CORRELATION_VALUE => h.server_correlation_value = Some(text(f)?),
                tag::ASYNCHRONOUS_INDICATOR => {
                    h.asynchronous_indicator = Some(match &f.value {
                        // 1.x: a Boolean saying whether asynchronous responses are acceptable.
                        Value::Boolean(true) => AsynchronousIndicator::Optional,
                        Value::Boolean(false) => AsynchronousIndicator::Prohibited,
                        Value::Enumeration(e) => AsynchronousIndicator::from_code(*e)?,
                        _ => return Err(wrong_type(f, "a Boolean or an Enumeration")),
                    })
                }
                tag::ATTESTATION_CAPABLE_INDICATOR => {
                    h.attestation_capable_indicator = Some(boolean(f)?)
                }
                tag::ATTESTATION_TYPE => h.attestation_types.push(AttestationType(enumeration(f)?)),
                tag::AUTHENTICATION => h.authentication = Some(Authentication::from_ttlv(f)?),
                tag::BATCH_ERROR_CONTINUATION_OPTION => {
                    h.batch_error_continuation_option =
                        Some(BatchErrorContinuationOption::from_code(enumeration(f)?)?)
                }
                tag::BATCH_ORDER_OPTION => h.batch_order_option = Some(boolean(f)?),
                tag::TIME_STAMP => h.time_stamp = Some(date_time(f)?),
                tag::BATCH_COUNT => batch_count = Some(integer(f)?),
                _ => {}
            }
        }
        h.batch_count = batch_count.ok_or_else(|| missing("Request Header", "Batch Count"))?;
        Ok(h)
    }
}

impl Authentication {
    fn from_ttlv(item: &Ttlv) -> Result<Self, KmipError> {
        let credential = &[tag::CREDENTIAL];
        let mut fields = Fields::new(item, "Authentication", credential, credential, true)?;
        let mut credentials = Vec::new();
        while let Some(f) = fields.next_field()? {
            credentials.push(Credential::from_ttlv(f)?);
        }
        if credentials.is_empty() {
            return Err(missing("Authentication", "Credential"));
        }
        Ok(Authentication { credentials })
    }
}

impl Credential {
    fn from_ttlv(item: &Ttlv) -> Result<Self, KmipError> {
        let defined = &[tag::CREDENTIAL_TYPE, tag::CREDENTIAL_VALUE];
        let mut fields = Fields::new(item, "Credential", defined, &[], true)?;
        let mut credential_type = None;
        let mut credential_value = None;
        while let Some(f) = fields.next_field()? {
            match f.tag {
                tag::CREDENTIAL_TYPE => credential_type = Some(CredentialType(enumeration(f)?)),
                tag::CREDENTIAL_VALUE => credential_value = Some(f.clone()),
                _ => {}
            }
        }
        Ok(Credential {
            credential_type: credential_type
                .ok_or_else(|| missing("Credential", "Credential Type"))?,
            credential_value: credential_value
                .ok_or_else(|| missing("Credential", "Credential Value"))?,
        })
    }
}

impl RequestBatchItem {
    fn from_ttlv(item: &Ttlv, exact: bool) -> Result<Self, BatchItemError> {
        // What the response echoes, read leniently first so that a failure still correlates.
        let operation = match item.child(tag::OPERATION).map(|o| &o.value) {
            Some(Value::Enumeration(e)) => Some(Operation(*e)),
            _ => None,
        };
        let unique_batch_item_id = match item.child(tag::UNIQUE_BATCH_ITEM_ID).map(|o| &o.value) {
            Some(Value::ByteString(b)) => Some(b.to_vec()),
            _ => None,
        };
        Self::read(item, exact).map_err(|error| BatchItemError {
            operation,
            unique_batch_item_id,
            error,
        })
    }

    fn read(item: &Ttlv, exact: bool) -> Result<Self, KmipError> {
        let mut fields = Fields::new(
            item,
            "Batch Item",
            BATCH_ITEM_FIELDS,
            &[tag::MESSAGE_EXTENSION],
            exact,
        )?;
        let mut operation = None;
        let mut ephemeral = None;
        let mut unique_batch_item_id = None;
        let mut payload = None;
        let mut message_extensions = Vec::new();
        while let Some(f) = fields.next_field()? {
            match f.tag {
                tag::OPERATION => operation = Some(Operation(enumeration(f)?)),
                tag::EPHEMERAL => ephemeral = Some(boolean(f)?),
                tag::UNIQUE_BATCH_ITEM_ID => unique_batch_item_id = Some(bytes(f)?),
                tag::REQUEST_PAYLOAD => {
                    structure(f)?;
                    payload = Some(f.clone());
                }
                tag::MESSAGE_EXTENSION => message_extensions.push(MessageExtension::from_ttlv(f)?),
                _ => {}
            }
        }
        Ok(RequestBatchItem {
            operation: operation.ok_or_else(|| missing("Batch Item", "Operation"))?,
            ephemeral,
            unique_batch_item_id,
            payload,
            message_extensions,
        })
    }
}

/// Walks a structure's children: yields those of the fields the structure defines, catching a repeated one,
/// and rejects (when strict) or skips the others. Only defined tags are remembered, so the work per child is
/// bounded by the number of defined fields, whatever a peer sends.
struct Fields<'a> {
    children: std::slice::Iter<'a, Ttlv>,
    what: &'static str,
    /// The tags of the structure's fields.
    defined: &'static [Tag],
    /// The fields that may repeat.
    repeatable: &'static [Tag],
    /// An undefined field is an Invalid Field when true, skipped when false.
    strict: bool,
    seen: Vec<Tag>,
}

impl<'a> Fields<'a> {
    fn new(
        item: &'a Ttlv,
        what: &'static str,
        defined: &'static [Tag],
        repeatable: &'static [Tag],
        strict: bool,
    ) -> Result<Self, KmipError> {
        match &item.value {
            Value::Structure(c) => Ok(Fields {
                children: c.iter(),
                what,
                defined,
                repeatable,
                strict,
                seen: Vec::new(),
            }),
            _ => Err(KmipError::invalid_message(format!(
                "{what} is not a structure"
            ))),
        }
    }

    /// The next defined field. 1.4 section 11.1: the same field twice in a header, batch item or payload is an
    /// Invalid Message; an unknown field is an Invalid Field in the same version, ignored from a newer one.
    fn next_field(&mut self) -> Result<Option<&'a Ttlv>, KmipError> {
        for f in self.children.by_ref() {
            if !self.defined.contains(&f.tag) {
                if self.strict {
                    return Err(unexpected(f, self.what));
                }
                continue;
            }
            if !self.repeatable.contains(&f.tag) {
                if self.seen.contains(&f.tag) {
                    let message =
                        format!("{} appears more than once in {}", name(f.tag), self.what);
                    return Err(KmipError::invalid_message(message));
                }
                self.seen.push(f.tag);
            }
            return Ok(Some(f));
        }
        Ok(None)
    }
}

/// The specification's name of a tag, or its number.
pub(crate) fn name(tag: Tag) -> String {
    match spec::tag_by_number(tag) {
        Some(def) => def.spec_name.to_string(),
        None => format!("tag {tag:#08x}"),
    }
}

fn missing(what: &str, field: &str) -> KmipError {
    KmipError::invalid_message(format!("{what} lacks {field}"))
}

fn unexpected(f: &Ttlv, what: &str) -> KmipError {
    KmipError::invalid_field(format!("{} is not a field of {what}", name(f.tag)))
}

fn wrong_type(f: &Ttlv, expected: &str) -> KmipError {
    KmipError::invalid_message(format!(
        "{} must be {expected}, got {}",
        name(f.tag),
        f.value.item_type().name()
    ))
}

fn integer(f: &Ttlv) -> Result<i32, KmipError> {
    match f.value {
        Value::Integer(n) => Ok(n),
        _ => Err(wrong_type(f, "an Integer")),
    }
}

fn enumeration(f: &Ttlv) -> Result<u32, KmipError> {
    match f.value {
        Value::Enumeration(n) => Ok(n),
        _ => Err(wrong_type(f, "an Enumeration")),
    }
}

fn boolean(f: &Ttlv) -> Result<bool, KmipError> {
    match f.value {
        Value::Boolean(b) => Ok(b),
        _ => Err(wrong_type(f, "a Boolean")),
    }
}

fn date_time(f: &Ttlv) -> Result<i64, KmipError> {
    match f.value {
        Value::DateTime(t) => Ok(t),
        _ => Err(wrong_type(f, "a Date-Time")),
    }
}

fn text(f: &Ttlv) -> Result<String, KmipError> {
    match &f.value {
        Value::TextString(s) => Ok(s.clone()),
        _ => Err(wrong_type(f, "a Text String")),
    }
}

fn bytes(f: &Ttlv) -> Result<Vec<u8>, KmipError> {
    match &f.value {
        Value::ByteString(b) => Ok(b.to_vec()),
        _ => Err(wrong_type(f, "a Byte String")),
    }
}

fn structure(f: &Ttlv) -> Result<&[Ttlv], KmipError> {
    match &f.value {
        Value::Structure(c) => Ok(c),
        _ => Err(wrong_type(f, "a Structure")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_header(version: ProtocolVersion) -> ResponseHeader {
        ResponseHeader {
            protocol_version: version,
            time_stamp: 1,
            nonce: Some(Nonce {
                nonce_id: vec![1],
                nonce_value: vec![2; 16].into(),
            }),
            attestation_types: vec![AttestationType::TPM_QUOTE],
            client_correlation_value: Some("c".into()),
            server_correlation_value: Some("s".into()),
        }
    }

    fn header_tags(version: ProtocolVersion) -> Vec<Tag> {
        let message = ResponseMessage {
            header: full_header(version),
            items: vec![],
        }
        .to_ttlv();
        message
            .child(tag::RESPONSE_HEADER)
            .unwrap()
            .children()
            .iter()
            .map(|c| c.tag)
            .collect()
    }

    #[test]
    fn response_header_writes_only_what_the_version_defines() {
        let base = [tag::PROTOCOL_VERSION, tag::TIME_STAMP];
        let with = |extra: &[Tag]| -> Vec<Tag> {
            base.iter()
                .chain(extra)
                .chain(&[tag::BATCH_COUNT])
                .copied()
                .collect()
        };
        assert_eq!(header_tags(ProtocolVersion::V1_0), with(&[]));
        assert_eq!(header_tags(ProtocolVersion::V1_1), with(&[]));
        let attestation = [tag::NONCE, tag::ATTESTATION_TYPE];
        assert_eq!(header_tags(ProtocolVersion::V1_3), with(&attestation));
        let all = [
            tag::NONCE,
            tag::ATTESTATION_TYPE,
            tag::CLIENT_CORRELATION_VALUE,
            tag::SERVER_CORRELATION_VALUE,
        ];
        assert_eq!(header_tags(ProtocolVersion::V1_4), with(&all));
        assert_eq!(header_tags(ProtocolVersion::V2_1), with(&all));
    }

    #[test]
    fn result_reasons_are_written_in_the_response_version() {
        let error = KmipError::codec_error("bad bytes");
        for (version, code) in [(ProtocolVersion::V1_4, 0x04), (ProtocolVersion::V2_0, 0x26)] {
            let message = ResponseMessage {
                header: ResponseHeader::new(version, 0),
                items: vec![ResponseBatchItem::failure(None, Some(vec![7; 8]), &error)],
            }
            .to_ttlv();
            let item = message.child(tag::BATCH_ITEM).unwrap();
            assert_eq!(
                item.child(tag::RESULT_REASON).unwrap().value,
                Value::Enumeration(code)
            );
            let id = item.child(tag::UNIQUE_BATCH_ITEM_ID).unwrap();
            assert_eq!(id.value, Value::ByteString(vec![7; 8].into()));
        }
    }

    #[test]
    fn peek_version_reads_a_well_formed_prefix_only() {
        let mut prefix = vec![0x42, 0x00, 0x78, 0x01, 0, 0, 0, 0x80];
        prefix.extend([0x42, 0x00, 0x77, 0x01, 0, 0, 0, 0x70]);
        prefix.extend([0x42, 0x00, 0x69, 0x01, 0, 0, 0, 0x20]);
        prefix.extend([
            0x42, 0x00, 0x6A, 0x02, 0, 0, 0, 0x04, 0, 0, 0, 1, 0, 0, 0, 0,
        ]);
        prefix.extend([
            0x42, 0x00, 0x6B, 0x02, 0, 0, 0, 0x04, 0, 0, 0, 3, 0, 0, 0, 0,
        ]);
        assert_eq!(
            RequestMessage::peek_version(&prefix),
            Some(ProtocolVersion::V1_3)
        );
        assert_eq!(RequestMessage::peek_version(&prefix[..50]), None);
        let mut wrong_type = prefix.clone();
        wrong_type[27] = 0x05;
        assert_eq!(RequestMessage::peek_version(&wrong_type), None);
        let mut response = prefix;
        response[2] = 0x7B;
        assert_eq!(RequestMessage::peek_version(&response), None);
        assert_eq!(RequestMessage::peek_version(b"GET / HTTP/1.1\r\n"), None);
    }

    #[test]
    fn credentials_are_not_printed() {
        let credential = Credential {
            credential_type: CredentialType::USERNAME_AND_PASSWORD,
            credential_value: Ttlv::new(tag::PASSWORD, Value::TextString("hunter2".into())),
        };
        assert!(!format!("{credential:?}").contains("hunter2"));
    }
}
