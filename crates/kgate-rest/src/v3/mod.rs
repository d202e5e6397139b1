//! REST Proxy API v3: cluster administration and record produce under `/v3`.

use axum::Router;

use crate::AppState;

pub mod acls;
pub mod brokers;
pub mod clusters;
pub mod configs;
pub mod confluent_server;
pub mod consumer_groups;
pub mod partitions;
mod record_stream;
pub mod records;
pub mod resource;
pub mod topics;

/// Every v3 route.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(clusters::router())
        .merge(brokers::router())
        .merge(configs::router())
        .merge(topics::router())
        .merge(partitions::router())
        .merge(acls::router())
        .merge(consumer_groups::router())
        .merge(records::router())
        .merge(confluent_server::router())
}
