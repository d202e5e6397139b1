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
