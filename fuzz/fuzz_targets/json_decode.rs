//! The JSON form of TTLV on arbitrary text, named through the specification's dictionary: it must
//! never panic, and whatever it accepts must come back as the same item tree after `to_json` and a
//! second decode (`kmipd::fuzz_checks::json_decode`, also run on committed inputs by
//! tests/fuzz_regressions.rs). Clients of the JSON profile speak this form.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kmipd::fuzz_checks::json_decode(data);
});
