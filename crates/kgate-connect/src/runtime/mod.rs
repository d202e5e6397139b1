//! The worker's runtime: the connectors and tasks assigned to this worker, each task a
//! tokio task driven by its target state, its status written to the status store.

mod control;
mod errors;
mod exactly_once;
mod sink;
mod source;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use kgate_kafka::Kafka;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::converters::{self, SlotConverter};
use crate::plugins::{self, TaskInstance};
use crate::storage::Stores;
use crate::storage::records::{Properties, StatusKey, StatusValue, TargetState};
use crate::worker_config::WorkerConfig;

/// What a task is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Work.
    Run,
    /// Hold: no polling or consuming.
    Pause,
    /// End (committing what is done).
    Stop,
}

/// A task this worker runs.
struct RunningTask {
    properties: Properties,
    control: watch::Sender<Control>,
    handle: JoinHandle<()>,
}

/// Everything a task loop needs from its worker.
#[derive(Clone)]
pub(crate) struct TaskContext {
    pub kafka: Kafka,
    pub config: Arc<WorkerConfig>,
    pub stores: Arc<Stores>,
    pub connector: String,
    pub task: u32,
    pub properties: Properties,
    pub status: StatusWriter,
}

/// Writes the statuses of one worker.
#[derive(Clone)]
pub(crate) struct StatusWriter {
    stores: Arc<Stores>,
    worker_id: String,
    generation: Arc<AtomicI32>,
}

impl StatusWriter {
    /// Records `state` (with `trace` when FAILED) for `key`.
    pub async fn write(&self, key: StatusKey, state: &str, trace: Option<String>) {
        let value = StatusValue {
            state: state.to_string(),
            trace,
            worker_id: self.worker_id.clone(),
            generation: self.generation.load(Ordering::SeqCst),
            version: (state != "UNASSIGNED")
                .then(|| plugins::configdef::PLUGIN_VERSION.to_string()),
        };
        if let Err(e) = self.stores.write_status(key.clone(), Some(value)).await {
            tracing::warn!(key = %key.encode(), error = %e, "could not write a status");
        }
    }
}

/// The connectors and tasks running on this worker.
pub struct Worker {
    kafka: Kafka,
    config: Arc<WorkerConfig>,
    stores: Arc<Stores>,
    status: StatusWriter,
    connectors: Mutex<BTreeMap<String, TargetState>>,
    tasks: Mutex<BTreeMap<(String, u32), RunningTask>>,
    /// One restart at a time: a task being restarted is briefly not running, and a
    /// request to restart it then must wait rather than find it gone.
    restarting: tokio::sync::Mutex<()>,
}

/// The converters of a task's records.
pub(crate) struct RecordConverters {
    /// The key converter.
    pub key: SlotConverter,
    /// The value converter.
    pub value: SlotConverter,
    /// The header converter.
    pub header: SlotConverter,
}

impl RecordConverters {
    /// The task's key, value and header converters (its connector's, else the worker's).
    pub fn new(context: &TaskContext) -> Result<RecordConverters, String> {
        Ok(RecordConverters {
            key: converter_for("key.converter", &context.properties, &context.config)?,
            value: converter_for("value.converter", &context.properties, &context.config)?,
            header: converter_for("header.converter", &context.properties, &context.config)?,
        })
    }
}

/// A converter for `slot` (`key.converter`, `value.converter`): the connector's own
/// setting if it has one, else the worker's; nested settings likewise.
pub(crate) fn converter_for(
    slot: &str,
    connector: &Properties,
    worker: &WorkerConfig,
) -> Result<SlotConverter, String> {
    let prefix = format!("{slot}.");
    let (class, settings) = match connector.get(slot) {
        Some(class) => (
            class.clone(),
            connector
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), v.clone())))
                .collect(),
        ),
        None => {
            let (class, settings) = worker.converter_settings(slot);
            let default = if slot == "header.converter" {
                crate::plugins::configdef::DEFAULT_HEADER_CONVERTER
            } else {
                converters::DEFAULT_CONVERTER
            };
            (class.unwrap_or_else(|| default.to_string()), settings)
        }
    };
    let mut settings = settings;
    if let Some(url) = &worker.default_registry_url {
        settings
            .entry("schema.registry.url".to_string())
            .or_insert_with(|| url.clone());
    }
    if slot == "header.converter" {
        return converters::create_header(&class, &settings).map_err(|e| e.0);
    }
    converters::create(&class, &settings, slot == "key.converter").map_err(|e| e.0)
}

impl Worker {
    /// A worker with nothing running, writing statuses as `worker_id`.
    pub fn new(
        kafka: Kafka,
        config: Arc<WorkerConfig>,
        stores: Arc<Stores>,
        worker_id: String,
    ) -> Worker {
        Worker {
            status: StatusWriter {
                stores: stores.clone(),
                worker_id,
                generation: Arc::new(AtomicI32::new(0)),
            },
            kafka,
            config,
            stores,
            connectors: Mutex::new(BTreeMap::new()),
            tasks: Mutex::new(BTreeMap::new()),
            restarting: tokio::sync::Mutex::new(()),
        }
    }

    /// Sets the group generation written with statuses.
    pub fn set_generation(&self, generation: i32) {
        self.status.generation.store(generation, Ordering::SeqCst);
    }

    /// The connectors running here.
    pub fn connectors(&self) -> Vec<String> {
        self.connectors.lock().keys().cloned().collect()
    }

    /// The tasks running here.
    pub fn tasks(&self) -> Vec<(String, u32)> {
        self.tasks.lock().keys().cloned().collect()
    }

    /// Starts (or re-states) a connector: its status follows its target state, or FAILED
    /// when no plugin has its class.
    pub async fn start_connector(&self, name: &str) {
        let (config, target) = self
            .stores
            .config(|c| (c.connectors.get(name).cloned(), c.target_state(name)));
        let Some(config) = config else { return };
        self.connectors.lock().insert(name.to_string(), target);
        let key = StatusKey::Connector(name.to_string());
        let class = config.get("connector.class").cloned().unwrap_or_default();
        if plugins::find(&class).is_none() {
            let trace = format!(
                "org.apache.kafka.connect.errors.ConnectException: {}",
                plugins::unknown_class_message(&class)
            );
            self.status.write(key, "FAILED", Some(trace)).await;
            return;
        }
        let state = match target {
            TargetState::Started => "RUNNING",
            TargetState::Paused => "PAUSED",
            TargetState::Stopped => "STOPPED",
        };
        self.status.write(key, state, None).await;
    }

    /// Stops a connector: its status becomes UNASSIGNED unless it was deleted.
    pub async fn stop_connector(&self, name: &str) {
        if self.connectors.lock().remove(name).is_none() {
            return;
        }
        if self.stores.config(|c| c.connectors.contains_key(name)) {
            self.status
                .write(StatusKey::Connector(name.to_string()), "UNASSIGNED", None)
                .await;
        }
    }

    /// Starts task `n` of `connector` with its committed configuration.
    pub async fn start_task(&self, connector: &str, n: u32) {
        let id = (connector.to_string(), n);
        if self.tasks.lock().contains_key(&id) {
            return;
        }
        let (properties, target) = self.stores.config(|c| {
            (
                c.task_configs(connector).get(n as usize).cloned(),
                c.target_state(connector),
            )
        });
        let Some(properties) = properties else { return };
        let initial = match target {
            TargetState::Started => Control::Run,
            TargetState::Paused => Control::Pause,
            TargetState::Stopped => return,
        };
        let (control, controlled) = watch::channel(initial);
        let context = TaskContext {
            kafka: self.kafka.clone(),
            config: self.config.clone(),
            stores: self.stores.clone(),
            connector: connector.to_string(),
            task: n,
            properties: properties.clone(),
            status: self.status.clone(),
        };
        let class = properties
            .get("connector.class")
            .cloned()
            .unwrap_or_default();
        let handle = match plugins::find(&class).map(|p| p.new_task()) {
            Some(TaskInstance::Source(task)) => {
                tokio::spawn(source::run(context, task, controlled))
            }
            Some(TaskInstance::Sink(task)) => tokio::spawn(sink::run(context, task, controlled)),
            None => {
                let status = self.status.clone();
                let key = StatusKey::Task(connector.to_string(), n);
                let trace = plugins::unknown_class_message(&class);
                tokio::spawn(async move { status.write(key, "FAILED", Some(trace)).await })
            }
        };
        self.tasks.lock().insert(
            id,
            RunningTask {
                properties,
                control,
                handle,
            },
        );
    }

    /// Stops a task and waits for it (up to `task.shutdown.graceful.timeout.ms`); its
    /// status becomes UNASSIGNED unless its connector was deleted.
    pub async fn stop_task(&self, connector: &str, n: u32) {
        let Some(task) = self.tasks.lock().remove(&(connector.to_string(), n)) else {
            return;
        };
        let _ = task.control.send(Control::Stop);
        let mut handle = task.handle;
        if tokio::time::timeout(self.config.task_shutdown_timeout, &mut handle)
            .await
            .is_err()
        {
            tracing::warn!(
                connector,
                task = n,
                "task did not stop in time; abandoning it"
            );
            handle.abort();
        }
        let exists = self.stores.config(|c| c.connectors.contains_key(connector));
        if exists {
            self.status
                .write(
                    StatusKey::Task(connector.to_string(), n),
                    "UNASSIGNED",
                    None,
                )
                .await;
        }
    }

    /// Stops everything running here.
    pub async fn stop_all(&self) {
        let tasks = self.tasks();
        futures::future::join_all(tasks.iter().map(|(c, n)| self.stop_task(c, *n))).await;
        for c in self.connectors() {
            self.stop_connector(&c).await;
        }
    }

    /// Applies changed target states to the connectors and tasks running here.
    pub async fn apply_target_states(&self) {
        let changed: Vec<(String, TargetState)> = {
            let running = self.connectors.lock();
            self.stores.config(|c| {
                running
                    .iter()
                    .filter(|(name, state)| c.target_state(name) != **state)
                    .map(|(name, _)| (name.clone(), c.target_state(name)))
                    .collect()
            })
        };
        for (name, target) in changed {
            self.start_connector(&name).await;
            let control = match target {
                TargetState::Started => Control::Run,
                TargetState::Paused => Control::Pause,
                TargetState::Stopped => Control::Stop,
            };
            let ids: Vec<u32> = self
                .tasks
                .lock()
                .keys()
                .filter(|(c, _)| *c == name)
                .map(|(_, n)| *n)
                .collect();
            for n in ids {
                if control == Control::Stop {
                    self.stop_task(&name, n).await;
                } else if let Some(t) = self.tasks.lock().get(&(name.clone(), n)) {
                    let _ = t.control.send(control);
                }
            }
        }
    }

    /// Restarts a connector here (and its tasks here when asked), all or only the failed.
    pub async fn restart(&self, connector: &str, include_tasks: bool, only_failed: bool) {
        let _one_at_a_time = self.restarting.lock().await;
        let failed = |key: &StatusKey| {
            self.stores.status(|s| {
                let status = match key {
                    StatusKey::Connector(c) => s.connectors.get(c),
                    StatusKey::Task(c, n) => s.tasks.get(&(c.clone(), *n)),
                    StatusKey::Topic { .. } => None,
                };
                status.is_some_and(|s| s.state == "FAILED")
            })
        };
        if self.connectors.lock().contains_key(connector)
            && (!only_failed || failed(&StatusKey::Connector(connector.to_string())))
        {
            self.status
                .write(
                    StatusKey::Connector(connector.to_string()),
                    "RESTARTING",
                    None,
                )
                .await;
            self.connectors.lock().remove(connector);
            self.start_connector(connector).await;
        }
        if include_tasks {
            let ids: Vec<u32> = self
                .tasks()
                .into_iter()
                .filter(|(c, _)| c == connector)
                .map(|(_, n)| n)
                .collect();
            for n in ids {
                if !only_failed || failed(&StatusKey::Task(connector.to_string(), n)) {
                    self.restart_task_now(connector, n).await;
                }
            }
        }
    }

    /// Restarts one task running here; false when it does not run here.
    pub async fn restart_task(&self, connector: &str, n: u32) -> bool {
        let _one_at_a_time = self.restarting.lock().await;
        self.restart_task_now(connector, n).await
    }

    async fn restart_task_now(&self, connector: &str, n: u32) -> bool {
        if !self.tasks.lock().contains_key(&(connector.to_string(), n)) {
            return false;
        }
        self.stop_task(connector, n).await;
        self.status
            .write(
                StatusKey::Task(connector.to_string(), n),
                "RESTARTING",
                None,
            )
            .await;
        self.start_task(connector, n).await;
        true
    }

    /// Restarts the tasks running here whose configuration changed.
    pub async fn restart_changed_tasks(&self) {
        let ids = self.tasks();
        for (c, n) in ids {
            let current = self
                .stores
                .config(|s| s.task_configs(&c).get(n as usize).cloned());
            let running = self
                .tasks
                .lock()
                .get(&(c.clone(), n))
                .map(|t| t.properties.clone());
            match (running, current) {
                (Some(_), None) => self.stop_task(&c, n).await,
                (Some(old), Some(new)) if old != new => {
                    self.stop_task(&c, n).await;
                    self.start_task(&c, n).await;
                }
                _ => {}
            }
        }
    }
}

/// A failure's trace as the status shows it: Apache's exception class, then the cause.
pub(crate) fn trace(message: &str) -> String {
    format!("org.apache.kafka.connect.errors.ConnectException: {message}")
}

/// The consumer group of a sink connector's tasks.
pub fn sink_group(connector: &str) -> String {
    sink::group_of(connector)
}
