//! The Connect face's errors and their `{"error_code": <status>, "message": ...}` bodies,
//! with Apache Kafka Connect's status codes and messages.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kgate_http::ErrorEnvelope;

/// Everything a Connect request or the worker can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    /// 400: the request is malformed or its configuration invalid.
    #[error("{0}")]
    BadRequest(String),
    /// 404: no such connector, task, plugin or path.
    #[error("{0}")]
    NotFound(String),
    /// 409: a connector of that name exists, or the worker group is rebalancing.
    #[error("{0}")]
    Conflict(String),
    /// 500: the operation failed inside the worker or in Kafka.
    #[error("{0}")]
    Internal(String),
    /// 503: the worker has not finished starting.
    #[error("{0}")]
    Unavailable(String),
    /// A worker setting (`connect.<key>`) cannot be used: stops start-up.
    #[error("invalid value `{value}` for configuration key `connect.{key}`: {message}")]
    Config {
        /// The key without the `connect.` prefix.
        key: String,
        /// The value given.
        value: String,
        /// What is expected.
        message: String,
    },
    /// Kafka failed.
    #[error("{0}")]
    Kafka(#[from] kgate_kafka::KafkaError),
}

impl ConnectError {
    /// Apache's answer while the group rebalances or the leader cannot be reached.
    pub fn rebalancing() -> ConnectError {
        ConnectError::Conflict(
            "Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway."
                .to_string(),
        )
    }

    /// Apache's 404 for an unknown connector.
    pub fn connector_not_found(name: &str) -> ConnectError {
        ConnectError::NotFound(format!("Connector {name} not found"))
    }
}

impl ErrorEnvelope for ConnectError {
    fn status(&self) -> StatusCode {
        match self {
            ConnectError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConnectError::NotFound(_) => StatusCode::NOT_FOUND,
            ConnectError::Conflict(_) => StatusCode::CONFLICT,
            ConnectError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ConnectError::Internal(_) | ConnectError::Config { .. } | ConnectError::Kafka(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_code(&self) -> u32 {
        // Connect's error_code is the HTTP status itself.
        self.status().as_u16().into()
    }
}

impl IntoResponse for ConnectError {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

impl From<kgate_http::HttpError> for ConnectError {
    fn from(e: kgate_http::HttpError) -> Self {
        match e {
            kgate_http::HttpError::BodyTooLarge { .. } => ConnectError::BadRequest(e.to_string()),
            kgate_http::HttpError::BodyUnreadable(_) => ConnectError::BadRequest(e.to_string()),
        }
    }
}
