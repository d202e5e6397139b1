//! The state-topic reader against the embedded broker: making sure of a state topic
//! (asked again while the broker refuses it for want of room), applying a log past
//! transaction markers, and writes read back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kgate_broker::{Broker, BrokerConfig};
use kgate_kafka::log_reader::{LogPositions, LogRecord, LogSettings};
use kgate_kafka::{Kafka, KafkaConfig, KafkaError, ProduceRecord};
use parking_lot::Mutex;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

async fn start(properties: &[(&str, &str)]) -> (Broker, Kafka, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mut config = BrokerConfig::new(dir.path());
    for (k, v) in properties {
        config.properties.insert(k.to_string(), v.to_string());
    }
    let broker = Broker::start(listener, config).await.expect("broker");
    let kafka = Kafka::connect(KafkaConfig {
        bootstrap_servers: broker.local_addr().to_string(),
        ..KafkaConfig::default()
    })
    .await
    .expect("connect");
    (broker, kafka, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_topic_refused_for_want_of_room_is_created_once_there_is_room() {
    // A broker at its partition limit refuses creations with POLICY_VIOLATION, as it does
    // when the process has too few file descriptors to spare.
    let (broker, kafka, _dir) = start(&[("max.broker.partitions", "2")]).await;
    kafka
        .create_topic("filler", 2, 1, &BTreeMap::new())
        .await
        .expect("filler");

    let refused = kafka
        .ensure_log_topic("state", 1, 1, Duration::from_millis(600))
        .await;
    assert!(
        refused.as_ref().is_err_and(KafkaError::is_policy_violation),
        "{refused:?}"
    );

    let waiting = {
        let kafka = kafka.clone();
        tokio::spawn(async move {
            kafka
                .ensure_log_topic("state", 1, 1, Duration::from_secs(120))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "no room was made, so the creation still waits"
    );
    kafka.delete_topic("filler").await.expect("delete filler");
    let partitions = waiting
        .await
        .expect("task")
        .expect("created once there is room");
    assert_eq!(partitions, vec![0]);

    // Created compacted, as state topics are.
    let configs = kafka.topic_overrides("state").await.expect("configs");
    assert_eq!(
        configs.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    // Made sure of again, it is left as it is.
    let again = kafka
        .ensure_log_topic("state", 1, 1, Duration::from_secs(30))
        .await;
    assert_eq!(again.expect("exists"), vec![0]);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_refusal_that_lasts_fails_at_once() {
    let (broker, kafka, _dir) = start(&[]).await;
    let refused = kafka
        .ensure_log_topic("state", 1, 3, Duration::from_secs(120))
        .await;
    assert!(
        matches!(&refused, Err(KafkaError::InvalidRequest(m)) if m.contains("replication factor")),
        "{refused:?}"
    );
    broker.shutdown().await.expect("shutdown");
}

/// Commits `committed` and aborts `aborted` in one transaction each, blocking.
fn transactions(bootstrap: String, topic: String, committed: usize, aborted: usize) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("transactional.id", "log-reader-test")
        .create()
        .expect("producer");
    let wait = Duration::from_secs(30);
    producer.init_transactions(wait).expect("init");
    for (count, commit) in [(committed, true), (aborted, false)] {
        producer.begin_transaction().expect("begin");
        for i in 0..count {
            let key = format!("{}-{i}", if commit { "kept" } else { "dropped" });
            producer
                .send(BaseRecord::to(&topic).key(&key).payload("v").partition(0))
                .map_err(|(e, _)| e)
                .expect("send");
        }
        producer.flush(wait).expect("flush");
        if commit {
            producer.commit_transaction(wait).expect("commit");
        } else {
            producer.abort_transaction(wait).expect("abort");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_is_applied_to_its_end_past_transaction_markers_and_writes_are_read_back() {
    let (broker, kafka, _dir) = start(&[]).await;
    let partitions = kafka
        .ensure_log_topic("log", 3, 1, Duration::from_secs(30))
        .await
        .expect("topic");
    assert_eq!(partitions, vec![0, 1, 2]);
    let plain: Vec<ProduceRecord> = (0..30)
        .map(|i| ProduceRecord {
            key: Some(format!("plain-{i}").into_bytes()),
            value: (i % 5 != 0).then(|| b"v".to_vec()),
            partition: Some(i % 3),
            ..ProduceRecord::default()
        })
        .collect();
    for r in kafka.produce("log", plain).await.expect("produce") {
        r.expect("delivered");
    }
    let bootstrap = broker.local_addr().to_string();
    tokio::task::spawn_blocking(move || transactions(bootstrap, "log".into(), 4, 3))
        .await
        .expect("transactions");

    let applied: Arc<Mutex<Vec<LogRecord>>> = Arc::default();
    let log = {
        let applied = applied.clone();
        kafka
            .apply_log(
                "log",
                &partitions,
                &LogSettings {
                    read_committed: true,
                    client_id: "log-reader-test".into(),
                },
                LogPositions::new(),
                move |records| applied.lock().extend_from_slice(records),
            )
            .expect("apply")
    };
    // The end of partition 0 lies past two transaction markers, which are never handed
    // out as records: reading to the end still ends.
    log.read_to_end(Duration::from_secs(60))
        .await
        .expect("read to the end");
    {
        let applied = applied.lock();
        let keys: Vec<String> = applied
            .iter()
            .map(|r| String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned())
            .collect();
        assert_eq!(applied.len(), 34, "{keys:?}");
        assert!(keys.iter().all(|k| !k.starts_with("dropped")), "{keys:?}");
        assert_eq!(keys.iter().filter(|k| k.starts_with("kept")).count(), 4);
        // Tombstones come through as records without a value.
        assert_eq!(applied.iter().filter(|r| r.value.is_none()).count(), 6);
        // In log order within each partition.
        for p in 0..3 {
            let offsets: Vec<i64> = applied
                .iter()
                .filter(|r| r.partition == p)
                .map(|r| r.offset)
                .collect();
            assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
        }
    }
    // 10 plain records, 4 committed, 3 aborted and two markers in partition 0.
    assert_eq!(log.positions().position(0), 19);
    assert_eq!(log.positions().position(1), 10);

    // A write waited for at its own offsets is applied when the wait ends.
    let written = kafka
        .produce(
            "log",
            vec![ProduceRecord {
                key: Some(b"late".to_vec()),
                value: Some(b"v".to_vec()),
                partition: Some(2),
                ..ProduceRecord::default()
            }],
        )
        .await
        .expect("produce");
    let position = written
        .into_iter()
        .next()
        .expect("one result")
        .expect("delivered");
    log.positions()
        .wait_for(
            &BTreeMap::from([(position.partition, position.offset + 1)]),
            Duration::from_secs(30),
        )
        .await
        .expect("read back");
    assert!(
        applied
            .lock()
            .iter()
            .any(|r| r.key.as_deref() == Some(b"late".as_slice()))
    );

    // Closed, the reader answers no more questions.
    log.close().await;
    let closed = log.read_to_end(Duration::from_secs(1)).await;
    assert!(matches!(closed, Err(KafkaError::Internal(_))), "{closed:?}");
    broker.shutdown().await.expect("shutdown");
}
