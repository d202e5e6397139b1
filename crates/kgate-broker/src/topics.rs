//! The topic registry: which topics exist, their ids, partitions and configuration,
//! kept durable in `<data_dir>/topics.json`, and the partition logs behind them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::{ConfigLevels, DynamicScope, Settings};
use crate::context::TopicLookup;
use crate::log::{LogConfig, PartitionLog};

/// A partition log shared between request handlers.
pub type SharedLog = Arc<Mutex<PartitionLog>>;

/// One topic.
pub struct Topic {
    /// The topic's name.
    pub name: String,
    /// The topic's id (Metadata v10+).
    pub id: Uuid,
    /// Configuration overrides (given at creation or altered since).
    pub configs: RwLock<BTreeMap<String, String>>,
    /// The partition logs, by partition index.
    pub partitions: RwLock<Vec<SharedLog>>,
}

impl Topic {
    /// The log of partition `index`, if it exists.
    pub fn partition(&self, index: i32) -> Option<SharedLog> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.read().get(i).cloned())
    }

    /// The number of partitions.
    pub fn partition_count(&self) -> i32 {
        self.partitions.read().len() as i32
    }
}

#[derive(Serialize, Deserialize)]
struct TopicRecord {
    name: String,
    id: Uuid,
    partitions: i32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Default)]
struct TopicsFile {
    topics: Vec<TopicRecord>,
}

/// Why a topic operation was refused, as a protocol error and a message.
#[derive(Debug)]
pub struct TopicError {
    /// The protocol error.
    pub error: kafka_protocol::ResponseError,
    /// What was wrong.
    pub message: String,
}

impl TopicError {
    /// An error with its message.
    pub(crate) fn new(error: kafka_protocol::ResponseError, message: impl Into<String>) -> Self {
        Self {
            error,
            message: message.into(),
        }
    }

    /// A broker configuration value refused: INVALID_CONFIG naming the key.
    pub(crate) fn invalid_config(e: crate::BrokerError) -> Self {
        let message = match e {
            // Kafka's messages name the config already.
            crate::BrokerError::Config { key, message } if message.contains(&key) => message,
            crate::BrokerError::Config { key, message } => {
                format!("Invalid value for configuration {key}: {message}")
            }
            other => other.to_string(),
        };
        Self::new(kafka_protocol::ResponseError::InvalidConfig, message)
    }
}

/// All topics of the broker.
pub struct TopicRegistry {
    data_dir: PathBuf,
    /// The effective broker settings, replaced whole when a dynamic config changes.
    settings: RwLock<Arc<Settings>>,
    /// The broker configuration at each level, for DescribeConfigs and alterations.
    levels: RwLock<ConfigLevels>,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serialises changes to the set of topics and their durable record.
    change: Mutex<()>,
    /// Woken whenever records are appended, for waiting fetches.
    pub appended: tokio::sync::Notify,
}

fn logs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

fn partition_dir(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    logs_dir(data_dir).join(format!("{topic}-{partition}"))
}

/// Refuses, as INVALID_CONFIG naming it, the first of `configs` that may not change
/// dynamically at `scope`.
pub(crate) fn check_dynamic_names(
    configs: &BTreeMap<String, String>,
    scope: DynamicScope,
) -> Result<(), TopicError> {
    for name in configs.keys() {
        crate::config::check_dynamic(name, scope)
            .map_err(|m| TopicError::new(kafka_protocol::ResponseError::InvalidConfig, m))?;
    }
    Ok(())
}

/// Checks a topic name the way Kafka does.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("topic name is empty".into());
    }
    if name == "." || name == ".." {
        return Err(format!("topic name `{name}` is not allowed"));
    }
    if name.len() > 249 {
        return Err("topic name is longer than 249 characters".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name `{name}` contains `{c}`; only ASCII letters, digits, '.', '_' and '-' are allowed"
        ));
    }
    Ok(())
}

impl TopicRegistry {
    /// Loads every topic recorded under `data_dir`, recovering their logs, with the
    /// broker's static `properties` under the dynamic configs kept in `data_dir`.
    pub fn open(
        data_dir: &Path,
        properties: &BTreeMap<String, String>,
    ) -> Result<TopicRegistry, crate::BrokerError> {
        std::fs::create_dir_all(logs_dir(data_dir))?;
        let (levels, settings) = load_levels(data_dir, properties)?;
        let file: TopicsFile = match std::fs::read(data_dir.join("topics.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("topics.json is unreadable: {e}"),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TopicsFile::default(),
            Err(e) => return Err(e.into()),
        };
        let recorded = data_dir.join("topics.json").exists();
        let mut topics = HashMap::new();
        for record in file.topics {
            let config = LogConfig::resolve(&settings.log, &record.configs);
            let mut logs = Vec::with_capacity(record.partitions.max(0) as usize);
            for p in 0..record.partitions {
                let log =
                    PartitionLog::open(&partition_dir(data_dir, &record.name, p), config.clone())?;
                logs.push(Arc::new(Mutex::new(log)));
            }
            topics.insert(
                record.name.clone(),
                Arc::new(Topic {
                    name: record.name,
                    id: record.id,
                    configs: RwLock::new(record.configs),
                    partitions: RwLock::new(logs),
                }),
            );
        }
        remove_orphans(data_dir, &topics, recorded);
        Ok(TopicRegistry {
            data_dir: data_dir.to_path_buf(),
            settings: RwLock::new(Arc::new(settings)),
            levels: RwLock::new(levels),
            topics: RwLock::new(topics),
            change: Mutex::new(()),
            appended: tokio::sync::Notify::new(),
        })
    }

    /// The broker settings in force now (dynamic configs included).
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().clone()
    }

    /// The broker configuration at each level.
    pub fn config_levels(&self) -> ConfigLevels {
        self.levels.read().clone()
    }

    /// Replaces the dynamic broker configs of `scope` with `configs` after checking
    /// that each may change dynamically and that the result is valid; the new values
    /// are persisted and apply at once to every topic without an override of its own.
    pub fn alter_broker_configs(
        &self,
        scope: DynamicScope,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _guard = self.change.lock();
        let mut levels = self.levels.read().clone();
        check_dynamic_names(&configs, scope)?;
        *levels.dynamic_mut(scope) = configs;
        let settings = levels.settings().map_err(TopicError::invalid_config)?;
        if validate_only {
            return Ok(());
        }
        levels.save(&self.data_dir).map_err(storage)?;
        *self.levels.write() = levels;
        *self.settings.write() = Arc::new(settings);
        self.reresolve_all();
        tracing::info!(?scope, "altered dynamic broker configuration");
        Ok(())
    }

    /// Gives every partition log the settings its topic resolves to now.
    fn reresolve_all(&self) {
        let settings = self.settings();
        for topic in self.all() {
            let config = LogConfig::resolve(&settings.log, &topic.configs.read());
            for log in topic.partitions.read().iter() {
                log.lock().set_config(config.clone());
            }
        }
    }

    /// A topic by name.
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    /// A topic by id.
    pub fn get_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics.read().values().find(|t| t.id == id).cloned()
    }

    /// Every topic, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut v: Vec<_> = self.topics.read().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    fn save(&self) -> std::io::Result<()> {
        let records = self
            .all()
            .iter()
            .map(|t| TopicRecord {
                name: t.name.clone(),
                id: t.id,
                partitions: t.partition_count(),
                configs: t.configs.read().clone(),
            })
            .collect();
        let bytes = serde_json::to_vec_pretty(&TopicsFile { topics: records })
            .map_err(std::io::Error::other)?;
        let tmp = self.data_dir.join("topics.json.tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(tmp, self.data_dir.join("topics.json"))
    }

    /// Checks what `create` would do, without doing it.
    pub fn validate_create(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &BTreeMap<String, String>,
    ) -> Result<i32, TopicError> {
        use kafka_protocol::ResponseError as E;
        validate_topic_name(name).map_err(|m| TopicError::new(E::InvalidTopicException, m))?;
        if self.topics.read().contains_key(name) {
            return Err(TopicError::new(
                E::TopicAlreadyExists,
                format!("topic `{name}` already exists"),
            ));
        }
        let partitions = if partitions == -1 {
            self.settings().num_partitions
        } else {
            partitions
        };
        if partitions <= 0 {
            return Err(TopicError::new(
                E::InvalidPartitions,
                format!("the number of partitions must be positive, got {partitions}"),
            ));
        }
        if replication_factor != -1 && replication_factor != 1 {
            return Err(TopicError::new(
                E::InvalidReplicationFactor,
                format!(
                    "replication factor {replication_factor} is not possible: this is a single-node broker, so the only possible replication factor is 1"
                ),
            ));
        }
        crate::log::config::validate_topic_configs(configs, &self.settings().log)
            .map_err(|m| TopicError::new(E::InvalidConfig, m))?;
        self.check_capacity(partitions as i64)?;
        Ok(partitions)
    }

    /// The partitions a creation of `partitions` (-1 for `num.partitions`) adds.
    pub fn resolved_partitions(&self, partitions: i32) -> i32 {
        if partitions == -1 {
            self.settings().num_partitions
        } else {
            partitions
        }
    }

    /// Creates a topic (`partitions` -1 means `num.partitions`). A creation that fails
    /// part-way leaves nothing behind: no topic and no partition directory.
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, TopicError> {
        let _guard = self.change.lock();
        let partitions = self.validate_create(name, partitions, replication_factor, &configs)?;
        let settings = self.settings();
        let config = LogConfig::resolve(&settings.log, &configs);
        let logs = self.open_new_partitions(name, 0..partitions, &config)?;
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id: Uuid::new_v4(),
            configs: RwLock::new(configs),
            partitions: RwLock::new(logs),
        });
        self.topics.write().insert(name.to_string(), topic.clone());
        if let Err(e) = self.save() {
            self.topics.write().remove(name);
            topic.partitions.write().clear();
            remove_partition_dirs(&self.data_dir, name, 0..partitions);
            return Err(storage(e));
        }
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Opens fresh logs for partitions `range` of `name`; if one fails, the ones opened
    /// are closed and every directory of the range removed.
    fn open_new_partitions(
        &self,
        name: &str,
        range: std::ops::Range<i32>,
        config: &LogConfig,
    ) -> Result<Vec<SharedLog>, TopicError> {
        let mut logs = Vec::with_capacity(range.len());
        for p in range.clone() {
            let dir = partition_dir(&self.data_dir, name, p);
            // Leftovers of an earlier topic with the same name must not reappear.
            let _ = std::fs::remove_dir_all(&dir);
            match PartitionLog::open(&dir, config.clone()) {
                Ok(log) => logs.push(Arc::new(Mutex::new(log))),
                Err(e) => {
                    drop(logs);
                    remove_partition_dirs(&self.data_dir, name, range.start..p + 1);
                    tracing::warn!(topic = name, partition = p, error = %e, "partition could not be created; the partitions created before it were removed");
                    return Err(storage(e));
                }
            }
        }
        Ok(logs)
    }

    /// Refuses, as POLICY_VIOLATION, a request that would add more than
    /// `max.partitions.per.request` partitions (Apache Kafka's controller refuses such
    /// requests too, past 10,000 records in one operation).
    pub fn check_request_size(&self, new_partitions: i64) -> Result<(), TopicError> {
        let limit = self.settings().max_partitions_per_request;
        if new_partitions > limit as i64 {
            return Err(TopicError::new(
                kafka_protocol::ResponseError::PolicyViolation,
                format!(
                    "Unable to perform excessively large batch operation: the request adds {new_partitions} partitions, more than max.partitions.per.request ({limit})"
                ),
            ));
        }
        Ok(())
    }

    /// Refuses, as POLICY_VIOLATION, `new_partitions` more partitions when the broker
    /// would then hold more than `max.broker.partitions`, or when their files would not
    /// leave enough of the process's file descriptors for connections.
    fn check_capacity(&self, new_partitions: i64) -> Result<(), TopicError> {
        use kafka_protocol::ResponseError as E;
        let limit = self.settings().max_broker_partitions as i64;
        let held: i64 = self
            .topics
            .read()
            .values()
            .map(|t| t.partition_count() as i64)
            .sum();
        if held + new_partitions > limit {
            return Err(TopicError::new(
                E::PolicyViolation,
                format!(
                    "the broker holds {held} partitions; {new_partitions} more would exceed max.broker.partitions ({limit})"
                ),
            ));
        }
        if let Some(fds) = crate::fds::Descriptors::now() {
            let needed = new_partitions.saturating_mul(FDS_PER_PARTITION);
            let spare = fds.spare();
            if needed > spare {
                return Err(TopicError::new(
                    E::PolicyViolation,
                    format!(
                        "{new_partitions} new partitions need about {needed} file descriptors, but only {spare} of the process's limit of {} can be spared ({} are open, {} kept for connections); raise the limit (ulimit -n) or create fewer partitions",
                        fds.limit,
                        fds.open,
                        fds.reserve()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Deletes a topic and its data.
    pub fn delete(&self, name: &str) -> Result<(), TopicError> {
        let _guard = self.change.lock();
        let Some(topic) = self.topics.write().remove(name) else {
            return Err(TopicError::new(
                kafka_protocol::ResponseError::UnknownTopicOrPartition,
                format!("topic `{name}` does not exist"),
            ));
        };
        self.save().map_err(storage)?;
        let count = topic.partition_count();
        topic.partitions.write().clear();
        for p in 0..count {
            let _ = std::fs::remove_dir_all(partition_dir(&self.data_dir, name, p));
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(())
    }

    /// Grows a topic to `count` partitions.
    pub fn add_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        use kafka_protocol::ResponseError as E;
        let _guard = self.change.lock();
        let Some(topic) = self.get(name) else {
            return Err(TopicError::new(
                E::UnknownTopicOrPartition,
                format!("topic `{name}` does not exist"),
            ));
        };
        let current = topic.partition_count();
        if count <= current {
            return Err(TopicError::new(
                E::InvalidPartitions,
                format!(
                    "topic `{name}` has {current} partitions; the new count {count} must be larger"
                ),
            ));
        }
        self.check_capacity(count as i64 - current as i64)?;
        if validate_only {
            return Ok(());
        }
        let settings = self.settings();
        let config = LogConfig::resolve(&settings.log, &topic.configs.read());
        let new_logs = self.open_new_partitions(name, current..count, &config)?;
        topic.partitions.write().extend(new_logs);
        if let Err(e) = self.save() {
            topic.partitions.write().truncate(current as usize);
            remove_partition_dirs(&self.data_dir, name, current..count);
            return Err(storage(e));
        }
        tracing::info!(topic = name, partitions = count, "added partitions");
        Ok(())
    }

    /// Replaces a topic's configuration overrides after validating every entry; the
    /// new settings apply to its logs at once and are kept across restarts.
    pub fn alter_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        use kafka_protocol::ResponseError as E;
        let _guard = self.change.lock();
        let Some(topic) = self.get(name) else {
            return Err(TopicError::new(
                E::UnknownTopicOrPartition,
                format!("topic `{name}` does not exist"),
            ));
        };
        crate::log::config::validate_topic_configs(&configs, &self.settings().log)
            .map_err(|m| TopicError::new(E::InvalidConfig, m))?;
        if validate_only {
            return Ok(());
        }
        let settings = self.settings();
        let config = LogConfig::resolve(&settings.log, &configs);
        *topic.configs.write() = configs;
        for log in topic.partitions.read().iter() {
            log.lock().set_config(config.clone());
        }
        self.save().map_err(storage)?;
        tracing::info!(topic = name, "altered topic configuration");
        Ok(())
    }

    /// Applies retention to every partition.
    pub fn apply_retention(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        for topic in self.all() {
            let logs = topic.partitions.read().clone();
            for (p, log) in logs.iter().enumerate() {
                if let Err(e) = log.lock().apply_retention(now) {
                    tracing::error!(topic = %topic.name, partition = p, error = %e, "retention failed");
                }
            }
        }
    }

    /// Forces every log to disk (on shutdown).
    pub fn flush_all(&self) {
        for topic in self.all() {
            for log in topic.partitions.read().iter() {
                if let Err(e) = log.lock().flush() {
                    tracing::error!(topic = %topic.name, error = %e, "flush failed");
                }
            }
        }
    }
}

/// The configuration levels kept in `data_dir` over `properties`, and the settings
/// they make. A dynamic config that no longer fits (the static properties changed
/// under it) is dropped with a warning rather than stopping the broker.
fn load_levels(
    data_dir: &Path,
    properties: &BTreeMap<String, String>,
) -> Result<(ConfigLevels, Settings), crate::BrokerError> {
    let mut levels = ConfigLevels::load(data_dir, properties)?;
    loop {
        match levels.settings() {
            Ok(settings) => return Ok((levels, settings)),
            Err(crate::BrokerError::Config { key, message })
                if levels.broker.contains_key(&key) || levels.default.contains_key(&key) =>
            {
                tracing::warn!(%key, %message, "ignoring an invalid dynamic broker config");
                levels.broker.remove(&key);
                levels.default.remove(&key);
            }
            Err(e) => return Err(e),
        }
    }
}

/// File descriptors a new partition holds: its segment's log, offset index and time
/// index.
const FDS_PER_PARTITION: i64 = 3;

fn remove_partition_dirs(data_dir: &Path, topic: &str, range: std::ops::Range<i32>) {
    for p in range {
        let dir = partition_dir(data_dir, topic, p);
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a partition directory");
        }
    }
}

/// Removes the partition directories no topic owns (what a creation or deletion
/// interrupted by a crash leaves). Without a `topics.json` at all nothing is removed:
/// the directories are then more likely a damaged data directory than leftovers.
fn remove_orphans(data_dir: &Path, topics: &HashMap<String, Arc<Topic>>, recorded: bool) {
    let Ok(entries) = std::fs::read_dir(logs_dir(data_dir)) else {
        return;
    };
    let mut orphans = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((topic, partition)) = name.rsplit_once('-') else {
            continue;
        };
        let Ok(partition) = partition.parse::<i32>() else {
            continue;
        };
        if validate_topic_name(topic).is_err() {
            continue;
        }
        let owned = topics
            .get(topic)
            .is_some_and(|t| (0..t.partition_count()).contains(&partition));
        if !owned {
            orphans.push(entry.path());
        }
    }
    if orphans.is_empty() {
        return;
    }
    if !recorded {
        tracing::warn!(
            count = orphans.len(),
            "partition directories found but no topics.json: leaving them untouched"
        );
        return;
    }
    let mut removed = 0usize;
    for dir in &orphans {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => removed += 1,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove an orphan partition directory")
            }
        }
    }
    tracing::warn!(
        removed,
        "removed partition directories that belong to no topic (left by an interrupted creation or deletion)"
    );
}

fn storage(e: std::io::Error) -> TopicError {
    tracing::error!(error = %e, "topic storage failed");
    TopicError::new(
        kafka_protocol::ResponseError::KafkaStorageError,
        format!("storage failure: {e}"),
    )
}

impl TopicLookup for TopicRegistry {
    fn partition_count(&self, topic: &str) -> Option<i32> {
        self.get(topic).map(|t| t.partition_count())
    }
}
