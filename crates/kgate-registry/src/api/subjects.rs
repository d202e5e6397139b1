//! `/subjects`: registering, looking up, listing and deleting versions.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;

use super::{AppState, Body, Params, flag, in_format, new_schema, ok, version_json, with_type};
use crate::error::RegistryError;
use crate::store::{VersionSpec, version_of};

/// `GET /subjects`.
pub async fn list(State(store): State<AppState>, Query(p): Query<Params>) -> Response {
    let prefix = p.get("subjectPrefix").cloned().unwrap_or_default();
    let deleted = flag(&p, "deleted");
    let subjects: Vec<String> = store.read(|state| {
        state
            .subjects
            .keys()
            .filter(|s| s.starts_with(&prefix) && state.subject_exists(s, deleted))
            .cloned()
            .collect()
    });
    ok(json!(subjects))
}

/// `GET /subjects/{subject}/versions`.
pub async fn versions(
    State(store): State<AppState>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let versions: Vec<i32> = store.read(|state| {
        state
            .versions(&subject, flag(&p, "deleted"))
            .into_iter()
            .map(|(v, _)| v)
            .collect()
    });
    if versions.is_empty() {
        return Err(RegistryError::SubjectNotFound(subject));
    }
    Ok(ok(json!(versions)))
}

fn find(
    store: &AppState,
    subject: &str,
    version: &str,
    deleted: bool,
) -> Result<crate::store::RegisteredVersion, RegistryError> {
    let spec = VersionSpec::parse(version)?;
    store.read(|state| {
        if !state.subject_exists(subject, true) {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        let number = spec.resolve(state, subject, deleted)?;
        version_of(state, subject, number)
    })
}

/// `GET /subjects/{subject}/versions/{version}`.
pub async fn version(
    State(store): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let mut v = find(&store, &subject, &version, flag(&p, "deleted"))?;
    v.content = in_format(&store, &v.content, &p).await?;
    Ok(ok(version_json(&v)))
}

/// `GET /subjects/{subject}/versions/{version}/schema`: the schema text alone.
pub async fn raw_version(
    State(store): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let v = find(&store, &subject, &version, flag(&p, "deleted"))?;
    Ok(with_type(in_format(&store, &v.content, &p).await?.schema))
}

/// `GET /subjects/{subject}/versions/{version}/referencedby`.
pub async fn referenced_by(
    State(store): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Response, RegistryError> {
    let v = find(&store, &subject, &version, true)?;
    let ids = store.read(|state| state.referenced_by(&subject, v.version));
    Ok(ok(json!(ids)))
}

/// `POST /subjects/{subject}/versions`: registers a schema (idempotent).
pub async fn register(
    State(store): State<AppState>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
    bytes: Body,
) -> Result<Response, RegistryError> {
    let new = new_schema(&store, bytes).await?;
    let id = store.register(&subject, new, flag(&p, "normalize")).await?;
    Ok(ok(json!({ "id": id })))
}

/// `POST /subjects/{subject}`: finds the version holding a schema.
pub async fn lookup(
    State(store): State<AppState>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
    bytes: Body,
) -> Result<Response, RegistryError> {
    let new = new_schema(&store, bytes).await?;
    let v = store
        .lookup(&subject, &new, flag(&p, "normalize"), flag(&p, "deleted"))
        .await?;
    Ok(ok(version_json(&v)))
}

/// `DELETE /subjects/{subject}`.
pub async fn delete_subject(
    State(store): State<AppState>,
    Path(subject): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let versions = store
        .delete_subject(&subject, flag(&p, "permanent"))
        .await?;
    Ok(ok(json!(versions)))
}

/// `DELETE /subjects/{subject}/versions/{version}`.
pub async fn delete_version(
    State(store): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let spec = VersionSpec::parse(&version)?;
    let number = store
        .delete_version(&subject, spec, flag(&p, "permanent"))
        .await?;
    Ok(ok(json!(number)))
}
