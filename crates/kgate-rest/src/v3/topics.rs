//! REST Proxy v3: topics.

use axum::Router;

use crate::AppState;

/// The topics routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
