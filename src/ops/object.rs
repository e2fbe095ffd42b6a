//! A managed object as the operations see it — identifier, type, state, archive flag, the object's TTLV and its
//! attribute instances — and the one place that loads it from and saves it to the store. Loading applies the
//! dates that have passed (`kmip::state::effective_state`), so every operation sees the state as of now.

use crate::kmip::attributes::{self, Attribute, AttributeName, Attributes};
use crate::kmip::object::ManagedObject;
use crate::kmip::operations::ObjectRef;
use crate::kmip::state::{self, LifecycleDates, State};
use crate::kmip::{KmipError, ResultReason};
use crate::spec::tag;
use crate::store::{AttributeRecord, Mutation, ObjectRecord, StoreError};
use crate::ttlv::{Ttlv, Value};

use super::OpContext;

/// A managed object, loaded.
#[derive(Clone, Debug)]
pub struct Managed {
    /// Unique Identifier.
    pub uid: String,
    /// Object Type enumeration value.
    pub object_type: u32,
    /// The state as of the request's time.
    pub state: State,
    /// Moved to archival storage by Archive.
    pub archived: bool,
    /// The object itself (key block, certificate, ...); `None` once destroyed.
    pub object: Option<ManagedObject>,
    /// Every attribute instance, in order; an instance's index is its position among instances of its name.
    pub attrs: Attributes,
    /// The store's version of the object when it was loaded (0: not stored yet). Saving is a compare-and-set
    /// against it: when another request wrote the object meanwhile, the save is refused and nothing is
    /// written (`StoreError::VersionConflict`).
    pub version: u64,
}

impl Managed {
    /// The first instance of a standard attribute.
    pub fn get(&self, t: u32) -> Option<&Ttlv> {
        self.attrs
            .get(&AttributeName::Standard(t))
            .map(|a| &a.value)
    }

    /// A standard date attribute's value.
    pub fn date(&self, t: u32) -> Option<i64> {
        match self.attrs.get_value(t) {
            Some(Value::DateTime(d)) => Some(*d),
            _ => None,
        }
    }

    /// A standard boolean attribute's value.
    pub fn flag(&self, t: u32) -> Option<bool> {
        match self.attrs.get_value(t) {
            Some(Value::Boolean(b)) => Some(*b),
            _ => None,
        }
    }

    /// Sets a single-instance standard attribute, replacing the value it had.
    pub fn set(&mut self, t: u32, value: Value) {
        self.attrs.set(Attribute::standard(t, value));
    }

    /// Removes every instance of a standard attribute.
    pub fn remove(&mut self, t: u32) {
        self.attrs.remove_all(&AttributeName::Standard(t));
    }

    /// Moves the object to `state` and records it in the State attribute.
    pub fn set_state(&mut self, state: State) {
        self.state = state;
        self.set(tag::STATE, Value::Enumeration(state.code()));
    }

    /// Applies an event through the state machine, or fails with the reason it prescribes.
    pub fn apply(&mut self, event: state::Event) -> Result<(), KmipError> {
        match state::transition(self.state, event) {
            state::Outcome::To(next) => {
                self.set_state(next);
                Ok(())
            }
            state::Outcome::Stays => Ok(()),
            state::Outcome::Refused(reason) => Err(KmipError::new(
                reason,
                format!(
                    "{event:?} is not permitted for an object in state {}",
                    self.state
                ),
            )),
        }
    }

    /// Re-reads the lifecycle dates and moves the state on to what they imply at `now`.
    pub fn settle(&mut self, now: i64) {
        let dates = LifecycleDates {
            activation: self.date(tag::ACTIVATION_DATE),
            deactivation: self.date(tag::DEACTIVATION_DATE),
        };
        let effective = state::effective_state(self.state, dates, now);
        if effective != self.state {
            self.set_state(effective);
        }
    }

    /// Keeps Always Sensitive and Never Extractable true only while Sensitive stays true and Extractable false.
    pub fn track_sensitivity(&mut self) {
        if self.flag(tag::SENSITIVE) != Some(true) && self.flag(tag::ALWAYS_SENSITIVE) == Some(true)
        {
            self.set(tag::ALWAYS_SENSITIVE, Value::Boolean(false));
        }
        if self.flag(tag::EXTRACTABLE) != Some(false)
            && self.flag(tag::NEVER_EXTRACTABLE) == Some(true)
        {
            self.set(tag::NEVER_EXTRACTABLE, Value::Boolean(false));
        }
    }

    /// Stamps Last Change Date: every operation that changes an object calls this before saving.
    pub fn touch(&mut self, now: i64) {
        self.set(tag::LAST_CHANGE_DATE, Value::DateTime(now));
    }

    /// The record the store keeps.
    pub fn to_record(&self) -> ObjectRecord {
        let mut record = ObjectRecord::new(self.uid.clone(), self.object_type, self.state.code());
        record.archived = self.archived;
        record.version = self.version;
        record.object = self.object.as_ref().map(ManagedObject::to_storage_bytes);
        for (attr, index) in self.attrs.iter_indexed() {
            record.attributes.push(AttributeRecord {
                name: attributes::attribute_storage_name(&attr.name),
                index,
                value: attributes::attribute_storage_value(attr),
                search: attributes::search_key(attr),
            });
        }
        record
    }

    /// The object from its stored record.
    pub fn from_record(record: ObjectRecord) -> Result<Managed, KmipError> {
        let corrupt = |what: String| {
            KmipError::general_failure(format!("stored object is unreadable: {what}"))
        };
        let state = State::from_code(record.state)
            .ok_or_else(|| corrupt(format!("state {}", record.state)))?;
        let object = match &record.object {
            Some(bytes) => Some(ManagedObject::from_storage_bytes(bytes.as_slice())?),
            None => None,
        };
        let mut attrs = Attributes::new();
        for a in &record.attributes {
            attrs.add(attributes::attribute_from_storage(&a.name, &a.value)?);
        }
        Ok(Managed {
            uid: record.uid,
            object_type: record.object_type,
            state,
            archived: record.archived,
            object,
            attrs,
            version: record.version,
        })
    }
}

/// Loads an object as of the request's time, archived or not, with no access check: only for the object the
/// request names (authorized before the operation runs, `authorize::check`) and for the gate's own loader
/// (`gate::load_reference`), through which every other object is loaded.
pub(super) fn load_unchecked(ctx: &OpContext<'_>, uid: &str) -> Result<Managed, KmipError> {
    let record = ctx
        .store
        .get(uid)
        .map_err(|e| e.to_kmip())?
        .ok_or_else(|| {
            KmipError::new(
                ResultReason::ObjectNotFound,
                format!("no object has Unique Identifier {uid:?}"),
            )
        })?;
    let mut managed = Managed::from_record(record)?;
    managed.settle(ctx.now);
    Ok(managed)
}

/// Refuses an archived object with Object Archived (the operations other than Recover do).
pub fn on_line(managed: Managed) -> Result<Managed, KmipError> {
    if managed.archived {
        return Err(KmipError::new(
            ResultReason::ObjectArchived,
            format!("object {:?} is archived; Recover it first", managed.uid),
        ));
    }
    Ok(managed)
}

/// Loads the object a typed request names (or the ID Placeholder), archived or not (Recover).
pub fn load_ref_any(ctx: &OpContext<'_>, named: Option<&ObjectRef>) -> Result<Managed, KmipError> {
    let uid = ctx.batch.resolve_ref(named)?;
    load_unchecked(ctx, &uid)
}

/// Loads the object a typed request names (or the ID Placeholder); archived objects are refused with Object
/// Archived.
pub fn load_ref(ctx: &OpContext<'_>, named: Option<&ObjectRef>) -> Result<Managed, KmipError> {
    on_line(load_ref_any(ctx, named)?)
}

/// Saves objects in one durable transaction.
pub fn save(ctx: &OpContext<'_>, objects: &[&Managed]) -> Result<(), KmipError> {
    // Objects a creating operation makes are owned in the same transaction.
    let ownership = super::authorize::ownership(ctx, objects)?;
    let mut mutations: Vec<Mutation> = objects
        .iter()
        .map(|m| Mutation::Put(m.to_record()))
        .collect();
    mutations.extend(ownership);
    commit(ctx, mutations).map_err(|e| e.to_kmip())
}

/// Commits `mutations` (objects and access entries alike) in one durable transaction; under Batch Error
/// Continuation Option Undo the journal first keeps what each one replaces (`undo`). Every write an operation
/// makes goes through here.
pub fn commit(ctx: &OpContext<'_>, mutations: Vec<Mutation>) -> Result<(), StoreError> {
    let Some(journal) = ctx.undo else {
        return ctx.store.commit_for(&ctx.origin(), mutations).map(|_| ());
    };
    journal.before_write(ctx.store, &mutations)?;
    ctx.store.commit_for(&ctx.origin(), mutations.clone())?;
    journal.written(&mutations);
    Ok(())
}
