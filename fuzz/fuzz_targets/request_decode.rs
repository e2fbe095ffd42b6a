//! A request from bytes to a typed message, as the server does for every frame, and the answer the
//! server would write back for it: no panic, the typed request read alike from the re-encoded tree,
//! the response decoding to what was written (`kmipd::fuzz_checks::request_decode`, also run on
//! committed inputs by tests/fuzz_regressions.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kmipd::fuzz_checks::request_decode(data);
});
