//! InitProducerId for idempotent and transactional producers.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::state::BrokerState;

/// Answers an InitProducerId request.
pub fn handle(
    state: &BrokerState,
    req: InitProducerIdRequest,
    _version: i16,
) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    if let Some(txn_id) = req.transactional_id.as_ref().filter(|t| !t.is_empty()) {
        match state.txn.init_producer_id(
            state,
            txn_id.as_str(),
            req.transaction_timeout_ms,
            req.producer_id.0,
            req.producer_epoch,
        ) {
            Ok((id, epoch)) => {
                resp.producer_id = ProducerId(id);
                resp.producer_epoch = epoch;
            }
            Err(e) => resp.error_code = e.code(),
        }
        return resp;
    }
    // KIP-360: a producer that knows its id asks for an epoch bump after an error; on a
    // single node that needs no coordination, so bump while the epoch has room.
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        resp.producer_id = req.producer_id;
        resp.producer_epoch = req.producer_epoch + 1;
        return resp;
    }
    match state.producer_ids.allocate() {
        Ok(id) => {
            resp.producer_id = ProducerId(id);
            resp.producer_epoch = 0;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot reserve producer ids");
            resp.error_code = ResponseError::KafkaStorageError.code();
        }
    }
    resp
}
