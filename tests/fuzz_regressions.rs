//! Committed fuzz inputs under `cargo test`: every file of `fuzz/regressions/<target>/` (inputs that once
//! crashed a target) and every hostile and valid fixture of `testdata/ttlv/` is run through the same
//! property functions the fuzz targets call (`kmipd::fuzz_checks`), so a regression fails the ordinary test
//! suite, not only `fuzz/run.sh`.

use std::path::{Path, PathBuf};

use kmipd::fuzz_checks::TARGETS;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// The bytes of a `testdata/ttlv/*.hex` fixture: hex digits, `#` comments and blanks ignored.
fn hex_fixture(path: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).unwrap();
    let digits: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    hex::decode(&digits).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn committed_crash_inputs_are_replayed_through_their_targets() {
    let root = repo().join("fuzz/regressions");
    let mut replayed = 0;
    for dir in files_in_dirs(&root) {
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        let (_, check) = TARGETS
            .iter()
            .find(|(target, _)| *target == name)
            .unwrap_or_else(|| panic!("fuzz/regressions/{name} names no fuzz target"));
        for file in files_in(&dir) {
            check(&std::fs::read(&file).unwrap());
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "no committed crash input under {}",
        root.display()
    );
}

fn files_in_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn the_ttlv_fixtures_hold_the_binary_and_request_properties() {
    let fixtures: Vec<PathBuf> = files_in(&repo().join("testdata/ttlv"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "hex"))
        .collect();
    assert!(fixtures.len() > 30, "{} fixtures", fixtures.len());
    for path in &fixtures {
        let bytes = hex_fixture(path);
        kmipd::fuzz_checks::ttlv_decode(&bytes);
        kmipd::fuzz_checks::request_decode(&bytes);
    }
}
