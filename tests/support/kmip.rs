//! Small builders for KMIP request trees, and readers for responses, so that client-flow tests and benchmarks
//! can spell requests the way a given client sends them (its version, its header fields, its 1.x attribute
//! forms) without going through the server's own message types.

#![allow(dead_code)]

use kmipd::spec::enums::{cryptographic_algorithm, object_type, operation, result_status, state};
use kmipd::spec::tag;
use kmipd::ttlv::{SecretBytes, Tag, Ttlv, Value};

/// A Structure item.
pub fn structure(tag: Tag, children: Vec<Ttlv>) -> Ttlv {
    Ttlv::structure(tag, children)
}
/// An Integer item.
pub fn int(tag: Tag, v: i32) -> Ttlv {
    Ttlv::new(tag, Value::Integer(v))
}
/// An Enumeration item.
pub fn enumeration(tag: Tag, v: u32) -> Ttlv {
    Ttlv::new(tag, Value::Enumeration(v))
}
/// A Text String item.
pub fn text(tag: Tag, v: &str) -> Ttlv {
    Ttlv::new(tag, Value::TextString(v.to_owned()))
}
/// A Byte String item.
pub fn bytes(tag: Tag, v: &[u8]) -> Ttlv {
    Ttlv::new(tag, Value::ByteString(SecretBytes::new(v.to_vec())))
}

/// A Protocol Version structure.
pub fn protocol_version(version: (i32, i32)) -> Ttlv {
    structure(
        tag::PROTOCOL_VERSION,
        vec![
            int(tag::PROTOCOL_VERSION_MAJOR, version.0),
            int(tag::PROTOCOL_VERSION_MINOR, version.1),
        ],
    )
}

/// A Request Message whose header holds Protocol Version, `extra` header fields, and Batch Count.
pub fn request_with(version: (i32, i32), extra: Vec<Ttlv>, items: Vec<Ttlv>) -> Ttlv {
    let mut header = vec![protocol_version(version)];
    header.extend(extra);
    header.push(int(tag::BATCH_COUNT, i32::try_from(items.len()).unwrap()));
    let mut children = vec![structure(tag::REQUEST_HEADER, header)];
    children.extend(items);
    structure(tag::REQUEST_MESSAGE, children)
}

/// A Request Message whose header holds only Protocol Version and Batch Count.
pub fn request(version: (i32, i32), items: Vec<Ttlv>) -> Ttlv {
    request_with(version, Vec::new(), items)
}

/// A Batch Item of `operation` with its Request Payload.
pub fn item(operation: u32, payload: Vec<Ttlv>) -> Ttlv {
    structure(
        tag::BATCH_ITEM,
        vec![
            enumeration(tag::OPERATION, operation),
            structure(tag::REQUEST_PAYLOAD, payload),
        ],
    )
}

/// A Batch Item carrying a Unique Batch Item ID.
pub fn item_with_id(operation: u32, id: &[u8], payload: Vec<Ttlv>) -> Ttlv {
    structure(
        tag::BATCH_ITEM,
        vec![
            enumeration(tag::OPERATION, operation),
            bytes(tag::UNIQUE_BATCH_ITEM_ID, id),
            structure(tag::REQUEST_PAYLOAD, payload),
        ],
    )
}

/// A Unique Identifier item.
pub fn uid(id: &str) -> Ttlv {
    text(tag::UNIQUE_IDENTIFIER, id)
}

/// A 1.x Attribute: name, optional index, value (the value's tag is replaced by Attribute Value).
pub fn attribute(name: &str, index: Option<i32>, value: Value) -> Ttlv {
    let mut children = vec![text(tag::ATTRIBUTE_NAME, name)];
    if let Some(i) = index {
        children.push(int(tag::ATTRIBUTE_INDEX, i));
    }
    children.push(Ttlv::new(tag::ATTRIBUTE_VALUE, value));
    structure(tag::ATTRIBUTE, children)
}

/// A 1.x Attribute whose value is a structure (Name, Cryptographic Parameters, ...).
pub fn attribute_structure(name: &str, children: Vec<Ttlv>) -> Ttlv {
    attribute(name, None, Value::Structure(children))
}

/// A 1.x Name attribute value.
pub fn name_value(name: &str) -> Vec<Ttlv> {
    vec![
        text(tag::NAME_VALUE, name),
        enumeration(
            tag::NAME_TYPE,
            kmipd::spec::enums::name_type::UNINTERPRETED_TEXT_STRING,
        ),
    ]
}

/// A 1.x Template-Attribute holding `attributes`.
pub fn template_attribute(attributes: Vec<Ttlv>) -> Ttlv {
    structure(tag::TEMPLATE_ATTRIBUTE, attributes)
}

/// A 1.x Create of a symmetric key: Cryptographic Algorithm, Length and Usage Mask in a Template-Attribute, the
/// way most clients ask for a key.
pub fn create_symmetric_key(algorithm: u32, length: i32, usage_mask: i32) -> Ttlv {
    item(
        operation::CREATE,
        vec![
            enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
            template_attribute(vec![
                attribute(
                    "Cryptographic Algorithm",
                    None,
                    Value::Enumeration(algorithm),
                ),
                attribute("Cryptographic Length", None, Value::Integer(length)),
                attribute("Cryptographic Usage Mask", None, Value::Integer(usage_mask)),
            ]),
        ],
    )
}

/// A 1.4 request creating one AES-256 key for Encrypt and Decrypt: the load the lifecycle, durability and
/// access measurements repeat.
pub fn create_aes256_request() -> Ttlv {
    request(
        (1, 4),
        vec![create_symmetric_key(cryptographic_algorithm::AES, 256, 12)],
    )
}

/// The Batch Items of a response.
pub fn batch_items(response: &Ttlv) -> Vec<&Ttlv> {
    assert_eq!(
        response.tag,
        tag::RESPONSE_MESSAGE,
        "not a Response Message"
    );
    response.children_with(tag::BATCH_ITEM).collect()
}

/// The response's Protocol Version as (major, minor).
pub fn response_version(response: &Ttlv) -> (i32, i32) {
    let version = response
        .child(tag::RESPONSE_HEADER)
        .and_then(|h| h.child(tag::PROTOCOL_VERSION))
        .expect("response header without Protocol Version");
    let part = |t| match version.child(t).map(|v| &v.value) {
        Some(Value::Integer(v)) => *v,
        other => panic!("bad protocol version part {other:?}"),
    };
    (
        part(tag::PROTOCOL_VERSION_MAJOR),
        part(tag::PROTOCOL_VERSION_MINOR),
    )
}

/// The payload of a successful batch item; panics with the Result Reason and Message otherwise.
pub fn success(item: &Ttlv) -> &Ttlv {
    let status = item.child(tag::RESULT_STATUS).map(|s| &s.value);
    if status != Some(&Value::Enumeration(result_status::SUCCESS)) {
        panic!(
            "batch item failed: {:?} {:?}",
            item.child(tag::RESULT_REASON).map(|r| &r.value),
            item.child(tag::RESULT_MESSAGE).map(|r| &r.value)
        );
    }
    item.child(tag::RESPONSE_PAYLOAD)
        .expect("successful batch item without Response Payload")
}

/// The only batch item of a response, which must have succeeded: its payload.
pub fn only_success(response: &Ttlv) -> &Ttlv {
    let items = batch_items(response);
    assert_eq!(items.len(), 1, "expected one batch item");
    success(items[0])
}

/// The Result Reason of a failed batch item.
pub fn failure_reason(item: &Ttlv) -> u32 {
    assert_eq!(
        item.child(tag::RESULT_STATUS).map(|s| &s.value),
        Some(&Value::Enumeration(result_status::OPERATION_FAILED)),
        "expected the item to fail"
    );
    match item.child(tag::RESULT_REASON).map(|r| &r.value) {
        Some(Value::Enumeration(r)) => *r,
        other => panic!("failed item without Result Reason: {other:?}"),
    }
}

/// A Text String child.
pub fn text_child(item: &Ttlv, t: Tag) -> String {
    match item.child(t).map(|c| &c.value) {
        Some(Value::TextString(s)) => s.clone(),
        other => panic!("expected a Text String child 0x{t:06X}, found {other:?}"),
    }
}

/// The 1.x Attributes of a payload: (name, index, value).
pub fn attributes_1x(payload: &Ttlv) -> Vec<(String, i32, &Value)> {
    payload
        .children_with(tag::ATTRIBUTE)
        .map(|a| {
            let index = match a.child(tag::ATTRIBUTE_INDEX).map(|i| &i.value) {
                Some(Value::Integer(i)) => *i,
                _ => 0,
            };
            let value = &a
                .child(tag::ATTRIBUTE_VALUE)
                .expect("attribute without value")
                .value;
            (text_child(a, tag::ATTRIBUTE_NAME), index, value)
        })
        .collect()
}

/// The value of the first 1.x attribute called `name`.
pub fn attribute_value<'a>(payload: &'a Ttlv, name: &str) -> Option<&'a Value> {
    attributes_1x(payload)
        .into_iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, _, v)| v)
}

/// The State enumeration value an attribute list reports.
pub fn state_of(payload: &Ttlv) -> u32 {
    match attribute_value(payload, "State") {
        Some(Value::Enumeration(s)) => *s,
        other => panic!("no State attribute: {other:?}"),
    }
}

/// The Active state, which clients poll for.
pub const ACTIVE: u32 = state::ACTIVE;

/// The key bytes of a Get response payload for a Raw symmetric key.
pub fn raw_key_material(payload: &Ttlv) -> Vec<u8> {
    let block = payload
        .child(tag::SYMMETRIC_KEY)
        .and_then(|k| k.child(tag::KEY_BLOCK))
        .expect("Get returned no Symmetric Key block");
    assert_eq!(
        block.child(tag::KEY_FORMAT_TYPE).map(|f| &f.value),
        Some(&Value::Enumeration(
            kmipd::spec::enums::key_format_type::RAW
        )),
        "key is not Raw"
    );
    match block
        .child(tag::KEY_VALUE)
        .and_then(|v| v.child(tag::KEY_MATERIAL))
        .map(|m| &m.value)
    {
        Some(Value::ByteString(b)) => b.to_vec(),
        other => panic!("Raw key without byte-string Key Material: {other:?}"),
    }
}

/// A Secret Data object of type Password holding `secret` (Opaque format), as clients register passphrases.
pub fn password_secret(secret: &[u8]) -> Ttlv {
    use kmipd::spec::enums::{key_format_type, secret_data_type};
    structure(
        tag::SECRET_DATA,
        vec![
            enumeration(tag::SECRET_DATA_TYPE, secret_data_type::PASSWORD),
            structure(
                tag::KEY_BLOCK,
                vec![
                    enumeration(tag::KEY_FORMAT_TYPE, key_format_type::OPAQUE),
                    structure(tag::KEY_VALUE, vec![bytes(tag::KEY_MATERIAL, secret)]),
                ],
            ),
        ],
    )
}
