//! Log compaction: many updates to a few keys and a tombstone; the cleaner keeps the
//! latest value per key at its original offset and drops the tombstone only after
//! `delete.retention.ms`.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use support::{DEADLINE, start_in, unique};

/// (offset, key, value) of every record of partition 0.
type Entries = Vec<(i64, String, Option<String>)>;

async fn create_compacted(addr: SocketAddr, name: &str, delete_retention_ms: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .create()
        .unwrap();
    let topic = NewTopic::new(name, 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        // Every batch gets a segment of its own, so all but the last can be cleaned.
        .set("segment.bytes", "100")
        .set("delete.retention.ms", delete_retention_ms);
    let results = admin
        .create_topics(&[topic], &AdminOptions::new())
        .await
        .unwrap();
    results[0].as_ref().unwrap();
}

fn read_all(addr: SocketAddr, topic: &str) -> Entries {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .set("group.id", unique("compaction-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
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
            Some(Err(KafkaError::PartitionEOF(_))) => return out,
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
}

async fn produce(producer: &FutureProducer, topic: &str, key: &str, value: Option<&str>) {
    let mut record = FutureRecord::<str, str>::to(topic).partition(0).key(key);
    if let Some(v) = value {
        record = record.payload(v);
    }
    producer.send(record, DEADLINE).await.unwrap();
}

/// Writes 10 updates to each of k0, k1, k2 (offsets 0..30), a tombstone for k0 (30) and
/// one record of key `end` (31).
async fn write_updates(producer: &FutureProducer, topic: &str) {
    for i in 0..10 {
        for k in 0..3 {
            produce(producer, topic, &format!("k{k}"), Some(&format!("v{i}"))).await;
        }
    }
    produce(producer, topic, "k0", None).await;
    produce(producer, topic, "end", Some("last")).await;
}

async fn wait_for(addr: SocketAddr, topic: &str, expected: &Entries) {
    let start = Instant::now();
    loop {
        let addr2 = addr;
        let topic2 = topic.to_string();
        let got = tokio::task::spawn_blocking(move || read_all(addr2, &topic2))
            .await
            .unwrap();
        if &got == expected {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "compaction never produced {expected:?}; last read {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn entry(offset: i64, key: &str, value: Option<&str>) -> (i64, String, Option<String>) {
    (offset, key.to_string(), value.map(str::to_string))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleaner_keeps_latest_per_key_and_drops_tombstones_after_delete_retention() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[("log.cleaner.backoff.ms", "100")]).await;
    let addr = broker.local_addr();
    let kept = unique("compact-keep");
    let expired = unique("compact-expire");
    create_compacted(addr, &kept, "86400000").await;
    create_compacted(addr, &expired, "0").await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .set("linger.ms", "0")
        .create()
        .unwrap();
    write_updates(&producer, &kept).await;
    write_updates(&producer, &expired).await;

    // A day of delete.retention.ms keeps the tombstone; 0 lets it go at once.
    wait_for(
        addr,
        &kept,
        &vec![
            entry(28, "k1", Some("v9")),
            entry(29, "k2", Some("v9")),
            entry(30, "k0", None),
            entry(31, "end", Some("last")),
        ],
    )
    .await;
    wait_for(
        addr,
        &expired,
        &vec![
            entry(28, "k1", Some("v9")),
            entry(29, "k2", Some("v9")),
            entry(31, "end", Some("last")),
        ],
    )
    .await;

    // The compacted log keeps taking writes at the next offset.
    produce(&producer, &kept, "k1", Some("v10")).await;
    produce(&producer, &kept, "end", Some("after")).await;
    wait_for(
        addr,
        &kept,
        &vec![
            entry(29, "k2", Some("v9")),
            entry(30, "k0", None),
            entry(32, "k1", Some("v10")),
            entry(33, "end", Some("after")),
        ],
    )
    .await;

    // Compacted segments are recovered like any other after a restart.
    drop(producer);
    broker.shutdown().await.unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let topic = kept.clone();
    let got = tokio::task::spawn_blocking(move || read_all(addr, &topic))
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![
            entry(29, "k2", Some("v9")),
            entry(30, "k0", None),
            entry(32, "k1", Some("v10")),
            entry(33, "end", Some("after")),
        ]
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleaner_rewrites_compressed_batches_keeping_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[("log.cleaner.backoff.ms", "100")]).await;
    let addr = broker.local_addr();
    let topic = unique("compact-gzip");
    create_compacted(addr, &topic, "86400000").await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .set("compression.type", "gzip")
        .set("linger.ms", "200")
        .create()
        .unwrap();
    // Sent together, these three land in one compressed batch; the cleaner must
    // decompress it, drop k0's first value and compress the rest again.
    let sends = [("k0", "v0"), ("k1", "v0"), ("k0", "v1")].map(|(k, v)| {
        producer.send(
            FutureRecord::<str, str>::to(&topic)
                .partition(0)
                .key(k)
                .payload(v),
            DEADLINE,
        )
    });
    let offsets: Vec<i64> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap().offset)
        .collect();
    assert_eq!(offsets, [0, 1, 2]);
    produce(&producer, &topic, "end", Some("last")).await;
    wait_for(
        addr,
        &topic,
        &vec![
            entry(1, "k1", Some("v0")),
            entry(2, "k0", Some("v1")),
            entry(3, "end", Some("last")),
        ],
    )
    .await;
    drop(producer);
    broker.shutdown().await.unwrap();
}
