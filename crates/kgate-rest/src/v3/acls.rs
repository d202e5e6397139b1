//! REST Proxy v3: acls.

use axum::Router;

use crate::AppState;

/// The acls routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
