//! `/contexts`: the schema contexts. kgate has one, the default context, which Confluent's
//! registry names `.`; every subject lives in it.

use axum::extract::Query;
use axum::response::Response;
use serde_json::json;

use super::{Params, ok};

/// The name of the default context.
pub const DEFAULT: &str = ".";

/// `GET /contexts` (`contextPrefix` filters, as in Confluent's registry).
pub async fn list(Query(p): Query<Params>) -> Response {
    let prefix = p.get("contextPrefix").map(String::as_str).unwrap_or("");
    let contexts: Vec<&str> = [DEFAULT]
        .into_iter()
        .filter(|c| c.starts_with(prefix))
        .collect();
    ok(json!(contexts))
}
