//! Tenant isolation at the engine, driven by generated batches: two identities (alice and bob, users of their
//! own objects under a policy) send random sequences of Create, Get, Get with a wrapping key, Get Attributes,
//! Locate, Derive Key, ReKey, MAC, Add Attribute Link, Grant and Revoke Grant naming any object of either, or
//! one that does not exist. A model tracks who owns what and which grants are in force; after every answer it
//! checks that nothing in it — identifiers, key material, attributes — belongs to the other identity unless
//! granted, and that a refused reference to the other's object is answered exactly as one to a missing
//! object. Beside it, two fixed cases: an undone Create leaves no owner entry, and Locate decides visibility
//! before it loads (and decrypts) a candidate.

#[path = "support/kmip.rs"]
mod kmip;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proptest::prelude::*;

use kmipd::access::policy::Policy;
use kmipd::access::{AccessControl, Caller, grants};
use kmipd::client::access_admin::{self as access_client, OP_GRANT, OP_REVOKE_GRANT};
use kmipd::ops::{Engine, EngineConfig};
use kmipd::spec::enums::{
    batch_error_continuation_option, cryptographic_algorithm as alg,
    cryptographic_usage_mask as usage, derivation_method, link_type, object_type, operation,
    result_status, state, wrapping_method,
};
use kmipd::spec::tag;
use kmipd::store::{Mutation, ObjectRecord};
use kmipd::ttlv::{SecretBytes, Ttlv, Value};

use kmip::*;

const V14: (i32, i32) = (1, 4);
const MISSING: &str = "0f0e0d0c-0000-4000-8000-00000000dead";
const NAMES: [&str; 2] = ["alice", "bob"];

fn caller(name: &str) -> Caller {
    Caller {
        peer: "127.0.0.1:5000".parse().unwrap(),
        identity: name.to_string(),
        certificate_sha256: [0; 32],
        in_process: false,
    }
}

fn engine(dir: &std::path::Path) -> Engine {
    let policy =
        Policy::from_toml("administrators = [\"root\"]\nusers = [\"alice\", \"bob\"]").unwrap();
    Engine::open(EngineConfig {
        data_dir: dir.to_owned(),
        access: AccessControl {
            policy: Arc::new(policy),
            audit: None,
        },
        ..EngineConfig::default()
    })
    .unwrap()
}

/// One generated step: who acts, what it does, and on which objects (indexes into the pool, wrapped around;
/// the pool's last entry is an identifier no object has).
#[derive(Clone, Debug)]
struct Step {
    actor: usize,
    kind: Kind,
    target: usize,
    other: usize,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Create,
    Get,
    GetWrapped,
    GetAttributes,
    Locate,
    Derive,
    ReKey,
    Mac,
    AddLink,
    GrantGet,
    GrantUse,
    Revoke,
}

fn step() -> impl Strategy<Value = Step> {
    let kind = prop_oneof![
        Just(Kind::Create),
        Just(Kind::Get),
        Just(Kind::GetWrapped),
        Just(Kind::GetAttributes),
        Just(Kind::Locate),
        Just(Kind::Derive),
        Just(Kind::ReKey),
        Just(Kind::Mac),
        Just(Kind::AddLink),
        Just(Kind::GrantGet),
        Just(Kind::GrantUse),
        Just(Kind::Revoke),
    ];
    (0usize..2, kind, 0usize..64, 0usize..64).prop_map(|(actor, kind, target, other)| Step {
        actor,
        kind,
        target,
        other,
    })
}

/// What the test knows: owners, key material, grants in force, and what each identity has been told.
struct Model {
    engine: Engine,
    owner: BTreeMap<String, usize>,
    material: BTreeMap<String, Vec<u8>>,
    /// (grant id, grantee, object, class).
    grants: Vec<(String, usize, String, &'static str)>,
    /// Identifiers each identity made itself (including derived and replacement keys owned by another).
    made: [BTreeSet<String>; 2],
}

const MASK: u32 = usage::WRAP_KEY
    | usage::UNWRAP_KEY
    | usage::ENCRYPT
    | usage::DECRYPT
    | usage::MAC_GENERATE
    | usage::DERIVE_KEY;

impl Model {
    fn pool(&self) -> Vec<String> {
        let mut pool: Vec<String> = self.owner.keys().cloned().collect();
        pool.push(MISSING.to_string());
        pool
    }

    fn visible_to(&self, who: usize, uid: &str) -> bool {
        self.owner.get(uid) == Some(&who)
            || self.made[who].contains(uid)
            || self.grants.iter().any(|(_, g, u, _)| *g == who && u == uid)
    }

    fn gettable_by(&self, who: usize, uid: &str) -> bool {
        self.owner.get(uid) == Some(&who)
            || self
                .grants
                .iter()
                .any(|(_, g, u, c)| *g == who && u == uid && *c == "get")
    }

    /// Records a new object and its key material (read in-process).
    fn learn(&mut self, uid: &str, owner: usize, made_by: usize) {
        self.owner.insert(uid.to_string(), owner);
        self.made[made_by].insert(uid.to_string());
        let got = self.engine.handle_request(&request(
            V14,
            vec![item(operation::GET, vec![uid_item(uid)])],
        ));
        if let Some(payload) = batch_items(&got)
            .first()
            .and_then(|i| i.child(tag::RESPONSE_PAYLOAD))
            && payload.child(tag::SYMMETRIC_KEY).is_some()
        {
            self.material
                .insert(uid.to_string(), raw_key_material(payload));
        }
    }
}

fn uid_item(id: &str) -> Ttlv {
    uid(id)
}

fn create_item() -> Ttlv {
    item(
        operation::CREATE,
        vec![
            enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
            template_attribute(vec![
                attribute(
                    "Cryptographic Algorithm",
                    None,
                    Value::Enumeration(alg::AES),
                ),
                attribute("Cryptographic Length", None, Value::Integer(256)),
                attribute(
                    "Cryptographic Usage Mask",
                    None,
                    Value::Integer(i32::try_from(MASK).unwrap()),
                ),
                attribute("Activation Date", None, Value::DateTime(1)),
            ]),
        ],
    )
}

fn grant_payload(op: kmipd::kmip::Operation, json: serde_json::Value) -> Ttlv {
    structure(
        tag::BATCH_ITEM,
        vec![
            enumeration(tag::OPERATION, op.0),
            access_client::payload(tag::REQUEST_PAYLOAD, &json.to_string()),
        ],
    )
}

/// The request item of a step, with `target` and `other` resolved to identifiers.
fn request_item(step: &Step, target: &str, other: &str, model: &Model) -> Ttlv {
    let grantee = NAMES[1 - step.actor];
    match step.kind {
        Kind::Create => create_item(),
        Kind::Get => item(operation::GET, vec![uid(target)]),
        Kind::GetWrapped => item(
            operation::GET,
            vec![
                uid(target),
                structure(
                    tag::KEY_WRAPPING_SPECIFICATION,
                    vec![
                        enumeration(tag::WRAPPING_METHOD, wrapping_method::ENCRYPT),
                        structure(tag::ENCRYPTION_KEY_INFORMATION, vec![uid(other)]),
                    ],
                ),
            ],
        ),
        Kind::GetAttributes => item(operation::GET_ATTRIBUTES, vec![uid(target)]),
        Kind::Locate => item(operation::LOCATE, vec![]),
        Kind::Derive => item(
            operation::DERIVE_KEY,
            vec![
                enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
                uid(target),
                enumeration(tag::DERIVATION_METHOD, derivation_method::HKDF),
                structure(tag::DERIVATION_PARAMETERS, vec![bytes(tag::SALT, b"salt")]),
                template_attribute(vec![
                    attribute(
                        "Cryptographic Algorithm",
                        None,
                        Value::Enumeration(alg::AES),
                    ),
                    attribute("Cryptographic Length", None, Value::Integer(128)),
                ]),
            ],
        ),
        Kind::ReKey => item(operation::RE_KEY, vec![uid(target)]),
        Kind::Mac => item(operation::MAC, vec![uid(target), bytes(tag::DATA, b"data")]),
        Kind::AddLink => item(
            operation::ADD_ATTRIBUTE,
            vec![
                uid(target),
                attribute_structure(
                    "Link",
                    vec![
                        enumeration(tag::LINK_TYPE, link_type::PARENT_LINK),
                        text(tag::LINKED_OBJECT_IDENTIFIER, other),
                    ],
                ),
            ],
        ),
        Kind::GrantGet | Kind::GrantUse => grant_payload(
            OP_GRANT,
            serde_json::json!({
                "subject": {"kind": "user", "name": grantee},
                "target": {"kind": "object", "name": target},
                "classes": [if matches!(step.kind, Kind::GrantGet) { "get" } else { "use" }],
            }),
        ),
        Kind::Revoke => {
            let id = model
                .grants
                .get(step.target % model.grants.len().max(1))
                .map_or("no-such-grant".to_string(), |(id, _, _, _)| id.clone());
            grant_payload(OP_REVOKE_GRANT, serde_json::json!({ "id": id }))
        }
    }
}

/// Every Text String and Byte String of a tree, Result Message aside.
fn strings(item: &Ttlv, texts: &mut Vec<String>, blobs: &mut Vec<Vec<u8>>) {
    match &item.value {
        Value::Structure(children) => {
            for c in children {
                if c.tag != tag::RESULT_MESSAGE {
                    strings(c, texts, blobs);
                }
            }
        }
        Value::TextString(s) => texts.push(s.clone()),
        Value::ByteString(b) => blobs.push(b.to_vec()),
        _ => {}
    }
}

fn answer_of(item: &Ttlv, replace: &str) -> (Option<Value>, Option<Value>, String) {
    let message = match item.child(tag::RESULT_MESSAGE).map(|m| &m.value) {
        Some(Value::TextString(m)) => m.replace(replace, "<uid>").replace(MISSING, "<uid>"),
        _ => String::new(),
    };
    (
        item.child(tag::RESULT_STATUS).map(|s| s.value.clone()),
        item.child(tag::RESULT_REASON).map(|s| s.value.clone()),
        message,
    )
}

fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model {
        engine: engine(dir.path()),
        owner: BTreeMap::new(),
        material: BTreeMap::new(),
        grants: Vec::new(),
        made: [BTreeSet::new(), BTreeSet::new()],
    };
    let callers = [caller("alice"), caller("bob")];
    for (who, acting) in callers.iter().enumerate() {
        for _ in 0..2 {
            let answer = model
                .engine
                .handle_request_from(&request(V14, vec![create_item()]), acting);
            let id = text_child(only_success(&answer), tag::UNIQUE_IDENTIFIER);
            model.learn(&id, who, who);
        }
    }
    for step in steps {
        let pool = model.pool();
        let target = pool[step.target % pool.len()].clone();
        let other = pool[step.other % pool.len()].clone();
        let me = step.actor;
        let them = 1 - me;
        let one = request_item(&step, &target, &other, &model);
        let response = model
            .engine
            .handle_request_from(&request(V14, vec![one]), &callers[me]);
        let items = batch_items(&response);
        prop_assert_eq!(items.len(), 1);
        let answered = items[0];
        let ok = answered.child(tag::RESULT_STATUS).map(|s| &s.value)
            == Some(&Value::Enumeration(result_status::SUCCESS));

        // Nothing of the other's reaches the answer unless granted.
        let (mut texts, mut blobs) = (Vec::new(), Vec::new());
        strings(answered, &mut texts, &mut blobs);
        for t in &texts {
            if model.owner.get(t) == Some(&them) {
                prop_assert!(
                    model.visible_to(me, t),
                    "{:?} answered {} an object of {}: {:?}",
                    step,
                    NAMES[me],
                    NAMES[them],
                    t
                );
            }
        }
        for (uid, key) in &model.material {
            if model.owner.get(uid) == Some(&them) && !model.gettable_by(me, uid) {
                prop_assert!(
                    !blobs.iter().any(|b| b == key),
                    "{:?} gave {} the key material of {}'s {}",
                    step,
                    NAMES[me],
                    NAMES[them],
                    uid
                );
            }
        }
        // A refused reference to an object the actor may not see is answered as one to no object.
        if !ok {
            for named in [&target, &other] {
                if model.owner.get(named.as_str()) == Some(&them) && !model.visible_to(me, named) {
                    let swap = |u: &String| {
                        if u == named {
                            MISSING.to_string()
                        } else {
                            u.clone()
                        }
                    };
                    let again = request_item(&step, &swap(&target), &swap(&other), &model);
                    let missing = model
                        .engine
                        .handle_request_from(&request(V14, vec![again]), &callers[me]);
                    let missing_item = batch_items(&missing)[0];
                    prop_assert_eq!(
                        answer_of(answered, named),
                        answer_of(missing_item, named),
                        "{:?}",
                        step
                    );
                }
            }
        }
        // The model follows what succeeded.
        if ok {
            let payload = answered.child(tag::RESPONSE_PAYLOAD).unwrap();
            match step.kind {
                Kind::Create => {
                    let id = text_child(payload, tag::UNIQUE_IDENTIFIER);
                    model.learn(&id, me, me);
                }
                Kind::Derive | Kind::ReKey => {
                    // The new object belongs to the base's owner.
                    let id = text_child(payload, tag::UNIQUE_IDENTIFIER);
                    let owner = model.owner.get(&target).copied().unwrap_or(me);
                    model.learn(&id, owner, me);
                }
                Kind::GrantGet | Kind::GrantUse => {
                    let json: serde_json::Value =
                        serde_json::from_str(access_client::payload_json(payload).unwrap())
                            .unwrap();
                    let class = if matches!(step.kind, Kind::GrantGet) {
                        "get"
                    } else {
                        "use"
                    };
                    prop_assert_eq!(model.owner.get(&target), Some(&me), "granted on another's");
                    model.grants.push((
                        json["id"].as_str().unwrap().to_string(),
                        them,
                        target.clone(),
                        class,
                    ));
                }
                Kind::Revoke => {
                    let json: serde_json::Value =
                        serde_json::from_str(access_client::payload_json(payload).unwrap())
                            .unwrap();
                    let id = json["revoked"].as_str().unwrap().to_string();
                    model.grants.retain(|(g, _, _, _)| *g != id);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn no_answer_carries_what_the_other_identity_was_not_granted(
        steps in proptest::collection::vec(step(), 1..24)
    ) {
        run(steps)?;
    }
}

#[test]
fn an_undone_create_leaves_no_owner_entry() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let undo = vec![enumeration(
        tag::BATCH_ERROR_CONTINUATION_OPTION,
        batch_error_continuation_option::UNDO,
    )];
    let response = engine.handle_request_from(
        &request_with(
            V14,
            undo,
            vec![create_item(), item(operation::GET, vec![uid(MISSING)])],
        ),
        &caller("alice"),
    );
    let items = batch_items(&response);
    assert_eq!(
        items[0].child(tag::RESULT_STATUS).map(|s| &s.value),
        Some(&Value::Enumeration(result_status::OPERATION_UNDONE))
    );
    let created = text_child(
        items[0].child(tag::RESPONSE_PAYLOAD).unwrap(),
        tag::UNIQUE_IDENTIFIER,
    );
    assert!(!engine.store().exists(&created).unwrap());
    assert_eq!(grants::owner(engine.store(), &created).unwrap(), None);
}

#[test]
fn locate_decides_visibility_before_it_loads_a_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    // An object of alice's whose stored bytes cannot be read: loading it fails.
    let mut record = ObjectRecord::new(
        "alices-unreadable",
        object_type::SYMMETRIC_KEY,
        state::ACTIVE,
    );
    record.object = Some(SecretBytes::new(vec![0xA5; 40]));
    engine
        .store()
        .commit(vec![
            Mutation::Put(record),
            grants::set_owner("alices-unreadable", "alice"),
        ])
        .unwrap();
    let by_state = request(
        V14,
        vec![item(
            operation::LOCATE,
            vec![attribute("State", None, Value::Enumeration(state::ACTIVE))],
        )],
    );
    // alice's Locate loads it (and fails on it); bob's never does.
    let alices = engine.handle_request_from(&by_state, &caller("alice"));
    assert_ne!(
        batch_items(&alices)[0]
            .child(tag::RESULT_STATUS)
            .map(|s| &s.value),
        Some(&Value::Enumeration(result_status::SUCCESS))
    );
    let bobs = engine.handle_request_from(&by_state, &caller("bob"));
    assert!(
        only_success(&bobs)
            .children_with(tag::UNIQUE_IDENTIFIER)
            .next()
            .is_none()
    );
}
