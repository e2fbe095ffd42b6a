//! Backups as an operator meets them, on real files: `kmipd backup now` then `kmipd restore` brings back every
//! key with the same bytes and nothing newer (bounded loss); truncated, bit-flipped and manifest-edited backups
//! are refused with the data directory untouched; pruning removes only backups older than the retention; both
//! destinations are written; a key's bytes never appear in clear in a backup; a running server takes scheduled
//! backups and cannot be restored over. The server keeps its store in two zones (`<data_dir>/zone-a` and
//! `zone-b`): backups are taken from a zone, and a restore puts the same snapshot into both.

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/engine.rs"]
mod test_engine;
#[path = "support/tls.rs"]
mod tls;

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use kmipd::backup::{BACKUP_SUFFIX, BackupConfig, BackupError, Backups, MANIFEST_SUFFIX, Manifest};
use kmipd::ops::{Engine, EngineConfig};
use kmipd::replication::ZonesConfig;
use kmipd::spec::enums::{cryptographic_algorithm, key_format_type, object_type, operation};
use kmipd::spec::tag;
use kmipd::store::{
    AttributeRecord, DB_FILE_NAME, MASTER_KEY_FILE_NAME, MasterKey, MasterKeySource, Mutation,
    ObjectRecord, SearchKey, Store,
};
use kmipd::ttlv::{SecretBytes, Ttlv, Value};

use kmip::*;

const DAY: Duration = Duration::from_secs(86_400);

/// A data directory (with a generated master.key) and its default backup destinations, in one temp dir.
struct Site {
    _temp: tempfile::TempDir,
    data_dir: PathBuf,
}

impl Site {
    fn new() -> Site {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().join("kmipd-data");
        Site {
            _temp: temp,
            data_dir,
        }
    }

    /// The zone directories of a server on this data directory (zone a first).
    fn zone_dirs(&self) -> Vec<PathBuf> {
        ZonesConfig::default_in(&self.data_dir)
            .zones
            .into_iter()
            .map(|z| z.dir)
            .collect()
    }

    /// Zone a's store (making the master key on first use): where `kmipd backup now` takes its snapshot.
    fn store(&self) -> Store {
        self.zone_store(0)
    }

    fn zone_store(&self, zone: usize) -> Store {
        let master = MasterKeySource::DataDir.load(&self.data_dir).unwrap();
        let dir = &self.zone_dirs()[zone];
        std::fs::create_dir_all(dir).unwrap();
        Store::open(&dir.join(DB_FILE_NAME), master).unwrap()
    }

    fn master(&self) -> MasterKey {
        MasterKey::from_file(&self.data_dir.join(MASTER_KEY_FILE_NAME)).unwrap()
    }

    fn destinations(&self) -> Vec<PathBuf> {
        BackupConfig::default().destinations_for(&self.data_dir)
    }

    fn backups(&self) -> Backups {
        Backups::new(&BackupConfig::default(), &self.data_dir)
    }

    fn kmipd(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kmipd"))
            .args(args)
            .env_remove("KMIPD_MASTER_KEY")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn kmipd_ok(&self, args: &[&str]) -> String {
        let out = self.kmipd(args);
        assert!(
            out.status.success(),
            "kmipd {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn data_dir_arg(&self) -> &str {
        self.data_dir.to_str().unwrap()
    }

    /// Every file of the data directory and its zone directories except the lock, by path relative to the data
    /// directory, with its contents.
    fn data_dir_contents(&self) -> BTreeMap<String, Vec<u8>> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else if path.file_name().unwrap() != kmipd::backup::LOCK_FILE_NAME {
                    let name = path.strip_prefix(root).unwrap().display().to_string();
                    out.insert(name, std::fs::read(&path).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.data_dir, &self.data_dir, &mut out);
        out
    }
}

fn key_bytes(i: usize) -> Vec<u8> {
    (0..32).map(|j| (i * 7 + j * 13 + 1) as u8).collect()
}

fn record(uid: &str, key: &[u8], name: &str) -> Mutation {
    let mut r = ObjectRecord::new(uid, 2, 1);
    r.object = Some(SecretBytes::new(key.to_vec()));
    r.attributes = vec![AttributeRecord {
        name: "Name".into(),
        index: 0,
        value: name.as_bytes().to_vec(),
        search: SearchKey::Text(name.to_string()),
    }];
    Mutation::Put(r)
}

fn put_keys(store: &Store, range: std::ops::Range<usize>) -> Vec<String> {
    range
        .map(|i| {
            let uid = format!("key-{i}");
            store
                .commit(vec![record(&uid, &key_bytes(i), &format!("name-{i}"))])
                .unwrap();
            uid
        })
        .collect()
}

fn backup_id(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .nth(1)
        .expect("backup id in the output")
        .to_string()
}

#[test]
fn backup_now_then_restore_brings_back_every_key_and_nothing_newer() {
    let site = Site::new();
    let store = site.store();
    let kept = put_keys(&store, 0..40);
    let seq_at_backup = store.last_seq().unwrap();
    drop(store);

    let out = site.kmipd_ok(&["backup", "now", "--data-dir", site.data_dir_arg()]);
    let id = backup_id(&out);
    for dest in site.destinations() {
        assert!(dest.join(format!("{id}{BACKUP_SUFFIX}")).is_file(), "{out}");
        let manifest = Manifest::read(&dest.join(format!("{id}{MANIFEST_SUFFIX}"))).unwrap();
        assert_eq!(manifest.last_seq, seq_at_backup);
    }

    // Changes after the backup: new keys, one key destroyed, one rewritten.
    let store = site.store();
    let later = put_keys(&store, 40..50);
    let version = |uid: &str| store.get(uid).unwrap().unwrap().version;
    store
        .commit(vec![Mutation::Delete {
            uid: kept[0].clone(),
            version: version(&kept[0]),
        }])
        .unwrap();
    let Mutation::Put(mut rewritten) = record(&kept[1], b"rewritten after the backup", "x") else {
        unreachable!("record() makes a Put")
    };
    rewritten.version = version(&kept[1]);
    store.commit(vec![Mutation::Put(rewritten)]).unwrap();
    drop(store);

    let listing = site.kmipd_ok(&["backup", "list", "--data-dir", site.data_dir_arg()]);
    assert!(listing.contains(&id), "{listing}");
    let verified = site.kmipd_ok(&["backup", "verify", &id, "--data-dir", site.data_dir_arg()]);
    assert_eq!(verified.matches(": OK").count(), 2, "{verified}");
    // `kmipd status` names the last backup.
    let status: serde_json::Value =
        serde_json::from_str(&site.kmipd_ok(&["status", "--data-dir", site.data_dir_arg()]))
            .unwrap();
    assert_eq!(status["backup"]["last_id"], id.as_str(), "{status}");
    assert_eq!(status["backup"]["last_seq"], seq_at_backup, "{status}");
    // `restore` needs exactly one source.
    for args in [
        vec!["restore", "--data-dir", site.data_dir_arg()],
        vec![
            "restore",
            "--from-backup",
            &id,
            "--from-remote",
            "--data-dir",
            site.data_dir_arg(),
        ],
    ] {
        assert!(!site.kmipd(&args).status.success(), "{args:?}");
    }

    let restored = site.kmipd_ok(&[
        "restore",
        "--from-backup",
        &id,
        "--data-dir",
        site.data_dir_arg(),
    ]);
    assert!(restored.contains("restored backup"), "{restored}");

    // Both zones hold the backup's state, so they start in step.
    for zone in 0..2 {
        let store = site.zone_store(zone);
        assert_eq!(store.last_seq().unwrap(), seq_at_backup, "zone {zone}");
        for (i, uid) in kept.iter().enumerate() {
            let r = store
                .get(uid)
                .unwrap()
                .unwrap_or_else(|| panic!("{uid} lost in zone {zone}"));
            assert_eq!(
                r.object.unwrap().as_slice(),
                key_bytes(i).as_slice(),
                "{uid}"
            );
        }
        for uid in &later {
            assert!(
                store.get(uid).unwrap().is_none(),
                "{uid} is newer than the backup (zone {zone})"
            );
        }
    }
    // The store goes on from the restored state.
    let store = site.store();
    put_keys(&store, 50..51);
    assert_eq!(store.last_seq().unwrap(), seq_at_backup + 1);
    drop(store);
    // Zone a had a database, which is kept; zone b had none.
    let aside = site.zone_dirs()[0].join(format!("{DB_FILE_NAME}.before-restore-{id}"));
    assert!(aside.is_file(), "the replaced database is kept");
    assert!(
        restored.contains(&aside.display().to_string()),
        "{restored}"
    );
}

#[test]
fn a_restore_into_an_empty_data_directory_needs_only_the_key_and_a_backup_dir() {
    let site = Site::new();
    let store = site.store();
    let uids = put_keys(&store, 0..5);
    let made = site.backups().create(&store).unwrap();
    drop(store);

    let new_dir = site.data_dir.with_file_name("rebuilt");
    let key_file = site.data_dir.join(MASTER_KEY_FILE_NAME);
    let dest = &made.copies[1];
    site.kmipd_ok(&[
        "restore",
        "--from-backup",
        &made.manifest.id,
        "--data-dir",
        new_dir.to_str().unwrap(),
        "--backup-dir",
        dest.to_str().unwrap(),
        "--master-key-file",
        key_file.to_str().unwrap(),
    ]);
    for zone in ["zone-a", "zone-b"] {
        let store = Store::open(&new_dir.join(zone).join(DB_FILE_NAME), site.master()).unwrap();
        assert_eq!(store.last_seq().unwrap(), made.manifest.last_seq, "{zone}");
        for (i, uid) in uids.iter().enumerate() {
            let r = store.get(uid).unwrap().unwrap();
            assert_eq!(r.object.unwrap().as_slice(), key_bytes(i).as_slice());
        }
    }
}

/// One way of damaging a backup copy.
type Damage = fn(data: &Path, manifest: &Path);

fn rewrite_manifest(manifest: &Path, edit: fn(&mut serde_json::Value)) {
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(manifest, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
}

#[test]
fn truncated_flipped_and_edited_backups_are_refused_and_the_data_dir_is_untouched() {
    let damages: [(&str, Damage); 6] = [
        ("truncated to half", |data, _| {
            let bytes = std::fs::read(data).unwrap();
            std::fs::write(data, &bytes[..bytes.len() / 2]).unwrap();
        }),
        ("last byte cut", |data, _| {
            let bytes = std::fs::read(data).unwrap();
            std::fs::write(data, &bytes[..bytes.len() - 1]).unwrap();
        }),
        ("one bit flipped", |data, _| {
            let mut bytes = std::fs::read(data).unwrap();
            let at = bytes.len() * 2 / 3;
            bytes[at] ^= 0x01;
            std::fs::write(data, bytes).unwrap();
        }),
        ("manifest last_seq edited", |_, manifest| {
            rewrite_manifest(manifest, |j| {
                j["last_seq"] = serde_json::json!(j["last_seq"].as_u64().unwrap() + 10)
            })
        }),
        ("manifest hash edited", |_, manifest| {
            rewrite_manifest(manifest, |j| {
                j["ciphertext_sha256"] = serde_json::json!("00".repeat(32))
            })
        }),
        ("manifest removed", |_, manifest| {
            std::fs::remove_file(manifest).unwrap();
        }),
    ];
    let site = Site::new();
    let store = site.store();
    put_keys(&store, 0..30);
    let made = site.backups().create(&store).unwrap();
    put_keys(&store, 30..35);
    drop(store);
    let id = made.manifest.id.clone();
    let before = site.data_dir_contents();
    assert!(before.contains_key(&format!("zone-a/{DB_FILE_NAME}")));
    let pristine: Vec<(PathBuf, Vec<u8>, Vec<u8>)> = made
        .copies
        .iter()
        .map(|d| {
            let data = d.join(format!("{id}{BACKUP_SUFFIX}"));
            let manifest = d.join(format!("{id}{MANIFEST_SUFFIX}"));
            (
                d.clone(),
                std::fs::read(data).unwrap(),
                std::fs::read(manifest).unwrap(),
            )
        })
        .collect();

    for (what, damage) in damages {
        for (dir, data, manifest) in &pristine {
            let data_path = dir.join(format!("{id}{BACKUP_SUFFIX}"));
            let manifest_path = dir.join(format!("{id}{MANIFEST_SUFFIX}"));
            std::fs::write(&data_path, data).unwrap();
            std::fs::write(&manifest_path, manifest).unwrap();
            damage(&data_path, &manifest_path);
        }
        let err = site
            .backups()
            .restore_into(&id, &site.master(), &site.data_dir, &site.zone_dirs())
            .unwrap_err();
        assert!(
            matches!(err, BackupError::NoValidCopy { .. }),
            "{what}: {err}"
        );
        assert_eq!(site.data_dir_contents(), before, "{what}: data dir changed");
        let (_, checks) = site
            .backups()
            .verify(Some(&id), &site.master(), &site.data_dir)
            .unwrap();
        assert!(checks.iter().all(|c| c.result.is_err()), "{what}");
    }

    // The command line refuses too, and says why.
    let out = site.kmipd(&[
        "restore",
        "--from-backup",
        &id,
        "--data-dir",
        site.data_dir_arg(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no usable copy"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(site.data_dir_contents(), before);

    // With one copy intact, the restore uses it and names the refused one.
    let (dir, data, manifest) = &pristine[1];
    std::fs::write(dir.join(format!("{id}{BACKUP_SUFFIX}")), data).unwrap();
    std::fs::write(dir.join(format!("{id}{MANIFEST_SUFFIX}")), manifest).unwrap();
    std::fs::write(
        pristine[0].0.join(format!("{id}{MANIFEST_SUFFIX}")),
        &pristine[0].2,
    )
    .unwrap();
    let mut bytes = pristine[0].1.clone();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x80;
    std::fs::write(pristine[0].0.join(format!("{id}{BACKUP_SUFFIX}")), bytes).unwrap();
    let restored = site
        .backups()
        .restore_into(&id, &site.master(), &site.data_dir, &site.zone_dirs())
        .unwrap();
    assert_eq!(&restored.from, dir);
    assert_eq!(restored.refused.len(), 1);
    assert_eq!(restored.last_seq, made.manifest.last_seq);
    assert_eq!(
        restored.databases,
        site.zone_dirs()
            .iter()
            .map(|d| d.join(DB_FILE_NAME))
            .collect::<Vec<_>>()
    );
    for zone in 0..2 {
        assert_eq!(
            site.zone_store(zone).last_seq().unwrap(),
            made.manifest.last_seq
        );
    }
}

#[test]
fn a_backup_under_another_master_key_is_refused() {
    let site = Site::new();
    let store = site.store();
    put_keys(&store, 0..3);
    let made = site.backups().create(&store).unwrap();
    drop(store);
    let err = site
        .backups()
        .restore(
            &made.manifest.id,
            &MasterKey::from_bytes([9; 32]),
            &site.data_dir,
        )
        .unwrap_err();
    assert!(err.to_string().contains("failed authentication"), "{err}");
}

#[test]
fn pruning_removes_only_backups_older_than_the_retention() {
    let site = Site::new();
    let store = site.store();
    put_keys(&store, 0..3);
    let now = SystemTime::now();
    let backups = site.backups();
    let ages = [40 * DAY, 31 * DAY, 29 * DAY, Duration::from_secs(3600)];
    let ids: Vec<String> = ages
        .iter()
        .map(|age| backups.create_at(&store, now - *age).unwrap().manifest.id)
        .collect();
    assert_eq!(
        backups.prune(now).unwrap(),
        2 * 2,
        "two backups in each of two destinations"
    );
    let left: Vec<String> = backups
        .list()
        .unwrap()
        .backups
        .into_iter()
        .map(|b| b.manifest.id)
        .collect();
    assert_eq!(left, ids[2..]);
    for dest in site.destinations() {
        let files = std::fs::read_dir(&dest).unwrap().count();
        assert_eq!(files, 4, "two backups, a data file and a manifest each");
    }
    // Every backup is past the retention a year on, but each destination keeps its newest.
    assert_eq!(backups.prune(now + 365 * DAY).unwrap(), 2);
    let left = backups.list().unwrap().backups;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].manifest.id, ids[3]);
    assert_eq!(left[0].copies.len(), 2);
}

#[test]
fn key_bytes_never_appear_in_clear_in_a_backup() {
    let site = Site::new();
    let store = site.store();
    let secret: Vec<u8> = b"TOP-SECRET-KEY-MATERIAL-0123456789abcdef".to_vec();
    let name = "backup-canary-attribute-name";
    store.commit(vec![record("canary", &secret, name)]).unwrap();
    put_keys(&store, 0..10);
    let made = site.backups().create(&store).unwrap();
    drop(store);
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    // Attributes are stored in clear in the database, so the name proves the whole file is encrypted.
    let database = std::fs::read(site.zone_dirs()[0].join(DB_FILE_NAME)).unwrap();
    assert!(
        contains(&database, name.as_bytes()),
        "the canary is in the database"
    );
    assert_eq!(made.copies.len(), 2);
    for dest in &made.copies {
        for entry in std::fs::read_dir(dest).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!contains(&bytes, &secret));
            assert!(!contains(&bytes, &secret[..16]));
            assert!(!contains(&bytes, name.as_bytes()));
            assert!(!contains(&bytes, b"SQLite format 3"));
        }
    }
}

#[test]
fn status_reports_the_last_backup_and_its_age() {
    let site = Site::new();
    let store = site.store();
    put_keys(&store, 0..2);
    let empty = kmipd::backup::status(&BackupConfig::default(), &site.data_dir).unwrap();
    assert_eq!(empty.last_id, None);
    assert_eq!(empty.count, 0);
    let now = SystemTime::now();
    site.backups().create_at(&store, now - 3 * DAY).unwrap();
    let newest = site.backups().create_at(&store, now - DAY).unwrap();
    let status = site.backups().status(now).unwrap();
    assert_eq!(status.last_id.as_deref(), Some(newest.manifest.id.as_str()));
    assert_eq!(status.last_seq, Some(store.last_seq().unwrap()));
    assert_eq!(status.count, 2);
    let age = status.age.unwrap();
    assert!(age >= DAY && age < DAY + Duration::from_secs(5), "{age:?}");
}

/// A `kmipd serve` on the embedded default, killed when dropped.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_running_server_takes_backups_and_cannot_be_restored_over() {
    let site = Site::new();
    drop(site.store());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let log = site.data_dir.with_file_name("serve.log");
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_kmipd"))
            .args([
                "serve",
                "--data-dir",
                site.data_dir_arg(),
                "--listen",
                &addr,
            ])
            .env_remove("KMIPD_MASTER_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    // The scheduler takes a backup at start, into both default destinations.
    let deadline = Instant::now() + Duration::from_secs(30);
    let listing = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!(
                "kmipd serve exited with {status}: {}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        let listing = site.backups().list().unwrap();
        if listing.backups.first().is_some_and(|b| b.copies.len() == 2)
            && TcpStream::connect(&addr).is_ok()
        {
            break listing;
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled backup: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let id = &listing.backups[0].manifest.id;
    let out = site.kmipd(&[
        "restore",
        "--from-backup",
        id,
        "--data-dir",
        site.data_dir_arg(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use by a running kmipd"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `backup now` cannot open a zone file the running server holds (exclusively, so that no file fault can
    // become a signal): it says so, and the scheduler is what takes backups meanwhile.
    let out = site.kmipd(&["backup", "now", "--data-dir", site.data_dir_arg()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("held by a running kmipd serve"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("backup written")
    );
    drop(server);
    site.kmipd_ok(&[
        "restore",
        "--from-backup",
        id,
        "--data-dir",
        site.data_dir_arg(),
    ]);
    for zone in 0..2 {
        assert_eq!(
            site.zone_store(zone).last_seq().unwrap(),
            listing.backups[0].manifest.last_seq
        );
    }
}

/// A Register request for a raw AES-256 key with these bytes and Name.
fn register_aes(material: &[u8], name: &str) -> Ttlv {
    let key = structure(
        tag::SYMMETRIC_KEY,
        vec![structure(
            tag::KEY_BLOCK,
            vec![
                enumeration(tag::KEY_FORMAT_TYPE, key_format_type::RAW),
                structure(tag::KEY_VALUE, vec![bytes(tag::KEY_MATERIAL, material)]),
                enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, cryptographic_algorithm::AES),
                int(tag::CRYPTOGRAPHIC_LENGTH, 256),
            ],
        )],
    );
    request(
        (1, 4),
        vec![item(
            operation::REGISTER,
            vec![
                enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
                template_attribute(vec![
                    attribute("Cryptographic Usage Mask", None, Value::Integer(4 | 8)),
                    attribute("Name", None, Value::Structure(name_value(name))),
                ]),
                key,
            ],
        )],
    )
}

fn key_material_of(get: &Ttlv) -> Vec<u8> {
    let payload = only_success(get);
    match payload
        .child(tag::SYMMETRIC_KEY)
        .and_then(|k| k.child(tag::KEY_BLOCK))
        .and_then(|b| b.child(tag::KEY_VALUE))
        .and_then(|v| v.child(tag::KEY_MATERIAL))
        .map(|m| &m.value)
    {
        Some(Value::ByteString(b)) => b.to_vec(),
        other => panic!("no raw key material: {other:?}"),
    }
}

#[test]
fn a_key_registered_over_kmip_is_backed_up_encrypted_and_restored_with_the_same_bytes() {
    let material: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37) ^ 0xC3).collect();
    let name = "backup-kmip-canary";
    let engine = test_engine::fresh();
    let server = tls::TlsServer::start(engine.engine.clone());
    let mut client = server.connect();
    let registered = client.send(&register_aes(&material, name));
    let id = text_child(only_success(&registered), tag::UNIQUE_IDENTIFIER);

    let data_dir = engine.dir.path();
    // Two destinations inside a temporary directory (the defaults, the data directory's siblings, would
    // outlive the test).
    let destinations = tempfile::tempdir().unwrap();
    let backups = Backups::new(&BackupConfig::default(), data_dir).with_destinations(vec![
        destinations.path().join("backups-1"),
        destinations.path().join("backups-2"),
    ]);
    let zone_a = engine.engine.store().zone_store(0).expect("zone a is up");
    let made = backups.create(&zone_a).unwrap();
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    for dest in &made.copies {
        for entry in std::fs::read_dir(dest).unwrap() {
            let file = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!contains(&file, &material), "key bytes in clear");
            assert!(
                !contains(&file, &material[..12]),
                "part of the key in clear"
            );
            assert!(!contains(&file, name.as_bytes()), "attributes in clear");
        }
    }

    // Rebuild elsewhere from the backup and the master key alone, then Get over KMIP.
    let rebuilt = tempfile::tempdir().unwrap();
    let master = MasterKey::from_file(&data_dir.join(MASTER_KEY_FILE_NAME)).unwrap();
    let zone_dirs: Vec<PathBuf> = ZonesConfig::default_in(rebuilt.path())
        .zones
        .into_iter()
        .map(|z| z.dir)
        .collect();
    let restored = backups
        .clone()
        .with_destinations(vec![made.copies[0].clone()])
        .restore_into(&made.manifest.id, &master, rebuilt.path(), &zone_dirs)
        .unwrap();
    assert_eq!(restored.last_seq, made.manifest.last_seq);
    drop(client);
    drop(server);
    let key_file = rebuilt.path().join("key");
    std::fs::copy(data_dir.join(MASTER_KEY_FILE_NAME), &key_file).unwrap();
    let engine2 = Engine::open(EngineConfig {
        data_dir: rebuilt.path().to_owned(),
        master_key: MasterKeySource::File(key_file),
        ..EngineConfig::default()
    })
    .unwrap();
    let server2 = tls::TlsServer::start(std::sync::Arc::new(engine2));
    let mut client2 = server2.connect();
    let got = client2.send(&request((1, 4), vec![item(operation::GET, vec![uid(&id)])]));
    assert_eq!(key_material_of(&got), material);
}

#[test]
fn a_backup_taken_during_a_stream_of_commits_is_one_consistent_state() {
    let site = Site::new();
    let store = std::sync::Arc::new(site.store());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 5_000 {
                put_keys(&store, i..i + 1);
                i += 1;
            }
            i
        })
    };
    while store.last_seq().unwrap() < 20 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let made: Vec<_> = (0..3)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(30));
            site.backups().create(&store).unwrap()
        })
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    for backup in &made {
        let rebuilt = tempfile::tempdir().unwrap();
        site.backups()
            .restore(&backup.manifest.id, &site.master(), rebuilt.path())
            .unwrap();
        let copy = Store::open(&rebuilt.path().join(DB_FILE_NAME), site.master()).unwrap();
        assert_eq!(copy.last_seq().unwrap(), backup.manifest.last_seq);
        // Keys are committed one per change in order (after one data-key change): exactly a prefix is present.
        let present = (0..written)
            .take_while(|i| copy.exists(&format!("key-{i}")).unwrap())
            .count();
        assert!(present > 0);
        assert!(
            (present..written).all(|i| !copy.exists(&format!("key-{i}")).unwrap()),
            "keys after a gap"
        );
        assert_eq!(present as u64 + 1, backup.manifest.last_seq);
        for i in (0..present).step_by(97) {
            let r = copy.get(&format!("key-{i}")).unwrap().unwrap();
            assert_eq!(r.object.unwrap().as_slice(), key_bytes(i).as_slice());
        }
    }
}

#[test]
fn a_snapshot_is_checked_for_integrity_schema_and_master_key() {
    let site = Site::new();
    let store = site.store();
    put_keys(&store, 0..200);
    let snapshot = site.data_dir.with_file_name("snapshot.sqlite");
    let seq = store.snapshot_to(&snapshot).unwrap();
    assert_eq!(seq, store.last_seq().unwrap());
    assert!(
        store.snapshot_to(&snapshot).is_err(),
        "an existing file is never overwritten"
    );
    assert_eq!(
        Store::inspect_snapshot(&snapshot, &site.master()).unwrap(),
        seq
    );
    let err = Store::inspect_snapshot(&snapshot, &MasterKey::from_bytes([3; 32])).unwrap_err();
    assert!(err.to_string().contains("wrong master key"), "{err}");

    // Damage a page in the middle of the file: SQLite's integrity check finds it.
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let page = 4096;
    let middle = (bytes.len() / page / 2) * page;
    for b in &mut bytes[middle + 8..middle + 64] {
        *b = 0xFF;
    }
    let damaged = site.data_dir.with_file_name("damaged.sqlite");
    std::fs::write(&damaged, &bytes).unwrap();
    let err = Store::inspect_snapshot(&damaged, &site.master()).unwrap_err();
    assert!(
        err.to_string().contains("integrity") || err.to_string().contains("malformed"),
        "{err}"
    );

    // SQLite files that are not kmipd stores.
    let other = site.data_dir.with_file_name("other.sqlite");
    let conn = rusqlite::Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL)")
        .unwrap();
    drop(conn);
    let err = Store::inspect_snapshot(&other, &site.master()).unwrap_err();
    assert!(err.to_string().contains("not a kmipd store"), "{err}");
    let empty = site.data_dir.with_file_name("empty.sqlite");
    std::fs::write(&empty, b"").unwrap();
    assert!(Store::inspect_snapshot(&empty, &site.master()).is_err());
}

/// The scheduler's interval in the bounded-loss test.
const SCHEDULE_INTERVAL_MS: i64 = 1_000;
/// The slack docs/backup.md states beyond one interval: a backup's own duration and scheduling delays on a
/// loaded machine.
const SCHEDULE_SLACK_MS: i64 = 2_000;

/// The last row of the recovery table: region and remote copy lost, the store rebuilt from the latest
/// scheduled backup loses at most one backup interval plus the time backups take plus the stated slack. The
/// server runs with a 1 s interval; a client registers keys over KMIP, one after the other, until the server
/// is killed with SIGKILL. Asserted: the scheduler kept its interval under that load (each backup began by one
/// interval after the previous one began, or when it ended if it took longer, plus slack; the last one ended
/// recently enough before the kill), a restore of the newest one holds exactly a prefix of the stream, every
/// key acknowledged before that backup began and every key acknowledged more than the stated bound before the
/// kill.
#[test]
fn a_rebuild_from_the_scheduled_backups_loses_at_most_about_one_interval() {
    let site = Site::new();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    kmipd::server::bootstrap::ensure_dev_files(&site.data_dir, addr.parse().unwrap()).unwrap();
    drop(site.store()); // makes master.key
    let dests = [
        site.data_dir.with_file_name("disk-a"),
        site.data_dir.with_file_name("disk-b"),
    ];
    let config = site.data_dir.with_file_name("kmipd.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"{addr}\"\ndata_dir = \"kmipd-data\"\n[backup]\ninterval = \"1s\"\n\
             destinations = [\"disk-a\", \"disk-b\"]\n"
        ),
    )
    .unwrap();
    let log = site.data_dir.with_file_name("serve.log");
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_kmipd"))
            .args(["serve", "--config", config.to_str().unwrap()])
            .env_remove("KMIPD_MASTER_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&addr).is_err() {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!(
                "kmipd serve exited with {status}: {}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    let pem = |name: &str| std::fs::read_to_string(site.data_dir.join(name)).unwrap();
    let mut client = tls::KmipClient::connect_with_pem(
        addr.parse().unwrap(),
        &pem("ca.pem"),
        &pem("admin.pem"),
        &pem("admin.key"),
    );
    let unix_ms = || {
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap()
    };
    let mut uids = Vec::new();
    let mut acked = Vec::new();
    let load_started = unix_ms();
    let run_until = Instant::now() + Duration::from_millis(6_000);
    let mut i = 0;
    while Instant::now() < run_until {
        let registered = client.send(&register_aes(&key_bytes(i), &format!("name-{i}")));
        uids.push(text_child(
            only_success(&registered),
            tag::UNIQUE_IDENTIFIER,
        ));
        acked.push(unix_ms());
        i += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    server.0.kill().unwrap(); // SIGKILL
    let killed = unix_ms();
    server.0.wait().unwrap();
    drop(client);
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.matches("backup written").count() >= 3,
        "{log_text}"
    );

    // Rebuild on a new data directory from one destination and the master key only.
    let backups = site.backups().with_destinations(vec![dests[1].clone()]);
    let newest = backups.list().unwrap().backups.pop().expect("a backup");
    let rebuilt = tempfile::tempdir().unwrap();
    backups
        .restore(&newest.manifest.id, &site.master(), rebuilt.path())
        .unwrap();
    let copy = Store::open(&rebuilt.path().join(DB_FILE_NAME), site.master()).unwrap();
    let present = uids
        .iter()
        .take_while(|uid| copy.exists(uid).unwrap())
        .count();
    assert!(
        uids[present..].iter().all(|uid| !copy.exists(uid).unwrap()),
        "a gap"
    );
    // The scheduler kept its interval during the load. Each backup runs from its manifest's creation time to
    // the time its manifest file was written; the next one must begin by one interval after the previous
    // began, or as soon as the previous ended when it took longer (tokio's Delay behaviour), plus slack.
    let finished = |entry: &kmipd::backup::BackupEntry| -> i64 {
        let manifest = dests[1].join(format!("{}{MANIFEST_SUFFIX}", entry.manifest.id));
        let modified = std::fs::metadata(&manifest).unwrap().modified().unwrap();
        i64::try_from(
            modified
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap()
    };
    let runs: Vec<(i64, i64)> = backups
        .list()
        .unwrap()
        .backups
        .iter()
        .map(|b| (b.manifest.created_unix_ms, finished(b)))
        .collect();
    let due = |(began, ended): (i64, i64)| (began + SCHEDULE_INTERVAL_MS).max(ended);
    for pair in runs.windows(2) {
        assert!(
            pair[1].0 - due(pair[0]) <= SCHEDULE_SLACK_MS,
            "a backup began {} ms after it was due (slack {SCHEDULE_SLACK_MS} ms); backups (began, \
             ended) {runs:?}, load {load_started}..{killed}: {log_text}",
            pair[1].0 - due(pair[0])
        );
    }
    // After the last completed backup, the next one was due: either it was running at the kill (its
    // unfinished copy `.<id>.kmipd-backup.tmp` is left; the id starts with the second it began in) and began
    // within the slack of being due, or it was not due yet at the kill (within the slack).
    let last = *runs.last().expect("a backup");
    let cut: Vec<i64> = std::fs::read_dir(&dests[1])
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            let id = name.strip_prefix('.')?.strip_suffix(".tmp")?;
            let id = id.strip_suffix(BACKUP_SUFFIX)?;
            let stamp = time::PrimitiveDateTime::parse(
                id.get(..16)?,
                time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"),
            )
            .ok()?;
            Some(stamp.assume_utc().unix_timestamp() * 1000)
        })
        .collect();
    assert!(cut.len() <= 1, "several unfinished backups: {cut:?}");
    let next_began = cut.first().copied().unwrap_or(killed);
    assert!(
        next_began - due(last) <= SCHEDULE_SLACK_MS,
        "after the backup of (began, ended) {last:?} the next was due at {} and {}; backups (began, ended) \
         {runs:?}, killed at {killed}: {log_text}",
        due(last),
        match cut.first() {
            Some(t) => format!("began in the second starting {t}"),
            None => "had not begun at the kill".to_string(),
        }
    );
    let duration = last.1 - last.0;
    let elapsed = killed - load_started;
    let taken = runs.iter().filter(|r| r.0 > load_started).count();
    assert!(taken >= 1, "no backup began during {elapsed} ms of load");
    // Everything acknowledged before the newest backup began is in it, and so is everything acknowledged
    // more than interval + slack + twice that backup's duration (it, and the one cut by the kill) before the
    // kill: the loss bound docs/backup.md states.
    let began = newest.manifest.created_unix_ms;
    assert_eq!(began, last.0);
    let bound = SCHEDULE_INTERVAL_MS + SCHEDULE_SLACK_MS + 2 * duration;
    let must_have = acked.iter().filter(|t| **t < began).count();
    let stated = acked.iter().filter(|t| killed - **t > bound).count();
    assert!(
        present >= must_have,
        "{present} of {i} keys restored, {must_have} were acknowledged before the backup began"
    );
    assert!(
        present >= stated,
        "{present} of {i} keys restored, {stated} were acknowledged more than {bound} ms before the kill"
    );
    eprintln!(
        "{taken} scheduled backups began in {elapsed} ms of load (interval {SCHEDULE_INTERVAL_MS} ms); \
         (began, ended) {runs:?}"
    );
    eprintln!(
        "rebuilt from backup {}: {present} of {i} acknowledged keys; the backup began {} ms before the kill, \
         the first key missing from it was acknowledged {} ms before the kill",
        newest.manifest.id,
        killed - began,
        acked.get(present).map_or(0, |t| killed - *t)
    );
}
