//! v1 per-partition reads without a consumer group:
//! `GET /topics/{t}/partitions/{p}/messages?offset=N&count=M` (or `timestamp=<ISO-8601>`)
//! of seed 001, and seed 002's `GET /topics/{t}/partitions/{p}?offset=N` (see
//! [`super::metadata::partition`]). A read takes a reader from the pool of partition
//! readers (`simpleconsumer.pool.size.max`), and answers 503 with 50301 when none is free
//! within `simpleconsumer.pool.timeout.ms`, as Confluent's proxy does.
//!
//! Where the reference is silent or answers a client's mistake with a 5xx, kgate answers:
//! - an offset before the partition's first record or past its end: 422 (error code 422,
//!   the seed's code for a request with semantic errors), naming the partition's range;
//!   Confluent's proxy answered 500 with a Kafka error. A read starting exactly at the end
//!   waits up to `consumer.request.timeout.ms` for the next record, as the reference's
//!   poll does;
//! - `offset` that is an ISO-8601 instant (seed 001's example
//!   `?offset=2019-10-15T13:30:00Z`) reads from that time, like `timestamp`; no `offset`
//!   and no `timestamp` reads from the partition's first record (the reference read from
//!   offset 0, the same unless records were deleted);
//! - a parameter that is not a number or an instant: 400 (the reference's JAX-RS answered
//!   404).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use kgate_formats::EmbeddedFormat;
use kgate_kafka::PartitionOffsets;
use kgate_kafka::partition_reader::PartitionRead;
use serde::Serialize;
use serde_json::Value;

use super::V1Error;
use crate::error::RestError;
use crate::negotiation::{Negotiated, V1_AVRO, V1_BINARY, V1_JSON, V1_JSON_RECORDS, negotiate};
use crate::state::AppState;
use crate::v2::consumers::records::record_response;
use crate::v2::partitions::parse_partition;
use crate::v3::records::parse_timestamp;

/// The v1 records types, by embedded format (v1 has no others).
pub(crate) const RECORD_TYPES: &[(EmbeddedFormat, &str)] = &[
    (EmbeddedFormat::Binary, V1_BINARY),
    (EmbeddedFormat::Json, V1_JSON_RECORDS),
    (EmbeddedFormat::Avro, V1_AVRO),
];

/// One record of a per-partition read, with seed 001's fields in its order.
#[derive(Debug, Serialize)]
pub struct PartitionMessage {
    /// The key in the embedded format.
    pub key: Value,
    /// The value in the embedded format.
    pub value: Value,
    /// The partition it was read from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
}

/// Where a read starts, as its query asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Offset(i64),
    /// Milliseconds since the epoch.
    Time(i64),
    Beginning,
}

/// `GET /topics/{topic}/partitions/{partition}/messages`: `count` defaults to 1.
pub async fn get(
    State(state): State<AppState>,
    Path((topic, partition)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, V1Error> {
    read(&state, &topic, &partition, &query, &headers, Some(1)).await
}

/// Reads `partition` of `topic` as `query` asks; without a `count` (nor a
/// `default_count`), up to what the partition holds when the read starts.
pub(crate) async fn read(
    state: &AppState,
    topic: &str,
    partition: &str,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
    default_count: Option<u64>,
) -> Result<Response, V1Error> {
    let (format, content_type) = read_type(headers)?;
    let schemas = if format.uses_schema_registry() {
        Some(state.schema_formats(format)?.clone())
    } else {
        None
    };
    let partition = parse_partition(topic, partition)?;
    let start = start_of(query)?;
    let count = match query.get("count") {
        Some(text) => Some(text.trim().parse::<u64>().map_err(|_| {
            RestError::BadRequest(format!(
                "Query parameter count must be a non-negative integer, not {text:?}"
            ))
        })?),
        None => default_count,
    };
    let meta = state.kafka.partition(topic, partition).await?;
    if meta.leader < 0 {
        return Err(RestError::LeaderNotAvailable {
            topic: topic.to_string(),
            partition,
        }
        .into());
    }
    let offsets = state.kafka.partition_offsets(topic, partition).await?;
    let start = match start {
        Start::Offset(offset) => check_range(topic, partition, offset, offsets)?,
        Start::Beginning => offsets.beginning,
        Start::Time(millis) => {
            match state
                .kafka
                .offset_for_time(topic, partition, millis)
                .await?
            {
                Some(offset) => offset.max(offsets.beginning),
                // No record that recent: nothing to read.
                None => {
                    return Ok(
                        Negotiated(content_type, Vec::<PartitionMessage>::new()).into_response()
                    );
                }
            }
        }
    };
    let mut reader = state
        .partition_readers
        .acquire()
        .await
        .ok_or(RestError::NoPartitionReaderAvailable)?;
    let records = reader
        .read(PartitionRead {
            topic: topic.to_string(),
            partition,
            start,
            end: offsets.end,
            count: count.map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(usize::MAX)),
            max_bytes: state.config.consumer_request_max_bytes,
            timeout: state.config.consumer_request_timeout,
        })
        .await?;
    drop(reader);
    let mut messages = Vec::with_capacity(records.len());
    for record in &records {
        // The records before one that cannot be shaped are answered; a read starting at
        // it answers its error (42206, naming the offset to read past), as consumers do.
        let r = match record_response(format, schemas.as_deref(), record).await {
            Ok(r) => r,
            Err(e) if messages.is_empty() => return Err(e.into()),
            Err(_) => break,
        };
        messages.push(PartitionMessage {
            key: r.key,
            value: r.value,
            partition: r.partition,
            offset: r.offset,
        });
    }
    Ok(Negotiated(content_type, messages).into_response())
}

/// The embedded format and response type of a read, from its Accept header: a records
/// type names the format, a generic one means binary.
fn read_type(headers: &HeaderMap) -> Result<(EmbeddedFormat, &'static str), RestError> {
    let mut offered: Vec<&'static str> = RECORD_TYPES.iter().map(|(_, t)| *t).collect();
    offered.extend([V1_JSON, "application/vnd.kafka+json", "application/json"]);
    let chosen = negotiate(headers, &offered)?;
    Ok(match RECORD_TYPES.iter().find(|(_, t)| *t == chosen) {
        Some((format, t)) => (*format, *t),
        None if chosen == V1_JSON => (EmbeddedFormat::Binary, V1_BINARY),
        // A client that accepts only a generic type gets it.
        None => (EmbeddedFormat::Binary, chosen),
    })
}

/// Where the query asks the read to start.
fn start_of(query: &BTreeMap<String, String>) -> Result<Start, RestError> {
    let instant = |name: &str, text: &str| {
        parse_timestamp(text.trim())
            .map(Start::Time)
            .ok_or_else(|| {
                RestError::BadRequest(format!(
                    "Query parameter {name} must be {}an ISO-8601 instant such as \
                 2019-10-15T13:30:00Z, not {text:?}",
                    if name == "offset" {
                        "an offset or "
                    } else {
                        ""
                    }
                ))
            })
    };
    match (query.get("offset"), query.get("timestamp")) {
        (Some(_), Some(_)) => Err(RestError::BadRequest(
            "Query parameters offset and timestamp exclude each other".to_string(),
        )),
        (Some(text), None) => match text.trim().parse::<i64>() {
            Ok(offset) => Ok(Start::Offset(offset)),
            Err(_) => instant("offset", text),
        },
        (None, Some(text)) => instant("timestamp", text),
        (None, None) => Ok(Start::Beginning),
    }
}

/// `offset` when the partition has a record there or it is the partition's end, else
/// 422 naming the partition's range.
fn check_range(
    topic: &str,
    partition: i32,
    offset: i64,
    offsets: PartitionOffsets,
) -> Result<i64, RestError> {
    if (offsets.beginning..=offsets.end).contains(&offset) {
        return Ok(offset);
    }
    let held = if offsets.beginning == offsets.end {
        "holds no records".to_string()
    } else {
        format!("holds offsets {} to {}", offsets.beginning, offsets.end - 1)
    };
    Err(RestError::Unprocessable(format!(
        "Offset {offset} is out of range for partition {partition} of topic {topic}, which \
         {held}; the next record will get offset {}",
        offsets.end
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, header};

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn starts_are_offsets_instants_or_the_beginning() {
        assert_eq!(
            start_of(&query(&[("offset", "10")])).unwrap(),
            Start::Offset(10)
        );
        assert_eq!(
            start_of(&query(&[("offset", "1970-01-01T00:00:01Z")])).unwrap(),
            Start::Time(1_000)
        );
        assert_eq!(
            start_of(&query(&[("timestamp", "1970-01-01T00:00:00.5Z")])).unwrap(),
            Start::Time(500)
        );
        assert_eq!(start_of(&query(&[])).unwrap(), Start::Beginning);
        for bad in [
            query(&[("offset", "ten")]),
            query(&[("timestamp", "12")]),
            query(&[("offset", "1"), ("timestamp", "1970-01-01T00:00:00Z")]),
        ] {
            assert!(
                matches!(start_of(&bad), Err(RestError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn offsets_outside_the_log_are_refused() {
        let offsets = PartitionOffsets {
            beginning: 2,
            end: 5,
        };
        assert_eq!(check_range("t", 0, 2, offsets).unwrap(), 2);
        assert_eq!(check_range("t", 0, 5, offsets).unwrap(), 5);
        for bad in [1, 6, -1] {
            let e = check_range("t", 0, bad, offsets).unwrap_err();
            assert!(
                matches!(e, RestError::Unprocessable(ref m) if m.contains("2 to 4")),
                "{e}"
            );
        }
    }

    #[test]
    fn the_accept_header_picks_the_format() {
        let mut h = HeaderMap::new();
        assert_eq!(read_type(&h).unwrap(), (EmbeddedFormat::Binary, V1_BINARY));
        for (accept, want) in [
            (V1_JSON_RECORDS, (EmbeddedFormat::Json, V1_JSON_RECORDS)),
            (V1_AVRO, (EmbeddedFormat::Avro, V1_AVRO)),
            (V1_JSON, (EmbeddedFormat::Binary, V1_BINARY)),
            (
                "application/json",
                (EmbeddedFormat::Binary, "application/json"),
            ),
        ] {
            h.insert(header::ACCEPT, HeaderValue::from_static(accept));
            assert_eq!(read_type(&h).unwrap(), want, "{accept}");
        }
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.kafka.protobuf.v1+json"),
        );
        assert!(matches!(read_type(&h), Err(RestError::NotAcceptable)));
    }
}
