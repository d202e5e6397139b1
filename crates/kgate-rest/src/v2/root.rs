//! `GET /`: the proxy answers with an empty object, which clients use as a liveness check.

use crate::negotiation::{Negotiated, V2Accept};

/// `GET /`.
pub async fn get(V2Accept(content_type): V2Accept) -> Negotiated<serde_json::Value> {
    Negotiated(content_type, serde_json::json!({}))
}
