//! Store tests that need a separate process or a larger data set: a writer killed with SIGKILL loses no
//! acknowledged commit, and Locate stays index-bound with tens of thousands of records.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kmipd::store::{
    AttributeRecord, DB_FILE_NAME, Filter, LocateQuery, MasterKey, Mutation, ObjectRecord,
    SearchKey, Store,
};
use kmipd::ttlv::SecretBytes;

const KEY: [u8; 32] = [0x5a; 32];
/// Set in the child process: the directory its store lives in.
const CHILD_ENV: &str = "KMIPD_STORE_CRASH_CHILD_DIR";
/// Prefix of the child's acknowledgement lines (the test harness prints other lines too).
const ACK: &str = "ACK ";

fn object_for(uid: &str) -> Vec<u8> {
    format!("object bytes of {uid}").into_bytes()
}

fn put(uid: &str, i: i64) -> Mutation {
    let mut r = ObjectRecord::new(uid, 2, 1);
    r.object = Some(SecretBytes::new(object_for(uid)));
    r.attributes = vec![
        AttributeRecord {
            name: "Name".into(),
            index: 0,
            value: uid.as_bytes().to_vec(),
            search: SearchKey::Text(uid.to_string()),
        },
        AttributeRecord {
            name: "Initial Date".into(),
            index: 0,
            value: i.to_be_bytes().to_vec(),
            search: SearchKey::Int(i),
        },
        AttributeRecord {
            name: "Group".into(),
            index: 0,
            value: Vec::new(),
            search: SearchKey::Text(format!("g{}", i % 100)),
        },
    ];
    Mutation::Put(r)
}

/// Not a test on its own: the child half of `acknowledged_commits_survive_sigkill`. Without the environment
/// variable it returns at once.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(
        &Path::new(&dir).join(DB_FILE_NAME),
        MasterKey::from_bytes(KEY),
    )
    .unwrap();
    for i in 0..1_000_000i64 {
        let uid = format!("crash-{i}");
        store.commit(vec![put(&uid, i)]).unwrap();
        // Printed only after commit returned: an acknowledged write.
        println!("{ACK}{uid}");
    }
}

#[test]
fn acknowledged_commits_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let start = Instant::now();
    // Kill mid-stream: after some acknowledgements, bounded in time.
    while acked.len() < 300 && start.elapsed() < Duration::from_secs(5) {
        match lines.next() {
            Some(line) => {
                if let Some(uid) = line.unwrap().strip_prefix(ACK) {
                    acked.push(uid.to_string());
                }
            }
            None => break,
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    // Lines already in the pipe were acknowledged before the kill too.
    for line in lines {
        if let Some(uid) = line.unwrap().strip_prefix(ACK) {
            acked.push(uid.to_string());
        }
    }
    assert!(
        acked.len() >= 10,
        "child acknowledged only {} commits",
        acked.len()
    );
    eprintln!("child killed after {} acknowledged commits", acked.len());

    let store = Store::open(&dir.path().join(DB_FILE_NAME), MasterKey::from_bytes(KEY)).unwrap();
    for uid in &acked {
        let rec = store
            .get(uid)
            .unwrap()
            .unwrap_or_else(|| panic!("{uid} lost"));
        assert_eq!(rec.object.unwrap().as_slice(), object_for(uid).as_slice());
    }
    // The change log agrees: one data key change plus at least one Put per acknowledged uid, no gaps.
    let changes = store.changes_since(0, usize::MAX).unwrap();
    assert!(changes.len() > acked.len());
    assert!(
        changes
            .iter()
            .enumerate()
            .all(|(i, c)| c.seq == i as u64 + 1)
    );
}

#[test]
fn locate_at_scale_is_index_bound() {
    const RECORDS: i64 = 20_000;
    const BATCH: i64 = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join(DB_FILE_NAME), MasterKey::from_bytes(KEY)).unwrap();
    let start = Instant::now();
    for b in 0..RECORDS / BATCH {
        let batch = (b * BATCH..(b + 1) * BATCH)
            .map(|i| put(&format!("scale-{i:06}"), i))
            .collect();
        store.commit(batch).unwrap();
    }
    let loaded = start.elapsed();

    let by_name = LocateQuery {
        filters: vec![Filter::Equals {
            name: "Name".into(),
            key: SearchKey::Text("scale-012345".into()),
        }],
        ..LocateQuery::default()
    };
    // The fastest of five: a loaded machine can pause any one run, but not make an index lookup a scan.
    let name_latency = (0..5)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(store.locate(&by_name).unwrap(), ["scale-012345"]);
            t.elapsed()
        })
        .min()
        .unwrap();

    let range = LocateQuery {
        filters: vec![
            Filter::IntRange {
                name: "Initial Date".into(),
                min: Some(5_000),
                max: Some(5_999),
            },
            Filter::Equals {
                name: "Group".into(),
                key: SearchKey::Text("g7".into()),
            },
        ],
        ..LocateQuery::default()
    };
    let t = Instant::now();
    let hits = store.locate(&range).unwrap();
    let range_latency = t.elapsed();
    assert_eq!(hits.len(), 10);
    assert_eq!(hits.first().map(String::as_str), Some("scale-005007"));

    let page = LocateQuery {
        offset: 19_990,
        max: Some(100),
        ..LocateQuery::default()
    };
    assert_eq!(store.locate(&page).unwrap().len(), 10);
    eprintln!(
        "{RECORDS} records loaded in {loaded:?}; locate by name {name_latency:?}, by range+group {range_latency:?}"
    );
    // A full scan of 20k records with three attributes each would take far longer in a debug build.
    assert!(name_latency < Duration::from_millis(50), "{name_latency:?}");
}
