//! The limit: a native rdkafka producer (acks=all, idempotence on) and consumer against
//! the same broker, plus topic creation.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::stats::Run;

/// Longest a native workload may take before it is called failed.
const DEADLINE: Duration = Duration::from_secs(300);

/// Creates `topic` with `partitions` partitions.
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("admin client")?;
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .context("create topic")?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}

/// Deletes topics (their data would otherwise fill the disk over a run).
pub async fn delete_topics(bootstrap: &str, topics: &[String]) -> Result<()> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("admin client")?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let results = admin
        .delete_topics(
            &names,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .context("delete topics")?;
    for r in results {
        if let Err((name, code)) = r {
            eprintln!("deleting topic {name}: {code}");
        }
    }
    Ok(())
}

/// Records delivery latencies: the opaque of each record is its send time in
/// nanoseconds after `base`.
struct Deliveries {
    base: Instant,
    latencies_us: Mutex<Vec<u32>>,
    failed: Mutex<u64>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        let took = self.base.elapsed().as_nanos() as u64 - sent_ns as u64;
        match result {
            Ok(_) => {
                if let Ok(mut l) = self.latencies_us.lock() {
                    l.push((took / 1000).min(u32::MAX as u64) as u32);
                }
            }
            Err(_) => {
                if let Ok(mut f) = self.failed.lock() {
                    *f += 1;
                }
            }
        }
    }
}

/// The native producer's settings: kgate's own durability (acks=all, idempotence).
fn producer(bootstrap: &str, linger_ms: u32) -> Result<ThreadedProducer<Deliveries>> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", linger_ms.to_string())
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .create_with_context(Deliveries {
            base: Instant::now(),
            latencies_us: Mutex::new(Vec::new()),
            failed: Mutex::new(0),
        })
        .context("native producer")
}

fn send(producer: &ThreadedProducer<Deliveries>, topic: &str, value: &[u8]) -> Result<()> {
    let sent = producer.context().base.elapsed().as_nanos() as usize;
    let mut record: BaseRecord<'_, [u8], [u8], usize> =
        BaseRecord::with_opaque_to(topic, sent).payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                std::thread::sleep(Duration::from_micros(500));
            }
            Err((e, _)) => bail!("native produce failed: {e}"),
        }
    }
}

fn finish(
    producer: ThreadedProducer<Deliveries>,
    started: Instant,
    n: u64,
    size: usize,
) -> Result<Run> {
    producer.flush(DEADLINE).context("native producer flush")?;
    let elapsed = started.elapsed();
    let ctx = producer.context();
    let failed = ctx.failed.lock().map(|f| *f).unwrap_or(0);
    let latencies = ctx
        .latencies_us
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default();
    Ok(Run {
        records: n,
        bytes: n * size as u64,
        elapsed,
        latencies_us: latencies,
        errors: failed,
    })
}

/// Produces `n` records as fast as the producer takes them (librdkafka's default linger
/// of 5 ms, as a throughput-minded client runs); latency is per record.
pub fn produce(bootstrap: &str, topic: &str, n: u64, value: &[u8]) -> Result<Run> {
    let producer = producer(bootstrap, 5)?;
    warm_up(&producer, topic)?;
    let started = Instant::now();
    for _ in 0..n {
        send(&producer, topic, value)?;
    }
    finish(producer, started, n, value.len())
}

/// Produces `n` records at `rate` records/s with linger.ms=0 (kgate's setting), so its
/// per-record latency can stand next to single-record HTTP requests at the same rate.
pub fn produce_paced(bootstrap: &str, topic: &str, n: u64, value: &[u8], rate: f64) -> Result<Run> {
    let producer = producer(bootstrap, 0)?;
    warm_up(&producer, topic)?;
    let started = Instant::now();
    for i in 0..n {
        let due = started + Duration::from_secs_f64(i as f64 / rate.max(1.0));
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        send(&producer, topic, value)?;
    }
    finish(producer, started, n, value.len())
}

/// Sends one record and waits for it, so connection set-up and the producer id request
/// are not counted; its latency is then forgotten.
fn warm_up(producer: &ThreadedProducer<Deliveries>, topic: &str) -> Result<()> {
    send(producer, topic, b"warm-up")?;
    producer.flush(DEADLINE).context("warm-up flush")?;
    if let Ok(mut l) = producer.context().latencies_us.lock() {
        l.clear();
    }
    Ok(())
}

/// Reads `n` records of `topic` from the beginning of every partition (manual assignment,
/// no group join).
pub fn consume(bootstrap: &str, topic: &str, partitions: i32, n: u64) -> Result<Run> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("bench-native-{topic}"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        // librdkafka otherwise pauses fetching for a second whenever its queue is full
        // (see the broker benchmark above in docs/benchmarks.md).
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .context("native consumer")?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    // Connected and with metadata before the clock starts, like the gateway's consumer
    // instance, which is created and assigned before its first read.
    consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .context("native consumer metadata")?;
    let started = Instant::now();
    consumer.assign(&tpl)?;
    let mut records = 0u64;
    let mut bytes = 0u64;
    while records < n {
        if started.elapsed() > DEADLINE {
            bail!("native consumer read {records} of {n} records in time");
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                records += 1;
                bytes += m.payload().map_or(0, <[u8]>::len) as u64;
            }
            Some(Err(e)) => bail!("native consume failed: {e}"),
            None => {}
        }
    }
    Ok(Run {
        records,
        bytes,
        elapsed: started.elapsed(),
        latencies_us: Vec::new(),
        errors: 0,
    })
}
