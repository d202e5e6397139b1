//! Avro records read from Kafka (Confluent wire format, or the bare body), under
//! schemas with recursion and unions; a record that decodes must write back to a record
//! that decodes to the same value.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use kgate_formats::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::allow_caught_panics();
    let Some((&selector, record)) = data.split_first() else {
        return;
    };
    let codec = &common::AVRO[usize::from(selector) % common::AVRO.len()];
    let body = match wire::unframe(record) {
        Ok((_, body)) => body,
        Err(_) => record,
    };
    if let Ok(value) = codec.decode(body) {
        let written = codec.encode(&value).expect("a decoded value encodes");
        let again = codec.decode(&written).expect("an encoded value decodes");
        assert_eq!(again, value);
    }
});
