//! The server's configuration: where it listens, where its files live, which certificates it uses, and every
//! limit a peer is held to. Read from TOML (unknown keys are refused so a typo cannot silently fall back to a
//! default), then overridden by command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use crate::access::IdentitySource;
use crate::access::allow_list::{AllowList, DEFAULT_ALLOW};
use crate::access::audit::AuditSettings;
use crate::access::limits::IdentityLimitSettings;
use crate::backup::BackupConfig;
use crate::ops::{CryptoLimits, DEFAULT_LEASE_SECONDS};
use crate::replication::node::NodeRole;
use crate::server::https::HttpsSettings;
use crate::settings_text::duration_text;
use crate::ttlv::Limits;

/// The port IANA assigned to KMIP over TLS.
pub const KMIP_PORT: u16 = 5696;

/// Everything the network edge needs to run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to accept connections on; 127.0.0.1:5696 unless configured.
    pub listen: SocketAddr,
    /// Directory holding the server's state and, in the embedded default, its development certificates.
    pub data_dir: PathBuf,
    /// Certificate and key files; each unset path defaults to a file in `data_dir`.
    pub tls: TlsFiles,
    /// Bounds every peer is held to.
    pub limits: ConnectionLimits,
    /// Scheduled encrypted backups of the store.
    pub backup: BackupConfig,
    /// Identity, policy, audit log, allow-list and per-identity limits.
    pub access: AccessSettings,
    /// Where the two zone copies of the store live (in this process).
    pub zones: ZoneDirs,
    /// Set to run this process as one node of a multi-node deployment (one zone per node).
    pub node: Option<NodeSettings>,
    /// Bounds on the cryptographic services (streams, RNG Retrieve).
    pub crypto: CryptoConfig,
    /// How objects are leased to clients.
    pub lifecycle: LifecycleConfig,
    /// Answer the Interop operation of the KMIP interoperability test cases. The specification forbids it on
    /// a production server: off unless set, and `serve` warns loudly at start when it is on.
    pub interop_tests: bool,
    /// KMIP over HTTPS (`[https]`): off unless `listen` is set.
    pub https: HttpsSettings,
    /// Where the master key comes from (`[master_key]`; see `custody`).
    pub master_key: crate::custody::MasterKeySettings,
    /// The metrics and health endpoint (`[metrics]`; off unless `listen` is set).
    pub metrics: crate::metrics::MetricsSettings,
}

/// Who may connect and act, and how it is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessSettings {
    /// Which certificate field names a client.
    pub identity: IdentitySource,
    /// The policy file (TOML); without one the embedded default applies: the bootstrap `admin` certificate is
    /// an administrator and every other authenticated client a user of its own objects.
    pub policy_file: Option<PathBuf>,
    /// Addresses and CIDR blocks connections are accepted from, checked before the TLS handshake.
    pub allow: Vec<String>,
    /// Most connections one identity may hold open at once; more are closed right after the handshake.
    pub max_connections_per_identity: usize,
    /// Cost units per second one identity may spend across its connections (0: unlimited): a batch item is
    /// one, key-pair generation, RNG bytes and a Credential more (`access::limits::request_cost`); requests
    /// beyond the rate wait for their turn.
    pub max_requests_per_second: u32,
    /// The audit log.
    pub audit: AuditSettings,
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessSettings {
            identity: IdentitySource::default(),
            policy_file: None,
            allow: DEFAULT_ALLOW.iter().map(|s| s.to_string()).collect(),
            max_connections_per_identity: IdentityLimitSettings::default()
                .max_connections_per_identity,
            max_requests_per_second: IdentityLimitSettings::default().max_requests_per_second,
            audit: AuditSettings::default(),
        }
    }
}

impl AccessSettings {
    /// The allow-list these settings describe.
    pub fn allow_list(&self) -> Result<AllowList, ConfigError> {
        AllowList::parse(&self.allow)
            .map_err(|e| ConfigError::Invalid(format!("access.allow: {e}")))
    }

    /// The per-identity limits these settings describe.
    pub fn identity_limits(&self) -> IdentityLimitSettings {
        IdentityLimitSettings {
            max_connections_per_identity: self.max_connections_per_identity,
            max_requests_per_second: self.max_requests_per_second,
        }
    }

    /// Where the audit log is written.
    pub fn audit_dir(&self, data_dir: &Path) -> PathBuf {
        self.audit
            .dir
            .clone()
            .unwrap_or_else(|| data_dir.join("audit"))
    }
}

/// The `[crypto]` section: bounds on what the cryptographic operations may hold or return.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CryptoConfig {
    /// Most Encrypt/Decrypt/MAC/Hash streams open at once.
    pub max_open_streams: usize,
    /// How long a stream may stay open after its first request.
    #[serde(deserialize_with = "duration_text")]
    pub stream_lifetime: Duration,
    /// Most bytes one Encrypt or Decrypt stream may carry.
    pub max_stream_bytes: usize,
    /// Most bytes one RNG Retrieve returns.
    pub max_rng_bytes: usize,
    /// Most streams one identity may have open at once.
    pub max_open_streams_per_identity: usize,
    /// Largest response one request may build (RNG Retrieve items summed over the batch before any work).
    pub max_response_bytes: usize,
}

impl Default for CryptoConfig {
    fn default() -> Self {
        let d = CryptoLimits::DEFAULT;
        CryptoConfig {
            max_open_streams: d.max_open_streams,
            stream_lifetime: Duration::from_secs(
                u64::try_from(d.stream_lifetime_secs).unwrap_or(600),
            ),
            max_stream_bytes: d.max_stream_bytes,
            max_rng_bytes: d.max_rng_bytes,
            max_open_streams_per_identity: d.max_open_streams_per_identity,
            max_response_bytes: d.max_response_bytes,
        }
    }
}

impl CryptoConfig {
    /// The limits the engine enforces.
    pub fn limits(&self) -> CryptoLimits {
        CryptoLimits {
            max_open_streams: self.max_open_streams,
            stream_lifetime_secs: i64::try_from(self.stream_lifetime.as_secs()).unwrap_or(i64::MAX),
            max_stream_bytes: self.max_stream_bytes,
            max_rng_bytes: self.max_rng_bytes,
            max_open_streams_per_identity: self.max_open_streams_per_identity,
            max_response_bytes: self.max_response_bytes,
        }
    }
}

/// The `[lifecycle]` section: what the server promises clients about using objects over time.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// The Lease Time set on every new object and the longest lease Obtain Lease grants; whole seconds,
    /// from 1s to u32::MAX seconds (the Interval type's range).
    #[serde(deserialize_with = "duration_text")]
    pub lease_time: Duration,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            lease_time: Duration::from_secs(u64::from(DEFAULT_LEASE_SECONDS)),
        }
    }
}

impl LifecycleConfig {
    /// The lease in the seconds a KMIP Interval carries; None when it is not a whole number of seconds in
    /// 1..=u32::MAX (which `validate` refuses).
    pub fn lease_seconds(&self) -> Option<u32> {
        if self.lease_time.subsec_nanos() != 0 {
            return None;
        }
        u32::try_from(self.lease_time.as_secs())
            .ok()
            .filter(|s| *s > 0)
    }
}

/// This process as a node: its zone, its role, its node port and its peers. Node-to-node traffic is mutual
/// TLS with node certificates issued by their own CA.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// "sequencer" (orders changes; zone a), "follower" (the other zone) or "remote" (remote-region copy).
    pub role: NodeRole,
    /// This node's zone name.
    pub zone: String,
    /// Node port (node-to-node traffic only).
    pub listen: SocketAddr,
    /// Directory of this node's zone file; default `<data_dir>/zone-<zone>`.
    pub dir: Option<PathBuf>,
    /// Sequencer: the follower zone node(s) every change must reach before it is acknowledged. Follower and
    /// remote: the sequencer node, the only one whose shipped changes they apply.
    #[serde(default)]
    pub peers: Vec<PeerSettings>,
    /// Sequencer: remote-region nodes fed asynchronously.
    #[serde(default)]
    pub remotes: Vec<PeerSettings>,
    /// Node certificate chain (PEM); default `<data_dir>/node.pem`.
    pub cert_chain: Option<PathBuf>,
    /// Its private key; default `<data_dir>/node.key`.
    pub private_key: Option<PathBuf>,
    /// The CA bundle that issued node certificates; default `<data_dir>/node-ca.pem`.
    pub ca: Option<PathBuf>,
    /// Certificate revocation lists for node certificates (PEM or DER); read again when the file changes.
    #[serde(default)]
    pub crl: Option<PathBuf>,
    /// Longest wait for a peer; past it the peer's zone counts as unavailable.
    #[serde(default = "default_node_timeout", deserialize_with = "duration_text")]
    pub timeout: Duration,
    /// How often remotes are shipped to, a down zone retried and a follower's currency checked.
    #[serde(default = "default_node_interval", deserialize_with = "duration_text")]
    pub interval: Duration,
    /// Largest node message in bytes.
    #[serde(default = "default_node_frame")]
    pub max_frame_bytes: usize,
    /// Most node connections served at once.
    #[serde(default = "default_node_connections")]
    pub max_connections: usize,
    /// Most bytes of changes in one shipped batch or catch-up answer (a single larger change travels alone).
    #[serde(default = "default_batch_max_bytes")]
    pub batch_max_bytes: usize,
    /// Sequencer: how many forwarded commits' outcomes are remembered by request id, so that a follower's
    /// repeat of one (after a lost answer) is answered with the first outcome instead of applied twice.
    #[serde(default = "default_remembered_commits")]
    pub remembered_commits: usize,
    /// Sequencer: a remote-region copy whose oldest missing change is older than this (it is unreachable, or
    /// cannot keep up) raises the lag alarm: an error in the log, `lag_alarm` in `kmipd status`.
    #[serde(
        default = "default_remote_lag_alarm",
        deserialize_with = "duration_text"
    )]
    pub remote_lag_alarm: Duration,
}

/// A peer node.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSettings {
    /// Its zone name.
    pub zone: String,
    /// host:port of its node port.
    pub address: String,
    /// The TLS host name its node certificate carries; default "localhost". (The certificate must also carry
    /// the node name `<zone>.node.kmipd`.)
    #[serde(default = "default_server_name")]
    pub server_name: String,
}

fn default_node_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_remote_lag_alarm() -> Duration {
    Duration::from_secs(60)
}

fn default_node_interval() -> Duration {
    Duration::from_millis(500)
}

fn default_node_frame() -> usize {
    64 << 20
}

fn default_node_connections() -> usize {
    64
}

fn default_batch_max_bytes() -> usize {
    crate::replication::node::DEFAULT_BATCH_MAX_BYTES
}

fn default_remembered_commits() -> usize {
    crate::replication::commit_ids::DEFAULT_REMEMBERED_COMMITS
}

fn default_server_name() -> String {
    "localhost".to_string()
}

/// The in-process zones: two directories, ideally on two disks, each holding a full copy of the store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZoneDirs {
    /// Zone `a` (the one that numbers changes); default `<data_dir>/zone-a`.
    pub a: Option<PathBuf>,
    /// Zone `b`; default `<data_dir>/zone-b`.
    pub b: Option<PathBuf>,
    /// How often a zone that is down is retried (it catches up and returns by itself).
    #[serde(deserialize_with = "duration_text")]
    pub recheck_interval: Duration,
    /// Changes younger than this stay in the change log (a returning zone or lagging remote catches up
    /// from it); older ones go once every zone and remote holds them.
    #[serde(deserialize_with = "duration_text")]
    pub change_log_retention: Duration,
    /// The newest changes always kept in the log, whatever their age.
    pub change_log_keep: u64,
    /// How often the change log is pruned.
    #[serde(deserialize_with = "duration_text")]
    pub prune_interval: Duration,
    /// Most change rows one pruning pass removes from each zone.
    pub prune_batch_max: usize,
}

impl Default for ZoneDirs {
    fn default() -> Self {
        let policy = crate::replication::zones::ChangeLogPolicy::default();
        ZoneDirs {
            a: None,
            b: None,
            recheck_interval: Duration::from_secs(1),
            change_log_retention: policy.retention,
            change_log_keep: policy.keep_min,
            prune_interval: policy.interval,
            prune_batch_max: policy.batch_max,
        }
    }
}

impl ZoneDirs {
    /// When changes leave the log (`[zones] change_log_retention`, `change_log_keep`, `prune_interval`,
    /// `prune_batch_max`); also used by a node's sequencer.
    pub fn change_log_policy(&self) -> crate::replication::zones::ChangeLogPolicy {
        crate::replication::zones::ChangeLogPolicy {
            retention: self.change_log_retention,
            keep_min: self.change_log_keep.max(1),
            interval: self.prune_interval.max(Duration::from_millis(10)),
            batch_max: self.prune_batch_max.max(1),
        }
    }
}

/// Where the TLS material is read from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsFiles {
    /// PEM chain the server presents, leaf first (default `<data_dir>/server.pem`).
    pub cert_chain: Option<PathBuf>,
    /// PEM private key of the leaf (default `<data_dir>/server.key`).
    pub private_key: Option<PathBuf>,
    /// PEM bundle of the CAs whose client certificates are accepted (default `<data_dir>/client-ca.pem`).
    pub client_ca: Option<PathBuf>,
    /// Certificate revocation lists for client certificates (PEM or DER); read again when the file changes.
    pub client_crl: Option<PathBuf>,
}

/// The limits of one connection and of the whole listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionLimits {
    /// Largest request frame, header included; larger ones are refused before they are read.
    pub max_message_bytes: usize,
    /// Deepest nesting of structures a request may have.
    pub max_depth: usize,
    /// Most children one structure of a request may have.
    pub max_items_per_structure: usize,
    /// Most connections open at once; connections beyond it are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Most connections one source address may have open before their TLS handshake completes; more from it
    /// are closed as soon as they are accepted, so one address cannot take every connection slot.
    pub max_pending_per_address: usize,
    /// Time allowed to receive the rest of a frame once its first byte has arrived.
    #[serde(deserialize_with = "duration_text")]
    pub read_timeout: Duration,
    /// Time a connection may sit between requests before it is closed.
    #[serde(deserialize_with = "duration_text")]
    pub idle_timeout: Duration,
    /// Time allowed for the TLS handshake.
    #[serde(deserialize_with = "duration_text")]
    pub handshake_timeout: Duration,
    /// Time allowed to write one response.
    #[serde(deserialize_with = "duration_text")]
    pub write_timeout: Duration,
    /// On shutdown, how long in-flight requests may take before their connections are cut.
    #[serde(deserialize_with = "duration_text")]
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], KMIP_PORT)),
            data_dir: PathBuf::from("./kmipd-data"),
            tls: TlsFiles::default(),
            limits: ConnectionLimits::default(),
            backup: BackupConfig::default(),
            access: AccessSettings::default(),
            zones: ZoneDirs::default(),
            node: None,
            crypto: CryptoConfig::default(),
            lifecycle: LifecycleConfig::default(),
            interop_tests: false,
            https: HttpsSettings::default(),
            master_key: crate::custody::MasterKeySettings::default(),
            metrics: crate::metrics::MetricsSettings::default(),
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_message_bytes: Limits::DEFAULT.max_message_bytes,
            max_depth: Limits::DEFAULT.max_depth,
            max_items_per_structure: Limits::DEFAULT.max_items_per_structure,
            max_connections: 1024,
            max_pending_per_address: 32,
            read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl ConnectionLimits {
    /// The part of the limits the TTLV codec enforces.
    pub fn ttlv(&self) -> Limits {
        Limits {
            max_message_bytes: self.max_message_bytes,
            max_depth: self.max_depth,
            max_items_per_structure: self.max_items_per_structure,
        }
    }
}

/// Why a configuration could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl ServerConfig {
    /// Reads a TOML configuration file; relative paths in it are taken relative to the file's directory.
    pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { source, .. } => ConfigError::Parse {
                path: path.to_owned(),
                source,
            },
            other => other,
        })?;
        if let Some(base) = path.parent() {
            config.resolve_relative_to(base);
        }
        Ok(config)
    }

    /// Parses TOML text; paths are kept as written.
    pub fn from_toml(text: &str) -> Result<ServerConfig, ConfigError> {
        let config: ServerConfig = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: PathBuf::from("<text>"),
            source: Box::new(source),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Refuses limits that would make the server unusable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.master_key.validate().map_err(ConfigError::Invalid)?;
        self.metrics.validate().map_err(ConfigError::Invalid)?;
        let l = &self.limits;
        let positive = [
            ("max_message_bytes", l.max_message_bytes),
            ("max_depth", l.max_depth),
            ("max_items_per_structure", l.max_items_per_structure),
            ("max_connections", l.max_connections),
            ("max_pending_per_address", l.max_pending_per_address),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid(format!(
                    "limits.{name} must be at least 1"
                )));
            }
        }
        if l.max_message_bytes < crate::ttlv::HEADER_LEN {
            return Err(ConfigError::Invalid(
                "limits.max_message_bytes must be at least 8 (one TTLV header)".into(),
            ));
        }
        if l.max_connections > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(ConfigError::Invalid(
                "limits.max_connections is too large".into(),
            ));
        }
        self.access.allow_list()?;
        if self.access.max_connections_per_identity == 0 {
            return Err(ConfigError::Invalid(
                "access.max_connections_per_identity must be at least 1".into(),
            ));
        }
        if self.access.audit.max_file_bytes < 4096 {
            return Err(ConfigError::Invalid(
                "access.audit.max_file_bytes must be at least 4096".into(),
            ));
        }
        if self.access.audit.checkpoint_every_lines == 0 {
            return Err(ConfigError::Invalid(
                "access.audit.checkpoint_every_lines must be at least 1".into(),
            ));
        }
        if self.access.audit.refused_window.is_zero() {
            return Err(ConfigError::Invalid(
                "access.audit.refused_window must be longer than 0s".into(),
            ));
        }
        if self.access.audit.refused_summary_addresses == 0 {
            return Err(ConfigError::Invalid(
                "access.audit.refused_summary_addresses must be at least 1".into(),
            ));
        }
        let timeouts = [
            ("read_timeout", l.read_timeout),
            ("idle_timeout", l.idle_timeout),
            ("handshake_timeout", l.handshake_timeout),
            ("write_timeout", l.write_timeout),
        ];
        for (name, value) in timeouts {
            if value.is_zero() {
                return Err(ConfigError::Invalid(format!(
                    "limits.{name} must be longer than 0"
                )));
            }
        }
        self.backup
            .validate(&self.data_dir)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let c = &self.crypto;
        if c.max_open_streams == 0
            || c.max_stream_bytes == 0
            || c.max_rng_bytes == 0
            || c.max_open_streams_per_identity == 0
        {
            return Err(ConfigError::Invalid(
                "crypto.max_open_streams, max_open_streams_per_identity, max_stream_bytes and \
                 max_rng_bytes must be at least 1"
                    .into(),
            ));
        }
        if c.max_response_bytes < 64 * 1024 || i32::try_from(c.max_response_bytes).is_err() {
            return Err(ConfigError::Invalid(
                "crypto.max_response_bytes must be from 65536 to 2147483647".into(),
            ));
        }
        if c.stream_lifetime.as_secs() == 0 {
            return Err(ConfigError::Invalid(
                "crypto.stream_lifetime must be at least 1s".into(),
            ));
        }
        if self.lifecycle.lease_seconds().is_none() {
            return Err(ConfigError::Invalid(format!(
                "lifecycle.lease_time must be a whole number of seconds from 1s to {}s",
                u32::MAX
            )));
        }
        Ok(())
    }

    /// The certificate chain the server presents.
    pub fn cert_chain_path(&self) -> PathBuf {
        self.tls
            .cert_chain
            .clone()
            .unwrap_or_else(|| self.data_dir.join("server.pem"))
    }

    /// The server's private key.
    pub fn private_key_path(&self) -> PathBuf {
        self.tls
            .private_key
            .clone()
            .unwrap_or_else(|| self.data_dir.join("server.key"))
    }

    /// The bundle of CAs trusted to issue client certificates.
    pub fn client_ca_path(&self) -> PathBuf {
        self.tls
            .client_ca
            .clone()
            .unwrap_or_else(|| self.data_dir.join("client-ca.pem"))
    }

    /// The zones the engine commits every change to.
    pub fn zones_config(&self) -> crate::replication::ZonesConfig {
        let mut zones = crate::replication::ZonesConfig::default_in(&self.data_dir);
        for (spec, dir) in zones.zones.iter_mut().zip([&self.zones.a, &self.zones.b]) {
            if let Some(dir) = dir {
                spec.dir = dir.clone();
            }
        }
        zones.recheck_interval = self.zones.recheck_interval;
        zones.change_log = self.zones.change_log_policy();
        zones
    }

    fn resolve_relative_to(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.data_dir);
        self.backup.resolve_relative_to(base);
        for p in [
            &mut self.tls.cert_chain,
            &mut self.tls.private_key,
            &mut self.tls.client_ca,
            &mut self.tls.client_crl,
            &mut self.access.policy_file,
            &mut self.access.audit.dir,
            &mut self.zones.a,
            &mut self.zones.b,
            &mut self.master_key.file,
            &mut self.master_key.passphrase_file,
        ]
        .into_iter()
        .flatten()
        {
            resolve(p);
        }
        let Some(node) = &mut self.node else { return };
        for p in [
            &mut node.dir,
            &mut node.cert_chain,
            &mut node.private_key,
            &mut node.ca,
            &mut node.crl,
        ]
        .into_iter()
        .flatten()
        {
            resolve(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_gives_the_embedded_defaults() {
        let config = ServerConfig::from_toml("").unwrap();
        assert_eq!(config, ServerConfig::default());
        assert_eq!(config.listen.to_string(), "127.0.0.1:5696");
        assert_eq!(config.limits.max_message_bytes, 1 << 20);
        assert_eq!(config.limits.max_connections, 1024);
        assert_eq!(config.limits.idle_timeout, Duration::from_secs(120));
        assert_eq!(
            config.cert_chain_path(),
            PathBuf::from("./kmipd-data/server.pem")
        );
        assert_eq!(config.limits.ttlv(), Limits::DEFAULT);
    }

    #[test]
    fn every_field_can_be_set() {
        let config = ServerConfig::from_toml(
            r#"
            listen = "0.0.0.0:15696"
            data_dir = "/var/lib/kmipd"
            [tls]
            cert_chain = "/etc/kmipd/server.pem"
            private_key = "/etc/kmipd/server.key"
            client_ca = "/etc/kmipd/clients.pem"
            client_crl = "/etc/kmipd/clients.crl"
            [limits]
            max_message_bytes = 65536
            max_depth = 16
            max_items_per_structure = 500
            max_connections = 2
            max_pending_per_address = 3
            read_timeout = "200ms"
            idle_timeout = "2m"
            handshake_timeout = "5s"
            write_timeout = "1s"
            shutdown_grace = "1h"
            [crypto]
            max_open_streams = 3
            stream_lifetime = "90s"
            max_stream_bytes = 4096
            max_rng_bytes = 128
            max_open_streams_per_identity = 2
            max_response_bytes = 100000
            [lifecycle]
            lease_time = "15m"
            "#,
        )
        .unwrap();
        assert_eq!(config.listen.port(), 15696);
        assert_eq!(config.lifecycle.lease_seconds(), Some(900));
        assert_eq!(
            config.client_ca_path(),
            PathBuf::from("/etc/kmipd/clients.pem")
        );
        assert_eq!(config.limits.max_connections, 2);
        assert_eq!(config.limits.read_timeout, Duration::from_millis(200));
        assert_eq!(config.limits.idle_timeout, Duration::from_secs(120));
        assert_eq!(config.limits.shutdown_grace, Duration::from_secs(3600));
        assert_eq!(config.limits.ttlv().max_depth, 16);
        assert_eq!(
            config.crypto.limits(),
            CryptoLimits {
                max_open_streams: 3,
                stream_lifetime_secs: 90,
                max_stream_bytes: 4096,
                max_rng_bytes: 128,
                max_open_streams_per_identity: 2,
                max_response_bytes: 100000,
            }
        );
        assert_eq!(config.limits.max_pending_per_address, 3);
        assert_eq!(
            config.tls.client_crl.as_deref(),
            Some(Path::new("/etc/kmipd/clients.crl"))
        );
        assert!(ServerConfig::from_toml("[limits]\nmax_pending_per_address = 0").is_err());
        assert!(ServerConfig::from_toml("[crypto]\nmax_response_bytes = 1000").is_err());
        assert!(ServerConfig::from_toml("[crypto]\nmax_open_streams_per_identity = 0").is_err());
    }

    #[test]
    fn the_backup_section_can_be_set() {
        let config = ServerConfig::from_toml(
            r#"
            data_dir = "/var/lib/kmipd"
            [backup]
            enabled = false
            interval = "90s"
            retention = "7d"
            destinations = ["/mnt/a/kmipd", "/mnt/b/kmipd"]
            chunk_bytes = 65536
            "#,
        )
        .unwrap();
        assert!(!config.backup.enabled);
        assert_eq!(config.backup.interval, Duration::from_secs(90));
        assert_eq!(config.backup.retention, Duration::from_secs(7 * 86_400));
        assert_eq!(config.backup.destinations.len(), 2);
        assert_eq!(config.backup.chunk_bytes, 65536);
        assert!(ServerConfig::from_toml("[backup]\ninterval = \"0s\"").is_err());
        assert!(
            ServerConfig::from_toml("data_dir = \"/d\"\n[backup]\ndestinations = [\"/d/backups\"]")
                .is_err()
        );
        assert!(ServerConfig::from_toml("[backup]\nretension = \"1d\"").is_err());
    }

    #[test]
    fn access_settings_can_be_set() {
        let config = ServerConfig::from_toml(
            r#"
            [access]
            identity = "san-dns"
            policy_file = "/etc/kmipd/policy.toml"
            allow = ["10.0.0.0/8", "::1"]
            max_connections_per_identity = 4
            max_requests_per_second = 100
            [access.audit]
            dir = "/var/log/kmipd"
            max_file_bytes = 1048576
            rotate_after = "1h"
            checkpoint_every_lines = 10
            checkpoint_interval = "5s"
            refused_lines_per_window = 7
            refused_window = "2m"
            refused_summary_addresses = 3
            "#,
        )
        .unwrap();
        let audit = &config.access.audit;
        assert_eq!(
            (audit.checkpoint_every_lines, audit.checkpoint_interval),
            (10, Duration::from_secs(5))
        );
        assert_eq!(
            (
                audit.refused_lines_per_window,
                audit.refused_window,
                audit.refused_summary_addresses
            ),
            (7, Duration::from_secs(120), 3)
        );
        for bad in [
            "checkpoint_every_lines = 0",
            "refused_window = \"0s\"",
            "refused_summary_addresses = 0",
        ] {
            let refused = ServerConfig::from_toml(&format!("[access.audit]\n{bad}\n"));
            assert!(
                refused.is_err_and(|e| e.to_string().contains("access.audit.")),
                "{bad}"
            );
        }
        assert_eq!(config.access.identity, IdentitySource::SanDns);
        assert_eq!(config.access.max_requests_per_second, 100);
        assert_eq!(config.access.max_connections_per_identity, 4);
        assert_eq!(config.access.audit.rotate_after, Duration::from_secs(3600));
        assert!(
            config
                .access
                .allow_list()
                .unwrap()
                .permits("10.1.2.3".parse().unwrap())
        );
        assert!(ServerConfig::from_toml("[access]\nallow = [\"10.0.0.0/40\"]").is_err());
        assert!(ServerConfig::from_toml("[access]\nmax_connections_per_identity = 0").is_err());
        assert!(ServerConfig::from_toml("[access]\nidentity = \"serial\"").is_err());
        let default = ServerConfig::default();
        assert!(
            !default
                .access
                .allow_list()
                .unwrap()
                .permits("192.168.1.1".parse().unwrap())
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(ServerConfig::from_toml("listen_port = 5696").is_err());
        assert!(ServerConfig::from_toml("[limits]\nmax_conections = 5").is_err());
        assert!(ServerConfig::from_toml("[tls]\ncert = \"a.pem\"").is_err());
    }

    #[test]
    fn unusable_values_are_refused() {
        assert!(ServerConfig::from_toml("[limits]\nmax_connections = 0").is_err());
        assert!(ServerConfig::from_toml("[limits]\nread_timeout = \"0s\"").is_err());
        assert!(ServerConfig::from_toml("[limits]\nread_timeout = \"30\"").is_err());
        assert!(ServerConfig::from_toml("[limits]\nread_timeout = \"30 parsecs\"").is_err());
        assert!(ServerConfig::from_toml("listen = \"localhost\"").is_err());
        assert!(ServerConfig::from_toml("[crypto]\nmax_open_streams = 0").is_err());
        assert!(ServerConfig::from_toml("[crypto]\nstream_lifetime = \"0s\"").is_err());
        for lease in ["0s", "1500ms", "49711d"] {
            let e = ServerConfig::from_toml(&format!("[lifecycle]\nlease_time = \"{lease}\""));
            assert!(
                matches!(&e, Err(ConfigError::Invalid(m)) if m.contains("lifecycle.lease_time")),
                "{lease}: {e:?}"
            );
        }
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kmipd.toml");
        std::fs::write(
            &path,
            "data_dir = \"state\"\n[tls]\nclient_ca = \"/abs/ca.pem\"\n",
        )
        .unwrap();
        let config = ServerConfig::load(&path).unwrap();
        assert_eq!(config.data_dir, dir.path().join("state"));
        assert_eq!(
            config.cert_chain_path(),
            dir.path().join("state").join("server.pem")
        );
        assert_eq!(config.client_ca_path(), PathBuf::from("/abs/ca.pem"));
    }

    #[test]
    fn the_example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("kmipd.example.toml");
        let config = ServerConfig::load(&path).unwrap();
        assert_eq!(config.limits, ConnectionLimits::default());
        let mut access = config.access.clone();
        access.audit.dir = None;
        assert_eq!(access, AccessSettings::default());
        assert_eq!(config.crypto.limits(), CryptoLimits::DEFAULT);
        assert_eq!(config.lifecycle, LifecycleConfig::default());
        assert_eq!(config.lifecycle.lease_seconds(), Some(3600));
        assert_eq!(config.listen.port(), KMIP_PORT);
        assert_eq!(config.backup, crate::backup::BackupConfig::default());
        assert_eq!(config.https, HttpsSettings::default());
        assert_eq!(
            config.master_key,
            crate::custody::MasterKeySettings::default()
        );
        assert_eq!(config.metrics, crate::metrics::MetricsSettings::default());
    }

    #[test]
    fn a_node_role_is_one_of_three_words() {
        let node = |role: &str| {
            ServerConfig::from_toml(&format!(
                "[node]\nrole = \"{role}\"\nzone = \"a\"\nlisten = \"127.0.0.1:5697\"\n"
            ))
        };
        let error = node("leader").unwrap_err().to_string();
        assert!(
            error.contains("leader") && error.contains("sequencer"),
            "{error}"
        );
        for (word, role) in [
            ("sequencer", NodeRole::Sequencer),
            ("follower", NodeRole::Follower),
            ("remote", NodeRole::Remote),
        ] {
            assert_eq!(node(word).unwrap().node.unwrap().role, role);
        }
    }

    #[test]
    fn the_example_node_section_parses_and_zone_dirs_follow_the_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("kmipd.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let (head, node) = text.split_once("# [node]\n").unwrap();
        // Uncomment the settings of the [node] block (not its prose).
        let node: String = node
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.contains(" = "))
            .map(|l| format!("{l}\n"))
            .collect();
        let config = ServerConfig::from_toml(&format!("{head}[node]\n{node}")).unwrap();
        let node_text = node;
        let node = config.node.unwrap();
        assert_eq!((node.role, node.zone.as_str()), (NodeRole::Sequencer, "a"));
        assert_eq!(node.peers[0].server_name, "kmip-b.example");
        assert_eq!(node.timeout, Duration::from_secs(2));
        assert_eq!(node.interval, Duration::from_millis(500));
        assert_eq!(node.remembered_commits, 10_000);
        assert_eq!(node.batch_max_bytes, 16 << 20);
        let smaller = format!(
            "{head}[node]\n{}",
            node_text
                .replace("10000", "16")
                .replace("16777216", "65536")
        );
        let node = ServerConfig::from_toml(&smaller).unwrap().node.unwrap();
        assert_eq!(node.remembered_commits, 16);
        assert_eq!(node.batch_max_bytes, 65_536);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kmipd.toml");
        std::fs::write(
            &file,
            "[zones]\na = \"disk1/a\"\nrecheck_interval = \"250ms\"\nchange_log_retention = \"2d\"\n\
             change_log_keep = 0\nprune_interval = \"30s\"\nprune_batch_max = 500\n",
        )
        .unwrap();
        let zones = ServerConfig::load(&file).unwrap().zones_config();
        assert_eq!(zones.zones[0].dir, dir.path().join("disk1/a"));
        assert_eq!(zones.zones[1].dir, dir.path().join("kmipd-data/zone-b"));
        assert_eq!(zones.recheck_interval, Duration::from_millis(250));
        assert_eq!(zones.change_log.retention, Duration::from_secs(2 * 86_400));
        assert_eq!(
            zones.change_log.keep_min, 1,
            "at least the last change is kept"
        );
        assert_eq!(zones.change_log.interval, Duration::from_secs(30));
        assert_eq!(zones.change_log.batch_max, 500);
    }
}
