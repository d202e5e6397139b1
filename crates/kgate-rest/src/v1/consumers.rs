//! v1 consumer instances: `POST /consumers/{group}`, reading
//! `GET /consumers/{group}/instances/{instance}/topics/{topic}` (which subscribes the
//! instance on first use), `POST .../offsets` and `DELETE .../instances/{instance}`.
//!
//! v1 instances are v2's (one registry, one expiry after `consumer.instance.timeout.ms`),
//! created with a v1 format (binary, json or avro); an instance reads the one topic it
//! first read, and asking it for another answers 409 with 40901, as seed 001 says.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use kgate_formats::EmbeddedFormat;
use kgate_http::{HttpError, LimitedBody};
use kgate_kafka::consumer::{ReadLimits, Subscription};
use serde::Serialize;
use serde_json::Value;

use super::messages::RECORD_TYPES;
use super::{V1Accept, V1Error, request_type};
use crate::error::{RestError, parse_json};
use crate::negotiation::{Negotiated, V1_JSON, negotiate};
use crate::state::AppState;
use crate::v2::consumers::records::record_response;
use crate::v2::consumers::{CreateConsumerRequest, InstanceMode, create_instance};

type InstancePath = Path<(String, String)>;

/// `POST /consumers/{group}`.
pub async fn create(
    State(state): State<AppState>,
    V1Accept(content_type): V1Accept,
    Path(group): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<LimitedBody, HttpError>,
) -> Result<Response, V1Error> {
    let LimitedBody(body) = body?;
    request_type(&headers)?;
    let request: CreateConsumerRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CreateConsumerRequest::default()
    } else {
        parse_json(&body)?
    };
    let format = request.format.as_deref().map(str::trim).unwrap_or_default();
    if let Some(
        f @ (EmbeddedFormat::Protobuf | EmbeddedFormat::JsonSchema | EmbeddedFormat::String),
    ) = EmbeddedFormat::from_name(format)
    {
        return Err(RestError::InvalidConsumerConfig(format!(
            "v1 consumers read binary, json or avro; the {f} format needs REST Proxy v2"
        ))
        .into());
    }
    let base = state.base_url(&headers, &uri)?;
    let response = create_instance(&state, group, &request, &base).await?;
    Ok(Negotiated(content_type, response).into_response())
}

/// `DELETE /consumers/{group}/instances/{instance}`.
pub async fn destroy(
    State(state): State<AppState>,
    Path((group, instance)): InstancePath,
) -> Result<Response, V1Error> {
    state.consumers.remove(&group, &instance).await?;
    tracing::info!(%group, %instance, "consumer instance deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// One record of a v1 consumer read, with seed 001's fields in its order.
#[derive(Debug, Serialize)]
pub struct ConsumerMessage {
    /// The key in the instance's format.
    pub key: Value,
    /// The value in the instance's format.
    pub value: Value,
    /// The partition it was read from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// The topic it was read from.
    pub topic: String,
}

/// `GET /consumers/{group}/instances/{instance}/topics/{topic}`: subscribes the instance
/// to `topic` on first use, then reads within `max_bytes` (at most
/// `consumer.request.max.bytes`) and the instance's request timeout.
pub async fn read(
    State(state): State<AppState>,
    Path((group, instance, topic)): Path<(String, String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, V1Error> {
    let consumer = state.consumers.lease(&group, &instance)?;
    let content_type = records_type(&headers, consumer.format)?;
    let server_max = state.config.consumer_request_max_bytes;
    let max_bytes = match query.get("max_bytes") {
        Some(text) => text.trim().parse::<u64>().map_err(|_| {
            RestError::BadRequest(format!(
                "Query parameter max_bytes must be a non-negative integer, not {text:?}"
            ))
        })?,
        None => server_max,
    }
    .min(server_max);
    state.kafka.topic(&topic).await?;
    {
        let mut mode = consumer.mode.lock().await;
        match &*mode {
            InstanceMode::Idle => {
                let subscription = Subscription::Topics(vec![topic.clone()]);
                consumer.handle.subscribe(subscription.clone()).await?;
                *mode = InstanceMode::Subscribed(subscription);
            }
            InstanceMode::Subscribed(Subscription::Topics(topics))
                if topics.len() == 1 && topics[0] == topic => {}
            _ => return Err(RestError::ConsumerAlreadySubscribed.into()),
        }
    }
    // As in v2: one read at a time per instance, and a record that cannot be shaped
    // goes back to the consumer with everything after it, so nothing is skipped; the
    // records before it are answered, and the next read answers its error (42206).
    let _reading = consumer.reading.clone().lock_owned().await;
    let mut chunks = consumer.handle.read_chunks(ReadLimits {
        timeout: consumer.request_timeout,
        max_bytes,
        min_bytes: consumer.fetch_min_bytes,
    })?;
    let schemas = state.schema_formats.as_deref();
    let mut messages = Vec::new();
    'read: while let Some(chunk) = chunks.next().await {
        let records = match chunk {
            Ok(records) => records,
            Err(e) if messages.is_empty() => return Err(RestError::from(e).into()),
            Err(e) => {
                tracing::warn!(error = %e, "a v1 read ended early");
                break;
            }
        };
        let mut records = records.into_iter();
        while let Some(record) = records.next() {
            match record_response(consumer.format, schemas, &record).await {
                Ok(r) => messages.push(ConsumerMessage {
                    key: r.key,
                    value: r.value,
                    partition: r.partition,
                    offset: r.offset,
                    topic: r.topic,
                }),
                Err(e) => {
                    let mut rest = vec![record];
                    rest.extend(records);
                    chunks.give_back(rest);
                    if messages.is_empty() {
                        return Err(e.into());
                    }
                    break 'read;
                }
            }
        }
    }
    Ok(Negotiated(content_type, messages).into_response())
}

/// The response type of a read by an instance of `format`: its v1 records type unless
/// the client asks for another format's (40601) or for nothing acceptable (406).
fn records_type(headers: &HeaderMap, format: EmbeddedFormat) -> Result<&'static str, RestError> {
    // An instance created through v2 in a format v1 lacks cannot be read through v1.
    let own = RECORD_TYPES
        .iter()
        .find(|(f, _)| *f == format)
        .map(|(_, t)| *t)
        .ok_or(RestError::ConsumerFormatMismatch)?;
    let mut offered = vec![
        own,
        V1_JSON,
        "application/vnd.kafka+json",
        "application/json",
    ];
    offered.extend(RECORD_TYPES.iter().map(|(_, t)| *t).filter(|t| *t != own));
    let chosen = negotiate(headers, &offered)?;
    if RECORD_TYPES.iter().any(|(_, t)| *t == chosen) && chosen != own {
        return Err(RestError::ConsumerFormatMismatch);
    }
    Ok(if chosen == V1_JSON { own } else { chosen })
}

/// One partition of the answer to `POST .../offsets`.
#[derive(Debug, Serialize)]
pub struct CommittedPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset of the last record read from it.
    pub consumed: i64,
    /// The offset committed, in the same terms (equal to `consumed` after a commit).
    pub committed: i64,
}

/// `POST /consumers/{group}/instances/{instance}/offsets`: commits what the instance has
/// read. v1 reports the offset of the last record read; Kafka keeps the one after it, so
/// that a consumer of the group continues after that record.
pub async fn commit(
    State(state): State<AppState>,
    V1Accept(content_type): V1Accept,
    Path((group, instance)): InstancePath,
) -> Result<Negotiated<Vec<CommittedPartition>>, V1Error> {
    let consumer = state.consumers.lease(&group, &instance)?;
    let committed = consumer.handle.commit(None).await?;
    let answer = committed
        .into_iter()
        .map(|o| CommittedPartition {
            topic: o.topic,
            partition: o.partition,
            consumed: o.offset - 1,
            committed: o.offset - 1,
        })
        .collect();
    Ok(Negotiated(content_type, answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negotiation::{V1_AVRO, V1_BINARY, V1_JSON_RECORDS};
    use axum::http::{HeaderValue, header};

    #[test]
    fn reads_accept_only_the_instance_format() {
        let mut h = HeaderMap::new();
        assert_eq!(
            records_type(&h, EmbeddedFormat::Json).unwrap(),
            V1_JSON_RECORDS
        );
        h.insert(header::ACCEPT, HeaderValue::from_static(V1_BINARY));
        assert!(matches!(
            records_type(&h, EmbeddedFormat::Avro),
            Err(RestError::ConsumerFormatMismatch)
        ));
        assert_eq!(records_type(&h, EmbeddedFormat::Binary).unwrap(), V1_BINARY);
        h.insert(header::ACCEPT, HeaderValue::from_static(V1_JSON));
        assert_eq!(records_type(&h, EmbeddedFormat::Avro).unwrap(), V1_AVRO);
        assert!(matches!(
            records_type(&h, EmbeddedFormat::Protobuf),
            Err(RestError::ConsumerFormatMismatch)
        ));
    }
}
