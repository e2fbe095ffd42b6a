//! `expected-failures.txt`: the vectors known to fail today, one per line (`NAME reason...`), `#` comments. The
//! runner fails on any vector that fails and is not listed, and on any listed vector that passes, so the list
//! only shrinks as operations land. `KMIPD_UPDATE_EXPECTED=1` rewrites it from the current results; a note a
//! person added after ` -- ` is kept as long as the generated part of the reason is unchanged.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use super::replay::Outcome;

pub fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/expected-failures.txt")
}

/// Vector name -> reason.
pub fn read() -> BTreeMap<String, String> {
    let text = fs::read_to_string(path()).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((name, reason)) => (name.to_owned(), reason.trim().to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

/// Separates the generated reason from a person's note on the same line.
const NOTE: &str = " -- ";

/// Writes the list from this run's failures.
pub fn write(outcomes: &[Outcome]) {
    let previous = read();
    let mut text = String::from(
        "# Conformance vectors that fail today, with the first reason; see tests/conformance.rs.\n\
         # Regenerate with KMIPD_UPDATE_EXPECTED=1 cargo test --test conformance.\n",
    );
    for outcome in outcomes {
        if let Some(f) = &outcome.failure {
            let reason = f.reason.replace('\n', " ");
            let kept = previous.get(&outcome.name).filter(|old| {
                old.split(NOTE).next() == Some(reason.as_str()) && old.contains(NOTE)
            });
            text.push_str(&format!("{} {}\n", outcome.name, kept.unwrap_or(&reason)));
        }
    }
    fs::write(path(), text).unwrap();
}
