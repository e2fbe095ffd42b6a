//! Generates the Rust tables of `src/spec` from the data files in `kmip-spec/`, so that the specification is
//! written down once, as data, and the code cannot drift from it.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=kmip-spec");
    let out_dir = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let tags = fs::read_to_string("kmip-spec/tags.tsv").expect("kmip-spec/tags.tsv is readable");
    let mut consts = String::new();
    let mut table = String::new();
    for line in tags.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 4, "tags.tsv: four tab-separated columns expected in {line:?}");
        let value = u32::from_str_radix(cols[0].trim_start_matches("0x"), 16).expect("tag value in hex");
        let name = cols[1];
        let spec_name = cols[2];
        let versions = version_bits(cols[3]);
        writeln!(consts, "    pub const {}: u32 = 0x{value:06X};", screaming_snake(name)).unwrap();
        writeln!(
            table,
            "    TagDef {{ tag: 0x{value:06X}, name: {name:?}, spec_name: {spec_name:?}, versions: VersionSet({versions}) }},"
        )
        .unwrap();
    }
    let code = format!(
        "/// Tag numbers by their normalized names.\n#[allow(dead_code)]\npub mod tag {{\n{consts}}}\n\n\
         /// Every tag of KMIP 1.0-2.1, sorted by number.\npub static TAGS: &[TagDef] = &[\n{table}];\n"
    );
    fs::write(Path::new(&out_dir).join("spec_tags.rs"), code).expect("OUT_DIR is writable");
}

/// Bit i set = defined in the i-th entry of `VERSIONS` (1.0, 1.1, 1.2, 1.3, 1.4, 2.0, 2.1).
fn version_bits(list: &str) -> u8 {
    const VERSIONS: [&str; 7] = ["1.0", "1.1", "1.2", "1.3", "1.4", "2.0", "2.1"];
    let mut bits = 0u8;
    let listed: Vec<&str> = list.split(',').map(str::trim).collect();
    let first = VERSIONS.iter().position(|v| listed.contains(v));
    for (i, v) in VERSIONS.iter().enumerate() {
        // 1.1 and 1.3 are not in the reference set: a tag defined on both sides of such a version is in it.
        let between = matches!(*v, "1.1" | "1.3")
            && first.is_some_and(|f| f < i)
            && VERSIONS.get(i + 1).is_some_and(|next| listed.contains(next));
        if listed.contains(v) || between {
            bits |= 1 << i;
        }
    }
    bits
}

fn screaming_snake(camel: &str) -> String {
    let chars: Vec<char> = camel.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase() || prev.is_ascii_digit() || (prev.is_ascii_uppercase() && next_lower) {
                out.push('_');
            }
        }
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}
