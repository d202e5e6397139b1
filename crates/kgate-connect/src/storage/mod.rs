//! Where the worker keeps its state: in distributed mode the three compacted topics, in
//! Apache's record formats; in standalone mode configurations and statuses in memory and
//! source offsets in a local file (`offset.storage.file.filename`).

pub mod log;
pub mod records;
pub mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kgate_kafka::Kafka;
use parking_lot::RwLock;
use serde_json::{Map, Value};
use tokio::sync::{broadcast, watch};

use self::log::{TopicLog, TopicSpec};
use self::records::{StatusKey, StatusValue, decode_config, decode_offset_key};
use self::state::{ConfigState, OffsetState, RestartRequest, StatusState};
use crate::error::ConnectError;
use crate::worker_config::WorkerConfig;

/// A source partition or offset: a JSON object.
pub type JsonMap = Map<String, Value>;

/// The worker's three stores.
pub struct Stores {
    config: Arc<RwLock<ConfigState>>,
    status: Arc<RwLock<StatusState>>,
    offsets: Arc<RwLock<OffsetState>>,
    config_log: Option<Arc<TopicLog>>,
    status_log: Option<Arc<TopicLog>>,
    offset_log: Option<Arc<TopicLog>>,
    offset_file: Option<PathBuf>,
    /// The config state's version, for waiters on any change.
    config_changes: watch::Sender<u64>,
    restarts: broadcast::Sender<RestartRequest>,
    /// One config write at a time from this worker.
    writes: tokio::sync::Mutex<()>,
}

impl Stores {
    /// Distributed mode: creates the topics if needed and reads them to their end.
    pub async fn distributed(
        kafka: &Kafka,
        config: &WorkerConfig,
    ) -> Result<Arc<Stores>, ConnectError> {
        let config_state = Arc::new(RwLock::new(ConfigState::default()));
        let status_state = Arc::new(RwLock::new(StatusState::default()));
        let offset_state = Arc::new(RwLock::new(OffsetState::default()));
        let (config_changes, _) = watch::channel(0);
        let (restarts, _) = broadcast::channel(256);

        let applied_config = config_state.clone();
        let changes = config_changes.clone();
        let restart_sender = restarts.clone();
        let config_log = TopicLog::start(
            kafka.clone(),
            &TopicSpec {
                name: config.config_topic.clone(),
                partitions: 1,
                replication: config.config_replication,
                key: "config.storage.topic",
            },
            false,
            Box::new(move |r| {
                let Some(key) = r.key.as_deref().and_then(|k| std::str::from_utf8(k).ok()) else {
                    return;
                };
                match decode_config(key, r.value.as_deref()) {
                    Some(record) => {
                        let version = {
                            let mut state = applied_config.write();
                            if let Some(restart) = state.apply(record) {
                                // No receiver while starting: nothing runs yet to restart.
                                let _ = restart_sender.send(restart);
                            }
                            state.version
                        };
                        changes.send_replace(version);
                    }
                    None => tracing::warn!(key, "skipping a config record kgate cannot read"),
                }
            }),
        )
        .await?;

        let applied_status = status_state.clone();
        let status_log = TopicLog::start(
            kafka.clone(),
            &TopicSpec {
                name: config.status_topic.clone(),
                partitions: config.status_partitions,
                replication: config.status_replication,
                key: "status.storage.topic",
            },
            false,
            Box::new(move |r| {
                let Some(key) = r
                    .key
                    .as_deref()
                    .and_then(|k| std::str::from_utf8(k).ok())
                    .and_then(StatusKey::decode)
                else {
                    return;
                };
                applied_status.write().apply(key, r.value.as_deref());
            }),
        )
        .await?;

        let applied_offsets = offset_state.clone();
        let offset_log = TopicLog::start(
            kafka.clone(),
            &TopicSpec {
                name: config.offset_topic.clone(),
                partitions: config.offset_partitions,
                replication: config.offset_replication,
                key: "offset.storage.topic",
            },
            // Offsets written in an aborted (or still open) transaction must never be
            // seen, whichever worker wrote them; plain writes are read all the same.
            true,
            Box::new(move |r| {
                let Some((connector, partition)) = r.key.as_deref().and_then(decode_offset_key)
                else {
                    return;
                };
                let offset = match r.value.as_deref() {
                    None => None,
                    Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
                        Ok(Value::Object(o)) => Some(o),
                        _ => return,
                    },
                };
                applied_offsets.write().apply(connector, partition, offset);
            }),
        )
        .await?;

        Ok(Arc::new(Stores {
            config: config_state,
            status: status_state,
            offsets: offset_state,
            config_log: Some(config_log),
            status_log: Some(status_log),
            offset_log: Some(offset_log),
            offset_file: None,
            config_changes,
            restarts,
            writes: tokio::sync::Mutex::new(()),
        }))
    }

    /// Standalone mode: state in memory, offsets read from (and kept in) `offset_file`.
    pub async fn standalone(offset_file: PathBuf) -> Result<Arc<Stores>, ConnectError> {
        let offsets = read_offset_file(&offset_file).await?;
        let (config_changes, _) = watch::channel(0);
        let (restarts, _) = broadcast::channel(256);
        Ok(Arc::new(Stores {
            config: Arc::default(),
            status: Arc::default(),
            offsets: Arc::new(RwLock::new(offsets)),
            config_log: None,
            status_log: None,
            offset_log: None,
            offset_file: Some(offset_file),
            config_changes,
            restarts,
            writes: tokio::sync::Mutex::new(()),
        }))
    }

    /// Stops reading the state topics, closing their consumers: done before the
    /// cluster (the embedded broker) stops, so no client is left talking to it.
    pub async fn close(&self) {
        for log in [&self.config_log, &self.status_log, &self.offset_log]
            .into_iter()
            .flatten()
        {
            log.close().await;
        }
    }

    /// Reads the config state.
    pub fn config<R>(&self, f: impl FnOnce(&ConfigState) -> R) -> R {
        f(&self.config.read())
    }

    /// Reads the status state.
    pub fn status<R>(&self, f: impl FnOnce(&StatusState) -> R) -> R {
        f(&self.status.read())
    }

    /// Reads the offsets.
    pub fn offsets<R>(&self, f: impl FnOnce(&OffsetState) -> R) -> R {
        f(&self.offsets.read())
    }

    /// Changes of the config state (its version).
    pub fn config_changes(&self) -> watch::Receiver<u64> {
        self.config_changes.subscribe()
    }

    /// Restart requests read from the config topic.
    pub fn restarts(&self) -> broadcast::Receiver<RestartRequest> {
        self.restarts.subscribe()
    }

    /// The offset of the last config record applied (-1 when none): the config state's
    /// position workers compare in the group protocol.
    pub fn config_offset(&self) -> i64 {
        match &self.config_log {
            Some(log) => log.position(0) - 1,
            None => self.config(|c| c.version as i64) - 1,
        }
    }

    /// Reads the config topic to its end (a leader does before assigning work).
    pub async fn refresh_config(&self, timeout: Duration) -> Result<(), ConnectError> {
        match &self.config_log {
            Some(log) => log.read_to_end(timeout).await,
            None => Ok(()),
        }
    }

    /// Reads the offsets topic to its end (its committed records: with exactly-once
    /// source support, a restarted task's producer has just aborted what its earlier
    /// instance left open).
    pub async fn refresh_offsets(&self, timeout: Duration) -> Result<(), ConnectError> {
        match &self.offset_log {
            Some(log) => log.read_to_end(timeout).await,
            None => Ok(()),
        }
    }

    /// Writes config records (key, value) in order and waits until they are applied.
    pub async fn write_config(
        &self,
        records: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), ConnectError> {
        let _one_at_a_time = self.writes.lock().await;
        match &self.config_log {
            Some(log) => {
                let records = records
                    .into_iter()
                    .map(|(k, v)| (k.into_bytes(), v, Some(0)))
                    .collect();
                log.write(records, true).await
            }
            None => {
                let version = {
                    let mut state = self.config.write();
                    for (key, value) in records {
                        if let Some(record) = decode_config(&key, value.as_deref())
                            && let Some(restart) = state.apply(record)
                        {
                            let _ = self.restarts.send(restart);
                        }
                    }
                    state.version
                };
                self.config_changes.send_replace(version);
                Ok(())
            }
        }
    }

    /// Records a connector's or task's status (applied here at once, read back by the
    /// others); `None` removes it.
    pub async fn write_status(
        &self,
        key: StatusKey,
        value: Option<StatusValue>,
    ) -> Result<(), ConnectError> {
        let bytes = value.as_ref().map(records::status_value);
        self.status.write().apply(key.clone(), bytes.as_deref());
        if let Some(log) = &self.status_log {
            log.write(vec![(key.encode().into_bytes(), bytes, None)], false)
                .await?;
        }
        Ok(())
    }

    /// Records that a connector's task used a topic.
    pub async fn write_topic_status(
        &self,
        connector: &str,
        task: u32,
        topic: &str,
    ) -> Result<(), ConnectError> {
        let known = self.status(|s| s.topics.get(connector).is_some_and(|t| t.contains(topic)));
        if known {
            return Ok(());
        }
        let key = StatusKey::Topic {
            topic: topic.to_string(),
            connector: connector.to_string(),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let value = records::topic_status_value(topic, connector, task, now);
        self.status.write().apply(key.clone(), Some(&value));
        if let Some(log) = &self.status_log {
            log.write(vec![(key.encode().into_bytes(), Some(value), None)], false)
                .await?;
        }
        Ok(())
    }

    /// Forgets the topics a connector used (`PUT /connectors/{c}/topics/reset`).
    pub async fn reset_topics(&self, connector: &str) -> Result<(), ConnectError> {
        let topics: Vec<String> = self.status(|s| {
            s.topics
                .get(connector)
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default()
        });
        for topic in topics {
            let key = StatusKey::Topic {
                topic,
                connector: connector.to_string(),
            };
            self.status.write().apply(key.clone(), None);
            if let Some(log) = &self.status_log {
                log.write(vec![(key.encode().into_bytes(), None, None)], false)
                    .await?;
            }
        }
        Ok(())
    }

    /// The name of the offsets topic (distributed mode).
    pub fn offset_topic(&self) -> Option<&str> {
        self.offset_log.as_ref().map(|l| l.topic())
    }

    /// Writes source offsets of a connector (`None` resets a partition) and waits until
    /// they are applied.
    pub async fn write_offsets(
        &self,
        connector: &str,
        offsets: Vec<(JsonMap, Option<JsonMap>)>,
    ) -> Result<(), ConnectError> {
        if offsets.is_empty() {
            return Ok(());
        }
        match &self.offset_log {
            Some(log) => {
                let records = offsets
                    .iter()
                    .map(|(p, o)| {
                        (
                            records::offset_key(connector, p),
                            o.as_ref()
                                .map(|o| serde_json::to_vec(o).unwrap_or_default()),
                            None,
                        )
                    })
                    .collect();
                log.write(records, true).await
            }
            None => {
                let snapshot = {
                    let mut state = self.offsets.write();
                    for (p, o) in offsets {
                        state.apply(connector.to_string(), p, o);
                    }
                    state.clone()
                };
                match &self.offset_file {
                    Some(path) => write_offset_file(path, &snapshot).await,
                    None => Ok(()),
                }
            }
        }
    }

    /// Applies offsets written by a transaction this worker committed, which the
    /// offsets reader (reading committed records only) also sees in time.
    pub fn note_offsets(&self, connector: &str, offsets: Vec<(JsonMap, Option<JsonMap>)>) {
        let mut state = self.offsets.write();
        for (p, o) in offsets {
            state.apply(connector.to_string(), p, o);
        }
    }
}

/// Standalone offsets: a JSON array of `{"key": ["<c>",{partition}], "value": {offset}}`.
async fn read_offset_file(path: &PathBuf) -> Result<OffsetState, ConnectError> {
    let text = match tokio::fs::read(path).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(OffsetState::default()),
        Err(e) => {
            return Err(ConnectError::Config {
                key: "offset.storage.file.filename".into(),
                value: path.display().to_string(),
                message: format!("cannot read it: {e}"),
            });
        }
    };
    let entries: Vec<Value> = serde_json::from_slice(&text).map_err(|e| ConnectError::Config {
        key: "offset.storage.file.filename".into(),
        value: path.display().to_string(),
        message: format!("not an offsets file written by kgate: {e}"),
    })?;
    let mut state = OffsetState::default();
    for entry in entries {
        let key = entry
            .get("key")
            .map(|k| serde_json::to_vec(k).unwrap_or_default());
        let Some((connector, partition)) = key.as_deref().and_then(decode_offset_key) else {
            continue;
        };
        if let Some(Value::Object(offset)) = entry.get("value") {
            state.apply(connector, partition, Some(offset.clone()));
        }
    }
    Ok(state)
}

async fn write_offset_file(path: &PathBuf, state: &OffsetState) -> Result<(), ConnectError> {
    let mut entries = Vec::new();
    for (connector, partitions) in &state.offsets {
        for (partition, offset) in partitions {
            entries.push(serde_json::json!({
                "key": [connector, partition],
                "value": offset,
            }));
        }
    }
    let bytes = serde_json::to_vec(&entries).unwrap_or_default();
    // Written beside and renamed over, so a crash never leaves half a file.
    let temporary = path.with_extension("tmp");
    let written = async {
        tokio::fs::write(&temporary, &bytes).await?;
        tokio::fs::rename(&temporary, path).await
    };
    written
        .await
        .map_err(|e| ConnectError::Internal(format!("writing offsets to {}: {e}", path.display())))
}
