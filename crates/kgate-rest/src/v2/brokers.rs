//! `GET /brokers`: the ids of the cluster's brokers.

use axum::extract::State;
use serde::Serialize;

use crate::error::RestError;
use crate::negotiation::{Negotiated, V2Accept};
use crate::state::AppState;

/// The broker list.
#[derive(Debug, Serialize)]
pub struct BrokerList {
    /// Broker ids, ascending.
    pub brokers: Vec<i32>,
}

/// `GET /brokers`.
pub async fn list(
    State(state): State<AppState>,
    V2Accept(content_type): V2Accept,
) -> Result<Negotiated<BrokerList>, RestError> {
    let md = state.kafka.fresh_metadata().await?;
    let brokers = md.brokers.iter().map(|b| b.id).collect();
    Ok(Negotiated(content_type, BrokerList { brokers }))
}
