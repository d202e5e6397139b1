//! v3 produce in the AVRO, PROTOBUF and JSONSCHEMA formats against the embedded broker
//! and kgate's Schema Registry: every way of choosing the schema (inline, id, version,
//! the subject's latest), every subject name strategy, the delivery reports, what landed
//! in Kafka (Confluent's wire format) and the error answers.

use std::time::Duration;

use kgate_formats::EmbeddedFormat;
use kgate_formats::registry::HttpSchemaRegistry;
use kgate_formats::serializer::SchemaFormats;
use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

async fn records_path(cluster: &TestCluster, topic: &str) -> String {
    let id = cluster.kafka().cluster_id().await.expect("cluster id");
    format!("/v3/clusters/{id}/topics/{topic}/records")
}

/// Produces one record and expects a 200 delivery report.
async fn produce_ok(cluster: &TestCluster, path: &str, record: Value) -> Value {
    let (status, report) = cluster.post_json(path, &record).await;
    assert_eq!(status, 200, "{record} -> {report}");
    assert_eq!(report["error_code"], 200, "{report}");
    report
}

/// The schema id in a record's wire-format header (magic byte 0, 4-byte big-endian id).
fn wire_id(bytes: &[u8]) -> i64 {
    assert!(bytes.len() >= 5, "{bytes:?}");
    assert_eq!(bytes[0], 0, "magic byte");
    i64::from(i32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]))
}

/// An independent reader of the wire format, through the registry's HTTP API.
fn reader(cluster: &TestCluster) -> SchemaFormats {
    SchemaFormats::new(HttpSchemaRegistry::for_url(&cluster.registry_url()).expect("client"))
}

async fn latest(cluster: &TestCluster, subject: &str) -> Value {
    let resp = cluster
        .http()
        .get(format!(
            "{}/subjects/{subject}/versions/latest",
            cluster.registry_url()
        ))
        .send()
        .await
        .expect("registry request");
    assert_eq!(resp.status(), 200, "subject {subject}");
    resp.json().await.expect("registry JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_by_inline_schema_id_version_and_latest() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let topic = unique_name("v3-avro");
    cluster.create_topic(&topic, 1).await;
    let path = records_path(&cluster, &topic).await;
    let user_v1 = json!({
        "type": "record", "name": "User", "namespace": "com.example",
        "fields": [
            {"name": "name", "type": "string"},
            {"name": "age", "type": ["null", "int"], "default": null}
        ]
    });

    // Inline schemas are registered under <topic>-key / <topic>-value.
    let first = json!({"name": "ann", "age": {"int": 30}});
    let report = produce_ok(
        &cluster,
        &path,
        json!({
            "key": {"type": "AVRO", "schema": "\"string\"", "data": "foobar"},
            "value": {"type": "AVRO", "schema": user_v1.to_string(), "data": first}
        }),
    )
    .await;
    let key_id = report["key"]["schema_id"].as_i64().expect("key schema_id");
    let v1 = report["value"]["schema_id"]
        .as_i64()
        .expect("value schema_id");
    assert_ne!(key_id, v1);
    // 5 header bytes, then "foobar" (zig-zag length 12) / "ann", union branch 1, 30.
    assert_eq!(
        report["key"],
        json!({"type": "AVRO", "subject": format!("{topic}-key"), "schema_id": key_id,
               "schema_version": 1, "size": 12})
    );
    assert_eq!(
        report["value"],
        json!({"type": "AVRO", "subject": format!("{topic}-value"), "schema_id": v1,
               "schema_version": 1, "size": 11})
    );

    // By id and by version, without a type: the format comes from the schema.
    let second = json!({"name": "bob", "age": null});
    let report = produce_ok(
        &cluster,
        &path,
        json!({
            "key": {"subject_name_strategy": "TOPIC_NAME", "schema_id": key_id, "data": "k2"},
            "value": {"schema_id": v1, "data": second}
        }),
    )
    .await;
    assert_eq!(report["key"]["schema_id"], json!(key_id));
    assert_eq!(report["key"]["type"], "AVRO");
    assert_eq!(
        (
            &report["value"]["schema_id"],
            &report["value"]["schema_version"]
        ),
        (&json!(v1), &json!(1))
    );

    // A second version; `data` alone then means the latest, while version 1 stays usable.
    let mut user_v2 = user_v1.clone();
    user_v2["fields"]
        .as_array_mut()
        .expect("fields")
        .push(json!({"name": "email", "type": "string", "default": ""}));
    let third = json!({"name": "cy", "age": {"int": 5}, "email": "cy@example.com"});
    let report = produce_ok(
        &cluster,
        &path,
        json!({"value": {"type": "AVRO", "schema": user_v2.to_string(), "data": third}}),
    )
    .await;
    let v2 = report["value"]["schema_id"].as_i64().expect("v2 id");
    assert_ne!(v2, v1);
    assert_eq!(report["value"]["schema_version"], 2);
    assert!(report.get("key").is_none(), "{report}");

    let fourth = json!({"name": "dee", "age": null, "email": "d@example.com"});
    let report = produce_ok(&cluster, &path, json!({"value": {"data": fourth}})).await;
    assert_eq!(
        (
            &report["value"]["schema_id"],
            &report["value"]["schema_version"]
        ),
        (&json!(v2), &json!(2))
    );
    let fifth = json!({"name": "eve", "age": {"int": 1}});
    let report = produce_ok(
        &cluster,
        &path,
        json!({"value": {"schema_version": 1, "data": fifth}}),
    )
    .await;
    assert_eq!(report["value"]["schema_id"], json!(v1));

    // The seed's null_and_empty_data: a key with only a schema id, a null value by
    // version; both are null records, still reported with their schemas.
    let report = produce_ok(
        &cluster,
        &path,
        json!({"key": {"schema_id": key_id}, "value": {"schema_version": 1, "data": null}}),
    )
    .await;
    assert_eq!(
        report["key"],
        json!({"type": "AVRO", "subject": format!("{topic}-key"), "schema_id": key_id,
               "schema_version": 1, "size": 0})
    );
    assert_eq!(
        (&report["value"]["schema_id"], &report["value"]["size"]),
        (&json!(v1), &json!(0))
    );

    // records:batch takes the same forms.
    let sixth = json!({"name": "fay", "age": null, "email": ""});
    let (status, batch) = cluster
        .post_json(
            &format!("{path}:batch"),
            &json!({"entries": [
                {"id": "a", "value": {"type": "AVRO", "schema_version": 2, "data": sixth}},
                {"id": "b", "value": {"type": "AVRO", "schema_version": 2, "data": {"name": 1}}}
            ]}),
        )
        .await;
    assert_eq!(status, 207, "{batch}");
    assert_eq!(batch["successes"][0]["id"], "a", "{batch}");
    assert_eq!(batch["successes"][0]["value"]["schema_id"], json!(v2));
    assert_eq!(batch["failures"][0]["id"], "b", "{batch}");
    assert_eq!(batch["failures"][0]["error_code"], 42203, "{batch}");

    let landed = cluster.consume_all(&topic, 7, WAIT).await;
    assert_eq!(landed.len(), 7);
    assert_eq!((&landed[5].key, &landed[5].value), (&None, &None));
    let landed: Vec<_> = landed
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 5)
        .map(|(_, r)| r)
        .collect();
    let key = landed[0].key.as_deref().expect("key");
    assert_eq!(wire_id(key), key_id);
    assert_eq!(&key[5..], &[12, b'f', b'o', b'o', b'b', b'a', b'r']);
    let expected = [
        (v1, &first),
        (v1, &second),
        (v2, &third),
        (v2, &fourth),
        (v1, &fifth),
        (v2, &sixth),
    ];
    let formats = reader(&cluster);
    for (record, (id, value)) in landed.iter().zip(expected) {
        let bytes = record.value.as_deref().expect("value");
        assert_eq!(wire_id(bytes), id);
        let decoded = formats
            .deserialize(EmbeddedFormat::Avro, Some(bytes))
            .await
            .expect("decode");
        assert_eq!(&decoded, value);
    }
    let decoded_key = formats
        .deserialize(EmbeddedFormat::Avro, landed[1].key.as_deref())
        .await
        .expect("decode key");
    assert_eq!(decoded_key, json!("k2"));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_and_jsonschema_with_each_subject_name_strategy() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let topic = unique_name("v3-proto");
    cluster.create_topic(&topic, 1).await;
    let path = records_path(&cluster, &topic).await;
    let proto = r#"syntax = "proto3";
package com.example;
message Order {
  string id = 1;
  int32 qty = 2;
}
message Other {
  bool flag = 1;
}
"#;
    let event = json!({
        "title": "Event", "type": "object",
        "properties": {"n": {"type": "integer"}}, "required": ["n"]
    });

    // RECORD_NAME: the subject is the message's full name.
    let report = produce_ok(
        &cluster,
        &path,
        json!({"value": {"type": "PROTOBUF", "schema": proto,
                         "subject_name_strategy": "RECORD_NAME",
                         "data": {"id": "a", "qty": 3}}}),
    )
    .await;
    assert_eq!(report["value"]["subject"], "com.example.Order");
    assert_eq!(report["value"]["type"], "PROTOBUF");
    let order_id = report["value"]["schema_id"].as_i64().expect("id");
    // The registry holds it under that subject.
    assert_eq!(
        latest(&cluster, "com.example.Order").await["id"],
        json!(order_id)
    );

    // TOPIC_RECORD_NAME for the key, by schema id; TOPIC_NAME for a JSON Schema value.
    let report = produce_ok(
        &cluster,
        &path,
        json!({
            "key": {"type": "PROTOBUF", "schema": proto,
                    "subject_name_strategy": "TOPIC_RECORD_NAME", "data": {"id": "k"}},
            "value": {"type": "JSONSCHEMA", "schema": event.to_string(), "data": {"n": 7}}
        }),
    )
    .await;
    assert_eq!(
        report["key"]["subject"],
        json!(format!("{topic}-com.example.Order"))
    );
    assert_eq!(report["key"]["schema_id"], json!(order_id));
    assert_eq!(report["value"]["subject"], json!(format!("{topic}-value")));
    assert_eq!(report["value"]["type"], "JSONSCHEMA");
    let event_id = report["value"]["schema_id"].as_i64().expect("id");

    // RECORD_NAME with a schema id names the subject from the schema; TOPIC_RECORD_NAME
    // with a JSON Schema uses its title; the subject's latest without a type.
    let report = produce_ok(
        &cluster,
        &path,
        json!({
            "key": {"schema_id": event_id, "subject_name_strategy": "TOPIC_RECORD_NAME",
                    "data": {"n": 1}},
            "value": {"subject": "com.example.Order", "data": {"id": "b", "qty": 4}}
        }),
    )
    .await;
    assert_eq!(report["key"]["subject"], json!(format!("{topic}-Event")));
    assert_eq!(report["key"]["type"], "JSONSCHEMA");
    assert_eq!(
        (
            &report["value"]["subject"],
            &report["value"]["schema_id"],
            &report["value"]["type"]
        ),
        (
            &json!("com.example.Order"),
            &json!(order_id),
            &json!("PROTOBUF")
        )
    );
    let report = produce_ok(
        &cluster,
        &path,
        json!({"value": {"type": "JSONSCHEMA", "subject_name_strategy": "TOPIC_NAME",
                         "data": {"n": 9}}}),
    )
    .await;
    assert_eq!(report["value"]["schema_id"], json!(event_id));

    let landed = cluster.consume_all(&topic, 4, WAIT).await;
    let formats = reader(&cluster);
    // Protobuf: the header, message index path [0] written as the single byte 0, then
    // the message: field 1 "a" (0a 01 61), field 2 varint 3 (10 03).
    let first = landed[0].value.as_deref().expect("value");
    assert_eq!(wire_id(first), order_id);
    assert_eq!(&first[5..], &[0, 0x0a, 0x01, b'a', 0x10, 0x03]);
    assert_eq!(
        formats
            .deserialize(EmbeddedFormat::Protobuf, Some(first))
            .await
            .expect("decode"),
        json!({"id": "a", "qty": 3})
    );
    let key = landed[1].key.as_deref().expect("key");
    assert_eq!(&key[5..], &[0, 0x0a, 0x01, b'k']);
    // JSON Schema: the header, then the JSON text.
    let value = landed[1].value.as_deref().expect("value");
    assert_eq!(wire_id(value), event_id);
    let text: Value = serde_json::from_slice(&value[5..]).expect("JSON after the header");
    assert_eq!(text, json!({"n": 7}));
    assert_eq!(
        formats
            .deserialize(EmbeddedFormat::JsonSchema, landed[2].key.as_deref())
            .await
            .expect("decode"),
        json!({"n": 1})
    );
    assert_eq!(
        formats
            .deserialize(EmbeddedFormat::Protobuf, landed[2].value.as_deref())
            .await
            .expect("decode"),
        json!({"id": "b", "qty": 4})
    );
    assert_eq!(
        wire_id(landed[3].value.as_deref().expect("value")),
        event_id
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_errors_are_client_errors_and_a_stream_goes_on() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let topic = unique_name("v3-schema-errors");
    cluster.create_topic(&topic, 1).await;
    let path = records_path(&cluster, &topic).await;
    let schema =
        json!({"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]})
            .to_string();

    let expect = |answer: (u16, Value), status: u16, code: u64| {
        assert_eq!(answer.0, status, "{}", answer.1);
        assert_eq!(answer.1["error_code"], json!(code), "{}", answer.1);
        answer.1
    };
    // Nothing registered yet: the latest of <topic>-value / <topic>-key.
    let body = expect(
        cluster
            .post_json(&path, &json!({"value": {"data": {"a": "x"}}}))
            .await,
        422,
        42202,
    );
    let message = body["message"].as_str().expect("message");
    assert!(
        message.contains(&format!(
            "Error when fetching latest schema version. subject = {topic}-value"
        )),
        "{message}"
    );
    expect(
        cluster
            .post_json(&path, &json!({"key": {"type": "AVRO", "data": "k"}}))
            .await,
        422,
        42201,
    );
    expect(
        cluster
            .post_json(
                &path,
                &json!({"value": {"schema_id": 987_654, "data": {"a": "x"}}}),
            )
            .await,
        422,
        42202,
    );
    // An invalid inline schema, and one without a type.
    expect(
        cluster
            .post_json(
                &path,
                &json!({"value": {"type": "AVRO", "schema": "{\"type\": \"nope\"}", "data": 1}}),
            )
            .await,
        422,
        42205,
    );
    expect(
        cluster
            .post_json(
                &path,
                &json!({"value": {"schema": schema, "data": {"a": "x"}}}),
            )
            .await,
        400,
        400,
    );
    expect(
        cluster
            .post_json(
                &path,
                &json!({"value": {"type": "AVRO", "schema": schema,
                              "subject_name_strategy": "SOMETHING", "data": {"a": "x"}}}),
            )
            .await,
        400,
        400,
    );

    // Registered now; a version that does not exist, data that does not match.
    produce_ok(
        &cluster,
        &path,
        json!({"value": {"type": "AVRO", "schema": schema, "data": {"a": "x"}}}),
    )
    .await;
    expect(
        cluster
            .post_json(
                &path,
                &json!({"value": {"schema_version": 9, "data": {"a": "x"}}}),
            )
            .await,
        422,
        42202,
    );
    expect(
        cluster
            .post_json(&path, &json!({"value": {"data": {"a": 5}}}))
            .await,
        422,
        42203,
    );
    // A schema the subject's BACKWARD compatibility refuses (a new field, no default).
    let incompatible = json!({"type": "record", "name": "R", "fields": [
        {"name": "a", "type": "string"}, {"name": "b", "type": "int"}]})
    .to_string();
    expect(
        cluster.post_json(&path,
            &json!({"value": {"type": "AVRO", "schema": incompatible, "data": {"a": "x", "b": 1}}}),
        )
        .await,
        409,
        409,
    );

    // In streaming mode a bad record gets its own report and the others go through.
    let records = [
        json!({"value": {"data": {"a": "s1"}}}),
        json!({"value": {"data": {"a": 1}}}),
        json!({"value": {"schema_id": 987_654, "data": {"a": "s3"}}}),
        json!({"value": {"schema_version": 1, "data": {"a": "s4"}}}),
    ];
    let chunks = records.iter().map(|r| r.to_string()).collect();
    let (status, reports) = cluster.post_streamed(&path, chunks).await;
    assert_eq!(status, 200);
    let codes: Vec<&Value> = reports.iter().map(|r| &r["error_code"]).collect();
    assert_eq!(
        codes,
        [&json!(200), &json!(42203), &json!(42202), &json!(200)],
        "{reports:?}"
    );
    assert_eq!(reports[0]["offset"], 1);
    assert_eq!(reports[3]["offset"], 2);

    // Only the three good records landed, each in the wire format.
    let landed = cluster.consume_all(&topic, 3, WAIT).await;
    assert_eq!(landed.len(), 3);
    cluster.stop().await;
}
