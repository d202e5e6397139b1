//! DeleteRecords: move partitions' log start offsets forward.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::state::BrokerState;

/// Answers a DeleteRecords request.
pub fn handle(
    state: &BrokerState,
    req: DeleteRecordsRequest,
    _version: i16,
) -> DeleteRecordsResponse {
    let mut resp = DeleteRecordsResponse::default();
    for wanted in req.topics {
        let topic = state.topics.get(wanted.name.as_str());
        let mut out = DeleteRecordsTopicResult::default();
        out.name = wanted.name.clone();
        for part in wanted.partitions {
            let mut p = DeleteRecordsPartitionResult::default();
            p.partition_index = part.partition_index;
            p.low_watermark = -1;
            match topic
                .as_ref()
                .and_then(|t| t.partition(part.partition_index))
            {
                None => p.error_code = ResponseError::UnknownTopicOrPartition.code(),
                Some(log) => match log.lock().delete_records_before(part.offset) {
                    Ok(start) => p.low_watermark = start,
                    Err(e) => p.error_code = e.code(),
                },
            }
            out.partitions.push(p);
        }
        resp.topics.push(out);
    }
    resp
}
