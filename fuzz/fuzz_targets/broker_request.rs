//! Kafka request frames (without the length prefix) as the embedded broker decodes them
//! before dispatching: header, API version, body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kgate_broker::fuzzing::decode_request(bytes::Bytes::copy_from_slice(data));
});
