//! A bounded pool of partition readers: group-less consumers that read one partition from
//! a given offset, for reads that name their partition and offset themselves (REST v1's
//! `GET /topics/{t}/partitions/{p}/messages`, Confluent's "simple consumer" pool).
//!
//! A reader is a librdkafka consumer kept between requests, so a read costs an assignment
//! rather than a new client with its own connections. At most `size` readers exist; a
//! request that finds none free within the pool's wait gets `None` from
//! [`PartitionReaders::acquire`] and can tell its client to retry. Reads block on
//! librdkafka and run under `spawn_blocking`, so the pool size also bounds the blocking
//! threads clients can keep busy this way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::consumer::{ConsumedRecord, RecordHeader};
use crate::context::TracingContext;
use crate::{Kafka, KafkaError};

/// Longest single poll of a read: the read's deadline is checked between polls.
const POLL_SLICE: Duration = Duration::from_millis(100);

type ReaderConsumer = BaseConsumer<TracingContext>;

/// What one read asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRead {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset of the first record to return.
    pub start: i64,
    /// The partition's end (the offset the next record will get) when the read was
    /// planned: once the read has passed it with at least one record, it returns without
    /// waiting for newer records. A read starting at or past it waits for the first new
    /// record until `timeout`.
    pub end: i64,
    /// Most records to return.
    pub count: usize,
    /// Bytes of keys and values not to exceed, except that the first record is returned
    /// even when it alone is larger.
    pub max_bytes: u64,
    /// The read returns by then with what it has.
    pub timeout: Duration,
}

/// A bounded pool of partition readers; see the module documentation.
pub struct PartitionReaders {
    kafka: Kafka,
    slots: Arc<Semaphore>,
    idle: Arc<Mutex<Vec<ReaderConsumer>>>,
    wait: Duration,
    size: usize,
}

impl PartitionReaders {
    /// A pool of at most `size` readers (at least one) of the cluster `kafka` reaches;
    /// [`acquire`](Self::acquire) waits up to `wait` for a free one. Readers are created
    /// when first needed.
    pub fn new(kafka: Kafka, size: usize, wait: Duration) -> Self {
        let size = size.max(1);
        Self {
            kafka,
            slots: Arc::new(Semaphore::new(size)),
            idle: Arc::new(Mutex::new(Vec::new())),
            wait,
            size,
        }
    }

    /// The most readers the pool holds.
    pub fn size(&self) -> usize {
        self.size
    }

    /// A free reader, or `None` when all are busy for longer than the pool's wait.
    pub async fn acquire(&self) -> Option<PartitionReader> {
        let permit = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .ok()?
            // The semaphore is never closed while the pool exists.
            .ok()?;
        let consumer = self.idle.lock().pop();
        Some(PartitionReader {
            kafka: self.kafka.clone(),
            consumer,
            idle: self.idle.clone(),
            _permit: permit,
        })
    }

    /// Closes the idle readers (busy ones close when their read ends); called at
    /// shutdown.
    pub async fn close(&self) {
        let idle: Vec<ReaderConsumer> = std::mem::take(&mut *self.idle.lock());
        if idle.is_empty() {
            return;
        }
        // Dropping a librdkafka client waits for its threads to end.
        if let Err(e) = tokio::task::spawn_blocking(move || drop(idle)).await {
            tracing::warn!(error = %e, "closing partition readers failed");
        }
    }
}

/// One reader taken from the pool; dropping it gives it back.
pub struct PartitionReader {
    kafka: Kafka,
    /// `None` until the first read creates it, and after a failed read (the consumer is
    /// then closed rather than reused in an unknown state).
    consumer: Option<ReaderConsumer>,
    idle: Arc<Mutex<Vec<ReaderConsumer>>>,
    _permit: OwnedSemaphorePermit,
}

impl PartitionReader {
    /// Reads the records `read` describes, in offset order.
    pub async fn read(&mut self, read: PartitionRead) -> Result<Vec<ConsumedRecord>, KafkaError> {
        let consumer = self.consumer.take();
        let config = self.kafka.consumer_config(&reader_overrides());
        let (consumer, result) = tokio::task::spawn_blocking(move || {
            let consumer = match consumer {
                Some(c) => c,
                None => match config.create_with_context::<_, ReaderConsumer>(TracingContext) {
                    Ok(c) => c,
                    Err(e) => {
                        return (None, Err(KafkaError::from_rdkafka(e, "creating a reader")));
                    }
                },
            };
            let result = read_blocking(&consumer, &read);
            if let Err(e) = consumer.unassign() {
                tracing::debug!(error = %e, "unassigning a partition reader failed");
            }
            match result {
                Ok(records) => (Some(consumer), Ok(records)),
                // Closed here, on this blocking thread, since closing waits.
                Err(e) => (None, Err(e)),
            }
        })
        .await
        .map_err(|e| KafkaError::Internal(format!("partition read task failed: {e}")))?;
        self.consumer = consumer;
        result
    }
}

impl Drop for PartitionReader {
    fn drop(&mut self) {
        if let Some(consumer) = self.consumer.take() {
            self.idle.lock().push(consumer);
        }
    }
}

/// A reader's settings over the configured `client.*` / `consumer.*` layers: no group
/// work at all, and an offset that left the log is an error rather than a silent jump.
fn reader_overrides() -> std::collections::BTreeMap<String, String> {
    [
        // librdkafka wants a group for assign(); readers never join it nor commit to it.
        ("group.id", "kgate-partition-readers"),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("enable.partition.eof", "false"),
        ("auto.offset.reset", "error"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn read_blocking(
    consumer: &ReaderConsumer,
    read: &PartitionRead,
) -> Result<Vec<ConsumedRecord>, KafkaError> {
    let mut records = Vec::new();
    if read.count == 0 {
        return Ok(records);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&read.topic, read.partition, Offset::Offset(read.start))
        .map_err(|e| KafkaError::from_rdkafka(e, &read.topic))?;
    consumer
        .assign(&tpl)
        .map_err(|e| KafkaError::from_rdkafka(e, &read.topic))?;
    let deadline = Instant::now() + read.timeout;
    let topic: Arc<str> = Arc::from(read.topic.as_str());
    let mut next = read.start;
    let mut bytes = 0u64;
    while records.len() < read.count {
        // What existed when the read was planned is read without waiting for more.
        if next >= read.end && !records.is_empty() {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let message = match consumer.poll(left.min(POLL_SLICE)) {
            None => continue,
            Some(Ok(m)) => m,
            Some(Err(e)) => match e.rdkafka_error_code() {
                Some(RDKafkaErrorCode::OffsetOutOfRange | RDKafkaErrorCode::AutoOffsetReset) => {
                    return Err(KafkaError::InvalidRequest(format!(
                        "offset {} is out of range for partition {} of topic {}",
                        read.start, read.partition, read.topic
                    )));
                }
                _ if matches!(e, RdKafkaError::MessageConsumptionFatal(_)) => {
                    return Err(KafkaError::from_rdkafka(e, &read.topic));
                }
                _ => {
                    // Transport hiccups and the like: librdkafka retries by itself.
                    tracing::debug!(error = %e, "partition reader reported an error");
                    continue;
                }
            },
        };
        // A message of an earlier assignment, should one still be queued.
        if *message.topic() != *read.topic
            || message.partition() != read.partition
            || message.offset() < next
        {
            continue;
        }
        let record = ConsumedRecord {
            topic: topic.clone(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp: message.timestamp().to_millis(),
            key: message.key().map(Bytes::copy_from_slice),
            value: message.payload().map(Bytes::copy_from_slice),
            headers: message
                .headers()
                .map(|hs| {
                    hs.iter()
                        .map(|h| RecordHeader {
                            name: h.key.to_string(),
                            value: h.value.map(<[u8]>::to_vec),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        let size = record.size();
        if !records.is_empty() && bytes + size > read.max_bytes {
            break;
        }
        bytes += size;
        next = record.offset + 1;
        records.push(record);
        if bytes >= read.max_bytes {
            break;
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KafkaConfig;

    #[tokio::test]
    async fn at_most_size_readers_are_out_and_a_returned_one_is_reused() {
        // Clients connect lazily: no cluster is needed to hand readers out.
        let kafka = Kafka::connect(KafkaConfig {
            bootstrap_servers: "127.0.0.1:1".into(),
            ..KafkaConfig::default()
        })
        .await
        .expect("client layer");
        let pool = PartitionReaders::new(kafka, 1, Duration::from_millis(50));
        assert_eq!(pool.size(), 1);
        let first = pool.acquire().await.expect("a free reader");
        let started = Instant::now();
        assert!(pool.acquire().await.is_none(), "the only reader is out");
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(first);
        assert!(pool.acquire().await.is_some(), "the reader came back");
        // A size of 0 still leaves one reader.
        assert_eq!(
            PartitionReaders::new(pool.kafka.clone(), 0, Duration::ZERO).size(),
            1
        );
        pool.close().await;
    }
}
