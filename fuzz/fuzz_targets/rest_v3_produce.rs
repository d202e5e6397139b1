//! REST Proxy v3 produce bodies (one record): parsed as the handler parses them, the
//! timestamp read, and key and value converted in the schemaless formats.
#![no_main]

use kgate_formats::{EmbeddedFormat, json_to_bytes};
use kgate_rest::v3::records::{ProduceRequest, parse_timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<ProduceRequest>(data) else {
        return;
    };
    if let Some(t) = &request.timestamp {
        let _ = parse_timestamp(t);
    }
    for part in [&request.key, &request.value].into_iter().flatten() {
        let format = match part.kind.as_deref() {
            Some("JSON") => EmbeddedFormat::Json,
            Some("STRING") => EmbeddedFormat::String,
            _ => EmbeddedFormat::Binary,
        };
        let _ = json_to_bytes(format, &part.data);
    }
    for header in &request.headers {
        if let Some(v) = &header.value {
            let _ = kgate_formats::base64_decode(v);
        }
    }
});
