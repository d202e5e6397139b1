//! DescribeProducers: the producers each partition knows, with open transactions.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use crate::state::BrokerState;

/// Answers a DescribeProducers request.
pub fn handle(
    state: &BrokerState,
    req: DescribeProducersRequest,
    _version: i16,
) -> DescribeProducersResponse {
    let mut resp = DescribeProducersResponse::default();
    for wanted in req.topics {
        let topic = state.topics.get(wanted.name.as_str());
        let mut out = TopicResponse::default();
        out.name = wanted.name.clone();
        for index in wanted.partition_indexes {
            let mut p = PartitionResponse::default();
            p.partition_index = index;
            match topic.as_ref().and_then(|t| t.partition(index)) {
                None => p.error_code = ResponseError::UnknownTopicOrPartition.code(),
                Some(log) => {
                    p.active_producers = log
                        .lock()
                        .active_producers()
                        .into_iter()
                        .map(|(id, epoch, last_sequence, txn_start)| {
                            let mut ps = ProducerState::default();
                            ps.producer_id = ProducerId(id);
                            ps.producer_epoch = epoch as i32;
                            ps.last_sequence = last_sequence;
                            ps.last_timestamp = -1;
                            ps.coordinator_epoch = -1;
                            ps.current_txn_start_offset = txn_start.unwrap_or(-1);
                            ps
                        })
                        .collect();
                }
            }
            out.partitions.push(p);
        }
        resp.topics.push(out);
    }
    resp
}
