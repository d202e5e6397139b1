//! Produce and consume throughput through rdkafka against the embedded broker, for
//! 100 B and 1 KiB records with acks=all. Run with
//! `cargo bench -p kgate-broker --bench throughput` (optionally `-- <records>`); with
//! `-- --apache BOOTSTRAP` the same workloads then run against that Apache Kafka cluster
//! (e.g. `$(scripts/apache-kafka bootstrap)`), so both are measured in one run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kgate_broker::{Broker, BrokerConfig};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

/// Counts acknowledged and failed deliveries.
#[derive(Clone, Default)]
struct Counter {
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl ClientContext for Counter {}
impl ProducerContext for Counter {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

fn report(what: &str, records: u64, bytes: u64, elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    println!(
        "{what:<28} {records:>9} records in {secs:>6.2} s: {:>10.0} records/s {:>8.1} MB/s",
        records as f64 / secs,
        bytes as f64 / secs / 1_000_000.0
    );
}

fn produce(addr: &str, topic: &str, records: u64, size: usize) -> Duration {
    let counter = Counter::default();
    let producer: BaseProducer<Counter> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .create_with_context(counter.clone())
        .expect("producer");
    let payload = vec![b'x'; size];
    let start = Instant::now();
    for i in 0..records {
        let key = (i % 1000).to_be_bytes();
        let mut record = BaseRecord::to(topic).payload(&payload[..]).key(&key[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("produce failed: {e}"),
            }
        }
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
    let elapsed = start.elapsed();
    assert_eq!(
        counter.failed.load(Ordering::Relaxed),
        0,
        "deliveries failed"
    );
    assert_eq!(counter.ok.load(Ordering::Relaxed), records);
    elapsed
}

fn consume(addr: &str, topic: &str, records: u64) -> Duration {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "throughput-bench")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        // librdkafka pauses fetching for fetch.queue.backoff.ms (1 s by default) when its
        // local queue is full; a short pause keeps the broker, not the pause, the limit.
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    let start = Instant::now();
    let mut seen = 0;
    while seen < records {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => seen += 1,
            Some(Err(e)) => panic!("consume failed: {e}"),
            None => assert!(
                start.elapsed() < Duration::from_secs(300),
                "consumer stalled"
            ),
        }
    }
    start.elapsed()
}

/// Runs every workload against the broker(s) at `addr`; `tag` makes topic names unique on
/// a cluster that outlives the run.
fn workloads(peer: &str, addr: &str, tag: &str, records_100: u64) {
    println!("{peer} throughput (rdkafka, acks=all, 1 partition, loopback)");
    for (size, records) in [(100usize, records_100), (1024, records_100 / 4)] {
        let topic = format!("bench{tag}-{size}");
        let elapsed = produce(addr, &topic, records, size);
        report(
            &format!("produce {size} B"),
            records,
            records * size as u64,
            elapsed,
        );
        let elapsed = consume(addr, &topic, records);
        report(
            &format!("consume {size} B"),
            records,
            records * size as u64,
            elapsed,
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let records_100: u64 = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let apache = args
        .iter()
        .position(|a| a == "--apache")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let broker: Broker = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Broker::start(listener, BrokerConfig::new(dir.path()))
            .await
            .expect("broker")
    });
    let addr = broker.local_addr().to_string();
    workloads("kgate-broker", &addr, "", records_100);
    runtime.block_on(async { broker.shutdown().await.expect("shutdown") });
    if let Some(bootstrap) = apache {
        // Topics are auto-created with the cluster's defaults (1 partition, replication
        // factor 1), as on the embedded broker.
        let tag = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        println!();
        workloads(
            &format!("Apache Kafka at {bootstrap}"),
            &bootstrap,
            &format!("-{tag}"),
            records_100,
        );
    }
}
