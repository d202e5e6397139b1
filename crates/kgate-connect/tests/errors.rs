//! A sink's records that cannot be converted: `errors.tolerance=all` skips them and
//! writes them to the dead letter queue with Apache's context headers; the default
//! (`none`) fails the task.

mod common;

use std::time::Duration;

use common::{Worker, call, eventually, settings};
use kgate_testkit::{TestCluster, unique_name};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconvertible_records_go_to_the_dead_letter_queue() {
    let cluster = TestCluster::start().await;
    let worker = Worker::start(
        cluster.kafka().clone(),
        &settings(&unique_name("errors"), &[]),
    )
    .await;
    let url = worker.url.clone();
    let topic = unique_name("errors-in");
    let dlq = unique_name("errors-dlq");
    cluster.create_topic(&topic, 1).await;
    for value in [
        r#"{"schema":{"type":"string","optional":false},"payload":"first"}"#,
        "not json",
        r#"{"schema":{"type":"string","optional":false},"payload":"third"}"#,
    ] {
        cluster
            .produce(&topic, None, Some(b"k".as_slice()), Some(value.as_bytes()))
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let (status, body) = call(
        "POST",
        &format!("{url}/connectors"),
        Some(&json!({"name": "tolerant", "config": {
            "connector.class": "FileStreamSink",
            "file": out.to_str().unwrap(),
            "topics": topic,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "errors.tolerance": "all",
            "errors.log.enable": "true",
            "errors.deadletterqueue.topic.name": dlq,
            "errors.deadletterqueue.context.headers.enable": "true",
        }})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let written = eventually("the good lines", Duration::from_secs(30), || async {
        std::fs::read_to_string(&out)
            .ok()
            .filter(|t| t.lines().count() >= 2)
    })
    .await;
    assert_eq!(written, "first\nthird\n");
    let dead = cluster.consume_all(&dlq, 1, Duration::from_secs(30)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].value.as_deref(), Some(b"not json".as_slice()));
    assert_eq!(dead[0].key.as_deref(), Some(b"k".as_slice()));
    let header = |name: &str| {
        dead[0]
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
            .map(|v| String::from_utf8(v).unwrap())
    };
    assert_eq!(header("__connect.errors.topic"), Some(topic.clone()));
    assert_eq!(header("__connect.errors.partition").as_deref(), Some("0"));
    assert_eq!(header("__connect.errors.offset").as_deref(), Some("1"));
    assert_eq!(
        header("__connect.errors.connector.name").as_deref(),
        Some("tolerant")
    );
    assert_eq!(header("__connect.errors.task.id").as_deref(), Some("0"));
    assert_eq!(
        header("__connect.errors.stage").as_deref(),
        Some("VALUE_CONVERTER")
    );
    assert_eq!(
        header("__connect.errors.exception.class.name").as_deref(),
        Some("org.apache.kafka.connect.errors.DataException")
    );
    // The task goes on: the skipped record counts as done.
    let (_, status) = call("GET", &format!("{url}/connectors/tolerant/status"), None).await;
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");

    // Without tolerance the same record fails the task.
    let (status, _) = call(
        "POST",
        &format!("{url}/connectors"),
        Some(&json!({"name": "strict", "config": {
            "connector.class": "FileStreamSink",
            "file": dir.path().join("strict.txt").to_str().unwrap(),
            "topics": topic,
        }})),
    )
    .await;
    assert_eq!(status, 201);
    let failed = eventually(
        "the strict sink failing",
        Duration::from_secs(30),
        || async {
            let (_, status) = call("GET", &format!("{url}/connectors/strict/status"), None).await;
            let task = status["tasks"][0].clone();
            (task["state"] == "FAILED").then_some(task)
        },
    )
    .await;
    let trace = failed["trace"].as_str().unwrap_or_default();
    assert!(
        trace.contains("Tolerance exceeded in error handler"),
        "{trace}"
    );
    worker.stop().await;
}
