//! `GET /topics/{topic}/partitions`, `.../partitions/{p}` and `.../partitions/{p}/offsets`.

use axum::extract::{Path, State};
use kgate_kafka::PartitionMetadata;
use serde::Serialize;

use crate::error::RestError;
use crate::negotiation::{Negotiated, V2Accept};
use crate::state::AppState;

/// One replica of a partition.
#[derive(Debug, Serialize)]
pub struct ReplicaInfo {
    /// The broker holding the replica.
    pub broker: i32,
    /// Whether this replica is the leader.
    pub leader: bool,
    /// Whether this replica is in sync with the leader.
    pub in_sync: bool,
}

/// One partition with its leader and replicas.
#[derive(Debug, Serialize)]
pub struct PartitionInfo {
    /// The partition id.
    pub partition: i32,
    /// The leader's broker id.
    pub leader: i32,
    /// All replicas, leader included.
    pub replicas: Vec<ReplicaInfo>,
}

impl From<&PartitionMetadata> for PartitionInfo {
    fn from(p: &PartitionMetadata) -> Self {
        PartitionInfo {
            partition: p.id,
            leader: p.leader,
            replicas: p
                .replicas
                .iter()
                .map(|&broker| ReplicaInfo {
                    broker,
                    leader: broker == p.leader,
                    in_sync: p.isr.contains(&broker),
                })
                .collect(),
        }
    }
}

/// The first and next offsets of a partition.
#[derive(Debug, Serialize)]
pub struct OffsetsInfo {
    /// First offset in the partition.
    pub beginning_offset: i64,
    /// Offset the next record will get.
    pub end_offset: i64,
}

/// Parses a partition id from the path; a non-number names no partition (404, 40402,
/// with what was given).
pub fn parse_partition(topic: &str, text: &str) -> Result<i32, RestError> {
    text.parse().map_err(|_| RestError::PartitionNotANumber {
        topic: topic.to_string(),
        given: text.chars().take(100).collect(),
    })
}

/// `GET /topics/{topic}/partitions`.
pub async fn list(
    State(state): State<AppState>,
    V2Accept(content_type): V2Accept,
    Path(topic): Path<String>,
) -> Result<Negotiated<Vec<PartitionInfo>>, RestError> {
    let meta = state.kafka.topic(&topic).await?;
    Ok(Negotiated(
        content_type,
        meta.partitions.iter().map(PartitionInfo::from).collect(),
    ))
}

/// `GET /topics/{topic}/partitions/{partition}`.
pub async fn get(
    State(state): State<AppState>,
    V2Accept(content_type): V2Accept,
    Path((topic, partition)): Path<(String, String)>,
) -> Result<Negotiated<PartitionInfo>, RestError> {
    let partition = parse_partition(&topic, &partition)?;
    let p = state.kafka.partition(&topic, partition).await?;
    Ok(Negotiated(content_type, PartitionInfo::from(&p)))
}

/// `GET /topics/{topic}/partitions/{partition}/offsets`.
pub async fn offsets(
    State(state): State<AppState>,
    V2Accept(content_type): V2Accept,
    Path((topic, partition)): Path<(String, String)>,
) -> Result<Negotiated<OffsetsInfo>, RestError> {
    let partition = parse_partition(&topic, &partition)?;
    let o = state.kafka.partition_offsets(&topic, partition).await?;
    Ok(Negotiated(
        content_type,
        OffsetsInfo {
            beginning_offset: o.beginning,
            end_offset: o.end,
        },
    ))
}
