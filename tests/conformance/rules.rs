//! Every place where the replay accepts an answer that is not byte-for-byte the vector's, in one file. The vectors
//! were recorded against other servers; these values legitimately differ per server or per run, and each rule
//! says which and why. Nothing else is relaxed: all other items must match in tag, type, value and order.
//!
//! 1. Placeholders (`$NAME` in the vector): in a response, `$NOW`, `$NOW-3600`, `$NOW+3600` match any Date-Time
//!    within [`NOW_TOLERANCE`] of the run's clock plus the offset; any other `$NAME` (`$UNIQUE_IDENTIFIER_n`,
//!    `$IV_COUNTER_NONCE`, `$DATA_n`, `$KEY_MATERIAL_n`, ...) binds to the actual value on first sight and must
//!    equal it afterwards. In a request, `$NOW±n` is the run's clock plus the offset and any other `$NAME` is the
//!    value bound so far (a request naming an unbound placeholder fails the vector).
//! 2. Items the server chooses freely are not compared and may be present or absent: Result Message (free text
//!    for humans; the vectors carry another server's wording), Server Correlation Value (an opaque value the
//!    server picks for its own logs), and Located Items (the count of matches a server MAY omit; a Locate
//!    answer is still judged by its identifiers).
//! 3. Query answers describe the server (its operations, object types, vendor and server information, profiles,
//!    capabilities): the payload must carry the same kinds of items (the same set of child tags) as the
//!    vector's, but their values and counts are this server's.
//! 4. Attributes are a set: the children of an Attributes structure (2.x), the Attribute items of a
//!    structure (1.x), and the names a Get Attribute List answers (Attribute Name in 1.x, Attribute Reference
//!    in 2.x) match in any order.
//! 5. Keys the server generated (the objects named in the payload of a Create, Create Key Pair, Re-key, Re-key
//!    Key Pair or Derive Key response) have random bytes: in any response whose payload names such an object
//!    (the same response too, for a batch that creates and then gets), Key Material and Digest Value byte
//!    strings match any byte string of the same length.
//! 6. A request placeholder no response has bound (`$MAC_DATA` in CS-AC-M-6, whose MAC response carries the
//!    value literally) takes the value this server answered for the same item (tag and type) in the newest
//!    earlier response that has one.
//! 7. Outputs no server can reproduce (a ciphertext under a key the server drew at random, a random IV, random
//!    bytes, randomised OAEP): `expected-failures.txt` names each such place (`differs EXCHANGE PATH`), and
//!    there a leaf of the same type (and, for byte strings, the same length) is accepted and the vector goes
//!    on. Nothing else is accepted that way, and a listed place that no longer differs fails the run.
//! 8. The Random Number Generator attribute describes the server's own generator (the vectors' server used
//!    ANSI X9.31; kmipd uses AWS-LC's CTR_DRBG and says so): it must be there and name an RNG Algorithm, its
//!    values are this server's.

use std::collections::HashSet;

use kmipd::spec::enums::operation;
use kmipd::spec::tag;
use kmipd::ttlv::{Tag, Ttlv, Value};

/// How far a server time may be from the run's clock for `$NOW` to match: generous for slow CI machines.
pub const NOW_TOLERANCE: i64 = 300;

/// Rule 1: the offset in seconds of a `$NOW`, `$NOW-3600` or `$NOW+3600` placeholder; `None` for others.
pub fn now_offset(placeholder: &str) -> Option<i64> {
    let rest = placeholder.strip_prefix("$NOW")?;
    if rest.is_empty() {
        return Some(0);
    }
    rest.parse::<i64>().ok()
}

/// Rule 2: items never compared.
pub fn is_free_text(tag: Tag) -> bool {
    [
        tag::RESULT_MESSAGE,
        tag::SERVER_CORRELATION_VALUE,
        tag::LOCATED_ITEMS,
    ]
    .contains(&tag)
}

/// Rule 3: whether a Response Payload of this operation is compared by the kinds of its children only.
pub fn compares_kinds_only(operation: Option<u32>, tag: Tag) -> bool {
    operation == Some(operation::QUERY) && tag == tag::RESPONSE_PAYLOAD
}

/// Rule 4: whether the children of a structure with tag `parent` that carry `child` match in any order, in a
/// batch item of `operation`.
pub fn unordered(operation: Option<u32>, parent: Tag, child: Tag) -> bool {
    let listed_name = operation == Some(operation::GET_ATTRIBUTE_LIST)
        && (child == tag::ATTRIBUTE_NAME || child == tag::ATTRIBUTE_REFERENCE);
    parent == tag::ATTRIBUTES || child == tag::ATTRIBUTE || listed_name
}

/// Rule 5: the operations whose response names objects with server-generated key bytes.
pub fn generates_keys(operation: Option<u32>) -> bool {
    operation.is_some_and(|op| {
        [
            operation::CREATE,
            operation::CREATE_KEY_PAIR,
            operation::RE_KEY,
            operation::RE_KEY_KEY_PAIR,
            operation::DERIVE_KEY,
        ]
        .contains(&op)
    })
}

/// Rule 5: the identifiers a response payload names.
pub fn named_objects(payload: &Ttlv) -> impl Iterator<Item = &str> {
    payload
        .children()
        .iter()
        .filter_map(|c| match (&c.tag, &c.value) {
            (
                &tag::UNIQUE_IDENTIFIER
                | &tag::PRIVATE_KEY_UNIQUE_IDENTIFIER
                | &tag::PUBLIC_KEY_UNIQUE_IDENTIFIER,
                Value::TextString(s),
            ) => Some(s.as_str()),
            _ => None,
        })
}

/// Rule 5: whether an expected leaf may differ from the actual one because the key it belongs to was generated.
pub fn random_bytes_match(
    expected: &Ttlv,
    actual: &Ttlv,
    payload_objects: &[String],
    generated: &HashSet<String>,
) -> bool {
    if expected.tag != tag::KEY_MATERIAL && expected.tag != tag::DIGEST_VALUE {
        return false;
    }
    let (Value::ByteString(e), Value::ByteString(a)) = (&expected.value, &actual.value) else {
        return false;
    };
    e.len() == a.len() && payload_objects.iter().any(|o| generated.contains(o))
}

/// Rule 6: the first leaf of `response` with tag `tag` and type `item_type`, depth first.
pub fn answered_leaf(response: &Ttlv, tag: Tag, item_type: kmipd::ttlv::ItemType) -> Option<Value> {
    if response.tag == tag && response.value.item_type() == item_type {
        return Some(response.value.clone());
    }
    response
        .children()
        .iter()
        .find_map(|c| answered_leaf(c, tag, item_type))
}

/// Rule 7: whether two leaves have the same type and, for byte strings, the same length.
pub fn same_shape(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::ByteString(e), Value::ByteString(a)) => e.len() == a.len(),
        (e, a) => e.item_type() == a.item_type(),
    }
}

/// Rule 8: whether an expected structure describes a random number generator: a 2.x Random Number Generator
/// attribute, or a 1.x Attribute Value whose first child is an RNG Algorithm.
pub fn is_generator_description(expected: &Ttlv) -> bool {
    expected.tag == tag::RANDOM_NUMBER_GENERATOR
        || (expected.tag == tag::ATTRIBUTE_VALUE
            && expected
                .children()
                .first()
                .is_some_and(|c| c.tag == tag::RNG_ALGORITHM))
}

/// Rule 8: the actual description names an RNG Algorithm.
pub fn generator_matches(actual: &[Ttlv]) -> bool {
    actual.iter().any(|c| c.tag == tag::RNG_ALGORITHM)
}
