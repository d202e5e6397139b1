//! `GET /topics` and `GET /topics/{topic}`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use kgate_kafka::KafkaError;
use serde::Serialize;

use crate::error::RestError;
use crate::negotiation::{Negotiated, V2Accept};
use crate::state::AppState;
use crate::v2::partitions::PartitionInfo;

/// Kafka's own bookkeeping topics, which Confluent's proxy does not list.
const INTERNAL_TOPICS: &[&str] = &["__consumer_offsets", "__transaction_state"];

/// One topic, as `GET /topics/{topic}` shows it.
#[derive(Debug, Serialize)]
pub struct TopicInfo {
    /// The topic name.
    pub name: String,
    /// The topic's configuration overrides (not the defaults).
    pub configs: BTreeMap<String, String>,
    /// The partitions.
    pub partitions: Vec<PartitionInfo>,
}

/// `GET /topics`: topic names, sorted.
pub async fn list(
    State(state): State<AppState>,
    V2Accept(content_type): V2Accept,
) -> Result<Negotiated<Vec<String>>, RestError> {
    let md = state.kafka.fresh_metadata().await?;
    let names = md
        .topics
        .keys()
        .filter(|name| !INTERNAL_TOPICS.contains(&name.as_str()))
        .cloned()
        .collect();
    Ok(Negotiated(content_type, names))
}

/// `GET /topics/{topic}`.
pub async fn get(
    State(state): State<AppState>,
    V2Accept(content_type): V2Accept,
    Path(topic): Path<String>,
) -> Result<Negotiated<TopicInfo>, RestError> {
    let meta = state.kafka.topic(&topic).await?;
    let configs = match state.kafka.topic_overrides(&topic).await {
        Ok(c) => c,
        // A cluster without DescribeConfigs still has topics worth describing.
        Err(KafkaError::Unsupported(reason)) => {
            tracing::warn!(%topic, %reason, "topic configs unavailable; answering none");
            BTreeMap::new()
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Negotiated(
        content_type,
        TopicInfo {
            name: meta.name,
            configs,
            partitions: meta.partitions.iter().map(PartitionInfo::from).collect(),
        },
    ))
}
