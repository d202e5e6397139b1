//! The HTTP API: one module per resource family, thin handlers over the [`Store`].

mod compatibility;
mod config;
mod contexts;
mod mode;
mod schemas;
mod subjects;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kgate_formats::schema::{SchemaReference, SchemaType};
use kgate_http::{HttpError, LimitedBody};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::CONTENT_TYPE;
use crate::error::RegistryError;
use crate::store::{NewSchema, RegisteredVersion, Store};

/// What every handler gets: the store.
pub type AppState = Arc<Store>;

/// Query parameters, as Confluent's registry reads them (flags are `true`/`false`).
pub type Params = HashMap<String, String>;

/// The registry's router.
pub fn router(store: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { ok(json!({})) }))
        .route("/schemas", get(schemas::list))
        .route("/schemas/types", get(schemas::types))
        .route("/schemas/ids/{id}", get(schemas::by_id))
        .route("/schemas/ids/{id}/schema", get(schemas::raw_by_id))
        .route("/schemas/ids/{id}/subjects", get(schemas::subjects_of_id))
        .route("/schemas/ids/{id}/versions", get(schemas::versions_of_id))
        .route("/schemas/guids/{guid}", get(schemas::by_guid))
        .route("/schemas/guids/{guid}/ids", get(schemas::ids_of_guid))
        .route("/contexts", get(contexts::list))
        .route("/subjects", get(subjects::list))
        .route(
            "/subjects/{subject}",
            post(subjects::lookup).delete(subjects::delete_subject),
        )
        .route(
            "/subjects/{subject}/versions",
            get(subjects::versions).post(subjects::register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(subjects::version).delete(subjects::delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(subjects::raw_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(subjects::referenced_by),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(compatibility::check_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compatibility::check_version),
        )
        .route(
            "/config",
            get(config::get_global)
                .put(config::put_global)
                .delete(config::delete_global),
        )
        .route(
            "/config/{subject}",
            get(config::get_subject)
                .put(config::put_subject)
                .delete(config::delete_subject),
        )
        .route("/mode", get(mode::get_global).put(mode::put_global))
        .route(
            "/mode/{subject}",
            get(mode::get_subject)
                .put(mode::put_subject)
                .delete(mode::delete_subject),
        )
        .fallback(|| async { RegistryError::NoSuchPath })
        .layer(axum::middleware::map_response(in_envelope))
        .with_state(store)
}

/// A request body, read within the body limit; reading failures are the registry's 413 and
/// 400 in its envelope.
pub type Body = Result<LimitedBody, HttpError>;

/// The bytes of a request body.
pub fn bytes_of(body: Body) -> Result<Bytes, RegistryError> {
    Ok(body?.0)
}

/// Puts the router's own refusals (an unparseable path or query parameter, a method the
/// path does not take) in the registry's `{"error_code", "message"}` envelope: every
/// answer of the API has that form, whichever layer gave it.
async fn in_envelope(response: Response) -> Response {
    let status = response.status();
    let ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes() == CONTENT_TYPE.as_bytes());
    if ours || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // Rejection texts are a line; a longer body gives way to the generic message.
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let reason = status.canonical_reason().unwrap_or("Error");
    let message = if text.is_empty() {
        format!("HTTP {} {reason}", status.as_u16())
    } else {
        text
    };
    RegistryError::Refused {
        status: status.as_u16(),
        message,
    }
    .into_response()
}

/// A 200 response with the registry's content type.
pub fn ok(body: Value) -> Response {
    with_type(body.to_string())
}

/// A 200 response whose body is already text (a raw schema).
pub fn with_type(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// Whether a boolean query flag is set.
pub fn flag(params: &Params, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Parses a JSON body; a body that is not valid JSON of the right shape is 422.
pub fn body<T: serde::de::DeserializeOwned>(raw: Body) -> Result<T, RegistryError> {
    parse_json(&bytes_of(raw)?)
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes)
        .map_err(|e| RegistryError::Unprocessable(format!("Unrecognized request body: {e}")))
}

/// The schema of a register, look-up or compatibility request. A body that cannot hold a
/// schema within `max_schema_bytes` (even with every character escaped) is 42209 before it
/// is parsed, and a large body is parsed on the schema workers, not the async threads.
pub async fn new_schema(store: &AppState, raw: Body) -> Result<NewSchema, RegistryError> {
    let bytes = bytes_of(raw)?;
    let limit = store.config().max_schema_bytes;
    // `\uXXXX` is the longest escape: six bytes for one; the rest is references and keys.
    if bytes.len() > limit.saturating_mul(6).saturating_add(64 * 1024) {
        return Err(RegistryError::SchemaTooLarge(format!(
            "Schema too large: the request body has {} bytes, more than a schema of at most {limit} bytes needs",
            bytes.len()
        )));
    }
    let len = bytes.len();
    let parse = move || parse_json::<SchemaBody>(&bytes)?.into_new_schema();
    if len <= crate::work::SMALL_JOB_BYTES {
        return parse();
    }
    store.work().run(len, parse).await
}

/// A schema in a request body (register, look up, compatibility).
#[derive(Debug, Deserialize)]
pub struct SchemaBody {
    schema: Option<String>,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Option<Vec<SchemaReference>>,
    id: Option<i32>,
    version: Option<i32>,
}

impl SchemaBody {
    /// The schema the body describes; no schema text or an unknown type is 42201.
    pub fn into_new_schema(self) -> Result<NewSchema, RegistryError> {
        let schema_type = match self.schema_type.as_deref() {
            None | Some("") => SchemaType::Avro,
            Some(name) => SchemaType::from_name(name).ok_or_else(|| {
                RegistryError::InvalidSchema(format!("Invalid schema type {name}"))
            })?,
        };
        let schema = self
            .schema
            .ok_or_else(|| RegistryError::InvalidSchema("Empty schema".into()))?;
        Ok(NewSchema {
            schema_type,
            schema,
            references: self.references.unwrap_or_default(),
            id: self.id.filter(|id| *id >= 0),
            version: self.version.filter(|v| *v >= 1),
        })
    }
}

/// The JSON of a registered version, fields as Confluent names them (schemaType left out
/// for AVRO, references when there are none).
pub fn version_json(v: &RegisteredVersion) -> Value {
    let mut out = json!({
        "subject": v.subject,
        "version": v.version,
        "id": v.id,
    });
    add_schema_fields(&mut out, &v.content);
    out
}

/// The schema in the `format` a request asks for: `serialized` turns a protobuf schema
/// into a base64 `FileDescriptorProto`, the form Confluent's protobuf deserializers read;
/// other formats and schema types keep the stored text.
pub async fn in_format(
    store: &AppState,
    content: &crate::state::SchemaContent,
    p: &Params,
) -> Result<crate::state::SchemaContent, RegistryError> {
    let serialized = p
        .get("format")
        .is_some_and(|f| f.eq_ignore_ascii_case("serialized"));
    let mut out = content.clone();
    if serialized {
        out.schema = store.serialized(content).await?;
    }
    Ok(out)
}

/// Adds `schemaType`, `references` and `schema` to a JSON object.
pub fn add_schema_fields(out: &mut Value, content: &crate::state::SchemaContent) {
    if let Value::Object(map) = out {
        if content.schema_type != SchemaType::Avro {
            map.insert("schemaType".into(), json!(content.schema_type.name()));
        }
        if !content.references.is_empty() {
            map.insert("references".into(), json!(content.references));
        }
        map.insert("schema".into(), json!(content.schema));
    }
}
