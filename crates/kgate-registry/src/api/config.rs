//! `/config`: compatibility levels, global and per subject.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{AppState, Body, Params, body, flag, ok};
use crate::compatibility::CompatibilityLevel;
use crate::error::RegistryError;

#[derive(Deserialize)]
struct ConfigBody {
    compatibility: Option<String>,
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: Option<String>,
}

fn level_of(bytes: Body) -> Result<CompatibilityLevel, RegistryError> {
    let b: ConfigBody = body(bytes)?;
    b.compatibility
        .or(b.compatibility_level)
        .and_then(|name| CompatibilityLevel::from_name(&name))
        .ok_or(RegistryError::InvalidCompatibilityLevel)
}

/// `GET /config`.
pub async fn get_global(State(store): State<AppState>) -> Response {
    let level = store.read(|s| s.compatibility(None));
    ok(json!({ "compatibilityLevel": level.name() }))
}

/// `PUT /config`.
pub async fn put_global(
    State(store): State<AppState>,
    bytes: Body,
) -> Result<Response, RegistryError> {
    let level = level_of(bytes)?;
    store.set_config(None, Some(level)).await?;
    Ok(ok(json!({ "compatibility": level.name() })))
}

/// `DELETE /config`: back to the default; answers the level it replaced.
pub async fn delete_global(State(store): State<AppState>) -> Result<Response, RegistryError> {
    let level = store.read(|s| s.compatibility(None));
    store.set_config(None, None).await?;
    Ok(ok(json!({ "compatibilityLevel": level.name() })))
}

/// `GET /config/{subject}` (`defaultToGlobal` falls back to the global level).
pub async fn get_subject(
    State(store): State<AppState>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let own = store.read(|s| s.configs.get(&Some(subject.clone())).copied());
    let level = match own {
        Some(l) => l,
        None if flag(&p, "defaultToGlobal") => store.read(|s| s.compatibility(None)),
        None => return Err(RegistryError::SubjectConfigNotFound(subject)),
    };
    Ok(ok(json!({ "compatibilityLevel": level.name() })))
}

/// `PUT /config/{subject}`.
pub async fn put_subject(
    State(store): State<AppState>,
    Path(subject): Path<String>,
    bytes: Body,
) -> Result<Response, RegistryError> {
    let level = level_of(bytes)?;
    store.set_config(Some(&subject), Some(level)).await?;
    Ok(ok(json!({ "compatibility": level.name() })))
}

/// `DELETE /config/{subject}`: answers the level it removed.
pub async fn delete_subject(
    State(store): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Response, RegistryError> {
    let own = store.read(|s| s.configs.get(&Some(subject.clone())).copied());
    let Some(level) = own else {
        return Err(RegistryError::SubjectNotFound(subject));
    };
    store.set_config(Some(&subject), None).await?;
    Ok(ok(json!({ "compatibilityLevel": level.name() })))
}
