//! REST Proxy v1 (seed 001): content negotiation beside v2, the metadata endpoints and
//! produce in binary, json and avro, checked against what landed in Kafka.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use kgate_testkit::kgate_rest::RestConfig;
use kgate_testkit::{TestCluster, text_answer, unique_name};
use serde_json::{Value, json};

const V1: &str = "application/vnd.kafka.v1+json";
const V2: &str = "application/vnd.kafka.v2+json";
/// The Accept header of seed 001's v1 examples.
const V1_ACCEPT: &str =
    "application/vnd.kafka.v1+json, application/vnd.kafka+json, application/json";
const BINARY_V1: &str = "application/vnd.kafka.binary.v1+json";
const JSON_V1: &str = "application/vnd.kafka.json.v1+json";
const AVRO_V1: &str = "application/vnd.kafka.avro.v1+json";
const WAIT: Duration = Duration::from_secs(30);

/// An entry of a produce answer, with the key and value its record was sent with.
type Expected<'a> = (&'a Value, Option<&'a [u8]>, &'a [u8]);

/// Sends a request and returns status, content type and JSON body (null when empty).
async fn call(
    cluster: &TestCluster,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> (u16, String, Value) {
    let mut req = cluster
        .http()
        .request(method, format!("{}{path}", cluster.rest_url()));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(body) = body {
        req = req.body(body);
    }
    let (status, ct, text) = text_answer(req).await;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, ct, body)
}

async fn get_v1(cluster: &TestCluster, path: &str) -> (u16, String, Value) {
    call(
        cluster,
        reqwest::Method::GET,
        path,
        &[("Accept", V1_ACCEPT)],
        None,
    )
    .await
}

async fn produce_v1(
    cluster: &TestCluster,
    path: &str,
    content_type: &str,
    body: Value,
) -> (u16, String, Value) {
    call(
        cluster,
        reqwest::Method::POST,
        path,
        &[("Content-Type", content_type), ("Accept", V1_ACCEPT)],
        Some(body.to_string()),
    )
    .await
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Kafka's Java partitioner hash (murmur2), written out so placement is checked against
/// an independent computation.
fn java_murmur2(data: &[u8]) -> i32 {
    let m: i32 = 0x5bd1_e995;
    let mut h: i32 = (0x9747_b28c_u32 as i32) ^ (data.len() as i32);
    let chunks = data.len() / 4;
    for i in 0..chunks {
        let b = &data[i * 4..i * 4 + 4];
        let mut k = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        k = k.wrapping_mul(m);
        k ^= ((k as u32) >> 24) as i32;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m);
        h ^= k;
    }
    let tail = &data[chunks * 4..];
    if tail.len() >= 3 {
        h ^= (tail[2] as i32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as i32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as i32;
        h = h.wrapping_mul(m);
    }
    h ^= ((h as u32) >> 13) as i32;
    h = h.wrapping_mul(m);
    h ^= ((h as u32) >> 15) as i32;
    h
}

fn assert_error(answer: &(u16, String, Value), status: u16, code: u64, what: &str) {
    let (got, ct, body) = answer;
    assert_eq!(*got, status, "{what}: {body}");
    assert_eq!(body["error_code"], json!(code), "{what}: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
    assert_eq!(ct, V1, "{what}: errors of v1 requests are v1 typed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_answers_in_v1_shapes_and_types() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v1-meta");
    let configs = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
    cluster.create_topic_with(&topic, 3, &configs).await;
    // What Kafka says of the topic and the cluster (one broker on the embedded peer,
    // several on Apache Kafka, where leaders spread).
    let metadata = cluster.kafka().fresh_metadata().await.expect("metadata");
    let broker_ids: Vec<i32> = metadata.brokers.iter().map(|b| b.id).collect();
    let expected: Vec<Value> = metadata.topics[&topic]
        .partitions
        .iter()
        .map(|p| {
            let replicas: Vec<Value> = p
                .replicas
                .iter()
                .map(|r| json!({"broker": r, "leader": *r == p.leader, "in_sync": p.isr.contains(r)}))
                .collect();
            json!({"partition": p.id, "leader": p.leader, "replicas": replicas})
        })
        .collect();

    let (status, ct, root) = get_v1(&cluster, "/").await;
    assert_eq!((status, ct.as_str(), root), (200, V1, json!({})));

    let (status, ct, topics) = get_v1(&cluster, "/topics").await;
    assert_eq!((status, ct.as_str()), (200, V1), "{topics}");
    assert!(
        topics.as_array().unwrap().contains(&json!(topic)),
        "{topics}"
    );

    let (status, ct, info) = get_v1(&cluster, &format!("/topics/{topic}")).await;
    assert_eq!((status, ct.as_str()), (200, V1), "{info}");
    assert_eq!(info["name"], json!(topic));
    assert_eq!(info["configs"]["cleanup.policy"], "compact", "{info}");
    let partitions = info["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 3);
    assert_eq!(partitions, &expected);

    let (status, ct, list) = get_v1(&cluster, &format!("/topics/{topic}/partitions")).await;
    assert_eq!((status, ct.as_str()), (200, V1), "{list}");
    assert_eq!(&list, &info["partitions"]);

    let (status, ct, one) = get_v1(&cluster, &format!("/topics/{topic}/partitions/2")).await;
    assert_eq!((status, ct.as_str()), (200, V1), "{one}");
    assert_eq!(one, partitions[2]);

    let (status, ct, brokers) = get_v1(&cluster, "/brokers").await;
    assert_eq!((status, ct.as_str()), (200, V1));
    assert_eq!(brokers, json!({"brokers": broker_ids}));

    // The same paths answer v2 when asked for v2, or for no version at all.
    let (status, ct, _) = call(
        &cluster,
        reqwest::Method::GET,
        "/brokers",
        &[("Accept", V2)],
        None,
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, V2));
    let (status, ct, _) = call(&cluster, reqwest::Method::GET, "/topics", &[], None).await;
    assert_eq!((status, ct.as_str()), (200, V2));
    // Weights decide between versions.
    let (status, ct, _) = call(
        &cluster,
        reqwest::Method::GET,
        "/topics",
        &[(
            "Accept",
            "application/vnd.kafka.v1+json; q=0.4, application/vnd.kafka.v2+json; q=0.8",
        )],
        None,
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, V2));

    let missing = unique_name("v1-missing");
    assert_error(
        &get_v1(&cluster, &format!("/topics/{missing}")).await,
        404,
        40401,
        "unknown topic",
    );
    assert_error(
        &get_v1(&cluster, &format!("/topics/{missing}/partitions")).await,
        404,
        40401,
        "partitions of an unknown topic",
    );
    assert_error(
        &get_v1(&cluster, &format!("/topics/{topic}/partitions/7")).await,
        404,
        40402,
        "unknown partition",
    );
    assert_error(
        &get_v1(&cluster, &format!("/topics/{topic}/partitions/x")).await,
        404,
        40402,
        "partition that is not a number",
    );
    // A path no API has is the common 404 (v1 only answers the paths it has).
    let (status, _, body) = get_v1(&cluster, "/no/such/path").await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (404, json!(404)),
        "{body}"
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_v1_off_v1_types_are_not_served() {
    let cluster = TestCluster::builder()
        .rest_config(RestConfig {
            api_v1_enable: false,
            ..RestConfig::default()
        })
        .start()
        .await;
    let topic = unique_name("v1-off");
    cluster.create_topic(&topic, 1).await;
    let (status, _, body) = call(
        &cluster,
        reqwest::Method::GET,
        "/topics",
        &[("Accept", V1)],
        None,
    )
    .await;
    assert_eq!((status, body["error_code"].clone()), (406, json!(406)));
    let (status, _, body) = produce_v1(
        &cluster,
        &format!("/topics/{topic}"),
        BINARY_V1,
        json!({"records": [{"value": b64("x")}]}),
    )
    .await;
    assert_eq!((status, body["error_code"].clone()), (415, json!(415)));
    let (status, _, _) = get_v1(&cluster, &format!("/topics/{topic}/partitions/0/messages")).await;
    assert_eq!(status, 404);
    let end = cluster.kafka().partition_offsets(&topic, 0).await.unwrap();
    assert_eq!(end.end, 0, "nothing was written");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_and_json_records_land_where_the_answer_says() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v1-produce");
    cluster.create_topic(&topic, 3).await;

    // Seed 001's binary example.
    let (status, ct, resp) = produce_v1(
        &cluster,
        &format!("/topics/{topic}"),
        BINARY_V1,
        json!({"records": [
            {"key": "a2V5", "value": "Y29uZmx1ZW50"},
            {"value": "a2Fma2E=", "partition": 1},
            {"value": "bG9ncw=="},
        ]}),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, V1), "{resp}");
    assert_eq!(resp["key_schema_id"], Value::Null);
    assert_eq!(resp["value_schema_id"], Value::Null);
    let offsets = resp["offsets"].as_array().unwrap().clone();
    assert_eq!(offsets.len(), 3);
    assert_eq!(offsets[1]["partition"], 1);
    // The keyed record went where Java's partitioner puts "key".
    let want = (java_murmur2(b"key") & 0x7fff_ffff) % 3;
    assert_eq!(offsets[0]["partition"], json!(want), "{resp}");

    // Seed 001's JSON example.
    let (status, ct, json_resp) = produce_v1(
        &cluster,
        &format!("/topics/{topic}"),
        JSON_V1,
        json!({"records": [
            {"key": "somekey", "value": {"foo": "bar"}},
            {"value": ["foo", "bar"], "partition": 1},
            {"value": 53.5},
        ]}),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, V1), "{json_resp}");
    let json_offsets = json_resp["offsets"].as_array().unwrap().clone();
    let want = (java_murmur2(br#""somekey""#) & 0x7fff_ffff) % 3;
    assert_eq!(json_offsets[0]["partition"], json!(want), "{json_resp}");

    // To one partition: every record there, whatever a record says.
    let (status, _, part_resp) = produce_v1(
        &cluster,
        &format!("/topics/{topic}/partitions/2"),
        BINARY_V1,
        json!({"records": [{"key": "a2V5", "value": "Y29uZmx1ZW50"}, {"value": "a2Fma2E="}]}),
    )
    .await;
    assert_eq!(status, 200, "{part_resp}");
    let part_offsets = part_resp["offsets"].as_array().unwrap().clone();
    assert!(
        part_offsets.iter().all(|o| o["partition"] == 2),
        "{part_resp}"
    );
    assert_eq!(
        part_offsets[1]["offset"].as_i64().unwrap(),
        part_offsets[0]["offset"].as_i64().unwrap() + 1
    );

    let landed = cluster.consume_all(&topic, 8, WAIT).await;
    assert_eq!(landed.len(), 8);
    let expected: [Expected; 8] = [
        (&offsets[0], Some(b"key"), b"confluent"),
        (&offsets[1], None, b"kafka"),
        (&offsets[2], None, b"logs"),
        (&json_offsets[0], Some(br#""somekey""#), br#"{"foo":"bar"}"#),
        (&json_offsets[1], None, br#"["foo","bar"]"#),
        (&json_offsets[2], None, b"53.5"),
        (&part_offsets[0], Some(b"key"), b"confluent"),
        (&part_offsets[1], None, b"kafka"),
    ];
    for (o, key, value) in expected {
        let r = landed
            .iter()
            .find(|r| json!(r.partition) == o["partition"] && json!(r.offset) == o["offset"])
            .unwrap_or_else(|| panic!("{o} not in {landed:?}"));
        assert_eq!(r.key.as_deref(), key, "{o}");
        assert_eq!(r.value.as_deref(), Some(value), "{o}");
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_records_use_the_registry_and_read_back() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let topic = unique_name("v1-avro");
    cluster.create_topic(&topic, 2).await;
    let value_schema = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"int"},{"name":"name","type":"string"}]}"#;

    let (status, ct, resp) = produce_v1(
        &cluster,
        &format!("/topics/{topic}/partitions/1"),
        AVRO_V1,
        json!({"key_schema": "\"int\"", "value_schema": value_schema,
            "records": [{"key": 1, "value": {"id": 1, "name": "Bill"}}]}),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, V1), "{resp}");
    let key_id = resp["key_schema_id"].as_i64().expect("key schema id");
    let value_id = resp["value_schema_id"].as_i64().expect("value schema id");
    // Later requests name the schemas by id.
    let (status, _, resp2) = produce_v1(
        &cluster,
        &format!("/topics/{topic}"),
        AVRO_V1,
        json!({"key_schema_id": key_id, "value_schema_id": value_id,
            "records": [{"key": 2, "value": {"id": 2, "name": "Melinda"}, "partition": 1}]}),
    )
    .await;
    assert_eq!(status, 200, "{resp2}");
    assert_eq!(resp2["value_schema_id"], json!(value_id));

    let landed = cluster.consume_all(&topic, 2, WAIT).await;
    assert_eq!(landed.len(), 2);
    for (r, key) in landed.iter().zip([1u8, 2]) {
        // Confluent's wire format: magic byte, schema id, then the Avro body.
        let value = r.value.as_deref().unwrap();
        assert_eq!(value[0], 0);
        assert_eq!(
            i32::from_be_bytes(value[1..5].try_into().unwrap()) as i64,
            value_id
        );
        let k = r.key.as_deref().unwrap();
        assert_eq!(
            i32::from_be_bytes(k[1..5].try_into().unwrap()) as i64,
            key_id
        );
        assert_eq!(k[5], key * 2, "zig-zag encoded int key");
    }
    let registry = cluster.registry_url();
    let subjects: Value = cluster
        .http()
        .get(format!("{registry}/subjects"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let subjects = subjects.as_array().unwrap();
    assert!(
        subjects.contains(&json!(format!("{topic}-value"))),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&json!(format!("{topic}-key"))),
        "{subjects:?}"
    );

    // A per-partition read in avro decodes them again.
    let (status, ct, read) = call(
        &cluster,
        reqwest::Method::GET,
        &format!("/topics/{topic}/partitions/1/messages?offset=0&count=2"),
        &[("Accept", AVRO_V1)],
        None,
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, AVRO_V1), "{read}");
    assert_eq!(
        read,
        json!([
            {"key": 1, "value": {"id": 1, "name": "Bill"}, "partition": 1, "offset": 0},
            {"key": 2, "value": {"id": 2, "name": "Melinda"}, "partition": 1, "offset": 1},
        ])
    );

    // Schema errors, with nothing written.
    assert_error(
        &produce_v1(
            &cluster,
            &format!("/topics/{topic}"),
            AVRO_V1,
            json!({"value_schema": "\"int\"", "records": [{"key": 1, "value": 1}]}),
        )
        .await,
        422,
        42201,
        "keys without a key schema",
    );
    assert_error(
        &produce_v1(
            &cluster,
            &format!("/topics/{topic}"),
            AVRO_V1,
            json!({"records": [{"value": 1}]}),
        )
        .await,
        422,
        42202,
        "values without a value schema",
    );
    assert_error(
        &produce_v1(
            &cluster,
            &format!("/topics/{topic}"),
            AVRO_V1,
            json!({"value_schema": "{\"type\": \"nonsense\"}", "records": [{"value": 1}]}),
        )
        .await,
        422,
        42205,
        "an invalid schema",
    );
    let ends: Vec<i64> = partition_ends(&cluster, &topic, 2).await;
    assert_eq!(ends, vec![0, 2], "only the two good records were written");
    cluster.stop().await;
}

/// The end offset of each partition of `topic`.
async fn partition_ends(cluster: &TestCluster, topic: &str, partitions: i32) -> Vec<i64> {
    let mut ends = Vec::new();
    for p in 0..partitions {
        ends.push(
            cluster
                .kafka()
                .partition_offsets(topic, p)
                .await
                .unwrap()
                .end,
        );
    }
    ends
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_produce_requests_get_v1_errors_and_write_nothing() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v1-produce-bad");
    cluster.create_topic(&topic, 2).await;
    let to_topic = format!("/topics/{topic}");
    let ok = json!({"records": [{"value": b64("x")}]});

    let missing = unique_name("v1-nope");
    assert_error(
        &produce_v1(
            &cluster,
            &format!("/topics/{missing}"),
            BINARY_V1,
            ok.clone(),
        )
        .await,
        404,
        40401,
        "unknown topic",
    );
    assert_error(
        &produce_v1(
            &cluster,
            &format!("/topics/{topic}/partitions/5"),
            BINARY_V1,
            ok.clone(),
        )
        .await,
        404,
        40402,
        "unknown partition",
    );
    assert_error(
        &produce_v1(&cluster, &to_topic, BINARY_V1, json!({"records": []})).await,
        422,
        422,
        "no records",
    );
    assert_error(
        &produce_v1(
            &cluster,
            &to_topic,
            BINARY_V1,
            json!({"records": [{"value": "not base64!"}]}),
        )
        .await,
        400,
        400,
        "bad base64",
    );
    assert_error(
        &produce_v1(
            &cluster,
            &to_topic,
            "application/vnd.kafka.protobuf.v1+json",
            ok.clone(),
        )
        .await,
        415,
        415,
        "a format v1 lacks",
    );
    assert_error(
        &produce_v1(
            &cluster,
            &to_topic,
            AVRO_V1,
            json!({"value_schema": "\"int\"", "records": [{"value": 1}]}),
        )
        .await,
        415,
        415,
        "avro without a registry",
    );
    let (status, _, body) = call(
        &cluster,
        reqwest::Method::POST,
        &to_topic,
        &[("Content-Type", BINARY_V1)],
        Some("{\"records\": [".to_string()),
    )
    .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (400, json!(400)),
        "{body}"
    );
    assert_eq!(partition_ends(&cluster, &topic, 2).await, vec![0, 0]);

    // An unversioned body with a v1 Accept is a v1 produce, binary by default.
    let (status, ct, resp) = call(
        &cluster,
        reqwest::Method::POST,
        &to_topic,
        &[("Content-Type", "application/json"), ("Accept", V1_ACCEPT)],
        Some(ok.to_string()),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, V1), "{resp}");
    let landed = cluster.consume_all(&topic, 1, WAIT).await;
    assert_eq!(landed[0].value.as_deref(), Some(&b"x"[..]));
    cluster.stop().await;
}
