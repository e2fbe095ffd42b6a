//! Backup cost on a real file: a store of 100,000 keys (each with a few attributes, as Create leaves them) is
//! backed up (online snapshot + streamed AES-256-GCM to two destinations), verified, and restored; prints each
//! step's time and throughput, the file sizes, and the process's peak memory so that it can be compared with
//! the store's size (the stream holds about two chunks, not the file).
//!
//! Run with `cargo bench --bench backup`; it stays well under a minute on two cores.

use std::time::Instant;

use kmipd::backup::{BackupConfig, Backups};
use kmipd::store::{
    AttributeRecord, DB_FILE_NAME, MasterKey, Mutation, ObjectRecord, SearchKey, Store,
};
use kmipd::ttlv::SecretBytes;

/// Keys in the store.
const RECORDS: usize = 100_000;
/// Records per commit while loading.
const LOAD_BATCH: usize = 5_000;
const KEY: [u8; 32] = [0x5a; 32];

fn record(i: usize) -> Mutation {
    let uid = format!("{i:08x}-0000-4000-8000-000000000000");
    let mut r = ObjectRecord::new(uid.clone(), 2, 2);
    r.object = Some(SecretBytes::new(vec![(i & 0xff) as u8; 96]));
    r.attributes = vec![
        AttributeRecord {
            name: "Standard:0x420053".into(),
            index: 0,
            value: format!("key name {i}").into_bytes(),
            search: SearchKey::Text(format!("key name {i}")),
        },
        AttributeRecord {
            name: "Standard:0x420028".into(),
            index: 0,
            value: 3u32.to_be_bytes().to_vec(),
            search: SearchKey::Int(3),
        },
        AttributeRecord {
            name: "Standard:0x420056".into(),
            index: 0,
            value: vec![0x42; 64],
            search: SearchKey::None,
        },
    ];
    Mutation::Put(r)
}

/// Peak resident memory of this process (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let temp = tempfile::tempdir().expect("temporary directory");
    let data_dir = temp.path().join("kmipd-data");
    std::fs::create_dir_all(&data_dir).expect("data directory");
    let store =
        Store::open(&data_dir.join(DB_FILE_NAME), MasterKey::from_bytes(KEY)).expect("store");
    let start = Instant::now();
    for batch in (0..RECORDS).step_by(LOAD_BATCH) {
        store
            .commit((batch..batch + LOAD_BATCH).map(record).collect())
            .expect("load");
    }
    println!(
        "loaded {RECORDS} keys in {:.1}s",
        start.elapsed().as_secs_f64()
    );
    let rss_before = peak_rss_mib();

    let backups = Backups::new(&BackupConfig::default(), &data_dir);
    let start = Instant::now();
    let made = backups.create(&store).expect("backup");
    let took = start.elapsed().as_secs_f64();
    let size = mib(made.manifest.plaintext_bytes);
    println!(
        "backup: {:.2}s for a {size:.1} MiB store to {} destinations ({:.1} MiB/s), file {:.1} MiB",
        took,
        made.copies.len(),
        size / took,
        mib(made.manifest.ciphertext_bytes)
    );

    let master = MasterKey::from_bytes(KEY);
    let start = Instant::now();
    let (_, checks) = backups
        .verify(Some(&made.manifest.id), &master, &data_dir)
        .expect("verify");
    assert!(checks.iter().all(|c| c.result.is_ok()));
    let took = start.elapsed().as_secs_f64();
    println!(
        "verify: {:.2}s for {} copies ({:.1} MiB/s)",
        took,
        checks.len(),
        size * checks.len() as f64 / took
    );

    let target = temp.path().join("restored");
    let start = Instant::now();
    let restored = backups
        .restore(&made.manifest.id, &master, &target)
        .expect("restore");
    let took = start.elapsed().as_secs_f64();
    println!(
        "restore: {:.2}s ({:.1} MiB/s), last_seq {}",
        took,
        size / took,
        restored.last_seq
    );
    if let (Some(before), Some(after)) = (rss_before, peak_rss_mib()) {
        println!(
            "peak RSS: {before:.1} MiB after loading, {after:.1} MiB after backup/verify/restore of a {size:.1} MiB store"
        );
    }
}
