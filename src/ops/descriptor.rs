//! What each operation is, in one place: one [`Descriptor`] per operation the server serves, vendor operations
//! included. The engine dispatches on it, the access check reads the caller's need from it, the gate reads the
//! second objects a request can reference from it, the request's access cache and the audit log read its effect
//! from it, and ownership of derived objects follows its `derives`. Adding an operation is its file and one entry
//! in [`DESCRIPTORS`].
//!
//! Operations the specification defines but the server does not serve have no descriptor: they are answered
//! Operation Not Supported once the caller passes the need [`unserved_need`] declares for them explicitly.

use crate::access::client::{OP_GRANT, OP_LIST_GRANTS, OP_REVOKE_GRANT};
use crate::access::policy::{Need, OpClass};
use crate::kmip::operations::{Request, Response};
use crate::kmip::{KmipError, Operation};
use crate::ttlv::Ttlv;

use super::gate::Carries;
use super::{
    OpContext, access_admin, attributes, cipher, create, create_key_pair, derive,
    discover_versions, get, hash, interop, lifecycle, locate, mac, query, register, rekey, sign,
};

/// An operation's handler: its Request Payload in, its Response Payload out.
pub(crate) type Handler = fn(&Ttlv, &mut OpContext<'_>) -> Result<Ttlv, KmipError>;

/// Runs an operation written on typed payloads: its request is read once from the tree and its response
/// written once, both in the request's version (`kmip::operations`).
pub(crate) fn run_typed<'p, Q: Request<'p>, S: Response>(
    payload: &'p Ttlv,
    ctx: &mut OpContext<'_>,
    run: fn(Q, &mut OpContext<'_>) -> Result<S, KmipError>,
) -> Result<Ttlv, KmipError> {
    let version = ctx.version;
    let request = Q::decode(payload, version)?;
    run(request, ctx).map(|response| response.encode(version))
}

/// The [`Handler`] of an operation written on typed payloads.
macro_rules! typed {
    ($run:path) => {{
        fn handler(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
            run_typed(payload, ctx, $run)
        }
        handler as Handler
    }};
}

/// What an operation changes, for the audit log (intent lines) and the request's access cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Changes nothing the server keeps: no intent line, the access cache stays valid.
    ReadOnly,
    /// Changes objects (state, lease, usage) but no owner, Object Group, grant or object existence: an intent
    /// line, and the access cache stays valid.
    ChangesObjects,
    /// May change owners, Object Groups, grants or which objects exist: an intent line, and the access cache is
    /// cleared after it.
    ChangesAccessFacts,
}

/// Whether Query Operations lists an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listed {
    /// Always.
    Always,
    /// Only on a server configured for interoperability tests (the Interop operation).
    InteropServers,
    /// Never (vendor operations, reached through `kmipd grant`).
    Never,
}

/// One operation the server serves.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Descriptor {
    /// Its code.
    pub operation: Operation,
    /// Its name in audit lines.
    pub name: &'static str,
    /// What runs it.
    pub handler: Handler,
    /// What the caller needs to run it (on the object it names, for [`Need::Object`]).
    pub need: Need,
    /// The other objects its request can reference, each authorized by the gate with the right it needs
    /// (`gate::asks`): wrapping keys need use, Link targets need visibility, Object Groups need the right to
    /// create in them.
    pub carries: &'static [Carries],
    /// What it changes.
    pub effect: Effect,
    /// Whether it makes a new object out of the one its request names, which then gets that object's owner.
    pub derives: bool,
    /// Whether Query Operations lists it.
    pub listed: Listed,
}

impl Descriptor {
    /// An operation listed by Query, on the object its request names, that does not derive.
    const fn new(
        operation: Operation,
        name: &'static str,
        handler: Handler,
        need: Need,
        effect: Effect,
    ) -> Descriptor {
        Descriptor {
            operation,
            name,
            handler,
            need,
            carries: &[],
            effect,
            derives: false,
            listed: Listed::Always,
        }
    }

    const fn carrying(mut self, carries: &'static [Carries]) -> Descriptor {
        self.carries = carries;
        self
    }

    const fn deriving(mut self) -> Descriptor {
        self.derives = true;
        self
    }

    const fn listed(mut self, listed: Listed) -> Descriptor {
        self.listed = listed;
        self
    }
}

use Effect::{ChangesAccessFacts, ChangesObjects, ReadOnly};
use OpClass::{Destroy, Get, Lifecycle, ManageAttributes, Use};

/// Every operation the server serves, in the order Query Operations lists them.
pub(crate) const DESCRIPTORS: &[Descriptor] = &[
    Descriptor::new(
        Operation::DISCOVER_VERSIONS,
        "Discover Versions",
        discover_versions::run,
        Need::Open,
        ReadOnly,
    ),
    Descriptor::new(Operation::QUERY, "Query", query::run, Need::Open, ReadOnly),
    Descriptor::new(
        Operation::CREATE,
        "Create",
        typed!(create::run),
        Need::Create,
        ChangesAccessFacts,
    )
    .carrying(&[Carries::NewObjectLinks]),
    Descriptor::new(
        Operation::REGISTER,
        "Register",
        typed!(register::run),
        Need::Create,
        ChangesAccessFacts,
    )
    .carrying(&[Carries::WrappedKeyBlock, Carries::NewObjectLinks]),
    // Locate filters what it returns to what the caller may see.
    Descriptor::new(
        Operation::LOCATE,
        "Locate",
        typed!(locate::run),
        Need::Known,
        ReadOnly,
    ),
    Descriptor::new(
        Operation::GET,
        "Get",
        typed!(get::run),
        Need::Object(Get),
        ReadOnly,
    )
    .carrying(&[Carries::WrappingSpecification]),
    Descriptor::new(
        Operation::GET_ATTRIBUTES,
        "Get Attributes",
        typed!(attributes::get_attributes),
        Need::Object(Get),
        ReadOnly,
    ),
    Descriptor::new(
        Operation::GET_ATTRIBUTE_LIST,
        "Get Attribute List",
        typed!(attributes::get_attribute_list),
        Need::Object(Get),
        ReadOnly,
    ),
    Descriptor::new(
        Operation::ADD_ATTRIBUTE,
        "Add Attribute",
        typed!(attributes::add),
        Need::Object(ManageAttributes),
        ChangesAccessFacts,
    )
    .carrying(&[Carries::ChangedAttribute]),
    Descriptor::new(
        Operation::MODIFY_ATTRIBUTE,
        "Modify Attribute",
        typed!(attributes::modify),
        Need::Object(ManageAttributes),
        ChangesAccessFacts,
    )
    .carrying(&[Carries::ChangedAttribute]),
    Descriptor::new(
        Operation::DELETE_ATTRIBUTE,
        "Delete Attribute",
        typed!(attributes::delete),
        Need::Object(ManageAttributes),
        ChangesAccessFacts,
    ),
    Descriptor::new(
        Operation::SET_ATTRIBUTE,
        "Set Attribute",
        typed!(attributes::set),
        Need::Object(ManageAttributes),
        ChangesAccessFacts,
    )
    .carrying(&[Carries::ChangedAttribute]),
    Descriptor::new(
        Operation::ADJUST_ATTRIBUTE,
        "Adjust Attribute",
        typed!(attributes::adjust),
        Need::Object(ManageAttributes),
        ChangesAccessFacts,
    ),
    Descriptor::new(
        Operation::REKEY,
        "Re-key",
        typed!(rekey::run),
        Need::Object(Lifecycle),
        ChangesAccessFacts,
    )
    .carrying(&[Carries::NewObjectLinks, Carries::NewObjectGroups])
    .deriving(),
    Descriptor::new(
        Operation::CHECK,
        "Check",
        typed!(lifecycle::check),
        Need::Object(Get),
        ReadOnly,
    ),
    Descriptor::new(
        Operation::OBTAIN_LEASE,
        "Obtain Lease",
        typed!(lifecycle::obtain_lease),
        Need::Object(Use),
        ChangesObjects,
    ),
    Descriptor::new(
        Operation::GET_USAGE_ALLOCATION,
        "Get Usage Allocation",
        typed!(lifecycle::get_usage_allocation),
        Need::Object(Use),
        ChangesObjects,
    ),
    Descriptor::new(
        Operation::ACTIVATE,
        "Activate",
        typed!(lifecycle::activate),
        Need::Object(Lifecycle),
        ChangesObjects,
    ),
    Descriptor::new(
        Operation::REVOKE,
        "Revoke",
        typed!(lifecycle::revoke),
        Need::Object(Lifecycle),
        ChangesObjects,
    ),
    Descriptor::new(
        Operation::DESTROY,
        "Destroy",
        typed!(lifecycle::destroy),
        Need::Object(Destroy),
        ChangesAccessFacts,
    ),
    Descriptor::new(
        Operation::ARCHIVE,
        "Archive",
        typed!(lifecycle::archive),
        Need::Object(Lifecycle),
        ChangesAccessFacts,
    ),
    Descriptor::new(
        Operation::RECOVER,
        "Recover",
        typed!(lifecycle::recover),
        Need::Object(Lifecycle),
        ChangesAccessFacts,
    ),
    Descriptor::new(
        Operation::CREATE_KEY_PAIR,
        "Create Key Pair",
        typed!(create_key_pair::run),
        Need::Create,
        ChangesAccessFacts,
    )
    .carrying(&[Carries::NewObjectLinks]),
    Descriptor::new(
        Operation::ENCRYPT,
        "Encrypt",
        typed!(cipher::encrypt),
        Need::Object(Use),
        ReadOnly,
    ),
    Descriptor::new(
        Operation::DECRYPT,
        "Decrypt",
        typed!(cipher::decrypt),
        Need::Object(Use),
        ReadOnly,
    ),
    Descriptor::new(
        Operation::MAC,
        "MAC",
        typed!(mac::mac),
        Need::Object(Use),
        ReadOnly,
    ),
    Descriptor::new(
        Operation::MAC_VERIFY,
        "MAC Verify",
        typed!(mac::mac_verify),
        Need::Object(Use),
        ReadOnly,
    ),
    Descriptor::new(
        Operation::HASH,
        "Hash",
        typed!(hash::hash),
        Need::Known,
        ReadOnly,
    ),
    Descriptor::new(
        Operation::RNG_RETRIEVE,
        "RNG Retrieve",
        typed!(hash::rng_retrieve),
        Need::Known,
        ReadOnly,
    ),
    // Seeding the server's generator is for administrators.
    Descriptor::new(
        Operation::RNG_SEED,
        "RNG Seed",
        typed!(hash::rng_seed),
        Need::Administrator,
        ChangesAccessFacts,
    ),
    Descriptor::new(
        Operation::DERIVE_KEY,
        "Derive Key",
        typed!(derive::run),
        Need::Object(Use),
        ChangesAccessFacts,
    )
    .carrying(&[Carries::NewObjectLinks, Carries::NewObjectGroups])
    .deriving(),
    Descriptor::new(
        Operation::SIGN,
        "Sign",
        typed!(sign::sign),
        Need::Object(Use),
        ReadOnly,
    ),
    Descriptor::new(
        Operation::SIGNATURE_VERIFY,
        "Signature Verify",
        typed!(sign::verify),
        Need::Object(Use),
        ReadOnly,
    ),
    Descriptor::new(
        Operation::LOG,
        "Log",
        typed!(interop::log),
        Need::Known,
        ReadOnly,
    ),
    // Answered only by a server configured for interoperability tests, whose clients are the testers.
    Descriptor::new(
        Operation::INTEROP,
        "Interop",
        typed!(interop::interop),
        Need::Known,
        ChangesAccessFacts,
    )
    .listed(Listed::InteropServers),
    // Grant management: each checks ownership of its target itself.
    Descriptor::new(
        OP_GRANT,
        "Grant",
        access_admin::grant,
        Need::Known,
        ChangesAccessFacts,
    )
    .listed(Listed::Never),
    Descriptor::new(
        OP_REVOKE_GRANT,
        "Revoke Grant",
        access_admin::revoke_grant,
        Need::Known,
        ChangesAccessFacts,
    )
    .listed(Listed::Never),
    Descriptor::new(
        OP_LIST_GRANTS,
        "List Grants",
        access_admin::list_grants,
        Need::Known,
        ReadOnly,
    )
    .listed(Listed::Never),
];

/// The descriptor of `operation`, if the server serves it.
pub(crate) fn of(operation: Operation) -> Option<&'static Descriptor> {
    DESCRIPTORS.iter().find(|d| d.operation == operation)
}

/// What `operation` needs from the caller: its descriptor's need, or for an operation the server does not serve
/// (answered Operation Not Supported once allowed) the need [`unserved_need`] declares.
pub(crate) fn need(operation: Operation) -> Need {
    of(operation).map_or_else(|| unserved_need(operation), |d| d.need)
}

/// The need of an operation the server does not serve: the class the specification's operation would need, so
/// that a client learns it is unsupported exactly when it could have used it; any other operation (the
/// specification's and vendors') is for administrators only.
pub(crate) fn unserved_need(operation: Operation) -> Need {
    match operation {
        Operation::PING | Operation::CANCEL | Operation::POLL => Need::Known,
        Operation::CREATE_SPLIT_KEY | Operation::JOIN_SPLIT_KEY | Operation::IMPORT => Need::Create,
        Operation::EXPORT | Operation::VALIDATE => Need::Object(Get),
        Operation::REKEY_KEY_PAIR | Operation::CERTIFY | Operation::RECERTIFY => {
            Need::Object(Lifecycle)
        }
        _ => Need::Administrator,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_operation_has_exactly_one_descriptor() {
        for d in DESCRIPTORS {
            assert_eq!(
                DESCRIPTORS
                    .iter()
                    .filter(|e| e.operation == d.operation)
                    .count(),
                1,
                "{}",
                d.name
            );
            // The spec's name where the spec defines the operation, so audit lines keep naming it as before.
            if let Some(spec_name) = d.operation.name() {
                assert_eq!(spec_name, d.name);
            }
        }
        // Every operation Query lists, and every vendor operation, is served through its descriptor.
        for op in super::super::implemented_operations() {
            assert!(of(op).is_some(), "{op}");
        }
        for op in [OP_GRANT, OP_REVOKE_GRANT, OP_LIST_GRANTS] {
            assert_eq!(of(op).map(|d| d.listed), Some(Listed::Never));
        }
    }

    #[test]
    fn nothing_served_falls_back_to_the_unserved_need() {
        // A served operation's need is its descriptor's; only the two administrators-only ones say so there.
        let administrators_only: Vec<&str> = DESCRIPTORS
            .iter()
            .filter(|d| d.need == Need::Administrator)
            .map(|d| d.name)
            .collect();
        assert_eq!(administrators_only, vec!["RNG Seed"]);
        for d in DESCRIPTORS {
            assert_eq!(need(d.operation), d.need, "{}", d.name);
        }
        // Operations of the specification that are not served are declared, not guessed.
        assert_eq!(unserved_need(Operation::PING), Need::Known);
        assert_eq!(unserved_need(Operation::CERTIFY), Need::Object(Lifecycle));
        assert_eq!(
            unserved_need(Operation::SET_ENDPOINT_ROLE),
            Need::Administrator
        );
        assert!(of(Operation::CERTIFY).is_none());
    }

    #[test]
    fn deriving_operations_name_their_source() {
        let deriving: Vec<Operation> = DESCRIPTORS
            .iter()
            .filter(|d| d.derives)
            .map(|d| d.operation)
            .collect();
        assert_eq!(deriving, vec![Operation::REKEY, Operation::DERIVE_KEY]);
        for d in DESCRIPTORS.iter().filter(|d| d.derives) {
            assert!(matches!(d.need, Need::Object(_)), "{}", d.name);
        }
    }
}
