//! REST Proxy v3: consumer_groups.

use axum::Router;

use crate::AppState;

/// The consumer_groups routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
