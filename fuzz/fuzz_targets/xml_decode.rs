//! The XML form of TTLV on arbitrary text, named through the specification's dictionary: it must
//! never panic, and whatever it accepts must come back as the same item tree after `to_xml` and a
//! second decode. Test vectors, the admin tools and clients of the XML profile speak this form.
#![no_main]

use kmipd::spec::DICTIONARY;
use kmipd::ttlv::{Limits, xml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits::DEFAULT;
    let Ok(item) = xml::from_xml(text, &DICTIONARY, &limits) else {
        return;
    };
    let written = xml::to_xml(&item, &DICTIONARY);
    let again = match xml::from_xml(&written, &DICTIONARY, &limits) {
        Ok(again) => again,
        Err(error) => panic!("to_xml wrote what from_xml rejects: {error}\n{written}"),
    };
    assert_eq!(
        item, again,
        "from_xml(to_xml(item)) differs from item:\n{written}"
    );
});
