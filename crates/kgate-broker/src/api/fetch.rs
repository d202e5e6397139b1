//! Fetch: read whole batches, long-polling until `min_bytes` arrive or `max_wait_ms`
//! passes. Fetch sessions are declined (session id 0), so every fetch is a full one.

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};

use crate::state::BrokerState;

/// Answers a Fetch request.
pub async fn handle(state: &BrokerState, req: FetchRequest, version: i16) -> FetchResponse {
    if version >= 7 && req.session_epoch > 0 {
        // A client that believes in a session we never created must start over.
        let mut resp = FetchResponse::default();
        resp.error_code = ResponseError::FetchSessionIdNotFound.code();
        return resp;
    }
    let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        // Registered before reading, so an append between the read and the wait still
        // wakes this fetch.
        let notified = state.topics.appended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (resp, bytes, errors) = read_once(state, &req, version);
        if bytes >= req.min_bytes.max(0) as usize
            || errors
            || tokio::time::Instant::now() >= deadline
        {
            return resp;
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// One pass over the requested partitions: the response, its record bytes, and
/// whether any partition had an error (which ends long polling).
fn read_once(
    state: &BrokerState,
    req: &FetchRequest,
    version: i16,
) -> (FetchResponse, usize, bool) {
    let mut resp = FetchResponse::default();
    let mut budget = req.max_bytes.max(0) as usize;
    let mut total = 0usize;
    let mut errors = false;
    let read_committed = req.isolation_level == 1;
    for wanted in &req.topics {
        let topic = if version >= 13 {
            state.topics.get_by_id(wanted.topic_id)
        } else {
            state.topics.get(wanted.topic.as_str())
        };
        let mut out = FetchableTopicResponse::default();
        out.topic = wanted.topic.clone();
        if version >= 13 {
            out.topic_id = wanted.topic_id;
        }
        for part in &wanted.partitions {
            let mut p = PartitionData::default();
            p.partition_index = part.partition;
            p.high_watermark = -1;
            p.last_stable_offset = -1;
            p.log_start_offset = -1;
            p.aborted_transactions = Some(Vec::new());
            match topic.as_ref().and_then(|t| t.partition(part.partition)) {
                None => {
                    p.error_code = ResponseError::UnknownTopicOrPartition.code();
                    errors = true;
                }
                Some(log) => {
                    let log = log.lock();
                    let hw = log.next_offset();
                    let lso = log.last_stable_offset();
                    p.high_watermark = hw;
                    p.last_stable_offset = lso;
                    p.log_start_offset = log.log_start_offset();
                    // The first partition with data is served even past max_bytes
                    // (KIP-74), so an oversized batch cannot stall a consumer.
                    let limit = (part.partition_max_bytes.max(0) as usize).min(budget);
                    let limit = if total == 0 { limit.max(1) } else { limit };
                    if limit > 0 {
                        let read = if read_committed {
                            log.read_below(part.fetch_offset, limit, lso)
                        } else {
                            log.read(part.fetch_offset, limit)
                        };
                        match read {
                            Ok(records) => {
                                if read_committed && !records.is_empty() {
                                    // Consumers skip the records of these transactions.
                                    let upto = part.fetch_offset.max(0) + records.len() as i64;
                                    p.aborted_transactions = Some(
                                        log.aborted_between(part.fetch_offset, upto.min(lso))
                                            .into_iter()
                                            .map(|a| {
                                                let mut t = AbortedTransaction::default();
                                                t.producer_id = ProducerId(a.producer_id);
                                                t.first_offset = a.first_offset;
                                                t
                                            })
                                            .collect(),
                                    );
                                }
                                total += records.len();
                                budget = budget.saturating_sub(records.len());
                                p.records = Some(records);
                            }
                            Err(e) => {
                                p.error_code = e.code();
                                errors = true;
                            }
                        }
                    } else {
                        p.records = Some(Default::default());
                    }
                }
            }
            out.partitions.push(p);
        }
        resp.responses.push(out);
    }
    (resp, total, errors)
}
