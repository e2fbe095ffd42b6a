//! kmipd as a systemd service: `kmipd serve` speaks the notification protocol of a `Type=notify` unit (READY=1
//! once it listens, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM), and the packaging files hold
//! together: the unit is sandboxed and starts what the package installs, every asset of the Debian package's
//! metadata exists, the maintainer scripts make the kmipd user, and the installed configuration loads.

#[path = "support/serve.rs"]
mod serve;
#[path = "support/tls.rs"]
mod tls;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest wait for one notification (a loaded 2-core machine starting a debug build).
const WAIT: Duration = Duration::from_secs(60);

/// The next datagram on `socket`, or None after `WAIT`.
fn next_message(socket: &UnixDatagram) -> Option<String> {
    let mut buffer = [0u8; 4096];
    let n = socket.recv(&mut buffer).ok()?;
    Some(String::from_utf8_lossy(buffer.get(..n)?).into_owned())
}

/// Waits for a datagram equal to `wanted`, returning every one seen until then.
fn wait_for(socket: &UnixDatagram, wanted: &str) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match next_message(socket) {
            Some(m) if m == wanted => {
                seen.push(m);
                return seen;
            }
            Some(m) => seen.push(m),
            None => break,
        }
    }
    panic!("no {wanted} from kmipd serve; saw {seen:?}");
}

#[test]
fn serve_notifies_ready_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let port = tls::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("KMIPD_MASTER_KEY")
        .env_remove("WATCHDOG_PID")
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(&mut child);
    wait_for(&socket, "READY=1");
    // Ready means listening: a TCP connection is accepted now.
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("READY=1 before listening");
    wait_for(&socket, "WATCHDOG=1");
    let pid = i32::try_from(guard.0.id()).unwrap();
    // SAFETY: sends SIGTERM to the child this test started and has not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    wait_for(&socket, "STOPPING=1");
    let status = guard.0.wait().unwrap();
    assert!(
        status.success(),
        "kmipd serve exited with {status} after SIGTERM"
    );
}

/// Kills and reaps the child if the test fails before it exits.
struct KillOnDrop<'a>(&'a mut std::process::Child);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn the_unit_is_a_sandboxed_notify_service_running_the_installed_configuration() {
    let unit = repo_file("packaging/kmipd.service");
    let settings: Vec<(&str, &str)> = unit
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    let has = |key: &str, value: &str| settings.iter().any(|(k, v)| *k == key && *v == value);
    for (key, value) in [
        ("Type", "notify"),
        (
            "ExecStart",
            "/usr/bin/kmipd serve --config /etc/kmipd/kmipd.toml",
        ),
        ("User", "kmipd"),
        ("StateDirectory", "kmipd"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
        ("LoadCredential", "kmipd-master-key:/etc/kmipd/master.key"),
        ("WatchdogSec", "30s"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
    ] {
        assert!(has(key, value), "kmipd.service lacks {key}={value}");
    }

    // The configuration the unit starts with loads, keeps its data in the state directory and its key out of
    // it, and listens for metrics on loopback only.
    let config = kmipd::server::ServerConfig::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/kmipd.toml"),
    )
    .unwrap();
    assert!(config.data_dir.starts_with("/var/lib/kmipd"));
    assert_eq!(
        config.master_key.source,
        kmipd::custody::KeyLocation::SystemdCredential
    );
    assert!(config.metrics.listen.is_some_and(|a| a.ip().is_loopback()));
    for destination in &config.backup.destinations {
        assert!(
            destination.starts_with("/var/lib/kmipd") && !destination.starts_with(&config.data_dir),
            "backup destination {} is outside what the sandbox lets the service write",
            destination.display()
        );
    }
}

#[test]
fn the_debian_metadata_names_files_that_exist() {
    let manifest: toml::Value = toml::from_str(&repo_file("Cargo.toml")).unwrap();
    let package = &manifest["package"];
    assert!(package.get("rust-version").is_some());
    let deb = &package["metadata"]["deb"];
    let assets = deb["assets"].as_array().unwrap();
    let targets: Vec<&str> = assets
        .iter()
        .filter_map(|a| a.as_array()?.get(1)?.as_str())
        .collect();
    for wanted in ["usr/bin/", "etc/kmipd/kmipd.toml"] {
        assert!(targets.contains(&wanted), "no asset installed at {wanted}");
    }
    for asset in assets {
        let source = asset[0].as_str().unwrap();
        if source != "target/release/kmipd" {
            assert!(
                Path::new(env!("CARGO_MANIFEST_DIR")).join(source).is_file(),
                "asset {source} is missing"
            );
        }
    }
    let units = &deb["systemd-units"];
    let unit_dir = units["unit-scripts"].as_str().unwrap();
    let unit_name = units["unit-name"].as_str().unwrap();
    assert!(repo_file(&format!("{unit_dir}{unit_name}.service")).contains("[Service]"));
    let scripts = deb["maintainer-scripts"].as_str().unwrap();
    let postinst = repo_file(&format!("{scripts}postinst"));
    assert!(postinst.contains("adduser --system") && postinst.contains("#DEBHELPER#"));
    // The configuration is installed root's with mode 0640: the service reads it as group kmipd.
    assert!(postinst.contains("chown root:kmipd /etc/kmipd /etc/kmipd/kmipd.toml"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(scripts)
            .join("postinst"),
    )
    .unwrap()
    .permissions()
    .mode();
    assert_ne!(mode & 0o111, 0, "postinst is not executable");
}

#[test]
fn systemd_accepts_the_unit() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        serve::cannot_run(
            "systemd_accepts_the_unit",
            "systemd-analyze is not installed",
        );
        return;
    };
    assert!(version.status.success());
    // The unit as installed, its binary the one under test.
    let dir = tempfile::tempdir().unwrap();
    let unit =
        repo_file("packaging/kmipd.service").replace("/usr/bin/kmipd", env!("CARGO_BIN_EXE_kmipd"));
    let path = dir.path().join("kmipd.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("kmipd.service"),
        "systemd-analyze verify: {stderr}"
    );
}
