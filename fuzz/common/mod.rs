//! Schemas and helpers shared by the fuzz targets.
#![allow(dead_code)]

use std::sync::LazyLock;

use kgate_formats::avro::AvroCodec;
use kgate_formats::protobuf::ProtobufCodec;
use kgate_formats::schema::{ParsedSchema, SchemaType};

/// Avro schemas the record targets write and read: every type, recursion through a union
/// and an array, unions of named and unnamed types, and items that take no bytes.
pub const AVRO_SCHEMAS: &[&str] = &[
    r#"{"type":"record","name":"Everything","namespace":"kgate.fuzz","fields":[
        {"name":"n","type":"null"},
        {"name":"b","type":"boolean"},
        {"name":"i","type":"int"},
        {"name":"l","type":"long"},
        {"name":"f","type":"float"},
        {"name":"d","type":"double"},
        {"name":"by","type":"bytes"},
        {"name":"s","type":"string"},
        {"name":"e","type":{"type":"enum","name":"Suit","symbols":["SPADES","HEARTS"]}},
        {"name":"fx","type":{"type":"fixed","name":"Four","size":4}},
        {"name":"a","type":{"type":"array","items":"long"}},
        {"name":"m","type":{"type":"map","values":["null","string"]}},
        {"name":"u","type":["null","int","string","Suit",
            {"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}]},
        {"name":"date","type":{"type":"int","logicalType":"date"}},
        {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
        {"name":"uuid","type":{"type":"string","logicalType":"uuid"}},
        {"name":"dur","type":{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}},
        {"name":"opt","type":["null","Inner"],"default":null},
        {"name":"dflt","type":"string","default":"x"}
    ]}"#,
    r#"{"type":"record","name":"Node","fields":[
        {"name":"v","type":"int"},
        {"name":"next","type":["null","Node"]},
        {"name":"kids","type":{"type":"array","items":"Node"}}
    ]}"#,
    r#"{"type":"record","name":"R","fields":[
        {"name":"a","type":["int","R","string",{"type":"array","items":"R"},{"type":"map","values":"R"}]}
    ]}"#,
    r#""string""#,
    r#"{"type":"array","items":"null"}"#,
    r#"{"type":"map","values":{"type":"record","name":"E","fields":[]}}"#,
    r#"["null","double","float","long","boolean","bytes"]"#,
];

/// The Avro codecs of [`AVRO_SCHEMAS`].
pub static AVRO: LazyLock<Vec<AvroCodec>> = LazyLock::new(|| {
    AVRO_SCHEMAS
        .iter()
        .map(
            |text| match ParsedSchema::parse(SchemaType::Avro, text, &[]) {
                Ok(ParsedSchema::Avro(a)) => AvroCodec::new(a.schema, &a.references),
                other => panic!("fuzz schema does not parse: {other:?}"),
            },
        )
        .collect()
});

/// A .proto file with every scalar type, enums, maps, a oneof, recursion and the
/// well-known types whose JSON mapping is special. (Not `FieldMask`: prost-reflect writes
/// paths that are not field names as they are, so they do not read back the same.)
pub const PROTO: &str = r#"
syntax = "proto3";
package kgate.fuzz;
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/wrappers.proto";

message Everything {
  double d = 1; float f = 2; int32 i32 = 3; int64 i64 = 4; uint32 u32 = 5;
  uint64 u64 = 6; sint32 s32 = 7; sint64 s64 = 8; fixed32 fx32 = 9; fixed64 fx64 = 10;
  sfixed32 sf32 = 11; sfixed64 sf64 = 12; bool b = 13; string s = 14; bytes by = 15;
  enum Kind { UNKNOWN = 0; A = 1; B = 2; }
  Kind kind = 16;
  repeated int32 packed = 17;
  repeated string names = 18;
  map<string, Everything> children = 19;
  oneof choice { string text = 20; Everything nested = 21; }
  optional int32 maybe = 22;
  google.protobuf.Timestamp at = 23;
  google.protobuf.Struct doc = 24;
  google.protobuf.Int64Value wrapped = 25;
  google.protobuf.Value any_value = 26;
  map<int64, bytes> blobs = 27;
  google.protobuf.Duration took = 28;
  repeated Kind kinds = 30;
  message Inner { repeated Inner more = 1; string tag = 2; }
  Inner inner = 31;
}
message Node { Node next = 1; repeated Node kids = 2; }
"#;

/// The protobuf codec of [`PROTO`].
pub static PROTOBUF: LazyLock<ProtobufCodec> =
    LazyLock::new(
        || match ParsedSchema::parse(SchemaType::Protobuf, PROTO, &[]) {
            Ok(ParsedSchema::Protobuf(p)) => ProtobufCodec::new(p),
            other => panic!("fuzz schema does not parse: {other:?}"),
        },
    );

/// Lets panics that kgate catches (from libraries that panic on some input; kgate turns
/// each into an error) go on without ending the run: libFuzzer's harness aborts on every
/// panic, caught or not. A panic nobody catches still aborts, when it leaves the target.
/// Each caught panic is printed, so a library that panics on input is still seen.
pub fn allow_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("panic (caught by kgate if it goes no further): {info}");
        }));
    });
}

/// Splits fuzz input at its first NUL byte (two texts in one input).
pub fn split_nul(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The schema type a selector byte names.
pub fn schema_type(selector: u8) -> SchemaType {
    match selector % 3 {
        0 => SchemaType::Avro,
        1 => SchemaType::Protobuf,
        _ => SchemaType::Json,
    }
}
