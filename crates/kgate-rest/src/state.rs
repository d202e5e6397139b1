//! What every REST Proxy handler shares.

use std::sync::Arc;

use kgate_kafka::Kafka;

use crate::RestConfig;
use crate::v2::consumers::ConsumerInstances;

/// Shared state of the REST Proxy: the Kafka handle, the settings and the v2 consumer
/// instances living in this process.
#[derive(Clone)]
pub struct AppState {
    /// The client layer.
    pub kafka: Kafka,
    /// The REST Proxy settings.
    pub config: Arc<RestConfig>,
    /// v2 consumer instances created through this process.
    pub consumers: Arc<ConsumerInstances>,
}

impl AppState {
    /// Builds the state for `kafka` and `config`.
    pub fn new(kafka: Kafka, config: RestConfig) -> Self {
        let consumers = Arc::new(ConsumerInstances::new(&config));
        Self {
            kafka,
            config: Arc::new(config),
            consumers,
        }
    }
}
