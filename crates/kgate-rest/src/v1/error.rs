//! The v1 error envelope: the REST Proxy's codes and messages ([`RestError`]) in
//! `{"error_code","message"}` bodies typed `application/vnd.kafka.v1+json`, as seed 001
//! shows them.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kgate_formats::FormatError;
use kgate_http::{ErrorEnvelope, HttpError};
use kgate_kafka::KafkaError;

use crate::error::RestError;
use crate::negotiation::V1_JSON;

/// A REST Proxy error answered to a v1 request.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct V1Error(#[from] pub RestError);

impl ErrorEnvelope for V1Error {
    fn status(&self) -> StatusCode {
        self.0.status()
    }

    fn error_code(&self) -> u32 {
        self.0.error_code()
    }

    fn content_type(&self) -> &'static str {
        V1_JSON
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

impl From<KafkaError> for V1Error {
    fn from(e: KafkaError) -> Self {
        V1Error(e.into())
    }
}

impl From<FormatError> for V1Error {
    fn from(e: FormatError) -> Self {
        V1Error(e.into())
    }
}

impl From<HttpError> for V1Error {
    fn from(e: HttpError) -> Self {
        V1Error(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_errors_keep_the_codes_and_change_the_type() {
        let e = V1Error(RestError::NoPartitionReaderAvailable);
        assert_eq!(
            (e.status(), e.error_code()),
            (StatusCode::SERVICE_UNAVAILABLE, 50301)
        );
        let response = e.into_response();
        assert_eq!(response.headers()["content-type"], V1_JSON);
        let e = V1Error::from(KafkaError::TopicNotFound("t".into()));
        assert_eq!((e.status(), e.error_code()), (StatusCode::NOT_FOUND, 40401));
        let e = V1Error(RestError::ConsumerAlreadySubscribed);
        assert_eq!((e.status(), e.error_code()), (StatusCode::CONFLICT, 40901));
        let e = V1Error(RestError::LeaderNotAvailable {
            topic: "t".into(),
            partition: 0,
        });
        assert_eq!((e.status(), e.error_code()), (StatusCode::NOT_FOUND, 40404));
    }
}
