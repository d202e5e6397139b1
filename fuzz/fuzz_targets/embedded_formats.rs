//! The schemaless embedded formats (binary, json, string): Kafka bytes to the JSON a
//! response embeds and back, and a request's JSON to bytes.
#![no_main]

use kgate_formats::{EmbeddedFormat, bytes_to_json, json_to_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for format in [
        EmbeddedFormat::Binary,
        EmbeddedFormat::Json,
        EmbeddedFormat::String,
    ] {
        // Bytes read from Kafka, shown and written back, are the same record.
        if let Ok(shown) = bytes_to_json(format, Some(data)) {
            let written = json_to_bytes(format, &shown).expect("a shown record writes back");
            match format {
                EmbeddedFormat::Json => {
                    let again = bytes_to_json(format, written.as_deref()).expect("reads back");
                    assert_eq!(again, shown);
                }
                _ => assert_eq!(written.as_deref(), Some(data)),
            }
        }
    }
    // A request's value, in each format.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        for format in [
            EmbeddedFormat::Binary,
            EmbeddedFormat::Json,
            EmbeddedFormat::String,
        ] {
            let _ = json_to_bytes(format, &value);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = kgate_formats::base64_decode(text);
    }
});
