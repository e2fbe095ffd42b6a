//! The JSON form of TTLV on arbitrary text, named through the specification's dictionary: it must
//! never panic, and whatever it accepts must come back as the same item tree after `to_json` and a
//! second decode. Clients of the JSON profile speak this form.
#![no_main]

use kmipd::spec::DICTIONARY;
use kmipd::ttlv::{Limits, json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits::DEFAULT;
    let Ok(item) = json::from_json(text, &DICTIONARY, &limits) else {
        return;
    };
    let written = json::to_json(&item, &DICTIONARY);
    let again = match json::from_json(&written, &DICTIONARY, &limits) {
        Ok(again) => again,
        Err(error) => panic!("to_json wrote what from_json rejects: {error}\n{written}"),
    };
    assert_eq!(
        item, again,
        "from_json(to_json(item)) differs from item:\n{written}"
    );
});
