//! The client layer against the embedded broker: topics, metadata, produce placement,
//! watermarks, time lookups and error classification.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kgate_broker::{Broker, BrokerConfig};
use kgate_kafka::{ConfigValueSource, Kafka, KafkaConfig, KafkaError, ProduceRecord};

async fn start() -> (Broker, Kafka, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let broker = Broker::start(listener, BrokerConfig::new(dir.path()))
        .await
        .expect("broker");
    let kafka = Kafka::connect(KafkaConfig {
        bootstrap_servers: broker.local_addr().to_string(),
        ..KafkaConfig::default()
    })
    .await
    .expect("connect");
    (broker, kafka, dir)
}

/// Kafka's Java partitioner hash (murmur2), written out so the test checks placement
/// against an independent computation.
fn java_murmur2(data: &[u8]) -> i32 {
    let m: i32 = 0x5bd1_e995;
    let mut h: i32 = (0x9747_b28c_u32 as i32) ^ (data.len() as i32);
    let chunks = data.len() / 4;
    for i in 0..chunks {
        let b = &data[i * 4..i * 4 + 4];
        let mut k = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        k = k.wrapping_mul(m);
        k ^= ((k as u32) >> 24) as i32;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m);
        h ^= k;
    }
    let tail = &data[chunks * 4..];
    if tail.len() >= 3 {
        h ^= (tail[2] as i32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as i32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as i32;
        h = h.wrapping_mul(m);
    }
    h ^= ((h as u32) >> 13) as i32;
    h = h.wrapping_mul(m);
    h ^= ((h as u32) >> 15) as i32;
    h
}

async fn wait_for_topic(kafka: &Kafka, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while kafka.topic(name).await.is_err() {
        assert!(Instant::now() < deadline, "{name} never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_places_records_like_java_clients() {
    let (broker, kafka, _dir) = start().await;
    kafka
        .create_topic("placement", 5, 1, &BTreeMap::new())
        .await
        .expect("create");
    wait_for_topic(&kafka, "placement").await;

    let keys: Vec<String> = (0..20).map(|i| format!("key-{i}")).collect();
    let records = keys
        .iter()
        .map(|k| ProduceRecord {
            key: Some(k.as_bytes().to_vec()),
            value: Some(b"v".to_vec()),
            ..ProduceRecord::default()
        })
        .collect();
    let results = kafka.produce("placement", records).await.expect("produce");
    for (key, r) in keys.iter().zip(results) {
        let pos = r.expect("delivered");
        let want = (java_murmur2(key.as_bytes()) & 0x7fff_ffff) % 5;
        assert_eq!(pos.partition, want, "key {key}");
    }

    // Explicit partitions are honoured; offsets grow in request order.
    let records = (0..3)
        .map(|i| ProduceRecord {
            value: Some(vec![i]),
            partition: Some(4),
            headers: vec![("h".to_string(), Some(b"1".to_vec()))],
            ..ProduceRecord::default()
        })
        .collect();
    let results = kafka.produce("placement", records).await.expect("produce");
    let offsets: Vec<i64> = results.into_iter().map(|r| r.expect("ok").offset).collect();
    assert_eq!(offsets.windows(2).filter(|w| w[1] == w[0] + 1).count(), 2);

    let o = kafka
        .partition_offsets("placement", 4)
        .await
        .expect("offsets");
    assert_eq!(o.beginning, 0);
    assert_eq!(o.end, offsets[2] + 1);

    kafka.close().await;
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_and_errors_are_typed() {
    let (broker, kafka, _dir) = start().await;
    kafka
        .create_topic("typed", 2, 1, &BTreeMap::new())
        .await
        .expect("create");
    wait_for_topic(&kafka, "typed").await;

    let err = kafka
        .create_topic("typed", 2, 1, &BTreeMap::new())
        .await
        .unwrap_err();
    assert!(matches!(err, KafkaError::TopicAlreadyExists(_)), "{err:?}");
    let err = kafka.topic("nope").await.unwrap_err();
    assert!(matches!(err, KafkaError::TopicNotFound(_)), "{err:?}");
    let err = kafka.partition("typed", 2).await.unwrap_err();
    assert!(
        matches!(err, KafkaError::PartitionNotFound { partition: 2, .. }),
        "{err:?}"
    );
    let err = kafka.partition_offsets("nope", 0).await.unwrap_err();
    assert!(matches!(err, KafkaError::TopicNotFound(_)), "{err:?}");
    let err = kafka
        .produce("nope", vec![ProduceRecord::default()])
        .await
        .unwrap_err();
    assert!(matches!(err, KafkaError::TopicNotFound(_)), "{err:?}");
    let err = kafka
        .create_topic("bad-partitions", 0, 1, &BTreeMap::new())
        .await
        .unwrap_err();
    assert!(matches!(err, KafkaError::InvalidRequest(_)), "{err:?}");

    // A record for a missing partition fails alone; the others land.
    let results = kafka
        .produce(
            "typed",
            vec![
                ProduceRecord {
                    partition: Some(9),
                    ..ProduceRecord::default()
                },
                ProduceRecord {
                    partition: Some(1),
                    value: Some(b"x".to_vec()),
                    ..ProduceRecord::default()
                },
            ],
        )
        .await
        .expect("produce");
    assert!(matches!(
        results[0],
        Err(KafkaError::PartitionNotFound { partition: 9, .. })
    ));
    assert_eq!(results[1].as_ref().expect("delivered").partition, 1);

    // Growing the topic shows in metadata at once.
    kafka.create_partitions("typed", 3).await.expect("grow");
    let deadline = Instant::now() + Duration::from_secs(30);
    while kafka.partition("typed", 2).await.is_err() {
        assert!(Instant::now() < deadline, "partition 2 never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The producer, which learned the topic with two partitions, writes to the new one.
    let results = kafka
        .produce(
            "typed",
            vec![ProduceRecord {
                partition: Some(2),
                value: Some(b"new".to_vec()),
                ..ProduceRecord::default()
            }],
        )
        .await
        .expect("produce");
    assert_eq!(results[0].as_ref().expect("delivered").partition, 2);

    kafka.delete_topic("typed").await.expect("delete");
    let deadline = Instant::now() + Duration::from_secs(30);
    while kafka.topic("typed").await.is_ok() {
        assert!(Instant::now() < deadline, "typed never went away");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    kafka.close().await;
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_for_times() {
    let (broker, kafka, _dir) = start().await;
    kafka
        .create_topic("times", 1, 1, &BTreeMap::new())
        .await
        .expect("create");
    wait_for_topic(&kafka, "times").await;
    let records = [1_000i64, 2_000, 3_000]
        .iter()
        .map(|&ts| ProduceRecord {
            value: Some(b"v".to_vec()),
            partition: Some(0),
            timestamp: Some(ts),
            ..ProduceRecord::default()
        })
        .collect();
    for r in kafka.produce("times", records).await.expect("produce") {
        r.expect("delivered");
    }
    assert_eq!(
        kafka.offset_for_time("times", 0, 1_500).await.unwrap(),
        Some(1)
    );
    assert_eq!(kafka.offset_for_time("times", 0, 0).await.unwrap(), Some(0));
    assert_eq!(
        kafka.offset_for_time("times", 0, 9_000).await.unwrap(),
        None
    );
    kafka.close().await;
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_configs_tell_overrides_from_defaults() {
    let (broker, kafka, _dir) = start().await;
    let overrides: BTreeMap<String, String> =
        [("cleanup.policy".to_string(), "compact".to_string())].into();
    kafka
        .create_topic("configured", 1, 1, &overrides)
        .await
        .expect("create");
    wait_for_topic(&kafka, "configured").await;

    let all = kafka.topic_configs("configured").await.expect("configs");
    let cleanup = all
        .iter()
        .find(|c| c.name == "cleanup.policy")
        .expect("cleanup.policy listed");
    assert_eq!(cleanup.value.as_deref(), Some("compact"));
    assert_eq!(cleanup.source, ConfigValueSource::DynamicTopic);
    assert!(!cleanup.is_default);
    let retention = all
        .iter()
        .find(|c| c.name == "retention.ms")
        .expect("retention.ms listed");
    assert_ne!(retention.source, ConfigValueSource::DynamicTopic);
    assert_eq!(
        kafka
            .topic_overrides("configured")
            .await
            .expect("overrides"),
        overrides
    );
    let err = kafka.topic_configs("nope").await.unwrap_err();
    assert!(matches!(err, KafkaError::TopicNotFound(_)), "{err:?}");

    kafka.close().await;
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_come_in_ordered_chunks_and_commit_what_was_handed_out() {
    use kgate_kafka::consumer::{ConsumerSettings, PartitionOffset, ReadLimits, TopicPartition};

    let (broker, kafka, _dir) = start().await;
    kafka
        .create_topic("chunked", 1, 1, &BTreeMap::new())
        .await
        .expect("create");
    wait_for_topic(&kafka, "chunked").await;
    let value = |i: usize| format!("value-{i:05}").into_bytes();
    let records = (0..3000)
        .map(|i| ProduceRecord {
            value: Some(value(i)),
            partition: Some(0),
            ..ProduceRecord::default()
        })
        .collect();
    for r in kafka.produce("chunked", records).await.expect("produce") {
        r.expect("delivered");
    }
    let mut overrides = BTreeMap::new();
    overrides.insert("auto.offset.reset".to_string(), "earliest".to_string());
    overrides.insert("enable.auto.commit".to_string(), "false".to_string());
    let consumer = kafka
        .create_consumer(ConsumerSettings {
            group_id: "chunked-group".to_string(),
            client_id: String::new(),
            overrides,
        })
        .await
        .expect("consumer");
    let tp = TopicPartition {
        topic: "chunked".to_string(),
        partition: 0,
    };
    consumer.assign(vec![tp.clone()]).await.expect("assign");

    // min_bytes asks for every record at once: one read of several chunks.
    let mut chunks = consumer
        .read_chunks(ReadLimits {
            timeout: Duration::from_secs(30),
            max_bytes: 64 * 1024 * 1024,
            min_bytes: 3000 * 11,
        })
        .expect("read");
    let mut next = 0usize;
    let mut sizes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.expect("chunk");
        assert!(!chunk.is_empty() && chunk.len() <= 1024, "{}", chunk.len());
        sizes.push(chunk.len());
        for r in chunk {
            assert_eq!(
                (&*r.topic, r.partition, r.offset),
                ("chunked", 0, next as i64)
            );
            assert_eq!(r.value.as_deref(), Some(value(next).as_slice()));
            next += 1;
        }
    }
    assert!(chunks.is_done());
    assert_eq!(next, 3000, "chunks {sizes:?}");
    assert!(sizes.len() >= 3, "chunks {sizes:?}");

    // What the read handed out is what an empty commit commits.
    let committed = consumer.commit(None).await.expect("commit");
    assert_eq!(
        committed,
        vec![PartitionOffset {
            topic: "chunked".to_string(),
            partition: 0,
            offset: 3000,
            metadata: String::new(),
        }]
    );
    let stored = consumer.committed(vec![tp]).await.expect("committed");
    assert_eq!(stored[0].offset, 3000);

    // Nothing more: the read ends empty at its timeout.
    let none = consumer
        .read(ReadLimits {
            timeout: Duration::from_millis(200),
            max_bytes: 1024,
            min_bytes: 0,
        })
        .await
        .expect("read");
    assert!(none.is_empty());
    consumer.close().await.expect("close");
    kafka.close().await;
    broker.shutdown().await.expect("shutdown");
}

/// kgate puts each partition's start in the assignment itself (the group's committed
/// offset, else `auto.offset.reset`), for assigned and subscribed consumers alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_start_at_the_committed_offset_else_where_the_reset_policy_says() {
    use kgate_kafka::consumer::{
        ConsumerHandle, ConsumerSettings, PartitionOffset, ReadLimits, Subscription, TopicPartition,
    };

    let (broker, kafka, _dir) = start().await;
    kafka
        .create_topic("starts", 1, 1, &BTreeMap::new())
        .await
        .expect("create");
    wait_for_topic(&kafka, "starts").await;
    let produce = |from: usize, to: usize| {
        let records = (from..to)
            .map(|i| ProduceRecord {
                value: Some(format!("v{i}").into_bytes()),
                partition: Some(0),
                ..ProduceRecord::default()
            })
            .collect();
        kafka.produce("starts", records)
    };
    for r in produce(0, 10).await.expect("produce") {
        r.expect("delivered");
    }
    let consumer = |group: &str, reset: &str| {
        let mut overrides = BTreeMap::new();
        overrides.insert("auto.offset.reset".to_string(), reset.to_string());
        overrides.insert("enable.auto.commit".to_string(), "false".to_string());
        kafka.create_consumer(ConsumerSettings {
            group_id: group.to_string(),
            client_id: String::new(),
            overrides,
        })
    };
    let tp = TopicPartition {
        topic: "starts".to_string(),
        partition: 0,
    };
    // Offsets of the records one read returns, waiting up to `wait` for the first one.
    async fn offsets(c: &ConsumerHandle, wait: Duration) -> Vec<i64> {
        let read = c
            .read(ReadLimits {
                timeout: wait,
                max_bytes: 1024 * 1024,
                min_bytes: 1,
            })
            .await
            .expect("read");
        read.iter().map(|r| r.offset).collect()
    }
    // Offsets read until there are `n`.
    async fn first(c: &ConsumerHandle, n: usize) -> Vec<i64> {
        let mut seen = Vec::new();
        while seen.len() < n {
            let more = offsets(c, Duration::from_secs(20)).await;
            assert!(!more.is_empty(), "stopped after {seen:?}");
            seen.extend(more);
        }
        seen
    }
    let assigned = |group: &'static str, reset: &'static str| {
        let tp = tp.clone();
        let created = consumer(group, reset);
        async move {
            let c = created.await.expect("consumer");
            c.assign(vec![tp]).await.expect("assign");
            c
        }
    };
    let subscribed = |group: &'static str, reset: &'static str| {
        let created = consumer(group, reset);
        async move {
            let c = created.await.expect("consumer");
            c.subscribe(Subscription::Topics(vec!["starts".to_string()]))
                .await
                .expect("subscribe");
            c
        }
    };

    // A new group, earliest: from the first record.
    let early = assigned("starts-early", "earliest").await;
    assert_eq!(first(&early, 10).await, (0..10).collect::<Vec<_>>());
    early
        .commit(Some(vec![PartitionOffset {
            topic: "starts".to_string(),
            partition: 0,
            offset: 4,
            metadata: String::new(),
        }]))
        .await
        .expect("commit");
    early.close().await.expect("close");

    // The same group again: from its committed offset, assigned or subscribed.
    for again in [
        assigned("starts-early", "earliest").await,
        subscribed("starts-early", "earliest").await,
    ] {
        assert_eq!(first(&again, 6).await, (4..10).collect::<Vec<_>>());
        again.close().await.expect("close");
    }

    // A new group, latest: only records produced after the assignment.
    let late = assigned("starts-late", "latest").await;
    assert!(offsets(&late, Duration::from_millis(500)).await.is_empty());
    for r in produce(10, 12).await.expect("produce") {
        r.expect("delivered");
    }
    assert_eq!(first(&late, 2).await, vec![10, 11]);
    late.close().await.expect("close");

    // Subscribed, a new group, earliest: from the first record.
    let fresh = subscribed("starts-fresh", "earliest").await;
    assert_eq!(first(&fresh, 12).await, (0..12).collect::<Vec<_>>());
    fresh.close().await.expect("close");
    kafka.close().await;
    broker.shutdown().await.expect("shutdown");
}
