//! REST Proxy v3: brokers.

use axum::Router;

use crate::AppState;

/// The brokers routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
