//! Storage behaviour seen through rdkafka: retention by time and size moves the log
//! start offset, a torn tail left by a crash is cut off on restart, configuration is
//! validated, and topic auto-creation follows `auto.create.topics.enable`.

mod support;

use std::io::Write;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureRecord;
use support::*;

async fn create_topic(addr: std::net::SocketAddr, name: &str, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .create()
        .unwrap();
    let mut topic = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let r = admin
        .create_topics(&[topic], &AdminOptions::new())
        .await
        .unwrap();
    r[0].as_ref().unwrap();
}

async fn produce_each(addr: std::net::SocketAddr, topic: &str, count: usize) {
    let producer = producer(addr, &[("linger.ms", "0"), ("batch.num.messages", "1")]);
    for i in 0..count {
        let payload = format!("{i:0>100}");
        producer
            .send(FutureRecord::<(), _>::to(topic).payload(&payload), DEADLINE)
            .await
            .unwrap();
    }
}

fn watermarks(addr: std::net::SocketAddr, topic: &str) -> (i64, i64) {
    consumer(addr, &[])
        .fetch_watermarks(topic, 0, DEADLINE)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_size_and_time_moves_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[("log.retention.check.interval.ms", "100")]).await;
    let addr = broker.local_addr();

    let by_size = unique("retain-bytes");
    create_topic(
        addr,
        &by_size,
        &[
            ("internal.segment.bytes", "1024"),
            ("retention.bytes", "2048"),
        ],
    )
    .await;
    produce_each(addr, &by_size, 60).await;
    let mut last = (0, 0);
    eventually("size retention", || {
        last = watermarks(addr, &by_size);
        last.0 > 0
    })
    .await;
    assert_eq!(last.1, 60);
    let kept: u64 = std::fs::read_dir(dir.path().join("logs").join(format!("{by_size}-0")))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(
        kept < 2048 + 1024 * 2,
        "old segments were deleted ({kept} bytes left)"
    );
    // Reading from the start now begins at the new log start offset.
    let t = by_size.clone();
    let first = tokio::task::spawn_blocking(move || read_messages(addr, &t, 1, 1))
        .await
        .unwrap();
    use rdkafka::Message;
    assert!(first[0].offset() >= last.0);

    let by_time = unique("retain-ms");
    create_topic(addr, &by_time, &[("retention.ms", "1")]).await;
    produce_each(addr, &by_time, 5).await;
    eventually("time retention", || watermarks(addr, &by_time) == (5, 5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_is_truncated_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("torn");
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    create_topic(addr, &topic, &[]).await;
    produce_each(addr, &topic, 10).await;
    broker.shutdown().await.unwrap();

    // What a crash in the middle of a write leaves: the start of a batch, then nothing.
    let log = dir
        .path()
        .join("logs")
        .join(format!("{topic}-0"))
        .join(format!("{:020}.log", 0));
    let data = std::fs::read(&log).unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(&data[..data.len() / 10 + 30]).unwrap();
    drop(f);

    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    assert_eq!(std::fs::metadata(&log).unwrap().len(), data.len() as u64);
    let t = topic.clone();
    let got = tokio::task::spawn_blocking(move || read_messages(addr, &t, 1, 10))
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(text).collect::<Vec<_>>(),
        (0..10).map(|i| format!("{i:0>100}")).collect::<Vec<_>>()
    );
    produce_each(addr, &topic, 1).await;
    let w = tokio::task::spawn_blocking(move || watermarks(addr, &topic))
        .await
        .unwrap();
    assert_eq!(w, (0, 11));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_configuration_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value) in [
        ("no.such.setting", "1"),
        ("num.partitions", "zero"),
        ("auto.create.topics.enable", "maybe"),
        ("default.replication.factor", "3"),
        ("log.segment.bytes", "1"),
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = kgate_broker::BrokerConfig::new(dir.path());
        config.properties.insert(key.into(), value.into());
        match kgate_broker::Broker::start(listener, config).await {
            Err(kgate_broker::BrokerError::Config { key: k, .. }) => assert_eq!(k, key),
            Err(e) => panic!("{key}: wrong error {e}"),
            Ok(_) => panic!("{key}={value} was accepted"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_creation_follows_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[("num.partitions", "3")]).await;
    let addr = broker.local_addr();
    let topic = unique("auto");
    produce_each(addr, &topic, 1).await;
    let t = topic.clone();
    let partitions = tokio::task::spawn_blocking(move || {
        let md = consumer(addr, &[])
            .fetch_metadata(Some(&t), DEADLINE)
            .unwrap();
        md.topics()[0].partitions().len()
    })
    .await
    .unwrap();
    assert_eq!(partitions, 3, "auto-created with num.partitions");
    broker.shutdown().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[("auto.create.topics.enable", "false")]).await;
    let addr = broker.local_addr();
    let producer = producer(addr, &[("message.timeout.ms", "2000")]);
    let r = producer
        .send(
            FutureRecord::<(), _>::to(&unique("absent")).payload("x"),
            Duration::from_secs(5),
        )
        .await;
    assert!(r.is_err(), "no topic is created when auto-creation is off");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_data_directory_serves_one_broker_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_in(dir.path(), &[]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second =
        kgate_broker::Broker::start(listener, kgate_broker::BrokerConfig::new(dir.path())).await;
    assert!(matches!(second, Err(kgate_broker::BrokerError::Io(_))));
    first.shutdown().await.unwrap();
    // Once the first has stopped, the directory is free again.
    start_in(dir.path(), &[]).await.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_moves_the_log_start_and_survives_restart() {
    use rdkafka::{Offset, TopicPartitionList};
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("delete-records");
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    create_topic(addr, &topic, &[("internal.segment.bytes", "1024")]).await;
    produce_each(addr, &topic, 30).await;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(17))
        .unwrap();
    let result = admin
        .delete_records(&tpl, &AdminOptions::new())
        .await
        .unwrap();
    let p = result.find_partition(&topic, 0).unwrap();
    assert_eq!(p.offset(), Offset::Offset(17));
    assert!(p.error().is_ok());
    let t = topic.clone();
    let (w, first) =
        tokio::task::spawn_blocking(move || (watermarks(addr, &t), read_messages(addr, &t, 1, 1)))
            .await
            .unwrap();
    assert_eq!(w, (17, 30));
    use rdkafka::Message;
    assert_eq!(first[0].offset(), 17);
    broker.shutdown().await.unwrap();

    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let w = tokio::task::spawn_blocking(move || watermarks(addr, &topic))
        .await
        .unwrap();
    assert_eq!(w, (17, 30), "the log start offset is durable");
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_topic_configs_take_effect_and_persist() {
    use rdkafka::admin::{AlterConfig, ResourceSpecifier};
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("alter");
    let broker = start_in(dir.path(), &[("log.retention.check.interval.ms", "100")]).await;
    let addr = broker.local_addr();
    create_topic(addr, &topic, &[]).await;
    produce_each(addr, &topic, 5).await;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .create()
        .unwrap();

    let bad = admin
        .alter_configs(
            &[AlterConfig::new(ResourceSpecifier::Topic(&topic)).set("retention.ms", "soon")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    // The Rust wrapper hides per-resource errors: the refusal shows as nothing changed.
    assert!(bad.len() == 1);
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(&topic)], &AdminOptions::new())
        .await
        .unwrap();
    let cfg = described[0].as_ref().unwrap();
    assert_eq!(
        cfg.get("retention.ms").and_then(|e| e.value.as_deref()),
        Some("604800000"),
        "a bad value is refused"
    );

    let ok = admin
        .alter_configs(
            &[AlterConfig::new(ResourceSpecifier::Topic(&topic))
                .set("retention.ms", "1")
                .set("cleanup.policy", "delete")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(ok[0].is_ok(), "{:?}", ok[0]);
    // The short retention now applies: everything written so far expires.
    eventually("altered retention", || watermarks(addr, &topic) == (5, 5)).await;
    broker.shutdown().await.unwrap();

    let broker = start_in(dir.path(), &[]).await;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.local_addr().to_string())
        .create()
        .unwrap();
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(&topic)], &AdminOptions::new())
        .await
        .unwrap();
    let cfg = described[0].as_ref().unwrap();
    assert_eq!(
        cfg.get("retention.ms").and_then(|e| e.value.as_deref()),
        Some("1"),
        "altered configuration survives a restart"
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_ms_rolls_the_active_segment_by_record_age() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let short = unique("roll-short");
    let default = unique("roll-default");
    create_topic(
        addr,
        &short,
        &[("segment.ms", "500"), ("retention.ms", "-1")],
    )
    .await;
    create_topic(addr, &default, &[("retention.ms", "-1")]).await;
    let producer = producer(addr, &[("linger.ms", "0")]);
    let segments = |topic: &str| {
        std::fs::read_dir(dir.path().join("logs").join(format!("{topic}-0")))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .count()
    };
    // Kafka measures a segment's age by its records' timestamps: one a second younger
    // than the first record of the segment rolls it when segment.ms is 500.
    let day = 86_400_000;
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 10 * day;
    for (topic, ts, expected) in [
        (&short, t0, 1),
        (&short, t0 + 1000, 2),
        // The default is Kafka's 7 days.
        (&default, t0, 1),
        (&default, t0 + 6 * day, 1),
        (&default, t0 + 8 * day, 2),
    ] {
        let record = FutureRecord::<(), str>::to(topic)
            .partition(0)
            .payload("r")
            .timestamp(ts);
        producer.send(record, DEADLINE).await.unwrap();
        assert_eq!(segments(topic), expected, "{topic} after a record at {ts}");
    }
    drop(producer);
    broker.shutdown().await.unwrap();
}
