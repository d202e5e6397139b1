//! The cluster's state as the three topics tell it: connector and task configurations
//! with their target states (config topic), connector and task statuses and the topics
//! connectors used (status topic), and source offsets (offsets topic).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::records::{ConfigRecord, Properties, StatusKey, StatusValue, TargetState};

/// What the config topic says, applied record by record as Apache applies it.
#[derive(Debug, Clone, Default)]
pub struct ConfigState {
    /// Connector configurations.
    pub connectors: BTreeMap<String, Properties>,
    /// Target states; a connector without one is STARTED.
    pub target_states: BTreeMap<String, TargetState>,
    /// Committed task configurations per connector, in task order.
    pub tasks: BTreeMap<String, Vec<Properties>>,
    /// Task configurations written but not committed yet.
    deferred: BTreeMap<String, BTreeMap<u32, Properties>>,
    /// Connectors whose last commit found task configurations missing.
    pub inconsistent: BTreeSet<String>,
    /// Bumped on every record applied, so waiters can tell something changed.
    pub version: u64,
    /// Bumped when a connector appears or goes, or its tasks are committed: changes that
    /// need the work to be assigned again.
    pub assignment_version: u64,
}

/// A restart asked for through the config topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartRequest {
    /// The connector.
    pub connector: String,
    /// Restart its tasks too.
    pub include_tasks: bool,
    /// Only the failed instances.
    pub only_failed: bool,
}

impl ConfigState {
    /// Applies one record; returns a restart request when the record is one.
    pub fn apply(&mut self, record: ConfigRecord) -> Option<RestartRequest> {
        self.version += 1;
        match record {
            ConfigRecord::Connector(name, Some(props)) => {
                if !self.connectors.contains_key(&name) {
                    self.assignment_version += 1;
                }
                self.connectors.insert(name, props);
            }
            ConfigRecord::Connector(name, None) => {
                self.connectors.remove(&name);
                self.target_states.remove(&name);
                self.tasks.remove(&name);
                self.deferred.remove(&name);
                self.inconsistent.remove(&name);
                self.assignment_version += 1;
            }
            ConfigRecord::TargetState(name, Some(state)) => {
                self.target_states.insert(name, state);
            }
            ConfigRecord::TargetState(name, None) => {
                self.target_states.remove(&name);
            }
            ConfigRecord::Task(name, n, Some(props)) => {
                self.deferred.entry(name).or_default().insert(n, props);
            }
            ConfigRecord::Task(..) => {}
            ConfigRecord::Commit(name, count) => {
                // Compaction may have removed task records a commit covered: the
                // commit then applies only when every task it names is at hand.
                let mut deferred = self.deferred.remove(&name).unwrap_or_default();
                let complete = (0..count).all(|n| deferred.contains_key(&n));
                if complete {
                    let tasks = (0..count).filter_map(|n| deferred.remove(&n)).collect();
                    self.tasks.insert(name.clone(), tasks);
                    self.inconsistent.remove(&name);
                } else {
                    self.inconsistent.insert(name.clone());
                }
                self.assignment_version += 1;
            }
            ConfigRecord::Restart {
                connector,
                include_tasks,
                only_failed,
            } => {
                return Some(RestartRequest {
                    connector,
                    include_tasks,
                    only_failed,
                });
            }
            ConfigRecord::Other => {}
        }
        None
    }

    /// A connector's target state (STARTED unless set).
    pub fn target_state(&self, connector: &str) -> TargetState {
        self.target_states
            .get(connector)
            .copied()
            .unwrap_or(TargetState::Started)
    }

    /// A connector's committed task configurations (none when it has none).
    pub fn task_configs(&self, connector: &str) -> &[Properties] {
        self.tasks.get(connector).map_or(&[], Vec::as_slice)
    }
}

/// What the status topic says.
#[derive(Debug, Clone, Default)]
pub struct StatusState {
    /// Connector statuses.
    pub connectors: BTreeMap<String, StatusValue>,
    /// Task statuses.
    pub tasks: BTreeMap<(String, u32), StatusValue>,
    /// Topics each connector used (connector -> topics).
    pub topics: BTreeMap<String, BTreeSet<String>>,
}

impl StatusState {
    /// Applies one record; a status from an older generation of another worker than the
    /// one that wrote the status known is ignored, as Apache ignores it.
    pub fn apply(&mut self, key: StatusKey, value: Option<&[u8]>) {
        match key {
            StatusKey::Connector(c) => match value.and_then(parse_status) {
                Some(s) => {
                    if accept(self.connectors.get(&c), &s) {
                        self.connectors.insert(c, s);
                    }
                }
                None => {
                    self.connectors.remove(&c);
                }
            },
            StatusKey::Task(c, n) => match value.and_then(parse_status) {
                Some(s) => {
                    let key = (c, n);
                    if accept(self.tasks.get(&key), &s) {
                        self.tasks.insert(key, s);
                    }
                }
                None => {
                    self.tasks.remove(&(c, n));
                }
            },
            StatusKey::Topic { topic, connector } => {
                if value.is_some() {
                    self.topics.entry(connector).or_default().insert(topic);
                } else if let Some(set) = self.topics.get_mut(&connector) {
                    set.remove(&topic);
                    if set.is_empty() {
                        self.topics.remove(&connector);
                    }
                }
            }
        }
    }
}

fn parse_status(bytes: &[u8]) -> Option<StatusValue> {
    serde_json::from_slice(bytes).ok()
}

fn accept(known: Option<&StatusValue>, new: &StatusValue) -> bool {
    match known {
        Some(k) => k.worker_id == new.worker_id || new.generation >= k.generation,
        None => true,
    }
}

/// A source partition and its offset.
pub type PartitionOffset = (Map<String, Value>, Map<String, Value>);

/// Source offsets: connector -> (partition -> offset), partitions compared as JSON.
#[derive(Debug, Clone, Default)]
pub struct OffsetState {
    /// The offsets known.
    pub offsets: BTreeMap<String, Vec<PartitionOffset>>,
}

impl OffsetState {
    /// Applies one record (a `None` offset removes the partition).
    pub fn apply(
        &mut self,
        connector: String,
        partition: Map<String, Value>,
        offset: Option<Map<String, Value>>,
    ) {
        let entries = self.offsets.entry(connector.clone()).or_default();
        let found = entries.iter().position(|(p, _)| *p == partition);
        match (found, offset) {
            (Some(i), Some(o)) => entries[i].1 = o,
            (None, Some(o)) => entries.push((partition, o)),
            (Some(i), None) => {
                entries.remove(i);
            }
            (None, None) => {}
        }
        if entries.is_empty() {
            self.offsets.remove(&connector);
        }
    }

    /// The offset of one partition of a connector.
    pub fn get(
        &self,
        connector: &str,
        partition: &Map<String, Value>,
    ) -> Option<&Map<String, Value>> {
        self.offsets
            .get(connector)?
            .iter()
            .find(|(p, _)| p == partition)
            .map(|(_, o)| o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::records::decode_config;

    fn apply(state: &mut ConfigState, key: &str, value: Option<&str>) {
        let record = decode_config(key, value.map(str::as_bytes)).expect("decodable");
        state.apply(record);
    }

    #[test]
    fn task_configs_apply_at_their_commit_only() {
        let mut s = ConfigState::default();
        apply(&mut s, "connector-c", Some(r#"{"properties":{"a":"1"}}"#));
        apply(&mut s, "task-c-0", Some(r#"{"properties":{"t":"0"}}"#));
        assert!(s.task_configs("c").is_empty());
        apply(&mut s, "task-c-1", Some(r#"{"properties":{"t":"1"}}"#));
        apply(&mut s, "commit-c", Some(r#"{"tasks":2}"#));
        assert_eq!(s.task_configs("c").len(), 2);
        assert_eq!(s.task_configs("c")[1]["t"], "1");
        // A commit naming a task whose record is missing leaves the connector inconsistent.
        apply(&mut s, "task-c-0", Some(r#"{"properties":{"t":"x"}}"#));
        apply(&mut s, "commit-c", Some(r#"{"tasks":2}"#));
        assert!(s.inconsistent.contains("c"));
        apply(&mut s, "commit-c", Some(r#"{"tasks":0}"#));
        assert!(s.task_configs("c").is_empty());
        assert!(!s.inconsistent.contains("c"));
        apply(
            &mut s,
            "target-state-c",
            Some(r#"{"state":"PAUSED","state.v2":"STOPPED"}"#),
        );
        assert_eq!(s.target_state("c"), TargetState::Stopped);
        apply(&mut s, "connector-c", None);
        assert!(s.connectors.is_empty());
        assert_eq!(s.target_state("c"), TargetState::Started);
    }

    #[test]
    fn the_apache_fixture_reads_to_the_state_apache_showed() {
        let text = include_str!("../../tests/fixtures/apache-4.4/configs.tsv");
        let mut s = ConfigState::default();
        for line in text.lines() {
            let mut parts = line.splitn(3, '\t');
            let (_, key, value) = (parts.next(), parts.next().unwrap_or(""), parts.next());
            // kcat -Z prints a null value as NULL.
            let value = value.filter(|v| *v != "NULL");
            if let Some(record) = decode_config(key, value.map(str::as_bytes)) {
                s.apply(record);
            }
        }
        assert_eq!(
            s.connectors.keys().collect::<Vec<_>>(),
            ["ini", "sink", "src"]
        );
        assert_eq!(s.task_configs("sink").len(), 2);
        assert_eq!(
            s.task_configs("src")[0]["task.class"],
            "org.apache.kafka.connect.file.FileStreamSourceTask"
        );
        assert_eq!(s.target_state("ini"), TargetState::Paused);
        assert_eq!(s.target_state("src"), TargetState::Started);
    }
}
