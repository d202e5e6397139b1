//! CreatePartitions: grow topics.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::s;
use crate::state::BrokerState;

/// Answers a CreatePartitions request.
pub fn handle(
    state: &BrokerState,
    req: CreatePartitionsRequest,
    _version: i16,
) -> CreatePartitionsResponse {
    let mut resp = CreatePartitionsResponse::default();
    // As CreateTopics: at most `max.partitions.per.request` new partitions in all.
    let adding: i64 = req
        .topics
        .iter()
        .map(|t| {
            let current = state
                .topics
                .get(t.name.as_str())
                .map_or(0, |topic| topic.partition_count());
            (t.count as i64 - current as i64).max(0)
        })
        .sum();
    let too_large = state.topics.check_request_size(adding).err();
    for topic in req.topics {
        let mut out = CreatePartitionsTopicResult::default();
        out.name = topic.name.clone();
        let bad_assignment = topic.assignments.as_ref().and_then(|a| {
            a.iter()
                .find(|x| x.broker_ids.len() != 1 || x.broker_ids[0].0 != state.node_id)
        });
        let result = if let Some(e) = &too_large {
            Err((e.error, e.message.clone()))
        } else if bad_assignment.is_some() {
            Err((
                ResponseError::InvalidReplicaAssignment,
                format!(
                    "new partitions can only be placed on this single broker (node {}), with one replica",
                    state.node_id
                ),
            ))
        } else {
            state
                .topics
                .add_partitions(topic.name.as_str(), topic.count, req.validate_only)
                .map_err(|e| (e.error, e.message))
        };
        if let Err((e, message)) = result {
            out.error_code = e.code();
            out.error_message = Some(s(message));
        }
        resp.results.push(out);
    }
    resp
}
