//! Forwarded commits applied once. A follower node sends its clients' changes to the sequencer; when the
//! answer does not come back (a broken connection, a timeout) the follower sends the same message again, and
//! the first one may well have been committed. Each forwarded commit carries a random request id; the
//! sequencer remembers the outcome of the most recent ids (a bounded number, `remembered_commits` of
//! `[node]`) and answers a repeat with the first outcome — the same sequence number, or the same refusal —
//! instead of committing it a second time. A repeat that arrives while the first is still being committed
//! waits for it (at most the node timeout).

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::store::StoreError;

/// A forwarded commit's request id.
pub type RequestId = [u8; 16];

/// Default of how many forwarded commits' outcomes the sequencer remembers.
pub const DEFAULT_REMEMBERED_COMMITS: usize = 10_000;

enum Slot {
    /// Being committed by the first arrival.
    Running,
    /// Its outcome.
    Done(Result<u64, StoreError>),
}

#[derive(Default)]
struct Table {
    slots: HashMap<RequestId, Slot>,
    /// Ids in arrival order: the oldest is forgotten first.
    order: VecDeque<RequestId>,
}

/// The outcomes of the most recent forwarded commits, by request id.
pub struct RecentCommits {
    limit: usize,
    wait: Duration,
    table: Mutex<Table>,
    finished: Condvar,
}

impl RecentCommits {
    /// Remembers at most `limit` (at least 1) outcomes; a repeat waits at most `wait` for a running first.
    pub fn new(limit: usize, wait: Duration) -> RecentCommits {
        RecentCommits {
            limit: limit.max(1),
            wait,
            table: Mutex::new(Table::default()),
            finished: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `commit` for request `id` unless that id was seen: then answers what its first run answered.
    pub fn run_once(
        &self,
        id: RequestId,
        commit: impl FnOnce() -> Result<u64, StoreError>,
    ) -> Result<u64, StoreError> {
        let deadline = Instant::now() + self.wait;
        let mut table = self.lock();
        loop {
            match table.slots.get(&id) {
                Some(Slot::Done(outcome)) => return replay(outcome),
                Some(Slot::Running) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(StoreError::GroupCommit(
                            "this change is still being committed by its first delivery; its outcome is \
                             unknown yet"
                                .into(),
                        ));
                    }
                    table = self
                        .finished
                        .wait_timeout(table, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                None => break,
            }
        }
        table.slots.insert(id, Slot::Running);
        table.order.push_back(id);
        while table.order.len() > self.limit {
            if let Some(old) = table.order.pop_front() {
                table.slots.remove(&old);
            }
        }
        drop(table);
        let outcome = commit();
        let answer = replay(&outcome);
        let mut table = self.lock();
        // Forgotten meanwhile (more than `limit` newer ids arrived): nothing to record.
        if let Some(slot) = table.slots.get_mut(&id) {
            *slot = Slot::Done(outcome);
        }
        drop(table);
        self.finished.notify_all();
        answer
    }

    /// How many outcomes are remembered now.
    pub fn len(&self) -> usize {
        self.lock().order.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn replay(outcome: &Result<u64, StoreError>) -> Result<u64, StoreError> {
    match outcome {
        Ok(seq) => Ok(*seq),
        Err(e) => Err(e.duplicate()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_repeated_id_is_committed_once_and_answered_alike() {
        let recent = RecentCommits::new(8, Duration::from_secs(5));
        let runs = AtomicUsize::new(0);
        let commit = |seq| {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(seq)
        };
        assert_eq!(recent.run_once([1; 16], || commit(10)).unwrap(), 10);
        // The repeat answers the first sequence number; its own closure never runs.
        assert_eq!(recent.run_once([1; 16], || commit(11)).unwrap(), 10);
        assert_eq!(recent.run_once([2; 16], || commit(12)).unwrap(), 12);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // A refusal is answered again as the same refusal (nothing committed on the repeat either).
        let conflict = || {
            Err(StoreError::VersionConflict {
                uid: "k".into(),
                expected: 3,
                found: Some(4),
            })
        };
        assert!(
            recent
                .run_once([3; 16], conflict)
                .unwrap_err()
                .is_version_conflict()
        );
        let again = recent.run_once([3; 16], || commit(13));
        assert!(again.unwrap_err().is_version_conflict());
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn only_the_most_recent_ids_are_remembered() {
        let recent = RecentCommits::new(3, Duration::from_secs(5));
        for i in 0..5u8 {
            recent.run_once([i; 16], || Ok(u64::from(i))).unwrap();
        }
        assert_eq!(recent.len(), 3);
        // The two oldest were forgotten: they run again; the newest are still answered from memory.
        assert_eq!(recent.run_once([0; 16], || Ok(100)).unwrap(), 100);
        assert_eq!(recent.run_once([4; 16], || Ok(100)).unwrap(), 4);
        assert_eq!(recent.len(), 3);
    }

    #[test]
    fn a_repeat_arriving_during_the_first_run_waits_for_its_outcome() {
        let recent = Arc::new(RecentCommits::new(8, Duration::from_secs(20)));
        let (entered_tx, entered_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let first = {
            let recent = recent.clone();
            std::thread::spawn(move || {
                recent.run_once([9; 16], move || {
                    entered_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    Ok(77)
                })
            })
        };
        entered_rx.recv().unwrap();
        let second = {
            let recent = recent.clone();
            std::thread::spawn(move || recent.run_once([9; 16], || Ok(78)))
        };
        release_tx.send(()).unwrap();
        assert_eq!(first.join().unwrap().unwrap(), 77);
        assert_eq!(second.join().unwrap().unwrap(), 77);
    }

    #[test]
    fn a_repeat_gives_up_after_its_wait_while_the_first_still_runs() {
        let recent = Arc::new(RecentCommits::new(8, Duration::ZERO));
        let (entered_tx, entered_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let first = {
            let recent = recent.clone();
            std::thread::spawn(move || {
                recent.run_once([5; 16], move || {
                    entered_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    Ok(1)
                })
            })
        };
        entered_rx.recv().unwrap();
        let err = recent.run_once([5; 16], || Ok(2)).unwrap_err();
        assert!(err.to_string().contains("still being committed"), "{err}");
        release_tx.send(()).unwrap();
        assert_eq!(first.join().unwrap().unwrap(), 1);
        assert_eq!(recent.run_once([5; 16], || Ok(3)).unwrap(), 1);
    }
}
