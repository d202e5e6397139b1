//! The jsonschema format: a JSON Schema (from the fuzzer) and a document checked against
//! it, as a produce request does; then the record read back.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use kgate_formats::schema::{ParsedSchema, SchemaType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::allow_caught_panics();
    let (schema, document) = common::split_nul(data);
    let (Ok(schema), Ok(document)) = (std::str::from_utf8(schema), std::str::from_utf8(document))
    else {
        return;
    };
    let Ok(ParsedSchema::Json(parsed)) = ParsedSchema::parse(SchemaType::Json, schema, &[]) else {
        return;
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(document) else {
        return;
    };
    let checked = parsed.validate(&value);
    match kgate_formats::json_schema::encode(&parsed.validator, &value) {
        Ok(bytes) => {
            assert!(checked.is_ok());
            let read = kgate_formats::json_schema::decode(&bytes).expect("written, so readable");
            assert_eq!(read, value);
        }
        Err(_) => assert!(checked.is_err()),
    }
});
