use super::*;

fn parse(t: SchemaType, text: &str) -> ParsedSchema {
    ParsedSchema::parse(t, text, &[]).unwrap()
}

#[test]
fn avro_parses_and_checks_compatibility() {
    let v1 = parse(
        SchemaType::Avro,
        r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}"#,
    );
    let v2 = parse(
        SchemaType::Avro,
        r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},
            {"name":"email","type":"string","default":""}]}"#,
    );
    let v3 = parse(
        SchemaType::Avro,
        r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},
            {"name":"email","type":"string"}]}"#,
    );
    assert!(v2.read_incompatibilities(&v1).is_empty());
    assert!(v1.read_incompatibilities(&v2).is_empty());
    assert!(!v3.read_incompatibilities(&v1).is_empty());
    assert!(ParsedSchema::parse(SchemaType::Avro, r#"{"type":"nope"}"#, &[]).is_err());
}

#[test]
fn avro_references_resolve_names() {
    let refs = [ResolvedReference {
        name: "Address".into(),
        schema: r#"{"type":"record","name":"Address","fields":[{"name":"city","type":"string"}]}"#
            .into(),
    }];
    let text = r#"{"type":"record","name":"User","fields":[{"name":"home","type":"Address"}]}"#;
    assert!(ParsedSchema::parse(SchemaType::Avro, text, &refs).is_ok());
    assert!(ParsedSchema::parse(SchemaType::Avro, text, &[]).is_err());
}

#[test]
fn protobuf_parses_with_imports_and_indexes() {
    let refs = [ResolvedReference {
        name: "other.proto".into(),
        schema: "syntax = \"proto3\"; package o; message Other { string s = 1; }".into(),
    }];
    let text = "syntax = \"proto3\";\nimport \"other.proto\";\nimport \"google/protobuf/timestamp.proto\";\npackage p;\nmessage A { int32 x = 1; }\nmessage B { message C { o.Other o = 1; google.protobuf.Timestamp t = 2; } }";
    let ParsedSchema::Protobuf(s) = ParsedSchema::parse(SchemaType::Protobuf, text, &refs).unwrap()
    else {
        panic!("not protobuf")
    };
    assert_eq!(s.message_indexes("p.B.C"), Some(vec![1, 0]));
    assert_eq!(s.message_at(&[1, 0]).unwrap().full_name(), "p.B.C");
    assert_eq!(s.message_at(&[]).unwrap().full_name(), "p.A");
    assert!(ParsedSchema::parse(SchemaType::Protobuf, "message {", &[]).is_err());
}

#[test]
fn protobuf_compatibility_by_field_number() {
    let v1 = parse(
        SchemaType::Protobuf,
        "syntax = \"proto3\"; message M { int32 a = 1; }",
    );
    let v2 = parse(
        SchemaType::Protobuf,
        "syntax = \"proto3\"; message M { int64 a = 1; string b = 2; }",
    );
    let v3 = parse(
        SchemaType::Protobuf,
        "syntax = \"proto3\"; message M { string a = 1; }",
    );
    assert!(v2.read_incompatibilities(&v1).is_empty());
    assert!(!v3.read_incompatibilities(&v1).is_empty());
}

#[test]
fn json_schema_validates_and_checks_compatibility() {
    let v1 = parse(
        SchemaType::Json,
        r#"{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}"#,
    );
    let v2 = parse(
        SchemaType::Json,
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":false}"#,
    );
    let v3 = parse(
        SchemaType::Json,
        r#"{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":false}"#,
    );
    assert!(v2.read_incompatibilities(&v1).is_empty());
    assert!(!v1.read_incompatibilities(&v2).is_empty());
    assert!(!v3.read_incompatibilities(&v1).is_empty());
    let ParsedSchema::Json(s) = &v1 else { panic!() };
    assert!(s.validate(&serde_json::json!({"a": "x"})).is_ok());
    assert!(s.validate(&serde_json::json!({"a": 1})).is_err());
    assert!(ParsedSchema::parse(SchemaType::Json, r#"{"type": 12}"#, &[]).is_err());
}

#[test]
fn json_schema_references_resolve() {
    let refs = [ResolvedReference {
        name: "address.json".into(),
        schema: r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#
            .into(),
    }];
    let text = r#"{"type":"object","properties":{"home":{"$ref":"address.json"}}}"#;
    let ParsedSchema::Json(s) = ParsedSchema::parse(SchemaType::Json, text, &refs).unwrap() else {
        panic!()
    };
    assert!(
        s.validate(&serde_json::json!({"home": {"city": "x"}}))
            .is_ok()
    );
    assert!(s.validate(&serde_json::json!({"home": {}})).is_err());
}

/// The descriptor without what does not survive printing: the file name, source
/// positions and the JSON names the compiler fills in.
fn comparable(
    file: &prost_reflect::prost_types::FileDescriptorProto,
) -> prost_reflect::prost_types::FileDescriptorProto {
    fn clear(messages: &mut [prost_reflect::prost_types::DescriptorProto]) {
        for m in messages {
            for f in &mut m.field {
                f.json_name = None;
            }
            clear(&mut m.nested_type);
        }
    }
    let mut file = file.clone();
    file.name = None;
    file.source_code_info = None;
    clear(&mut file.message_type);
    file
}

/// A schema given as base64 `FileDescriptorProto` prints to `.proto` source that compiles
/// to the same descriptor.
fn assert_descriptor_round_trip(text: &str, references: &[ResolvedReference]) {
    let ParsedSchema::Protobuf(original) =
        ParsedSchema::parse(SchemaType::Protobuf, text, references).unwrap()
    else {
        panic!("not protobuf")
    };
    let serialized = original.serialized();
    let ParsedSchema::Protobuf(read) =
        ParsedSchema::parse(SchemaType::Protobuf, &serialized, references)
            .unwrap_or_else(|e| panic!("{e}"))
    else {
        panic!("not protobuf")
    };
    assert_eq!(
        comparable(read.file.file_descriptor_proto()),
        comparable(original.file.file_descriptor_proto()),
        "printed as:\n{}",
        read.canonical()
    );
    // Printing is stable: the printed source prints to itself.
    let again = ParsedSchema::parse(SchemaType::Protobuf, &read.serialized(), references)
        .unwrap()
        .canonical();
    assert_eq!(again, read.canonical());
}

#[test]
fn protobuf_descriptors_print_back_to_the_same_schema() {
    let refs = [ResolvedReference {
        name: "other.proto".into(),
        schema: "syntax = \"proto3\"; package o; message Other { string s = 1; }".into(),
    }];
    let proto3 = r#"syntax = "proto3";
package shop.v1;
import "other.proto";
import "google/protobuf/timestamp.proto";
option java_package = "com.example.shop";
option go_package = "example.com/shop;shop";
option java_multiple_files = true;

// An order.
message Order {
  string id = 1;
  repeated string tags = 2;
  map<string, int64> counts = 3;
  optional int32 priority = 4;
  oneof payment {
    string card = 5;
    Cash cash = 6;
  }
  google.protobuf.Timestamp at = 7;
  o.Other other = 8;
  Status status = 9;
  repeated int32 codes = 10 [packed = false];
  string old_name = 11 [deprecated = true, json_name = "legacy"];
  reserved 12, 15 to 20, 100 to max;
  reserved "gone", "removed";
  message Cash { double amount = 1; }
  enum Status {
    option allow_alias = true;
    UNKNOWN = 0;
    OPEN = 1;
    STARTED = 1;
    reserved 5 to 7;
  }
}
enum Top { TOP_ZERO = 0; }
service Orders {
  rpc Get (Order) returns (Order);
  rpc Watch (stream Order) returns (stream Order);
}
"#;
    assert_descriptor_round_trip(proto3, &refs);
    let proto2 = r#"syntax = "proto2";
package legacy;
message Item {
  required string name = 1 [default = "say \"hi\"\n"];
  optional Kind kind = 2 [default = B];
  optional bytes raw = 3 [default = "\001\377"];
  optional double ratio = 4 [default = -0.5];
  repeated sint64 deltas = 5 [packed = true];
  extensions 100 to 199;
  enum Kind { A = 1; B = 2; }
}
"#;
    assert_descriptor_round_trip(proto2, &[]);
}

#[test]
fn protobuf_descriptors_that_cannot_print_are_refused() {
    // Not base64 of a descriptor: the .proto parser's error.
    let err = ParsedSchema::parse(SchemaType::Protobuf, "bm90IGEgZGVzY3JpcHRvcg==", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("Invalid PROTOBUF schema"), "{err}");
    // A descriptor with an `extend` block is refused by name, not half printed.
    let ParsedSchema::Protobuf(with_extend) = parse(
        SchemaType::Protobuf,
        "syntax = \"proto2\"; message M { extensions 10 to 20; } extend M { optional int32 x = 10; }",
    ) else {
        panic!("not protobuf")
    };
    let err = ParsedSchema::parse(SchemaType::Protobuf, &with_extend.serialized(), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("extend"), "{err}");
}

#[test]
fn protobuf_required_and_oneof_fields_follow_confluents_rules() {
    let proto2 = |body: &str| {
        parse(
            SchemaType::Protobuf,
            &format!("syntax = \"proto2\"; {body}"),
        )
    };
    let v1 = proto2("message M { required int32 a = 1; optional int32 b = 2; }");
    let b_removed = proto2("message M { required int32 a = 1; }");
    let a_removed = proto2("message M { optional int32 b = 2; }");
    let c_required =
        proto2("message M { required int32 a = 1; optional int32 b = 2; required int32 c = 3; }");
    // (reader, writer): an optional field may go, a required one may not come or go.
    assert!(b_removed.read_incompatibilities(&v1).is_empty());
    let removed = a_removed.read_incompatibilities(&v1);
    assert!(
        removed
            .iter()
            .any(|m| m.starts_with("REQUIRED_FIELD_REMOVED")),
        "{removed:?}"
    );
    let added = c_required.read_incompatibilities(&v1);
    assert!(
        added.iter().any(|m| m.starts_with("REQUIRED_FIELD_ADDED")),
        "{added:?}"
    );

    let proto3 = |body: &str| {
        parse(
            SchemaType::Protobuf,
            &format!("syntax = \"proto3\"; {body}"),
        )
    };
    let with_oneof =
        proto3("message M { oneof o { string s = 1; int32 i = 2; } optional int32 p = 3; }");
    let oneof_shrunk = proto3("message M { oneof o { string s = 1; } optional int32 p = 3; }");
    let optional_gone = proto3("message M { oneof o { string s = 1; int32 i = 2; } }");
    let oneof_grown = proto3(
        "message M { oneof o { string s = 1; int32 i = 2; bool b = 4; } optional int32 p = 3; }",
    );
    let shrunk = oneof_shrunk.read_incompatibilities(&with_oneof);
    assert!(
        shrunk.iter().any(|m| m.starts_with("ONEOF_FIELD_REMOVED")),
        "{shrunk:?}"
    );
    // A proto3 `optional` field's made-up oneof is not a oneof for these rules.
    assert!(optional_gone.read_incompatibilities(&with_oneof).is_empty());
    assert!(oneof_grown.read_incompatibilities(&with_oneof).is_empty());
}

#[test]
fn protobuf_printed_form_ignores_layout_comments_and_qualification() {
    let printed = |text: &str| {
        let ParsedSchema::Protobuf(p) = parse(SchemaType::Protobuf, text) else {
            panic!("not protobuf")
        };
        p.printed().expect("printable")
    };
    let a = printed(
        "syntax = \"proto3\"; package p; message A { B b = 1; } message B { int32 x = 1; }",
    );
    let b = printed(
        "// comment\nsyntax='proto3';\npackage p;\n\nmessage A {\n  .p.B b = 1; /* why */\n}\nmessage B {\n  int32 x = 1;\n}\n",
    );
    assert_eq!(a, b);
    let c = printed(
        "syntax = \"proto3\"; package p; message A { B b = 2; } message B { int32 x = 1; }",
    );
    assert_ne!(a, c);
}

#[test]
fn json_schema_bounds_patterns_steps_and_additional_properties() {
    let json = |v: serde_json::Value| parse(SchemaType::Json, &v.to_string());
    let incompatible = |reader: serde_json::Value, writer: serde_json::Value| {
        json(reader).read_incompatibilities(&json(writer))
    };
    let has = |found: Vec<String>, name: &str| {
        assert!(
            found.iter().any(|m| m.starts_with(name)),
            "{name} in {found:?}"
        );
    };
    let n = |extra: serde_json::Value| {
        let mut v = serde_json::json!({"type": "number"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    has(
        incompatible(
            n(serde_json::json!({"exclusiveMaximum": 5})),
            n(serde_json::json!({})),
        ),
        "EXCLUSIVEMAXIMUM_NARROWED",
    );
    assert!(
        incompatible(
            n(serde_json::json!({"exclusiveMaximum": 9})),
            n(serde_json::json!({"exclusiveMaximum": 5}))
        )
        .is_empty()
    );
    has(
        incompatible(
            n(serde_json::json!({"multipleOf": 4})),
            n(serde_json::json!({"multipleOf": 6})),
        ),
        "MULTIPLE_OF_CHANGED",
    );
    assert!(
        incompatible(
            n(serde_json::json!({"multipleOf": 3})),
            n(serde_json::json!({"multipleOf": 6}))
        )
        .is_empty()
    );
    let s = |pattern: Option<&str>| match pattern {
        Some(p) => serde_json::json!({"type": "string", "pattern": p}),
        None => serde_json::json!({"type": "string"}),
    };
    has(incompatible(s(Some("^a")), s(None)), "PATTERN_ADDED");
    has(
        incompatible(s(Some("^a")), s(Some("^b"))),
        "PATTERN_CHANGED",
    );
    assert!(incompatible(s(None), s(Some("^a"))).is_empty());
    let o = |extra: serde_json::Value| serde_json::json!({"type": "object", "additionalProperties": extra, "maxProperties": 3});
    has(
        incompatible(
            o(serde_json::json!({"type": "string"})),
            o(serde_json::json!(true)),
        ),
        "ADDITIONAL_PROPERTIES_NARROWED",
    );
    has(
        incompatible(
            o(serde_json::json!({"type": "string"})),
            o(serde_json::json!({"type": "integer"})),
        ),
        "TYPE_CHANGED",
    );
    assert!(
        incompatible(
            o(serde_json::json!({"type": "number"})),
            o(serde_json::json!({"type": "integer"}))
        )
        .is_empty()
    );
    let props = |max: u64| serde_json::json!({"type": "object", "maxProperties": max});
    has(incompatible(props(2), props(3)), "MAXPROPERTIES_NARROWED");
}

#[test]
fn json_schema_alternatives_must_stay_readable() {
    let json = |v: serde_json::Value| parse(SchemaType::Json, &v.to_string());
    let s = serde_json::json!({"type": "string"});
    let i = serde_json::json!({"type": "integer"});
    let b = serde_json::json!({"type": "boolean"});
    let one_of = |alts: Vec<serde_json::Value>| json(serde_json::json!({"oneOf": alts}));
    let si = one_of(vec![s.clone(), i.clone()]);
    let sib = one_of(vec![s.clone(), i.clone(), b.clone()]);
    let sb = one_of(vec![s.clone(), b.clone()]);
    // Adding an alternative keeps old data readable; dropping one does not.
    assert!(sib.read_incompatibilities(&si).is_empty());
    let dropped = sb.read_incompatibilities(&si);
    assert!(
        dropped
            .iter()
            .any(|m| m.starts_with("COMBINED_TYPE_SUBSCHEMAS_CHANGED")),
        "{dropped:?}"
    );
    // A plain schema becoming one of several alternatives is fine, the reverse is not.
    assert!(si.read_incompatibilities(&json(s.clone())).is_empty());
    assert!(!json(s).read_incompatibilities(&si).is_empty());
}
