//! Operational metrics in the Prometheus text format, and the health and readiness answers, for `serve
//! --metrics-listen` (`[metrics] listen`).
//!
//! The counters live in one process-wide [`Metrics`], installed by `serve` when the endpoint is on; the hooks
//! the server calls ([`item_answered`], [`connection_opened`], [`audit_line_written`], [`backup_finished`])
//! do nothing until then. Zone state, sequence numbers and the last backup are read when a scrape asks
//! ([`StateSource`], which the server implements), not kept up to date in between. The HTTP side is [`http`].

pub mod http;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Deserialize;

use crate::kmip::ResultStatus;

/// Most bytes of an HTTP request to the metrics endpoint (request line and headers).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 8 * 1024;

/// Longest time a metrics client may take to send its request.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 5;

/// Most metrics connections served at once; more wait for a free place.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// The `[metrics]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Address of the plain-HTTP endpoint (`/metrics`, `/healthz`, `/readyz`); off when unset. Keep it on
    /// loopback or a management network: it is not authenticated.
    pub listen: Option<SocketAddr>,
    /// Most bytes of a request (line and headers).
    pub max_request_bytes: usize,
    /// Seconds a client may take to send its request.
    pub request_timeout_secs: u64,
    /// Most connections served at once.
    pub max_connections: usize,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            listen: None,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            request_timeout_secs: DEFAULT_REQUEST_TIMEOUT_SECS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl MetricsSettings {
    /// Refuses zero limits.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_request_bytes < 64 {
            return Err("metrics.max_request_bytes must be at least 64".into());
        }
        if self.request_timeout_secs == 0 || self.max_connections == 0 {
            return Err("metrics.request_timeout_secs and max_connections must be positive".into());
        }
        Ok(())
    }
}

type Labels = Vec<(&'static str, String)>;
type HistogramMaker = fn() -> Histogram;

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, HistogramMaker>,
    open_connections: Gauge,
    audit_lines: Counter,
    backups: Family<Labels, Counter>,
    last_backup_ok: Gauge,
    zone_up: Family<Labels, Gauge>,
    zone_last_seq: Family<Labels, Gauge>,
    acked_seq: Gauge,
    everywhere_seq: Gauge,
    backup_age: Gauge,
    backup_count: Gauge,
    remote_reachable: Family<Labels, Gauge>,
    remote_last_seq: Family<Labels, Gauge>,
    remote_lag_changes: Family<Labels, Gauge>,
    remote_lag_seconds: Family<Labels, Gauge<f64, AtomicU64>>,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kmipd");
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "requests",
            "Batch items answered, by operation and result (success, failure, undone)",
            requests.clone(),
        );
        let latency: Family<Labels, Histogram, HistogramMaker> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "request_duration_seconds",
            "Time to answer one batch item, by operation",
            latency.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "open_connections",
            "Client connections past the TLS handshake and open now",
            open_connections.clone(),
        );
        let audit_lines = Counter::default();
        registry.register(
            "audit_lines",
            "Audit log lines written by this process",
            audit_lines.clone(),
        );
        let backups = Family::<Labels, Counter>::default();
        registry.register(
            "scheduled_backups",
            "Scheduled backups by result (ok, failed, partial: some destinations failed)",
            backups.clone(),
        );
        let last_backup_ok = Gauge::default();
        registry.register(
            "last_scheduled_backup_ok",
            "1 when the last scheduled backup of this process reached every destination, 0 when it failed, \
             -1 before the first",
            last_backup_ok.clone(),
        );
        last_backup_ok.set(-1);
        let zone_up = Family::<Labels, Gauge>::default();
        registry.register(
            "zone_up",
            "1 when the zone takes changes, 0 when it is down",
            zone_up.clone(),
        );
        let zone_last_seq = Family::<Labels, Gauge>::default();
        registry.register(
            "zone_last_sequence",
            "The last change sequence number the zone holds",
            zone_last_seq.clone(),
        );
        let acked_seq = Gauge::default();
        registry.register(
            "acknowledged_sequence",
            "The highest change sequence number acknowledged to a client",
            acked_seq.clone(),
        );
        let everywhere_seq = Gauge::default();
        registry.register(
            "everywhere_sequence",
            "The highest change sequence number every zone is known to hold",
            everywhere_seq.clone(),
        );
        let backup_age = Gauge::default();
        registry.register(
            "last_backup_age_seconds",
            "Age of the newest backup in the destinations (-1 when there is none)",
            backup_age.clone(),
        );
        let backup_count = Gauge::default();
        registry.register(
            "backups",
            "Backups found in the destinations",
            backup_count.clone(),
        );
        let remote_reachable = Family::<Labels, Gauge>::default();
        registry.register(
            "remote_reachable",
            "1 when the last exchange with the remote-region copy succeeded (sequencer node)",
            remote_reachable.clone(),
        );
        let remote_last_seq = Family::<Labels, Gauge>::default();
        registry.register(
            "remote_last_sequence",
            "The last change sequence number the remote-region copy holds",
            remote_last_seq.clone(),
        );
        let remote_lag_changes = Family::<Labels, Gauge>::default();
        registry.register(
            "remote_lag_changes",
            "Changes the remote-region copy lacks",
            remote_lag_changes.clone(),
        );
        let remote_lag_seconds = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "remote_lag_seconds",
            "Age of the oldest change the remote-region copy lacks (0 when it lacks none)",
            remote_lag_seconds.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            open_connections,
            audit_lines,
            backups,
            last_backup_ok,
            zone_up,
            zone_last_seq,
            acked_seq,
            everywhere_seq,
            backup_age,
            backup_count,
            remote_reachable,
            remote_last_seq,
            remote_lag_changes,
            remote_lag_seconds,
        }
    }

    /// The text exposition of every metric, after reading the zones and backups from `state`.
    pub fn render(&self, state: &dyn StateSource) -> String {
        let report = state.report();
        for zone in &report.zones {
            let labels = vec![("zone", zone.name.clone())];
            self.zone_up.get_or_create(&labels).set(i64::from(zone.up));
            if let Some(seq) = zone.last_seq {
                self.zone_last_seq
                    .get_or_create(&labels)
                    .set(i64::try_from(seq).unwrap_or(i64::MAX));
            }
        }
        for remote in &report.remotes {
            let labels = vec![("zone", remote.zone.clone())];
            self.remote_reachable
                .get_or_create(&labels)
                .set(i64::from(remote.reachable));
            self.remote_last_seq
                .get_or_create(&labels)
                .set(i64::try_from(remote.last_seq).unwrap_or(i64::MAX));
            self.remote_lag_changes
                .get_or_create(&labels)
                .set(i64::try_from(remote.lag_changes).unwrap_or(i64::MAX));
            self.remote_lag_seconds
                .get_or_create(&labels)
                .set(remote.lag_seconds);
        }
        self.acked_seq
            .set(i64::try_from(report.acked_seq).unwrap_or(i64::MAX));
        self.everywhere_seq
            .set(i64::try_from(report.everywhere_seq).unwrap_or(i64::MAX));
        match &report.backup {
            Ok(b) => {
                self.backup_age.set(
                    b.age_secs
                        .map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX)),
                );
                self.backup_count
                    .set(i64::try_from(b.count).unwrap_or(i64::MAX));
            }
            Err(_) => {
                self.backup_age.set(-1);
            }
        }
        self.text()
    }

    /// The text exposition of the metrics as they stand.
    fn text(&self) -> String {
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            tracing::error!("cannot encode the metrics");
        }
        text
    }
}

static GLOBAL: OnceLock<Metrics> = OnceLock::new();

/// Turns the metrics on for this process (idempotent) and returns them.
pub fn install() -> &'static Metrics {
    GLOBAL.get_or_init(Metrics::new)
}

/// The metrics, when installed.
pub fn installed() -> Option<&'static Metrics> {
    GLOBAL.get()
}

/// One batch item was answered: `operation` names it (called only when metrics are on). Operations without
/// a name in the specification are counted as `other`, so a client cannot create labels at will.
pub fn item_answered(operation: impl FnOnce() -> String, status: ResultStatus, took: Duration) {
    let Some(m) = installed() else {
        return;
    };
    let mut name = operation();
    if name.starts_with("0x") || name.starts_with('(') {
        name = "other".to_string();
    }
    let result = match status {
        ResultStatus::Success => "success",
        ResultStatus::OperationUndone => "undone",
        _ => "failure",
    };
    m.requests
        .get_or_create(&vec![
            ("operation", name.clone()),
            ("result", result.to_string()),
        ])
        .inc();
    m.latency
        .get_or_create(&vec![("operation", name)])
        .observe(took.as_secs_f64());
}

/// Counts a connection as open until the guard is dropped.
pub struct OpenConnection(bool);

/// A client connection passed the handshake; it counts as open while the returned guard lives.
pub fn connection_opened() -> OpenConnection {
    match installed() {
        Some(m) => {
            m.open_connections.inc();
            OpenConnection(true)
        }
        None => OpenConnection(false),
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        if self.0
            && let Some(m) = installed()
        {
            m.open_connections.dec();
        }
    }
}

/// An audit line was written.
pub fn audit_line_written() {
    if let Some(m) = installed() {
        m.audit_lines.inc();
    }
}

/// A scheduled backup ended: `ok` when written, `failed_destinations` of its destinations failed.
pub fn backup_finished(ok: bool, failed_destinations: usize) {
    let Some(m) = installed() else {
        return;
    };
    let result = match (ok, failed_destinations) {
        (false, _) => "failed",
        (true, 0) => "ok",
        (true, _) => "partial",
    };
    m.backups
        .get_or_create(&vec![("result", result.to_string())])
        .inc();
    m.last_backup_ok
        .set(i64::from(ok && failed_destinations == 0));
}

/// What a scrape or a readiness check reads: the server's zones, remotes and backups at one moment. The
/// server implements it (`server::health`), so this module knows none of the layers it reports on.
pub trait StateSource: Send + Sync {
    /// Reads the state now (may block on file reads).
    fn report(&self) -> Report;
}

/// A remote-region copy as the sequencer sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RemoteReport {
    /// Its zone name.
    pub zone: String,
    /// Whether the last exchange with it succeeded.
    pub reachable: bool,
    /// The last sequence number it holds.
    pub last_seq: u64,
    /// Changes it lacks.
    pub lag_changes: u64,
    /// Age of the oldest change it lacks, seconds.
    pub lag_seconds: f64,
    /// Its lag passed the alarm threshold.
    pub lag_alarm: bool,
}

/// One zone as `/readyz` shows it.
#[derive(Debug, serde::Serialize)]
pub struct ZoneReport {
    /// Zone name.
    pub name: String,
    /// Takes changes.
    pub up: bool,
    /// The zone that orders changes.
    pub sequencer: bool,
    /// Last sequence number held.
    pub last_seq: Option<u64>,
    /// Why it is down.
    pub reason: Option<String>,
}

/// The last backup, as `/readyz` shows it.
#[derive(Debug, serde::Serialize)]
pub struct BackupReport {
    /// Newest backup id.
    pub last_id: Option<String>,
    /// Its age.
    pub age_secs: Option<u64>,
    /// How many exist.
    pub count: usize,
}

/// The server's state at one moment.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// True when every zone is up: KMIP requests of every kind are answered. With a zone down reads go on but
    /// changes are refused, so the server is not ready.
    pub ready: bool,
    /// Each zone.
    pub zones: Vec<ZoneReport>,
    /// Highest sequence acknowledged to a client.
    pub acked_seq: u64,
    /// Highest sequence every zone holds.
    pub everywhere_seq: u64,
    /// The remote-region copies a sequencer node ships to (their lag does not affect readiness).
    pub remotes: Vec<RemoteReport>,
    /// The last backup, or why it cannot be read.
    #[serde(serialize_with = "backup_or_error")]
    pub backup: Result<BackupReport, String>,
}

fn backup_or_error<S: serde::Serializer>(
    value: &Result<BackupReport, String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::Serialize;
    match value {
        Ok(b) => b.serialize(serializer),
        Err(e) => serde_json::json!({ "error": e }).serialize(serializer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_without_a_name_share_one_label_and_backups_set_their_result() {
        let m = install();
        item_answered(
            || "0x7fff1234".into(),
            ResultStatus::Success,
            Duration::ZERO,
        );
        item_answered(
            || "0x7fff5678".into(),
            ResultStatus::Success,
            Duration::ZERO,
        );
        item_answered(
            || "(unreadable)".into(),
            ResultStatus::OperationFailed,
            Duration::ZERO,
        );
        let text = m.text();
        assert!(!text.contains("0x7fff"), "{text}");
        assert!(
            text.lines()
                .any(|l| l
                    .starts_with("kmipd_requests_total{operation=\"other\",result=\"success\"}")),
            "{text}"
        );
        backup_finished(true, 1);
        assert_eq!(m.last_backup_ok.get(), 0);
        backup_finished(true, 0);
        assert_eq!(m.last_backup_ok.get(), 1);
    }

    #[test]
    fn settings_refuse_zero_limits() {
        assert!(MetricsSettings::default().validate().is_ok());
        let zero = MetricsSettings {
            max_connections: 0,
            ..MetricsSettings::default()
        };
        assert!(zero.validate().is_err());
        let tiny = MetricsSettings {
            max_request_bytes: 10,
            ..MetricsSettings::default()
        };
        assert!(tiny.validate().is_err());
        let parsed: MetricsSettings = toml::from_str("listen = \"127.0.0.1:9184\"").unwrap();
        assert_eq!(parsed.listen, Some(([127, 0, 0, 1], 9184).into()));
    }
}
