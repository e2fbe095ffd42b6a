//! The XML form of TTLV on arbitrary text, named through the specification's dictionary: it must
//! never panic, and whatever it accepts must come back as the same item tree after `to_xml` and a
//! second decode (`kmipd::fuzz_checks::xml_decode`, also run on committed inputs by
//! tests/fuzz_regressions.rs). Test vectors, the admin tools and clients of the XML profile speak it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kmipd::fuzz_checks::xml_decode(data);
});
