//! TxnOffsetCommit: offsets staged in the transaction, committed by EndTxn(commit).

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::end_txn::fenced_code;
use crate::state::BrokerState;
use crate::txn::PendingOffset;

/// Answers a TxnOffsetCommit request; all partitions share one outcome.
pub fn handle(
    state: &BrokerState,
    req: TxnOffsetCommitRequest,
    version: i16,
) -> TxnOffsetCommitResponse {
    let offsets = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| PendingOffset {
                group_id: req.group_id.to_string(),
                generation_id: req.generation_id,
                member_id: req.member_id.to_string(),
                group_instance_id: req.group_instance_id.as_ref().map(|i| i.to_string()),
                topic: t.name.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            })
        })
        .collect();
    // The group checks (member, generation, static fencing) happen now, as in Kafka;
    // the commit itself then cannot be refused by a rebalance.
    let group_check = state.groups.check_txn_offset_commit(
        req.group_id.as_str(),
        req.generation_id,
        req.member_id.as_str(),
        req.group_instance_id.as_ref().map(|i| i.as_str()),
    );
    let staged = if group_check != 0 {
        Err(group_check)
    } else {
        state
            .txn
            .stage_offsets(
                req.transactional_id.as_str(),
                req.producer_id.0,
                req.producer_epoch,
                offsets,
            )
            .map_err(|e| fenced_code(e, version))
    };
    let code = match staged {
        Ok(()) => 0,
        Err(code) => code,
    };
    let mut resp = TxnOffsetCommitResponse::default();
    resp.topics = req
        .topics
        .iter()
        .map(|t| {
            let mut out = TxnOffsetCommitResponseTopic::default();
            out.name = t.name.clone();
            out.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut r = TxnOffsetCommitResponsePartition::default();
                    r.partition_index = p.partition_index;
                    r.error_code = code;
                    r
                })
                .collect();
            out
        })
        .collect();
    resp
}
