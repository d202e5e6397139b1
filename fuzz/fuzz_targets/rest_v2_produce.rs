//! REST Proxy v2 produce bodies: parsed as the handler parses them, and each key and
//! value converted in the schemaless formats.
#![no_main]

use kgate_formats::{EmbeddedFormat, json_to_bytes};
use kgate_rest::v2::produce::ProduceRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<ProduceRequest>(data) else {
        return;
    };
    for record in &request.records {
        for format in [
            EmbeddedFormat::Binary,
            EmbeddedFormat::Json,
            EmbeddedFormat::String,
        ] {
            let _ = json_to_bytes(format, record.key());
            let _ = json_to_bytes(format, record.value());
        }
    }
});
