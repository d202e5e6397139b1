//! Broker settings parsed and validated from Apache Kafka's configuration names.

use std::collections::BTreeMap;

use crate::BrokerError;

/// The validated broker-wide settings the server and the log use.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `num.partitions`: partitions of an auto-created topic or a topic created with -1.
    pub num_partitions: i32,
    /// `delete.topic.enable`.
    pub delete_topic_enable: bool,
    /// `socket.request.max.bytes`: the largest request frame accepted.
    pub max_request_bytes: usize,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval_ms: u64,
    /// `log.flush.interval.messages`: 1 means fsync after every append.
    pub flush_every_append: bool,
    /// Defaults for every topic's log (`log.segment.bytes`, `log.retention.ms`, ...).
    pub log: LogDefaults,
    /// The properties exactly as configured, for DescribeConfigs.
    pub explicit: BTreeMap<String, String>,
}

/// Broker-level defaults of the per-topic log settings.
#[derive(Debug, Clone)]
pub struct LogDefaults {
    /// `log.segment.bytes`.
    pub segment_bytes: u64,
    /// `log.retention.ms` (or `.minutes`/`.hours`); negative keeps data forever.
    pub retention_ms: i64,
    /// `log.retention.bytes`; negative means unlimited.
    pub retention_bytes: i64,
    /// `log.index.interval.bytes`.
    pub index_interval_bytes: u32,
    /// `message.max.bytes`.
    pub max_message_bytes: i32,
    /// `log.cleanup.policy`.
    pub cleanup_policy: String,
    /// `log.message.timestamp.type`.
    pub timestamp_type: String,
}

fn bad(key: &str, message: impl Into<String>) -> BrokerError {
    BrokerError::Config {
        key: key.to_string(),
        message: message.into(),
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, BrokerError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(key, format!("expected true or false, got `{v}`"))),
    }
}

fn parse_int(key: &str, v: &str, min: i64) -> Result<i64, BrokerError> {
    let n: i64 = v
        .trim()
        .parse()
        .map_err(|_| bad(key, format!("expected an integer, got `{v}`")))?;
    if n < min {
        return Err(bad(key, format!("must be at least {min}, got {n}")));
    }
    Ok(n)
}

/// Keys accepted for compatibility with common Kafka broker configurations, whose value
/// must be an integer but which change nothing on a single node.
const ACCEPTED_INTEGER_KEYS: &[&str] = &[
    "broker.id",
    "node.id",
    "num.network.threads",
    "num.io.threads",
    "num.recovery.threads.per.data.dir",
    "group.initial.rebalance.delay.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
    "offsets.retention.minutes",
    "transactional.id.expiration.ms",
    "producer.id.expiration.ms",
    "transaction.max.timeout.ms",
    "log.flush.interval.ms",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
];

/// Replication settings: on one broker only 1 is possible.
const REPLICATION_KEYS: &[&str] = &[
    "default.replication.factor",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "min.insync.replicas",
];

impl Settings {
    /// Validates `properties`; an unknown key or a bad value names the key.
    pub fn from_properties(properties: &BTreeMap<String, String>) -> Result<Self, BrokerError> {
        let mut s = Settings {
            auto_create_topics: true,
            num_partitions: 1,
            delete_topic_enable: true,
            max_request_bytes: 104_857_600,
            retention_check_interval_ms: 300_000,
            flush_every_append: false,
            log: LogDefaults {
                segment_bytes: 1_073_741_824,
                retention_ms: 7 * 24 * 3_600_000,
                retention_bytes: -1,
                index_interval_bytes: 4096,
                max_message_bytes: 1_048_588,
                cleanup_policy: "delete".to_string(),
                timestamp_type: "CreateTime".to_string(),
            },
            explicit: properties.clone(),
        };
        // Kafka gives log.retention.ms precedence over minutes, and minutes over hours.
        let mut retention_hours = None;
        let mut retention_minutes = None;
        let mut retention_ms = None;
        for (key, v) in properties {
            let k = key.as_str();
            match k {
                "auto.create.topics.enable" => s.auto_create_topics = parse_bool(k, v)?,
                "delete.topic.enable" => s.delete_topic_enable = parse_bool(k, v)?,
                "num.partitions" => {
                    s.num_partitions = parse_int(k, v, 1)?
                        .try_into()
                        .map_err(|_| bad(k, "too large"))?
                }
                "socket.request.max.bytes" => {
                    s.max_request_bytes = parse_int(k, v, 1024)? as usize;
                }
                "log.retention.check.interval.ms" => {
                    s.retention_check_interval_ms = parse_int(k, v, 1)? as u64
                }
                "log.flush.interval.messages" => {
                    s.flush_every_append = parse_int(k, v, 1)? == 1;
                }
                "log.segment.bytes" => {
                    let n = parse_int(k, v, 14)?;
                    if n > i32::MAX as i64 {
                        return Err(bad(k, "must fit in a 32-bit integer, as in Kafka"));
                    }
                    s.log.segment_bytes = n as u64
                }
                "log.retention.ms" => retention_ms = Some(parse_int(k, v, -1)?),
                "log.retention.minutes" => retention_minutes = Some(parse_int(k, v, -1)?),
                "log.retention.hours" => retention_hours = Some(parse_int(k, v, -1)?),
                "log.retention.bytes" => s.log.retention_bytes = parse_int(k, v, -1)?,
                "log.index.interval.bytes" => {
                    s.log.index_interval_bytes = parse_int(k, v, 0)?.min(u32::MAX as i64) as u32
                }
                "message.max.bytes" => {
                    s.log.max_message_bytes = parse_int(k, v, 0)?.min(i32::MAX as i64) as i32
                }
                "log.cleanup.policy" => {
                    s.log.cleanup_policy =
                        crate::log::config::check_cleanup_policy(k, v).map_err(|m| bad(k, m))?
                }
                "log.message.timestamp.type" => {
                    s.log.timestamp_type =
                        crate::log::config::check_timestamp_type(v).map_err(|m| bad(k, m))?
                }
                _ if REPLICATION_KEYS.contains(&k) => {
                    if parse_int(k, v, 1)? != 1 {
                        return Err(bad(
                            k,
                            "this is a single-node broker, so the only possible value is 1",
                        ));
                    }
                }
                _ if ACCEPTED_INTEGER_KEYS.contains(&k) => {
                    parse_int(k, v, -1)?;
                }
                _ => return Err(bad(k, "unknown broker configuration key")),
            }
        }
        if let Some(ms) = retention_ms
            .or(retention_minutes.map(|m| if m < 0 { m } else { m * 60_000 }))
            .or(retention_hours.map(|h| if h < 0 { h } else { h * 3_600_000 }))
        {
            s.log.retention_ms = ms;
        }
        Ok(s)
    }
}
