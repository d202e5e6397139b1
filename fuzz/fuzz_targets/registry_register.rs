//! Schema Registry register bodies (`POST /subjects/{s}/versions`): parsed as the
//! handler parses them, and the schema parsed as registration parses it.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use kgate_formats::schema::ParsedSchema;
use kgate_registry::api::{SchemaBody, body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::allow_caught_panics();
    let Ok(request) = body::<SchemaBody>(Ok(kgate_http::LimitedBody(
        bytes::Bytes::copy_from_slice(data),
    ))) else {
        return;
    };
    let Ok(new) = request.into_new_schema() else {
        return;
    };
    if let Ok(parsed) = ParsedSchema::parse(new.schema_type, &new.schema, &[]) {
        let _ = parsed.canonical();
        let _ = parsed.normalized();
    }
});
