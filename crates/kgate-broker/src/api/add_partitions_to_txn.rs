//! AddPartitionsToTxn (client versions 0-3): partitions join the open transaction.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use super::end_txn::fenced_code;
use crate::state::BrokerState;

/// Answers an AddPartitionsToTxn request; every partition shares one outcome, and when
/// some partition is unknown the others are OPERATION_NOT_ATTEMPTED, as in Kafka.
pub fn handle(
    state: &BrokerState,
    req: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    let wanted: Vec<(String, i32)> = req
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .collect();
    let exists = |(topic, partition): &(String, i32)| {
        state
            .topics
            .get(topic)
            .is_some_and(|t| t.partition(*partition).is_some())
    };
    // One code for every partition, unless some partition is unknown.
    let shared: Option<i16> = wanted.iter().all(exists).then(|| {
        match state.txn.add_partitions(
            req.v3_and_below_transactional_id.as_str(),
            req.v3_and_below_producer_id.0,
            req.v3_and_below_producer_epoch,
            &wanted,
        ) {
            Ok(()) => 0,
            Err(e) => fenced_code(e, version),
        }
    });
    let outcome = |tp: &(String, i32)| {
        shared.unwrap_or_else(|| {
            if exists(tp) {
                ResponseError::OperationNotAttempted.code()
            } else {
                ResponseError::UnknownTopicOrPartition.code()
            }
        })
    };
    let mut resp = AddPartitionsToTxnResponse::default();
    resp.results_by_topic_v3_and_below = req
        .v3_and_below_topics
        .iter()
        .map(|t| {
            let mut out = AddPartitionsToTxnTopicResult::default();
            out.name = t.name.clone();
            out.results_by_partition = t
                .partitions
                .iter()
                .map(|p| {
                    let mut r = AddPartitionsToTxnPartitionResult::default();
                    r.partition_index = *p;
                    r.partition_error_code = outcome(&(t.name.to_string(), *p));
                    r
                })
                .collect();
            out
        })
        .collect();
    resp
}
