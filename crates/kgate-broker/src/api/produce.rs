//! Produce: append record batches to partition logs.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::s;
use crate::state::BrokerState;

/// Answers a Produce request. With one node, acks=1 and acks=all mean the same: the
/// batch is in the log (the page cache, which survives a process kill) before replying;
/// only `min.insync.replicas` above 1 refuses acks=all writes, as Kafka would.
pub fn handle(state: &BrokerState, req: ProduceRequest, version: i16) -> ProduceResponse {
    let mut resp = ProduceResponse::default();
    let acks_valid = matches!(req.acks, -1..=1);
    // Transactional appends happen under the coordinator's lock so EndTxn cannot write
    // a marker between the check and the append.
    let txn_table = req.transactional_id.as_ref().map(|_| state.txn.lock());
    let txn_id = req.transactional_id.as_ref().map(|t| t.to_string());
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
            } else if let (Some(table), Some(txn_id), Some(_)) = (&txn_table, &txn_id, &log)
                && let Err(e) = check_transactional(
                    table,
                    txn_id,
                    topic_data.name.as_str(),
                    part.index,
                    part.records.as_deref(),
                )
            {
                Err(e)
            } else if txn_id.is_none() && starts_transactional(part.records.as_deref()) {
                // Such a batch would open a transaction no coordinator could ever end.
                Err((
                    ResponseError::InvalidRecord,
                    "transactional batches need the request's transactional id".to_string(),
                ))
            } else if let Some(log) = log {
                let min_isr = log.lock().config().min_insync_replicas;
                match part.records.as_deref() {
                    // As a single Kafka broker does: acks=all needs min.insync.replicas
                    // in-sync replicas, and there is one.
                    Some(_) if req.acks == -1 && min_isr > 1 => Err((
                        ResponseError::NotEnoughReplicas,
                        format!(
                            "The size of the current ISR (1) is insufficient to satisfy the min.isr requirement of {min_isr} for partition {}-{}",
                            topic_data.name.as_str(),
                            part.index
                        ),
                    )),
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
    drop(txn_table);
    if appended_any {
        state.topics.appended.notify_waiters();
    }
    resp
}

/// Whether `req` writes to a topic whose `compression.type` may make the broker
/// recompress batches.
pub fn recompresses(state: &BrokerState, req: &ProduceRequest) -> bool {
    req.topic_data.iter().any(|t| {
        state
            .topics
            .get(t.name.as_str())
            .and_then(|topic| topic.partition(0))
            .is_some_and(|log| log.lock().config().compression.is_some())
    })
}

/// Checks that the batches of a transactional produce come from the transactional id's
/// current producer and go to a partition added to its open transaction.
fn check_transactional(
    table: &crate::txn::TxnTable,
    txn_id: &str,
    topic: &str,
    partition: i32,
    records: Option<&[u8]>,
) -> Result<(), (ResponseError, String)> {
    let header = records
        .map(crate::log::batch::BatchHeader::parse)
        .transpose()
        .map_err(|e| (e, "invalid record batch".to_string()))?;
    let Some(h) = header else {
        return Ok(());
    };
    crate::txn::check_produce(
        table,
        txn_id,
        h.producer_id,
        h.producer_epoch,
        topic,
        partition,
    )
    .map_err(|e| {
        (
            e,
            format!(
                "transactional id {txn_id} (producer {} epoch {}): {e}",
                h.producer_id, h.producer_epoch
            ),
        )
    })
}

/// Whether the first batch of `records` is marked transactional.
fn starts_transactional(records: Option<&[u8]>) -> bool {
    records
        .and_then(|r| crate::log::batch::BatchHeader::parse(r).ok())
        .is_some_and(|h| h.is_transactional())
}
