//! REST Proxy v3: partitions.

use axum::Router;

use crate::AppState;

/// The partitions routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
