//! REST Proxy API v2: one module per resource, routes assembled here.

pub mod brokers;
pub mod consumers;
pub mod partitions;
pub mod produce;
pub mod root;
pub mod topics;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

/// The v2 routes (paths have no version prefix, as in Confluent's proxy).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root::get))
        .route("/topics", get(topics::list))
        .route("/topics/{topic}", get(topics::get).post(produce::to_topic))
        .route("/topics/{topic}/partitions", get(partitions::list))
        .route(
            "/topics/{topic}/partitions/{partition}",
            get(partitions::get).post(produce::to_partition),
        )
        .route(
            "/topics/{topic}/partitions/{partition}/offsets",
            get(partitions::offsets),
        )
        .route("/brokers", get(brokers::list))
        .merge(consumers::router())
}
