//! Reading whole partitions from their start, as state stores built on compacted topics
//! do (Kafka Connect's config, offset and status topics): records come in batches with
//! the reader's position in each partition, so "read to the end" compares positions with
//! end offsets and works on topics holding transaction markers, which take an offset but
//! are never handed out as records.
//!
//! One librdkafka consumer with no group, on its own thread (its polls never run on the
//! async runtime), and a second client for end-offset lookups.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::context::TracingContext;
use crate::{Kafka, KafkaError};

/// How long one poll waits for records, which is also how late a stop is noticed.
const POLL_WAIT: Duration = Duration::from_millis(200);

/// Most records in one batch.
const BATCH_RECORDS: usize = 2048;

/// Longest wait for an end-offsets lookup.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A record of the log.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value (`None`: a tombstone).
    pub value: Option<Vec<u8>>,
}

/// Records read, in log order per partition, and the reader's position after them.
#[derive(Debug, Clone, Default)]
pub struct LogBatch {
    /// The records.
    pub records: Vec<LogRecord>,
    /// The next offset the reader will read, per partition (past transaction markers).
    pub positions: BTreeMap<i32, i64>,
}

/// A running reader of some partitions of a topic; stopped when closed or dropped.
pub struct LogReader {
    /// A second client for end offsets: a broker answers a connection's requests in
    /// order, so lookups on the reading consumer's connections would queue behind its
    /// long-polling fetches.
    lookup: Arc<BaseConsumer<TracingContext>>,
    topic: String,
    partitions: Vec<i32>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Kafka {
    /// Starts reading `partitions` of `topic` from their start. With `read_committed`,
    /// records of open or aborted transactions are never handed out, and end offsets are
    /// the last stable offsets.
    pub fn read_log(
        &self,
        topic: &str,
        partitions: &[i32],
        read_committed: bool,
    ) -> Result<(LogReader, mpsc::Receiver<LogBatch>), KafkaError> {
        let mut layer = BTreeMap::new();
        layer.insert("enable.auto.commit".to_string(), "false".to_string());
        layer.insert("enable.partition.eof".to_string(), "false".to_string());
        layer.insert("auto.offset.reset".to_string(), "earliest".to_string());
        layer.insert(
            "isolation.level".to_string(),
            if read_committed {
                "read_committed"
            } else {
                "read_uncommitted"
            }
            .to_string(),
        );
        // librdkafka wants a group even for assigned partitions; this one never joins
        // (nothing subscribes) nor commits, so every reader reads the whole log.
        layer.insert("group.id".to_string(), "kgate-log-reader".to_string());
        let config = self.consumer_config(&layer);
        let consumer: BaseConsumer<TracingContext> = config
            .create_with_context(TracingContext)
            .map_err(|e| KafkaError::from_rdkafka(e, "creating a log reader"))?;
        let lookup: BaseConsumer<TracingContext> = config
            .create_with_context(TracingContext)
            .map_err(|e| KafkaError::from_rdkafka(e, "creating a log reader"))?;
        let mut assignment = TopicPartitionList::new();
        for p in partitions {
            assignment
                .add_partition_offset(topic, *p, Offset::Beginning)
                .map_err(|e| KafkaError::from_rdkafka(e, topic))?;
        }
        consumer
            .assign(&assignment)
            .map_err(|e| KafkaError::from_rdkafka(e, topic))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (sender, batches) = mpsc::channel(4);
        let thread = {
            let stop = stop.clone();
            let topic = topic.to_string();
            std::thread::Builder::new()
                .name(format!("kgate-log-{topic}"))
                .spawn(move || read_loop(&consumer, &topic, &stop, &sender))
                .map_err(|e| KafkaError::Internal(format!("starting a log reader thread: {e}")))?
        };
        Ok((
            LogReader {
                lookup: Arc::new(lookup),
                topic: topic.to_string(),
                partitions: partitions.to_vec(),
                stop,
                thread: Some(thread),
            },
            batches,
        ))
    }
}

impl LogReader {
    /// The offset each partition ends at now: the high watermark, or with
    /// `read_committed` the last stable offset (an open transaction's records are not
    /// waited for).
    pub async fn end_offsets(&self) -> Result<BTreeMap<i32, i64>, KafkaError> {
        let lookup = self.lookup.clone();
        let topic = self.topic.clone();
        let partitions = self.partitions.clone();
        tokio::task::spawn_blocking(move || {
            // One ListOffsets for every partition ("latest" answers with the last stable
            // offset under read_committed).
            let mut asked = TopicPartitionList::new();
            for p in &partitions {
                asked
                    .add_partition_offset(&topic, *p, Offset::End)
                    .map_err(|e| KafkaError::from_rdkafka(e, &topic))?;
            }
            let answered = lookup
                .offsets_for_times(asked, LOOKUP_TIMEOUT)
                .map_err(|e| KafkaError::from_rdkafka(e, &topic))?;
            let mut ends = BTreeMap::new();
            for e in answered.elements() {
                e.error()
                    .map_err(|err| KafkaError::from_rdkafka(err, &topic))?;
                if let Offset::Offset(o) = e.offset() {
                    ends.insert(e.partition(), o);
                }
            }
            Ok(ends)
        })
        .await
        .map_err(|e| KafkaError::Internal(format!("end offsets task failed: {e}")))?
    }

    /// Stops the reader and waits until its consumer is closed.
    pub async fn close(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for LogReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn read_loop(
    consumer: &BaseConsumer<TracingContext>,
    topic: &str,
    stop: &AtomicBool,
    sender: &mpsc::Sender<LogBatch>,
) {
    let mut last_positions = BTreeMap::new();
    while !stop.load(Ordering::SeqCst) {
        let mut records = Vec::new();
        let mut wait = POLL_WAIT;
        while records.len() < BATCH_RECORDS {
            match consumer.poll(wait) {
                Some(Ok(m)) => records.push(LogRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                }),
                Some(Err(e)) => {
                    tracing::warn!(topic, error = %e, "reading a log failed; retrying");
                    break;
                }
                None => break,
            }
            // Take what is already fetched without waiting again.
            wait = Duration::ZERO;
        }
        let positions = positions(consumer, &records);
        if records.is_empty() && positions == last_positions {
            continue;
        }
        last_positions.clone_from(&positions);
        if sender
            .blocking_send(LogBatch { records, positions })
            .is_err()
        {
            // Nobody reads the batches any more.
            return;
        }
    }
}

/// The consumer's position in each partition, never behind the records just read (the
/// position can lag the records handed out until librdkafka updates it).
fn positions(consumer: &BaseConsumer<TracingContext>, records: &[LogRecord]) -> BTreeMap<i32, i64> {
    let mut out = BTreeMap::new();
    if let Ok(list) = consumer.position() {
        for e in list.elements() {
            if let Offset::Offset(o) = e.offset() {
                out.insert(e.partition(), o);
            }
        }
    }
    for r in records {
        let next = out.entry(r.partition).or_insert(0);
        *next = (*next).max(r.offset + 1);
    }
    out
}
