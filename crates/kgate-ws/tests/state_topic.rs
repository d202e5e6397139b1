//! The WebSocket proxy's state topics against the embedded broker: set up in the
//! background until Kafka answers, ready once read to their end, writes read back.

use std::collections::BTreeMap;
use std::time::Duration;

use kgate_broker::{Broker, BrokerConfig};
use kgate_kafka::{Kafka, KafkaConfig};
use kgate_ws::state_topic::{StateTopic, TopicState};

/// The state under test: every key's last value.
#[derive(Default)]
struct Keys(BTreeMap<String, Vec<u8>>);

impl TopicState for Keys {
    fn apply(&mut self, key: &str, value: Option<&[u8]>) {
        match value {
            Some(v) => self.0.insert(key.to_string(), v.to_vec()),
            None => self.0.remove(key),
        };
    }
}

async fn kafka(bootstrap: &str) -> Kafka {
    Kafka::connect(KafkaConfig {
        bootstrap_servers: bootstrap.to_string(),
        ..KafkaConfig::default()
    })
    .await
    .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_topic_is_set_up_once_kafka_answers_and_read_to_its_end_by_the_next_instance() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The broker's address is known, but nothing answers on it yet.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let bootstrap = listener.local_addr().expect("address").to_string();
    let first: std::sync::Arc<StateTopic<Keys>> =
        StateTopic::spawn(kafka(&bootstrap).await, "_wsproxy.test".into(), 1);
    assert!(
        first.ready(Duration::from_secs(2)).await.is_err(),
        "ready although Kafka never answered"
    );
    assert!(!first.is_ready());

    let broker = Broker::start(listener, BrokerConfig::new(dir.path()))
        .await
        .expect("broker");
    first
        .ready(Duration::from_secs(120))
        .await
        .expect("ready once Kafka answers");

    // A write is applied when it returns.
    first
        .write_all(vec![
            ("a".into(), Some(b"1".to_vec())),
            ("b".into(), Some(b"2".to_vec())),
            ("c".into(), Some(b"3".to_vec())),
        ])
        .await
        .expect("write");
    first.write("a", None).await.expect("tombstone");
    first.write("b", Some(b"22".to_vec())).await.expect("write");
    let seen = first.read(|s| s.0.clone());
    let expected = BTreeMap::from([
        ("b".to_string(), b"22".to_vec()),
        ("c".to_string(), b"3".to_vec()),
    ]);
    assert_eq!(seen, expected);

    // Another instance is ready only once it has read all of it.
    let second: std::sync::Arc<StateTopic<Keys>> =
        StateTopic::spawn(kafka(&bootstrap).await, "_wsproxy.test".into(), 1);
    second
        .ready(Duration::from_secs(60))
        .await
        .expect("second ready");
    assert_eq!(second.read(|s| s.0.clone()), expected);

    // What one instance writes, the other reads.
    second.write("d", Some(b"4".to_vec())).await.expect("write");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while first.read(|s| !s.0.contains_key("d")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never read by the first"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The topic was made compacted.
    let configs = kafka(&bootstrap)
        .await
        .topic_overrides("_wsproxy.test")
        .await
        .expect("configs");
    assert_eq!(
        configs.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    drop((first, second));
    broker.shutdown().await.expect("shutdown");
}
