//! The binary TTLV decoder on arbitrary bytes: it must never panic, and whatever it accepts must
//! survive a round trip: encoding the item and decoding that gives the same item, and encoding is
//! stable from then on. Peers send these bytes straight from the socket.
#![no_main]

use kmipd::ttlv::{self, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});
