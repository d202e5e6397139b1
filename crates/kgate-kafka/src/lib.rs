//! kgate's Kafka client layer: producers, consumers, admin and metadata over librdkafka,
//! and the few requests librdkafka lacks over the raw Kafka protocol.
//!
//! Every blocking librdkafka call runs under `spawn_blocking`, so callers may use this
//! layer freely from async handlers.

#![warn(missing_docs)]

mod admin;
pub mod consumer;
mod context;
mod error;
pub mod group_membership;
pub mod log_reader;
mod metadata;
pub mod native;
pub mod partition_reader;
mod producer;
pub mod raw;
mod record_stream;
pub mod transactions;
pub mod validate;
mod ws_clients;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rdkafka::ClientConfig;
use rdkafka::admin::AdminClient;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::Producer;

pub use admin::{ConfigValue, ConfigValueSource};
pub use context::{
    TracingContext, expect_disconnects, last_client_error, log_client_error, log_librdkafka,
};
pub use error::KafkaError;
pub use metadata::{BrokerMetadata, ClusterMetadata, PartitionMetadata, TopicMetadata};
pub use producer::{ProduceRecord, RecordPosition, RecordRef};
pub use record_stream::{Delivered, DeliveryQueue, PendingDelivery, SendError};
pub use ws_clients::OwnProducer;

/// How long a single metadata, offsets or admin request may take before it fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Low and high watermarks of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// The first offset still in the log.
    pub beginning: i64,
    /// The offset the next record will get (the high watermark).
    pub end: i64,
}

/// A cheaply cloneable handle on one Kafka cluster: shared producers, admin and metadata.
#[derive(Clone)]
pub struct Kafka {
    inner: Arc<Inner>,
}

struct Inner {
    config: KafkaConfig,
    /// The default producer (no linger): single records and the records of one request
    /// that waits for all of them.
    producer: Arc<record_stream::StreamProducer>,
    admin: AdminClient<TracingContext>,
    /// A group-less consumer handle: metadata, watermarks and offset lookups need no group.
    lookup: Arc<BaseConsumer<TracingContext>>,
    metadata: metadata::MetadataCache,
    /// Spreads keyless records across partitions in turn.
    round_robin: AtomicUsize,
    /// The settings of the producer streamed records go through (see
    /// [`Kafka::delivery_queue`]).
    streaming_overrides: BTreeMap<String, String>,
    /// The cluster id and when it was looked up (see [`Kafka::cluster_id`]).
    cluster_id: Mutex<Option<(String, std::time::Instant)>>,
    /// That producer, created with the first queue (the default producer when a linger
    /// is configured).
    stream_producer: Mutex<Option<Arc<record_stream::StreamProducer>>>,
}

impl Kafka {
    /// Creates the shared clients for `config`.
    ///
    /// librdkafka connects lazily, so this fails only on an invalid configuration, not on
    /// an unreachable cluster.
    pub async fn connect(config: KafkaConfig) -> Result<Kafka, KafkaError> {
        let admin: AdminClient<TracingContext> = admin_client_config(&config)
            .create_with_context(TracingContext)
            .map_err(|e| KafkaError::from_rdkafka(e, "creating admin client"))?;
        let lookup: BaseConsumer<TracingContext> = lookup_client_config(&config)
            .create_with_context(TracingContext)
            .map_err(|e| KafkaError::from_rdkafka(e, "creating metadata client"))?;
        let lookup = Arc::new(lookup);
        let producer = Arc::new(record_stream::create_producer(&config, &BTreeMap::new())?);
        Ok(Kafka {
            inner: Arc::new(Inner {
                metadata: metadata::MetadataCache::new(lookup.clone(), REQUEST_TIMEOUT),
                streaming_overrides: record_stream::streaming_overrides(&config),
                config,
                producer,
                stream_producer: Mutex::new(None),
                cluster_id: Mutex::new(None),
                admin,
                lookup,
                round_robin: AtomicUsize::new(0),
            }),
        })
    }

    /// The configuration this handle was made from.
    pub fn config(&self) -> &KafkaConfig {
        &self.inner.config
    }

    /// librdkafka settings for a new consumer: `bootstrap.servers`, then `client.*`, then
    /// `consumer.*`, then `overrides` (later layers win).
    pub fn consumer_config(&self, overrides: &BTreeMap<String, String>) -> ClientConfig {
        let c = &self.inner.config;
        layered(&c.bootstrap_servers, &[&c.client, &c.consumer, overrides])
    }

    /// librdkafka settings for a new producer, with kgate's defaults (acks=all,
    /// idempotence, Java-compatible key hashing, no linger) under the configured layers.
    pub fn producer_config(&self, overrides: &BTreeMap<String, String>) -> ClientConfig {
        producer_client_config(&self.inner.config, overrides)
    }

    /// librdkafka settings for a new admin client.
    pub fn admin_config(&self) -> ClientConfig {
        admin_client_config(&self.inner.config)
    }

    /// The shared admin client, for operation modules built on top of this layer.
    pub fn admin(&self) -> &AdminClient<TracingContext> {
        &self.inner.admin
    }

    /// A metadata snapshot, at most about a second old.
    pub async fn metadata(&self) -> Result<Arc<ClusterMetadata>, KafkaError> {
        self.inner.metadata.get().await
    }

    /// A metadata snapshot fetched now.
    pub async fn fresh_metadata(&self) -> Result<Arc<ClusterMetadata>, KafkaError> {
        self.inner.metadata.refresh().await
    }

    /// The metadata of `topic`, or [`KafkaError::TopicNotFound`].
    pub async fn topic(&self, topic: &str) -> Result<TopicMetadata, KafkaError> {
        self.inner.metadata.topic(topic).await
    }

    /// The metadata of one partition, or [`KafkaError::TopicNotFound`] /
    /// [`KafkaError::PartitionNotFound`].
    pub async fn partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<PartitionMetadata, KafkaError> {
        self.inner.metadata.partition(topic, partition).await
    }

    /// Produces `records` to `topic` with the default producer; one result per record, in
    /// order. Fails as a whole only when the topic does not exist or metadata cannot be read.
    pub async fn produce(
        &self,
        topic: &str,
        mut records: Vec<ProduceRecord>,
    ) -> Result<Vec<Result<RecordPosition, KafkaError>>, KafkaError> {
        let meta = self.topic(topic).await?;
        let count = meta.partitions.len();
        // Records naming a partition the topic lacks fail alone, without being sent.
        let mut results: Vec<Option<Result<RecordPosition, KafkaError>>> =
            Vec::with_capacity(records.len());
        for r in records.iter_mut() {
            match r.partition {
                Some(p) if meta.partition(p).is_none() => {
                    results.push(Some(Err(KafkaError::PartitionNotFound {
                        topic: topic.to_string(),
                        partition: p,
                    })));
                    continue;
                }
                // Keyless records go to each partition in turn, as Confluent's proxy does,
                // rather than librdkafka's sticky choice that fills one partition per batch.
                None if r.key.is_none() && count > 0 => {
                    let n = self.inner.round_robin.fetch_add(1, Ordering::Relaxed);
                    r.partition = Some(meta.partitions[n % count].id);
                }
                _ => {}
            }
            results.push(None);
        }
        let to_send: Vec<ProduceRecord> = records
            .into_iter()
            .zip(&results)
            .filter(|(_, failed)| failed.is_none())
            .map(|(r, _)| r)
            .collect();
        // Every partition was checked against current metadata above, so "unknown
        // partition" from the producer means its own view is older (the topic just grew):
        // the queue brings it up to date and sends such a record once more.
        let mut queue = self.default_queue();
        let mut taken = Vec::with_capacity(to_send.len());
        for r in &to_send {
            taken.push(queue.send_waiting(topic, r.as_ref()).await);
        }
        let mut sent = queue
            .outcomes(taken)
            .await
            .into_iter()
            .map(|r| r.map(|((), position)| position));
        let results: Vec<Result<RecordPosition, KafkaError>> = results
            .into_iter()
            .map(|failed| {
                failed.unwrap_or_else(|| {
                    sent.next().unwrap_or_else(|| {
                        Err(KafkaError::Internal("missing delivery report".to_string()))
                    })
                })
            })
            .collect();
        // The cluster disagreed with the cached metadata: look again next time.
        if results.iter().any(|r| {
            matches!(
                r,
                Err(KafkaError::TopicNotFound(_) | KafkaError::PartitionNotFound { .. })
            )
        }) {
            self.inner.metadata.invalidate();
        }
        Ok(results)
    }

    /// Classifies a failed offsets lookup and forgets cached metadata, since leadership
    /// or the topic itself may have changed.
    fn lookup_failed(&self, e: rdkafka::error::KafkaError, topic: &str) -> KafkaError {
        self.inner.metadata.invalidate();
        KafkaError::from_rdkafka(e, topic)
    }

    /// Low and high watermarks of one partition.
    pub async fn partition_offsets(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<PartitionOffsets, KafkaError> {
        self.partition(topic, partition).await?;
        let client = self.inner.lookup.clone();
        let topic_owned = topic.to_string();
        let (low, high) = tokio::task::spawn_blocking(move || {
            client.fetch_watermarks(&topic_owned, partition, REQUEST_TIMEOUT)
        })
        .await
        .map_err(|e| KafkaError::Internal(format!("offsets task failed: {e}")))?
        .map_err(|e| self.lookup_failed(e, topic))?;
        Ok(PartitionOffsets {
            beginning: low,
            end: high,
        })
    }

    /// The earliest offset of `partition` whose timestamp is at or after `timestamp_ms`,
    /// or `None` when no record is that recent.
    pub async fn offset_for_time(
        &self,
        topic: &str,
        partition: i32,
        timestamp_ms: i64,
    ) -> Result<Option<i64>, KafkaError> {
        self.partition(topic, partition).await?;
        let client = self.inner.lookup.clone();
        let topic_owned = topic.to_string();
        let tpl = tokio::task::spawn_blocking(move || {
            let mut tpl = rdkafka::TopicPartitionList::new();
            tpl.add_partition_offset(
                &topic_owned,
                partition,
                rdkafka::Offset::Offset(timestamp_ms),
            )?;
            client.offsets_for_times(tpl, REQUEST_TIMEOUT)
        })
        .await
        .map_err(|e| KafkaError::Internal(format!("offsets task failed: {e}")))?
        .map_err(|e| self.lookup_failed(e, topic))?;
        let found = tpl
            .elements()
            .first()
            .map(|e| (e.offset(), e.error()))
            .ok_or_else(|| KafkaError::Internal("empty offsets answer".to_string()))?;
        match found {
            (_, Err(e)) => Err(self.lookup_failed(e, topic)),
            (rdkafka::Offset::Offset(o), Ok(())) if o >= 0 => Ok(Some(o)),
            _ => Ok(None),
        }
    }

    /// Creates a topic; `replication_factor` -1 uses the broker's default.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), KafkaError> {
        validate::check_topic_name(name)?;
        let r = admin::create_topic(
            &self.inner.admin,
            REQUEST_TIMEOUT,
            name,
            partitions,
            replication_factor,
            configs,
        )
        .await;
        self.inner.metadata.invalidate();
        r
    }

    /// Deletes a topic.
    pub async fn delete_topic(&self, name: &str) -> Result<(), KafkaError> {
        let r = admin::delete_topic(&self.inner.admin, REQUEST_TIMEOUT, name).await;
        self.inner.metadata.invalidate();
        r
    }

    /// Grows a topic to `new_total` partitions.
    pub async fn create_partitions(&self, name: &str, new_total: usize) -> Result<(), KafkaError> {
        let r = admin::create_partitions(&self.inner.admin, REQUEST_TIMEOUT, name, new_total).await;
        self.inner.metadata.invalidate();
        r
    }

    /// Every configuration entry of a topic, defaults included.
    pub async fn topic_configs(&self, name: &str) -> Result<Vec<ConfigValue>, KafkaError> {
        // DescribeConfigs on a missing topic answers differently across brokers; asking
        // metadata first gives one clear "not found".
        self.topic(name).await?;
        admin::topic_configs(&self.inner.admin, REQUEST_TIMEOUT, name).await
    }

    /// The per-topic overrides of a topic (what `GET /topics/{t}` shows as `configs`).
    pub async fn topic_overrides(
        &self,
        name: &str,
    ) -> Result<BTreeMap<String, String>, KafkaError> {
        Ok(self
            .topic_configs(name)
            .await?
            .into_iter()
            // Old brokers report no source; a non-default value is then an override.
            .filter(|c| match c.source {
                ConfigValueSource::DynamicTopic => true,
                ConfigValueSource::Unknown => !c.is_default,
                _ => false,
            })
            .filter_map(|c| c.value.map(|v| (c.name, v)))
            .collect())
    }

    /// Flushes producers and closes clients; called once at shutdown.
    pub async fn close(&self) {
        let producers: Vec<_> = std::iter::once(self.inner.producer.clone())
            .chain(self.inner.stream_producer.lock().clone())
            .collect();
        let flushed = tokio::task::spawn_blocking(move || {
            for flushed in producers.iter().map(|p| p.flush(REQUEST_TIMEOUT)) {
                if let Err(e) = flushed {
                    tracing::warn!(error = %e, "producer flush at shutdown failed");
                }
            }
        })
        .await;
        if let Err(e) = flushed {
            tracing::warn!(error = %e, "producer flush task failed");
        }
    }
}

/// Builds a librdkafka configuration from `bootstrap.servers` and settings layers.
fn layered(bootstrap: &str, layers: &[&BTreeMap<String, String>]) -> ClientConfig {
    let mut cc = ClientConfig::new();
    // Warnings (brokers unreachable, ...) are worth a line in kgate's log; rdkafka would
    // otherwise pick the level from the `log` crate, which kgate does not use.
    cc.set_log_level(rdkafka::config::RDKafkaLogLevel::Warning);
    cc.set("bootstrap.servers", bootstrap);
    for layer in layers {
        for (k, v) in layer.iter() {
            cc.set(k, v);
        }
    }
    cc
}

fn producer_client_config(
    config: &KafkaConfig,
    overrides: &BTreeMap<String, String>,
) -> ClientConfig {
    let defaults: BTreeMap<String, String> = [
        ("acks", "all"),
        ("enable.idempotence", "true"),
        // The Java client's hash, so keyed records land where Java producers put them.
        ("partitioner", "murmur2_random"),
        // Each HTTP request already is a batch and waits for its delivery reports, so
        // lingering only adds latency (measured: 5 ms per single-record request, and lower
        // throughput for both large and concurrent small requests).
        ("linger.ms", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    layered(
        &config.bootstrap_servers,
        &[&defaults, &config.client, &config.producer, overrides],
    )
}

fn admin_client_config(config: &KafkaConfig) -> ClientConfig {
    layered(&config.bootstrap_servers, &[&config.client, &config.admin])
}

fn lookup_client_config(config: &KafkaConfig) -> ClientConfig {
    let mut cc = layered(&config.bootstrap_servers, &[&config.client]);
    // Never let a lookup create a topic as a side effect.
    cc.set("allow.auto.create.topics", "false");
    cc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_override_in_order() {
        let config = KafkaConfig {
            bootstrap_servers: "h:1".into(),
            client: [("client.id".to_string(), "a".to_string())].into(),
            producer: [("acks".to_string(), "1".to_string())].into(),
            ..Default::default()
        };
        let cc = producer_client_config(&config, &BTreeMap::new());
        assert_eq!(cc.get("acks"), Some("1"));
        assert_eq!(cc.get("enable.idempotence"), Some("true"));
        assert_eq!(cc.get("partitioner"), Some("murmur2_random"));
        assert_eq!(cc.get("linger.ms"), Some("0"));
        assert_eq!(cc.get("client.id"), Some("a"));
        assert_eq!(cc.get("bootstrap.servers"), Some("h:1"));
    }

    #[tokio::test]
    async fn a_bad_client_setting_is_a_config_error_naming_the_key() {
        let config = KafkaConfig {
            bootstrap_servers: "127.0.0.1:1".into(),
            producer: [("no.such.setting".to_string(), "1".to_string())].into(),
            ..Default::default()
        };
        match Kafka::connect(config).await {
            Err(KafkaError::Config(message)) => assert!(message.contains("no.such.setting")),
            Err(other) => panic!("unexpected error {other:?}"),
            Ok(_) => panic!("a bad setting was accepted"),
        }
    }
}
