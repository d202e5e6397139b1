//! ListOffsets: earliest, latest, max timestamp, or the first offset at a timestamp.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::state::BrokerState;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

/// Answers a ListOffsets request.
pub fn handle(state: &BrokerState, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let mut resp = ListOffsetsResponse::default();
    for wanted in req.topics {
        let topic = state.topics.get(wanted.name.as_str());
        let mut out = ListOffsetsTopicResponse::default();
        out.name = wanted.name.clone();
        for part in wanted.partitions {
            let mut p = ListOffsetsPartitionResponse::default();
            p.partition_index = part.partition_index;
            p.timestamp = -1;
            p.offset = -1;
            if version >= 4 {
                p.leader_epoch = -1;
            }
            match topic
                .as_ref()
                .and_then(|t| t.partition(part.partition_index))
            {
                None => p.error_code = ResponseError::UnknownTopicOrPartition.code(),
                Some(log) => {
                    let log = log.lock();
                    let found = match part.timestamp {
                        LATEST if req.isolation_level == 1 => {
                            Ok(Some((log.last_stable_offset(), -1)))
                        }
                        LATEST => Ok(Some((log.next_offset(), -1))),
                        EARLIEST => Ok(Some((log.log_start_offset(), -1))),
                        MAX_TIMESTAMP if version >= 7 => log.max_timestamp_offset(),
                        ts if ts >= 0 => log.offset_for_timestamp(ts),
                        _ => Err(ResponseError::UnsupportedVersion),
                    };
                    match found {
                        Ok(Some((offset, ts))) => {
                            p.offset = offset;
                            p.timestamp = ts;
                        }
                        Ok(None) => {}
                        Err(e) => p.error_code = e.code(),
                    }
                }
            }
            out.partitions.push(p);
        }
        resp.topics.push(out);
    }
    resp
}
