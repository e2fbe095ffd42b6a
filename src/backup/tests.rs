//! Unit tests of the encrypted stream and the manifest: round trips across chunk boundaries, and every way of
//! cutting, reordering, extending or re-keying a stream is refused.

use std::path::Path;

use super::container::{self, BackupKeys, Binding, SALT_LEN, StreamSums};
use super::error::BackupError;
use super::manifest::Manifest;
use super::{BackupConfig, validate_id};
use crate::store::MasterKey;

const CHUNK: usize = container::MIN_CHUNK_BYTES;
const ID: &str = "20261201T101500Z-0a0b0c0d";
const SALT: [u8; SALT_LEN] = [7; SALT_LEN];

fn master() -> MasterKey {
    MasterKey::from_bytes([0x42; 32])
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn seal(plain: &[u8]) -> (Vec<u8>, StreamSums) {
    let keys = BackupKeys::derive(&master(), &SALT).unwrap();
    let mut out = Vec::new();
    let sums = container::encrypt(
        &mut &plain[..],
        Path::new("plain"),
        &mut out,
        Path::new("out"),
        &keys,
        &Binding {
            id: ID,
            salt: &SALT,
        },
        CHUNK,
    )
    .unwrap();
    (out, sums)
}

fn open_with(file: &[u8], key: &MasterKey) -> Result<(Vec<u8>, StreamSums), BackupError> {
    let keys = BackupKeys::derive(key, &SALT).unwrap();
    let mut out = Vec::new();
    let sums = container::decrypt(
        file,
        Path::new("file"),
        &mut out,
        Path::new("out"),
        &keys,
        &Binding {
            id: ID,
            salt: &SALT,
        },
    )?;
    Ok((out, sums))
}

fn open(file: &[u8]) -> Result<(Vec<u8>, StreamSums), BackupError> {
    open_with(file, &master())
}

/// Offsets of each frame (flag byte) in a sealed file.
fn frame_offsets(file: &[u8]) -> Vec<usize> {
    let mut at = 8 + 2 + 4 + SALT_LEN + 2 + ID.len();
    let mut offsets = Vec::new();
    while at < file.len() {
        offsets.push(at);
        let len = u32::from_be_bytes(file[at + 1..at + 5].try_into().unwrap()) as usize;
        at += 5 + len;
    }
    offsets
}

#[test]
fn round_trips_at_every_chunk_boundary() {
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17] {
        let plain = plaintext(len);
        let (file, sums) = seal(&plain);
        let (back, opened) = open(&file).unwrap();
        assert_eq!(back, plain, "length {len}");
        assert_eq!(sums, opened, "length {len}");
        assert_eq!(sums.ciphertext_bytes, file.len() as u64);
        let frames = frame_offsets(&file).len();
        assert_eq!(frames, len.div_ceil(CHUNK).max(1), "length {len}");
    }
}

#[test]
fn the_ciphertext_hides_the_plaintext() {
    let plain = vec![0xAB; 3 * CHUNK];
    let (file, _) = seal(&plain);
    assert!(!file.windows(32).any(|w| w.iter().all(|&b| b == 0xAB)));
}

#[test]
fn a_stream_cut_at_a_frame_boundary_is_truncated() {
    let (file, _) = seal(&plaintext(3 * CHUNK + 5));
    let offsets = frame_offsets(&file);
    for &cut in &offsets {
        let err = open(&file[..cut]).unwrap_err();
        assert!(matches!(err, BackupError::Truncated { .. }), "{err}");
    }
    let err = open(&file[..file.len() - 1]).unwrap_err();
    assert!(matches!(err, BackupError::Truncated { .. }), "{err}");
    let err = open(&file[..20]).unwrap_err();
    assert!(matches!(err, BackupError::Truncated { .. }), "{err}");
}

#[test]
fn marking_an_inner_frame_last_is_refused() {
    let (mut file, _) = seal(&plaintext(3 * CHUNK));
    let offsets = frame_offsets(&file);
    file[offsets[1]] = 1;
    file.truncate(offsets[2]);
    let err = open(&file).unwrap_err();
    assert!(matches!(err, BackupError::Tampered { .. }), "{err}");
}

#[test]
fn reordered_frames_are_refused() {
    let plain = plaintext(3 * CHUNK + 1);
    let (file, _) = seal(&plain);
    let o = frame_offsets(&file);
    let mut swapped = file[..o[0]].to_vec();
    swapped.extend_from_slice(&file[o[1]..o[2]]);
    swapped.extend_from_slice(&file[o[0]..o[1]]);
    swapped.extend_from_slice(&file[o[2]..]);
    let err = open(&swapped).unwrap_err();
    assert!(matches!(err, BackupError::Tampered { .. }), "{err}");
}

#[test]
fn every_flipped_bit_is_refused() {
    let (file, _) = seal(&plaintext(CHUNK + 100));
    for at in (0..file.len()).step_by(97).chain([file.len() - 1]) {
        let mut bad = file.clone();
        bad[at] ^= 0x10;
        assert!(open(&bad).is_err(), "flip at {at} went unnoticed");
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let (mut file, _) = seal(&plaintext(10));
    file.push(0);
    let err = open(&file).unwrap_err();
    assert!(matches!(err, BackupError::Tampered { .. }), "{err}");
}

#[test]
fn another_master_key_cannot_open_it() {
    let (file, _) = seal(&plaintext(10));
    let err = open_with(&file, &MasterKey::from_bytes([0x43; 32])).unwrap_err();
    assert!(matches!(err, BackupError::Tampered { .. }), "{err}");
}

#[test]
fn a_file_of_another_backup_is_refused() {
    let (file, _) = seal(&plaintext(10));
    let keys = BackupKeys::derive(&master(), &SALT).unwrap();
    let err = container::decrypt(
        &file[..],
        Path::new("file"),
        &mut Vec::new(),
        Path::new("out"),
        &keys,
        &Binding {
            id: "20261201T101500Z-ffffffff",
            salt: &SALT,
        },
    )
    .unwrap_err();
    assert!(matches!(err, BackupError::Tampered { .. }), "{err}");
}

#[test]
fn a_manifest_edit_fails_authentication() {
    let (_, sums) = seal(&plaintext(10));
    let keys = BackupKeys::derive(&master(), &SALT).unwrap();
    let m = Manifest::new(ID, 1_000, "t".into(), 5, &sums, &SALT, &keys).unwrap();
    m.authenticate(&keys, Path::new("m")).unwrap();
    let edits: [fn(&mut Manifest); 4] = [
        |m| m.last_seq += 1,
        |m| m.created_unix_ms -= 1,
        |m| m.plaintext_sha256 = "00".repeat(32),
        |m| m.ciphertext_bytes += 1,
    ];
    for edit in edits {
        let mut bad = m.clone();
        edit(&mut bad);
        let err = bad.authenticate(&keys, Path::new("m")).unwrap_err();
        assert!(matches!(err, BackupError::ManifestAuthentication { .. }));
    }
    let other = BackupKeys::derive(&MasterKey::from_bytes([1; 32]), &SALT).unwrap();
    assert!(m.authenticate(&other, Path::new("m")).is_err());
}

#[test]
fn ids_that_could_escape_a_directory_are_refused() {
    validate_id(ID).unwrap();
    for bad in [
        "../../etc/passwd",
        "a/b",
        "",
        "x",
        "-rf-12345678",
        "id with space",
    ] {
        assert!(validate_id(bad).is_err(), "{bad}");
    }
}

#[test]
fn default_destinations_sit_beside_the_data_directory() {
    let config = BackupConfig::default();
    let dests = config.destinations_for(Path::new("/srv/kmipd-data"));
    assert_eq!(
        dests,
        [
            Path::new("/srv/kmipd-data-backups-1"),
            Path::new("/srv/kmipd-data-backups-2")
        ]
    );
    config.validate(Path::new("/srv/kmipd-data")).unwrap();
}

#[test]
fn destinations_inside_the_data_directory_or_repeated_are_refused() {
    let data = Path::new("/srv/kmipd-data");
    let with = |dests: &[&str]| BackupConfig {
        destinations: dests.iter().map(Into::into).collect(),
        ..BackupConfig::default()
    };
    assert!(with(&["/srv/kmipd-data/backups"]).validate(data).is_err());
    assert!(with(&["/srv/kmipd-data"]).validate(data).is_err());
    assert!(with(&["/srv/x/../kmipd-data/b"]).validate(data).is_err());
    assert!(with(&["/b1", "/b1"]).validate(data).is_err());
    with(&["/b1", "/b2"]).validate(data).unwrap();
    let short = BackupConfig {
        interval: std::time::Duration::from_millis(500),
        ..BackupConfig::default()
    };
    assert!(short.validate(data).is_err());
    let chunk = BackupConfig {
        chunk_bytes: 10,
        ..BackupConfig::default()
    };
    assert!(chunk.validate(data).is_err());
}
