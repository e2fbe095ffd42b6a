//! The two zones of the embedded default, over real mutual TLS: every acknowledged change is in both zone
//! files; a zone whose file is removed or replaced refuses changes with its name while Get, Get Attributes and
//! Locate go on; it catches up and takes changes again by itself; `kill -9` of `kmipd serve` during a stream
//! of Creates loses no acknowledged key in either zone. Each test is bounded (waits end in at most 20 s).

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/tls.rs"]
mod tls;
#[path = "support/zoned.rs"]
mod zoned;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kmipd::ops::{Engine, EngineConfig};
use kmipd::replication::ZonesConfig;
use kmipd::spec::enums::operation;
use kmipd::store::{DB_FILE_NAME, MasterKeySource, Store};

use zoned::*;

const WAIT: Duration = Duration::from_secs(20);
/// At most this many Creates in a kill test's stream (it ends at the kill, long before).
const MAX_STREAM: usize = 100_000;

/// An engine on two zones in a temporary directory, served over TLS.
struct TwoZones {
    server: tls::TlsServer,
    engine: Arc<Engine>,
    dir: tempfile::TempDir,
}

impl TwoZones {
    fn start() -> TwoZones {
        let dir = tempfile::tempdir().unwrap();
        let mut zones = ZonesConfig::default_in(dir.path());
        zones.recheck_interval = Duration::from_millis(100);
        let engine = Arc::new(
            Engine::open(EngineConfig {
                data_dir: dir.path().to_owned(),
                master_key: MasterKeySource::DataDir,
                zones: Some(zones),
                ..EngineConfig::default()
            })
            .unwrap(),
        );
        let server = tls::TlsServer::start(engine.clone());
        TwoZones {
            server,
            engine,
            dir,
        }
    }

    fn zone_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("zone-{name}"))
    }
}

fn create(client: &mut tls::KmipClient, name: &str) -> Result<String, String> {
    outcome(&client.send(&create_request(name))).map(|p| uid_of(&p))
}

/// Every uid is in both zone files (of a stopped server) with identical records, and the two change logs are
/// identical.
fn assert_zones_identical(data_dir: &Path, uids: &[String]) {
    let a = open_zone(data_dir, &data_dir.join("zone-a"));
    let b = open_zone(data_dir, &data_dir.join("zone-b"));
    assert_stores_identical(&a, &b, uids);
}

/// [`assert_zones_identical`] for a running engine, through its own zone stores (it holds the files
/// exclusively: no other connection can open them).
fn assert_live_zones_identical(engine: &Engine, uids: &[String]) {
    let a = engine.store().zone_store(0).expect("zone a is up");
    let b = engine.store().zone_store(1).expect("zone b is up");
    assert_stores_identical(&a, &b, uids);
}

fn assert_stores_identical(a: &Store, b: &Store, uids: &[String]) {
    for uid in uids {
        let ra = a.get(uid).unwrap();
        assert!(ra.is_some(), "zone a lacks acknowledged key {uid}");
        assert_eq!(ra, b.get(uid).unwrap(), "zone b differs on {uid}");
    }
    assert_eq!(a.last_seq().unwrap(), b.last_seq().unwrap());
    assert_eq!(
        a.changes_since(0, usize::MAX).unwrap(),
        b.changes_since(0, usize::MAX).unwrap()
    );
}

/// Get, Get Attributes and Locate of `uid` (named `name`) all succeed.
fn assert_reads_go_on(client: &mut tls::KmipClient, uid: &str, name: &str) {
    outcome(&client.send(&on_uid(operation::GET, uid))).expect("Get");
    outcome(&client.send(&on_uid(operation::GET_ATTRIBUTES, uid))).expect("Get Attributes");
    let found = outcome(&client.send(&locate_by_name(name))).expect("Locate");
    assert_eq!(located(&found), vec![uid.to_string()]);
}

#[test]
fn every_acknowledged_change_is_in_both_zones() {
    let zones = TwoZones::start();
    let mut workers = Vec::new();
    for t in 0..4 {
        let mut client = zones.server.connect();
        workers.push(std::thread::spawn(move || {
            (0..25)
                .map(|i| create(&mut client, &format!("k-{t}-{i}")).unwrap())
                .collect::<Vec<_>>()
        }));
    }
    let uids: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert_eq!(uids.len(), 100);
    let mut client = zones.server.connect();
    outcome(&client.send(&on_uid(operation::ACTIVATE, &uids[0]))).unwrap();
    outcome(&client.send(&on_uid(operation::DESTROY, &uids[1]))).unwrap();
    assert_live_zones_identical(&zones.engine, &uids);
}

/// Removes a zone's directory: its file is gone (SQLite would go on writing to the deleted inode).
fn lose_zone(zones: &TwoZones, name: &str) {
    std::fs::remove_dir_all(zones.zone_dir(name)).unwrap();
}

fn zone_refusal_then_return(name: &str) {
    let zones = TwoZones::start();
    let mut client = zones.server.connect();
    let kept = create(&mut client, "kept").unwrap();
    lose_zone(&zones, name);
    // The next change is refused (the zone is found missing on commit or by the monitor first), naming it.
    let refused = create(&mut client, "refused").unwrap_err();
    assert!(
        refused.contains(&format!("zone {name} is unavailable")),
        "{refused}"
    );
    let again = create(&mut client, "refused-again").unwrap_err();
    assert!(again.contains(&format!("zone {name}")), "{again}");
    assert_reads_go_on(&mut client, &kept, "kept");
    let status = zones.engine.store().status();
    assert!(status.iter().any(|z| z.name == name && !z.up), "{status:?}");

    // The disk comes back (empty): the zone is re-created, catches up and changes are taken again.
    std::fs::create_dir(zones.zone_dir(name)).unwrap();
    let mut after = None;
    wait_until(WAIT, "the zone returns", || {
        after = create(&mut client, "after").ok();
        after.is_some()
    });
    assert_reads_go_on(&mut client, &kept, "kept");
    let uids = vec![kept, after.unwrap()];
    // A refused change was rolled back before any read could see it: it never appears.
    for name in ["refused", "refused-again"] {
        let found = outcome(&client.send(&locate_by_name(name))).unwrap();
        assert_eq!(
            located(&found),
            Vec::<String>::new(),
            "refused {name} is visible"
        );
    }
    assert_live_zones_identical(&zones.engine, &uids);
}

#[test]
fn losing_zone_b_refuses_changes_keeps_reads_and_it_catches_up() {
    zone_refusal_then_return("b");
}

#[test]
fn losing_zone_a_the_sequencer_refuses_changes_keeps_reads_from_b_and_it_catches_up() {
    zone_refusal_then_return("a");
}

#[test]
fn a_zone_file_replaced_by_something_unwritable_stays_down_until_repaired() {
    let zones = TwoZones::start();
    let mut client = zones.server.connect();
    let kept = create(&mut client, "kept").unwrap();
    let dir = zones.zone_dir("b");
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    // A directory where the database file was: SQLite cannot open it, even as root.
    std::fs::create_dir(dir.join(DB_FILE_NAME)).unwrap();
    let refused = create(&mut client, "refused").unwrap_err();
    assert!(refused.contains("zone b is unavailable"), "{refused}");
    // The monitor tries to reopen it and fails (its reason becomes the open error), instead of a sleep.
    wait_until(WAIT, "a monitor pass fails to reopen zone b", || {
        zones.engine.store().status().iter().any(|z| {
            z.name == "b"
                && !z.up
                && z.reason
                    .as_deref()
                    .is_some_and(|r| r.contains("unable to open database file"))
        })
    });
    let still = create(&mut client, "still-refused").unwrap_err();
    assert!(still.contains("zone b"), "{still}");
    assert_reads_go_on(&mut client, &kept, "kept");

    std::fs::remove_dir(dir.join(DB_FILE_NAME)).unwrap();
    let mut after = None;
    wait_until(WAIT, "zone b returns", || {
        after = create(&mut client, "after").ok();
        after.is_some()
    });
    assert_live_zones_identical(&zones.engine, &[kept, after.unwrap()]);
}

/// `kmipd serve` with the embedded default on `data_dir` (behind a guard that kills it), and a client.
fn start_serve(data_dir: &Path) -> (serve::Serve, tls::KmipClient) {
    let server = serve::Serve::start(data_dir);
    let client = server.connect();
    (server, client)
}

#[test]
fn restart_with_zone_b_missing_keeps_reads_refuses_changes_and_b_catches_up_when_back() {
    // The data directory inside a temporary one: the default backup destinations are its siblings.
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let dir = dir.as_path();
    let (mut child, mut client) = start_serve(dir);
    let mut uids: Vec<String> = (0..5)
        .map(|i| create(&mut client, &format!("before-{i}")).unwrap())
        .collect();
    child.kill();

    // Zone b's disk is not there at start: its directory is gone and a plain file stands in its place (so it
    // cannot be re-created either).
    let zone_b = dir.join("zone-b");
    let away = dir.join("zone-b.away");
    std::fs::rename(&zone_b, &away).unwrap();
    std::fs::write(&zone_b, b"not a directory").unwrap();
    let (mut child, mut client) = start_serve(dir);
    // Zone a holds every acknowledged change: Get, Get Attributes and Locate are answered from it.
    assert_reads_go_on(&mut client, &uids[4], "before-4");
    let refused = create(&mut client, "refused").unwrap_err();
    assert!(refused.contains("zone b is unavailable"), "{refused}");

    // The disk is back: the monitor opens zone b, catches it up, and changes are taken with no operator action.
    std::fs::remove_file(&zone_b).unwrap();
    std::fs::rename(&away, &zone_b).unwrap();
    let mut after = None;
    wait_until(WAIT, "zone b returns", || {
        after = create(&mut client, "after").ok();
        after.is_some()
    });
    uids.push(after.unwrap());
    assert_reads_go_on(&mut client, &uids[0], "before-0");
    // The refused change is in neither zone; every acknowledged one is in both.
    let found = outcome(&client.send(&locate_by_name("refused"))).unwrap();
    assert_eq!(located(&found), Vec::<String>::new());
    child.kill();
    assert_zones_identical(dir, &uids);
}

/// How a writer of a kill test ended: at the first request that got no answer, sent before or after the kill.
#[derive(Debug)]
struct Interrupted {
    /// Creates acknowledged before it.
    acknowledged: usize,
    /// When the unanswered request was sent.
    sent: Instant,
    /// The transport error it got.
    error: String,
}

#[test]
fn kill_9_of_kmipd_serve_during_creates_loses_no_acknowledged_key_in_either_zone() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let dir = dir.as_path();
    let (mut child, mut client) = start_serve(dir);
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    // Creates one after the other until the connection dies; a refusal (a KMIP answer) before that is a
    // failure of the test, and so is a writer that never sees the kill.
    let writer = {
        let acked = acked.clone();
        std::thread::spawn(move || -> Result<Interrupted, String> {
            for i in 0..MAX_STREAM {
                let sent = Instant::now();
                match client.try_send(&create_request(&format!("stream-{i}"))) {
                    Ok(answer) => {
                        let uid = outcome(&answer)
                            .map(|p| uid_of(&p))
                            .map_err(|e| format!("refused before the kill: {e}"))?;
                        acked.lock().unwrap().push(uid);
                    }
                    Err(e) => {
                        return Ok(Interrupted {
                            acknowledged: i,
                            sent,
                            error: e.to_string(),
                        });
                    }
                }
            }
            Err(format!("{MAX_STREAM} creates and no kill"))
        })
    };
    wait_until(WAIT, "some creates are acknowledged", || {
        acked.lock().unwrap().len() >= 30
    });
    let killed = Instant::now();
    child.kill(); // SIGKILL
    let interrupted = writer
        .join()
        .expect("the writer thread panicked")
        .expect("the writer ended at the kill");
    // The kill cut a request in flight: sent before the kill, never answered.
    assert!(
        interrupted.sent < killed,
        "the writer was between requests at the kill: {interrupted:?}"
    );
    eprintln!(
        "{} Creates acknowledged, then {}",
        interrupted.acknowledged, interrupted.error
    );
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 30);
    assert_eq!(acked.len(), interrupted.acknowledged);
    let a = open_zone(dir, &dir.join("zone-a"));
    let b = open_zone(dir, &dir.join("zone-b"));
    for uid in &acked {
        assert!(a.exists(uid).unwrap(), "zone a lost acknowledged {uid}");
        assert!(b.exists(uid).unwrap(), "zone b lost acknowledged {uid}");
    }
    drop((a, b));
    // `kmipd status` reads both zone files, each holding at least the acknowledged creates (either may hold
    // one unacknowledged group more: the other takes it at the next start).
    let out = Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args(["status", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for zone in status["zones"].as_array().unwrap() {
        assert!(
            zone["last_seq"].as_u64().unwrap() >= acked.len() as u64,
            "{status}"
        );
    }
    // The next start brings the zones level before serving.
    let engine = Engine::open(EngineConfig {
        data_dir: dir.to_owned(),
        master_key: MasterKeySource::DataDir,
        ..EngineConfig::default()
    })
    .unwrap();
    assert!(engine.store().status().iter().all(|z| z.up));
    assert_live_zones_identical(&engine, &acked);
}
