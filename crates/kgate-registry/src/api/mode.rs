//! `/mode`: READWRITE, READONLY or IMPORT, global and per subject.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{AppState, Body, Params, body, flag, ok};
use crate::error::RegistryError;
use crate::state::Mode;

#[derive(Deserialize)]
struct ModeBody {
    mode: Option<String>,
}

fn mode_of(bytes: Body) -> Result<Mode, RegistryError> {
    let b: ModeBody = body(bytes)?;
    b.mode
        .and_then(|name| Mode::from_name(&name))
        .ok_or(RegistryError::InvalidMode)
}

/// `GET /mode`.
pub async fn get_global(State(store): State<AppState>) -> Response {
    let mode = store.read(|s| s.mode(None));
    ok(json!({ "mode": mode.name() }))
}

/// `PUT /mode`.
pub async fn put_global(
    State(store): State<AppState>,
    bytes: Body,
) -> Result<Response, RegistryError> {
    let mode = mode_of(bytes)?;
    store.set_mode(None, Some(mode)).await?;
    Ok(ok(json!({ "mode": mode.name() })))
}

/// `GET /mode/{subject}` (`defaultToGlobal` falls back to the global mode).
pub async fn get_subject(
    State(store): State<AppState>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let own = store.read(|s| s.modes.get(&Some(subject.clone())).copied());
    let mode = match own {
        Some(m) => m,
        None if flag(&p, "defaultToGlobal") => store.read(|s| s.mode(None)),
        None => return Err(RegistryError::SubjectModeNotFound(subject)),
    };
    Ok(ok(json!({ "mode": mode.name() })))
}

/// `PUT /mode/{subject}`.
pub async fn put_subject(
    State(store): State<AppState>,
    Path(subject): Path<String>,
    bytes: Body,
) -> Result<Response, RegistryError> {
    let mode = mode_of(bytes)?;
    store.set_mode(Some(&subject), Some(mode)).await?;
    Ok(ok(json!({ "mode": mode.name() })))
}

/// `DELETE /mode/{subject}`: answers the mode it removed.
pub async fn delete_subject(
    State(store): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Response, RegistryError> {
    let own = store.read(|s| s.modes.get(&Some(subject.clone())).copied());
    let Some(mode) = own else {
        return Err(RegistryError::SubjectModeNotFound(subject));
    };
    store.set_mode(Some(&subject), None).await?;
    Ok(ok(json!({ "mode": mode.name() })))
}
