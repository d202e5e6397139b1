//! Untrusted records and schemas: each test is a class of input that once crashed, hung
//! or exhausted kgate (issue 13), and must now answer an error.

mod common;

use std::sync::Arc;

use common::MemoryRegistry;
use kgate_formats::avro::AvroCodec;
use kgate_formats::limits::{MAX_PROTOBUF_NESTING, MAX_SCHEMA_BYTES, MAX_VALUE_DEPTH};
use kgate_formats::protobuf::ProtobufCodec;
use kgate_formats::registry::SchemaText;
use kgate_formats::schema::{ParsedSchema, ResolvedReference, SchemaError, SchemaType};
use kgate_formats::serializer::SchemaFormats;
use kgate_formats::{EmbeddedFormat, FormatError, json_to_bytes, wire};
use serde_json::{Map, Value, json};

const NODE_AVRO: &str =
    r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#;

/// A `{"next": {"Node": {"next": ...}}}` chain `levels` records deep, built without
/// recursion.
fn avro_chain(levels: usize) -> Value {
    // Not with `json!`, which would copy `value` by walking it recursively.
    let object = |key: &str, value: Value| {
        let mut o = Map::new();
        o.insert(key.into(), value);
        Value::Object(o)
    };
    let mut value = object("next", Value::Null);
    for _ in 1..levels {
        value = object("next", object("Node", value));
    }
    value
}

/// `{"next": {"next": ...}}`, `levels` objects deep.
fn plain_chain(levels: usize) -> Value {
    let mut value = json!({});
    for _ in 1..levels {
        let mut o = Map::new();
        o.insert("next".into(), value);
        value = Value::Object(o);
    }
    value
}

/// Takes a deep value apart level by level: dropping it whole would recurse once per
/// level.
fn dismantle(mut value: Value) {
    let mut pending = Vec::new();
    loop {
        match &mut value {
            Value::Object(o) => pending.extend(std::mem::take(o).into_iter().map(|(_, v)| v)),
            Value::Array(a) => pending.append(a),
            _ => {}
        }
        match pending.pop() {
            Some(next) => value = next,
            None => return,
        }
    }
}

fn avro_codec(schema: &str) -> AvroCodec {
    let ParsedSchema::Avro(a) = ParsedSchema::parse(SchemaType::Avro, schema, &[]).unwrap() else {
        panic!("not avro")
    };
    AvroCodec::new(a.schema, &a.references)
}

fn proto_codec(source: &str) -> ProtobufCodec {
    let ParsedSchema::Protobuf(p) = ParsedSchema::parse(SchemaType::Protobuf, source, &[]).unwrap()
    else {
        panic!("not protobuf")
    };
    ProtobufCodec::new(p)
}

fn invalid(result: Result<ParsedSchema, SchemaError>) -> String {
    match result {
        Ok(_) => panic!("the schema was accepted"),
        Err(SchemaError::Invalid { message, .. }) => message,
    }
}

/// Runs `f` on a thread with a 1 MiB stack (half a tokio worker's): work at every limit
/// must fit there in a debug build, or a limit is too generous.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// The record of issue 13: a self-referential Avro record nested 5,000 levels, produced
/// as binary with the Confluent header, crashed kgate when a consumer read it.
#[tokio::test]
async fn a_deeply_nested_avro_record_is_an_error_for_its_reader() {
    let formats = SchemaFormats::new(Arc::new(MemoryRegistry::default()));
    let id = formats
        .registry()
        .register(
            "nodes-value",
            &SchemaText {
                schema: NODE_AVRO.into(),
                schema_type: SchemaType::Avro,
                references: vec![],
            },
        )
        .await
        .unwrap();
    // Each level is union branch 1 (zig-zag 2), the last one the null branch.
    let mut body = vec![2u8; 5_000];
    body.push(0);
    let record = wire::frame(id, &body);
    let err = formats
        .deserialize(EmbeddedFormat::Avro, Some(&record))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FormatError::Undecodable(m) if m.contains("nests more than")),
        "{err:?}"
    );

    // A chain within the limit (two JSON levels per record) still reads back.
    let levels = MAX_VALUE_DEPTH / 2;
    let mut body = vec![2u8; levels - 1];
    body.push(0);
    let value = formats
        .deserialize(EmbeddedFormat::Avro, Some(&wire::frame(id, &body)))
        .await
        .unwrap();
    assert_eq!(value, avro_chain(levels));
}

#[test]
fn deep_values_are_refused_by_every_encoder() {
    let deep_avro = avro_chain(5_000);
    let err = avro_codec(NODE_AVRO).encode(&deep_avro).unwrap_err();
    assert!(err.to_string().contains("nests more than"), "{err}");
    dismantle(deep_avro);

    let deep = plain_chain(5_000);
    let err = json_to_bytes(EmbeddedFormat::Json, &deep).unwrap_err();
    assert!(err.to_string().contains("nests more than"), "{err}");

    let proto = proto_codec("syntax = \"proto3\"; message Node { Node next = 1; }");
    let node = proto.default_message().unwrap();
    let err = proto.encode(&node, &deep).unwrap_err();
    assert!(err.to_string().contains("nests more than"), "{err}");

    let ParsedSchema::Json(schema) = ParsedSchema::parse(
        SchemaType::Json,
        r##"{"type":"object","properties":{"next":{"$ref":"#"}}}"##,
        &[],
    )
    .unwrap() else {
        panic!("not json")
    };
    let err = kgate_formats::json_schema::encode(&schema.validator, &deep).unwrap_err();
    assert!(err.to_string().contains("nests more than"), "{err}");
    assert!(schema.validate(&deep).is_err());
    dismantle(deep);

    // At the limit, every encoder still works.
    let fits = plain_chain(MAX_VALUE_DEPTH);
    assert!(json_to_bytes(EmbeddedFormat::Json, &fits).is_ok());
    assert!(
        proto
            .encode(&node, &plain_chain(MAX_VALUE_DEPTH / 2))
            .is_ok()
    );
    assert!(kgate_formats::json_schema::encode(&schema.validator, &fits).is_ok());
    let avro = avro_codec(NODE_AVRO);
    let value = avro_chain(MAX_VALUE_DEPTH / 2);
    assert_eq!(avro.decode(&avro.encode(&value).unwrap()).unwrap(), value);
}

#[test]
fn a_deeply_nested_protobuf_record_is_an_error() {
    let proto = proto_codec("syntax = \"proto3\"; message Node { Node next = 1; }");
    // Built from the innermost message out: field 1, length-delimited.
    let mut body: Vec<u8> = Vec::new();
    for _ in 0..5_000 {
        let mut outer = vec![0x0a];
        let mut len = body.len();
        while len >= 0x80 {
            outer.push((len as u8) | 0x80);
            len >>= 7;
        }
        outer.push(len as u8);
        outer.extend_from_slice(&body);
        body = outer;
    }
    assert!(matches!(
        proto.decode(&[0], &body),
        Err(FormatError::Undecodable(_))
    ));
}

/// Issue 13: ~800 nested message declarations overflowed the stack of the parser.
#[test]
fn deeply_nested_protobuf_schemas_are_refused() {
    let nested = |levels: usize| {
        let mut text = String::from("syntax = \"proto3\";\n");
        for i in 0..levels {
            text.push_str(&format!("message M{i} {{ "));
        }
        text.push_str("string s = 1; ");
        text.push_str(&"} ".repeat(levels));
        text
    };
    let message = invalid(ParsedSchema::parse(SchemaType::Protobuf, &nested(800), &[]));
    assert!(message.contains("nested more than"), "{message}");
    // Unbalanced text counts as deep as it opens.
    let open = format!("syntax = \"proto3\"; {}", "message M { ".repeat(800));
    assert!(ParsedSchema::parse(SchemaType::Protobuf, &open, &[]).is_err());
    // Brackets in strings and comments do not count.
    let quoted = format!(
        "syntax = \"proto3\"; // {}\n/* {} */ message M {{ string s = 1 [json_name = \"{}\"]; }}",
        "{".repeat(100),
        "[".repeat(100),
        "(".repeat(100)
    );
    assert!(ParsedSchema::parse(SchemaType::Protobuf, &quoted, &[]).is_ok());
    // As a reference too.
    let refs = [ResolvedReference {
        name: "deep.proto".into(),
        schema: nested(800),
    }];
    let text = "syntax = \"proto3\"; import \"deep.proto\"; message A { int32 a = 1; }";
    assert!(ParsedSchema::parse(SchemaType::Protobuf, text, &refs).is_err());
    // At the limit, the schema parses, on a small stack.
    let at_limit = nested(MAX_PROTOBUF_NESTING);
    on_small_stack(move || {
        ParsedSchema::parse(SchemaType::Protobuf, &at_limit, &[]).unwrap();
    });
}

#[test]
fn schemas_larger_than_the_limit_are_refused() {
    let padding = " ".repeat(MAX_SCHEMA_BYTES);
    for (t, text) in [
        (SchemaType::Avro, format!("{padding}\"string\"")),
        (SchemaType::Json, format!("{padding}{{}}")),
        (
            SchemaType::Protobuf,
            format!("{padding}syntax = \"proto3\"; message M {{}}"),
        ),
    ] {
        let message = invalid(ParsedSchema::parse(t, &text, &[]));
        assert!(message.contains("bytes long"), "{message}");
    }
}

/// Issue 13: `"name": "1bad"` panicked inside the Avro library.
#[test]
fn avro_schemas_with_invalid_names_are_errors_not_panics() {
    for schema in [
        r#"{"type":"record","name":"1bad","fields":[]}"#,
        r#"{"type":"record","name":"ok","aliases":["1x"],"fields":[]}"#,
        r#"{"type":"record","name":"ok","namespace":"a..b","fields":[]}"#,
        r#"{"type":"enum","name":"e-1","symbols":["A"]}"#,
        r#"{"type":"fixed","name":"","size":4}"#,
        r#"{"type":"record","name":"ok","fields":[{"name":"a","type":{"type":"1bad"}}]}"#,
        r#"{"type":"record","name":"ok","fields":[{"name":"a b","type":"int"}]}"#,
        r#"["null","1bad"]"#,
        r#"{"type":"array","items":{"type":"record","name":"9","fields":[]}}"#,
    ] {
        let message = invalid(ParsedSchema::parse(SchemaType::Avro, schema, &[]));
        assert!(!message.is_empty(), "{schema}");
    }
    // Names in defaults are data, not names.
    let ok = r#"{"type":"record","name":"a.b.Ok","fields":[{"name":"s","type":"string","default":"1bad"}]}"#;
    assert!(ParsedSchema::parse(SchemaType::Avro, ok, &[]).is_ok());
    // A reference with a bad name is refused the same way.
    let refs = [ResolvedReference {
        name: "Bad".into(),
        schema: r#"{"type":"record","name":"1Bad","fields":[]}"#.into(),
    }];
    assert!(ParsedSchema::parse(SchemaType::Avro, r#""string""#, &refs).is_err());
}

/// Issue 17: a `$schema` the validator does not know panicked on register and produce.
/// Confluent's registry reads such a schema as draft 7; so does kgate.
#[test]
fn json_schemas_with_an_unknown_meta_schema_are_read_as_draft_7() {
    let text = r#"{"$schema":"https://json.schema.org/draft/2020-12/schema","type":"object",
        "properties":{"pair":{"type":"array","items":[{"type":"string"},{"type":"integer"}]}}}"#;
    let ParsedSchema::Json(schema) = ParsedSchema::parse(SchemaType::Json, text, &[]).unwrap()
    else {
        panic!("not json")
    };
    // Draft 7's array form of `items` checks each position.
    assert!(schema.validate(&json!({"pair": ["a", 1]})).is_ok());
    assert!(schema.validate(&json!({"pair": [1, "a"]})).is_err());
    assert!(schema.validate(&json!("not an object")).is_err());
    // So is a reference with an unknown `$schema`.
    let refs = [ResolvedReference {
        name: "other.json".into(),
        schema: r#"{"$schema":"urn:nothing","type":"string"}"#.into(),
    }];
    let ParsedSchema::Json(schema) =
        ParsedSchema::parse(SchemaType::Json, r#"{"$ref":"other.json"}"#, &refs).unwrap()
    else {
        panic!("not json")
    };
    assert!(schema.validate(&json!("s")).is_ok());
    assert!(schema.validate(&json!(1)).is_err());
    // A known draft is still that draft: 2020-12 refuses the array form of `items`.
    let modern =
        r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","items":[{"type":"string"}]}"#;
    assert!(ParsedSchema::parse(SchemaType::Json, modern, &[]).is_err());
}

/// A `$ref` cycle that never descends into the document made validation run forever.
#[test]
fn json_schema_reference_cycles_are_refused() {
    for text in [
        r##"{"$ref":"#"}"##,
        r##"{"allOf":[{"$ref":"#"}]}"##,
        r##"{"definitions":{"a":{"$ref":"#/definitions/b"},"b":{"$ref":"#/definitions/a"}},"$ref":"#/definitions/a"}"##,
        r##"{"properties":{"p":{"$ref":"#/definitions/a"}},"definitions":{"a":{"not":{"$ref":"#/definitions/a"}}}}"##,
    ] {
        let message = invalid(ParsedSchema::parse(SchemaType::Json, text, &[]));
        assert!(message.contains("never end"), "{text}: {message}");
    }
    // Through references too.
    let refs = [ResolvedReference {
        name: "a.json".into(),
        schema: r#"{"anyOf":[{"type":"string"},{"$ref":"main.json"}]}"#.into(),
    }];
    let text = r#"{"$id":"main.json","$ref":"a.json"}"#;
    assert!(ParsedSchema::parse(SchemaType::Json, text, &refs).is_err());

    // Recursion through the document is what recursive schemas are for, and validates
    // documents at the depth limit on a small stack.
    let tree = r##"{"type":"object","properties":{"value":{"type":"integer"},
        "children":{"type":"array","items":{"$ref":"#"}}}}"##;
    let ParsedSchema::Json(schema) = ParsedSchema::parse(SchemaType::Json, tree, &[]).unwrap()
    else {
        panic!("not json")
    };
    let mut doc = json!({"value": 1});
    for _ in 0..(MAX_VALUE_DEPTH / 2 - 1) {
        doc = json!({"value": 1, "children": [doc]});
    }
    let result = on_small_stack(move || schema.validate(&doc));
    assert_eq!(result, Ok(()));
}

/// Alternatives nested in alternatives made a JSON Schema compatibility check
/// exponential; long lists of alternatives made it quadratic.
#[test]
fn json_schema_compatibility_is_bounded() {
    // Six alternatives at each of five levels, all under one property name, so that
    // every pair of alternatives is compared: 36^5 comparisons unbounded.
    let mut reader = json!({"type": "string"});
    let mut writer = json!({"type": "integer"});
    for _ in 0..5 {
        let alternatives = |inner: &Value| {
            (0..6)
                .map(|i| json!({"description": format!("alternative {i}"), "properties": {"p": inner.clone()}}))
                .collect::<Vec<_>>()
        };
        reader = json!({"oneOf": alternatives(&reader)});
        writer = json!({"oneOf": alternatives(&writer)});
    }
    let parse = |v: &Value| ParsedSchema::parse(SchemaType::Json, &v.to_string(), &[]).unwrap();
    let (r, w) = (parse(&reader), parse(&writer));
    let found = r.read_incompatibilities(&w);
    assert!(
        found.iter().any(|m| m.starts_with("TOO_COMPLEX")),
        "{found:?}"
    );

    // 2,000 alternatives, one changed: the unchanged ones are matched as such (compared
    // each with each, they would need 4,000,000 comparisons).
    let many = |last: &str| {
        let mut alternatives: Vec<Value> = (0..2_000)
            .map(|i| json!({"type": "object", "properties": {format!("f{i}"): {"type": "string"}}, "required": [format!("f{i}")]}))
            .collect();
        alternatives.push(json!({"type": last}));
        parse(&json!({"oneOf": alternatives}))
    };
    let (old, new) = (many("integer"), many("number"));
    assert!(new.read_incompatibilities(&old).is_empty());
    assert!(!old.read_incompatibilities(&new).is_empty());
}

/// Avro unions tried a bare value against each branch and then wrote the chosen one
/// again, at every level of nesting: 2^depth work.
#[test]
fn avro_bare_values_in_nested_unions_are_written_once() {
    let codec = avro_codec(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":["int","R","string"]}]}"#,
    );
    let (mut bare, mut wrapped) = (json!({"a": 1}), json!({"a": {"int": 1}}));
    for _ in 0..40 {
        bare = json!({"a": bare});
        wrapped = json!({"a": {"R": wrapped}});
    }
    let bytes = codec.encode(&bare).unwrap();
    assert_eq!(bytes, codec.encode(&wrapped).unwrap());
    assert_eq!(codec.decode(&bytes).unwrap(), wrapped);
}

/// An array of `null`s takes no bytes per item: block counts alone made a few kilobytes
/// decode into millions of values.
#[test]
fn avro_arrays_of_empty_items_are_bounded() {
    let codec = avro_codec(r#"{"type":"array","items":"null"}"#);
    // 2,000 blocks, each count written in three bytes (overlong varints are valid) and
    // as large as the bytes left allow: about six million nulls from 6 KB.
    let blocks = 2_000u64;
    let total = 3 * blocks + 1;
    let mut record = Vec::new();
    for k in 0..blocks {
        let count = total - 3 * (k + 1) + 1;
        let zigzag = count << 1;
        record.extend_from_slice(&[
            0x80 | (zigzag & 0x7f) as u8,
            0x80 | ((zigzag >> 7) & 0x7f) as u8,
            (zigzag >> 14) as u8,
        ]);
    }
    record.push(0);
    let err = codec.decode(&record).unwrap_err();
    assert!(err.to_string().contains("steps"), "{err}");
    // A real array of nulls still decodes.
    assert_eq!(codec.decode(&[6, 0]).unwrap(), json!([null, null, null]));
}

#[test]
fn avro_and_json_schemas_at_the_depth_limit_parse_on_a_small_stack() {
    use kgate_formats::limits::MAX_SCHEMA_DEPTH;
    // Records nested in records: four JSON levels each.
    let levels = MAX_SCHEMA_DEPTH / 4 - 1;
    let mut avro = String::from("\"int\"");
    for i in 0..levels {
        avro =
            format!(r#"{{"type":"record","name":"R{i}","fields":[{{"name":"f","type":{avro}}}]}}"#);
    }
    let mut json_schema = String::from(r#"{"type":"string"}"#);
    for _ in 0..(MAX_SCHEMA_DEPTH / 2 - 1) {
        json_schema = format!(r#"{{"type":"object","properties":{{"p":{json_schema}}}}}"#);
    }
    on_small_stack(move || {
        ParsedSchema::parse(SchemaType::Avro, &avro, &[]).unwrap();
        ParsedSchema::parse(SchemaType::Json, &json_schema, &[]).unwrap();
    });
    let too_deep = format!(
        "{}1{}",
        "[".repeat(MAX_SCHEMA_DEPTH + 1),
        "]".repeat(MAX_SCHEMA_DEPTH + 1)
    );
    for t in [SchemaType::Avro, SchemaType::Json] {
        let message = invalid(ParsedSchema::parse(t, &too_deep, &[]));
        assert!(message.contains("nested more than"), "{message}");
    }
}

#[test]
fn recursive_avro_schemas_check_compatibility() {
    let parse = |s: &str| ParsedSchema::parse(SchemaType::Avro, s, &[]).unwrap();
    let a = parse(
        r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]},{"name":"v","type":"int"}]}"#,
    );
    let b = parse(
        r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]},{"name":"v","type":"long"}]}"#,
    );
    assert!(b.read_incompatibilities(&a).is_empty());
    assert!(!a.read_incompatibilities(&b).is_empty());
}

/// `allOf`s nested through references made one small record take minutes to check (2^20
/// evaluations for a schema of 1.5 KB) and gigabytes for the subschemas the validator
/// compiled on the way.
#[test]
fn json_schema_validation_work_is_bounded() {
    // Shared references at every level: refused when the schema is parsed.
    let mut definitions = Map::new();
    for i in 0..20 {
        let next = json!({"$ref": format!("#/definitions/d{}", i + 1)});
        definitions.insert(format!("d{i}"), json!({"allOf": [next.clone(), next]}));
    }
    definitions.insert("d20".into(), json!({"type": "string"}));
    let text = json!({"definitions": definitions, "$ref": "#/definitions/d0"}).to_string();
    let message = invalid(ParsedSchema::parse(SchemaType::Json, &text, &[]));
    assert!(message.contains("unfold"), "{message}");

    // Recursion that applies twice to the same part of the document: each level doubles
    // the work, which the step budget stops (or, first, the memory budget of what the
    // recursion makes the validator compile: see tests/json_schema_memory.rs).
    let text =
        r##"{"allOf":[{"properties":{"a":{"$ref":"#"}}},{"properties":{"a":{"$ref":"#"}}}]}"##;
    let ParsedSchema::Json(schema) = ParsedSchema::parse(SchemaType::Json, text, &[]).unwrap()
    else {
        panic!("not json")
    };
    let nested = |levels: usize| {
        let mut doc = json!({});
        for _ in 0..levels {
            doc = json!({"a": doc});
        }
        doc
    };
    assert_eq!(schema.validate(&nested(3)), Ok(()));
    let bounded = |e: &str| e.contains("steps") || e.contains("unfold into more than");
    let err = schema.validate(&nested(40)).unwrap_err();
    assert!(bounded(&err), "{err}");
    let err = kgate_formats::json_schema::encode(&schema.validator, &nested(40)).unwrap_err();
    assert!(bounded(&err.to_string()), "{err}");
}

/// Found by fuzzing (schema_avro): apache-avro's compatibility check refused `decimal`
/// and `duration` fields even against the same schema, so no new version of a schema
/// with one could be registered under a compatibility level.
#[test]
fn avro_logical_types_are_compatible_with_themselves() {
    let parse = |s: &str| ParsedSchema::parse(SchemaType::Avro, s, &[]).unwrap();
    for field in [
        r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}"#,
        r#"{"type":"fixed","name":"F","size":8,"logicalType":"decimal","precision":9,"scale":2}"#,
        r#"{"type":"fixed","name":"D","size":12,"logicalType":"duration"}"#,
        r#"{"type":"bytes","logicalType":"big-decimal"}"#,
        r#"{"type":"string","logicalType":"uuid"}"#,
    ] {
        let v1 = parse(&format!(
            r#"{{"type":"record","name":"R","fields":[{{"name":"f","type":{field}}}]}}"#
        ));
        let v2 = parse(&format!(
            r#"{{"type":"record","name":"R","fields":[{{"name":"f","type":{field}}},{{"name":"g","type":"int","default":0}}]}}"#
        ));
        assert_eq!(
            v1.read_incompatibilities(&v1),
            Vec::<String>::new(),
            "{field}"
        );
        assert_eq!(
            v2.read_incompatibilities(&v1),
            Vec::<String>::new(),
            "{field}"
        );
        assert_eq!(
            v1.read_incompatibilities(&v2),
            Vec::<String>::new(),
            "{field}"
        );
    }
    // What the types under them decide still counts: bytes cannot be read as a fixed.
    let bytes = parse(r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}"#);
    let fixed = parse(
        r#"{"type":"fixed","name":"F","size":8,"logicalType":"decimal","precision":9,"scale":2}"#,
    );
    assert!(!fixed.read_incompatibilities(&bytes).is_empty());
}

/// Found by fuzzing (embedded_formats): a JSON record's number read and written back
/// came out one unit off in the last place, so the record changed on its way through.
#[test]
fn json_numbers_round_trip_exactly() {
    for text in [
        &b"33333333373336666664\n"[..],
        b"3.3333333373336666e19",
        b"[0.1, 2.2250738585072014e-308, 1.7976931348623157e308, 5e-324]",
    ] {
        let shown = kgate_formats::bytes_to_json(EmbeddedFormat::Json, Some(text)).unwrap();
        let written = json_to_bytes(EmbeddedFormat::Json, &shown).unwrap();
        let again = kgate_formats::bytes_to_json(EmbeddedFormat::Json, written.as_deref()).unwrap();
        assert_eq!(again, shown, "{}", String::from_utf8_lossy(text));
    }
}

/// Found by fuzzing (compatibility): the protobuf parser asserts on some integer literals
/// (a panic in builds with debug assertions); kgate answers the schema is invalid.
#[test]
fn protobuf_parser_panics_are_errors() {
    let text = "synt999999999999990;00000000000000000000000000000000000000000000184<6744073709551614ax`= \"proto3\"; message A { in#t64 a = 1; string s = 2; message B { bool b = 1; } }";
    assert!(ParsedSchema::parse(SchemaType::Protobuf, text, &[]).is_err());
}

/// Found by fuzzing (schema_json): a `$ref` to "/" (the schema's own base URI) inside an
/// `allOf` looped without end, growing memory until the process was killed.
#[test]
fn json_schema_references_to_its_own_base_are_cycles() {
    let text = r#"{"anyOf":[{"type":"string","format":"email"},{"type":"integer","maximum":20}],"allOf":[{"$ref":"/"}],"$defs":{"a":{"not":{"type":"boolean"}}}}"#;
    let message = invalid(ParsedSchema::parse(SchemaType::Json, text, &[]));
    assert!(message.contains("never end"), "{message}");
}
