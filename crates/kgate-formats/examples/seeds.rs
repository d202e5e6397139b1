#[path = "../../../fuzz/common/mod.rs"]
mod common;
use serde_json::json;
fn write(target: &str, name: &str, data: &[u8]) {
    let dir = format!("/work/wt/formats/fuzz/corpus/{target}");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(format!("{dir}/{name}"), data).unwrap();
}
fn main() {
    let avro_values = [
        (
            0usize,
            json!({"n":null,"b":true,"i":-3,"l":1234567890123i64,"f":1.5,"d":-2.25,"by":"\u{0}\u{ff}a","s":"héllo","e":"HEARTS","fx":"abcd","a":[1,-1,300],"m":{"k":{"string":"v"},"z":null},"u":{"kgate.fuzz.Inner":{"x":7}},"date":19000,"ts":1700000000000i64,"dec":"\u{1}\u{2}","uuid":"123e4567-e89b-12d3-a456-426614174000","dur":"abcdefghijkl","opt":{"kgate.fuzz.Inner":{"x":1}}}),
        ),
        (
            0,
            json!({"n":null,"b":false,"i":0,"l":0,"f":"NaN","d":"-Infinity","by":"","s":"","e":"SPADES","fx":"\u{0}\u{0}\u{0}\u{0}","a":[],"m":{},"u":{"string":"s"},"date":0,"ts":0,"dec":"","uuid":"","dur":"000000000000"}),
        ),
        (
            1,
            json!({"v":1,"next":{"Node":{"v":2,"next":null,"kids":[{"v":3,"next":null,"kids":[]}]}},"kids":[]}),
        ),
        (
            2,
            json!({"a":{"R":{"a":{"array":[{"a":{"int":1}},{"a":{"map":{"k":{"a":{"string":"x"}}}}}]}}}}),
        ),
        (3, json!("a string")),
        (4, json!([null, null, null])),
        (5, json!({"a":{},"b":{}})),
        (6, json!({"double":1.25})),
        (6, json!({"bytes":"\u{1}\u{2}"})),
    ];
    for (n, (i, v)) in avro_values.iter().enumerate() {
        let bytes = common::AVRO[*i].encode(v).unwrap();
        let mut framed = vec![*i as u8];
        framed.extend(kgate_formats::wire::frame(1, &bytes));
        write("avro_decode", &format!("seed{n}"), &framed);
        let mut text = vec![*i as u8];
        text.extend(serde_json::to_vec(v).unwrap());
        write("avro_encode", &format!("seed{n}"), &text);
    }
    // Bare values in unions, defaults left out.
    write("avro_encode", "bare", b"\x02{\"a\":{\"a\":{\"a\":\"s\"}}}");
    let proto = &*common::PROTOBUF;
    let everything = json!({"d":1.5,"f":2.5,"i32":-1,"i64":"-5","u32":7,"u64":"9","s32":-3,"s64":"-4","fx32":5,"fx64":"6","sf32":-7,"sf64":"-8","b":true,"s":"x","by":"AQI=","kind":"B","packed":[1,2,3],"names":["a","b"],"children":{"c":{"s":"child","nested":{"i32":1}}},"text":"t","maybe":0,"at":"2024-01-02T03:04:05.123Z","doc":{"a":[1,"x",{"b":null}],"c":true},"wrapped":"12","anyValue":{"k":[1,2]},"blobs":{"1":"AA=="},"took":"1.5s","mask":"a.b,c","kinds":["A",2],"inner":{"more":[{"more":[{"tag":"deep"}]}],"tag":"t"}});
    let node = json!({"next":{"next":{"kids":[{},{"next":{}}]}}});
    for (n, (indexes, v)) in [
        (vec![0], everything.clone()),
        (vec![1], node.clone()),
        (vec![0, 2], json!({"more":[{"tag":"x"}]})),
        (vec![0], json!({})),
    ]
    .iter()
    .enumerate()
    {
        let message = proto.message_at(indexes).unwrap();
        let (ix, payload) = proto.encode(&message, v).unwrap();
        let mut body = Vec::new();
        kgate_formats::wire::write_message_indexes(&ix, &mut body);
        body.extend(payload);
        write("protobuf_decode", &format!("seed{n}"), &body);
        let sel = match indexes.as_slice() {
            [0] => 0u8,
            [1] => 1,
            _ => 2,
        };
        eprintln!("{:?} -> {}", indexes, message.full_name());
        let mut text = vec![sel];
        text.extend(serde_json::to_vec(v).unwrap());
        write("protobuf_encode", &format!("seed{n}"), &text);
    }
    for (n, s) in common::AVRO_SCHEMAS.iter().enumerate() {
        write("schema_avro", &format!("seed{n}"), s.as_bytes());
    }
    write("schema_protobuf", "everything", common::PROTO.as_bytes());
    let simple = "syntax = \"proto2\";\npackage p;\noption java_package = \"x.y\";\nmessage A {\n  required int32 a = 1 [default = 5];\n  optional string s = 2 [default = \"q\\\"\"];\n  reserved 5 to 9, 100 to max;\n  reserved \"old\";\n  extensions 1000 to 2000;\n  oneof o { int64 x = 3; bytes y = 4 [default = \"\\001\"]; }\n  enum E { option allow_alias = true; Z = 0; Y = 1; X = 1; }\n}\nservice S { rpc Call (A) returns (stream A); }\n";
    write("schema_protobuf", "proto2", simple.as_bytes());
    use base64::Engine;
    if let Ok(kgate_formats::schema::ParsedSchema::Protobuf(p)) =
        kgate_formats::schema::ParsedSchema::parse(
            kgate_formats::schema::SchemaType::Protobuf,
            simple,
            &[],
        )
    {
        write(
            "schema_protobuf_descriptor",
            "proto2",
            &base64::engine::general_purpose::STANDARD
                .decode(p.serialized())
                .unwrap(),
        );
    }
    if let Ok(kgate_formats::schema::ParsedSchema::Protobuf(p)) =
        kgate_formats::schema::ParsedSchema::parse(
            kgate_formats::schema::SchemaType::Protobuf,
            common::PROTO,
            &[],
        )
    {
        write(
            "schema_protobuf_descriptor",
            "everything",
            &base64::engine::general_purpose::STANDARD
                .decode(p.serialized())
                .unwrap(),
        );
    }
    let json_schemas = [
        r##"{"$schema":"http://json-schema.org/draft-07/schema#","title":"Order","type":"object","properties":{"id":{"type":"string","pattern":"^o-[0-9]+$"},"total":{"type":"number","minimum":0,"multipleOf":0.01},"lines":{"type":"array","items":{"$ref":"#/definitions/line"},"minItems":1},"tags":{"type":"array","items":[{"type":"string"},{"type":"integer"}]}},"required":["id"],"additionalProperties":false,"definitions":{"line":{"type":"object","properties":{"sku":{"type":"string","maxLength":10},"qty":{"type":"integer","exclusiveMinimum":0}},"oneOf":[{"required":["sku"]},{"required":["qty"]}]}}}"##,
        r##"{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"https://example.com/tree","$dynamicAnchor":"node","type":"object","properties":{"data":true,"children":{"type":"array","items":{"$dynamicRef":"#node"}}},"$defs":{"x":{"$anchor":"x","enum":[1,"a",null]}},"if":{"required":["data"]},"then":{"minProperties":1},"else":{"not":{"const":{}}}}"##,
        r##"{"$schema":"http://json-schema.org/draft-04/schema#","id":"http://example.com/s","type":["string","null"],"maxLength":5,"dependencies":{"a":["b"],"c":{"required":["d"]}}}"##,
        r##"{"anyOf":[{"type":"string","format":"email"},{"type":"integer","maximum":10}],"allOf":[{"$ref":"#/$defs/a"}],"$defs":{"a":{"not":{"type":"boolean"}}}}"##,
        "true",
    ];
    for (n, s) in json_schemas.iter().enumerate() {
        write("schema_json", &format!("seed{n}"), s.as_bytes());
        let doc = [
            "{\"id\":\"o-1\",\"total\":1.5,\"lines\":[{\"sku\":\"a\"}],\"tags\":[\"x\",1]}",
            "{\"data\":1,\"children\":[{\"children\":[]}]}",
            "\"abc\"",
            "7",
            "null",
        ][n];
        write(
            "jsonschema_records",
            &format!("seed{n}"),
            format!("{s}\0{doc}").as_bytes(),
        );
    }
    // compatibility: selector byte 0 avro, 1 protobuf, 2 json; old \0 new
    let pairs: [(u8, &str, &str); 5] = [
        (
            0,
            r#"{"type":"record","name":"U","fields":[{"name":"id","type":"long"}]}"#,
            r#"{"type":"record","name":"U","fields":[{"name":"id","type":"long"},{"name":"e","type":["null","string"],"default":null}]}"#,
        ),
        (0, common::AVRO_SCHEMAS[1], common::AVRO_SCHEMAS[2]),
        (
            1,
            "syntax = \"proto3\"; message A { int32 a = 1; oneof o { string s = 2; } }",
            "syntax = \"proto3\"; message A { int64 a = 1; string s = 2; message B { bool b = 1; } }",
        ),
        (
            2,
            json_schemas[0],
            r#"{"type":"object","properties":{"id":{"type":"string"}},"additionalProperties":true}"#,
        ),
        (
            2,
            r#"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#,
            r#"{"oneOf":[{"type":"string"},{"type":"number"},{"type":"null"}]}"#,
        ),
    ];
    for (n, (t, a, b)) in pairs.iter().enumerate() {
        let mut data = vec![*t];
        data.extend(format!("{a}\0{b}").into_bytes());
        write("compatibility", &format!("seed{n}"), &data);
    }
    for (n, s) in ["{\"records\":[{\"key\":\"a2V5\",\"value\":{\"foo\":\"bar\"},\"partition\":0},{\"value\":null}]}", "{\"value_schema\":\"{\\\"type\\\":\\\"string\\\"}\",\"value_schema_id\":1,\"key_schema_id\":2,\"records\":[{\"value\":\"x\"}]}", "{\"records\":[]}"].iter().enumerate() {
        write("rest_v2_produce", &format!("seed{n}"), s.as_bytes());
    }
    for (n, s) in ["{\"partition_id\":1,\"headers\":[{\"name\":\"h\",\"value\":\"AQI=\"},{\"name\":\"n\",\"value\":null}],\"key\":{\"type\":\"STRING\",\"data\":\"o-1\"},\"value\":{\"type\":\"JSON\",\"data\":{\"total\":42}},\"timestamp\":\"2024-01-02T03:04:05.678Z\"}", "{\"value\":{\"type\":\"AVRO\",\"schema\":\"\\\"string\\\"\",\"subject\":\"s\",\"subject_name_strategy\":\"TOPIC_NAME\",\"data\":\"x\"}}", "{\"key\":{\"type\":\"BINARY\",\"data\":\"a2V5\"},\"value\":{\"schema_id\":1,\"schema_version\":2,\"data\":null}}"].iter().enumerate() {
        write("rest_v3_produce", &format!("seed{n}"), s.as_bytes());
    }
    for (n, s) in ["{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"U\\\",\\\"fields\\\":[{\\\"name\\\":\\\"id\\\",\\\"type\\\":\\\"long\\\"}]}\"}", "{\"schemaType\":\"PROTOBUF\",\"schema\":\"syntax = \\\"proto3\\\"; message A { int32 a = 1; }\",\"references\":[{\"name\":\"b.proto\",\"subject\":\"b\",\"version\":1}]}", "{\"schemaType\":\"JSON\",\"schema\":\"{\\\"type\\\":\\\"object\\\"}\",\"id\":5,\"version\":2}"].iter().enumerate() {
        write("registry_register", &format!("seed{n}"), s.as_bytes());
    }
    for (n, s) in [
        &b"{\"a\":[1,\"x\",{\"b\":null}]}"[..],
        b"a2Fma2E=",
        b"plain text \xc3\xa9",
        b"\x00\xff\x80binary",
    ]
    .iter()
    .enumerate()
    {
        write("embedded_formats", &format!("seed{n}"), s);
    }
}
