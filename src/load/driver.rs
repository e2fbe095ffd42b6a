//! The client side of a load run: opens the connections (all handshakes done before the clock starts), runs
//! the setup, then on each connection keeps `depth` requests outstanding until the time is up. A server
//! answers the requests of one connection in order, so with a depth above one the requests are pipelined:
//! written back to back, their answers read in the same order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::{Instant, timeout};

use super::LoadError;
use super::requests::{Next, SetupSettings, Workload, setup};
use super::stats::{ConnectionStats, Report};
use super::tls::{Target, read_frame};

/// How long one answer may take before the connection is counted as failed.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Handshakes in flight at once while connecting (a server bounds pending handshakes per address).
pub const CONNECT_PARALLELISM: usize = 16;

/// What a run does.
pub struct RunSettings {
    /// Persistent connections.
    pub connections: usize,
    /// Requests outstanding per connection.
    pub depth: usize,
    /// How long requests are sent.
    pub duration: Duration,
    /// The operation and what it needs first.
    pub setup: SetupSettings,
    /// Runtime worker threads (default: one per core).
    pub threads: Option<usize>,
}

/// Runs a whole load run on a runtime of its own.
pub fn run(target: &Target, settings: RunSettings) -> Result<Report, LoadError> {
    if settings.connections == 0 || settings.depth == 0 {
        return Err(LoadError::Settings(
            "--connections and --depth must be at least 1".into(),
        ));
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = settings.threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| LoadError::Settings(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(run_async(target, settings))
}

/// Opens `count` connections, [`CONNECT_PARALLELISM`] handshakes at a time.
pub async fn connect_all(
    target: &Target,
    count: usize,
) -> Result<Vec<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>, LoadError> {
    let mut streams = Vec::with_capacity(count);
    while streams.len() < count {
        let wave = (count - streams.len()).min(CONNECT_PARALLELISM);
        let handles: Vec<_> = (0..wave)
            .map(|_| {
                let target = target.clone();
                tokio::spawn(async move { target.connect().await })
            })
            .collect();
        for handle in handles {
            let stream = handle.await.map_err(|e| LoadError::Connection {
                server: target.server.clone(),
                reason: e.to_string(),
            })??;
            streams.push(stream);
        }
    }
    Ok(streams)
}

async fn run_async(target: &Target, settings: RunSettings) -> Result<Report, LoadError> {
    let mut streams = connect_all(target, settings.connections).await?;
    let workload = setup(&mut streams, &settings.setup).await?;
    let start = Instant::now();
    let deadline = start + settings.duration;
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, stream)| {
            let workload = workload.clone();
            let seed =
                0x9E37_79B9_7F4A_7C15_u64 ^ (i as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
            tokio::spawn(drive(stream, workload, settings.depth, deadline, seed))
        })
        .collect();
    let mut connections = Vec::with_capacity(tasks.len());
    for task in tasks {
        connections.push(task.await.unwrap_or_else(|e| {
            let mut stats = ConnectionStats::default();
            stats.error(format!("connection task failed: {e}"));
            stats
        }));
    }
    let op = super::requests::op_name(workload.op(), settings.setup.sign_key);
    Ok(Report::merge(
        op,
        settings.depth,
        settings.setup.fill,
        start.elapsed(),
        connections,
    ))
}

/// One connection's loop: keeps `depth` requests outstanding until `deadline`, then collects the answers
/// still owed.
async fn drive(
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    workload: Arc<Workload>,
    depth: usize,
    deadline: Instant,
    mut seed: u64,
) -> ConnectionStats {
    let mut stats = ConnectionStats::default();
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut in_flight: VecDeque<(Instant, Vec<u8>)> = VecDeque::with_capacity(depth);
    let mut response = Vec::new();
    let mut exhausted = false;
    loop {
        let mut wrote = false;
        while !exhausted && in_flight.len() < depth && Instant::now() < deadline {
            match workload.request(&mut seed) {
                Next::Send(frame) => {
                    let sent = Instant::now();
                    if let Err(e) = writer.write_all(&frame).await {
                        stats.error(format!("connection: write: {e}"));
                        return stats;
                    }
                    in_flight.push_back((sent, frame));
                    wrote = true;
                }
                Next::Exhausted => exhausted = true,
            }
        }
        if wrote && let Err(e) = writer.flush().await {
            stats.error(format!("connection: write: {e}"));
            return stats;
        }
        let Some((sent, request)) = in_flight.pop_front() else {
            break;
        };
        match timeout(RESPONSE_TIMEOUT, read_frame(&mut reader, &mut response)).await {
            Err(_) => {
                stats.error(format!("connection: no answer within {RESPONSE_TIMEOUT:?}"));
                return stats;
            }
            Ok(Err(e)) => {
                stats.error(format!("connection: read: {e}"));
                return stats;
            }
            Ok(Ok(false)) => {
                stats.error("connection: closed by the server".into());
                return stats;
            }
            Ok(Ok(true)) => {}
        }
        let latency = sent.elapsed();
        match workload.check(&request, &response) {
            Ok(()) => stats.success(latency),
            Err(text) => stats.error(text),
        }
    }
    // close_notify; a server that already left makes this fail, which changes nothing.
    let _ = writer.shutdown().await;
    stats
}
