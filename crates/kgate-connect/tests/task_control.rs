//! The task control loop every task shares (source, exactly-once source, sink), against
//! a real worker on the embedded broker: a paused task commits what it did and then does
//! nothing, a resumed one carries on from there, and one stopped while it waits in a
//! poll or a read commits what it did before it ends.
//!
//! The worker's offset flush interval (and the exactly-once transaction interval) is ten
//! minutes here, so every commit these tests see is one made by a pause or a stop. The
//! source tasks read a named pipe that the test holds open: with nothing to read, their
//! poll waits until the test writes, so each pause and stop reaches a task in the middle
//! of a poll.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::{Worker, call, eventually, read_all, settings, states};
use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Value, json};

/// Longer than any test: no commit falls due by time.
const NEVER_MS: &str = "600000";

/// How long a paused task is watched for work it should not do: several of the file
/// source's idle waits and of the sink's reads.
const QUIET: Duration = Duration::from_millis(2000);

fn lines(from: usize, to: usize) -> Vec<String> {
    (from..to).map(|i| format!("line {i}")).collect()
}

/// A named pipe at `path`, opened for writing (and reading, so that opening it does not
/// wait for a reader): while it is open, a reader with nothing to read waits.
fn named_pipe(path: &Path) -> std::fs::File {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo {}", path.display());
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

fn append(pipe: &mut std::fs::File, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    pipe.write_all(text.as_bytes()).unwrap();
}

fn bytes_of(lines: &[String]) -> usize {
    lines.iter().map(|l| l.len() + 1).sum()
}

async fn set_state(url: &str, name: &str, action: &str, status: u16) {
    let (got, body) = call("PUT", &format!("{url}/connectors/{name}/{action}"), None).await;
    assert_eq!(got, status, "{action} {name}: {body}");
}

async fn wait_for_state(url: &str, name: &str, connector: &str, tasks: &[&str]) {
    eventually(
        &format!("{name} {connector} {tasks:?}"),
        Duration::from_secs(30),
        || async {
            states(url, name)
                .await
                .filter(|(c, t)| c == connector && t == tasks)
        },
    )
    .await;
}

async fn offsets(url: &str, name: &str) -> Value {
    let (status, body) = call("GET", &format!("{url}/connectors/{name}/offsets"), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits until the source connector's stored offset is `position`.
async fn wait_for_position(url: &str, name: &str, file: &Path, position: usize) {
    let expected = json!({"offsets": [{
        "partition": {"filename": file.to_str().unwrap()},
        "offset": {"position": position},
    }]});
    eventually(
        &format!("{name} at position {position}"),
        Duration::from_secs(30),
        || {
            let expected = expected.clone();
            async move { (offsets(url, name).await == expected).then_some(()) }
        },
    )
    .await;
}

/// Waits until `topic` holds `count` records, read uncommitted (an open transaction's
/// records count); panics when it holds more.
async fn wait_for_written(cluster: &TestCluster, topic: &str, count: usize) {
    eventually(
        &format!("{count} records written to {topic}"),
        Duration::from_secs(60),
        || async {
            if cluster.kafka().topic(topic).await.is_err() {
                return None;
            }
            let n = read_all(cluster.kafka(), topic).await.len();
            assert!(n <= count, "{n} records in {topic}, {count} expected");
            (n == count).then_some(())
        },
    )
    .await;
}

/// Reads `topic` as committed and checks it holds exactly `expected`, in order.
async fn assert_committed(cluster: &TestCluster, topic: &str, expected: &[String]) {
    let records = cluster
        .consume_all(topic, expected.len(), Duration::from_secs(60))
        .await;
    let values: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(values, expected);
}

async fn source_pause_resume_stop(exactly_once: bool) {
    let cluster = TestCluster::start().await;
    let prefix = unique_name("control");
    let mut extra = vec![("offset.flush.interval.ms", NEVER_MS)];
    if exactly_once {
        extra.push(("exactly.once.source.support", "enabled"));
    }
    let worker = Worker::start(cluster.kafka().clone(), &settings(&prefix, &extra)).await;
    let url = &worker.url;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pipe");
    let mut pipe = named_pipe(&input);
    let first = lines(0, 100);
    append(&mut pipe, &first);
    let topic = unique_name("control-topic");
    let mut config = json!({
        "connector.class": "FileStreamSource",
        "file": input.to_str().unwrap(),
        "topic": topic,
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    });
    if exactly_once {
        config["transaction.boundary"] = json!("interval");
        config["transaction.boundary.interval.ms"] = json!(NEVER_MS);
    }
    let (status, body) = call(
        "POST",
        &format!("{url}/connectors"),
        Some(&json!({"name": "src", "config": config})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    wait_for_state(url, "src", "RUNNING", &["RUNNING"]).await;

    // Running: the records are written, nothing is committed yet.
    wait_for_written(&cluster, &topic, first.len()).await;
    assert_eq!(offsets(url, "src").await, json!({"offsets": []}));

    // Pausing a task waiting in its poll commits: the offsets are stored (and the
    // transaction's records visible).
    set_state(url, "src", "pause", 202).await;
    wait_for_state(url, "src", "PAUSED", &["PAUSED"]).await;
    wait_for_position(url, "src", &input, bytes_of(&first)).await;
    assert_committed(&cluster, &topic, &first).await;

    // Paused: lines written now are not produced.
    let second = lines(100, 150);
    append(&mut pipe, &second);
    tokio::time::sleep(QUIET).await;
    assert_eq!(read_all(cluster.kafka(), &topic).await.len(), first.len());

    // Resumed: the task carries on where it paused, losing and repeating nothing.
    set_state(url, "src", "resume", 202).await;
    wait_for_state(url, "src", "RUNNING", &["RUNNING"]).await;
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    wait_for_written(&cluster, &topic, all.len()).await;

    // Stopped while it waits in its poll: it commits first.
    set_state(url, "src", "stop", 204).await;
    wait_for_state(url, "src", "STOPPED", &[]).await;
    wait_for_position(url, "src", &input, bytes_of(&all)).await;
    assert_committed(&cluster, &topic, &all).await;
    worker.stop().await;
    // The stopped task's read of the pipe ends once no writer holds it.
    drop(pipe);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_task_commits_when_paused_and_stopped_and_resumes_where_it_paused() {
    source_pause_resume_stop(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exactly_once_source_task_commits_its_transaction_when_paused_and_stopped() {
    source_pause_resume_stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_task_commits_when_paused_and_stopped_and_resumes_where_it_paused() {
    let cluster = TestCluster::start().await;
    let prefix = unique_name("control-sink");
    let worker = Worker::start(
        cluster.kafka().clone(),
        &settings(&prefix, &[("offset.flush.interval.ms", NEVER_MS)]),
    )
    .await;
    let url = &worker.url;
    let topic = unique_name("control-sink-topic");
    cluster.create_topic(&topic, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.txt");
    let (status, body) = call(
        "POST",
        &format!("{url}/connectors"),
        Some(&json!({"name": "sink", "config": {
            "connector.class": "FileStreamSink",
            "file": output.to_str().unwrap(),
            "topics": topic,
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        }})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    wait_for_state(url, "sink", "RUNNING", &["RUNNING"]).await;
    let produce = |values: Vec<String>| {
        let cluster = &cluster;
        let topic = &topic;
        async move {
            for v in &values {
                cluster
                    .produce(topic, Some(0), None, Some(v.as_bytes()))
                    .await;
            }
        }
    };
    let file_lines = || {
        std::fs::read_to_string(&output)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let committed = |offset: usize| {
        json!({"offsets": [{
            "partition": {"kafka_partition": 0, "kafka_topic": topic},
            "offset": {"kafka_offset": offset},
        }]})
    };

    // Running: the records are put; only the partition's starting point is committed.
    let first = lines(0, 100);
    produce(first.clone()).await;
    eventually("the first records put", Duration::from_secs(60), || async {
        (file_lines() == first).then_some(())
    })
    .await;
    assert_eq!(offsets(url, "sink").await, committed(0));

    // Pausing flushes and commits what was put.
    set_state(url, "sink", "pause", 202).await;
    wait_for_state(url, "sink", "PAUSED", &["PAUSED"]).await;
    eventually("the pause's commit", Duration::from_secs(30), || async {
        (offsets(url, "sink").await == committed(first.len())).then_some(())
    })
    .await;

    // Paused: new records are not read.
    let second = lines(100, 150);
    produce(second.clone()).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(file_lines(), first);

    // Resumed: the task carries on from there.
    set_state(url, "sink", "resume", 202).await;
    wait_for_state(url, "sink", "RUNNING", &["RUNNING"]).await;
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    eventually("every record put", Duration::from_secs(60), || async {
        (file_lines() == all).then_some(())
    })
    .await;

    // Stopped while it waits in a read: it commits first.
    set_state(url, "sink", "stop", 204).await;
    wait_for_state(url, "sink", "STOPPED", &[]).await;
    eventually("the stop's commit", Duration::from_secs(30), || async {
        (offsets(url, "sink").await == committed(all.len())).then_some(())
    })
    .await;
    assert_eq!(file_lines(), all);
    worker.stop().await;
}
