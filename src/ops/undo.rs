//! Batch Error Continuation Option Undo (1.4 section 6.13, 2.1 section 6.1 "Batch Error Continuation Option"):
//! when an item of such a batch fails, the effects of the items before it are undone and those items are
//! answered Operation Undone.
//!
//! Every item commits its changes as it runs (each one durable transaction, as for any batch). While an Undo
//! batch runs, [`UndoJournal`] keeps the pre-image of everything the batch writes — objects, and the access
//! entries beside them (owners of the objects it creates, grants it stores or revokes) — taken just before the
//! batch's first write to it, and what the batch wrote last. Every write of an operation goes through
//! `object::commit`, which feeds the journal. Undoing commits the compensating changes — the pre-images back,
//! objects and entries the batch created removed — in one transaction. Something another request changed in
//! the meantime is not overwritten: the undo is then refused as a whole and the earlier items keep their
//! Success, so the answer never claims an undo that did not happen.

use std::cell::RefCell;

use crate::replication::ZonedStore;
use crate::replication::origin::Origin;
use crate::store::{Mutation, ObjectRecord, StoreError};

/// What an Undo batch has written so far.
#[derive(Debug, Default)]
pub struct UndoJournal {
    entries: RefCell<Vec<Entry>>,
}

/// What the journal keeps a pre-image of.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Slot {
    /// An object, by Unique Identifier.
    Object(String),
    /// An access entry (owner, grant), by key.
    Access(String),
}

/// The content of a slot: `None` when absent.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Image {
    Object(Option<ObjectRecord>),
    Access(Option<Vec<u8>>),
}

#[derive(Debug)]
struct Entry {
    slot: Slot,
    /// The slot before the batch touched it.
    before: Image,
    /// What the batch's latest successful write left; `None` until one succeeds.
    after: Option<Image>,
}

/// Why a batch's changes could not be undone.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    /// Another request changed an object the batch had changed; undoing would lose that change.
    #[error("{0} was changed by another request after this batch changed it")]
    ChangedMeanwhile(String),
    /// The store failed to read or commit.
    #[error("the store failed while undoing: {0}")]
    Store(String),
}

/// A record as compared for "is it still what the batch wrote": the creation order and the version are the
/// store's to assign.
fn comparable(record: &ObjectRecord) -> ObjectRecord {
    let mut r = record.clone();
    r.created_seq = 0;
    r.version = 0;
    r
}

/// The slot a mutation writes and what it leaves there.
fn effect(mutation: &Mutation) -> (Slot, Image) {
    match mutation {
        Mutation::Put(record) => (
            Slot::Object(record.uid.clone()),
            Image::Object(Some(comparable(record))),
        ),
        Mutation::Delete { uid, .. } => (Slot::Object(uid.clone()), Image::Object(None)),
        Mutation::SetAccess { key, value } => (
            Slot::Access(key.clone()),
            Image::Access(Some(value.clone())),
        ),
        Mutation::ClearAccess { key } => (Slot::Access(key.clone()), Image::Access(None)),
    }
}

/// What `slot` holds in the store now (objects compared without their creation order).
fn current(store: &ZonedStore, slot: &Slot) -> Result<Image, StoreError> {
    Ok(match slot {
        Slot::Object(uid) => Image::Object(store.get(uid)?),
        Slot::Access(key) => Image::Access(store.access_entry(key)?),
    })
}

fn comparable_image(image: Image) -> Image {
    match image {
        Image::Object(record) => Image::Object(record.as_ref().map(comparable)),
        access => access,
    }
}

impl UndoJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the batch has written anything.
    pub fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }

    /// Records the pre-images of what `mutations` write (the first time the batch writes each) before they are
    /// committed.
    pub fn before_write(
        &self,
        store: &ZonedStore,
        mutations: &[Mutation],
    ) -> Result<(), StoreError> {
        let mut entries = self.entries.borrow_mut();
        for mutation in mutations {
            let (slot, _) = effect(mutation);
            if entries.iter().any(|e| e.slot == slot) {
                continue;
            }
            let before = current(store, &slot)?;
            entries.push(Entry {
                slot,
                before,
                after: None,
            });
        }
        Ok(())
    }

    /// Notes that `mutations` were committed.
    pub fn written(&self, mutations: &[Mutation]) {
        let mut entries = self.entries.borrow_mut();
        for mutation in mutations {
            let (slot, image) = effect(mutation);
            if let Some(entry) = entries.iter_mut().find(|e| e.slot == slot) {
                entry.after = Some(image);
            }
        }
    }

    /// The compensating changes, checked against the store's current content.
    fn compensations(&self, store: &ZonedStore) -> Result<Vec<Mutation>, UndoError> {
        let entries = self.entries.borrow();
        let mut mutations = Vec::with_capacity(entries.len());
        for entry in entries.iter().rev() {
            let Some(after) = &entry.after else {
                continue;
            };
            let now = current(store, &entry.slot).map_err(|e| UndoError::Store(e.to_string()))?;
            // Compared-and-set against the version just read: a change made after this check also refuses.
            let version = match &now {
                Image::Object(Some(record)) => record.version,
                _ => 0,
            };
            if comparable_image(now) != *after {
                return Err(UndoError::ChangedMeanwhile(match &entry.slot {
                    Slot::Object(uid) => format!("object {uid:?}"),
                    Slot::Access(key) => format!("access entry {key:?}"),
                }));
            }
            mutations.push(match (&entry.slot, &entry.before) {
                (_, Image::Object(Some(before))) => Mutation::Put(ObjectRecord {
                    version,
                    ..before.clone()
                }),
                (Slot::Object(uid), _) => Mutation::Delete {
                    uid: uid.clone(),
                    version,
                },
                (Slot::Access(key), Image::Access(Some(value))) => Mutation::SetAccess {
                    key: key.clone(),
                    value: value.clone(),
                },
                (Slot::Access(key), _) => Mutation::ClearAccess { key: key.clone() },
            });
        }
        Ok(mutations)
    }

    /// Undoes everything the batch wrote, in one commit.
    pub fn undo(&self, store: &ZonedStore, origin: &Origin) -> Result<(), UndoError> {
        let mutations = self.compensations(store)?;
        if mutations.is_empty() {
            return Ok(());
        }
        store
            .commit_for(origin, mutations)
            .map(|_| ())
            .map_err(|e| match e {
                StoreError::VersionConflict { uid, .. } => UndoError::ChangedMeanwhile(uid),
                other => UndoError::Store(other.to_string()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MasterKey, Store};
    use std::sync::Arc;

    /// A write of `uid` in `state` based on what `store` holds now (compared-and-set like an operation's).
    fn record(store: &ZonedStore, uid: &str, state: u32) -> ObjectRecord {
        let mut r = ObjectRecord::new(uid, 2, state);
        r.version = store.get(uid).unwrap().map_or(0, |c| c.version);
        r
    }

    #[test]
    fn undo_restores_pre_images_and_deletes_what_the_batch_created() {
        let dir = tempfile::tempdir().unwrap();
        let store = ZonedStore::single(Arc::new(
            Store::open(&dir.path().join("s.sqlite"), MasterKey::from_bytes([7; 32])).unwrap(),
        ))
        .unwrap();
        store
            .commit(vec![Mutation::Put(record(&store, "old", 1))])
            .unwrap();
        let journal = UndoJournal::new();
        let writes = vec![
            Mutation::Put(record(&store, "old", 2)),
            Mutation::Put(record(&store, "new", 1)),
        ];
        journal.before_write(&store, &writes).unwrap();
        store.commit(writes.clone()).unwrap();
        journal.written(&writes);
        // A second write of the same object keeps the first pre-image.
        let again = vec![Mutation::Put(record(&store, "old", 3))];
        journal.before_write(&store, &again).unwrap();
        store.commit(again.clone()).unwrap();
        journal.written(&again);
        journal.undo(&store, &Origin::default()).unwrap();
        assert_eq!(store.get("old").unwrap().unwrap().state, 1);
        assert!(store.get("new").unwrap().is_none());
    }

    #[test]
    fn undo_refuses_to_overwrite_a_change_made_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let store = ZonedStore::single(Arc::new(
            Store::open(&dir.path().join("s.sqlite"), MasterKey::from_bytes([7; 32])).unwrap(),
        ))
        .unwrap();
        store
            .commit(vec![Mutation::Put(record(&store, "k", 1))])
            .unwrap();
        let journal = UndoJournal::new();
        let writes = vec![Mutation::Put(record(&store, "k", 2))];
        journal.before_write(&store, &writes).unwrap();
        store.commit(writes.clone()).unwrap();
        journal.written(&writes);
        // Another request's change.
        store
            .commit(vec![Mutation::Put(record(&store, "k", 3))])
            .unwrap();
        assert!(matches!(
            journal.undo(&store, &Origin::default()),
            Err(UndoError::ChangedMeanwhile(what)) if what == "object \"k\""
        ));
        assert_eq!(store.get("k").unwrap().unwrap().state, 3);
    }

    #[test]
    fn a_write_that_failed_is_not_undone() {
        let dir = tempfile::tempdir().unwrap();
        let store = ZonedStore::single(Arc::new(
            Store::open(&dir.path().join("s.sqlite"), MasterKey::from_bytes([7; 32])).unwrap(),
        ))
        .unwrap();
        let journal = UndoJournal::new();
        journal
            .before_write(&store, &[Mutation::Put(record(&store, "never", 1))])
            .unwrap();
        journal.undo(&store, &Origin::default()).unwrap();
        assert!(store.get("never").unwrap().is_none());
    }

    #[test]
    fn undo_restores_access_entries_set_and_cleared_by_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = ZonedStore::single(Arc::new(
            Store::open(&dir.path().join("s.sqlite"), MasterKey::from_bytes([7; 32])).unwrap(),
        ))
        .unwrap();
        let set = |key: &str, value: &[u8]| Mutation::SetAccess {
            key: key.into(),
            value: value.to_vec(),
        };
        store.commit(vec![set("grant:old", b"kept")]).unwrap();
        let journal = UndoJournal::new();
        let writes = vec![
            set("grant:new", b"given"),
            set("owner:k", b"alice"),
            Mutation::ClearAccess {
                key: "grant:old".into(),
            },
        ];
        journal.before_write(&store, &writes).unwrap();
        store.commit(writes.clone()).unwrap();
        journal.written(&writes);
        assert!(store.access_entry("grant:old").unwrap().is_none());
        journal.undo(&store, &Origin::default()).unwrap();
        assert_eq!(
            store.access_entry("grant:old").unwrap().as_deref(),
            Some(&b"kept"[..])
        );
        assert!(store.access_entry("grant:new").unwrap().is_none());
        assert!(store.access_entry("owner:k").unwrap().is_none());
    }

    #[test]
    fn undo_refuses_to_overwrite_an_access_entry_changed_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let store = ZonedStore::single(Arc::new(
            Store::open(&dir.path().join("s.sqlite"), MasterKey::from_bytes([7; 32])).unwrap(),
        ))
        .unwrap();
        let journal = UndoJournal::new();
        let writes = vec![Mutation::SetAccess {
            key: "grant:g".into(),
            value: b"mine".to_vec(),
        }];
        journal.before_write(&store, &writes).unwrap();
        store.commit(writes.clone()).unwrap();
        journal.written(&writes);
        store
            .commit(vec![Mutation::ClearAccess {
                key: "grant:g".into(),
            }])
            .unwrap();
        assert!(matches!(
            journal.undo(&store, &Origin::default()),
            Err(UndoError::ChangedMeanwhile(what)) if what.contains("grant:g")
        ));
    }
}
