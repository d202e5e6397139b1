//! REST Proxy v1 consumer instances (seed 001): create, read `.../topics/{t}` (which
//! subscribes on first use), `max_bytes`, commit, delete, expiry and their error codes;
//! and one topic shared by a v1 producer, a v2 consumer instance and v3 administration.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use kgate_testkit::kgate_rest::RestConfig;
use kgate_testkit::{TestCluster, text_answer, unique_name};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{Value, json};

const V1: &str = "application/vnd.kafka.v1+json";
const V1_ACCEPT: &str =
    "application/vnd.kafka.v1+json, application/vnd.kafka+json, application/json";
const BINARY_V1: &str = "application/vnd.kafka.binary.v1+json";
const JSON_V1: &str = "application/vnd.kafka.json.v1+json";
const V2: &str = "application/vnd.kafka.v2+json";
const WAIT: Duration = Duration::from_secs(30);

async fn call(
    cluster: &TestCluster,
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, String, Value) {
    let url = if url.starts_with("http") {
        url.to_string()
    } else {
        format!("{}{url}", cluster.rest_url())
    };
    let mut req = cluster.http().request(method, url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(body) = body {
        req = req.body(body.to_string());
    }
    let (status, ct, text) = text_answer(req).await;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, ct, body)
}

/// Creates a v1 instance in `group` the way seed 001's example does.
async fn create_v1(cluster: &TestCluster, group: &str, body: Value) -> (u16, String, Value) {
    call(
        cluster,
        reqwest::Method::POST,
        &format!("/consumers/{group}"),
        &[("Content-Type", V1), ("Accept", V1_ACCEPT)],
        Some(body),
    )
    .await
}

/// Reads `topic` through a v1 instance until `count` records arrived (the first reads
/// can be empty while the group forms).
async fn read_until(
    cluster: &TestCluster,
    base_uri: &str,
    topic: &str,
    accept: &str,
    count: usize,
) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records: {out:?}",
            out.len()
        );
        let (status, ct, body) = call(
            cluster,
            reqwest::Method::GET,
            &format!("{base_uri}/topics/{topic}"),
            &[("Accept", accept)],
            None,
        )
        .await;
        assert_eq!((status, ct.as_str()), (200, accept), "{body}");
        out.extend(body.as_array().unwrap().iter().cloned());
    }
    out
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn assert_error(answer: &(u16, String, Value), status: u16, code: u64, what: &str) {
    let (got, ct, body) = answer;
    assert_eq!(*got, status, "{what}: {body}");
    assert_eq!(body["error_code"], json!(code), "{what}: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
    assert_eq!(ct, V1, "{what}");
}

/// The group's committed offsets of `topic`'s partitions, read with rdkafka.
async fn committed(
    cluster: &TestCluster,
    group: &str,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, i64> {
    let bootstrap = cluster.bootstrap();
    let (group, topic) = (group.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(&topic, p);
        }
        consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets")
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    })
    .await
    .expect("task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_reads_commits_and_is_deleted() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v1-consume");
    cluster.create_topic(&topic, 2).await;
    for (p, v) in [(0, "a"), (1, "b"), (0, "c"), (1, "d")] {
        cluster
            .produce(&topic, Some(p), Some(b"key"), Some(v.as_bytes()))
            .await;
    }
    let group = unique_name("v1-group");

    // Seed 001's example request (with a trailing slash, as the example has it).
    let (status, ct, created) = create_v1(
        &cluster,
        &format!("{group}/"),
        json!({"name": "my_consumer", "format": "binary",
            "auto.offset.reset": "smallest", "auto.commit.enable": "false"}),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, V1), "{created}");
    assert_eq!(created["instance_id"], "my_consumer");
    let base = created["base_uri"].as_str().unwrap().to_string();
    assert!(
        base.ends_with(&format!("/consumers/{group}/instances/my_consumer")),
        "{base}"
    );

    let mut records = read_until(&cluster, &base, &topic, BINARY_V1, 4).await;
    assert_eq!(records.len(), 4, "{records:?}");
    records.sort_by_key(|r| (r["partition"].as_i64(), r["offset"].as_i64()));
    let want: Vec<Value> = [(0, 0, "a"), (0, 1, "c"), (1, 0, "b"), (1, 1, "d")]
        .iter()
        .map(|(p, o, v)| {
            json!({"key": b64(b"key"), "value": b64(v.as_bytes()), "partition": p,
                "offset": o, "topic": topic})
        })
        .collect();
    assert_eq!(records, want);

    // Nothing is committed until asked (auto.commit.enable=false).
    assert!(committed(&cluster, &group, &topic, 2).await.is_empty());
    let (status, ct, offsets) = call(
        &cluster,
        reqwest::Method::POST,
        &format!("{base}/offsets"),
        &[("Accept", V1_ACCEPT)],
        None,
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, V1), "{offsets}");
    assert_eq!(
        offsets,
        json!([
            {"topic": topic, "partition": 0, "consumed": 1, "committed": 1},
            {"topic": topic, "partition": 1, "consumed": 1, "committed": 1},
        ])
    );
    // Kafka holds the next offset to read, so the group goes on after the last record.
    assert_eq!(
        committed(&cluster, &group, &topic, 2).await,
        BTreeMap::from([(0, 2), (1, 2)])
    );

    let (status, _, _) = call(
        &cluster,
        reqwest::Method::DELETE,
        &base,
        &[("Accept", V1_ACCEPT)],
        None,
    )
    .await;
    assert_eq!(status, 204);
    let gone = call(
        &cluster,
        reqwest::Method::GET,
        &format!("{base}/topics/{topic}"),
        &[("Accept", BINARY_V1)],
        None,
    )
    .await;
    assert_error(&gone, 404, 40403, "read after delete");
    let again = call(
        &cluster,
        reqwest::Method::DELETE,
        &base,
        &[("Accept", V1_ACCEPT)],
        None,
    )
    .await;
    assert_error(&again, 404, 40403, "second delete");
    let commit_gone = call(
        &cluster,
        reqwest::Method::POST,
        &format!("{base}/offsets"),
        &[("Accept", V1_ACCEPT)],
        None,
    )
    .await;
    assert_error(&commit_gone, 404, 40403, "commit after delete");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_errors_get_the_seed_codes() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v1-consume-bad");
    let other = unique_name("v1-consume-other");
    cluster.create_topic(&topic, 1).await;
    cluster.create_topic(&other, 1).await;
    for i in 0..3u8 {
        cluster
            .produce(&topic, Some(0), None, Some(&[i; 100]))
            .await;
    }
    let group = unique_name("v1-group-bad");
    let (status, _, created) = create_v1(
        &cluster,
        &group,
        json!({"name": "c1", "format": "binary", "auto.offset.reset": "smallest"}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let base = created["base_uri"].as_str().unwrap().to_string();

    assert_error(
        &create_v1(&cluster, &group, json!({"name": "c1"})).await,
        409,
        40902,
        "a name taken",
    );
    for (body, what) in [
        (
            json!({"auto.offset.reset": "sometimes"}),
            "bad auto.offset.reset",
        ),
        (
            json!({"auto.commit.enable": "maybe"}),
            "bad auto.commit.enable",
        ),
        (json!({"format": "protobuf"}), "a format v1 lacks"),
        (json!({"format": "xml"}), "an unknown format"),
    ] {
        assert_error(&create_v1(&cluster, &group, body).await, 422, 42204, what);
    }

    let read = |topic: String, accept: &'static str, query: &'static str| {
        let url = format!("{base}/topics/{topic}{query}");
        let cluster = &cluster;
        async move {
            call(
                cluster,
                reqwest::Method::GET,
                &url,
                &[("Accept", accept)],
                None,
            )
            .await
        }
    };
    assert_error(
        &read(topic.clone(), JSON_V1, "").await,
        406,
        40601,
        "Accept of another format",
    );
    assert_error(
        &read(unique_name("v1-absent"), BINARY_V1, "").await,
        404,
        40401,
        "unknown topic",
    );
    // max_bytes: 100-byte records, at most 100 bytes a read, so one record per read.
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        assert!(Instant::now() < deadline, "records never came: {seen:?}");
        let (status, _, body) = read(topic.clone(), BINARY_V1, "?max_bytes=100").await;
        assert_eq!(status, 200, "{body}");
        let got = body.as_array().unwrap();
        assert!(got.len() <= 1, "max_bytes=100 gave {body}");
        seen.extend(got.iter().map(|r| r["offset"].as_i64().unwrap()));
    }
    assert_eq!(seen, vec![0, 1, 2]);
    // The instance subscribed to `topic` on its first read: another topic is 40901.
    assert_error(
        &read(other.clone(), BINARY_V1, "").await,
        409,
        40901,
        "a second topic",
    );
    assert_error(
        &read(topic.clone(), BINARY_V1, "?max_bytes=lots").await,
        400,
        400,
        "max_bytes not a number",
    );
    let unknown = call(
        &cluster,
        reqwest::Method::GET,
        &format!("/consumers/{group}/instances/nobody/topics/{topic}"),
        &[("Accept", BINARY_V1)],
        None,
    )
    .await;
    assert_error(&unknown, 404, 40403, "unknown instance");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_instances_expire_as_in_v2() {
    let cluster = TestCluster::builder()
        .rest_config(RestConfig {
            consumer_instance_timeout: Duration::from_millis(300),
            ..RestConfig::default()
        })
        .start()
        .await;
    let topic = unique_name("v1-expire");
    cluster.create_topic(&topic, 1).await;
    let group = unique_name("v1-group-expire");
    let (status, _, created) = create_v1(&cluster, &group, json!({"format": "json"})).await;
    assert_eq!(status, 200, "{created}");
    let base = created["base_uri"].as_str().unwrap().to_string();
    assert!(
        created["instance_id"]
            .as_str()
            .unwrap()
            .starts_with("rest-consumer-")
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let gone = call(
        &cluster,
        reqwest::Method::GET,
        &format!("{base}/topics/{topic}"),
        &[("Accept", JSON_V1)],
        None,
    )
    .await;
    assert_error(&gone, 404, 40403, "expired instance");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_producer_v2_consumer_and_v3_admin_share_a_topic() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v1-shared");

    // v3 creates the topic.
    let (status, _, clusters) =
        call(&cluster, reqwest::Method::GET, "/v3/clusters", &[], None).await;
    assert_eq!(status, 200, "{clusters}");
    let cluster_id = clusters["data"][0]["cluster_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _, created) = call(
        &cluster,
        reqwest::Method::POST,
        &format!("/v3/clusters/{cluster_id}/topics"),
        &[("Content-Type", "application/json")],
        Some(json!({"topic_name": topic, "partitions_count": 2})),
    )
    .await;
    assert_eq!(status, 201, "{created}");

    // v1 produces to it (metadata may lag the creation by a moment).
    let body = json!({"records": [
        {"key": "k1", "value": {"n": 1}},
        {"key": "k2", "value": {"n": 2}},
        {"value": {"n": 3}, "partition": 1},
    ]});
    let deadline = Instant::now() + WAIT;
    let produced = loop {
        let answer = call(
            &cluster,
            reqwest::Method::POST,
            &format!("/topics/{topic}"),
            &[("Content-Type", JSON_V1), ("Accept", V1_ACCEPT)],
            Some(body.clone()),
        )
        .await;
        if answer.0 == 200 || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (produced.0, produced.1.as_str()),
        (200, V1),
        "{}",
        produced.2
    );

    // A v2 consumer instance reads what v1 wrote.
    let group = unique_name("v2-reader");
    let (status, _, instance) = call(
        &cluster,
        reqwest::Method::POST,
        &format!("/consumers/{group}"),
        &[("Content-Type", V2)],
        Some(json!({"format": "json", "auto.offset.reset": "earliest"})),
    )
    .await;
    assert_eq!(status, 200, "{instance}");
    let base = instance["base_uri"].as_str().unwrap().to_string();
    let (status, _, _) = call(
        &cluster,
        reqwest::Method::POST,
        &format!("{base}/subscription"),
        &[("Content-Type", V2)],
        Some(json!({"topics": [topic]})),
    )
    .await;
    assert_eq!(status, 204);
    let deadline = Instant::now() + WAIT;
    let mut records = Vec::new();
    while records.len() < 3 {
        assert!(Instant::now() < deadline, "v2 read only {records:?}");
        let (status, _, body) = call(
            &cluster,
            reqwest::Method::GET,
            &format!("{base}/records?timeout=1000"),
            &[("Accept", "application/vnd.kafka.json.v2+json")],
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        records.extend(body.as_array().unwrap().iter().cloned());
    }
    let mut values: Vec<i64> = records
        .iter()
        .map(|r| r["value"]["n"].as_i64().unwrap())
        .collect();
    values.sort();
    assert_eq!(values, vec![1, 2, 3]);
    for r in &records {
        let o = produced.2["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .position(|o| o["partition"] == r["partition"] && o["offset"] == r["offset"])
            .unwrap_or_else(|| panic!("{r} is not where v1 said it wrote"));
        assert_eq!(r["value"]["n"], json!(o + 1));
    }
    let (status, _, _) = call(
        &cluster,
        reqwest::Method::POST,
        &format!("{base}/offsets"),
        &[("Content-Type", V2)],
        None,
    )
    .await;
    assert_eq!(status, 204);

    // v3 sees the topic's partitions and the v2 group's committed position.
    let (status, _, partitions) = call(
        &cluster,
        reqwest::Method::GET,
        &format!("/v3/clusters/{cluster_id}/topics/{topic}/partitions"),
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200, "{partitions}");
    assert_eq!(partitions["data"].as_array().unwrap().len(), 2);
    let (status, _, lag) = call(
        &cluster,
        reqwest::Method::GET,
        &format!("/v3/clusters/{cluster_id}/consumer-groups/{group}/lag-summary"),
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200, "{lag}");
    assert_eq!(lag["total_lag"], 0, "{lag}");

    // And rdkafka finds the records v1 wrote.
    let landed = cluster.consume_all(&topic, 3, WAIT).await;
    assert_eq!(landed.len(), 3);
    assert!(
        landed
            .iter()
            .any(|r| r.key.as_deref() == Some(&br#""k1""#[..])
                && r.value.as_deref() == Some(&br#"{"n":1}"#[..]))
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_a_json_instance_cannot_read_loses_nothing() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v1-bad-record");
    let group = unique_name("v1-bad-group");
    cluster.create_topic(&topic, 1).await;
    cluster
        .produce(&topic, Some(0), None, Some(b"{\"n\":1}"))
        .await;
    cluster
        .produce(&topic, Some(0), None, Some(b"not json"))
        .await;
    cluster
        .produce(&topic, Some(0), None, Some(b"{\"n\":3}"))
        .await;

    let (status, _, created) = create_v1(
        &cluster,
        &group,
        json!({"format": "json", "auto.offset.reset": "smallest"}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let base = created["base_uri"].as_str().unwrap().to_string();

    // The good record before the bad one is answered first.
    let first = read_until(&cluster, &base, &topic, JSON_V1, 1).await;
    assert_eq!(
        first
            .iter()
            .map(|r| r["offset"].clone())
            .collect::<Vec<_>>(),
        [json!(0)],
        "{first:?}"
    );
    // Then the bad record is named, again and again: nothing after it is skipped.
    for _ in 0..2 {
        let answer = call(
            &cluster,
            reqwest::Method::GET,
            &format!("{base}/topics/{topic}"),
            &[("Accept", JSON_V1)],
            None,
        )
        .await;
        assert_eq!(answer.0, 422, "{}", answer.2);
        assert_eq!(answer.2["error_code"], json!(42206), "{}", answer.2);
        let message = answer.2["message"].as_str().unwrap();
        assert!(message.contains("offset 1"), "{message}");
    }
    // Seeking past it (through v2's positions, which serve v1 instances too) goes on with
    // the record after it.
    let (status, _, body) = call(
        &cluster,
        reqwest::Method::POST,
        &format!("{base}/positions"),
        &[("Content-Type", V2)],
        Some(json!({"offsets": [{"topic": topic, "partition": 0, "offset": 2}]})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let rest = read_until(&cluster, &base, &topic, JSON_V1, 1).await;
    assert_eq!(rest[0]["offset"], json!(2), "{rest:?}");
    assert_eq!(rest[0]["value"], json!({"n": 3}), "{rest:?}");
    cluster.stop().await;
}
