//! v2 consumer instances (`/consumers/...`) against the embedded broker: records are
//! produced with rdkafka and read back through the REST Proxy.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kgate_testkit::kgate_rest::RestConfig;
use kgate_testkit::{TestCluster, text_answer, unique_name};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use serde_json::{Value, json};

const V2: &str = "application/vnd.kafka.v2+json";
const BINARY: &str = "application/vnd.kafka.binary.v2+json";
const JSON: &str = "application/vnd.kafka.json.v2+json";
const WAIT: Duration = Duration::from_secs(30);

/// A response: status, content type, body (JSON, or `Null` when empty).
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let (status, content_type, text) = text_answer(req).await;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    Answer {
        status,
        content_type,
        body,
    }
}

async fn post(cluster: &TestCluster, url: &str, body: Value) -> Answer {
    send(
        cluster
            .http()
            .post(url)
            .header("Content-Type", V2)
            .header("Accept", V2)
            .body(body.to_string()),
    )
    .await
}

async fn get_with_body(cluster: &TestCluster, url: &str, body: Value) -> Answer {
    send(
        cluster
            .http()
            .get(url)
            .header("Content-Type", V2)
            .header("Accept", V2)
            .body(body.to_string()),
    )
    .await
}

async fn get(cluster: &TestCluster, url: &str, accept: &str) -> Answer {
    send(cluster.http().get(url).header("Accept", accept)).await
}

async fn delete(cluster: &TestCluster, url: &str) -> Answer {
    send(cluster.http().delete(url).header("Accept", V2)).await
}

fn assert_error(answer: &Answer, status: u16, code: u64) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error_code"], json!(code), "{}", answer.body);
    assert!(
        answer.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        answer.body
    );
}

/// Creates a consumer instance and returns its base URI.
async fn create_consumer(cluster: &TestCluster, group: &str, body: Value) -> String {
    let answer = post(
        cluster,
        &format!("{}/consumers/{group}", cluster.rest_url()),
        body,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type, V2);
    let id = answer.body["instance_id"].as_str().expect("instance_id");
    let base = answer.body["base_uri"]
        .as_str()
        .expect("base_uri")
        .to_string();
    assert_eq!(
        base,
        format!("{}/consumers/{group}/instances/{id}", cluster.rest_url())
    );
    base
}

/// One records request; panics unless it is a 200 with a JSON array.
async fn read(cluster: &TestCluster, base: &str, accept: &str, query: &str) -> Vec<Value> {
    let answer = get(cluster, &format!("{base}/records?{query}"), accept).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type, accept);
    answer.body.as_array().expect("records array").clone()
}

/// Reads until at least `count` records arrived (panics after [`WAIT`]).
async fn read_at_least(
    cluster: &TestCluster,
    base: &str,
    accept: &str,
    count: usize,
) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records read: {out:?}",
            out.len()
        );
        out.extend(read(cluster, base, accept, "timeout=500").await);
    }
    without_timestamps(out)
}

/// Removes each record's `timestamp` (the record's own, which tests cannot know in
/// advance), checking that it is there.
fn without_timestamps(records: Vec<Value>) -> Vec<Value> {
    records
        .into_iter()
        .map(|mut r| {
            let ts = r.as_object_mut().and_then(|o| o.remove("timestamp"));
            assert!(
                ts.as_ref().is_some_and(Value::is_i64),
                "no timestamp in {r}"
            );
            r
        })
        .collect()
}

/// The client ids of the members of `group`, as the broker's group coordinator reports
/// them.
async fn group_members(cluster: &TestCluster, group: &str) -> Vec<String> {
    let bootstrap = cluster.bootstrap();
    let group = group.to_string();
    tokio::task::spawn_blocking(move || {
        let client: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .expect("create a group lookup client");
        let list = rdkafka::consumer::Consumer::fetch_group_list(&client, Some(&group), WAIT)
            .expect("describe the group");
        list.groups()
            .iter()
            .flat_map(|g| g.members().iter().map(|m| m.client_id().to_string()))
            .collect()
    })
    .await
    .expect("group lookup task")
}

/// Waits until `group` has `count` members (panics after [`WAIT`]).
async fn wait_for_members(cluster: &TestCluster, group: &str, count: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let members = group_members(cluster, group).await;
        if members.len() == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "group {group} has members {members:?}, expected {count}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn b64(text: &str) -> Value {
    json!(kgate_formats_b64(text.as_bytes()))
}

fn kgate_formats_b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Produces `value` with `key` to `partition`, with headers, using rdkafka directly.
async fn produce_with_headers(
    cluster: &TestCluster,
    topic: &str,
    partition: i32,
    key: &str,
    value: &[u8],
    headers: &[(&str, Option<&[u8]>)],
) -> i64 {
    let mut owned = OwnedHeaders::new();
    for (name, value) in headers {
        owned = owned.insert(Header {
            key: name,
            value: *value,
        });
    }
    let record = FutureRecord::to(topic)
        .partition(partition)
        .key(key.as_bytes())
        .payload(value)
        .headers(owned);
    let (_, offset) = cluster
        .producer()
        .send(record, WAIT)
        .await
        .map(|d| (d.partition, d.offset))
        .unwrap_or_else(|(e, _)| panic!("produce: {e}"));
    offset
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_named_or_generated_and_names_are_unique() {
    let cluster = TestCluster::start().await;
    let group = unique_name("create-group");
    let base = create_consumer(
        &cluster,
        &group,
        json!({"name": "my_consumer", "format": "binary"}),
    )
    .await;
    assert!(base.ends_with("/instances/my_consumer"), "{base}");

    // The reference's example posts to the group with a trailing slash.
    let answer = post(
        &cluster,
        &format!("{}/consumers/{group}/", cluster.rest_url()),
        json!({}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let generated = answer.body["instance_id"].as_str().unwrap();
    assert!(generated.starts_with("rest-consumer-"), "{generated}");

    let duplicate = post(
        &cluster,
        &format!("{}/consumers/{group}", cluster.rest_url()),
        json!({"name": "my_consumer"}),
    )
    .await;
    assert_error(&duplicate, 409, 40902);

    // The same name in another group is another instance; `id` is the older `name`.
    let other = unique_name("create-other");
    create_consumer(&cluster, &other, json!({"name": "my_consumer"})).await;
    let legacy = create_consumer(&cluster, &other, json!({"id": "legacy"})).await;
    assert!(legacy.ends_with("/instances/legacy"), "{legacy}");

    assert_eq!(delete(&cluster, &base).await.status, 204);
    assert_error(&delete(&cluster, &base).await, 404, 40403);
    // Once deleted, the name is free again.
    create_consumer(&cluster, &group, json!({"name": "my_consumer"})).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_consumer_settings_are_42204() {
    let cluster = TestCluster::start().await;
    let url = format!(
        "{}/consumers/{}",
        cluster.rest_url(),
        unique_name("bad-settings")
    );
    for body in [
        json!({"format": "xml"}),
        json!({"format": "avro"}),
        json!({"format": "protobuf"}),
        json!({"format": "jsonschema"}),
        json!({"auto.offset.reset": "sometimes"}),
        json!({"auto.commit.enable": "perhaps"}),
        json!({"fetch.min.bytes": "many"}),
        // A number librdkafka refuses.
        json!({"fetch.min.bytes": "900000000000"}),
        json!({"consumer.request.timeout.ms": "soon"}),
        json!({"name": "a/b"}),
    ] {
        let answer = post(&cluster, &url, body.clone()).await;
        assert_error(&answer, 422, 42204);
        if body["format"] == json!("avro") {
            let message = answer.body["message"].as_str().unwrap();
            assert!(message.contains("avro"), "{message}");
        }
    }
    let malformed = send(
        cluster
            .http()
            .post(&url)
            .header("Content-Type", V2)
            .body("{not json"),
    )
    .await;
    assert_error(&malformed, 400, 400);
    let wrong_type = send(
        cluster
            .http()
            .post(&url)
            .header("Content-Type", "text/plain")
            .body("{}"),
    )
    .await;
    assert_eq!(wrong_type.status, 415, "{}", wrong_type.body);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_uri_uses_the_advertised_listener() {
    let cluster = TestCluster::builder()
        .rest_config(RestConfig {
            advertised_base_uri: Some("http://proxy-instance.example.com:8082/".to_string()),
            ..RestConfig::default()
        })
        .start()
        .await;
    let answer = post(
        &cluster,
        &format!("{}/consumers/adv", cluster.rest_url()),
        json!({"name": "c1"}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body["base_uri"],
        json!("http://proxy-instance.example.com:8082/consumers/adv/instances/c1")
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_binary_consumer_reads_headers_and_commits() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("consume-binary");
    cluster.create_topic(&topic, 1).await;
    let group = unique_name("binary-group");
    let base = create_consumer(
        &cluster,
        &group,
        json!({"name": "c", "format": "binary", "auto.offset.reset": "earliest", "auto.commit.enable": "false"}),
    )
    .await;

    let answer = post(
        &cluster,
        &format!("{base}/subscription"),
        json!({"topics": [topic]}),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let answer = get(&cluster, &format!("{base}/subscription"), V2).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, json!({"topics": [topic]}));

    produce_with_headers(
        &cluster,
        &topic,
        0,
        "key",
        b"confluent",
        &[("h1", Some(b"v1")), ("h2", None)],
    )
    .await;
    cluster.produce(&topic, Some(0), None, Some(b"kafka")).await;
    cluster.produce(&topic, Some(0), Some(b"k3"), None).await;

    let records = read_at_least(&cluster, &base, BINARY, 3).await;
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(
        records[0],
        json!({
            "topic": topic, "key": b64("key"), "value": b64("confluent"),
            "partition": 0, "offset": 0,
            "headers": [{"name": "h1", "value": b64("v1")}, {"name": "h2", "value": null}],
        })
    );
    assert_eq!(
        records[1],
        json!({"topic": topic, "key": null, "value": b64("kafka"), "partition": 0, "offset": 1})
    );
    assert_eq!(
        records[2],
        json!({"topic": topic, "key": b64("k3"), "value": null, "partition": 0, "offset": 2})
    );

    // Nothing is committed until asked; an empty body commits everything read.
    let partitions = json!({"partitions": [{"topic": topic, "partition": 0}]});
    let answer = get_with_body(&cluster, &format!("{base}/offsets"), partitions.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body, json!({"offsets": []}));
    let answer = send(
        cluster
            .http()
            .post(format!("{base}/offsets"))
            .header("Content-Type", V2),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let answer = get_with_body(&cluster, &format!("{base}/offsets"), partitions).await;
    assert_eq!(
        answer.body,
        json!({"offsets": [{"topic": topic, "partition": 0, "offset": 3, "metadata": ""}]})
    );

    // A wrong Accept format is 40601; an unacceptable type is 406.
    let answer = get(&cluster, &format!("{base}/records"), JSON).await;
    assert_error(&answer, 406, 40601);
    let answer = get(&cluster, &format!("{base}/records"), "text/html").await;
    assert_eq!(answer.status, 406);

    // A new instance of the group continues after the committed offset.
    assert_eq!(delete(&cluster, &base).await.status, 204);
    assert_error(
        &get(&cluster, &format!("{base}/records"), BINARY).await,
        404,
        40403,
    );
    let base = create_consumer(
        &cluster,
        &group,
        json!({"name": "c2", "auto.offset.reset": "earliest"}),
    )
    .await;
    post(
        &cluster,
        &format!("{base}/subscription"),
        json!({"topics": [topic]}),
    )
    .await;
    cluster
        .produce(&topic, Some(0), None, Some(b"fourth"))
        .await;
    let records = read_at_least(&cluster, &base, BINARY, 1).await;
    assert_eq!(records[0]["offset"], json!(3), "{records:?}");
    assert_eq!(records[0]["value"], b64("fourth"));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_consumer_embeds_json_and_checks_accept() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("consume-json");
    cluster.create_topic(&topic, 1).await;
    let group = unique_name("json-group");
    let base = create_consumer(
        &cluster,
        &group,
        json!({"format": "json", "auto.offset.reset": "earliest"}),
    )
    .await;
    post(
        &cluster,
        &format!("{base}/subscription"),
        json!({"topics": [topic]}),
    )
    .await;
    cluster
        .produce(
            &topic,
            Some(0),
            Some(br#""somekey""#),
            Some(br#"{"foo":"bar"}"#),
        )
        .await;
    cluster
        .produce(&topic, Some(0), None, Some(br#"["foo","bar"]"#))
        .await;

    let answer = get(&cluster, &format!("{base}/records"), BINARY).await;
    assert_error(&answer, 406, 40601);

    let records = read_at_least(&cluster, &base, JSON, 2).await;
    assert_eq!(
        records,
        vec![
            json!({"topic": topic, "key": "somekey", "value": {"foo": "bar"}, "partition": 0, "offset": 0}),
            json!({"topic": topic, "key": null, "value": ["foo", "bar"], "partition": 0, "offset": 1}),
        ]
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_pattern_subscription_reads_every_matching_topic() {
    let cluster = TestCluster::start().await;
    let prefix = unique_name("pattern").replace('-', "_");
    let (a, b, other) = (
        format!("{prefix}_a"),
        format!("{prefix}_b"),
        format!("x{prefix}_c"),
    );
    for t in [&a, &b, &other] {
        cluster.create_topic(t, 1).await;
        cluster.produce(t, Some(0), None, Some(t.as_bytes())).await;
    }
    let base = create_consumer(
        &cluster,
        &unique_name("pattern-group"),
        json!({"auto.offset.reset": "earliest"}),
    )
    .await;
    let answer = post(
        &cluster,
        &format!("{base}/subscription"),
        json!({"topic_pattern": format!("{prefix}_.*")}),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let answer = get(&cluster, &format!("{base}/subscription"), V2).await;
    assert_eq!(answer.body, json!({"topics": [a, b]}));

    let records = read_at_least(&cluster, &base, BINARY, 2).await;
    let topics: BTreeSet<&str> = records
        .iter()
        .map(|r| r["topic"].as_str().unwrap())
        .collect();
    assert_eq!(topics, BTreeSet::from([a.as_str(), b.as_str()]));
    // The non-matching topic never shows up.
    let more = read(&cluster, &base, BINARY, "timeout=500").await;
    assert!(more.is_empty(), "{more:?}");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_rules_and_unsubscribe() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("sub-rules");
    cluster.create_topic(&topic, 2).await;
    let base = create_consumer(&cluster, &unique_name("rules-group"), json!({})).await;

    let both = post(
        &cluster,
        &format!("{base}/subscription"),
        json!({"topics": [topic], "topic_pattern": "x.*"}),
    )
    .await;
    assert_error(&both, 409, 40903);
    let neither = post(&cluster, &format!("{base}/subscription"), json!({})).await;
    assert_error(&neither, 422, 422);
    let bad_pattern = post(
        &cluster,
        &format!("{base}/subscription"),
        json!({"topic_pattern": "(("}),
    )
    .await;
    assert_error(&bad_pattern, 422, 422);

    assert_eq!(
        post(
            &cluster,
            &format!("{base}/subscription"),
            json!({"topics": [topic]})
        )
        .await
        .status,
        204
    );
    let assign = post(
        &cluster,
        &format!("{base}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    assert_error(&assign, 409, 40903);

    assert_eq!(
        delete(&cluster, &format!("{base}/subscription"))
            .await
            .status,
        204
    );
    let answer = get(&cluster, &format!("{base}/subscription"), V2).await;
    assert_eq!(answer.body, json!({"topics": []}));

    // After unsubscribing, manual assignment is allowed, and then subscribing is not.
    let assign = post(
        &cluster,
        &format!("{base}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    assert_eq!(assign.status, 204, "{}", assign.body);
    let subscribe = post(
        &cluster,
        &format!("{base}/subscription"),
        json!({"topics": [topic]}),
    )
    .await;
    assert_error(&subscribe, 409, 40903);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignments_positions_and_committed_offsets() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("assign");
    cluster.create_topic(&topic, 2).await;
    for i in 0..5 {
        cluster
            .produce(&topic, Some(0), None, Some(format!("p0-{i}").as_bytes()))
            .await;
    }
    cluster.produce(&topic, Some(1), None, Some(b"p1-0")).await;
    let base = create_consumer(
        &cluster,
        &unique_name("assign-group"),
        json!({"auto.offset.reset": "earliest", "auto.commit.enable": "false"}),
    )
    .await;

    let partitions =
        json!({"partitions": [{"topic": topic, "partition": 0}, {"topic": topic, "partition": 1}]});
    let answer = post(&cluster, &format!("{base}/assignments"), partitions.clone()).await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let answer = get(&cluster, &format!("{base}/assignments"), V2).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, partitions);

    // Unknown partitions and topics cannot be assigned.
    let answer = post(
        &cluster,
        &format!("{base}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 7}]}),
    )
    .await;
    assert_error(&answer, 404, 40402);
    let answer = post(
        &cluster,
        &format!("{base}/assignments"),
        json!({"partitions": [{"topic": unique_name("missing"), "partition": 0}]}),
    )
    .await;
    assert_error(&answer, 404, 40401);

    let all = read_at_least(&cluster, &base, BINARY, 6).await;
    assert_eq!(all.len(), 6, "{all:?}");

    // Seek partition 0 to offset 3: the next read of it starts there.
    let answer = post(
        &cluster,
        &format!("{base}/positions"),
        json!({"offsets": [{"topic": topic, "partition": 0, "offset": 3}]}),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let records = read_at_least(&cluster, &base, BINARY, 2).await;
    let offsets: Vec<i64> = records
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, vec![3, 4], "{records:?}");

    // Back to the beginning of both partitions.
    let answer = post(
        &cluster,
        &format!("{base}/positions/beginning"),
        partitions.clone(),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let records = read_at_least(&cluster, &base, BINARY, 6).await;
    assert_eq!(records.len(), 6, "{records:?}");

    // To the end: only records produced afterwards arrive.
    let answer = post(
        &cluster,
        &format!("{base}/positions/end"),
        partitions.clone(),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let none = read(&cluster, &base, BINARY, "timeout=500").await;
    assert!(none.is_empty(), "{none:?}");
    cluster.produce(&topic, Some(1), None, Some(b"p1-1")).await;
    let records = read_at_least(&cluster, &base, BINARY, 1).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        (
            records[0]["partition"].as_i64(),
            records[0]["offset"].as_i64()
        ),
        (Some(1), Some(1))
    );

    // Committing names the last record processed; Kafka keeps the next offset.
    let answer = post(
        &cluster,
        &format!("{base}/offsets"),
        json!({"offsets": [{"topic": topic, "partition": 0, "offset": 20}, {"topic": topic, "partition": 1, "offset": 30}]}),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let answer = get_with_body(&cluster, &format!("{base}/offsets"), partitions.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({"offsets": [
            {"topic": topic, "partition": 0, "offset": 21, "metadata": ""},
            {"topic": topic, "partition": 1, "offset": 31, "metadata": ""},
        ]})
    );
    let answer = get_with_body(
        &cluster,
        &format!("{base}/offsets"),
        json!({"partitions": [{"topic": topic, "partition": 9}]}),
    )
    .await;
    assert_error(&answer, 404, 40402);
    let answer = post(
        &cluster,
        &format!("{base}/positions"),
        json!({"offsets": [{"topic": topic, "partition": 0, "offset": -5}]}),
    )
    .await;
    assert_error(&answer, 422, 422);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_respect_max_bytes_min_bytes_and_timeout() {
    if kgate_testkit::skip_unless_embedded(
        "a difference under study: on Apache Kafka a read with fetch.min.bytes unmet returns after about 1 s instead of its 1.5 s timeout",
    ) {
        return;
    }
    let cluster = TestCluster::builder()
        .rest_config(RestConfig {
            consumer_request_max_bytes: 250,
            ..RestConfig::default()
        })
        .start()
        .await;
    let topic = unique_name("limits");
    cluster.create_topic(&topic, 1).await;
    for i in 0..5u8 {
        cluster
            .produce(&topic, Some(0), None, Some(&[i; 100]))
            .await;
    }
    let group = unique_name("limits-group");
    let base = create_consumer(
        &cluster,
        &group,
        json!({"auto.offset.reset": "earliest", "consumer.request.timeout.ms": 30000}),
    )
    .await;
    post(
        &cluster,
        &format!("{base}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;

    // A record larger than max_bytes still comes, alone.
    fn check(seen: &mut Vec<i64>, batch: &[Value], max: usize) {
        assert!(batch.len() <= max, "{} records over the limit", batch.len());
        seen.extend(batch.iter().map(|r| r["offset"].as_i64().unwrap()));
    }
    let mut seen: Vec<i64> = Vec::new();
    let first = read_at_least(&cluster, &base, BINARY, 1).await;
    check(&mut seen, &first, 2);
    let one = read(&cluster, &base, BINARY, "timeout=5000&max_bytes=10").await;
    assert_eq!(one.len(), 1, "{one:?}");
    check(&mut seen, &one, 1);
    // consumer.request.max.bytes (250) caps a larger max_bytes: at most two 100-byte
    // records per response.
    let deadline = Instant::now() + WAIT;
    while seen.len() < 5 {
        assert!(Instant::now() < deadline, "read only {seen:?}");
        let batch = read(&cluster, &base, BINARY, "timeout=500&max_bytes=100000").await;
        check(&mut seen, &batch, 2);
    }
    assert_eq!(seen, vec![0, 1, 2, 3, 4]);

    // With nothing to read, the request returns at its timeout, far below the
    // instance's 30 s.
    let started = Instant::now();
    let none = read(&cluster, &base, BINARY, "timeout=300").await;
    assert!(none.is_empty(), "{none:?}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    // fetch.min.bytes makes a read wait for more than the 200 bytes available, until its
    // timeout, then return what it has.
    let base = create_consumer(
        &cluster,
        &group,
        json!({"auto.offset.reset": "earliest", "fetch.min.bytes": 100000, "consumer.request.timeout.ms": 30000}),
    )
    .await;
    post(
        &cluster,
        &format!("{base}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    post(
        &cluster,
        &format!("{base}/positions"),
        json!({"offsets": [{"topic": topic, "partition": 0, "offset": 3}]}),
    )
    .await;
    let started = Instant::now();
    let batch = read(&cluster, &base, BINARY, "timeout=1500").await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1400),
        "returned after {waited:?}"
    );
    assert!(batch.len() <= 2, "{batch:?}");
    let bad = get(&cluster, &format!("{base}/records?timeout=soon"), BINARY).await;
    assert_error(&bad, 400, 400);

    // The instance's consumer.request.timeout.ms bounds a larger timeout parameter.
    let base = create_consumer(
        &cluster,
        &unique_name("limits-latest-group"),
        json!({"auto.offset.reset": "latest", "consumer.request.timeout.ms": 200}),
    )
    .await;
    post(
        &cluster,
        &format!("{base}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    let started = Instant::now();
    let none = read(&cluster, &base, BINARY, "timeout=60000").await;
    assert!(none.is_empty(), "{none:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_instances_expire_and_use_renews_them() {
    let timeout = Duration::from_secs(3);
    let cluster = TestCluster::builder()
        .rest_config(RestConfig {
            consumer_instance_timeout: timeout,
            ..RestConfig::default()
        })
        .start()
        .await;
    let topic = unique_name("expiry");
    cluster.create_topic(&topic, 1).await;
    let group = unique_name("expiry-group");
    let base = create_consumer(&cluster, &group, json!({})).await;
    post(
        &cluster,
        &format!("{base}/subscription"),
        json!({"topics": [topic]}),
    )
    .await;
    read(&cluster, &base, BINARY, "timeout=200").await;
    wait_for_members(&cluster, &group, 1).await;

    // Used every 200 ms for longer than the timeout, the instance stays.
    let until = Instant::now() + timeout + Duration::from_secs(2);
    let mut last = Instant::now();
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let gap = last.elapsed();
        let answer = get(&cluster, &format!("{base}/subscription"), V2).await;
        // Only meaningful when this machine did not stall for longer than the timeout.
        if gap < timeout {
            assert_eq!(answer.status, 200, "expired while in use: {}", answer.body);
        }
        last = Instant::now();
    }

    // Left alone, it expires and every request on it is 40403. Each look renews an
    // instance that is still there, so look only after a full timeout and sweep period.
    let mut attempts = 0;
    loop {
        tokio::time::sleep(timeout + Duration::from_secs(3)).await;
        let answer = get(&cluster, &format!("{base}/subscription"), V2).await;
        if answer.status == 404 {
            assert_error(&answer, 404, 40403);
            break;
        }
        attempts += 1;
        assert!(attempts < 4, "instance never expired");
    }
    assert_error(
        &get(&cluster, &format!("{base}/records"), BINARY).await,
        404,
        40403,
    );
    // The expired consumer really closed: it left its group.
    wait_for_members(&cluster, &group, 0).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_instances_are_40403_everywhere() {
    let cluster = TestCluster::start().await;
    let base = format!("{}/consumers/nogroup/instances/nobody", cluster.rest_url());
    let partitions = json!({"partitions": [{"topic": "t", "partition": 0}]});
    let offsets = json!({"offsets": [{"topic": "t", "partition": 0, "offset": 1}]});
    let answers = vec![
        delete(&cluster, &base).await,
        post(
            &cluster,
            &format!("{base}/subscription"),
            json!({"topics": ["t"]}),
        )
        .await,
        get(&cluster, &format!("{base}/subscription"), V2).await,
        delete(&cluster, &format!("{base}/subscription")).await,
        post(&cluster, &format!("{base}/assignments"), partitions.clone()).await,
        get(&cluster, &format!("{base}/assignments"), V2).await,
        post(&cluster, &format!("{base}/positions"), offsets.clone()).await,
        post(
            &cluster,
            &format!("{base}/positions/beginning"),
            partitions.clone(),
        )
        .await,
        post(
            &cluster,
            &format!("{base}/positions/end"),
            partitions.clone(),
        )
        .await,
        get(&cluster, &format!("{base}/records"), BINARY).await,
        post(&cluster, &format!("{base}/offsets"), offsets).await,
        get_with_body(&cluster, &format!("{base}/offsets"), partitions).await,
    ];
    for answer in &answers {
        assert_error(answer, 404, 40403);
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_in_a_group_split_partitions_and_read_each_record_once() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("split");
    cluster.create_topic(&topic, 4).await;
    let group = unique_name("split-group");
    let settings = json!({"auto.offset.reset": "earliest", "format": "binary"});
    let a = create_consumer(&cluster, &group, settings.clone()).await;
    let b = create_consumer(&cluster, &group, settings).await;
    for base in [&a, &b] {
        let answer = post(
            &cluster,
            &format!("{base}/subscription"),
            json!({"topics": [topic]}),
        )
        .await;
        assert_eq!(answer.status, 204, "{}", answer.body);
    }

    // Wait until the group has settled with the partitions split between the two.
    let deadline = Instant::now() + WAIT;
    let (held_a, held_b) = loop {
        read(&cluster, &a, BINARY, "timeout=200").await;
        read(&cluster, &b, BINARY, "timeout=200").await;
        let pa = get(&cluster, &format!("{a}/assignments"), V2).await.body["partitions"].clone();
        let pb = get(&cluster, &format!("{b}/assignments"), V2).await.body["partitions"].clone();
        let pa: BTreeSet<i64> = pa
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["partition"].as_i64().unwrap())
            .collect();
        let pb: BTreeSet<i64> = pb
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["partition"].as_i64().unwrap())
            .collect();
        if !pa.is_empty() && !pb.is_empty() && pa.is_disjoint(&pb) && pa.len() + pb.len() == 4 {
            break (pa, pb);
        }
        assert!(
            Instant::now() < deadline,
            "group never split: {pa:?} / {pb:?}"
        );
    };

    let mut expected = BTreeSet::new();
    for i in 0..40 {
        let value = format!("record-{i}");
        cluster
            .produce(&topic, Some(i % 4), None, Some(value.as_bytes()))
            .await;
        expected.insert(kgate_formats_b64(value.as_bytes()));
    }

    let mut read_by: BTreeMap<String, usize> = BTreeMap::new();
    let mut all = Vec::new();
    let deadline = Instant::now() + WAIT;
    while all.len() < 40 {
        assert!(Instant::now() < deadline, "read only {} of 40", all.len());
        for (who, base, held) in [(0usize, &a, &held_a), (1, &b, &held_b)] {
            for r in read(&cluster, base, BINARY, "timeout=300").await {
                let partition = r["partition"].as_i64().unwrap();
                assert!(
                    held.contains(&partition),
                    "instance {who} read partition {partition}"
                );
                *read_by.entry(who.to_string()).or_default() += 1;
                all.push(r["value"].as_str().unwrap().to_string());
            }
        }
    }
    // A little longer, so duplicates would show.
    for base in [&a, &b] {
        all.extend(
            read(&cluster, base, BINARY, "timeout=300")
                .await
                .iter()
                .map(|r| r["value"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(all.len(), 40, "duplicates read");
    let distinct: BTreeSet<String> = all.into_iter().collect();
    assert_eq!(distinct, expected);
    assert_eq!(read_by.len(), 2, "one instance read nothing: {read_by:?}");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_seeks_and_auto_commit_on_delete() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("sub-seek");
    cluster.create_topic(&topic, 1).await;
    for i in 0..5 {
        cluster
            .produce(&topic, Some(0), None, Some(format!("r{i}").as_bytes()))
            .await;
    }
    let group = unique_name("sub-seek-group");
    // Defaults: auto.offset.reset latest, auto.commit.enable true.
    let base = create_consumer(&cluster, &group, json!({})).await;
    post(
        &cluster,
        &format!("{base}/subscription"),
        json!({"topics": [topic]}),
    )
    .await;

    // Before the group assigned the partition, a seek waits for the assignment.
    let answer = post(
        &cluster,
        &format!("{base}/positions"),
        json!({"offsets": [{"topic": topic, "partition": 0, "offset": 2}]}),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let records = read_at_least(&cluster, &base, BINARY, 3).await;
    let offsets: Vec<i64> = records
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, vec![2, 3, 4]);

    // Once assigned, a seek applies at once.
    let partitions = json!({"partitions": [{"topic": topic, "partition": 0}]});
    let answer = post(
        &cluster,
        &format!("{base}/positions/beginning"),
        partitions.clone(),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let records = read_at_least(&cluster, &base, BINARY, 5).await;
    let offsets: Vec<i64> = records
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, vec![0, 1, 2, 3, 4]);

    // Deleting the instance commits what it read (auto-commit), so the group's next
    // instance starts after it.
    assert_eq!(delete(&cluster, &base).await.status, 204);
    let base = create_consumer(&cluster, &group, json!({"auto.offset.reset": "earliest"})).await;
    let answer = get_with_body(&cluster, &format!("{base}/offsets"), partitions).await;
    assert_eq!(
        answer.body,
        json!({"offsets": [{"topic": topic, "partition": 0, "offset": 5, "metadata": ""}]})
    );
    post(
        &cluster,
        &format!("{base}/subscription"),
        json!({"topics": [topic]}),
    )
    .await;
    cluster.produce(&topic, Some(0), None, Some(b"r5")).await;
    let records = read_at_least(&cluster, &base, BINARY, 1).await;
    assert_eq!(records[0]["offset"], json!(5), "{records:?}");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_instance_ends_a_read_in_progress() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("delete-while-reading");
    cluster.create_topic(&topic, 1).await;
    let base = create_consumer(
        &cluster,
        &unique_name("delete-group"),
        json!({"consumer.request.timeout.ms": 60000}),
    )
    .await;
    post(
        &cluster,
        &format!("{base}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    let reader = {
        let http = cluster.http().clone();
        let url = format!("{base}/records?timeout=60000");
        tokio::spawn(async move {
            let resp = http
                .get(url)
                .header("Accept", BINARY)
                .send()
                .await
                .expect("read");
            resp.status().as_u16()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    assert_eq!(delete(&cluster, &base).await.status, 204);
    let status = reader.await.expect("reader task");
    // 200 (cut short) when the read was under way, 404 if it only arrived after the
    // delete on a slow machine.
    assert!(status == 200 || status == 404, "{status}");
    // Far below the 60 s the read asked for.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_instance() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("shutdown");
    cluster.create_topic(&topic, 1).await;
    // A second REST server on the same broker, stopped on its own while the broker runs.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(kgate_testkit::kgate_rest::serve(
        listener,
        cluster.kafka().clone(),
        RestConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let group = unique_name("shutdown-group");
    let mut bases = Vec::new();
    for _ in 0..2 {
        let answer = post(&cluster, &format!("{url}/consumers/{group}"), json!({})).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let base = answer.body["base_uri"].as_str().unwrap().to_string();
        post(
            &cluster,
            &format!("{base}/subscription"),
            json!({"topics": [topic]}),
        )
        .await;
        bases.push(base);
    }
    for base in &bases {
        read(&cluster, base, BINARY, "timeout=200").await;
    }
    wait_for_members(&cluster, &group, 2).await;

    let _ = stop.send(());
    let served = tokio::time::timeout(WAIT, server)
        .await
        .expect("server stops")
        .expect("server task");
    assert!(served.is_ok(), "{served:?}");
    wait_for_members(&cluster, &group, 0).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_consumer_reports_records_that_are_not_json() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("not-json");
    cluster.create_topic(&topic, 1).await;
    cluster.produce(&topic, Some(0), None, Some(b"{oops")).await;
    let base = create_consumer(
        &cluster,
        &unique_name("not-json-group"),
        json!({"format": "json", "auto.offset.reset": "earliest"}),
    )
    .await;
    post(
        &cluster,
        &format!("{base}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = get(&cluster, &format!("{base}/records?timeout=500"), JSON).await;
        if answer.status == 200 {
            assert_eq!(answer.body, json!([]), "a broken record was returned");
            assert!(Instant::now() < deadline, "the record never arrived");
            continue;
        }
        // 42206 naming the record, which stays where it is (see v2_faults).
        assert_error(&answer, 422, 42206);
        let message = answer.body["message"].as_str().unwrap();
        assert!(
            message.contains("json") && message.contains("offset 0"),
            "{message}"
        );
        break;
    }
    cluster.stop().await;
}

/// Produces `(key, value)` records to `partition` of `topic` with one rdkafka producer,
/// all in flight at once; returns their offsets in order.
async fn produce_many(
    cluster: &TestCluster,
    topic: &str,
    partition: i32,
    records: &[(Vec<u8>, Vec<u8>)],
) -> Vec<i64> {
    let producer = cluster.producer();
    let mut deliveries = Vec::with_capacity(records.len());
    for (key, value) in records {
        let record = FutureRecord::to(topic)
            .partition(partition)
            .key(key.as_slice())
            .payload(value.as_slice());
        deliveries.push(
            producer
                .send_result(record)
                .unwrap_or_else(|(e, _)| panic!("queue a record: {e}")),
        );
    }
    let mut offsets = Vec::with_capacity(deliveries.len());
    for d in deliveries {
        let delivery = d
            .await
            .expect("delivery report")
            .unwrap_or_else(|(e, _)| panic!("produce: {e}"));
        assert_eq!(delivery.partition, partition);
        offsets.push(delivery.offset);
    }
    offsets
}

/// Commits what the instance handed out (an offsets request without a body).
async fn commit_delivered(cluster: &TestCluster, base: &str) {
    let answer = send(
        cluster
            .http()
            .post(format!("{base}/offsets"))
            .header("Content-Type", V2)
            .header("Accept", V2),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
}

/// One records request: panics unless it is a 200 with a JSON array (a streamed body
/// that was cut or malformed fails the parse). Also returns the response's
/// Content-Length, which a streamed response has none of.
async fn read_text(
    cluster: &TestCluster,
    base: &str,
    accept: &str,
    query: &str,
) -> (Vec<Value>, Option<u64>) {
    let resp = cluster
        .http()
        .get(format!("{base}/records?{query}"))
        .header("Accept", accept)
        .send()
        .await
        .expect("HTTP request");
    assert_eq!(resp.status().as_u16(), 200);
    // From the header itself: reqwest's content_length() does not always report it.
    let length = resp
        .headers()
        .get("content-length")
        .map(|v| v.to_str().ok().and_then(|v| v.parse::<u64>().ok()))
        .map(|v| v.expect("a numeric Content-Length"));
    let text = resp.text().await.expect("response body");
    if let Some(length) = length {
        assert_eq!(length, text.len() as u64, "Content-Length");
    }
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:.200}"));
    (body.as_array().expect("records array").clone(), length)
}

/// Bytes of a binary record's key and value, the measure of max_bytes and fetch.min.bytes.
fn binary_size(record: &Value) -> usize {
    use base64::Engine;
    ["key", "value"]
        .iter()
        .filter_map(|f| record[*f].as_str())
        .map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .expect("base64")
                .len()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_reads_stream_every_record_once_in_order_and_commit() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("streamed");
    cluster.create_topic(&topic, 1).await;
    // 1,000 records of 20 kB: a read of most of them is many chunks (256 KiB each) and a
    // streamed response.
    let produced: Vec<(Vec<u8>, Vec<u8>)> = (0..1000)
        .map(|i| {
            let key = format!("key-{i:06}").into_bytes();
            let mut value = format!("value-{i:06}-").into_bytes();
            value.resize(20_000, b'a' + (i % 26) as u8);
            (key, value)
        })
        .collect();
    let offsets = produce_many(&cluster, &topic, 0, &produced).await;
    assert_eq!(offsets, (0..1000).collect::<Vec<i64>>());

    // fetch.min.bytes makes the first read wait for 12 MB, whatever librdkafka's fetches
    // bring at a time.
    let group = unique_name("streamed-group");
    let base = create_consumer(
        &cluster,
        &group,
        json!({"auto.offset.reset": "earliest", "auto.commit.enable": "false",
               "fetch.min.bytes": 12000000, "consumer.request.timeout.ms": 30000}),
    )
    .await;
    let answer = post(
        &cluster,
        &format!("{base}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.body);

    let check = |seen: &mut Vec<i64>, batch: &[Value]| {
        for r in batch {
            let offset = r["offset"].as_i64().expect("offset");
            assert_eq!(offset, seen.len() as i64, "records skipped or repeated");
            let (key, value) = &produced[offset as usize];
            assert_eq!(r["topic"], json!(topic));
            assert_eq!(r["partition"], json!(0));
            assert_eq!(r["key"], json!(kgate_formats_b64(key)), "offset {offset}");
            assert_eq!(
                r["value"],
                json!(kgate_formats_b64(value)),
                "offset {offset}"
            );
            seen.push(offset);
        }
    };
    let mut seen = Vec::new();
    let (first, length) = read_text(&cluster, &base, BINARY, "timeout=30000").await;
    let first_bytes: usize = first.iter().map(binary_size).sum();
    assert!(
        first_bytes >= 12_000_000,
        "{first_bytes} bytes in the first read"
    );
    assert_eq!(length, None, "a large read was not streamed");
    check(&mut seen, &first);

    // A commit after the streamed read commits the position after its last record.
    commit_delivered(&cluster, &base).await;
    let partitions = json!({"partitions": [{"topic": topic, "partition": 0}]});
    let answer = get_with_body(&cluster, &format!("{base}/offsets"), partitions.clone()).await;
    assert_eq!(
        answer.body,
        json!({"offsets": [{"topic": topic, "partition": 0, "offset": seen.len(), "metadata": ""}]})
    );

    // Following reads continue where the last ended; max_bytes (many chunks here) bounds
    // each of them.
    let deadline = Instant::now() + WAIT;
    while seen.len() < produced.len() {
        assert!(
            Instant::now() < deadline,
            "read only {} records",
            seen.len()
        );
        let (batch, _) = read_text(&cluster, &base, BINARY, "timeout=1000&max_bytes=3000000").await;
        let bytes: usize = batch.iter().map(binary_size).sum();
        assert!(bytes <= 3_000_000, "{bytes} bytes over max_bytes");
        check(&mut seen, &batch);
    }
    commit_delivered(&cluster, &base).await;
    let answer = get_with_body(&cluster, &format!("{base}/offsets"), partitions).await;
    assert_eq!(
        answer.body,
        json!({"offsets": [{"topic": topic, "partition": 0, "offset": 1000, "metadata": ""}]})
    );
    let (none, _) = read_text(&cluster, &base, BINARY, "timeout=200").await;
    assert!(none.is_empty(), "{none:?}");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_reads_of_several_chunks_stream_in_order() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("streamed-json");
    cluster.create_topic(&topic, 1).await;
    let text = |i: usize| format!("record {i} \"quoted\" \u{e9}");
    let pad = "p".repeat(5000);
    let produced: Vec<(Vec<u8>, Vec<u8>)> = (0..2000)
        .map(|i| {
            let key = json!({"id": i}).to_string().into_bytes();
            let value = json!({"n": i, "text": text(i), "pad": pad})
                .to_string()
                .into_bytes();
            (key, value)
        })
        .collect();
    produce_many(&cluster, &topic, 0, &produced).await;
    // The topic holds about 10 MB: fetch.min.bytes makes the first read take over 9 MB,
    // many chunks and a streamed response.
    let base = create_consumer(
        &cluster,
        &unique_name("streamed-json-group"),
        json!({"format": "json", "auto.offset.reset": "earliest",
               "fetch.min.bytes": 9000000, "consumer.request.timeout.ms": 30000}),
    )
    .await;
    post(
        &cluster,
        &format!("{base}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    let mut seen = 0usize;
    let deadline = Instant::now() + WAIT;
    while seen < produced.len() {
        assert!(Instant::now() < deadline, "read only {seen} records");
        // The first read waits for fetch.min.bytes; the last one, short of it, for its
        // timeout.
        let query = if seen == 0 {
            "timeout=30000"
        } else {
            "timeout=500"
        };
        let (batch, length) = read_text(&cluster, &base, JSON, query).await;
        if seen == 0 {
            assert!(
                batch.len() > 1500,
                "{} records in the first read",
                batch.len()
            );
            assert_eq!(length, None, "a large read was not streamed");
        }
        for r in &batch {
            assert_eq!(r["offset"], json!(seen), "records skipped or repeated");
            assert_eq!(r["key"], json!({"id": seen}));
            assert_eq!(
                r["value"],
                json!({"n": seen, "text": text(seen), "pad": pad})
            );
            seen += 1;
        }
    }
    cluster.stop().await;
}
