//! The REST Proxy's one error type and its `{"error_code":..,"message":..}` envelope,
//! with the exact codes of the Confluent REST Proxy reference.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kgate_formats::FormatError;
use kgate_http::{ErrorEnvelope, HttpError};
use kgate_kafka::KafkaError;

/// Everything a REST Proxy request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// No route matches the path (404, error code 404).
    #[error("HTTP 404 Not Found")]
    NotFound,
    /// No route matches the path, with a message saying why (404, error code 404).
    #[error("{0}")]
    NotFoundPath(String),
    /// The route exists but not for this method (405).
    #[error("HTTP 405 Method Not Allowed")]
    MethodNotAllowed,
    /// The request body is not well-formed JSON, or does not serialize in the embedded
    /// format (400, error code 400).
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed but its content is wrong (422, error code 422).
    #[error("{0}")]
    Unprocessable(String),
    /// The body is larger than `max_request_body_bytes` (413).
    #[error("{0}")]
    TooLarge(String),
    /// No response type the client accepts can be produced (406).
    #[error("HTTP 406 Not Acceptable")]
    NotAcceptable,
    /// The request's Content-Type is not one this endpoint reads (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Topic not found (404, error code 40401).
    #[error("Topic {0} not found.")]
    TopicNotFound(String),
    /// Partition not found (404, error code 40402).
    #[error("Partition {partition} of topic {topic} not found.")]
    PartitionNotFound {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// A partition given in the path that is not a number (404, error code 40402).
    #[error("Partition {given:?} of topic {topic} not found: partitions are numbered 0, 1, 2, ...")]
    PartitionNotANumber {
        /// The topic.
        topic: String,
        /// What the path gave as the partition.
        given: String,
    },
    /// A write, delete or configuration change of one of kgate's internal topics, which
    /// the configuration does not allow (403, error code 40301, Kafka's authorization
    /// code: the request is refused whoever sends it).
    #[error(
        "Topic {0} is internal to Kafka or kgate; REST Proxy clients may not write to, delete or reconfigure it (see internal.topics.writable)."
    )]
    InternalTopic(String),
    /// `consumer.instances.max` consumer instances exist already (429, error code 42901).
    #[error(
        "Too many consumer instances: this REST Proxy holds {0}, its limit (consumer.instances.max). Delete unused instances or wait for idle ones to expire."
    )]
    TooManyConsumerInstances(usize),
    /// A consumed record's key or value cannot be read in the instance's format (422,
    /// error code 42206). Nothing after it was delivered, and the consumer's position stays
    /// at it: seek past it to go on.
    #[error(
        "The record at offset {offset} of partition {partition} of topic {topic} cannot be read as {format}: {message}. It was not delivered and the consumer stays at it; seek to offset {next} of that partition to skip it.",
        next = offset + 1
    )]
    UndecodableRecord {
        /// Its topic.
        topic: String,
        /// Its partition.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// The consumer's embedded format.
        format: String,
        /// Why it cannot be read.
        message: String,
    },
    /// Consumer instance not found (404, error code 40403).
    #[error("Consumer instance not found.")]
    ConsumerInstanceNotFound,
    /// The consumer's format does not match the Accept header (406, error code 40601).
    #[error(
        "The requested embedded data format does not match the deserializer for this consumer instance"
    )]
    ConsumerFormatMismatch,
    /// A consumer instance with this name exists (409, error code 40902).
    #[error("Consumer with specified consumer ID already exists in the specified consumer group.")]
    ConsumerAlreadyExists,
    /// Subscription and manual assignment mixed (409, error code 40903).
    #[error("Subscription to topics, partitions and pattern are mutually exclusive.")]
    IllegalSubscriptionState,
    /// Keys given in a schema format without `key_schema`/`key_schema_id` (422, 42201).
    #[error("Request includes keys but does not include key_schema or key_schema_id")]
    MissingKeySchema,
    /// Values given in a schema format without `value_schema`/`value_schema_id` (422, 42202).
    #[error("Request includes values but does not include value_schema or value_schema_id")]
    MissingValueSchema,
    /// Invalid consumer configuration (422, error code 42204).
    #[error("Invalid consumer configuration: {0}")]
    InvalidConsumerConfig(String),
    /// A record does not match the schema it is produced with (422, error code 42203).
    #[error("Conversion of JSON to Object failed: {0}")]
    SchemaMismatch(String),
    /// A schema in the request, or the one an id names, is not valid (422, 42205).
    #[error("Invalid schema: {0}")]
    InvalidSchema(String),
    /// The schema a v3 key (`key`) or value names by id or version, or its subject's
    /// latest, is not in the Schema Registry (422, error code 42201 for a key, 42202 for a
    /// value: the codes v2 gives a missing key or value schema).
    #[error("{message}")]
    SchemaNotFound {
        /// Whether the key's schema is missing (else the value's).
        key: bool,
        /// What was looked up and the registry's answer.
        message: String,
    },
    /// The Schema Registry refused to register an inline schema as incompatible with the
    /// subject's earlier versions (409, error code 409).
    #[error("{0}")]
    SchemaConflict(String),
    /// The Schema Registry could not be reached or refused a registration or lookup
    /// (408, error code 40801).
    #[error("Schema registration or lookup failed: {0}")]
    SchemaRegistryFailed(String),
    /// The v3 cluster id in the path is not the cluster's (404, error code 404).
    #[error("Cluster {0} cannot be found.")]
    ClusterNotFound(String),
    /// The broker id in the path is not in the cluster (404, error code 404).
    #[error("Broker not found. Broker: {broker} not found in the cluster: {cluster}")]
    BrokerNotFound {
        /// The cluster id.
        cluster: String,
        /// The broker id asked for.
        broker: i32,
    },
    /// A v3 resource that does not exist: a config name, a reassignment, a replica (404,
    /// error code 404).
    #[error("{0}")]
    V3NotFound(String),
    /// An endpoint that only Confluent Server backs; the message names what is missing
    /// (400, error code 400, as Confluent answers when such a component is off).
    #[error("{0}")]
    ConfluentServerOnly(String),
    /// A v3 resource (consumer group, consumer, lag, ...) does not exist; the message
    /// names it (404, error code 404).
    #[error("{0}")]
    ResourceNotFound(String),
    /// A v1 consumer instance asked for a topic beside the one it subscribed to (409,
    /// error code 40901).
    #[error(
        "Consumer cannot subscribe to the specified target because it has already subscribed to other topics."
    )]
    ConsumerAlreadySubscribed,
    /// The partition has no leader at the moment (404, error code 40404).
    #[error("Leader not available for partition {partition} of topic {topic}.")]
    LeaderNotAvailable {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// No partition reader became free within `simpleconsumer.pool.timeout.ms` (503,
    /// error code 50301).
    #[error(
        "No SimpleConsumer is available at the time in the pool. The request can be retried. You can increase the pool size or the pool timeout to avoid this error in the future."
    )]
    NoPartitionReaderAvailable,
    /// A Kafka failure, mapped to 40101/40301/40401/40402/50002/50003.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// A bug in kgate (500, error code 500).
    #[error("Internal server error: {0}")]
    Internal(String),
}

impl ErrorEnvelope for RestError {
    fn status(&self) -> StatusCode {
        match self {
            RestError::NotFound
            | RestError::NotFoundPath(_)
            | RestError::ClusterNotFound(_)
            | RestError::V3NotFound(_)
            | RestError::ResourceNotFound(_)
            | RestError::BrokerNotFound { .. }
            | RestError::TopicNotFound(_)
            | RestError::PartitionNotFound { .. }
            | RestError::PartitionNotANumber { .. }
            | RestError::LeaderNotAvailable { .. }
            | RestError::ConsumerInstanceNotFound => StatusCode::NOT_FOUND,
            RestError::InternalTopic(_) => StatusCode::FORBIDDEN,
            RestError::TooManyConsumerInstances(_) => StatusCode::TOO_MANY_REQUESTS,
            RestError::NoPartitionReaderAvailable => StatusCode::SERVICE_UNAVAILABLE,
            RestError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            RestError::BadRequest(_) | RestError::ConfluentServerOnly(_) => StatusCode::BAD_REQUEST,
            RestError::Unprocessable(_)
            | RestError::InvalidConsumerConfig(_)
            | RestError::MissingKeySchema
            | RestError::MissingValueSchema
            | RestError::SchemaMismatch(_)
            | RestError::SchemaNotFound { .. }
            | RestError::UndecodableRecord { .. }
            | RestError::InvalidSchema(_) => StatusCode::UNPROCESSABLE_ENTITY,
            RestError::SchemaConflict(_) => StatusCode::CONFLICT,
            RestError::SchemaRegistryFailed(_) => StatusCode::REQUEST_TIMEOUT,
            RestError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RestError::NotAcceptable | RestError::ConsumerFormatMismatch => {
                StatusCode::NOT_ACCEPTABLE
            }
            RestError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RestError::ConsumerAlreadyExists
            | RestError::IllegalSubscriptionState
            | RestError::ConsumerAlreadySubscribed => StatusCode::CONFLICT,
            RestError::Kafka(e) => match e {
                KafkaError::TopicNotFound(_) | KafkaError::PartitionNotFound { .. } => {
                    StatusCode::NOT_FOUND
                }
                KafkaError::Authentication(_) => StatusCode::UNAUTHORIZED,
                KafkaError::Authorization(_) => StatusCode::FORBIDDEN,
                KafkaError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
                KafkaError::TopicAlreadyExists(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            RestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_code(&self) -> u32 {
        match self {
            RestError::TopicNotFound(_) => 40401,
            RestError::PartitionNotFound { .. } | RestError::PartitionNotANumber { .. } => 40402,
            RestError::InternalTopic(_) => 40301,
            RestError::TooManyConsumerInstances(_) => 42901,
            RestError::UndecodableRecord { .. } => 42206,
            RestError::ConsumerInstanceNotFound => 40403,
            RestError::LeaderNotAvailable { .. } => 40404,
            RestError::ConsumerFormatMismatch => 40601,
            RestError::ConsumerAlreadySubscribed => 40901,
            RestError::NoPartitionReaderAvailable => 50301,
            RestError::ConsumerAlreadyExists => 40902,
            RestError::IllegalSubscriptionState => 40903,
            RestError::MissingKeySchema => 42201,
            RestError::MissingValueSchema => 42202,
            RestError::InvalidConsumerConfig(_) => 42204,
            RestError::SchemaMismatch(_) => 42203,
            RestError::SchemaNotFound { key: true, .. } => 42201,
            RestError::SchemaNotFound { key: false, .. } => 42202,
            RestError::InvalidSchema(_) => 42205,
            RestError::SchemaRegistryFailed(_) => 40801,
            RestError::Kafka(e) => match e {
                KafkaError::TopicNotFound(_) => 40401,
                KafkaError::PartitionNotFound { .. } => 40402,
                KafkaError::Authentication(_) => 40101,
                KafkaError::Authorization(_) => 40301,
                KafkaError::InvalidRequest(_) | KafkaError::TopicAlreadyExists(_) => 400,
                KafkaError::Retriable { .. } | KafkaError::Timeout(_) => 50003,
                _ => 50002,
            },
            other => other.status().as_u16().into(),
        }
    }

    fn content_type(&self) -> &'static str {
        "application/vnd.kafka.v2+json"
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

impl From<HttpError> for RestError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::BodyTooLarge { .. } => RestError::TooLarge(e.to_string()),
            HttpError::BodyUnreadable(_) => RestError::BadRequest(e.to_string()),
        }
    }
}

impl From<FormatError> for RestError {
    fn from(e: FormatError) -> Self {
        match e {
            // The reference answers a value that does not serialize with 400 "serialization
            // error".
            FormatError::InvalidBase64(_)
            | FormatError::InvalidValue(_)
            | FormatError::Undecodable(_) => RestError::BadRequest(e.to_string()),
            FormatError::Unsupported(_) => RestError::UnsupportedMediaType(e.to_string()),
            FormatError::SchemaMismatch(m) => RestError::SchemaMismatch(m),
            FormatError::InvalidSchema(m) => RestError::InvalidSchema(m),
            FormatError::RegistryUnavailable(_) | FormatError::Registry { .. } => {
                RestError::SchemaRegistryFailed(e.to_string())
            }
        }
    }
}

/// Parses a JSON request body as Confluent's proxy answers it: malformed JSON is 400,
/// JSON that does not map onto the request (a field of the wrong type, an unknown field:
/// Jackson's mapping errors) is 400 too, and a missing required field, which Confluent
/// finds in its validation step, is 422.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, RestError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data if e.to_string().starts_with("missing field") => {
            RestError::Unprocessable(e.to_string())
        }
        serde_json::error::Category::Data => RestError::BadRequest(e.to_string()),
        _ => RestError::BadRequest(format!("Malformed JSON: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_get_the_reference_codes() {
        let e = RestError::from(KafkaError::TopicNotFound("t".into()));
        assert_eq!((e.status(), e.error_code()), (StatusCode::NOT_FOUND, 40401));
        let e = RestError::from(KafkaError::Retriable {
            code: 6,
            message: String::new(),
        });
        assert_eq!(e.error_code(), 50003);
        let e = RestError::from(KafkaError::Kafka {
            code: 1,
            message: String::new(),
        });
        assert_eq!(e.error_code(), 50002);
        assert_eq!(RestError::NotAcceptable.error_code(), 406);
    }

    #[test]
    fn malformed_json_and_wrong_types_are_400_and_missing_fields_422() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct R {
            records: Vec<u8>,
        }
        assert_eq!(parse_json::<R>(b"{oops").unwrap_err().error_code(), 400);
        assert_eq!(parse_json::<R>(b"{}").unwrap_err().error_code(), 422);
        assert_eq!(
            parse_json::<R>(br#"{"records": "x"}"#)
                .unwrap_err()
                .error_code(),
            400
        );
    }
}
