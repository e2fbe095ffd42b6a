//! "An acknowledged change is on two disks": a process kill leaves unsynced writes in the page cache, so the
//! kill tests would pass without any fsync. This test watches the disk side from outside the process: it
//! traces `kmipd serve` (embedded default, zones a and b) with `strace`, logging every `fsync`/`fdatasync` with
//! the file it names and when it began and returned, while several clients create keys; every acknowledgement
//! must be preceded by a completed sync of zone a's and of zone b's WAL that began after its request was sent.
//! With `synchronous=OFF` there is no WAL sync at all, with `NORMAL` only at checkpoints: both fail here.

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/tls.rs"]
mod tls;
#[path = "support/zoned.rs"]
mod zoned;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serve::{Serve, cannot_run};
use zoned::*;

const CLIENTS: usize = 3;
const CREATES_PER_CLIENT: usize = 12;
/// How long strace may take to report that it has attached to every thread of the server.
const ATTACH_WAIT: Duration = Duration::from_secs(60);

/// Seconds since the epoch, as `strace -ttt` prints them (both read CLOCK_REALTIME).
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// One traced sync: the file it named, when the call began and when it returned (strace's view: the traced
/// thread is stopped until strace has recorded the return, so it cannot answer a client earlier).
#[derive(Debug)]
struct Sync {
    file: PathBuf,
    began: f64,
    returned: f64,
}

/// Parses `1796672692.854178 fdatasync(7</dir/zone-a/kmipd.sqlite-wal>) = 0 <0.001995>`; other lines (signals,
/// exits, failed calls) are `None`.
fn parse_sync(line: &str) -> Option<Sync> {
    let (time, call) = line.split_once(' ')?;
    let began: f64 = time.parse().ok()?;
    let args = call
        .strip_prefix("fsync(")
        .or_else(|| call.strip_prefix("fdatasync("))?;
    let file = args.split_once('<')?.1.split_once('>')?.0;
    let (_, result) = args.rsplit_once(") = ")?;
    let (code, duration) = result.split_once(' ')?;
    if code != "0" {
        return None;
    }
    let duration: f64 = duration
        .strip_prefix('<')?
        .strip_suffix('>')?
        .parse()
        .ok()?;
    Some(Sync {
        file: PathBuf::from(file),
        began,
        returned: began + duration,
    })
}

/// `strace` attached to every thread of `pid`, logging syncs one file per thread under `prefix`.
struct Tracer {
    child: Child,
}

impl Tracer {
    fn attach(pid: u32, prefix: &Path) -> Tracer {
        let mut child = Command::new("strace")
            .args([
                "-f",
                "-ff",
                "-ttt",
                "-T",
                "-y",
                "-e",
                "trace=fsync,fdatasync",
                "-o",
            ])
            .arg(prefix)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (attached, told) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("attached") {
                    let _ = attached.send(line);
                }
            }
        });
        let line = told
            .recv_timeout(ATTACH_WAIT)
            .expect("strace reports that it attached to kmipd serve");
        assert!(line.contains(&format!("Process {pid} attached")), "{line}");
        Tracer { child }
    }

    /// Waits for strace to end (after the traced server exited) so that every log line is written.
    fn finish(mut self) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "strace: {status}");
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strace_usable() -> Result<(), String> {
    match Command::new("strace")
        .args(["-f", "-e", "trace=fsync", "-o", "/dev/null", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("strace cannot trace here ({s})")),
        Err(e) => Err(format!("strace is not installed ({e})")),
    }
}

#[test]
fn every_acknowledged_create_follows_a_wal_sync_of_each_zone() {
    let test = "every_acknowledged_create_follows_a_wal_sync_of_each_zone";
    if let Err(reason) = strace_usable() {
        cannot_run(test, &reason);
        return;
    }
    // The data directory inside a temporary one: the default backup destinations are its siblings.
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let trace_dir = tempfile::tempdir().unwrap();
    let prefix = trace_dir.path().join("sync");
    let mut server = Serve::start(&data);
    let tracer = Tracer::attach(server.pid(), &prefix);

    // (request sent, acknowledgement read) of each Create, from several connections at once so that group
    // commits hold several of them.
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let mut client = server.connect();
            std::thread::spawn(move || {
                (0..CREATES_PER_CLIENT)
                    .map(|i| {
                        let sent = now();
                        let answer = client.send(&create_request(&format!("synced-{c}-{i}")));
                        let acknowledged = now();
                        let uid = uid_of(&outcome(&answer).expect("Create acknowledged"));
                        (uid, sent, acknowledged)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acks = Vec::new();
    for worker in workers {
        acks.extend(worker.join().expect("a client thread failed"));
    }
    assert_eq!(acks.len(), CLIENTS * CREATES_PER_CLIENT);
    server.kill();
    tracer.finish();

    let mut syncs = Vec::new();
    for entry in std::fs::read_dir(trace_dir.path()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        syncs.extend(text.lines().filter_map(parse_sync));
    }
    let wal = |zone: &str| data.join(format!("zone-{zone}")).join("kmipd.sqlite-wal");
    let (wal_a, wal_b) = (wal("a"), wal("b"));
    // strace prints the path it resolves; the temporary directory has no symbolic links in it.
    let of = |file: &Path| syncs.iter().filter(|s| s.file == file).collect::<Vec<_>>();
    let (syncs_a, syncs_b) = (of(&wal_a), of(&wal_b));
    assert!(
        !syncs_a.is_empty() && !syncs_b.is_empty(),
        "no WAL sync traced in zone a ({}) or b ({}); all syncs: {syncs:#?}",
        syncs_a.len(),
        syncs_b.len()
    );
    for (uid, sent, acknowledged) in &acks {
        for (zone, zone_syncs) in [("a", &syncs_a), ("b", &syncs_b)] {
            assert!(
                zone_syncs
                    .iter()
                    .any(|s| s.began >= *sent && s.returned <= *acknowledged),
                "Create of {uid} (sent {sent:.6}, acknowledged {acknowledged:.6}) was acknowledged without a \
                 completed sync of zone {zone}'s WAL in between; zone {zone} syncs: {zone_syncs:#?}"
            );
        }
    }
    eprintln!(
        "{} acknowledged Creates, {} WAL syncs in zone a, {} in zone b",
        acks.len(),
        syncs_a.len(),
        syncs_b.len()
    );
}

#[test]
fn strace_sync_lines_are_parsed() {
    let s = parse_sync("1796672692.854178 fdatasync(7</t/zone-a/kmipd.sqlite-wal>) = 0 <0.001995>")
        .unwrap();
    assert_eq!(s.file, PathBuf::from("/t/zone-a/kmipd.sqlite-wal"));
    assert!((s.began - 1_796_672_692.854_178).abs() < 1e-6);
    assert!((s.returned - 1_796_672_692.856_173).abs() < 1e-6);
    assert!(parse_sync("1796672692.85 fsync(3</x>) = -1 EIO (Input/output error) <0.1>").is_none());
    assert!(parse_sync("1796672692.85 +++ killed by SIGKILL +++").is_none());
}
