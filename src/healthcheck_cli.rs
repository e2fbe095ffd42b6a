//! `kmipd healthcheck`: asks a running server's metrics endpoint for `/healthz` (or `/readyz`) and exits 0 on
//! 200, so a container's HEALTHCHECK or a monitoring script needs no HTTP client of its own.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use clap::Args;

/// Most bytes of an answer read (a /readyz body is a few hundred).
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

#[derive(Args)]
pub struct HealthcheckArgs {
    /// The metrics endpoint's address ([metrics] listen).
    #[arg(long, default_value = "127.0.0.1:9184")]
    address: SocketAddr,
    /// `/healthz` (the process serves) or `/readyz` (every zone takes changes).
    #[arg(long, default_value = "/healthz")]
    path: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    timeout_secs: u64,
}

pub fn run(args: HealthcheckArgs) -> Result<(), String> {
    if !args.path.starts_with('/')
        || args
            .path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("`{}` is not a path", args.path));
    }
    let wait = Duration::from_secs(args.timeout_secs.max(1));
    let mut stream = TcpStream::connect_timeout(&args.address, wait)
        .map_err(|e| format!("{}: {e}", args.address))?;
    stream
        .set_read_timeout(Some(wait))
        .and_then(|()| stream.set_write_timeout(Some(wait)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        args.path, args.address
    )
    .map_err(|e| format!("{}: {e}", args.address))?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER_BYTES)
        .read_to_end(&mut answer)
        .map_err(|e| format!("{}: {e}", args.address))?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    print!("{body}");
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(format!(
            "{}{}: {}",
            args.address,
            args.path,
            kmipd::log_text::escape_control(status)
        ))
    }
}
