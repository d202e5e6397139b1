//! State shared by every kgate instance on a cluster, kept in a compacted one-partition
//! topic: each instance reads the topic from the start into memory, and a write is
//! produced and then waited for in the log, so after a write the instance's view
//! includes it (and everything written before it by the others).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use kgate_kafka::consumer::{ConsumerSettings, ReadLimits, TopicPartition};
use kgate_kafka::{Kafka, KafkaError, ProduceRecord};
use parking_lot::RwLock;
use tokio::sync::watch;

use crate::error::WsError;

/// How long a write may take to be read back before it fails.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause between attempts to set the topic up while Kafka cannot be reached.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// What a state topic's records are applied to.
pub trait TopicState: Default + Send + Sync + 'static {
    /// Applies one record: `None` is a tombstone (the key is removed).
    fn apply(&mut self, key: &str, value: Option<&[u8]>);
}

/// A compacted topic read into `S`.
pub struct StateTopic<S> {
    kafka: Kafka,
    topic: String,
    state: RwLock<S>,
    /// The offset after the last record applied.
    applied: watch::Sender<i64>,
    /// Whether the topic has been read up to where it ended when the reader started.
    ready: watch::Sender<bool>,
}

impl<S: TopicState> StateTopic<S> {
    /// Starts setting up `topic` (created compacted with one partition when missing) and
    /// reading it, in the background and retrying while Kafka cannot be reached; use
    /// [`StateTopic::ready`] before relying on the state.
    pub fn spawn(kafka: Kafka, topic: String, replication_factor: i32) -> Arc<StateTopic<S>> {
        let (applied, _) = watch::channel(0);
        let (ready, _) = watch::channel(false);
        let this = Arc::new(StateTopic {
            kafka,
            topic,
            state: RwLock::new(S::default()),
            applied,
            ready,
        });
        let weak = Arc::downgrade(&this);
        tokio::spawn(async move {
            run_reader(weak, replication_factor).await;
        });
        this
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Waits (at most `within`) until the topic has been read to its end once.
    pub async fn ready(&self, within: Duration) -> Result<(), WsError> {
        let mut ready = self.ready.subscribe();
        match tokio::time::timeout(within, ready.wait_for(|r| *r)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(WsError::Unavailable(format!(
                "The proxy's state in Kafka ({}) cannot be read yet; is Kafka reachable?",
                self.topic
            ))),
        }
    }

    /// Whether the topic has been read to its end once.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        f(&self.state.read())
    }

    /// Produces `value` under `key` (`None`: a tombstone) and waits until it has been
    /// applied.
    pub async fn write(&self, key: &str, value: Option<Vec<u8>>) -> Result<(), WsError> {
        self.write_all(vec![(key.to_string(), value)]).await
    }

    /// Produces records in order and waits until all have been applied.
    pub async fn write_all(&self, records: Vec<(String, Option<Vec<u8>>)>) -> Result<(), WsError> {
        if records.is_empty() {
            return Ok(());
        }
        let records = records
            .into_iter()
            .map(|(key, value)| ProduceRecord {
                key: Some(key.into_bytes()),
                value,
                partition: Some(0),
                ..ProduceRecord::default()
            })
            .collect();
        let results = self.kafka.produce(&self.topic, records).await?;
        let mut last = -1;
        for r in results {
            last = last.max(r?.offset);
        }
        let mut applied = self.applied.subscribe();
        match tokio::time::timeout(WRITE_TIMEOUT, applied.wait_for(|next| *next > last)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(WsError::Internal(format!(
                "the reader of {} stopped",
                self.topic
            ))),
            Err(_) => Err(WsError::Unavailable(format!(
                "a write to {} was not read back in time",
                self.topic
            ))),
        }
    }
}

/// Sets the topic up and applies its records until the [`StateTopic`] is dropped.
async fn run_reader<S: TopicState>(weak: Weak<StateTopic<S>>, replication_factor: i32) {
    let mut warned = false;
    loop {
        let Some(this) = weak.upgrade() else { return };
        match open(&this, replication_factor).await {
            Ok((consumer, end)) => {
                drop(this);
                read_loop(weak, consumer, end).await;
                return;
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(topic = %this.topic, error = %e, "cannot set up the WebSocket proxy's state topic yet; retrying");
                    warned = true;
                }
            }
        }
        drop(this);
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// Creates the topic if needed and a consumer reading it from the start; returns the
/// consumer and the offset the topic ended at.
async fn open<S: TopicState>(
    this: &StateTopic<S>,
    replication_factor: i32,
) -> Result<(kgate_kafka::consumer::ConsumerHandle, i64), KafkaError> {
    let configs = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
    match this
        .kafka
        .create_topic(&this.topic, 1, replication_factor, &configs)
        .await
    {
        Ok(()) | Err(KafkaError::TopicAlreadyExists(_)) => {}
        Err(e) => return Err(e),
    }
    // The topic may take a moment to show in metadata after it was created.
    let mut end = None;
    for _ in 0..50 {
        match this.kafka.partition_offsets(&this.topic, 0).await {
            Ok(o) => {
                end = Some(o.end);
                break;
            }
            Err(KafkaError::TopicNotFound(_) | KafkaError::PartitionNotFound { .. }) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
    let end = end.ok_or_else(|| KafkaError::TopicNotFound(this.topic.clone()))?;
    let overrides = BTreeMap::from([
        ("enable.auto.commit".to_string(), "false".to_string()),
        ("auto.offset.reset".to_string(), "earliest".to_string()),
    ]);
    let consumer = this
        .kafka
        .create_consumer(ConsumerSettings {
            group_id: format!("kgate-ws-state-{}", uuid::Uuid::new_v4()),
            client_id: "kgate-ws-state".to_string(),
            overrides,
        })
        .await?;
    consumer
        .assign(vec![TopicPartition {
            topic: this.topic.clone(),
            partition: 0,
        }])
        .await?;
    Ok((consumer, end))
}

async fn read_loop<S: TopicState>(
    weak: Weak<StateTopic<S>>,
    consumer: kgate_kafka::consumer::ConsumerHandle,
    end: i64,
) {
    if let Some(this) = weak.upgrade()
        && end <= 0
    {
        this.ready.send_replace(true);
    }
    loop {
        let limits = ReadLimits {
            timeout: Duration::from_millis(200),
            max_bytes: 4 * 1024 * 1024,
            min_bytes: 1,
        };
        let records = consumer.read(limits).await;
        let Some(this) = weak.upgrade() else {
            let _ = consumer.close().await;
            return;
        };
        match records {
            Ok(records) => {
                let Some(last) = records.last().map(|r| r.offset) else {
                    continue;
                };
                {
                    let mut state = this.state.write();
                    for r in &records {
                        let Some(key) = r.key.as_deref() else {
                            continue;
                        };
                        let key = String::from_utf8_lossy(key);
                        state.apply(&key, r.value.as_deref());
                    }
                }
                this.applied.send_replace(last + 1);
                if last + 1 >= end {
                    this.ready.send_if_modified(|r| !std::mem::replace(r, true));
                }
            }
            Err(e) => {
                tracing::warn!(topic = %this.topic, error = %e, "reading the WebSocket proxy's state topic failed; retrying");
                drop(this);
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}
