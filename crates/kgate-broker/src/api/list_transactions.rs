//! ListTransactions: the transactional ids the coordinator knows, filtered by state,
//! producer id, (from v1) how long the transaction has been running and (from v2) a
//! regular expression over the transactional id (KIP-1152).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use regex::Regex;

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
    // Kafka compiles the pattern before listing anything: an invalid one fails the
    // whole request. An empty or null pattern means "every id".
    let pattern = match req.transactional_id_pattern.as_deref() {
        Some(p) if version >= 2 && !p.is_empty() => match id_pattern(p) {
            Ok(re) => Some(re),
            Err(_) => {
                resp.error_code = ResponseError::InvalidRegularExpression.code();
                return resp;
            }
        },
        _ => None,
    };
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
        .filter(|(id, e)| {
            (req.state_filters.is_empty()
                || req
                    .state_filters
                    .iter()
                    .any(|f| f.as_str() == e.status.name()))
                && (req.producer_id_filters.is_empty()
                    || req.producer_id_filters.contains(&ProducerId(e.producer_id)))
                && (min_duration_ms < 0 || now - e.start_time_ms() > min_duration_ms)
                && pattern.as_ref().is_none_or(|re| re.is_match(id))
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

/// Compiles a transactional-id pattern so that it must match the whole id, as Java's
/// `Matcher.matches()` does in Kafka (not merely a substring). Java-only constructs
/// (back-references, look-around) are rejected as invalid.
fn id_pattern(pattern: &str) -> Result<Regex, regex::Error> {
    // Checked alone first: wrapped, an unbalanced ")(" could pair with the wrapper.
    Regex::new(pattern)?;
    Regex::new(&format!("^(?:{pattern})$"))
}
