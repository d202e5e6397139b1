//! What every REST Proxy handler shares.

use std::sync::Arc;

use kgate_formats::registry::{HttpSchemaRegistry, RegistryClientConfig};
use kgate_formats::serializer::SchemaFormats;
use kgate_formats::{EmbeddedFormat, FormatError};
use kgate_kafka::Kafka;
use kgate_kafka::partition_reader::PartitionReaders;

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
    /// The readers serving v1's per-partition reads.
    pub partition_readers: Arc<PartitionReaders>,
}

impl AppState {
    /// Builds the state for `kafka` and `config`; fails on Schema Registry client
    /// settings that cannot work (an empty URL list, an unreadable PEM file, a certificate
    /// without its key), so they are refused at start-up rather than served without the
    /// schema formats.
    pub fn new(kafka: Kafka, config: RestConfig) -> Result<Self, FormatError> {
        let consumers = Arc::new(ConsumerInstances::new(&config));
        let schema_formats = match registry_client_config(&config) {
            Some(client) => {
                let registry = HttpSchemaRegistry::new(&client)?;
                Some(Arc::new(SchemaFormats::new(Arc::new(registry))))
            }
            None => None,
        };
        let partition_readers = Arc::new(PartitionReaders::new(
            kafka.clone(),
            config.simpleconsumer_pool_size_max,
            config.simpleconsumer_pool_timeout,
        ));
        Ok(Self {
            kafka,
            partition_readers,
            config: Arc::new(config),
            consumers,
            schema_formats,
        })
    }

    /// The schema-registry formats, or, without a registry, the 415 a request in
    /// `format` gets (the format is not available on this server).
    pub fn schema_formats(&self, format: EmbeddedFormat) -> Result<&Arc<SchemaFormats>, RestError> {
        self.schema_formats
            .as_ref()
            .ok_or_else(|| RestError::from(FormatError::Unsupported(format)))
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
