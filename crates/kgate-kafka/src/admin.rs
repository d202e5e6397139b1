//! Admin operations librdkafka's Rust wrapper offers: topics and their configurations.
//!
//! Operations the wrapper lacks get their own module next to this one (through
//! `rdkafka-sys` or raw `kafka-protocol` requests), one module per operation family.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::context::TracingContext;
use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};

use crate::error::KafkaError;

/// Where a configuration value comes from, in Kafka's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigValueSource {
    /// Set on this topic (a per-topic override).
    DynamicTopic,
    /// Set dynamically on this broker.
    DynamicBroker,
    /// Set dynamically as the default for all brokers.
    DynamicDefaultBroker,
    /// Set in the broker's configuration file.
    StaticBroker,
    /// Kafka's built-in default.
    Default,
    /// The broker did not say.
    Unknown,
}

/// One configuration entry of a topic or broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigValue {
    /// The key, e.g. `cleanup.policy`.
    pub name: String,
    /// The value; `None` for sensitive or unset values.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigValueSource,
    /// Whether the value is the default.
    pub is_default: bool,
    /// Whether the value cannot be changed.
    pub is_read_only: bool,
    /// Whether the value is sensitive (passwords...).
    pub is_sensitive: bool,
}

pub(crate) fn options(timeout: Duration) -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout))
}

pub(crate) async fn create_topic(
    admin: &AdminClient<TracingContext>,
    timeout: Duration,
    name: &str,
    partitions: i32,
    replication_factor: i32,
    configs: &BTreeMap<String, String>,
) -> Result<(), KafkaError> {
    let mut topic = NewTopic::new(
        name,
        partitions,
        TopicReplication::Fixed(replication_factor),
    );
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = admin
        .create_topics([&topic], &options(timeout))
        .await
        .map_err(|e| KafkaError::from_rdkafka(e, name))?;
    for r in results {
        if let Err((topic, code)) = r {
            return Err(KafkaError::from_code(code, &topic));
        }
    }
    Ok(())
}

pub(crate) async fn delete_topic(
    admin: &AdminClient<TracingContext>,
    timeout: Duration,
    name: &str,
) -> Result<(), KafkaError> {
    let results = admin
        .delete_topics(&[name], &options(timeout))
        .await
        .map_err(|e| KafkaError::from_rdkafka(e, name))?;
    for r in results {
        if let Err((topic, code)) = r {
            return Err(KafkaError::from_code(code, &topic));
        }
    }
    Ok(())
}

pub(crate) async fn create_partitions(
    admin: &AdminClient<TracingContext>,
    timeout: Duration,
    name: &str,
    new_total: usize,
) -> Result<(), KafkaError> {
    let np = NewPartitions::new(name, new_total);
    let results = admin
        .create_partitions([&np], &options(timeout))
        .await
        .map_err(|e| KafkaError::from_rdkafka(e, name))?;
    for r in results {
        if let Err((topic, code)) = r {
            return Err(KafkaError::from_code(code, &topic));
        }
    }
    Ok(())
}

pub(crate) async fn topic_configs(
    admin: &AdminClient<TracingContext>,
    timeout: Duration,
    name: &str,
) -> Result<Vec<ConfigValue>, KafkaError> {
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(name)], &options(timeout))
        .await
        .map_err(|e| KafkaError::from_rdkafka(e, name))?;
    let mut out = Vec::new();
    for r in results {
        let resource = r.map_err(|code| KafkaError::from_code(code, name))?;
        out.extend(resource.entries.into_iter().map(|e| ConfigValue {
            name: e.name,
            value: e.value,
            source: match e.source {
                ConfigSource::DynamicTopic => ConfigValueSource::DynamicTopic,
                ConfigSource::DynamicBroker => ConfigValueSource::DynamicBroker,
                ConfigSource::DynamicDefaultBroker => ConfigValueSource::DynamicDefaultBroker,
                ConfigSource::StaticBroker => ConfigValueSource::StaticBroker,
                ConfigSource::Default => ConfigValueSource::Default,
                ConfigSource::Unknown => ConfigValueSource::Unknown,
            },
            is_default: e.is_default,
            is_read_only: e.is_read_only,
            is_sensitive: e.is_sensitive,
        }));
    }
    Ok(out)
}
