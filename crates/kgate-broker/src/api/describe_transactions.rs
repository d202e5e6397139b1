//! DescribeTransactions: the coordinator's record of each transactional id asked for.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};

use super::s;
use crate::state::BrokerState;

/// Answers a DescribeTransactions request; an unknown id is TRANSACTIONAL_ID_NOT_FOUND.
pub fn handle(
    state: &BrokerState,
    req: DescribeTransactionsRequest,
    _version: i16,
) -> DescribeTransactionsResponse {
    let table = state.txn.snapshot();
    let mut resp = DescribeTransactionsResponse::default();
    resp.transaction_states = req
        .transactional_ids
        .into_iter()
        .map(|id| {
            let mut out = TransactionState::default();
            let Some(e) = table.get(id.as_str()) else {
                out.transactional_id = id;
                out.error_code = ResponseError::TransactionalIdNotFound.code();
                out.transaction_state = s("");
                out.transaction_start_time_ms = -1;
                out.producer_id = ProducerId(-1);
                out.producer_epoch = -1;
                return out;
            };
            out.transactional_id = id;
            out.transaction_state = s(e.status.name());
            out.transaction_timeout_ms = i32::try_from(e.timeout_ms).unwrap_or(i32::MAX);
            out.transaction_start_time_ms = e.start_time_ms();
            out.producer_id = ProducerId(e.producer_id);
            out.producer_epoch = e.producer_epoch;
            let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for (topic, partition) in &e.partitions {
                topics.entry(topic).or_default().push(*partition);
            }
            out.topics = topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let mut t = TopicData::default();
                    t.topic = TopicName(s(topic));
                    t.partitions = partitions;
                    t
                })
                .collect();
            out
        })
        .collect();
    resp
}
