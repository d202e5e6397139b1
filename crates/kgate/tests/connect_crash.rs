//! The Connect worker's crash test: a file source -> topic -> file sink pipeline moving
//! 100,000 lines while the worker (`kgate serve`, with a separate `kgate broker` as its
//! cluster) is killed with SIGKILL twice and restarted; every line must reach the topic
//! and the output file exactly once.
//!
//! The source side relies on exactly-once source support (records and source offsets in
//! one transaction); the sink side on the sink file being cut back to the length
//! committed with the consumer offsets; the sink reads committed records only.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Kgate, path_str};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use serde_json::{Value, json};

const TOPIC: &str = "connect-crash";
const LINES: usize = 100_000;
const CHUNK: usize = 500;
const AHEAD: usize = 10_000;

/// Starts `kgate serve` as a Connect worker on `bootstrap`, exactly-once source support
/// on; returns the process and the Connect URL.
fn start_worker(data_dir: &Path, bootstrap: &str) -> (Kgate, String) {
    let bootstrap = format!("bootstrap.servers={bootstrap}");
    let mut worker = Kgate::serve(
        data_dir,
        &[
            bootstrap.as_str(),
            "connect.exactly.once.source.support=enabled",
            "connect.config.storage.replication.factor=1",
            "connect.offset.storage.replication.factor=1",
            "connect.status.storage.replication.factor=1",
            "connect.offset.flush.interval.ms=300",
            "connect.heartbeat.interval.ms=500",
            "connect.session.timeout.ms=6000",
            // A killed worker's sink consumer leaves its group after this, not 45 s.
            "connect.consumer.session.timeout.ms=6000",
            // Records of transactions a killed source task left open are never read.
            "connect.consumer.isolation.level=read_committed",
        ],
    );
    let url = worker.wait_for_line("kgate Connect listening on ");
    (worker, url)
}

async fn call(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let http = reqwest::Client::new();
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

/// Waits until the worker answers and has joined its group, then until `connector`
/// is created (201) or found existing (409).
async fn ensure_connector(url: &str, name: &str, config: Value) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, body) = call(
            reqwest::Method::POST,
            &format!("{url}/connectors"),
            Some(json!({"name": name, "config": config})),
        )
        .await;
        match status {
            201 => return,
            409 if body["message"]
                .as_str()
                .is_some_and(|m| m.contains("already exists")) =>
            {
                return;
            }
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "could not create {name}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn line_count(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}

async fn wait_for_lines(path: &Path, at_least: usize, worker: &mut Kgate) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while line_count(path) < at_least {
        assert!(
            Instant::now() < deadline,
            "the sink file has {} lines, waited for {at_least}; worker output:\n{}",
            line_count(path),
            worker.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Appends the input lines in chunks, staying at most `AHEAD` lines ahead of the sink
/// file, so that each kill finds the file source with lines still to read.
fn append_lines(input: PathBuf, output: PathBuf, written: Arc<AtomicUsize>, stop: Arc<AtomicBool>) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&input)
        .expect("open the input file");
    let mut n = 0;
    while n < LINES && !stop.load(Ordering::SeqCst) {
        if n >= line_count(&output) + AHEAD {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let mut chunk = String::new();
        for i in n..(n + CHUNK).min(LINES) {
            chunk.push_str(&format!("line-{i:06}\n"));
        }
        file.write_all(chunk.as_bytes())
            .expect("append to the input file");
        n = (n + CHUNK).min(LINES);
        written.store(n, Ordering::SeqCst);
    }
}

fn create_topic(bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = runtime
        .block_on(admin.create_topics(
            &[NewTopic::new(TOPIC, 3, TopicReplication::Fixed(1))],
            &options,
        ))
        .expect("CreateTopics");
    for r in results {
        r.expect("topic created");
    }
}

/// Every committed record of the topic's values, counted.
fn topic_contents(bootstrap: &str) -> HashMap<String, usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "connect-crash-reader")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    let mut ends = BTreeMap::new();
    for p in 0..3 {
        let (_, high) = consumer
            .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
            .expect("watermarks");
        ends.insert(p, high);
    }
    let mut assignment = rdkafka::TopicPartitionList::new();
    for p in 0..3 {
        assignment
            .add_partition_offset(TOPIC, p, rdkafka::Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let mut counts = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = ends.iter().all(|(p, end)| {
            consumer
                .position()
                .ok()
                .and_then(|l| {
                    l.find_partition(TOPIC, *p)
                        .and_then(|e| e.offset().to_raw())
                })
                .is_some_and(|o| o >= *end)
                || *end == 0
        });
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "could not read the topic to its end"
        );
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            // JsonConverter's envelope around the line.
            let envelope: Value =
                serde_json::from_slice(m.payload().unwrap_or_default()).expect("JSON value");
            let line = envelope["payload"].as_str().expect("a string payload");
            *counts.entry(line.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_pipeline_loses_and_duplicates_nothing_across_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.txt");
    let output = dir.path().join("out.txt");
    std::fs::write(&input, "").expect("create the input file");
    let mut broker = Kgate::spawn(&[
        "broker",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        path_str(&dir.path().join("broker")),
    ]);
    let bootstrap = broker.broker_address();
    let admin_bootstrap = bootstrap.clone();
    tokio::task::spawn_blocking(move || create_topic(&admin_bootstrap))
        .await
        .expect("create the topic");

    let serve_data = dir.path().join("serve");
    let (mut worker, url) = start_worker(&serve_data, &bootstrap);
    let written = Arc::new(AtomicUsize::new(0));
    let stop_appending = Arc::new(AtomicBool::new(false));
    let appender = {
        let (input, output) = (input.clone(), output.clone());
        let (written, stop) = (written.clone(), stop_appending.clone());
        std::thread::spawn(move || append_lines(input, output, written, stop))
    };
    let source = json!({
        "connector.class": "FileStreamSource",
        "file": path_str(&input),
        "topic": TOPIC,
        "batch.size": "200",
    });
    let sink = json!({
        "connector.class": "FileStreamSink",
        "file": path_str(&output),
        "topics": TOPIC,
    });
    ensure_connector(&url, "crash-source", source).await;
    ensure_connector(&url, "crash-sink", sink).await;

    // Two kills, each while lines are still being appended, read and written.
    for kill_at in [15_000, 45_000] {
        wait_for_lines(&output, kill_at, &mut worker).await;
        worker.signal(libc::SIGKILL);
        let _ = worker.wait_exit(Duration::from_secs(10));
        eprintln!(
            "killed the worker at {} sink lines, {} lines appended",
            line_count(&output),
            written.load(Ordering::SeqCst)
        );
        drop(worker);
        let restarted = start_worker(&serve_data, &bootstrap);
        worker = restarted.0;
    }
    assert!(
        written.load(Ordering::SeqCst) < LINES,
        "the input was complete before the last kill: the test did not kill a busy worker"
    );
    appender.join().expect("appender");
    wait_for_lines(&output, LINES, &mut worker).await;
    // Anything written twice would show up now.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let text = std::fs::read_to_string(&output).expect("read the sink file");
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for line in text.lines() {
        *seen.entry(line).or_insert(0) += 1;
    }
    let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(duplicated.is_empty(), "lines written twice: {duplicated:?}");
    for i in 0..LINES {
        let line = format!("line-{i:06}");
        assert!(
            seen.contains_key(line.as_str()),
            "{line} is missing from the sink file"
        );
    }
    assert_eq!(text.lines().count(), LINES);

    let reader_bootstrap = bootstrap.clone();
    let in_topic = tokio::task::spawn_blocking(move || topic_contents(&reader_bootstrap))
        .await
        .expect("read the topic");
    let twice: Vec<_> = in_topic.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "records in the topic twice: {twice:?}");
    assert_eq!(in_topic.len(), LINES, "distinct lines in the topic");

    stop_appending.store(true, Ordering::SeqCst);
    worker.signal(libc::SIGTERM);
    let status = worker.wait_exit(Duration::from_secs(30));
    let output_text = worker.output();
    assert!(
        status.is_some_and(|s| s.success()),
        "the worker did not stop cleanly:\n{output_text}"
    );
    broker.signal(libc::SIGTERM);
    let _ = broker.wait_exit(Duration::from_secs(20));
}
