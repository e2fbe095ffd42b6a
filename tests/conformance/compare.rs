//! Structural comparison of a response with the vector's expected response, and filling of request
//! placeholders: the bindings made on first sight live here, the exceptions in `rules.rs`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use kmipd::spec::{DICTIONARY, tag};
use kmipd::ttlv::{Dictionary, Tag, Ttlv, Value};

use super::rules;
use super::vectors::Site;

/// What placeholders stand for in one run of one vector.
pub struct Bindings {
    /// `$NAME` -> the value first seen for it.
    values: HashMap<String, Value>,
    /// Identifiers of objects whose key bytes the server generated (rule 5).
    generated: HashSet<String>,
    /// The run's clock, seconds since the Unix epoch.
    now: i64,
}

/// A value difference `expected-failures.txt` accepts at one place of one response (rule 7): the path of the
/// leaf, and whether it was met.
pub struct Accepted {
    pub path: String,
    pub seen: bool,
}

/// The first place where the actual response is not what the vector expects.
#[derive(Debug)]
pub struct Difference {
    /// Tag names from the message down, e.g. `ResponseMessage/BatchItem/ResultStatus`.
    pub path: String,
    pub expected: String,
    pub actual: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, actual {}",
            self.path, self.expected, self.actual
        )
    }
}

impl Bindings {
    /// Bindings for one run; `generated` carries rule 5's objects over from a vector this one continues.
    pub fn new(now: i64, generated: HashSet<String>) -> Self {
        Bindings {
            values: HashMap::new(),
            generated,
            now,
        }
    }

    /// The objects with server-generated key bytes seen so far (rule 5), for a vector that continues this run.
    pub fn into_generated(self) -> HashSet<String> {
        self.generated
    }

    /// Replaces the placeholders of a request with the run's values (rule 1). A placeholder no response bound
    /// yet takes the value the server answered for the same item in an earlier response (`earlier`, newest
    /// last; rule 6), and keeps it for the rest of the run.
    pub fn fill_request(
        &mut self,
        request: &mut Ttlv,
        sites: &HashMap<Vec<usize>, Site>,
        earlier: &[Ttlv],
    ) -> Result<(), String> {
        for (path, site) in sites {
            let mut item = &mut *request;
            for &index in path {
                let Value::Structure(children) = &mut item.value else {
                    return Err(format!("placeholder path {path:?} leaves the tree"));
                };
                item = children
                    .get_mut(index)
                    .ok_or_else(|| format!("placeholder path {path:?} leaves the tree"))?;
            }
            let value = match rules::now_offset(&site.text) {
                Some(offset) => match site.item_type {
                    kmipd::ttlv::ItemType::DateTimeExtended => {
                        Value::DateTimeExtended((self.now + offset) * 1_000_000)
                    }
                    _ => Value::DateTime(self.now + offset),
                },
                None => match self.values.get(&site.text) {
                    Some(bound) => bound.clone(),
                    None => {
                        let answered = earlier
                            .iter()
                            .rev()
                            .find_map(|r| rules::answered_leaf(r, item.tag, site.item_type))
                            .ok_or_else(|| {
                                format!("request uses {} before a response bound it", site.text)
                            })?;
                        self.values.insert(site.text.clone(), answered.clone());
                        answered
                    }
                },
            };
            item.value = value;
        }
        Ok(())
    }

    /// Compares a whole response; on success the bindings it made are kept. `accepted` lists the value
    /// differences expected-failures.txt accepts in this response (rule 7); those met are marked seen.
    pub fn compare(
        &mut self,
        expected: &Ttlv,
        sites: &HashMap<Vec<usize>, Site>,
        actual: &Ttlv,
        accepted: &mut [Accepted],
    ) -> Result<(), Difference> {
        self.note_generated(actual);
        let mut walk = Walk {
            sites,
            bindings: self,
            operation: None,
            payload_objects: Vec::new(),
            accepted,
        };
        walk.item(expected, &mut Vec::new(), actual, &mut Vec::new())
    }

    /// Rule 5: remembers the objects named by responses of key-generating operations.
    fn note_generated(&mut self, response: &Ttlv) {
        for item in response.children_with(tag::BATCH_ITEM) {
            if !rules::generates_keys(operation_of(item)) {
                continue;
            }
            if let Some(payload) = item.child(tag::RESPONSE_PAYLOAD) {
                self.generated
                    .extend(rules::named_objects(payload).map(str::to_owned));
            }
        }
    }
}

fn operation_of(batch_item: &Ttlv) -> Option<u32> {
    match batch_item.child(tag::OPERATION).map(|o| &o.value) {
        Some(Value::Enumeration(op)) => Some(*op),
        _ => None,
    }
}

/// One comparison in progress.
struct Walk<'a> {
    sites: &'a HashMap<Vec<usize>, Site>,
    bindings: &'a mut Bindings,
    /// The Operation of the batch item being compared.
    operation: Option<u32>,
    /// The identifiers the actual payload of that batch item names (rule 5).
    payload_objects: Vec<String>,
    /// Value differences accepted in this response (rule 7).
    accepted: &'a mut [Accepted],
}

impl Walk<'_> {
    fn item(
        &mut self,
        expected: &Ttlv,
        path: &mut Vec<usize>,
        actual: &Ttlv,
        names: &mut Vec<String>,
    ) -> Result<(), Difference> {
        names.push(tag_name(expected.tag));
        let result = self.item_inner(expected, path, actual, names);
        names.pop();
        result
    }

    fn item_inner(
        &mut self,
        expected: &Ttlv,
        path: &mut Vec<usize>,
        actual: &Ttlv,
        names: &mut Vec<String>,
    ) -> Result<(), Difference> {
        if expected.tag != actual.tag {
            return Err(diff(names, tag_name(expected.tag), tag_name(actual.tag)));
        }
        if expected.tag == tag::BATCH_ITEM {
            self.operation = operation_of(expected);
            self.payload_objects = actual
                .child(tag::RESPONSE_PAYLOAD)
                .map(|p| rules::named_objects(p).map(str::to_owned).collect())
                .unwrap_or_default();
        }
        if let Some(site) = self.sites.get(path.as_slice()) {
            return self.placeholder(site, actual, names);
        }
        match (&expected.value, &actual.value) {
            (Value::Structure(e), Value::Structure(a)) => {
                if rules::compares_kinds_only(self.operation, expected.tag) {
                    return kinds(e, a, names);
                }
                if rules::is_generator_description(expected) {
                    return rules::generator_matches(a)
                        .then_some(())
                        .ok_or_else(|| diff(names, describe(expected), describe(actual)));
                }
                self.children(expected.tag, e, path, a, names)
            }
            (e, a) if e == a => Ok(()),
            _ if rules::random_bytes_match(
                expected,
                actual,
                &self.payload_objects,
                &self.bindings.generated,
            ) =>
            {
                Ok(())
            }
            (e, a) if rules::same_shape(e, a) && self.accept(names) => Ok(()),
            (e, a) => Err(diff(names, show(expected.tag, e), show(actual.tag, a))),
        }
    }

    /// Rule 7: whether expected-failures.txt accepts a value difference at this path; marks it seen.
    fn accept(&mut self, names: &[String]) -> bool {
        let path = names.join("/");
        match self.accepted.iter_mut().find(|a| a.path == path) {
            Some(a) => {
                a.seen = true;
                true
            }
            None => false,
        }
    }

    /// Rule 1 in a response.
    fn placeholder(
        &mut self,
        site: &Site,
        actual: &Ttlv,
        names: &[String],
    ) -> Result<(), Difference> {
        if let Some(offset) = rules::now_offset(&site.text) {
            let want = self.bindings.now + offset;
            let got = match actual.value {
                Value::DateTime(t) => t,
                Value::DateTimeExtended(us) => us.div_euclid(1_000_000),
                ref other => {
                    return Err(diff(names, site.text.clone(), show(actual.tag, other)));
                }
            };
            if (got - want).abs() > rules::NOW_TOLERANCE {
                return Err(diff(
                    names,
                    format!("{} ({want})", site.text),
                    format!("Date-Time {got}"),
                ));
            }
            return Ok(());
        }
        match self.bindings.values.get(&site.text) {
            Some(bound) if *bound == actual.value => Ok(()),
            Some(bound) => Err(diff(
                names,
                format!("{} = {}", site.text, show(actual.tag, bound)),
                show(actual.tag, &actual.value),
            )),
            None if actual.value.item_type() == site.item_type => {
                self.bindings
                    .values
                    .insert(site.text.clone(), actual.value.clone());
                Ok(())
            }
            None => Err(diff(
                names,
                format!("{} of type {}", site.text, site.item_type.name()),
                show(actual.tag, &actual.value),
            )),
        }
    }

    /// Children in order, except items not compared (rule 2) and attributes (rule 4).
    fn children(
        &mut self,
        parent: Tag,
        expected: &[Ttlv],
        path: &mut Vec<usize>,
        actual: &[Ttlv],
        names: &mut Vec<String>,
    ) -> Result<(), Difference> {
        let keep = |c: &&Ttlv| !rules::is_free_text(c.tag);
        let operation = self.operation;
        let (e_set, e_seq): (Vec<_>, Vec<_>) = expected
            .iter()
            .enumerate()
            .filter(|(_, c)| keep(c))
            .partition(|(_, c)| rules::unordered(operation, parent, c.tag));
        let (a_set, a_seq): (Vec<_>, Vec<_>) = actual
            .iter()
            .filter(keep)
            .partition(|c| rules::unordered(operation, parent, c.tag));
        for (i, (index, e)) in e_seq.iter().enumerate() {
            let Some(a) = a_seq.get(i) else {
                return Err(diff(
                    names,
                    format!("a {}", tag_name(e.tag)),
                    "nothing".into(),
                ));
            };
            path.push(*index);
            let result = self.item(e, path, a, names);
            path.pop();
            result?;
        }
        if let Some(extra) = a_seq.get(e_seq.len()) {
            return Err(diff(
                names,
                "no more items".into(),
                format!("a {}", tag_name(extra.tag)),
            ));
        }
        self.unordered(&e_set, path, &a_set, names)
    }

    /// Rule 4: each expected child matches a distinct actual child, bindings made only by the match taken.
    fn unordered(
        &mut self,
        expected: &[(usize, &Ttlv)],
        path: &mut Vec<usize>,
        actual: &[&Ttlv],
        names: &mut Vec<String>,
    ) -> Result<(), Difference> {
        let mut used = vec![false; actual.len()];
        for (index, e) in expected {
            path.push(*index);
            let mut closest = None;
            let mut matched = false;
            for (slot, a) in actual.iter().enumerate() {
                if used[slot] {
                    continue;
                }
                let saved = self.bindings.values.clone();
                match self.item(e, path, a, names) {
                    Ok(()) => {
                        used[slot] = true;
                        matched = true;
                        break;
                    }
                    Err(d) => {
                        self.bindings.values = saved;
                        // The most telling miss is one with the same first child (the attribute's name).
                        let same_name = e
                            .children()
                            .first()
                            .is_some_and(|n| a.children().first().is_some_and(|m| n == m));
                        if closest.is_none() || same_name {
                            closest = Some(d);
                        }
                    }
                }
            }
            path.pop();
            if !matched {
                // A leaf (a listed name) has no closest miss worth showing: it is simply absent.
                let absent = || {
                    let what = match &e.value {
                        Value::Structure(_) => describe(e),
                        v => format!("{} {}", tag_name(e.tag), show(e.tag, v)),
                    };
                    diff(names, what, "no such item".into())
                };
                return Err(match &e.value {
                    Value::Structure(_) => closest.unwrap_or_else(absent),
                    _ => absent(),
                });
            }
        }
        if let Some(slot) = used.iter().position(|u| !u) {
            return Err(diff(
                names,
                "no more attributes".into(),
                describe(actual[slot]),
            ));
        }
        Ok(())
    }
}

/// Rule 3: the same set of child tags.
fn kinds(expected: &[Ttlv], actual: &[Ttlv], names: &[String]) -> Result<(), Difference> {
    let set = |items: &[Ttlv]| -> BTreeSet<String> {
        items
            .iter()
            .filter(|c| !rules::is_free_text(c.tag))
            .map(|c| tag_name(c.tag))
            .collect()
    };
    let (e, a) = (set(expected), set(actual));
    if e == a {
        return Ok(());
    }
    Err(diff(
        names,
        format!("items of kinds {e:?}"),
        format!("items of kinds {a:?}"),
    ))
}

fn diff(names: &[String], expected: String, actual: String) -> Difference {
    Difference {
        path: names.join("/"),
        expected,
        actual,
    }
}

pub fn tag_name(tag: Tag) -> String {
    DICTIONARY
        .tag_name(tag)
        .map_or_else(|| format!("0x{tag:06X}"), str::to_owned)
}

/// An item for a message: its tag, and for a 1.x Attribute its name.
fn describe(item: &Ttlv) -> String {
    match item.child(tag::ATTRIBUTE_NAME).map(|n| &n.value) {
        Some(Value::TextString(name)) => format!("{} {name:?}", tag_name(item.tag)),
        _ => tag_name(item.tag),
    }
}

/// A value for a message. Byte strings show only their length: they may be key material.
pub fn show(tag: Tag, value: &Value) -> String {
    match value {
        Value::Structure(children) => format!(
            "structure of [{}]",
            children
                .iter()
                .map(|c| tag_name(c.tag))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Enumeration(v) => DICTIONARY
            .value_names(tag, None)
            .and_then(|n| n.values.iter().find(|(_, x)| x == v))
            .map_or_else(
                || format!("Enumeration 0x{v:08X}"),
                |(n, _)| (*n).to_owned(),
            ),
        Value::TextString(s) => format!("{s:?}"),
        Value::ByteString(b) => format!("Byte String of {} bytes", b.len()),
        Value::BigInteger(b) => format!("Big Integer of {} bytes", b.len()),
        Value::Integer(v) => format!("Integer {v}"),
        Value::LongInteger(v) => format!("Long Integer {v}"),
        Value::Boolean(v) => format!("Boolean {v}"),
        Value::DateTime(v) => format!("Date-Time {v}"),
        Value::Interval(v) => format!("Interval {v}"),
        Value::DateTimeExtended(v) => format!("Date-Time Extended {v}"),
    }
}
