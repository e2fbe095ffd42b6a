//! The module graph runs downward only (ARCHITECTURE.md, "What each module may import"): every `crate::NAME`
//! path in a module's files, its own tests included, names a module of a lower layer or the module itself.
//! The table below is the one ARCHITECTURE.md draws; a new top-level module must be placed in it, and an
//! import that runs back up fails here with the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module of `src/` (a folder or a file) and its layer: a module imports only lower layers.
const LAYERS: &[(&str, u8)] = &[
    ("ttlv", 0),
    ("crypto", 0),
    ("mtls", 0),
    ("private_fs", 0),
    ("log_text", 0),
    ("settings_text", 0),
    ("sd_notify", 0),
    ("spec", 1),
    ("pki", 1),
    ("log_json", 1),
    ("kmip", 2),
    ("fuzz_checks", 3),
    ("store", 3),
    ("metrics", 3),
    ("replication", 4),
    ("custody", 4),
    ("access", 5),
    ("backup", 5),
    ("ops", 6),
    ("client", 6),
    ("load", 6),
    ("server", 7),
    // The binary's own modules (main.rs declares them) sit on top.
    ("main", 8),
    ("nodes", 8),
    ("key_cli", 8),
    ("master_key_cli", 8),
    ("healthcheck_cli", 8),
    ("lib", 8),
];

/// The binary's layer.
const TOP: u8 = 8;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to.
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(src()).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    let first = first.to_string_lossy();
    first.strip_suffix(".rs").unwrap_or(&first).to_string()
}

/// The modules named by `crate::NAME` paths on one line (comments and doc comments left out).
fn crate_paths(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices("crate::")
        .filter(|(at, _)| {
            // `crate::` itself, not the end of another word (`kmipd_crate::`).
            !code[..*at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .map(|(at, _)| {
            code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .filter(|name: &String| !name.is_empty())
        .collect()
}

#[test]
fn every_import_runs_down_the_layers() {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    let mut upward = Vec::new();
    for file in &files {
        let from = module_of(file);
        let from_layer = *layers.get(from.as_str()).unwrap_or_else(|| {
            panic!("src/{from} is in no layer: place it in tests/layers.rs and ARCHITECTURE.md")
        });
        if from_layer == TOP {
            // The binary's files: `crate::` is the binary itself, and nothing sits above them.
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            for to in crate_paths(line) {
                if to == from {
                    continue;
                }
                let to_layer = *layers.get(to.as_str()).unwrap_or_else(|| {
                    panic!(
                        "{}:{}: crate::{to} is in no layer",
                        file.display(),
                        number + 1
                    )
                });
                if to_layer >= from_layer {
                    upward.push(format!(
                        "{}:{}: {from} (layer {from_layer}) imports {to} (layer {to_layer})",
                        file.strip_prefix(src()).unwrap().display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that do not run down the layers:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_checker_sees_an_upward_import() {
    assert_eq!(
        crate_paths("use crate::server::config::duration_text; // crate::ops"),
        vec!["server".to_string()]
    );
    assert_eq!(
        crate_paths("    let x = crate::replication::origin::Origin::default();"),
        vec!["replication".to_string()]
    );
    assert!(crate_paths("/// see [`crate::server`]").is_empty());
}

#[test]
fn every_module_of_src_has_a_layer() {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    for entry in std::fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        let name = module_of(&path);
        if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
            assert!(
                layers.contains_key(name.as_str()),
                "src/{name} is in no layer of tests/layers.rs"
            );
        }
    }
}
