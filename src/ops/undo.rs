//! Batch Error Continuation Option Undo (1.4 section 6.13, 2.1 section 6.1 "Batch Error Continuation Option"):
//! when an item of such a batch fails, the effects of the items before it are undone and those items are
//! answered Operation Undone.
//!
//! Every item commits its changes as it runs (each one durable transaction, as for any batch). While an Undo
//! batch runs, [`UndoJournal`] keeps the pre-image of every object the batch writes, taken just before the
//! batch's first write to it, and the record the batch wrote last. Undoing commits the compensating changes —
//! the pre-images back, objects the batch created deleted — in one transaction. An object another request
//! changed in the meantime is not overwritten: the undo is then refused as a whole and the earlier items keep
//! their Success, so the answer never claims an undo that did not happen.

use std::cell::RefCell;

use crate::kmip::KmipError;
use crate::replication::ZonedStore;
use crate::store::{Mutation, ObjectRecord, StoreError};

/// What an Undo batch has written so far.
#[derive(Debug, Default)]
pub struct UndoJournal {
    entries: RefCell<Vec<Entry>>,
}

#[derive(Debug)]
struct Entry {
    uid: String,
    /// The object before the batch touched it; `None` when the batch created it.
    before: Option<ObjectRecord>,
    /// The record the batch's latest successful write stored; `None` until one succeeds.
    after: Option<ObjectRecord>,
}

/// Why a batch's changes could not be undone.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    /// Another request changed an object the batch had changed; undoing would lose that change.
    #[error("object {0:?} was changed by another request after this batch changed it")]
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

impl UndoJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the batch has written anything.
    pub fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }

    /// Records the pre-images of `records` (the first time the batch writes each) before they are committed.
    pub fn before_write(
        &self,
        store: &ZonedStore,
        records: &[ObjectRecord],
    ) -> Result<(), KmipError> {
        let mut entries = self.entries.borrow_mut();
        for record in records {
            if entries.iter().any(|e| e.uid == record.uid) {
                continue;
            }
            let before = store.get(&record.uid).map_err(|e| e.to_kmip())?;
            entries.push(Entry {
                uid: record.uid.clone(),
                before,
                after: None,
            });
        }
        Ok(())
    }

    /// Notes that `records` were committed.
    pub fn written(&self, records: &[ObjectRecord]) {
        let mut entries = self.entries.borrow_mut();
        for record in records {
            if let Some(entry) = entries.iter_mut().find(|e| e.uid == record.uid) {
                entry.after = Some(comparable(record));
            }
        }
    }

    /// The compensating changes, checked against the store's current records.
    fn compensations(&self, store: &ZonedStore) -> Result<Vec<Mutation>, UndoError> {
        let entries = self.entries.borrow();
        let mut mutations = Vec::with_capacity(entries.len());
        for entry in entries.iter().rev() {
            let Some(after) = &entry.after else {
                continue;
            };
            let current = store
                .get(&entry.uid)
                .map_err(|e| UndoError::Store(e.to_string()))?;
            if current.as_ref().map(comparable).as_ref() != Some(after) {
                return Err(UndoError::ChangedMeanwhile(entry.uid.clone()));
            }
            // Compared-and-set against the version just read: a change made after this check also refuses.
            let version = current.map_or(0, |c| c.version);
            mutations.push(match &entry.before {
                Some(before) => Mutation::Put(ObjectRecord {
                    version,
                    ..before.clone()
                }),
                None => Mutation::Delete {
                    uid: entry.uid.clone(),
                    version,
                },
            });
        }
        Ok(mutations)
    }

    /// Undoes everything the batch wrote, in one commit.
    pub fn undo(&self, store: &ZonedStore) -> Result<(), UndoError> {
        let mutations = self.compensations(store)?;
        if mutations.is_empty() {
            return Ok(());
        }
        store.commit(mutations).map(|_| ()).map_err(|e| match e {
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
        let writes = [record(&store, "old", 2), record(&store, "new", 1)];
        journal.before_write(&store, &writes).unwrap();
        store
            .commit(writes.iter().cloned().map(Mutation::Put).collect())
            .unwrap();
        journal.written(&writes);
        // A second write of the same object keeps the first pre-image.
        let again = [record(&store, "old", 3)];
        journal.before_write(&store, &again).unwrap();
        store.commit(vec![Mutation::Put(again[0].clone())]).unwrap();
        journal.written(&again);
        journal.undo(&store).unwrap();
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
        let writes = [record(&store, "k", 2)];
        journal.before_write(&store, &writes).unwrap();
        store
            .commit(vec![Mutation::Put(writes[0].clone())])
            .unwrap();
        journal.written(&writes);
        // Another request's change.
        store
            .commit(vec![Mutation::Put(record(&store, "k", 3))])
            .unwrap();
        assert!(matches!(
            journal.undo(&store),
            Err(UndoError::ChangedMeanwhile(uid)) if uid == "k"
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
            .before_write(&store, &[record(&store, "never", 1)])
            .unwrap();
        journal.undo(&store).unwrap();
        assert!(store.get("never").unwrap().is_none());
    }
}
