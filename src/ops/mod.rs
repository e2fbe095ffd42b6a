//! The operations: each batch item of a request is run here, one file per operation or small family.
//!
//! [`Engine`] takes a request that `kmip` has read, decides what the batch as a whole allows (continuation
//! option, asynchronous processing, critical message extensions), runs each item through the registry of
//! implemented operations, and gives back the response in the request's version. Operations not in the registry
//! are answered Operation Not Supported; Query Operations lists exactly the registry, so it grows as operations
//! land.

mod asym_cipher;
mod asym_key;
mod attr_io;
mod attributes;
mod batch;
mod cipher_rsa_entry;
mod create;
mod create_key_pair;
mod discover_versions;
mod frame;
mod get;
mod interop;
mod lifecycle;
mod locate;
mod new_object;
mod object;
mod query;
mod register;
mod rekey;
mod rules;
mod sign;
pub(crate) mod usage;

pub use batch::BatchIds;
pub use frame::FrameReply;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::access::Caller;
use crate::store::{MasterKeySource, Store, StoreError};

use crate::kmip::enums::{AsynchronousIndicator, BatchErrorContinuationOption, Operation};
use crate::kmip::payloads::ServerInformation;
use crate::kmip::{
    BatchItemError, KmipError, ProtocolVersion, RequestBatchItem, RequestMessage,
    ResponseBatchItem, ResponseHeader, ResponseMessage,
};
use crate::ttlv::{Limits, Ttlv};

/// What the engine is built from.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Bounds on decoded requests.
    pub limits: Limits,
    /// Query Server Information's Vendor Identification.
    pub vendor_identification: String,
    /// Query Server Information's Server Information.
    pub server_information: ServerInformation,
    /// The clock that stamps responses and objects, in seconds since the Unix epoch; replaceable so tests can
    /// fix it.
    pub clock: fn() -> i64,
    /// Where the store lives: `<data_dir>/store.sqlite`.
    pub data_dir: PathBuf,
    /// Where the master key that protects the store comes from.
    pub master_key: MasterKeySource,
    /// Answer the Interop operation of the interoperability test cases; never on a production server.
    pub interop_tests: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            limits: Limits::DEFAULT,
            vendor_identification: "kmipd".to_string(),
            server_information: ServerInformation {
                server_name: Some("kmipd".to_string()),
                server_version: Some(env!("CARGO_PKG_VERSION").to_string()),
                product_name: Some("kmipd".to_string()),
                build_level: None,
            },
            clock: system_clock,
            data_dir: PathBuf::from("./kmipd-data"),
            master_key: MasterKeySource::DataDir,
            interop_tests: false,
        }
    }
}

/// The system clock in whole seconds since the Unix epoch (0 if the clock reads before it).
pub fn system_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Runs requests: the one object the transport hands frames to.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    store: Arc<Store>,
}

/// What an operation may consult while it runs.
pub struct OpContext<'a> {
    /// The version the request is processed and answered in.
    pub version: ProtocolVersion,
    /// True when the request's version is one the server speaks exactly: unknown payload fields are then an
    /// Invalid Field; from a newer minor version they are ignored (1.4 section 11.1).
    pub strict: bool,
    /// The server's configuration.
    pub config: &'a EngineConfig,
    /// Where managed objects live.
    pub store: &'a Store,
    /// Who sent the request.
    pub caller: &'a Caller,
    /// The ID Placeholder and the identifiers earlier items of the batch returned.
    pub batch: BatchIds,
    /// The time the request is processed at, seconds since the Unix epoch; one value for the whole batch.
    pub now: i64,
}

/// An operation: its Request Payload in, its Response Payload out.
type OpFn = fn(&Ttlv, &mut OpContext<'_>) -> Result<Ttlv, KmipError>;

/// The registry of implemented operations, in the order Query Operations lists them.
const IMPLEMENTED: &[(Operation, OpFn)] = &[
    (Operation::DISCOVER_VERSIONS, discover_versions::run),
    (Operation::QUERY, query::run),
    (Operation::CREATE, create::run),
    (Operation::REGISTER, register::run),
    (Operation::LOCATE, locate::run),
    (Operation::GET, get::run),
    (Operation::GET_ATTRIBUTES, attributes::get_attributes),
    (
        Operation::GET_ATTRIBUTE_LIST,
        attributes::get_attribute_list,
    ),
    (Operation::ADD_ATTRIBUTE, attributes::add),
    (Operation::MODIFY_ATTRIBUTE, attributes::modify),
    (Operation::DELETE_ATTRIBUTE, attributes::delete),
    (Operation::SET_ATTRIBUTE, attributes::set),
    (Operation::ADJUST_ATTRIBUTE, attributes::adjust),
    (Operation::REKEY, rekey::run),
    (Operation::CHECK, lifecycle::check),
    (Operation::OBTAIN_LEASE, lifecycle::obtain_lease),
    (
        Operation::GET_USAGE_ALLOCATION,
        lifecycle::get_usage_allocation,
    ),
    (Operation::ACTIVATE, lifecycle::activate),
    (Operation::REVOKE, lifecycle::revoke),
    (Operation::DESTROY, lifecycle::destroy),
    (Operation::ARCHIVE, lifecycle::archive),
    (Operation::RECOVER, lifecycle::recover),
    (Operation::CREATE_KEY_PAIR, create_key_pair::run),
    (Operation::SIGN, sign::sign),
    (Operation::SIGNATURE_VERIFY, sign::verify),
    (Operation::ENCRYPT, cipher_rsa_entry::encrypt),
    (Operation::DECRYPT, cipher_rsa_entry::decrypt),
    (Operation::LOG, interop::log),
    (Operation::INTEROP, interop::interop),
];

/// The operations the server implements, as Query Operations reports them (Interop only on a server configured
/// for interoperability tests).
pub fn implemented_operations() -> impl Iterator<Item = Operation> {
    IMPLEMENTED
        .iter()
        .map(|(op, _)| *op)
        .filter(|op| *op != Operation::INTEROP)
}

/// The operations a server with this configuration answers.
pub fn operations_for(config: &EngineConfig) -> impl Iterator<Item = Operation> + '_ {
    IMPLEMENTED
        .iter()
        .map(|(op, _)| *op)
        .filter(|op| *op != Operation::INTEROP || config.interop_tests)
}

/// The caller of requests handed to the engine in-process (tests, tools): no certificate, no peer.
pub fn in_process_caller() -> Caller {
    Caller {
        peer: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        identity: "in-process".to_string(),
        certificate_sha256: [0; 32],
    }
}

impl Engine {
    /// Opens the engine: the store in the data directory (created on first use) under the configured master
    /// key.
    pub fn open(config: EngineConfig) -> Result<Engine, StoreError> {
        let store = Store::open_in_dir(&config.data_dir, &config.master_key)?;
        Ok(Engine::with_store(config, Arc::new(store)))
    }

    /// Builds an engine over a store that is already open.
    pub fn with_store(config: EngineConfig, store: Arc<Store>) -> Self {
        Engine { config, store }
    }

    /// The store the engine keeps objects in.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Answers a request tree with a response tree: a request that cannot be read is answered with a failure
    /// rather than dropped, and a response larger than the request's Maximum Response Size becomes Response
    /// Too Large for every item.
    pub fn handle_request(&self, request: &Ttlv) -> Ttlv {
        self.handle_request_from(request, &in_process_caller())
    }

    /// [`Engine::handle_request`] on behalf of an authenticated caller.
    pub fn handle_request_from(&self, request: &Ttlv, caller: &Caller) -> Ttlv {
        let message = match RequestMessage::from_ttlv(request) {
            Ok(m) => m,
            Err(rejected) => return ResponseMessage::rejection(&rejected, self.now()).to_ttlv(),
        };
        let response = self.process(&message, caller);
        let tree = response.to_ttlv();
        let Some(maximum) = message.header.maximum_response_size else {
            return tree;
        };
        let len = crate::ttlv::encoded_len(&tree);
        if usize::try_from(maximum).is_ok_and(|m| len <= m) {
            return tree;
        }
        response.too_large(len, maximum).to_ttlv()
    }

    /// Runs every batch item of a request that has been read, and builds the response in its version.
    pub fn process(&self, request: &RequestMessage, caller: &Caller) -> ResponseMessage {
        let version = request.version;
        // The specification asks servers to log the client's correlation value with each request.
        tracing::debug!(
            %version,
            items = request.items.len(),
            client_correlation_value = request.header.client_correlation_value.as_deref(),
            "request"
        );
        let now = self.now();
        let header = ResponseHeader::new(version, now);
        let mut ctx = OpContext {
            version,
            strict: version == request.header.protocol_version,
            config: &self.config,
            store: &self.store,
            caller,
            batch: BatchIds::default(),
            now,
        };
        let items = match refusal(request) {
            Some(refuse) => request
                .items
                .iter()
                .enumerate()
                .map(|(index, item)| match item {
                    Ok(i) => ResponseBatchItem::failure(
                        Some(i.operation),
                        i.unique_batch_item_id.clone(),
                        &refuse(index),
                    ),
                    Err(bad) => unreadable(bad),
                })
                .collect(),
            None => self.run_batch(request, &mut ctx),
        };
        ResponseMessage { header, items }
    }

    /// Runs the items in request order (which satisfies either Batch Order Option), stopping after the first
    /// failure unless the Batch Error Continuation Option is Continue.
    fn run_batch(
        &self,
        request: &RequestMessage,
        ctx: &mut OpContext<'_>,
    ) -> Vec<ResponseBatchItem> {
        let option = request
            .header
            .batch_error_continuation_option
            .unwrap_or_default();
        let mut out = Vec::with_capacity(request.items.len());
        for item in &request.items {
            let response = match item {
                Ok(i) => run_item(i, ctx),
                Err(bad) => unreadable(bad),
            };
            let failed = response.is_failure();
            out.push(response);
            // Stop: the items not processed are not returned (1.4 section 11.43).
            if failed && option != BatchErrorContinuationOption::Continue {
                break;
            }
        }
        out
    }

    fn now(&self) -> i64 {
        (self.config.clock)()
    }
}

/// Runs one readable item.
fn run_item(item: &RequestBatchItem, ctx: &mut OpContext<'_>) -> ResponseBatchItem {
    let id = item.unique_batch_item_id.clone();
    let result = match IMPLEMENTED.iter().find(|(op, _)| *op == item.operation) {
        None => Err(KmipError::operation_not_supported(format!(
            "operation {} is not supported by this server",
            item.operation
        ))),
        Some((_, run)) => match &item.payload {
            Some(payload) => run(payload, ctx),
            None => Err(KmipError::invalid_message(
                "Batch Item lacks Request Payload",
            )),
        },
    };
    match result {
        Ok(payload) => ResponseBatchItem::success(item.operation, id, payload),
        Err(e) => ResponseBatchItem::failure(Some(item.operation), id, &e),
    }
}

/// The answer to an item that could not be read.
fn unreadable(bad: &BatchItemError) -> ResponseBatchItem {
    ResponseBatchItem::failure(bad.operation, bad.unique_batch_item_id.clone(), &bad.error)
}

/// Why the whole request is refused before any item runs, as the error each item (by index) is answered with;
/// `None` when the batch may run.
fn refusal(request: &RequestMessage) -> Option<Box<dyn Fn(usize) -> KmipError + '_>> {
    let header = &request.header;
    if header.asynchronous_indicator == Some(AsynchronousIndicator::Mandatory) {
        return Some(Box::new(|_| {
            KmipError::feature_not_supported(
                "asynchronous processing is not supported; the Asynchronous Indicator is Mandatory",
            )
        }));
    }
    // 1.4 section 6.13: a server without Undo rejects the entire request that asks for it.
    if header.batch_error_continuation_option == Some(BatchErrorContinuationOption::Undo) {
        return Some(Box::new(|_| {
            KmipError::feature_not_supported(
                "Batch Error Continuation Option Undo is not supported: batch items are not transactional",
            )
        }));
    }
    // A critical extension the receiver does not understand rejects the entire message (2.1 section 9.13). The
    // server understands no extension.
    let critical = |index: usize| -> Option<String> {
        let item = request.items.get(index)?.as_ref().ok()?;
        let ext = item
            .message_extensions
            .iter()
            .find(|e| e.criticality_indicator)?;
        Some(ext.vendor_identification.clone())
    };
    let first = (0..request.items.len()).find(|&i| critical(i).is_some())?;
    Some(Box::new(move |index| match critical(index) {
        Some(vendor) => KmipError::unknown_message_extension(format!(
            "critical Message Extension of vendor {vendor:?} is not understood"
        )),
        None => KmipError::unknown_message_extension(format!(
            "request rejected: batch item {} carries a critical Message Extension that is not understood",
            first + 1
        )),
    }))
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_asym;
#[cfg(test)]
mod tests_lifecycle;
