//! The worker's state topics at start: a creation the broker refuses for want of room
//! (as it does while the process has too few file descriptors to spare) is waited for,
//! not a failed start; a refusal the user must fix names the setting at once.

use std::sync::Arc;
use std::time::Duration;

use kgate_connect::ConnectError;
use kgate_connect::storage::log::{TopicLog, TopicSpec};
use kgate_testkit::{TestCluster, unique_name};
use parking_lot::Mutex;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_topic_the_broker_has_no_room_for_yet_is_waited_for() {
    if kgate_testkit::skip_unless_embedded("sets max.broker.partitions") {
        return;
    }
    // A broker at its partition limit answers POLICY_VIOLATION, the answer it gives while
    // descriptors are short.
    let cluster = TestCluster::builder()
        .broker_property("max.broker.partitions", "4")
        .start()
        .await;
    let kafka = cluster.kafka().clone();
    cluster.fill_partitions("filler", 4).await;

    let applied: Arc<Mutex<Vec<String>>> = Arc::default();
    let starting = {
        let kafka = kafka.clone();
        let applied = applied.clone();
        tokio::spawn(async move {
            let spec = TopicSpec {
                name: "connect-configs".into(),
                partitions: 1,
                replication: -1,
                key: "config.storage.topic",
            };
            TopicLog::start(
                kafka,
                &spec,
                false,
                Box::new(move |r| {
                    let key = r.key.as_deref().unwrap_or_default();
                    applied
                        .lock()
                        .push(String::from_utf8_lossy(key).into_owned());
                }),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !starting.is_finished(),
        "the start ended while the broker still had no room: {:?}",
        starting.await.map(|r| r.map(|_| ()))
    );
    kafka.delete_topic("filler").await.expect("make room");
    let log = starting
        .await
        .expect("task")
        .expect("started once there is room");
    assert_eq!(log.partition_count(), 1);
    log.write(vec![(b"k".to_vec(), Some(b"{}".to_vec()), Some(0))], true)
        .await
        .expect("write read back");
    assert_eq!(*applied.lock(), vec!["k".to_string()]);
    let configs = kafka
        .topic_overrides("connect-configs")
        .await
        .expect("configs");
    assert_eq!(
        configs.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    log.close().await;
    cluster.stop().await;
}

#[tokio::test]
async fn a_replication_factor_the_cluster_cannot_hold_names_its_setting() {
    let cluster = TestCluster::start().await;
    let spec = TopicSpec {
        name: unique_name("connect-status"),
        partitions: 5,
        replication: 99,
        key: "status.storage.topic",
    };
    let refused = TopicLog::start(cluster.kafka().clone(), &spec, false, Box::new(|_| {})).await;
    match refused {
        Err(ConnectError::Config { key, value, .. }) => {
            assert_eq!(
                (key.as_str(), value.as_str()),
                ("status.storage.replication.factor", "99")
            );
        }
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(_) => panic!("a replication factor of 99 was accepted"),
    }
    let topics = cluster.kafka().fresh_metadata().await.expect("metadata");
    assert!(!topics.topics.contains_key(&spec.name));
    cluster.stop().await;
}
