//! The gate for every object a request item references besides the one it names: a wrapping key in a Key
//! Wrapping Specification, the key named in a registered Key Block's Key Wrapping Data, the target of a Link
//! set on an object, the Object Group an object is put into. Which of these an operation's request can carry
//! is declared per operation in its descriptor (`descriptor::Descriptor::carries`); before the
//! operation runs, [`authorize`] resolves each one and asks the policy for the right it needs. While it runs, an
//! operation loads a second object only through [`load_reference`], which asks again (answered from the
//! request's access cache), so a reference found only in stored data (the key that wrapped a stored key, the
//! key of an open stream) is authorized too.
//!
//! A reference the caller may not see is answered exactly as a missing one: the same Result Reason and
//! message. In-process callers (no principal) are not restricted.

use crate::access::policy::{OpClass, Principal};
use crate::kmip::attributes::{Attribute, AttributeName};
use crate::kmip::operations::attributes::changed_attribute;
use crate::kmip::{KmipError, Operation, ResultReason};
use crate::spec::enums::key_wrap_type;
use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

use super::OpContext;
use super::authorize;
use super::descriptor;
use super::object::{self, Managed};
use super::register::OBJECT_TAGS;

/// The right a reference needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Right {
    /// The operation class on the referenced object.
    Class(OpClass),
    /// Any right at all: the caller may know the object exists (a Link target).
    See,
}

/// How a missing (or invisible) reference is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Object Not Found.
    Object,
    /// Wrapping Object Not Found (a wrapping or unwrapping key).
    WrappingObject,
}

impl Missing {
    /// The error a reference to `uid` gets when no object has that identifier.
    pub(crate) fn error(self, uid: &str) -> KmipError {
        let reason = match self {
            Missing::Object => ResultReason::ObjectNotFound,
            Missing::WrappingObject => ResultReason::WrappingObjectNotFound,
        };
        KmipError::new(reason, format!("no object has Unique Identifier {uid:?}"))
    }
}

/// What kinds of references a request payload can carry besides the object it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Carries {
    /// Key Wrapping Specification: its Encryption Key Information and MAC/Signature Key Information keys are
    /// used (Get).
    WrappingSpecification,
    /// A Key Block with Key Wrapping Data: with Key Wrap Type Not Wrapped its key is used to unwrap (Register);
    /// otherwise the new object is linked to it only when the caller may see it (`register`).
    WrappedKeyBlock,
    /// The new objects' attributes: Link targets must be visible.
    NewObjectLinks,
    /// The new objects' attributes: Object Groups need the right to create in them (Derive Key, ReKey; Create,
    /// Register and Create Key Pair check groups as their creation right, `Need::Create`).
    NewObjectGroups,
    /// The one attribute Add, Modify or Set Attribute writes: a Link target must be visible, an Object Group
    /// needs the right to create in it.
    ChangedAttribute,
}

/// What `operation` declares its requests carry (its descriptor's `carries`); operations that carry nothing
/// reference only the object they name (checked by `authorize::check` with the operation's need), or none.
pub(crate) fn declared(operation: Operation) -> &'static [Carries] {
    descriptor::of(operation).map_or(&[], |d| d.carries)
}

/// One object a request references, with the right it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reference {
    /// Its Unique Identifier.
    pub uid: String,
    /// The right the caller needs on it.
    pub right: Right,
    /// How it is answered when missing or invisible.
    pub missing: Missing,
}

/// What a request item asks for besides the object it names: the objects it references and the Object Groups
/// it puts an object into.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Asks {
    /// Objects referenced.
    pub references: Vec<Reference>,
    /// Object Groups an object is put into (by a path other than a creating operation's own check).
    pub groups: Vec<String>,
}

impl Asks {
    /// Keys the request wraps or unwraps with: each needs `use`, and a missing one is Wrapping Object Not Found.
    fn use_wrapping_keys(&mut self, uids: Vec<String>) {
        self.references
            .extend(uids.into_iter().map(|uid| Reference {
                uid,
                right: Right::Class(OpClass::Use),
                missing: Missing::WrappingObject,
            }));
    }
}

/// Reads what the request of `operation` references, as its descriptor says it can.
pub(crate) fn asks(operation: Operation, payload: &Ttlv, ctx: &OpContext<'_>) -> Asks {
    let mut out = Asks::default();
    for carries in declared(operation) {
        match carries {
            Carries::WrappingSpecification => {
                if let Some(spec) = payload.child(tag::KEY_WRAPPING_SPECIFICATION) {
                    out.use_wrapping_keys(key_information_uids(spec));
                }
            }
            Carries::WrappedKeyBlock => {
                // Stored wrapped, the key is only linked (and the link is made only when visible): nothing to
                // refuse here. Unwrapped now, the key is used.
                if crate::kmip::operations::get::key_wrap_type(payload)
                    .ok()
                    .flatten()
                    == Some(key_wrap_type::NOT_WRAPPED)
                {
                    out.use_wrapping_keys(wrapped_block_keys(payload));
                }
            }
            Carries::NewObjectLinks => {
                for link in requested_values(payload, tag::LINK) {
                    push_link(&mut out, &link, ctx);
                }
            }
            Carries::NewObjectGroups => out.groups.extend(requested_groups(payload)),
            Carries::ChangedAttribute => {
                if let Some(attr) = changed_attribute(payload) {
                    match attr.name {
                        AttributeName::Standard(tag::LINK) => push_link(&mut out, &attr.value, ctx),
                        AttributeName::Standard(tag::OBJECT_GROUP) => {
                            if let Value::TextString(g) = &attr.value.value {
                                out.groups.push(g.clone());
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    out.references.sort_by(|a, b| a.uid.cmp(&b.uid));
    out.references
        .dedup_by(|a, b| a.uid == b.uid && a.right == b.right);
    out.groups.sort();
    out.groups.dedup();
    out
}

/// Authorizes everything `asks` lists for `principal`; the identifiers are added to `objects` (the audit
/// line's list).
pub(crate) fn authorize(
    ctx: &mut OpContext<'_>,
    principal: &Principal,
    asks: &Asks,
    objects: &mut Vec<String>,
) -> Result<(), KmipError> {
    for reference in &asks.references {
        if !objects.contains(&reference.uid) {
            objects.push(reference.uid.clone());
        }
        authorize::reference_allowed(
            ctx,
            principal,
            &reference.uid,
            reference.right,
            reference.missing,
        )?;
    }
    if !asks.groups.is_empty() && !ctx.config.access.policy.may_create(principal, &asks.groups) {
        return Err(KmipError::permission_denied(format!(
            "{:?} may not create objects in Object Group {}",
            principal.identity,
            asks.groups.join(", ")
        )));
    }
    Ok(())
}

/// Loads an object the running operation references (not the one its request names) once the caller's
/// `right` on it is established; a missing or invisible one is answered as `missing` says. Archived objects
/// are returned too: the caller decides what archival means for its use.
pub(crate) fn load_reference(
    ctx: &mut OpContext<'_>,
    uid: &str,
    right: Right,
    missing: Missing,
) -> Result<Managed, KmipError> {
    if let Some(principal) = ctx.principal.clone() {
        authorize::reference_allowed(ctx, &principal, uid, right, missing)?;
    }
    object::load_unchecked(ctx, uid).map_err(|e| match e.reason {
        ResultReason::ObjectNotFound => missing.error(uid),
        _ => e,
    })
}

/// Whether the caller may see `uid` (it exists and the caller holds some right on it); in-process callers see
/// everything, even identifiers of no object.
pub(crate) fn sees(ctx: &mut OpContext<'_>, uid: &str) -> Result<bool, KmipError> {
    let Some(principal) = ctx.principal.clone() else {
        return Ok(true);
    };
    match authorize::reference_allowed(ctx, &principal, uid, Right::See, Missing::Object) {
        Ok(()) => Ok(true),
        Err(e) if e.reason == ResultReason::ObjectNotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn push_link(out: &mut Asks, link: &Ttlv, ctx: &OpContext<'_>) {
    let Some(target) = link.child(tag::LINKED_OBJECT_IDENTIFIER) else {
        return;
    };
    // 2.x may name an object returned earlier in the batch; a value that names none is the operation's error.
    if let Ok(uid) = ctx.batch.resolve(Some(target)) {
        out.references.push(Reference {
            uid,
            right: Right::See,
            missing: Missing::Object,
        });
    }
}

/// The keys Encryption Key Information and MAC/Signature Key Information name, below `parent`.
fn key_information_uids(parent: &Ttlv) -> Vec<String> {
    [
        tag::ENCRYPTION_KEY_INFORMATION,
        tag::MAC_SIGNATURE_KEY_INFORMATION,
    ]
    .iter()
    .filter_map(|t| parent.child(*t))
    .filter_map(
        |info| match info.child(tag::UNIQUE_IDENTIFIER).map(|u| &u.value) {
            Some(Value::TextString(uid)) => Some(uid.clone()),
            _ => None,
        },
    )
    .collect()
}

/// The keys named in the Key Wrapping Data of the object a Register payload carries.
pub(crate) fn wrapped_block_keys(payload: &Ttlv) -> Vec<String> {
    OBJECT_TAGS
        .iter()
        .filter_map(|(_, t)| payload.child(*t))
        .filter_map(|object| object.child(tag::KEY_BLOCK))
        .filter_map(|block| block.child(tag::KEY_WRAPPING_DATA))
        .flat_map(key_information_uids)
        .collect()
}

/// The Object Groups a request's attributes ask for, wherever its templates or attribute lists carry them.
pub(crate) fn requested_groups(payload: &Ttlv) -> Vec<String> {
    let mut groups: Vec<String> = requested_values(payload, tag::OBJECT_GROUP)
        .into_iter()
        .filter_map(|v| match v.value {
            Value::TextString(g) => Some(g),
            _ => None,
        })
        .collect();
    groups.sort();
    groups.dedup();
    groups
}

/// The values of standard attribute `t` a request's templates and attribute lists carry (2.x items tagged `t`,
/// 1.x Attribute structures whose name is that of `t`), at any depth: Create Key Pair carries three lists.
fn requested_values(payload: &Ttlv, t: u32) -> Vec<Ttlv> {
    fn walk(item: &Ttlv, t: u32, out: &mut Vec<Ttlv>) {
        if item.tag == t {
            out.push(item.clone());
            return;
        }
        if item.tag == tag::ATTRIBUTE {
            if let Ok((attr, _)) = Attribute::from_1x(item)
                && attr.name == AttributeName::Standard(t)
            {
                out.push(attr.value);
            }
            return;
        }
        if let Value::Structure(children) = &item.value {
            for child in children {
                walk(child, t, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(payload, t, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: u32, v: &str) -> Ttlv {
        Ttlv::new(t, Value::TextString(v.into()))
    }

    #[test]
    fn every_operation_that_takes_a_second_object_declares_it() {
        for op in [
            Operation::GET,
            Operation::REGISTER,
            Operation::CREATE,
            Operation::CREATE_KEY_PAIR,
            Operation::DERIVE_KEY,
            Operation::REKEY,
            Operation::ADD_ATTRIBUTE,
            Operation::MODIFY_ATTRIBUTE,
            Operation::SET_ATTRIBUTE,
        ] {
            assert!(!declared(op).is_empty(), "{op}");
        }
        assert!(declared(Operation::QUERY).is_empty());
    }

    #[test]
    fn key_wrapping_data_keys_are_read_from_the_registered_block() {
        let payload = Ttlv::structure(
            tag::REQUEST_PAYLOAD,
            vec![Ttlv::structure(
                tag::SYMMETRIC_KEY,
                vec![Ttlv::structure(
                    tag::KEY_BLOCK,
                    vec![Ttlv::structure(
                        tag::KEY_WRAPPING_DATA,
                        vec![
                            Ttlv::structure(
                                tag::ENCRYPTION_KEY_INFORMATION,
                                vec![text(tag::UNIQUE_IDENTIFIER, "kek")],
                            ),
                            Ttlv::structure(
                                tag::MAC_SIGNATURE_KEY_INFORMATION,
                                vec![text(tag::UNIQUE_IDENTIFIER, "mac")],
                            ),
                        ],
                    )],
                )],
            )],
        );
        assert_eq!(wrapped_block_keys(&payload), vec!["kek", "mac"]);
    }

    #[test]
    fn groups_and_links_are_found_in_every_template_form() {
        let link_1x = Ttlv::structure(
            tag::ATTRIBUTE,
            vec![
                text(tag::ATTRIBUTE_NAME, "Link"),
                Ttlv::structure(
                    tag::ATTRIBUTE_VALUE,
                    vec![
                        Ttlv::new(tag::LINK_TYPE, Value::Enumeration(0x0000_0101)),
                        text(tag::LINKED_OBJECT_IDENTIFIER, "target-1"),
                    ],
                ),
            ],
        );
        let group_1x = Ttlv::structure(
            tag::ATTRIBUTE,
            vec![
                text(tag::ATTRIBUTE_NAME, "Object Group"),
                text(tag::ATTRIBUTE_VALUE, "payroll"),
            ],
        );
        let payload = Ttlv::structure(
            tag::REQUEST_PAYLOAD,
            vec![
                Ttlv::structure(tag::COMMON_TEMPLATE_ATTRIBUTE, vec![link_1x]),
                Ttlv::structure(tag::PRIVATE_KEY_TEMPLATE_ATTRIBUTE, vec![group_1x]),
                Ttlv::structure(
                    tag::PUBLIC_KEY_ATTRIBUTES,
                    vec![text(tag::OBJECT_GROUP, "mongodb")],
                ),
            ],
        );
        assert_eq!(requested_groups(&payload), vec!["mongodb", "payroll"]);
        let links = requested_values(&payload, tag::LINK);
        assert_eq!(links.len(), 1);
        assert!(links[0].child(tag::LINKED_OBJECT_IDENTIFIER).is_some());
    }
}
