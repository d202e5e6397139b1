//! AddOffsetsToTxn: a consumer group's offsets join the open transaction.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::end_txn::fenced_code;
use crate::state::BrokerState;

/// Answers an AddOffsetsToTxn request.
pub fn handle(
    state: &BrokerState,
    req: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
    let mut resp = AddOffsetsToTxnResponse::default();
    if let Err(e) = state.txn.add_offsets(
        req.transactional_id.as_str(),
        req.producer_id.0,
        req.producer_epoch,
        req.group_id.as_str(),
    ) {
        resp.error_code = fenced_code(e, version);
    }
    resp
}
