//! Protobuf schemas registered as a base64 `FileDescriptorProto` (as Confluent's
//! serializers do): decoded, printed as .proto text and compiled.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use base64::Engine;
use kgate_formats::schema::{ParsedSchema, SchemaType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::allow_caught_panics();
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    if let Ok(ParsedSchema::Protobuf(p)) = ParsedSchema::parse(SchemaType::Protobuf, &text, &[]) {
        let _ = p.printed();
        let _ = p.serialized();
    }
});
