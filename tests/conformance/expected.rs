//! `expected-failures.txt`: what each vector that does not pass whole does instead, to the step. Two kinds of
//! line, each ending in ` -- ` and the reason a person gives (required):
//!
//! - `NAME differs EXCHANGE PATH -- reason`: at exchange EXCHANGE (from 0) the leaf at PATH may hold another
//!   value of the same type and length (an output no server can reproduce, rules.rs rule 7); the vector goes on.
//! - `NAME stops EXCHANGE WHAT -- reason`: the vector ends at exchange EXCHANGE with exactly WHAT (the server's
//!   refusal, or the first difference).
//!
//! The runner fails on a vector that ends anywhere else or for another reason, on a listed difference that is
//! no longer met, and on a listed stop that no longer happens, so the list only shrinks as operations land.
//! `KMIPD_UPDATE_EXPECTED=1` rewrites the list from the current results, keeping the reasons of unchanged lines.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use super::replay::Outcome;

pub fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/expected-failures.txt")
}

/// Separates the generated part of a line from the person's reason.
const NOTE: &str = " -- ";

/// What the list says of one vector.
#[derive(Default, Debug)]
pub struct Known {
    /// Accepted differences: (exchange, path, reason).
    pub differs: Vec<(usize, String, String)>,
    /// Where and how it ends: (exchange, what, reason).
    pub stops: Option<(usize, String, String)>,
}

impl Known {
    /// The (exchange, path) pairs the replay accepts.
    pub fn accepted(&self) -> Vec<(usize, String)> {
        self.differs
            .iter()
            .map(|(e, p, _)| (*e, p.clone()))
            .collect()
    }
}

/// Vector name -> what the list says of it; a line that does not read is a panic naming it.
pub fn read() -> BTreeMap<String, Known> {
    let text = fs::read_to_string(path()).unwrap_or_else(|e| panic!("{}: {e}", path().display()));
    let mut out: BTreeMap<String, Known> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (generated, reason) = line.split_once(NOTE).unwrap_or((line, ""));
        let mut words = generated.splitn(4, ' ');
        let (Some(name), Some(kind), Some(exchange), Some(what)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            panic!("expected-failures.txt: cannot read {line:?}");
        };
        let exchange: usize = exchange
            .parse()
            .unwrap_or_else(|_| panic!("expected-failures.txt: bad exchange in {line:?}"));
        let entry = out.entry(name.to_owned()).or_default();
        let item = (exchange, what.to_owned(), reason.trim().to_owned());
        match kind {
            "differs" => entry.differs.push(item),
            "stops" if entry.stops.is_none() => entry.stops = Some(item),
            _ => panic!("expected-failures.txt: unknown kind or second stop in {line:?}"),
        }
    }
    out
}

/// What the run shows is wrong against the list, one line a problem.
pub fn problems(outcomes: &[Outcome], known: &BTreeMap<String, Known>) -> Vec<String> {
    let mut problems = Vec::new();
    let none = Known::default();
    for outcome in outcomes {
        let k = known.get(&outcome.name).unwrap_or(&none);
        let name = &outcome.name;
        match (&outcome.failure, &k.stops) {
            (Some(f), None) => problems.push(format!(
                "{name} stops at exchange {} and expected-failures.txt does not say so ({})",
                f.exchange, f.detail
            )),
            (None, Some((e, what, _))) => problems.push(format!(
                "{name} runs to the end now: remove its stop at exchange {e} ({what})"
            )),
            (Some(f), Some((e, what, _))) if (f.exchange, f.reason.as_str()) != (*e, what) => {
                problems.push(format!(
                    "{name} stops at exchange {}: {}; expected-failures.txt says exchange {e}: {what}",
                    f.exchange, f.reason
                ))
            }
            _ => {}
        }
        for (e, path, _) in &k.differs {
            if !outcome.differed.iter().any(|(x, p)| x == e && p == path) {
                problems.push(format!(
                    "{name} no longer differs at exchange {e} {path}: remove that line"
                ));
            }
        }
        let lines = k
            .differs
            .iter()
            .map(|(_, _, r)| r)
            .chain(k.stops.iter().map(|(_, _, r)| r));
        if lines.clone().any(String::is_empty) {
            problems.push(format!(
                "{name}: every line of expected-failures.txt needs a reason after \" -- \""
            ));
        }
    }
    for name in known.keys() {
        if !outcomes.iter().any(|o| &o.name == name) {
            problems.push(format!("expected-failures.txt lists unknown vector {name}"));
        }
    }
    problems
}

/// Writes the list from this run, keeping the reason of every line whose generated part is unchanged.
pub fn write(outcomes: &[Outcome]) {
    let previous = read();
    let mut text = String::from(
        "# What each conformance vector that does not pass whole does instead; format in tests/conformance/expected.rs.\n\
         # Regenerate with KMIPD_UPDATE_EXPECTED=1 cargo test --test conformance, then give new lines a reason.\n",
    );
    let none = Known::default();
    for outcome in outcomes {
        let k = previous.get(&outcome.name).unwrap_or(&none);
        for (e, path) in &outcome.differed {
            let reason = k
                .differs
                .iter()
                .find(|(x, p, _)| x == e && p == path)
                .map_or("", |(_, _, r)| r.as_str());
            text.push_str(&format!(
                "{} differs {e} {path}{NOTE}{reason}\n",
                outcome.name
            ));
        }
        if let Some(f) = &outcome.failure {
            let what = f.reason.replace('\n', " ");
            let reason = k
                .stops
                .as_ref()
                .filter(|(e, w, _)| *e == f.exchange && *w == what)
                .map_or("", |(_, _, r)| r.as_str());
            text.push_str(&format!(
                "{} stops {} {what}{NOTE}{reason}\n",
                outcome.name, f.exchange
            ));
        }
    }
    fs::write(path(), text).unwrap_or_else(|e| panic!("{}: {e}", path().display()));
}
