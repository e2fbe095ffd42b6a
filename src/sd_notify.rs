//! The systemd notification protocol (sd_notify), for a unit of `Type=notify`: `READY=1` once the server
//! listens, `STOPPING=1` when it starts shutting down, and `WATCHDOG=1` at half the `WatchdogSec=` interval
//! while the async runtime runs. A datagram to the unix socket `$NOTIFY_SOCKET` (a path, or `@name` for the
//! abstract namespace); without the variable every call does nothing.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// The environment variable naming the notification socket.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// Sends `state` (such as `READY=1`) to the service manager. Ok(false) when not run under one.
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(socket) = std::env::var_os(NOTIFY_SOCKET_ENV) else {
        return Ok(false);
    };
    let socket = socket.to_string_lossy().into_owned();
    let sender = UnixDatagram::unbound()?;
    match socket.strip_prefix('@') {
        #[cfg(target_os = "linux")]
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            sender.send_to_addr(state.as_bytes(), &address)?;
        }
        #[cfg(not(target_os = "linux"))]
        Some(_) => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "abstract notification sockets exist on Linux only",
            ));
        }
        None => {
            sender.send_to(state.as_bytes(), &socket)?;
        }
    }
    Ok(true)
}

/// [`notify`], logging a failure instead of returning it (a missed notification must not stop the server;
/// systemd then reports the start as timed out, which names the cause).
pub fn notify_logged(state: &str) {
    if let Err(e) = notify(state) {
        tracing::error!(error = %e, state, "cannot notify the service manager");
    }
}

/// The watchdog interval systemd asks for (`$WATCHDOG_USEC`, for this process per `$WATCHDOG_PID`).
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID")
        && pid.to_string_lossy() != std::process::id().to_string()
    {
        return None;
    }
    let micros: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (micros > 0).then(|| Duration::from_micros(micros))
}

/// Pings the watchdog at half its interval from a task of the current tokio runtime, so a stalled runtime
/// stops the pings and systemd restarts the service. None when no watchdog is asked for.
pub fn spawn_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let interval = watchdog_interval()?;
    let period = (interval / 2).max(Duration::from_millis(10));
    tracing::info!(?interval, "systemd watchdog on");
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        loop {
            ticker.tick().await;
            notify_logged("WATCHDOG=1");
        }
    }))
}

/// `RELOADING=1` with the `MONOTONIC_USEC` systemd asks to accompany it.
pub fn reloading_message() -> String {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec passed by reference for the call.
    // time_t and c_long are i64 on 64-bit targets and narrower on some others.
    #[allow(clippy::useless_conversion)]
    let micros = if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) } == 0 {
        i64::from(now.tv_sec)
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(now.tv_nsec) / 1000)
    } else {
        0
    };
    format!("RELOADING=1\nMONOTONIC_USEC={micros}")
}
