//! `POST /v3/clusters/{cluster_id}/topics/{topic_name}/records`: produce records given as
//! concatenated JSON, one delivery report per record, in order.
//!
//! A request with a known length is read whole; a single record then answers with the
//! HTTP status of its outcome. A chunked request is streaming mode: records are parsed as
//! they arrive, handed to the producer at once, and each report is written back as soon
//! as it and every report before it are known. A report is only written after Kafka
//! acknowledged the record, so a client that vanishes mid-stream has lost nothing it saw
//! acknowledged.
//!
//! AVRO, PROTOBUF and JSONSCHEMA data (and data without a `type`) is written in
//! Confluent's wire format with a schema from the Schema Registry: given inline, by id,
//! by version, or the subject's latest; the report names the subject, id and version.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::StreamExt;
use kgate_formats::serializer::{RecordSerializer, SchemaFormats, SchemaSelector};
use kgate_formats::subject::SubjectNameStrategy;
use kgate_formats::{EmbeddedFormat, FormatError, json_to_bytes};
use kgate_http::ErrorEnvelope;
use kgate_kafka::{Kafka, KafkaError, ProduceRecord, RecordPosition};
use parking_lot::Mutex;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AppState;
use crate::error::RestError;
use crate::v3::record_stream::{Parts, ReportStream};
use crate::v3::resource::{self, V3Error, V3Json, V3Result};

/// The records routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v3/clusters/{cluster_id}/topics/{topic_name}/records",
            post(produce),
        )
        .route(
            "/v3/clusters/{cluster_id}/topics/{topic_name}/records:batch",
            post(produce_batch),
        )
}

/// The body of `POST .../records:batch`: records like single produce requests, each with
/// an `id` the answer refers to.
#[derive(Debug, Deserialize)]
pub struct ProduceBatchRequest {
    /// The records, each a produce request with an `id`.
    pub entries: Vec<Value>,
}

/// One record of a produce request. Unknown fields are refused (400), as Confluent's
/// proxy does.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceRequest {
    /// The partition to write to; absent lets the producer choose (a numeric string is
    /// taken too).
    #[serde(default, deserialize_with = "crate::json::opt_int")]
    pub partition_id: Option<i32>,
    /// Record headers; values are base64, or null.
    #[serde(default)]
    pub headers: Vec<ProduceRequestHeader>,
    /// The key; absent means a null key.
    #[serde(default)]
    pub key: Option<ProduceRequestData>,
    /// The value; absent means a null value.
    #[serde(default)]
    pub value: Option<ProduceRequestData>,
    /// The create time as an RFC 3339 instant; absent means now.
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// One header of a record.
#[derive(Debug, Clone, Deserialize)]
pub struct ProduceRequestHeader {
    /// The header name.
    pub name: String,
    /// The header value in base64, or null.
    #[serde(default)]
    pub value: Option<String>,
}

/// A key or value of a record and how it is embedded.
#[derive(Debug, Deserialize)]
pub struct ProduceRequestData {
    /// `BINARY`, `JSON`, `STRING`, `AVRO`, `PROTOBUF` or `JSONSCHEMA`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The data in that format; absent means null.
    #[serde(default)]
    pub data: Value,
    /// Schema Registry subject.
    #[serde(default)]
    pub subject: Option<Value>,
    /// Schema Registry subject name strategy.
    #[serde(default)]
    pub subject_name_strategy: Option<Value>,
    /// Schema Registry schema id.
    #[serde(default)]
    pub schema_id: Option<Value>,
    /// Schema Registry schema version.
    #[serde(default)]
    pub schema_version: Option<Value>,
    /// An inline schema.
    #[serde(default)]
    pub schema: Option<Value>,
}

impl ProduceRequestData {
    /// Whether it names no type and no schema: `{}` or `{"data": ...}` alone.
    fn is_bare(&self) -> bool {
        self.kind.is_none()
            && self.subject.is_none()
            && self.subject_name_strategy.is_none()
            && self.schema_id.is_none()
            && self.schema_version.is_none()
            && self.schema.is_none()
    }
}

/// The `key` / `value` part of a delivery report.
#[derive(Debug, Clone, Serialize)]
pub struct ProduceResponseData {
    /// The format the data was given in (for a schema chosen without a `type`, the
    /// schema's format).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The Schema Registry subject of the schema it was written with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The id of that schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_id: Option<i32>,
    /// Its version under the subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<i32>,
    /// Its size in bytes once serialized (the wire-format header included).
    pub size: usize,
}

/// The delivery report of one produced record.
#[derive(Debug, Serialize)]
pub struct ProduceResponse {
    /// Always 200.
    pub error_code: u16,
    /// The cluster.
    pub cluster_id: String,
    /// The topic.
    pub topic_name: String,
    /// The partition the record was written to.
    pub partition_id: i32,
    /// Its offset.
    pub offset: i64,
    /// Its timestamp, as an RFC 3339 instant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The key's format and size, when the request gave a key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<ProduceResponseData>,
    /// The value's format and size, when the request gave a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<ProduceResponseData>,
}

/// A record failed: its own `{"error_code","message"}` with the HTTP status it maps to.
#[derive(Debug)]
pub(crate) struct RecordError {
    status: StatusCode,
    error_code: u32,
    message: String,
}

impl RecordError {
    fn body(&self) -> Value {
        serde_json::json!({ "error_code": self.error_code, "message": self.message })
    }
}

impl From<KafkaError> for RecordError {
    fn from(e: KafkaError) -> Self {
        RecordError::from(RestError::from(e))
    }
}

impl From<RestError> for RecordError {
    fn from(e: RestError) -> Self {
        let e = V3Error(too_large(e));
        RecordError {
            status: e.status(),
            error_code: e.error_code(),
            message: e.to_string(),
        }
    }
}

/// What one record came to.
pub(crate) type Outcome = Result<ProduceResponse, RecordError>;

fn outcome_json(outcome: &Outcome) -> Vec<u8> {
    let mut out = Vec::new();
    write_outcome(&mut out, outcome);
    out
}

/// Appends one report's JSON to `out` (a streamed produce writes the common ones by hand,
/// see [`crate::v3::record_stream`]).
pub(crate) fn write_outcome(out: &mut Vec<u8>, outcome: &Outcome) {
    let written = match outcome {
        Ok(report) => serde_json::to_writer(&mut *out, report),
        Err(e) => serde_json::to_writer(&mut *out, &e.body()),
    };
    if written.is_err() {
        // Serializing plain data into memory does not fail; keep the stream well-formed.
        out.extend_from_slice(b"null");
    }
}

/// librdkafka refuses an oversized record before sending it; the reference answers that
/// with 413.
fn too_large(e: RestError) -> RestError {
    match e {
        RestError::Kafka(KafkaError::InvalidRequest(m))
            if m.to_ascii_lowercase().contains("size too large") =>
        {
            RestError::TooLarge(
                "The request included a message larger than the maximum message size the server can accept."
                    .to_string(),
            )
        }
        other => other,
    }
}

/// `POST /v3/clusters/{cluster_id}/topics/{topic_name}/records`.
async fn produce(
    State(state): State<AppState>,
    Path((cluster_id, topic)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> V3Result<Response> {
    resource::check_cluster(&state, &cluster_id).await?;
    resource::check_json_content_type(&headers)?;
    state.check_writable(&topic)?;
    let meta = state.kafka.topic(&topic).await?;
    let partitions: Vec<i32> = meta.partitions.iter().map(|p| p.id).collect();
    let chunked = headers
        .get(header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let limit = state.config.max_request_body_bytes;
    let producing = Producing::new(&state, cluster_id, topic);
    if !chunked {
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
            if e.to_string().to_ascii_lowercase().contains("length limit") {
                RestError::TooLarge(format!(
                    "Request body is larger than the limit of {limit} bytes"
                ))
            } else {
                RestError::BadRequest(format!("Could not read the request body: {e}"))
            }
        })?;
        // One record, or a body that is not JSON, answers with its own status, as a plain
        // (non-streaming) request; several records stream their reports.
        let single: Option<Outcome> = match next_value(&bytes) {
            Next::Value(used) if bytes[used..].iter().all(u8::is_ascii_whitespace) => Some(
                producing
                    .clone()
                    .record(parse_record(&bytes[..used]))
                    .await
                    .await,
            ),
            Next::Value(_) => None,
            Next::NeedMore if bytes.iter().all(u8::is_ascii_whitespace) => {
                return Err(empty_body().into());
            }
            Next::NeedMore => Some(Err(malformed("unexpected end of the request body"))),
            Next::Malformed(m) => Some(Err(malformed(&m))),
        };
        if let Some(outcome) = single {
            let status = match &outcome {
                Ok(_) => StatusCode::OK,
                Err(e) => e.status,
            };
            return Ok(json_response(status, Body::from(outcome_json(&outcome))));
        }
        let body = futures::stream::once(futures::future::ready(Ok(bytes))).boxed();
        let queue = state.kafka.delivery_queue()?;
        let reports = ReportStream::new(producing, queue, partitions, body, limit);
        return Ok(json_response(StatusCode::OK, Body::from_stream(reports)));
    }
    let queue = state.kafka.delivery_queue()?;
    let body = body.into_data_stream().boxed();
    let mut reports = ReportStream::new(producing, queue, partitions, body, limit);
    // An empty stream is still answered with an error status, before the 200 is sent.
    if !reports.has_content().await {
        return Err(empty_body().into());
    }
    Ok(json_response(StatusCode::OK, Body::from_stream(reports)))
}

/// `POST /v3/clusters/{cluster_id}/topics/{topic_name}/records:batch`: 207 with the
/// `successes` (delivery reports with their `id`) and `failures` (`id`, `error_code`,
/// `message`), as Confluent's proxy answers it.
async fn produce_batch(
    State(state): State<AppState>,
    Path((cluster_id, topic)): Path<(String, String)>,
    V3Json(request): V3Json<ProduceBatchRequest>,
) -> V3Result<Response> {
    resource::check_cluster(&state, &cluster_id).await?;
    state.check_writable(&topic)?;
    state.kafka.topic(&topic).await?;
    if request.entries.is_empty() {
        return Err(empty_body().into());
    }
    let mut ids = Vec::with_capacity(request.entries.len());
    let mut records = Vec::with_capacity(request.entries.len());
    for mut entry in request.entries {
        let id = match entry.as_object_mut().and_then(|o| o.remove("id")) {
            Some(id @ (Value::String(_) | Value::Number(_))) => id,
            _ => {
                return Err(RestError::BadRequest(
                    "Every entry needs an id (a string)".to_string(),
                )
                .into());
            }
        };
        if ids.contains(&id) {
            return Err(RestError::BadRequest(format!("The entry id {id} is not unique")).into());
        }
        ids.push(id);
        records.push(entry);
    }
    let producing = Producing::new(&state, cluster_id, topic);
    // Hand every record to the producer in order first, then take the reports.
    let mut queue = state.kafka.delivery_queue()?;
    let mut sent: Vec<Result<Parts, RecordError>> = Vec::with_capacity(records.len());
    for record in records {
        let converted = match serde_json::from_value(record).map_err(cannot_deserialize) {
            Ok(request) => producing.to_record(request).await,
            Err(e) => Err(e),
        };
        let parts = match converted {
            Ok((record, key, value)) => queue
                .send_waiting(&producing.topic, record.as_ref())
                .await
                .map(|()| (key, value))
                .map_err(RestError::from),
            Err(e) => Err(e),
        };
        sent.push(parts.map_err(RecordError::from));
    }
    let outcomes = queue.outcomes(sent).await;
    let mut successes = Vec::new();
    let mut failures = Vec::new();
    for (id, outcome) in ids.into_iter().zip(outcomes) {
        match outcome {
            Ok(((key, value), position)) => {
                let report = producing.report(position, key, value);
                let mut v = serde_json::to_value(&report).unwrap_or(Value::Null);
                if let Some(o) = v.as_object_mut() {
                    o.remove("error_code");
                    o.insert("id".to_string(), id);
                }
                successes.push(v);
            }
            Err(e) => failures.push(serde_json::json!({
                "id": id,
                "error_code": e.error_code,
                "message": e.message,
            })),
        }
    }
    let body = serde_json::json!({ "successes": successes, "failures": failures });
    Ok(json_response(
        StatusCode::MULTI_STATUS,
        Body::from(body.to_string()),
    ))
}

fn empty_body() -> RestError {
    RestError::Unprocessable("Payload error. Request body is empty. Data is required.".to_string())
}

fn json_response(status: StatusCode, body: Body) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Reads one record from the text of its JSON value: straight into the request type,
/// without building a `Value` of the whole record first.
fn parse_record(raw: &[u8]) -> Result<ProduceRequest, RestError> {
    check_is_object(raw)?;
    serde_json::from_slice(raw).map_err(cannot_deserialize)
}

/// A record must be a JSON object: serde would also read a struct from an array (`[]`
/// would be a record with no key and no value).
pub(crate) fn check_is_object(raw: &[u8]) -> Result<(), RestError> {
    match raw.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(RestError::BadRequest(
            "Cannot deserialize the record: a record is a JSON object".to_string(),
        )),
    }
}

/// A record with neither a key nor a value (absent or null), nor headers, is almost
/// always a mistake (a misspelt field, an empty object): it is refused (422) rather than
/// written as an empty record.
pub(crate) fn neither_key_nor_value() -> RestError {
    RestError::Unprocessable(
        "The record has neither a key nor a value: give at least one of them.".to_string(),
    )
}

/// The failure of a body that is not (or stops being) concatenated JSON.
pub(crate) fn malformed(message: &str) -> RecordError {
    RecordError::from(RestError::BadRequest(format!("Malformed JSON: {message}")))
}

pub(crate) fn cannot_deserialize(e: serde_json::Error) -> RestError {
    RestError::BadRequest(format!("Cannot deserialize the record: {e}"))
}

/// What the next bytes of a buffer hold.
enum Next {
    /// A whole JSON value ends this many bytes in.
    Value(usize),
    /// Only whitespace, or a value that is not complete yet.
    NeedMore,
    /// Bytes that can never become JSON.
    Malformed(String),
}

fn next_value(buf: &[u8]) -> Next {
    // Only finds where the value ends (checking its syntax); nothing is built.
    let mut values = serde_json::Deserializer::from_slice(buf).into_iter::<IgnoredAny>();
    match values.next() {
        None => Next::NeedMore,
        Some(Ok(_)) => Next::Value(values.byte_offset()),
        Some(Err(e)) if e.is_eof() => Next::NeedMore,
        Some(Err(e)) => Next::Malformed(e.to_string()),
    }
}

/// What producing to one topic needs.
#[derive(Clone)]
pub(crate) struct Producing {
    kafka: Kafka,
    pub(crate) cluster_id: String,
    pub(crate) topic: String,
    formats: Option<Arc<SchemaFormats>>,
    /// Serializers already chosen in this request or stream: a stream of records with the
    /// same schema fields asks the registry once, and all of them use the same schema
    /// even when a new version is registered meanwhile.
    serializers: Arc<Mutex<HashMap<SerializerKey, RecordSerializer>>>,
}

/// The schema fields of a key or value, which decide its serializer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SerializerKey {
    is_key: bool,
    format: Option<EmbeddedFormat>,
    schema: Option<String>,
    schema_id: Option<i32>,
    schema_version: Option<i32>,
    subject: Option<String>,
    strategy: SubjectNameStrategy,
}

impl Producing {
    fn new(state: &AppState, cluster_id: String, topic: String) -> Self {
        Producing {
            kafka: state.kafka.clone(),
            cluster_id,
            topic,
            formats: state.schema_formats.clone(),
            serializers: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The delivery report of a record that landed at `position`.
    fn report(
        &self,
        position: RecordPosition,
        key: Option<ProduceResponseData>,
        value: Option<ProduceResponseData>,
    ) -> ProduceResponse {
        ProduceResponse {
            error_code: 200,
            cluster_id: self.cluster_id.clone(),
            topic_name: self.topic.clone(),
            partition_id: position.partition,
            offset: position.offset,
            timestamp: position.timestamp.map(format_timestamp),
            key,
            value,
        }
    }

    /// Validates one record and hands it to the producer; the returned future waits for
    /// its delivery report. A record that cannot be sent fails alone.
    async fn record(
        self,
        request: Result<ProduceRequest, RestError>,
    ) -> BoxFuture<'static, Outcome> {
        let converted = match request {
            Ok(request) => self.to_record(request).await,
            Err(e) => Err(e),
        };
        let (record, key, value) = match converted {
            Ok(parsed) => parsed,
            Err(e) => return futures::future::ready(Err(RecordError::from(e))).boxed(),
        };
        // Kept to send again if the producer does not know the partition yet.
        let retry = record.partition.map(|_| record.clone());
        let pending = self.kafka.send_record(&self.topic, record).await;
        let mut delivery = pending.delivered().boxed();
        // librdkafka refuses a partition its own metadata lacks at once, without sending:
        // a partition added moments ago (which the check in `send_record` saw) is only
        // missing from the producer's view. The plain produce path refreshes that view and
        // sends again; waiting for it here keeps the stream's order.
        if let Some(done) = (&mut delivery).now_or_never() {
            let done = match (done, retry) {
                (Err(KafkaError::PartitionNotFound { .. }), Some(record)) => {
                    match self.kafka.produce(&self.topic, vec![record]).await {
                        Ok(mut results) => results.pop().unwrap_or_else(|| {
                            Err(KafkaError::Internal("missing delivery report".to_string()))
                        }),
                        Err(e) => Err(e),
                    }
                }
                (other, _) => other,
            };
            // The first future has completed and must not be polled again.
            delivery = futures::future::ready(done).boxed();
        }
        async move {
            let position: RecordPosition = delivery.await.map_err(RecordError::from)?;
            Ok(self.report(position, key, value))
        }
        .boxed()
    }

    /// Converts one request record into a Kafka record, with the key/value parts of its
    /// report.
    pub(crate) async fn to_record(
        &self,
        request: ProduceRequest,
    ) -> Result<
        (
            ProduceRecord,
            Option<ProduceResponseData>,
            Option<ProduceResponseData>,
        ),
        RestError,
    > {
        if request.headers.is_empty()
            && request
                .key
                .as_ref()
                .is_none_or(|d| d.data.is_null() && d.is_bare())
            && request
                .value
                .as_ref()
                .is_none_or(|d| d.data.is_null() && d.is_bare())
        {
            return Err(neither_key_nor_value());
        }
        let (key, key_report) = self.embedded(request.key.as_ref(), true).await?;
        let (value, value_report) = self.embedded(request.value.as_ref(), false).await?;
        let mut headers = Vec::with_capacity(request.headers.len());
        for h in request.headers {
            let value = match h.value {
                None => None,
                Some(text) => {
                    json_to_bytes(EmbeddedFormat::Binary, &Value::String(text)).map_err(|e| {
                        RestError::BadRequest(format!("Header {} is not base64: {e}", h.name))
                    })?
                }
            };
            headers.push((h.name, value));
        }
        let timestamp = checked_timestamp(request.timestamp.as_deref())?;
        check_partition(request.partition_id)?;
        Ok((
            ProduceRecord {
                key,
                value,
                partition: request.partition_id,
                headers,
                timestamp,
            },
            key_report,
            value_report,
        ))
    }

    /// Serializes a key (`is_key`) or value in its declared format; the schema formats
    /// (and data without a `type`) go through the Schema Registry.
    async fn embedded(
        &self,
        data: Option<&ProduceRequestData>,
        is_key: bool,
    ) -> Result<(Option<Vec<u8>>, Option<ProduceResponseData>), RestError> {
        let Some(data) = data else {
            return Ok((None, None));
        };
        let what = if is_key { "key" } else { "value" };
        let (format, kind) = match data.kind.as_deref().map(str::to_ascii_uppercase).as_deref() {
            Some("BINARY") => (EmbeddedFormat::Binary, "BINARY"),
            Some("JSON") => (EmbeddedFormat::Json, "JSON"),
            Some("STRING") => (EmbeddedFormat::String, "STRING"),
            Some("AVRO") => {
                return self
                    .with_schema(data, Some(EmbeddedFormat::Avro), is_key)
                    .await;
            }
            Some("PROTOBUF") => {
                return self
                    .with_schema(data, Some(EmbeddedFormat::Protobuf), is_key)
                    .await;
            }
            Some("JSONSCHEMA") => {
                return self
                    .with_schema(data, Some(EmbeddedFormat::JsonSchema), is_key)
                    .await;
            }
            // Without a type, the schema (and so the format) comes from the registry: by
            // id, by version, or the subject's latest.
            None => return self.with_schema(data, None, is_key).await,
            Some(other) => {
                return Err(RestError::BadRequest(format!(
                    "The {what} has unknown type {other}; use BINARY, JSON, STRING, AVRO, PROTOBUF or JSONSCHEMA."
                )));
            }
        };
        let bytes = json_to_bytes(format, &data.data).map_err(|e| match e {
            FormatError::InvalidBase64(_) => RestError::BadRequest(format!(
                "Bad Request: data={} is not a base64 string.",
                data.data
            )),
            other => RestError::BadRequest(format!("Bad Request: {other}")),
        })?;
        let size = bytes.as_ref().map_or(0, Vec::len);
        Ok((
            bytes,
            Some(ProduceResponseData {
                kind,
                subject: None,
                schema_id: None,
                schema_version: None,
                size,
            }),
        ))
    }

    /// Serializes data whose schema comes from the Schema Registry, in Confluent's wire
    /// format; `format` is `None` when the request gave no `type`.
    async fn with_schema(
        &self,
        data: &ProduceRequestData,
        format: Option<EmbeddedFormat>,
        is_key: bool,
    ) -> Result<(Option<Vec<u8>>, Option<ProduceResponseData>), RestError> {
        let what = if is_key { "key" } else { "value" };
        let Some(formats) = &self.formats else {
            let named = format.map_or_else(
                || "no type".to_string(),
                |f| format!("type {}", type_name(f)),
            );
            return Err(RestError::BadRequest(format!(
                "The {what} has {named}, so its schema comes from a Schema Registry, and this kgate has none (schema.registry.url). Use type BINARY, JSON or STRING."
            )));
        };
        let key = selector_key(data, format, is_key)?;
        let cached = self.serializers.lock().get(&key).cloned();
        let serializer = match cached {
            Some(s) => s,
            None => {
                let selector = SchemaSelector {
                    schema: key.schema.clone(),
                    schema_id: key.schema_id,
                    schema_version: key.schema_version,
                    subject: key.subject.clone(),
                    strategy: key.strategy,
                };
                let s = formats
                    .serializer_for(format, &self.topic, is_key, &selector)
                    .await
                    .map_err(|e| schema_error(e, &key, &self.topic))?;
                self.serializers.lock().insert(key, s.clone());
                s
            }
        };
        let bytes = serializer.serialize(&data.data).map_err(|e| match e {
            FormatError::SchemaMismatch(m) => {
                RestError::SchemaMismatch(format!("The {what} does not match its schema: {m}"))
            }
            other => RestError::BadRequest(format!("Bad Request: {other}")),
        })?;
        let size = bytes.as_ref().map_or(0, Vec::len);
        Ok((
            bytes,
            Some(ProduceResponseData {
                kind: type_name(serializer.codec().format()),
                subject: serializer.subject.clone(),
                schema_id: Some(serializer.schema_id),
                schema_version: serializer.schema_version,
                size,
            }),
        ))
    }
}

/// REST v3's name of a format (`type`).
fn type_name(format: EmbeddedFormat) -> &'static str {
    match format {
        EmbeddedFormat::Binary => "BINARY",
        EmbeddedFormat::Json => "JSON",
        EmbeddedFormat::String => "STRING",
        EmbeddedFormat::Avro => "AVRO",
        EmbeddedFormat::Protobuf => "PROTOBUF",
        EmbeddedFormat::JsonSchema => "JSONSCHEMA",
    }
}

/// Reads the schema fields of a key or value: `schema` (text, or a JSON schema given as
/// an object), `schema_id`, `schema_version` (-1 or `"latest"` for the latest),
/// `subject` and `subject_name_strategy`.
fn selector_key(
    data: &ProduceRequestData,
    format: Option<EmbeddedFormat>,
    is_key: bool,
) -> Result<SerializerKey, RestError> {
    let what = if is_key { "key" } else { "value" };
    let bad = |field: &str, expected: &str, got: &Value| {
        RestError::BadRequest(format!(
            "The {what}'s {field} must be {expected}, not {got}"
        ))
    };
    let integer = |field: &str, v: &Option<Value>| -> Result<Option<i32>, RestError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(n @ Value::Number(_)) => n
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| bad(field, "an integer", n)),
            Some(other) => Err(bad(field, "an integer", other)),
        }
    };
    let text = |field: &str, v: &Option<Value>| -> Result<Option<String>, RestError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(bad(field, "a string", other)),
        }
    };
    let schema = match &data.schema {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        // An Avro or JSON Schema written as JSON rather than as a string of it.
        Some(v @ (Value::Object(_) | Value::Array(_))) => Some(v.to_string()),
        Some(other) => return Err(bad("schema", "a string", other)),
    };
    if schema.is_some() && format.is_none() {
        return Err(RestError::BadRequest(format!(
            "The {what} has a schema but no type; give type AVRO, PROTOBUF or JSONSCHEMA."
        )));
    }
    let schema_version = match &data.schema_version {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("latest") => None,
        other => integer("schema_version", other)?.filter(|v| *v != -1),
    };
    let strategy = match text("subject_name_strategy", &data.subject_name_strategy)? {
        None => SubjectNameStrategy::default(),
        Some(name) => SubjectNameStrategy::from_name(&name).ok_or_else(|| {
            RestError::BadRequest(format!(
                "The {what}'s subject_name_strategy {name} is not TOPIC_NAME, RECORD_NAME or TOPIC_RECORD_NAME"
            ))
        })?,
    };
    Ok(SerializerKey {
        is_key,
        format,
        schema,
        schema_id: integer("schema_id", &data.schema_id)?,
        schema_version,
        subject: text("subject", &data.subject)?,
        strategy,
    })
}

/// How a failure to choose a schema is answered: a schema, subject or version the
/// registry does not have is 422 with 42201/42202 (a missing key/value schema), an
/// incompatible inline schema 409, an unreachable registry 408/40801.
fn schema_error(e: FormatError, key: &SerializerKey, topic: &str) -> RestError {
    let what = if key.is_key { "key" } else { "value" };
    match e {
        FormatError::Registry {
            status: 404,
            message,
            ..
        } => {
            let subject = key
                .subject
                .clone()
                .or_else(|| key.strategy.subject(topic, key.is_key, None).ok());
            let looked_for = match (key.schema_id, key.schema_version, subject) {
                (Some(id), _, _) => format!("schema id {id}"),
                (None, Some(v), Some(s)) => format!("schema version {v}. subject = {s}"),
                (None, None, Some(s)) => format!("latest schema version. subject = {s}"),
                (None, _, None) => format!("the {what} schema of topic {topic}"),
            };
            RestError::SchemaNotFound {
                key: key.is_key,
                message: format!("Error when fetching {looked_for}: {message}"),
            }
        }
        FormatError::Registry {
            status: 409,
            message,
            ..
        } => {
            RestError::SchemaConflict(format!("The {what} schema cannot be registered: {message}"))
        }
        FormatError::Registry {
            status: 422,
            message,
            ..
        } => RestError::Unprocessable(message),
        other => RestError::from(other),
    }
}

/// A record's `timestamp` field in milliseconds since the epoch, or the 400 it gets.
pub(crate) fn checked_timestamp(text: Option<&str>) -> Result<Option<i64>, RestError> {
    text.map(|text| {
        parse_timestamp(text).ok_or_else(|| {
            RestError::BadRequest(format!(
                "timestamp {text:?} is not an RFC 3339 instant such as 2021-02-05T19:14:42Z"
            ))
        })
    })
    .transpose()
}

/// Refuses a negative `partition_id` as a partition the topic does not have.
pub(crate) fn check_partition(partition: Option<i32>) -> Result<(), RestError> {
    match partition {
        Some(p) if p < 0 => Err(RestError::PartitionNotFound {
            topic: String::new(),
            partition: p,
        }),
        _ => Ok(()),
    }
}

/// Parses an RFC 3339 instant (`2021-02-05T19:14:42Z`, optional fraction and offset)
/// into milliseconds since the epoch.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let digits = &text[start..i.min(start + 3)];
        millis = digits.parse::<i64>().ok()? * 10i64.pow(3 - digits.len() as u32);
    }
    let offset_minutes = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let m = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *sign == b'+' { m } else { -m }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

/// Formats milliseconds since the epoch as an RFC 3339 UTC instant, with a fraction only
/// when there is one (as Java's `Instant` prints).
pub fn format_timestamp(millis: i64) -> String {
    let seconds = millis.div_euclid(1_000);
    let ms = millis.rem_euclid(1_000);
    let days = seconds.div_euclid(86_400);
    let rem = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (rem / 3_600, rem % 3_600 / 60, rem % 60);
    // One allocation: every delivery report carries one of these.
    if ms == 0 {
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{ms:03}Z")
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01, inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        let t = parse_timestamp("2021-02-05T19:14:42Z");
        assert_eq!(t, Some(1_612_552_482_000));
        assert_eq!(format_timestamp(1_612_552_482_000), "2021-02-05T19:14:42Z");
        assert_eq!(
            format_timestamp(1_612_552_482_123),
            "2021-02-05T19:14:42.123Z"
        );
        assert_eq!(
            parse_timestamp("2021-02-05T20:14:42.5+01:00"),
            Some(1_612_552_482_500)
        );
        assert_eq!(parse_timestamp("2021-02-05"), None);
        assert_eq!(parse_timestamp("2021-13-05T19:14:42Z"), None);
    }

    #[test]
    fn the_end_of_the_first_value_is_found() {
        assert!(matches!(
            next_value(br#" {"a":[1,"}"]} {"b":2}"#),
            Next::Value(14)
        ));
        assert!(matches!(next_value(br#"{"a":"#), Next::NeedMore));
        assert!(matches!(next_value(b"  \n"), Next::NeedMore));
        assert!(matches!(next_value(b"{]"), Next::Malformed(_)));
    }
}
