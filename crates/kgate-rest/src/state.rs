//! What every REST Proxy handler shares.

use std::sync::Arc;

use axum::http::{HeaderMap, Uri, header};

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

    /// Whether `topic` is one of the configured internal topics (see
    /// [`RestConfig::internal_topics`]).
    pub fn is_internal_topic(&self, topic: &str) -> bool {
        self.config
            .internal_topics
            .iter()
            .any(|t| match t.strip_suffix('*') {
                Some(prefix) => topic.starts_with(prefix),
                None => t == topic,
            })
    }

    /// Refuses (403, 40301) a write, delete, creation, growth or configuration change of
    /// an internal topic, unless `internal.topics.writable` allows them.
    pub fn check_writable(&self, topic: &str) -> Result<(), RestError> {
        if !self.config.internal_topics_writable && self.is_internal_topic(topic) {
            return Err(RestError::InternalTopic(topic.to_string()));
        }
        Ok(())
    }

    /// The scheme, host and port clients reach this proxy at, for the URLs answers hold
    /// (consumer `base_uri`s, v3 `self` links): the advertised listener when configured,
    /// else the request's Host header, which must then be a plain `host[:port]` (it is
    /// reflected into answers, so anything else is refused with 400).
    pub fn base_url(&self, headers: &HeaderMap, uri: &Uri) -> Result<String, RestError> {
        if let Some(advertised) = &self.config.advertised_base_uri {
            return Ok(advertised.trim_end_matches('/').to_string());
        }
        let host = match headers.get(header::HOST) {
            Some(value) => value
                .to_str()
                .ok()
                .filter(|h| valid_host(h))
                .ok_or_else(|| {
                    RestError::BadRequest(
                        "Invalid Host header: expected host[:port] (configure advertised.listeners or host.name to set the address clients are given)".to_string(),
                    )
                })?
                .to_string(),
            None => uri
                .authority()
                .map(|a| a.to_string())
                .filter(|h| valid_host(h))
                .unwrap_or_else(|| "localhost".to_string()),
        };
        let scheme = headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
            .filter(|p| *p == "https" || *p == "http")
            .unwrap_or("http");
        Ok(format!("{scheme}://{host}"))
    }

    /// The schema-registry formats, or, without a registry, the 415 a request in
    /// `format` gets (the format is not available on this server).
    pub fn schema_formats(&self, format: EmbeddedFormat) -> Result<&Arc<SchemaFormats>, RestError> {
        self.schema_formats
            .as_ref()
            .ok_or_else(|| RestError::from(FormatError::Unsupported(format)))
    }
}

/// Whether `text` is a plain `host[:port]`: a DNS name or IPv4 address, or an IPv6
/// address in brackets, then an optional numeric port.
pub fn valid_host(text: &str) -> bool {
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, after)) => {
                if v6.is_empty()
                    || !v6
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
                {
                    return false;
                }
                match after {
                    "" => return true,
                    _ => match after.strip_prefix(':') {
                        Some(port) => ("v6", port),
                        None => return false,
                    },
                }
            }
            None => return false,
        },
        None => match text.rsplit_once(':') {
            Some((host, port)) => (host, port),
            None => (text, ""),
        },
    };
    let host_ok = host == "v6"
        || (!host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }));
    let port_ok = match port {
        "" => !text.ends_with(':'),
        p => p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok(),
    };
    host_ok && port_ok
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

#[cfg(test)]
mod tests {
    use super::valid_host;

    #[test]
    fn hosts_are_plain_host_and_port() {
        for good in [
            "localhost",
            "localhost:8082",
            "proxy.example.com",
            "10.0.0.1:80",
            "[::1]:8082",
            "[::1]",
            "my_host:1",
        ] {
            assert!(valid_host(good), "{good}");
        }
        for bad in [
            "",
            "evil.com/path",
            "a b",
            "host:",
            "host:99999",
            "host:x",
            "user@host",
            "[::1",
            "a..b",
            "<script>",
            "h\"x",
            "[::1]x",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
    }
}
