//! The registry's compatibility check of a new schema against an old one, at every
//! level, for schemas of any type (the text of each from the fuzzer).
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use kgate_formats::schema::ParsedSchema;
use kgate_registry::compatibility::{CompatibilityLevel, incompatibilities};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::allow_caught_panics();
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let schema_type = common::schema_type(selector);
    let (old, new) = common::split_nul(rest);
    let (Ok(old), Ok(new)) = (std::str::from_utf8(old), std::str::from_utf8(new)) else {
        return;
    };
    let (Ok(old), Ok(new)) = (
        ParsedSchema::parse(schema_type, old, &[]),
        ParsedSchema::parse(schema_type, new, &[]),
    ) else {
        return;
    };
    let previous = [(1, old)];
    for level in [
        CompatibilityLevel::Backward,
        CompatibilityLevel::Forward,
        CompatibilityLevel::FullTransitive,
    ] {
        let _ = incompatibilities(level, &new, &previous);
    }
});
