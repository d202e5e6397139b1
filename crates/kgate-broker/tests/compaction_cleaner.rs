//! Log compaction as Kafka's cleaner does it, seen by consumers: the latest value per
//! key at its original offset, tombstones kept for `delete.retention.ms` after their
//! first cleaning, `min.cleanable.dirty.ratio`, `min.compaction.lag.ms`,
//! `max.compaction.lag.ms`, aborted transactions removed and the last stable offset
//! respected, small segments merged, and `segment.ms` rolling a quiet log.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, FutureProducer, FutureRecord, Producer};
use support::{DEADLINE, read_partition_to_end, start_in, unique, wire};

/// (offset, key, value) of every record of partition 0.
type Entries = Vec<(i64, String, Option<String>)>;

/// A broker on a fresh data directory whose cleaner looks for work every 100 ms.
async fn cleaning_broker() -> (tempfile::TempDir, kgate_broker::Broker) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[("log.cleaner.backoff.ms", "100")]).await;
    (dir, broker)
}

/// Creates a compacted topic whose every batch gets a segment of its own (so all but the
/// last can be cleaned), with `extra` topic configs on top.
async fn create_compacted(addr: SocketAddr, name: &str, extra: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .create()
        .unwrap();
    let mut topic = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    for (k, v) in [
        ("cleanup.policy", "compact"),
        ("internal.segment.bytes", "100"),
    ] {
        if !extra.iter().any(|(e, _)| *e == k) {
            topic = topic.set(k, v);
        }
    }
    for (k, v) in extra {
        topic = topic.set(k, v);
    }
    let results = admin
        .create_topics(&[topic], &AdminOptions::new())
        .await
        .unwrap();
    results[0].as_ref().unwrap();
}

async fn read_now(addr: SocketAddr, topic: &str, isolation: &str) -> Entries {
    let (topic, isolation) = (topic.to_string(), isolation.to_string());
    tokio::task::spawn_blocking(move || read_partition_to_end(addr, &topic, &isolation))
        .await
        .unwrap()
}

async fn produce(producer: &FutureProducer, topic: &str, key: &str, value: Option<&str>) {
    produce_at(producer, topic, key, value, None).await;
}

/// Sends `records` (key, value) to partition 0 all at once, so a lingering producer
/// puts them in one batch, and returns their offsets in order.
async fn send_together(
    producer: &FutureProducer,
    topic: &str,
    records: &[(&str, &str)],
) -> Vec<i64> {
    let sends = records.iter().map(|(k, v)| {
        producer.send(
            FutureRecord::<str, str>::to(topic)
                .partition(0)
                .key(*k)
                .payload(*v),
            DEADLINE,
        )
    });
    futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap().offset)
        .collect()
}

/// Produces one record, with an explicit CreateTime timestamp when given.
async fn produce_at(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    value: Option<&str>,
    timestamp: Option<i64>,
) {
    let mut record = FutureRecord::<str, str>::to(topic).partition(0).key(key);
    if let Some(v) = value {
        record = record.payload(v);
    }
    if let Some(ts) = timestamp {
        record = record.timestamp(ts);
    }
    producer.send(record, DEADLINE).await.unwrap();
}

fn plain_producer(addr: SocketAddr) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .set("linger.ms", "0")
        .create()
        .unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
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
    wait_for_read(addr, topic, "read_uncommitted", expected).await;
}

async fn wait_for_read(addr: SocketAddr, topic: &str, isolation: &str, expected: &Entries) {
    let start = Instant::now();
    loop {
        let got = read_now(addr, topic, isolation).await;
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

/// Lets the cleaner (every 100 ms in these tests) run several passes.
async fn let_cleaner_run() {
    tokio::time::sleep(Duration::from_millis(1000)).await;
}

fn entry(offset: i64, key: &str, value: Option<&str>) -> (i64, String, Option<String>) {
    (offset, key.to_string(), value.map(str::to_string))
}

/// The segment files of partition 0 of `topic`.
fn segment_files(data_dir: &std::path::Path, topic: &str) -> usize {
    std::fs::read_dir(data_dir.join("logs").join(format!("{topic}-0")))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleaner_keeps_latest_per_key_and_drops_tombstones_after_delete_retention() {
    let (dir, broker) = cleaning_broker().await;
    let addr = broker.local_addr();
    let kept = unique("compact-keep");
    let expired = unique("compact-expire");
    // A low dirty ratio lets every pass run; segment.ms rolls the quiet active segment
    // so the last records become cleanable too.
    let fast = [
        ("min.cleanable.dirty.ratio", "0.01"),
        ("segment.ms", "1000"),
    ];
    create_compacted(
        addr,
        &kept,
        &[fast[0], fast[1], ("delete.retention.ms", "86400000")],
    )
    .await;
    create_compacted(
        addr,
        &expired,
        &[fast[0], fast[1], ("delete.retention.ms", "0")],
    )
    .await;
    let producer = plain_producer(addr);
    write_updates(&producer, &kept).await;
    write_updates(&producer, &expired).await;

    // A day of delete.retention.ms keeps the tombstone; 0 lets it go at the next pass.
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
    let got = read_now(addr, &kept, "read_uncommitted").await;
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
    let (_dir, broker) = cleaning_broker().await;
    let addr = broker.local_addr();
    let topic = unique("compact-gzip");
    create_compacted(addr, &topic, &[]).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .set("compression.type", "gzip")
        .set("linger.ms", "200")
        .create()
        .unwrap();
    // Sent together, these three land in one compressed batch; the cleaner must
    // decompress it, drop k0's first value and compress the rest again.
    let offsets = send_together(
        &producer,
        &topic,
        &[("k0", "v0"), ("k1", "v0"), ("k0", "v1")],
    )
    .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleaning_waits_until_the_dirty_ratio_is_exceeded() {
    let (_dir, broker) = cleaning_broker().await;
    let addr = broker.local_addr();
    let topic = unique("compact-ratio");
    // Kafka's default min.cleanable.dirty.ratio, 0.5.
    create_compacted(addr, &topic, &[]).await;

    // One batch (a lingering producer) fills the first segment: y=1, y=2, u0..u29. A
    // fresh log is all dirty, so the first pass cleans it, dropping y=1.
    let batcher: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .set("linger.ms", "500")
        .create()
        .unwrap();
    let mut records = vec![("y".to_string(), "1"), ("y".to_string(), "2")];
    records.extend((0..30).map(|i| (format!("u{i:02}"), "v")));
    let records: Vec<(&str, &str)> = records.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let offsets = send_together(&batcher, &topic, &records).await;
    assert_eq!(offsets, (0..32).collect::<Vec<i64>>());
    let producer = plain_producer(addr);
    produce(&producer, &topic, "end1", Some("e")).await;
    let mut expected = vec![entry(1, "y", Some("2"))];
    expected.extend((0..30).map(|i| entry(2 + i, &format!("u{i:02}"), Some("v"))));
    expected.push(entry(32, "end1", Some("e")));
    wait_for(addr, &topic, &expected).await;

    // Three small dirty segments against the large clean one: x=v1 stays.
    produce(&producer, &topic, "x", Some("v1")).await;
    produce(&producer, &topic, "x", Some("v2")).await;
    produce(&producer, &topic, "end2", Some("e")).await;
    let_cleaner_run().await;
    let got = read_now(addr, &topic, "read_uncommitted").await;
    assert!(
        got.contains(&entry(33, "x", Some("v1"))),
        "cleaned below the dirty ratio: {got:?}"
    );

    // Fifteen more updates make most of the log dirty: a pass runs and x=v1 goes.
    for i in 0..15 {
        produce(&producer, &topic, "z", Some(&format!("z{i}"))).await;
    }
    produce(&producer, &topic, "end3", Some("e")).await;
    let start = Instant::now();
    loop {
        let got = read_now(addr, &topic, "read_uncommitted").await;
        if !got.contains(&entry(33, "x", Some("v1"))) {
            assert!(got.contains(&entry(34, "x", Some("v2"))), "{got:?}");
            break;
        }
        assert!(start.elapsed() < DEADLINE, "never cleaned: {got:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop((batcher, producer));
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_younger_than_min_compaction_lag_are_not_compacted() {
    let (_dir, broker) = cleaning_broker().await;
    let addr = broker.local_addr();
    let topic = unique("compact-minlag");
    create_compacted(
        addr,
        &topic,
        &[
            ("min.compaction.lag.ms", "3600000"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    )
    .await;
    let producer = plain_producer(addr);
    let two_hours_ago = now_ms() - 7_200_000;
    produce_at(&producer, &topic, "k", Some("old1"), Some(two_hours_ago)).await;
    produce_at(&producer, &topic, "k", Some("old2"), Some(two_hours_ago)).await;
    produce(&producer, &topic, "j", Some("young1")).await;
    produce(&producer, &topic, "j", Some("young2")).await;
    produce(&producer, &topic, "end", Some("e")).await;

    // Records older than the lag are compacted; the young j=young1 is left alone.
    let expected = vec![
        entry(1, "k", Some("old2")),
        entry(2, "j", Some("young1")),
        entry(3, "j", Some("young2")),
        entry(4, "end", Some("e")),
    ];
    wait_for(addr, &topic, &expected).await;
    let_cleaner_run().await;
    assert_eq!(read_now(addr, &topic, "read_uncommitted").await, expected);
    drop(producer);
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_compaction_lag_cleans_a_log_below_the_dirty_ratio() {
    let (_dir, broker) = cleaning_broker().await;
    let addr = broker.local_addr();
    // A ratio of 1 is never exceeded, so only the lag can make these logs cleaned.
    let lagged = unique("compact-maxlag");
    let waiting = unique("compact-nolag");
    create_compacted(
        addr,
        &lagged,
        &[
            ("min.cleanable.dirty.ratio", "1"),
            ("max.compaction.lag.ms", "3600000"),
        ],
    )
    .await;
    create_compacted(addr, &waiting, &[("min.cleanable.dirty.ratio", "1")]).await;
    let producer = plain_producer(addr);
    let two_hours_ago = now_ms() - 7_200_000;
    for topic in [&lagged, &waiting] {
        for v in ["v1", "v2"] {
            produce_at(&producer, topic, "k", Some(v), Some(two_hours_ago)).await;
        }
        produce(&producer, topic, "end", Some("e")).await;
    }
    wait_for(
        addr,
        &lagged,
        &vec![entry(1, "k", Some("v2")), entry(2, "end", Some("e"))],
    )
    .await;
    let_cleaner_run().await;
    assert_eq!(
        read_now(addr, &waiting, "read_uncommitted").await,
        vec![
            entry(0, "k", Some("v1")),
            entry(1, "k", Some("v2")),
            entry(2, "end", Some("e")),
        ]
    );
    drop(producer);
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tombstone_lives_delete_retention_ms_after_its_first_cleaning() {
    let (_dir, broker) = cleaning_broker().await;
    let addr = broker.local_addr();
    let topic = unique("compact-horizon");
    create_compacted(
        addr,
        &topic,
        &[
            ("delete.retention.ms", "8000"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    )
    .await;
    let producer = plain_producer(addr);
    // The tombstone's own timestamp is two days old: counted from it, it would go at
    // once; Kafka counts from the pass that first cleaned it.
    let two_days_ago = now_ms() - 2 * 86_400_000;
    produce_at(&producer, &topic, "k", Some("v1"), Some(two_days_ago)).await;
    produce_at(&producer, &topic, "k", None, Some(two_days_ago)).await;
    produce(&producer, &topic, "end", Some("e")).await;
    wait_for(
        addr,
        &topic,
        &vec![entry(1, "k", None), entry(2, "end", Some("e"))],
    )
    .await;
    wait_for(addr, &topic, &vec![entry(2, "end", Some("e"))]).await;
    drop(producer);
    broker.shutdown().await.unwrap();
}

fn txn_producer(addr: SocketAddr) -> BaseProducer {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .set("transactional.id", unique("compaction-txn"))
        .set("linger.ms", "0")
        .create()
        .unwrap();
    producer.init_transactions(DEADLINE).unwrap();
    producer
}

fn send_keyed(producer: &BaseProducer, topic: &str, key: &str, value: &str) {
    producer
        .send(BaseRecord::to(topic).partition(0).key(key).payload(value))
        .unwrap();
    producer.flush(DEADLINE).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_removes_aborted_records_and_stops_at_the_last_stable_offset() {
    let (_dir, broker) = cleaning_broker().await;
    let addr = broker.local_addr();
    let topic = unique("compact-txn");
    create_compacted(
        addr,
        &topic,
        &[
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", "0"),
        ],
    )
    .await;
    let t = topic.clone();
    let txn = tokio::task::spawn_blocking(move || {
        let p = txn_producer(addr);
        p.begin_transaction().unwrap();
        send_keyed(&p, &t, "a", "c1");
        p.commit_transaction(DEADLINE).unwrap();
        p.begin_transaction().unwrap();
        send_keyed(&p, &t, "b", "aborted");
        p.abort_transaction(DEADLINE).unwrap();
        p.begin_transaction().unwrap();
        send_keyed(&p, &t, "a", "c2");
        p.commit_transaction(DEADLINE).unwrap();
        p
    })
    .await
    .unwrap();
    let producer = plain_producer(addr);
    // Offsets: a=c1 0, commit 1, b 2, abort 3, a=c2 4, commit 5, end 6.
    produce(&producer, &topic, "end", Some("e")).await;
    let expected = vec![entry(4, "a", Some("c2")), entry(6, "end", Some("e"))];
    wait_for(addr, &topic, &expected).await;
    let_cleaner_run().await;
    for isolation in ["read_uncommitted", "read_committed"] {
        assert_eq!(read_now(addr, &topic, isolation).await, expected);
    }

    // An open transaction (a=c3 at 7) holds the cleaner back: q=1 after it stays.
    let t = topic.clone();
    let txn = tokio::task::spawn_blocking(move || {
        txn.begin_transaction().unwrap();
        send_keyed(&txn, &t, "a", "c3");
        txn
    })
    .await
    .unwrap();
    produce(&producer, &topic, "q", Some("1")).await;
    produce(&producer, &topic, "q", Some("2")).await;
    produce(&producer, &topic, "end2", Some("e")).await;
    let_cleaner_run().await;
    let got = read_now(addr, &topic, "read_uncommitted").await;
    assert!(
        got.contains(&entry(8, "q", Some("1"))) && got.contains(&entry(4, "a", Some("c2"))),
        "compacted past the last stable offset: {got:?}"
    );

    // Once it commits, everything up to the active segment is cleaned.
    let txn = tokio::task::spawn_blocking(move || {
        txn.commit_transaction(DEADLINE).unwrap();
        txn
    })
    .await
    .unwrap();
    produce(&producer, &topic, "end3", Some("e")).await;
    let expected = vec![
        entry(6, "end", Some("e")),
        entry(7, "a", Some("c3")),
        entry(9, "q", Some("2")),
        entry(10, "end2", Some("e")),
        entry(12, "end3", Some("e")),
    ];
    wait_for_read(addr, &topic, "read_committed", &expected).await;
    wait_for(addr, &topic, &expected).await;
    drop(txn);
    drop(producer);
    broker.shutdown().await.unwrap();
}

/// See `raw_committed_fetch`.
#[derive(Debug, PartialEq)]
struct RawFetch {
    aborted: Vec<i64>,
    markers: Vec<(i64, bool)>,
    data: Vec<i64>,
}

/// What raw read_committed Fetches of partition 0 from offset 0 up to the last stable
/// offset see (the broker answers from one segment at a time, as Kafka does): the first
/// offsets of the aborted transactions they report, (offset, is abort) of every marker
/// and the offsets of the other records.
async fn raw_committed_fetch(addr: SocketAddr, topic: &str) -> RawFetch {
    use kafka_protocol::messages::FetchRequest;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut aborted, mut markers, mut data) = (Vec::new(), Vec::new(), Vec::new());
    let mut offset = 0;
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < DEADLINE, "fetching never reached the end");
        let mut part = FetchPartition::default();
        part.partition = 0;
        part.fetch_offset = offset;
        part.partition_max_bytes = 1 << 20;
        let mut t = FetchTopic::default();
        t.topic = TopicName(StrBytes::from_string(topic.to_string()));
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
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0);
        for a in p.aborted_transactions.iter().flatten() {
            if !aborted.contains(&a.first_offset) {
                aborted.push(a.first_offset);
            }
        }
        let records = p.records.clone().unwrap_or_default();
        let mut pos = 0;
        // Whole batches only: base offset (8), length (4), last offset delta at 23.
        while pos + 27 <= records.len() {
            let at = |i: usize, n: usize| &records[pos + i..pos + i + n];
            let base = i64::from_be_bytes(at(0, 8).try_into().unwrap());
            let size = 12 + i32::from_be_bytes(at(8, 4).try_into().unwrap()) as usize;
            if pos + size > records.len() {
                break;
            }
            let last = base + i32::from_be_bytes(at(23, 4).try_into().unwrap()) as i64;
            let mut one = records.slice(pos..pos + size);
            let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut one).unwrap();
            for r in &set.records {
                match (&r.key, r.control) {
                    (Some(key), true) => {
                        markers.push((r.offset, i16::from_be_bytes([key[2], key[3]]) == 0))
                    }
                    _ => data.push(r.offset),
                }
            }
            offset = last + 1;
            pos += size;
        }
        if offset >= p.last_stable_offset {
            return RawFetch {
                aborted,
                markers,
                data,
            };
        }
        assert!(pos > 0, "no whole batch at {offset}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_marker_goes_after_delete_retention_once_its_records_are_gone() {
    const RETENTION_MS: u64 = 2000;
    let (dir, broker) = cleaning_broker().await;
    let addr = broker.local_addr();
    let topic = unique("compact-abort");
    create_compacted(
        addr,
        &topic,
        &[
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", &RETENTION_MS.to_string()),
        ],
    )
    .await;
    let t = topic.clone();
    let (txn, aborted_at) = tokio::task::spawn_blocking(move || {
        let p = txn_producer(addr);
        p.begin_transaction().unwrap();
        send_keyed(&p, &t, "a", "c1");
        p.commit_transaction(DEADLINE).unwrap();
        p.begin_transaction().unwrap();
        send_keyed(&p, &t, "b", "aborted");
        let aborted_at = Instant::now();
        p.abort_transaction(DEADLINE).unwrap();
        p.begin_transaction().unwrap();
        send_keyed(&p, &t, "a", "c2");
        p.commit_transaction(DEADLINE).unwrap();
        (p, aborted_at)
    })
    .await
    .unwrap();
    // Offsets: a=c1 0, commit 1, b 2, abort 3, a=c2 4, commit 5, end 6 (active).
    let producer = plain_producer(addr);
    produce(&producer, &topic, "end", Some("e")).await;

    // The aborted record and its index entry go at the first pass, the abort marker in a
    // pass after delete.retention.ms; the commit marker of a=c2 stays (a=c2 remains).
    let index = dir
        .path()
        .join("logs")
        .join(format!("{topic}-0"))
        .join("aborted-txns");
    loop {
        let seen = raw_committed_fetch(addr, &topic).await;
        // Never an aborted record without its index entry, nor an index entry without
        // its marker (a consumer would skip the producer's later batches).
        assert!(
            seen.aborted == [2] || !seen.data.contains(&2),
            "aborted record unindexed: {seen:?}"
        );
        assert!(
            seen.aborted.is_empty() || seen.markers.contains(&(3, true)),
            "index entry without marker: {seen:?}"
        );
        if seen.markers == [(5, false)] {
            assert!(seen.aborted.is_empty(), "{seen:?}");
            break;
        }
        assert!(
            aborted_at.elapsed() < DEADLINE,
            "the abort marker stayed: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        aborted_at.elapsed() >= Duration::from_millis(RETENTION_MS),
        "the abort marker went before delete.retention.ms"
    );
    let entries = std::fs::read_to_string(&index).unwrap_or_default();
    assert_eq!(entries.trim(), "", "aborted-txns still lists {entries}");
    let expected = vec![entry(4, "a", Some("c2")), entry(6, "end", Some("e"))];
    for isolation in ["read_uncommitted", "read_committed"] {
        assert_eq!(read_now(addr, &topic, isolation).await, expected);
    }

    // After a restart the index stays empty and both isolation levels agree.
    drop(txn);
    drop(producer);
    broker.shutdown().await.unwrap();
    let broker = start_in(dir.path(), &[("log.cleaner.backoff.ms", "100")]).await;
    let addr = broker.local_addr();
    let seen = raw_committed_fetch(addr, &topic).await;
    assert_eq!((seen.aborted, seen.markers), (vec![], vec![(5, false)]));
    for isolation in ["read_uncommitted", "read_committed"] {
        assert_eq!(read_now(addr, &topic, isolation).await, expected);
    }
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_cleaned_segments_are_merged_up_to_segment_bytes() {
    let (dir, broker) = cleaning_broker().await;
    let addr = broker.local_addr();
    let topic = unique("compact-merge");
    // Two batches per segment: 40 updates make 20 segments.
    create_compacted(addr, &topic, &[("internal.segment.bytes", "200")]).await;
    let producer = plain_producer(addr);
    for i in 0..40 {
        produce(&producer, &topic, "m", Some(&format!("{i:02}"))).await;
    }
    produce(&producer, &topic, "end", Some("e")).await;
    wait_for(
        addr,
        &topic,
        &vec![entry(39, "m", Some("39")), entry(40, "end", Some("e"))],
    )
    .await;
    // The emptied segments were folded into the one that kept m=39, beside the active.
    assert_eq!(segment_files(dir.path(), &topic), 2);

    // The merged segment is read back like any other after a restart.
    drop(producer);
    broker.shutdown().await.unwrap();
    let broker = start_in(dir.path(), &[]).await;
    assert_eq!(
        read_now(broker.local_addr(), &topic, "read_uncommitted").await,
        vec![entry(39, "m", Some("39")), entry(40, "end", Some("e"))]
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_ms_rolls_a_quiet_compacted_log_so_it_gets_cleaned() {
    let (_dir, broker) = cleaning_broker().await;
    let addr = broker.local_addr();
    let topic = unique("compact-segms");
    // Large segments: only age can roll the active segment.
    create_compacted(
        addr,
        &topic,
        &[("internal.segment.bytes", "1048576"), ("segment.ms", "500")],
    )
    .await;
    let producer = plain_producer(addr);
    produce(&producer, &topic, "k", Some("v1")).await;
    produce(&producer, &topic, "k", Some("v2")).await;
    wait_for(addr, &topic, &vec![entry(1, "k", Some("v2"))]).await;
    drop(producer);
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_segment_swap_is_completed_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let topic = unique("compact-swap");
    create_compacted(addr, &topic, &[]).await;
    let producer = plain_producer(addr);
    for key in ["a", "b", "c"] {
        produce(&producer, &topic, key, Some("v")).await;
    }
    drop(producer);
    broker.shutdown().await.unwrap();

    // A crash while the cleaner swapped a merge of segments 0 and 1 in: the merged file
    // was committed as a .swap, segment 0 already deleted, segment 1 not yet; another
    // rewrite was still being written.
    let part = dir.path().join("logs").join(format!("{topic}-0"));
    let file = |base: i64, ext: &str| part.join(format!("{base:020}.{ext}"));
    let mut merged = std::fs::read(file(0, "log")).unwrap();
    merged.extend(std::fs::read(file(1, "log")).unwrap());
    std::fs::write(part.join(format!("{:020}.{:020}.swap", 0, 2)), merged).unwrap();
    std::fs::remove_file(file(0, "log")).unwrap();
    std::fs::write(file(2, "log.cleaned"), b"half-written").unwrap();

    let broker = start_in(dir.path(), &[]).await;
    assert_eq!(
        read_now(broker.local_addr(), &topic, "read_uncommitted").await,
        vec![
            entry(0, "a", Some("v")),
            entry(1, "b", Some("v")),
            entry(2, "c", Some("v")),
        ]
    );
    let mut names: Vec<String> = std::fs::read_dir(&part)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log") || n.ends_with(".swap") || n.ends_with(".cleaned"))
        .collect();
    names.sort();
    assert_eq!(names, [format!("{:020}.log", 0), format!("{:020}.log", 2)]);
    broker.shutdown().await.unwrap();
}

/// (producer id, epoch, last sequence) of every producer DescribeProducers lists for
/// partition 0.
async fn described_producers(addr: SocketAddr, topic: &str) -> Vec<(i64, i16, i32)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut t = TopicRequest::default();
    t.name = TopicName(StrBytes::from_string(topic.to_string()));
    t.partition_indexes = vec![0];
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
    let part = &resp.topics[0].partitions[0];
    assert_eq!(part.error_code, 0);
    part.active_producers
        .iter()
        .map(|p| (p.producer_id.0, p.producer_epoch as i16, p.last_sequence))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producers_last_batch_is_kept_empty_so_its_state_survives_a_restart() {
    let (dir, broker) = cleaning_broker().await;
    let addr = broker.local_addr();
    let topic = unique("compact-producer");
    create_compacted(addr, &topic, &[("min.cleanable.dirty.ratio", "0.01")]).await;
    let idempotent: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .set("enable.idempotence", "true")
        .set("linger.ms", "0")
        .create()
        .unwrap();
    produce(&idempotent, &topic, "k", Some("1")).await;
    let plain = plain_producer(addr);
    produce(&plain, &topic, "k", Some("2")).await;
    produce(&plain, &topic, "end", Some("e")).await;
    let before = described_producers(addr, &topic).await;
    assert_eq!(before.len(), 1, "{before:?}");

    // k=1 is superseded, but its batch is the idempotent producer's latest: it stays,
    // emptied, and consumers step over it.
    let expected = vec![entry(1, "k", Some("2")), entry(2, "end", Some("e"))];
    wait_for(addr, &topic, &expected).await;
    drop((idempotent, plain));
    broker.shutdown().await.unwrap();

    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    assert_eq!(described_producers(addr, &topic).await, before);
    assert_eq!(read_now(addr, &topic, "read_uncommitted").await, expected);
    broker.shutdown().await.unwrap();
}
