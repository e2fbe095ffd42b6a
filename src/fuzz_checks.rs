//! The properties the fuzz targets check, as library functions: `fuzz/fuzz_targets/*` call them on what
//! libFuzzer generates, and `tests/fuzz_regressions.rs` replays the committed crash inputs and the hostile
//! TTLV fixtures through the very same functions under `cargo test`. Each returns normally on input it
//! refuses and panics, saying which property broke, on a violation. Codec only: no `server` feature needed.

use crate::kmip::{
    KmipError, RequestMessage, ResponseBatchItem, ResponseHeader, ResponseMessage, ResultReason,
};
use crate::spec::DICTIONARY;
use crate::ttlv::{self, Dictionary, Limits, TextError, Ttlv, json, xml};

/// Binary TTLV: whatever decodes re-encodes to bytes that decode to the same item, and encoding is stable.
pub fn ttlv_decode(data: &[u8]) {
    let limits = Limits::DEFAULT;
    let Ok(item) = ttlv::decode(data, &limits) else {
        return;
    };
    let bytes = ttlv::encode(&item);
    let again = match ttlv::decode(&bytes, &limits) {
        Ok(again) => again,
        Err(error) => panic!("a decoded item's encoding does not decode: {error}"),
    };
    assert_eq!(item, again, "decode(encode(item)) differs from item");
    assert_eq!(
        ttlv::encode(&again),
        bytes,
        "encoding a re-decoded item changed its bytes"
    );
}

/// A request from bytes to the typed message, as the server reads every frame, and back out as the answer
/// the server would write: the typed request is the same when read again from the re-encoded tree, and the
/// response built from it (a failure per item, echoing what the item carried, or the whole-request
/// rejection) encodes to bytes that decode to the same tree.
pub fn request_decode(data: &[u8]) {
    let limits = Limits::DEFAULT;
    let Ok(item) = ttlv::decode(data, &limits) else {
        return;
    };
    let read = RequestMessage::from_ttlv(&item);
    let reencoded = match ttlv::decode(&ttlv::encode(&item), &limits) {
        Ok(tree) => tree,
        Err(error) => panic!("a decoded request's encoding does not decode: {error}"),
    };
    assert_eq!(
        read,
        RequestMessage::from_ttlv(&reencoded),
        "the same tree read twice gave different typed requests"
    );
    let response = match &read {
        Ok(request) => {
            let refused = KmipError::new(ResultReason::GeneralFailure, "not processed");
            ResponseMessage {
                header: ResponseHeader::new(request.version, 0),
                items: request
                    .items
                    .iter()
                    .map(|i| match i {
                        Ok(item) => ResponseBatchItem::failure(
                            Some(item.operation),
                            item.unique_batch_item_id.clone(),
                            &refused,
                        ),
                        Err(e) => ResponseBatchItem::failure(
                            e.operation,
                            e.unique_batch_item_id.clone(),
                            &e.error,
                        ),
                    })
                    .collect(),
            }
        }
        Err(rejected) => ResponseMessage::rejection(rejected, 0),
    };
    let tree = response.to_ttlv();
    let bytes = ttlv::encode(&tree);
    // The answer echoes at most what the request carried, plus a header and messages: twice the request
    // limit is room enough.
    let answer_limits = Limits {
        max_message_bytes: limits.max_message_bytes.saturating_mul(2),
        ..limits
    };
    match ttlv::decode(&bytes, &answer_limits) {
        Ok(back) => assert_eq!(
            back, tree,
            "the response does not decode to what was written"
        ),
        Err(error) => panic!("the response to a request does not decode: {error}"),
    }
}

/// The XML form: whatever decodes comes back as the same item tree after `to_xml` and a second decode.
pub fn xml_decode(data: &[u8]) {
    text_form_round_trip(data, ("from_xml", "to_xml"), xml::from_xml, xml::to_xml);
}

/// The JSON form: whatever decodes comes back as the same item tree after `to_json` and a second decode.
pub fn json_decode(data: &[u8]) {
    text_form_round_trip(
        data,
        ("from_json", "to_json"),
        json::from_json,
        json::to_json,
    );
}

/// The check both text forms share: text that decodes is written again, and what was written decodes to the
/// same item tree. `names` (decoder, encoder) name them in the panic messages.
fn text_form_round_trip(
    data: &[u8],
    names: (&str, &str),
    decode: fn(&str, &dyn Dictionary, &Limits) -> Result<Ttlv, TextError>,
    encode: fn(&Ttlv, &dyn Dictionary) -> String,
) {
    let (from, to) = names;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits::DEFAULT;
    let Ok(item) = decode(text, &DICTIONARY, &limits) else {
        return;
    };
    let written = encode(&item, &DICTIONARY);
    let again = match decode(&written, &DICTIONARY, &limits) {
        Ok(again) => again,
        Err(error) => panic!("{to} wrote what {from} rejects: {error}\n{written}"),
    };
    assert_eq!(
        item, again,
        "{from}({to}(item)) differs from item:\n{written}"
    );
}

/// A property check over one input.
pub type Check = fn(&[u8]);

/// Every target by its fuzz target name.
pub const TARGETS: [(&str, Check); 4] = [
    ("ttlv_decode", ttlv_decode),
    ("request_decode", request_decode),
    ("xml_decode", xml_decode),
    ("json_decode", json_decode),
];
