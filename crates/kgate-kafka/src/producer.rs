//! Producing records: one shared librdkafka producer per distinct client configuration,
//! per-record delivery results in request order.

use std::time::{Duration, Instant};

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

use crate::context::TracingContext;
use crate::error::KafkaError;

/// How long to keep retrying while librdkafka's local queue is full before failing the
/// record with a retriable error.
pub(crate) const QUEUE_FULL_PATIENCE: Duration = Duration::from_secs(5);

/// A record to produce; `None` key or value means a null key or value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProduceRecord {
    /// The record key.
    pub key: Option<Vec<u8>>,
    /// The record value.
    pub value: Option<Vec<u8>>,
    /// The partition to write to; `None` lets kgate choose (by key hash, or spread when
    /// there is no key).
    pub partition: Option<i32>,
    /// Record headers, in order; a header value may be null.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Create time in milliseconds since the epoch; `None` uses the current time.
    pub timestamp: Option<i64>,
}

impl ProduceRecord {
    /// The record, borrowed.
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            partition: self.partition,
            headers: &self.headers,
            timestamp: self.timestamp,
        }
    }
}

/// A record to produce whose bytes live elsewhere (e.g. a reused decoding buffer);
/// librdkafka copies them when it takes the record.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordRef<'a> {
    /// The record key; `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// The record value; `None` for a null value.
    pub value: Option<&'a [u8]>,
    /// The partition to write to; `None` lets the producer choose.
    pub partition: Option<i32>,
    /// Record headers, in order; a header value may be null.
    pub headers: &'a [(String, Option<Vec<u8>>)],
    /// Create time in milliseconds since the epoch; `None` uses the current time.
    pub timestamp: Option<i64>,
}

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPosition {
    /// The partition the record was written to.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// Its timestamp in milliseconds since the epoch, when known.
    pub timestamp: Option<i64>,
}

/// Enqueues every record (in order, so ordering within a partition is kept) and then waits
/// for each delivery report.
pub(crate) async fn send_all(
    producer: &FutureProducer<TracingContext>,
    topic: &str,
    records: &[ProduceRecord],
) -> Vec<Result<RecordPosition, KafkaError>> {
    let mut pending: Vec<Result<DeliveryFuture, KafkaError>> = Vec::with_capacity(records.len());
    for record in records {
        pending.push(enqueue(producer, topic, record.as_ref()).await);
    }
    let mut results = Vec::with_capacity(records.len());
    for (p, record) in pending.into_iter().zip(records) {
        let result = match p {
            Err(e) => Err(e),
            Ok(delivery) => match delivery.await {
                Ok(Ok(d)) => Ok(RecordPosition {
                    partition: d.partition,
                    offset: d.offset,
                    timestamp: d.timestamp.to_millis(),
                }),
                Ok(Err((e, _))) => Err(delivery_error(e, topic, record.partition)),
                Err(_) => Err(KafkaError::Internal(
                    "producer closed before delivery".to_string(),
                )),
            },
        };
        results.push(result);
    }
    results
}

pub(crate) async fn enqueue(
    producer: &FutureProducer<TracingContext>,
    topic: &str,
    record: RecordRef<'_>,
) -> Result<DeliveryFuture, KafkaError> {
    // Read the clock only once the queue is full: this runs for every streamed record.
    let mut started: Option<Instant> = None;
    loop {
        let mut fr: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
        if let Some(k) = record.key {
            fr = fr.key(k);
        }
        if let Some(v) = record.value {
            fr = fr.payload(v);
        }
        if let Some(p) = record.partition {
            fr = fr.partition(p);
        }
        if let Some(ts) = record.timestamp {
            fr = fr.timestamp(ts);
        }
        if let Some(headers) = headers(record.headers) {
            fr = fr.headers(headers);
        }
        match producer.send_result(fr) {
            Ok(delivery) => return Ok(delivery),
            Err((
                rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                _,
            )) if started.get_or_insert_with(Instant::now).elapsed() < QUEUE_FULL_PATIENCE => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((e, _)) => return Err(delivery_error(e, topic, record.partition)),
        }
    }
}

/// librdkafka's headers for a record's; `None` when it has none.
pub(crate) fn headers(headers: &[(String, Option<Vec<u8>>)]) -> Option<OwnedHeaders> {
    if headers.is_empty() {
        return None;
    }
    let mut owned = OwnedHeaders::new_with_capacity(headers.len());
    for (key, value) in headers {
        owned = owned.insert(Header {
            key: key.as_str(),
            value: value.as_deref(),
        });
    }
    Some(owned)
}

pub(crate) fn delivery_error(
    e: rdkafka::error::KafkaError,
    topic: &str,
    partition: Option<i32>,
) -> KafkaError {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::UnknownPartition) => KafkaError::PartitionNotFound {
            topic: topic.to_string(),
            partition: partition.unwrap_or(-1),
        },
        _ => KafkaError::from_rdkafka(e, topic),
    }
}
