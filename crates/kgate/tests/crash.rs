//! The crash test of the embedded broker: kill -9 `kgate broker` during an acks=all
//! produce load, restart it on the same data directory, and check that every
//! acknowledged record is at its acknowledged offset and that nothing is duplicated.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Kgate, path_str};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, PurgeConfig, ThreadedProducer};
use rdkafka::{ClientContext, TopicPartitionList};

const TOPIC: &str = "crash-test";
const PARTITIONS: i32 = 3;

/// (partition, offset, payload) of each record the broker acknowledged, as recorded by
/// the producer's delivery callback.
#[derive(Default)]
struct Acked(Mutex<Vec<(i32, i64, Vec<u8>)>>);

impl Acked {
    fn push(&self, entry: (i32, i64, Vec<u8>)) {
        if let Ok(mut list) = self.0.lock() {
            list.push(entry);
        }
    }

    fn len(&self) -> usize {
        self.0.lock().map(|l| l.len()).unwrap_or(0)
    }

    fn take(&self) -> Vec<(i32, i64, Vec<u8>)> {
        self.0
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

struct Recorder {
    acked: Arc<Acked>,
}

impl ClientContext for Recorder {}

impl ProducerContext for Recorder {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        if let Ok(message) = result {
            self.acked.push((
                message.partition(),
                message.offset(),
                message.payload().unwrap_or_default().to_vec(),
            ));
        }
    }
}

fn start_broker(data_dir: &std::path::Path) -> (Kgate, String) {
    let mut broker = Kgate::spawn(&[
        "broker",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        path_str(data_dir),
    ]);
    let address = broker.broker_address();
    (broker, address)
}

async fn create_topic(bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(
            &[NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(1))],
            &options,
        )
        .await
        .expect("CreateTopics request");
    for result in results {
        result.expect("topic created");
    }
}

/// Reads every record of every partition from the start to the high watermark.
fn read_all(bootstrap: &str) -> HashMap<(i32, i64), Vec<u8>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "crash-test-reader")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    let mut ends = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for partition in 0..PARTITIONS {
        let (_, high) = loop {
            match consumer.fetch_watermarks(TOPIC, partition, Duration::from_secs(5)) {
                Ok(marks) => break marks,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("watermarks of partition {partition}: {e}; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("watermarks of partition {partition}: {e}"),
            }
        };
        ends.insert(partition, high);
    }
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset(TOPIC, partition, rdkafka::Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");

    let mut records = HashMap::new();
    let mut done: HashSet<i32> = ends
        .iter()
        .filter(|(_, high)| **high == 0)
        .map(|(p, _)| *p)
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.len() < PARTITIONS as usize {
        assert!(
            Instant::now() < deadline,
            "could not read back to the high watermarks {ends:?}; read {} records",
            records.len()
        );
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(message)) => {
                let key = (message.partition(), message.offset());
                let payload = message.payload().unwrap_or_default().to_vec();
                assert!(
                    records.insert(key, payload).is_none(),
                    "offset {key:?} delivered twice"
                );
                if message.offset() + 1 >= ends[&message.partition()] {
                    done.insert(message.partition());
                }
            }
            Some(Err(e)) => eprintln!("consumer error (retrying): {e}"),
            None => {}
        }
    }
    records
}

/// Drives an acks=all load against `broker` and kills it with SIGKILL once `threshold`
/// records are acknowledged, while more are in flight. Returns what was acknowledged.
async fn load_then_kill(
    mut broker: Kgate,
    address: &str,
    round: u32,
    threshold: usize,
) -> Vec<(i32, i64, Vec<u8>)> {
    let acked = Arc::new(Acked::default());
    let producer: ThreadedProducer<Recorder> = ClientConfig::new()
        .set("bootstrap.servers", address)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        // Small batches: many produce requests in flight, so the kill can land in the
        // middle of a write rather than between two big batches.
        .set("batch.num.messages", "500")
        .set("message.timeout.ms", "3000")
        .create_with_context(Recorder {
            acked: acked.clone(),
        })
        .expect("producer");

    // Produce without pause on a thread, so that the kill lands while batches are in
    // flight.
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let payload = format!("round-{round}-record-{sent:08}");
                let key = format!("key-{}", sent % 17);
                let record = BaseRecord::to(TOPIC).key(&key).payload(&payload);
                match producer.send(record) {
                    Ok(()) => sent += 1,
                    // Queue full: give the background thread time to send.
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
            // The broker is dead: fail whatever is queued or in flight now, rather than
            // after message.timeout.ms, and wait until every delivery report is in so
            // none arrives after the check. Acknowledgements already received are not
            // in flight any more, so purging cannot lose one.
            producer.purge(PurgeConfig::default().queue().inflight());
            let _ = producer.flush(Duration::from_secs(15));
            sent
        })
    };

    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.len() < threshold && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    broker.signal(libc::SIGKILL);
    let killed_at = acked.len();
    stop.store(true, Ordering::Relaxed);
    let _ = broker.wait_exit(Duration::from_secs(10));
    drop(broker);
    let sent = tokio::task::spawn_blocking(move || sender.join().expect("producer thread"))
        .await
        .expect("join");
    let acked = acked.take();
    assert!(
        killed_at > 0,
        "round {round}: nothing was acknowledged before the kill; the load never started"
    );
    eprintln!(
        "round {round}: sent {sent}, acknowledged {} ({killed_at} at the kill)",
        acked.len()
    );
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("broker");
    let (broker, address) = start_broker(&data_dir);
    create_topic(&address).await;

    // Two rounds: the second appends to a log that was itself recovered from a kill.
    let mut acked = load_then_kill(broker, &address, 1, 10_000).await;
    let (broker, address) = start_broker(&data_dir);
    acked.extend(load_then_kill(broker, &address, 2, 5_000).await);

    let (_restarted, address) = start_broker(&data_dir);
    let stored = tokio::task::spawn_blocking(move || read_all(&address))
        .await
        .expect("reader");

    for (partition, offset, payload) in &acked {
        match stored.get(&(*partition, *offset)) {
            Some(found) => assert_eq!(
                found,
                payload,
                "partition {partition} offset {offset} holds {:?}, acknowledged {:?}",
                String::from_utf8_lossy(found),
                String::from_utf8_lossy(payload)
            ),
            None => panic!(
                "acknowledged record {:?} at partition {partition} offset {offset} is gone",
                String::from_utf8_lossy(payload)
            ),
        }
    }
    let mut seen = HashSet::new();
    for ((partition, offset), payload) in &stored {
        assert!(
            seen.insert(payload.clone()),
            "{:?} stored twice (again at partition {partition} offset {offset})",
            String::from_utf8_lossy(payload)
        );
    }
}
