//! `/compatibility`: would a schema be accepted by a subject.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;

use super::{AppState, Body, Params, flag, new_schema, ok};
use crate::error::RegistryError;
use crate::store::VersionSpec;

fn answer(messages: Vec<String>, verbose: bool) -> Response {
    let mut out = json!({ "is_compatible": messages.is_empty() });
    if verbose {
        out["messages"] = json!(messages);
    }
    ok(out)
}

/// `POST /compatibility/subjects/{subject}/versions`: against the versions the subject's
/// level checks.
pub async fn check_all(
    State(store): State<AppState>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
    bytes: Body,
) -> Result<Response, RegistryError> {
    let new = new_schema(&store, bytes).await?;
    let messages = store.check_compatibility(&subject, &new, None).await?;
    Ok(answer(messages, flag(&p, "verbose")))
}

/// `POST /compatibility/subjects/{subject}/versions/{version}`: against that version.
pub async fn check_version(
    State(store): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    Query(p): Query<Params>,
    bytes: Body,
) -> Result<Response, RegistryError> {
    let spec = VersionSpec::parse(&version)?;
    let new = new_schema(&store, bytes).await?;
    let messages = store
        .check_compatibility(&subject, &new, Some(spec))
        .await?;
    Ok(answer(messages, flag(&p, "verbose")))
}
