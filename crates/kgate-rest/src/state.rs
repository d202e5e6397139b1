//! What every REST Proxy handler shares.

use std::sync::Arc;

use kgate_formats::registry::{HttpSchemaRegistry, RegistryClientConfig};
use kgate_formats::serializer::SchemaFormats;
use kgate_formats::{EmbeddedFormat, FormatError};
use kgate_kafka::Kafka;

use crate::RestError;

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
    /// The avro, protobuf and jsonschema formats, when a Schema Registry is configured.
    pub schema_formats: Option<Arc<SchemaFormats>>,
}

impl AppState {
    /// Builds the state for `kafka` and `config`.
    pub fn new(kafka: Kafka, config: RestConfig) -> Self {
        let consumers = Arc::new(ConsumerInstances::new(&config));
        let schema_formats = config.schema_registry_url.as_ref().and_then(|urls| {
            let client = RegistryClientConfig {
                urls: urls.clone(),
                basic_auth_user_info: config.schema_registry_basic_auth_user_info.clone(),
                request_timeout: None,
            };
            match HttpSchemaRegistry::new(&client) {
                Ok(registry) => Some(Arc::new(SchemaFormats::new(Arc::new(registry)))),
                Err(e) => {
                    // Only an empty URL list gets here; the formats then answer as off.
                    tracing::warn!(error = %e, "schema.registry.url unusable");
                    None
                }
            }
        });
        Self {
            kafka,
            config: Arc::new(config),
            consumers,
            schema_formats,
        }
    }

    /// The schema-registry formats, or, without a registry, the 415 a request in
    /// `format` gets (the format is not available on this server).
    pub fn schema_formats(&self, format: EmbeddedFormat) -> Result<&Arc<SchemaFormats>, RestError> {
        self.schema_formats
            .as_ref()
            .ok_or_else(|| RestError::from(FormatError::Unsupported(format)))
    }
}
