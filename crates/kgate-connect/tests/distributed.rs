//! Several workers in one group: connectors and tasks shared through the group
//! coordinator (JoinGroup/SyncGroup with protocol type `connect`), writes to a follower
//! forwarded to the leader, the work moved when a worker stops; and state written by
//! Apache Kafka Connect 4.4 read by kgate's worker.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Worker, call, eventually, settings, states};
use kgate_kafka::ProduceRecord;
use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Value, json};

/// The worker ids running the tasks of `name`, once all `count` are RUNNING.
async fn task_workers(url: &str, name: &str, count: usize) -> Option<Vec<String>> {
    let (status, body) = call("GET", &format!("{url}/connectors/{name}/status"), None).await;
    if status != 200 {
        return None;
    }
    let tasks = body["tasks"].as_array()?;
    if tasks.len() != count || tasks.iter().any(|t| t["state"] != "RUNNING") {
        return None;
    }
    Some(
        tasks
            .iter()
            .filter_map(|t| t["worker_id"].as_str().map(str::to_string))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_tasks_and_take_over_when_one_stops() {
    let cluster = TestCluster::start().await;
    let prefix = unique_name("dist");
    let topic = unique_name("dist-topic");
    cluster.create_topic(&topic, 4).await;
    let first = Worker::start(cluster.kafka().clone(), &settings(&prefix, &[])).await;
    let second = Worker::start(cluster.kafka().clone(), &settings(&prefix, &[])).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.txt");

    // Whichever leads, a write to either is served (the follower forwards it).
    let (status, created) = call("POST", &format!("{}/connectors", second.url), Some(&json!({"name": "sink", "config": {
        "connector.class": "FileStreamSink", "file": output.to_str().unwrap(), "topics": topic, "tasks.max": "4",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    }}))).await;
    assert_eq!(status, 201, "{created}");
    let (status, _) = call("PUT", &format!("{}/connectors/other/config", first.url), Some(&json!({
        "connector.class": "FileStreamSink", "file": dir.path().join("other.txt").to_str().unwrap(), "topics": topic,
    }))).await;
    assert!(status == 201, "{status}");

    let workers = eventually(
        "tasks spread over both workers",
        Duration::from_secs(60),
        || async {
            task_workers(&first.url, "sink", 4)
                .await
                .filter(|w| w.iter().collect::<BTreeSet<_>>().len() == 2)
        },
    )
    .await;
    // Both workers see the same state.
    assert_eq!(
        task_workers(&second.url, "sink", 4).await.as_ref(),
        Some(&workers)
    );
    assert_eq!(
        call("GET", &format!("{}/connectors", first.url), None).await,
        call("GET", &format!("{}/connectors", second.url), None).await
    );

    // Records on all partitions reach the file.
    for i in 0..40 {
        cluster
            .produce(&topic, Some(i % 4), None, Some(format!("r{i}").as_bytes()))
            .await;
    }
    eventually(
        "the first records written",
        Duration::from_secs(60),
        || async {
            let text = std::fs::read_to_string(&output).unwrap_or_default();
            (text.lines().count() >= 40).then_some(())
        },
    )
    .await;

    // The second worker leaves: its tasks move to the first.
    let first_id = first.url.trim_start_matches("http://").to_string();
    second.stop().await;
    eventually(
        "every task on the remaining worker",
        Duration::from_secs(60),
        || async {
            task_workers(&first.url, "sink", 4)
                .await
                .filter(|w| w.iter().all(|id| *id == first_id))
        },
    )
    .await;
    for i in 40..80 {
        cluster
            .produce(&topic, Some(i % 4), None, Some(format!("r{i}").as_bytes()))
            .await;
    }
    // Nothing is lost. A sink with several tasks is at least once, as in Apache: a task
    // whose partitions were taken in a rebalance before it committed sees its last
    // records given to another task again.
    let want: BTreeSet<String> = (0..80).map(|i| format!("r{i}")).collect();
    eventually("all records written", Duration::from_secs(60), || async {
        let text = std::fs::read_to_string(&output).unwrap_or_default();
        let got: BTreeSet<String> = text.lines().map(str::to_string).collect();
        (got == want).then_some(())
    })
    .await;
    first.stop().await;
}

/// Writes the records of a fixture dumped from Apache's topics (`partition\tkey\tvalue`,
/// `NULL` for a tombstone) into `topic`.
async fn replay(cluster: &TestCluster, topic: &str, partitions: i32, fixture: &str) {
    cluster.create_topic(topic, partitions).await;
    let mut by_partition: std::collections::BTreeMap<i32, Vec<ProduceRecord>> = Default::default();
    for line in fixture.lines() {
        let mut parts = line.splitn(3, '\t');
        let partition: i32 = parts.next().unwrap().parse().unwrap();
        let key = parts.next().unwrap().as_bytes().to_vec();
        let value = parts
            .next()
            .filter(|v| *v != "NULL")
            .map(|v| v.as_bytes().to_vec());
        by_partition
            .entry(partition)
            .or_default()
            .push(ProduceRecord {
                key: Some(key),
                value,
                partition: Some(partition),
                ..ProduceRecord::default()
            });
    }
    for (_, records) in by_partition {
        for r in cluster.kafka().produce(topic, records).await.unwrap() {
            r.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_written_by_apache_connect_is_read_by_the_worker() {
    let cluster = TestCluster::start().await;
    let prefix = unique_name("apache");
    let dir = "tests/fixtures/apache-4.4";
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).unwrap();
    replay(
        &cluster,
        &format!("{prefix}-configs"),
        1,
        &read("configs.tsv"),
    )
    .await;
    replay(
        &cluster,
        &format!("{prefix}-status"),
        5,
        &read("status.tsv"),
    )
    .await;
    replay(
        &cluster,
        &format!("{prefix}-offsets"),
        25,
        &read("offsets.tsv"),
    )
    .await;
    let worker = Worker::start(
        cluster.kafka().clone(),
        &settings(
            &prefix,
            &[
                ("offset.storage.partitions", "25"),
                ("status.storage.partitions", "5"),
            ],
        ),
    )
    .await;
    let url = &worker.url;
    // The connectors Apache had, with their configurations and task configurations.
    assert_eq!(
        call("GET", &format!("{url}/connectors"), None).await,
        (200, json!(["ini", "sink", "src"]))
    );
    let (_, src) = call("GET", &format!("{url}/connectors/src/config"), None).await;
    assert_eq!(
        src,
        json!({"connector.class": "FileStreamSource", "file": "/tmp/ac/in.txt", "name": "src", "topic": "ac-t"})
    );
    let (_, tasks) = call("GET", &format!("{url}/connectors/sink/tasks"), None).await;
    assert_eq!(tasks.as_array().map(Vec::len), Some(2));
    assert_eq!(
        tasks[1]["config"]["task.class"],
        "org.apache.kafka.connect.file.FileStreamSinkTask"
    );
    // The offsets Apache's source task committed.
    let (_, offsets) = call("GET", &format!("{url}/connectors/src/offsets"), None).await;
    assert_eq!(
        offsets,
        json!({"offsets": [{"partition": {"filename": "/tmp/ac/in.txt"}, "offset": {"position": 6}}]})
    );
    // The paused connector stays paused under kgate's worker.
    eventually("ini paused by kgate", Duration::from_secs(30), || async {
        states(url, "ini").await.filter(|(c, _)| c == "PAUSED")
    })
    .await;
    // The connector Apache deleted is gone, its topic history reset included.
    let (status, _) = call("GET", &format!("{url}/connectors/new1"), None).await;
    assert_eq!(status, 404);
    // And kgate's writes are what Apache writes: a new target state record.
    assert_eq!(
        call("PUT", &format!("{url}/connectors/src/stop"), None)
            .await
            .0,
        204
    );
    let records = cluster
        .consume_all(&format!("{prefix}-configs"), 27, Duration::from_secs(30))
        .await;
    let stop = records
        .iter()
        .rev()
        .find(|r| r.key.as_deref() == Some(b"target-state-src".as_slice()))
        .and_then(|r| r.value.clone())
        .map(|v| serde_json::from_slice::<Value>(&v).unwrap());
    assert_eq!(
        stop,
        Some(json!({"state": "PAUSED", "state.v2": "STOPPED"}))
    );
    worker.stop().await;
}
