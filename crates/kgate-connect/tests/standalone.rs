//! Standalone mode (`connect.mode=standalone`): one worker, no state topics, source
//! offsets in a local file that a restarted worker resumes from.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{Worker, call, eventually, settings, states};
use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_worker_resumes_from_its_offsets_file() {
    let cluster = TestCluster::start().await;
    let prefix = unique_name("standalone");
    let dir = tempfile::tempdir().unwrap();
    let offsets_file = dir.path().join("connect.offsets");
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "one\ntwo\nthree\n").unwrap();
    let topic = unique_name("standalone-topic");
    let worker_settings = settings(
        &prefix,
        &[
            ("mode", "standalone"),
            (
                "offset.storage.file.filename",
                offsets_file.to_str().unwrap(),
            ),
            (
                "value.converter",
                "org.apache.kafka.connect.storage.StringConverter",
            ),
        ],
    );
    let connector = json!({
        "name": "file-in",
        "config": {
            "connector.class": "FileStreamSource",
            "file": input.to_str().unwrap(),
            "topic": topic,
        }
    });

    let worker = Worker::start(cluster.kafka().clone(), &worker_settings).await;
    let url = worker.url.clone();
    let (status, _) = call("POST", &format!("{url}/connectors"), Some(&connector)).await;
    assert_eq!(status, 201);
    eventually("file-in running", Duration::from_secs(30), || async {
        states(&url, "file-in")
            .await
            .filter(|(c, t)| c == "RUNNING" && t == &["RUNNING"])
    })
    .await;
    let values = |records: Vec<kgate_testkit::ConsumedRecord>| -> Vec<String> {
        records
            .iter()
            .map(|r| String::from_utf8(r.value.clone().unwrap_or_default()).unwrap())
            .collect()
    };
    eventually("the topic", Duration::from_secs(30), || async {
        let meta = cluster.kafka().fresh_metadata().await.ok()?;
        meta.topics.contains_key(&topic).then_some(())
    })
    .await;
    let first = cluster
        .consume_all(&topic, 3, Duration::from_secs(30))
        .await;
    assert_eq!(values(first), ["one", "two", "three"]);
    // The worker is its own leader and writes no state topic.
    let (_, root) = call("GET", &format!("{url}/"), None).await;
    assert!(root["version"].is_string(), "{root}");
    for state_topic in ["configs", "offsets", "status"] {
        let name = format!("{prefix}-{state_topic}");
        assert!(
            cluster.kafka().topic(&name).await.is_err(),
            "{name} was created in standalone mode"
        );
    }
    worker.stop().await;

    // The offsets file holds the source partition and how far the file was read, keyed
    // as Apache keys source offsets.
    let stored: Value =
        serde_json::from_slice(&std::fs::read(&offsets_file).expect("the offsets file")).unwrap();
    assert_eq!(
        stored,
        json!([{
            "key": ["file-in", {"filename": input.to_str().unwrap()}],
            "value": {"position": 14},
        }])
    );

    // Lines added while no worker runs are read by the next one, and only those: its
    // connectors come from requests again (standalone keeps configurations in memory).
    std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap()
        .write_all(b"four\nfive\n")
        .unwrap();
    let worker = Worker::start(cluster.kafka().clone(), &worker_settings).await;
    let url = worker.url.clone();
    assert_eq!(
        call("GET", &format!("{url}/connectors"), None).await,
        (200, json!([]))
    );
    let (status, _) = call("POST", &format!("{url}/connectors"), Some(&connector)).await;
    assert_eq!(status, 201);
    let all = cluster
        .consume_all(&topic, 5, Duration::from_secs(30))
        .await;
    assert_eq!(values(all), ["one", "two", "three", "four", "five"]);
    // Nothing more arrives: the restarted task did not read the file from its start.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let again = cluster
        .consume_all(&topic, 5, Duration::from_secs(30))
        .await;
    assert_eq!(again.len(), 5);
    worker.stop().await;
}
