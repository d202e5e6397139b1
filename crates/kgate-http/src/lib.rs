//! What every kgate face shares: error responses, request limits, serving with shutdown,
//! timeouts and connection limits, and panics answered rather than dropped.

#![warn(missing_docs)]

mod envelope;
mod panics;
mod serve;

use std::time::Instant;

pub use envelope::ensure_envelope;
pub use panics::log_panics;
pub use serve::{
    ServeConfig, default_connection_limit, process_serve_config, serve, serve_with,
    set_process_serve_config,
};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Failures reading a request, before any face-specific parsing.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The body is larger than the configured limit.
    #[error("Request body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body could not be read from the connection.
    #[error("Could not read the request body: {0}")]
    BodyUnreadable(String),
}

/// An error a face turns into the Confluent-style envelope
/// `{"error_code": <code>, "message": <text>}` that REST Proxy, Schema Registry and
/// Connect all use.
pub trait ErrorEnvelope: std::fmt::Display {
    /// The HTTP status of the response.
    fn status(&self) -> StatusCode;
    /// The `error_code` field (often the status followed by two digits, e.g. 40401).
    fn error_code(&self) -> u32;
    /// The response's content type.
    fn content_type(&self) -> &'static str {
        "application/json"
    }
    /// Builds the response; 5xx errors are logged since they mean a bug or a broker fault.
    fn to_response(&self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error_code = self.error_code(), error = %self, "request failed");
        }
        let body = serde_json::json!({
            "error_code": self.error_code(),
            "message": self.to_string(),
        });
        let mut response = (status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type()),
        );
        response
    }
}

/// The raw request body, read within the router's body limit (see [`with_common_layers`]).
#[derive(Debug, Clone)]
pub struct LimitedBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for LimitedBody {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map(|l| l.0)
            .unwrap_or(usize::MAX);
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(LimitedBody(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(HttpError::BodyTooLarge { limit })
            }
            Err(rejection) => Err(HttpError::BodyUnreadable(rejection.body_text())),
        }
    }
}

/// The body limit in force, recorded for error messages.
#[derive(Debug, Clone, Copy)]
struct BodyLimit(usize);

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

impl ErrorEnvelope for HttpError {
    fn status(&self) -> StatusCode {
        match self {
            HttpError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::BodyUnreadable(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn error_code(&self) -> u32 {
        self.status().as_u16().into()
    }
}

/// Adds what every face needs: the request body limit, request logging, and a panic in a
/// handler answered 500 in the envelope (and logged with the request's line) rather than
/// a dropped connection.
pub fn with_common_layers<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    max_body_bytes: usize,
) -> Router<S> {
    router
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panics::PanicResponse,
        ))
        .layer(axum::middleware::from_fn(
            move |mut req: Request, next: Next| async move {
                req.extensions_mut().insert(BodyLimit(max_body_bytes));
                log_request(req, next).await
            },
        ))
}

/// Logs one line per request with its outcome and duration.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let started = Instant::now();
    let response = next.run(req).await;
    tracing::info!(
        %method,
        path = %uri.path(),
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
