//! REST v3 faults found by peers' test suites and by hostile clients: bodies that used to
//! write empty records, numbers and names Kafka refuses, and kgate's internal topics.
//! Each test checks what landed in (or stayed out of) the embedded broker.

use std::time::Duration;

use kgate_kafka::native::acls::AclFilter;
use kgate_testkit::kgate_rest::RestConfig;
use kgate_testkit::{TestCluster, concatenated_json, unique_name};
use serde_json::{Value, json};

async fn send(
    cluster: &TestCluster,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let mut req = cluster
        .http()
        .request(method, format!("{}{path}", cluster.rest_url()));
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, body)
}

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: u64) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error_code"], json!(want_code), "{body}");
}

async fn cluster_path(cluster: &TestCluster) -> String {
    let id = cluster.kafka().cluster_id().await.expect("cluster id");
    format!("/v3/clusters/{id}")
}

#[tokio::test]
async fn record_bodies_that_are_not_records_are_refused() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("v3-bodies");
    cluster.create_topic(&topic, 2).await;
    let path = format!("{}/topics/{topic}/records", cluster_path(&cluster).await);
    let post = |body: &'static str| send(&cluster, reqwest::Method::POST, &path, Some(body));
    let (status, body) = post("[]").await;
    assert_error(status, &body, 400, 400);
    let (status, body) = post("{}").await;
    assert_error(status, &body, 422, 422);
    let (status, body) = post(r#"{"valeu": {"type": "JSON", "data": 1}}"#).await;
    assert_error(status, &body, 400, 400);
    assert!(
        body["message"].as_str().unwrap_or("").contains("valeu"),
        "{body}"
    );
    // Several records in one body: each bad one fails alone, the good one lands.
    let response = cluster
        .http()
        .post(format!("{}{path}", cluster.rest_url()))
        .header("Content-Type", "application/json")
        .body(r#"[] {} {"value": {"type": "JSON", "data": 7}, "partition_id": "1"}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 200);
    let reports = concatenated_json(&response.bytes().await.expect("reports"));
    let codes: Vec<&Value> = reports.iter().map(|r| &r["error_code"]).collect();
    assert_eq!(
        codes,
        [&json!(400), &json!(422), &json!(200)],
        "{reports:?}"
    );
    let (status, body) =
        post(r#"{"value": {"type": "JSON", "data": 8}, "partition_id": "1"}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["partition_id"], json!(1), "{body}");
    let landed = cluster
        .consume_all(&topic, 2, Duration::from_secs(30))
        .await;
    let values: Vec<_> = landed
        .iter()
        .map(|r| (r.partition, r.value.clone()))
        .collect();
    assert_eq!(
        values,
        vec![(1, Some(b"7".to_vec())), (1, Some(b"8".to_vec()))]
    );
    cluster.stop().await;
}

#[tokio::test]
async fn topic_numbers_and_names_kafka_refuses_are_400() {
    let cluster = TestCluster::start().await;
    let base = cluster_path(&cluster).await;
    let topics = format!("{base}/topics");
    let create = |body: Value| {
        let text = body.to_string();
        let topics = topics.clone();
        let cluster = &cluster;
        async move { send(cluster, reqwest::Method::POST, &topics, Some(&text)).await }
    };
    let name = unique_name("v3-numbers");
    for body in [
        json!({"topic_name": "a\u{0}b", "partitions_count": 1}),
        json!({"topic_name": "a b", "partitions_count": 1}),
        json!({"topic_name": name, "partitions_count": 2_147_483_647}),
        json!({"topic_name": name, "partitions_count": -7}),
        json!({"topic_name": name, "partitions_count": 1, "replication_factor": -7}),
        json!({"topic_name": name, "partitions_count": 1, "replication_factor": 2_147_483_647}),
    ] {
        let (status, answer) = create(body.clone()).await;
        assert_error(status, &answer, 400, 40002);
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}: {answer}"
        );
    }
    assert!(
        cluster.kafka().topic(&name).await.is_err(),
        "nothing was created"
    );
    // PATCH: the same checks, and the topic keeps its partitions.
    let (status, answer) = create(json!({"topic_name": name, "partitions_count": 1})).await;
    assert_eq!(status, 201, "{answer}");
    let topic = format!("{topics}/{name}");
    for count in [2_147_483_647i64, -7, 0] {
        let body = json!({"partitions_count": count}).to_string();
        let (status, answer) = send(&cluster, reqwest::Method::PATCH, &topic, Some(&body)).await;
        assert_error(status, &answer, 400, 40002);
    }
    let meta = cluster.kafka().topic(&name).await.expect("topic");
    assert_eq!(meta.partitions.len(), 1);
    // Names no topic can have are simply not found.
    let (status, answer) = send(
        &cluster,
        reqwest::Method::GET,
        &format!("{topics}/a%00b"),
        None,
    )
    .await;
    assert_error(status, &answer, 404, 40403);
    // A path id that is not a number names what was given.
    let (status, answer) = send(
        &cluster,
        reqwest::Method::GET,
        &format!("{base}/brokers/abc"),
        None,
    )
    .await;
    assert_error(status, &answer, 404, 404);
    assert!(
        answer["message"].as_str().unwrap_or("").contains("abc"),
        "{answer}"
    );
    cluster.stop().await;
}

#[tokio::test]
async fn acl_strings_kafka_cannot_carry_are_400() {
    let cluster = TestCluster::start().await;
    let acls = format!("{}/acls", cluster_path(&cluster).await);
    let acl = |name: &str| {
        json!({
            "resource_type": "TOPIC", "resource_name": name, "pattern_type": "LITERAL",
            "principal": "User:alice", "host": "*", "operation": "READ", "permission": "ALLOW",
        })
        .to_string()
    };
    for name in ["n".repeat(100_000), "a\u{0}b".to_string()] {
        let (status, body) = send(&cluster, reqwest::Method::POST, &acls, Some(&acl(&name))).await;
        assert_error(status, &body, 400, 40002);
    }
    // The broker is still answering, and nothing was created.
    let all = AclFilter::default();
    let existing = cluster
        .kafka()
        .describe_acls(&all)
        .await
        .expect("describe ACLs");
    assert!(existing.is_empty(), "{existing:?}");
    let (status, body) = send(
        &cluster,
        reqwest::Method::POST,
        &acls,
        Some(&acl("ok-topic")),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    cluster.stop().await;
}

#[tokio::test]
async fn internal_topics_are_refused_unless_allowed() {
    let cluster = TestCluster::builder()
        .rest_config(RestConfig {
            internal_topics: vec!["_schemas".into(), "guarded-*".into()],
            ..RestConfig::default()
        })
        .start()
        .await;
    let base = cluster_path(&cluster).await;
    let guarded = unique_name("guarded");
    cluster.create_topic(&guarded, 1).await;
    let topic = format!("{base}/topics/{guarded}");
    let record = r#"{"value": {"type": "JSON", "data": 1}}"#;
    let refused = [
        (
            reqwest::Method::POST,
            format!("{topic}/records"),
            Some(record.to_string()),
        ),
        (
            reqwest::Method::POST,
            format!("{topic}/records:batch"),
            Some(r#"{"entries":[{"id":"1","value":{"type":"JSON","data":1}}]}"#.to_string()),
        ),
        (reqwest::Method::DELETE, topic.clone(), None),
        (
            reqwest::Method::PATCH,
            topic.clone(),
            Some(r#"{"partitions_count": 3}"#.to_string()),
        ),
        (
            reqwest::Method::PUT,
            format!("{topic}/configs/retention.ms"),
            Some(r#"{"value": "1000"}"#.to_string()),
        ),
        (
            reqwest::Method::DELETE,
            format!("{topic}/configs/retention.ms"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("{topic}/configs:alter"),
            Some(r#"{"data": [{"name": "retention.ms", "value": "1000"}]}"#.to_string()),
        ),
        (
            reqwest::Method::POST,
            format!("{base}/topics"),
            Some(r#"{"topic_name": "_schemas", "partitions_count": 1}"#.to_string()),
        ),
    ];
    for (method, path, body) in refused {
        let (status, answer) = send(&cluster, method.clone(), &path, body.as_deref()).await;
        assert_error(status, &answer, 403, 40301);
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or("")
                .contains("internal.topics.writable"),
            "{method} {path}: {answer}"
        );
    }
    let meta = cluster.kafka().topic(&guarded).await.expect("still there");
    assert_eq!(meta.partitions.len(), 1);
    assert!(
        cluster
            .consume_all(&guarded, 0, Duration::from_secs(2))
            .await
            .is_empty()
    );
    let overrides = cluster
        .kafka()
        .topic_overrides(&guarded)
        .await
        .expect("configs");
    assert!(!overrides.contains_key("retention.ms"), "{overrides:?}");
    // Reading them is fine.
    let (status, answer) = send(&cluster, reqwest::Method::GET, &topic, None).await;
    assert_eq!(status, 200, "{answer}");
    cluster.stop().await;

    // `internal.topics.writable=true` lets them through.
    let cluster = TestCluster::builder()
        .rest_config(RestConfig {
            internal_topics: vec!["guarded-*".into()],
            internal_topics_writable: true,
            ..RestConfig::default()
        })
        .start()
        .await;
    cluster.create_topic(&guarded, 1).await;
    let path = format!("{}/topics/{guarded}/records", cluster_path(&cluster).await);
    let (status, answer) = send(&cluster, reqwest::Method::POST, &path, Some(record)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        cluster
            .consume_all(&guarded, 1, Duration::from_secs(30))
            .await
            .len(),
        1
    );
    cluster.stop().await;
}
