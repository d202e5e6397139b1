//! The broker driven by rdkafka (librdkafka): produce and consume with keys, values,
//! headers and every compression codec, idempotent producers, offsets by timestamp,
//! topic administration, and a restart with the data intact.

mod support;

use std::time::Duration;

use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::Consumer;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use support::*;

fn admin(addr: std::net::SocketAddr) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .create()
        .unwrap()
}

async fn create_topic(addr: std::net::SocketAddr, name: &str, partitions: i32) {
    let results = admin(addr)
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    results[0].as_ref().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_values_headers_round_trip_with_every_codec() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = unique(&format!("codec-{codec}"));
        let producer = producer(addr, &[("compression.codec", codec), ("linger.ms", "5")]);
        let mut sends = Vec::new();
        for i in 0..50 {
            let key = format!("key-{i}");
            let value = format!("value-{i}-{}", "x".repeat(200));
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "n",
                    value: Some(&i.to_string()),
                })
                .insert(Header {
                    key: "empty",
                    value: None::<&[u8]>,
                });
            sends.push(
                producer
                    .send_result(
                        FutureRecord::to(&topic)
                            .key(&key)
                            .payload(&value)
                            .headers(headers),
                    )
                    .unwrap(),
            );
        }
        for (i, s) in sends.into_iter().enumerate() {
            let delivery = s.await.unwrap().unwrap();
            assert_eq!(delivery.partition, 0);
            assert_eq!(
                delivery.offset, i as i64,
                "offsets are assigned in order ({codec})"
            );
        }
        let a = addr;
        let t = topic.clone();
        let messages = tokio::task::spawn_blocking(move || read_messages(a, &t, 1, 50))
            .await
            .unwrap();
        for (i, m) in messages.iter().enumerate() {
            assert_eq!(m.offset(), i as i64);
            assert_eq!(m.key(), Some(format!("key-{i}").as_bytes()), "{codec}");
            assert_eq!(text(m), format!("value-{i}-{}", "x".repeat(200)));
            let headers = m.headers().expect("headers survive");
            assert_eq!(headers.count(), 2);
            assert_eq!(headers.get(0).key, "n");
            assert_eq!(headers.get(0).value, Some(i.to_string().as_bytes()));
            assert_eq!(headers.get(1).key, "empty");
            assert_eq!(headers.get(1).value, None);
        }
    }
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_writes_each_record_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let topic = unique("idempotent");
    create_topic(addr, &topic, 2).await;
    let producer = producer(
        addr,
        &[
            ("enable.idempotence", "true"),
            ("linger.ms", "2"),
            ("batch.num.messages", "7"),
        ],
    );
    let mut sends = Vec::new();
    for i in 0..400 {
        let payload = format!("{i}");
        sends.push(
            producer
                .send_result(
                    FutureRecord::<(), _>::to(&topic)
                        .partition(i % 2)
                        .payload(&payload),
                )
                .unwrap(),
        );
    }
    for s in sends {
        s.await.unwrap().unwrap();
    }
    let t = topic.clone();
    let messages = tokio::task::spawn_blocking(move || read_messages(addr, &t, 2, 400))
        .await
        .unwrap();
    for p in 0..2 {
        let values: Vec<i32> = messages
            .iter()
            .filter(|m| m.partition() == p)
            .map(|m| text(m).parse().unwrap())
            .collect();
        let expected: Vec<i32> = (0..400).filter(|i| i % 2 == p).collect();
        assert_eq!(
            values, expected,
            "partition {p} holds every record once, in order"
        );
    }
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_for_times_finds_first_record_at_or_after_a_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let topic = unique("times");
    create_topic(addr, &topic, 1).await;
    let producer = producer(addr, &[("linger.ms", "0")]);
    let base = 1_700_000_000_000i64;
    for i in 0..20i64 {
        let payload = format!("{i}");
        producer
            .send(
                FutureRecord::<(), _>::to(&topic)
                    .payload(&payload)
                    .timestamp(base + i * 1000),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
    }
    let t = topic.clone();
    let found = tokio::task::spawn_blocking(move || {
        let consumer = consumer(addr, &[]);
        let mut results = Vec::new();
        for ts in [base - 5, base + 4500, base + 19_000, base + 50_000] {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&t, 0, Offset::Offset(ts)).unwrap();
            let r = consumer.offsets_for_times(tpl, DEADLINE).unwrap();
            results.push(r.find_partition(&t, 0).unwrap().offset());
        }
        results
    })
    .await
    .unwrap();
    assert_eq!(found[0], Offset::Offset(0));
    assert_eq!(found[1], Offset::Offset(5));
    assert_eq!(found[2], Offset::Offset(19));
    assert_eq!(found[3], Offset::End, "no record that late");
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_creates_grows_and_deletes_topics() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let admin = admin(addr);
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let topic = unique("admin");

    let r = admin
        .create_topics(
            &[NewTopic::new(&topic, 3, TopicReplication::Fixed(1))],
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(r[0], Ok(topic.clone()));

    let again = admin
        .create_topics(
            &[NewTopic::new(&topic, 3, TopicReplication::Fixed(1))],
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(
        again[0],
        Err((topic.clone(), RDKafkaErrorCode::TopicAlreadyExists))
    );

    let bad_rf = unique("rf");
    let r = admin
        .create_topics(
            &[NewTopic::new(&bad_rf, 1, TopicReplication::Fixed(3))],
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(
        r[0],
        Err((bad_rf, RDKafkaErrorCode::InvalidReplicationFactor))
    );

    let r = admin
        .create_topics(
            &[NewTopic::new("bad/name", 1, TopicReplication::Fixed(1))],
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(
        r[0],
        Err(("bad/name".to_string(), RDKafkaErrorCode::InvalidTopic))
    );

    let r = admin
        .create_topics(
            &[NewTopic::new(&unique("cfg"), 1, TopicReplication::Fixed(1))
                .set("no.such.config", "1")],
            &opts,
        )
        .await
        .unwrap();
    assert!(matches!(r[0], Err((_, RDKafkaErrorCode::InvalidConfig))));

    let validate_only = unique("validate");
    let r = admin
        .create_topics(
            &[NewTopic::new(&validate_only, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new().validate_only(true),
        )
        .await
        .unwrap();
    assert_eq!(r[0], Ok(validate_only.clone()));

    let r = admin
        .create_partitions(&[NewPartitions::new(&topic, 5)], &opts)
        .await
        .unwrap();
    assert_eq!(r[0], Ok(topic.clone()));
    let r = admin
        .create_partitions(&[NewPartitions::new(&topic, 2)], &opts)
        .await
        .unwrap();
    assert_eq!(
        r[0],
        Err((topic.clone(), RDKafkaErrorCode::InvalidPartitions))
    );

    let t = topic.clone();
    let v = validate_only.clone();
    let (partitions, validate_exists) = tokio::task::spawn_blocking(move || {
        let c = consumer(addr, &[]);
        let md = c.fetch_metadata(None, DEADLINE).unwrap();
        let count = md
            .topics()
            .iter()
            .find(|x| x.name() == t)
            .map(|x| x.partitions().len());
        let exists = md.topics().iter().any(|x| x.name() == v);
        (count, exists)
    })
    .await
    .unwrap();
    assert_eq!(partitions, Some(5));
    assert!(!validate_exists, "validate_only creates nothing");

    let r = admin.delete_topics(&[&topic], &opts).await.unwrap();
    assert_eq!(r[0], Ok(topic.clone()));
    let r = admin.delete_topics(&[&topic], &opts).await.unwrap();
    assert_eq!(
        r[0],
        Err((topic.clone(), RDKafkaErrorCode::UnknownTopicOrPartition))
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data_topics_and_cluster_id() {
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("restart");
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let cluster_id = broker.cluster_id().to_string();
    // Small segments through Kafka's internal override (segment.bytes is at least 1 MiB).
    let created = admin(addr)
        .create_topics(
            &[NewTopic::new(&topic, 2, TopicReplication::Fixed(1))
                .set("internal.segment.bytes", "4096")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    created[0].as_ref().unwrap();
    {
        let producer = producer(
            addr,
            &[
                ("acks", "all"),
                ("linger.ms", "1"),
                ("batch.num.messages", "10"),
            ],
        );
        let mut sends = Vec::new();
        for i in 0..300 {
            let payload = format!("record-{i}-{}", "p".repeat(100));
            sends.push(
                producer
                    .send_result(
                        FutureRecord::<(), _>::to(&topic)
                            .partition(i % 2)
                            .payload(&payload),
                    )
                    .unwrap(),
            );
        }
        for s in sends {
            s.await.unwrap().unwrap();
        }
    }
    broker.shutdown().await.unwrap();
    let logs = std::fs::read_dir(dir.path().join("logs").join(format!("{topic}-0")))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count();
    assert!(logs > 1, "small segment.bytes rolled segments ({logs})");

    let broker = start_in(dir.path(), &[]).await;
    assert_eq!(broker.cluster_id(), cluster_id);
    let addr = broker.local_addr();
    let t = topic.clone();
    let messages = tokio::task::spawn_blocking(move || read_messages(addr, &t, 2, 300))
        .await
        .unwrap();
    let mut seen: Vec<String> = messages.iter().map(text).collect();
    seen.sort();
    let mut expected: Vec<String> = (0..300)
        .map(|i| format!("record-{i}-{}", "p".repeat(100)))
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
    // New records continue after the recovered ones.
    let producer = producer(addr, &[]);
    let delivery = producer
        .send(
            FutureRecord::<(), _>::to(&topic)
                .partition(0)
                .payload("after"),
            DEADLINE,
        )
        .await
        .unwrap();
    assert_eq!(delivery.offset, 150);
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_configs_reports_values_and_sources() {
    use rdkafka::admin::{ConfigSource, ResourceSpecifier};
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[("log.retention.hours", "48")]).await;
    let addr = broker.local_addr();
    let admin = admin(addr);
    let topic = unique("configs");
    let r = admin
        .create_topics(
            &[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))
                .set("cleanup.policy", "compact")
                .set("max.message.bytes", "2000000")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert_eq!(r[0], Ok(topic.clone()));

    let results = admin
        .describe_configs(
            [
                &ResourceSpecifier::Topic(&topic),
                &ResourceSpecifier::Broker(1),
            ],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    let topic_cfg = results[0].as_ref().unwrap();
    let entry = |name: &str| {
        topic_cfg
            .get(name)
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    assert_eq!(entry("cleanup.policy").value.as_deref(), Some("compact"));
    assert_eq!(entry("cleanup.policy").source, ConfigSource::DynamicTopic);
    assert!(!entry("cleanup.policy").is_default);
    assert_eq!(entry("max.message.bytes").value.as_deref(), Some("2000000"));
    assert_eq!(entry("retention.ms").value.as_deref(), Some("172800000"));
    assert_eq!(entry("retention.ms").source, ConfigSource::StaticBroker);
    assert_eq!(entry("segment.bytes").value.as_deref(), Some("1073741824"));
    assert_eq!(entry("segment.bytes").source, ConfigSource::Default);
    assert!(entry("segment.bytes").is_default);
    assert!(
        topic_cfg.entries.len() >= 25,
        "every documented topic config"
    );

    let broker_cfg = results[1].as_ref().unwrap();
    let num = broker_cfg.get("num.partitions").unwrap();
    assert_eq!(num.value.as_deref(), Some("1"));

    let missing = admin
        .describe_configs(
            [&ResourceSpecifier::Topic("no-such-topic")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    // The Rust wrapper drops per-resource errors; the broker answers none.
    assert!(missing[0].as_ref().map_or(true, |r| r.entries.is_empty()));
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_fetches_return_every_byte_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let topic = unique("large");
    let producer = producer(addr, &[("linger.ms", "20"), ("compression.codec", "none")]);
    let mut sends = Vec::new();
    for i in 0..3000u32 {
        // Distinct, position-dependent bytes so any misplaced chunk is noticed.
        let payload: Vec<u8> = (0..1024u32).map(|j| ((i * 31 + j) % 251) as u8).collect();
        sends.push(
            producer
                .send_result(FutureRecord::<(), _>::to(&topic).payload(&payload))
                .unwrap(),
        );
    }
    for s in sends {
        s.await.unwrap().unwrap();
    }
    let t = topic.clone();
    let messages = tokio::task::spawn_blocking(move || read_messages(addr, &t, 1, 3000))
        .await
        .unwrap();
    for (i, m) in messages.iter().enumerate() {
        let i = i as u32;
        assert_eq!(m.offset(), i as i64);
        let expected: Vec<u8> = (0..1024u32).map(|j| ((i * 31 + j) % 251) as u8).collect();
        assert_eq!(m.payload(), Some(&expected[..]), "record {i}");
    }
    broker.shutdown().await.unwrap();
}

/// The compression codec of every batch stored in partition 0 of `topic`, read with a
/// raw Fetch.
async fn stored_codecs(addr: std::net::SocketAddr, topic: &str) -> Vec<i16> {
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut p = fetch_request::FetchPartition::default();
    p.partition = 0;
    p.partition_max_bytes = 1 << 20;
    let mut t = fetch_request::FetchTopic::default();
    t.topic = TopicName(StrBytes::from_string(topic.to_string()));
    t.partitions = vec![p];
    let mut r = FetchRequest::default();
    r.replica_id = BrokerId(-1);
    r.max_wait_ms = 10;
    r.max_bytes = 1 << 20;
    r.topics = vec![t];
    let ResponseKind::Fetch(resp) =
        support::wire::call(&mut s, RequestKind::Fetch(r), ApiKey::Fetch, 11).await
    else {
        panic!("wrong response kind")
    };
    let records = resp.responses[0].partitions[0].records.clone().unwrap();
    let mut codecs = Vec::new();
    let mut at = 0;
    while at + 61 <= records.len() {
        let len = i32::from_be_bytes(records[at + 8..at + 12].try_into().unwrap()) as usize;
        let attributes = i16::from_be_bytes(records[at + 21..at + 23].try_into().unwrap());
        codecs.push(attributes & 0x07);
        at += 12 + len;
    }
    codecs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topics_compression_type_recompresses_what_producers_send() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    for (setting, codec) in [("zstd", 4i16), ("uncompressed", 0), ("gzip", 1)] {
        let topic = unique(&format!("recompress-{setting}"));
        let created = admin(addr)
            .create_topics(
                &[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))
                    .set("compression.type", setting)],
                &AdminOptions::new(),
            )
            .await
            .unwrap();
        created[0].as_ref().unwrap();
        // Producers with other codecs (idempotent, so sequences must survive too).
        for producer_codec in ["none", "lz4", "snappy", "gzip"] {
            let producer = producer(
                addr,
                &[
                    ("compression.codec", producer_codec),
                    ("enable.idempotence", "true"),
                ],
            );
            for i in 0..3 {
                producer
                    .send(
                        FutureRecord::<(), _>::to(&topic)
                            .payload(&format!("{producer_codec}-{i}-{}", "z".repeat(100))),
                        Duration::from_secs(10),
                    )
                    .await
                    .unwrap();
            }
        }
        let codecs = stored_codecs(addr, &topic).await;
        assert_eq!(codecs.len(), 12, "{setting}: one batch per send");
        assert!(
            codecs.iter().all(|c| *c == codec),
            "{setting}: stored as {codecs:?}"
        );
        let t = topic.clone();
        let messages = tokio::task::spawn_blocking(move || read_messages(addr, &t, 1, 12))
            .await
            .unwrap();
        let values: Vec<String> = messages.iter().map(text).collect();
        assert_eq!(values[0], format!("none-0-{}", "z".repeat(100)));
        assert_eq!(values[11], format!("gzip-2-{}", "z".repeat(100)));
    }
    broker.shutdown().await.unwrap();
}
