//! Per-topic log settings: Kafka's topic configuration names, validated, with the
//! broker's `log.*` values as defaults.

use std::collections::BTreeMap;

use crate::config::LogDefaults;

/// The settings one partition log runs with.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `segment.bytes`: a segment is rolled before it would grow past this.
    pub segment_bytes: u64,
    /// `retention.ms`; negative keeps data forever.
    pub retention_ms: i64,
    /// `retention.bytes`; negative means unlimited.
    pub retention_bytes: i64,
    /// `index.interval.bytes`: bytes between two sparse index entries.
    pub index_interval_bytes: u32,
    /// `max.message.bytes`: the largest record batch accepted.
    pub max_message_bytes: i32,
    /// `message.timestamp.type` is LogAppendTime.
    pub log_append_time: bool,
    /// `cleanup.policy` contains `delete`.
    pub delete_policy: bool,
    /// `cleanup.policy` contains `compact`.
    pub compact_policy: bool,
    /// `delete.retention.ms`: how long a tombstone (or a removable transaction marker)
    /// survives after the cleaner first cleaned past it.
    pub delete_retention_ms: i64,
    /// `segment.ms`: the active segment is rolled once it is this old.
    pub segment_ms: i64,
    /// `min.cleanable.dirty.ratio`: the share of the log that must be uncleaned before
    /// the cleaner works on it.
    pub min_cleanable_ratio: f64,
    /// `min.compaction.lag.ms`: records younger than this are never compacted.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a log whose oldest uncleaned record is older than this is
    /// cleaned whatever its dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// fsync after every append (`flush.messages` = 1).
    pub flush_every_append: bool,
}

/// How a topic configuration value is checked.
enum Kind {
    Long(i64),
    Bool,
    Ratio,
    Cleanup,
    TimestampType,
    Compression,
    OnlyOne,
    Text,
}

/// The topic configuration names the broker knows and how each is checked.
fn kind_of(name: &str) -> Option<Kind> {
    Some(match name {
        "segment.bytes" => Kind::Long(14),
        "retention.ms" | "retention.bytes" | "local.retention.ms" | "local.retention.bytes" => {
            Kind::Long(-2)
        }
        "index.interval.bytes" | "max.message.bytes" | "segment.index.bytes" => Kind::Long(0),
        // Kafka refuses 0 for these two: a segment cannot roll or be compacted at once.
        "segment.ms" | "max.compaction.lag.ms" => Kind::Long(1),
        "segment.jitter.ms"
        | "flush.messages"
        | "flush.ms"
        | "delete.retention.ms"
        | "min.compaction.lag.ms"
        | "file.delete.delay.ms"
        | "message.timestamp.difference.max.ms"
        | "message.timestamp.before.max.ms"
        | "message.timestamp.after.max.ms" => Kind::Long(0),
        "unclean.leader.election.enable"
        | "preallocate"
        | "message.downconversion.enable"
        | "remote.storage.enable" => Kind::Bool,
        "min.cleanable.dirty.ratio" => Kind::Ratio,
        "cleanup.policy" => Kind::Cleanup,
        "message.timestamp.type" => Kind::TimestampType,
        "compression.type" => Kind::Compression,
        "min.insync.replicas" => Kind::OnlyOne,
        "message.format.version"
        | "leader.replication.throttled.replicas"
        | "follower.replication.throttled.replicas" => Kind::Text,
        _ => return None,
    })
}

/// Checks a `cleanup.policy` value, returning it normalised.
pub fn check_cleanup_policy(_key: &str, v: &str) -> Result<String, String> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.is_empty() || parts.iter().any(|p| *p != "delete" && *p != "compact") {
        return Err(format!("`{v}` is not a list of `delete` and `compact`"));
    }
    Ok(parts.join(","))
}

/// Checks a `message.timestamp.type` value.
pub fn check_timestamp_type(v: &str) -> Result<String, String> {
    match v {
        "CreateTime" | "LogAppendTime" => Ok(v.to_string()),
        _ => Err(format!("`{v}` is neither CreateTime nor LogAppendTime")),
    }
}

/// Checks one topic configuration entry; the error says what is wrong.
pub fn validate_topic_config(name: &str, value: &str) -> Result<(), String> {
    let Some(kind) = kind_of(name) else {
        return Err(format!("unknown topic configuration `{name}`"));
    };
    let bad = |why: &str| Err(format!("invalid value `{value}` for `{name}`: {why}"));
    match kind {
        Kind::Long(min) => match value.trim().parse::<i64>() {
            Ok(n) if n >= min => Ok(()),
            Ok(_) => bad(&format!("must be at least {min}")),
            Err(_) => bad("not an integer"),
        },
        Kind::Bool => match value {
            "true" | "false" => Ok(()),
            _ => bad("expected true or false"),
        },
        Kind::Ratio => match value.trim().parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(()),
            _ => bad("expected a number between 0 and 1"),
        },
        Kind::Cleanup => check_cleanup_policy(name, value).map(|_| ()),
        Kind::TimestampType => check_timestamp_type(value).map(|_| ()),
        Kind::Compression => match value {
            "producer" | "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd" => Ok(()),
            _ => bad("expected producer, uncompressed, gzip, snappy, lz4 or zstd"),
        },
        Kind::OnlyOne => match value.trim() {
            "1" => Ok(()),
            _ => bad("this is a single-node broker, so the only possible value is 1"),
        },
        Kind::Text => Ok(()),
    }
}

impl LogConfig {
    /// How old the active segment may grow before it is rolled: `segment.ms`, or
    /// `max.compaction.lag.ms` when that is shorter on a compacted log (its records
    /// cannot be cleaned while they sit in the active segment).
    pub fn roll_ms(&self) -> i64 {
        if self.compact_policy {
            self.segment_ms.min(self.max_compaction_lag_ms)
        } else {
            self.segment_ms
        }
    }

    /// The effective settings of a topic with `overrides` over the broker `defaults`.
    pub fn resolve(
        defaults: &LogDefaults,
        flush_every_append: bool,
        overrides: &BTreeMap<String, String>,
    ) -> Self {
        let long = |name: &str, default: i64| -> i64 {
            overrides
                .get(name)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(default)
        };
        let policy = overrides
            .get("cleanup.policy")
            .cloned()
            .unwrap_or_else(|| defaults.cleanup_policy.clone());
        let ts_type = overrides
            .get("message.timestamp.type")
            .cloned()
            .unwrap_or_else(|| defaults.timestamp_type.clone());
        LogConfig {
            // Positions inside a segment are kept as u32, as Kafka keeps them as int.
            segment_bytes: long("segment.bytes", defaults.segment_bytes as i64)
                .clamp(14, i32::MAX as i64) as u64,
            retention_ms: long("retention.ms", defaults.retention_ms),
            retention_bytes: long("retention.bytes", defaults.retention_bytes),
            index_interval_bytes: long("index.interval.bytes", defaults.index_interval_bytes as i64)
                .clamp(0, u32::MAX as i64) as u32,
            max_message_bytes: long("max.message.bytes", defaults.max_message_bytes as i64)
                .clamp(0, i32::MAX as i64) as i32,
            log_append_time: ts_type == "LogAppendTime",
            delete_policy: policy.split(',').any(|p| p.trim() == "delete"),
            compact_policy: policy.split(',').any(|p| p.trim() == "compact"),
            delete_retention_ms: long("delete.retention.ms", defaults.delete_retention_ms),
            segment_ms: long("segment.ms", defaults.segment_ms).max(1),
            min_cleanable_ratio: overrides
                .get("min.cleanable.dirty.ratio")
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|r| (0.0..=1.0).contains(r))
                .unwrap_or(defaults.min_cleanable_ratio),
            min_compaction_lag_ms: long("min.compaction.lag.ms", defaults.min_compaction_lag_ms)
                .max(0),
            max_compaction_lag_ms: long("max.compaction.lag.ms", defaults.max_compaction_lag_ms)
                .max(1),
            flush_every_append: flush_every_append || long("flush.messages", i64::MAX) == 1,
        }
    }
}
