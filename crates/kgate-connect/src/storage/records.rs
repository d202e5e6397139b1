//! The records of the three state topics, keyed and encoded exactly as Apache Kafka
//! Connect writes them (its JsonConverter without schemas), so either can read the
//! other's state:
//!
//! - config topic: `connector-<c>` `{"properties":{..}}`, `task-<c>-<n>`
//!   `{"properties":{..}}`, `commit-<c>` `{"tasks":n}`, `target-state-<c>`
//!   `{"state":"PAUSED","state.v2":"STOPPED"}`, `restart-connector-<c>`
//!   `{"include-tasks":b,"only-failed":b}`, `session-key`, `task-count-record-<c>`;
//! - status topic: `status-connector-<c>` / `status-task-<c>-<n>`
//!   `{"state":..,"trace":..,"worker_id":..,"generation":..,"version":..}`,
//!   `status-topic-<t>:connector-<c>` `{"topic":{"name":..,"connector":..,"task":..,"discoverTimestamp":..}}`;
//! - offsets topic: key `["<c>",{partition}]`, value `{offset}`, a tombstone for a reset.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A connector's or task's configuration.
pub type Properties = BTreeMap<String, String>;

/// What a connector is asked to be doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetState {
    /// Running (Apache's `STARTED`).
    Started,
    /// Paused: tasks exist but do no work.
    Paused,
    /// Stopped: no tasks, the connector shut down (offsets may be changed).
    Stopped,
}

impl TargetState {
    /// Apache's name of the state.
    pub fn name(self) -> &'static str {
        match self {
            TargetState::Started => "STARTED",
            TargetState::Paused => "PAUSED",
            TargetState::Stopped => "STOPPED",
        }
    }

    fn from_name(name: &str) -> Option<TargetState> {
        match name {
            "STARTED" => Some(TargetState::Started),
            "PAUSED" => Some(TargetState::Paused),
            "STOPPED" => Some(TargetState::Stopped),
            _ => None,
        }
    }
}

/// One record of the config topic, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigRecord {
    /// `connector-<name>`: its configuration, or `None` for a deletion.
    Connector(String, Option<Properties>),
    /// `task-<name>-<n>`: one task's configuration (applied at the next commit).
    Task(String, u32, Option<Properties>),
    /// `commit-<name>`: the task configurations written so far are complete.
    Commit(String, u32),
    /// `target-state-<name>`, or `None` once the connector is deleted.
    TargetState(String, Option<TargetState>),
    /// `restart-connector-<name>`.
    Restart {
        /// The connector.
        connector: String,
        /// Restart its tasks too.
        include_tasks: bool,
        /// Restart only the failed instances.
        only_failed: bool,
    },
    /// A key kgate keeps no state for (`session-key`, `task-count-record-*`, loggers).
    Other,
}

/// The config topic's key of a connector's configuration.
pub fn connector_key(name: &str) -> String {
    format!("connector-{name}")
}

/// The key of one task's configuration.
pub fn task_key(name: &str, task: u32) -> String {
    format!("task-{name}-{task}")
}

/// The key of the commit of a connector's task configurations.
pub fn commit_key(name: &str) -> String {
    format!("commit-{name}")
}

/// The key of a connector's target state.
pub fn target_state_key(name: &str) -> String {
    format!("target-state-{name}")
}

/// The key of a restart request.
pub fn restart_key(name: &str) -> String {
    format!("restart-connector-{name}")
}

/// `{"properties":{..}}`.
pub fn properties_value(properties: &Properties) -> Vec<u8> {
    json_bytes(&serde_json::json!({ "properties": properties }))
}

/// `{"tasks":n}`.
pub fn commit_value(tasks: u32) -> Vec<u8> {
    json_bytes(&serde_json::json!({ "tasks": tasks }))
}

/// `{"state":..,"state.v2":..}`: readers older than the STOPPED state see PAUSED.
pub fn target_state_value(state: TargetState) -> Vec<u8> {
    let v1 = match state {
        TargetState::Stopped => TargetState::Paused,
        other => other,
    };
    json_bytes(&serde_json::json!({ "state": v1.name(), "state.v2": state.name() }))
}

/// `{"include-tasks":b,"only-failed":b}`.
pub fn restart_value(include_tasks: bool, only_failed: bool) -> Vec<u8> {
    json_bytes(&serde_json::json!({ "include-tasks": include_tasks, "only-failed": only_failed }))
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Decodes one config-topic record; `None` for a record that cannot be understood
/// (logged by the caller and skipped, as Apache does).
pub fn decode_config(key: &str, value: Option<&[u8]>) -> Option<ConfigRecord> {
    let json = match value {
        Some(bytes) => Some(serde_json::from_slice::<Value>(bytes).ok()?),
        None => None,
    };
    if let Some(name) = key.strip_prefix("connector-") {
        let props = match json {
            Some(v) => Some(properties_of(&v)?),
            None => None,
        };
        return Some(ConfigRecord::Connector(name.to_string(), props));
    }
    if let Some(name) = key.strip_prefix("target-state-") {
        let state = match json {
            None => None,
            Some(v) => {
                // "state.v2" carries STOPPED; older writers only wrote "state".
                let name = v
                    .get("state.v2")
                    .and_then(Value::as_str)
                    .or_else(|| v.get("state").and_then(Value::as_str))?;
                Some(TargetState::from_name(name)?)
            }
        };
        return Some(ConfigRecord::TargetState(name.to_string(), state));
    }
    if let Some(name) = key.strip_prefix("restart-connector-") {
        let v = json?;
        return Some(ConfigRecord::Restart {
            connector: name.to_string(),
            include_tasks: v
                .get("include-tasks")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            only_failed: v
                .get("only-failed")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        });
    }
    if key.starts_with("task-count-record-") {
        return Some(ConfigRecord::Other);
    }
    if let Some(rest) = key.strip_prefix("task-") {
        // The connector name may itself contain '-': the task number follows the last.
        let (name, n) = rest.rsplit_once('-')?;
        let n = n.parse().ok()?;
        let props = match json {
            Some(v) => Some(properties_of(&v)?),
            None => None,
        };
        return Some(ConfigRecord::Task(name.to_string(), n, props));
    }
    if let Some(name) = key.strip_prefix("commit-") {
        let tasks = json?.get("tasks")?.as_u64()?;
        return Some(ConfigRecord::Commit(
            name.to_string(),
            u32::try_from(tasks).ok()?,
        ));
    }
    Some(ConfigRecord::Other)
}

/// The `properties` of a connector or task record; null values (which Apache's schema
/// allows) are dropped.
fn properties_of(v: &Value) -> Option<Properties> {
    let map = v.get("properties")?.as_object()?;
    Some(
        map.iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k.clone(), s.clone())),
                Value::Null => None,
                other => Some((k.clone(), other.to_string())),
            })
            .collect(),
    )
}

/// A connector's or task's state as the status topic records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusValue {
    /// UNASSIGNED, RUNNING, PAUSED, STOPPED, FAILED, RESTARTING.
    pub state: String,
    /// The failure's trace when FAILED.
    pub trace: Option<String>,
    /// The worker (its advertised `host:port`) that wrote the status.
    pub worker_id: String,
    /// The group generation of that worker when it wrote.
    pub generation: i32,
    /// The plugin's version (Apache 4.1+); absent in older records.
    #[serde(default)]
    pub version: Option<String>,
}

/// What a status-topic key names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatusKey {
    /// `status-connector-<c>`.
    Connector(String),
    /// `status-task-<c>-<n>`.
    Task(String, u32),
    /// `status-topic-<t>:connector-<c>`: a topic the connector used.
    Topic {
        /// The topic.
        topic: String,
        /// The connector.
        connector: String,
    },
}

impl StatusKey {
    /// The key as written in the topic.
    pub fn encode(&self) -> String {
        match self {
            StatusKey::Connector(c) => format!("status-connector-{c}"),
            StatusKey::Task(c, n) => format!("status-task-{c}-{n}"),
            StatusKey::Topic { topic, connector } => {
                format!("status-topic-{topic}:connector-{connector}")
            }
        }
    }

    /// Parses a status-topic key.
    pub fn decode(key: &str) -> Option<StatusKey> {
        if let Some(c) = key.strip_prefix("status-connector-") {
            return Some(StatusKey::Connector(c.to_string()));
        }
        if let Some(rest) = key.strip_prefix("status-task-") {
            let (c, n) = rest.rsplit_once('-')?;
            return Some(StatusKey::Task(c.to_string(), n.parse().ok()?));
        }
        if let Some(rest) = key.strip_prefix("status-topic-") {
            // Topic names cannot contain ':', so the first one separates the two parts.
            let (topic, connector) = rest.split_once(":connector-")?;
            return Some(StatusKey::Topic {
                topic: topic.to_string(),
                connector: connector.to_string(),
            });
        }
        None
    }
}

/// A status value as written: Apache's field order, `trace` and `version` always present.
pub fn status_value(status: &StatusValue) -> Vec<u8> {
    // Written field by field: serde_json's maps would sort the keys.
    let text = |v: &Option<String>| serde_json::to_string(v).unwrap_or_else(|_| "null".into());
    format!(
        "{{\"state\":{},\"trace\":{},\"worker_id\":{},\"generation\":{},\"version\":{}}}",
        text(&Some(status.state.clone())),
        text(&status.trace),
        text(&Some(status.worker_id.clone())),
        status.generation,
        text(&status.version),
    )
    .into_bytes()
}

/// `{"topic":{"name":..,"connector":..,"task":..,"discoverTimestamp":..}}`.
pub fn topic_status_value(topic: &str, connector: &str, task: u32, discovered_ms: i64) -> Vec<u8> {
    let text = |v: &str| serde_json::to_string(v).unwrap_or_else(|_| "\"\"".into());
    format!(
        "{{\"topic\":{{\"name\":{},\"connector\":{},\"task\":{task},\"discoverTimestamp\":{discovered_ms}}}}}",
        text(topic),
        text(connector),
    )
    .into_bytes()
}

/// An offsets-topic key `["<connector>",{partition}]`, as Apache's converter writes it.
pub fn offset_key(connector: &str, partition: &Map<String, Value>) -> Vec<u8> {
    json_bytes(&Value::Array(vec![
        Value::String(connector.to_string()),
        Value::Object(partition.clone()),
    ]))
}

/// Decodes an offsets-topic key into the connector and its source partition.
pub fn decode_offset_key(key: &[u8]) -> Option<(String, Map<String, Value>)> {
    let v: Value = serde_json::from_slice(key).ok()?;
    let items = v.as_array()?;
    if items.len() != 2 {
        return None;
    }
    let connector = items[0].as_str()?.to_string();
    let partition = items[1].as_object()?.clone();
    Some((connector, partition))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_records_read_as_apache_writes_them() {
        let r = decode_config(
            "connector-src",
            Some(br#"{"properties":{"connector.class":"FileStreamSource","topic":"t"}}"#),
        )
        .unwrap();
        let ConfigRecord::Connector(name, Some(props)) = r else {
            panic!("{r:?}")
        };
        assert_eq!(name, "src");
        assert_eq!(props["topic"], "t");
        assert_eq!(
            decode_config("task-my-conn-12", Some(br#"{"properties":{}}"#)),
            Some(ConfigRecord::Task(
                "my-conn".into(),
                12,
                Some(Properties::new())
            ))
        );
        assert_eq!(
            decode_config("commit-my-conn", Some(br#"{"tasks":2}"#)),
            Some(ConfigRecord::Commit("my-conn".into(), 2))
        );
        assert_eq!(
            decode_config(
                "target-state-x",
                Some(br#"{"state":"PAUSED","state.v2":"STOPPED"}"#)
            ),
            Some(ConfigRecord::TargetState(
                "x".into(),
                Some(TargetState::Stopped)
            ))
        );
        assert_eq!(
            decode_config("target-state-x", Some(br#"{"state":"PAUSED"}"#)),
            Some(ConfigRecord::TargetState(
                "x".into(),
                Some(TargetState::Paused)
            ))
        );
        assert_eq!(
            decode_config("connector-x", None),
            Some(ConfigRecord::Connector("x".into(), None))
        );
        assert_eq!(
            decode_config("session-key", Some(b"{}")),
            Some(ConfigRecord::Other)
        );
        assert_eq!(decode_config("commit-x", Some(b"not json")), None);
    }

    #[test]
    fn values_are_written_as_apache_writes_them() {
        assert_eq!(
            String::from_utf8(target_state_value(TargetState::Stopped)).unwrap(),
            r#"{"state":"PAUSED","state.v2":"STOPPED"}"#
        );
        assert_eq!(
            String::from_utf8(commit_value(3)).unwrap(),
            r#"{"tasks":3}"#
        );
        assert_eq!(
            String::from_utf8(restart_value(true, false)).unwrap(),
            r#"{"include-tasks":true,"only-failed":false}"#
        );
        let status = StatusValue {
            state: "RUNNING".into(),
            trace: None,
            worker_id: "127.0.0.1:8083".into(),
            generation: 5,
            version: Some("4.4.0".into()),
        };
        assert_eq!(
            String::from_utf8(status_value(&status)).unwrap(),
            r#"{"state":"RUNNING","trace":null,"worker_id":"127.0.0.1:8083","generation":5,"version":"4.4.0"}"#
        );
        let mut partition = Map::new();
        partition.insert("filename".into(), Value::String("/tmp/in.txt".into()));
        assert_eq!(
            String::from_utf8(offset_key("src", &partition)).unwrap(),
            r#"["src",{"filename":"/tmp/in.txt"}]"#
        );
        assert_eq!(
            decode_offset_key(br#"["src",{"filename":"/tmp/in.txt"}]"#),
            Some(("src".to_string(), partition))
        );
    }

    #[test]
    fn status_keys_round_trip() {
        for key in [
            StatusKey::Connector("a-b".into()),
            StatusKey::Task("a-b".into(), 3),
            StatusKey::Topic {
                topic: "t.1".into(),
                connector: "c-1".into(),
            },
        ] {
            assert_eq!(StatusKey::decode(&key.encode()), Some(key));
        }
    }
}
