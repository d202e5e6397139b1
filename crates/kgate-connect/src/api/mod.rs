//! The Connect REST API: Apache Kafka Connect 4.x's paths, bodies, status codes and
//! `{"error_code","message"}` errors. Reads are answered by any worker from its stores;
//! configuration writes are made by the group's leader, so other workers forward them
//! (with `?forward=false`, as Apache does) or answer 409 while the group rebalances.

mod connectors;
mod plugins;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::error::ConnectError;
use crate::herder::{Herder, WriteTarget};

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The worker's herder.
    pub herder: Arc<Herder>,
    /// Forwarding client.
    pub http: reqwest::Client,
    /// Logger levels set through `/admin/loggers`.
    pub loggers: Arc<Mutex<std::collections::BTreeMap<String, (String, i64)>>>,
}

/// The router of the Connect API.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route(
            "/connectors",
            get(connectors::list).post(connectors::create),
        )
        .route(
            "/connectors/{c}",
            get(connectors::info).delete(connectors::delete),
        )
        .route(
            "/connectors/{c}/config",
            get(connectors::config)
                .put(connectors::put_config)
                .patch(connectors::patch_config),
        )
        .route("/connectors/{c}/status", get(connectors::status))
        .route("/connectors/{c}/restart", post(connectors::restart))
        .route("/connectors/{c}/pause", put(connectors::pause))
        .route("/connectors/{c}/resume", put(connectors::resume))
        .route("/connectors/{c}/stop", put(connectors::stop))
        .route("/connectors/{c}/tasks", get(connectors::tasks))
        .route(
            "/connectors/{c}/tasks/{t}/status",
            get(connectors::task_status),
        )
        .route(
            "/connectors/{c}/tasks/{t}/restart",
            post(connectors::task_restart),
        )
        .route("/connectors/{c}/topics", get(connectors::topics))
        .route(
            "/connectors/{c}/topics/reset",
            put(connectors::topics_reset),
        )
        .route(
            "/connectors/{c}/offsets",
            get(connectors::offsets)
                .patch(connectors::alter_offsets)
                .delete(connectors::reset_offsets),
        )
        .route("/connector-plugins", get(plugins::list))
        .route("/connector-plugins/{p}/config", get(plugins::config))
        .route(
            "/connector-plugins/{p}/config/validate",
            put(plugins::validate),
        )
        .route("/admin/loggers", get(plugins::loggers))
        .route(
            "/admin/loggers/{name}",
            get(plugins::logger).put(plugins::set_logger),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(not_allowed)
        .with_state(state)
}

async fn not_found() -> ConnectError {
    ConnectError::NotFound("HTTP 404 Not Found".to_string())
}

async fn not_allowed() -> Response {
    let body = json!({"error_code": 405, "message": "HTTP 405 Method Not Allowed"});
    json_response(StatusCode::METHOD_NOT_ALLOWED, &body)
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn root(
    axum::extract::State(state): axum::extract::State<ApiState>,
) -> Result<Response, ConnectError> {
    let cluster = state.herder.kafka().cluster_id().await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "version": crate::plugins::configdef::PLUGIN_VERSION,
            "commit": concat!("kgate-", env!("CARGO_PKG_VERSION")),
            "kafka_cluster_id": cluster,
        }),
    ))
}

async fn health(axum::extract::State(state): axum::extract::State<ApiState>) -> Response {
    if state.herder.is_ready() {
        json_response(
            StatusCode::OK,
            &json!({"status": "healthy", "message": "Worker has completed startup and is ready to handle requests."}),
        )
    } else {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "starting", "message": "Worker is still starting up."}),
        )
    }
}

/// How long a write waits for a rebalance to end before it answers 409.
const REBALANCE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(15);

/// The `forward` query parameter: `None` when absent.
pub(crate) fn forward_flag(query: Option<&str>) -> Option<bool> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "forward")
        .map(|(_, v)| !v.eq_ignore_ascii_case("false"))
}

/// Runs a configuration write here when this worker leads, or forwards the request to
/// the leader; 409 while the group rebalances or when a forwarded request reached a
/// worker that does not lead either.
pub(crate) async fn leader_write<F, Fut>(
    state: &ApiState,
    method: Method,
    uri: &axum::http::Uri,
    body: Option<Bytes>,
    here: F,
) -> Result<Response, ConnectError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Response, ConnectError>>,
{
    // Like Apache's herder, which queues requests during a rebalance, a write waits a
    // while for the group to settle before it is refused.
    let deadline = tokio::time::Instant::now() + REBALANCE_PATIENCE;
    let mut target = state.herder.write_target();
    while matches!(target, WriteTarget::Unknown) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        target = state.herder.write_target();
    }
    match target {
        WriteTarget::Here => here().await,
        WriteTarget::Unknown => Err(ConnectError::rebalancing()),
        WriteTarget::Leader(url) => {
            let forward = forward_flag(uri.query());
            if forward == Some(false) {
                return Err(ConnectError::Conflict(
                    "Cannot complete request because of a conflicting operation (e.g. worker rebalance)".to_string(),
                ));
            }
            // A request forwarded once may be forwarded once more (the leader may have
            // changed on the way), never a third time.
            let next = if forward.is_none() { "true" } else { "false" };
            let query: Vec<&str> = uri
                .query()
                .into_iter()
                .flat_map(|q| q.split('&'))
                .filter(|kv| !kv.starts_with("forward="))
                .collect();
            let mut target = format!("{}{}?", url.trim_end_matches('/'), uri.path());
            for kv in query {
                target.push_str(kv);
                target.push('&');
            }
            target.push_str("forward=");
            target.push_str(next);
            let mut request = state.http.request(method, &target);
            if let Some(body) = body {
                request = request
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body);
            }
            let answer = request.send().await.map_err(|e| {
                ConnectError::Conflict(format!(
                    "Cannot complete request because the leader at {url} could not be reached: {e}"
                ))
            })?;
            let status =
                StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let text = answer
                .bytes()
                .await
                .map_err(|e| ConnectError::Internal(format!("reading the leader's answer: {e}")))?;
            Ok((status, [(header::CONTENT_TYPE, "application/json")], text).into_response())
        }
    }
}
