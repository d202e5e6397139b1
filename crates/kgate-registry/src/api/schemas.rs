//! `/schemas`: schemas by id, every schema, and the supported types.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use kgate_formats::schema::SchemaType;
use serde_json::{Value, json};

use super::{AppState, Params, add_schema_fields, flag, in_format, ok, version_json, with_type};
use crate::error::RegistryError;
use crate::guid;
use crate::state::{self, SchemaContent};
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

/// The schema an id names, while some version (soft-deleted ones included) uses it.
fn known(state: &state::State, id: i32) -> Result<std::sync::Arc<SchemaContent>, RegistryError> {
    state
        .schemas
        .get(&id)
        .filter(|_| !state.usages(id, true).is_empty())
        .cloned()
        .ok_or_else(|| RegistryError::SchemaNotFound(id.to_string()))
}

/// The subjects with a live version using `id`, sorted.
fn live_subjects(state: &state::State, id: i32) -> Vec<String> {
    let mut subjects: Vec<String> = state
        .usages(id, false)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    subjects.dedup();
    subjects
}

/// `GET /schemas/ids/{id}`: the schema and its `guid`. With `subject=` the answer also
/// names the subject and version using the id (that subject's, else the first, as
/// Confluent's registry answers); `fetchMaxId=true` adds the highest id given so far as
/// `maxId`; `includeSubjects=true` (Karapace's parameter) adds the live subjects using it.
pub async fn by_id(
    State(store): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let id = parse_id(&id)?;
    let subject = p.get("subject").filter(|s| !s.is_empty());
    let (content, usage, max_id, subjects) = store.read(|state| {
        let content = known(state, id)?;
        let usage = subject.and_then(|wanted| {
            let live = state.usages(id, false);
            let all = state.usages(id, true);
            live.iter()
                .find(|(s, _)| s == wanted)
                .or_else(|| all.iter().find(|(s, _)| s == wanted))
                .or_else(|| all.first())
                .cloned()
        });
        Ok::<_, RegistryError>((content, usage, state.max_id, live_subjects(state, id)))
    })?;
    let mut out = json!({});
    if let Some((s, v)) = usage {
        out["subject"] = json!(s);
        out["version"] = json!(v);
    }
    out["guid"] = json!(guid::of(&content));
    add_schema_fields(&mut out, &in_format(&store, &content, &p).await?);
    if flag(&p, "fetchMaxId") {
        out["maxId"] = json!(max_id);
    }
    if flag(&p, "includeSubjects") {
        out["subjects"] = json!(subjects);
    }
    Ok(ok(out))
}

/// `GET /schemas/ids/{id}/schema`: the schema text alone.
pub async fn raw_by_id(
    State(store): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let id = parse_id(&id)?;
    let content = store.read(|state| known(state, id))?;
    Ok(with_type(in_format(&store, &content, &p).await?.schema))
}

/// The (subject, version) pairs using `id`, soft-deleted ones when `deleted`. An id whose
/// every version was soft-deleted is still known (as in Confluent's registry): its list is
/// empty, not a 404; only an id no version uses, even soft-deleted, is 40403.
fn usages_of(
    store: &AppState,
    id: i32,
    deleted: bool,
) -> Result<Vec<(String, i32)>, RegistryError> {
    store.read(|state| {
        known(state, id)?;
        Ok(state.usages(id, deleted))
    })
}

/// `GET /schemas/ids/{id}/subjects`.
pub async fn subjects_of_id(
    State(store): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let id = parse_id(&id)?;
    let mut subjects: Vec<String> = usages_of(&store, id, flag(&p, "deleted"))?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
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
    let out: Vec<Value> = usages_of(&store, id, flag(&p, "deleted"))?
        .into_iter()
        .map(|(s, v)| json!({"subject": s, "version": v}))
        .collect();
    Ok(ok(json!(out)))
}

/// The id a GUID names, while some version uses it.
fn id_of_guid(store: &AppState, guid: &str) -> Result<i32, RegistryError> {
    let unknown = || RegistryError::GuidNotFound(guid.to_string());
    if !guid::is_well_formed(guid) {
        return Err(unknown());
    }
    store.read(|state| {
        state
            .guids
            .get(&guid.to_ascii_lowercase())
            .copied()
            .filter(|id| !state.usages(*id, true).is_empty())
            .ok_or_else(unknown)
    })
}

/// `GET /schemas/guids/{guid}`: the schema with that GUID, as by id but without subject
/// and version.
pub async fn by_guid(
    State(store): State<AppState>,
    Path(guid): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, RegistryError> {
    let id = id_of_guid(&store, &guid)?;
    let content = store.read(|state| known(state, id))?;
    let mut out = json!({ "guid": guid::of(&content) });
    add_schema_fields(&mut out, &in_format(&store, &content, &p).await?);
    Ok(ok(out))
}

/// `GET /schemas/guids/{guid}/ids`: the ids of the schema in each context; kgate has
/// the default context only.
pub async fn ids_of_guid(
    State(store): State<AppState>,
    Path(guid): Path<String>,
) -> Result<Response, RegistryError> {
    let id = id_of_guid(&store, &guid)?;
    Ok(ok(
        json!([{ "context": super::contexts::DEFAULT, "id": id }]),
    ))
}
