//! kmipd under load with server and generator in separate processes, beside the transport ceiling of the same
//! run: `kmipd serve` (two zones, release build) and `kmipd bench echo-server` on loopback, `kmipd bench`
//! driving each. Prints, per operation and connection count, the echo ceiling and kmipd's ops/s and p99; the
//! bare 4 KiB write + fsync rate of the data directory's disk (the Create target); Locate by Name and by a
//! combination of attributes as the store grows; and the resident memory idle mutual-TLS connections cost
//! the server. See docs/performance.md.
//!
//! Run with `cargo bench --bench load` (Linux: it reads /proc). Settings, by environment variable:
//! - `KMIPD_BENCH_SECS`: seconds per point (default 3);
//! - `KMIPD_BENCH_LOCATE_MAX`: the largest store Locate is measured in (default 4,000; each fourfold step
//!   fills the store with Create batches first, at the Create rate of the disk, so 1,000,000 takes hours
//!   on a slow disk);
//! - `KMIPD_BENCH_IDLE`: idle connections opened for the memory figure (default 2,000). Each costs a
//!   descriptor in both processes: the benchmark raises its soft RLIMIT_NOFILE to the hard limit, so for
//!   10,000 run it under `ulimit -n 25000` (or higher) in a shell allowed to;
//! - `KMIPD_BENCH_SERVER_BIN`: another `kmipd` binary to run as the server (a build of an earlier commit, for
//!   before/after figures); the generator and echo server stay this build's.

#[path = "../tests/support/echo.rs"]
mod echo;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;

use kmipd::load::tls::{Target, client_config};

/// Seconds per point unless `KMIPD_BENCH_SECS` says otherwise.
const DEFAULT_SECS: f64 = 3.0;
/// The largest store Locate is measured in unless `KMIPD_BENCH_LOCATE_MAX` says otherwise.
const DEFAULT_LOCATE_MAX: usize = 4_000;
/// How much the store grows between two Locate measurements.
const LOCATE_STEP: usize = 4;
/// Idle connections of the memory figure unless `KMIPD_BENCH_IDLE` says otherwise.
const DEFAULT_IDLE: usize = 2_000;
/// The server's connection limit: room for the idle connections and the runs.
const MAX_CONNECTIONS: usize = 20_000;
/// The size of each write of the fsync measurement.
const FSYNC_BLOCK: usize = 4096;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A child process killed and reaped when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `kmipd serve` on a configuration made for load: the embedded default's certificates, two zones, no
/// per-identity rate limit (one identity drives all the load), room for many connections, no backups.
fn start_server(dir: &Path, port: u16) -> Process {
    let data = dir.join("data");
    kmipd::server::bootstrap::ensure_dev_files(&data, ([127, 0, 0, 1], port).into()).unwrap();
    let data = data.canonicalize().unwrap();
    let config = dir.join("kmipd.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n\
             [tls]\ncert_chain = {:?}\nprivate_key = {:?}\nclient_ca = {:?}\n\
             [limits]\nmax_connections = {MAX_CONNECTIONS}\n\
             [access]\nmax_connections_per_identity = {MAX_CONNECTIONS}\nmax_requests_per_second = 0\n\
             [backup]\nenabled = false\n",
            data.join("server.pem"),
            data.join("server.key"),
            data.join("client-ca.pem"),
        ),
    )
    .unwrap();
    let binary = std::env::var("KMIPD_BENCH_SERVER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_kmipd").to_string());
    let mut child = Command::new(binary)
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("KMIPD_MASTER_KEY")
        .env("RUST_LOG", "warn,kmipd::server::listener=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap_or(0) > 0 {
        if line.contains("listening for KMIP over TLS") {
            break;
        }
        line.clear();
    }
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while stderr.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    Process(child)
}

/// One `kmipd bench` run's figures.
#[derive(Clone, Copy)]
struct Figure {
    ops_per_second: f64,
    p99_ms: f64,
    errors: u64,
}

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>9.0}/s p99 {:>6.2} ms",
            self.ops_per_second, self.p99_ms
        )?;
        if self.errors > 0 {
            write!(f, " ({} ERRORS)", self.errors)?;
        }
        Ok(())
    }
}

/// Runs `kmipd bench` against `server` with `args` for `secs` seconds.
fn bench(server: &str, data: &Path, secs: f64, args: &[&str]) -> Figure {
    let output = Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args(["bench", "--json", "--server", server, "--data-dir"])
        .arg(data)
        .args(["--seconds", &secs.to_string()])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(line) = stdout.lines().last() else {
        panic!(
            "kmipd bench {args:?} printed no report: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let report: serde_json::Value = serde_json::from_str(line).unwrap();
    if let Some(kinds) = report["error_kinds"].as_object()
        && !kinds.is_empty()
    {
        eprintln!("kmipd bench {args:?}: errors {kinds:?}");
    }
    Figure {
        ops_per_second: report["ops_per_second"].as_f64().unwrap_or(0.0),
        p99_ms: report["p99_ms"].as_f64().unwrap_or(0.0),
        errors: report["errors"].as_u64().unwrap_or(0),
    }
}

/// 4 KiB writes, each followed by fsync, in `dir` for `budget`: per second.
fn fsync_rate(dir: &Path, budget: Duration) -> f64 {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = [0xA5u8; FSYNC_BLOCK];
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget {
        file.write_all(&block).unwrap();
        file.sync_all().unwrap();
        n += 1;
    }
    let rate = f64::from(n) / start.elapsed().as_secs_f64();
    std::fs::remove_file(&path).unwrap();
    rate
}

/// Resident memory of process `pid`, in KiB (VmRSS of /proc/PID/status).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Raises the soft descriptor limit to the hard one (children inherit it); returns the new soft limit.
fn raise_descriptor_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the rlimit passed by reference for the call.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return 0;
        }
    }
    limit.rlim_cur
}

/// Opens `count` mutual-TLS connections to the server and holds them idle while the server's resident memory
/// is read; (before, after) in KiB.
fn idle_memory(pid: u32, port: u16, data: &Path, count: usize) -> (u64, u64) {
    let target = Target {
        server: format!("127.0.0.1:{port}"),
        server_name: ServerName::try_from("localhost").unwrap(),
        config: client_config(
            &data.join("ca.pem"),
            &data.join("admin.pem"),
            &data.join("admin.key"),
        )
        .unwrap(),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let before = rss_kib(pid);
    let connections = runtime
        .block_on(kmipd::load::driver::connect_all(&target, count))
        .unwrap();
    // Every handshake is done on the client side; give the server a moment to finish its side too.
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(pid);
    drop(connections);
    (before, after)
}

struct Row {
    what: &'static str,
    connections: usize,
    args: Vec<&'static str>,
    target: &'static str,
}

fn main() {
    let total = Instant::now();
    let secs = env_or("KMIPD_BENCH_SECS", DEFAULT_SECS);
    let locate_max = env_or("KMIPD_BENCH_LOCATE_MAX", DEFAULT_LOCATE_MAX);
    let idle = env_or("KMIPD_BENCH_IDLE", DEFAULT_IDLE);
    let descriptors = raise_descriptor_limit();

    let dir = tempfile::tempdir().unwrap();
    let port = kmipd_free_port();
    let server = start_server(dir.path(), port);
    let data = dir.path().join("data").canonicalize().unwrap();
    let echo_server = echo::Echo::start(&data);
    let echo = echo_server.address.clone();
    let kmipd = format!("127.0.0.1:{port}");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "kmipd load benchmark: {cores} cores, {secs} s per point, server and generator in separate processes"
    );

    let fsync = fsync_rate(&data, Duration::from_secs(1));
    println!("bare 4 KiB write + fsync in the data directory: {fsync:.0}/s");

    let rows = [
        Row {
            what: "Get AES-256 (1.4)",
            connections: 1,
            args: vec!["--op", "get"],
            target: ">= 50 % of echo",
        },
        Row {
            what: "Get AES-256 (1.4)",
            connections: 4,
            args: vec!["--op", "get"],
            target: "",
        },
        Row {
            what: "Get AES-256 (1.4)",
            connections: 16,
            args: vec!["--op", "get"],
            target: ">= 50 % of echo, p99 < 1 ms",
        },
        Row {
            what: "Encrypt AES-256-CBC 64 B",
            connections: 1,
            args: vec!["--op", "encrypt"],
            target: ">= 50 % of echo",
        },
        Row {
            what: "Encrypt AES-256-CBC 64 B",
            connections: 16,
            args: vec!["--op", "encrypt"],
            target: ">= 50 % of echo, p99 < 1 ms",
        },
        Row {
            what: "Decrypt AES-256-CBC 64 B",
            connections: 16,
            args: vec!["--op", "decrypt"],
            target: "",
        },
        Row {
            what: "Sign ECDSA P-256",
            connections: 16,
            args: vec!["--op", "sign"],
            target: ">= 25 % of echo",
        },
        Row {
            what: "Sign Ed25519 (2.1)",
            connections: 16,
            args: vec![
                "--op",
                "sign",
                "--sign-key",
                "ed25519",
                "--kmip-version",
                "2.1",
            ],
            target: ">= 25 % of echo",
        },
        Row {
            what: "MAC HMAC-SHA-256 64 B",
            connections: 16,
            args: vec!["--op", "mac"],
            target: ">= 25 % of echo",
        },
        Row {
            what: "Locate by Name (fill 1k)",
            connections: 16,
            args: vec!["--op", "locate", "--fill", "1000"],
            target: "p99 < 1 ms",
        },
        Row {
            what: "Register AES-256",
            connections: 16,
            args: vec!["--op", "register"],
            target: "",
        },
        Row {
            what: "Create AES-256",
            connections: 1,
            args: vec!["--op", "create"],
            target: "",
        },
        Row {
            what: "Create AES-256",
            connections: 32,
            args: vec!["--op", "create"],
            target: ">= 3 x fsync",
        },
    ];
    let mut echoes = std::collections::BTreeMap::new();
    println!();
    println!(
        "| operation | conns | TLS echo | kmipd | kmipd / echo | target |\n|---|---|---|---|---|---|"
    );
    for row in &rows {
        let c = row.connections.to_string();
        let ceiling = *echoes
            .entry(row.connections)
            .or_insert_with(|| bench(&echo, &data, secs, &["--op", "echo", "--connections", &c]));
        let mut args = row.args.clone();
        args.extend(["--connections", &c]);
        let figure = bench(&kmipd, &data, secs, &args);
        let against = if row.what.starts_with("Create") {
            format!("{:.2} x fsync", figure.ops_per_second / fsync)
        } else {
            format!(
                "{:.0} %",
                100.0 * figure.ops_per_second / ceiling.ops_per_second
            )
        };
        println!(
            "| {} | {} | {ceiling} | {figure} | {against} | {} |",
            row.what, row.connections, row.target
        );
    }

    // Locate as the store grows: each step adds objects (Create batches) up to the next size.
    println!();
    println!(
        "| store objects | Locate by Name, 1 | Locate by Name, 16 | Locate by attributes, 16 |\n|---|---|---|---|"
    );
    let mut filled = 0usize;
    let mut size = 1_000usize;
    while size <= locate_max {
        let fill = size - filled;
        let filling = Instant::now();
        let by_name_16 = bench(
            &kmipd,
            &data,
            secs,
            &[
                "--op",
                "locate",
                "--connections",
                "16",
                "--fill",
                &fill.to_string(),
            ],
        );
        let fill_secs = filling.elapsed().as_secs_f64() - secs;
        filled = size;
        let by_name_1 = bench(
            &kmipd,
            &data,
            secs,
            &["--op", "locate", "--connections", "1", "--fill", "10"],
        );
        let by_attributes = bench(
            &kmipd,
            &data,
            secs,
            &[
                "--op",
                "locate-attrs",
                "--connections",
                "16",
                "--fill",
                "10",
            ],
        );
        filled += 20;
        println!(
            "| {size} (filled {fill} in {fill_secs:.1} s) | {by_name_1} | {by_name_16} | {by_attributes} |"
        );
        size *= LOCATE_STEP;
    }

    // Idle connections' memory.
    println!();
    if descriptors < (idle as u64) + 100 {
        println!(
            "idle connections: skipped, {idle} need more descriptors than the limit {descriptors} (ulimit -n)"
        );
    } else {
        let (before, after) = idle_memory(server.0.id(), port, &data, idle);
        let per = (after.saturating_sub(before)) as f64 * 1024.0 / idle as f64;
        println!(
            "idle mutual-TLS connections: {idle}: server VmRSS {before} KiB -> {after} KiB, {:.1} KiB per \
             connection; 10,000 would take about {:.0} MB",
            per / 1024.0,
            (before as f64 * 1024.0 + per * 10_000.0) / 1e6
        );
    }
    println!("total {:.0} s", total.elapsed().as_secs_f64());
}

/// A free loopback port.
fn kmipd_free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
