//! kgate's Schema Registry: Confluent Schema Registry's HTTP API, with schemas kept in
//! the `_schemas` topic.

#![warn(missing_docs)]

pub mod api;
pub mod compatibility;
pub mod error;
pub mod examine;
pub mod guid;
pub mod records;
pub mod state;
pub mod store;
pub mod work;

use std::future::Future;
use std::time::Duration;

use kgate_kafka::Kafka;

pub use error::RegistryError;
pub use store::Store;

/// The content type of every registry response.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Schema Registry settings, under Confluent Schema Registry's names where one exists.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `kafkastore.topic`: where schemas are kept.
    pub topic: String,
    /// `kafkastore.topic.replication.factor`; -1 uses the broker's default.
    pub replication_factor: i32,
    /// `kafkastore.timeout.ms`: how long a write may take to be read back.
    pub timeout: Duration,
    /// `max.request.body.bytes`: the largest request body accepted, in bytes; the same key
    /// and default as the REST Proxy's, so one setting bounds both faces.
    pub max_body_bytes: usize,
    /// The largest schema accepted, in bytes (its text, and its record in the schemas
    /// topic); larger ones are refused with 42209 before they are parsed. The default stays
    /// under Kafka's default record size limit of 1,000,000 bytes, which is what bounds
    /// Confluent's registry.
    pub max_schema_bytes: usize,
    /// How long parsing and checking the schemas of one request may take, waiting for a
    /// worker included; past it the request is answered 42209.
    pub schema_work_timeout: Duration,
    /// How many requests with large schemas are parsed and checked at once, each on its
    /// own thread; small schemas have their own lane, so they never queue behind these.
    pub schema_work_threads: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            topic: "_schemas".to_string(),
            replication_factor: -1,
            timeout: Duration::from_secs(30),
            max_body_bytes: 67_108_864,
            max_schema_bytes: 990_000,
            schema_work_timeout: Duration::from_secs(20),
            schema_work_threads: work::default_threads(),
        }
    }
}

impl RegistryConfig {
    /// How many bytes the schemas one schema references may add up to: each is at most
    /// `max_schema_bytes`, and this bounds what one request can make the registry hold.
    pub fn max_referenced_bytes(&self) -> usize {
        self.max_schema_bytes.saturating_mul(16)
    }
}

/// Serves the Schema Registry on `listener` until `shutdown` completes. The `_schemas`
/// topic is read to its end before the first request is answered.
pub async fn serve(
    listener: tokio::net::TcpListener,
    kafka: Kafka,
    config: RegistryConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max_body = config.max_body_bytes;
    let store = Store::start(kafka, config)
        .await
        .map_err(|e| std::io::Error::other(format!("starting the schema registry: {e}")))?;
    kgate_http::serve(listener, app(store, max_body), shutdown).await
}

/// The registry's HTTP application over a started store, with the layers every face has.
pub fn app(store: std::sync::Arc<Store>, max_body_bytes: usize) -> axum::Router {
    kgate_http::with_common_layers(api::router(store), max_body_bytes)
}
