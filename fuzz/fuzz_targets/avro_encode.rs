//! Avro records written from a request's JSON: what encodes must decode, and encode
//! again to the same bytes.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::allow_caught_panics();
    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    let codec = &common::AVRO[usize::from(selector) % common::AVRO.len()];
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(text) else {
        return;
    };
    if let Ok(bytes) = codec.encode(&value) {
        let decoded = codec.decode(&bytes).expect("an encoded value decodes");
        let again = codec.encode(&decoded).expect("a decoded value encodes");
        assert_eq!(again, bytes);
    }
});
