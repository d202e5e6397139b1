//! Protobuf records read from Kafka: the message indexes of the wire format, then the
//! message; a record that decodes must encode back to one that decodes the same.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use kgate_formats::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::allow_caught_panics();
    let codec = &*common::PROTOBUF;
    let Ok((indexes, payload)) = wire::read_message_indexes(data) else {
        return;
    };
    if let Ok(value) = codec.decode(&indexes, payload) {
        let message = codec.message_at(&indexes).expect("decoded, so it exists");
        let (_, written) = codec
            .encode(&message, &value)
            .expect("a decoded value encodes");
        let again = codec
            .decode(&indexes, &written)
            .expect("an encoded value decodes");
        assert_eq!(again, value);
    }
});
