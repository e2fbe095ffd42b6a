//! Seeds the fuzzers' corpora (fuzz/corpus/<target>/) from the KMIP conformance test vectors, so
//! that libFuzzer starts from real messages rather than from nothing. Every `RequestMessage` and
//! `ResponseMessage` of every vector file becomes a seed in XML; those the XML decoder accepts (the
//! ones without `$PLACEHOLDER` values in typed fields) also become binary TTLV and JSON seeds, and
//! the requests among them seed `request_decode`. Corpora are generated, not committed.
//!
//! Usage: cargo run --example fuzz_seed -- VECTORS_DIR CORPUS_DIR   (fuzz/seed-corpus.sh runs it)

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use kmipd::spec::DICTIONARY;
use kmipd::ttlv::{self, Limits, json, xml};

/// The top-level elements of a vector file that are messages.
const MESSAGE_ELEMENTS: [&str; 2] = ["RequestMessage", "ResponseMessage"];

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [vectors, corpus] = args.as_slice() else {
        return Err("usage: fuzz_seed VECTORS_DIR CORPUS_DIR".into());
    };
    let corpus = Path::new(corpus);
    for target in ["ttlv_decode", "request_decode", "xml_decode", "json_decode"] {
        fs::create_dir_all(corpus.join(target))?;
    }

    let mut files = Vec::new();
    collect_xml_files(Path::new(vectors), &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(format!("no .xml test vectors under {vectors}").into());
    }

    let limits = Limits::DEFAULT;
    let (mut messages, mut decoded) = (0usize, 0usize);
    for file in &files {
        let text = fs::read_to_string(file)?;
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("vector");
        for (n, (element, message)) in messages_of(&text).into_iter().enumerate() {
            messages += 1;
            let name = format!("{stem}-{n:02}");
            fs::write(
                corpus.join("xml_decode").join(format!("{name}.xml")),
                message,
            )?;
            let Ok(item) = xml::from_xml(message, &DICTIONARY, &limits) else {
                continue;
            };
            decoded += 1;
            let bytes = ttlv::encode(&item);
            fs::write(
                corpus.join("ttlv_decode").join(format!("{name}.ttlv")),
                &bytes,
            )?;
            if element == "RequestMessage" {
                fs::write(
                    corpus.join("request_decode").join(format!("{name}.ttlv")),
                    &bytes,
                )?;
            }
            let written = json::to_json(&item, &DICTIONARY);
            fs::write(
                corpus.join("json_decode").join(format!("{name}.json")),
                written,
            )?;
        }
    }
    println!(
        "fuzz_seed: {} vector files, {messages} messages as XML seeds, {decoded} of them \
         also as TTLV and JSON seeds, in {}",
        files.len(),
        corpus.display()
    );
    Ok(())
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

/// The message elements of a vector file, in order, each with its element name. Messages do not
/// nest, so the first closing tag after an opening one ends it.
fn messages_of(text: &str) -> Vec<(&'static str, &str)> {
    let mut found = Vec::new();
    let mut rest = text;
    loop {
        let next = MESSAGE_ELEMENTS
            .iter()
            .filter_map(|e| rest.find(&format!("<{e}>")).map(|at| (at, *e)))
            .min();
        let Some((start, element)) = next else {
            break;
        };
        let close = format!("</{element}>");
        let Some(end) = rest[start..].find(&close).map(|e| start + e + close.len()) else {
            break;
        };
        found.push((element, &rest[start..end]));
        rest = &rest[end..];
    }
    found
}
