//! AlterPartitionReassignments with single-broker semantics: assigning a partition to
//! this broker succeeds at once (it is already there), any other assignment is invalid,
//! and cancelling finds nothing in progress.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};

use super::s;
use crate::state::BrokerState;

/// Answers an AlterPartitionReassignments request.
pub fn handle(
    state: &BrokerState,
    req: AlterPartitionReassignmentsRequest,
    _version: i16,
) -> AlterPartitionReassignmentsResponse {
    let mut resp = AlterPartitionReassignmentsResponse::default();
    resp.allow_replication_factor_change = req.allow_replication_factor_change;
    for t in req.topics {
        let topic = state.topics.get(&t.name);
        let mut out = ReassignableTopicResponse::default();
        out.name = t.name.clone();
        for p in t.partitions {
            let mut r = ReassignablePartitionResponse::default();
            r.partition_index = p.partition_index;
            let exists = topic
                .as_ref()
                .is_some_and(|t| t.partition(p.partition_index).is_some());
            if !exists {
                r.error_code = ResponseError::UnknownTopicOrPartition.code();
                r.error_message = Some(s("This server does not host this topic-partition."));
            } else {
                match p.replicas {
                    None => {
                        r.error_code = ResponseError::NoReassignmentInProgress.code();
                        r.error_message = Some(s(format!(
                            "No reassignment is in progress for {}-{}",
                            t.name.as_str(),
                            p.partition_index
                        )));
                    }
                    Some(replicas) if replicas.len() == 1 && replicas[0].0 == state.node_id => {}
                    Some(replicas) => {
                        r.error_code = ResponseError::InvalidReplicaAssignment.code();
                        r.error_message = Some(s(format!(
                            "Replica assignment {:?} is invalid: the only broker is {}",
                            replicas.iter().map(|b| b.0).collect::<Vec<_>>(),
                            state.node_id
                        )));
                    }
                }
            }
            out.partitions.push(r);
        }
        resp.responses.push(out);
    }
    resp
}
