//! Protobuf records written from a request's JSON (protobuf's JSON mapping).
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::allow_caught_panics();
    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    let codec = &*common::PROTOBUF;
    let indexes: &[i32] = match selector % 3 {
        0 => &[0],
        1 => &[1],
        _ => &[0, 2],
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(text) else {
        return;
    };
    let message = codec.message_at(indexes).expect("the fuzz schema has it");
    if let Ok((written_indexes, bytes)) = codec.encode(&message, &value) {
        assert_eq!(written_indexes, indexes);
        codec
            .decode(indexes, &bytes)
            .expect("an encoded value decodes");
    }
});
