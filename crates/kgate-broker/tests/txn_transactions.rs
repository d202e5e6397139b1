//! Transactions through rdkafka: commit and abort, isolation levels, offsets sent to a
//! transaction, timeouts, fencing, restart; DescribeProducers through a raw request.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, FetchRequest, ListOffsetsRequest, RequestKind, ResponseKind,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kgate_broker::Broker;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use support::{DEADLINE, read_partition_to_end, start_in, unique, wire};

/// A runtime for the broker while the test drives rdkafka's blocking calls.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn start(rt: &tokio::runtime::Runtime, dir: &Path, props: &[(&str, &str)]) -> Broker {
    rt.block_on(start_in(dir, props))
}

fn create_topic(rt: &tokio::runtime::Runtime, addr: SocketAddr, name: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .create()
        .unwrap();
    let results = rt
        .block_on(admin.create_topics(
            &[NewTopic::new(name, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        ))
        .unwrap();
    results[0].as_ref().unwrap();
}

/// Looks for timed-out transactions five times a second instead of every 10 s.
const FAST_ABORT_CHECKS: &[(&str, &str)] = &[(
    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
    "200",
)];

/// A broker on its own runtime and data directory, with one fresh single-partition
/// topic: what every test here starts from.
struct Fixture {
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    broker: Broker,
    addr: SocketAddr,
    topic: String,
}

impl Fixture {
    fn new(topic_prefix: &str, props: &[(&str, &str)]) -> Fixture {
        let rt = runtime();
        let dir = tempfile::tempdir().unwrap();
        let broker = start(&rt, dir.path(), props);
        let addr = broker.local_addr();
        let topic = unique(topic_prefix);
        create_topic(&rt, addr, &topic);
        Fixture {
            rt,
            dir,
            broker,
            addr,
            topic,
        }
    }

    /// Stops the broker and starts it again on the same data directory.
    fn restart(self, props: &[(&str, &str)]) -> Fixture {
        let Fixture {
            rt,
            dir,
            broker,
            topic,
            ..
        } = self;
        rt.block_on(broker.shutdown()).unwrap();
        let broker = start(&rt, dir.path(), props);
        Fixture {
            addr: broker.local_addr(),
            rt,
            dir,
            broker,
            topic,
        }
    }

    fn stop(self) {
        self.rt.block_on(self.broker.shutdown()).unwrap();
    }

    /// ListOffsets latest of the topic's partition 0 (isolation 0 or 1).
    fn latest(&self, isolation: i8) -> i64 {
        self.rt.block_on(latest(self.addr, &self.topic, isolation))
    }

    /// Every value of the topic up to the end `isolation` allows.
    fn read(&self, isolation: &str) -> Vec<String> {
        read_values(self.addr, &self.topic, isolation)
    }

    /// Waits until the coordinator has aborted the single open transaction of the topic
    /// (its record and the abort marker make the stable offset 2).
    fn await_abort(&self) {
        let start = Instant::now();
        while self.latest(1) != 2 {
            assert!(
                start.elapsed() < DEADLINE,
                "the transaction was never aborted"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(self.latest(0), 2);
    }
}

fn txn_producer(addr: SocketAddr, txn_id: &str, extra: &[(&str, &str)]) -> BaseProducer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", addr.to_string())
        .set("transactional.id", txn_id)
        .set("linger.ms", "1");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    let producer: BaseProducer = c.create().unwrap();
    producer.init_transactions(DEADLINE).unwrap();
    producer
}

fn send(producer: &BaseProducer, topic: &str, values: &[&str]) {
    for v in values {
        producer
            .send(BaseRecord::<(), _>::to(topic).partition(0).payload(*v))
            .unwrap();
    }
    producer.flush(DEADLINE).unwrap();
}

/// Every value of partition 0 up to the end the isolation level allows.
fn read_values(addr: SocketAddr, topic: &str, isolation: &str) -> Vec<String> {
    read_partition_to_end(addr, topic, isolation)
        .into_iter()
        .map(|(_, _, value)| value.unwrap_or_default())
        .collect()
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// ListOffsets latest of partition 0 with the given isolation level (0 or 1).
async fn latest(addr: SocketAddr, topic: &str, isolation: i8) -> i64 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut part = ListOffsetsPartition::default();
    part.partition_index = 0;
    part.timestamp = -1;
    let mut t = ListOffsetsTopic::default();
    t.name = TopicName(s(topic));
    t.partitions = vec![part];
    let mut req = ListOffsetsRequest::default();
    req.replica_id = kafka_protocol::messages::BrokerId(-1);
    req.isolation_level = isolation;
    req.topics = vec![t];
    let ResponseKind::ListOffsets(resp) = wire::call(
        &mut stream,
        RequestKind::ListOffsets(req),
        ApiKey::ListOffsets,
        5,
    )
    .await
    else {
        panic!("not a ListOffsets response")
    };
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

#[test]
fn read_committed_sees_only_committed_records_and_read_uncommitted_sees_all() {
    let f = Fixture::new("txn-iso", &[]);
    let topic = &f.topic;
    let producer = txn_producer(f.addr, &unique("tid"), &[]);
    producer.begin_transaction().unwrap();
    send(&producer, topic, &["c1", "c2"]);
    producer.commit_transaction(DEADLINE).unwrap();
    producer.begin_transaction().unwrap();
    send(&producer, topic, &["a1", "a2"]);
    producer.abort_transaction(DEADLINE).unwrap();
    producer.begin_transaction().unwrap();
    send(&producer, topic, &["c3"]);
    producer.commit_transaction(DEADLINE).unwrap();

    assert_eq!(f.read("read_committed"), ["c1", "c2", "c3"]);
    assert_eq!(f.read("read_uncommitted"), ["c1", "c2", "a1", "a2", "c3"]);
    drop(producer);
    f.stop();
}

#[test]
fn an_open_transaction_holds_back_read_committed_until_it_commits() {
    let f = Fixture::new("txn-lso", &[]);
    let (rt, addr, topic) = (&f.rt, f.addr, &f.topic);
    let producer = txn_producer(addr, &unique("tid"), &[]);
    producer.begin_transaction().unwrap();
    send(&producer, topic, &["open1", "open2"]);
    // The records are in the log but the last stable offset stays at the first of them.
    assert_eq!(f.latest(0), 2);
    assert_eq!(f.latest(1), 0);
    assert!(f.read("read_committed").is_empty());

    // DescribeProducers shows the open transaction and where it started.
    let describe = |expected_start: i64| {
        rt.block_on(async {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut t = TopicRequest::default();
            t.name = TopicName(s(topic));
            t.partition_indexes = vec![0, 7];
            let mut req = DescribeProducersRequest::default();
            req.topics = vec![t];
            let ResponseKind::DescribeProducers(resp) = wire::call(
                &mut stream,
                RequestKind::DescribeProducers(req),
                ApiKey::DescribeProducers,
                0,
            )
            .await
            else {
                panic!("not a DescribeProducers response")
            };
            let parts = &resp.topics[0].partitions;
            assert_eq!(parts[0].error_code, 0);
            assert_eq!(parts[1].error_code, 3, "partition 7 does not exist");
            let producers = &parts[0].active_producers;
            assert_eq!(producers.len(), 1, "{producers:?}");
            assert!(producers[0].producer_id.0 >= 0);
            assert_eq!(producers[0].last_sequence, 1);
            assert_eq!(producers[0].current_txn_start_offset, expected_start);
        })
    };
    describe(0);

    producer.commit_transaction(DEADLINE).unwrap();
    assert_eq!(f.latest(1), 3);
    assert_eq!(f.read("read_committed"), ["open1", "open2"]);
    describe(-1);
    drop(producer);
    f.stop();
}

#[test]
fn offsets_sent_to_a_transaction_become_visible_when_it_commits() {
    let f = Fixture::new("txn-offsets", &[]);
    let (addr, topic) = (f.addr, &f.topic);
    let group = unique("txn-group");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let metadata = consumer.group_metadata().expect("group metadata");
    let committed = || {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, 0);
        let got = consumer.committed_offsets(tpl, DEADLINE).unwrap();
        got.find_partition(topic, 0).unwrap().offset()
    };
    let offsets = |n: i64| {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Offset(n))
            .unwrap();
        tpl
    };
    let producer = txn_producer(addr, &unique("tid"), &[]);

    producer.begin_transaction().unwrap();
    send(&producer, topic, &["v"]);
    producer
        .send_offsets_to_transaction(&offsets(42), &metadata, DEADLINE)
        .unwrap();
    assert_eq!(
        committed(),
        Offset::Invalid,
        "not visible before the commit"
    );
    producer.commit_transaction(DEADLINE).unwrap();
    assert_eq!(committed(), Offset::Offset(42));

    producer.begin_transaction().unwrap();
    producer
        .send_offsets_to_transaction(&offsets(99), &metadata, DEADLINE)
        .unwrap();
    producer.abort_transaction(DEADLINE).unwrap();
    assert_eq!(
        committed(),
        Offset::Offset(42),
        "aborted offsets are dropped"
    );
    drop(producer);
    f.stop();
}

#[test]
fn offsets_of_a_subscribed_consumer_commit_with_the_transaction() {
    let f = Fixture::new("txn-member", &[]);
    let (addr, topic) = (f.addr, &f.topic);
    let group = unique("txn-member-group");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "10000")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let start = Instant::now();
    while consumer.assignment().unwrap().count() == 0 {
        assert!(
            start.elapsed() < DEADLINE,
            "the consumer never got its partition"
        );
        let _ = consumer.poll(Duration::from_millis(100));
    }
    // The metadata now names the member and its generation, which the broker checks.
    let metadata = consumer.group_metadata().expect("group metadata");
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, 0, Offset::Offset(7))
        .unwrap();
    let producer = txn_producer(addr, &unique("tid"), &[]);
    producer.begin_transaction().unwrap();
    send(&producer, topic, &["processed"]);
    producer
        .send_offsets_to_transaction(&offsets, &metadata, DEADLINE)
        .unwrap();
    producer.commit_transaction(DEADLINE).unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let got = consumer.committed_offsets(tpl, DEADLINE).unwrap();
    assert_eq!(
        got.find_partition(topic, 0).unwrap().offset(),
        Offset::Offset(7)
    );
    drop(producer);
    drop(consumer);
    f.stop();
}

#[test]
fn a_transaction_past_its_timeout_is_aborted_and_its_producer_fenced() {
    let f = Fixture::new("txn-timeout", FAST_ABORT_CHECKS);
    let producer = txn_producer(
        f.addr,
        &unique("tid"),
        &[("transaction.timeout.ms", "5000")],
    );
    producer.begin_transaction().unwrap();
    send(&producer, &f.topic, &["late"]);
    // The coordinator aborts it: an abort marker follows the record and the last stable
    // offset reaches the end of the log.
    f.await_abort();
    assert!(producer.commit_transaction(DEADLINE).is_err());
    assert!(f.read("read_committed").is_empty());
    assert_eq!(f.read("read_uncommitted"), ["late"]);
    drop(producer);
    f.stop();
}

#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let f = Fixture::new("txn-fence", &[]);
    let (addr, topic) = (f.addr, &f.topic);
    let txn_id = unique("tid");
    let first = txn_producer(addr, &txn_id, &[]);
    first.begin_transaction().unwrap();
    send(&first, topic, &["from-first"]);

    // Initialising the second aborts the first one's open transaction.
    let second = txn_producer(addr, &txn_id, &[]);
    second.begin_transaction().unwrap();
    send(&second, topic, &["from-second"]);
    second.commit_transaction(DEADLINE).unwrap();

    match first.commit_transaction(DEADLINE) {
        Err(KafkaError::Transaction(e)) => assert!(
            e.is_fatal() || e.txn_requires_abort(),
            "the first producer must be fenced, got {e:?}"
        ),
        other => panic!("the first producer must be fenced, got {other:?}"),
    }
    assert_eq!(f.read("read_committed"), ["from-second"]);
    drop(first);
    drop(second);
    f.stop();
}

#[test]
fn restart_keeps_the_last_stable_offset_and_the_aborted_transactions() {
    let f = Fixture::new("txn-restart", &[]);
    let topic = &f.topic.clone();
    let producer = txn_producer(f.addr, &unique("tid"), &[]);
    producer.begin_transaction().unwrap();
    send(&producer, topic, &["c1"]);
    producer.commit_transaction(DEADLINE).unwrap();
    producer.begin_transaction().unwrap();
    send(&producer, topic, &["a1"]);
    producer.abort_transaction(DEADLINE).unwrap();
    producer.begin_transaction().unwrap();
    send(&producer, topic, &["c2"]);
    producer.commit_transaction(DEADLINE).unwrap();
    drop(producer);

    let f = f.restart(&[]);
    let addr = f.addr;
    assert_eq!(f.read("read_committed"), ["c1", "c2"]);
    assert_eq!(f.read("read_uncommitted"), ["c1", "a1", "c2"]);
    // c1 0, commit marker 1, a1 2, abort marker 3, c2 4, commit marker 5.
    let resp = f.rt.block_on(async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut part = FetchPartition::default();
        part.partition = 0;
        part.fetch_offset = 0;
        part.partition_max_bytes = 1 << 20;
        let mut t = FetchTopic::default();
        t.topic = TopicName(s(topic));
        t.partitions = vec![part];
        let mut req = FetchRequest::default();
        req.replica_id = kafka_protocol::messages::BrokerId(-1);
        req.max_wait_ms = 0;
        req.max_bytes = 1 << 20;
        req.isolation_level = 1;
        req.topics = vec![t];
        let ResponseKind::Fetch(resp) =
            wire::call(&mut stream, RequestKind::Fetch(req), ApiKey::Fetch, 11).await
        else {
            panic!("not a Fetch response")
        };
        resp
    });
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.high_watermark, 6);
    assert_eq!(p.last_stable_offset, 6);
    let aborted = p.aborted_transactions.as_ref().expect("aborted list");
    assert_eq!(aborted.len(), 1, "{aborted:?}");
    assert_eq!(aborted[0].first_offset, 2);
    f.stop();
}

#[test]
fn transactional_batches_without_a_transactional_id_are_refused() {
    use kafka_protocol::messages::ProduceRequest;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let f = Fixture::new("txn-raw", &[]);
    let record = Record {
        transactional: true,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: 4242,
        producer_epoch: 0,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: 0,
        timestamp: 1_700_000_000_000,
        key: None,
        value: Some(bytes::Bytes::from_static(b"sneaky")),
        headers: Default::default(),
    };
    let mut records = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut records,
        [&record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    let mut part = PartitionProduceData::default();
    part.index = 0;
    part.records = Some(records.freeze());
    let mut data = TopicProduceData::default();
    data.name = TopicName(s(&f.topic));
    data.partition_data = vec![part];
    let mut req = ProduceRequest::default();
    req.acks = -1;
    req.timeout_ms = 30_000;
    req.topic_data = vec![data];
    let resp = f.rt.block_on(async {
        let mut stream = tokio::net::TcpStream::connect(f.addr).await.unwrap();
        wire::call(&mut stream, RequestKind::Produce(req), ApiKey::Produce, 8).await
    });
    let ResponseKind::Produce(resp) = resp else {
        panic!("not a Produce response")
    };
    // INVALID_RECORD, and nothing was written that could hold back the stable offset.
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 87);
    assert_eq!(f.latest(0), 0);
    assert_eq!(f.latest(1), 0);
    f.stop();
}

#[test]
fn a_transaction_open_across_a_restart_still_holds_the_stable_offset_until_it_times_out() {
    let f = Fixture::new("txn-open-restart", FAST_ABORT_CHECKS);
    let producer = txn_producer(
        f.addr,
        &unique("tid"),
        &[("transaction.timeout.ms", "5000")],
    );
    producer.begin_transaction().unwrap();
    send(&producer, &f.topic, &["pending"]);
    let sent = Instant::now();
    // The producer stays alive (it must not get the chance to abort on close).
    let f = f.restart(FAST_ABORT_CHECKS);
    // The partition still knows the open transaction, and the coordinator, which kept
    // its state on disk, aborts it once its timeout has passed.
    let lso = f.latest(1);
    if sent.elapsed() < Duration::from_secs(4) {
        assert_eq!(lso, 0, "the open transaction must hold the stable offset");
    }
    f.await_abort();
    assert!(f.read("read_committed").is_empty());
    drop(producer);
    f.stop();
}
