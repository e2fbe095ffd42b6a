//! Socket activation: a service manager (systemd's `.socket` units, or a test harness) binds the KMIP port and
//! hands the listening socket over as file descriptor 3 with `LISTEN_PID` and `LISTEN_FDS` in the environment
//! (the `sd_listen_fds` convention). The port is then open before kmipd starts and never changes hands, so no
//! client is refused during a restart and no other process can take the port in between.

use std::net::TcpListener;

/// The first descriptor a service manager passes (`SD_LISTEN_FDS_START`).
const FIRST_PASSED_FD: i32 = 3;

/// Why a passed socket cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error("LISTEN_FDS={0} is not a number of sockets")]
    Count(String),
    #[error("the socket passed as descriptor {FIRST_PASSED_FD} is not a listening TCP socket: {0}")]
    NotTcp(std::io::Error),
}

/// The listening socket passed to this process, if it was passed one: `LISTEN_PID` names this process and
/// `LISTEN_FDS` is at least 1. The KMIP port is the first descriptor; any others are not taken.
pub fn passed_listener() -> Result<Option<TcpListener>, ActivationError> {
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        == Some(std::process::id());
    let Some(count) = std::env::var("LISTEN_FDS").ok().filter(|_| for_us) else {
        return Ok(None);
    };
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| ActivationError::Count(count.clone()))?;
    if count == 0 {
        return Ok(None);
    }
    take_fd()
}

#[cfg(unix)]
fn take_fd() -> Result<Option<TcpListener>, ActivationError> {
    use std::os::fd::FromRawFd;
    // SAFETY: the service manager passed descriptor 3 to this process (LISTEN_PID is ours) for it to own; it is
    // taken once, here, at start, before anything else could open a descriptor numbered 3.
    let listener = unsafe { TcpListener::from_raw_fd(FIRST_PASSED_FD) };
    listener.local_addr().map_err(ActivationError::NotTcp)?;
    listener
        .set_nonblocking(true)
        .map_err(ActivationError::NotTcp)?;
    Ok(Some(listener))
}

#[cfg(not(unix))]
fn take_fd() -> Result<Option<TcpListener>, ActivationError> {
    Ok(None)
}
