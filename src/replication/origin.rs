//! On whose behalf a change is made. A follower node does not commit its clients' changes itself: it forwards
//! them to the sequencer, whose audit log must still name the client, not the node. The engine marks the
//! thread running a batch item with the caller ([`Origin::enter`]); the node link reads that mark
//! ([`Origin::current`]) when it forwards a commit, and the sequencer records it, trusting it only because the
//! forwarding node proved with its node certificate that it is one of its followers.

use std::cell::RefCell;

/// The caller of a change: its identity, where it connected from and the operation it asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// The principal's identity (as the follower's audit line records it); empty when no client asked.
    pub identity: String,
    /// The client's TCP peer address, as the follower saw it.
    pub source: String,
    /// The KMIP operation's name.
    pub operation: String,
}

thread_local! {
    static CURRENT: RefCell<Option<Origin>> = const { RefCell::new(None) };
}

/// Clears the thread's mark when the batch item ends (restoring any outer one).
#[must_use = "the origin is cleared when this is dropped"]
pub struct OriginScope {
    previous: Option<Origin>,
}

impl Drop for OriginScope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

impl Origin {
    /// Marks this thread as working for `self` until the returned scope is dropped.
    pub fn enter(self) -> OriginScope {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self));
        OriginScope { previous }
    }

    /// The caller this thread works for, or an empty origin (a change no client asked for).
    pub fn current() -> Origin {
        CURRENT.with(|c| c.borrow().clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(identity: &str) -> Origin {
        Origin {
            identity: identity.into(),
            source: "127.0.0.1:1".into(),
            operation: "Create".into(),
        }
    }

    #[test]
    fn the_mark_lasts_for_its_scope_and_nests() {
        assert_eq!(Origin::current(), Origin::default());
        {
            let _outer = origin("alice").enter();
            assert_eq!(Origin::current().identity, "alice");
            {
                let _inner = origin("bob").enter();
                assert_eq!(Origin::current().identity, "bob");
            }
            assert_eq!(Origin::current().identity, "alice");
            let other = std::thread::spawn(Origin::current).join().unwrap();
            assert_eq!(other, Origin::default(), "another thread is not marked");
        }
        assert_eq!(Origin::current(), Origin::default());
    }
}
