//! Producing records without waiting for each delivery report: one record handed over
//! for a report later ([`Kafka::send_record`]), and queues of many records in flight whose
//! reports come back in send order ([`DeliveryQueue`], for REST v3 streaming produce).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;
use parking_lot::Mutex;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use crate::context::{log_client_error, log_librdkafka};
use crate::error::KafkaError;
use crate::producer::{self, ProduceRecord, RecordPosition, RecordRef};
use crate::{Kafka, KafkaConfig, producer_client_config};

/// A record handed to the producer whose delivery report has not been awaited yet.
pub struct PendingDelivery(Result<DeliveryQueue, KafkaError>);

impl PendingDelivery {
    /// Waits for the delivery report: where the record landed, or why it did not.
    pub async fn delivered(self) -> Result<RecordPosition, KafkaError> {
        let mut queue = self.0?;
        queue
            .next_delivered()
            .await
            .unwrap_or_else(|| Err(KafkaError::Internal("missing delivery report".to_string())))
    }
}

/// How long the streaming producer lets records gather into one Produce request.
const STREAMING_LINGER_MS: &str = "5";

/// The settings of the producer for streamed records: a stream keeps many records in
/// flight, so a few milliseconds of linger fill each Produce request and cut the
/// per-record cost of librdkafka and the broker by about a quarter (plain requests keep
/// the default producer's linger 0, where waiting would only add latency). A linger the
/// user configured wins.
pub(crate) fn streaming_overrides(config: &KafkaConfig) -> BTreeMap<String, String> {
    let configured = ["linger.ms", "queue.buffering.max.ms"]
        .iter()
        .any(|k| config.producer.contains_key(*k) || config.client.contains_key(*k));
    if configured {
        BTreeMap::new()
    } else {
        BTreeMap::from([("linger.ms".to_string(), STREAMING_LINGER_MS.to_string())])
    }
}

/// The outcome of one record handed to a [`DeliveryQueue`].
pub type Delivered = Result<RecordPosition, KafkaError>;

/// Why [`DeliveryQueue::send`] did not take a record.
#[derive(Debug)]
pub enum SendError {
    /// librdkafka's local queue is full: wait a little and send the same record again.
    QueueFull,
    /// The record failed at once, without being sent (e.g. a partition the producer does
    /// not know, or a record over the size limit).
    Failed(KafkaError),
}

/// Records of one stream (a streamed or multi-record request) in flight, with their
/// delivery reports handed back in send order.
///
/// Built for many records: no channel, task or boxed future per record. Each record
/// carries a small ticket (its stream and sequence number) through librdkafka; the
/// delivery callback files the outcome in the stream's slot for it, and the stream reads
/// the slots in order.
pub struct DeliveryQueue {
    producer: Arc<StreamProducer>,
    shared: Arc<Shared>,
    /// The sequence number of the next record sent.
    next: u64,
}

/// kgate's producers: delivery reports filed by [`StreamContext`].
pub(crate) type StreamProducer = ThreadedProducer<StreamContext>;

/// Creates a producer with kgate's settings and `overrides`.
pub(crate) fn create_producer(
    config: &KafkaConfig,
    overrides: &BTreeMap<String, String>,
) -> Result<StreamProducer, KafkaError> {
    producer_client_config(config, overrides)
        .create_with_context(StreamContext)
        .map_err(|e| KafkaError::from_rdkafka(e, "creating producer"))
}

struct Shared {
    slots: Mutex<Slots>,
    waker: AtomicWaker,
}

/// Outcomes of the records in flight, by sequence number from `first` on.
struct Slots {
    first: u64,
    outcomes: VecDeque<Option<Delivered>>,
}

/// What librdkafka carries with each streamed record, back to its delivery callback.
pub(crate) struct Ticket {
    shared: Arc<Shared>,
    seq: u64,
    /// The partition the request named, for the error of a failed record.
    partition: Option<i32>,
}

/// The client context of kgate's producers: logs like the others, and files each delivery
/// report in its queue's slot.
pub(crate) struct StreamContext;

impl ClientContext for StreamContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_librdkafka(level, fac, log_message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        log_client_error(&error, reason);
    }
}

impl ProducerContext for StreamContext {
    type DeliveryOpaque = Box<Ticket>;

    fn delivery(&self, result: &DeliveryResult<'_>, ticket: Box<Ticket>) {
        let outcome = match result {
            Ok(m) => Ok(RecordPosition {
                partition: m.partition(),
                offset: m.offset(),
                timestamp: m.timestamp().to_millis(),
            }),
            Err((e, m)) => Err(producer::delivery_error(
                e.clone(),
                m.topic(),
                ticket.partition,
            )),
        };
        let head_done = {
            let mut slots = ticket.shared.slots.lock();
            let index = ticket.seq.wrapping_sub(slots.first) as usize;
            if let Some(slot) = slots.outcomes.get_mut(index) {
                *slot = Some(outcome);
            }
            index == 0
        };
        // Only the oldest record's report lets the stream go on; later ones wait for it.
        if head_done {
            ticket.shared.waker.wake();
        }
    }
}

impl DeliveryQueue {
    pub(crate) fn new(producer: Arc<StreamProducer>) -> Self {
        DeliveryQueue {
            producer,
            shared: Arc::new(Shared {
                slots: Mutex::new(Slots {
                    first: 0,
                    outcomes: VecDeque::new(),
                }),
                waker: AtomicWaker::new(),
            }),
            next: 0,
        }
    }

    /// Hands one record to the streaming producer, or says why it cannot; a record taken
    /// gets its outcome from [`DeliveryQueue::poll_delivered`] in send order.
    pub fn send(&mut self, topic: &str, record: RecordRef<'_>) -> Result<(), SendError> {
        let seq = self.next;
        self.shared.slots.lock().outcomes.push_back(None);
        let ticket = Box::new(Ticket {
            shared: self.shared.clone(),
            seq,
            partition: record.partition,
        });
        let mut base: BaseRecord<'_, [u8], [u8], Box<Ticket>> =
            BaseRecord::with_opaque_to(topic, ticket);
        if let Some(k) = record.key {
            base = base.key(k);
        }
        if let Some(v) = record.value {
            base = base.payload(v);
        }
        if let Some(p) = record.partition {
            base = base.partition(p);
        }
        if let Some(ts) = record.timestamp {
            base = base.timestamp(ts);
        }
        if let Some(headers) = producer::headers(record.headers) {
            base = base.headers(headers);
        }
        match self.producer.send(base) {
            Ok(()) => {
                self.next += 1;
                Ok(())
            }
            Err((e, _)) => {
                self.shared.slots.lock().outcomes.pop_back();
                match e {
                    rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => {
                        Err(SendError::QueueFull)
                    }
                    e => Err(SendError::Failed(producer::delivery_error(
                        e,
                        topic,
                        record.partition,
                    ))),
                }
            }
        }
    }

    /// [`DeliveryQueue::send`], waiting while librdkafka's queue is full (up to a few
    /// seconds), and sending once more after a fresh look at the topic when the producer
    /// does not know the partition the record names (the topic may just have grown).
    pub async fn send_waiting(
        &mut self,
        topic: &str,
        record: RecordRef<'_>,
    ) -> Result<(), KafkaError> {
        let mut started: Option<Instant> = None;
        let mut refreshed = false;
        loop {
            match self.send(topic, record) {
                Ok(()) => return Ok(()),
                Err(SendError::QueueFull)
                    if started.get_or_insert_with(Instant::now).elapsed()
                        < producer::QUEUE_FULL_PATIENCE =>
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(SendError::QueueFull) => {
                    return Err(producer::delivery_error(
                        rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                        topic,
                        record.partition,
                    ));
                }
                Err(SendError::Failed(KafkaError::PartitionNotFound { .. }))
                    if record.partition.is_some() && !refreshed =>
                {
                    refreshed = true;
                    self.refresh_metadata(topic).await;
                }
                Err(SendError::Failed(e)) => return Err(e),
            }
        }
    }

    /// Makes the producer fetch the metadata of `topic` now, off the async runtime; a
    /// failure is only logged, since the caller goes on with what the producer knows.
    async fn refresh_metadata(&self, topic: &str) {
        let producer = self.producer.clone();
        let topic = topic.to_string();
        let fetched = tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic), crate::REQUEST_TIMEOUT)
                .map(|_| ())
        })
        .await;
        match fetched {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "producer metadata refresh failed"),
            Err(e) => tracing::warn!(error = %e, "producer metadata refresh task failed"),
        }
    }

    /// Moves the outcomes known so far, in send order, into `out` (at most `max`);
    /// `Pending` when the oldest record in flight has none yet (the task is woken when it
    /// has), `Ready` otherwise, also when nothing is in flight.
    pub fn poll_delivered(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut VecDeque<Delivered>,
        max: usize,
    ) -> Poll<()> {
        if self.take_delivered(out, max) {
            return Poll::Ready(());
        }
        self.shared.waker.register(cx.waker());
        // The head may have been filed between the look above and the registration.
        if self.take_delivered(out, max) {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Moves the outcomes known so far into `out` (at most `max`); whether the caller may
    /// go on: something was taken, or nothing is in flight.
    fn take_delivered(&mut self, out: &mut VecDeque<Delivered>, max: usize) -> bool {
        let mut slots = self.shared.slots.lock();
        let mut taken = 0;
        while taken < max && matches!(slots.outcomes.front(), Some(Some(_))) {
            if let Some(Some(outcome)) = slots.outcomes.pop_front() {
                out.push_back(outcome);
            }
            slots.first += 1;
            taken += 1;
        }
        taken > 0 || slots.outcomes.is_empty()
    }

    /// The outcomes of records handed over one after another (`Ok` for each record this
    /// queue took, with what the caller keeps for its report), in the same order.
    pub async fn outcomes<T, E: From<KafkaError>>(
        &mut self,
        sent: Vec<Result<T, E>>,
    ) -> Vec<Result<(T, RecordPosition), E>> {
        let mut out = Vec::with_capacity(sent.len());
        // Reports are taken as many as are known at a time.
        let mut known = VecDeque::new();
        for s in sent {
            out.push(match s {
                Ok(kept) => {
                    if known.is_empty() {
                        std::future::poll_fn(|cx| self.poll_delivered(cx, &mut known, usize::MAX))
                            .await;
                    }
                    match known.pop_front() {
                        Some(Ok(position)) => Ok((kept, position)),
                        Some(Err(e)) => Err(E::from(e)),
                        None => Err(E::from(KafkaError::Internal(
                            "missing delivery report".to_string(),
                        ))),
                    }
                }
                Err(e) => Err(e),
            });
        }
        out
    }

    /// Waits for the next outcome in send order; `None` when nothing is in flight.
    pub async fn next_delivered(&mut self) -> Option<Delivered> {
        let mut out = VecDeque::with_capacity(1);
        std::future::poll_fn(|cx| self.poll_delivered(cx, &mut out, 1)).await;
        out.pop_front()
    }
}

impl Kafka {
    /// A new queue for records that come many at a time (a stream, several records in
    /// one request), through a producer that lingers a few milliseconds to batch them
    /// unless a linger is configured.
    pub fn delivery_queue(&self) -> Result<DeliveryQueue, KafkaError> {
        if self.inner.streaming_overrides.is_empty() {
            return Ok(self.default_queue());
        }
        let producer = {
            let mut slot = self.inner.stream_producer.lock();
            match &*slot {
                Some(p) => p.clone(),
                None => {
                    let p = Arc::new(create_producer(
                        &self.inner.config,
                        &self.inner.streaming_overrides,
                    )?);
                    *slot = Some(p.clone());
                    p
                }
            }
        };
        Ok(DeliveryQueue::new(producer))
    }

    /// A new queue through the default producer (no linger).
    pub(crate) fn default_queue(&self) -> DeliveryQueue {
        DeliveryQueue::new(self.inner.producer.clone())
    }

    /// Hands one record to the default producer and returns at once.
    ///
    /// A partition the topic lacks fails the record alone (after one fresh metadata look,
    /// since the topic may just have grown); an unknown topic fails it with
    /// [`KafkaError::TopicNotFound`].
    pub async fn send_record(&self, topic: &str, record: ProduceRecord) -> PendingDelivery {
        PendingDelivery(self.send_one(topic, record).await)
    }

    async fn send_one(
        &self,
        topic: &str,
        record: ProduceRecord,
    ) -> Result<DeliveryQueue, KafkaError> {
        if let Some(p) = record.partition {
            match self.partition(topic, p).await {
                Ok(_) => {}
                Err(KafkaError::PartitionNotFound { .. }) => {
                    let md = self.fresh_metadata().await?;
                    if md.topics.get(topic).and_then(|t| t.partition(p)).is_none() {
                        return Err(KafkaError::PartitionNotFound {
                            topic: topic.to_string(),
                            partition: p,
                        });
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let mut queue = self.default_queue();
        queue.send_waiting(topic, record.as_ref()).await?;
        Ok(queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_linger_unless_a_linger_is_configured() {
        let linger = |config: &KafkaConfig| streaming_overrides(config).get("linger.ms").cloned();
        assert_eq!(linger(&KafkaConfig::default()), Some("5".to_string()));
        let producer = KafkaConfig {
            producer: [("linger.ms".to_string(), "0".to_string())].into(),
            ..Default::default()
        };
        assert!(streaming_overrides(&producer).is_empty());
        let client = KafkaConfig {
            client: [("queue.buffering.max.ms".to_string(), "1".to_string())].into(),
            ..Default::default()
        };
        assert!(streaming_overrides(&client).is_empty());
    }
}
