//! The worker's settings: Apache Kafka Connect's worker keys, given to kgate under the
//! `connect.` prefix (`connect.group.id`, `connect.config.storage.topic`, ...), with
//! Apache's defaults.
//!
//! Apache requires `group.id` and the three storage topics; kgate defaults them to the
//! names of Apache's sample `connect-distributed.properties` (`connect-cluster`,
//! `connect-configs`, `connect-offsets`, `connect-status`) so that kgate alone starts a
//! worker with no settings. Keys kgate does not know are logged, as Apache does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::ConnectError;

/// Distributed (a group of workers, state in Kafka) or standalone (one worker, offsets in
/// a local file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Apache's `connect-distributed`.
    Distributed,
    /// Apache's `connect-standalone`.
    Standalone,
}

/// The worker's settings, checked.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// `connect.enable`: whether the Connect face runs at all.
    pub enabled: bool,
    /// `connect.listeners`: host and port of the REST API (only `http://` is served).
    pub listener_host: String,
    /// Port of the REST API; 0 asks the system for one.
    pub listener_port: u16,
    /// `connect.mode`.
    pub mode: Mode,
    /// `group.id`.
    pub group_id: String,
    /// `config.storage.topic`.
    pub config_topic: String,
    /// `config.storage.replication.factor` (-1: the broker's default).
    pub config_replication: i32,
    /// `offset.storage.topic`.
    pub offset_topic: String,
    /// `offset.storage.partitions`.
    pub offset_partitions: i32,
    /// `offset.storage.replication.factor`.
    pub offset_replication: i32,
    /// `status.storage.topic`.
    pub status_topic: String,
    /// `status.storage.partitions`.
    pub status_partitions: i32,
    /// `status.storage.replication.factor`.
    pub status_replication: i32,
    /// `offset.flush.interval.ms`.
    pub offset_flush_interval: Duration,
    /// `offset.flush.timeout.ms`.
    pub offset_flush_timeout: Duration,
    /// `offset.storage.file.filename` (standalone mode).
    pub offset_file: Option<PathBuf>,
    /// `rest.advertised.host.name`.
    pub advertised_host: Option<String>,
    /// `rest.advertised.port`.
    pub advertised_port: Option<u16>,
    /// `rest.advertised.listener` (`http` or `https`).
    pub advertised_protocol: String,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `rebalance.timeout.ms`.
    pub rebalance_timeout: Duration,
    /// `worker.sync.timeout.ms`: how long a worker waits to catch up with the config topic.
    pub worker_sync_timeout: Duration,
    /// `task.shutdown.graceful.timeout.ms`.
    pub task_shutdown_timeout: Duration,
    /// `exactly.once.source.support` is `enabled`: source records and their offsets are
    /// written in one transaction.
    pub exactly_once_source: bool,
    /// `connector.client.config.override.policy`: `All`, `None` or `Principal`.
    pub client_override_policy: String,
    /// `producer.*` settings for the clients of source tasks (prefix removed).
    pub producer: BTreeMap<String, String>,
    /// `consumer.*` settings for the clients of sink tasks (prefix removed).
    pub consumer: BTreeMap<String, String>,
    /// Every setting as given, for the converters' nested keys (`key.converter.*`).
    pub properties: BTreeMap<String, String>,
    /// Keys this worker does not know, logged at start-up.
    pub unknown: Vec<String>,
    /// The Schema Registry the registry converters use when their
    /// `*.converter.schema.registry.url` is not set: kgate's `schema.registry.url`, else
    /// its built-in registry (set by the binary, not a `connect.*` key).
    pub default_registry_url: Option<String>,
}

/// Keys accepted and passed to converters, plugins or clients without being checked here.
const PREFIXES: &[&str] = &[
    "key.converter.",
    "value.converter.",
    "header.converter.",
    "producer.",
    "consumer.",
    "admin.",
    "listeners.https.",
    "config.providers.",
];

/// Apache worker keys kgate accepts and does not need (they tune the JVM worker).
const ACCEPTED: &[&str] = &[
    "plugin.path",
    "plugin.discovery",
    "config.providers",
    "rest.extension.classes",
    "access.control.allow.origin",
    "access.control.allow.methods",
    "admin.listeners",
    "client.id",
    "metrics.sample.window.ms",
    "metrics.num.samples",
    "metrics.recording.level",
    "metric.reporters",
    "response.http.headers.config",
    "topic.creation.enable",
    "connect.protocol",
    "scheduled.rebalance.max.delay.ms",
    "worker.unsync.backoff.ms",
    "inter.worker.key.generation.algorithm",
    "inter.worker.key.size",
    "inter.worker.key.ttl.ms",
    "inter.worker.signature.algorithm",
    "inter.worker.verification.algorithms",
    "task.shutdown.graceful.timeout.ms",
    "offset.flush.timeout.ms",
    "header.converter",
    "bootstrap.servers",
    "metadata.max.age.ms",
    "retry.backoff.ms",
    "reconnect.backoff.ms",
    "request.timeout.ms",
    "security.protocol",
    "config.storage.topic",
];

impl WorkerConfig {
    /// Reads `properties` (the `connect.*` keys, prefix removed). `embedded_broker` says
    /// kgate's own broker is the cluster: the storage topics then take its default
    /// replication factor instead of Apache's 3.
    pub fn from_properties(
        properties: &BTreeMap<String, String>,
        embedded_broker: bool,
    ) -> Result<WorkerConfig, ConnectError> {
        let p = Props(properties);
        let replication_default = if embedded_broker { -1 } else { 3 };
        let (listener_host, listener_port) = parse_listener(
            p.get("listeners").unwrap_or("http://0.0.0.0:8083"),
            "listeners",
        )?;
        let mode = match p.get("mode").unwrap_or("distributed") {
            m if m.eq_ignore_ascii_case("distributed") => Mode::Distributed,
            m if m.eq_ignore_ascii_case("standalone") => Mode::Standalone,
            other => return Err(bad("mode", other, "expected distributed or standalone")),
        };
        let exactly_once_source = match p.get("exactly.once.source.support").unwrap_or("disabled") {
            "disabled" | "preparing" => false,
            "enabled" => true,
            other => {
                return Err(bad(
                    "exactly.once.source.support",
                    other,
                    "expected disabled, preparing or enabled",
                ));
            }
        };
        let policy = p
            .get("connector.client.config.override.policy")
            .unwrap_or("All")
            .to_string();
        if !["All", "None", "Principal"].contains(&policy.as_str()) {
            return Err(bad(
                "connector.client.config.override.policy",
                &policy,
                "expected All, None or Principal",
            ));
        }
        let advertised_protocol = p
            .get("rest.advertised.listener")
            .unwrap_or("http")
            .to_ascii_lowercase();
        if advertised_protocol != "http" {
            return Err(bad(
                "rest.advertised.listener",
                &advertised_protocol,
                "kgate's Connect API is served over http only",
            ));
        }
        let config = WorkerConfig {
            enabled: p.boolean("enable", true)?,
            listener_host,
            listener_port,
            mode,
            group_id: p.text("group.id", "connect-cluster")?,
            config_topic: p.text("config.storage.topic", "connect-configs")?,
            config_replication: p
                .replication("config.storage.replication.factor", replication_default)?,
            offset_topic: p.text("offset.storage.topic", "connect-offsets")?,
            offset_partitions: p.partitions("offset.storage.partitions", 25)?,
            offset_replication: p
                .replication("offset.storage.replication.factor", replication_default)?,
            status_topic: p.text("status.storage.topic", "connect-status")?,
            status_partitions: p.partitions("status.storage.partitions", 5)?,
            status_replication: p
                .replication("status.storage.replication.factor", replication_default)?,
            offset_flush_interval: p.millis("offset.flush.interval.ms", 60_000)?,
            offset_flush_timeout: p.millis("offset.flush.timeout.ms", 5_000)?,
            offset_file: p.get("offset.storage.file.filename").map(PathBuf::from),
            advertised_host: p.get("rest.advertised.host.name").map(str::to_string),
            advertised_port: match p.get("rest.advertised.port") {
                None => None,
                Some(v) => Some(
                    v.parse()
                        .map_err(|_| bad("rest.advertised.port", v, "expected a port number"))?,
                ),
            },
            advertised_protocol,
            session_timeout: p.millis("session.timeout.ms", 10_000)?,
            heartbeat_interval: p.millis("heartbeat.interval.ms", 3_000)?,
            rebalance_timeout: p.millis("rebalance.timeout.ms", 60_000)?,
            worker_sync_timeout: p.millis("worker.sync.timeout.ms", 3_000)?,
            task_shutdown_timeout: p.millis("task.shutdown.graceful.timeout.ms", 5_000)?,
            exactly_once_source,
            client_override_policy: policy,
            producer: p.prefixed("producer."),
            consumer: p.prefixed("consumer."),
            properties: properties.clone(),
            unknown: properties
                .keys()
                .filter(|k| !is_known(k))
                .map(|k| format!("connect.{k}"))
                .collect(),
            default_registry_url: None,
        };
        if config.mode == Mode::Standalone && config.offset_file.is_none() {
            return Err(bad(
                "offset.storage.file.filename",
                "",
                "standalone mode keeps source offsets in this file: name one",
            ));
        }
        if config.heartbeat_interval >= config.session_timeout {
            return Err(bad(
                "heartbeat.interval.ms",
                &config.heartbeat_interval.as_millis().to_string(),
                "must be lower than session.timeout.ms",
            ));
        }
        Ok(config)
    }

    /// The settings of one converter slot (`key.converter`, `value.converter`): its
    /// class and its nested keys with the prefix removed.
    pub fn converter_settings(&self, slot: &str) -> (Option<String>, BTreeMap<String, String>) {
        let prefix = format!("{slot}.");
        let nested = self
            .properties
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), v.clone())))
            .collect();
        (self.properties.get(slot).cloned(), nested)
    }
}

const KNOWN: &[&str] = &[
    "enable",
    "listeners",
    "mode",
    "group.id",
    "config.storage.replication.factor",
    "offset.storage.topic",
    "offset.storage.partitions",
    "offset.storage.replication.factor",
    "status.storage.topic",
    "status.storage.partitions",
    "status.storage.replication.factor",
    "offset.flush.interval.ms",
    "offset.storage.file.filename",
    "rest.advertised.host.name",
    "rest.advertised.port",
    "rest.advertised.listener",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "rebalance.timeout.ms",
    "worker.sync.timeout.ms",
    "exactly.once.source.support",
    "connector.client.config.override.policy",
    "key.converter",
    "value.converter",
];

fn is_known(key: &str) -> bool {
    KNOWN.contains(&key) || ACCEPTED.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p))
}

fn bad(key: &str, value: &str, message: &str) -> ConnectError {
    ConnectError::Config {
        key: key.to_string(),
        value: value.to_string(),
        message: message.to_string(),
    }
}

/// `http://host:port` (or a bare `host:port`) as host and port.
fn parse_listener(text: &str, key: &str) -> Result<(String, u16), ConnectError> {
    let first = text
        .split(',')
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or("");
    let rest = match first.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => {
            return Err(bad(
                key,
                text,
                &format!("kgate's Connect API is served over http only, not {scheme}"),
            ));
        }
        None => first,
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| bad(key, text, "expected http://HOST:PORT"))?;
        (host, after.strip_prefix(':').unwrap_or(""))
    } else {
        rest.rsplit_once(':')
            .ok_or_else(|| bad(key, text, "expected http://HOST:PORT"))?
    };
    let port = port
        .parse::<u16>()
        .map_err(|_| bad(key, text, "expected http://HOST:PORT with a port number"))?;
    // An empty host listens on every interface, as Jetty does.
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    Ok((host.to_string(), port))
}

struct Props<'a>(&'a BTreeMap<String, String>);

impl Props<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.trim())
    }

    fn text(&self, key: &str, default: &str) -> Result<String, ConnectError> {
        match self.get(key) {
            None => Ok(default.to_string()),
            Some("") => Err(bad(key, "", "must not be empty")),
            Some(v) => Ok(v.to_string()),
        }
    }

    fn boolean(&self, key: &str, default: bool) -> Result<bool, ConnectError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(bad(key, v, "expected true or false")),
        }
    }

    fn millis(&self, key: &str, default: u64) -> Result<Duration, ConnectError> {
        match self.get(key) {
            None => Ok(Duration::from_millis(default)),
            Some(v) => v
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| bad(key, v, "expected a number of milliseconds")),
        }
    }

    fn partitions(&self, key: &str, default: i32) -> Result<i32, ConnectError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.parse::<i32>() {
                Ok(n) if n >= 1 || n == -1 => Ok(n),
                _ => Err(bad(
                    key,
                    v,
                    "expected a positive number, or -1 for the broker's default",
                )),
            },
        }
    }

    fn replication(&self, key: &str, default: i32) -> Result<i32, ConnectError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.parse::<i32>() {
                Ok(n) if (n >= 1 && n <= i32::from(i16::MAX)) || n == -1 => Ok(n),
                _ => Err(bad(
                    key,
                    v,
                    "expected a positive number, or -1 for the broker's default",
                )),
            },
        }
    }

    fn prefixed(&self, prefix: &str) -> BTreeMap<String, String> {
        self.0
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_string(), v.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<WorkerConfig, ConnectError> {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        WorkerConfig::from_properties(&map, true)
    }

    #[test]
    fn defaults_start_a_worker_with_no_settings() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listener_port, 8083);
        assert_eq!(c.group_id, "connect-cluster");
        assert_eq!(c.config_topic, "connect-configs");
        assert_eq!(c.offset_partitions, 25);
        assert_eq!(c.status_partitions, 5);
        assert_eq!(c.config_replication, -1);
        assert_eq!(c.mode, Mode::Distributed);
    }

    #[test]
    fn a_bad_value_names_the_prefixed_key() {
        let e = config(&[("offset.flush.interval.ms", "soon")]).unwrap_err();
        assert!(
            e.to_string().contains("connect.offset.flush.interval.ms"),
            "{e}"
        );
        let e = config(&[("listeners", "https://0.0.0.0:8083")]).unwrap_err();
        assert!(e.to_string().contains("connect.listeners"), "{e}");
        let e = config(&[("mode", "standalone")]).unwrap_err();
        assert!(
            e.to_string().contains("offset.storage.file.filename"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_are_reported_not_refused() {
        let c = config(&[("no.such", "1"), ("key.converter.schemas.enable", "false")]).unwrap();
        assert_eq!(c.unknown, ["connect.no.such"]);
        let (class, nested) = c.converter_settings("key.converter");
        assert_eq!(class, None);
        assert_eq!(
            nested.get("schemas.enable").map(String::as_str),
            Some("false")
        );
    }
}
