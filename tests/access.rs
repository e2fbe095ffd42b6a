//! Access control over real mutual TLS with several client certificates: ownership, grants and their
//! revocation, administrators, group rules, Username and Password credentials, the address allow-list before
//! the handshake, per-identity limits, and the audit log's hash chain.

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/tls.rs"]
mod tls;

use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kmipd::access::AccessControl;
use kmipd::access::audit::{self, AuditLog, AuditSettings};
use kmipd::access::policy::{Policy, hash_password};
use kmipd::client::access_admin::{self as client, OP_GRANT, OP_LIST_GRANTS, OP_REVOKE_GRANT};
use kmipd::ops::{Engine, EngineConfig};
use kmipd::spec::enums::{
    credential_type, cryptographic_algorithm, object_type, operation, query_function, result_reason,
};
use kmipd::spec::tag;
use kmipd::store::MasterKey;
use kmipd::ttlv::{Ttlv, Value};

use kmip::*;

const V14: (i32, i32) = (1, 4);

/// An engine under `policy` (TOML), with an audit log in its data directory, served over TLS.
struct Fixture {
    server: tls::TlsServer,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(policy: &str) -> Fixture {
        Fixture::with_server(policy, |_| {})
    }

    fn with_server(policy: &str, adjust: impl FnOnce(&mut kmipd::server::ServerConfig)) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        // The engine's master key (generated into the data directory), from which the audit key derives.
        let master = MasterKey::load_or_generate(dir.path()).unwrap();
        let key = audit::AuditKey::derive(&master).unwrap();
        let audit = Arc::new(
            AuditLog::open(&dir.path().join("audit"), AuditSettings::default(), key).unwrap(),
        );
        let engine = Engine::open(EngineConfig {
            data_dir: dir.path().to_owned(),
            access: AccessControl {
                policy: Arc::new(Policy::from_toml(policy).unwrap()),
                audit: Some(audit.clone()),
            },
            ..EngineConfig::default()
        })
        .unwrap();
        audit
            .start_checkpoints(engine.store().clone(), "local")
            .unwrap();
        let server = tls::TlsServer::start_with(Arc::new(engine), adjust);
        Fixture { server, dir }
    }

    fn audit_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("audit")
    }

    /// Waits (at most 10 s) for an audit line whose reason is `reason`, and returns it.
    fn wait_for_audit_reason(&self, reason: &str) -> serde_json::Value {
        let file = self.audit_dir().join(audit::CURRENT_FILE);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let found = text
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .find(|l| l["reason"] == reason);
            if let Some(line) = found {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no audit line with {reason:?}: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

const POLICY: &str = r#"
administrators = ["root"]
users = ["alice", "bob"]
"#;

fn create_aes(extra: Vec<Ttlv>) -> Ttlv {
    let mut attributes = vec![
        attribute(
            "Cryptographic Algorithm",
            None,
            Value::Enumeration(cryptographic_algorithm::AES),
        ),
        attribute("Cryptographic Length", None, Value::Integer(256)),
        attribute("Cryptographic Usage Mask", None, Value::Integer(12)),
    ];
    attributes.extend(extra);
    request(
        V14,
        vec![item(
            operation::CREATE,
            vec![
                enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
                template_attribute(attributes),
            ],
        )],
    )
}

fn create(client: &mut tls::KmipClient, extra: Vec<Ttlv>) -> String {
    text_child(
        only_success(&client.send(&create_aes(extra))),
        tag::UNIQUE_IDENTIFIER,
    )
}

fn on(op: u32, id: &str) -> Ttlv {
    request(V14, vec![item(op, vec![uid(id)])])
}

fn encrypt(id: &str) -> Ttlv {
    request(
        V14,
        vec![item(
            operation::ENCRYPT,
            vec![uid(id), bytes(tag::DATA, b"sixteen byte msg")],
        )],
    )
}

fn locate_all() -> Ttlv {
    request(V14, vec![item(operation::LOCATE, vec![])])
}

fn located(response: &Ttlv) -> Vec<String> {
    only_success(response)
        .children_with(tag::UNIQUE_IDENTIFIER)
        .map(|u| match &u.value {
            Value::TextString(s) => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

/// The Result Reason and Message of the only (failed) item.
fn refusal(response: &Ttlv) -> (u32, String) {
    let items = batch_items(response);
    assert_eq!(items.len(), 1);
    let message = match items[0].child(tag::RESULT_MESSAGE).map(|m| &m.value) {
        Some(Value::TextString(m)) => m.clone(),
        _ => String::new(),
    };
    (failure_reason(items[0]), message)
}

fn vendor(
    client: &mut tls::KmipClient,
    op: kmipd::kmip::Operation,
    json: &str,
) -> Result<String, String> {
    client::response_json(&client.send(&client::request(op, json)))
}

fn grant(
    client: &mut tls::KmipClient,
    to: &str,
    uid: &str,
    classes: &[&str],
) -> Result<String, String> {
    let json = serde_json::json!({
        "subject": {"kind": "user", "name": to},
        "target": {"kind": "object", "name": uid},
        "classes": classes,
    });
    let answer = vendor(client, OP_GRANT, &json.to_string())?;
    let grant: serde_json::Value = serde_json::from_str(&answer).unwrap();
    Ok(grant["id"].as_str().unwrap().to_string())
}

#[test]
fn another_user_cannot_reach_or_detect_a_key_until_granted_and_not_after_revocation() {
    let f = Fixture::new(POLICY);
    let mut alice = f.server.connect_as("alice");
    let mut bob = f.server.connect_as("bob");
    let key = create(&mut alice, vec![]);

    // B's refusals are exactly those of a key that does not exist.
    let missing = "8b1f2a3c-0000-4000-8000-000000000000";
    for op in [
        operation::GET,
        operation::GET_ATTRIBUTES,
        operation::DESTROY,
        operation::ACTIVATE,
    ] {
        let (reason, message) = refusal(&bob.send(&on(op, &key)));
        let (absent_reason, absent_message) = refusal(&bob.send(&on(op, missing)));
        assert_eq!(
            reason,
            result_reason::ITEM_NOT_FOUND,
            "op {op:#x}: {message}"
        );
        assert_eq!(reason, absent_reason);
        assert_eq!(
            message.replace(&key, "X"),
            absent_message.replace(missing, "X")
        );
    }
    let (reason, message) = refusal(&bob.send(&encrypt(&key)));
    assert_eq!(reason, result_reason::ITEM_NOT_FOUND);
    assert_eq!(
        refusal(&bob.send(&encrypt(missing))),
        (reason, message.replace(&key, missing))
    );
    assert!(located(&bob.send(&locate_all())).is_empty());
    // Nor may B grant itself access to it.
    let err = grant(&mut bob, "bob", &key, &["get"]).unwrap_err();
    assert!(err.contains("Item Not Found"), "{err}");

    // The owner grants Get: B sees and gets it, but may not destroy it (visible now: Permission Denied).
    let id = grant(&mut alice, "bob", &key, &["get"]).unwrap();
    only_success(&bob.send(&on(operation::GET, &key)));
    assert_eq!(located(&bob.send(&locate_all())), vec![key.clone()]);
    let (reason, _) = refusal(&bob.send(&on(operation::DESTROY, &key)));
    assert_eq!(reason, result_reason::PERMISSION_DENIED);
    let (reason, _) = refusal(&bob.send(&encrypt(&key)));
    assert_eq!(reason, result_reason::PERMISSION_DENIED);
    let listed: serde_json::Value =
        serde_json::from_str(&vendor(&mut alice, OP_LIST_GRANTS, "{}").unwrap()).unwrap();
    assert_eq!(listed["grants"][0]["id"], id.as_str());

    // Revocation stops B at once.
    vendor(
        &mut alice,
        OP_REVOKE_GRANT,
        &serde_json::json!({ "id": id }).to_string(),
    )
    .unwrap();
    let (reason, _) = refusal(&bob.send(&on(operation::GET, &key)));
    assert_eq!(reason, result_reason::ITEM_NOT_FOUND);
    assert!(located(&bob.send(&locate_all())).is_empty());
    // The owner keeps everything.
    only_success(&alice.send(&on(operation::GET, &key)));
    assert_eq!(located(&alice.send(&locate_all())), vec![key]);
}

#[test]
fn an_administrator_manages_everything_through_the_kmipd_commands_client() {
    let f = Fixture::new(POLICY);
    let mut alice = f.server.connect_as("alice");
    let mut bob = f.server.connect_as("bob");
    let mut root = f.server.connect_as("root");
    let a = create(&mut alice, vec![]);
    let b = create(&mut bob, vec![]);
    let mut seen = located(&root.send(&locate_all()));
    seen.sort();
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(seen, both);
    only_success(&root.send(&on(operation::GET_ATTRIBUTES, &a)));

    // The client `kmipd grant` uses, with the administrator's certificate files.
    let files = tempfile::tempdir().unwrap();
    let (ca, cert, key) = f.server.client_files("root", files.path());
    let connection = client::Connection {
        server: f.server.address,
        server_name: "localhost",
        ca: &ca,
        certificate: &cert,
        key: &key,
    };
    let json = serde_json::json!({
        "subject": {"kind": "user", "name": "bob"},
        "target": {"kind": "object", "name": a},
        "classes": ["get", "destroy"],
    });
    client::call(&connection, OP_GRANT, &json.to_string()).unwrap();
    only_success(&bob.send(&on(operation::GET, &a)));
    // Nobody grants on an object that does not exist, administrators included.
    let nowhere = serde_json::json!({
        "subject": {"kind": "user", "name": "bob"},
        "target": {"kind": "object", "name": "no-such-object"},
        "classes": ["get"],
    });
    let err = client::call(&connection, OP_GRANT, &nowhere.to_string()).unwrap_err();
    assert!(err.contains("Item Not Found"), "{err}");
    // A grantee who sees the object but does not own it may not pass it on.
    let err = grant(&mut bob, "bob", &a, &["destroy"]).unwrap_err();
    assert!(err.contains("Permission Denied"), "{err}");
    // A grant on a whole Object Group is for administrators only.
    let group = serde_json::json!({
        "subject": {"kind": "group", "name": "ops"},
        "target": {"kind": "object-group", "name": "payroll"},
        "classes": ["get"],
    })
    .to_string();
    assert!(
        vendor(&mut alice, OP_GRANT, &group)
            .unwrap_err()
            .contains("Permission Denied")
    );
    client::call(&connection, OP_GRANT, &group).unwrap();
    let listed: serde_json::Value =
        serde_json::from_str(&client::call(&connection, OP_LIST_GRANTS, "{}").unwrap()).unwrap();
    assert_eq!(listed["grants"].as_array().unwrap().len(), 2);

    only_success(&root.send(&on(operation::DESTROY, &b)));
    // Operations outside every class are for administrators only.
    let (reason, _) = refusal(&alice.send(&request(
        V14,
        vec![item(operation::SET_ENDPOINT_ROLE, vec![])],
    )));
    assert_eq!(reason, result_reason::PERMISSION_DENIED);
    let (reason, _) = refusal(&root.send(&request(
        V14,
        vec![item(operation::SET_ENDPOINT_ROLE, vec![])],
    )));
    assert_eq!(reason, result_reason::OPERATION_NOT_SUPPORTED);
}

#[test]
fn the_kmipd_grant_revoke_and_list_commands_drive_a_running_server() {
    let f = Fixture::new(POLICY);
    let mut alice = f.server.connect_as("alice");
    let mut bob = f.server.connect_as("bob");
    let key = create(&mut alice, vec![]);
    let files = tempfile::tempdir().unwrap();
    let (ca, cert, private_key) = f.server.client_files("alice", files.path());
    let kmipd = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kmipd"))
            .args(args)
            .arg("--server")
            .arg(f.server.address.to_string())
            .arg("--ca")
            .arg(&ca)
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&private_key)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()
    };
    let granted = kmipd(&[
        "grant", "--to", "user:bob", "--object", &key, "--ops", "get,use",
    ]);
    assert_eq!(granted["subject"]["name"], "bob");
    only_success(&bob.send(&on(operation::GET, &key)));
    let listed = kmipd(&["grants", "list"]);
    assert_eq!(listed["grants"][0]["id"], granted["id"]);
    kmipd(&["revoke", "--id", granted["id"].as_str().unwrap()]);
    let (reason, _) = refusal(&bob.send(&on(operation::GET, &key)));
    assert_eq!(reason, result_reason::ITEM_NOT_FOUND);
}

#[test]
fn group_rules_apply_and_unknown_identities_get_only_discovery() {
    let f = Fixture::new(
        r#"
        administrators = ["root"]
        users_may_create = false
        users = ["alice"]
        [groups]
        mongodb = ["mongo-1", "mongo-2"]
        [[rules]]
        subjects = ["group:mongodb"]
        object_group = "mongodb"
        operations = ["create", "get", "use"]
        "#,
    );
    let group = || attribute("Object Group", None, Value::TextString("mongodb".into()));
    let mut m1 = f.server.connect_as("mongo-1");
    let mut m2 = f.server.connect_as("mongo-2");
    let mut alice = f.server.connect_as("alice");
    let key = create(&mut m1, vec![group()]);
    // Outside the group's Object Group, or for users without a rule, creation is refused.
    let (reason, _) = refusal(&m1.send(&create_aes(vec![])));
    assert_eq!(reason, result_reason::PERMISSION_DENIED);
    let (reason, _) = refusal(&alice.send(&create_aes(vec![])));
    assert_eq!(reason, result_reason::PERMISSION_DENIED);
    // The other member gets and locates it, but may not destroy it.
    only_success(&m2.send(&on(operation::GET, &key)));
    assert_eq!(located(&m2.send(&locate_all())), vec![key.clone()]);
    let (reason, _) = refusal(&m2.send(&on(operation::DESTROY, &key)));
    assert_eq!(reason, result_reason::PERMISSION_DENIED);
    // Users outside the group do not see it.
    let (reason, _) = refusal(&alice.send(&on(operation::GET, &key)));
    assert_eq!(reason, result_reason::ITEM_NOT_FOUND);

    // An identity the policy does not name: Discover Versions and Query only.
    let mut eve = f.server.connect_as("eve");
    only_success(&eve.send(&request(
        V14,
        vec![item(operation::DISCOVER_VERSIONS, vec![])],
    )));
    only_success(&eve.send(&request(
        V14,
        vec![item(
            operation::QUERY,
            vec![enumeration(
                tag::QUERY_FUNCTION,
                query_function::QUERY_OPERATIONS,
            )],
        )],
    )));
    for refused in [
        locate_all(),
        create_aes(vec![group()]),
        on(operation::GET, &key),
    ] {
        let (reason, _) = refusal(&eve.send(&refused));
        assert_eq!(reason, result_reason::PERMISSION_DENIED);
    }
}

fn with_credential(username: &str, password: &str, inner: Ttlv) -> Ttlv {
    let credential = structure(
        tag::AUTHENTICATION,
        vec![structure(
            tag::CREDENTIAL,
            vec![
                enumeration(tag::CREDENTIAL_TYPE, credential_type::USERNAME_AND_PASSWORD),
                structure(
                    tag::CREDENTIAL_VALUE,
                    vec![text(tag::USERNAME, username), text(tag::PASSWORD, password)],
                ),
            ],
        )],
    );
    let items: Vec<Ttlv> = inner.children_with(tag::BATCH_ITEM).cloned().collect();
    request_with(V14, vec![credential], items)
}

#[test]
fn a_credential_with_a_wrong_password_is_refused() {
    let hash = hash_password("s3cret passphrase").unwrap();
    let f = Fixture::new(&format!(
        "administrators = [\"root\"]\n[[credentials]]\nusername = \"backup\"\npassword_argon2 = \"{hash}\"\n"
    ));
    // The certificate's CN is unknown to the policy: only the Credential makes the caller someone.
    let mut client = f.server.connect_as("tape-robot");
    let key = text_child(
        only_success(&client.send(&with_credential(
            "backup",
            "s3cret passphrase",
            create_aes(vec![]),
        ))),
        tag::UNIQUE_IDENTIFIER,
    );
    only_success(&client.send(&with_credential(
        "backup",
        "s3cret passphrase",
        on(operation::GET, &key),
    )));
    for (user, password) in [
        ("backup", "s3cret passphrasE"),
        ("backup", ""),
        ("nobody", "s3cret passphrase"),
    ] {
        let (reason, _) =
            refusal(&client.send(&with_credential(user, password, on(operation::GET, &key))));
        assert_eq!(
            reason,
            result_reason::AUTHENTICATION_NOT_SUCCESSFUL,
            "{user}/{password}"
        );
    }
    // Without the Credential the certificate identity alone is unknown.
    let (reason, _) = refusal(&client.send(&on(operation::GET, &key)));
    assert_eq!(reason, result_reason::PERMISSION_DENIED);
}

#[test]
fn an_address_outside_the_allow_list_is_closed_before_any_handshake() {
    let refused = Fixture::with_server(POLICY, |c| c.access.allow = vec!["10.0.0.0/8".into()]);
    let mut tcp = TcpStream::connect(refused.server.address).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buffer = [0u8; 16];
    // The server closes without a byte, before the client has even sent its ClientHello.
    assert_eq!(tcp.read(&mut buffer).unwrap(), 0);
    // ... and records the refusal in the audit log.
    refused.wait_for_audit_reason("address not in the allow-list");

    // On the default (loopback) list the same connection is kept waiting for the handshake.
    let allowed = Fixture::new(POLICY);
    let mut tcp = TcpStream::connect(allowed.server.address).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let err = tcp.read(&mut buffer).unwrap_err();
    assert!(matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    only_success(&allowed.server.connect_as("alice").send(&locate_all()));
}

#[test]
fn per_identity_limits_hold_one_client_without_starving_the_others() {
    let f = Fixture::with_server(POLICY, |c| {
        c.access.max_connections_per_identity = 2;
        c.access.max_requests_per_second = 10;
    });
    let discover = request(V14, vec![item(operation::DISCOVER_VERSIONS, vec![])]);
    let mut a1 = f.server.connect_as("alice");
    let mut a2 = f.server.connect_as("alice");
    only_success(&a1.send(&discover));
    only_success(&a2.send(&discover));
    let mut a3 = f.server.connect_as("alice");
    assert!(
        a3.try_send(&discover).is_err(),
        "a third connection of alice was served"
    );
    f.wait_for_audit_reason("per-identity connection limit reached");
    // Another identity still connects.
    let mut bob = f.server.connect_as("bob");
    only_success(&bob.send(&discover));

    // 10 per second with a burst of 10: 25 requests take at least 1.3 s for alice ...
    let started = Instant::now();
    for _ in 0..23 {
        only_success(&a1.send(&discover));
    }
    let alice_took = started.elapsed();
    assert!(alice_took >= Duration::from_millis(1_300), "{alice_took:?}");
    // ... while bob, who has spent one token of his own, sends 9 more within his own burst: they are all
    // answered while alice's next 20, which the limiter holds for at least 2 s, are still waiting.
    let alice_done = Arc::new(AtomicBool::new(false));
    let alice = {
        let (done, discover) = (alice_done.clone(), discover.clone());
        std::thread::spawn(move || {
            for _ in 0..20 {
                only_success(&a1.send(&discover));
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    for _ in 0..9 {
        only_success(&bob.send(&discover));
    }
    assert!(
        !alice_done.load(Ordering::SeqCst),
        "bob's requests waited behind alice's rate limit"
    );
    alice.join().expect("alice's requests");
}

#[test]
fn the_audit_chain_verifies_and_breaks_when_a_line_is_edited_removed_or_reordered() {
    let f = Fixture::new(POLICY);
    let mut alice = f.server.connect_as("alice");
    let mut bob = f.server.connect_as("bob");
    let key = create(&mut alice, vec![]);
    let got = alice.send(&on(operation::GET, &key));
    let material = match only_success(&got)
        .child(tag::SYMMETRIC_KEY)
        .and_then(|k| k.child(tag::KEY_BLOCK))
        .and_then(|b| b.child(tag::KEY_VALUE))
        .and_then(|v| v.child(tag::KEY_MATERIAL))
        .map(|m| &m.value)
    {
        Some(Value::ByteString(b)) => b.to_vec(),
        other => panic!("{other:?}"),
    };
    refusal(&bob.send(&on(operation::GET, &key)));
    drop((alice, bob));

    let dir = f.audit_dir();
    let master = MasterKey::from_file(&f.dir.path().join("master.key")).unwrap();
    let audit_key = audit::AuditKey::derive(&master).unwrap();
    let options = audit::VerifyOptions {
        key: &audit_key,
        checkpoint: None,
        accept_legacy: false,
    };
    let report = audit::verify(&dir, options).unwrap();
    // The Create's intent line, its outcome, alice's Get, bob's refused Get.
    assert_eq!(report.lines, 4);
    let current = dir.join(audit::CURRENT_FILE);
    let text = std::fs::read_to_string(&current).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["identity"], "alice");
    assert_eq!(lines[0]["operation"], "Create");
    assert_eq!(lines[0]["status"], audit::INTENT);
    assert_eq!(lines[1]["operation"], "Create");
    assert_eq!(lines[1]["status"], "success");
    assert_eq!(lines[1]["objects"][0], key.as_str());
    assert_eq!(lines[2]["status"], "success");
    assert_eq!(lines[3]["identity"], "bob");
    assert_eq!(lines[3]["status"], "failure");
    assert_eq!(lines[3]["reason"], "Object Not Found");
    assert!(
        lines[3]["source"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert!(lines[3]["duration_us"].is_u64());
    for encoding in [hex::encode(&material), hex::encode_upper(&material)] {
        assert!(!text.contains(&encoding), "key material in the audit log");
    }
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &material);
    assert!(!text.contains(&b64));

    // The `kmipd audit verify` command agrees, then fails on each kind of tampering.
    let kmipd = env!("CARGO_BIN_EXE_kmipd");
    let verify = || {
        std::process::Command::new(kmipd)
            .args(["audit", "verify", "--no-checkpoint", "--data-dir"])
            .arg(f.dir.path())
            .arg(&dir)
            .env_remove("KMIPD_MASTER_KEY")
            .output()
            .unwrap()
    };
    assert!(verify().status.success());
    let original: Vec<String> = text.lines().map(str::to_string).collect();
    let write = |lines: &[String]| std::fs::write(&current, lines.join("\n") + "\n").unwrap();
    let edited = {
        let mut l = original.clone();
        l[1] = l[1].replace("\"alice\"", "\"mallory\"");
        l
    };
    let removed = {
        let mut l = original.clone();
        l.remove(1);
        l
    };
    let reordered = {
        let mut l = original.clone();
        l.swap(1, 2);
        l
    };
    for (what, lines) in [
        ("edited", edited),
        ("removed", removed),
        ("reordered", reordered),
    ] {
        write(&lines);
        let out = verify();
        assert!(!out.status.success(), "{what} line not detected");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("audit.log:"),
            "{what}"
        );
        write(&original);
        assert!(verify().status.success());
    }
}

#[test]
fn grant_and_revoke_lines_record_subject_target_and_classes() {
    let f = Fixture::new(POLICY);
    let mut alice = f.server.connect_as("alice");
    let key = create(&mut alice, vec![]);
    let id = grant(&mut alice, "bob", &key, &["get", "use"]).unwrap();
    vendor(
        &mut alice,
        OP_REVOKE_GRANT,
        &serde_json::json!({ "id": id }).to_string(),
    )
    .unwrap();
    drop(alice);

    let text = std::fs::read_to_string(f.audit_dir().join(audit::CURRENT_FILE)).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |op: &str, status: &str| {
        lines
            .iter()
            .find(|l| l["operation"] == op && l["status"] == status)
            .unwrap_or_else(|| panic!("no {status} line of {op}: {text}"))
            .clone()
    };
    let subject = serde_json::json!({"kind": "user", "name": "bob"});
    let target = serde_json::json!({"kind": "object", "name": key});
    let classes = serde_json::json!(["get", "use"]);
    let granted = of("Grant", "success");
    assert_eq!(granted["identity"], "alice");
    assert_eq!(granted["detail"]["id"], id.as_str());
    assert_eq!(granted["detail"]["subject"], subject);
    assert_eq!(granted["detail"]["target"], target);
    assert_eq!(granted["detail"]["classes"], classes);
    // The intent line, written before the grant was stored, already names what it is about.
    let intent = of("Grant", audit::INTENT);
    assert_eq!(intent["detail"]["subject"], subject);
    assert_eq!(intent["detail"]["classes"], classes);
    let revoked = of("Revoke Grant", "success");
    assert_eq!(revoked["detail"]["revoked"], id.as_str());
    assert_eq!(revoked["detail"]["subject"], subject);
    assert_eq!(revoked["detail"]["target"], target);
    assert_eq!(revoked["detail"]["classes"], classes);
}
