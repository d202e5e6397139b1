//! REST v2 faults found by peers' test suites and by hostile clients: each test sends
//! the request through the real REST Proxy and checks, with rdkafka, what landed in (or
//! stayed out of) the embedded broker.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kgate_testkit::kgate_rest::RestConfig;
use kgate_testkit::{TestCluster, text_answer, unique_name};
use serde_json::{Value, json};

const V2: &str = "application/vnd.kafka.v2+json";
const BINARY: &str = "application/vnd.kafka.binary.v2+json";
const JSON: &str = "application/vnd.kafka.json.v2+json";
const WAIT: Duration = Duration::from_secs(30);

/// Status, content type and JSON body (`Null` when empty) of an answer.
async fn send(req: reqwest::RequestBuilder) -> (u16, String, Value) {
    let (status, content_type, text) = text_answer(req).await;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, content_type, body)
}

async fn post(cluster: &TestCluster, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    let (status, _, body) = send(
        cluster
            .http()
            .post(format!("{}{path}", cluster.rest_url()))
            .header("Content-Type", content_type)
            .header("Accept", V2)
            .body(body.to_string()),
    )
    .await;
    (status, body)
}

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: u64) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error_code"], json!(want_code), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Creates a consumer instance in `group`; returns its path.
async fn consumer(cluster: &TestCluster, group: &str, config: Value) -> String {
    let (status, body) = post(
        cluster,
        &format!("/consumers/{group}"),
        V2,
        &config.to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["instance_id"].as_str().expect("instance_id");
    format!("/consumers/{group}/instances/{id}")
}

/// Reads from an instance; status and body.
async fn read(cluster: &TestCluster, instance: &str, accept: &str) -> (u16, Value) {
    let (status, _, body) = send(
        cluster
            .http()
            .get(format!(
                "{}{instance}/records?timeout=500",
                cluster.rest_url()
            ))
            .header("Accept", accept),
    )
    .await;
    (status, body)
}

/// The committed offset of one partition, as the group's coordinator has it.
async fn committed(cluster: &TestCluster, instance: &str, topic: &str) -> Option<i64> {
    let (status, _, body) = send(
        cluster
            .http()
            .get(format!("{}{instance}/offsets", cluster.rest_url()))
            .header("Content-Type", V2)
            .header("Accept", V2)
            .body(json!({"partitions": [{"topic": topic, "partition": 0}]}).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["offsets"]
        .as_array()
        .and_then(|o| o.first())
        .and_then(|o| o["offset"].as_i64())
}

/// Reads until `count` records arrived; their offsets.
async fn read_offsets(
    cluster: &TestCluster,
    instance: &str,
    accept: &str,
    count: usize,
) -> Vec<i64> {
    let deadline = Instant::now() + WAIT;
    let mut offsets = Vec::new();
    while offsets.len() < count {
        assert!(Instant::now() < deadline, "only {offsets:?} arrived");
        let (status, body) = read(cluster, instance, accept).await;
        assert_eq!(status, 200, "{body}");
        for r in body.as_array().expect("records") {
            offsets.push(r["offset"].as_i64().expect("offset"));
        }
    }
    offsets
}

#[tokio::test]
async fn offsets_commit_forms_match_confluent() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("commit-forms");
    cluster.create_topic(&topic, 1).await;
    for i in 0..3u8 {
        cluster.produce(&topic, Some(0), None, Some(&[i])).await;
    }
    let group = unique_name("g");
    let instance = consumer(
        &cluster,
        &group,
        json!({"auto.commit.enable": "false", "auto.offset.reset": "earliest"}),
    )
    .await;
    let (status, body) = post(
        &cluster,
        &format!("{instance}/assignments"),
        V2,
        &json!({"partitions": [{"topic": topic, "partition": "0"}]}).to_string(),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        read_offsets(&cluster, &instance, BINARY, 3).await,
        vec![0, 1, 2]
    );

    // An empty list commits nothing, as Confluent's proxy does.
    let offsets = format!("{instance}/offsets");
    let (status, body) = post(&cluster, &offsets, V2, r#"{"offsets": []}"#).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(committed(&cluster, &instance, &topic).await, None);
    // `{}` (no offsets) commits every record read so far.
    let (status, body) = post(&cluster, &offsets, V2, "{}").await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(committed(&cluster, &instance, &topic).await, Some(3));
    // So does an empty body.
    cluster.produce(&topic, Some(0), None, Some(b"3")).await;
    assert_eq!(read_offsets(&cluster, &instance, BINARY, 1).await, vec![3]);
    let (status, body) = post(&cluster, &offsets, V2, "").await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(committed(&cluster, &instance, &topic).await, Some(4));

    // Unknown topics and partitions are named, and nothing is committed.
    let (status, body) = post(
        &cluster,
        &offsets,
        V2,
        &json!({"offsets": [{"topic": "no-such-topic", "partition": 0, "offset": 1}]}).to_string(),
    )
    .await;
    assert_error(status, &body, 404, 40401);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("no-such-topic"),
        "{body}"
    );
    let (status, body) = post(
        &cluster,
        &offsets,
        V2,
        &json!({"offsets": [{"topic": topic, "partition": 2_000_000_000, "offset": 1}]})
            .to_string(),
    )
    .await;
    assert_error(status, &body, 404, 40402);
    // Numeric strings are integers, as Jackson reads them.
    let (status, body) = post(
        &cluster,
        &offsets,
        V2,
        &json!({"offsets": [{"topic": topic, "partition": "0", "offset": "0"}]}).to_string(),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(committed(&cluster, &instance, &topic).await, Some(1));
    cluster.stop().await;
}

#[tokio::test]
async fn produce_refuses_records_that_would_land_wrong() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("produce-shapes");
    cluster.create_topic(&topic, 2).await;
    let path = format!("/topics/{topic}");
    // A misspelt field: refused (400, a mapping error as in Confluent), not a null value.
    let (status, body) = post(&cluster, &path, JSON, r#"{"records":[{"valur":{"a":1}}]}"#).await;
    assert_error(status, &body, 400, 400);
    assert!(
        body["message"].as_str().unwrap_or("").contains("valur"),
        "{body}"
    );
    // Neither key nor value: 422.
    let (status, body) = post(&cluster, &path, JSON, r#"{"records":[{"partition":0}]}"#).await;
    assert_error(status, &body, 422, 422);
    // `records` of the wrong type: 400, as Confluent's Jackson mapping answers.
    for bad in [
        r#"{"records":"x"}"#,
        r#"{"records":["a","b"]}"#,
        r#"{"records":5}"#,
    ] {
        let (status, body) = post(&cluster, &path, JSON, bad).await;
        assert_error(status, &body, 400, 400);
    }
    // An unknown top-level field is refused too.
    let (status, body) = post(
        &cluster,
        &path,
        JSON,
        r#"{"records":[{"value":1}],"extra":1}"#,
    )
    .await;
    assert_error(status, &body, 400, 400);
    // An explicit null value is a record; a partition given as a numeric string is taken.
    let (status, body) = post(
        &cluster,
        &path,
        JSON,
        r#"{"records":[{"value":null,"partition":"1"},{"key":"k","value":{"a":1},"partition":"1"}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offsets"][0]["partition"], json!(1), "{body}");
    let landed = cluster.consume_all(&topic, 2, WAIT).await;
    assert_eq!(landed.len(), 2, "only the two good records landed");
    assert!(landed.iter().all(|r| r.partition == 1));
    assert_eq!(landed[0].value, None);
    assert_eq!(landed[1].value.as_deref(), Some(&br#"{"a":1}"#[..]));
    cluster.stop().await;
}

#[tokio::test]
async fn value_schema_id_may_be_a_numeric_string() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let topic = unique_name("schema-id-string");
    cluster.create_topic(&topic, 1).await;
    let avro = "application/vnd.kafka.avro.v2+json";
    let schema = r#"{"type":"record","name":"R","fields":[{"name":"n","type":"int"}]}"#;
    let path = format!("/topics/{topic}");
    let first = json!({"value_schema": schema, "records": [{"value": {"n": 1}}]});
    let (status, body) = post(&cluster, &path, avro, &first.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let id = body["value_schema_id"].as_i64().expect("schema id");
    let second = json!({"value_schema_id": id.to_string(), "records": [{"value": {"n": 2}}]});
    let (status, body) = post(&cluster, &path, avro, &second.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value_schema_id"], json!(id), "{body}");
    let landed = cluster.consume_all(&topic, 2, WAIT).await;
    assert_eq!(landed.len(), 2);
    // Confluent's wire format: magic byte, then the schema id.
    let value = landed[1].value.as_deref().expect("value");
    assert_eq!(
        i64::from(i32::from_be_bytes([value[1], value[2], value[3], value[4]])),
        id
    );
    cluster.stop().await;
}

#[tokio::test]
async fn accept_is_honoured_everywhere_and_paths_are_forgiving_where_confluent_is() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("accept");
    cluster.create_topic(&topic, 1).await;
    let group = unique_name("g");
    let instance = consumer(&cluster, &group, json!({})).await;
    let url = |path: &str| format!("{}{path}", cluster.rest_url());

    // 204 endpoints refuse an Accept they cannot answer, before doing anything.
    let (status, _, body) = send(
        cluster
            .http()
            .post(url(&format!("{instance}/subscription")))
            .header("Content-Type", V2)
            .header("Accept", "text/html")
            .body(json!({"topics": [topic]}).to_string()),
    )
    .await;
    assert_error(status, &body, 406, 406);
    let (status, _, body) =
        send(cluster.http().get(url(&format!("{instance}/subscription")))).await;
    assert_eq!((status, &body["topics"]), (200, &json!([])), "{body}");
    let (status, _, body) = send(
        cluster
            .http()
            .delete(url(&instance))
            .header("Accept", "text/html"),
    )
    .await;
    assert_error(status, &body, 406, 406);
    for path in [
        "/positions/beginning",
        "/positions/end",
        "/positions",
        "/offsets",
        "/assignments",
    ] {
        let (status, _, body) = send(
            cluster
                .http()
                .post(url(&format!("{instance}{path}")))
                .header("Content-Type", V2)
                .header("Accept", "text/html")
                .body("{}"),
        )
        .await;
        assert_error(status, &body, 406, 406);
    }
    // The instance is still there.
    let (status, _, body) = send(cluster.http().get(url(&format!("{instance}/assignments")))).await;
    assert_eq!(status, 200, "{body}");

    // `*/json` matches application/json.
    let (status, content_type, body) = send(
        cluster
            .http()
            .get(url("/topics"))
            .header("Accept", "*/json"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "application/json");

    // A trailing slash is tolerated (as Confluent's router does); a doubled one is a
    // 404 that says why.
    let (status, _, body) = send(
        cluster
            .http()
            .get(url(&format!("{instance}/subscription/"))),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = send(
        cluster
            .http()
            .post(url(&format!("{instance}/positions//beginning")))
            .header("Content-Type", V2)
            .body("{}"),
    )
    .await;
    assert_error(status, &body, 404, 404);
    assert!(
        body["message"].as_str().unwrap_or("").contains("//"),
        "{body}"
    );

    // A partition that is not a number: 404 naming it.
    let (status, _, body) = send(
        cluster
            .http()
            .get(url(&format!("/topics/{topic}/partitions/foo/offsets"))),
    )
    .await;
    assert_error(status, &body, 404, 40402);
    assert!(
        body["message"].as_str().unwrap_or("").contains("\"foo\""),
        "{body}"
    );
    assert!(
        !body["message"]
            .as_str()
            .unwrap_or("")
            .contains("Partition -1"),
        "{body}"
    );

    let (status, _, body) = send(cluster.http().delete(url(&format!("{instance}/")))).await;
    assert_eq!(status, 204, "{body}");
    cluster.stop().await;
}

#[tokio::test]
async fn consumed_records_carry_their_timestamp() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("timestamps");
    cluster.create_topic(&topic, 1).await;
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    };
    let before = now();
    cluster.produce(&topic, Some(0), None, Some(b"1")).await;
    cluster.produce(&topic, Some(0), None, Some(b"\"x\"")).await;
    let after = now();
    for (format, accept) in [("binary", BINARY), ("json", JSON)] {
        let group = unique_name("g");
        let instance = consumer(
            &cluster,
            &group,
            json!({"format": format, "auto.offset.reset": "earliest"}),
        )
        .await;
        let (status, body) = post(
            &cluster,
            &format!("{instance}/subscription"),
            V2,
            &json!({"topics": [topic]}).to_string(),
        )
        .await;
        assert_eq!(status, 204, "{body}");
        let deadline = Instant::now() + WAIT;
        let records = loop {
            let (status, body) = read(&cluster, &instance, accept).await;
            assert_eq!(status, 200, "{body}");
            if body.as_array().is_some_and(|a| a.len() == 2) {
                break body;
            }
            assert!(Instant::now() < deadline, "{body}");
        };
        for r in records.as_array().into_iter().flatten() {
            let ts = r["timestamp"]
                .as_i64()
                .unwrap_or_else(|| panic!("no timestamp: {r}"));
            assert!(
                (before..=after).contains(&ts),
                "{ts} not in {before}..={after}"
            );
        }
    }
    cluster.stop().await;
}

#[tokio::test]
async fn undecodable_records_lose_nothing() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("undecodable");
    cluster.create_topic(&topic, 1).await;
    for value in [
        &br#"{"a":1}"#[..],
        br#"{"a":2}"#,
        b"not json{",
        br#"{"a":4}"#,
    ] {
        cluster.produce(&topic, Some(0), None, Some(value)).await;
    }
    let group = unique_name("g");
    let instance = consumer(
        &cluster,
        &group,
        json!({"format": "json", "auto.commit.enable": "false", "auto.offset.reset": "earliest"}),
    )
    .await;
    let (status, body) = post(
        &cluster,
        &format!("{instance}/assignments"),
        V2,
        &json!({"partitions": [{"topic": topic, "partition": 0}]}).to_string(),
    )
    .await;
    assert_eq!(status, 204, "{body}");

    // The good records before the bad one come first; then the bad one is an error that
    // names it; nothing after it is delivered, however often the client reads.
    let deadline = Instant::now() + WAIT;
    let mut good = Vec::new();
    let error = loop {
        assert!(Instant::now() < deadline, "no error; read {good:?}");
        let (status, body) = read(&cluster, &instance, JSON).await;
        if status == 200 {
            for r in body.as_array().expect("records") {
                good.push(r["value"].clone());
            }
            continue;
        }
        break (status, body);
    };
    assert_eq!(good, vec![json!({"a": 1}), json!({"a": 2})]);
    let (status, body) = error;
    assert_error(status, &body, 422, 42206);
    let message = body["message"].as_str().unwrap_or("");
    assert!(
        message.contains("offset 2") && message.contains("partition 0"),
        "{message}"
    );
    let (status, body) = read(&cluster, &instance, JSON).await;
    assert_error(status, &body, 422, 42206);
    // Committing what was delivered commits up to the bad record, not past it.
    let (status, body) = post(&cluster, &format!("{instance}/offsets"), V2, "").await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(committed(&cluster, &instance, &topic).await, Some(2));
    // Seeking past it goes on with the record after it.
    let (status, body) = post(
        &cluster,
        &format!("{instance}/positions"),
        V2,
        &json!({"offsets": [{"topic": topic, "partition": 0, "offset": 3}]}).to_string(),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = read(&cluster, &instance, JSON).await;
        assert_eq!(status, 200, "{body}");
        if let Some(r) = body.as_array().and_then(|a| a.first()) {
            assert_eq!(
                (&r["offset"], &r["value"]),
                (&json!(3), &json!({"a": 4})),
                "{body}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the record after the bad one never came"
        );
    }
    cluster.stop().await;
}

#[tokio::test]
async fn client_strings_are_checked_where_they_enter() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("strings");
    cluster.create_topic(&topic, 1).await;
    // A group name with NUL, or longer than a Kafka string: 42204, and the proxy goes on.
    let (status, body) = post(&cluster, "/consumers/bad%00group", V2, "{}").await;
    assert_error(status, &body, 422, 42204);
    let long = "g".repeat(32_768);
    let (status, body) = post(&cluster, &format!("/consumers/{long}"), V2, "{}").await;
    assert_error(status, &body, 422, 42204);

    let instance = consumer(&cluster, &unique_name("g"), json!({})).await;
    // Topic names with NUL in a subscription or a seek: 400, and the instance lives on.
    let (status, body) = post(
        &cluster,
        &format!("{instance}/subscription"),
        V2,
        &json!({"topics": ["a\u{0}b"]}).to_string(),
    )
    .await;
    assert_error(status, &body, 400, 400);
    let (status, body) = post(
        &cluster,
        &format!("{instance}/subscription"),
        V2,
        &json!({"topics": [topic]}).to_string(),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = post(
        &cluster,
        &format!("{instance}/positions/beginning"),
        V2,
        &json!({"partitions": [{"topic": "x\u{0}", "partition": 0}]}).to_string(),
    )
    .await;
    assert_error(status, &body, 400, 400);
    let (status, body) = read(&cluster, &instance, BINARY).await;
    assert_eq!(status, 200, "{body}");
    // An unknown topic with NUL in a commit: 40401.
    let (status, body) = post(
        &cluster,
        &format!("{instance}/offsets"),
        V2,
        &json!({"offsets": [{"topic": "x\u{0}", "partition": 0, "offset": 0}]}).to_string(),
    )
    .await;
    assert_error(status, &body, 404, 40401);
    cluster.stop().await;
}

#[tokio::test]
async fn consumer_instances_are_capped() {
    let cluster = TestCluster::builder()
        .rest_config(RestConfig {
            consumer_instances_max: 2,
            ..RestConfig::default()
        })
        .start()
        .await;
    let group = unique_name("g");
    let first = consumer(&cluster, &group, json!({"name": "one"})).await;
    consumer(&cluster, &group, json!({"name": "two"})).await;
    let (status, body) = post(
        &cluster,
        &format!("/consumers/{group}"),
        V2,
        r#"{"name":"three"}"#,
    )
    .await;
    assert_error(status, &body, 429, 42901);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("consumer.instances.max"),
        "{body}"
    );
    let (status, _, body) = send(
        cluster
            .http()
            .delete(format!("{}{first}", cluster.rest_url())),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    consumer(&cluster, &group, json!({"name": "three"})).await;
    cluster.stop().await;
}

#[tokio::test]
async fn internal_topics_are_refused_unless_allowed() {
    let cluster = TestCluster::builder()
        .rest_config(RestConfig {
            internal_topics: vec![
                "_schemas".into(),
                "__consumer_offsets".into(),
                "guarded-*".into(),
            ],
            ..RestConfig::default()
        })
        .start()
        .await;
    let guarded = unique_name("guarded");
    cluster.create_topic(&guarded, 1).await;
    for topic in [guarded.as_str(), "_schemas", "__consumer_offsets"] {
        let (status, body) = post(
            &cluster,
            &format!("/topics/{topic}"),
            BINARY,
            r#"{"records":[{"value":"AA=="}]}"#,
        )
        .await;
        assert_error(status, &body, 403, 40301);
        let (status, body) = post(
            &cluster,
            &format!("/topics/{topic}/partitions/0"),
            BINARY,
            r#"{"records":[{"value":"AA=="}]}"#,
        )
        .await;
        assert_error(status, &body, 403, 40301);
    }
    assert!(
        cluster
            .consume_all(&guarded, 0, Duration::from_secs(2))
            .await
            .is_empty()
    );
    cluster.stop().await;
}

#[tokio::test]
async fn the_host_header_is_checked_before_it_is_reflected() {
    let cluster = TestCluster::start().await;
    let group = unique_name("g");
    let create = |host: &'static str| {
        cluster
            .http()
            .post(format!("{}/consumers/{group}", cluster.rest_url()))
            .header("Content-Type", V2)
            .header("Host", host)
            .body("{}")
    };
    let (status, _, body) = send(create("proxy.example.com:8082")).await;
    assert_eq!(status, 200, "{body}");
    let base = body["base_uri"].as_str().unwrap_or("");
    assert!(
        base.starts_with(&format!(
            "http://proxy.example.com:8082/consumers/{group}/instances/"
        )),
        "{base}"
    );
    for bad in ["evil.com/phish?", "a b", "x:99999"] {
        let (status, _, body) = send(create(bad)).await;
        assert_error(status, &body, 400, 400);
    }
    cluster.stop().await;
}
