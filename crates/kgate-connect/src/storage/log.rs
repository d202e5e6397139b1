//! A compacted state topic read from its start by a background reader, with writes that
//! can wait until they have been read back (Apache's `KafkaBasedLog`): every worker
//! applies the same records in the same order, so all agree on the state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kgate_kafka::log_reader::{AppliedLog, LogPositions, LogRecord, LogSettings};
use kgate_kafka::{Kafka, KafkaError, ProduceRecord};

use crate::error::ConnectError;

/// How long a state topic may take to be created and to show its leaders at start
/// (refusals that pass, like the embedded broker's while descriptors are short, are
/// asked again until then).
const CREATE_WITHIN: Duration = Duration::from_secs(30);

/// How long the first read to the end may take at start.
const FIRST_READ_WITHIN: Duration = Duration::from_secs(60);

/// How long a write may take to be read back.
const READ_BACK_WITHIN: Duration = Duration::from_secs(30);

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
    partitions: Vec<i32>,
    /// The reader and the positions (the next offset to read per partition) up to which
    /// records are applied. Positions, not record offsets, because transaction markers
    /// (in the offsets topic of exactly-once source tasks) take offsets too.
    log: AppliedLog,
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
        let settings = LogSettings {
            read_committed: isolation_committed,
            ..LogSettings::default()
        };
        let log = kafka.apply_log(
            &spec.name,
            &partitions,
            &settings,
            LogPositions::new(),
            move |records| records.iter().for_each(&mut apply),
        )?;
        let log = Arc::new(TopicLog {
            kafka,
            partitions,
            log,
        });
        log.read_to_end(FIRST_READ_WITHIN).await?;
        Ok(log)
    }

    /// Stops reading (the reader's consumer is closed when this returns).
    pub async fn close(&self) {
        self.log.close().await;
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        self.log.topic()
    }

    /// The next offset this worker will apply in `partition`.
    pub fn position(&self, partition: i32) -> i64 {
        self.log.positions().position(partition)
    }

    /// The partition count.
    pub fn partition_count(&self) -> usize {
        self.partitions.len()
    }

    /// Waits until every record written before the call has been applied (with
    /// read_committed, every record of a transaction committed before the call). End
    /// offsets of a topic the cluster does not know everywhere yet are asked again
    /// until `timeout` (see [`AppliedLog::read_to_end`]).
    pub async fn read_to_end(&self, timeout: Duration) -> Result<(), ConnectError> {
        Ok(self.log.read_to_end(timeout).await?)
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
        let results = self.kafka.produce(self.topic(), records).await?;
        let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
        for r in results {
            let position = r.map_err(ConnectError::from)?;
            let end = ends.entry(position.partition).or_insert(0);
            *end = (*end).max(position.offset + 1);
        }
        if read_back {
            match self.log.positions().wait_for(&ends, READ_BACK_WITHIN).await {
                Ok(()) => {}
                Err(KafkaError::Timeout(_)) => {
                    return Err(ConnectError::Internal(format!(
                        "Timed out reading to the end of {}",
                        self.topic()
                    )));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// Creates a state topic (compacted, as Apache creates them) unless it exists, checks
/// the config topic has the single partition its ordering needs, and returns the topic's
/// partition ids. A refusal that passes (a retriable error, or the embedded broker's
/// POLICY_VIOLATION while the process has too few file descriptors to spare) is asked
/// again for up to [`CREATE_WITHIN`] rather than failing the worker's start, which would
/// stop kgate.
async fn ensure_topic(kafka: &Kafka, spec: &TopicSpec) -> Result<Vec<i32>, ConnectError> {
    let partitions = kafka
        .ensure_log_topic(&spec.name, spec.partitions, spec.replication, CREATE_WITHIN)
        .await
        .map_err(|e| creation_refused(spec, e))?;
    if spec.partitions == 1 && partitions.len() > 1 {
        return Err(ConnectError::Config {
            key: spec.key.to_string(),
            value: spec.name.clone(),
            message: format!(
                "Topic '{}' supplied via the '{}' property is required to have a single partition in order to guarantee consistency of connector configurations, but found {} partitions.",
                spec.name,
                spec.key,
                partitions.len()
            ),
        });
    }
    Ok(partitions)
}

/// A creation the cluster refused, named by the setting the user can change.
fn creation_refused(spec: &TopicSpec, e: KafkaError) -> ConnectError {
    match e {
        KafkaError::InvalidRequest(message) if message.contains("replication factor") => {
            // Most often Apache's default of 3 on a cluster of fewer brokers.
            ConnectError::Config {
                key: spec.key.replace(".topic", ".replication.factor"),
                value: spec.replication.to_string(),
                message: format!(
                    "the cluster cannot create the topic {} with it ({message}); set it to what the cluster can hold, or -1 for the broker's default",
                    spec.name
                ),
            }
        }
        KafkaError::InvalidRequest(message) => ConnectError::Config {
            key: spec.key.to_string(),
            value: spec.name.clone(),
            message: format!("the cluster refused to create the topic: {message}"),
        },
        e => e.into(),
    }
}
