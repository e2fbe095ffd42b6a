//! What access control costs: Get in-process (no policy) against Get by an owner and by a grantee (a request's
//! checks read the caller's grants once, and each object's owner and, when a rule needs them, Object Groups
//! once), Get of a missing object beside Get of a hidden one (they must cost the same), Locate filtered to what a user may see, an audit line written per item, and one Argon2 password check.
//!
//! Run with `cargo bench --bench access`; each measurement runs for a fixed budget, the whole run stays under
//! 20 seconds.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kmipd::access::audit::{AuditEvent, AuditKey, AuditLog, AuditSettings};
use kmipd::access::grants::{self, Grant, Target};
use kmipd::access::identity::PasswordCredential;
use kmipd::access::policy::{OpClass, Policy, Subject, hash_password};
use kmipd::access::{AccessControl, Caller};
use kmipd::ops::{Engine, EngineConfig, in_process_caller};
use kmipd::spec::enums::operation;
use kmipd::spec::tag;

use support::budget;
use support::kmip::{self, *};

/// How long each measurement runs.
const BUDGET: Duration = Duration::from_secs(2);
/// Objects in the store for Locate; one in ten belongs to the measured user.
const OBJECTS: usize = 1_000;
const V14: (i32, i32) = (1, 4);

fn caller(name: &str) -> Caller {
    Caller {
        peer: "127.0.0.1:5000".parse().unwrap(),
        identity: name.to_string(),
        certificate_sha256: [0; 32],
        in_process: false,
    }
}

/// Runs `op` for the budget; prints operations per second and the mean time of one.
fn measure(label: &str, mut op: impl FnMut(usize)) {
    let start = Instant::now();
    let budget = budget(BUDGET);
    let mut n = 0;
    while start.elapsed() < budget {
        op(n);
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{label:<48} {:>9.0} ops/s  {:>8.1} µs/op",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
}

fn main() {
    let total = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let policy =
        Policy::from_toml("administrators = [\"root\"]\nusers = [\"alice\", \"bob\"]").unwrap();
    let engine = Engine::open(EngineConfig {
        data_dir: dir.path().to_owned(),
        access: AccessControl {
            policy: Arc::new(policy),
            audit: None,
        },
        ..EngineConfig::default()
    })
    .unwrap();
    let (alice, bob, carol) = (caller("alice"), caller("bob"), caller("carol-not-known"));
    let mut mine = Vec::new();
    for i in 0..OBJECTS {
        let who = if i % 10 == 0 { &alice } else { &bob };
        let answer = engine.handle_request_from(&create_aes256_request(), who);
        let uid = text_child(only_success(&answer), tag::UNIQUE_IDENTIFIER);
        if i % 10 == 0 {
            mine.push(uid);
        }
    }
    let shared = mine[0].clone();
    let store = engine.store();
    for i in 0..20 {
        grants::put(
            store,
            &Grant {
                id: format!("g{i}"),
                subject: Subject::User(format!("user-{i}")),
                target: Target::Object(shared.clone()),
                classes: vec![OpClass::Get],
                granted_by: "alice".into(),
            },
        )
        .unwrap();
    }
    grants::put(
        store,
        &Grant {
            id: "g-bob".into(),
            subject: Subject::User("bob".into()),
            target: Target::Object(shared.clone()),
            classes: vec![OpClass::Get],
            granted_by: "alice".into(),
        },
    )
    .unwrap();
    let get = |uid: &str| request(V14, vec![item(operation::GET, vec![kmip::uid(uid)])]);
    let in_process = in_process_caller();
    measure("Get, in-process (no policy)", |i| {
        only_success(&engine.handle_request_from(&get(&mine[i % mine.len()]), &in_process));
    });
    measure("Get by the owner", |i| {
        only_success(&engine.handle_request_from(&get(&mine[i % mine.len()]), &alice));
    });
    measure("Get by a grantee (21 grants stored)", |_| {
        only_success(&engine.handle_request_from(&get(&shared), &bob));
    });
    // A hidden object must cost what a missing one costs, or timing tells a client what exists. The two are
    // measured in alternation, so that a change in the machine's load weighs on both alike.
    let theirs: Vec<String> = (0..mine.len())
        .map(|_| {
            let answer = engine.handle_request_from(&create_aes256_request(), &bob);
            text_child(only_success(&answer), tag::UNIQUE_IDENTIFIER)
        })
        .collect();
    let missing: Vec<String> = (0..mine.len())
        .map(|i| format!("no-such-object-{i}"))
        .collect();
    let (mut missing_time, mut hidden_time, mut rounds) = (Duration::ZERO, Duration::ZERO, 0u32);
    let start = Instant::now();
    while start.elapsed() < budget(BUDGET) {
        let i = rounds as usize;
        let t = Instant::now();
        engine.handle_request_from(&get(&missing[i % missing.len()]), &alice);
        missing_time += t.elapsed();
        let t = Instant::now();
        engine.handle_request_from(&get(&theirs[i % theirs.len()]), &alice);
        hidden_time += t.elapsed();
        rounds += 1;
    }
    println!(
        "{:<48} {:>8.1} µs vs {:>8.1} µs per Get, {rounds} of each",
        "Get refused: missing vs hidden object",
        missing_time.as_secs_f64() * 1e6 / f64::from(rounds),
        hidden_time.as_secs_f64() * 1e6 / f64::from(rounds),
    );
    measure("Get refused, unknown identity", |i| {
        engine.handle_request_from(&get(&mine[i % mine.len()]), &carol);
    });
    let locate = request(V14, vec![item(operation::LOCATE, vec![])]);
    measure(
        &format!("Locate all, in-process ({OBJECTS} objects)"),
        |_| {
            engine.handle_request_from(&locate, &in_process);
        },
    );
    measure(
        &format!("Locate all, owner of 1 in 10 of {OBJECTS}"),
        |_| {
            let found = engine.handle_request_from(&locate, &alice);
            assert_eq!(
                only_success(&found)
                    .children_with(tag::UNIQUE_IDENTIFIER)
                    .count(),
                OBJECTS / 10
            );
        },
    );

    let audit_dir = tempfile::tempdir().unwrap();
    let key = AuditKey::derive(&kmipd::store::MasterKey::from_bytes([7; 32])).unwrap();
    let log = AuditLog::open(audit_dir.path(), AuditSettings::default(), key).unwrap();
    let event = AuditEvent {
        identity: "alice".into(),
        source: "127.0.0.1:5000".into(),
        operation: "Get".into(),
        objects: vec![shared.clone()],
        status: "success",
        reason: None,
        duration: Duration::from_micros(40),
        detail: None,
    };
    measure("audit line appended (HMAC-chained, flushed)", |_| {
        log.record(&event).unwrap();
    });

    let hash = hash_password("correct horse battery staple").unwrap();
    let with_credential = Policy::from_toml(&format!(
        "[[credentials]]\nusername = \"backup\"\npassword_argon2 = \"{hash}\"\n"
    ))
    .unwrap();
    let credential = PasswordCredential {
        username: "backup".into(),
        password: Some(zeroize::Zeroizing::new(
            "correct horse battery staple".into(),
        )),
    };
    measure("Argon2id password check (m=19 MiB, t=2)", |_| {
        with_credential
            .principal(&alice, Some(&credential))
            .unwrap();
    });
    println!("total {:.1} s", total.elapsed().as_secs_f64());
}
