//! REST Proxy v2 consumer instances: `POST /consumers/{group}` and everything under
//! `/consumers/{group}/instances/{instance}` (subscription, assignments, positions,
//! records, offsets).
//!
//! Instances are stateful and live in this process, as in Confluent's proxy: each one is a
//! Kafka consumer in the client layer, found again by group and instance id.

mod instances;
pub(crate) mod records;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kgate_formats::EmbeddedFormat;
use kgate_http::{HttpError, LimitedBody};
use kgate_kafka::KafkaError;
use kgate_kafka::consumer::{
    ConsumerSettings, PartitionOffset, ReadLimits, SeekTarget, Subscription, TopicPartition,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use instances::ConsumerInstances;
pub(crate) use instances::{ConsumerInstance, InstanceMode};

use crate::error::{RestError, parse_json};
use crate::negotiation::Negotiated;
use crate::negotiation::{V2_JSON, V2_RESPONSE_TYPES, negotiate, request_media_type};
use crate::state::AppState;

/// The records response type of each embedded format a v2 consumer may be created with.
const RECORD_TYPES: &[(EmbeddedFormat, &str)] = &[
    (
        EmbeddedFormat::Binary,
        "application/vnd.kafka.binary.v2+json",
    ),
    (EmbeddedFormat::Json, "application/vnd.kafka.json.v2+json"),
    (EmbeddedFormat::Avro, "application/vnd.kafka.avro.v2+json"),
    (
        EmbeddedFormat::Protobuf,
        "application/vnd.kafka.protobuf.v2+json",
    ),
    (
        EmbeddedFormat::JsonSchema,
        "application/vnd.kafka.jsonschema.v2+json",
    ),
];

/// The consumer routes.
pub fn router() -> Router<AppState> {
    const INSTANCE: &str = "/consumers/{group}/instances/{instance}";
    Router::new()
        .route("/consumers/{group}", post(create))
        .route("/consumers/{group}/", post(create))
        .route(INSTANCE, axum::routing::delete(destroy))
        .route(
            &format!("{INSTANCE}/subscription"),
            post(subscribe).get(subscription).delete(unsubscribe),
        )
        .route(
            &format!("{INSTANCE}/assignments"),
            post(assign).get(assignments),
        )
        .route(&format!("{INSTANCE}/positions"), post(seek))
        .route(
            &format!("{INSTANCE}/positions/beginning"),
            post(seek_to_beginning),
        )
        .route(&format!("{INSTANCE}/positions/end"), post(seek_to_end))
        .route(&format!("{INSTANCE}/records"), get(records))
        .route(
            &format!("{INSTANCE}/offsets"),
            post(commit_offsets).get(committed_offsets),
        )
}

/// Response types of consumer endpoints that answer JSON without records: the v2
/// metadata types, and the records types, which clients often send on every consumer
/// request.
fn metadata_response_types() -> Vec<&'static str> {
    let mut offered = V2_RESPONSE_TYPES.to_vec();
    offered.extend(RECORD_TYPES.iter().map(|(_, t)| *t));
    offered
}

type InstancePath = Path<(String, String)>;

/// A request body as read, or the size/read failure.
type Body = Result<LimitedBody, HttpError>;

/// Reads a JSON body after checking its content type; `None` when the body is empty.
fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<Option<T>, RestError> {
    let LimitedBody(bytes) = body?;
    request_media_type(headers)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    parse_json(&bytes).map(Some)
}

/// Like [`json_body`], with an empty body being 422.
fn required_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, RestError> {
    json_body(headers, body)?
        .ok_or_else(|| RestError::Unprocessable("Request body is empty. Data is required.".into()))
}

/// The body of `POST /consumers/{group}` (v1's is the same).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CreateConsumerRequest {
    name: Option<String>,
    /// The older name of `name`, still accepted by Confluent's proxy.
    id: Option<String>,
    /// The embedded format's name; `None` means binary.
    pub(crate) format: Option<String>,
    #[serde(rename = "auto.offset.reset")]
    auto_offset_reset: Option<Value>,
    #[serde(rename = "auto.commit.enable")]
    auto_commit_enable: Option<Value>,
    #[serde(rename = "fetch.min.bytes")]
    fetch_min_bytes: Option<Value>,
    #[serde(rename = "consumer.request.timeout.ms")]
    request_timeout_ms: Option<Value>,
}

/// The answer to `POST /consumers/{group}` (v1's is the same).
#[derive(Debug, Serialize)]
pub(crate) struct CreateConsumerResponse {
    instance_id: String,
    base_uri: String,
}

/// A setting given as a JSON string, number or boolean, as clients send all three.
fn setting_text(name: &str, value: &Option<Value>) -> Result<Option<String>, RestError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(RestError::InvalidConsumerConfig(format!(
            "{name} must be a string"
        ))),
    }
}

fn setting_number(name: &str, value: &Option<Value>) -> Result<Option<u64>, RestError> {
    setting_text(name, value)?
        .map(|text| {
            text.parse::<u64>().map_err(|_| {
                RestError::InvalidConsumerConfig(format!(
                    "{name} must be a non-negative integer, not {text:?}"
                ))
            })
        })
        .transpose()
}

/// The consumer settings of a create request, checked, with the librdkafka settings
/// they become.
struct InstanceSettings {
    format: EmbeddedFormat,
    overrides: BTreeMap<String, String>,
    request_timeout: Option<Duration>,
    fetch_min_bytes: u64,
}

/// `has_registry`: whether a Schema Registry is configured, which the avro, protobuf
/// and jsonschema formats need.
fn instance_settings(
    request: &CreateConsumerRequest,
    has_registry: bool,
) -> Result<InstanceSettings, RestError> {
    let format = match request.format.as_deref().map(str::trim) {
        None | Some("") => EmbeddedFormat::Binary,
        Some(name) => match EmbeddedFormat::from_name(name) {
            Some(f @ (EmbeddedFormat::Binary | EmbeddedFormat::Json)) => f,
            Some(
                f @ (EmbeddedFormat::Avro | EmbeddedFormat::Protobuf | EmbeddedFormat::JsonSchema),
            ) if has_registry => f,
            Some(
                f @ (EmbeddedFormat::Avro | EmbeddedFormat::Protobuf | EmbeddedFormat::JsonSchema),
            ) => {
                return Err(RestError::InvalidConsumerConfig(format!(
                    "the {f} format needs a Schema Registry (schema.registry.url), \
                     which this kgate is not configured with; use binary or json"
                )));
            }
            _ => {
                return Err(RestError::InvalidConsumerConfig(format!(
                    "format must be one of binary, json, avro, protobuf, jsonschema, not {name:?}"
                )));
            }
        },
    };
    let mut overrides = BTreeMap::new();
    if let Some(reset) = setting_text("auto.offset.reset", &request.auto_offset_reset)? {
        // Java's names, plus librdkafka's synonyms; Java's "none" is librdkafka's "error".
        let value = match reset.to_ascii_lowercase().as_str() {
            "earliest" | "smallest" | "beginning" => "earliest",
            "latest" | "largest" | "end" => "latest",
            "none" | "error" => "error",
            _ => {
                return Err(RestError::InvalidConsumerConfig(format!(
                    "auto.offset.reset must be earliest, latest or none, not {reset:?}"
                )));
            }
        };
        overrides.insert("auto.offset.reset".to_string(), value.to_string());
    }
    if let Some(commit) = setting_text("auto.commit.enable", &request.auto_commit_enable)? {
        let value = match commit.to_ascii_lowercase().as_str() {
            "true" => "true",
            "false" => "false",
            _ => {
                return Err(RestError::InvalidConsumerConfig(format!(
                    "auto.commit.enable must be true or false, not {commit:?}"
                )));
            }
        };
        overrides.insert("enable.auto.commit".to_string(), value.to_string());
    }
    let fetch_min_bytes = setting_number("fetch.min.bytes", &request.fetch_min_bytes)?;
    if let Some(n) = fetch_min_bytes {
        // librdkafka also waits for this much on each broker fetch; it refuses values
        // out of its range, which then answer 42204 like any refused setting.
        overrides.insert("fetch.min.bytes".to_string(), n.max(1).to_string());
    }
    let request_timeout =
        setting_number("consumer.request.timeout.ms", &request.request_timeout_ms)?
            .map(Duration::from_millis);
    Ok(InstanceSettings {
        format,
        overrides,
        request_timeout,
        fetch_min_bytes: fetch_min_bytes.unwrap_or(0),
    })
}

/// Characters an instance name may not contain, since it becomes a path segment.
fn valid_instance_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| !c.is_control() && !matches!(c, '/' | '\\' | '?' | '#' | '%'))
}

/// Percent-encodes one path segment.
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn create(
    State(state): State<AppState>,
    Path(group): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Response, RestError> {
    let accept = negotiate(&headers, &metadata_response_types())?;
    // Checked before anything is created, so a Host that cannot be answered leaves no
    // instance behind.
    let base = state.base_url(&headers, &uri)?;
    let request: CreateConsumerRequest = json_body(&headers, body)?.unwrap_or_default();
    let response = create_instance(&state, group, &request, &base).await?;
    Ok(Negotiated(accept, response).into_response())
}

/// Creates the instance `request` describes in `group` and registers it; what v1 and v2
/// creation share once each has read its request. `base` is the base of its `base_uri`
/// ([`AppState::base_url`]).
pub(crate) async fn create_instance(
    state: &AppState,
    group: String,
    request: &CreateConsumerRequest,
    base: &str,
) -> Result<CreateConsumerResponse, RestError> {
    kgate_kafka::validate::check_protocol_string("consumer group name", &group)
        .map_err(|e| RestError::InvalidConsumerConfig(e.to_string()))?;
    let settings = instance_settings(request, state.schema_formats.is_some())?;
    let id = match request
        .name
        .as_deref()
        .or(request.id.as_deref())
        .map(str::trim)
    {
        Some(name) if !name.is_empty() => {
            if !valid_instance_name(name) {
                return Err(RestError::InvalidConsumerConfig(format!(
                    "name {name:?} cannot be used in a URL path"
                )));
            }
            name.to_string()
        }
        _ => generated_instance_id(&state.config.id),
    };
    if state.consumers.contains(&group, &id) {
        return Err(RestError::ConsumerAlreadyExists);
    }
    // Held until the instance is registered, so concurrent creations cannot overshoot
    // the limit.
    let _slot = state.consumers.reserve()?;
    let handle = state
        .kafka
        .create_consumer(ConsumerSettings {
            group_id: group.clone(),
            client_id: id.clone(),
            overrides: settings.overrides,
        })
        .await
        .map_err(|e| match e {
            KafkaError::Config(message) => RestError::InvalidConsumerConfig(message),
            other => RestError::Kafka(other),
        })?;
    let instance = ConsumerInstance::new(
        group.clone(),
        id.clone(),
        settings.format,
        handle,
        settings
            .request_timeout
            .unwrap_or(state.config.consumer_request_timeout),
        settings.fetch_min_bytes,
    );
    if let Err(instance) = state.consumers.insert(instance) {
        if let Err(e) = instance.handle.close().await {
            tracing::warn!(error = %e, "closing a duplicate consumer failed");
        }
        return Err(RestError::ConsumerAlreadyExists);
    }
    tracing::info!(%group, instance = %id, format = %settings.format, "consumer instance created");
    Ok(CreateConsumerResponse {
        base_uri: format!(
            "{base}/consumers/{}/instances/{}",
            encode_segment(&group),
            encode_segment(&id)
        ),
        instance_id: id,
    })
}

/// A fresh instance id, unique across processes: `rest-consumer-[<id>-]<uuid>`.
fn generated_instance_id(server_id: &str) -> String {
    let uuid = uuid::Uuid::new_v4();
    if server_id.is_empty() {
        format!("rest-consumer-{uuid}")
    } else {
        format!("rest-consumer-{server_id}-{uuid}")
    }
}

async fn destroy(
    State(state): State<AppState>,
    Path((group, instance)): InstancePath,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    no_content_acceptable(&headers)?;
    state.consumers.remove(&group, &instance).await?;
    tracing::info!(%group, %instance, "consumer instance deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A topic given either as its name or as `{"topic": name}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TopicName {
    Name(String),
    Object { topic: String },
}

impl TopicName {
    fn into_name(self) -> String {
        match self {
            TopicName::Name(n) | TopicName::Object { topic: n } => n,
        }
    }
}

/// The body of `POST .../subscription`.
#[derive(Debug, Deserialize)]
struct SubscribeRequest {
    topics: Option<Vec<TopicName>>,
    topic_pattern: Option<String>,
}

/// The answer to `GET .../subscription`.
#[derive(Debug, Serialize)]
struct SubscriptionResponse {
    topics: Vec<String>,
}

async fn subscribe(
    State(state): State<AppState>,
    Path((group, instance)): InstancePath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, RestError> {
    no_content_acceptable(&headers)?;
    let consumer = state.consumers.lease(&group, &instance)?;
    let request: SubscribeRequest = required_body(&headers, body)?;
    let topics: Vec<String> = request
        .topics
        .unwrap_or_default()
        .into_iter()
        .map(TopicName::into_name)
        .collect();
    let pattern = request.topic_pattern.filter(|p| !p.is_empty());
    let subscription = match (topics.is_empty(), pattern) {
        (false, Some(_)) => return Err(RestError::IllegalSubscriptionState),
        (true, None) => {
            return Err(RestError::Unprocessable(
                "A list of topics or a topic pattern must be provided".into(),
            ));
        }
        (false, None) => {
            if let Some(bad) = topics.iter().find(|t| t.is_empty()) {
                return Err(RestError::Unprocessable(format!(
                    "Invalid topic name {bad:?}"
                )));
            }
            Subscription::Topics(topics)
        }
        (true, Some(pattern)) => {
            if let Err(e) = regex::Regex::new(&pattern) {
                return Err(RestError::Unprocessable(format!(
                    "Invalid topic_pattern: {e}"
                )));
            }
            Subscription::Pattern(pattern)
        }
    };
    let mut mode = consumer.mode.lock().await;
    if *mode == InstanceMode::Assigned {
        return Err(RestError::IllegalSubscriptionState);
    }
    consumer.handle.subscribe(subscription.clone()).await?;
    *mode = InstanceMode::Subscribed(subscription);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn subscription(
    State(state): State<AppState>,
    Path((group, instance)): InstancePath,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let accept = negotiate(&headers, &metadata_response_types())?;
    let consumer = state.consumers.lease(&group, &instance)?;
    let mode = consumer.mode.lock().await.clone();
    let topics = match mode {
        InstanceMode::Subscribed(Subscription::Topics(topics)) => topics,
        InstanceMode::Subscribed(Subscription::Pattern(pattern)) => {
            // Java's consumer reports the topics a pattern currently matches, whole names
            // only, internal topics left out.
            let matcher = regex::Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| RestError::Internal(format!("stored pattern: {e}")))?;
            let metadata = state.kafka.metadata().await?;
            metadata
                .topics
                .keys()
                .filter(|t| !t.starts_with("__") && matcher.is_match(t))
                .cloned()
                .collect()
        }
        InstanceMode::Idle | InstanceMode::Assigned => Vec::new(),
    };
    Ok(Negotiated(accept, SubscriptionResponse { topics }).into_response())
}

async fn unsubscribe(
    State(state): State<AppState>,
    Path((group, instance)): InstancePath,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    no_content_acceptable(&headers)?;
    let consumer = state.consumers.lease(&group, &instance)?;
    let mut mode = consumer.mode.lock().await;
    consumer.handle.unsubscribe().await?;
    *mode = InstanceMode::Idle;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// One partition in a request or response body.
#[derive(Debug, Deserialize, Serialize)]
struct PartitionRef {
    topic: String,
    #[serde(deserialize_with = "crate::json::int")]
    partition: i32,
}

impl From<PartitionRef> for TopicPartition {
    fn from(p: PartitionRef) -> Self {
        TopicPartition {
            topic: p.topic,
            partition: p.partition,
        }
    }
}

impl From<TopicPartition> for PartitionRef {
    fn from(p: TopicPartition) -> Self {
        PartitionRef {
            topic: p.topic,
            partition: p.partition,
        }
    }
}

/// A `{"partitions": [...]}` body.
#[derive(Debug, Deserialize, Serialize)]
struct PartitionsBody {
    partitions: Vec<PartitionRef>,
}

/// Fails with 40401 / 40402 for the first partition the cluster does not have.
async fn check_partitions(
    state: &AppState,
    partitions: &[TopicPartition],
) -> Result<(), RestError> {
    for tp in partitions {
        state.kafka.partition(&tp.topic, tp.partition).await?;
    }
    Ok(())
}

async fn assign(
    State(state): State<AppState>,
    Path((group, instance)): InstancePath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, RestError> {
    no_content_acceptable(&headers)?;
    let consumer = state.consumers.lease(&group, &instance)?;
    let request: PartitionsBody = required_body(&headers, body)?;
    let partitions: Vec<TopicPartition> = request.partitions.into_iter().map(Into::into).collect();
    let mut mode = consumer.mode.lock().await;
    if matches!(*mode, InstanceMode::Subscribed(_)) {
        return Err(RestError::IllegalSubscriptionState);
    }
    check_partitions(&state, &partitions).await?;
    if partitions.is_empty() {
        consumer.handle.unsubscribe().await?;
        *mode = InstanceMode::Idle;
    } else {
        consumer.handle.assign(partitions).await?;
        *mode = InstanceMode::Assigned;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn assignments(
    State(state): State<AppState>,
    Path((group, instance)): InstancePath,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let accept = negotiate(&headers, &metadata_response_types())?;
    let consumer = state.consumers.lease(&group, &instance)?;
    let partitions = consumer.handle.assignment().await?;
    let body = PartitionsBody {
        partitions: partitions.into_iter().map(Into::into).collect(),
    };
    Ok(Negotiated(accept, body).into_response())
}

/// One offset in a positions or offsets request.
#[derive(Debug, Deserialize)]
struct OffsetRef {
    topic: String,
    #[serde(deserialize_with = "crate::json::int")]
    partition: i32,
    #[serde(deserialize_with = "crate::json::int")]
    offset: i64,
    #[serde(default)]
    metadata: Option<String>,
}

/// An `{"offsets": [...]}` request body.
#[derive(Debug, Deserialize)]
struct OffsetsBody {
    offsets: Vec<OffsetRef>,
}

/// The body of an offsets commit, whose `offsets` may be left out.
#[derive(Debug, Deserialize)]
struct CommitBody {
    #[serde(default)]
    offsets: Option<Vec<OffsetRef>>,
}

/// Endpoints that answer 204 still refuse (406) a client that accepts none of the
/// consumer endpoints' types, as Confluent's router does before any handler runs.
fn no_content_acceptable(headers: &HeaderMap) -> Result<(), RestError> {
    negotiate(headers, &metadata_response_types()).map(|_| ())
}

fn check_offsets(offsets: &[OffsetRef]) -> Result<(), RestError> {
    match offsets.iter().find(|o| o.offset < 0) {
        Some(o) => Err(RestError::Unprocessable(format!(
            "Invalid offset {} for partition {} of topic {}",
            o.offset, o.partition, o.topic
        ))),
        None => Ok(()),
    }
}

async fn seek(
    State(state): State<AppState>,
    Path((group, instance)): InstancePath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, RestError> {
    no_content_acceptable(&headers)?;
    let consumer = state.consumers.lease(&group, &instance)?;
    let request: OffsetsBody = required_body(&headers, body)?;
    check_offsets(&request.offsets)?;
    let targets = request
        .offsets
        .into_iter()
        .map(|o| {
            (
                TopicPartition {
                    topic: o.topic,
                    partition: o.partition,
                },
                SeekTarget::Offset(o.offset),
            )
        })
        .collect();
    consumer.handle.seek(targets).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn seek_to(
    state: AppState,
    group: String,
    instance: String,
    headers: HeaderMap,
    body: Body,
    target: SeekTarget,
) -> Result<Response, RestError> {
    no_content_acceptable(&headers)?;
    let consumer = state.consumers.lease(&group, &instance)?;
    let request: PartitionsBody = required_body(&headers, body)?;
    let targets = request
        .partitions
        .into_iter()
        .map(|p| (TopicPartition::from(p), target))
        .collect();
    consumer.handle.seek(targets).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn seek_to_beginning(
    State(state): State<AppState>,
    Path((group, instance)): InstancePath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, RestError> {
    seek_to(state, group, instance, headers, body, SeekTarget::Beginning).await
}

async fn seek_to_end(
    State(state): State<AppState>,
    Path((group, instance)): InstancePath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, RestError> {
    seek_to(state, group, instance, headers, body, SeekTarget::End).await
}

/// Parses a non-negative integer query parameter.
fn query_number(query: &BTreeMap<String, String>, name: &str) -> Result<Option<u64>, RestError> {
    query
        .get(name)
        .map(|text| {
            text.trim().parse::<u64>().map_err(|_| {
                RestError::BadRequest(format!(
                    "Query parameter {name} must be a non-negative integer, not {text:?}"
                ))
            })
        })
        .transpose()
}

/// The response type for a records request: the instance's records type unless the
/// client asks for another format's (40601) or for nothing acceptable (406).
fn records_content_type(
    headers: &HeaderMap,
    format: EmbeddedFormat,
) -> Result<&'static str, RestError> {
    let own = RECORD_TYPES
        .iter()
        .find(|(f, _)| *f == format)
        .map(|(_, t)| *t)
        .ok_or_else(|| RestError::Internal(format!("no records type for {format}")))?;
    let mut offered = vec![own];
    offered.extend(V2_RESPONSE_TYPES.iter().copied());
    offered.extend(RECORD_TYPES.iter().map(|(_, t)| *t).filter(|t| *t != own));
    let chosen = negotiate(headers, &offered)?;
    if RECORD_TYPES.iter().any(|(_, t)| *t == chosen) && chosen != own {
        return Err(RestError::ConsumerFormatMismatch);
    }
    // A client that accepts only a generic type gets it; any other gets the precise one.
    Ok(if chosen == V2_JSON { own } else { chosen })
}

async fn records(
    State(state): State<AppState>,
    Path((group, instance)): InstancePath,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let consumer = state.consumers.lease(&group, &instance)?;
    let content_type = records_content_type(&headers, consumer.format)?;
    let timeout = match query_number(&query, "timeout")? {
        Some(ms) => Duration::from_millis(ms).min(consumer.request_timeout),
        None => consumer.request_timeout,
    };
    let server_max = state.config.consumer_request_max_bytes;
    let max_bytes = query_number(&query, "max_bytes")?.map_or(server_max, |m| m.min(server_max));
    // One read at a time per instance: records a read gives back go back before the
    // next read starts.
    let reading = consumer.reading.clone().lock_owned().await;
    let chunks = consumer.handle.read_chunks(ReadLimits {
        timeout,
        max_bytes,
        min_bytes: consumer.fetch_min_bytes,
    })?;
    records::respond(
        consumer,
        reading,
        content_type,
        chunks,
        state.schema_formats.clone(),
    )
    .await
}

async fn commit_offsets(
    State(state): State<AppState>,
    Path((group, instance)): InstancePath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, RestError> {
    no_content_acceptable(&headers)?;
    let consumer = state.consumers.lease(&group, &instance)?;
    let request: Option<CommitBody> = json_body(&headers, body)?;
    // As Confluent's proxy reads the three forms: no body commits every record handed
    // out so far, and so does `{}` or `"offsets": null` (where Confluent fails with a
    // 500); an empty list commits nothing.
    let offsets = match request.and_then(|r| r.offsets) {
        Some(offsets) if offsets.is_empty() => return Ok(StatusCode::NO_CONTENT.into_response()),
        Some(offsets) => {
            check_offsets(&offsets)?;
            // Unknown topics and partitions answer 40401/40402 naming them, before
            // anything is committed.
            let partitions: Vec<TopicPartition> = offsets
                .iter()
                .map(|o| TopicPartition {
                    topic: o.topic.clone(),
                    partition: o.partition,
                })
                .collect();
            check_partitions(&state, &partitions).await?;
            // The request names the last record processed, as Confluent's proxy reads
            // it; Kafka stores the offset of the next record to read.
            Some(
                offsets
                    .into_iter()
                    .map(|o| PartitionOffset {
                        topic: o.topic,
                        partition: o.partition,
                        offset: o.offset + 1,
                        metadata: o.metadata.unwrap_or_default(),
                    })
                    .collect(),
            )
        }
        None => None,
    };
    consumer.handle.commit(offsets).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// One offset of the answer to `GET .../offsets`.
#[derive(Debug, Serialize)]
struct CommittedOffset {
    topic: String,
    partition: i32,
    offset: i64,
    metadata: String,
}

/// The answer to `GET .../offsets`.
#[derive(Debug, Serialize)]
struct CommittedOffsetsResponse {
    offsets: Vec<CommittedOffset>,
}

async fn committed_offsets(
    State(state): State<AppState>,
    Path((group, instance)): InstancePath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, RestError> {
    let accept = negotiate(&headers, &metadata_response_types())?;
    let consumer = state.consumers.lease(&group, &instance)?;
    let request: Option<PartitionsBody> = json_body(&headers, body)?;
    let partitions: Vec<TopicPartition> = match request {
        Some(r) => r.partitions.into_iter().map(Into::into).collect(),
        // Without a body, the partitions the instance holds.
        None => consumer.handle.assignment().await?,
    };
    check_partitions(&state, &partitions).await?;
    let offsets = consumer
        .handle
        .committed(partitions)
        .await?
        .into_iter()
        .map(|o| CommittedOffset {
            topic: o.topic,
            partition: o.partition,
            offset: o.offset,
            metadata: o.metadata,
        })
        .collect();
    Ok(Negotiated(accept, CommittedOffsetsResponse { offsets }).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, header};
    use serde_json::json;

    fn request(v: Value) -> CreateConsumerRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn settings_are_checked_and_mapped() {
        let s = instance_settings(
            &request(json!({
            "format": "json",
            "auto.offset.reset": "earliest",
            "auto.commit.enable": "false",
            "fetch.min.bytes": 10,
            "consumer.request.timeout.ms": "250"
            })),
            false,
        )
        .unwrap();
        assert_eq!(s.format, EmbeddedFormat::Json);
        assert_eq!(s.overrides["auto.offset.reset"], "earliest");
        assert_eq!(s.overrides["enable.auto.commit"], "false");
        assert_eq!(s.overrides["fetch.min.bytes"], "10");
        assert_eq!(s.fetch_min_bytes, 10);
        assert_eq!(s.request_timeout, Some(Duration::from_millis(250)));

        let s = instance_settings(&request(json!({})), false).unwrap();
        let s_avro = instance_settings(&request(json!({"format": "AVRO"})), true).unwrap();
        assert_eq!(s_avro.format, EmbeddedFormat::Avro);
        assert_eq!(s.format, EmbeddedFormat::Binary);
        assert!(s.overrides.is_empty());

        for bad in [
            json!({"format": "xml"}),
            json!({"format": "avro"}),
            json!({"auto.offset.reset": "sometimes"}),
            json!({"auto.commit.enable": "maybe"}),
            json!({"fetch.min.bytes": "lots"}),
            json!({"fetch.min.bytes": -1}),
            json!({"consumer.request.timeout.ms": [1]}),
        ] {
            let e = instance_settings(&request(bad.clone()), false).err();
            assert!(
                matches!(e, Some(RestError::InvalidConsumerConfig(_))),
                "{bad} gave {e:?}"
            );
        }
    }

    #[test]
    fn records_accept_must_match_the_format() {
        let mut h = HeaderMap::new();
        assert_eq!(
            records_content_type(&h, EmbeddedFormat::Binary).unwrap(),
            "application/vnd.kafka.binary.v2+json"
        );
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.kafka.json.v2+json"),
        );
        assert!(matches!(
            records_content_type(&h, EmbeddedFormat::Binary),
            Err(RestError::ConsumerFormatMismatch)
        ));
        assert_eq!(
            records_content_type(&h, EmbeddedFormat::Json).unwrap(),
            "application/vnd.kafka.json.v2+json"
        );
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert_eq!(
            records_content_type(&h, EmbeddedFormat::Json).unwrap(),
            "application/json"
        );
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        assert!(matches!(
            records_content_type(&h, EmbeddedFormat::Json),
            Err(RestError::NotAcceptable)
        ));
    }

    #[test]
    fn names_and_segments() {
        assert!(valid_instance_name("my_consumer-1"));
        assert!(!valid_instance_name("a/b"));
        assert!(!valid_instance_name(""));
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
        assert!(generated_instance_id("kgate-1").starts_with("rest-consumer-kgate-1-"));
    }
}
