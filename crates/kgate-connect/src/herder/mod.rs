//! The herder: what a worker knows of its cluster (the stores, its group membership) and
//! the operations the REST API asks of it. Only the group's leader writes
//! configurations; other workers forward writes to it (see `api`).

mod group;
pub mod protocol;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kgate_kafka::Kafka;
use parking_lot::RwLock;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::error::ConnectError;
use crate::plugins::{self, configdef};
use crate::runtime::Worker;
use crate::storage::records::{self, Properties, StatusKey, StatusValue, TargetState};
use crate::storage::{JsonMap, Stores};
use crate::worker_config::WorkerConfig;

/// What this worker knows of its group.
#[derive(Debug, Clone, Default)]
pub struct GroupView {
    /// The leader's REST URL, when a generation is complete.
    pub leader_url: Option<String>,
    /// Whether this worker leads.
    pub is_leader: bool,
    /// Whether a rebalance is under way.
    pub rebalancing: bool,
    /// The generation.
    pub generation: i32,
}

/// Where a configuration write must be made.
pub enum WriteTarget {
    /// Here: this worker leads.
    Here,
    /// At the leader's URL.
    Leader(String),
    /// Nowhere yet: the group is rebalancing.
    Unknown,
}

/// A worker's view of its cluster and the operations on it.
pub struct Herder {
    kafka: Kafka,
    config: Arc<WorkerConfig>,
    stores: Arc<Stores>,
    worker: Arc<Worker>,
    url: String,
    worker_id: String,
    view: RwLock<GroupView>,
    /// Wakes the group loop to rejoin (the work to assign changed).
    rejoin: Notify,
    ready: AtomicBool,
}

/// A connector's info as the REST API shows it.
pub fn connector_info(name: &str, config: &Properties, tasks: usize) -> Value {
    let kind = config
        .get("connector.class")
        .and_then(|c| plugins::find(c))
        .map_or("unknown", |p| p.kind.name());
    json!({
        "name": name,
        "config": config,
        "tasks": (0..tasks).map(|n| json!({"connector": name, "task": n})).collect::<Vec<_>>(),
        "type": kind,
    })
}

fn state_json(status: &StatusValue, id: Option<u32>) -> Value {
    let mut v = serde_json::Map::new();
    if let Some(id) = id {
        v.insert("id".into(), json!(id));
    }
    v.insert("state".into(), json!(status.state));
    v.insert("worker_id".into(), json!(status.worker_id));
    if let Some(trace) = &status.trace {
        v.insert("trace".into(), json!(trace));
    }
    if let Some(version) = &status.version {
        v.insert("version".into(), json!(version));
    }
    Value::Object(v)
}

impl Herder {
    /// A herder over `stores`, advertising `url` (`http://host:port/`).
    pub fn new(
        kafka: Kafka,
        config: Arc<WorkerConfig>,
        stores: Arc<Stores>,
        url: String,
        worker_id: String,
    ) -> Arc<Herder> {
        let worker = Arc::new(Worker::new(
            kafka.clone(),
            config.clone(),
            stores.clone(),
            worker_id.clone(),
        ));
        Arc::new(Herder {
            kafka,
            config,
            stores,
            worker,
            url,
            worker_id,
            view: RwLock::new(GroupView {
                rebalancing: true,
                ..GroupView::default()
            }),
            rejoin: Notify::new(),
            ready: AtomicBool::new(false),
        })
    }

    /// The stores.
    pub fn stores(&self) -> &Arc<Stores> {
        &self.stores
    }

    /// The Kafka client layer.
    pub fn kafka(&self) -> &Kafka {
        &self.kafka
    }

    /// This worker's id (`host:port`).
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// The group view.
    pub fn view(&self) -> GroupView {
        self.view.read().clone()
    }

    /// Whether the worker has joined its group once (for `GET /health`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Where a configuration write must go.
    pub fn write_target(&self) -> WriteTarget {
        let view = self.view.read();
        if view.rebalancing {
            return WriteTarget::Unknown;
        }
        if view.is_leader {
            return WriteTarget::Here;
        }
        match &view.leader_url {
            Some(url) => WriteTarget::Leader(url.clone()),
            None => WriteTarget::Unknown,
        }
    }

    /// Connector names, sorted.
    pub fn connectors(&self) -> Vec<String> {
        self.stores
            .config(|c| c.connectors.keys().cloned().collect())
    }

    /// A connector's configuration.
    pub fn connector_config(&self, name: &str) -> Result<Properties, ConnectError> {
        self.stores
            .config(|c| c.connectors.get(name).cloned())
            .ok_or_else(|| ConnectError::connector_not_found(name))
    }

    /// `GET /connectors/{c}`.
    pub fn connector_info(&self, name: &str) -> Result<Value, ConnectError> {
        self.stores.config(|c| {
            let config = c
                .connectors
                .get(name)
                .ok_or_else(|| ConnectError::connector_not_found(name))?;
            Ok(connector_info(name, config, c.task_configs(name).len()))
        })
    }

    /// `GET /connectors/{c}/tasks`.
    pub fn task_configs(&self, name: &str) -> Result<Value, ConnectError> {
        self.stores.config(|c| {
            if !c.connectors.contains_key(name) {
                return Err(ConnectError::connector_not_found(name));
            }
            Ok(Value::Array(
                c.task_configs(name)
                    .iter()
                    .enumerate()
                    .map(|(n, config)| json!({"id": {"connector": name, "task": n}, "config": config}))
                    .collect(),
            ))
        })
    }

    /// `GET /connectors/{c}/status`.
    pub fn connector_status(&self, name: &str) -> Result<Value, ConnectError> {
        let (config, task_count) = self
            .stores
            .config(|c| (c.connectors.get(name).cloned(), c.task_configs(name).len()));
        let status = self.stores.status(|s| {
            let connector = s.connectors.get(name).cloned();
            let tasks: Vec<(u32, StatusValue)> = s
                .tasks
                .range((name.to_string(), 0)..=(name.to_string(), u32::MAX))
                .filter(|((_, n), _)| (*n as usize) < task_count)
                .map(|((_, n), v)| (*n, v.clone()))
                .collect();
            (connector, tasks)
        });
        let (Some(connector), Some(config)) = (status.0, config) else {
            return Err(ConnectError::NotFound(format!(
                "No status found for connector {name}"
            )));
        };
        let kind = config
            .get("connector.class")
            .and_then(|c| plugins::find(c))
            .map_or("unknown", |p| p.kind.name());
        Ok(json!({
            "name": name,
            "connector": state_json(&connector, None),
            "tasks": status.1.iter().map(|(n, s)| state_json(s, Some(*n))).collect::<Vec<_>>(),
            "type": kind,
        }))
    }

    /// `GET /connectors/{c}/tasks/{t}/status`.
    pub fn task_status(&self, name: &str, task: u32) -> Result<Value, ConnectError> {
        self.stores
            .status(|s| s.tasks.get(&(name.to_string(), task)).cloned())
            .map(|s| state_json(&s, Some(task)))
            .ok_or_else(|| {
                ConnectError::NotFound(format!("No status found for task {name}-{task}"))
            })
    }

    /// The worker (`host:port`) running a task, from its status.
    pub fn task_owner(&self, name: &str, task: u32) -> Option<String> {
        self.stores.status(|s| {
            s.tasks
                .get(&(name.to_string(), task))
                .map(|s| s.worker_id.clone())
        })
    }

    /// `GET /connectors/{c}/topics`.
    pub fn topics(&self, name: &str) -> Value {
        let topics: Vec<String> = self.stores.status(|s| {
            s.topics
                .get(name)
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default()
        });
        json!({ name: { "topics": topics } })
    }

    /// Validates `config` for connector `name`: a 400 with Apache's message when invalid.
    fn checked(
        &self,
        config: &Properties,
    ) -> Result<&'static plugins::ConnectorPlugin, ConnectError> {
        let class = config
            .get("connector.class")
            .map(String::as_str)
            .unwrap_or("");
        let plugin = plugins::find(class).ok_or_else(|| {
            if class.is_empty() {
                ConnectError::BadRequest(
                    "Connector config {} contains no connector type".to_string(),
                )
            } else {
                ConnectError::BadRequest(plugins::unknown_class_message(class))
            }
        })?;
        let infos = plugin.validate(config);
        let errors = configdef::error_messages(&infos);
        if !errors.is_empty() {
            return Err(ConnectError::BadRequest(format!(
                "Connector configuration is invalid and contains the following {} error(s):\n{}\nYou can also find the above list of errors at the endpoint `/connector-plugins/{{connectorType}}/config/validate`",
                errors.len(),
                errors.join("\n")
            )));
        }
        Ok(plugin)
    }

    /// Creates or replaces a connector's configuration (leader only): whether it was
    /// created, and its info.
    pub async fn put_connector(
        &self,
        name: &str,
        config: Properties,
        allow_replace: bool,
        initial_state: Option<TargetState>,
    ) -> Result<(bool, Value), ConnectError> {
        self.checked(&config)?;
        let exists = self.stores.config(|c| c.connectors.contains_key(name));
        if exists && !allow_replace {
            return Err(ConnectError::Conflict(format!(
                "Connector {name} already exists"
            )));
        }
        let mut writes = Vec::new();
        if !exists && let Some(state) = initial_state.filter(|s| *s != TargetState::Started) {
            writes.push((
                records::target_state_key(name),
                Some(records::target_state_value(state)),
            ));
        }
        writes.push((
            records::connector_key(name),
            Some(records::properties_value(&config)),
        ));
        self.stores.write_config(writes).await?;
        // Apache answers before the connector's tasks are configured: a new connector
        // shows none, an updated one its current tasks.
        let info = self.connector_info(name)?;
        self.reconcile_tasks().await?;
        Ok((!exists, info))
    }

    /// Deletes a connector (leader only).
    pub async fn delete_connector(&self, name: &str) -> Result<(), ConnectError> {
        let tasks = self.stores.config(|c| {
            c.connectors
                .contains_key(name)
                .then(|| c.task_configs(name).len())
        });
        let Some(tasks) = tasks else {
            return Err(ConnectError::connector_not_found(name));
        };
        self.stores
            .write_config(vec![
                (records::connector_key(name), None),
                (records::target_state_key(name), None),
            ])
            .await?;
        // Apache removes the statuses of a deleted connector with tombstones.
        self.stores
            .write_status(StatusKey::Connector(name.to_string()), None)
            .await?;
        for n in 0..tasks as u32 {
            self.stores
                .write_status(StatusKey::Task(name.to_string(), n), None)
                .await?;
        }
        self.rejoin.notify_one();
        Ok(())
    }

    /// Sets a connector's target state (leader only).
    pub async fn set_target_state(
        &self,
        name: &str,
        state: TargetState,
    ) -> Result<(), ConnectError> {
        if !self.stores.config(|c| c.connectors.contains_key(name)) {
            return Err(ConnectError::NotFound(format!("Unknown connector {name}")));
        }
        self.stores
            .write_config(vec![(
                records::target_state_key(name),
                Some(records::target_state_value(state)),
            )])
            .await?;
        self.reconcile_tasks().await
    }

    /// Asks for a restart through the config topic (leader only).
    pub async fn request_restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<(), ConnectError> {
        if !self.stores.config(|c| c.connectors.contains_key(name)) {
            return Err(ConnectError::NotFound(format!("Unknown connector: {name}")));
        }
        self.stores
            .write_config(vec![(
                records::restart_key(name),
                Some(records::restart_value(include_tasks, only_failed)),
            )])
            .await
    }

    /// Restarts a task if it runs here.
    pub async fn restart_task_here(&self, name: &str, task: u32) -> bool {
        self.worker.restart_task(name, task).await
    }

    /// Writes the task configurations each connector should have, where they differ from
    /// those committed (leader only): none for a stopped connector.
    pub async fn reconcile_tasks(&self) -> Result<(), ConnectError> {
        let wanted: Vec<(String, Vec<Properties>)> = self.stores.config(|c| {
            c.connectors
                .iter()
                .filter_map(|(name, config)| {
                    let plugin = config
                        .get("connector.class")
                        .and_then(|k| plugins::find(k))?;
                    let desired = match c.target_state(name) {
                        TargetState::Stopped => Vec::new(),
                        _ => plugin.task_configs(config),
                    };
                    let current = c.task_configs(name);
                    let fresh = c.tasks.contains_key(name) || !desired.is_empty();
                    (fresh && (current != desired.as_slice() || c.inconsistent.contains(name)))
                        .then(|| (name.clone(), desired))
                })
                .collect()
        });
        for (name, tasks) in wanted {
            let mut writes: Vec<(String, Option<Vec<u8>>)> = tasks
                .iter()
                .enumerate()
                .map(|(n, t)| {
                    (
                        records::task_key(&name, n as u32),
                        Some(records::properties_value(t)),
                    )
                })
                .collect();
            writes.push((
                records::commit_key(&name),
                Some(records::commit_value(tasks.len() as u32)),
            ));
            self.stores.write_config(writes).await?;
        }
        Ok(())
    }

    /// `GET /connectors/{c}/offsets`.
    pub async fn offsets(&self, name: &str) -> Result<Value, ConnectError> {
        let config = self.connector_config(name)?;
        let kind = config
            .get("connector.class")
            .and_then(|c| plugins::find(c))
            .map(|p| p.kind);
        match kind {
            Some(plugins::ConnectorType::Sink) => {
                let group = crate::runtime::sink_group(name);
                let committed = self.kafka.consumer_group_offsets(&group).await?;
                Ok(json!({
                    "offsets": committed.iter().map(|((t, p), o)| json!({
                        "partition": {"kafka_partition": p, "kafka_topic": t},
                        "offset": {"kafka_offset": o},
                    })).collect::<Vec<_>>()
                }))
            }
            _ => {
                let entries = self
                    .stores
                    .offsets(|o| o.offsets.get(name).cloned().unwrap_or_default());
                Ok(json!({
                    "offsets": entries.iter().map(|(p, o)| json!({"partition": p, "offset": o})).collect::<Vec<_>>()
                }))
            }
        }
    }

    /// `PATCH` (`Some`) or `DELETE` (`None`) of a stopped source connector's offsets.
    pub async fn alter_offsets(
        &self,
        name: &str,
        offsets: Option<Vec<(JsonMap, Option<JsonMap>)>>,
    ) -> Result<Value, ConnectError> {
        let config = self.connector_config(name)?;
        if self.stores.config(|c| c.target_state(name)) != TargetState::Stopped {
            return Err(ConnectError::BadRequest(format!(
                "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
            )));
        }
        let plugin = config
            .get("connector.class")
            .and_then(|c| plugins::find(c))
            .ok_or_else(|| {
                ConnectError::BadRequest(plugins::unknown_class_message(
                    config
                        .get("connector.class")
                        .map(String::as_str)
                        .unwrap_or(""),
                ))
            })?;
        if plugin.kind == plugins::ConnectorType::Sink {
            return Err(ConnectError::BadRequest(
                "kgate does not alter or reset the offsets of sink connectors yet".to_string(),
            ));
        }
        let (changes, message) = match offsets {
            Some(list) => {
                for (p, o) in &list {
                    (plugin.check_offset)(p, o.as_ref()).map_err(ConnectError::Internal)?;
                }
                (
                    list,
                    "The offsets for this connector have been altered successfully",
                )
            }
            None => (
                self.stores
                    .offsets(|o| o.offsets.get(name).cloned().unwrap_or_default())
                    .into_iter()
                    .map(|(p, _)| (p, None))
                    .collect(),
                "The offsets for this connector have been reset successfully",
            ),
        };
        self.stores.write_offsets(name, changes).await?;
        Ok(json!({ "message": message }))
    }

    /// Runs the herder (group membership and the work assigned) until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()> + Send) {
        group::run(self, shutdown).await
    }
}

/// Parses `initial_state`.
pub fn parse_initial_state(text: &str) -> Option<TargetState> {
    match text {
        "RUNNING" => Some(TargetState::Started),
        "PAUSED" => Some(TargetState::Paused),
        "STOPPED" => Some(TargetState::Stopped),
        _ => None,
    }
}

/// Merges a PATCH into a configuration: null removes a key.
pub fn patched(mut config: Properties, patch: &BTreeMap<String, Option<String>>) -> Properties {
    for (k, v) in patch {
        match v {
            Some(v) => {
                config.insert(k.clone(), v.clone());
            }
            None => {
                config.remove(k);
            }
        }
    }
    config
}
