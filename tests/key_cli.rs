//! `kmipd key create` and `kmipd key get` against a running server over mutual TLS, as an operator's script or a
//! LUKS keyscript uses them: the bytes fetched by name are the key's bytes, access policy applies, names that
//! match nothing or several objects are refused, and (where cryptsetup is installed) the fetched key opens a
//! LUKS2 volume formatted with it.

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/tls.rs"]
mod tls;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use kmipd::access::AccessControl;
use kmipd::access::policy::Policy;
use kmipd::ops::{Engine, EngineConfig};
use kmipd::spec::enums::{cryptographic_algorithm, key_format_type, object_type, operation};
use kmipd::spec::tag;
use kmipd::ttlv::Value;

use kmip::*;

const V14: (i32, i32) = (1, 4);

const POLICY: &str = r#"
administrators = ["root"]
users = ["alice", "bob"]
"#;

/// A server under POLICY, and certificate files for alice and bob.
struct Fixture {
    server: tls::TlsServer,
    files: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let data = tempfile::tempdir().unwrap();
        let engine = Engine::open(EngineConfig {
            data_dir: data.path().to_owned(),
            access: AccessControl {
                policy: Arc::new(Policy::from_toml(POLICY).unwrap()),
                audit: None,
            },
            ..EngineConfig::default()
        })
        .unwrap();
        let server = tls::TlsServer::start(Arc::new(engine));
        let files = tempfile::tempdir().unwrap();
        for who in ["alice", "bob"] {
            let dir = files.path().join(who);
            std::fs::create_dir(&dir).unwrap();
            server.client_files(who, &dir);
        }
        Fixture {
            server,
            files,
            _data: data,
        }
    }

    /// `kmipd key ARGS` as `who`.
    fn kmipd(&self, who: &str, args: &[&str]) -> Output {
        self.command(who, args).output().unwrap()
    }

    fn command(&self, who: &str, args: &[&str]) -> Command {
        let dir = self.files.path().join(who);
        let mut command = Command::new(env!("CARGO_BIN_EXE_kmipd"));
        command
            .arg("key")
            .args(args)
            .arg("--server")
            .arg(self.server.address.to_string())
            .arg("--ca")
            .arg(dir.join("ca.pem"))
            .arg("--cert")
            .arg(dir.join(format!("{who}.pem")))
            .arg("--key")
            .arg(dir.join(format!("{who}.key")));
        command
    }

    fn path(&self, name: &str) -> PathBuf {
        self.files.path().join(name)
    }
}

fn ok(out: &Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "kmipd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.clone()
}

fn refused(out: &Output) -> String {
    assert!(!out.status.success(), "kmipd succeeded where it must not");
    assert!(out.stdout.is_empty(), "a refusal printed to stdout");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The Raw key bytes of `id`, read over KMIP by `client` (not through the command under test).
fn raw_key(client: &mut tls::KmipClient, id: &str) -> Vec<u8> {
    let response = client.send(&request(
        V14,
        vec![item(
            operation::GET,
            vec![
                uid(id),
                enumeration(tag::KEY_FORMAT_TYPE, key_format_type::RAW),
            ],
        )],
    ));
    raw_key_material(only_success(&response))
}

fn register_secret(client: &mut tls::KmipClient, name: &str, secret: &[u8]) -> String {
    let response = client.send(&request(
        V14,
        vec![item(
            operation::REGISTER,
            vec![
                enumeration(tag::OBJECT_TYPE, object_type::SECRET_DATA),
                template_attribute(vec![
                    attribute("Cryptographic Usage Mask", None, Value::Integer(0)),
                    attribute_structure("Name", name_value(name)),
                ]),
                password_secret(secret),
            ],
        )],
    ));
    text_child(only_success(&response), tag::UNIQUE_IDENTIFIER)
}

#[test]
fn create_then_get_by_name_returns_the_keys_bytes() {
    let f = Fixture::new();
    let id = String::from_utf8(ok(&f.kmipd("alice", &["create", "--name", "luks-root"])))
        .unwrap()
        .trim()
        .to_string();
    let mut alice = f.server.connect_as("alice");
    let expected = raw_key(&mut alice, &id);
    assert_eq!(expected.len(), 32, "a 256-bit key by default");

    // Raw to stdout, as a keyscript hands it to cryptsetup.
    assert_eq!(
        ok(&f.kmipd("alice", &["get", "--name", "luks-root"])),
        expected
    );
    // By identifier, and as text.
    assert_eq!(ok(&f.kmipd("alice", &["get", "--id", &id])), expected);
    assert_eq!(
        String::from_utf8(ok(
            &f.kmipd("alice", &["get", "--name", "luks-root", "--format", "hex"])
        ))
        .unwrap(),
        format!("{}\n", hex::encode(&expected))
    );
    // To a file only its owner can read, even when the file existed with wider permissions.
    let file = f.path("root.key");
    std::fs::write(
        &file,
        b"old contents, longer than the key that replaces them",
    )
    .unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = f.kmipd(
        "alice",
        &[
            "get",
            "--name",
            "luks-root",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert!(ok(&out).is_empty(), "nothing on stdout when writing a file");
    assert_eq!(std::fs::read(&file).unwrap(), expected);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // The key is Active, AES-256 and usable for encryption (what `create` promises).
    let attrs = alice.send(&request(
        V14,
        vec![item(operation::GET_ATTRIBUTES, vec![uid(&id)])],
    ));
    let payload = only_success(&attrs);
    assert_eq!(state_of(payload), kmipd::spec::enums::state::ACTIVE);
    assert_eq!(
        attribute_value(payload, "Cryptographic Algorithm"),
        Some(&Value::Enumeration(cryptographic_algorithm::AES))
    );

    // 128-bit keys on request; a length AES does not have is refused before anything is sent.
    let short = String::from_utf8(ok(
        &f.kmipd("alice", &["create", "--name", "short", "--bits", "128"])
    ))
    .unwrap();
    assert_eq!(raw_key(&mut alice, short.trim()).len(), 16);
    assert!(
        refused(&f.kmipd("alice", &["create", "--name", "odd", "--bits", "100"]))
            .contains("128, 192 or 256")
    );
}

#[test]
fn output_refuses_a_symbolic_link_and_leaves_its_target_alone() {
    let f = Fixture::new();
    ok(&f.kmipd("alice", &["create", "--name", "vault"]));
    let target = f.path("elsewhere.txt");
    std::fs::write(&target, b"not yours").unwrap();
    let link = f.path("vault.key");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let message = refused(&f.kmipd(
        "alice",
        &["get", "--name", "vault", "--output", link.to_str().unwrap()],
    ));
    assert!(message.contains("symbolic link"), "{message}");
    assert_eq!(std::fs::read(&target).unwrap(), b"not yours");
    // A dangling link (the file it names does not exist yet) is refused too, and nothing is created.
    let dangling = f.path("dangling.key");
    std::os::unix::fs::symlink(f.path("created-through-link"), &dangling).unwrap();
    refused(&f.kmipd(
        "alice",
        &[
            "get",
            "--name",
            "vault",
            "--output",
            dangling.to_str().unwrap(),
        ],
    ));
    assert!(!f.path("created-through-link").exists());
}

#[test]
fn names_must_match_exactly_one_visible_object() {
    let f = Fixture::new();
    ok(&f.kmipd("alice", &["create", "--name", "vol-a"]));
    // A second key of the same name is refused rather than made ambiguous.
    assert!(refused(&f.kmipd("alice", &["create", "--name", "vol-a"])).contains("exists already"));
    // Nothing by that name.
    assert!(refused(&f.kmipd("alice", &["get", "--name", "vol-b"])).contains("no key named"));
    // Bob may not see alice's key: it answers as absent, by name and by identifier.
    assert!(refused(&f.kmipd("bob", &["get", "--name", "vol-a"])).contains("no key named"));
    let id = String::from_utf8(ok(
        &f.kmipd("alice", &["get", "--name", "vol-a", "--format", "hex"])
    ))
    .unwrap();
    assert_eq!(id.trim().len(), 64);
    // Two objects carrying one name (registered by another client): refused, never a guess.
    let mut alice = f.server.connect_as("alice");
    register_secret(&mut alice, "shared-name", b"first passphrase");
    register_secret(&mut alice, "shared-name", b"second passphrase");
    assert!(refused(&f.kmipd("alice", &["get", "--name", "shared-name"])).contains("2 objects"));
    // Secret Data comes back as its bytes (a LUKS passphrase kept as a secret).
    register_secret(&mut alice, "passphrase", b"correct horse battery staple");
    assert_eq!(
        ok(&f.kmipd("alice", &["get", "--name", "passphrase"])),
        b"correct horse battery staple"
    );
    // A destroyed key is no longer found by name, and its material cannot be fetched by identifier.
    let victim = String::from_utf8(ok(&f.kmipd("alice", &["create", "--name", "gone"]))).unwrap();
    let victim = victim.trim();
    only_success(&alice.send(&request(
        V14,
        vec![item(
            operation::REVOKE,
            vec![
                uid(victim),
                structure(
                    tag::REVOCATION_REASON,
                    vec![enumeration(
                        tag::REVOCATION_REASON_CODE,
                        kmipd::spec::enums::revocation_reason_code::CESSATION_OF_OPERATION,
                    )],
                ),
            ],
        )],
    )));
    only_success(&alice.send(&request(
        V14,
        vec![item(operation::DESTROY, vec![uid(victim)])],
    )));
    let message = refused(&f.kmipd("alice", &["get", "--id", victim]));
    assert!(message.contains("has been destroyed"), "{message}");
    let by_name = refused(&f.kmipd("alice", &["get", "--name", "gone"]));
    assert!(by_name.contains("no key named"), "{by_name}");
}

/// cryptsetup, when the machine has it (CI installs it: without it the test fails there).
fn cryptsetup() -> Option<PathBuf> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join("cryptsetup"))
        .find(|path| path.exists())
}

#[test]
fn a_luks_volume_formatted_with_the_fetched_key_opens_with_it_through_a_pipe() {
    let test = "a_luks_volume_formatted_with_the_fetched_key_opens_with_it_through_a_pipe";
    let Some(cryptsetup) = cryptsetup() else {
        serve::cannot_run(
            test,
            "cryptsetup is not installed (apt-get install cryptsetup-bin)",
        );
        return;
    };
    let f = Fixture::new();
    ok(&f.kmipd("alice", &["create", "--name", "luks-data"]));
    let key_file = f.path("format.key");
    ok(&f.kmipd(
        "alice",
        &[
            "get",
            "--name",
            "luks-data",
            "--output",
            key_file.to_str().unwrap(),
        ],
    ));
    let volume = f.path("volume.img");
    std::fs::File::create(&volume)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    let format = Command::new(&cryptsetup)
        .args([
            "luksFormat",
            "--batch-mode",
            "--type",
            "luks2",
            "--pbkdf",
            "pbkdf2",
        ])
        .args(["--pbkdf-force-iterations", "1000", "--key-file"])
        .arg(&key_file)
        .arg(&volume)
        .output()
        .unwrap();
    if !format.status.success() {
        // Not every machine lets this user format an image (no root, no lock directory); CI must.
        serve::cannot_run(
            test,
            &format!(
                "cryptsetup cannot format an image here: {}",
                String::from_utf8_lossy(&format.stderr).trim()
            ),
        );
        return;
    }

    // The keyscript path: kmipd's stdout straight into cryptsetup's key file.
    let opens = |who: &str, name: &str| -> bool {
        let mut get = f
            .command(who, &["get", "--name", name])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = get.stdout.take().unwrap();
        let test = Command::new(&cryptsetup)
            .args(["open", "--test-passphrase", "--key-file=-"])
            .arg(&volume)
            .stdin(stdout)
            .output()
            .unwrap();
        let fetched = get.wait().unwrap().success();
        fetched && test.status.success()
    };
    assert!(
        opens("alice", "luks-data"),
        "the fetched key opens the volume"
    );
    ok(&f.kmipd("alice", &["create", "--name", "other"]));
    assert!(!opens("alice", "other"), "another key does not");
    assert!(
        !opens("bob", "luks-data"),
        "bob gets nothing to open it with"
    );
}
