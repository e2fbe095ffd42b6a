//! The engine's side of access control: before each batch item, gathers what the policy needs (the object the
//! item names, its owner, its Object Groups, the grants) and asks it; while the item runs, makes the caller the
//! owner of what it creates; for Locate, keeps only what the caller may see. The other objects an item
//! references (wrapping keys, Link targets, Object Groups) are read and authorized by `gate`. An object the
//! caller has no right on at all is answered exactly as a missing one.
//!
//! What the checks read is kept for the rest of the request message in an [`AccessCache`]: the caller's
//! grants once, each object's owner (and Object Groups, when the caller's rules or grants turn on them) once,
//! until an item that may change them runs. A batch of N Gets reads the grants once, not N times. The cache is a
//! snapshot per request: a grant revoked by another connection while a batch runs applies from the next request.

use std::collections::HashMap;

use crate::access::grants::{self, Grant};
use crate::access::policy::{Decision, Need, ObjectFacts, OpClass, Policy, Principal};
use crate::kmip::{KmipError, Operation, RequestBatchItem};
use crate::replication::ZonedStore;
use crate::spec::tag;
use crate::store::Mutation;

use super::OpContext;
use super::descriptor::{self, Effect};
use super::gate::{self, Missing, Right};
use super::object::Managed;
use crate::kmip::attributes::{AttributeName, attribute_storage_name};

/// What the access checks of one request message have read from the store, kept for its later items so that a
/// batch does not read the same grants, owners and Object Groups once per item. Valid only for one principal
/// (that of the request) and only until an item that may change them: [`AccessCache::after`] clears it.
#[derive(Debug, Default)]
pub(crate) struct AccessCache {
    /// The grants whose subject covers the principal; None until first needed.
    grants: Option<Vec<Grant>>,
    /// Whether some rule or grant of the principal turns on Object Groups (known with `grants`); when not,
    /// objects' Object Groups are not read.
    needs_groups: bool,
    /// The facts of objects found to exist, by Unique Identifier.
    facts: HashMap<String, ObjectFacts>,
    /// Store reads made through the cache, so tests can see what it saves.
    #[cfg(test)]
    reads: usize,
}

impl AccessCache {
    /// Keeps what was read if `operation` cannot have changed it (its descriptor's effect), else forgets it.
    pub(crate) fn after(&mut self, operation: Operation) {
        let keeps =
            descriptor::of(operation).is_some_and(|d| d.effect != Effect::ChangesAccessFacts);
        if !keeps {
            self.grants = None;
            self.needs_groups = false;
            self.facts.clear();
        }
    }

    /// Store reads made through the cache so far.
    #[cfg(test)]
    pub(super) fn reads(&self) -> usize {
        self.reads
    }

    fn note_read(&mut self) {
        #[cfg(test)]
        {
            self.reads += 1;
        }
    }

    /// Reads the principal's grants unless already read in this request.
    fn load_grants(
        &mut self,
        store: &ZonedStore,
        policy: &Policy,
        principal: &Principal,
    ) -> Result<(), KmipError> {
        if self.grants.is_none() {
            self.note_read();
            let mine: Vec<Grant> = grants::all(store)
                .map_err(|e| e.to_kmip())?
                .into_iter()
                .filter(|g| g.subject.covers(principal))
                .collect();
            self.needs_groups = policy.depends_on_groups(principal, &mine);
            self.grants = Some(mine);
        }
        Ok(())
    }

    /// Reads whether `uid` exists and, if so, its owner and (when decisions turn on them) Object Groups, unless
    /// already known in this request. False: no such object.
    fn load_facts(&mut self, store: &ZonedStore, uid: &str) -> Result<bool, KmipError> {
        if self.facts.contains_key(uid) {
            return Ok(true);
        }
        self.note_read();
        if !store.exists(uid).map_err(|e| e.to_kmip())? {
            // The same reads an existing object costs, their answers unused: a missing object and one the
            // caller may not see take the same time to refuse.
            self.note_read();
            grants::owner(store, uid)?;
            if self.needs_groups {
                self.note_read();
                store.attribute_texts(uid, &object_group_storage_name())?;
            }
            return Ok(false);
        }
        self.note_read();
        let owner = grants::owner(store, uid).map_err(|e| e.to_kmip())?;
        let groups = if self.needs_groups {
            self.note_read();
            store
                .attribute_texts(uid, &object_group_storage_name())
                .map_err(|e| e.to_kmip())?
        } else {
            Vec::new()
        };
        self.facts.insert(
            uid.to_string(),
            ObjectFacts {
                uid: uid.to_string(),
                owner,
                groups,
            },
        );
        Ok(true)
    }

    /// The policy's decision on `class` for `uid`; None when no object has that identifier.
    fn decide(
        &mut self,
        store: &ZonedStore,
        policy: &Policy,
        principal: &Principal,
        uid: &str,
        class: OpClass,
    ) -> Result<Option<Decision>, KmipError> {
        self.load_grants(store, policy, principal)?;
        if !self.load_facts(store, uid)? {
            return Ok(None);
        }
        let grants = self.grants.as_deref().unwrap_or_default();
        Ok(self
            .facts
            .get(uid)
            .map(|facts| policy.decide(principal, facts, class, grants)))
    }
}

/// Checks that the principal may run `item`; on the way, names the objects it refers to (for the audit log)
/// and sets who will own what it creates.
pub(super) fn check(
    item: &RequestBatchItem,
    ctx: &mut OpContext<'_>,
    objects: &mut Vec<String>,
) -> Result<(), KmipError> {
    ctx.new_owner = None;
    let need = descriptor::need(item.operation);
    let named = match (need, &item.payload) {
        (Need::Object(_), Some(payload)) => ctx
            .batch
            .resolve(payload.child(tag::UNIQUE_IDENTIFIER))
            .ok(),
        _ => None,
    };
    objects.extend(named.iter().cloned());
    let Some(principal) = ctx.principal.clone() else {
        // In-process callers are not subject to the policy and own nothing.
        return Ok(());
    };
    let denied = || {
        KmipError::permission_denied(format!(
            "{:?} may not use {} under the access policy",
            principal.identity, item.operation
        ))
    };
    if need != Need::Open && !principal.known {
        return Err(denied());
    }
    match need {
        Need::Open | Need::Known => Ok(()),
        Need::Administrator if principal.administrator => Ok(()),
        Need::Administrator => Err(denied()),
        Need::Create => {
            let groups = item
                .payload
                .as_ref()
                .map(gate::requested_groups)
                .unwrap_or_default();
            if !ctx.config.access.policy.may_create(&principal, &groups) {
                return Err(KmipError::permission_denied(format!(
                    "{:?} may not create objects{}",
                    principal.identity,
                    if groups.is_empty() {
                        String::new()
                    } else {
                        format!(" in Object Group {}", groups.join(", "))
                    }
                )));
            }
            references(item, ctx, &principal, objects)?;
            ctx.new_owner = Some(principal.identity.clone());
            Ok(())
        }
        Need::Object(class) => {
            if let Some(uid) = &named {
                object_allowed(ctx, &principal, uid, class)?;
            }
            // The other objects the request references (`gate`), each with the right it needs.
            references(item, ctx, &principal, objects)?;
            let Some(uid) = named else {
                // The operation itself reports the missing or unresolvable identifier.
                return Ok(());
            };
            if descriptor::of(item.operation).is_some_and(|d| d.derives) {
                let owner = match ctx.access_cache.facts.get(&uid) {
                    Some(facts) => facts.owner.clone(),
                    None => grants::owner(ctx.store, &uid).map_err(|e| e.to_kmip())?,
                };
                ctx.new_owner = owner.or_else(|| Some(principal.identity.clone()));
            }
            Ok(())
        }
    }
}

/// Authorizes what the gate reads from the item's request (the descriptor's `carries`).
fn references(
    item: &RequestBatchItem,
    ctx: &mut OpContext<'_>,
    principal: &Principal,
    objects: &mut Vec<String>,
) -> Result<(), KmipError> {
    let Some(payload) = &item.payload else {
        return Ok(());
    };
    let asks = gate::asks(item.operation, payload, ctx);
    gate::authorize(ctx, principal, &asks, objects)
}

/// Whether `principal` may do `class` on `uid`: Ok, Permission Denied for a visible object, and for an
/// invisible one the very error a missing object gets.
pub(super) fn object_allowed(
    ctx: &mut OpContext<'_>,
    principal: &Principal,
    uid: &str,
    class: OpClass,
) -> Result<(), KmipError> {
    reference_allowed(ctx, principal, uid, Right::Class(class), Missing::Object)
}

/// Whether `principal` holds `right` on `uid`: Ok, Permission Denied for a visible object, and for an invisible
/// one the very error a missing one gets (`missing`).
pub(super) fn reference_allowed(
    ctx: &mut OpContext<'_>,
    principal: &Principal,
    uid: &str,
    right: Right,
    missing: Missing,
) -> Result<(), KmipError> {
    if principal.administrator {
        return Ok(());
    }
    // A missing object is refused here too, before the operation looks at the rest of the payload, so that a
    // missing and a hidden object get the very same answer whatever else the request holds.
    let store = ctx.store;
    let policy = &*ctx.config.access.policy;
    let decision = match right {
        Right::Class(class) => ctx
            .access_cache
            .decide(store, policy, principal, uid, class)?,
        Right::See => {
            let mut seen = None;
            for class in OpClass::ON_OBJECTS {
                seen = ctx
                    .access_cache
                    .decide(store, policy, principal, uid, class)?;
                if seen != Some(Decision::Deny) {
                    break;
                }
            }
            // Some class is held (Deny on every other one means the object is visible).
            seen.map(|d| {
                if d == Decision::Hidden {
                    d
                } else {
                    Decision::Allow
                }
            })
        }
    };
    match decision {
        Some(Decision::Allow) => Ok(()),
        Some(Decision::Deny) => Err(KmipError::permission_denied(format!(
            "{:?} may not {} object {uid:?}",
            principal.identity,
            match right {
                Right::Class(class) => class.name(),
                Right::See => "see",
            }
        ))),
        Some(Decision::Hidden) | None => Err(missing.error(uid)),
    }
}

/// What Locate returns: only the objects the principal may see, in the given order.
pub(super) fn visible(ctx: &OpContext<'_>, uids: Vec<String>) -> Result<Vec<String>, KmipError> {
    let Some(principal) = &ctx.principal else {
        return Ok(uids);
    };
    if principal.administrator {
        return Ok(uids);
    }
    if !principal.known {
        return Ok(Vec::new());
    }
    let all_grants = grants::all(ctx.store).map_err(|e| e.to_kmip())?;
    let policy = &ctx.config.access.policy;
    // The owners (and, when some rule or grant of this caller turns on them, the Object Groups) of every
    // candidate, in a few set-based reads rather than two per object.
    let mut owners = grants::owners(ctx.store, &uids).map_err(|e| e.to_kmip())?;
    let mut groups = if policy.depends_on_groups(principal, &all_grants) {
        ctx.store
            .attribute_texts_of(&uids, &object_group_storage_name())
            .map_err(|e| e.to_kmip())?
    } else {
        HashMap::new()
    };
    let mut kept = Vec::with_capacity(uids.len());
    for uid in uids {
        let facts = ObjectFacts {
            owner: owners.remove(&uid),
            groups: groups.remove(&uid).unwrap_or_default(),
            uid,
        };
        // Any right on the object will do (Create is none): Locate reveals the object, not its contents.
        if OpClass::ON_OBJECTS
            .iter()
            .any(|c| policy.decide(principal, &facts, *c, &all_grants) == Decision::Allow)
        {
            kept.push(facts.uid);
        }
    }
    Ok(kept)
}

/// The owner mutations for objects `save` is about to store when the running item creates objects.
pub(super) fn ownership(
    ctx: &OpContext<'_>,
    objects: &[&Managed],
) -> Result<Vec<Mutation>, KmipError> {
    let Some(owner) = &ctx.new_owner else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for m in objects {
        if grants::owner(ctx.store, &m.uid)
            .map_err(|e| e.to_kmip())?
            .is_none()
        {
            out.push(grants::set_owner(&m.uid, owner));
        }
    }
    Ok(out)
}

/// The facts the policy decides on.
pub(super) fn facts(ctx: &OpContext<'_>, uid: &str) -> Result<ObjectFacts, KmipError> {
    let owner = grants::owner(ctx.store, uid).map_err(|e| e.to_kmip())?;
    let groups = ctx
        .store
        .attribute_texts(uid, &object_group_storage_name())
        .map_err(|e| e.to_kmip())?;
    Ok(ObjectFacts {
        uid: uid.to_string(),
        owner,
        groups,
    })
}

/// The name the store indexes Object Group under.
fn object_group_storage_name() -> String {
    attribute_storage_name(&AttributeName::Standard(tag::OBJECT_GROUP))
}
