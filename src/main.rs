//! The `kmipd` command: `serve` runs the server (with the embedded development default when no configuration
//! file is given), `cert` issues server and client certificates from an operator's own CA.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use tracing::{error, info};

use kmipd::ops::{Engine, EngineConfig};
use kmipd::server::bootstrap::{self, DevFiles};
use kmipd::server::pki::{CertificateAuthority, KeyType, LEAF_VALIDITY_DAYS, write_pair};
use kmipd::server::{FrameHandler, ServerConfig};
use kmipd::store::{MASTER_KEY_ENV, MasterKeySource};

#[derive(Parser)]
#[command(name = "kmipd", version, about = "A KMIP key-management server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. Without --config, uses the embedded default: 127.0.0.1:5696 and development
    /// certificates made on first start in the data directory.
    Serve(ServeArgs),
    /// Issue certificates from your own CA.
    #[command(subcommand)]
    Cert(CertCommand),
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
}

#[derive(Subcommand)]
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

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Cert(command) => cert(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kmipd: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let embedded_default = args.config.is_none();
    let mut config = match &args.config {
        Some(path) => ServerConfig::load(path).map_err(|e| e.to_string())?,
        None => ServerConfig::default(),
    };
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    config.validate().map_err(|e| e.to_string())?;

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
    let handler = engine(&config)?;
    runtime
        .block_on(kmipd::server::run(config, handler, shutdown_signal()))
        .map_err(|e| e.to_string())
}

/// The request handler `serve` runs: the KMIP engine over the store in the data directory, holding requests to
/// the configured TTLV limits. The master key comes from `KMIPD_MASTER_KEY` when set, else from (or is generated
/// into) the data directory.
fn engine(config: &ServerConfig) -> Result<Arc<dyn FrameHandler>, String> {
    let master_key = if std::env::var_os(MASTER_KEY_ENV).is_some() {
        MasterKeySource::Env(MASTER_KEY_ENV.to_string())
    } else {
        MasterKeySource::DataDir
    };
    let engine = Engine::open(EngineConfig {
        limits: config.limits.ttlv(),
        crypto: config.crypto.limits(),
        data_dir: config.data_dir.clone(),
        master_key,
        ..EngineConfig::default()
    })
    .map_err(|e| e.to_string())?;
    info!(store = %engine.store().path().display(), "store open");
    Ok(Arc::new(engine))
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => info!("Ctrl-C received; shutting down"),
        _ = terminate => info!("SIGTERM received; shutting down"),
    }
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
