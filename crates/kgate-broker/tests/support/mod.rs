//! Shared helpers of the broker tests: start a broker on 127.0.0.1:0, make rdkafka
//! clients for it, and read topics back.

#![allow(dead_code)]

pub mod wire;

use std::time::{Duration, Instant};

use kgate_broker::{Broker, BrokerConfig};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::FutureProducer;
use rdkafka::{Message, Offset, TopicPartitionList};

/// Generous deadline for anything that waits on the broker.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Starts a broker on a fresh port with `data_dir` and extra properties. As in Kafka's
/// own test set-ups, a new group's first rebalance is not delayed
/// (`group.initial.rebalance.delay.ms=0`) unless `props` sets it.
pub async fn start_in(data_dir: &std::path::Path, props: &[(&str, &str)]) -> Broker {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = BrokerConfig::new(data_dir);
    config
        .properties
        .insert("group.initial.rebalance.delay.ms".into(), "0".into());
    for (k, v) in props {
        config.properties.insert(k.to_string(), v.to_string());
    }
    Broker::start(listener, config).await.unwrap()
}

/// A unique name for a test's topic.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A producer for the broker at `addr`.
pub fn producer(addr: std::net::SocketAddr, extra: &[(&str, &str)]) -> FutureProducer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", addr.to_string())
        .set("message.timeout.ms", "30000");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().unwrap()
}

/// A group-less consumer for `addr`.
pub fn consumer(addr: std::net::SocketAddr, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", addr.to_string())
        .set("group.id", unique("assign-only"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().unwrap()
}

/// Reads `count` messages of `topic` partitions `0..partitions` from the beginning.
pub fn read_messages(
    addr: std::net::SocketAddr,
    topic: &str,
    partitions: i32,
    count: usize,
) -> Vec<OwnedMessage> {
    let consumer = consumer(addr, &[]);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            start.elapsed() < DEADLINE,
            "only {} of {count} messages arrived",
            out.len()
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push(m.detach()),
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
    out
}

/// Every record of partition 0 of `topic` that a consumer with `isolation`
/// (`read_committed` or `read_uncommitted`) reads up to the end it may see, as
/// (offset, key, value) with keys and values as text.
pub fn read_partition_to_end(
    addr: std::net::SocketAddr,
    topic: &str,
    isolation: &str,
) -> Vec<(i64, String, Option<String>)> {
    let consumer = consumer(
        addr,
        &[
            ("enable.partition.eof", "true"),
            ("isolation.level", isolation),
        ],
    );
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let start = Instant::now();
    let mut out = Vec::new();
    loop {
        assert!(
            start.elapsed() < DEADLINE,
            "no end of partition; got {out:?}"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push((
                m.offset(),
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                m.payload().map(|p| String::from_utf8_lossy(p).into_owned()),
            )),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return out,
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
}

/// Waits until `check` holds, polling.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads the payload of a message as text.
pub fn text(m: &OwnedMessage) -> String {
    String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned()
}
