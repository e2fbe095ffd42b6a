//! The operations: each batch item of a request is run here, one file per operation or small family.
//!
//! [`Engine`] takes a request that `kmip` has read, decides what the batch as a whole allows (continuation
//! option, asynchronous processing, critical message extensions), runs each item through the registry of
//! implemented operations, and gives back the response in the request's version. Operations not in the registry
//! are answered Operation Not Supported; Query Operations lists exactly the registry, so it grows as operations
//! land.

mod access_admin;
mod asym_cipher;
mod asym_key;
mod attributes;
mod authorize;
mod batch;
mod cipher;
mod create;
mod create_key_pair;
mod crypto_common;
mod derive;
mod descriptor;
mod discover_versions;
mod frame;
mod gate;
mod get;
pub mod handler;
mod hash;
mod interop;
mod lifecycle;
mod locate;
mod mac;
mod new_object;
mod object;
mod query;
mod register;
mod rekey;
mod sign;
pub mod streams;
mod undo;
pub(crate) mod usage;

pub use batch::BatchIds;
pub use handler::{FrameHandler, Reply};
pub use lifecycle::DEFAULT_LEASE_SECONDS;
pub use streams::CryptoLimits;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::access::audit::AuditEvent;
use crate::access::policy::Principal;
use crate::access::{AccessControl, Caller};
use crate::replication::origin::Origin;
use crate::replication::{ZonedStore, ZonesConfig};
use crate::store::{MasterKeySource, Store, StoreError, StoreOptions};

use crate::kmip::enums::{
    AsynchronousIndicator, BatchErrorContinuationOption, Operation, ResultStatus,
};
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
    /// The access policy requests are judged by and the audit log they are recorded in.
    pub access: AccessControl,
    /// The zones every change is committed to; `None` = the embedded default, zones `a` and `b` in
    /// `<data_dir>/zone-a` and `<data_dir>/zone-b`.
    pub zones: Option<ZonesConfig>,
    /// Bounds on the cryptographic services (open streams, RNG Retrieve).
    pub crypto: CryptoLimits,
    /// The Lease Time new objects carry and the longest lease Obtain Lease grants, in seconds.
    pub lease_seconds: u32,
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
            access: AccessControl::default(),
            zones: None,
            crypto: CryptoLimits::DEFAULT,
            lease_seconds: lifecycle::DEFAULT_LEASE_SECONDS,
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
    store: Arc<ZonedStore>,
    streams: streams::Streams,
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
    pub store: &'a ZonedStore,
    /// Who sent the request.
    pub caller: &'a Caller,
    /// The ID Placeholder and the identifiers earlier items of the batch returned.
    pub batch: BatchIds,
    /// The time the request is processed at, seconds since the Unix epoch; one value for the whole batch.
    pub now: i64,
    /// Under Batch Error Continuation Option Undo, where writes record what they replace.
    pub undo: Option<&'a undo::UndoJournal>,
    /// Who the policy judges the request as; None for in-process callers, which it does not restrict.
    pub principal: Option<Principal>,
    /// Who owns the objects the running item creates (set by the access check of creating operations).
    pub new_owner: Option<String>,
    /// The open streams of Encrypt, Decrypt, MAC and Hash.
    pub streams: &'a streams::Streams,
    /// What the access checks of this request have read (grants, owners, Object Groups), for its later items.
    pub(crate) access_cache: authorize::AccessCache,
    /// The running item's operation: with the caller, on whose behalf its changes are made ([`OpContext::origin`]).
    pub operation: Option<Operation>,
}

impl OpContext<'_> {
    /// On whose behalf the running item's changes are made: a follower node forwards it with them, so the
    /// sequencer's audit line names the client. Built when a change is committed, not for every item.
    pub fn origin(&self) -> Origin {
        Origin {
            identity: self
                .principal
                .as_ref()
                .map_or(self.caller.identity.clone(), |p| p.identity.clone()),
            source: self.caller.peer.to_string(),
            operation: self.operation.map_or(String::new(), |op| {
                op.name().map_or(format!("{:#x}", op.0), str::to_string)
            }),
        }
    }
}

/// The operations the server implements, as Query Operations reports them (Interop only on a server configured
/// for interoperability tests).
pub fn implemented_operations() -> impl Iterator<Item = Operation> {
    descriptor::DESCRIPTORS
        .iter()
        .filter(|d| d.listed == descriptor::Listed::Always)
        .map(|d| d.operation)
}

/// The operations a server with this configuration answers.
pub fn operations_for(config: &EngineConfig) -> impl Iterator<Item = Operation> + '_ {
    descriptor::DESCRIPTORS
        .iter()
        .filter(|d| match d.listed {
            descriptor::Listed::Always => true,
            descriptor::Listed::InteropServers => config.interop_tests,
            descriptor::Listed::Never => false,
        })
        .map(|d| d.operation)
}

/// The caller of requests handed to the engine in-process (tests, tools): no certificate, no peer.
pub fn in_process_caller() -> Caller {
    Caller {
        peer: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        identity: "in-process".to_string(),
        certificate_sha256: [0; 32],
        in_process: true,
    }
}

impl Engine {
    /// Opens the engine: the store in the data directory (created on first use) under the configured master
    /// key.
    pub fn open(config: EngineConfig) -> Result<Engine, StoreError> {
        let zones = config
            .zones
            .clone()
            .unwrap_or_else(|| ZonesConfig::default_in(&config.data_dir));
        let store = ZonedStore::open(
            zones,
            &config.data_dir,
            &config.master_key,
            StoreOptions::default(),
        )?;
        Ok(Engine::with_zones(config, Arc::new(store)))
    }

    /// Builds an engine over one store that is already open (a single zone: tests, tools).
    pub fn with_store(config: EngineConfig, store: Arc<Store>) -> Result<Self, StoreError> {
        Ok(Engine::with_zones(
            config,
            Arc::new(ZonedStore::single(store)?),
        ))
    }

    /// Builds an engine over zones that are already open.
    pub fn with_zones(config: EngineConfig, store: Arc<ZonedStore>) -> Self {
        Engine {
            config,
            store,
            streams: streams::Streams::default(),
        }
    }

    /// The zones the engine keeps objects in.
    pub fn store(&self) -> &Arc<ZonedStore> {
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
        // The client's Maximum Response Size, or the server's budget (`max_response_bytes`) if smaller.
        let budget = i32::try_from(self.config.crypto.max_response_bytes).unwrap_or(i32::MAX);
        let maximum = message
            .header
            .maximum_response_size
            .map_or(budget, |m| m.min(budget));
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
        let journal = undo::UndoJournal::new();
        let undoing = request.header.batch_error_continuation_option
            == Some(BatchErrorContinuationOption::Undo);
        let principal = self.principal(request, caller);
        let mut ctx = OpContext {
            version,
            strict: version == request.header.protocol_version,
            config: &self.config,
            store: &self.store,
            caller,
            batch: BatchIds::default(),
            now,
            undo: undoing.then_some(&journal),
            principal: principal.as_ref().ok().cloned().flatten(),
            new_owner: None,
            streams: &self.streams,
            access_cache: authorize::AccessCache::default(),
            operation: None,
        };
        let refused = match principal {
            Err(e) => Some(Box::new(move |_| e.clone()) as Box<dyn Fn(usize) -> KmipError>),
            Ok(_) => match streams::check_response_budget(request, &self.config.crypto) {
                Err(e) => Some(Box::new(move |_| e.clone()) as Box<dyn Fn(usize) -> KmipError>),
                Ok(()) => refusal(request),
            },
        };
        let items = match refused {
            Some(refuse) => {
                let started = Instant::now();
                let items: Vec<ResponseBatchItem> = request
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
                    .collect();
                for item in &items {
                    // Refused whole: nothing ran, so a line that cannot be written changes no answer.
                    if let Err(e) = self.audit(&ctx, item, Vec::new(), started) {
                        tracing::error!(error = %e, "cannot write the audit log");
                    }
                }
                items
            }
            None => self.run_batch(request, &mut ctx),
        };
        ResponseMessage { header, items }
    }

    /// Who the policy judges the request as: the caller's identity, or the user of a verified Username and
    /// Password Credential; a Credential that does not verify refuses the whole request. In-process callers
    /// are not judged (None).
    fn principal(
        &self,
        request: &RequestMessage,
        caller: &Caller,
    ) -> Result<Option<Principal>, KmipError> {
        if caller.in_process {
            return Ok(None);
        }
        let refused =
            |e: String| KmipError::new(crate::kmip::ResultReason::AuthenticationNotSuccessful, e);
        let credential =
            crate::access::identity::password_credential(request.header.authentication.as_ref())
                .map_err(|e| refused(e.to_string()))?;
        self.config
            .access
            .policy
            .principal(caller, credential.as_ref())
            .map(Some)
            .map_err(|e| refused(e.to_string()))
    }

    /// Writes the audit line of one answered batch item (when an audit log is configured).
    fn audit(
        &self,
        ctx: &OpContext<'_>,
        item: &ResponseBatchItem,
        mut objects: Vec<String>,
        started: Instant,
    ) -> Result<(), crate::access::audit::AuditError> {
        crate::metrics::item_answered(
            || operation_name(item.operation),
            item.result_status,
            started.elapsed(),
        );
        let Some(log) = &self.config.access.audit else {
            return Ok(());
        };
        if let Some(payload) = &item.payload {
            for t in [
                crate::spec::tag::UNIQUE_IDENTIFIER,
                crate::spec::tag::PRIVATE_KEY_UNIQUE_IDENTIFIER,
                crate::spec::tag::PUBLIC_KEY_UNIQUE_IDENTIFIER,
            ] {
                for uid in payload.children_with(t) {
                    if let crate::ttlv::Value::TextString(u) = &uid.value
                        && !objects.contains(u)
                    {
                        objects.push(u.clone());
                    }
                }
            }
        }
        let detail = match (item.operation, &item.payload) {
            (Some(op), Some(payload)) if !item.is_failure() => grant_detail(op, payload),
            _ => None,
        };
        let event = AuditEvent {
            identity: audited_identity(ctx),
            source: ctx.caller.peer.to_string(),
            operation: operation_name(item.operation),
            objects,
            status: match item.result_status {
                ResultStatus::Success => "success",
                ResultStatus::OperationUndone => "undone",
                _ => "failure",
            },
            reason: item.result_reason.map(|r| r.name().to_string()),
            duration: started.elapsed(),
            detail,
        };
        log.record(&event)
    }

    /// Runs the items in request order (which satisfies either Batch Order Option), stopping after the first
    /// failure unless the Batch Error Continuation Option is Continue; under Undo, the items before the failure
    /// are undone and answered Operation Undone (`undo`).
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
            let started = Instant::now();
            let mut objects = Vec::new();
            ctx.operation = item.as_ref().ok().map(|i| i.operation);
            let mut response = match item {
                Ok(i) => run_item(i, ctx, &mut objects),
                Err(bad) => unreadable(bad),
            };
            if let Err(e) = self.audit(ctx, &response, objects, started) {
                tracing::error!(error = %e, "cannot write the audit log");
                // A change already has its intent line and stands; an answer that changed nothing is withheld,
                // so nothing (key material above all) leaves the server unaudited.
                let read_only = item.as_ref().is_ok_and(|i| is_read_only(i.operation));
                if read_only && !response.is_failure() {
                    response = ResponseBatchItem::failure(
                        response.operation,
                        response.unique_batch_item_id.clone(),
                        &KmipError::general_failure(AUDIT_UNWRITABLE_ANSWER),
                    );
                }
            }
            let failed = response.is_failure();
            out.push(response);
            // Stop: the items not processed are not returned (1.4 section 11.43).
            if failed && option != BatchErrorContinuationOption::Continue {
                if let Some(journal) = ctx.undo {
                    undo_earlier(journal, ctx.store, &ctx.origin(), &mut out);
                    // Their success lines are already written: the log says they were undone after all.
                    for undone in out
                        .iter()
                        .filter(|i| i.result_status == ResultStatus::OperationUndone)
                    {
                        if let Err(e) = self.audit(ctx, undone, Vec::new(), Instant::now()) {
                            tracing::error!(error = %e, "cannot write the audit log");
                        }
                    }
                }
                break;
            }
        }
        out
    }

    fn now(&self) -> i64 {
        (self.config.clock)()
    }
}

/// Runs one readable item once the access policy allows it; `objects` receives the identifiers it names.
fn run_item(
    item: &RequestBatchItem,
    ctx: &mut OpContext<'_>,
    objects: &mut Vec<String>,
) -> ResponseBatchItem {
    let id = item.unique_batch_item_id.clone();
    let result = authorize::check(item, ctx, objects).and_then(|()| {
        audit_intent(item, ctx, objects)?;
        match descriptor::of(item.operation) {
            None => Err(KmipError::operation_not_supported(format!(
                "operation {} is not supported by this server",
                item.operation
            ))),
            Some(d) => match &item.payload {
                Some(payload) => (d.handler)(payload, ctx),
                None => Err(KmipError::invalid_message(
                    "Batch Item lacks Request Payload",
                )),
            },
        }
    });
    ctx.new_owner = None;
    ctx.access_cache.after(item.operation);
    match result {
        Ok(payload) => ResponseBatchItem::success(item.operation, id, payload),
        Err(e) => ResponseBatchItem::failure(Some(item.operation), id, &e),
    }
}

/// The answer to a read-only item whose audit line could not be written.
const AUDIT_UNWRITABLE_ANSWER: &str = "the audit log cannot be written, so the answer is withheld";
/// The answer to a change whose intent line could not be written.
const AUDIT_UNWRITABLE_CHANGE: &str =
    "the audit log cannot be written, so the change is refused (nothing was committed)";

/// Operations that change nothing the server keeps (objects, attributes, grants); every other operation
/// writes an intent line before it runs.
fn is_read_only(operation: Operation) -> bool {
    descriptor::of(operation).is_some_and(|d| d.effect == descriptor::Effect::ReadOnly)
}

/// Who an audit line names: the principal, or the certificate identity when there is none.
fn audited_identity(ctx: &OpContext<'_>) -> String {
    ctx.principal
        .as_ref()
        .map_or(ctx.caller.identity.clone(), |p| p.identity.clone())
}

/// An operation as audit lines name it: its descriptor's name, else the specification's, else its code.
fn operation_name(operation: Option<Operation>) -> String {
    match operation {
        None => "(unreadable)".to_string(),
        Some(op) => match descriptor::of(op) {
            Some(d) => d.name.to_string(),
            None => op.name().map_or(format!("{:#x}", op.0), str::to_string),
        },
    }
}

/// For Grant and Revoke Grant, the grant's subject, target and classes (and identifier) from a request or
/// response payload's JSON; only those fields, never the whole client text.
fn grant_detail(operation: Operation, payload: &Ttlv) -> Option<serde_json::Value> {
    use crate::access::client::{OP_GRANT, OP_REVOKE_GRANT, payload_json};
    if operation != OP_GRANT && operation != OP_REVOKE_GRANT {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(payload_json(payload)?).ok()?;
    let mut out = serde_json::Map::new();
    for field in ["id", "revoked", "subject", "target", "classes"] {
        if let Some(v) = value.get(field) {
            out.insert(field.to_string(), v.clone());
        }
    }
    Some(serde_json::Value::Object(out))
}

/// Before a change runs, its intent line: if it cannot be written the item fails and nothing is committed.
fn audit_intent(
    item: &RequestBatchItem,
    ctx: &OpContext<'_>,
    objects: &[String],
) -> Result<(), KmipError> {
    let Some(log) = &ctx.config.access.audit else {
        return Ok(());
    };
    if is_read_only(item.operation) {
        return Ok(());
    }
    let event = AuditEvent {
        identity: audited_identity(ctx),
        source: ctx.caller.peer.to_string(),
        operation: operation_name(Some(item.operation)),
        objects: objects.to_vec(),
        status: crate::access::audit::INTENT,
        reason: None,
        duration: std::time::Duration::ZERO,
        detail: item
            .payload
            .as_ref()
            .and_then(|p| grant_detail(item.operation, p)),
    };
    log.record(&event).map_err(|e| {
        tracing::error!(error = %e, "cannot write the audit log; refusing the change");
        KmipError::general_failure(AUDIT_UNWRITABLE_CHANGE)
    })
}

/// Undoes what the items before the failed last one of `out` wrote and marks them Operation Undone; when that
/// cannot be done they keep their Success, and the failure is logged.
fn undo_earlier(
    journal: &undo::UndoJournal,
    store: &ZonedStore,
    origin: &Origin,
    out: &mut [ResponseBatchItem],
) {
    match journal.undo(store, origin) {
        Ok(()) => {
            let earlier = out.len().saturating_sub(1);
            for item in out.iter_mut().take(earlier) {
                if item.result_status == ResultStatus::Success {
                    item.result_status = ResultStatus::OperationUndone;
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "a batch with Undo failed and could not be undone"),
    }
}

/// The answer to an item that could not be read.
fn unreadable(bad: &BatchItemError) -> ResponseBatchItem {
    ResponseBatchItem::failure(bad.operation, bad.unique_batch_item_id.clone(), &bad.error)
}

/// Whether the item opens, continues or ends a stream of Encrypt, Decrypt, MAC, MAC Verify or Hash.
fn steps_a_stream(item: &RequestBatchItem) -> bool {
    const STREAMED: [Operation; 5] = [
        Operation::ENCRYPT,
        Operation::DECRYPT,
        Operation::MAC,
        Operation::MAC_VERIFY,
        Operation::HASH,
    ];
    STREAMED.contains(&item.operation)
        && item
            .payload
            .as_ref()
            .is_some_and(|p| !matches!(streams::step(p), Ok(streams::Step::Whole)))
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
    // An open stream lives in memory and changes with each step: it cannot be undone, so a batch with Undo that
    // steps a stream is refused whole, before anything runs (rather than answer Operation Undone for a stream
    // that stays opened or advanced).
    if header.batch_error_continuation_option == Some(BatchErrorContinuationOption::Undo)
        && request.items.iter().flatten().any(steps_a_stream)
    {
        return Some(Box::new(|_| {
            KmipError::feature_not_supported(
                "a batch with Batch Error Continuation Option Undo cannot step a stream (Init Indicator, \
                 Correlation Value): an open stream cannot be undone",
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
mod tests_audit;
#[cfg(test)]
mod tests_crypto;
#[cfg(test)]
mod tests_lifecycle;
