//! JSON Schema text from a client: parsed, compiled, checked for compatibility with
//! itself, and used to validate a few documents.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use kgate_formats::schema::{ParsedSchema, SchemaType};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    common::allow_caught_panics();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = ParsedSchema::parse(SchemaType::Json, text, &[]) else {
        return;
    };
    let _ = parsed.canonical();
    assert!(parsed.read_incompatibilities(&parsed).is_empty());
    if let ParsedSchema::Json(j) = parsed {
        for document in [
            json!(null),
            json!(1.5),
            json!("text"),
            json!([1, "a", {"b": [null]}]),
            json!({"a": {"a": {"a": 1}}, "b": [true, false]}),
        ] {
            let _ = j.validate(&document);
        }
    }
});
