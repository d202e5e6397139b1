//! Avro schema text from a client: parsed, its canonical forms computed, checked for
//! compatibility with itself, and made into a codec that reads a record.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use kgate_formats::avro::AvroCodec;
use kgate_formats::schema::{ParsedSchema, SchemaType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::allow_caught_panics();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = ParsedSchema::parse(SchemaType::Avro, text, &[]) else {
        return;
    };
    let _ = parsed.canonical();
    let _ = parsed.normalized();
    assert!(
        parsed.read_incompatibilities(&parsed).is_empty(),
        "a schema reads its own data"
    );
    if let ParsedSchema::Avro(a) = parsed {
        let codec = AvroCodec::new(a.schema, &a.references);
        let _ = codec.decode(data);
        let _ = codec.decode(&[2; 64]);
        let _ = codec.encode(&serde_json::json!({}));
    }
});
