//! The admin server: `/admin/kafka/info` and the client limits under
//! `/admin/client/config` (static ones from the configuration, dynamic ones kept in the
//! dynamic config topic), with the original proxy's JSON shapes and statuses.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::WsState;
use crate::dynamic::DynamicConfigs;
use crate::error::WsError;
use crate::limits::{ClientKind, ClientLimits};
use crate::status::{brokers, json_response};

/// The admin server's routes.
pub fn router(state: WsState) -> Router {
    Router::new()
        .route("/admin/kafka/info", get(kafka_info))
        .route("/admin/client/config", get(all_configs).delete(remove_all))
        .route(
            "/admin/client/config/consumer",
            axum::routing::post(add_consumer),
        )
        .route(
            "/admin/client/config/consumer/{id}",
            get(get_consumer)
                .post(add_consumer_id)
                .put(update_consumer)
                .delete(remove_consumer),
        )
        .route(
            "/admin/client/config/producer",
            axum::routing::post(add_producer),
        )
        .route(
            "/admin/client/config/producer/{id}",
            get(get_producer)
                .post(add_producer_id)
                .put(update_producer)
                .delete(remove_producer),
        )
        .fallback(crate::status::not_found)
        .with_state(state)
}

fn answer(result: Result<Response, WsError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// An empty 200, as the original answers a change.
fn done() -> Response {
    json_response(StatusCode::OK, String::new())
}

async fn kafka_info(State(state): State<WsState>, headers: HeaderMap) -> Response {
    answer(
        brokers(&state, &headers)
            .await
            .map(|body| json_response(StatusCode::OK, body)),
    )
}

async fn all_configs(State(state): State<WsState>, headers: HeaderMap) -> Response {
    answer(all_configs_json(&state, &headers).await)
}

async fn all_configs_json(state: &WsState, headers: &HeaderMap) -> Result<Response, WsError> {
    state.authenticate(headers)?;
    let list = |limits: Vec<ClientLimits>, kind: ClientKind| -> Value {
        Value::Array(limits.iter().map(|l| l.to_json(kind)).collect())
    };
    let (dyn_consumers, dyn_producers) = match state.dynamic() {
        Some(d) => (
            d.all(ClientKind::Consumer).await?,
            d.all(ClientKind::Producer).await?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let limits = &state.config().limits;
    let body = json!({
        "consumers": {
            "static": list(limits.listed(ClientKind::Consumer), ClientKind::Consumer),
            "dynamic": list(dyn_consumers, ClientKind::Consumer),
        },
        "producers": {
            "static": list(limits.listed(ClientKind::Producer), ClientKind::Producer),
            "dynamic": list(dyn_producers, ClientKind::Producer),
        },
    });
    Ok(json_response(StatusCode::OK, body.to_string()))
}

/// The dynamic configs, or 405 when they are switched off (as the original answers).
fn dynamic(state: &WsState) -> Result<&DynamicConfigs, WsError> {
    state.dynamic().ok_or(WsError::MethodNotAllowed)
}

async fn remove_all(State(state): State<WsState>, headers: HeaderMap) -> Response {
    answer(
        async {
            state.authenticate(&headers)?;
            dynamic(&state)?.remove_all().await?;
            Ok(done())
        }
        .await,
    )
}

/// The config in force for `id`: the dynamic one, else the static one, else 404.
async fn find(
    state: &WsState,
    headers: &HeaderMap,
    kind: ClientKind,
    id: &str,
) -> Result<Response, WsError> {
    state.authenticate(headers)?;
    let found = match state.dynamic() {
        Some(d) => d.find(kind, id).await?,
        None => None,
    }
    .or_else(|| state.config().limits.find(kind, id).cloned())
    .ok_or(WsError::NoSuchConfig)?;
    Ok(json_response(
        StatusCode::OK,
        found.to_json(kind).to_string(),
    ))
}

/// Reads a config of `kind` from a request body; the id in the path, when given, must be
/// the body's.
fn parse_body(
    kind: ClientKind,
    body: &[u8],
    path_id: Option<&str>,
) -> Result<ClientLimits, WsError> {
    let invalid = || WsError::Invalid(format!("Invalid JSON for {} config.", kind.word()));
    let value: Value = serde_json::from_slice(body).map_err(|_| invalid())?;
    let limits = ClientLimits::from_json(kind, &value).map_err(|_| invalid())?;
    if path_id.is_some_and(|p| p != limits.id) {
        return Err(WsError::Invalid("The given id is not valid.".to_string()));
    }
    Ok(limits)
}

/// Adds (or replaces) a dynamic config.
async fn add(
    state: &WsState,
    headers: &HeaderMap,
    kind: ClientKind,
    path_id: Option<&str>,
    body: &[u8],
) -> Result<Response, WsError> {
    state.authenticate(headers)?;
    let d = dynamic(state)?;
    let limits = parse_body(kind, body, path_id)?;
    d.save(kind, &limits).await?;
    Ok(done())
}

/// Replaces an existing dynamic config; 404 when there is none.
async fn update(
    state: &WsState,
    headers: &HeaderMap,
    kind: ClientKind,
    id: &str,
    body: &[u8],
) -> Result<Response, WsError> {
    state.authenticate(headers)?;
    let d = dynamic(state)?;
    let limits = parse_body(kind, body, Some(id))?;
    if d.find(kind, id).await?.is_none() {
        return Err(WsError::NoSuchConfig);
    }
    d.save(kind, &limits).await?;
    Ok(done())
}

async fn remove(
    state: &WsState,
    headers: &HeaderMap,
    kind: ClientKind,
    id: &str,
) -> Result<Response, WsError> {
    state.authenticate(headers)?;
    if dynamic(state)?.remove(kind, id).await? {
        Ok(done())
    } else {
        Err(WsError::NoSuchConfig)
    }
}

async fn get_consumer(State(s): State<WsState>, h: HeaderMap, Path(id): Path<String>) -> Response {
    answer(find(&s, &h, ClientKind::Consumer, &id).await)
}

async fn add_consumer(State(s): State<WsState>, h: HeaderMap, body: Bytes) -> Response {
    answer(add(&s, &h, ClientKind::Consumer, None, &body).await)
}

async fn add_consumer_id(
    State(s): State<WsState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    answer(add(&s, &h, ClientKind::Consumer, Some(&id), &body).await)
}

async fn update_consumer(
    State(s): State<WsState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    answer(update(&s, &h, ClientKind::Consumer, &id, &body).await)
}

async fn remove_consumer(
    State(s): State<WsState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    answer(remove(&s, &h, ClientKind::Consumer, &id).await)
}

async fn get_producer(State(s): State<WsState>, h: HeaderMap, Path(id): Path<String>) -> Response {
    answer(find(&s, &h, ClientKind::Producer, &id).await)
}

async fn add_producer(State(s): State<WsState>, h: HeaderMap, body: Bytes) -> Response {
    answer(add(&s, &h, ClientKind::Producer, None, &body).await)
}

async fn add_producer_id(
    State(s): State<WsState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    answer(add(&s, &h, ClientKind::Producer, Some(&id), &body).await)
}

async fn update_producer(
    State(s): State<WsState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    answer(update(&s, &h, ClientKind::Producer, &id, &body).await)
}

async fn remove_producer(
    State(s): State<WsState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    answer(remove(&s, &h, ClientKind::Producer, &id).await)
}
