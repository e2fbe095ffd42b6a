//! The one load harness of the mutual-TLS benchmarks, so that their figures are taken and printed the same
//! way: a real listener on loopback with freshly generated certificates, N concurrent clients (each its own
//! connection and thread) repeating an operation for a bounded time, and one line of ops/s, p50 and p99 per
//! measurement. Each benchmark keeps only its cases.
//!
//! `KMIPD_BENCH_SECS` (seconds, fractions allowed) shortens or lengthens every measurement, e.g. `0.3` for a
//! quick run that only shows the benchmarks still work.

#![allow(dead_code)]

#[path = "../../tests/support/kmip.rs"]
pub mod kmip;
#[path = "../../tests/support/engine.rs"]
pub mod test_engine;
#[path = "../../tests/support/tls.rs"]
pub mod tls;

use std::thread;
use std::time::{Duration, Instant};

use kmipd::ttlv::Ttlv;

/// The environment variable that overrides every measurement's time budget, in seconds.
pub const BUDGET_ENV: &str = "KMIPD_BENCH_SECS";

/// How long each measurement runs: `default`, unless [`BUDGET_ENV`] names a positive number of seconds.
pub fn budget(default: Duration) -> Duration {
    std::env::var(BUDGET_ENV)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(default)
}

/// A fresh engine on its own temporary store, served by a TLS listener on loopback with generated
/// certificates; the engine is kept for benchmarks that reach the store directly.
pub struct BenchServer {
    pub fresh: test_engine::TestEngine,
    pub server: tls::TlsServer,
}

impl BenchServer {
    /// Starts the listener over a fresh engine.
    pub fn start() -> BenchServer {
        let fresh = test_engine::fresh();
        let server = tls::TlsServer::start(fresh.engine.clone());
        BenchServer { fresh, server }
    }
}

/// Latencies of one measurement, and its wall time.
pub struct Run {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Run {
    /// Prints one line: what was measured, the client count, ops/s, p50 and p99 latency, operation count.
    pub fn report(mut self, what: &str, clients: usize) {
        self.latencies.sort();
        let n = self.latencies.len();
        let Some(last) = n.checked_sub(1) else {
            println!("{what:<32} {clients:>2} client(s): no operation completed in the budget");
            return;
        };
        let at = |q: f64| self.latencies[((n as f64 * q) as usize).min(last)];
        println!(
            "{what:<32} {clients:>2} client(s): {:>8.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({n} ops)",
            n as f64 / self.wall.as_secs_f64(),
            at(0.50).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
        );
    }
}

/// Runs `op` on `clients` connections at once for `budget` and times each call. The clients connect (and
/// finish their handshakes) before the clock starts. `op` gets its client and a running counter (client `k`
/// counts k, k + clients, k + 2 × clients, ...: distinct across clients) and must check its answer.
pub fn measure(
    server: &tls::TlsServer,
    clients: usize,
    budget: Duration,
    op: impl Fn(&mut tls::KmipClient, usize) + Sync,
) -> Run {
    let connections: Vec<tls::KmipClient> = (0..clients).map(|_| server.connect()).collect();
    let op = &op;
    let start = Instant::now();
    let latencies = thread::scope(|scope| {
        let workers: Vec<_> = connections
            .into_iter()
            .enumerate()
            .map(|(worker, mut client)| {
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    let mut i = worker;
                    while start.elapsed() < budget {
                        let t = Instant::now();
                        op(&mut client, i);
                        latencies.push(t.elapsed());
                        i += clients;
                    }
                    latencies
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a client thread failed"))
            .collect()
    });
    Run {
        latencies,
        wall: start.elapsed(),
    }
}

/// [`measure`] of one request sent again and again, every answer checked to be a success.
pub fn measure_request(
    server: &tls::TlsServer,
    clients: usize,
    budget: Duration,
    request: &Ttlv,
) -> Run {
    measure(server, clients, budget, |client, _| {
        kmip::only_success(&client.send(request));
    })
}
