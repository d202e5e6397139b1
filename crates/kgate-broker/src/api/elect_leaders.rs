//! ElectLeaders: every partition's leader is already its preferred (and only) replica.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use super::s;
use crate::state::BrokerState;

/// Answers an ElectLeaders request.
pub fn handle(
    state: &BrokerState,
    req: ElectLeadersRequest,
    _version: i16,
) -> ElectLeadersResponse {
    let mut resp = ElectLeadersResponse::default();
    // With no partitions named, Kafka reports only elections that happened: none.
    let Some(wanted) = req.topic_partitions else {
        return resp;
    };
    for t in wanted {
        let topic = state.topics.get(&t.topic);
        let mut out = ReplicaElectionResult::default();
        out.topic = t.topic.clone();
        for p in t.partitions {
            let mut r = PartitionResult::default();
            r.partition_id = p;
            if topic.as_ref().is_some_and(|t| t.partition(p).is_some()) {
                r.error_code = ResponseError::ElectionNotNeeded.code();
                r.error_message = Some(s("Leader election not needed for topic partition."));
            } else {
                r.error_code = ResponseError::UnknownTopicOrPartition.code();
                r.error_message = Some(s("The partition does not exist."));
            }
            out.partition_result.push(r);
        }
        resp.replica_election_results.push(out);
    }
    resp
}
