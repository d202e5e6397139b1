//! ListTransactions: the transactional ids the coordinator knows, filtered by state,
//! producer id and (from v1) how long the transaction has been running.

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};

use super::s;
use crate::state::BrokerState;
use crate::txn::{STATE_NAMES, now_ms};

/// Answers a ListTransactions request.
pub fn handle(
    state: &BrokerState,
    req: ListTransactionsRequest,
    version: i16,
) -> ListTransactionsResponse {
    let mut resp = ListTransactionsResponse::default();
    resp.unknown_state_filters = req
        .state_filters
        .iter()
        .filter(|f| !STATE_NAMES.contains(&f.as_str()))
        .cloned()
        .collect();
    // A v0 request has no duration filter; its default (-1) means "any".
    let min_duration_ms = if version >= 1 {
        req.duration_filter
    } else {
        -1
    };
    let now = now_ms();
    resp.transaction_states = state
        .txn
        .snapshot()
        .into_iter()
        .filter(|(_, e)| {
            (req.state_filters.is_empty()
                || req
                    .state_filters
                    .iter()
                    .any(|f| f.as_str() == e.status.name()))
                && (req.producer_id_filters.is_empty()
                    || req.producer_id_filters.contains(&ProducerId(e.producer_id)))
                && (min_duration_ms < 0 || now - e.start_time_ms() > min_duration_ms)
        })
        .map(|(id, e)| {
            let mut t = TransactionState::default();
            t.transactional_id = TransactionalId(s(id));
            t.producer_id = ProducerId(e.producer_id);
            t.transaction_state = s(e.status.name());
            t
        })
        .collect();
    resp
}
