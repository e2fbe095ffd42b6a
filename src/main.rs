//! The `kmipd` command: `serve` runs the server (with the embedded development default when no configuration
//! file is given), `cert` issues server and client certificates from an operator's own CA, `status` shows the
//! zones (and the last backup), `backup` takes, lists and verifies encrypted backups, `restore` puts one back
//! into a stopped server's zones (or rebuilds a node's zone from the remote region),
//! `grant`, `revoke` and `grants list` manage grants on a running server, `audit verify` checks the audit log's
//! hash chain, `policy hash-password` makes the Argon2 hash a policy file's credential needs, `master-key`
//! makes a master key file kept apart from the data (plain or wrapped under a passphrase) and `healthcheck`
//! asks a running server's metrics endpoint whether it is healthy or ready.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{ArgGroup, Args, Parser, Subcommand};
use tracing::{error, info, warn};
use tracing_subscriber::field::MakeExt as _;

use kmipd::access::audit::{AuditKey, AuditLog};
use kmipd::access::policy::{OpClass, Policy, Subject};
use kmipd::access::{AccessControl, grants::Target};
use kmipd::backup::{self, Backups, DataDirLock};
use kmipd::client::access_admin::{self as client, OP_GRANT, OP_LIST_GRANTS, OP_REVOKE_GRANT};
use kmipd::custody;
use kmipd::ops::{Engine, EngineConfig};
use kmipd::pki::{CertificateAuthority, KeyType, LEAF_VALIDITY_DAYS, write_pair};
use kmipd::replication::ZonedStore;
use kmipd::replication::node::{Node, NodeSetup};
use kmipd::server::bootstrap::{self, DevFiles};
use kmipd::server::{FrameHandler, ServerConfig};
use kmipd::store::{
    DB_FILE_NAME, MASTER_KEY_ENV, MASTER_KEY_FILE_NAME, MasterKey, MasterKeySource, Store,
};

mod healthcheck_cli;
mod key_cli;
mod master_key_cli;
mod nodes;

#[derive(Parser)]
#[command(name = "kmipd", version, about = "A KMIP key-management server")]
struct Cli {
    /// Log line format on standard error: `text`, or `json` (one JSON object a line, for log collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. Without --config, uses the embedded default: 127.0.0.1:5696 and development
    /// certificates made on first start in the data directory.
    Serve(ServeCommand),
    /// Issue certificates from your own CA.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Show each zone (and, for a node, its peers and remote-region lag): role, last sequence, reachability;
    /// and the last backup.
    Status(ServeArgs),
    /// Take, list and verify encrypted backups of the store (see docs/backup.md).
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Restore a backup into every zone of a stopped server (--from-backup), or rebuild this node's zone
    /// from the remote-region copy (--from-remote; the zone file must be new or empty).
    Restore(RestoreArgs),
    /// Grant a user or group operation classes on an object or Object Group (owners and administrators).
    Grant(GrantArgs),
    /// Remove a grant by its identifier.
    Revoke(RevokeArgs),
    /// Grants on a running server.
    #[command(subcommand)]
    Grants(GrantsCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Helpers for the policy file.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Create a named key on a running server, or fetch one by name (for a LUKS keyscript, say).
    #[command(subcommand)]
    Key(key_cli::KeyCommand),
    /// Make a master key file kept apart from the data: a new one (`init`), or wrap an existing one under a
    /// passphrase (`wrap`).
    #[command(subcommand)]
    MasterKey(master_key_cli::MasterKeyCommand),
    /// Ask a running server's metrics endpoint for /healthz (or --path /readyz); exit 0 on 200 (for a
    /// container HEALTHCHECK).
    Healthcheck(healthcheck_cli::HealthcheckArgs),
    /// Load generator: drive a KMIP server over mutual TLS and print ops/s and latency percentiles; or
    /// `bench echo-server`, the transport ceiling (see docs/performance.md).
    Bench(kmipd::load::cli::BenchCommand),
}

#[derive(Args)]
struct ServerArgs {
    /// Address of the running server.
    #[arg(long, default_value = "127.0.0.1:5696")]
    server: SocketAddr,
    /// Name the server's certificate carries.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// Directory the default --ca, --cert and --key are taken from (the embedded default's data directory).
    #[arg(long, value_name = "DIR", default_value = "./kmipd-data")]
    data_dir: PathBuf,
    /// CA bundle that issued the server's certificate (default <data-dir>/ca.pem).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Client certificate of an administrator or owner (default <data-dir>/admin.pem).
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Its private key (default <data-dir>/admin.key).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
}

#[derive(Args)]
struct GrantArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Who receives it: `user:NAME`, `group:NAME` or a bare identity.
    #[arg(long)]
    to: String,
    /// The object (Unique Identifier).
    #[arg(
        long,
        conflicts_with = "object_group",
        required_unless_present = "object_group"
    )]
    object: Option<String>,
    /// Every object of this Object Group (administrators only).
    #[arg(long)]
    object_group: Option<String>,
    /// Comma-separated classes: get, use, manage-attributes, lifecycle, destroy, create, or all.
    #[arg(long)]
    ops: String,
}

#[derive(Args)]
struct RevokeArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The grant's identifier (from `kmipd grant` or `kmipd grants list`).
    #[arg(long)]
    id: String,
}

#[derive(Subcommand)]
enum GrantsCommand {
    /// The grants you may manage, as JSON.
    List(ServerArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the MAC chain of an audit directory (every rotated file, then audit.log) or of one file, and
    /// compare a directory with the newest checkpoint kept in the store. Needs the master key.
    Verify(AuditVerifyArgs),
}

#[derive(Args)]
struct AuditVerifyArgs {
    /// Directory or file; default: the configured audit directory.
    path: Option<PathBuf>,
    /// The configuration (data_dir, zones, node, audit), the data directory and the master key, as for backups.
    #[command(flatten)]
    args: BackupArgs,
    /// Accept lines written before audit lines carried a MAC (an unauthenticated legacy segment).
    #[arg(long)]
    accept_legacy: bool,
    /// Do not compare with the checkpoint in the store (a cut tail then goes unnoticed).
    #[arg(long)]
    no_checkpoint: bool,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Read a password from standard input and print its Argon2id hash for `password_argon2`.
    HashPassword,
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Take a backup now, to every configured destination.
    Now(BackupArgs),
    /// List the backups found in the destinations, oldest first.
    List(BackupArgs),
    /// Fully check a backup (the newest when no id is given): every copy is decrypted and checked.
    Verify {
        /// The backup id, as `kmipd backup list` prints it.
        id: Option<String>,
        #[command(flatten)]
        args: BackupArgs,
    },
}

#[derive(Args)]
struct BackupArgs {
    /// TOML configuration file (its data_dir and [backup] section are used).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory, overriding the configuration's.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Master key file; default: KMIPD_MASTER_KEY when set, else <data_dir>/master.key.
    #[arg(long, value_name = "FILE")]
    master_key_file: Option<PathBuf>,
}

#[derive(Args)]
#[command(group(ArgGroup::new("source").required(true).args(["from_backup", "from_remote"])))]
struct RestoreArgs {
    /// The configuration (its data_dir, zones, [backup] and [node] sections) and the data directory; no server
    /// may be running on it. --from-backup needs --data-dir.
    #[command(flatten)]
    serve: ServeArgs,
    /// The backup id to restore into every zone, as `kmipd backup list` prints it.
    #[arg(long, value_name = "ID")]
    from_backup: Option<String>,
    /// Take every change the remote-region node (the first of `[node].remotes`) holds.
    #[arg(long)]
    from_remote: bool,
    /// A directory holding the backup (repeatable); replaces the configured destinations.
    #[arg(long = "backup-dir", value_name = "DIR", requires = "from_backup")]
    backup_dirs: Vec<PathBuf>,
    /// Master key file; default: KMIPD_MASTER_KEY when set, else <data_dir>/master.key.
    #[arg(long, value_name = "FILE", requires = "from_backup")]
    master_key_file: Option<PathBuf>,
}

#[derive(Args)]
struct ServeCommand {
    #[command(flatten)]
    args: ServeArgs,
    /// Master key file kept apart from the data directory (plain, or wrapped by `kmipd master-key init`);
    /// overrides the configuration's [master_key] section.
    #[arg(long, value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    /// Serve /metrics (Prometheus), /healthz and /readyz over plain HTTP on this address (keep it on loopback
    /// or a management network); overrides [metrics] listen.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
}

#[derive(Args)]
struct ServeArgs {
    /// TOML configuration file (see kmipd.example.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory, overriding the configuration's.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on, overriding the configuration's (the KMIP port is 5696).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Answer the Interop operation of the KMIP test cases (conformance runs only; never in production).
    #[arg(long)]
    interop_tests: bool,
    /// Also serve KMIP over HTTPS on this address (POST to /kmip; TTLV, XML or JSON), overriding `[https] listen`.
    #[arg(long, value_name = "ADDR")]
    https_listen: Option<SocketAddr>,
}

#[derive(Subcommand)]
#[allow(clippy::enum_variant_names)] // the variants are the `cert issue-*` subcommands
enum CertCommand {
    /// Issue a client certificate; its subject CN is the identity kmipd records for the client.
    IssueClient {
        #[command(flatten)]
        ca: CaArgs,
        /// Client name, written as the subject CN and used for the file names.
        #[arg(long)]
        name: String,
    },
    /// Issue a server certificate for the given DNS names and IP addresses.
    IssueServer {
        #[command(flatten)]
        ca: CaArgs,
        /// File base name of the output.
        #[arg(long, default_value = "server")]
        name: String,
        /// DNS name the server is reached by (repeatable); the first is also the subject CN.
        #[arg(long = "dns")]
        dns: Vec<String>,
        /// IP address the server is reached by (repeatable).
        #[arg(long = "ip")]
        ip: Vec<IpAddr>,
    },
    /// Issue a node certificate (from the node CA) for zone `--zone`: it carries the node name
    /// `<zone>.node.kmipd`, which peers check, plus the names and addresses peers reach the node by.
    IssueNode {
        #[command(flatten)]
        ca: CaArgs,
        /// The node's zone, as `[node].zone` and its peers' `zone` name it.
        #[arg(long)]
        zone: String,
        /// File base name of the output; default node-<zone>.
        #[arg(long)]
        name: Option<String>,
        /// DNS name peers reach the node by (repeatable; `server_name` in their [node] peers entry).
        #[arg(long = "dns")]
        dns: Vec<String>,
        /// IP address peers reach the node by (repeatable).
        #[arg(long = "ip")]
        ip: Vec<IpAddr>,
    },
}

#[derive(Args)]
struct CaArgs {
    /// The issuing CA's certificate (PEM).
    #[arg(long, value_name = "FILE")]
    ca_cert: PathBuf,
    /// The issuing CA's private key (PEM).
    #[arg(long, value_name = "FILE")]
    ca_key: PathBuf,
    /// Directory to write <name>.pem and <name>.key (0600) into; existing files are never overwritten.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Validity in days.
    #[arg(long, default_value_t = LEAF_VALIDITY_DAYS)]
    days: u32,
    /// Key type: ecdsa-p256, ecdsa-p384, rsa2048, rsa3072 or rsa4096.
    #[arg(long, default_value = "ecdsa-p256")]
    key_type: KeyType,
}

/// Whether log lines carry ANSI colours: only for a person at a terminal, so log files, pipes and journald get
/// plain text, and never when NO_COLOR is set to anything but the empty string (https://no-color.org).
fn colour_logs(to_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    to_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Installs the log subscriber: plain text (the default) or JSON lines, filtered by RUST_LOG (default info).
fn init_logging(format: LogFormat) {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    if format == LogFormat::Json {
        tracing_subscriber::fmt()
            .event_format(kmipd::log_json::JsonLines)
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .init();
        return;
    }
    let colour = colour_logs(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    // Every field goes through escape_control: client text (Log messages, certificate names, user names)
    // cannot forge a line or send terminal escapes.
    let fields = tracing_subscriber::fmt::format::debug_fn(
        |writer: &mut tracing_subscriber::fmt::format::Writer<'_>,
         field: &tracing::field::Field,
         value: &dyn std::fmt::Debug| {
            let text = format!("{value:?}");
            let text = kmipd::log_text::escape_control(&text);
            if field.name() == "message" {
                write!(writer, "{text}")
            } else {
                write!(writer, "{field}={text}")
            }
        },
    )
    .delimited(" ");
    tracing_subscriber::fmt()
        .fmt_fields(fields)
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_logs = cli.log_format == LogFormat::Json;
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Cert(command) => cert(command),
        Command::Status(args) => status(args),
        Command::Backup(command) => backup_command(command),
        Command::Restore(args) => restore(args),
        Command::Grant(args) => grant(args),
        Command::Revoke(args) => revoke(args),
        Command::Grants(GrantsCommand::List(args)) => remote(&args, OP_LIST_GRANTS, "{}"),
        Command::Audit(AuditCommand::Verify(args)) => audit_verify(args),
        Command::Policy(PolicyCommand::HashPassword) => hash_password(),
        Command::Key(command) => key_cli::run(command),
        Command::MasterKey(command) => master_key_cli::run(command),
        Command::Healthcheck(args) => healthcheck_cli::run(args),
        Command::Bench(command) => kmipd::load::cli::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            if json_logs {
                // Every line on standard error stays one JSON object.
                error!(error = %message, "kmipd stopped");
            } else {
                eprintln!("kmipd: {message}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The configuration `serve`, `status` and `restore` work from: the file (or the embedded default) with the
/// command line's overrides.
fn load_config(args: &ServeArgs) -> Result<ServerConfig, String> {
    let mut config = match &args.config {
        Some(path) => ServerConfig::load(path).map_err(|e| e.to_string())?,
        None => ServerConfig::default(),
    };
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    config.interop_tests |= args.interop_tests;
    if let Some(listen) = args.https_listen {
        config.https.listen = Some(listen);
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// Keeps key material out of core files and out of other processes' reach: no core dump (RLIMIT_CORE 0)
/// and not dumpable (no ptrace attach by the same user, /proc/<pid>/mem, environ and the like owned by root).
fn no_core_dumps() -> Result<(), String> {
    #[cfg(unix)]
    {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit only reads the rlimit passed by reference for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } != 0 {
            return Err(format!(
                "cannot turn core dumps off: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_DUMPABLE takes integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
            return Err(format!(
                "cannot make the process non-dumpable: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

fn serve(command: ServeCommand) -> Result<(), String> {
    no_core_dumps()?;
    let args = command.args;
    let embedded_default = args.config.is_none();
    let mut config = load_config(&args)?;
    if let Some(listen) = command.metrics_listen {
        config.metrics.listen = Some(listen);
    }
    // While the process has a single thread: the master key and passphrase variables are read and removed
    // from the environment.
    #[cfg(unix)]
    // SAFETY: no thread has been started yet (the runtime, backups and nodes start below).
    let env = unsafe { custody::Environment::take(&config.master_key) };
    #[cfg(not(unix))]
    let env = custody::Environment::read(&config.master_key);
    let resolved = custody::resolve(
        &config.master_key,
        command.master_key_file.as_deref(),
        &config.data_dir,
        &env,
    )
    .map_err(|e| e.to_string())?;
    drop(env);
    info!(source = %resolved.description, "master key");
    let master_key = resolved.source;
    // Held until exit: `kmipd restore` refuses a data directory a server is using.
    let _data_dir_lock = DataDirLock::acquire(&config.data_dir).map_err(|e| e.to_string())?;

    if embedded_default {
        let made = bootstrap::ensure_dev_files(&config.data_dir, config.listen)
            .map_err(|e| e.to_string())?;
        if made.created.is_empty() {
            info!(dir = %made.files.dir.display(), "using existing development certificates");
        } else {
            println!("{}", bootstrap::describe(&made, config.listen));
        }
        let DevFiles {
            server_certificate,
            server_key,
            client_ca_bundle,
            ..
        } = made.files;
        config.tls.cert_chain = Some(server_certificate);
        config.tls.private_key = Some(server_key);
        config.tls.client_ca = Some(client_ca_bundle);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let (handler, zones, node) = engine(&config, master_key)?;
    // After the node started: remote copies are tracked, so pruning never outruns them.
    zones.start_pruning();
    let metrics = match config.metrics.listen {
        Some(address) => {
            let listener = std::net::TcpListener::bind(address)
                .map_err(|e| format!("cannot listen for metrics on {address}: {e}"))?;
            let _runtime = runtime.enter();
            let state = Arc::new(kmipd::server::health::ServerState {
                zones: zones.clone(),
                backup: config.backup.clone(),
                data_dir: config.data_dir.clone(),
                node: node.clone(),
            });
            let task = kmipd::metrics::http::spawn(listener, config.metrics.clone(), state)
                .map_err(|e| format!("cannot serve metrics on {address}: {e}"))?;
            info!(%address, "serving /metrics, /healthz and /readyz over HTTP");
            Some(task)
        }
        None => None,
    };
    let scheduler = config.backup.enabled.then(|| {
        let backups = Backups::new(&config.backup, &config.data_dir);
        info!(
            destinations = ?backups.destinations(),
            interval = ?config.backup.interval,
            retention = ?config.backup.retention,
            "scheduled backups on"
        );
        let _runtime = runtime.enter();
        backup::spawn_scheduler(
            up_zone_source(zones),
            Arc::new(backups),
            config.backup.interval,
        )
    });
    // What SIGHUP reloads: the configuration file again, or the embedded default's files as they are now.
    let reload_source: kmipd::server::reload::ConfigSource = if embedded_default {
        let running = config.clone();
        Box::new(move || Ok(running.clone()))
    } else {
        Box::new(move || load_config(&args))
    };
    let result = runtime.block_on(listen_and_serve(config, handler, reload_source));
    for task in [scheduler, metrics].into_iter().flatten() {
        task.abort();
    }
    drop(node);
    result
}

/// Binds the KMIP port, checks the TLS settings, tells the service manager (systemd `Type=notify`) the server
/// is ready, and serves until SIGTERM or Ctrl-C, telling it the server is stopping.
async fn listen_and_serve(
    config: ServerConfig,
    handler: Arc<dyn FrameHandler>,
    reload_source: kmipd::server::reload::ConfigSource,
) -> Result<(), String> {
    // Loaded before READY: a certificate that does not load must fail the start, not the first client.
    let live =
        Arc::new(kmipd::server::reload::LiveSettings::load(&config).map_err(|e| e.to_string())?);
    #[cfg(unix)]
    let reloader = kmipd::server::reload::reload_on_sighup(live.clone(), reload_source)
        .map_err(|e| format!("cannot listen for SIGHUP: {e}"))?;
    #[cfg(not(unix))]
    drop(reload_source);
    let signalled = shutdown_signal()?;
    // The KMIP port (or the socket a service manager passed) and the HTTPS listener when configured.
    let listeners = kmipd::server::Listeners::bind(&config)
        .await
        .map_err(|e| e.to_string())?;
    #[cfg(unix)]
    let watchdog = {
        kmipd::sd_notify::notify_logged("READY=1");
        kmipd::sd_notify::spawn_watchdog()
    };
    let stopping = async {
        signalled.await;
        #[cfg(unix)]
        kmipd::sd_notify::notify_logged("STOPPING=1");
    };
    let result = kmipd::server::run_live(listeners, live, config, handler, stopping)
        .await
        .map_err(|e| e.to_string());
    #[cfg(unix)]
    for task in [watchdog, Some(reloader)].into_iter().flatten() {
        task.abort();
    }
    result
}

/// What scheduled backups snapshot: the first of this process's zones that is up when the backup starts.
fn up_zone_source(zones: Arc<ZonedStore>) -> backup::StoreSource {
    let count = zones.status().len();
    Box::new(move || (0..count).find_map(|i| zones.zone_store(i)))
}

/// The request handler `serve` runs: the KMIP engine over the zones (the embedded default's two zones in the
/// data directory, or a node's own zone), holding requests to the configured TTLV limits; the zones, for the
/// backup scheduler; and, in a multi-node deployment, the running node (kept alive while serving). The master
/// key source is the one `custody::resolve` chose.
type Serving = (Arc<dyn FrameHandler>, Arc<ZonedStore>, Option<Arc<Node>>);

fn engine(config: &ServerConfig, master_key: MasterKeySource) -> Result<Serving, String> {
    let (zones, setup) = match &config.node {
        Some(settings) => {
            let mut plan = nodes::plan(config, settings)?;
            plan.zones.change_log = config.zones.change_log_policy();
            (plan.zones, Some(plan.setup))
        }
        None => (config.zones_config(), None),
    };
    let access = access_control(config, &master_key)?;
    let audit = access.audit.clone();
    // The sequencer records the changes follower nodes forward in the same audit log, under the client.
    let setup = setup.map(|setup| NodeSetup {
        audit: access
            .audit
            .clone()
            .map(|log| log as Arc<dyn kmipd::replication::node::ForwardedAudit>),
        ..setup
    });
    let engine = Engine::open(EngineConfig {
        limits: config.limits.ttlv(),
        crypto: config.crypto.limits(),
        lease_seconds: config
            .lifecycle
            .lease_seconds()
            .unwrap_or(kmipd::ops::DEFAULT_LEASE_SECONDS),
        data_dir: config.data_dir.clone(),
        master_key,
        access,
        zones: Some(zones),
        interop_tests: config.interop_tests,
        ..EngineConfig::default()
    })
    .map_err(|e| e.to_string())?;
    if let Some(log) = &audit {
        log.start_checkpoints(engine.store().clone(), &audit_checkpoint_name(config))
            .map_err(|e| e.to_string())?;
    }
    if config.interop_tests {
        warn!(
            "INTEROP TEST MODE: the Interop operation of the KMIP test cases is answered; \
             the specification forbids this on a production server"
        );
    }
    for zone in engine.store().status() {
        info!(zone = %zone.name, path = %zone.path.display(), up = zone.up, last_seq = zone.last_seq,
            reason = zone.reason.as_deref(), "zone");
    }
    let node = match setup {
        Some(setup) => Some(
            Node::start(setup, engine.store().clone())
                .map_err(|e| format!("cannot open the node port: {e}"))?,
        ),
        None => None,
    };
    let zones = engine.store().clone();
    Ok((Arc::new(engine), zones, node))
}

/// The configured master key source for a one-shot command (the environment read, not scrubbed). Every node
/// of a deployment needs the same master key: data keys travel wrapped under it.
fn configured_master_key(config: &ServerConfig) -> Result<MasterKeySource, String> {
    let env = custody::Environment::read(&config.master_key);
    custody::resolve(&config.master_key, None, &config.data_dir, &env)
        .map(|resolved| resolved.source)
        .map_err(|e| e.to_string())
}

/// The directories of this process's own zone files: a node's one zone, else the configured zones (zone `a`
/// first).
fn local_zone_dirs(config: &ServerConfig) -> Vec<PathBuf> {
    match &config.node {
        Some(settings) => vec![
            settings
                .dir
                .clone()
                .unwrap_or_else(|| config.data_dir.join(format!("zone-{}", settings.zone))),
        ],
        None => config
            .zones_config()
            .zones
            .into_iter()
            .map(|z| z.dir)
            .collect(),
    }
}

/// The configuration a backup command works with: the file's (or the defaults), `--data-dir` overriding.
fn command_config(
    config: Option<&Path>,
    data_dir: Option<PathBuf>,
) -> Result<ServerConfig, String> {
    let mut config = match config {
        Some(path) => ServerConfig::load(path).map_err(|e| e.to_string())?,
        None => ServerConfig::default(),
    };
    if let Some(dir) = data_dir {
        config.data_dir = dir;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// The master key for a command that reads or writes backups. Never generates one: a backup or restore under a
/// fresh key would be useless. `--master-key-file` (plain or wrapped) first, then a configured [master_key]
/// source, then KMIPD_MASTER_KEY, then the data directory's key file.
fn command_master_key(file: Option<&Path>, config: &ServerConfig) -> Result<MasterKey, String> {
    let data_dir = config.data_dir.as_path();
    let key = if let Some(file) = file {
        let env = custody::Environment::read(&config.master_key);
        return custody::load_file(file, &config.master_key, &env).map_err(|e| e.to_string());
    } else if config.master_key.source != custody::KeyLocation::Default {
        return configured_master_key(config)?
            .load(data_dir)
            .map_err(|e| e.to_string());
    } else if std::env::var_os(MASTER_KEY_ENV).is_some() {
        MasterKey::from_env(MASTER_KEY_ENV)
    } else {
        let path = data_dir.join(MASTER_KEY_FILE_NAME);
        if !path.exists() {
            return Err(format!(
                "no master key: give --master-key-file, set {MASTER_KEY_ENV}, or put {MASTER_KEY_FILE_NAME} in {}",
                data_dir.display()
            ));
        }
        MasterKey::from_file(&path)
    };
    key.map_err(|e| e.to_string())
}

fn backup_command(command: BackupCommand) -> Result<(), String> {
    match command {
        BackupCommand::Now(args) => {
            let config = command_config(args.config.as_deref(), args.data_dir)?;
            let zone_files: Vec<PathBuf> = local_zone_dirs(&config)
                .iter()
                .map(|dir| dir.join(DB_FILE_NAME))
                .collect();
            let database = zone_files.iter().find(|f| f.exists()).ok_or_else(|| {
                format!(
                    "no store in any zone: {}",
                    zone_files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            let master = command_master_key(args.master_key_file.as_deref(), &config)?;
            let store = Store::open(database, master).map_err(|e| {
                // A running server holds every zone file exclusively (docs/replication.md, file faults).
                if e.is_locked() {
                    format!(
                        "{} is held by a running kmipd serve, which opens its zone files exclusively: its \
                         scheduler takes the backups ([backup] interval); stop it to take one by hand",
                        database.display()
                    )
                } else {
                    e.to_string()
                }
            })?;
            let made = Backups::new(&config.backup, &config.data_dir)
                .create(&store)
                .map_err(|e| e.to_string())?;
            println!(
                "backup {} written: last_seq {}, {} bytes",
                made.manifest.id, made.manifest.last_seq, made.manifest.ciphertext_bytes
            );
            for dir in &made.copies {
                println!("  copy in {}", dir.display());
            }
            if made.failed.is_empty() {
                return Ok(());
            }
            for (dir, error) in &made.failed {
                eprintln!("  FAILED {}: {error}", dir.display());
            }
            Err(format!(
                "{} of {} destinations failed",
                made.failed.len(),
                made.failed.len() + made.copies.len()
            ))
        }
        BackupCommand::List(args) => {
            let config = command_config(args.config.as_deref(), args.data_dir)?;
            let backups = Backups::new(&config.backup, &config.data_dir);
            let listing = backups.list().map_err(|e| e.to_string())?;
            let status = backups
                .status(std::time::SystemTime::now())
                .map_err(|e| e.to_string())?;
            println!(
                "{:<26} {:<25} {:>10} {:>12} copies",
                "id", "created", "last_seq", "bytes"
            );
            for b in &listing.backups {
                let m = &b.manifest;
                println!(
                    "{:<26} {:<25} {:>10} {:>12} {}",
                    m.id,
                    m.created,
                    m.last_seq,
                    m.ciphertext_bytes,
                    b.copies.len()
                );
            }
            for (path, error) in &listing.unreadable {
                println!("unreadable {}: {error}", path.display());
            }
            match (status.last_id, status.age) {
                (Some(id), Some(age)) => {
                    println!("last backup {id}, {}s old", age.as_secs());
                }
                _ => println!(
                    "no backups in {}",
                    backups
                        .destinations()
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
            Ok(())
        }
        BackupCommand::Verify { id, args } => {
            let config = command_config(args.config.as_deref(), args.data_dir)?;
            let master = command_master_key(args.master_key_file.as_deref(), &config)?;
            // The decrypted snapshot is as sensitive as the database: check it beside the database.
            let scratch = if config.data_dir.is_dir() {
                config.data_dir.clone()
            } else {
                std::env::temp_dir()
            };
            let (id, checks) = Backups::new(&config.backup, &config.data_dir)
                .verify(id.as_deref(), &master, &scratch)
                .map_err(|e| e.to_string())?;
            let mut failed = 0;
            for check in &checks {
                match &check.result {
                    Ok(seq) => println!(
                        "{id} in {}: OK (last_seq {seq})",
                        check.destination.display()
                    ),
                    Err(e) => {
                        failed += 1;
                        println!("{id} in {}: FAILED: {e}", check.destination.display());
                    }
                }
            }
            if failed == 0 {
                Ok(())
            } else {
                Err(format!(
                    "{failed} of {} copies of {id} failed verification",
                    checks.len()
                ))
            }
        }
    }
}

fn status(args: ServeArgs) -> Result<(), String> {
    let config = load_config(&args)?;
    let text = match &config.node {
        Some(settings) => nodes::own_link(&config, settings)?
            .status()
            .map_err(|e| e.to_string())?,
        None => {
            let zones: Vec<serde_json::Value> = config
                .zones_config()
                .zones
                .iter()
                .map(|z| {
                    let path = z.dir.join(kmipd::store::DB_FILE_NAME);
                    let last_seq = kmipd::replication::zones::read_last_seq(&path);
                    serde_json::json!({
                        "name": z.name,
                        "location": path.display().to_string(),
                        "readable": last_seq.is_some(),
                        "last_seq": last_seq,
                    })
                })
                .collect();
            let seqs: Vec<_> = zones.iter().map(|z| z["last_seq"].clone()).collect();
            serde_json::json!({
                "role": "embedded (both zones in one process)",
                "zones": zones,
                "in_step": seqs.windows(2).all(|w| w[0] == w[1]),
                "backup": backup_status(&config),
            })
            .to_string()
        }
    };
    println!("{text}");
    Ok(())
}

/// The last backup and its age, for `kmipd status` (an error is shown, not fatal: status must still answer).
fn backup_status(config: &ServerConfig) -> serde_json::Value {
    match backup::status(&config.backup, &config.data_dir) {
        Ok(status) => serde_json::json!({
            "last_id": status.last_id,
            "last_seq": status.last_seq,
            "age_secs": status.age.map(|a| a.as_secs()),
            "count": status.count,
        }),
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    }
}

fn restore(args: RestoreArgs) -> Result<(), String> {
    match args.from_backup.clone() {
        Some(id) => restore_from_backup(&id, args),
        None if args.from_remote => restore_from_remote(args),
        None => Err("say where from: --from-backup ID or --from-remote".into()),
    }
}

/// Restores a verified backup into every zone of a stopped server (holding its data directory's lock).
fn restore_from_backup(id: &str, args: RestoreArgs) -> Result<(), String> {
    if args.serve.data_dir.is_none() {
        return Err("--from-backup needs --data-dir: the data directory to restore into".into());
    }
    let config = load_config(&args.serve)?;
    let master = command_master_key(args.master_key_file.as_deref(), &config)?;
    let mut backups = Backups::new(&config.backup, &config.data_dir);
    if !args.backup_dirs.is_empty() {
        backups = backups.with_destinations(args.backup_dirs);
    }
    let restored = backups
        .restore_into(id, &master, &config.data_dir, &local_zone_dirs(&config))
        .map_err(|e| e.to_string())?;
    for refused in &restored.refused {
        eprintln!("refused copy {refused}");
    }
    println!(
        "restored backup {} (last_seq {}) from {} into {}",
        restored.id,
        restored.last_seq,
        restored.from.display(),
        restored
            .databases
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for previous in &restored.previous {
        println!("the replaced database is kept as {}", previous.display());
    }
    // The zones were rolled back on purpose: what was acknowledged before no longer applies.
    let acked = config.data_dir.join(kmipd::replication::zones::ACKED_FILE);
    if let Err(e) = std::fs::remove_file(&acked)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(format!("{}: {e}", acked.display()));
    }
    Ok(())
}

/// Rebuilds this node's zone from the remote-region node.
fn restore_from_remote(args: RestoreArgs) -> Result<(), String> {
    let config = load_config(&args.serve)?;
    let settings = config
        .node
        .as_ref()
        .ok_or("--from-remote needs a [node] configuration naming the remote in `remotes`")?;
    // Held until the zone is rebuilt: a running node must not have its zone file written under it.
    let _data_dir_lock = DataDirLock::acquire(&config.data_dir).map_err(|e| e.to_string())?;
    let plan = nodes::plan(&config, settings)?;
    let remote = plan
        .setup
        .remotes
        .first()
        .ok_or("[node].remotes names no remote-region node")?;
    let dir = plan
        .zones
        .zones
        .first()
        .map(|z| z.dir.clone())
        .ok_or("no zone directory")?;
    kmipd::private_fs::create_owned_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let master = configured_master_key(&config)?
        .load(&config.data_dir)
        .map_err(|e| e.to_string())?;
    let store = kmipd::store::Store::open(&dir.join(kmipd::store::DB_FILE_NAME), master)
        .map_err(|e| e.to_string())?;
    let before = store.last_seq().map_err(|e| e.to_string())?;
    if before != 0 {
        return Err(format!(
            "zone {} already holds changes up to {before}; restore into a new directory",
            dir.display()
        ));
    }
    let last =
        kmipd::replication::node::restore_from_remote(remote, &store).map_err(|e| e.to_string())?;
    println!(
        "restored zone {} from remote {} up to sequence {last}",
        dir.display(),
        remote.address()
    );
    Ok(())
}

/// The policy (the file's, or the embedded default) and the audit log `serve` enforces and writes.
fn access_control(
    config: &ServerConfig,
    master_key: &MasterKeySource,
) -> Result<AccessControl, String> {
    let policy = match &config.access.policy_file {
        Some(path) => Policy::load(path).map_err(|e| e.to_string())?,
        None => Policy::embedded_default(),
    };
    info!(policy = ?config.access.policy_file, "access policy loaded");
    let audit = if config.access.audit.enabled {
        let dir = config.access.audit_dir(&config.data_dir);
        // Lines are authenticated under a key derived from the master key the store is opened with.
        // The same source `serve` took (KMIPD_MASTER_KEY is gone from the environment by now).
        let master = master_key
            .load(&config.data_dir)
            .map_err(|e| e.to_string())?;
        let key = AuditKey::derive(&master).map_err(|e| e.to_string())?;
        let log =
            AuditLog::open(&dir, config.access.audit.clone(), key).map_err(|e| e.to_string())?;
        info!(dir = %dir.display(), "audit log open");
        Some(Arc::new(log))
    } else {
        None
    };
    Ok(AccessControl {
        policy: Arc::new(policy),
        audit,
    })
}

fn grant(args: GrantArgs) -> Result<(), String> {
    let mut classes = Vec::new();
    for name in args.ops.split(',') {
        if name.trim() == "all" {
            classes.extend(OpClass::ALL);
        } else {
            classes.push(
                OpClass::parse(name)
                    .ok_or_else(|| format!("`{name}` is not an operation class"))?,
            );
        }
    }
    let target = match (args.object, args.object_group) {
        (Some(uid), _) => Target::Object(uid),
        (None, Some(group)) => Target::ObjectGroup(group),
        (None, None) => return Err("give --object or --object-group".into()),
    };
    let request = serde_json::json!({
        "subject": Subject::parse(&args.to),
        "target": target,
        "classes": classes,
    });
    remote(&args.server, OP_GRANT, &request.to_string())
}

fn revoke(args: RevokeArgs) -> Result<(), String> {
    let request = serde_json::json!({ "id": args.id });
    remote(&args.server, OP_REVOKE_GRANT, &request.to_string())
}

impl ServerArgs {
    /// The CA bundle, client certificate and key: as given, else the data directory's.
    fn files(&self) -> (PathBuf, PathBuf, PathBuf) {
        let or = |given: &Option<PathBuf>, name: &str| -> PathBuf {
            given.clone().unwrap_or_else(|| self.data_dir.join(name))
        };
        (
            or(&self.ca, "ca.pem"),
            or(&self.cert, "admin.pem"),
            or(&self.key, "admin.key"),
        )
    }
}

/// Sends one grant-management request and prints the server's JSON answer.
fn remote(args: &ServerArgs, operation: kmipd::kmip::Operation, json: &str) -> Result<(), String> {
    let (ca, cert, key) = args.files();
    let connection = client::Connection {
        server: args.server,
        server_name: &args.server_name,
        ca: &ca,
        certificate: &cert,
        key: &key,
    };
    let answer = client::call(&connection, operation, json)?;
    println!("{answer}");
    Ok(())
}

fn audit_verify(verify: AuditVerifyArgs) -> Result<(), String> {
    use kmipd::access::audit;
    let args = verify.args;
    let config = command_config(args.config.as_deref(), args.data_dir)?;
    let master = command_master_key(args.master_key_file.as_deref(), &config)?;
    let key = audit::AuditKey::derive(&master).map_err(|e| e.to_string())?;
    let path = verify
        .path
        .unwrap_or_else(|| config.access.audit_dir(&config.data_dir));
    let checkpoint = if verify.no_checkpoint || !path.is_dir() {
        None
    } else {
        newest_checkpoint(&config, &master)?
    };
    let report = audit::verify(
        &path,
        audit::VerifyOptions {
            key: &key,
            checkpoint: checkpoint.as_ref(),
            accept_legacy: verify.accept_legacy,
        },
    )
    .map_err(|e| e.to_string())?;
    println!(
        "audit chain intact: {} lines in {} files, last sequence {}",
        report.lines,
        report.files.len(),
        report.last_seq
    );
    if report.legacy_lines > 0 {
        println!(
            "warning: {} lines are an unauthenticated legacy segment (SHA-256 chain only)",
            report.legacy_lines
        );
    }
    match report.checkpoint_seq {
        Some(seq) => println!("checkpoint at sequence {seq} matches"),
        None if verify.no_checkpoint => {
            println!("not compared with a checkpoint (--no-checkpoint)")
        }
        None if !path.is_dir() => println!("one file: not compared with a checkpoint"),
        None => println!("no checkpoint stored yet"),
    }
    Ok(())
}

/// The name this server's audit checkpoints are stored under: a node's zone, else `local`.
fn audit_checkpoint_name(config: &ServerConfig) -> String {
    config
        .node
        .as_ref()
        .map_or("local".to_string(), |n| format!("node-{}", n.zone))
}

/// The newest audit checkpoint of this server in any of its local zone files (they are replicas: the newest
/// wins). A missing store is an error: without it a cut tail cannot be seen.
fn newest_checkpoint(
    config: &ServerConfig,
    master: &MasterKey,
) -> Result<Option<kmipd::access::audit::Checkpoint>, String> {
    let name = audit_checkpoint_name(config);
    let mut newest: Option<kmipd::access::audit::Checkpoint> = None;
    let mut found = false;
    for dir in local_zone_dirs(config) {
        let file = dir.join(DB_FILE_NAME);
        if !file.exists() {
            continue;
        }
        found = true;
        let store = Store::open(&file, master.duplicate()).map_err(|e| e.to_string())?;
        if let Some(c) =
            kmipd::access::audit::read_checkpoint(&store, &name).map_err(|e| e.to_string())?
            && newest.as_ref().is_none_or(|n| c.seq > n.seq)
        {
            newest = Some(c);
        }
    }
    if !found {
        return Err(format!(
            "no store in {} to read the audit checkpoint from; give --data-dir or --config, or --no-checkpoint",
            config.data_dir.display()
        ));
    }
    Ok(newest)
}

fn hash_password() -> Result<(), String> {
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err("empty password".into());
    }
    println!("{}", kmipd::access::policy::hash_password(password)?);
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C (SIGINT). The handlers are in place when this returns (call it in the
/// runtime, before telling anyone the server is ready): a signal arriving before the future is first polled is
/// kept, instead of ending the process by its default action without a graceful shutdown.
#[cfg(unix)]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot listen for SIGTERM: {e}"))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot listen for Ctrl-C: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => info!("Ctrl-C received; shutting down"),
            _ = terminate.recv() => info!("SIGTERM received; shutting down"),
        }
    })
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    Ok(async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        info!("Ctrl-C received; shutting down");
    })
}

fn cert(command: CertCommand) -> Result<(), String> {
    let (ca_args, base, pair) = match command {
        CertCommand::IssueClient { ca, name } => {
            let authority = load_ca(&ca)?;
            let pair = authority
                .issue_client(&name, ca.days, ca.key_type)
                .map_err(|e| e.to_string())?;
            (ca, name, pair)
        }
        CertCommand::IssueServer { ca, name, dns, ip } => {
            let authority = load_ca(&ca)?;
            let pair = authority
                .issue_server(&dns, &ip, ca.days, ca.key_type)
                .map_err(|e| e.to_string())?;
            (ca, name, pair)
        }
        CertCommand::IssueNode {
            ca,
            zone,
            name,
            dns,
            ip,
        } => {
            let authority = load_ca(&ca)?;
            let pair = authority
                .issue_node(&zone, &dns, &ip, ca.days, ca.key_type)
                .map_err(|e| e.to_string())?;
            (ca, name.unwrap_or_else(|| format!("node-{zone}")), pair)
        }
    };
    if base.is_empty() || base.contains(['/', '\\']) || base.starts_with('.') {
        return Err(format!("`{base}` cannot be used as a file name"));
    }
    std::fs::create_dir_all(&ca_args.out)
        .map_err(|e| format!("cannot create {}: {e}", ca_args.out.display()))?;
    let (certificate, key) = write_pair(&ca_args.out, &base, &pair).map_err(|e| e.to_string())?;
    println!("certificate: {}", certificate.display());
    println!("private key: {} (mode 0600)", key.display());
    Ok(())
}

fn load_ca(args: &CaArgs) -> Result<CertificateAuthority, String> {
    CertificateAuthority::load(&args.ca_cert, &args.ca_key).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::colour_logs;
    use std::ffi::OsStr;

    #[test]
    fn colours_only_at_a_terminal_without_no_color() {
        assert!(colour_logs(true, None));
        assert!(colour_logs(true, Some(OsStr::new(""))));
        assert!(!colour_logs(true, Some(OsStr::new("1"))));
        assert!(!colour_logs(false, None));
        assert!(!colour_logs(false, Some(OsStr::new("1"))));
    }
}
