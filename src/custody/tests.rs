use std::os::unix::fs::PermissionsExt;

use super::wrapped::{WrapCost, WrapError, wrap};
use super::*;
use crate::store::MASTER_KEY_LEN;

const CHEAP: WrapCost = WrapCost {
    memory_kib: 64,
    iterations: 1,
    lanes: 1,
};

fn private_file(path: &Path, contents: &[u8]) {
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn key_of(resolved: &Resolved, data_dir: &Path) -> [u8; MASTER_KEY_LEN] {
    *resolved.source.load(data_dir).unwrap().bytes()
}

fn file_settings(path: &Path) -> MasterKeySettings {
    MasterKeySettings {
        source: KeyLocation::File,
        file: Some(path.to_path_buf()),
        ..MasterKeySettings::default()
    }
}

#[test]
fn settings_name_only_the_fields_their_source_uses() {
    let ok = |toml_text: &str| {
        toml::from_str::<MasterKeySettings>(toml_text)
            .unwrap()
            .validate()
    };
    assert!(ok("source = \"file\"\nfile = \"/etc/kmipd/master.key\"").is_ok());
    assert!(ok("source = \"systemd-credential\"\ncredential = \"k\"").is_ok());
    assert!(ok("source = \"file\"").unwrap_err().contains("needs"));
    assert!(ok("file = \"/k\"").unwrap_err().contains("master_key.file"));
    assert!(
        ok("source = \"env\"\npassphrase_env = \"A\"\npassphrase_file = \"/p\"")
            .unwrap_err()
            .contains("at most one")
    );
    assert!(
        ok("source = \"systemd-credential\"\ncredential = \"../k\"")
            .unwrap_err()
            .contains("credential name")
    );
    assert!(toml::from_str::<MasterKeySettings>("source = \"hsm\"").is_err());
    assert!(toml::from_str::<MasterKeySettings>("fiel = \"/k\"").is_err());
}

#[test]
fn a_plain_key_file_apart_from_the_data_is_used_and_nothing_is_written_beside_the_data() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let file = temp.path().join("master.key");
    private_file(&file, hex::encode([5u8; 32]).as_bytes());
    let resolved = resolve(
        &MasterKeySettings::default(),
        Some(&file),
        &data,
        &Environment::default(),
    )
    .unwrap();
    assert_eq!(key_of(&resolved, &data), [5u8; 32]);
    assert!(!data.join(MASTER_KEY_FILE_NAME).exists());
    assert!(resolved.description.contains("master.key"));
    assert!(!format!("{resolved:?}").contains(&hex::encode([5u8; 32])));
}

#[test]
fn a_copy_in_the_data_directory_or_a_file_inside_it_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let inside = data.join("keys").join("k");
    std::fs::create_dir(data.join("keys")).unwrap();
    private_file(&inside, &[1; 32]);
    let err = resolve(
        &file_settings(&inside),
        None,
        &data,
        &Environment::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("inside the data directory"),
        "{err}"
    );

    let apart = temp.path().join("k");
    private_file(&apart, &[1; 32]);
    private_file(&data.join(MASTER_KEY_FILE_NAME), &[1; 32]);
    let err = resolve(&file_settings(&apart), None, &data, &Environment::default()).unwrap_err();
    assert!(err.to_string().contains("move it away"), "{err}");
}

#[test]
fn a_missing_file_and_a_key_variable_beside_a_file_are_refused() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let missing = temp.path().join("nope.key");
    let err = resolve(
        &file_settings(&missing),
        None,
        &data,
        &Environment::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("nope.key"), "{err}");

    let file = temp.path().join("k");
    private_file(&file, &[1; 32]);
    let env = Environment {
        key: Some(Zeroizing::new(hex::encode([2u8; 32]))),
        ..Environment::default()
    };
    let err = resolve(&file_settings(&file), None, &data, &env).unwrap_err();
    assert!(err.to_string().contains("KMIPD_MASTER_KEY is set"), "{err}");
}

#[test]
fn a_wrapped_file_opens_with_its_passphrase_only() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let file = temp.path().join("master.key.wrapped");
    let key = MasterKey::from_bytes([8; 32]);
    private_file(
        &file,
        wrap(&key, b"s3cret phrase", CHEAP).unwrap().as_bytes(),
    );
    let with = |phrase: Option<&str>| Environment {
        passphrase: phrase.map(|p| Zeroizing::new(p.to_string())),
        ..Environment::default()
    };
    let settings = file_settings(&file);
    let resolved = resolve(&settings, None, &data, &with(Some("s3cret phrase"))).unwrap();
    assert_eq!(key_of(&resolved, &data), [8u8; 32]);
    assert!(resolved.description.contains("wrapped"));

    let err = resolve(&settings, None, &data, &with(Some("guess"))).unwrap_err();
    assert!(
        matches!(
            err,
            CustodyError::Wrapped {
                source: WrapError::WrongPassphrase,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("wrong passphrase"));
    let err = resolve(&settings, None, &data, &with(None)).unwrap_err();
    assert!(err.to_string().contains("KMIPD_MASTER_PASSPHRASE"), "{err}");

    // From a passphrase file: one line, its newline not part of the passphrase.
    let phrase = temp.path().join("phrase");
    private_file(&phrase, b"s3cret phrase\n");
    let settings = MasterKeySettings {
        passphrase_file: Some(phrase),
        ..file_settings(&file)
    };
    let resolved = resolve(&settings, None, &data, &with(None)).unwrap();
    assert_eq!(key_of(&resolved, &data), [8u8; 32]);
}

#[test]
fn systemd_credentials_come_from_the_credentials_directory() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let creds = temp.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    let key = MasterKey::from_bytes([3; 32]);
    private_file(
        &creds.join(DEFAULT_CREDENTIAL),
        wrap(&key, b"pp", CHEAP).unwrap().as_bytes(),
    );
    private_file(&creds.join("phrase"), b"pp");
    let settings = MasterKeySettings {
        source: KeyLocation::SystemdCredential,
        passphrase_credential: Some("phrase".into()),
        ..MasterKeySettings::default()
    };
    let env = Environment {
        credentials_dir: Some(creds.clone()),
        ..Environment::default()
    };
    let resolved = resolve(&settings, None, &data, &env).unwrap();
    assert_eq!(key_of(&resolved, &data), [3u8; 32]);
    assert!(resolved.description.contains("systemd credential"));

    let err = resolve(&settings, None, &data, &Environment::default()).unwrap_err();
    assert!(
        err.to_string().contains("CREDENTIALS_DIRECTORY is not set"),
        "{err}"
    );
}

#[test]
fn the_default_takes_the_variable_else_the_data_directory() {
    let temp = tempfile::tempdir().unwrap();
    let settings = MasterKeySettings::default();
    let resolved = resolve(&settings, None, temp.path(), &Environment::default()).unwrap();
    assert_eq!(resolved.source, MasterKeySource::DataDir);
    let env = Environment {
        key: Some(Zeroizing::new(hex::encode([4u8; 32]))),
        ..Environment::default()
    };
    let resolved = resolve(&settings, None, temp.path(), &env).unwrap();
    assert_eq!(key_of(&resolved, temp.path()), [4u8; 32]);
    let env_settings = MasterKeySettings {
        source: KeyLocation::Env,
        ..MasterKeySettings::default()
    };
    let err = resolve(&env_settings, None, temp.path(), &Environment::default()).unwrap_err();
    assert!(err.to_string().contains("not set"), "{err}");
}
