//! EndTxn: commit or abort the open transaction; on commit, its staged group offsets
//! are handed to the group coordinator.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use crate::group::TxnOffset;
use crate::state::BrokerState;
use crate::txn::PendingOffset;

/// Answers an EndTxn request.
pub async fn handle(state: &BrokerState, req: EndTxnRequest, version: i16) -> EndTxnResponse {
    let mut resp = EndTxnResponse::default();
    match state.txn.end_txn(
        state,
        req.transactional_id.as_str(),
        req.producer_id.0,
        req.producer_epoch,
        req.committed,
    ) {
        Ok(offsets) => commit_offsets(state, offsets).await,
        Err(e) => resp.error_code = fenced_code(e, version),
    }
    resp
}

/// Before version 2 of the transaction APIs clients know no PRODUCER_FENCED.
pub(crate) fn fenced_code(e: ResponseError, version: i16) -> i16 {
    if e == ResponseError::ProducerFenced && version < 2 {
        ResponseError::InvalidProducerEpoch.code()
    } else {
        e.code()
    }
}

/// Stores the committed transaction's offsets in their groups; the group checks were
/// made when TxnOffsetCommit staged them.
async fn commit_offsets(state: &BrokerState, offsets: Vec<PendingOffset>) {
    if offsets.is_empty() {
        return;
    }
    let offsets = offsets
        .into_iter()
        .map(|o| TxnOffset {
            group_id: o.group_id,
            topic: o.topic,
            partition: o.partition,
            offset: o.offset,
            leader_epoch: o.leader_epoch,
            metadata: o.metadata,
        })
        .collect();
    if !state.groups.commit_txn_offsets(offsets).await {
        tracing::error!("offsets of a committed transaction were not persisted");
    }
}
