//! Starts Connect workers on 127.0.0.1:0 against the test kit's embedded broker.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kgate_kafka::Kafka;
use kgate_testkit::text_answer;
use serde_json::Value;

/// A worker serving the Connect API in this process.
pub struct Worker {
    /// Its base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Worker settings for tests: fast offset flushes and heartbeats, topics named after
/// `prefix` so tests sharing a broker do not share state.
pub fn settings(prefix: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut s: BTreeMap<String, String> = [
        ("listeners", "http://127.0.0.1:0"),
        ("offset.flush.interval.ms", "500"),
        ("heartbeat.interval.ms", "300"),
        ("session.timeout.ms", "6000"),
        ("rebalance.timeout.ms", "10000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    s.insert("group.id".into(), format!("{prefix}-group"));
    s.insert("config.storage.topic".into(), format!("{prefix}-configs"));
    s.insert("offset.storage.topic".into(), format!("{prefix}-offsets"));
    s.insert("status.storage.topic".into(), format!("{prefix}-status"));
    s.insert("offset.storage.partitions".into(), "3".into());
    s.insert("status.storage.partitions".into(), "2".into());
    for (k, v) in extra {
        s.insert(k.to_string(), v.to_string());
    }
    s
}

impl Worker {
    /// Starts a worker and waits until `GET /health` says it is ready.
    pub async fn start(kafka: Kafka, settings: &BTreeMap<String, String>) -> Worker {
        let config =
            kgate_connect::WorkerConfig::from_properties(settings, true).expect("worker settings");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(kgate_connect::serve(listener, kafka, config, async move {
            let _ = stopped.await;
        }));
        let worker = Worker {
            url,
            stop: Some(stop),
            task: Some(task),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{}/health", worker.url)).send().await
                && r.status().as_u16() == 200
            {
                return worker;
            }
            assert!(Instant::now() < deadline, "the worker did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the worker (leaving its group) and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Sends a request with an optional JSON body; returns the status and the JSON answer
/// (`Value::Null` for an empty body).
pub async fn call(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let http = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let (status, _, text) = text_answer(request).await;
    if text.is_empty() {
        return (status, Value::Null);
    }
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, body)
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The states of a connector and its tasks, when it has a status.
pub async fn states(url: &str, name: &str) -> Option<(String, Vec<String>)> {
    let (status, body) = call("GET", &format!("{url}/connectors/{name}/status"), None).await;
    if status != 200 {
        return None;
    }
    let connector = body["connector"]["state"].as_str()?.to_string();
    let tasks = body["tasks"]
        .as_array()?
        .iter()
        .filter_map(|t| t["state"].as_str().map(str::to_string))
        .collect();
    Some((connector, tasks))
}

/// Every record of `topic` up to its end now, read through the Kafka layer.
pub async fn read_all(kafka: &Kafka, topic: &str) -> Vec<kgate_kafka::log_reader::LogRecord> {
    let partitions: Vec<i32> = kafka
        .topic(topic)
        .await
        .expect("topic metadata")
        .partitions
        .iter()
        .map(|p| p.id)
        .collect();
    let (reader, mut batches) = kafka
        .read_log(topic, &partitions, false)
        .expect("log reader");
    let ends = reader.end_offsets().await.expect("end offsets");
    let mut records = Vec::new();
    let mut positions: BTreeMap<i32, i64> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ends
        .iter()
        .any(|(p, end)| positions.get(p).copied().unwrap_or(0) < *end)
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let batch = tokio::time::timeout(left, batches.recv())
            .await
            .unwrap_or_else(|_| panic!("could not read {topic} to its end"))
            .expect("the reader stopped");
        records.extend(batch.records);
        for (p, at) in batch.positions {
            positions.insert(p, at);
        }
    }
    reader.close().await;
    records
}
