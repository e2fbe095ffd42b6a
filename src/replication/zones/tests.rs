//! Zones on real SQLite files: divergence, catch-up, pruning and re-seeding, full disks, starting alone.

use super::acked::read_acked;
use super::pruning::remove_if_present;
use super::*;

fn open(dir: &Path) -> ZonedStore {
    let mut config = ZonesConfig::default_in(dir);
    config.recheck_interval = Duration::from_secs(3600);
    ZonedStore::open(
        config,
        dir,
        &MasterKeySource::DataDir,
        StoreOptions::default(),
    )
    .unwrap()
}

fn put(uid: &str) -> Vec<Mutation> {
    vec![Mutation::Put(ObjectRecord::new(uid, 2, 1))]
}

/// Two zones that prune everything every copy holds, at once (no age, only the last change kept).
fn open_pruning(dir: &Path) -> ZonedStore {
    let mut config = ZonesConfig::default_in(dir);
    config.recheck_interval = Duration::from_secs(3600);
    config.change_log = ChangeLogPolicy {
        retention: Duration::ZERO,
        keep_min: 1,
        interval: Duration::from_secs(3600),
        batch_max: 100_000,
    };
    ZonedStore::open(
        config,
        dir,
        &MasterKeySource::DataDir,
        StoreOptions::default(),
    )
    .unwrap()
}

fn commit_keys(zones: &ZonedStore, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let uid = format!("{prefix}-{i}");
            zones.commit(put(&uid)).unwrap();
            uid
        })
        .collect()
}

fn zone_file(dir: &Path, zone: &str) -> PathBuf {
    dir.join(format!("zone-{zone}")).join(DB_FILE_NAME)
}

/// Puts `copy` (a snapshot) where zone `zone`'s file is, as an operator restoring an old copy would.
fn replace_zone_file(dir: &Path, zone: &str, copy: &Path) {
    let file = zone_file(dir, zone);
    for suffix in ["", "-wal", "-shm"] {
        let mut name = file.clone().into_os_string();
        name.push(suffix);
        remove_if_present(Path::new(&name)).unwrap();
    }
    std::fs::copy(copy, &file).unwrap();
}

/// Every key is in every zone and the zones' logs are identical.
fn assert_every_zone_holds(zones: &ZonedStore, uids: &[String]) {
    let a = zones.zone_store(0).unwrap();
    let b = zones.zone_store(1).unwrap();
    for uid in uids {
        assert!(a.exists(uid).unwrap(), "zone a lacks {uid}");
        assert!(b.exists(uid).unwrap(), "zone b lacks {uid}");
    }
    assert_eq!(a.last_seq().unwrap(), b.last_seq().unwrap());
    assert_eq!(
        a.changes_since(0, usize::MAX).unwrap(),
        b.changes_since(0, usize::MAX).unwrap()
    );
}

/// Moves zone `zone`'s directory away and puts a directory where its database file was: it cannot open.
fn make_unopenable(dir: &Path, zone: &str) -> PathBuf {
    let zone_dir = dir.join(format!("zone-{zone}"));
    let away = dir.join(format!("zone-{zone}.away"));
    std::fs::rename(&zone_dir, &away).unwrap();
    std::fs::create_dir_all(zone_dir.join(DB_FILE_NAME)).unwrap();
    away
}

fn put_back(dir: &Path, zone: &str, away: &Path) {
    let zone_dir = dir.join(format!("zone-{zone}"));
    std::fs::remove_dir_all(&zone_dir).unwrap();
    std::fs::rename(away, &zone_dir).unwrap();
}

#[test]
fn a_zone_alone_at_start_serves_reads_only_if_it_holds_what_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let zones = open(dir.path());
    let mut uids = commit_keys(&zones, "early", 2);
    let old_a = dir.path().join("old-a.sqlite");
    zones.zone_store(0).unwrap().snapshot_to(&old_a).unwrap();
    uids.extend(commit_keys(&zones, "late", 3));
    drop(zones);
    assert_eq!(read_acked(&dir.path().join(ACKED_FILE)), 5);

    // Zone b missing, zone a holds everything acknowledged: reads go on, changes are refused naming b.
    let away = make_unopenable(dir.path(), "b");
    let zones = open(dir.path());
    assert_eq!(zones.read_refusal(), None);
    assert!(zones.get("late-2").unwrap().is_some());
    let refused = zones.commit(put("refused")).unwrap_err();
    assert!(matches!(refused, StoreError::ZoneUnavailable { ref zone, .. } if zone == "b"));
    drop(zones);

    // Zone a is an old copy (it lacks acknowledged changes) and zone b is missing: no read is answered
    // from the old copy; when b returns, a catches up from it and every key is there.
    replace_zone_file(dir.path(), "a", &old_a);
    let zones = open(dir.path());
    let refusal = zones.read_refusal().unwrap_or_default();
    assert!(
        refusal.contains("holds sequence 2 but 5 was acknowledged") && refusal.contains("zone b"),
        "{refusal}"
    );
    assert!(zones.get("early-0").is_err());
    let refused = zones.commit(put("refused")).unwrap_err();
    assert!(matches!(refused, StoreError::ZoneUnavailable { ref zone, .. } if zone == "b"));
    put_back(dir.path(), "b", &away);
    zones.recheck();
    assert_eq!(zones.read_refusal(), None);
    assert!(zones.status().iter().all(|z| z.up), "{:?}", zones.status());
    assert_every_zone_holds(&zones, &uids);
    drop(zones);

    // Zone a's disk was wiped (it starts empty) and zone b is missing: reads wait too.
    std::fs::remove_dir_all(dir.path().join("zone-a")).unwrap();
    let away = make_unopenable(dir.path(), "b");
    let zones = open(dir.path());
    assert!(
        zones
            .read_refusal()
            .unwrap_or_default()
            .contains("this zone is empty"),
        "{:?}",
        zones.read_refusal()
    );
    put_back(dir.path(), "b", &away);
    zones.recheck();
    assert_eq!(zones.read_refusal(), None);
    assert_every_zone_holds(&zones, &uids);
}

#[test]
fn pruning_keeps_what_a_down_zone_needs_and_it_catches_up_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let zones = open_pruning(dir.path());
    let mut uids = commit_keys(&zones, "early", 10);
    let old_b = dir.path().join("old-b.sqlite");
    assert_eq!(
        zones.zone_store(1).unwrap().snapshot_to(&old_b).unwrap(),
        10
    );
    uids.extend(commit_keys(&zones, "late", 10));
    // Zone b's file is replaced by its older copy: b goes down, holding 10 of 20 changes.
    replace_zone_file(dir.path(), "b", &old_b);
    zones.recheck();
    assert!(!zones.status()[1].up);
    let report = zones.prune_change_log().unwrap();
    assert_eq!(report.removed, 0);
    assert!(
        report
            .held_back
            .as_deref()
            .unwrap_or("")
            .contains("zone b is down"),
        "{report:?}"
    );
    assert_eq!(
        zones.zone_store(0).unwrap().first_retained_seq().unwrap(),
        Some(1)
    );
    // It comes back (the monitor re-opens it) and replays changes 11..20 from zone a's log.
    zones.recheck();
    assert!(zones.status().iter().all(|z| z.up), "{:?}", zones.status());
    assert_every_zone_holds(&zones, &uids);
    // Now every zone holds everything: all but the last change go, in both zones alike.
    let report = zones.prune_change_log().unwrap();
    assert_eq!((report.removed, report.held_by_all), (19, 20));
    for i in 0..2 {
        let store = zones.zone_store(i).unwrap();
        assert_eq!(store.first_retained_seq().unwrap(), Some(20));
    }
    uids.extend(commit_keys(&zones, "after", 3));
    assert_every_zone_holds(&zones, &uids);
}

#[test]
fn an_empty_zone_returning_after_pruning_is_reseeded_from_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let zones = open_pruning(dir.path());
    let mut uids = commit_keys(&zones, "k", 30);
    assert_eq!(zones.prune_change_log().unwrap().removed, 29);
    // Zone b's disk is lost, then comes back empty.
    std::fs::remove_dir_all(dir.path().join("zone-b")).unwrap();
    zones.recheck();
    assert!(!zones.status()[1].up);
    let refused = zones.commit(put("refused")).unwrap_err();
    assert!(matches!(refused, StoreError::ZoneUnavailable { ref zone, .. } if zone == "b"));
    std::fs::create_dir(dir.path().join("zone-b")).unwrap();
    zones.recheck();
    assert!(zones.status().iter().all(|z| z.up), "{:?}", zones.status());
    // Its log is zone a's pruned log, its records every acknowledged key.
    assert_every_zone_holds(&zones, &uids);
    uids.extend(commit_keys(&zones, "after", 3));
    assert_every_zone_holds(&zones, &uids);
    drop(zones);

    // The same at start: an empty zone b next to a pruned zone a is re-seeded before serving.
    std::fs::remove_dir_all(dir.path().join("zone-b")).unwrap();
    let zones = open_pruning(dir.path());
    assert!(zones.status().iter().all(|z| z.up), "{:?}", zones.status());
    assert_every_zone_holds(&zones, &uids);
    assert!(
        !dir.path()
            .join("zone-b")
            .join("kmipd.sqlite.reseed")
            .exists()
    );
}

#[test]
fn a_zone_behind_the_pruned_log_is_refused_until_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let zones = open_pruning(dir.path());
    let mut uids = commit_keys(&zones, "early", 5);
    let old_b = dir.path().join("old-b.sqlite");
    zones.zone_store(1).unwrap().snapshot_to(&old_b).unwrap();
    uids.extend(commit_keys(&zones, "late", 25));
    zones.prune_change_log().unwrap();
    // An old copy of zone b comes back: changes 6..29 are no longer in any log. It must not skip them.
    replace_zone_file(dir.path(), "b", &old_b);
    zones.recheck();
    zones.recheck();
    let status = zones.status();
    assert!(!status[1].up, "{status:?}");
    let reason = status[1].reason.clone().unwrap_or_default();
    assert!(
        reason.contains("zone b holds changes up to 5")
            && reason.contains("starts at 30")
            && reason.contains("re-seeded"),
        "{reason}"
    );
    let refused = zones.commit(put("refused")).unwrap_err();
    assert!(matches!(refused, StoreError::ZoneUnavailable { ref zone, .. } if zone == "b"));
    assert!(
        zones.get("late-24").unwrap().is_some(),
        "reads go on from zone a"
    );
    // The documented recovery: move the stale file aside; the empty zone is re-seeded.
    replace_zone_file(dir.path(), "b", &old_b);
    std::fs::remove_file(zone_file(dir.path(), "b")).unwrap();
    zones.recheck();
    assert!(zones.status().iter().all(|z| z.up), "{:?}", zones.status());
    assert_every_zone_holds(&zones, &uids);
}

#[test]
fn a_tracked_copy_the_retention_the_kept_minimum_and_the_batch_bound_hold_pruning_back() {
    let dir = tempfile::tempdir().unwrap();
    let zones = open_pruning(dir.path());
    commit_keys(&zones, "k", 20);
    let first = |zones: &ZonedStore| zones.zone_store(0).unwrap().first_retained_seq().unwrap();
    // A remote copy not reached yet holds nothing: nothing goes.
    zones.track_copy("r");
    let report = zones.prune_change_log().unwrap();
    assert_eq!((report.removed, report.held_by_all), (0, 0));
    // It holds 8: changes up to 7 go (8 stays, to check the copy against when it asks for more).
    zones.copy_holds("r", 8);
    assert_eq!(zones.prune_change_log().unwrap().removed, 7);
    assert_eq!(first(&zones), Some(8));
    zones.copy_holds("r", 20);

    let with = |policy: ChangeLogPolicy| {
        let mut config = zones.inner.config.clone();
        config.change_log = policy;
        config
    };
    // Every remaining change is younger than an hour: kept.
    let young = Inner::prune_with(
        &zones,
        with(ChangeLogPolicy {
            retention: Duration::from_secs(3600),
            keep_min: 1,
            interval: Duration::from_secs(1),
            batch_max: 100,
        }),
    );
    assert_eq!(young.removed, 0);
    // The newest 10 are always kept; at most 2 rows per pass.
    let bounded = with(ChangeLogPolicy {
        retention: Duration::ZERO,
        keep_min: 10,
        interval: Duration::from_secs(1),
        batch_max: 2,
    });
    assert_eq!(Inner::prune_with(&zones, bounded.clone()).removed, 2);
    assert_eq!(first(&zones), Some(10));
    assert_eq!(Inner::prune_with(&zones, bounded.clone()).removed, 1);
    assert_eq!(Inner::prune_with(&zones, bounded).removed, 0);
    assert_eq!(first(&zones), Some(11));
}

#[test]
fn a_full_disk_in_zone_a_the_sequencer_refuses_changes_naming_it_and_reads_go_on_from_b() {
    let dir = tempfile::tempdir().unwrap();
    let zones = open(dir.path());
    let mut uids = commit_keys(&zones, "before", 5);
    let pages = zones.zone_store(0).unwrap().page_count().unwrap();
    zones.limit_zone_pages("a", Some(pages)).unwrap();
    let refused = (0..2_000)
        .find_map(|i| {
            let uid = format!("fill-{i}");
            match zones.commit(put(&uid)) {
                Ok(_) => {
                    uids.push(uid);
                    None
                }
                Err(e) => Some(e),
            }
        })
        .expect("zone a never filled up");
    assert!(
        matches!(refused, StoreError::ZoneUnavailable { ref zone, ref reason }
            if zone == "a" && reason.contains("full")),
        "{refused}"
    );
    assert!(!zones.status()[0].up);
    for uid in &uids {
        assert!(zones.get(uid).unwrap().is_some(), "zone b serves {uid}");
    }
    // While it stays full every change is refused naming zone a (its group commit is rolled back, so
    // the monitor may find it level with b and let it try again: the next write fails the same way).
    for _ in 0..3 {
        zones.recheck();
        let again = zones.commit(put("refused")).unwrap_err();
        assert!(
            matches!(again, StoreError::ZoneUnavailable { ref zone, .. } if zone == "a"),
            "{again}"
        );
    }
    zones.limit_zone_pages("a", None).unwrap();
    zones.recheck();
    assert!(zones.status().iter().all(|z| z.up), "{:?}", zones.status());
    uids.extend(commit_keys(&zones, "after", 3));
    assert_every_zone_holds(&zones, &uids);
}

#[test]
fn a_full_disk_in_zone_b_refuses_changes_keeps_reads_and_it_returns_when_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let zones = open(dir.path());
    let mut uids = commit_keys(&zones, "before", 5);
    // Zone b's file may not grow by a single page: a real SQLITE_FULL from the engine.
    let pages = zones.zone_store(1).unwrap().page_count().unwrap();
    zones.limit_zone_pages("b", Some(pages)).unwrap();
    let mut refused = None;
    for i in 0..2_000 {
        let uid = format!("fill-{i}");
        match zones.commit(put(&uid)) {
            Ok(_) => uids.push(uid),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.expect("zone b never filled up");
    assert!(
        matches!(refused, StoreError::ZoneUnavailable { ref zone, ref reason }
            if zone == "b" && reason.contains("full")),
        "{refused}"
    );
    // Refused before anything is written now, still naming zone b; reads go on from zone a.
    let again = zones.commit(put("refused")).unwrap_err();
    assert!(matches!(again, StoreError::ZoneUnavailable { ref zone, .. } if zone == "b"));
    assert!(zones.get(&uids[uids.len() - 1]).unwrap().is_some());
    assert!(zones.locate(&LocateQuery::default()).unwrap().len() >= uids.len());
    // The refused change was rolled back in zone a: no read finds it.
    let refused_uid = format!("fill-{}", uids.len() - 5);
    assert!(zones.get(&refused_uid).unwrap().is_none());
    assert!(!zones.exists(&refused_uid).unwrap());
    // Still full: zone b holds every committed change (nothing to catch up), so the monitor may let it try
    // again, and the next write fails the same way, naming it.
    for _ in 0..3 {
        zones.recheck();
        let again = zones.commit(put("refused")).unwrap_err();
        assert!(
            matches!(again, StoreError::ZoneUnavailable { ref zone, ref reason }
                if zone == "b" && reason.contains("full")),
            "{again}"
        );
    }
    // Space is freed: it returns.
    zones.limit_zone_pages("b", None).unwrap();
    zones.recheck();
    assert!(zones.status().iter().all(|z| z.up), "{:?}", zones.status());
    uids.extend(commit_keys(&zones, "after", 3));
    assert_every_zone_holds(&zones, &uids);
}

#[test]
fn a_zone_that_diverged_is_refused_never_merged() {
    let dir = tempfile::tempdir().unwrap();
    let zones = open(dir.path());
    zones.commit(put("shared")).unwrap();
    drop(zones);
    // Each zone file gets a different change at the same sequence number (only possible by hand).
    let master = || MasterKey::from_file(&dir.path().join("master.key")).unwrap();
    let a = Store::open(&dir.path().join("zone-a").join(DB_FILE_NAME), master()).unwrap();
    let b = Store::open(&dir.path().join("zone-b").join(DB_FILE_NAME), master()).unwrap();
    assert_eq!(
        a.commit(put("only-in-a")).unwrap(),
        b.commit(put("only-in-b")).unwrap()
    );
    drop((a, b));

    let zones = open(dir.path());
    let status = zones.status();
    assert!(status[0].up, "{status:?}");
    assert!(!status[1].up, "{status:?}");
    assert!(
        status[1]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("diverges"),
        "{status:?}"
    );
    let refused = zones.commit(put("new")).unwrap_err();
    assert!(matches!(refused, StoreError::ZoneUnavailable { ref zone, .. } if zone == "b"));
    // Zone b never received zone a's divergent change, nor the other way round.
    assert!(zones.get("only-in-b").unwrap().is_none());
    assert!(zones.get("only-in-a").unwrap().is_some());
}

#[test]
fn a_lagging_zone_is_caught_up_at_start_and_both_logs_are_identical() {
    let dir = tempfile::tempdir().unwrap();
    let zones = open(dir.path());
    zones.commit(put("one")).unwrap();
    drop(zones);
    let master = MasterKey::from_file(&dir.path().join("master.key")).unwrap();
    let a = Store::open(&dir.path().join("zone-a").join(DB_FILE_NAME), master).unwrap();
    // Zone a holds two changes zone b never received (committed, never acknowledged).
    a.commit(put("two")).unwrap();
    a.commit(put("three")).unwrap();
    drop(a);
    let zones = open(dir.path());
    assert!(zones.status().iter().all(|z| z.up));
    let a = zones.zone_store(0).unwrap();
    let b = zones.zone_store(1).unwrap();
    assert_eq!(
        a.changes_since(0, usize::MAX).unwrap(),
        b.changes_since(0, usize::MAX).unwrap()
    );
    assert!(b.exists("three").unwrap());
}

/// What may leave the zones for a remote copy is what every zone holds. Zone a commits a group only after
/// zone b holds it, so a change zone b could not take (its disk full) is rolled back from zone a too: nothing
/// beyond what every zone holds is ever counted, and the zones agree again once zone b returns.
#[test]
fn only_what_every_zone_holds_may_leave_for_a_remote() {
    let dir = tempfile::tempdir().unwrap();
    let zones = open(dir.path());
    commit_keys(&zones, "before", 3);
    let everywhere = zones.everywhere_seq();
    assert_eq!(everywhere, zones.local_last_seq().unwrap());
    let pages = zones.zone_store(1).unwrap().page_count().unwrap();
    zones.limit_zone_pages("b", Some(pages)).unwrap();
    let mut refused = false;
    for i in 0..2_000 {
        if zones.commit(put(&format!("fill-{i}"))).is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "zone b never filled up");
    let tail = zones.local_last_seq().unwrap();
    let held_everywhere = zones.everywhere_seq();
    // The refused change is in neither zone: zone a holds nothing that is not held everywhere.
    assert_eq!(
        held_everywhere, tail,
        "zone a holds a change ({tail}) beyond what every zone holds ({held_everywhere})"
    );
    // Zone b returns: still nothing beyond what every zone holds.
    zones.limit_zone_pages("b", None).unwrap();
    zones.recheck();
    assert!(zones.status().iter().all(|z| z.up), "{:?}", zones.status());
    assert_eq!(zones.everywhere_seq(), zones.local_last_seq().unwrap());
    zones.commit(put("after")).unwrap();
    assert_eq!(zones.everywhere_seq(), zones.local_last_seq().unwrap());
}
