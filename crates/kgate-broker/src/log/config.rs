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
    /// `flush.messages`: the log is forced to disk once this many records were appended
    /// since the last time (1: after every append).
    pub flush_messages: i64,
    /// `flush.ms`: an append forces the log to disk when the last time is this long ago.
    pub flush_ms: i64,
    /// `message.timestamp.before.max.ms`: with CreateTime, how far in the past a
    /// record's timestamp may be.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far in the future.
    pub timestamp_after_max_ms: i64,
    /// `compression.type` as Kafka's codec number, `None` for `producer` (batches are
    /// kept as the producer compressed them).
    pub compression: Option<i16>,
    /// `min.insync.replicas`: above 1, acks=all writes fail with NOT_ENOUGH_REPLICAS,
    /// as on a single Kafka broker.
    pub min_insync_replicas: i32,
}

/// Checks one topic configuration entry by Kafka's rules; the error is Kafka's message.
pub fn validate_topic_config(name: &str, value: &str) -> Result<(), String> {
    crate::config_defs::check_topic(name, value)
}

/// Checks a topic's whole set of overrides: each entry, then what Kafka checks across
/// them (`min.compaction.lag.ms` may not exceed `max.compaction.lag.ms`, either taken
/// from the broker's defaults when the topic does not set it).
pub fn validate_topic_configs(
    configs: &BTreeMap<String, String>,
    defaults: &LogDefaults,
) -> Result<(), String> {
    for (k, v) in configs {
        validate_topic_config(k, v)?;
    }
    let long = |name: &str, default: i64| {
        configs
            .get(name)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(default)
    };
    let min = long("min.compaction.lag.ms", defaults.min_compaction_lag_ms);
    let max = long("max.compaction.lag.ms", defaults.max_compaction_lag_ms);
    if min > max {
        return Err(format!(
            "conflict topic config setting min.compaction.lag.ms ({min}) > max.compaction.lag.ms ({max})"
        ));
    }
    Ok(())
}

/// Kafka's codec number for a `compression.type` value; `None` for `producer`.
fn codec(compression_type: &str) -> Option<i16> {
    match compression_type.trim() {
        "uncompressed" => Some(0),
        "gzip" => Some(1),
        "snappy" => Some(2),
        "lz4" => Some(3),
        "zstd" => Some(4),
        _ => None,
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
    pub fn resolve(defaults: &LogDefaults, overrides: &BTreeMap<String, String>) -> Self {
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
            // Kafka's `internal.segment.bytes` (for tests) overrides segment.bytes.
            segment_bytes: long(
                "internal.segment.bytes",
                long("segment.bytes", defaults.segment_bytes as i64),
            )
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
            flush_messages: long("flush.messages", defaults.flush_messages).max(1),
            flush_ms: long("flush.ms", defaults.flush_ms).max(0),
            timestamp_before_max_ms: long(
                "message.timestamp.before.max.ms",
                defaults.timestamp_before_max_ms,
            )
            .max(0),
            timestamp_after_max_ms: long(
                "message.timestamp.after.max.ms",
                defaults.timestamp_after_max_ms,
            )
            .max(0),
            compression: codec(
                overrides
                    .get("compression.type")
                    .map(String::as_str)
                    .unwrap_or(&defaults.compression_type),
            ),
            min_insync_replicas: long("min.insync.replicas", defaults.min_insync_replicas as i64)
                .clamp(1, i32::MAX as i64) as i32,
        }
    }
}
