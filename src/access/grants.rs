//! Object ownership and grants as the store keeps them: access entries written through [`Store::commit`], so
//! they are durable and travel in the change stream to replicas like any other change.
//!
//! Keys: `owner:<uid>` holds the owner's identity; `grant:<id>` holds a [`Grant`] as JSON.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::replication::ZonedStore;
use crate::store::{Mutation, StoreError};

use super::policy::{OpClass, Subject};

const OWNER_PREFIX: &str = "owner:";
const GRANT_PREFIX: &str = "grant:";

/// What a grant applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum Target {
    /// One object, by Unique Identifier.
    Object(String),
    /// Every object carrying this Object Group.
    ObjectGroup(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Object(uid) => write!(f, "object:{uid}"),
            Target::ObjectGroup(g) => write!(f, "object-group:{g}"),
        }
    }
}

/// A right given by an owner or an administrator: `subject` may do `classes` on `target`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The grant's identifier, for revocation.
    pub id: String,
    /// Who receives it.
    pub subject: Subject,
    /// What it covers.
    pub target: Target,
    /// The operation classes it allows.
    pub classes: Vec<OpClass>,
    /// Who granted it.
    pub granted_by: String,
}

/// The owner of `uid`, if one was recorded.
pub fn owner(store: &ZonedStore, uid: &str) -> Result<Option<String>, StoreError> {
    Ok(store
        .access_entry(&format!("{OWNER_PREFIX}{uid}"))?
        .and_then(|v| String::from_utf8(v).ok()))
}

/// The recorded owners of those of `uids` that have one, read in a few set-based queries (Locate filters a
/// whole answer at once).
pub fn owners(store: &ZonedStore, uids: &[String]) -> Result<HashMap<String, String>, StoreError> {
    let keys: Vec<String> = uids.iter().map(|u| format!("{OWNER_PREFIX}{u}")).collect();
    Ok(store
        .access_entries_for(&keys)?
        .into_iter()
        .filter_map(|(key, value)| {
            let uid = key.strip_prefix(OWNER_PREFIX)?.to_string();
            Some((uid, String::from_utf8(value).ok()?))
        })
        .collect())
}

/// The mutation that records `identity` as the owner of `uid`.
pub fn set_owner(uid: &str, identity: &str) -> Mutation {
    Mutation::SetAccess {
        key: format!("{OWNER_PREFIX}{uid}"),
        value: identity.as_bytes().to_vec(),
    }
}

/// Every grant, in identifier order. Entries that do not parse are skipped (and logged): a damaged grant
/// gives no right.
pub fn all(store: &ZonedStore) -> Result<Vec<Grant>, StoreError> {
    let mut out = Vec::new();
    for (key, value) in store.access_entries(GRANT_PREFIX)? {
        match serde_json::from_slice::<Grant>(&value) {
            Ok(g) => out.push(g),
            Err(e) => tracing::warn!(%key, error = %e, "unreadable grant ignored"),
        }
    }
    Ok(out)
}

/// The grant `id`, if it exists.
pub fn get(store: &ZonedStore, id: &str) -> Result<Option<Grant>, StoreError> {
    Ok(store
        .access_entry(&format!("{GRANT_PREFIX}{id}"))?
        .and_then(|v| serde_json::from_slice(&v).ok()))
}

/// The mutation that stores a grant (the engine commits it so that a batch with Undo can undo it).
pub fn put_mutation(grant: &Grant) -> Result<Mutation, StoreError> {
    let value = serde_json::to_vec(grant).map_err(|_| StoreError::Internal("grant encoding"))?;
    Ok(Mutation::SetAccess {
        key: format!("{GRANT_PREFIX}{}", grant.id),
        value,
    })
}

/// The mutation that removes grant `id`.
pub fn remove_mutation(id: &str) -> Mutation {
    Mutation::ClearAccess {
        key: format!("{GRANT_PREFIX}{id}"),
    }
}

/// Stores a grant (one durable change).
pub fn put(store: &ZonedStore, grant: &Grant) -> Result<(), StoreError> {
    store.commit(vec![put_mutation(grant)?])?;
    Ok(())
}

/// Removes grant `id` (one durable change).
pub fn remove(store: &ZonedStore, id: &str) -> Result<(), StoreError> {
    store.commit(vec![remove_mutation(id)])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MasterKey, Store};
    use std::sync::Arc;

    #[test]
    fn owners_and_grants_persist_and_join_the_change_stream() {
        let dir = tempfile::tempdir().unwrap();
        let store = ZonedStore::single(Arc::new(
            Store::open(&dir.path().join("s.sqlite"), MasterKey::from_bytes([7; 32])).unwrap(),
        ))
        .unwrap();
        store.commit(vec![set_owner("k1", "alice")]).unwrap();
        let grant = Grant {
            id: "g1".into(),
            subject: Subject::Group("ops".into()),
            target: Target::ObjectGroup("payroll".into()),
            classes: vec![OpClass::Get, OpClass::Use],
            granted_by: "root".into(),
        };
        put(&store, &grant).unwrap();
        assert_eq!(owner(&store, "k1").unwrap().as_deref(), Some("alice"));
        assert_eq!(owner(&store, "k2").unwrap(), None);
        assert_eq!(all(&store).unwrap(), vec![grant.clone()]);
        assert_eq!(get(&store, "g1").unwrap(), Some(grant));

        // A replica that applies the stream ends up with the same entries.
        let replica_dir = tempfile::tempdir().unwrap();
        let replica = Store::open(
            &replica_dir.path().join("r.sqlite"),
            MasterKey::from_bytes([7; 32]),
        )
        .unwrap();
        remove(&store, "g1").unwrap();
        for change in store.changes_since(0, 100).unwrap() {
            replica.apply_change(&change).unwrap();
        }
        let replica = ZonedStore::single(Arc::new(replica)).unwrap();
        assert_eq!(owner(&replica, "k1").unwrap().as_deref(), Some("alice"));
        assert!(all(&replica).unwrap().is_empty());
        assert!(all(&store).unwrap().is_empty());
    }

    #[test]
    fn owners_of_many_objects_are_read_across_query_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = ZonedStore::single(Arc::new(
            Store::open(&dir.path().join("s.sqlite"), MasterKey::from_bytes([7; 32])).unwrap(),
        ))
        .unwrap();
        // More than two chunks of uids; every third has no owner.
        let uids: Vec<String> = (0..1_234).map(|i| format!("k{i}")).collect();
        let owned: Vec<Mutation> = uids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(i, uid)| set_owner(uid, &format!("user-{}", i % 7)))
            .collect();
        store.commit(owned).unwrap();
        let read = owners(&store, &uids).unwrap();
        for uid in &uids {
            assert_eq!(read.get(uid).cloned(), owner(&store, uid).unwrap(), "{uid}");
        }
        assert_eq!(read.len(), uids.len() - uids.len().div_ceil(3));
        assert!(owners(&store, &[]).unwrap().is_empty());
    }
}
