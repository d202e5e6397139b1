//! The one error type of the kgate binary.

use std::net::SocketAddr;

use crate::config::ConfigError;

/// Everything that can stop kgate from starting or shutting down cleanly.
#[derive(Debug, thiserror::Error)]
pub enum KgateError {
    /// The configuration is unusable; the message names the key.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listener could not be bound.
    #[error("cannot listen on {address} (`{key}`): {source}")]
    Bind {
        /// The configuration key or option that named the address.
        key: String,
        /// The address as configured.
        address: String,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// The data directory could not be prepared.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why it could not be created.
        source: std::io::Error,
    },
    /// The embedded broker failed.
    #[error("embedded broker: {0}")]
    Broker(#[from] kgate_broker::BrokerError),
    /// The Kafka client layer could not connect.
    #[error("cannot connect to Kafka: {0}")]
    Kafka(#[from] kgate_kafka::KafkaError),
    /// The Kafka cluster did not answer within the start-up limit.
    #[error(
        "cannot reach the Kafka cluster at {servers} (`{key}`): no answer within {} ms: {cause}",
        waited.as_millis()
    )]
    ClusterUnreachable {
        /// The bootstrap servers tried.
        servers: String,
        /// The key or option that named them.
        key: &'static str,
        /// How long kgate tried.
        waited: std::time::Duration,
        /// librdkafka's last word on why.
        cause: String,
    },
    /// A request to the Kafka cluster failed.
    #[error("Kafka request failed: {0}")]
    KafkaRequest(kgate_kafka::KafkaError),
    /// A face (REST Proxy, Schema Registry, ...) stopped with an error.
    #[error("{name} on {address} failed: {source}")]
    Face {
        /// What the face serves, e.g. `REST Proxy`.
        name: &'static str,
        /// Its (first) listener's address.
        address: SocketAddr,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A face's task panicked or was cancelled.
    #[error("{name} task ended abnormally: {message}")]
    FaceTask {
        /// What the face serves.
        name: &'static str,
        /// The panic or cancellation.
        message: String,
    },
    /// A command-line value could not be used.
    #[error("invalid value `{value}` for `{option}`: {message}")]
    BadArgument {
        /// The option, e.g. `--listen`.
        option: String,
        /// The value given.
        value: String,
        /// What is expected.
        message: String,
    },
    /// The signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}
