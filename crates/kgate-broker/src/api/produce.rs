//! Produce: append record batches to partition logs.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::s;
use crate::state::BrokerState;

/// Answers a Produce request. With one node, acks=1 and acks=all mean the same: the
/// batch is in the log (the page cache, which survives a process kill) before replying.
pub fn handle(state: &BrokerState, req: ProduceRequest, version: i16) -> ProduceResponse {
    let mut resp = ProduceResponse::default();
    let acks_valid = matches!(req.acks, -1..=1);
    let transactional = req.transactional_id.is_some();
    let mut appended_any = false;
    for topic_data in req.topic_data {
        let topic = state.topics.get(topic_data.name.as_str());
        let mut out = TopicProduceResponse::default();
        out.name = topic_data.name.clone();
        for part in topic_data.partition_data {
            let mut p = PartitionProduceResponse::default();
            p.index = part.index;
            p.base_offset = -1;
            p.log_append_time_ms = -1;
            p.log_start_offset = -1;
            let log = topic.as_ref().and_then(|t| t.partition(part.index));
            let result = if !acks_valid {
                Err((
                    ResponseError::InvalidRequiredAcks,
                    "acks must be -1, 0 or 1".to_string(),
                ))
            } else if transactional {
                Err((
                    ResponseError::TransactionalIdAuthorizationFailed,
                    "transactional produce is not supported by this broker yet".to_string(),
                ))
            } else if let Some(log) = log {
                match part.records.as_deref() {
                    None | Some([]) => {
                        Err((ResponseError::InvalidRecord, "no records".to_string()))
                    }
                    Some(records) => log.lock().append(records).map_err(|e| (e.error, e.message)),
                }
            } else {
                Err((
                    ResponseError::UnknownTopicOrPartition,
                    format!("{}-{} does not exist", topic_data.name.as_str(), part.index),
                ))
            };
            match result {
                Ok(done) => {
                    appended_any = true;
                    p.base_offset = done.base_offset;
                    p.log_append_time_ms = done.log_append_time;
                    p.log_start_offset = done.log_start_offset;
                }
                Err((error, message)) => {
                    p.error_code = error.code();
                    if version >= 8 {
                        p.error_message = Some(s(message));
                    }
                }
            }
            out.partition_responses.push(p);
        }
        resp.responses.push(out);
    }
    if appended_any {
        state.topics.appended.notify_waiters();
    }
    resp
}
