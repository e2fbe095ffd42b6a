//! Store tests on real SQLite files in temporary directories: round trips, reopening, keys, tampering,
//! plaintext absence, the change stream and replay, Locate, and concurrent commits.

use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;

use super::*;

const KEY_A: [u8; 32] = [0x11; 32];
const KEY_B: [u8; 32] = [0x22; 32];

fn open(dir: &Path) -> Store {
    Store::open(&dir.join(DB_FILE_NAME), MasterKey::from_bytes(KEY_A)).unwrap()
}

fn attr(name: &str, index: u32, search: SearchKey) -> AttributeRecord {
    AttributeRecord {
        name: name.to_string(),
        index,
        value: format!("value of {name}#{index}").into_bytes(),
        search,
    }
}

/// The version `store` holds for `uid` (0 when it holds no such object): what a write of it is based on.
fn version_of(store: &Store, uid: &str) -> u64 {
    store.get(uid).unwrap().map_or(0, |r| r.version)
}

/// `record` as a write based on what `store` holds now.
fn over(store: &Store, mut record: ObjectRecord) -> ObjectRecord {
    record.version = version_of(store, &record.uid);
    record
}

fn record(uid: &str, object: &[u8]) -> ObjectRecord {
    let mut r = ObjectRecord::new(uid, 2, 1);
    r.object = Some(SecretBytes::from(object));
    r.attributes = vec![
        attr("Name", 0, SearchKey::Text(format!("name-{uid}"))),
        attr("Cryptographic Length", 0, SearchKey::Int(256)),
        attr("Name", 1, SearchKey::Text("alias".into())),
        attr("Opaque", 0, SearchKey::None),
    ];
    r
}

#[test]
fn round_trip_with_attributes_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let rec = record("uid-1", b"object bytes");
    {
        let store = open(dir.path());
        let seq = store.commit(vec![Mutation::Put(rec.clone())]).unwrap();
        // One data key change, then the Put.
        assert_eq!(seq, 2);
        let got = store.get("uid-1").unwrap().unwrap();
        assert_eq!((got.created_seq, got.version), (2, 2));
        assert_eq!(
            ObjectRecord {
                created_seq: 0,
                version: 0,
                ..got
            },
            rec
        );
        assert!(store.exists("uid-1").unwrap());
        assert!(!store.exists("uid-2").unwrap());
        assert_eq!(store.get("uid-2").unwrap(), None);
    }
    let store = open(dir.path());
    let got = store.get("uid-1").unwrap().unwrap();
    assert_eq!(
        ObjectRecord {
            created_seq: 0,
            version: 0,
            ..got
        },
        rec
    );
    assert_eq!(store.last_seq().unwrap(), 2);
}

#[test]
fn replace_keeps_creation_order_and_delete_removes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .commit(vec![
            Mutation::Put(record("a", b"1")),
            Mutation::Put(record("b", b"2")),
        ])
        .unwrap();
    let created = store.get("a").unwrap().unwrap().created_seq;
    let mut a = record("a", b"replaced");
    a.state = 2;
    a.archived = true;
    a.object = None;
    a.attributes.truncate(1);
    store
        .commit(vec![Mutation::Put(over(&store, a.clone()))])
        .unwrap();
    let got = store.get("a").unwrap().unwrap();
    assert_eq!(got.created_seq, created);
    assert_eq!(got.object, None);
    assert_eq!(got.attributes, a.attributes);
    assert!(got.archived);
    let seq = store
        .commit(vec![Mutation::Delete {
            uid: "b".into(),
            version: version_of(&store, "b"),
        }])
        .unwrap();
    assert_eq!(store.get("b").unwrap(), None);
    assert_eq!(store.last_seq().unwrap(), seq);
    let query = LocateQuery {
        filters: vec![Filter::Equals {
            name: "Name".into(),
            key: SearchKey::Text("name-b".into()),
        }],
        ..LocateQuery::default()
    };
    assert!(store.locate(&query).unwrap().is_empty());
    // Empty commit: no change, current sequence returned.
    assert_eq!(store.commit(Vec::new()).unwrap(), seq);
}

#[test]
fn wrong_master_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE_NAME);
    {
        let store = Store::open(&path, MasterKey::from_bytes(KEY_A)).unwrap();
        store
            .commit(vec![Mutation::Put(record("x", b"secret"))])
            .unwrap();
    }
    let err = Store::open(&path, MasterKey::from_bytes(KEY_B)).unwrap_err();
    assert!(matches!(err, StoreError::WrongMasterKey), "{err}");
    assert!(Store::open(&path, MasterKey::from_bytes(KEY_A)).is_ok());
}

#[test]
fn tampered_ciphertext_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE_NAME);
    let store = Store::open(&path, MasterKey::from_bytes(KEY_A)).unwrap();
    store
        .commit(vec![
            Mutation::Put(record("victim", b"secret one")),
            Mutation::Put(record("other", b"secret two")),
        ])
        .unwrap();
    let mut ct: Vec<u8> = raw(&store, |raw| {
        raw.query_row(
            "SELECT ciphertext FROM objects WHERE uid = 'victim'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    });
    ct[0] ^= 1;
    raw(&store, |raw| {
        raw.execute(
            "UPDATE objects SET ciphertext = ? WHERE uid = 'victim'",
            [&ct],
        )
        .unwrap()
    });
    let err = store.get("victim").unwrap_err();
    assert!(
        matches!(&err, StoreError::Integrity { uid, .. } if uid == "victim"),
        "{err}"
    );
    assert!(err.to_string().contains("victim"));
    // A blob moved under another uid fails too (uid is associated data).
    raw(&store, |raw| {
        raw.execute(
        "UPDATE objects SET (nonce, ciphertext) = (SELECT nonce, ciphertext FROM objects WHERE uid = 'other')
         WHERE uid = 'victim'",
        [],
    )
    .unwrap()
    });
    let err = store.get("victim").unwrap_err();
    assert!(
        matches!(&err, StoreError::Integrity { uid, .. } if uid == "victim"),
        "{err}"
    );
    assert_eq!(
        store
            .get("other")
            .unwrap()
            .unwrap()
            .object
            .unwrap()
            .as_slice(),
        b"secret two"
    );
}

/// Every byte of every file in `dir`.
fn all_file_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_plaintext_key_bytes_in_any_store_file() {
    let dir = tempfile::tempdir().unwrap();
    let pattern: [u8; 32] = core::array::from_fn(|i| 0xA0 ^ (i as u8 * 7));
    let mut object = b"key block header ".to_vec();
    object.extend_from_slice(&pattern);
    let hex_pattern = hex::encode(pattern);
    let check = |label: &str| {
        let files = all_file_bytes(dir.path());
        assert!(files.iter().any(|(n, _)| n.ends_with(DB_FILE_NAME)));
        for (name, bytes) in files {
            assert!(
                !contains(&bytes, &pattern),
                "{label}: pattern found in {name}"
            );
            assert!(
                !contains(&bytes, hex_pattern.as_bytes()),
                "{label}: hex found in {name}"
            );
            assert!(
                !contains(&bytes, &KEY_A),
                "{label}: master key found in {name}"
            );
        }
    };
    {
        let store = open(dir.path());
        store
            .commit(vec![Mutation::Put(record("pattern", &object))])
            .unwrap();
        // While open the WAL holds the commit; check it too.
        check("open");
        assert_eq!(
            store
                .get("pattern")
                .unwrap()
                .unwrap()
                .object
                .unwrap()
                .as_slice(),
            object.as_slice()
        );
    }
    check("closed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let store = open(dir.path());
        store
            .commit(vec![Mutation::Delete {
                uid: "pattern".into(),
                version: version_of(&store, "pattern"),
            }])
            .unwrap();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{} has mode {mode:o}", path.display());
        }
    }
}

#[test]
fn change_stream_is_ordered_and_replays_into_an_empty_store() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a = open(a_dir.path());
    a.commit(vec![
        Mutation::Put(record("one", b"1")),
        Mutation::Put(record("two", b"2")),
    ])
    .unwrap();
    let mut three = record("three", b"3");
    three.attributes.push(attr("Extra", 0, SearchKey::Int(-5)));
    a.commit(vec![Mutation::Put(three)]).unwrap();
    a.commit(vec![Mutation::Delete {
        uid: "two".into(),
        version: version_of(&a, "two"),
    }])
    .unwrap();
    let mut one = record("one", b"1 again");
    one.state = 3;
    let last = a.commit(vec![Mutation::Put(over(&a, one))]).unwrap();

    let changes = a.changes_since(0, 1000).unwrap();
    let seqs: Vec<u64> = changes.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
    assert_eq!(changes[0].kind, ChangeKind::DataKey);
    assert_eq!(changes[3].kind, ChangeKind::Put);
    assert_eq!(changes[4].kind, ChangeKind::Delete);
    assert_eq!(a.changes_since(2, 2).unwrap(), changes[2..4].to_vec());

    let b = open(b_dir.path());
    // A gap is refused.
    assert!(matches!(
        b.apply_change(&changes[1]),
        Err(StoreError::ChangeGap {
            expected: 1,
            got: 2
        })
    ));
    for c in &changes {
        assert!(b.apply_change(c).unwrap());
    }
    // Re-applying is a no-op; a different payload at a held sequence is refused.
    assert!(!b.apply_change(&changes[2]).unwrap());
    let mut forged = changes[2].clone();
    forged.payload.push(0);
    assert!(matches!(
        b.apply_change(&forged),
        Err(StoreError::CorruptChange { .. })
    ));

    assert_eq!(b.last_seq().unwrap(), last);
    assert_eq!(b.changes_since(0, 1000).unwrap(), changes);
    for uid in ["one", "two", "three"] {
        assert_eq!(b.get(uid).unwrap(), a.get(uid).unwrap(), "{uid}");
    }
    assert_eq!(
        b.get("one").unwrap().unwrap().object.unwrap().as_slice(),
        b"1 again"
    );
    let all = LocateQuery::default();
    assert_eq!(b.locate(&all).unwrap(), a.locate(&all).unwrap());

    // A promoted replica keeps writing with the primary's data key and continues the sequence.
    let next = b.commit(vec![Mutation::Put(record("four", b"4"))]).unwrap();
    assert_eq!(next, last + 1);

    // A replica with another master key cannot take the stream.
    let c_dir = tempfile::tempdir().unwrap();
    let c = Store::open(
        &c_dir.path().join(DB_FILE_NAME),
        MasterKey::from_bytes(KEY_B),
    )
    .unwrap();
    assert!(matches!(
        c.apply_change(&changes[0]),
        Err(StoreError::WrongMasterKey)
    ));
}

#[test]
fn pruned_changes_keep_sequence_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let last = store
        .commit(vec![Mutation::Put(record("p", b"p"))])
        .unwrap();
    assert_eq!(store.prune_changes(last).unwrap(), 2);
    assert!(store.changes_since(0, 10).unwrap().is_empty());
    assert_eq!(store.last_seq().unwrap(), last);
    let next = store
        .commit(vec![Mutation::Delete {
            uid: "p".into(),
            version: version_of(&store, "p"),
        }])
        .unwrap();
    assert_eq!(next, last + 1);
}

#[test]
fn pruning_by_age_keeps_the_log_a_gapless_suffix_and_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..10 {
        store
            .commit(vec![Mutation::Put(ObjectRecord::new(
                format!("p{i}"),
                2,
                1,
            ))])
            .unwrap();
    }
    assert_eq!(store.first_retained_seq().unwrap(), Some(1));
    // Change 4 is made newer than the cutoff: nothing from it on goes, even below `up_to_seq`.
    raw(&store, |conn| {
        conn.execute("UPDATE changes SET time_ms = 5000 WHERE seq = 4", [])
            .unwrap();
        conn.execute("UPDATE changes SET time_ms = 1000 WHERE seq <> 4", [])
            .unwrap();
    });
    assert_eq!(
        store.prune_changes_older_than(8, 2000, 2).unwrap(),
        2,
        "bounded"
    );
    assert_eq!(store.first_retained_seq().unwrap(), Some(3));
    assert_eq!(store.prune_changes_older_than(8, 2000, 100).unwrap(), 1);
    assert_eq!(
        store.first_retained_seq().unwrap(),
        Some(4),
        "stops at the newer change"
    );
    assert_eq!(store.prune_changes_older_than(8, 6000, 100).unwrap(), 5);
    assert_eq!(
        store.first_retained_seq().unwrap(),
        Some(9),
        "never beyond up_to_seq"
    );
    let left: Vec<u64> = store
        .changes_since(0, 100)
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(left, vec![9, 10]);
    assert_eq!(store.last_seq().unwrap(), 10);
}

#[test]
fn a_full_file_fails_commits_as_disk_full_and_takes_them_again_when_lifted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .commit(vec![Mutation::Put(record("first", b"k"))])
        .unwrap();
    let pages = store.page_count().unwrap();
    assert_eq!(store.limit_pages(Some(pages)).unwrap(), pages);
    let failed = (0..2_000)
        .find_map(|i| {
            store
                .commit(vec![Mutation::Put(record(&format!("f{i}"), b"k"))])
                .err()
        })
        .expect("the capped file never filled");
    assert!(failed.is_disk_full(), "{failed}");
    assert_eq!(
        failed.to_kmip().reason,
        crate::kmip::ResultReason::ServerLimitExceeded
    );
    // Nothing of the failed group is visible; the store works again once the cap is lifted.
    let before = store.last_seq().unwrap();
    store.limit_pages(None).unwrap();
    let seq = store
        .commit(vec![Mutation::Put(record("after", b"k"))])
        .unwrap();
    assert!(seq > before);
    assert!(store.get("after").unwrap().is_some());
    assert_eq!(
        store.changes_since(0, usize::MAX).unwrap().len() as u64,
        store.last_seq().unwrap()
    );
}

fn locate_fixture(store: &Store) -> Vec<String> {
    let mut uids = Vec::new();
    for i in 0..20i64 {
        let uid = format!("obj-{i:02}");
        let mut r = ObjectRecord::new(
            uid.clone(),
            if i % 2 == 0 { 2 } else { 7 },
            (i % 3) as u32 + 1,
        );
        r.archived = i == 19;
        r.attributes = vec![
            attr("Name", 0, SearchKey::Text(format!("n{i}"))),
            attr(
                "Name",
                1,
                SearchKey::Text(if i < 5 { "group-low" } else { "group-high" }.into()),
            ),
            attr("Activation Date", 0, SearchKey::Int(1000 + i * 10)),
            attr(
                "Length",
                0,
                SearchKey::Int(if i % 4 == 0 { 128 } else { 256 }),
            ),
        ];
        if i % 5 == 0 {
            r.attributes.push(attr("x-Tag", 0, SearchKey::None));
        }
        // Commit in reverse order of uid for half of them, so creation order differs from uid order.
        uids.push(uid);
        store.commit(vec![Mutation::Put(r)]).unwrap();
    }
    uids
}

fn name_is(value: &str) -> Filter {
    Filter::Equals {
        name: "Name".into(),
        key: SearchKey::Text(value.into()),
    }
}

#[test]
fn locate_filters_ranges_paging_and_order() {
    // The same answers whether filters drive (index range, then sort) or objects are walked in order.
    for driver_max in [0, 3, 2_000, usize::MAX] {
        let options = StoreOptions {
            locate_driver_max: driver_max,
            ..StoreOptions::default()
        };
        locate_filters_with(options);
    }
}

fn locate_filters_with(options: StoreOptions) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        &dir.path().join(DB_FILE_NAME),
        MasterKey::from_bytes(KEY_A),
        options,
    )
    .unwrap();
    let uids = locate_fixture(&store);
    let q = |f: LocateQuery| store.locate(&f).unwrap();
    let pick = |idx: &[usize]| idx.iter().map(|i| uids[*i].clone()).collect::<Vec<_>>();

    assert_eq!(q(LocateQuery::default()), uids);
    // Any instance matches (Name index 1).
    assert_eq!(
        q(LocateQuery {
            filters: vec![name_is("group-low")],
            ..Default::default()
        }),
        pick(&[0, 1, 2, 3, 4])
    );
    assert_eq!(
        q(LocateQuery {
            filters: vec![name_is("n7")],
            ..Default::default()
        }),
        pick(&[7])
    );
    // AND across filters.
    let and = LocateQuery {
        filters: vec![
            name_is("group-low"),
            Filter::Equals {
                name: "Length".into(),
                key: SearchKey::Int(128),
            },
        ],
        ..Default::default()
    };
    assert_eq!(q(and), pick(&[0, 4]));
    // Inclusive ranges, open ends.
    let range = |min, max| LocateQuery {
        filters: vec![Filter::IntRange {
            name: "Activation Date".into(),
            min,
            max,
        }],
        ..Default::default()
    };
    assert_eq!(q(range(Some(1030), Some(1050))), pick(&[3, 4, 5]));
    assert_eq!(q(range(Some(1175), None)), pick(&[18, 19]));
    assert_eq!(q(range(None, Some(1005))), pick(&[0]));
    assert_eq!(q(range(None, None)).len(), 20);
    // Presence.
    let present = LocateQuery {
        filters: vec![Filter::Equals {
            name: "x-Tag".into(),
            key: SearchKey::None,
        }],
        ..Default::default()
    };
    assert_eq!(q(present), pick(&[0, 5, 10, 15]));
    // Object type, state, archived.
    let typed = LocateQuery {
        object_type: Some(7),
        state: Some(vec![1]),
        ..Default::default()
    };
    assert_eq!(q(typed), pick(&[3, 9, 15]));
    assert!(
        q(LocateQuery {
            state: Some(vec![]),
            ..Default::default()
        })
        .is_empty()
    );
    assert_eq!(
        q(LocateQuery {
            archived: Some(true),
            ..Default::default()
        }),
        pick(&[19])
    );
    assert_eq!(
        q(LocateQuery {
            archived: Some(false),
            ..Default::default()
        })
        .len(),
        19
    );
    // Offset and max over the stable order.
    let page = |offset, max| LocateQuery {
        offset,
        max,
        ..Default::default()
    };
    assert_eq!(q(page(3, Some(4))), pick(&[3, 4, 5, 6]));
    assert_eq!(q(page(18, Some(4))), pick(&[18, 19]));
    assert_eq!(q(page(25, None)), Vec::<String>::new());
    assert_eq!(q(page(0, Some(0))), Vec::<String>::new());
    // Creation order, not uid order: re-putting keeps the place, a new uid goes last.
    store
        .commit(vec![Mutation::Put(record("aaa-first-by-name", b"z"))])
        .unwrap();
    let mut again = ObjectRecord::new(uids[0].clone(), 2, 1);
    again.attributes = vec![attr("Name", 0, SearchKey::Text("renamed".into()))];
    store
        .commit(vec![Mutation::Put(over(&store, again))])
        .unwrap();
    let all = q(LocateQuery::default());
    assert_eq!(all.first(), Some(&uids[0]));
    assert_eq!(all.last().map(String::as_str), Some("aaa-first-by-name"));
    assert!(
        q(LocateQuery {
            filters: vec![name_is("n0")],
            ..Default::default()
        })
        .is_empty()
    );
}

#[test]
fn locate_uses_the_attribute_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    locate_fixture(&store);
    // The store holds its file exclusively: read the plans through a connection of its own once it is closed.
    drop(store);
    let raw = Connection::open(dir.path().join(DB_FILE_NAME)).unwrap();
    let plan = |query: &LocateQuery| -> String {
        let (sql, params) = locate::plan(&raw, query, 2_000).unwrap().unwrap();
        let mut stmt = raw.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    };
    let text = plan(&LocateQuery {
        filters: vec![name_is("n3")],
        ..Default::default()
    });
    assert!(text.contains("attributes_by_text"), "{text}");
    let range = plan(&LocateQuery {
        filters: vec![Filter::IntRange {
            name: "Activation Date".into(),
            min: Some(1000),
            max: Some(1020),
        }],
        ..Default::default()
    });
    assert!(range.contains("attributes_by_int"), "{range}");
    for p in [&text, &range] {
        assert!(!p.contains("SCAN attributes"), "{p}");
    }
}

#[test]
fn concurrent_commits_get_distinct_gapless_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        let uid = format!("t{t}-{i}");
                        let seq = store
                            .commit(vec![Mutation::Put(record(&uid, b"k"))])
                            .unwrap();
                        // Readers run beside writers.
                        assert!(store.get(&uid).unwrap().is_some());
                        seq
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seqs.sort_unstable();
    let before = seqs.len();
    seqs.dedup();
    assert_eq!(seqs.len(), before, "duplicate sequence numbers");
    let all: Vec<u64> = store
        .changes_since(0, 10_000)
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(all, (1..=201).collect::<Vec<_>>());
    // Every returned seq is a Put of exactly one record (seq 1 is the data key).
    assert_eq!(seqs, (2..=201).collect::<Vec<_>>());
    assert_eq!(store.locate(&LocateQuery::default()).unwrap().len(), 200);
}

#[test]
fn schema_migrates_old_files_and_refuses_newer_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE_NAME);
    // A version-0 file with unrelated content migrates to the current version.
    {
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch("CREATE TABLE leftover (x INTEGER); INSERT INTO leftover VALUES (7);")
            .unwrap();
    }
    drop(open(dir.path()));
    let raw = Connection::open(&path).unwrap();
    assert_eq!(schema::version(&raw).unwrap(), SCHEMA_VERSION);
    drop(raw);

    // A later step applies on top of an existing file and keeps its rows.
    let mut conn = Connection::open(&path).unwrap();
    let later = SCHEMA_VERSION + 1;
    let mut steps: Vec<schema::Migration> = (1..=SCHEMA_VERSION)
        .map(|to_version| schema::Migration {
            to_version,
            sql: "SELECT 1",
        })
        .collect();
    steps.push(schema::Migration {
        to_version: later,
        sql: "ALTER TABLE leftover ADD COLUMN y TEXT DEFAULT 'new';",
    });
    assert_eq!(schema::migrate(&mut conn, &steps).unwrap(), later);
    let row: (i64, String) = conn
        .query_row("SELECT x, y FROM leftover", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(row, (7, "new".to_string()));
    drop(conn);

    // This build knows only up to SCHEMA_VERSION: refuse the later file clearly.
    let err = Store::open(&path, MasterKey::from_bytes(KEY_A)).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew { found, supported }
                if found == later && supported == SCHEMA_VERSION
        ),
        "{err}"
    );
    assert!(err.to_string().contains("newer"));
}

#[test]
fn master_key_sources() {
    let dir = tempfile::tempdir().unwrap();
    let generated = MasterKey::load_or_generate(&dir.path().join("data")).unwrap();
    let key_path = dir.path().join("data").join(MASTER_KEY_FILE_NAME);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let again = MasterKey::load_or_generate(&dir.path().join("data")).unwrap();
    assert_eq!(generated.bytes(), again.bytes());
    assert_eq!(format!("{generated:?}"), "MasterKey(<redacted>)");

    let write = |name: &str, contents: &[u8], mode: u32| {
        let p = dir.path().join(name);
        std::fs::write(&p, contents).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        p
    };
    let raw = write("raw.key", &KEY_A, 0o600);
    assert_eq!(MasterKey::from_file(&raw).unwrap().bytes(), &KEY_A);
    let hexed = write(
        "hex.key",
        format!("{}\n", hex::encode(KEY_A)).as_bytes(),
        0o400,
    );
    assert_eq!(MasterKey::from_file(&hexed).unwrap().bytes(), &KEY_A);
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(KEY_B)
    };
    let based = write("b64.key", b64.as_bytes(), 0o640);
    assert_eq!(MasterKey::from_file(&based).unwrap().bytes(), &KEY_B);
    let short = write("short.key", b"abcd", 0o600);
    let err = MasterKey::from_file(&short).unwrap_err();
    assert!(matches!(err, StoreError::MasterKeyFormat { .. }), "{err}");
    #[cfg(unix)]
    {
        let exposed = write("exposed.key", &KEY_A, 0o644);
        let err = MasterKey::from_file(&exposed).unwrap_err();
        assert!(
            matches!(err, StoreError::MasterKeyFileExposed { .. }),
            "{err}"
        );
    }
    let var = "KMIPD_TEST_STORE_MASTER_KEY_VAR";
    // SAFETY: this test is the only user of this variable name.
    unsafe { std::env::set_var(var, hex::encode(KEY_B)) };
    assert_eq!(MasterKey::from_env(var).unwrap().bytes(), &KEY_B);
    unsafe { std::env::set_var(var, "not a key") };
    assert!(MasterKey::from_env(var).is_err());
    unsafe { std::env::remove_var(var) };
    assert!(MasterKey::from_env(var).is_err());

    // open_in_dir with the embedded default creates database and key side by side.
    let data = dir.path().join("embedded");
    let store = Store::open_in_dir(&data, &MasterKeySource::DataDir).unwrap();
    store
        .commit(vec![Mutation::Put(record("e", b"e"))])
        .unwrap();
    drop(store);
    assert!(data.join(MASTER_KEY_FILE_NAME).exists());
    let store = Store::open_in_dir(&data, &MasterKeySource::DataDir).unwrap();
    assert!(store.get("e").unwrap().is_some());
}

#[test]
fn uids_are_uuid_v4() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = store.new_uid().unwrap();
    let b = store.new_uid().unwrap();
    assert_ne!(a, b);
    assert_eq!(a.len(), 36);
    let parts: Vec<&str> = a.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(parts[2].starts_with('4'));
    assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
}

#[test]
fn errors_map_to_kmip_reasons() {
    use crate::kmip::ResultReason;
    let integrity = StoreError::Integrity {
        uid: "u".into(),
        reason: "tag".into(),
    };
    assert_eq!(
        integrity.to_kmip().reason,
        ResultReason::CryptographicFailure
    );
    let full = StoreError::Database(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
        None,
    ));
    assert!(full.is_disk_full());
    assert_eq!(full.to_kmip().reason, ResultReason::ServerLimitExceeded);
    assert_eq!(
        StoreError::WrongMasterKey.to_kmip().reason,
        ResultReason::GeneralFailure
    );
}

#[test]
fn corrupt_payloads_are_rejected_not_panicking() {
    let good = changes::encode_put(&changes::StoredObject {
        object_type: 1,
        state: 2,
        archived: false,
        created_seq: 3,
        blob: Some(changes::SealedBlob {
            data_key_id: "k".into(),
            nonce: vec![0; 12],
            ciphertext: vec![1; 20],
        }),
        attributes: vec![
            attr("a", 0, SearchKey::Text("t".into())),
            attr("b", 1, SearchKey::Int(9)),
        ],
    });
    assert!(changes::decode_put(&good).is_ok());
    for cut in 0..good.len() {
        assert!(
            changes::decode_put(&good[..cut]).is_err(),
            "prefix {cut} accepted"
        );
    }
    let mut long = good.clone();
    long.push(0);
    assert!(changes::decode_put(&long).is_err());
}

/// A record whose attributes repeat (name, index): the attributes primary key refuses it.
fn bad_record(uid: &str) -> ObjectRecord {
    let mut r = record(uid, b"bad");
    r.attributes
        .push(attr("Name", 0, SearchKey::Text("dup".into())));
    r
}

#[test]
fn a_failing_batch_fails_alone_and_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // The very first commit would also create the data key: its rollback must not leave a dangling key.
    let err = store
        .commit(vec![Mutation::Put(bad_record("bad-0"))])
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    assert_eq!(store.last_seq().unwrap(), 0);
    assert!(!store.exists("bad-0").unwrap());
    let seq = store
        .commit(vec![Mutation::Put(record("good", b"g"))])
        .unwrap();
    assert_eq!(seq, 2);
    assert_eq!(
        store
            .get("good")
            .unwrap()
            .unwrap()
            .object
            .unwrap()
            .as_slice(),
        b"g"
    );
    // A batch is all or nothing.
    let err = store
        .commit(vec![
            Mutation::Put(record("half", b"h")),
            Mutation::Put(bad_record("bad-1")),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    assert!(!store.exists("half").unwrap());
    drop(store);
    let store = open(dir.path());
    assert_eq!(
        store
            .get("good")
            .unwrap()
            .unwrap()
            .object
            .unwrap()
            .as_slice(),
        b"g"
    );
}

#[test]
fn group_commits_isolate_failures_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..20 {
                    let uid = format!("g{t}-{i}");
                    if (t + i) % 3 == 0 {
                        assert!(store.commit(vec![Mutation::Put(bad_record(&uid))]).is_err());
                    } else {
                        store
                            .commit(vec![Mutation::Put(record(&uid, uid.as_bytes()))])
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let changes = store.changes_since(0, 10_000).unwrap();
    assert!(
        changes
            .iter()
            .enumerate()
            .all(|(i, c)| c.seq == i as u64 + 1),
        "gap in the log"
    );
    for t in 0..8 {
        for i in 0..20 {
            let uid = format!("g{t}-{i}");
            let got = store.get(&uid).unwrap();
            if (t + i) % 3 == 0 {
                assert!(got.is_none(), "{uid}");
            } else {
                assert_eq!(got.unwrap().object.unwrap().as_slice(), uid.as_bytes());
            }
        }
    }
    let puts = changes.iter().filter(|c| c.kind == ChangeKind::Put).count();
    assert_eq!(puts, store.locate(&LocateQuery::default()).unwrap().len());
}

#[test]
fn locate_reads_index_ranges_not_tables() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let batch = (0..3000)
        .map(|i| {
            let mut r = ObjectRecord::new(format!("s{i}"), 2, 1);
            r.attributes = vec![
                attr("Name", 0, SearchKey::Text(format!("n{i}"))),
                attr("Date", 0, SearchKey::Int(i)),
            ];
            Mutation::Put(r)
        })
        .collect();
    store.commit(batch).unwrap();
    drop(store);
    let raw = Connection::open(dir.path().join(DB_FILE_NAME)).unwrap();
    let steps = |query: &LocateQuery| -> (usize, i32, i32) {
        let (sql, params) = locate::plan(&raw, query, 2_000).unwrap().unwrap();
        let mut stmt = raw.prepare(&sql).unwrap();
        let n = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(0)
            })
            .unwrap()
            .count();
        (
            n,
            stmt.get_status(rusqlite::StatementStatus::FullscanStep),
            stmt.get_status(rusqlite::StatementStatus::VmStep),
        )
    };
    let (n, fullscan, vm) = steps(&LocateQuery {
        filters: vec![name_is("n1234")],
        ..Default::default()
    });
    assert_eq!((n, fullscan), (1, 0));
    assert!(vm < 200, "{vm} VM steps for one match among 3000");
    let range = LocateQuery {
        filters: vec![Filter::IntRange {
            name: "Date".into(),
            min: Some(100),
            max: Some(109),
        }],
        ..Default::default()
    };
    let (n, fullscan, vm) = steps(&range);
    assert_eq!((n, fullscan), (10, 0));
    assert!(vm < 1000, "{vm} VM steps for 10 matches among 3000");
    // Unselective filters with a page: walked in creation order, stopping after the page.
    let page = LocateQuery {
        object_type: Some(2),
        filters: vec![
            Filter::IntRange {
                name: "Date".into(),
                min: Some(0),
                max: None,
            },
            Filter::Equals {
                name: "Name".into(),
                key: SearchKey::None,
            },
        ],
        max: Some(10),
        ..Default::default()
    };
    let (n, _, vm) = steps(&page);
    assert_eq!(n, 10);
    assert!(vm < 1000, "{vm} VM steps for the first 10 of 3000 matches");
    let first: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    drop(raw);
    assert_eq!(open(dir.path()).locate(&page).unwrap(), first);
}

#[test]
fn set_based_attribute_texts_match_the_per_object_read_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // More than two chunks; every fourth uid asked for is not stored.
    let uids: Vec<String> = (0..1_050).map(|i| format!("u{i}")).collect();
    let puts = uids
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 4 != 0)
        .map(|(_, uid)| Mutation::Put(record(uid, b"k")))
        .collect();
    store.commit(puts).unwrap();
    let read = store.attribute_texts_of(&uids, "Name").unwrap();
    for uid in &uids {
        let one = store.attribute_texts(uid, "Name").unwrap();
        assert_eq!(read.get(uid).cloned().unwrap_or_default(), one, "{uid}");
    }
    assert_eq!(read.len(), uids.len() - uids.len().div_ceil(4));
    assert_eq!(
        read.get("u1").unwrap(),
        &vec!["name-u1".to_string(), "alias".to_string()]
    );
    assert!(
        store
            .attribute_texts_of(&uids, "Opaque")
            .unwrap()
            .is_empty()
    );
}

/// Runs raw SQL on the store's own connection: no second connection can open a file the store holds.
fn raw<T>(store: &Store, f: impl FnOnce(&Connection) -> T) -> T {
    store.with_reader(|conn| Ok(f(conn))).unwrap()
}

#[test]
fn an_open_store_writes_through_wal_with_synchronous_full() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let writer = store.lock_writer();
    let mode: String = writer
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let sync: i64 = writer
        .conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!((mode.as_str(), sync), ("wal", 2));
}

#[test]
fn settings_weaker_than_the_durability_argument_are_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
        .unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    check_durable_settings(&conn, &path).unwrap();
    conn.pragma_update(None, "synchronous", "EXTRA").unwrap();
    check_durable_settings(&conn, &path).unwrap();
    for (weak, shown) in [("NORMAL", "NORMAL"), ("OFF", "OFF")] {
        conn.pragma_update(None, "synchronous", weak).unwrap();
        let err = check_durable_settings(&conn, &path).unwrap_err();
        assert!(
            matches!(&err, StoreError::NotDurable { setting: "synchronous", found, .. } if found == shown),
            "{err:?}"
        );
        assert!(err.to_string().contains("durability needs FULL"), "{err}");
    }
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    // A rollback journal (what a file system without shared memory would leave) is refused too.
    conn.query_row("PRAGMA journal_mode = DELETE", [], |r| {
        r.get::<_, String>(0)
    })
    .unwrap();
    let err = check_durable_settings(&conn, &path).unwrap_err();
    assert!(
        matches!(&err, StoreError::NotDurable { setting: "journal_mode", found, .. } if found == "delete"),
        "{err:?}"
    );
    // An in-memory database cannot take WAL at all.
    let memory = Connection::open_in_memory().unwrap();
    memory
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
        .unwrap();
    memory.pragma_update(None, "synchronous", "FULL").unwrap();
    assert!(matches!(
        check_durable_settings(&memory, &path),
        Err(StoreError::NotDurable {
            setting: "journal_mode",
            ..
        })
    ));
}

/// Polls `check` until it holds (at most 20 s).
fn wait_for(what: &str, check: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "timed out: {what}"
        );
        std::thread::yield_now();
    }
}

#[test]
fn group_commit_writes_several_waiting_callers_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    // The writer is busy (held here): the first caller leads and waits for it with its own batch; the
    // callers arriving meanwhile queue behind it.
    let busy = store.lock_writer();
    let commit = |uid: &'static str| {
        let store = store.clone();
        std::thread::spawn(move || store.commit(vec![Mutation::Put(record(uid, b"k"))]))
    };
    let leader = commit("lead");
    wait_for("the first caller leads with its batch", || {
        let q = store.lock_queue();
        q.leader_active && q.pending.is_empty()
    });
    let queued: Vec<_> = ["q1", "q2", "q3", "q4"].into_iter().map(commit).collect();
    wait_for("four callers queued", || {
        store.lock_queue().pending.len() == 4
    });
    drop(busy);
    let mut seqs = vec![leader.join().unwrap().unwrap()];
    for q in queued {
        seqs.push(q.join().unwrap().unwrap());
    }
    // Two groups: the leader's alone, then the four queued batches in one transaction.
    assert_eq!(store.group_commit_counts(), (2, 5));
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 5, "each caller gets its own sequence number");
    for uid in ["lead", "q1", "q2", "q3", "q4"] {
        assert!(store.exists(uid).unwrap(), "{uid}");
    }
}

/// Every write of an object is a compare-and-set against the version it read: a write based on a read that
/// another write has overtaken (a Destroy) is refused and changes nothing; creating a uid that exists and
/// deleting with a stale version are refused alike; a replica holds the same versions as its source.
#[test]
fn writes_are_compared_and_set_against_the_version_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .commit(vec![Mutation::Put(record("k", b"key bytes"))])
        .unwrap();
    // A Get reads the key...
    let read = store.get("k").unwrap().unwrap();
    assert!(read.version > 0);
    // ... a Destroy (read, then write without the material) is committed...
    let mut destroyed = store.get("k").unwrap().unwrap();
    destroyed.object = None;
    destroyed.state = 6;
    store.commit(vec![Mutation::Put(destroyed)]).unwrap();
    let after_destroy = store.get("k").unwrap().unwrap();
    assert!(after_destroy.version > read.version);
    // ... and the Get's write-back of what it read is refused: the material stays gone.
    let mut stale = read.clone();
    stale.attributes.pop();
    let last = store.last_seq().unwrap();
    match store.commit(vec![Mutation::Put(stale)]) {
        Err(StoreError::VersionConflict {
            uid,
            expected,
            found,
        }) => {
            assert_eq!(uid, "k");
            assert_eq!(expected, read.version);
            assert_eq!(found, Some(after_destroy.version));
        }
        other => panic!("a stale write was not refused: {other:?}"),
    }
    assert_eq!(store.get("k").unwrap().unwrap(), after_destroy);
    assert_eq!(
        store.last_seq().unwrap(),
        last,
        "a refused write logs no change"
    );
    // A batch with one stale write is refused whole.
    let fresh_other = record("other", b"o");
    assert!(
        store
            .commit(vec![
                Mutation::Put(fresh_other),
                Mutation::Put(read.clone())
            ])
            .unwrap_err()
            .is_version_conflict()
    );
    assert!(store.get("other").unwrap().is_none());
    // Creating (version 0) a uid that exists, or writing (any version) one that does not, is refused.
    assert!(
        store
            .commit(vec![Mutation::Put(record("k", b"again"))])
            .unwrap_err()
            .is_version_conflict()
    );
    let mut ghost = record("ghost", b"g");
    ghost.version = 3;
    assert!(
        store
            .commit(vec![Mutation::Put(ghost)])
            .unwrap_err()
            .is_version_conflict()
    );
    // A Delete based on a stale read is refused too; on the current version it goes through.
    assert!(
        store
            .commit(vec![Mutation::Delete {
                uid: "k".into(),
                version: read.version,
            }])
            .unwrap_err()
            .is_version_conflict()
    );
    assert!(store.get("k").unwrap().is_some());
    // Two writes based on the same read in one group commit: the first wins, the second is refused.
    store
        .commit(vec![Mutation::Put(record("g", b"g"))])
        .unwrap();
    let base = store.get("g").unwrap().unwrap();
    let store = Arc::new(store);
    let outcomes: Vec<bool> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..4u32)
            .map(|i| {
                let (store, mut write) = (store.clone(), base.clone());
                write.state = 2 + i;
                s.spawn(move || store.commit(vec![Mutation::Put(write)]).is_ok())
            })
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(
        outcomes.iter().filter(|ok| **ok).count(),
        1,
        "exactly one of the writes based on one read succeeds: {outcomes:?}"
    );
    // A replica applying the change stream holds the same versions.
    let replica_dir = tempfile::tempdir().unwrap();
    let replica = open(replica_dir.path());
    replica
        .apply_changes(&store.changes_since(0, 1000).unwrap())
        .unwrap();
    for uid in ["k", "g"] {
        assert_eq!(replica.get(uid).unwrap(), store.get(uid).unwrap(), "{uid}");
    }
}

/// A file of schema 2 (no object versions) is migrated: its objects get a non-zero version and can be
/// written on it at once.
#[test]
fn schema_2_files_get_object_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE_NAME);
    {
        let mut conn = Connection::open(&path).unwrap();
        schema::migrate(&mut conn, &schema::MIGRATIONS[..2]).unwrap();
        conn.execute(
            "INSERT INTO objects (uid, object_type, state, created_seq) VALUES ('old', 2, 1, 7)",
            [],
        )
        .unwrap();
    }
    let store = open(dir.path());
    let old = store.get("old").unwrap().unwrap();
    assert_eq!(old.version, 7);
    let mut next = old.clone();
    next.state = 2;
    store.commit(vec![Mutation::Put(next)]).unwrap();
    assert!(store.commit(vec![Mutation::Put(old)]).is_err());
}

/// Every change carries its link of a hash chain over the log; a copy computes the link over its own log and
/// refuses a change whose link differs: a copy whose history differs anywhere before (here: a store that took
/// changes of its own) is refused, never merged — even where sequence numbers and payloads line up. The chain
/// goes on across pruning, and a replica's links are the source's.
#[test]
fn the_change_log_is_a_hash_chain_checked_on_every_apply() {
    let a_dir = tempfile::tempdir().unwrap();
    let a = open(a_dir.path());
    a.commit(vec![Mutation::Put(record("one", b"1"))]).unwrap();
    a.commit(vec![Mutation::Put(record("two", b"2"))]).unwrap();
    let log = a.changes_since(0, 100).unwrap();
    assert!(log.iter().all(|c| c.hash.is_some()));
    let links: std::collections::HashSet<_> = log.iter().map(|c| c.hash).collect();
    assert_eq!(links.len(), log.len(), "every link differs");

    // A replica holds the same links.
    let b_dir = tempfile::tempdir().unwrap();
    let b = open(b_dir.path());
    b.apply_changes(&log).unwrap();
    assert_eq!(b.changes_since(0, 100).unwrap(), log);

    // A store with another history of the same length (it committed changes of its own): A's next change has
    // the right sequence number but does not follow its log. Without the chain it would be applied on top.
    let c_dir = tempfile::tempdir().unwrap();
    let c = open(c_dir.path());
    c.commit(vec![Mutation::Put(record("mine", b"m"))]).unwrap();
    c.commit(vec![Mutation::Put(record("also-mine", b"m"))])
        .unwrap();
    assert_eq!(c.last_seq().unwrap(), log.len() as u64);
    a.commit(vec![Mutation::Put(record("three", b"3"))])
        .unwrap();
    let next = a.changes_since(log.len() as u64, 100).unwrap();
    let refused = c.apply_changes(&next).unwrap_err();
    assert!(
        matches!(&refused, StoreError::CorruptChange { reason, .. } if reason.contains("hash chain")),
        "{refused}"
    );
    assert_eq!(c.last_seq().unwrap(), log.len() as u64);
    assert!(c.get("three").unwrap().is_none());
    // A tampered link is refused too.
    let mut forged = next.clone();
    if let Some(h) = forged[0].hash.as_mut() {
        h[0] ^= 1;
    }
    assert!(b.apply_changes(&forged).is_err());
    b.apply_changes(&next).unwrap();

    // Pruned to nothing, the log goes on chaining from the last pruned link; the replica agrees.
    let last = a.last_seq().unwrap();
    a.prune_changes(last).unwrap();
    b.prune_changes(last).unwrap();
    a.commit(vec![Mutation::Put(record("four", b"4"))]).unwrap();
    let after = a.changes_since(last, 100).unwrap();
    b.apply_changes(&after).unwrap();
    assert_eq!(b.changes_since(last, 100).unwrap(), after);
}

#[test]
fn reads_reuse_their_prepared_statements() {
    // A Get reads the record and its attributes: with values bound anew on every call, the cached statements
    // must run as prepared, never compiled again (each compilation is a parse and a query plan).
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let uids: Vec<String> = (0..4).map(|i| format!("uid-{i}")).collect();
    for uid in &uids {
        store
            .commit(vec![Mutation::Put(record(uid, b"object bytes"))])
            .unwrap();
    }
    for _ in 0..3 {
        for uid in &uids {
            assert!(store.get(uid).unwrap().is_some());
        }
    }
    let reprepared = store
        .with_reader(|conn| {
            Ok(conn
                .prepare_cached(READ_ATTRIBUTES_SQL)?
                .get_status(rusqlite::StatementStatus::RePrepare))
        })
        .unwrap();
    assert_eq!(reprepared, 0, "the attribute read was compiled again");
    assert_eq!(store.options().statement_cache, 128);
}

#[test]
fn statement_journals_stay_in_memory() {
    // A commit group's savepoints spilled their undo pages into a temporary file: about a hundred page writes
    // per Create. The setting must have taken on the store's connection.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let temp_store: i64 = store
        .with_reader(|conn| Ok(conn.query_row("PRAGMA temp_store", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(temp_store, 2, "temp_store is not MEMORY");
}

#[test]
fn sqlite_is_built_without_memory_statistics() {
    // .cargo/config.toml sets LIBSQLITE3_FLAGS; a build that lost it would take a global mutex per allocation.
    let conn = Connection::open_in_memory().unwrap();
    let mut stmt = conn.prepare("PRAGMA compile_options").unwrap();
    let options: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
        "compiled with {options:?}"
    );
}
