//! REST Proxy v3: configs.

use axum::Router;

use crate::AppState;

/// The configs routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
