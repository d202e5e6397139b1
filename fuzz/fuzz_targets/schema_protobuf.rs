//! .proto text from a client: compiled, printed back (the form the registry compares),
//! and checked for compatibility with itself. Printed text must compile to a schema that
//! prints the same.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use kgate_formats::schema::{ParsedSchema, SchemaType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::allow_caught_panics();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = ParsedSchema::parse(SchemaType::Protobuf, text, &[]) else {
        return;
    };
    let _ = parsed.normalized();
    assert!(parsed.read_incompatibilities(&parsed).is_empty());
    if let ParsedSchema::Protobuf(p) = &parsed {
        let _ = p.serialized();
        if let Some(printed) = p.printed() {
            match ParsedSchema::parse(SchemaType::Protobuf, &printed, &[]) {
                Ok(ParsedSchema::Protobuf(again)) => {
                    assert_eq!(again.printed().as_deref(), Some(printed.as_str()))
                }
                other => panic!("printed schema does not compile: {other:?}\n{printed}"),
            }
        }
    }
});
