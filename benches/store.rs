//! Throughput of the encrypted store on a real file: single-record commits (each one durable transaction,
//! WAL + synchronous=FULL) from 1 and 8 threads, and Locate latency with 100,000 records.
//!
//! Run with `cargo bench --bench store`. Each commit measurement runs for a fixed time budget; loading the
//! 100k records uses batched commits. The whole benchmark stays well under 20 seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kmipd::store::{
    AttributeRecord, DB_FILE_NAME, Filter, LocateQuery, MasterKey, Mutation, ObjectRecord,
    SearchKey, Store,
};
use kmipd::ttlv::SecretBytes;

/// How long each commit measurement runs.
const BUDGET: Duration = Duration::from_millis(2000);
/// Records loaded for the Locate measurement.
const LOCATE_RECORDS: i64 = 100_000;
/// Records per commit while loading.
const LOAD_BATCH: i64 = 5_000;
/// Locate queries timed per kind.
const LOCATE_RUNS: u32 = 200;

fn record(uid: String, i: i64) -> Mutation {
    let mut r = ObjectRecord::new(uid.clone(), 2, 2);
    // A 32-byte key in a small key block, as the model's storage bytes would carry it.
    r.object = Some(SecretBytes::new(vec![(i & 0xff) as u8; 96]));
    r.attributes = vec![
        AttributeRecord {
            name: "Standard:0x420053".into(),
            index: 0,
            value: uid.as_bytes().to_vec(),
            search: SearchKey::Text(uid),
        },
        AttributeRecord {
            name: "Standard:0x420039".into(),
            index: 0,
            value: i.to_be_bytes().to_vec(),
            search: SearchKey::Int(1_700_000_000 + i),
        },
        AttributeRecord {
            name: "Standard:0x420028".into(),
            index: 0,
            value: vec![0, 0, 0, 3],
            search: SearchKey::Int(3),
        },
        AttributeRecord {
            name: "Standard:0x42002A".into(),
            index: 0,
            value: vec![0, 0, 1, 0],
            search: SearchKey::Int(256),
        },
    ];
    Mutation::Put(r)
}

fn commits(threads: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        Store::open(
            &dir.path().join(DB_FILE_NAME),
            MasterKey::from_bytes([7; 32]),
        )
        .expect("open"),
    );
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = Arc::clone(&store);
            let counter = Arc::clone(&counter);
            std::thread::spawn(move || {
                let mut i = 0i64;
                while start.elapsed() < BUDGET {
                    store
                        .commit(vec![record(format!("c{t}-{i}"), i)])
                        .expect("commit");
                    counter.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    counter.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn time_locate(store: &Store, query: &LocateQuery, expect: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..LOCATE_RUNS {
        let found = store.locate(query).expect("locate");
        assert_eq!(found.len(), expect);
    }
    start.elapsed() / LOCATE_RUNS
}

fn main() {
    for threads in [1, 8] {
        println!(
            "store commit, 1 record per durable transaction, {threads} thread(s): {:.0} commits/s",
            commits(threads)
        );
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(
        &dir.path().join(DB_FILE_NAME),
        MasterKey::from_bytes([7; 32]),
    )
    .expect("open");
    let start = Instant::now();
    for b in 0..LOCATE_RECORDS / LOAD_BATCH {
        let batch = (b * LOAD_BATCH..(b + 1) * LOAD_BATCH)
            .map(|i| record(format!("obj-{i:06}"), i))
            .collect();
        store.commit(batch).expect("load");
    }
    let load = start.elapsed();
    println!(
        "store load {LOCATE_RECORDS} records in batches of {LOAD_BATCH}: {:.0} records/s",
        LOCATE_RECORDS as f64 / load.as_secs_f64()
    );
    let by_name = LocateQuery {
        filters: vec![Filter::Equals {
            name: "Standard:0x420053".into(),
            key: SearchKey::Text("obj-054321".into()),
        }],
        ..LocateQuery::default()
    };
    let by_range = LocateQuery {
        filters: vec![Filter::IntRange {
            name: "Standard:0x420039".into(),
            min: Some(1_700_050_000),
            max: Some(1_700_050_099),
        }],
        ..LocateQuery::default()
    };
    let first_page = LocateQuery {
        object_type: Some(2),
        filters: vec![Filter::Equals {
            name: "Standard:0x420028".into(),
            key: SearchKey::Int(3),
        }],
        max: Some(10),
        ..LocateQuery::default()
    };
    println!(
        "store locate at {LOCATE_RECORDS} records: by name {:?}, by date range (100 hits) {:?}, \
         type+algorithm first 10 {:?}",
        time_locate(&store, &by_name, 1),
        time_locate(&store, &by_range, 100),
        time_locate(&store, &first_page, 10),
    );
    let start = Instant::now();
    for i in 0..LOCATE_RUNS {
        let uid = format!("obj-{:06}", (i as i64 * 487) % LOCATE_RECORDS);
        assert!(store.get(&uid).expect("get").is_some());
    }
    println!(
        "store get (decrypt) at {LOCATE_RECORDS} records: {:?}",
        start.elapsed() / LOCATE_RUNS
    );
}
