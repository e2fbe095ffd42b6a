//! The command line of `kmipd bench`: the load generator's settings (server, certificates, operation,
//! connections, depth, duration) and the `echo-server` subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use rustls::pki_types::ServerName;

use super::LoadError;
use super::driver::{self, RunSettings};
use super::echo::{self, EchoFiles};
use super::requests::{Op, SetupSettings, SignKey, Version};
use super::tls::{Target, client_config};

/// `kmipd bench`: drive a KMIP server, or (`echo-server`) serve the echo that gives the transport ceiling.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchCommand {
    /// The echo server instead of a load run.
    #[command(subcommand)]
    pub mode: Option<BenchMode>,
    /// The load run's settings.
    #[command(flatten)]
    pub run: BenchArgs,
}

/// What `kmipd bench` can run besides a load run.
#[derive(Subcommand)]
pub enum BenchMode {
    /// Answer each TTLV frame with the same bytes over the same mutual TLS as kmipd (the transport ceiling).
    EchoServer(EchoArgs),
}

/// The load run's settings.
#[derive(Args)]
pub struct BenchArgs {
    /// HOST:PORT of the KMIP server (or echo server).
    #[arg(long, default_value = "127.0.0.1:5696")]
    pub server: String,
    /// Name the server's certificate carries.
    #[arg(long, default_value = "localhost")]
    pub server_name: String,
    /// Directory the default --ca, --cert and --key are taken from (the embedded default's data directory).
    #[arg(long, value_name = "DIR", default_value = "./kmipd-data")]
    pub data_dir: PathBuf,
    /// CA bundle that issued the server's certificate (default <data-dir>/ca.pem).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Client certificate (default <data-dir>/admin.pem).
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Its private key (default <data-dir>/admin.key).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The operation.
    #[arg(long, value_enum, default_value = "get")]
    pub op: Op,
    /// Persistent connections.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Requests outstanding per connection (above 1 they are pipelined).
    #[arg(long, default_value_t = 1)]
    pub depth: usize,
    /// Seconds of load (fractions allowed).
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Objects created before the run: what Locate searches, what Destroy removes.
    #[arg(long, default_value_t = 1000)]
    pub fill: usize,
    /// KMIP protocol version of every request.
    #[arg(long = "kmip-version", default_value = "1.4")]
    pub version: Version,
    /// The key pair Sign uses (Ed25519 needs --kmip-version 2.0 or later).
    #[arg(long, value_enum, default_value = "p256")]
    pub sign_key: SignKey,
    /// Use this existing object for get, encrypt, decrypt, sign and mac instead of creating one.
    #[arg(long, value_name = "UID")]
    pub uid: Option<String>,
    /// Runtime worker threads of the generator (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The echo server's settings.
#[derive(Args)]
pub struct EchoArgs {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:5697")]
    pub listen: SocketAddr,
    /// Directory the default --cert, --key and --ca are taken from (the embedded default's data directory).
    #[arg(long, value_name = "DIR", default_value = "./kmipd-data")]
    pub data_dir: PathBuf,
    /// Server certificate chain (default <data-dir>/server.pem).
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Its private key (default <data-dir>/server.key).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// CA bundle client certificates must chain to (default <data-dir>/client-ca.pem).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

/// Runs `kmipd bench`. A run with errors still prints its report, then fails.
pub fn run(command: BenchCommand) -> Result<(), String> {
    match command.mode {
        Some(BenchMode::EchoServer(args)) => echo_server(args).map_err(|e| e.to_string()),
        None => load(command.run),
    }
}

fn load(args: BenchArgs) -> Result<(), String> {
    let or = |given: &Option<PathBuf>, name: &str| {
        given.clone().unwrap_or_else(|| args.data_dir.join(name))
    };
    let config = client_config(
        &or(&args.ca, "ca.pem"),
        &or(&args.cert, "admin.pem"),
        &or(&args.key, "admin.key"),
    )
    .map_err(|e| e.to_string())?;
    let server_name = ServerName::try_from(args.server_name.clone())
        .map_err(|e| format!("server name {:?}: {e}", args.server_name))?;
    let duration = Duration::try_from_secs_f64(args.seconds)
        .map_err(|e| format!("--seconds {}: {e}", args.seconds))?;
    let target = Target {
        server: args.server.clone(),
        server_name,
        config,
    };
    let fills = matches!(args.op, Op::Locate | Op::LocateAttrs | Op::Destroy);
    let prefix = format!(
        "kmipd-bench-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros())
    );
    let report = driver::run(
        &target,
        RunSettings {
            connections: args.connections,
            depth: args.depth,
            duration,
            setup: SetupSettings {
                op: args.op,
                version: args.version,
                fill: if fills { args.fill } else { 0 },
                uid: args.uid.clone(),
                sign_key: args.sign_key,
                prefix,
            },
            threads: args.threads,
        },
    )
    .map_err(|e| e.to_string())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
    } else {
        println!("{}", report.text());
    }
    if report.errors > 0 {
        return Err(format!("{} requests failed", report.errors));
    }
    Ok(())
}

fn echo_server(args: EchoArgs) -> Result<(), LoadError> {
    let or = |given: &Option<PathBuf>, name: &str| {
        given.clone().unwrap_or_else(|| args.data_dir.join(name))
    };
    let (cert, key, client_ca) = (
        or(&args.cert, "server.pem"),
        or(&args.key, "server.key"),
        or(&args.ca, "client-ca.pem"),
    );
    let acceptor = echo::acceptor(&EchoFiles {
        cert: &cert,
        key: &key,
        client_ca: &client_ca,
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| LoadError::Settings(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let (listener, local) = echo::bind(args.listen).await?;
        println!("echo server listening on {local}");
        tokio::select! {
            _ = echo::serve(listener, acceptor) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(())
    })
}
