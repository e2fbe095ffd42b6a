//! The JSON encoding of TTLV (KMIP Additional Message Encodings 1.0, section 4): each item is an object
//! `{"tag": ..., "type": ..., "value": ...}`, a structure's value an array of items (its type may be left out).
//!
//! serde_json parses the text into its value tree (it refuses nesting past 128 arrays and objects, so a hostile
//! text cannot exhaust the stack), then the tree is checked against the [`Limits`] and typed here, each leaf with
//! its sibling Attribute Name at hand and placeholders handed to the [`Resolver`].

use serde_json::{Map, Value as Json};

use super::text::{
    Flavor, Resolver, Scalar, TextError, Typer, Written, attribute_name, check_depth, check_items,
    check_length, parse_tag, tag_hex, write_scalar,
};
use super::{Dictionary, ItemType, Limits, Ttlv, Value};

/// Reads one item written in JSON. Placeholders are not interpreted: a `"$NAME"` value is an ordinary value of
/// its type.
pub fn from_json(text: &str, dict: &dyn Dictionary, limits: &Limits) -> Result<Ttlv, TextError> {
    read(text, dict, limits, None)
}

/// Reads one item written in JSON, passing each `"$NAME"` string value to `resolve`.
pub fn from_json_with(
    text: &str,
    dict: &dyn Dictionary,
    limits: &Limits,
    resolve: &mut Resolver<'_>,
) -> Result<Ttlv, TextError> {
    read(text, dict, limits, Some(resolve))
}

/// Writes one item as JSON, a line per leaf and two spaces of indent per level, like the specification's
/// examples. Integers, intervals and small long integers are numbers; masks and enumerations are names where
/// the dictionary has them.
pub fn to_json(item: &Ttlv, dict: &dyn Dictionary) -> String {
    let mut out = String::new();
    write_item(&mut out, item, dict, None, 0);
    out.push('\n');
    out
}

fn read(
    text: &str,
    dict: &dyn Dictionary,
    limits: &Limits,
    resolver: Option<&mut Resolver<'_>>,
) -> Result<Ttlv, TextError> {
    check_length(text, limits)?;
    let json: Json = serde_json::from_str(text).map_err(|e| TextError::Json(e.to_string()))?;
    let mut typer = Typer {
        dict,
        flavor: Flavor::Json,
        resolver,
        message: 0,
        path: Vec::new(),
    };
    build(&json, None, 1, limits, &mut typer)
}

/// The parts of an item object, checked for shape but not yet typed.
struct Item<'a> {
    tag: u32,
    item_type: ItemType,
    value: Option<&'a Json>,
}

fn item_parts<'a>(json: &'a Json, dict: &dyn Dictionary) -> Result<Item<'a>, TextError> {
    let object: &Map<String, Json> = json.as_object().ok_or_else(|| TextError::Unexpected {
        context: "an item".to_owned(),
        what: "JSON value",
        name: kind(json).to_owned(),
    })?;
    for key in object.keys() {
        if !matches!(key.as_str(), "tag" | "name" | "type" | "value") {
            return Err(TextError::Unexpected {
                context: "an item".to_owned(),
                what: "key",
                name: key.chars().take(40).collect(),
            });
        }
    }
    let tag = match object.get("tag") {
        Some(Json::String(t)) => parse_tag(t, dict)?,
        Some(other) => {
            return Err(TextError::Unexpected {
                context: "tag".to_owned(),
                what: "JSON value",
                name: kind(other).to_owned(),
            });
        }
        None => {
            return Err(TextError::Missing {
                context: "an item".to_owned(),
                what: "\"tag\"",
            });
        }
    };
    let item_type = match object.get("type") {
        None => ItemType::Structure,
        Some(Json::String(t)) => ItemType::from_name(t)
            .ok_or_else(|| TextError::UnknownType(t.chars().take(40).collect()))?,
        Some(other) => return Err(TextError::UnknownType(kind(other).to_owned())),
    };
    Ok(Item {
        tag,
        item_type,
        value: object.get("value"),
    })
}

/// What kind of JSON value this is, for messages.
fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

/// Types an item and its descendants; `depth` is the nesting of the structure this item would be.
fn build(
    json: &Json,
    attribute: Option<&str>,
    depth: usize,
    limits: &Limits,
    typer: &mut Typer<'_, '_, '_>,
) -> Result<Ttlv, TextError> {
    let item = item_parts(json, typer.dict)?;
    let misplaced = |what| TextError::Misplaced {
        tag: super::text::tag_label(item.tag, typer.dict),
        item_type: item.item_type.name(),
        what,
    };
    let scalar = match (item.item_type, item.value) {
        (ItemType::Structure, None | Some(Json::Null)) => {
            check_depth(depth, limits)?;
            return Ok(Ttlv::structure(item.tag, Vec::new()));
        }
        (ItemType::Structure, Some(Json::Array(children))) => {
            check_depth(depth, limits)?;
            check_items(children.len(), limits)?;
            let name = attribute_name(children, typer.dict, |c| {
                let o = c.as_object()?;
                if o.get("type")?.as_str()? != ItemType::TextString.name() {
                    return None;
                }
                let tag = parse_tag(o.get("tag")?.as_str()?, typer.dict).ok()?;
                Some((tag, o.get("value")?.as_str()?))
            });
            let mut items = Vec::with_capacity(children.len());
            for (i, child) in children.iter().enumerate() {
                typer.path.push(i);
                let built = build(child, name, depth + 1, limits, typer);
                typer.path.pop();
                items.push(built?);
            }
            return Ok(Ttlv::structure(item.tag, items));
        }
        (ItemType::Structure, Some(_)) => {
            return Err(misplaced("value other than an array of items"));
        }
        (_, None | Some(Json::Null)) => {
            return Err(TextError::Missing {
                context: super::text::tag_label(item.tag, typer.dict),
                what: "\"value\"",
            });
        }
        (_, Some(Json::Array(_) | Json::Object(_))) => {
            return Err(misplaced("array or object value"));
        }
        (_, Some(Json::String(s))) => Scalar::Text(s),
        (_, Some(Json::Number(n))) => Scalar::Number(n),
        (_, Some(Json::Bool(b))) => Scalar::Bool(*b),
    };
    typer
        .value(item.tag, item.item_type, scalar, attribute)
        .map(|v| Ttlv::new(item.tag, v))
}

fn write_item(
    out: &mut String,
    item: &Ttlv,
    dict: &dyn Dictionary,
    attribute: Option<&str>,
    depth: usize,
) {
    for _ in 0..depth {
        out.push_str("  ");
    }
    out.push_str("{\"tag\": ");
    match dict.tag_name(item.tag) {
        Some(name) => write_string(out, name),
        None => write_string(out, &tag_hex(item.tag)),
    }
    match &item.value {
        Value::Structure(children) if children.is_empty() => out.push_str(", \"value\": []}"),
        Value::Structure(children) => {
            out.push_str(", \"value\": [\n");
            let attribute = attribute_name(children, dict, |c| match &c.value {
                Value::TextString(t) => Some((c.tag, t.as_str())),
                _ => None,
            });
            for (i, child) in children.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                write_item(out, child, dict, attribute, depth + 1);
            }
            out.push('\n');
            for _ in 0..depth {
                out.push_str("  ");
            }
            out.push_str("]}");
        }
        value => {
            let names = match value {
                Value::Integer(_) | Value::Enumeration(_) => dict.value_names(item.tag, attribute),
                _ => None,
            };
            out.push_str(", \"type\": ");
            write_string(out, value.item_type().name());
            out.push_str(", \"value\": ");
            match write_scalar(value, Flavor::Json, names) {
                Written::Text(t) => write_string(out, &t),
                Written::Bare(b) => out.push_str(&b),
            }
            out.push('}');
        }
    }
}

/// Writes a JSON string literal.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::SecretBytes;
    use super::super::text::Placeholder;
    use super::super::text::testing::{TestDict, arb_item};
    use super::*;

    fn one(json: &str) -> Result<Ttlv, TextError> {
        from_json(json, &TestDict, &Limits::DEFAULT)
    }

    fn leaf(json: &str) -> Value {
        one(json).unwrap().value
    }

    #[test]
    fn integers_are_numbers_hex_or_mask_names() {
        assert_eq!(
            leaf(r#"{"tag":"BatchCount","type":"Integer","value":10}"#),
            Value::Integer(10)
        );
        assert_eq!(
            leaf(r#"{"tag":"BatchCount","type":"Integer","value":"0x0000000A"}"#),
            Value::Integer(10)
        );
        assert_eq!(
            leaf(r#"{"tag":"BatchCount","type":"Integer","value":"0xffffffff"}"#),
            Value::Integer(-1)
        );
        assert_eq!(
            leaf(
                r#"{"tag":"CryptographicUsageMask","type":"Integer","value":"Encrypt|Decrypt|0x00000010"}"#
            ),
            Value::Integer(28)
        );
        for bad in [
            r#"{"tag":"BatchCount","type":"Integer","value":2147483648}"#,
            r#"{"tag":"BatchCount","type":"Integer","value":1.5}"#,
            r#"{"tag":"BatchCount","type":"Integer","value":"10"}"#,
            r#"{"tag":"BatchCount","type":"Integer","value":true}"#,
        ] {
            assert!(
                matches!(one(bad), Err(TextError::InvalidValue { .. })),
                "{bad}"
            );
        }
        let item = Ttlv::new(0x42002C, Value::Integer(3));
        let json = to_json(&item, &TestDict);
        assert_eq!(
            json,
            "{\"tag\": \"CryptographicUsageMask\", \"type\": \"Integer\", \"value\": \"Sign|Verify\"}\n"
        );
        assert_eq!(one(&json).unwrap(), item);
    }

    #[test]
    fn long_integers_beyond_double_precision_are_hex() {
        assert_eq!(
            leaf(r#"{"tag":"0x540001","type":"LongInteger","value":-2}"#),
            Value::LongInteger(-2)
        );
        assert_eq!(
            leaf(r#"{"tag":"0x540001","type":"LongInteger","value":"0xfffffffffffffffe"}"#),
            Value::LongInteger(-2)
        );
        let big = Ttlv::new(0x540001, Value::LongInteger(1 << 60));
        let json = to_json(&big, &TestDict);
        assert!(json.contains("\"0x1000000000000000\""), "{json}");
        assert_eq!(one(&json).unwrap(), big);
    }

    #[test]
    fn big_integers_enumerations_booleans_intervals() {
        assert_eq!(
            leaf(r#"{"tag":"0x540002","type":"BigInteger","value":"0x0000000000000001"}"#),
            Value::BigInteger(SecretBytes::new(vec![0, 0, 0, 0, 0, 0, 0, 1]))
        );
        assert_eq!(
            leaf(r#"{"tag":"0x540002","type":"BigInteger","value":-1}"#),
            Value::BigInteger(SecretBytes::new(vec![0xFF; 8]))
        );
        assert!(one(r#"{"tag":"0x540002","type":"BigInteger","value":"0x01"}"#).is_err());
        assert!(
            one(r#"{"tag":"0x540002","type":"BigInteger","value":"0000000000000001"}"#).is_err()
        );
        assert_eq!(
            leaf(r#"{"tag":"0x420057","type":"Enumeration","value":2}"#),
            Value::Enumeration(2)
        );
        assert_eq!(
            leaf(r#"{"tag":"ObjectType","type":"Enumeration","value":"0x00000002"}"#),
            Value::Enumeration(2)
        );
        assert_eq!(
            leaf(r#"{"tag":"ObjectType","type":"Enumeration","value":"SymmetricKey"}"#),
            Value::Enumeration(2)
        );
        assert!(matches!(
            one(r#"{"tag":"ObjectType","type":"Enumeration","value":"Boat"}"#),
            Err(TextError::UnknownName { .. })
        ));
        assert_eq!(
            leaf(r#"{"tag":"0x540003","type":"Boolean","value":true}"#),
            Value::Boolean(true)
        );
        assert_eq!(
            leaf(r#"{"tag":"0x540003","type":"Boolean","value":"0x0000000000000001"}"#),
            Value::Boolean(true)
        );
        assert!(one(r#"{"tag":"0x540003","type":"Boolean","value":"true"}"#).is_err());
        assert!(one(r#"{"tag":"0x540003","type":"Boolean","value":1}"#).is_err());
        assert_eq!(
            leaf(r#"{"tag":"0x540004","type":"Interval","value":27}"#),
            Value::Interval(27)
        );
        assert_eq!(
            leaf(r#"{"tag":"0x540004","type":"Interval","value":"0x0000001b"}"#),
            Value::Interval(27)
        );
        assert!(one(r#"{"tag":"0x540004","type":"Interval","value":-1}"#).is_err());
    }

    #[test]
    fn text_bytes_and_dates() {
        assert_eq!(
            leaf(r#"{"tag":"UniqueIdentifier","type":"TextString","value":"a\"b\u0001"}"#),
            Value::TextString("a\"b\u{1}".into())
        );
        assert!(one(r#"{"tag":"UniqueIdentifier","type":"TextString","value":5}"#).is_err());
        assert_eq!(
            leaf(r#"{"tag":"0x540005","type":"ByteString","value":"C50F77"}"#),
            Value::ByteString(SecretBytes::new(vec![0xC5, 0x0F, 0x77]))
        );
        assert!(one(r#"{"tag":"0x540005","type":"ByteString","value":"0xC50F77"}"#).is_err());
        assert_eq!(
            leaf(
                r#"{"tag":"ActivationDate","type":"DateTime","value":"2001-01-01T10:00:00+10:00"}"#
            ),
            Value::DateTime(978_307_200)
        );
        assert_eq!(
            leaf(r#"{"tag":"ActivationDate","type":"DateTime","value":"0x000000003a505520"}"#),
            Value::DateTime(0x3a505520)
        );
        assert!(one(r#"{"tag":"ActivationDate","type":"DateTime","value":978307200}"#).is_err());
    }

    #[test]
    fn structures_and_shapes() {
        let json = r#"{"tag":"RequestMessage","value":[
            {"tag":"BatchItem","type":"Structure","value":null},
            {"tag":"0x54FFFF","name":"SomeExtension","value":[
              {"tag":"BatchCount","type":"Integer","value":1}]}]}"#;
        let item = one(json).unwrap();
        assert_eq!(
            item,
            Ttlv::structure(
                0x420078,
                vec![
                    Ttlv::structure(0x42000F, vec![]),
                    Ttlv::structure(0x54FFFF, vec![Ttlv::new(0x42000D, Value::Integer(1))]),
                ]
            )
        );
        assert_eq!(
            to_json(&item, &TestDict),
            "{\"tag\": \"RequestMessage\", \"value\": [\n  {\"tag\": \"BatchItem\", \"value\": []},\n  \
             {\"tag\": \"0x54FFFF\", \"value\": [\n    {\"tag\": \"BatchCount\", \"type\": \"Integer\", \
             \"value\": 1}\n  ]}\n]}\n"
        );
        for bad in [
            "[]",
            "{}",
            r#"{"tag":5}"#,
            r#"{"tag":"Flying"}"#,
            r#"{"tag":"BatchItem","colour":"red"}"#,
            r#"{"tag":"BatchItem","value":"x"}"#,
            r#"{"tag":"BatchItem","value":[5]}"#,
            r#"{"tag":"BatchCount","type":"Integer"}"#,
            r#"{"tag":"BatchCount","type":"Integer","value":[1]}"#,
            r#"{"tag":"BatchCount","type":"Whole","value":1}"#,
            r#"{"tag":"BatchCount","type":"Integer","value":1} trailing"#,
            r#"{"tag":"BatchCount","type":"Integer","value":1"#,
        ] {
            assert!(one(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_depth: 2,
            max_items_per_structure: 2,
            ..Limits::DEFAULT
        };
        let deep =
            r#"{"tag":"BatchItem","value":[{"tag":"BatchItem","value":[{"tag":"BatchItem"}]}]}"#;
        assert_eq!(
            from_json(deep, &TestDict, &limits),
            Err(TextError::TooDeep { max: 2 })
        );
        let wide = r#"{"tag":"BatchItem","value":[{"tag":"BatchItem"},{"tag":"BatchItem"},{"tag":"BatchItem"}]}"#;
        assert_eq!(
            from_json(wide, &TestDict, &limits),
            Err(TextError::TooManyItems { max: 2 })
        );
        let abyss = format!(
            "{}{}",
            r#"{"tag":"BatchItem","value":["#.repeat(50_000),
            "]}".repeat(50_000)
        );
        assert!(from_json(&abyss, &TestDict, &Limits::DEFAULT).is_err());
    }

    #[test]
    fn placeholders_reach_the_resolver() {
        let json = r#"{"tag":"BatchItem","value":[
            {"tag":"BatchCount","type":"Integer","value":1},
            {"tag":"ActivationDate","type":"DateTime","value":"$NOW"}]}"#;
        let mut seen = Vec::new();
        let mut resolve = |p: &Placeholder<'_>| {
            seen.push((p.text.to_owned(), p.path.to_vec()));
            Ok(Some(Value::DateTime(7)))
        };
        let item = from_json_with(json, &TestDict, &Limits::DEFAULT, &mut resolve).unwrap();
        assert_eq!(item.children()[1].value, Value::DateTime(7));
        assert_eq!(seen, vec![("$NOW".to_owned(), vec![1])]);
        assert!(one(json).is_err());
    }

    proptest! {
        #[test]
        fn any_tree_survives_json(item in arb_item()) {
            let json = to_json(&item, &TestDict);
            prop_assert_eq!(from_json(&json, &TestDict, &Limits::DEFAULT), Ok(item), "{}", json);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = from_json(&text, &TestDict, &Limits::DEFAULT);
        }

        #[test]
        fn mangled_json_never_panics(item in arb_item(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut json = to_json(&item, &TestDict).into_bytes();
            let i = cut.index(json.len());
            json[i] = byte;
            if let Ok(text) = String::from_utf8(json) {
                let _ = from_json(&text, &TestDict, &Limits::DEFAULT);
            }
        }
    }
}
