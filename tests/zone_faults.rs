//! Real file faults under zone b of a running `kmipd serve` (embedded default, two zones, real TLS): immutable
//! files (`chattr +i`, what a read-only remount or a failing device looks like to SQLite), a full file system (a
//! 2 MB tmpfs mounted as zone b's directory), EIO on read, write and fsync and EROFS on write and fsync from an
//! `LD_PRELOAD` injector (tests/faultfs/faultfs.c, compiled here with `cc`). In each: the server lives (no
//! SIGBUS: the zone files map nothing), every change is refused naming zone b, Get, Get Attributes, Locate and
//! Encrypt of existing keys are answered from zone a, a refused Create is never found (no dirty read), and once
//! the fault is gone zone b returns by itself and both zone files are identical.
//!
//! These need root on ext4 (chattr, mount) and a C compiler. Where the machine refuses one, its test says so
//! loudly and skips; CI sets KMIPD_REQUIRE_ZONE_FAULTS=1, which turns every such skip into a failure. Each test
//! is bounded (every wait ends in at most 20 s).

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/tls.rs"]
mod tls;
#[path = "support/zoned.rs"]
mod zoned;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kmipd::spec::enums::operation;
use kmipd::spec::tag;

use kmip::*;
use zoned::*;

const WAIT: Duration = Duration::from_secs(20);
/// Most Creates sent while waiting for a filling file system to refuse one.
const FILL_CREATES_MAX: usize = 400;

/// Whether CI demands that every fault can be injected here.
fn required() -> bool {
    std::env::var_os("KMIPD_REQUIRE_ZONE_FAULTS").is_some()
}

/// Skips (loudly) or, when required, fails.
fn cannot(what: &str) {
    assert!(!required(), "KMIPD_REQUIRE_ZONE_FAULTS is set but {what}");
    eprintln!(
        "\n*** SKIPPING a zone fault test: {what} (needs root on ext4 and cc; CI requires it) ***\n"
    );
}

/// A `kmipd serve` on the embedded default; killed when dropped.
struct Served {
    child: Child,
    client: tls::KmipClient,
    log: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn start(data_dir: &Path, env: &[(&str, &str)]) -> Served {
        let port = tls::free_port();
        let log = data_dir.with_extension("serve.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_kmipd"));
        command
            .args(["serve", "--data-dir"])
            .arg(data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("KMIPD_MASTER_KEY")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
        let mut client = None;
        wait_until(WAIT, "kmipd serve accepts a connection", || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "kmipd serve exited with {status}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            client = dev_client(data_dir, port);
            client.is_some()
        });
        Served {
            child,
            client: client.unwrap(),
            log,
        }
    }

    fn create(&mut self, name: &str) -> Result<String, String> {
        outcome(&self.client.send(&create_request(name))).map(|p| uid_of(&p))
    }

    fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "kmipd serve died with {status}: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }

    fn locate(&mut self, name: &str) -> Vec<String> {
        located(&outcome(&self.client.send(&locate_by_name(name))).expect("Locate"))
    }

    /// Get, Get Attributes, Locate and Encrypt of the active key `uid` named `name` all succeed.
    fn assert_reads_and_crypto_go_on(&mut self, uid: &str, name: &str) {
        outcome(&self.client.send(&on_uid(operation::GET, uid))).expect("Get");
        outcome(&self.client.send(&on_uid(operation::GET_ATTRIBUTES, uid)))
            .expect("Get Attributes");
        assert_eq!(self.locate(name), vec![uid.to_string()]);
        let encrypted = outcome(&self.client.send(&request(
            V14,
            vec![item(
                operation::ENCRYPT,
                vec![kmip::uid(uid), bytes(tag::DATA, b"sixteen byte msg")],
            )],
        )))
        .expect("Encrypt");
        assert!(encrypted.child(tag::DATA).is_some());
    }

    fn stop(self) {
        drop(self);
    }
}

/// A client of a `kmipd serve` embedded default, with the admin certificate it wrote; `None` until it listens.
fn dev_client(data_dir: &Path, port: u16) -> Option<tls::KmipClient> {
    let ca = std::fs::read_to_string(data_dir.join("ca.pem")).ok()?;
    let cert = std::fs::read_to_string(data_dir.join("admin.pem")).ok()?;
    let key = std::fs::read_to_string(data_dir.join("admin.key")).ok()?;
    std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    Some(tls::KmipClient::connect_with_pem(
        ([127, 0, 0, 1], port).into(),
        &ca,
        &cert,
        &key,
    ))
}

/// Three keys, the first activated (for Encrypt); returns their uids.
fn keys_before(served: &mut Served) -> Vec<String> {
    let uids: Vec<String> = (0..3)
        .map(|i| served.create(&format!("before-{i}")).unwrap())
        .collect();
    outcome(&served.client.send(&on_uid(operation::ACTIVATE, &uids[0]))).expect("Activate");
    uids
}

/// With the fault in place: Creates are refused naming zone b (on a filling file system the first ones may
/// still fit: they are acknowledged and pushed to `uids`), the server lives, reads and Encrypt go on, and no
/// refused Create can be found. Returns the refused names.
fn refused_while_faulty(served: &mut Served, uids: &mut Vec<String>) -> Vec<String> {
    let mut refused = Vec::new();
    for i in 0..FILL_CREATES_MAX {
        let name = format!("during-{i}");
        match served.create(&name) {
            Ok(uid) => uids.push(uid),
            Err(e) => {
                assert!(e.contains("zone b"), "refused without naming zone b: {e}");
                refused.push(name);
                break;
            }
        }
    }
    assert!(!refused.is_empty(), "no Create was refused");
    for i in 0..2 {
        let name = format!("refused-{i}");
        let e = served.create(&name).unwrap_err();
        assert!(e.contains("zone b"), "{e}");
        refused.push(name);
    }
    served.assert_alive();
    served.assert_reads_and_crypto_go_on(&uids[0], "before-0");
    for name in &refused {
        assert_eq!(
            served.locate(name),
            Vec::<String>::new(),
            "refused {name} is visible"
        );
    }
    refused
}

/// Once the fault is gone: the zone returns with no operator action, a Create is acknowledged, the refused ones
/// stay invisible, and after the server stops both zone files hold the same changes and every acknowledged key.
fn returns_and_catches_up(
    mut served: Served,
    data_dir: &Path,
    mut uids: Vec<String>,
    refused: &[String],
) {
    let mut after = None;
    wait_until(WAIT, "the faulty zone returns", || {
        served.assert_alive();
        after = served.create("after").ok();
        after.is_some()
    });
    uids.push(after.unwrap());
    served.assert_reads_and_crypto_go_on(&uids[0], "before-0");
    for name in refused {
        assert_eq!(
            served.locate(name),
            Vec::<String>::new(),
            "refused {name} appeared"
        );
    }
    // `kmipd status` cannot read the zone files a running server holds exclusively (docs/replication.md).
    let out = Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args(["status", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for zone in status["zones"].as_array().unwrap() {
        assert_eq!(zone["readable"], false, "{status}");
    }
    served.stop();
    let a = open_zone(data_dir, &data_dir.join("zone-a"));
    let b = open_zone(data_dir, &data_dir.join("zone-b"));
    for uid in &uids {
        assert!(
            a.get(uid).unwrap().is_some(),
            "zone a lacks acknowledged {uid}"
        );
        assert_eq!(
            a.get(uid).unwrap(),
            b.get(uid).unwrap(),
            "zone b differs on {uid}"
        );
    }
    assert_eq!(
        a.changes_since(0, usize::MAX).unwrap(),
        b.changes_since(0, usize::MAX).unwrap()
    );
}

/// Runs `program args`; false when it cannot run or fails.
fn run(program: &str, args: &[&str]) -> bool {
    match Command::new(program).args(args).output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            eprintln!(
                "{program} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            false
        }
        Err(e) => {
            eprintln!("{program}: {e}");
            false
        }
    }
}

/// Zone b's directory and every file in it made immutable; undone when dropped (also on a failed assertion,
/// so that the temporary directory can be removed).
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(zone_dir: &Path) -> Option<Immutable> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(zone_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.push(zone_dir.to_path_buf());
        let mut guard = Immutable(Vec::new());
        for p in paths {
            if !run("chattr", &["+i", p.to_str().unwrap()]) {
                return None;
            }
            guard.0.push(p);
        }
        Some(guard)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for p in &self.0 {
            run("chattr", &["-i", p.to_str().unwrap()]);
        }
    }
}

#[test]
fn immutable_zone_b_files_refuse_changes_never_kill_the_server_and_b_returns() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut served = Served::start(&data_dir, &[]);
    let mut uids = keys_before(&mut served);
    let zone_b = data_dir.join("zone-b");
    let Some(immutable) = Immutable::set(&zone_b) else {
        cannot("chattr +i is refused here");
        return;
    };
    let refused = refused_while_faulty(&mut served, &mut uids);
    drop(immutable);
    returns_and_catches_up(served, &data_dir, uids, &refused);
}

/// A 2 MB tmpfs mounted on a directory; unmounted when dropped.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        run("umount", &["-l", self.0.to_str().unwrap()]);
    }
}

#[test]
fn a_full_file_system_under_zone_b_refuses_changes_keeps_reads_and_b_returns_when_freed() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let zone_b = data_dir.join("zone-b");
    std::fs::create_dir_all(&zone_b).unwrap();
    if !run(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=2m,mode=0700",
            "tmpfs",
            zone_b.to_str().unwrap(),
        ],
    ) {
        cannot("mounting a 2 MB tmpfs is refused here");
        return;
    }
    let mounted = Mounted(zone_b.clone());
    let mut served = Served::start(&data_dir, &[]);
    let mut uids = keys_before(&mut served);
    // Fill the file system: what is left is what zone b's WAL already holds.
    let filler_path = zone_b.join("filler");
    let mut filler = std::fs::File::create(&filler_path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let full = loop {
        if let Err(e) = filler.write_all(&chunk) {
            break e;
        }
    };
    assert_eq!(full.raw_os_error(), Some(28), "{full}"); // ENOSPC
    drop(filler);
    let refused = refused_while_faulty(&mut served, &mut uids);
    std::fs::remove_file(&filler_path).unwrap();
    returns_and_catches_up(served, &data_dir, uids, &refused);
    drop(mounted);
}

/// The injector, compiled into `dir`; None (after saying why) where there is no C compiler.
fn faultfs(dir: &Path) -> Option<PathBuf> {
    let lib = dir.join("libfaultfs.so");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/faultfs/faultfs.c");
    if !run(
        "cc",
        &[
            "-shared",
            "-fPIC",
            "-O1",
            "-o",
            lib.to_str().unwrap(),
            source.to_str().unwrap(),
            "-ldl",
        ],
    ) {
        cannot("cc cannot build tests/faultfs/faultfs.c");
        return None;
    }
    Some(lib)
}

/// EIO (or the error `errno` names) on `ops` for zone b's files while the trigger file exists, injected into
/// a running server.
fn fault_while_running(ops: &str, errno: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(lib) = faultfs(dir.path()) else {
        return;
    };
    let data_dir = dir.path().join("data");
    let trigger = dir.path().join("fault-on");
    let zone_b = format!("{}/", data_dir.join("zone-b").display());
    let env = [
        ("LD_PRELOAD", lib.to_str().unwrap()),
        ("FAULTFS_PATH", zone_b.as_str()),
        ("FAULTFS_TRIGGER", trigger.to_str().unwrap()),
        ("FAULTFS_OPS", ops),
        ("FAULTFS_ERRNO", errno),
    ];
    let mut served = Served::start(&data_dir, &env);
    let mut uids = keys_before(&mut served);
    std::fs::write(&trigger, b"").unwrap();
    let refused = refused_while_faulty(&mut served, &mut uids);
    std::fs::remove_file(&trigger).unwrap();
    returns_and_catches_up(served, &data_dir, uids, &refused);
}

#[test]
fn eio_on_zone_b_writes_refuses_changes_keeps_reads_and_b_returns() {
    fault_while_running("write", "EIO");
}

#[test]
fn erofs_on_zone_b_writes_and_fsync_refuses_changes_keeps_reads_and_b_returns() {
    // What a file system the kernel remounted read-only after an error answers to a file open for writing.
    fault_while_running("write,fsync", "EROFS");
}

#[test]
fn eio_on_zone_b_fsync_refuses_changes_never_shows_them_and_b_returns() {
    // A failed fsync can leave the group's frames in zone b's WAL: when it returns it must shed them (the
    // sequencer rolled the group back and its clients were told it was refused), never pass them on.
    fault_while_running("fsync", "EIO");
}

#[test]
fn eio_on_zone_b_reads_keeps_it_down_with_reads_from_a_and_b_returns() {
    // An up zone's reads are answered from its page cache (exclusive locking keeps it valid), so the reads
    // that reach the disk are those of opening the file: the server restarts with reads of zone b failing.
    let dir = tempfile::tempdir().unwrap();
    let Some(lib) = faultfs(dir.path()) else {
        return;
    };
    let data_dir = dir.path().join("data");
    let trigger = dir.path().join("fault-on");
    let zone_b = format!("{}/", data_dir.join("zone-b").display());
    let env = [
        ("LD_PRELOAD", lib.to_str().unwrap()),
        ("FAULTFS_PATH", zone_b.as_str()),
        ("FAULTFS_TRIGGER", trigger.to_str().unwrap()),
        ("FAULTFS_OPS", "read"),
    ];
    let mut served = Served::start(&data_dir, &env);
    let mut uids = keys_before(&mut served);
    served.stop();
    std::fs::write(&trigger, b"").unwrap();
    let mut served = Served::start(&data_dir, &env);
    let refused = refused_while_faulty(&mut served, &mut uids);
    std::fs::remove_file(&trigger).unwrap();
    returns_and_catches_up(served, &data_dir, uids, &refused);
}

#[test]
fn eio_on_zone_a_commit_after_b_holds_the_change_is_a_decided_outcome_the_change_holds() {
    // Zone a's WAL frames are written when its transaction commits, after zone b durably holds the group: a
    // write error there fails the client although the change holds. The error says so, the change is readable
    // (from zone b) at once, and zone a takes it when it returns.
    let dir = tempfile::tempdir().unwrap();
    let Some(lib) = faultfs(dir.path()) else {
        return;
    };
    let data_dir = dir.path().join("data");
    let trigger = dir.path().join("fault-on");
    let zone_a = format!("{}/", data_dir.join("zone-a").display());
    let env = [
        ("LD_PRELOAD", lib.to_str().unwrap()),
        ("FAULTFS_PATH", zone_a.as_str()),
        ("FAULTFS_TRIGGER", trigger.to_str().unwrap()),
        ("FAULTFS_OPS", "write,fsync"),
        ("FAULTFS_ERRNO", "EIO"),
    ];
    let mut served = Served::start(&data_dir, &env);
    let mut uids = keys_before(&mut served);
    std::fs::write(&trigger, b"").unwrap();
    let failed = served.create("decided").unwrap_err();
    assert!(
        failed.contains("zone a") && failed.contains("the change holds"),
        "{failed}"
    );
    let found = served.locate("decided");
    assert_eq!(found.len(), 1, "the change that holds is readable at once");
    uids.extend(found);
    let refused = served.create("refused").unwrap_err();
    assert!(refused.contains("zone a"), "{refused}");
    served.assert_alive();
    served.assert_reads_and_crypto_go_on(&uids[0], "before-0");
    assert_eq!(served.locate("refused"), Vec::<String>::new());
    std::fs::remove_file(&trigger).unwrap();
    returns_and_catches_up(served, &data_dir, uids, &["refused".to_string()]);
}
