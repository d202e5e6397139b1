//! v2 produce (`POST /topics/{t}` and `POST /topics/{t}/partitions/{p}`) against the
//! embedded broker, checking with an rdkafka consumer what landed in Kafka.

use std::collections::BTreeSet;
use std::time::Duration;

use kgate_testkit::kgate_rest::RestConfig;
use kgate_testkit::{TestCluster, text_answer, unique_name};
use serde_json::{Value, json};

const BINARY: &str = "application/vnd.kafka.binary.v2+json";
const JSON: &str = "application/vnd.kafka.json.v2+json";
const V2: &str = "application/vnd.kafka.v2+json";
const WAIT: Duration = Duration::from_secs(30);

async fn post(
    cluster: &TestCluster,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, String, Value) {
    let mut req = cluster
        .http()
        .post(format!("{}{path}", cluster.rest_url()))
        .header(
            "Accept",
            "application/vnd.kafka.v2+json, application/vnd.kafka+json, application/json",
        )
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    let (status, ct, text) = text_answer(req).await;
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, ct, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_records_land_with_keys_and_partitions() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("produce-binary");
    cluster.create_topic(&topic, 3).await;

    // The reference's example: a keyed record, one with an explicit partition, one keyless.
    let body = json!({"records": [
        {"key": "a2V5", "value": "Y29uZmx1ZW50"},
        {"value": "a2Fma2E=", "partition": 1},
        {"value": "bG9ncw=="},
    ]});
    let (status, ct, resp) = post(
        &cluster,
        &format!("/topics/{topic}"),
        Some(BINARY),
        body.to_string(),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, V2), "{resp}");
    assert_eq!(resp["key_schema_id"], Value::Null);
    assert_eq!(resp["value_schema_id"], Value::Null);
    let offsets = resp["offsets"].as_array().unwrap();
    assert_eq!(offsets.len(), 3);
    for o in offsets {
        assert_eq!(o["error_code"], Value::Null, "{o}");
        assert_eq!(o["error"], Value::Null, "{o}");
    }
    assert_eq!(offsets[1]["partition"], 1);

    let landed = cluster.consume_all(&topic, 3, WAIT).await;
    assert_eq!(landed.len(), 3);
    for (o, want_key, want_value) in [
        (&offsets[0], Some(&b"key"[..]), &b"confluent"[..]),
        (&offsets[1], None, &b"kafka"[..]),
        (&offsets[2], None, &b"logs"[..]),
    ] {
        let r = landed
            .iter()
            .find(|r| json!(r.partition) == o["partition"] && json!(r.offset) == o["offset"])
            .unwrap_or_else(|| panic!("{o} not found in {landed:?}"));
        assert_eq!(r.key.as_deref(), want_key);
        assert_eq!(r.value.as_deref(), Some(want_value));
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_stick_and_keyless_records_spread() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("produce-spread");
    cluster.create_topic(&topic, 3).await;

    let keyless: Vec<Value> = (0..9).map(|_| json!({"value": "eA=="})).collect();
    let (status, _, resp) = post(
        &cluster,
        &format!("/topics/{topic}"),
        Some(BINARY),
        json!({ "records": keyless }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    let partitions: BTreeSet<i64> = resp["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["partition"].as_i64().unwrap())
        .collect();
    assert_eq!(partitions, BTreeSet::from([0, 1, 2]), "{resp}");

    // The same key always lands on the same partition, across requests.
    let keyed: Vec<Value> = (0..5)
        .map(|i| json!({"key": "c2FtZQ==", "value": format!("{i}")}))
        .collect();
    let mut seen = BTreeSet::new();
    for _ in 0..2 {
        let (status, _, resp) = post(
            &cluster,
            &format!("/topics/{topic}"),
            Some(JSON),
            json!({ "records": keyed }).to_string(),
        )
        .await;
        assert_eq!(status, 200, "{resp}");
        for o in resp["offsets"].as_array().unwrap() {
            seen.insert(o["partition"].as_i64().unwrap());
        }
    }
    assert_eq!(seen.len(), 1, "{seen:?}");
    cluster.consume_all(&topic, 19, WAIT).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_records_and_partition_produce() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("produce-json");
    cluster.create_topic(&topic, 2).await;

    let body = json!({"records": [
        {"key": "somekey", "value": {"foo": "bar"}},
        {"value": ["foo", "bar"]},
        {"value": 53.5},
        {"key": "tombstone"},
    ]});
    let (status, _, resp) = post(
        &cluster,
        &format!("/topics/{topic}/partitions/1"),
        Some(JSON),
        body.to_string(),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    let offsets = resp["offsets"].as_array().unwrap();
    let got: Vec<(i64, i64)> = offsets
        .iter()
        .map(|o| {
            (
                o["partition"].as_i64().unwrap(),
                o["offset"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, vec![(1, 0), (1, 1), (1, 2), (1, 3)]);

    let landed = cluster.consume_all(&topic, 4, WAIT).await;
    assert!(landed.iter().all(|r| r.partition == 1));
    let values: Vec<Option<Value>> = landed
        .iter()
        .map(|r| r.value.as_ref().map(|v| serde_json::from_slice(v).unwrap()))
        .collect();
    assert_eq!(
        values,
        vec![
            Some(json!({"foo": "bar"})),
            Some(json!(["foo", "bar"])),
            Some(json!(53.5)),
            None
        ]
    );
    assert_eq!(landed[0].key.as_deref(), Some(&b"\"somekey\""[..]));
    assert_eq!(landed[1].key, None);

    // Less specific request types mean binary.
    for ct in [
        None,
        Some("application/json"),
        Some("application/vnd.kafka+json"),
        Some(V2),
    ] {
        let (status, _, resp) = post(
            &cluster,
            &format!("/topics/{topic}/partitions/0"),
            ct,
            json!({"records": [{"value": "AAE="}]}).to_string(),
        )
        .await;
        assert_eq!(status, 200, "{ct:?}: {resp}");
    }
    let landed = cluster.consume_all(&topic, 8, WAIT).await;
    let p0: Vec<_> = landed.iter().filter(|r| r.partition == 0).collect();
    assert_eq!(p0.len(), 4);
    assert!(p0.iter().all(|r| r.value.as_deref() == Some(&[0u8, 1][..])));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_4xx_and_write_nothing() {
    let cluster = TestCluster::builder()
        .rest_config(RestConfig {
            max_request_body_bytes: 4096,
            // With v1 on, a v1 body goes to v1 (tests/v1_*.rs): off, it is a v2 mistake.
            api_v1_enable: false,
            ..RestConfig::default()
        })
        .start()
        .await;
    let topic = unique_name("produce-bad");
    cluster.create_topic(&topic, 2).await;
    let to_topic = format!("/topics/{topic}");

    let cases: Vec<(&str, Option<&str>, String, u16, u64)> = vec![
        (
            "malformed JSON",
            Some(BINARY),
            "{\"records\": [".to_string(),
            400,
            400,
        ),
        ("empty body", Some(BINARY), String::new(), 400, 400),
        (
            "no records field",
            Some(BINARY),
            json!({}).to_string(),
            422,
            422,
        ),
        (
            "records not a list (a mapping error: 400, as Confluent answers it)",
            Some(BINARY),
            json!({"records": 5}).to_string(),
            400,
            400,
        ),
        (
            "empty records",
            Some(BINARY),
            json!({"records": []}).to_string(),
            422,
            422,
        ),
        (
            "invalid base64",
            Some(BINARY),
            json!({"records": [{"value": "bG9ncw=="}, {"value": "not base64!"}]}).to_string(),
            400,
            400,
        ),
        (
            "binary value not a string",
            Some(BINARY),
            json!({"records": [{"value": 12}]}).to_string(),
            400,
            400,
        ),
        (
            "unsupported request type",
            Some("text/plain"),
            json!({"records": [{"value": "eA=="}]}).to_string(),
            415,
            415,
        ),
        (
            "v1 type on v2 endpoint",
            Some("application/vnd.kafka.binary.v1+json"),
            json!({"records": [{"value": "eA=="}]}).to_string(),
            415,
            415,
        ),
        (
            "avro without value schema",
            Some("application/vnd.kafka.avro.v2+json"),
            json!({"records": [{"value": 1}]}).to_string(),
            422,
            42202,
        ),
        (
            "avro without key schema",
            Some("application/vnd.kafka.avro.v2+json"),
            json!({"value_schema": "\"int\"", "records": [{"key": 1, "value": 1}]}).to_string(),
            422,
            42201,
        ),
        (
            "avro before the registry exists",
            Some("application/vnd.kafka.avro.v2+json"),
            json!({"value_schema": "\"int\"", "records": [{"value": 1}]}).to_string(),
            415,
            415,
        ),
        (
            "body over the limit",
            Some(BINARY),
            json!({"records": [{"value": "A".repeat(8192)}]}).to_string(),
            413,
            413,
        ),
    ];
    for (what, ct, body, status, code) in cases {
        let (got_status, _, resp) = post(&cluster, &to_topic, ct, body).await;
        assert_eq!(got_status, status, "{what}: {resp}");
        assert_eq!(resp["error_code"], json!(code), "{what}: {resp}");
        assert!(
            resp["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {resp}"
        );
    }

    // Unknown topic and partition.
    let ok_body = json!({"records": [{"value": "eA=="}]}).to_string();
    let missing = unique_name("produce-missing");
    let (status, _, resp) = post(
        &cluster,
        &format!("/topics/{missing}"),
        Some(BINARY),
        ok_body.clone(),
    )
    .await;
    assert_eq!(
        (status, resp["error_code"].clone()),
        (404, json!(40401)),
        "{resp}"
    );
    let (status, _, resp) = post(
        &cluster,
        &format!("/topics/{missing}/partitions/0"),
        Some(BINARY),
        ok_body.clone(),
    )
    .await;
    assert_eq!(
        (status, resp["error_code"].clone()),
        (404, json!(40401)),
        "{resp}"
    );
    let (status, _, resp) = post(
        &cluster,
        &format!("/topics/{topic}/partitions/2"),
        Some(BINARY),
        ok_body.clone(),
    )
    .await;
    assert_eq!(
        (status, resp["error_code"].clone()),
        (404, json!(40402)),
        "{resp}"
    );

    // A record naming a partition the topic lacks fails alone, non-retriably.
    let body =
        json!({"records": [{"value": "eA==", "partition": 7}, {"value": "eQ==", "partition": 0}]});
    let (status, _, resp) = post(&cluster, &to_topic, Some(BINARY), body.to_string()).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["offsets"][0]["error_code"], 1, "{resp}");
    assert!(resp["offsets"][0]["error"].is_string());
    assert_eq!(resp["offsets"][0]["offset"], Value::Null);
    assert_eq!(resp["offsets"][1]["partition"], 0);
    assert_eq!(resp["offsets"][1]["error_code"], Value::Null);

    // Only that last good record is in Kafka: every rejected request wrote nothing.
    let landed = cluster.consume_all(&topic, 1, WAIT).await;
    assert_eq!(landed.len(), 1, "{landed:?}");
    assert_eq!(landed[0].value.as_deref(), Some(&b"y"[..]));
    // The missing topic was not created on the way.
    assert!(cluster.kafka().topic(&missing).await.is_err());

    // Nothing acceptable to answer with.
    let resp = cluster
        .http()
        .post(format!("{}{to_topic}", cluster.rest_url()))
        .header("Accept", "text/html")
        .header("Content-Type", BINARY)
        .body(ok_body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 406);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_cluster_is_a_retriable_error() {
    if kgate_testkit::skip_unless_embedded("stops the broker") {
        return;
    }
    let mut cluster = TestCluster::builder()
        .producer_property("message.timeout.ms", "1500")
        .start()
        .await;
    let topic = unique_name("produce-gone");
    cluster.create_topic(&topic, 1).await;
    let body = json!({"records": [{"value": "eA=="}]}).to_string();
    let (status, _, resp) = post(
        &cluster,
        &format!("/topics/{topic}"),
        Some(BINARY),
        body.clone(),
    )
    .await;
    assert_eq!(status, 200, "{resp}");

    cluster.stop_broker().await;
    let (status, _, resp) = post(&cluster, &format!("/topics/{topic}"), Some(BINARY), body).await;
    // Depending on whether kgate's metadata snapshot is still fresh, the record times out
    // (error_code 2 for that record) or the metadata lookup does (50003 for the request):
    // either way the client is told that retrying may work.
    match status {
        200 => {
            assert_eq!(resp["offsets"][0]["error_code"], 2, "{resp}");
            assert_eq!(resp["offsets"][0]["offset"], Value::Null, "{resp}");
        }
        500 => assert_eq!(resp["error_code"], 50003, "{resp}"),
        other => panic!("unexpected status {other}: {resp}"),
    }
    cluster.stop().await;
}
