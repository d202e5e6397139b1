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
        let schema_formats = registry_client_config(&config).and_then(|client| {
            match HttpSchemaRegistry::new(&client) {
                Ok(registry) => Some(Arc::new(SchemaFormats::new(Arc::new(registry)))),
                Err(e) => {
                    // An empty URL list or unreadable TLS files (the binary checks both
                    // at start-up); the formats then answer as off.
                    tracing::error!(error = %e, "schema registry client unusable");
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

/// Builds the Schema Registry client `config` names, if any, to refuse unusable
/// settings (an unreadable PEM file, a certificate without its key) at start-up rather
/// than serving without the schema formats.
pub fn check_registry_settings(config: &RestConfig) -> Result<(), FormatError> {
    match registry_client_config(config) {
        Some(client) => HttpSchemaRegistry::new(&client).map(|_| ()),
        None => Ok(()),
    }
}

/// The Schema Registry client settings `config` names, or `None` without a
/// `schema.registry.url`.
pub fn registry_client_config(config: &RestConfig) -> Option<RegistryClientConfig> {
    let urls = config.schema_registry_url.as_ref()?;
    Some(RegistryClientConfig {
        urls: urls.clone(),
        basic_auth_user_info: config.schema_registry_basic_auth_user_info.clone(),
        ssl_ca_location: config.schema_registry_ssl_ca_location.clone(),
        ssl_certificate_location: config.schema_registry_ssl_certificate_location.clone(),
        ssl_key_location: config.schema_registry_ssl_key_location.clone(),
        ..RegistryClientConfig::default()
    })
}
