//! OffsetCommit, OffsetFetch and OffsetDelete.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    GroupId, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, TopicName,
};

use super::{str_bytes, text};
use crate::context::RequestContext;
use crate::group::offsets::{CommitParams, FetchedOffset, PartitionCommit, TopicPartitions};
use crate::group::{Inner, codes, durable};

/// Wall-clock time in ms since the epoch, as stored with commits.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Handles OffsetCommit; answers only once the commits are on disk.
pub(crate) async fn offset_commit(
    inner: &Inner,
    ctx: &RequestContext,
    r: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let _ = ctx;
    let params = CommitParams {
        group_id: text(&r.group_id),
        generation: r.generation_id_or_member_epoch,
        member_id: text(&r.member_id),
        instance_id: r.group_instance_id.as_ref().map(text),
        partitions: r
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| PartitionCommit {
                    topic: text(&t.name),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(text),
                })
            })
            .collect(),
    };
    let timestamp = now_ms();
    let (mut errors, ack) =
        inner.update(|groups, now| groups.commit(&params, inner.topics.as_ref(), now, timestamp));
    if !durable(ack).await {
        for error in errors.iter_mut().filter(|e| **e == codes::NONE) {
            *error = codes::COORDINATOR_NOT_AVAILABLE;
        }
    }
    let mut errors = errors.into_iter();
    let mut response = OffsetCommitResponse::default();
    response.topics = r
        .topics
        .iter()
        .map(|t| {
            let mut topic = OffsetCommitResponseTopic::default();
            topic.name = t.name.clone();
            topic.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut partition = OffsetCommitResponsePartition::default();
                    partition.partition_index = p.partition_index;
                    partition.error_code = errors.next().unwrap_or(codes::UNKNOWN_SERVER_ERROR);
                    partition
                })
                .collect();
            topic
        })
        .collect();
    response
}

/// Handles OffsetFetch: one group before v8, several from v8 on.
pub(crate) fn offset_fetch(
    inner: &Inner,
    ctx: &RequestContext,
    r: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = ctx.api_version;
    let mut response = OffsetFetchResponse::default();
    if version >= 8 {
        response.groups = r
            .groups
            .iter()
            .map(|g| {
                let topics: Option<TopicPartitions> = g.topics.as_ref().map(|topics| {
                    topics
                        .iter()
                        .map(|t| (text(&t.name), t.partition_indexes.clone()))
                        .collect()
                });
                let fetched = inner.read(|groups| groups.fetch(&g.group_id, topics.as_deref()));
                let mut group = OffsetFetchResponseGroup::default();
                group.group_id = g.group_id.clone();
                group.topics = fetched
                    .into_iter()
                    .map(|(name, partitions)| {
                        let mut topic = OffsetFetchResponseTopics::default();
                        topic.name = TopicName(str_bytes(name));
                        topic.partitions = partitions.into_iter().map(partition_v8).collect();
                        topic
                    })
                    .collect();
                group
            })
            .collect();
    } else {
        let topics: Option<TopicPartitions> = r.topics.as_ref().map(|topics| {
            topics
                .iter()
                .map(|t| (text(&t.name), t.partition_indexes.clone()))
                .collect()
        });
        let fetched = inner.read(|groups| groups.fetch(&r.group_id, topics.as_deref()));
        response.topics = fetched
            .into_iter()
            .map(|(name, partitions)| {
                let mut topic = OffsetFetchResponseTopic::default();
                topic.name = TopicName(str_bytes(name));
                topic.partitions = partitions
                    .into_iter()
                    .map(|f| partition_v1(f, version))
                    .collect();
                topic
            })
            .collect();
    }
    response
}

fn partition_v1(f: FetchedOffset, version: i16) -> OffsetFetchResponsePartition {
    let mut partition = OffsetFetchResponsePartition::default();
    partition.partition_index = f.partition;
    partition.committed_offset = f.offset;
    if version >= 5 {
        partition.committed_leader_epoch = f.leader_epoch;
    }
    partition.metadata = Some(str_bytes(f.metadata));
    partition.error_code = f.error;
    partition
}

fn partition_v8(f: FetchedOffset) -> OffsetFetchResponsePartitions {
    let mut partition = OffsetFetchResponsePartitions::default();
    partition.partition_index = f.partition;
    partition.committed_offset = f.offset;
    partition.committed_leader_epoch = f.leader_epoch;
    partition.metadata = Some(str_bytes(f.metadata));
    partition.error_code = f.error;
    partition
}

/// Handles OffsetDelete; answers once the deletion is on disk.
pub(crate) async fn offset_delete(
    inner: &Inner,
    ctx: &RequestContext,
    r: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let _ = ctx;
    let group_id: &GroupId = &r.group_id;
    let topics: TopicPartitions = r
        .topics
        .iter()
        .map(|t| {
            (
                text(&t.name),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let (result, ack) =
        inner.update(|groups, _| groups.delete_offsets(group_id, &topics, inner.topics.as_ref()));
    let stored = durable(ack).await;
    let mut response = OffsetDeleteResponse::default();
    match result {
        Err(code) => response.error_code = code,
        Ok(topics) => {
            response.topics = topics
                .into_iter()
                .map(|(name, partitions)| {
                    let mut topic = OffsetDeleteResponseTopic::default();
                    topic.name = TopicName(str_bytes(name));
                    topic.partitions = partitions
                        .into_iter()
                        .map(|(index, error)| {
                            let mut partition = OffsetDeleteResponsePartition::default();
                            partition.partition_index = index;
                            partition.error_code = if !stored && error == codes::NONE {
                                codes::COORDINATOR_NOT_AVAILABLE
                            } else {
                                error
                            };
                            partition
                        })
                        .collect();
                    topic
                })
                .collect();
        }
    }
    response
}
