//! The binary TTLV decoder on arbitrary bytes: it must never panic, and whatever it accepts must
//! survive a round trip (`kmipd::fuzz_checks::ttlv_decode`, also run on committed inputs by
//! tests/fuzz_regressions.rs). Peers send these bytes straight from the socket.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kmipd::fuzz_checks::ttlv_decode(data);
});
