//! Cluster metadata (brokers, topics, partitions), fetched over the Kafka protocol and
//! cached briefly so hot paths like produce do not pay a round trip per request.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::consumer::BaseConsumer;
use rdkafka::metadata::Metadata;

use crate::context::TracingContext;
use crate::error::KafkaError;

/// How long a metadata snapshot answers lookups before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(1);

/// One broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMetadata {
    /// The broker's node id.
    pub id: i32,
    /// Host the broker advertises.
    pub host: String,
    /// Port the broker advertises.
    pub port: i32,
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// The partition id.
    pub id: i32,
    /// Node id of the leader, or -1 when there is none.
    pub leader: i32,
    /// Node ids of all replicas, leader included.
    pub replicas: Vec<i32>,
    /// Node ids of the in-sync replicas.
    pub isr: Vec<i32>,
}

/// One topic and its partitions (sorted by id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// The topic name.
    pub name: String,
    /// The partitions, sorted by id.
    pub partitions: Vec<PartitionMetadata>,
}

impl TopicMetadata {
    /// The partition with id `partition`, if the topic has it.
    pub fn partition(&self, partition: i32) -> Option<&PartitionMetadata> {
        self.partitions.iter().find(|p| p.id == partition)
    }
}

/// A snapshot of the cluster's brokers and topics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// Brokers, sorted by id.
    pub brokers: Vec<BrokerMetadata>,
    /// Topics by name (internal topics included).
    pub topics: BTreeMap<String, TopicMetadata>,
}

impl ClusterMetadata {
    fn from_rdkafka(md: &Metadata) -> ClusterMetadata {
        let mut brokers: Vec<BrokerMetadata> = md
            .brokers()
            .iter()
            .map(|b| BrokerMetadata {
                id: b.id(),
                host: b.host().to_string(),
                port: b.port(),
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        let topics = md
            .topics()
            .iter()
            // A topic reported with an error (e.g. being deleted) is not usable.
            .filter(|t| t.error().is_none())
            .map(|t| {
                let mut partitions: Vec<PartitionMetadata> = t
                    .partitions()
                    .iter()
                    .map(|p| PartitionMetadata {
                        id: p.id(),
                        leader: p.leader(),
                        replicas: p.replicas().to_vec(),
                        isr: p.isr().to_vec(),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.id);
                (
                    t.name().to_string(),
                    TopicMetadata {
                        name: t.name().to_string(),
                        partitions,
                    },
                )
            })
            .collect();
        ClusterMetadata { brokers, topics }
    }
}

/// Fetches metadata through a group-less consumer handle and keeps the last snapshot.
pub(crate) struct MetadataCache {
    client: Arc<BaseConsumer<TracingContext>>,
    timeout: Duration,
    last: Mutex<Option<(Instant, Arc<ClusterMetadata>)>>,
    /// Held while a fetch for [`Self::get`] is in flight, so that many requests arriving
    /// as the snapshot expires share one fetch instead of each sending its own.
    fetching: tokio::sync::Mutex<()>,
}

impl MetadataCache {
    pub(crate) fn new(client: Arc<BaseConsumer<TracingContext>>, timeout: Duration) -> Self {
        Self {
            client,
            timeout,
            last: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// Fetches a fresh snapshot of all topics (never auto-creates one) and caches it.
    pub(crate) async fn refresh(&self) -> Result<Arc<ClusterMetadata>, KafkaError> {
        let client = self.client.clone();
        let timeout = self.timeout;
        let md = tokio::task::spawn_blocking(move || {
            use rdkafka::consumer::Consumer;
            client
                .fetch_metadata(None, timeout)
                .map(|md| ClusterMetadata::from_rdkafka(&md))
        })
        .await
        .map_err(|e| KafkaError::Internal(format!("metadata task failed: {e}")))?
        .map_err(|e| KafkaError::from_rdkafka(e, "fetching metadata"))?;
        let md = Arc::new(md);
        *self.last.lock() = Some((Instant::now(), md.clone()));
        Ok(md)
    }

    /// The cached snapshot if it is recent, otherwise a fresh one.
    pub(crate) async fn get(&self) -> Result<Arc<ClusterMetadata>, KafkaError> {
        if let Some(md) = self.recent() {
            return Ok(md);
        }
        let _fetching = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(md) = self.recent() {
            return Ok(md);
        }
        self.refresh().await
    }

    fn recent(&self) -> Option<Arc<ClusterMetadata>> {
        match self.last.lock().as_ref() {
            Some((at, md)) if at.elapsed() < METADATA_TTL => Some(md.clone()),
            _ => None,
        }
    }

    /// Forgets the cached snapshot, e.g. after creating or deleting a topic.
    pub(crate) fn invalidate(&self) {
        *self.last.lock() = None;
    }

    /// The metadata of `topic`; a miss in the cache is checked again against the cluster
    /// before answering "not found", since the topic may have just been created.
    pub(crate) async fn topic(&self, topic: &str) -> Result<TopicMetadata, KafkaError> {
        // A name Kafka would refuse names no topic: answered without asking the cluster
        // (and without handing librdkafka a string it cannot take).
        if !crate::validate::is_legal_topic_name(topic) {
            return Err(KafkaError::TopicNotFound(topic.to_string()));
        }
        let md = self.get().await?;
        if let Some(t) = md.topics.get(topic) {
            return Ok(t.clone());
        }
        let md = self.refresh().await?;
        md.topics
            .get(topic)
            .cloned()
            .ok_or_else(|| KafkaError::TopicNotFound(topic.to_string()))
    }

    /// The metadata of one partition, refreshing once on a miss like [`Self::topic`].
    pub(crate) async fn partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<PartitionMetadata, KafkaError> {
        let t = self.topic(topic).await?;
        if let Some(p) = t.partition(partition) {
            return Ok(p.clone());
        }
        let md = self.refresh().await?;
        let t = md
            .topics
            .get(topic)
            .ok_or_else(|| KafkaError::TopicNotFound(topic.to_string()))?;
        t.partition(partition)
            .cloned()
            .ok_or_else(|| KafkaError::PartitionNotFound {
                topic: topic.to_string(),
                partition,
            })
    }
}
