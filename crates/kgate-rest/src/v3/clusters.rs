//! REST Proxy v3: clusters.

use axum::Router;

use crate::AppState;

/// The clusters routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
