//! v2 produce and consume in the avro, protobuf and jsonschema embedded formats, against
//! the embedded broker and kgate's Schema Registry: records land in Confluent's wire
//! format with the registered id, and v2 consumers decode them by that id.

use std::time::{Duration, Instant};

use kgate_testkit::kgate_rest::RestConfig;
use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Value, json};

const V2: &str = "application/vnd.kafka.v2+json";
const AVRO: &str = "application/vnd.kafka.avro.v2+json";
const PROTOBUF: &str = "application/vnd.kafka.protobuf.v2+json";
const JSONSCHEMA: &str = "application/vnd.kafka.jsonschema.v2+json";
const WAIT: Duration = Duration::from_secs(30);

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("HTTP request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("response body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, body)
}

async fn produce(
    cluster: &TestCluster,
    topic: &str,
    content_type: &str,
    body: Value,
) -> (u16, Value) {
    send(
        cluster
            .http()
            .post(format!("{}/topics/{topic}", cluster.rest_url()))
            .header("Content-Type", content_type)
            .header("Accept", V2)
            .body(body.to_string()),
    )
    .await
}

fn assert_error(answer: &(u16, Value), status: u16, code: u64) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error_code"], json!(code), "{}", answer.1);
}

/// Reads `topic` through a new v2 consumer instance in `format` until `count` records
/// arrived; returns them in offset order.
async fn consume(cluster: &TestCluster, topic: &str, format: &str, count: usize) -> Vec<Value> {
    let group = unique_name("schema-group");
    let (status, created) = send(
        cluster
            .http()
            .post(format!("{}/consumers/{group}", cluster.rest_url()))
            .header("Content-Type", V2)
            .body(json!({"format": format, "auto.offset.reset": "earliest"}).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let base = created["base_uri"].as_str().expect("base_uri").to_string();
    let (status, body) = send(
        cluster
            .http()
            .post(format!("{base}/subscription"))
            .header("Content-Type", V2)
            .body(json!({"topics": [topic]}).to_string()),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let accept = format!("application/vnd.kafka.{format}.v2+json");
    let deadline = Instant::now() + WAIT;
    let mut out: Vec<Value> = Vec::new();
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records",
            out.len()
        );
        let (status, body) = send(
            cluster
                .http()
                .get(format!("{base}/records?timeout=1000"))
                .header("Accept", &accept),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        out.extend(body.as_array().expect("records").iter().cloned());
    }
    let _ = cluster
        .http()
        .delete(&base)
        .header("Accept", V2)
        .send()
        .await;
    out.sort_by_key(|r| r["offset"].as_i64());
    out
}

/// The schema id in a record's wire-format header.
fn wire_id(bytes: &[u8]) -> i32 {
    assert_eq!(bytes[0], 0, "magic byte");
    i32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_records_unions_and_nesting_round_trip() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let topic = unique_name("avro");
    cluster.create_topic(&topic, 1).await;

    let value_schema = json!({
        "type": "record", "name": "User", "namespace": "com.example",
        "fields": [
            {"name": "name", "type": "string"},
            {"name": "age", "type": ["null", "int"], "default": null},
            {"name": "address", "type": {"type": "record", "name": "Address",
                "fields": [{"name": "city", "type": "string"}]}},
            {"name": "tags", "type": {"type": "array", "items": "string"}}
        ]
    })
    .to_string();
    let values = [
        json!({"name": "ann", "age": {"int": 31}, "address": {"city": "Oslo"}, "tags": ["a"]}),
        json!({"name": "bob", "age": null, "address": {"city": "Rome"}, "tags": []}),
    ];
    let (status, body) = produce(
        &cluster,
        &topic,
        AVRO,
        json!({
            "key_schema": "\"string\"",
            "value_schema": value_schema,
            "records": [
                {"key": "k1", "value": values[0]},
                {"key": "k2", "value": values[1]},
            ]
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let key_id = body["key_schema_id"].as_i64().expect("key_schema_id") as i32;
    let value_id = body["value_schema_id"].as_i64().expect("value_schema_id") as i32;
    assert_ne!(key_id, value_id);

    // The same schema again by id, and a record whose key is null (no key schema needed).
    let third =
        json!({"name": "cy", "age": {"int": 5}, "address": {"city": "Lima"}, "tags": ["x", "y"]});
    let (status, body) = produce(
        &cluster,
        &topic,
        AVRO,
        json!({"value_schema_id": value_id, "records": [{"value": third}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["key_schema_id"], Value::Null);
    assert_eq!(body["value_schema_id"], json!(value_id));

    // The registry holds them under <topic>-key and <topic>-value.
    let (status, latest) = send(cluster.http().get(format!(
        "{}/subjects/{topic}-value/versions/latest",
        cluster.registry_url()
    )))
    .await;
    assert_eq!(status, 200, "{latest}");
    assert_eq!(latest["id"], json!(value_id));

    let landed = cluster.consume_all(&topic, 3, WAIT).await;
    assert_eq!(wire_id(landed[0].key.as_deref().expect("key")), key_id);
    for r in &landed {
        assert_eq!(wire_id(r.value.as_deref().expect("value")), value_id);
    }
    // Avro binary after the header: "k1" is a 2-byte string (zig-zag length 4).
    assert_eq!(&landed[0].key.as_deref().unwrap()[5..], &[4, b'k', b'1']);
    assert_eq!(landed[2].key, None);

    let read = consume(&cluster, &topic, "avro", 3).await;
    assert_eq!(read[0]["key"], json!("k1"));
    assert_eq!(read[0]["value"], values[0]);
    assert_eq!(read[1]["value"], values[1]);
    assert_eq!(read[2]["key"], Value::Null);
    assert_eq!(read[2]["value"], third);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_and_jsonschema_round_trip() {
    let cluster = TestCluster::builder().with_registry().start().await;

    let topic = unique_name("protobuf");
    cluster.create_topic(&topic, 1).await;
    let proto = r#"syntax = "proto3";
package demo;
message Order {
  string id = 1;
  int32 quantity = 2;
  Line line = 3;
  message Line { string sku = 1; }
}"#;
    let order = json!({"id": "o-1", "quantity": 3, "line": {"sku": "s-9"}});
    let (status, body) = produce(
        &cluster,
        &topic,
        PROTOBUF,
        json!({"value_schema": proto, "records": [{"value": order}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let proto_id = body["value_schema_id"].as_i64().expect("value_schema_id") as i32;
    let (status, body) = produce(
        &cluster,
        &topic,
        PROTOBUF,
        json!({"value_schema_id": proto_id, "records": [{"value": {"id": "o-2"}}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let landed = cluster.consume_all(&topic, 2, WAIT).await;
    let first = landed[0].value.as_deref().expect("value");
    assert_eq!(wire_id(first), proto_id);
    // Message index [0] (the first message of the file) is the single byte 0.
    assert_eq!(first[5], 0);
    let read = consume(&cluster, &topic, "protobuf", 2).await;
    assert_eq!(read[0]["value"], order);
    // Fields at their defaults are shown, as Confluent's proxy shows them.
    assert_eq!(read[1]["value"]["id"], json!("o-2"));
    assert_eq!(read[1]["value"]["quantity"], json!(0));

    let topic = unique_name("jsonschema");
    cluster.create_topic(&topic, 1).await;
    let schema = json!({"type": "object", "properties": {"f1": {"type": "string"}}}).to_string();
    let (status, body) = produce(
        &cluster,
        &topic,
        JSONSCHEMA,
        json!({"value_schema": schema, "records": [{"value": {"f1": "bar"}}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let json_id = body["value_schema_id"].as_i64().expect("value_schema_id") as i32;
    let landed = cluster.consume_all(&topic, 1, WAIT).await;
    let bytes = landed[0].value.as_deref().expect("value");
    assert_eq!(wire_id(bytes), json_id);
    assert_eq!(
        serde_json::from_slice::<Value>(&bytes[5..]).unwrap(),
        json!({"f1": "bar"})
    );
    let read = consume(&cluster, &topic, "jsonschema", 1).await;
    assert_eq!(read[0]["value"], json!({"f1": "bar"}));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_errors_have_the_reference_codes() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let topic = unique_name("schema-errors");
    cluster.create_topic(&topic, 1).await;

    // 42201 / 42202: keys or values without their schema.
    let answer = produce(
        &cluster,
        &topic,
        AVRO,
        json!({"value_schema": "\"int\"", "records": [{"key": 1, "value": 2}]}),
    )
    .await;
    assert_error(&answer, 422, 42201);
    let answer = produce(&cluster, &topic, AVRO, json!({"records": [{"value": 2}]})).await;
    assert_error(&answer, 422, 42202);
    // 42205: a schema that does not parse, in each format.
    for (ct, schema) in [
        (AVRO, "{\"type\": \"nonsense\"}"),
        (PROTOBUF, "message {"),
        (JSONSCHEMA, "{\"type\": 12}"),
    ] {
        let answer = produce(
            &cluster,
            &topic,
            ct,
            json!({"value_schema": schema, "records": [{"value": 1}]}),
        )
        .await;
        assert_error(&answer, 422, 42205);
    }
    // 422: a record that does not match its schema, in each format.
    for (ct, schema, value) in [
        (AVRO, "\"int\"".to_string(), json!("text")),
        (
            PROTOBUF,
            "syntax = \"proto3\"; message M { int32 n = 1; }".to_string(),
            json!({"n": "x"}),
        ),
        (
            JSONSCHEMA,
            json!({"type": "object", "required": ["f"]}).to_string(),
            json!({"g": 1}),
        ),
    ] {
        // A topic each, so that the three schemas are not checked against each other.
        let topic = unique_name("schema-mismatch");
        cluster.create_topic(&topic, 1).await;
        let answer = produce(
            &cluster,
            &topic,
            ct,
            json!({"value_schema": schema, "records": [{"value": value}]}),
        )
        .await;
        assert_error(&answer, 422, 42203);
    }
    // An id the registry does not know: the lookup fails (40801).
    let answer = produce(
        &cluster,
        &topic,
        AVRO,
        json!({"value_schema_id": 987654, "records": [{"value": 1}]}),
    )
    .await;
    assert_error(&answer, 408, 40801);
    cluster.stop().await;

    // A registry that cannot be reached: 40801 on produce.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let cluster = TestCluster::builder()
        .rest_config(RestConfig {
            schema_registry_url: Some(format!("http://{dead}")),
            ..RestConfig::default()
        })
        .start()
        .await;
    let topic = unique_name("schema-unreachable");
    cluster.create_topic(&topic, 1).await;
    let answer = produce(
        &cluster,
        &topic,
        AVRO,
        json!({"value_schema": "\"int\"", "records": [{"value": 1}]}),
    )
    .await;
    assert_error(&answer, 408, 40801);
    cluster.stop().await;
}

/// The selection REST v3's records endpoint needs (schema, schema_id, schema_version,
/// subject, subject_name_strategy, or the latest schema), exercised on kgate-formats'
/// API against the real registry until the v3 endpoint calls it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_schema_selection_against_the_registry() {
    use kgate_formats::EmbeddedFormat;
    use kgate_formats::registry::HttpSchemaRegistry;
    use kgate_formats::serializer::{SchemaFormats, SchemaSelector};
    use kgate_formats::subject::SubjectNameStrategy;

    let cluster = TestCluster::builder().with_registry().start().await;
    let formats = SchemaFormats::new(HttpSchemaRegistry::for_url(&cluster.registry_url()).unwrap());
    let topic = unique_name("v3-select");
    let schema = json!({"type": "record", "name": "Item", "namespace": "shop",
        "fields": [{"name": "n", "type": "int"}]})
    .to_string();

    // An inline schema with TOPIC_RECORD_NAME lands under <topic>-shop.Item, version 1.
    let by_schema = formats
        .serializer(
            EmbeddedFormat::Avro,
            &topic,
            false,
            &SchemaSelector {
                schema: Some(schema.clone()),
                strategy: SubjectNameStrategy::TopicRecordName,
                ..SchemaSelector::default()
            },
        )
        .await
        .unwrap();
    let subject = format!("{topic}-shop.Item");
    assert_eq!(by_schema.subject.as_deref(), Some(subject.as_str()));
    assert_eq!(by_schema.schema_version, Some(1));
    let bytes = by_schema.serialize(&json!({"n": 7})).unwrap().unwrap();
    assert_eq!(wire_id(&bytes), by_schema.schema_id);
    assert_eq!(
        formats
            .deserialize(EmbeddedFormat::Avro, Some(&bytes))
            .await
            .unwrap(),
        json!({"n": 7})
    );

    // The latest of an explicit subject, a version of it, and an id with RECORD_NAME.
    let latest = formats
        .serializer(
            EmbeddedFormat::Avro,
            &topic,
            false,
            &SchemaSelector {
                subject: Some(subject.clone()),
                ..SchemaSelector::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (latest.schema_id, latest.schema_version),
        (by_schema.schema_id, Some(1))
    );
    let version = formats
        .serializer(
            EmbeddedFormat::Avro,
            &topic,
            false,
            &SchemaSelector {
                subject: Some(subject.clone()),
                schema_version: Some(1),
                ..SchemaSelector::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(version.schema_id, by_schema.schema_id);
    let by_id = formats
        .serializer(
            EmbeddedFormat::Avro,
            &topic,
            false,
            &SchemaSelector {
                schema_id: Some(by_schema.schema_id),
                strategy: SubjectNameStrategy::RecordName,
                ..SchemaSelector::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(by_id.subject.as_deref(), Some("shop.Item"));

    // A subject with nothing registered, and a format that is not the schema's.
    let missing = formats
        .serializer(
            EmbeddedFormat::Avro,
            &unique_name("v3-none"),
            true,
            &SchemaSelector::default(),
        )
        .await;
    assert!(missing.is_err());
    let wrong = formats
        .serializer(
            EmbeddedFormat::Protobuf,
            &topic,
            false,
            &SchemaSelector {
                schema_id: Some(by_schema.schema_id),
                ..SchemaSelector::default()
            },
        )
        .await;
    assert!(matches!(
        wrong,
        Err(kgate_formats::FormatError::InvalidSchema(_))
    ));
    cluster.stop().await;
}
