//! On whose behalf a change is made. A follower node does not commit its clients' changes itself: it forwards
//! them to the sequencer, whose audit log must still name the client, not the node. The engine hands the
//! caller of each batch item to the store with the change (`ZonedStore::commit_for`); the node link sends it
//! with the forwarded commit, and the sequencer records it, trusting it only because the forwarding node proved
//! with its node certificate that it is one of its followers.

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
