//! `/schemas`: schemas by id, every schema, and the supported types.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use kgate_formats::schema::SchemaType;
use serde_json::{Value, json};

use super::{AppState, Params, add_schema_fields, flag, in_format, ok, version_json, with_type};
use crate::error::RegistryError;
use crate::store::version_of;

fn parse_id(text: &str) -> Result<i32, RegistryError> {
    text.parse::<i32>()
        .map_err(|_| RegistryError::SchemaNotFound(text.to_string()))
}

/// `GET /schemas/types`.
pub async fn types() -> Response {
    ok(json!(SchemaType::all().map(SchemaType::name)))
}

/// `GET /schemas`: every version (latest only with `latestOnly`), by subject prefix.
pub async fn list(State(store): State<AppState>, Query(p): Query<Params>) -> Response {
    let prefix = p.get("subjectPrefix").cloned().unwrap_or_default();
    let deleted = flag(&p, "deleted");
    let latest_only = flag(&p, "latestOnly");
    let out: Vec<Value> = store.read(|state| {
        let mut out = Vec::new();
        for subject in state.subjects.keys().filter(|s| s.starts_with(&prefix)) {
            let versions = state.versions(subject, deleted);
            let chosen = if latest_only {
                versions.last().into_iter().cloned().collect()
            } else {
                versions
            };
            for (v, _) in chosen {
                if let Ok(rv) = version_of(state, subject, v) {
                    out.push(version_json(&rv));
                }
            }
        }
        out
    });
    ok(json!(out))
}

/// `GET /schemas/ids/{id}`.
pub async fn by_id(
    State(store): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let id = parse_id(&id)?;
    let content = store.read(|state| {
        state
            .schemas
            .get(&id)
            .filter(|_| !state.usages(id, true).is_empty())
            .cloned()
            .ok_or_else(|| RegistryError::SchemaNotFound(id.to_string()))
    })?;
    let mut out = json!({});
    add_schema_fields(&mut out, &in_format(&store, &content, &p)?);
    Ok(ok(out))
}

/// `GET /schemas/ids/{id}/schema`: the schema text alone.
pub async fn raw_by_id(
    State(store): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let id = parse_id(&id)?;
    let content = store.read(|state| {
        state
            .schemas
            .get(&id)
            .filter(|_| !state.usages(id, true).is_empty())
            .cloned()
            .ok_or_else(|| RegistryError::SchemaNotFound(id.to_string()))
    })?;
    Ok(with_type(in_format(&store, &content, &p)?.schema))
}

/// `GET /schemas/ids/{id}/subjects`.
pub async fn subjects_of_id(
    State(store): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let id = parse_id(&id)?;
    let usages = store.read(|state| state.usages(id, flag(&p, "deleted")));
    if usages.is_empty() {
        return Err(RegistryError::SchemaNotFound(id.to_string()));
    }
    let mut subjects: Vec<String> = usages.into_iter().map(|(s, _)| s).collect();
    subjects.dedup();
    Ok(ok(json!(subjects)))
}

/// `GET /schemas/ids/{id}/versions`.
pub async fn versions_of_id(
    State(store): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let id = parse_id(&id)?;
    let usages = store.read(|state| state.usages(id, flag(&p, "deleted")));
    if usages.is_empty() {
        return Err(RegistryError::SchemaNotFound(id.to_string()));
    }
    let out: Vec<Value> = usages
        .into_iter()
        .map(|(s, v)| json!({"subject": s, "version": v}))
        .collect();
    Ok(ok(json!(out)))
}
