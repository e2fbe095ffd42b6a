//! A request from bytes to a typed message, as the server does for every frame: the TTLV decoder
//! and then `RequestMessage::from_ttlv` must never panic, whatever the item tree holds.
#![no_main]

use kmipd::kmip::RequestMessage;
use kmipd::ttlv::{self, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(item) = ttlv::decode(data, &Limits::DEFAULT) {
        let _ = RequestMessage::from_ttlv(&item);
    }
});
