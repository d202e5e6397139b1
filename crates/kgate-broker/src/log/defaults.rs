//! Every topic-level configuration Kafka documents, with its broker-level synonym and
//! default, so DescribeConfigs can answer with values, sources and types.

/// The value type DescribeConfigs v3+ reports.
#[derive(Debug, Clone, Copy)]
pub enum ConfigType {
    /// true / false.
    Boolean = 1,
    /// Free text.
    String = 2,
    /// 32-bit integer.
    Int = 3,
    /// 16-bit integer.
    Short = 4,
    /// 64-bit integer.
    Long = 5,
    /// Floating point.
    Double = 6,
    /// Comma-separated list.
    List = 7,
}

/// One topic configuration: its name, the broker setting it defaults to, Kafka's
/// default value, and its type.
pub struct TopicConfigDef {
    /// The topic-level name.
    pub name: &'static str,
    /// The broker-level name whose value is the topic's default, if any.
    pub broker_synonym: Option<&'static str>,
    /// Kafka's default when neither the topic nor the broker sets it.
    pub default: &'static str,
    /// The value type.
    pub kind: ConfigType,
}

macro_rules! defs {
    ($(($name:literal, $syn:expr, $default:literal, $kind:ident)),* $(,)?) => {
        &[$(TopicConfigDef { name: $name, broker_synonym: $syn, default: $default, kind: ConfigType::$kind }),*]
    };
}

/// Kafka's topic configurations, sorted by name.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = defs![
    ("cleanup.policy", Some("log.cleanup.policy"), "delete", List),
    (
        "compression.type",
        Some("compression.type"),
        "producer",
        String
    ),
    (
        "delete.retention.ms",
        Some("log.cleaner.delete.retention.ms"),
        "86400000",
        Long
    ),
    (
        "file.delete.delay.ms",
        Some("log.segment.delete.delay.ms"),
        "60000",
        Long
    ),
    (
        "flush.messages",
        Some("log.flush.interval.messages"),
        "9223372036854775807",
        Long
    ),
    (
        "flush.ms",
        Some("log.flush.interval.ms"),
        "9223372036854775807",
        Long
    ),
    ("follower.replication.throttled.replicas", None, "", List),
    (
        "index.interval.bytes",
        Some("log.index.interval.bytes"),
        "4096",
        Int
    ),
    ("leader.replication.throttled.replicas", None, "", List),
    (
        "local.retention.bytes",
        Some("log.local.retention.bytes"),
        "-2",
        Long
    ),
    (
        "local.retention.ms",
        Some("log.local.retention.ms"),
        "-2",
        Long
    ),
    (
        "max.compaction.lag.ms",
        Some("log.cleaner.max.compaction.lag.ms"),
        "9223372036854775807",
        Long
    ),
    (
        "max.message.bytes",
        Some("message.max.bytes"),
        "1048588",
        Int
    ),
    (
        "message.timestamp.after.max.ms",
        Some("log.message.timestamp.after.max.ms"),
        "9223372036854775807",
        Long
    ),
    (
        "message.timestamp.before.max.ms",
        Some("log.message.timestamp.before.max.ms"),
        "9223372036854775807",
        Long
    ),
    (
        "message.timestamp.type",
        Some("log.message.timestamp.type"),
        "CreateTime",
        String
    ),
    (
        "min.cleanable.dirty.ratio",
        Some("log.cleaner.min.cleanable.ratio"),
        "0.5",
        Double
    ),
    (
        "min.compaction.lag.ms",
        Some("log.cleaner.min.compaction.lag.ms"),
        "0",
        Long
    ),
    ("min.insync.replicas", Some("min.insync.replicas"), "1", Int),
    ("preallocate", Some("log.preallocate"), "false", Boolean),
    ("remote.storage.enable", None, "false", Boolean),
    ("retention.bytes", Some("log.retention.bytes"), "-1", Long),
    ("retention.ms", Some("log.retention.ms"), "604800000", Long),
    (
        "segment.bytes",
        Some("log.segment.bytes"),
        "1073741824",
        Int
    ),
    (
        "segment.index.bytes",
        Some("log.index.size.max.bytes"),
        "10485760",
        Int
    ),
    ("segment.jitter.ms", Some("log.roll.jitter.ms"), "0", Long),
    ("segment.ms", Some("log.roll.ms"), "604800000", Long),
    (
        "unclean.leader.election.enable",
        Some("unclean.leader.election.enable"),
        "false",
        Boolean
    ),
];

/// Where a configuration value comes from (Kafka's ConfigSource ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Set on the topic.
    Topic = 1,
    /// Set dynamically for this broker.
    DynamicBroker = 2,
    /// Set dynamically as the cluster-wide default.
    DynamicDefaultBroker = 3,
    /// Set in the broker's configuration.
    StaticBroker = 4,
    /// Kafka's default.
    Default = 5,
}
