//! Master key custody through `kmipd serve` itself: a key file kept apart (`--master-key-file`, plain or
//! wrapped under a passphrase by `kmipd master-key init`), and the `[master_key]` section reading a systemd
//! credential. With any of them the data directory holds no master key, a restart reads the same keys, and a
//! wrong passphrase, a missing file or a different key is refused with a message saying so.

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/tls.rs"]
mod tls;

use std::path::Path;
use std::process::{Command, Stdio};

use kmipd::spec::enums::operation;

use kmip::*;

/// Cheap Argon2id costs: the tests check custody, not the passphrase's strength.
const CHEAP: [&str; 4] = ["--argon2-memory-kib", "64", "--argon2-iterations", "1"];

fn kmipd() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kmipd"));
    command
        .env_remove("KMIPD_MASTER_KEY")
        .env_remove("KMIPD_MASTER_PASSPHRASE")
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdin(Stdio::null());
    command
}

/// Runs a one-shot `kmipd` command that must succeed.
fn run_ok(command: &mut Command) {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `kmipd serve` on `data` with `args` that must refuse to start: its stderr.
fn refused_start(data: &Path, args: &[&str], envs: &[(&str, &str)]) -> String {
    let out = kmipd()
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{}", tls::free_port())])
        .args(args)
        .envs(envs.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success(), "kmipd serve {args:?} started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Creates an AES-256 key and returns its uid and key bytes (read back with Get).
fn create_and_get(client: &mut tls::KmipClient) -> (String, Vec<u8>) {
    let created = client.send(&create_aes256_request());
    let uid = text_child(only_success(&created), kmipd::spec::tag::UNIQUE_IDENTIFIER);
    (uid.clone(), get(client, &uid))
}

fn get(client: &mut tls::KmipClient, uid: &str) -> Vec<u8> {
    let response = client.send(&request(
        (1, 4),
        vec![item(operation::GET, vec![kmip::uid(uid)])],
    ));
    raw_key_material(only_success(&response))
}

fn assert_no_key_in(data: &Path) {
    let names: Vec<String> = std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("master")),
        "the data directory holds a master key: {names:?}"
    );
}

#[test]
fn a_plain_key_file_apart_keeps_the_data_directory_keyless_across_restarts() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let secrets = temp.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let key_file = secrets.join("master.key");
    run_ok(
        kmipd()
            .args(["master-key", "init", "--plain", "--out"])
            .arg(&key_file),
    );
    let flag = |command: &mut Command| {
        command.arg("--master-key-file").arg(&key_file);
    };
    let mut server = serve::Serve::start_with(&data, flag);
    let (uid, material) = create_and_get(&mut server.connect());
    server.kill();
    assert_no_key_in(&data);

    let server = serve::Serve::start_with(&data, flag);
    assert_eq!(get(&mut server.connect(), &uid), material);
    drop(server);
    assert_no_key_in(&data);

    // Another key does not open these stores; a missing file is named.
    let other = secrets.join("other.key");
    run_ok(
        kmipd()
            .args(["master-key", "init", "--plain", "--out"])
            .arg(&other),
    );
    let other = other.to_string_lossy().into_owned();
    let stderr = refused_start(&data, &["--master-key-file", &other], &[]);
    assert!(stderr.contains("wrong master key"), "{stderr}");
    let missing = secrets.join("missing.key").to_string_lossy().into_owned();
    let stderr = refused_start(&data, &["--master-key-file", &missing], &[]);
    assert!(
        stderr.contains("missing.key") && stderr.contains("No such file"),
        "{stderr}"
    );
    // A key file inside the data directory is refused.
    let inside = data.join("master-copy.key");
    std::fs::copy(&key_file, &inside).unwrap();
    let stderr = refused_start(
        &data,
        &["--master-key-file", &inside.to_string_lossy()],
        &[],
    );
    assert!(stderr.contains("inside the data directory"), "{stderr}");
}

#[test]
fn a_wrapped_key_opens_with_its_passphrase_and_a_wrong_one_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let wrapped = temp.path().join("master.key.wrapped");
    run_ok(
        kmipd()
            .args(["master-key", "init", "--out"])
            .arg(&wrapped)
            .args(CHEAP)
            .env("KMIPD_MASTER_PASSPHRASE", "correct horse battery"),
    );
    let text = std::fs::read_to_string(&wrapped).unwrap();
    assert!(text.contains("kmipd-wrapped-master-key-v1"), "{text}");
    let wrapped_arg = wrapped.to_string_lossy().into_owned();

    let start = |phrase: &'static str| {
        let wrapped = wrapped.clone();
        serve::Serve::start_with(&data, move |command| {
            command
                .arg("--master-key-file")
                .arg(&wrapped)
                .env("KMIPD_MASTER_PASSPHRASE", phrase);
        })
    };
    let mut server = start("correct horse battery");
    let (uid, material) = create_and_get(&mut server.connect());
    server.kill();
    assert_no_key_in(&data);
    let server = start("correct horse battery");
    assert_eq!(get(&mut server.connect(), &uid), material);
    drop(server);

    // Backup commands open the store with the same wrapped file and passphrase.
    run_ok(
        kmipd()
            .args(["backup", "now", "--data-dir"])
            .arg(&data)
            .args(["--master-key-file", &wrapped_arg])
            .env("KMIPD_MASTER_PASSPHRASE", "correct horse battery"),
    );
    run_ok(
        kmipd()
            .args(["backup", "verify", "--data-dir"])
            .arg(&data)
            .args(["--master-key-file", &wrapped_arg])
            .env("KMIPD_MASTER_PASSPHRASE", "correct horse battery"),
    );
    let out = kmipd()
        .args(["backup", "verify", "--data-dir"])
        .arg(&data)
        .args(["--master-key-file", &wrapped_arg])
        .env("KMIPD_MASTER_PASSPHRASE", "guess")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"));

    let stderr = refused_start(
        &data,
        &["--master-key-file", &wrapped_arg],
        &[("KMIPD_MASTER_PASSPHRASE", "correct horse battery staple")],
    );
    assert!(stderr.contains("wrong passphrase"), "{stderr}");
    let stderr = refused_start(&data, &["--master-key-file", &wrapped_arg], &[]);
    assert!(
        stderr.contains("wrapped under a passphrase") && stderr.contains("KMIPD_MASTER_PASSPHRASE"),
        "{stderr}"
    );
    assert_no_key_in(&data);
}

#[test]
fn the_master_key_section_reads_a_systemd_credential() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let creds = temp.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    let passphrase = creds.join("kmipd-master-passphrase");
    std::fs::write(&passphrase, "from a credential\n").unwrap();
    std::fs::set_permissions(
        &passphrase,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let key = creds.join("kmipd-master-key");
    run_ok(
        kmipd()
            .args(["master-key", "init", "--out"])
            .arg(&key)
            .args(CHEAP)
            .arg("--passphrase-file")
            .arg(&passphrase),
    );
    // First start on the command line (it makes the development certificates), then from the configuration.
    let mut server = serve::Serve::start_with(&data, |command| {
        command
            .arg("--master-key-file")
            .arg(&key)
            .env("KMIPD_MASTER_PASSPHRASE", "from a credential");
    });
    let (uid, material) = create_and_get(&mut server.connect());
    server.kill();

    let config = temp.path().join("kmipd.toml");
    let file = |name: &str| data.join(name).to_string_lossy().into_owned();
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[tls]\ncert_chain = {:?}\nprivate_key = {:?}\nclient_ca = {:?}\n\
             [master_key]\nsource = \"systemd-credential\"\npassphrase_credential = \"kmipd-master-passphrase\"\n",
            data.to_string_lossy(),
            file("server.pem"),
            file("server.key"),
            file("client-ca.pem"),
        ),
    )
    .unwrap();
    let server = serve::Serve::start_with(&data, |command| {
        command
            .arg("--config")
            .arg(&config)
            .env("CREDENTIALS_DIRECTORY", &creds);
    });
    assert_eq!(get(&mut server.connect(), &uid), material);
    drop(server);
    assert_no_key_in(&data);

    // Without $CREDENTIALS_DIRECTORY the credential cannot be found, and the message says where it is looked for.
    let config_arg = config.to_string_lossy().into_owned();
    let stderr = refused_start(&data, &["--config", &config_arg], &[]);
    assert!(
        stderr.contains("CREDENTIALS_DIRECTORY is not set"),
        "{stderr}"
    );
}
