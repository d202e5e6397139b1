//! REST Proxy v3: records.

use axum::Router;

use crate::AppState;

/// The records routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
