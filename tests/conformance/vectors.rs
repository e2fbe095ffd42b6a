//! Reading the test vectors: each folder's `index.html` names the test cases, each XML file is a sequence of
//! Request and Response Messages, and every `$NAME` placeholder in them is recorded where it stands (message and
//! child path) so the replay can fill requests and bind responses at run time.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use kmipd::spec::{DICTIONARY, tag};
use kmipd::ttlv::{self, ItemType, Limits, Placeholder, SecretBytes, Ttlv, Value};

/// One `$NAME` met in a vector: its text and type, keyed by the child path inside its message.
#[derive(Clone, Debug)]
pub struct Site {
    pub text: String,
    pub item_type: ItemType,
}

/// One Request Message and the Response Message the vector expects for it.
pub struct Exchange {
    pub request: Ttlv,
    pub request_sites: HashMap<Vec<usize>, Site>,
    pub response: Ttlv,
    pub response_sites: HashMap<Vec<usize>, Site>,
}

/// A test case: its name (the file stem, e.g. `SKLC-M-1-14`), its profile, and its exchanges in order.
pub struct Vector {
    pub name: String,
    pub profile: &'static str,
    pub exchanges: Vec<Exchange>,
    /// The earlier test case whose objects this one works on, if any (see [`link_continuations`]).
    pub continues: Option<String>,
    text: String,
}

/// A few test cases work on objects an earlier one of their series left behind: SASED-M-3-14 locates the
/// group "SASED-M-2-14-group" that SASED-M-2-14 registered, TL-M-3-14 the keys TL-M-2-14 made. Such a test
/// case names the earlier one in its values; it then runs on the earlier one's server state, right after it.
pub fn link_continuations(vectors: &mut [Vector]) {
    for i in 0..vectors.len() {
        let earlier = vectors[..i]
            .iter()
            .rev()
            .find(|v| vectors[i].text.contains(&format!("\"{}", v.name)))
            .map(|v| v.name.clone());
        vectors[i].continues = earlier;
    }
}

/// The vector folders, relative to the crate root.
pub const FOLDERS: [&str; 2] = ["v1.4", "v2.1"];

/// The test-case prefix of each profile of KMIP Profiles 1.4 / 2.1, longest first so that `CS-BC` is not read
/// as a prefix of something shorter.
const PROFILES: &[(&str, &str)] = &[
    ("CS-AC-", "Advanced Cryptographic"),
    ("CS-BC-", "Basic Cryptographic"),
    ("CS-RNG-", "RNG Cryptographic"),
    ("MSGENC-", "Message Encoding"),
    ("SUITEB_", "Suite B"),
    ("PKCS11-", "PKCS#11"),
    ("SASED-", "Storage Array with Self-Encrypting Drives"),
    ("AKLC-", "Asymmetric Key Lifecycle"),
    ("SKLC-", "Symmetric Key Lifecycle"),
    ("SKFF-", "Symmetric Key Foundry for FIPS 140"),
    ("OMOS-", "Opaque Managed Object Store"),
    ("BL-", "Baseline"),
    ("QS-", "Query Server"),
    ("TL-", "Tape Library"),
    ("AX-", "AES XTS"),
];

/// The profile a test case belongs to, by its name's prefix.
pub fn profile_of(name: &str) -> &'static str {
    PROFILES
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map_or("Other", |(_, profile)| profile)
}

pub fn vectors_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/kmip-vectors")
}

/// The test-case files a folder's `index.html` links to, in its order.
pub fn index(folder: &str) -> Vec<PathBuf> {
    let dir = vectors_root().join(folder);
    let html = fs::read_to_string(dir.join("index.html"))
        .unwrap_or_else(|e| panic!("{folder}/index.html: {e}"));
    let mut files = Vec::new();
    for piece in html.split("href=\"").skip(1) {
        let Some(target) = piece.split('"').next() else {
            continue;
        };
        if target.ends_with(".xml") && !files.contains(&dir.join(target)) {
            files.push(dir.join(target));
        }
    }
    files
}

/// A value of the placeholder's type that stands in until the replay binds it. Identifiers keep their text, so a
/// request that reaches the server unfilled shows which placeholder it was.
fn stand_in(p: &Placeholder<'_>) -> Result<Option<Value>, String> {
    Ok(Some(match p.item_type {
        ItemType::TextString => Value::TextString(p.text.to_owned()),
        ItemType::ByteString => Value::ByteString(SecretBytes::new(p.text.as_bytes().to_vec())),
        ItemType::DateTime => Value::DateTime(0),
        ItemType::DateTimeExtended => Value::DateTimeExtended(0),
        ItemType::Integer => Value::Integer(0),
        ItemType::LongInteger => Value::LongInteger(0),
        ItemType::Enumeration => Value::Enumeration(0),
        ItemType::Interval => Value::Interval(0),
        ItemType::Boolean => Value::Boolean(false),
        ItemType::BigInteger => Value::BigInteger(SecretBytes::new(vec![0; 8])),
        ItemType::Structure => return Err("a structure cannot be a placeholder".to_owned()),
    }))
}

/// Reads one vector file into its exchanges.
pub fn load(path: &Path) -> Result<Vector, String> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{}: no file name", path.display()))?;
    let text = fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    let mut sites: Vec<HashMap<Vec<usize>, Site>> = Vec::new();
    let mut record = |p: &Placeholder<'_>| {
        if sites.len() <= p.message {
            sites.resize_with(p.message + 1, HashMap::new);
        }
        sites[p.message].insert(
            p.path.to_vec(),
            Site {
                text: p.text.to_owned(),
                item_type: p.item_type,
            },
        );
        stand_in(p)
    };
    // The vectors hold messages larger than one default frame (GCM-2 carries 170 kB of data).
    let limits = Limits {
        max_message_bytes: 4 << 20,
        ..Limits::DEFAULT
    };
    let messages = ttlv::xml::from_xml_document_with(&text, &DICTIONARY, &limits, &mut record)
        .map_err(|e| format!("{name}: {e}"))?;
    sites.resize_with(messages.len(), HashMap::new);
    let mut exchanges = Vec::new();
    let mut pending: Option<(Ttlv, HashMap<Vec<usize>, Site>)> = None;
    for (message, sites) in messages.into_iter().zip(sites) {
        match (message.tag, pending.take()) {
            (tag::REQUEST_MESSAGE, None) => pending = Some((message, sites)),
            (tag::RESPONSE_MESSAGE, Some((request, request_sites))) => exchanges.push(Exchange {
                request,
                request_sites,
                response: message,
                response_sites: sites,
            }),
            _ => {
                return Err(format!(
                    "{name}: messages do not alternate request, response"
                ));
            }
        }
    }
    if pending.is_some() {
        return Err(format!("{name}: the last request has no response"));
    }
    Ok(Vector {
        profile: profile_of(&name),
        name,
        exchanges,
        continues: None,
        text,
    })
}
