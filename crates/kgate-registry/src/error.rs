//! The registry's errors and their `{"error_code", "message"}` responses, with Confluent
//! Schema Registry's codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kgate_http::ErrorEnvelope;

use crate::CONTENT_TYPE;

/// Everything a registry request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// 40401.
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    /// 40402.
    #[error("Version {0} not found.")]
    VersionNotFound(String),
    /// 40403.
    #[error("Schema {0} not found")]
    SchemaNotFound(String),
    /// 40403 for a look-up by content: the subject holds no version with that schema.
    #[error("Schema not found under subject '{0}'")]
    SchemaNotInSubject(String),
    /// 40403 for a GUID no schema has.
    #[error("Schema with GUID {0} not found")]
    GuidNotFound(String),
    /// 40404.
    #[error("Subject '{0}' was soft deleted.Set permanent=true to delete permanently")]
    SubjectSoftDeleted(String),
    /// 40405.
    #[error("Subject '{0}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted(String),
    /// 40406.
    #[error("Subject '{0}' Version {1} was soft deleted.Set permanent=true to delete permanently")]
    VersionSoftDeleted(String, i32),
    /// 40407.
    #[error("Subject '{0}' Version {1} was not deleted first before being permanently deleted")]
    VersionNotSoftDeleted(String, i32),
    /// 40408.
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    SubjectConfigNotFound(String),
    /// 40409.
    #[error("Subject '{0}' does not have subject-level mode configured")]
    SubjectModeNotFound(String),
    /// 404 for a path the API does not have.
    #[error("HTTP 404 Not Found")]
    NoSuchPath,
    /// 409.
    #[error("Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]", .messages.join(", "))]
    Incompatible {
        /// The subject.
        subject: String,
        /// Why, one entry per difference.
        messages: Vec<String>,
    },
    /// 42201.
    #[error("{0}")]
    InvalidSchema(String),
    /// 42202.
    #[error(
        "The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
    )]
    InvalidVersion(String),
    /// 42203.
    #[error(
        "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"
    )]
    InvalidCompatibilityLevel,
    /// 42204.
    #[error("Invalid mode. Valid values are READWRITE, READONLY, IMPORT")]
    InvalidMode,
    /// 42205.
    #[error("{0}")]
    OperationNotPermitted(String),
    /// 42206.
    #[error("One or more references exist to the schema {{subject={0}, version={1}}}")]
    ReferenceExists(String, i32),
    /// 42209: a schema over `max_schema_bytes`, or one that takes longer than
    /// `schema_work_timeout` to parse and check.
    #[error("{0}")]
    SchemaTooLarge(String),
    /// 422: the body is not what the endpoint takes.
    #[error("{0}")]
    Unprocessable(String),
    /// 413: the body is over `max_body_bytes`.
    #[error("{0}")]
    BodyTooLarge(String),
    /// 400: the body could not be read (the client stopped sending it, or sent less than
    /// it announced).
    #[error("{0}")]
    BadRequest(String),
    /// A refusal of the router or an extractor before any handler ran (an unparseable
    /// path parameter, a method the path does not take): its HTTP status is its code.
    #[error("{message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// What the router said, or Confluent's `HTTP <status> <reason>`.
        message: String,
    },
    /// 50001.
    #[error("Error in the backend data store: {0}")]
    Store(String),
    /// 50002.
    #[error("Operation timed out: {0}")]
    Timeout(String),
}

impl ErrorEnvelope for RegistryError {
    fn status(&self) -> StatusCode {
        let code = self.error_code();
        let status = if code >= 10_000 { code / 100 } else { code };
        StatusCode::from_u16(status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_code(&self) -> u32 {
        use RegistryError::*;
        match self {
            SubjectNotFound(_) => 40401,
            VersionNotFound(_) => 40402,
            SchemaNotFound(_) | SchemaNotInSubject(_) | GuidNotFound(_) => 40403,
            SubjectSoftDeleted(_) => 40404,
            SubjectNotSoftDeleted(_) => 40405,
            VersionSoftDeleted(..) => 40406,
            VersionNotSoftDeleted(..) => 40407,
            SubjectConfigNotFound(_) => 40408,
            SubjectModeNotFound(_) => 40409,
            NoSuchPath => 404,
            Incompatible { .. } => 409,
            InvalidSchema(_) => 42201,
            InvalidVersion(_) => 42202,
            InvalidCompatibilityLevel => 42203,
            InvalidMode => 42204,
            OperationNotPermitted(_) => 42205,
            ReferenceExists(..) => 42206,
            SchemaTooLarge(_) => 42209,
            Unprocessable(_) => 422,
            BodyTooLarge(_) => 413,
            BadRequest(_) => 400,
            Refused { status, .. } => u32::from(*status),
            Store(_) => 50001,
            Timeout(_) => 50002,
        }
    }

    fn content_type(&self) -> &'static str {
        CONTENT_TYPE
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

impl From<kgate_http::HttpError> for RegistryError {
    fn from(e: kgate_http::HttpError) -> Self {
        match e {
            kgate_http::HttpError::BodyTooLarge { .. } => {
                RegistryError::BodyTooLarge(e.to_string())
            }
            kgate_http::HttpError::BodyUnreadable(_) => RegistryError::BadRequest(e.to_string()),
        }
    }
}

impl From<kgate_kafka::KafkaError> for RegistryError {
    fn from(e: kgate_kafka::KafkaError) -> Self {
        RegistryError::Store(e.to_string())
    }
}
