//! CreateTopics: validate names, partitions, replication factor and configs.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::s;
use crate::state::BrokerState;

/// Answers a CreateTopics request.
pub fn handle(state: &BrokerState, req: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let mut resp = CreateTopicsResponse::default();
    // One request adds at most `max.partitions.per.request` partitions; past that the
    // whole request is refused, as Kafka's controller refuses an oversized operation.
    let adding: i64 = req
        .topics
        .iter()
        .map(|t| {
            if t.assignments.is_empty() {
                state.topics.resolved_partitions(t.num_partitions).max(0) as i64
            } else {
                t.assignments.len() as i64
            }
        })
        .sum();
    let too_large = state.topics.check_request_size(adding).err();
    for topic in req.topics {
        let name = topic.name.as_str().to_string();
        let mut out = CreatableTopicResult::default();
        out.name = topic.name.clone();
        let configs: BTreeMap<String, String> = topic
            .configs
            .iter()
            .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
            .collect();
        let mut partitions = topic.num_partitions;
        let mut replication = topic.replication_factor;
        let mut error = too_large.as_ref().map(|e| (e.error, e.message.clone()));
        if error.is_none() && !topic.assignments.is_empty() {
            // Manual assignment: every replica list must be exactly this broker.
            if partitions != -1 || replication != -1 {
                error = Some((
                    ResponseError::InvalidRequest,
                    "give either replica assignments or a partition count and replication factor, not both".to_string(),
                ));
            } else if let Some(bad) = topic
                .assignments
                .iter()
                .find(|a| a.broker_ids.len() != 1 || a.broker_ids[0].0 != state.node_id)
            {
                error = Some((
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "partition {} is assigned to brokers {:?}; this single-node broker can only hold one replica, on node {}",
                        bad.partition_index,
                        bad.broker_ids.iter().map(|b| b.0).collect::<Vec<_>>(),
                        state.node_id
                    ),
                ));
            } else {
                partitions = topic.assignments.len() as i32;
                replication = 1;
            }
        }
        let result = match error {
            Some(e) => Err(e),
            None if req.validate_only => state
                .topics
                .validate_create(&name, partitions, replication, &configs)
                .map(|n| (n, None))
                .map_err(|e| (e.error, e.message)),
            None => state
                .topics
                .create(&name, partitions, replication, configs)
                .map(|t| (t.partition_count(), Some(t.id)))
                .map_err(|e| (e.error, e.message)),
        };
        match result {
            Ok((count, id)) => {
                if version >= 5 {
                    out.num_partitions = count;
                    out.replication_factor = 1;
                    out.configs = Some(Vec::new());
                }
                if let (Some(id), true) = (id, version >= 7) {
                    out.topic_id = id;
                }
            }
            Err((e, message)) => {
                out.error_code = e.code();
                out.error_message = Some(s(message));
                if version >= 5 {
                    out.num_partitions = -1;
                    out.replication_factor = -1;
                }
            }
        }
        resp.topics.push(out);
    }
    resp
}
