//! The one error type of the WebSocket proxy and its mapping to the original proxy's HTTP
//! answers: a status and `{"message": "..."}` (used before a socket is upgraded and by
//! the admin server).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kgate_kafka::KafkaError;

/// Everything that can refuse or end a request of the WebSocket proxy.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// A required query parameter is missing.
    #[error("Request is missing required parameter '{0}'")]
    MissingParameter(&'static str),
    /// A query parameter has a value that cannot be used.
    #[error("The query parameter '{name}' was malformed:\n{message}")]
    BadParameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The topic of a socket does not exist.
    #[error("Topic {0} does not exist")]
    TopicNotFound(String),
    /// The request is well formed but cannot be served as asked (a connection limit, a
    /// client id already connected, ...).
    #[error("{0}")]
    Invalid(String),
    /// No or wrong credentials.
    #[error("{message}")]
    Unauthenticated {
        /// Why.
        message: String,
        /// The realm for the `WWW-Authenticate` challenge, when the proxy asks for Basic
        /// credentials.
        realm: Option<String>,
    },
    /// The credentials may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such resource.
    #[error("This is not the resource you are looking for.")]
    NotFound,
    /// A resource the admin server knows, but not this one (an id without a config).
    #[error("")]
    NoSuchConfig,
    /// The method is not served here (or the feature behind it is switched off).
    #[error("")]
    MethodNotAllowed,
    /// Kafka (or state kept in it) cannot be reached now.
    #[error("{0}")]
    Unavailable(String),
    /// A request to Kafka failed.
    #[error("{0}")]
    Kafka(#[from] KafkaError),
    /// A failure inside kgate.
    #[error("{0}")]
    Internal(String),
}

impl WsError {
    /// The HTTP status the original proxy answers this with.
    pub fn status(&self) -> StatusCode {
        match self {
            WsError::MissingParameter(_)
            | WsError::BadParameter { .. }
            | WsError::TopicNotFound(_)
            | WsError::Invalid(_) => StatusCode::BAD_REQUEST,
            WsError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            WsError::Forbidden(_) => StatusCode::FORBIDDEN,
            WsError::NotFound | WsError::NoSuchConfig => StatusCode::NOT_FOUND,
            WsError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            WsError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WsError::Kafka(e) => match e {
                KafkaError::TopicNotFound(_) => StatusCode::BAD_REQUEST,
                KafkaError::Authentication(_) => StatusCode::UNAUTHORIZED,
                KafkaError::Authorization(_) => StatusCode::FORBIDDEN,
                KafkaError::Timeout(_) | KafkaError::Retriable { .. } => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                KafkaError::InvalidRequest(_) | KafkaError::Config(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            WsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A Kafka failure of a request, with an unknown topic named as the original does.
    pub fn from_kafka(e: KafkaError, topic: &str) -> WsError {
        match e {
            KafkaError::TopicNotFound(_) => WsError::TopicNotFound(topic.to_string()),
            other => WsError::Kafka(other),
        }
    }
}

impl IntoResponse for WsError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self, "WebSocket proxy request failed");
        }
        let mut response = match self {
            // The original answers these with an empty JSON body.
            WsError::NoSuchConfig | WsError::MethodNotAllowed => status.into_response(),
            ref other => {
                let body = serde_json::json!({ "message": other.to_string() });
                (status, body.to_string()).into_response()
            }
        };
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let WsError::Unauthenticated {
            realm: Some(realm), ..
        } = &self
            && let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{realm}\",charset=UTF-8"))
        {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }
}
