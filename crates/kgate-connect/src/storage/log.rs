//! A compacted state topic read from its start by a background reader, with writes that
//! can wait until they have been read back (Apache's `KafkaBasedLog`): every worker
//! applies the same records in the same order, so all agree on the state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kgate_kafka::log_reader::{LogReader, LogRecord};
use kgate_kafka::{Kafka, KafkaError, ProduceRecord};
use tokio::sync::watch;

use crate::error::ConnectError;

/// How a state topic is created when missing.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    /// The topic.
    pub name: String,
    /// Its partition count.
    pub partitions: i32,
    /// Its replication factor (-1: the broker's default).
    pub replication: i32,
    /// The configuration key that named it, for error messages.
    pub key: &'static str,
}

/// A record to write: key, value (`None`: a tombstone), partition (`None`: by key).
pub type Write = (Vec<u8>, Option<Vec<u8>>, Option<i32>);

/// Applies each record read, in log order per partition.
pub type Apply = Box<dyn FnMut(&LogRecord) + Send>;

/// A state topic and its reader.
pub struct TopicLog {
    kafka: Kafka,
    topic: String,
    partitions: Vec<i32>,
    /// The reader's position (the next offset to read) per partition, once the records
    /// before it are applied. Positions, not record offsets, because transaction markers
    /// (in the offsets topic of exactly-once source tasks) take offsets too.
    applied: watch::Sender<BTreeMap<i32, i64>>,
    reader: tokio::sync::Mutex<Option<LogReader>>,
    applier: tokio::task::JoinHandle<()>,
}

impl Drop for TopicLog {
    fn drop(&mut self) {
        self.applier.abort();
    }
}

impl TopicLog {
    /// Creates the topic if needed (compacted), starts reading it from the beginning with
    /// `apply` (only committed records with `isolation_committed`), and returns once
    /// everything written before the call has been applied.
    pub async fn start(
        kafka: Kafka,
        spec: &TopicSpec,
        isolation_committed: bool,
        mut apply: Apply,
    ) -> Result<Arc<TopicLog>, ConnectError> {
        let partitions = ensure_topic(&kafka, spec).await?;
        let (reader, mut batches) = kafka.read_log(&spec.name, &partitions, isolation_committed)?;
        let (applied, _) = watch::channel(partitions.iter().map(|p| (*p, 0)).collect());
        let sender = applied.clone();
        let applier = tokio::spawn(async move {
            while let Some(batch) = batches.recv().await {
                for r in &batch.records {
                    apply(r);
                }
                sender.send_modify(|positions: &mut BTreeMap<i32, i64>| {
                    for (p, next) in &batch.positions {
                        let at = positions.entry(*p).or_insert(0);
                        *at = (*at).max(*next);
                    }
                });
            }
        });
        let log = Arc::new(TopicLog {
            kafka,
            topic: spec.name.clone(),
            partitions,
            applied,
            reader: tokio::sync::Mutex::new(Some(reader)),
            applier,
        });
        log.read_to_end(Duration::from_secs(60)).await?;
        Ok(log)
    }

    /// Stops reading (the reader's consumer is closed when this returns).
    pub async fn close(&self) {
        if let Some(reader) = self.reader.lock().await.take() {
            reader.close().await;
        }
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The next offset this worker will apply in `partition`.
    pub fn position(&self, partition: i32) -> i64 {
        self.applied.borrow().get(&partition).copied().unwrap_or(0)
    }

    /// The partition count.
    pub fn partition_count(&self) -> usize {
        self.partitions.len()
    }

    /// Waits until every record written before the call has been applied (with
    /// read_committed, every record of a transaction committed before the call).
    /// A retriable or "not found" answer to the end-offset lookup (a topic created a
    /// moment ago whose leaders are not known everywhere yet: NotLeaderForPartition on
    /// Apache Kafka) is asked again until `timeout`.
    pub async fn read_to_end(&self, timeout: Duration) -> Result<(), ConnectError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let ends = loop {
            let answer = {
                let reader = self.reader.lock().await;
                let Some(reader) = reader.as_ref() else {
                    return Err(ConnectError::Internal(format!(
                        "the reader of {} is closed",
                        self.topic
                    )));
                };
                reader.end_offsets().await
            };
            match answer {
                Ok(ends) => break ends,
                // "Not found" too: the topic exists (it was made sure of at start), so a
                // broker, or the reader's own client (librdkafka's local "Unknown
                // partition", seen on Apache Kafka in CI), has not caught up yet.
                Err(e)
                    if (e.is_partition_unknown_to_client()
                        || matches!(
                            e,
                            KafkaError::TopicNotFound(_)
                                | KafkaError::PartitionNotFound { .. }
                                | KafkaError::Retriable { .. }
                                | KafkaError::Timeout(_)
                        ))
                        && tokio::time::Instant::now() < deadline =>
                {
                    tracing::info!(topic = %self.topic, error = %e, "asking the end offsets again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.wait_for(&ends, left.max(Duration::from_secs(1))).await
    }

    /// Waits until each partition's next offset to apply is at least the one given.
    async fn wait_for(
        &self,
        ends: &BTreeMap<i32, i64>,
        timeout: Duration,
    ) -> Result<(), ConnectError> {
        let mut applied = self.applied.subscribe();
        let reached = applied.wait_for(|positions| {
            ends.iter()
                .all(|(p, end)| positions.get(p).copied().unwrap_or(0) >= *end)
        });
        match tokio::time::timeout(timeout, reached).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ConnectError::Internal(format!(
                "the reader of {} stopped",
                self.topic
            ))),
            Err(_) => Err(ConnectError::Internal(format!(
                "Timed out reading to the end of {}",
                self.topic
            ))),
        }
    }

    /// Writes records (key, value; `partition` None picks by key) and waits until they
    /// are acknowledged and, with `read_back`, applied by this worker's reader.
    pub async fn write(&self, records: Vec<Write>, read_back: bool) -> Result<(), ConnectError> {
        let records: Vec<ProduceRecord> = records
            .into_iter()
            .map(|(key, value, partition)| ProduceRecord {
                key: Some(key),
                value,
                partition,
                ..ProduceRecord::default()
            })
            .collect();
        let results = self.kafka.produce(&self.topic, records).await?;
        let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
        for r in results {
            let position = r.map_err(ConnectError::from)?;
            let end = ends.entry(position.partition).or_insert(0);
            *end = (*end).max(position.offset + 1);
        }
        if read_back {
            self.wait_for(&ends, Duration::from_secs(30)).await?;
        }
        Ok(())
    }
}

/// Creates a state topic (compacted, as Apache creates them) unless it exists, checks
/// the config topic has the single partition its ordering needs, and returns the topic's
/// partition ids.
async fn ensure_topic(kafka: &Kafka, spec: &TopicSpec) -> Result<Vec<i32>, ConnectError> {
    let mut configs = BTreeMap::new();
    configs.insert("cleanup.policy".to_string(), "compact".to_string());
    // A busy or just-started cluster may answer a retriable error (its controller
    // moving, a request timing out): asked again for up to 30 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let created = loop {
        match kafka
            .create_topic(&spec.name, spec.partitions, spec.replication, &configs)
            .await
        {
            Err(e) if e.is_retriable() && tokio::time::Instant::now() < deadline => {
                tracing::info!(topic = %spec.name, error = %e, "creating a state topic again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => break other,
        }
    };
    match created {
        Ok(()) | Err(KafkaError::TopicAlreadyExists(_)) => {}
        Err(KafkaError::InvalidRequest(message)) if message.contains("replication factor") => {
            // Most often Apache's default of 3 on a cluster of fewer brokers.
            return Err(ConnectError::Config {
                key: spec.key.replace(".topic", ".replication.factor"),
                value: spec.replication.to_string(),
                message: format!(
                    "the cluster cannot create the topic {} with it ({message}); set it to what the cluster can hold, or -1 for the broker's default",
                    spec.name
                ),
            });
        }
        Err(KafkaError::InvalidRequest(message)) => {
            return Err(ConnectError::Config {
                key: spec.key.to_string(),
                value: spec.name.clone(),
                message: format!("the cluster refused to create the topic: {message}"),
            });
        }
        Err(e) => return Err(e.into()),
    }
    // A topic just created (here, or by another worker a moment ago) may take a moment
    // to show in metadata with a leader for every partition.
    for _ in 0..100 {
        let meta = match kafka.fresh_metadata().await {
            Ok(meta) => meta,
            Err(e) if e.is_retriable() => {
                tracing::info!(topic = %spec.name, error = %e, "asking for metadata again");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        match meta.topics.get(&spec.name) {
            Some(t) if !t.partitions.is_empty() && t.partitions.iter().all(|p| p.leader >= 0) => {
                if spec.partitions == 1 && t.partitions.len() > 1 {
                    return Err(ConnectError::Config {
                        key: spec.key.to_string(),
                        value: spec.name.clone(),
                        message: format!(
                            "Topic '{}' supplied via the '{}' property is required to have a single partition in order to guarantee consistency of connector configurations, but found {} partitions.",
                            spec.name,
                            spec.key,
                            t.partitions.len()
                        ),
                    });
                }
                return Ok(t.partitions.iter().map(|p| p.id).collect());
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    Err(ConnectError::Internal(format!(
        "topic {} did not appear in metadata",
        spec.name
    )))
}
