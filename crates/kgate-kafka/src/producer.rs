//! What is produced: records (owned or borrowed), where they landed, and how librdkafka's
//! refusals are named; the producers themselves are in [`crate::record_stream`].

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::types::RDKafkaErrorCode;

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
