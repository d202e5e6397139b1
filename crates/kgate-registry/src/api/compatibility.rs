//! `/compatibility`: would a schema be accepted by a subject.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;

use super::{AppState, Params, SchemaBody, body, flag, ok};
use crate::compatibility::incompatibilities;
use crate::error::RegistryError;
use crate::store::{Store, VersionSpec};

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
    bytes: Bytes,
) -> Result<Response, RegistryError> {
    let new = body::<SchemaBody>(&bytes)?.into_new_schema()?;
    let messages = store.read(|state| {
        let parsed = Store::parse(state, new.schema_type, &new.schema, &new.references)?;
        let mut previous = Vec::new();
        for (version, entry) in state.versions(&subject, false) {
            if let Some(c) = state.schemas.get(&entry.id) {
                previous.push((
                    version,
                    Store::parse(state, c.schema_type, &c.schema, &c.references)?,
                ));
            }
        }
        Ok::<_, RegistryError>(incompatibilities(
            state.compatibility(Some(&subject)),
            &parsed,
            &previous,
        ))
    })?;
    Ok(answer(messages, flag(&p, "verbose")))
}

/// `POST /compatibility/subjects/{subject}/versions/{version}`: against that version.
pub async fn check_version(
    State(store): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    Query(p): Query<Params>,
    bytes: Bytes,
) -> Result<Response, RegistryError> {
    let spec = VersionSpec::parse(&version)?;
    let new = body::<SchemaBody>(&bytes)?.into_new_schema()?;
    let messages = store.read(|state| {
        if !state.subject_exists(&subject, false) {
            return Err(RegistryError::SubjectNotFound(subject.clone()));
        }
        let number = spec.resolve(state, &subject, false)?;
        let parsed = Store::parse(state, new.schema_type, &new.schema, &new.references)?;
        let previous = match state
            .subjects
            .get(&subject)
            .and_then(|vs| vs.get(&number))
            .and_then(|e| state.schemas.get(&e.id))
        {
            Some(c) => vec![(
                number,
                Store::parse(state, c.schema_type, &c.schema, &c.references)?,
            )],
            None => Vec::new(),
        };
        Ok(incompatibilities(
            state.compatibility(Some(&subject)),
            &parsed,
            &previous,
        ))
    })?;
    Ok(answer(messages, flag(&p, "verbose")))
}
