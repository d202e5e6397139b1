//! Confluent's Schema Registry converters (AvroConverter, JsonSchemaConverter,
//! ProtobufConverter) against kgate's built-in registry: what a source writes is in the
//! wire format with its schema registered under `<topic>-value`, what another
//! serializer (kgate's formats, those of the REST Proxy) wrote is read by a sink, and
//! bad input fails the task with a clear trace.

mod common;

use std::time::Duration;

use common::{Worker, call, eventually, settings, states};
use kgate_formats::EmbeddedFormat;
use kgate_formats::registry::HttpSchemaRegistry;
use kgate_formats::serializer::{SchemaFormats, SchemaSelector};
use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Value, json};

struct Case {
    class: &'static str,
    format: EmbeddedFormat,
    /// The schema of a struct record another serializer writes.
    struct_schema: &'static str,
    /// How the file sink writes that record.
    struct_line: &'static str,
}

const CASES: &[Case] = &[
    Case {
        class: "io.confluent.connect.avro.AvroConverter",
        format: EmbeddedFormat::Avro,
        struct_schema: r#"{"type":"record","name":"Person","namespace":"com.example","fields":[{"name":"name","type":"string"},{"name":"age","type":["null","int"],"default":null}]}"#,
        struct_line: "Struct{name=Ada,age=36}\n",
    },
    Case {
        class: "io.confluent.connect.json.JsonSchemaConverter",
        format: EmbeddedFormat::JsonSchema,
        // Properties in alphabetical order: kgate's registry keeps a JSON Schema with
        // its keys sorted, so the order as written is not what a reader gets back.
        struct_schema: r#"{"type":"object","title":"Person","properties":{"age":{"type":"integer"},"name":{"type":"string"}}}"#,
        struct_line: "Struct{age=36,name=Ada}\n",
    },
    Case {
        class: "io.confluent.connect.protobuf.ProtobufConverter",
        format: EmbeddedFormat::Protobuf,
        struct_schema: "syntax = \"proto3\";\npackage com.example;\nmessage Person {\n  string name = 1;\n  int32 age = 2;\n}\n",
        struct_line: "Struct{name=Ada,age=36}\n",
    },
];

async fn latest_schema(registry: &str, subject: &str) -> Value {
    let (status, body) = call(
        "GET",
        &format!("{registry}/subjects/{subject}/versions/latest"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{subject}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_converters_write_and_read_the_wire_format() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let registry = cluster.registry_url();
    let prefix = unique_name("registry-conv");
    let worker = Worker::start(cluster.kafka().clone(), &settings(&prefix, &[])).await;
    let url = worker.url.clone();
    let formats = SchemaFormats::new(HttpSchemaRegistry::for_url(&registry).unwrap());
    let dir = tempfile::tempdir().unwrap();

    for (n, case) in CASES.iter().enumerate() {
        let converter = json!({
            "value.converter": case.class,
            "value.converter.schema.registry.url": registry,
        });
        let with = |mut config: Value| {
            for (k, v) in converter.as_object().unwrap() {
                config[k] = v.clone();
            }
            config
        };

        // A sink reading records another serializer wrote with a struct schema.
        let structs = unique_name("registry-structs");
        cluster.create_topic(&structs, 1).await;
        let serializer = formats
            .serializer(
                case.format,
                &structs,
                false,
                &SchemaSelector {
                    schema: Some(case.struct_schema.to_string()),
                    ..SchemaSelector::default()
                },
            )
            .await
            .unwrap();
        let record = serializer
            .serialize(&json!({"name": "Ada", "age": 36}))
            .unwrap();
        cluster
            .produce(&structs, None, None, record.as_deref())
            .await;
        let out = dir.path().join(format!("structs-{n}.txt"));
        let sink = format!("struct-sink-{n}");
        let (status, body) = call(
            "POST",
            &format!("{url}/connectors"),
            Some(&json!({"name": sink, "config": with(json!({
                "connector.class": "FileStreamSink",
                "file": out.to_str().unwrap(),
                "topics": structs,
            }))})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let written = eventually(
            "the struct in the sink file",
            Duration::from_secs(30),
            || async { std::fs::read_to_string(&out).ok().filter(|t| !t.is_empty()) },
        )
        .await;
        assert_eq!(written, case.struct_line, "{}", case.class);

        // A source writing string lines, which a sink with the same converter reads back.
        let topic = unique_name("registry-lines");
        let input = dir.path().join(format!("in-{n}.txt"));
        std::fs::write(&input, "first\nsecond\n").unwrap();
        let source = format!("line-source-{n}");
        let (status, body) = call(
            "POST",
            &format!("{url}/connectors"),
            Some(&json!({"name": source, "config": with(json!({
                "connector.class": "FileStreamSource",
                "file": input.to_str().unwrap(),
                "topic": topic,
            }))})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        if case.format == EmbeddedFormat::Protobuf {
            // A line is a string, and a protobuf record needs a message.
            let failed = eventually("the source failing", Duration::from_secs(30), || async {
                let (_, status) =
                    call("GET", &format!("{url}/connectors/{source}/status"), None).await;
                let task = status["tasks"][0].clone();
                (task["state"] == "FAILED").then_some(task)
            })
            .await;
            let trace = failed["trace"].as_str().unwrap_or_default();
            assert!(trace.contains("writes struct values only"), "{trace}");
            continue;
        }
        eventually("the source running", Duration::from_secs(30), || async {
            states(&url, &source)
                .await
                .filter(|(c, t)| c == "RUNNING" && t == &["RUNNING"])
        })
        .await;
        // The task is RUNNING before its first records (and their topic) exist.
        eventually("the topic", Duration::from_secs(30), || async {
            let meta = cluster.kafka().fresh_metadata().await.ok()?;
            meta.topics.contains_key(&topic).then_some(())
        })
        .await;
        let records = cluster
            .consume_all(&topic, 2, Duration::from_secs(30))
            .await;
        let mut lines = Vec::new();
        for r in &records {
            let bytes = r.value.as_deref().unwrap();
            assert_eq!(bytes[0], 0, "Confluent's magic byte");
            lines.push(formats.deserialize(case.format, Some(bytes)).await.unwrap());
        }
        assert_eq!(lines, [json!("first"), json!("second")], "{}", case.class);
        let registered = latest_schema(&registry, &format!("{topic}-value")).await;
        match case.format {
            EmbeddedFormat::Avro => assert_eq!(registered["schema"], "\"string\""),
            _ => {
                assert_eq!(registered["schemaType"], "JSON");
                let schema: Value =
                    serde_json::from_str(registered["schema"].as_str().unwrap()).unwrap();
                assert_eq!(schema, json!({"type": "string"}));
            }
        }
        let out = dir.path().join(format!("lines-{n}.txt"));
        let (status, _) = call(
            "POST",
            &format!("{url}/connectors"),
            Some(
                &json!({"name": format!("line-sink-{n}"), "config": with(json!({
                    "connector.class": "FileStreamSink",
                    "file": out.to_str().unwrap(),
                    "topics": topic,
                }))}),
            ),
        )
        .await;
        assert_eq!(status, 201);
        let written = eventually(
            "the lines in the sink file",
            Duration::from_secs(30),
            || async {
                std::fs::read_to_string(&out)
                    .ok()
                    .filter(|t| t.lines().count() >= 2)
            },
        )
        .await;
        assert_eq!(written, "first\nsecond\n", "{}", case.class);
    }

    // Records that are not in the wire format fail the sink with the converter's error.
    let plain = unique_name("registry-plain");
    cluster.create_topic(&plain, 1).await;
    cluster
        .produce(&plain, None, None, Some(b"not avro".as_slice()))
        .await;
    let (status, _) = call(
        "POST",
        &format!("{url}/connectors"),
        Some(&json!({"name": "plain-sink", "config": {
            "connector.class": "FileStreamSink",
            "file": dir.path().join("plain.txt").to_str().unwrap(),
            "topics": plain,
            "value.converter": "io.confluent.connect.avro.AvroConverter",
            "value.converter.schema.registry.url": registry,
        }})),
    )
    .await;
    assert_eq!(status, 201);
    let failed = eventually(
        "the plain sink failing",
        Duration::from_secs(30),
        || async {
            let (_, status) =
                call("GET", &format!("{url}/connectors/plain-sink/status"), None).await;
            let task = status["tasks"][0].clone();
            (task["state"] == "FAILED").then_some(task)
        },
    )
    .await;
    let trace = failed["trace"].as_str().unwrap_or_default();
    assert!(
        trace.contains("Failed to deserialize data for topic"),
        "{trace}"
    );
    worker.stop().await;
}
