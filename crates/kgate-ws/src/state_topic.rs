//! State shared by every kgate instance on a cluster, kept in a compacted one-partition
//! topic: each instance reads the topic from the start into memory, and a write is
//! produced and then waited for in the log, so after a write the instance's view
//! includes it (and everything written before it by the others).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use kgate_kafka::log_reader::{AppliedLog, LogPositions, LogRecord, LogSettings};
use kgate_kafka::{Kafka, KafkaError, ProduceRecord};
use parking_lot::RwLock;
use tokio::sync::watch;

use crate::error::WsError;

/// How long a write may take to be read back before it fails.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause between attempts to set the topic up while Kafka cannot be reached.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// How long one attempt to set the topic up, or to read it to its end, may take before
/// it is started again.
const ATTEMPT_WITHIN: Duration = Duration::from_secs(10);

/// What a state topic's records are applied to.
pub trait TopicState: Default + Send + Sync + 'static {
    /// Applies one record: `None` is a tombstone (the key is removed).
    fn apply(&mut self, key: &str, value: Option<&[u8]>);
}

/// A compacted topic read into `S`.
pub struct StateTopic<S> {
    kafka: Kafka,
    topic: String,
    state: Arc<RwLock<S>>,
    /// The offset after the last record applied (the reader's position).
    applied: LogPositions,
    /// The reader, once the topic is set up; it stops when the topic is dropped.
    log: OnceLock<AppliedLog>,
    /// Whether the topic has been read up to where it ended when the reader started.
    ready: watch::Sender<bool>,
}

impl<S: TopicState> StateTopic<S> {
    /// Starts setting up `topic` (created compacted with one partition when missing) and
    /// reading it, in the background and retrying while Kafka cannot be reached; use
    /// [`StateTopic::ready`] before relying on the state.
    pub fn spawn(kafka: Kafka, topic: String, replication_factor: i32) -> Arc<StateTopic<S>> {
        let (ready, _) = watch::channel(false);
        let this = Arc::new(StateTopic {
            kafka,
            topic,
            state: Arc::new(RwLock::new(S::default())),
            applied: LogPositions::new(),
            log: OnceLock::new(),
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
        let written = BTreeMap::from([(0, last + 1)]);
        match self.applied.wait_for(&written, WRITE_TIMEOUT).await {
            Ok(()) => Ok(()),
            Err(KafkaError::Timeout(_)) => Err(WsError::Unavailable(format!(
                "a write to {} was not read back in time",
                self.topic
            ))),
            Err(e) => Err(WsError::Internal(format!(
                "the reader of {} stopped: {e}",
                self.topic
            ))),
        }
    }

    /// Creates the topic if needed and starts the reader applying it to the state.
    async fn set_up(&self, replication_factor: i32) -> Result<(), KafkaError> {
        self.kafka
            .ensure_log_topic(&self.topic, 1, replication_factor, ATTEMPT_WITHIN)
            .await?;
        let settings = LogSettings {
            // librdkafka's default, which the proxy's state readers have always used.
            read_committed: true,
            client_id: "kgate-ws-state".to_string(),
        };
        let state = self.state.clone();
        let log = self.kafka.apply_log(
            &self.topic,
            &[0],
            &settings,
            self.applied.clone(),
            move |records: &[LogRecord]| {
                let mut state = state.write();
                for r in records {
                    let Some(key) = r.key.as_deref() else {
                        continue;
                    };
                    state.apply(&String::from_utf8_lossy(key), r.value.as_deref());
                }
            },
        )?;
        // Set up by this task alone, so the cell is empty here.
        let _ = self.log.set(log);
        Ok(())
    }
}

/// Sets the topic up and reads it to its end once, retrying while Kafka cannot be
/// reached; the reader then applies the topic until the [`StateTopic`] is dropped.
async fn run_reader<S: TopicState>(weak: Weak<StateTopic<S>>, replication_factor: i32) {
    let mut warned = false;
    loop {
        let Some(this) = weak.upgrade() else { return };
        let step = match this.log.get() {
            None => this.set_up(replication_factor).await.map(|()| false),
            Some(log) => log.read_to_end(ATTEMPT_WITHIN).await.map(|()| true),
        };
        match step {
            Ok(true) => {
                this.ready.send_replace(true);
                return;
            }
            // Set up: on to reading it to its end at once.
            Ok(false) => continue,
            Err(e) => {
                if !warned {
                    let doing = if this.log.get().is_none() {
                        "set up"
                    } else {
                        "read"
                    };
                    tracing::warn!(topic = %this.topic, error = %e, "cannot {doing} the WebSocket proxy's state topic yet; retrying");
                    warned = true;
                }
            }
        }
        drop(this);
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}
