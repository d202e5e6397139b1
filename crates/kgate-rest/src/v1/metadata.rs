//! v1 metadata: `GET /`, `/brokers`, `/topics`, `/topics/{t}`, `/topics/{t}/partitions`
//! and `/topics/{t}/partitions/{p}`. Their shapes are v2's (seed 001 shows the same
//! fields), so the v2 handlers answer them with the v1 response type.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{V1Accept, V1Error, messages};
use crate::negotiation::{Negotiated, V1_RESPONSE_TYPES, V2Accept, negotiate};
use crate::state::AppState;
use crate::v2::brokers::BrokerList;
use crate::v2::partitions::PartitionInfo;
use crate::v2::topics::TopicInfo;

/// `GET /`: an empty object, which clients use as a liveness check.
pub async fn root(V1Accept(content_type): V1Accept) -> Negotiated<Value> {
    Negotiated(content_type, serde_json::json!({}))
}

/// `GET /brokers`.
pub async fn brokers(
    state: State<AppState>,
    V1Accept(content_type): V1Accept,
) -> Result<Negotiated<BrokerList>, V1Error> {
    Ok(crate::v2::brokers::list(state, V2Accept(content_type)).await?)
}

/// `GET /topics`.
pub async fn topics(
    state: State<AppState>,
    V1Accept(content_type): V1Accept,
) -> Result<Negotiated<Vec<String>>, V1Error> {
    Ok(crate::v2::topics::list(state, V2Accept(content_type)).await?)
}

/// `GET /topics/{topic}`.
pub async fn topic(
    state: State<AppState>,
    V1Accept(content_type): V1Accept,
    topic: Path<String>,
) -> Result<Negotiated<TopicInfo>, V1Error> {
    Ok(crate::v2::topics::get(state, V2Accept(content_type), topic).await?)
}

/// `GET /topics/{topic}/partitions`.
pub async fn partitions(
    state: State<AppState>,
    V1Accept(content_type): V1Accept,
    topic: Path<String>,
) -> Result<Negotiated<Vec<PartitionInfo>>, V1Error> {
    Ok(crate::v2::partitions::list(state, V2Accept(content_type), topic).await?)
}

/// `GET /topics/{topic}/partitions/{partition}`: the partition's metadata, or, with an
/// `offset` or `timestamp` query parameter, its records from there (seed 002's form of
/// a per-partition read, which has no `/messages` segment).
pub async fn partition(
    State(state): State<AppState>,
    Path((topic, partition)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, V1Error> {
    if query.contains_key("offset") || query.contains_key("timestamp") {
        // Seed 002 has no `count`: without one, the read returns what the partition holds
        // from the offset on (within `consumer.request.max.bytes`).
        return messages::read(&state, &topic, &partition, &query, &headers, None).await;
    }
    let content_type = negotiate(&headers, V1_RESPONSE_TYPES)?;
    let answer = crate::v2::partitions::get(
        State(state),
        V2Accept(content_type),
        Path((topic, partition)),
    )
    .await?;
    Ok(answer.into_response())
}
