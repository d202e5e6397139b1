//! `POST /topics/{topic}` and `POST /topics/{topic}/partitions/{partition}`: produce
//! records in an embedded format, one result per record, in request order.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use kgate_formats::serializer::RecordSerializer;
use kgate_formats::work::{Lane, off_runtime};
use kgate_formats::{EmbeddedFormat, FormatError, json_to_bytes};
use kgate_http::{HttpError, LimitedBody};
use kgate_kafka::{KafkaError, ProduceRecord, RecordPosition};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{RestError, parse_json};
use crate::negotiation::{Negotiated, V2Accept, request_media_type};
use crate::state::AppState;
use crate::v2::partitions::parse_partition;

/// A v2 produce request. Unknown fields are refused (400), as Confluent's proxy does.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceRequest {
    /// Key schema, for schema-registry formats.
    #[serde(default)]
    pub key_schema: Option<String>,
    /// Key schema id, for schema-registry formats (a numeric string is taken too).
    #[serde(default, deserialize_with = "crate::json::opt_int")]
    pub key_schema_id: Option<i32>,
    /// Value schema, for schema-registry formats.
    #[serde(default)]
    pub value_schema: Option<String>,
    /// Value schema id, for schema-registry formats (a numeric string is taken too).
    #[serde(default, deserialize_with = "crate::json::opt_int")]
    pub value_schema_id: Option<i32>,
    /// The records.
    pub records: Vec<ProduceRecordJson>,
}

/// One record of a produce request. Unknown fields are refused (400), as Confluent's
/// proxy does: a misspelt `value` must not write a record with a null value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceRecordJson {
    /// The key in the embedded format; `None` when absent, `Some(Null)` for no key.
    #[serde(default, deserialize_with = "crate::json::present")]
    pub key: Option<Value>,
    /// The value in the embedded format; `None` when absent, `Some(Null)` for a null
    /// value.
    #[serde(default, deserialize_with = "crate::json::present")]
    pub value: Option<Value>,
    /// The partition to write to (topic produce only; a numeric string is taken too).
    #[serde(default, deserialize_with = "crate::json::opt_int")]
    pub partition: Option<i32>,
}

impl ProduceRecordJson {
    /// The key, `Null` when absent.
    pub fn key(&self) -> &Value {
        self.key.as_ref().unwrap_or(&Value::Null)
    }

    /// The value, `Null` when absent.
    pub fn value(&self) -> &Value {
        self.value.as_ref().unwrap_or(&Value::Null)
    }
}

/// The answer to a produce request.
#[derive(Debug, Serialize)]
pub struct ProduceResponse {
    /// Schema id used for keys; null for formats without schemas.
    pub key_schema_id: Option<i32>,
    /// Schema id used for values; null for formats without schemas.
    pub value_schema_id: Option<i32>,
    /// One entry per record, in request order.
    pub offsets: Vec<RecordResult>,
}

/// Where one record landed, or why it did not.
#[derive(Debug, Serialize)]
pub struct RecordResult {
    /// The partition, or null if the record failed.
    pub partition: Option<i32>,
    /// The offset, or null if the record failed.
    pub offset: Option<i64>,
    /// 1 for a non-retriable failure, 2 for a retriable one, null on success.
    pub error_code: Option<i32>,
    /// Why the record failed, null on success.
    pub error: Option<String>,
}

/// `POST /topics/{topic}`.
pub async fn to_topic(
    State(state): State<AppState>,
    V2Accept(content_type): V2Accept,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Result<LimitedBody, HttpError>,
) -> Result<Negotiated<ProduceResponse>, RestError> {
    state.check_writable(&topic)?;
    let (records, schema_ids) = parse_request(&state, &topic, &headers, body).await?;
    let response = produce(&state, &topic, records, None, schema_ids).await?;
    Ok(Negotiated(content_type, response))
}

/// `POST /topics/{topic}/partitions/{partition}`.
pub async fn to_partition(
    State(state): State<AppState>,
    V2Accept(content_type): V2Accept,
    Path((topic, partition)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<LimitedBody, HttpError>,
) -> Result<Negotiated<ProduceResponse>, RestError> {
    let partition = parse_partition(&topic, &partition)?;
    state.check_writable(&topic)?;
    let (records, schema_ids) = parse_request(&state, &topic, &headers, body).await?;
    // 40402 for the whole request rather than one error per record.
    state.kafka.partition(&topic, partition).await?;
    let response = produce(&state, &topic, records, Some(partition), schema_ids).await?;
    Ok(Negotiated(content_type, response))
}

/// The key and value schema ids a produce request used.
pub(crate) type SchemaIds = (Option<i32>, Option<i32>);

/// Reads and validates the body, converting every record to bytes before anything is
/// sent, so a bad record fails the request instead of half of it landing.
async fn parse_request(
    state: &AppState,
    topic: &str,
    headers: &HeaderMap,
    body: Result<LimitedBody, HttpError>,
) -> Result<(Vec<ProduceRecord>, SchemaIds), RestError> {
    let LimitedBody(body) = body?;
    let format = request_media_type(headers)?.format_or_binary();
    parse_records(state, topic, format, &body).await
}

/// Parses a produce body in `format` and converts every record to bytes; what v1 and v2
/// share once each has told the format from its own content types.
pub(crate) async fn parse_records(
    state: &AppState,
    topic: &str,
    format: EmbeddedFormat,
    body: &[u8],
) -> Result<(Vec<ProduceRecord>, SchemaIds), RestError> {
    let request: ProduceRequest = parse_json(body)?;
    if request.records.is_empty() {
        return Err(RestError::Unprocessable(
            "records may not be empty".to_string(),
        ));
    }
    // Confluent's proxy writes such a record with a null key and value; kgate refuses
    // it, since it is almost always a misspelt field (an explicit `"value": null` is
    // still a null value).
    if let Some(i) = request
        .records
        .iter()
        .position(|r| r.key.is_none() && r.value.is_none())
    {
        return Err(RestError::Unprocessable(format!(
            "Record {i} has neither a key nor a value; give at least one of them (null is allowed)."
        )));
    }
    if format.uses_schema_registry() {
        if request.records.iter().any(|r| !r.key().is_null())
            && request.key_schema.is_none()
            && request.key_schema_id.is_none()
        {
            return Err(RestError::MissingKeySchema);
        }
        if request.records.iter().any(|r| !r.value().is_null())
            && request.value_schema.is_none()
            && request.value_schema_id.is_none()
        {
            return Err(RestError::MissingValueSchema);
        }
        return with_schemas(state, format, topic, request).await;
    }
    let records = request
        .records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(ProduceRecord {
                key: convert(format, r.key(), "key", i)?,
                value: convert(format, r.value(), "value", i)?,
                partition: r.partition,
                ..ProduceRecord::default()
            })
        })
        .collect::<Result<_, RestError>>()?;
    Ok((records, (None, None)))
}

/// Serializes records in a schema-registry format: the schemas are registered under
/// `<topic>-key` / `<topic>-value` (or fetched by id) once per request, and only a side
/// that has a non-null record gets one, as Confluent's proxy does.
async fn with_schemas(
    state: &AppState,
    format: EmbeddedFormat,
    topic: &str,
    request: ProduceRequest,
) -> Result<(Vec<ProduceRecord>, SchemaIds), RestError> {
    let formats = state.schema_formats(format)?;
    let has_keys = request.records.iter().any(|r| !r.key().is_null());
    let has_values = request.records.iter().any(|r| !r.value().is_null());
    let key = if has_keys {
        Some(
            formats
                .v2_serializer(
                    format,
                    topic,
                    true,
                    request.key_schema.as_deref(),
                    request.key_schema_id,
                )
                .await?,
        )
    } else {
        None
    };
    let value = if has_values {
        Some(
            formats
                .v2_serializer(
                    format,
                    topic,
                    false,
                    request.value_schema.as_deref(),
                    request.value_schema_id,
                )
                .await?,
        )
    } else {
        None
    };
    let ids = (
        key.as_ref().map(|k| k.schema_id),
        value.as_ref().map(|v| v.schema_id),
    );
    // Each record's conversion is bounded, a request's many records are not: the batch
    // is converted off the async threads (kgate_formats::work).
    let lane = Lane::for_batch(request.records.len());
    let records = off_runtime(lane, move || serialize_all(&request.records, &key, &value)).await?;
    Ok((records, ids))
}

/// Serializes every record's key and value with the request's schemas.
fn serialize_all(
    records: &[ProduceRecordJson],
    key: &Option<RecordSerializer>,
    value: &Option<RecordSerializer>,
) -> Result<Vec<ProduceRecord>, RestError> {
    let serialize =
        |serializer: &Option<RecordSerializer>, v: &Value, what: &str, i: usize| match serializer {
            Some(s) => s.serialize(v).map_err(|e| match e {
                FormatError::SchemaMismatch(m) => {
                    RestError::SchemaMismatch(format!("the {what} of record {i}: {m}"))
                }
                other => RestError::from(other),
            }),
            None => Ok(None),
        };
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(ProduceRecord {
                key: serialize(key, r.key(), "key", i)?,
                value: serialize(value, r.value(), "value", i)?,
                partition: r.partition,
                ..ProduceRecord::default()
            })
        })
        .collect()
}

fn convert(
    format: EmbeddedFormat,
    value: &Value,
    what: &str,
    index: usize,
) -> Result<Option<Vec<u8>>, RestError> {
    json_to_bytes(format, value).map_err(|e| match e {
        FormatError::Unsupported(_) => RestError::from(e),
        other => RestError::BadRequest(format!(
            "Error serializing the {what} of record {index} as {format}: {other}"
        )),
    })
}

/// Sends converted records (all to `partition` when given) and shapes the answer.
pub(crate) async fn produce(
    state: &AppState,
    topic: &str,
    mut records: Vec<ProduceRecord>,
    partition: Option<i32>,
    (key_schema_id, value_schema_id): SchemaIds,
) -> Result<ProduceResponse, RestError> {
    if let Some(p) = partition {
        for r in &mut records {
            r.partition = Some(p);
        }
    }
    let results = state.kafka.produce(topic, records).await?;
    Ok(ProduceResponse {
        key_schema_id,
        value_schema_id,
        offsets: results
            .into_iter()
            .map(|r| record_result(r, partition))
            .collect(),
    })
}

fn record_result(r: Result<RecordPosition, KafkaError>, partition: Option<i32>) -> RecordResult {
    match r {
        Ok(pos) => RecordResult {
            partition: Some(pos.partition),
            offset: Some(pos.offset),
            error_code: None,
            error: None,
        },
        Err(e) => RecordResult {
            partition,
            offset: None,
            error_code: Some(if e.is_retriable() { 2 } else { 1 }),
            error: Some(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_results_carry_the_reference_error_codes() {
        let ok = record_result(
            Ok(RecordPosition {
                partition: 2,
                offset: 7,
                timestamp: None,
            }),
            None,
        );
        assert_eq!(
            (ok.partition, ok.offset, ok.error_code),
            (Some(2), Some(7), None)
        );
        let retriable = record_result(Err(KafkaError::Timeout("slow".into())), None);
        assert_eq!(retriable.error_code, Some(2));
        assert_eq!(retriable.partition, None);
        let fatal = record_result(
            Err(KafkaError::Kafka {
                code: 10,
                message: "too large".into(),
            }),
            Some(1),
        );
        assert_eq!((fatal.error_code, fatal.partition), (Some(1), Some(1)));
        assert!(fatal.error.is_some_and(|e| e.contains("too large")));
    }
}
