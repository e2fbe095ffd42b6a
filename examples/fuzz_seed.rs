//! Seeds the fuzzers' corpora (fuzz/corpus/<target>/) from the KMIP conformance test vectors, so
//! that libFuzzer starts from real messages rather than from nothing. Every message of every
//! vector file is read with its `$PLACEHOLDER` values bound to fixed values of their type, and
//! written as an XML seed, a JSON seed and a binary TTLV seed; the requests among them also seed
//! `request_decode`. Corpora are generated, not committed.
//!
//! Usage: cargo run --example fuzz_seed -- VECTORS_DIR CORPUS_DIR   (fuzz/seed-corpus.sh runs it)

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use kmipd::spec::{DICTIONARY, tag};
use kmipd::ttlv::{self, ItemType, Limits, Placeholder, SecretBytes, Value, json, xml};

/// The fuzz targets, each with a corpus directory of its own.
const TARGETS: [&str; 4] = ["ttlv_decode", "request_decode", "xml_decode", "json_decode"];

/// 2023-11-14T22:13:20Z, standing in for `$NOW`.
const NOW: i64 = 1_700_000_000;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (vectors, corpus, fixtures) = match args.as_slice() {
        [vectors, corpus] => (vectors, corpus, None),
        [vectors, corpus, fixtures] => (vectors, corpus, Some(fixtures)),
        _ => return Err("usage: fuzz_seed VECTORS_DIR CORPUS_DIR [TTLV_FIXTURES_DIR]".into()),
    };
    let corpus = Path::new(corpus);
    for target in TARGETS {
        fs::create_dir_all(corpus.join(target))?;
    }

    let mut files = Vec::new();
    collect_xml_files(Path::new(vectors), &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(format!("no .xml test vectors under {vectors}").into());
    }

    let limits = Limits::DEFAULT;
    let (mut messages, mut requests, mut unreadable) = (0usize, 0usize, Vec::new());
    for file in &files {
        let text = fs::read_to_string(file)?;
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("vector");
        let items = match xml::from_xml_document_with(&text, &DICTIONARY, &limits, &mut stand_in) {
            Ok(items) => items,
            Err(error) => {
                unreadable.push(format!("{}: {error}", file.display()));
                continue;
            }
        };
        for (n, item) in items.iter().enumerate() {
            messages += 1;
            let seed =
                |target: &str, ext: &str| corpus.join(target).join(format!("{stem}-{n:02}.{ext}"));
            let bytes = ttlv::encode(item);
            fs::write(seed("ttlv_decode", "ttlv"), &bytes)?;
            if item.tag == tag::REQUEST_MESSAGE {
                requests += 1;
                fs::write(seed("request_decode", "ttlv"), &bytes)?;
            }
            fs::write(seed("xml_decode", "xml"), xml::to_xml(item, &DICTIONARY))?;
            fs::write(
                seed("json_decode", "json"),
                json::to_json(item, &DICTIONARY),
            )?;
        }
    }
    println!(
        "fuzz_seed: {messages} messages ({requests} requests) from {} vector files into {}",
        files.len() - unreadable.len(),
        corpus.display()
    );
    for problem in &unreadable {
        eprintln!("fuzz_seed: skipped {problem}");
    }
    if let Some(fixtures) = fixtures {
        let seeded = seed_fixtures(Path::new(fixtures), corpus)?;
        println!("fuzz_seed: {seeded} hostile and valid TTLV fixtures from {fixtures}");
    }
    if messages == 0 {
        return Err("no message could be read from the test vectors".into());
    }
    Ok(())
}

/// A fixed value of a placeholder's type: `$NOW±seconds` as a date near 2023-11-14, identifiers
/// as themselves (they are Text Strings), anything else as a small value.
fn stand_in(p: &Placeholder<'_>) -> Result<Option<Value>, String> {
    let value = match p.item_type {
        ItemType::DateTime => {
            let offset = match p.text.strip_prefix("$NOW") {
                Some("") => 0,
                Some(rest) => rest
                    .parse::<i64>()
                    .map_err(|e| format!("{}: {e}", p.text))?,
                None => 0,
            };
            Value::DateTime(NOW.saturating_add(offset))
        }
        ItemType::DateTimeExtended => Value::DateTimeExtended(NOW * 1_000_000),
        ItemType::TextString => Value::TextString(p.text.to_owned()),
        ItemType::ByteString => Value::ByteString(SecretBytes::new(p.text.as_bytes().to_vec())),
        ItemType::BigInteger => Value::BigInteger(SecretBytes::new(vec![0, 0, 0, 0, 0, 0, 0, 1])),
        ItemType::Integer => Value::Integer(1),
        ItemType::LongInteger => Value::LongInteger(1),
        ItemType::Enumeration => Value::Enumeration(1),
        ItemType::Interval => Value::Interval(1),
        ItemType::Boolean => Value::Boolean(true),
        ItemType::Structure => return Err(format!("{}: a structure has no value", p.text)),
    };
    Ok(Some(value))
}

/// Every `.xml` file under `dir`, recursively.
fn collect_xml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Box<dyn Error>> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_xml_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "xml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Writes each `*.hex` fixture (hex digits, `#` comments) as binary seeds of `ttlv_decode` and
/// `request_decode`; returns how many.
fn seed_fixtures(dir: &Path, corpus: &Path) -> Result<usize, Box<dyn Error>> {
    let mut n = 0;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "hex") {
            continue;
        }
        let text = fs::read_to_string(&path)?;
        let digits: String = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect();
        let bytes = hex::decode(&digits).map_err(|e| format!("{}: {e}", path.display()))?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("fixture");
        for target in ["ttlv_decode", "request_decode"] {
            fs::write(
                corpus.join(target).join(format!("fixture-{stem}.ttlv")),
                &bytes,
            )?;
        }
        n += 1;
    }
    if n == 0 {
        return Err(format!("no .hex fixtures under {}", dir.display()).into());
    }
    Ok(n)
}
