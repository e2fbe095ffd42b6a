//! A hostile low-privilege client against `kmipd serve` over real mutual TLS: a policy with three users (alice,
//! bob, carol), two groups (`mongodb` with mongo-1, `payroll` with carol) and a credential user (`backup`).
//! Every path by which a request reaches a second object — a wrapping key in a Key Wrapping Specification, the
//! key in a registered Key Block's Key Wrapping Data, a Derive Key base, a ReKey source, MAC and signing keys, a
//! Link target, the ID Placeholder — is tried on another owner's object, and every refusal is compared with the
//! answer for an identifier no object has: the same Result Status, Result Reason and Result Message (with the
//! identifier itself put aside). Object Group changes are tried as a creation right, and a batch with Undo is
//! checked to take back a grant it made or revoked.

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/tls.rs"]
mod tls;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kmipd::access::policy::hash_password;
use kmipd::client::access_admin::{
    self as access_client, OP_GRANT, OP_LIST_GRANTS, OP_REVOKE_GRANT,
};
use kmipd::pki::{CertificateAuthority, IssuedPair, KeyType, write_pair, write_public_file};
use kmipd::spec::enums::{
    batch_error_continuation_option, credential_type, cryptographic_algorithm as alg,
    cryptographic_usage_mask as usage, derivation_method, key_wrap_type, link_type, object_type,
    operation, result_reason, result_status, wrapping_method,
};
use kmipd::spec::tag;
use kmipd::ttlv::{Ttlv, Value};

use kmip::*;
use tls::KmipClient;

const V14: (i32, i32) = (1, 4);
const V21: (i32, i32) = (2, 1);
/// Longest wait for `kmipd serve` to answer.
const START_WAIT: Duration = Duration::from_secs(60);
/// An identifier no object has.
const MISSING: &str = "0f0e0d0c-0000-4000-8000-00000000dead";
const PASSWORD: &str = "backup horse battery";

/// A `kmipd serve` under the adversary policy with its own CA; killed when dropped.
struct Serve {
    child: Child,
    address: SocketAddr,
    ca: CertificateAuthority,
    ca_pem: String,
    _dir: tempfile::TempDir,
}

impl Serve {
    fn start() -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let (ca, ca_pair) =
            CertificateAuthority::generate("adversary CA", 30, KeyType::EcdsaP256).unwrap();
        let server = tls::localhost_server(&ca);
        let (cert_chain, private_key) = write_pair(dir.path(), "server", &server).unwrap();
        let client_ca = dir.path().join("client-ca.pem");
        write_public_file(&client_ca, ca.certificate_pem()).unwrap();
        let policy = dir.path().join("policy.toml");
        std::fs::write(&policy, policy_text()).unwrap();
        let port = tls::free_port();
        let config = dir.path().join("kmipd.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {data:?}\n[tls]\ncert_chain = {cert_chain:?}\nprivate_key = {private_key:?}\n\
                 client_ca = {client_ca:?}\n[access]\npolicy_file = {policy:?}\n",
                data = dir.path().join("data"),
            ),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kmipd"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("KMIPD_MASTER_KEY")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut serve = Serve {
            child,
            address: ([127, 0, 0, 1], port).into(),
            ca,
            ca_pem: ca_pair.certificate_pem.clone(),
            _dir: dir,
        };
        serve.wait_ready();
        serve
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_WAIT;
        let pair = self.issue("alice");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("kmipd serve exited with {status}");
            }
            let ready = KmipClient::connect_pem(
                self.address,
                &self.ca_pem,
                &pair.certificate_pem,
                &pair.private_key_pem,
            )
            .and_then(|mut c| c.try_send(&request(V14, vec![item(operation::QUERY, vec![])])));
            if ready.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "kmipd serve did not answer in time"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn issue(&self, name: &str) -> IssuedPair {
        self.ca.issue_client(name, 30, KeyType::EcdsaP256).unwrap()
    }

    /// A connection presenting a client certificate whose CN is `name`.
    fn connect(&self, name: &str) -> Client {
        let pair = self.issue(name);
        Client {
            conn: KmipClient::connect_pem(
                self.address,
                &self.ca_pem,
                &pair.certificate_pem,
                &pair.private_key_pem,
            )
            .unwrap(),
            credential: None,
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn policy_text() -> String {
    let hash = hash_password(PASSWORD).unwrap();
    format!(
        r#"
administrators = ["root"]
users_may_create = false
users = ["alice", "bob", "carol"]

[groups]
mongodb = ["mongo-1"]
payroll = ["carol"]

[[credentials]]
username = "backup"
password_argon2 = "{hash}"

[[rules]]
subjects = ["alice", "bob", "carol", "credential:backup"]
operations = ["create"]

[[rules]]
subjects = ["group:mongodb"]
object_group = "mongodb"
operations = ["create", "get", "use", "manage-attributes", "lifecycle"]

[[rules]]
subjects = ["group:payroll"]
object_group = "payroll"
operations = ["get", "use"]
"#
    )
}

/// One identity's connection; with `credential`, every request carries that Username and Password.
struct Client {
    conn: KmipClient,
    credential: Option<(String, String)>,
}

impl Client {
    fn send_items(&mut self, version: (i32, i32), items: Vec<Ttlv>) -> Ttlv {
        self.send_with(version, Vec::new(), items)
    }

    fn send_with(&mut self, version: (i32, i32), mut header: Vec<Ttlv>, items: Vec<Ttlv>) -> Ttlv {
        if let Some((user, password)) = &self.credential {
            header.push(structure(
                tag::AUTHENTICATION,
                vec![structure(
                    tag::CREDENTIAL,
                    vec![
                        enumeration(tag::CREDENTIAL_TYPE, credential_type::USERNAME_AND_PASSWORD),
                        structure(
                            tag::CREDENTIAL_VALUE,
                            vec![text(tag::USERNAME, user), text(tag::PASSWORD, password)],
                        ),
                    ],
                )],
            ));
        }
        self.conn.send(&request_with(version, header, items))
    }

    /// The only item's payload, which must have succeeded.
    fn ok(&mut self, version: (i32, i32), one: Ttlv) -> Ttlv {
        only_success(&self.send_items(version, vec![one])).clone()
    }

    /// The only item's (status, reason, message), which must have failed.
    fn refused(&mut self, version: (i32, i32), one: Ttlv) -> Answer {
        let response = self.send_items(version, vec![one]);
        let items = batch_items(&response);
        assert_eq!(items.len(), 1);
        Answer::of(items[0])
    }

    fn create_aes(&mut self, mask: u32, extra: Vec<Ttlv>) -> String {
        let mut attributes = vec![
            attribute(
                "Cryptographic Algorithm",
                None,
                Value::Enumeration(alg::AES),
            ),
            attribute("Cryptographic Length", None, Value::Integer(256)),
            attribute("Cryptographic Usage Mask", None, Value::Integer(bits(mask))),
            attribute("Activation Date", None, Value::DateTime(1)),
        ];
        attributes.extend(extra);
        let payload = self.ok(
            V14,
            item(
                operation::CREATE,
                vec![
                    enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
                    template_attribute(attributes),
                ],
            ),
        );
        text_child(&payload, tag::UNIQUE_IDENTIFIER)
    }
}

/// A usage mask as the Integer it is sent as.
fn bits(mask: u32) -> i32 {
    i32::try_from(mask).unwrap()
}

/// What a failed item answers, compared field by field.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u32,
    reason: u32,
    message: String,
}

impl Answer {
    fn of(item: &Ttlv) -> Answer {
        let enumeration = |t| match item.child(t).map(|c| &c.value) {
            Some(Value::Enumeration(v)) => *v,
            other => panic!("no enumeration {t:#x}: {other:?}"),
        };
        Answer {
            status: enumeration(tag::RESULT_STATUS),
            reason: enumeration(tag::RESULT_REASON),
            message: match item.child(tag::RESULT_MESSAGE).map(|m| &m.value) {
                Some(Value::TextString(m)) => m.clone(),
                _ => String::new(),
            },
        }
    }

    /// The answer with the identifier the request named put aside.
    fn without(mut self, uid: &str) -> Answer {
        self.message = self.message.replace(uid, "<uid>");
        self
    }
}

/// Sends `build(victim)` and `build(MISSING)` and checks both are refused identically; returns the answer.
fn like_missing(
    client: &mut Client,
    version: (i32, i32),
    victim: &str,
    build: impl Fn(&str) -> Ttlv,
) -> Answer {
    let refused = client.refused(version, build(victim)).without(victim);
    let missing = client.refused(version, build(MISSING)).without(MISSING);
    assert_eq!(refused.status, result_status::OPERATION_FAILED);
    assert_eq!(
        refused, missing,
        "an invisible object answers unlike a missing one"
    );
    refused
}

fn wrapping_spec(key: &str) -> Ttlv {
    structure(
        tag::KEY_WRAPPING_SPECIFICATION,
        vec![
            enumeration(tag::WRAPPING_METHOD, wrapping_method::ENCRYPT),
            structure(tag::ENCRYPTION_KEY_INFORMATION, vec![uid(key)]),
        ],
    )
}

fn get_wrapped(object: &str, key: &str) -> Ttlv {
    item(operation::GET, vec![uid(object), wrapping_spec(key)])
}

/// The Symmetric Key item of a Get answer, with the Unique Identifier in its Key Wrapping Data replaced.
fn rename_wrapping_key(key_item: &Ttlv, to: &str) -> Ttlv {
    fn walk(item: &Ttlv, inside: bool, to: &str) -> Ttlv {
        match &item.value {
            Value::Structure(children) => Ttlv::structure(
                item.tag,
                children
                    .iter()
                    .map(|c| walk(c, inside || item.tag == tag::ENCRYPTION_KEY_INFORMATION, to))
                    .collect(),
            ),
            Value::TextString(_) if inside && item.tag == tag::UNIQUE_IDENTIFIER => {
                Ttlv::new(tag::UNIQUE_IDENTIFIER, Value::TextString(to.into()))
            }
            _ => item.clone(),
        }
    }
    walk(key_item, false, to)
}

fn register_key(key_item: &Ttlv, not_wrapped: bool) -> Ttlv {
    let mut payload = vec![
        enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
        template_attribute(vec![attribute(
            "Cryptographic Usage Mask",
            None,
            Value::Integer(bits(usage::ENCRYPT | usage::DECRYPT)),
        )]),
        key_item.clone(),
    ];
    if not_wrapped {
        payload.push(enumeration(tag::KEY_WRAP_TYPE, key_wrap_type::NOT_WRAPPED));
    }
    item(operation::REGISTER, payload)
}

fn link_attribute(target: &str) -> Ttlv {
    attribute_structure(
        "Link",
        vec![
            enumeration(tag::LINK_TYPE, link_type::PARENT_LINK),
            text(tag::LINKED_OBJECT_IDENTIFIER, target),
        ],
    )
}

fn derive_from(base: &str, extra: Vec<Ttlv>) -> Ttlv {
    let mut attributes = vec![
        attribute(
            "Cryptographic Algorithm",
            None,
            Value::Enumeration(alg::AES),
        ),
        attribute("Cryptographic Length", None, Value::Integer(128)),
    ];
    attributes.extend(extra);
    item(
        operation::DERIVE_KEY,
        vec![
            enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
            uid(base),
            enumeration(tag::DERIVATION_METHOD, derivation_method::HKDF),
            structure(
                tag::DERIVATION_PARAMETERS,
                vec![
                    bytes(tag::SALT, b"salt"),
                    bytes(tag::DERIVATION_DATA, b"info"),
                ],
            ),
            template_attribute(attributes),
        ],
    )
}

fn grant_item(op: kmipd::kmip::Operation, json: &serde_json::Value) -> Ttlv {
    let payload = access_client::payload(tag::REQUEST_PAYLOAD, &json.to_string());
    structure(
        tag::BATCH_ITEM,
        vec![enumeration(tag::OPERATION, op.0), payload],
    )
}

fn grant_json(to: &str, uid: &str, classes: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "subject": {"kind": "user", "name": to},
        "target": {"kind": "object", "name": uid},
        "classes": classes,
    })
}

fn grant(client: &mut Client, to: &str, uid: &str, classes: &[&str]) -> String {
    let payload = client.ok(V14, grant_item(OP_GRANT, &grant_json(to, uid, classes)));
    let answer: serde_json::Value =
        serde_json::from_str(access_client::payload_json(&payload).unwrap()).unwrap();
    answer["id"].as_str().unwrap().to_string()
}

fn undo_header() -> Vec<Ttlv> {
    vec![enumeration(
        tag::BATCH_ERROR_CONTINUATION_OPTION,
        batch_error_continuation_option::UNDO,
    )]
}

#[test]
fn second_objects_of_another_owner_are_refused_exactly_like_missing_ones() {
    let serve = Serve::start();
    let mut alice = serve.connect("alice");
    let mut bob = serve.connect("bob");
    let mut backup = serve.connect("bob");
    backup.credential = Some(("backup".into(), PASSWORD.into()));

    let wrap_mask = usage::WRAP_KEY | usage::UNWRAP_KEY | usage::ENCRYPT | usage::DECRYPT;
    let kek = alice.create_aes(wrap_mask, vec![]);
    let secret = alice.create_aes(usage::ENCRYPT | usage::DECRYPT, vec![]);
    let mac_key = alice.create_aes(usage::MAC_GENERATE | usage::DERIVE_KEY, vec![]);
    let bobs = bob.create_aes(usage::ENCRYPT | usage::DECRYPT, vec![]);

    // Get with alice's key as the wrapping key: Wrapping Object Not Found, as for no such key. The credential
    // user (on bob's certificate) fares no better.
    // (1.4 has no Wrapping Object Not Found: it answers Item Not Found.)
    let answer = like_missing(&mut bob, V14, &kek, |k| get_wrapped(&bobs, k));
    assert_eq!(answer.reason, result_reason::ITEM_NOT_FOUND, "{answer:?}");
    let answer = like_missing(&mut bob, V21, &kek, |k| get_wrapped(&bobs, k));
    assert_eq!(
        answer.reason,
        result_reason::WRAPPING_OBJECT_NOT_FOUND,
        "{answer:?}"
    );
    let backups = backup.create_aes(usage::ENCRYPT, vec![]);
    like_missing(&mut backup, V14, &kek, |k| get_wrapped(&backups, k));
    // bob's own key cannot be reached by the credential user either, nor backup's by bob.
    like_missing(&mut backup, V14, &bobs, |o| {
        item(operation::GET, vec![uid(o)])
    });
    like_missing(&mut bob, V14, &backups, |o| {
        item(operation::GET, vec![uid(o)])
    });

    // Alice wraps her secret under her key (allowed); bob registers that block naming her key with Key Wrap
    // Type Not Wrapped: refused like a block naming no key.
    let wrapped = alice.ok(V14, get_wrapped(&secret, &kek));
    let block = wrapped.child(tag::SYMMETRIC_KEY).unwrap().clone();
    let refused = bob.refused(V14, register_key(&block, true)).without(&kek);
    let missing = bob
        .refused(
            V14,
            register_key(&rename_wrapping_key(&block, MISSING), true),
        )
        .without(MISSING);
    assert_eq!(refused, missing);
    assert_eq!(refused.reason, result_reason::ITEM_NOT_FOUND);
    // Registered still wrapped it is accepted as for an unknown key, but not linked to alice's key, and a Get
    // asking for it unwrapped is refused like one whose key is missing.
    let stored = text_child(
        &bob.ok(V14, register_key(&block, false)),
        tag::UNIQUE_IDENTIFIER,
    );
    let stored_missing = text_child(
        &bob.ok(
            V14,
            register_key(&rename_wrapping_key(&block, MISSING), false),
        ),
        tag::UNIQUE_IDENTIFIER,
    );
    let get_unwrapped = |o: &str| {
        item(
            operation::GET,
            vec![
                uid(o),
                enumeration(tag::KEY_WRAP_TYPE, key_wrap_type::NOT_WRAPPED),
            ],
        )
    };
    let a = bob
        .refused(V14, get_unwrapped(&stored))
        .without(&kek)
        .without(&stored);
    let b = bob
        .refused(V14, get_unwrapped(&stored_missing))
        .without(MISSING)
        .without(&stored_missing);
    assert_eq!(a, b);
    let attrs = bob.ok(
        V14,
        item(
            operation::GET_ATTRIBUTES,
            vec![uid(&stored), text(tag::ATTRIBUTE_NAME, "Link")],
        ),
    );
    assert!(
        attributes_1x(&attrs).is_empty(),
        "linked to alice's key: {attrs:?}"
    );

    // Derive Key from, ReKey, MAC with and Add Attribute on alice's keys.
    like_missing(&mut bob, V14, &mac_key, |k| derive_from(k, vec![]));
    like_missing(&mut bob, V14, &secret, |k| {
        item(operation::RE_KEY, vec![uid(k)])
    });
    like_missing(&mut bob, V14, &mac_key, |k| {
        item(operation::MAC, vec![uid(k), bytes(tag::DATA, b"message")])
    });
    // A Link from bob's key to alice's object.
    like_missing(&mut bob, V14, &secret, |target| {
        item(
            operation::ADD_ATTRIBUTE,
            vec![uid(&bobs), link_attribute(target)],
        )
    });
    // Created with a Link to alice's object.
    like_missing(&mut bob, V14, &secret, |target| {
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
                    attribute("Cryptographic Length", None, Value::Integer(128)),
                    link_attribute(target),
                ]),
            ],
        )
    });

    // Sign with alice's private key (2.1 Create Key Pair).
    let pair = alice.ok(
        V21,
        item(
            operation::CREATE_KEY_PAIR,
            vec![
                structure(
                    tag::COMMON_ATTRIBUTES,
                    vec![
                        enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, alg::ED25519),
                        int(tag::CRYPTOGRAPHIC_LENGTH, 256),
                        Ttlv::new(tag::ACTIVATION_DATE, Value::DateTime(1)),
                    ],
                ),
                structure(
                    tag::PRIVATE_KEY_ATTRIBUTES,
                    vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, bits(usage::SIGN))],
                ),
                structure(
                    tag::PUBLIC_KEY_ATTRIBUTES,
                    vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, bits(usage::VERIFY))],
                ),
            ],
        ),
    );
    let private = text_child(&pair, tag::PRIVATE_KEY_UNIQUE_IDENTIFIER);
    like_missing(&mut bob, V21, &private, |k| {
        item(operation::SIGN, vec![uid(k), bytes(tag::DATA, b"message")])
    });

    // The ID Placeholder: a Locate that finds only alice's key (by Name) leaves nothing for the next item, as
    // a Locate that finds nothing does.
    alice.ok(
        V14,
        item(
            operation::ADD_ATTRIBUTE,
            vec![
                uid(&secret),
                attribute_structure("Name", name_value("alice-secret")),
            ],
        ),
    );
    let by_name = |name: &str| {
        vec![
            item(
                operation::LOCATE,
                vec![attribute_structure("Name", name_value(name))],
            ),
            item(operation::GET, vec![]),
        ]
    };
    let continue_header = || {
        vec![enumeration(
            tag::BATCH_ERROR_CONTINUATION_OPTION,
            batch_error_continuation_option::CONTINUE,
        )]
    };
    let found = bob.send_with(V14, continue_header(), by_name("alice-secret"));
    let nothing = bob.send_with(V14, continue_header(), by_name("no-such-name"));
    let items = batch_items(&found);
    assert!(
        success(items[0])
            .children_with(tag::UNIQUE_IDENTIFIER)
            .next()
            .is_none()
    );
    assert_eq!(Answer::of(items[1]), Answer::of(batch_items(&nothing)[1]));

    // The control: once alice grants bob Use on her key, the same Get wraps under it.
    grant(&mut alice, "bob", &kek, &["use"]);
    let got = bob.ok(V14, get_wrapped(&bobs, &kek));
    assert!(got.child(tag::SYMMETRIC_KEY).is_some());
}

#[test]
fn object_group_is_a_creation_right_on_every_path() {
    let serve = Serve::start();
    let mut mongo = serve.connect("mongo-1");
    let mut carol = serve.connect("carol");
    let mut alice = serve.connect("alice");
    let group = |g: &str| attribute("Object Group", None, Value::TextString(g.into()));
    let denied = |answer: Answer| {
        assert_eq!(
            answer.reason,
            result_reason::PERMISSION_DENIED,
            "{answer:?}"
        );
    };

    // mongo-1 creates in mongodb (allowed) and may not move the key to payroll by Modify, Add or Set.
    let key = mongo.create_aes(usage::DERIVE_KEY | usage::ENCRYPT, vec![group("mongodb")]);
    denied(mongo.refused(
        V14,
        item(
            operation::MODIFY_ATTRIBUTE,
            vec![
                uid(&key),
                attribute("Object Group", Some(0), Value::TextString("payroll".into())),
            ],
        ),
    ));
    denied(mongo.refused(
        V14,
        item(operation::ADD_ATTRIBUTE, vec![uid(&key), group("payroll")]),
    ));
    denied(mongo.refused(
        V21,
        item(
            operation::SET_ATTRIBUTE,
            vec![
                uid(&key),
                structure(tag::NEW_ATTRIBUTE, vec![text(tag::OBJECT_GROUP, "payroll")]),
            ],
        ),
    ));
    // Nor create there: Create, Register, ReKey, Derive Key and Create Key Pair (in either template).
    denied(mongo.refused(
        V14,
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
                    attribute("Cryptographic Length", None, Value::Integer(128)),
                    group("payroll"),
                ]),
            ],
        ),
    ));
    denied(mongo.refused(
        V14,
        item(
            operation::REGISTER,
            vec![
                enumeration(tag::OBJECT_TYPE, object_type::SECRET_DATA),
                template_attribute(vec![group("payroll")]),
                password_secret(b"planted"),
            ],
        ),
    ));
    denied(mongo.refused(
        V14,
        item(
            operation::RE_KEY,
            vec![uid(&key), template_attribute(vec![group("payroll")])],
        ),
    ));
    denied(mongo.refused(V14, derive_from(&key, vec![group("payroll")])));
    for template in [tag::PRIVATE_KEY_ATTRIBUTES, tag::PUBLIC_KEY_ATTRIBUTES] {
        denied(mongo.refused(
            V21,
            item(
                operation::CREATE_KEY_PAIR,
                vec![
                    structure(
                        tag::COMMON_ATTRIBUTES,
                        vec![
                            enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, alg::ED25519),
                            int(tag::CRYPTOGRAPHIC_LENGTH, 256),
                            text(tag::OBJECT_GROUP, "mongodb"),
                        ],
                    ),
                    structure(template, vec![text(tag::OBJECT_GROUP, "payroll")]),
                ],
            ),
        ));
    }
    // payroll's member still cannot see the key: nothing moved.
    like_missing(&mut carol, V14, &key, |k| {
        item(operation::GET, vec![uid(k)])
    });
    // A grantee with manage-attributes cannot move the owner's key into payroll either.
    let alices = alice.create_aes(usage::ENCRYPT, vec![]);
    grant(&mut alice, "mongo-1", &alices, &["manage-attributes"]);
    denied(mongo.refused(
        V14,
        item(
            operation::ADD_ATTRIBUTE,
            vec![uid(&alices), group("payroll")],
        ),
    ));
    like_missing(&mut carol, V14, &alices, |k| {
        item(operation::GET, vec![uid(k)])
    });
    // The control: within its own group the same Derive Key and ReKey succeed.
    mongo.ok(V14, derive_from(&key, vec![group("mongodb")]));
    mongo.ok(
        V14,
        item(
            operation::RE_KEY,
            vec![uid(&key), template_attribute(vec![group("mongodb")])],
        ),
    );
}

#[test]
fn undo_takes_back_grants_and_revocations() {
    let serve = Serve::start();
    let mut alice = serve.connect("alice");
    let mut bob = serve.connect("bob");
    let key = alice.create_aes(usage::ENCRYPT, vec![]);

    // [Grant bob get on the key, a failing Get] with Undo: the grant is answered Operation Undone and is gone.
    let response = alice.send_with(
        V14,
        undo_header(),
        vec![
            grant_item(OP_GRANT, &grant_json("bob", &key, &["get"])),
            item(operation::GET, vec![uid(MISSING)]),
        ],
    );
    let items = batch_items(&response);
    assert_eq!(
        items[0].child(tag::RESULT_STATUS).map(|s| &s.value),
        Some(&Value::Enumeration(result_status::OPERATION_UNDONE))
    );
    like_missing(&mut bob, V14, &key, |k| item(operation::GET, vec![uid(k)]));
    let listed = alice.ok(V14, grant_item(OP_LIST_GRANTS, &serde_json::json!({})));
    let listed: serde_json::Value =
        serde_json::from_str(access_client::payload_json(&listed).unwrap()).unwrap();
    assert_eq!(
        listed["grants"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );

    // A revocation undone: the grant is back.
    let id = grant(&mut alice, "bob", &key, &["get"]);
    bob.ok(V14, item(operation::GET, vec![uid(&key)]));
    let response = alice.send_with(
        V14,
        undo_header(),
        vec![
            grant_item(OP_REVOKE_GRANT, &serde_json::json!({ "id": id })),
            item(operation::GET, vec![uid(MISSING)]),
        ],
    );
    assert_eq!(
        batch_items(&response)[0]
            .child(tag::RESULT_STATUS)
            .map(|s| &s.value),
        Some(&Value::Enumeration(result_status::OPERATION_UNDONE))
    );
    bob.ok(V14, item(operation::GET, vec![uid(&key)]));

    // A create undone leaves nothing bob or alice can find.
    let response = alice.send_with(
        V14,
        undo_header(),
        vec![
            create_symmetric_key(alg::AES, 128, bits(usage::ENCRYPT)),
            item(operation::GET, vec![uid(MISSING)]),
        ],
    );
    let created = batch_items(&response)[0]
        .child(tag::RESPONSE_PAYLOAD)
        .map(|p| text_child(p, tag::UNIQUE_IDENTIFIER));
    if let Some(created) = created {
        like_missing(&mut alice, V14, &created, |k| {
            item(operation::GET, vec![uid(k)])
        });
    }
}

/// docs/security.md maps each threat to tests: every test it names exists (as a test function under `tests/`
/// or `src/`), and every row names one.
#[test]
fn the_threat_model_names_tests_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/security.md")).unwrap();
    let mut sources = String::new();
    let mut dirs = vec![root.join("tests"), root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let rows: Vec<&str> = doc
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| Threat"))
        .collect();
    assert!(rows.len() >= 10, "the threat table is missing");
    for row in rows {
        let test_column = row.trim_end_matches('|').rsplit('|').next().unwrap();
        // Backticked file paths (`tests/audit.rs`) say where the named tests live; the rest are test names.
        let names: Vec<&str> = test_column
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|n| !n.contains('/') && !n.ends_with(".rs"))
            .collect();
        assert!(!names.is_empty(), "a threat without a test: {row}");
        for name in names {
            assert!(
                sources.contains(&format!("fn {name}(")),
                "docs/security.md names {name}, which is no test"
            );
        }
    }
}
