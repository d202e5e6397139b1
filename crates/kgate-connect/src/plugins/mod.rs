//! The connector plugins kgate runs, under Apache's class names and config keys, and
//! the traits their tasks implement.

pub mod configdef;
pub mod file_sink;
pub mod file_source;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

use self::configdef::{ConfigKey, common_keys, sink_keys, source_keys};
use crate::data::SchemaAndValue;
use crate::storage::JsonMap;
use crate::storage::records::Properties;

/// Source or sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorType {
    /// Reads from outside into Kafka.
    Source,
    /// Writes from Kafka to outside.
    Sink,
}

impl ConnectorType {
    /// `source` or `sink`, as the REST API writes it.
    pub fn name(self) -> &'static str {
        match self {
            ConnectorType::Source => "source",
            ConnectorType::Sink => "sink",
        }
    }
}

/// A connector plugin: what it is called, its settings, and how it splits into tasks.
pub struct ConnectorPlugin {
    /// Apache's class name.
    pub class: &'static str,
    /// Source or sink.
    pub kind: ConnectorType,
    /// Its task's class name (written into task configurations as `task.class`).
    pub task_class: &'static str,
    /// Its own settings (beyond the common ones).
    pub keys: fn() -> Vec<ConfigKey>,
    /// How many tasks it runs for `tasks.max`.
    pub task_count: fn(max_tasks: u32) -> u32,
    /// Checks of a source offset a user writes with `PATCH /connectors/{c}/offsets`.
    pub check_offset: fn(partition: &JsonMap, offset: Option<&JsonMap>) -> Result<(), String>,
}

/// Every connector plugin.
pub const CONNECTORS: &[ConnectorPlugin] = &[
    ConnectorPlugin {
        class: "org.apache.kafka.connect.file.FileStreamSinkConnector",
        kind: ConnectorType::Sink,
        task_class: "org.apache.kafka.connect.file.FileStreamSinkTask",
        keys: file_sink::keys,
        task_count: |max| max,
        check_offset: |_, _| Ok(()),
    },
    ConnectorPlugin {
        class: "org.apache.kafka.connect.file.FileStreamSourceConnector",
        kind: ConnectorType::Source,
        task_class: "org.apache.kafka.connect.file.FileStreamSourceTask",
        keys: file_source::keys,
        // One file, one reader.
        task_count: |_| 1,
        check_offset: file_source::check_offset,
    },
];

/// The plugin `class` names: its full name, its simple name, or the simple name without
/// its `Connector` suffix (Apache's aliases).
pub fn find(class: &str) -> Option<&'static ConnectorPlugin> {
    let class = class.trim();
    CONNECTORS.iter().find(|p| {
        let simple = p.class.rsplit('.').next().unwrap_or(p.class);
        p.class == class || simple == class || simple.strip_suffix("Connector") == Some(class)
    })
}

/// Apache's 400 for a connector class no plugin has.
pub fn unknown_class_message(class: &str) -> String {
    let available: Vec<String> = CONNECTORS
        .iter()
        .map(|p| {
            format!(
                "PluginDesc{{klass=class {0}, name='{0}', version='{1}', encodedVersion={1}, type={2}, typeName='{2}', location='classpath'}}",
                p.class,
                configdef::PLUGIN_VERSION,
                p.kind.name()
            )
        })
        .collect();
    format!(
        "Failed to find any class that implements Connector and which name matches {class}, available connectors are: {}",
        available.join(", ")
    )
}

impl ConnectorPlugin {
    /// Every setting of the plugin: the common ones, the source or sink ones, its own.
    pub fn all_keys(&self) -> Vec<ConfigKey> {
        let mut keys = common_keys();
        keys.extend(match self.kind {
            ConnectorType::Source => source_keys(),
            ConnectorType::Sink => sink_keys(),
        });
        keys.extend((self.keys)());
        keys
    }

    /// Validates a connector configuration: Apache's `ConfigInfos`.
    pub fn validate(&self, config: &Properties) -> Value {
        let mut extra: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        if self.kind == ConnectorType::Sink {
            let topics = config.get("topics").is_some_and(|t| !t.trim().is_empty());
            let regex = config
                .get("topics.regex")
                .is_some_and(|t| !t.trim().is_empty());
            let message = match (topics, regex) {
                (true, true) => Some(
                    "topics and topics.regex are mutually exclusive options, but both are set.",
                ),
                (false, false) => Some("Must configure one of topics or topics.regex"),
                _ => None,
            };
            if let Some(m) = message {
                extra.insert("topics", vec![m.to_string()]);
                extra.insert("topics.regex", vec![m.to_string()]);
            }
        }
        let name = config
            .get("connector.class")
            .map(String::as_str)
            .unwrap_or(self.class);
        configdef::validate(name, &self.all_keys(), config, &extra)
    }

    /// The task configurations for `config`: the connector's configuration plus
    /// `task.class`, once per task.
    pub fn task_configs(&self, config: &Properties) -> Vec<Properties> {
        let max = config
            .get("tasks.max")
            .and_then(|m| m.trim().parse::<u32>().ok())
            .unwrap_or(1)
            .max(1);
        let mut task = config.clone();
        task.insert("task.class".to_string(), self.task_class.to_string());
        (0..(self.task_count)(max)).map(|_| task.clone()).collect()
    }
}

/// A record a source task produced.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    /// Its source partition (`{"filename": ..}` for files).
    pub partition: JsonMap,
    /// Its source offset (`{"position": ..}`).
    pub offset: JsonMap,
    /// The topic to write to.
    pub topic: String,
    /// The Kafka partition, when the task chose one.
    pub kafka_partition: Option<i32>,
    /// The key.
    pub key: SchemaAndValue,
    /// The value.
    pub value: SchemaAndValue,
    /// The timestamp, in milliseconds since the epoch.
    pub timestamp: Option<i64>,
    /// Its headers, in order (written with the header converter).
    pub headers: Vec<(String, SchemaAndValue)>,
}

/// A record handed to a sink task.
#[derive(Debug, Clone)]
pub struct SinkRecord {
    /// The topic it was read from.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// The key.
    pub key: SchemaAndValue,
    /// The value.
    pub value: SchemaAndValue,
    /// Its timestamp.
    pub timestamp: Option<i64>,
    /// Its headers, in order (read with the header converter).
    pub headers: Vec<(String, SchemaAndValue)>,
}

/// A task failure: the message that becomes the status trace.
pub type TaskError = String;

/// Reads the offsets the worker stored for a source task's partitions.
pub trait OffsetReader: Send + Sync {
    /// The stored offset of `partition`, if any.
    fn offset(&self, partition: &JsonMap) -> Option<JsonMap>;
}

/// A running source task.
#[async_trait]
pub trait SourceTask: Send {
    /// Starts with the task's configuration and the stored offsets.
    async fn start(
        &mut self,
        config: &Properties,
        offsets: &dyn OffsetReader,
    ) -> Result<(), TaskError>;
    /// The next records; may wait a little when there are none (returns empty then).
    async fn poll(&mut self) -> Result<Vec<SourceRecord>, TaskError>;
    /// Releases what the task holds.
    async fn stop(&mut self);
}

/// A running sink task.
#[async_trait]
pub trait SinkTask: Send {
    /// Starts with the task's configuration; `committed` holds the commit metadata of
    /// the group's committed offsets (what [`SinkTask::flush`] returned before).
    async fn start(&mut self, config: &Properties, committed: &[String]) -> Result<(), TaskError>;
    /// Takes records (they may be buffered until the next flush).
    async fn put(&mut self, records: Vec<SinkRecord>) -> Result<(), TaskError>;
    /// Makes everything put so far durable; returns metadata to commit with the offsets.
    async fn flush(&mut self) -> Result<String, TaskError>;
    /// Releases what the task holds.
    async fn stop(&mut self);
}

/// A new task of `plugin`.
pub enum TaskInstance {
    /// A source task.
    Source(Box<dyn SourceTask>),
    /// A sink task.
    Sink(Box<dyn SinkTask>),
}

impl ConnectorPlugin {
    /// A new, not started task.
    pub fn new_task(&self) -> TaskInstance {
        match self.kind {
            ConnectorType::Source => {
                TaskInstance::Source(Box::new(file_source::FileStreamSourceTask::default()))
            }
            ConnectorType::Sink => {
                TaskInstance::Sink(Box::new(file_sink::FileStreamSinkTask::default()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_find_the_plugin() {
        for name in [
            "FileStreamSource",
            "FileStreamSourceConnector",
            "org.apache.kafka.connect.file.FileStreamSourceConnector",
        ] {
            assert_eq!(
                find(name).map(|p| p.kind),
                Some(ConnectorType::Source),
                "{name}"
            );
        }
        assert!(find("com.example.Nope").is_none());
    }

    #[test]
    fn validation_reports_apache_messages() {
        let plugin = find("FileStreamSource").unwrap();
        let config: Properties = [
            (
                "connector.class".to_string(),
                "FileStreamSource".to_string(),
            ),
            ("batch.size".to_string(), "abc".to_string()),
        ]
        .into();
        let infos = plugin.validate(&config);
        let errors = configdef::error_messages(&infos);
        assert_eq!(infos["error_count"], 3, "{infos}");
        assert!(errors.contains(
            &"Missing required configuration \"name\" which has no default value.".to_string()
        ));
        assert!(errors.contains(
            &"Missing required configuration \"topic\" which has no default value.".to_string()
        ));
        assert!(errors.contains(
            &"Invalid value abc for configuration batch.size: Not a number of type INT".to_string()
        ));
        let sink = find("FileStreamSink").unwrap();
        // No connector.class, and neither topics nor topics.regex.
        let infos = sink.validate(&[("name".to_string(), "s".to_string())].into());
        assert_eq!(infos["error_count"], 3, "{infos}");
    }
}
