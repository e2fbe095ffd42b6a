//! Generates the Rust tables of `src/spec` from the data files in `kmip-spec/`, so that the specification is
//! written down once, as data, and the code cannot drift from it.
//!
//! The data files are ours and committed; a malformed line stops the build with the file, line and reason.

use std::collections::{BTreeMap, HashSet};
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process;

/// The protocol versions, in the order of the bits of `VersionSet`.
const VERSIONS: [&str; 7] = ["1.0", "1.1", "1.2", "1.3", "1.4", "2.0", "2.1"];

/// The variants of `crate::ttlv::ItemType`, as `item-types.tsv` and `tags.tsv` name them.
const ITEM_TYPES: [&str; 11] = [
    "Structure",
    "Integer",
    "LongInteger",
    "BigInteger",
    "Enumeration",
    "Boolean",
    "TextString",
    "ByteString",
    "DateTime",
    "Interval",
    "DateTimeExtended",
];

fn main() {
    println!("cargo::rerun-if-changed=kmip-spec/tags.tsv");
    println!("cargo::rerun-if-changed=kmip-spec/enumerations.tsv");
    println!("cargo::rerun-if-changed=kmip-spec/item-types.tsv");
    let out_dir =
        env::var("OUT_DIR").unwrap_or_else(|_| fail("OUT_DIR is not set (run through cargo)"));
    check_item_types(&read("kmip-spec/item-types.tsv"));
    let enums = parse_enumerations(&read("kmip-spec/enumerations.tsv"));
    let tags = parse_tags(&read("kmip-spec/tags.tsv"), &enums);
    let mut code = String::new();
    // The lengths of the data files the tables come from, so `src/spec` can refuse tables generated from other
    // data (another worktree sharing the target directory may have run an older generator into OUT_DIR).
    for (name, file) in [
        ("TAGS_TSV_LEN", "kmip-spec/tags.tsv"),
        ("ENUMERATIONS_TSV_LEN", "kmip-spec/enumerations.tsv"),
    ] {
        let _ = writeln!(
            code,
            "/// Length of `{file}` when these tables were generated.\nconst {name}: usize = {};",
            read(file).len()
        );
    }
    write_tags(&mut code, &tags);
    write_enums(&mut code, &enums);
    let path = Path::new(&out_dir).join("spec_tables.rs");
    fs::write(&path, code)
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
    println!("cargo::rerun-if-changed=kmip-spec/attributes.tsv");
    let attributes = write_attributes(&read("kmip-spec/attributes.tsv"), &enums);
    let path = Path::new(&out_dir).join("spec_attributes.rs");
    fs::write(&path, attributes)
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
}

/// Stops the build with a message that names what is wrong.
fn fail(message: &str) -> ! {
    eprintln!("build.rs: {message}");
    process::exit(1);
}

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("cannot read {path}: {e}")))
}

/// The data lines of a TSV file: (line number, columns), comments and blank lines skipped.
fn rows<'a>(
    text: &'a str,
    file: &'a str,
    columns: usize,
) -> impl Iterator<Item = (usize, Vec<&'a str>)> + 'a {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .map(move |(i, line)| {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < columns {
                fail(&format!(
                    "{file}:{}: {columns} tab-separated columns expected",
                    i + 1
                ));
            }
            (i + 1, cols)
        })
}

fn hex(text: &str, file: &str, line: usize) -> u32 {
    u32::from_str_radix(text.trim_start_matches("0x"), 16)
        .unwrap_or_else(|_| fail(&format!("{file}:{line}: {text:?} is not a hex number")))
}

/// `VersionSet` bits of a comma-separated version list (1.1 and 1.3 are already inferred in the data).
fn version_bits(list: &str, file: &str, line: usize) -> u8 {
    let mut bits = 0u8;
    for v in list.split(',').map(str::trim) {
        match VERSIONS.iter().position(|known| *known == v) {
            Some(i) => bits |= 1 << i,
            None => fail(&format!("{file}:{line}: unknown version {v:?}")),
        }
    }
    bits
}

fn item_type(text: &str, file: &str, line: usize) -> String {
    match text {
        "-" | "=" => "None".to_string(),
        t if ITEM_TYPES.contains(&t) => format!("Some(ItemType::{t})"),
        t => fail(&format!("{file}:{line}: unknown item type {t:?}")),
    }
}

fn check_item_types(text: &str) {
    let names: Vec<&str> = rows(text, "item-types.tsv", 3).map(|(_, c)| c[0]).collect();
    if names != ITEM_TYPES {
        fail("item-types.tsv does not list the eleven item types of ttlv::ItemType in order");
    }
}

struct Tag {
    number: u32,
    name: String,
    spec_name: String,
    versions: u8,
    item_type: String,
    item_type_v1: String,
    values: Option<String>,
}

fn parse_tags(text: &str, enums: &BTreeMap<String, Enumeration>) -> Vec<Tag> {
    const FILE: &str = "tags.tsv";
    let mut tags: Vec<Tag> = rows(text, FILE, 7)
        .map(|(line, c)| {
            let values = (c[5] != "-").then(|| c[5].to_string());
            if let Some(v) = &values
                && !enums.contains_key(v)
            {
                fail(&format!("{FILE}:{line}: {v:?} is not in enumerations.tsv"));
            }
            Tag {
                number: hex(c[0], FILE, line),
                name: c[1].to_string(),
                spec_name: c[2].to_string(),
                versions: version_bits(c[3], FILE, line),
                item_type: item_type(c[4], FILE, line),
                item_type_v1: item_type(c[6], FILE, line),
                values,
            }
        })
        .collect();
    tags.sort_by_key(|t| t.number);
    for pair in tags.windows(2) {
        if pair[0].number == pair[1].number {
            fail(&format!(
                "{FILE}: tag 0x{:06X} is listed twice",
                pair[0].number
            ));
        }
    }
    tags
}

struct Value {
    name: String,
    spec_name: String,
    value: u32,
    versions: u8,
}

struct Enumeration {
    spec_name: String,
    is_mask: bool,
    values: Vec<Value>,
    /// Order of first appearance in the file, so the generated table keeps the file's order.
    order: usize,
}

fn parse_enumerations(text: &str) -> BTreeMap<String, Enumeration> {
    const FILE: &str = "enumerations.tsv";
    let mut enums: BTreeMap<String, Enumeration> = BTreeMap::new();
    for (line, c) in rows(text, FILE, 6) {
        if c[2] == "-" {
            // The enumeration's own row: it opens the enumeration.
            let order = enums.len();
            let def = Enumeration {
                spec_name: c[3].to_string(),
                is_mask: c[1] == "mask",
                values: Vec::new(),
                order,
            };
            if enums.insert(c[0].to_string(), def).is_some() {
                fail(&format!(
                    "{FILE}:{line}: enumeration {} is opened twice",
                    c[0]
                ));
            }
            continue;
        }
        let Some(e) = enums.get_mut(c[0]) else {
            fail(&format!(
                "{FILE}:{line}: value of {} before the enumeration's own row",
                c[0]
            ));
        };
        if e.values.iter().any(|v| v.name == c[2]) {
            fail(&format!(
                "{FILE}:{line}: {} is named twice in {}",
                c[2], c[0]
            ));
        }
        e.values.push(Value {
            name: c[2].to_string(),
            spec_name: c[3].to_string(),
            value: hex(c[4], FILE, line),
            versions: version_bits(c[5], FILE, line),
        });
    }
    enums
}

fn write_tags(code: &mut String, tags: &[Tag]) {
    let mut consts = String::new();
    let mut table = String::new();
    for t in tags {
        let _ = writeln!(
            consts,
            "    pub const {}: u32 = 0x{:06X};",
            screaming_snake(&t.name),
            t.number
        );
        let values = match &t.values {
            Some(v) => format!("Some({v:?})"),
            None => "None".to_string(),
        };
        let _ = writeln!(
            table,
            "    TagDef {{ tag: 0x{:06X}, name: {:?}, spec_name: {:?}, versions: VersionSet({}), \
             item_type: {}, item_type_v1: {}, values: {values} }},",
            t.number, t.name, t.spec_name, t.versions, t.item_type, t.item_type_v1
        );
    }
    let by_name = sorted_index(tags.iter().enumerate().map(|(i, t)| (t.name.clone(), i)));
    let by_spec = sorted_index(
        tags.iter()
            .enumerate()
            .map(|(i, t)| (t.spec_name.clone(), i)),
    );
    let _ = write!(
        code,
        "/// Tag numbers by their normalized names.\npub mod tag {{\n{consts}}}\n\n\
         /// Every tag of KMIP 1.0-2.1, sorted by number.\npub static TAGS: &[TagDef] = &[\n{table}];\n\n\
         /// (normalized name, index in [`TAGS`]), sorted by name.\n\
         static TAGS_BY_NAME: &[(&str, usize)] = &[\n{by_name}];\n\n\
         /// (specification name, index in [`TAGS`]), sorted by name.\n\
         static TAGS_BY_SPEC_NAME: &[(&str, usize)] = &[\n{by_spec}];\n\n"
    );
}

fn sorted_index(entries: impl Iterator<Item = (String, usize)>) -> String {
    let mut entries: Vec<(String, usize)> = entries.collect();
    entries.sort();
    for pair in entries.windows(2) {
        if pair[0].0 == pair[1].0 {
            fail(&format!(
                "tags.tsv: the name {:?} is given to two tags",
                pair[0].0
            ));
        }
    }
    entries.iter().fold(String::new(), |mut s, (name, i)| {
        let _ = writeln!(s, "    ({name:?}, {i}),");
        s
    })
}

fn write_enums(code: &mut String, enums: &BTreeMap<String, Enumeration>) {
    let mut ordered: Vec<(&String, &Enumeration)> = enums.iter().collect();
    ordered.sort_by_key(|(_, e)| e.order);
    let mut modules = String::new();
    let mut statics = String::new();
    let mut table = String::new();
    let mut module_names = HashSet::new();
    for (i, (name, e)) in ordered.iter().enumerate() {
        let mut module = rust_module_name(name);
        while !module_names.insert(module.clone()) {
            module.push('_');
        }
        let _ = writeln!(
            modules,
            "    /// Values of the {} {}.\n    pub mod {module} {{",
            e.spec_name,
            if e.is_mask { "mask" } else { "enumeration" }
        );
        let mut const_names = HashSet::new();
        let mut values = String::new();
        let mut pairs = String::new();
        for v in &e.values {
            let mut c = screaming_snake(&v.name);
            if c.starts_with(|ch: char| ch.is_ascii_digit()) {
                c.insert(0, '_');
            }
            if !const_names.insert(c.clone()) {
                c = format!("{c}_{:X}", v.value);
                const_names.insert(c.clone());
            }
            let _ = writeln!(modules, "        pub const {c}: u32 = 0x{:08X};", v.value);
            let _ = writeln!(
                values,
                "        EnumValueDef {{ name: {:?}, spec_name: {:?}, value: 0x{:08X}, versions: VersionSet({}) }},",
                v.name, v.spec_name, v.value, v.versions
            );
        }
        // Where names of one value changed between versions, the newest name comes first, so that a codec that
        // takes the first name of a value writes the current one; older names still read.
        let mut newest_first: Vec<&Value> = e.values.iter().collect();
        let first_of = |value: u32| e.values.iter().position(|v| v.value == value);
        newest_first.sort_by_key(|v| {
            (
                first_of(v.value),
                std::cmp::Reverse(8 - v.versions.leading_zeros()),
            )
        });
        for v in newest_first {
            let _ = writeln!(pairs, "        ({:?}, 0x{:08X}),", v.name, v.value);
        }
        modules.push_str("    }\n");
        let _ = writeln!(
            statics,
            "static NAMED_{i}: NamedValues = NamedValues {{\n    name: {name:?},\n    is_mask: {},\n    \
             values: &[\n{pairs}    ],\n}};",
            e.is_mask
        );
        let _ = writeln!(
            table,
            "    EnumDef {{\n        name: {name:?},\n        spec_name: {:?},\n        is_mask: {},\n        \
             values: &[\n{values}        ],\n        named: &NAMED_{i},\n    }},",
            e.spec_name, e.is_mask
        );
    }
    let by_name = ordered
        .iter()
        .enumerate()
        .map(|(i, (n, _))| ((*n).clone(), i))
        .collect::<Vec<_>>();
    let mut by_name = by_name;
    by_name.sort();
    let index = by_name.iter().fold(String::new(), |mut s, (n, i)| {
        let _ = writeln!(s, "    ({n:?}, {i}),");
        s
    });
    let _ = write!(
        code,
        "/// Enumeration and mask values by name: one module per enumeration, one constant per value.\n\
         pub mod enums {{\n{modules}}}\n\n{statics}\n\
         /// Every enumeration and mask of KMIP 1.0-2.1, in the order of the specification.\n\
         pub static ENUMERATIONS: &[EnumDef] = &[\n{table}];\n\n\
         /// (normalized name, index in [`ENUMERATIONS`]), sorted by name.\n\
         static ENUMERATIONS_BY_NAME: &[(&str, usize)] = &[\n{index}];\n"
    );
}

/// `snake_case` module name for a normalized enumeration name, kept clear of Rust keywords.
fn rust_module_name(name: &str) -> String {
    const KEYWORDS: [&str; 12] = [
        "as", "crate", "enum", "fn", "impl", "mod", "move", "ref", "self", "static", "type", "use",
    ];
    let snake = screaming_snake(name).to_ascii_lowercase();
    let snake = if snake.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{snake}")
    } else {
        snake
    };
    if KEYWORDS.contains(&snake.as_str()) {
        format!("{snake}_")
    } else {
        snake
    }
}

/// `CamelCase` (with the underscores normalization leaves) to `SCREAMING_SNAKE_CASE`.
fn screaming_snake(camel: &str) -> String {
    let chars: Vec<char> = camel.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        if c == '_' && (out.ends_with('_') || out.is_empty()) {
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c.to_ascii_uppercase());
        }
    }
    out
}

/// The attribute rules table (`kmip-spec/attributes.tsv`) as `ATTRIBUTES: &[AttributeDef]`, sorted by name.
fn write_attributes(text: &str, enums: &BTreeMap<String, Enumeration>) -> String {
    const FILE: &str = "attributes.tsv";
    let object_types = enums
        .get("ObjectType")
        .unwrap_or_else(|| fail("enumerations.tsv has no ObjectType"));
    let object_list = |list: &str, line: usize| -> String {
        if list == "-" {
            return "&[]".to_string();
        }
        let values: Vec<String> = list
            .split(',')
            .map(|n| {
                let v = object_types
                    .values
                    .iter()
                    .find(|v| v.name == n)
                    .unwrap_or_else(|| {
                        fail(&format!("{FILE}:{line}: {n:?} is not an Object Type"))
                    });
                format!("0x{:02X}", v.value)
            })
            .collect();
        format!("&[{}]", values.join(", "))
    };
    let flag = |text: &str, line: usize| -> bool {
        match text {
            "yes" => true,
            "no" => false,
            other => fail(&format!("{FILE}:{line}: yes or no expected, not {other:?}")),
        }
    };
    let mut code = String::new();
    let _ = writeln!(
        code,
        "/// Length of `kmip-spec/attributes.tsv` when this table was generated.\n\
         const ATTRIBUTES_TSV_LEN: usize = {};",
        text.len()
    );
    code.push_str("/// Every standard attribute of KMIP 1.0-2.1, sorted by normalized name.\n");
    code.push_str("pub static ATTRIBUTES: &[AttributeDef] = &[\n");
    for (line, c) in rows(text, FILE, 15) {
        let tag = if c[1] == "-" {
            "None".to_string()
        } else {
            format!("Some(0x{:06X})", hex(c[1], FILE, line))
        };
        let spec_name_1x = if c[2] == "-" {
            "None".to_string()
        } else {
            format!("Some({:?})", c[2])
        };
        let _ = writeln!(
            code,
            "    AttributeDef {{ name: {:?}, tag: {tag}, spec_name_1x: {spec_name_1x}, \
             versions: VersionSet({}), multi_instance: {}, set_by_server: {}, set_by_client: {}, \
             server_may_modify: {}, client_may_modify: {}, client_may_delete: {}, always_has_value: {}, \
             applies_to: {}, applies_to_1x: {}, source: {:?} }},",
            c[0],
            version_bits(c[3], FILE, line),
            flag(c[4], line),
            c[5].contains("server"),
            c[5].contains("client"),
            flag(c[6], line),
            flag(c[7], line),
            flag(c[8], line),
            flag(c[9], line),
            object_list(c[10], line),
            object_list(c[12], line),
            c[11],
        );
    }
    code.push_str("];\n");
    code
}
