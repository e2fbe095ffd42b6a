//! The plain-HTTP side of the metrics endpoint: a small HTTP/1.1 responder (one request per connection, then
//! close) for `GET /metrics`, `/healthz` and `/readyz`. Bounded like the KMIP port: a request of at most
//! `max_request_bytes`, sent within `request_timeout_secs`, at most `max_connections` at once.
//!
//! `/healthz` answers 200 while the process serves. `/readyz` answers 200 when every zone is up and 503 when
//! one is down (reads go on, changes are refused), with a JSON body of each zone's state either way.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::{MetricsSettings, StateSource, install};

/// Most bytes read and dropped after refusing an oversized request (before closing).
const DRAIN_BYTES: usize = 64 * 1024;

/// The content type of the Prometheus text format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Starts answering on `listener` (already bound, so a taken address fails at start) in the current runtime.
pub fn spawn(
    listener: std::net::TcpListener,
    settings: MetricsSettings,
    state: Arc<dyn StateSource>,
) -> std::io::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    install();
    let places = Arc::new(Semaphore::new(settings.max_connections));
    Ok(tokio::spawn(async move {
        loop {
            let Ok(permit) = places.clone().acquire_owned().await else {
                return;
            };
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let state = state.clone();
            let settings = settings.clone();
            tokio::spawn(async move {
                let _permit = permit;
                answer(stream, &settings, state).await;
            });
        }
    }))
}

/// Why a request head could not be read.
#[derive(Debug, PartialEq, Eq)]
enum HeadError {
    /// Longer than the limit.
    TooLarge,
    /// The client closed or the transport failed.
    Closed,
}

async fn answer(mut stream: TcpStream, settings: &MetricsSettings, state: Arc<dyn StateSource>) {
    let wait = Duration::from_secs(settings.request_timeout_secs);
    let head = timeout(wait, read_head(&mut stream, settings.max_request_bytes)).await;
    let too_large = matches!(head, Ok(Err(HeadError::TooLarge)));
    let response = match head {
        Err(_) => respond(408, "text/plain", "request timeout\n".into(), false),
        Ok(Err(HeadError::Closed)) => return,
        Ok(Err(HeadError::TooLarge)) => respond(
            431,
            "text/plain",
            "request header fields too large\n".into(),
            false,
        ),
        Ok(Ok(head)) => route(&head, state).await,
    };
    let _ = timeout(wait, async {
        stream.write_all(&response).await?;
        stream.shutdown().await?;
        if too_large {
            // Closing with unread bytes would reset the connection and could lose the answer: read what the
            // client still sends, up to a bound, until it closes.
            let mut left = DRAIN_BYTES;
            let mut sink = [0u8; 1024];
            while left > 0 {
                let n = stream.read(&mut sink).await?;
                if n == 0 {
                    break;
                }
                left = left.saturating_sub(n);
            }
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
}

/// Reads up to the blank line ending the head, at most `max` bytes.
async fn read_head(stream: &mut TcpStream, max: usize) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::with_capacity(512.min(max));
    let mut chunk = [0u8; 512];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|_| HeadError::Closed)?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        head.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(head);
        }
        if head.len() >= max {
            return Err(HeadError::TooLarge);
        }
    }
}

/// The response to one request head.
async fn route(head: &[u8], state: Arc<dyn StateSource>) -> Vec<u8> {
    let line = head
        .split(|b| *b == b'\n')
        .next()
        .map(|l| String::from_utf8_lossy(l).trim().to_string())
        .unwrap_or_default();
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let with_body = match method {
        "GET" => true,
        "HEAD" => false,
        _ => return respond(405, "text/plain", "method not allowed\n".into(), true),
    };
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/healthz" => respond(200, "text/plain", "ok\n".into(), with_body),
        "/metrics" => {
            let text = tokio::task::spawn_blocking(move || install().render(state.as_ref()))
                .await
                .unwrap_or_default();
            respond(200, METRICS_CONTENT_TYPE, text, with_body)
        }
        "/readyz" => {
            let report = tokio::task::spawn_blocking(move || state.report()).await;
            match report {
                Ok(report) => {
                    let code = if report.ready { 200 } else { 503 };
                    let mut body = serde_json::to_string(&report).unwrap_or_default();
                    body.push('\n');
                    respond(code, "application/json", body, with_body)
                }
                Err(_) => respond(500, "text/plain", "state unavailable\n".into(), with_body),
            }
        }
        _ => respond(404, "text/plain", "not found\n".into(), with_body),
    }
}

fn respond(code: u16, content_type: &str, body: String, with_body: bool) -> Vec<u8> {
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if with_body {
        out.extend_from_slice(body.as_bytes());
    }
    out
}
