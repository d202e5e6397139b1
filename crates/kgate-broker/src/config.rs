//! Broker settings parsed and validated from Apache Kafka's configuration names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::BrokerError;
use crate::log::defaults::{ConfigType, Source};

/// The validated broker-wide settings the server and the log use.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `num.partitions`: partitions of an auto-created topic or a topic created with -1.
    pub num_partitions: i32,
    /// `delete.topic.enable`.
    pub delete_topic_enable: bool,
    /// `max.partitions.per.request` (kgate's own): the most partitions one CreateTopics
    /// or CreatePartitions request may add.
    pub max_partitions_per_request: i32,
    /// `max.broker.partitions` (the name KIP-578 proposed): the most partitions the
    /// broker holds.
    pub max_broker_partitions: i32,
    /// `socket.request.max.bytes`: the largest request frame accepted.
    pub max_request_bytes: usize,
    /// `socket.send.buffer.bytes`: SO_SNDBUF of accepted connections; -1 keeps the
    /// operating system's (auto-tuned) size, kgate's default.
    pub socket_send_buffer_bytes: i32,
    /// `socket.receive.buffer.bytes`: SO_RCVBUF likewise.
    pub socket_receive_buffer_bytes: i32,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval_ms: u64,
    /// The group coordinator's settings.
    pub group: GroupSettings,
    /// Defaults for every topic's log (`log.segment.bytes`, `log.retention.ms`, ...).
    pub log: LogDefaults,
    /// The properties in force: the static ones under any dynamic broker configs.
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
    /// `log.cleaner.delete.retention.ms`: the default of `delete.retention.ms`.
    pub delete_retention_ms: i64,
    /// `log.cleaner.min.cleanable.ratio`: the default of `min.cleanable.dirty.ratio`.
    pub min_cleanable_ratio: f64,
    /// `log.cleaner.min.compaction.lag.ms`: the default of `min.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    /// `log.cleaner.max.compaction.lag.ms`: the default of `max.compaction.lag.ms`.
    pub max_compaction_lag_ms: i64,
    /// `log.roll.ms` (or `log.roll.hours`): the default of `segment.ms`.
    pub segment_ms: i64,
    /// `min.insync.replicas`: an acks=all write needs this many replicas in sync, and a
    /// single node has one.
    pub min_insync_replicas: i32,
    /// `log.flush.interval.messages`: the default of `flush.messages`.
    pub flush_messages: i64,
    /// `log.flush.interval.ms`: the default of `flush.ms`.
    pub flush_ms: i64,
    /// `log.message.timestamp.before.max.ms`: the default of
    /// `message.timestamp.before.max.ms`.
    pub timestamp_before_max_ms: i64,
    /// `log.message.timestamp.after.max.ms`: the default of
    /// `message.timestamp.after.max.ms`.
    pub timestamp_after_max_ms: i64,
    /// `compression.type`: the default of the topic setting of the same name.
    pub compression_type: String,
}

fn bad(key: &str, message: impl Into<String>) -> BrokerError {
    BrokerError::Config {
        key: key.to_string(),
        message: message.into(),
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, BrokerError> {
    crate::config_defs::check(key, v, crate::config_defs::Rule::Bool).map_err(|m| bad(key, m))?;
    Ok(boolean(v))
}

/// A value refused, in the words of Kafka's ConfigException.
fn refused(key: &str, value: &str, why: &str) -> BrokerError {
    bad(key, crate::config_defs::invalid(key, value, why))
}

/// A value that passed its [`crate::config_defs`] rule, as a number.
fn int(v: &str) -> i64 {
    v.trim().parse().unwrap_or_default()
}

/// A value that passed its rule, as a boolean.
fn boolean(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("true")
}

/// Replication settings: Kafka accepts any positive value, but on one broker only 1 can
/// ever be met, so a start-up property asking for more is refused at once rather than
/// failing every topic creation (or transaction) later.
const REPLICATION_KEYS: &[&str] = &[
    "default.replication.factor",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
];

impl Settings {
    /// Validates `properties` with Kafka's rules (see [`crate::config_defs`]); an unknown
    /// key or a bad value names the key.
    pub fn from_properties(properties: &BTreeMap<String, String>) -> Result<Self, BrokerError> {
        let mut s = Settings {
            auto_create_topics: true,
            num_partitions: 1,
            delete_topic_enable: true,
            max_partitions_per_request: 10_000,
            max_broker_partitions: i32::MAX,
            max_request_bytes: 104_857_600,
            socket_send_buffer_bytes: -1,
            socket_receive_buffer_bytes: -1,
            retention_check_interval_ms: 300_000,
            group: GroupSettings::default(),
            log: LogDefaults {
                segment_bytes: 1_073_741_824,
                retention_ms: 7 * 24 * 3_600_000,
                retention_bytes: -1,
                index_interval_bytes: 4096,
                max_message_bytes: 1_048_588,
                cleanup_policy: "delete".to_string(),
                timestamp_type: "CreateTime".to_string(),
                delete_retention_ms: 86_400_000,
                min_cleanable_ratio: 0.5,
                min_compaction_lag_ms: 0,
                max_compaction_lag_ms: i64::MAX,
                segment_ms: 7 * 24 * 3_600_000,
                min_insync_replicas: 1,
                flush_messages: i64::MAX,
                flush_ms: i64::MAX,
                timestamp_before_max_ms: i64::MAX,
                timestamp_after_max_ms: i64::MAX,
                compression_type: "producer".to_string(),
            },
            explicit: properties.clone(),
        };
        // Kafka gives log.retention.ms precedence over minutes, and minutes over hours.
        let mut retention_hours = None;
        let mut retention_minutes = None;
        let mut retention_ms = None;
        let mut roll_hours = None;
        let mut roll_ms = None;
        for (key, v) in properties {
            let k = key.as_str();
            match crate::config_defs::broker_rule(k) {
                Some(rule) => crate::config_defs::check(k, v, rule).map_err(|m| bad(k, m))?,
                None if is_security_key(k) => continue,
                None => return Err(bad(k, format!("Unknown broker config name: {k}"))),
            }
            match k {
                "auto.create.topics.enable" => s.auto_create_topics = boolean(v),
                "delete.topic.enable" => s.delete_topic_enable = boolean(v),
                "num.partitions" => s.num_partitions = int(v) as i32,
                "max.partitions.per.request" => s.max_partitions_per_request = int(v) as i32,
                "max.broker.partitions" => s.max_broker_partitions = int(v) as i32,
                "socket.request.max.bytes" => s.max_request_bytes = int(v) as usize,
                "socket.send.buffer.bytes" => s.socket_send_buffer_bytes = int(v) as i32,
                "socket.receive.buffer.bytes" => s.socket_receive_buffer_bytes = int(v) as i32,
                "log.retention.check.interval.ms" => s.retention_check_interval_ms = int(v) as u64,
                "log.flush.interval.messages" => s.log.flush_messages = int(v),
                "log.flush.interval.ms" => s.log.flush_ms = int(v),
                "log.message.timestamp.before.max.ms" => s.log.timestamp_before_max_ms = int(v),
                "log.message.timestamp.after.max.ms" => s.log.timestamp_after_max_ms = int(v),
                "log.segment.bytes" => s.log.segment_bytes = int(v) as u64,
                "log.retention.ms" => retention_ms = Some(int(v)),
                "log.retention.minutes" => retention_minutes = Some(int(v)),
                "log.retention.hours" => retention_hours = Some(int(v)),
                "log.retention.bytes" => s.log.retention_bytes = int(v),
                "log.roll.ms" => roll_ms = Some(int(v)),
                "log.roll.hours" => roll_hours = Some(int(v)),
                "log.index.interval.bytes" => s.log.index_interval_bytes = int(v) as u32,
                "message.max.bytes" => s.log.max_message_bytes = int(v) as i32,
                "min.insync.replicas" => s.log.min_insync_replicas = int(v) as i32,
                "log.cleanup.policy" => {
                    s.log.cleanup_policy = crate::config_defs::list_items(v).join(",")
                }
                "log.message.timestamp.type" => s.log.timestamp_type = v.trim().to_string(),
                "compression.type" => s.log.compression_type = v.trim().to_string(),
                "log.cleaner.delete.retention.ms" => s.log.delete_retention_ms = int(v),
                "log.cleaner.min.compaction.lag.ms" => s.log.min_compaction_lag_ms = int(v),
                "log.cleaner.max.compaction.lag.ms" => s.log.max_compaction_lag_ms = int(v),
                "log.cleaner.min.cleanable.ratio" => {
                    s.log.min_cleanable_ratio = v.trim().parse().unwrap_or(0.5)
                }
                "group.initial.rebalance.delay.ms" => {
                    s.group.initial_rebalance_delay_ms = int(v) as i32
                }
                "group.min.session.timeout.ms" => s.group.min_session_timeout_ms = int(v) as i32,
                "group.max.session.timeout.ms" => s.group.max_session_timeout_ms = int(v) as i32,
                "offsets.retention.minutes" => s.group.offsets_retention_minutes = int(v) as i32,
                "offsets.retention.check.interval.ms" => {
                    s.group.offsets_retention_check_interval_ms = int(v)
                }
                _ if REPLICATION_KEYS.contains(&k) && int(v) != 1 => {
                    return Err(refused(
                        k,
                        v,
                        "this is a single-node broker, so the only possible value is 1",
                    ));
                }
                // Accepted for compatibility with Kafka configurations; they change
                // nothing here (README: the embedded broker's configs).
                _ => {}
            }
        }
        if let Some(ms) = retention_ms
            .or(retention_minutes.map(|m| if m < 0 { m } else { m * 60_000 }))
            .or(retention_hours.map(|h| if h < 0 { h } else { h * 3_600_000 }))
        {
            s.log.retention_ms = ms;
        }
        if let Some(ms) = roll_ms.or(roll_hours.map(|h| h.saturating_mul(3_600_000))) {
            s.log.segment_ms = ms;
        }
        Ok(s)
    }
}

/// The group coordinator's settings (Kafka's classic group configs).
#[derive(Debug, Clone, Copy)]
pub struct GroupSettings {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty
    /// group waits for more members (and again, up to the rebalance timeout, while more
    /// keep coming).
    pub initial_rebalance_delay_ms: i32,
    /// `group.min.session.timeout.ms`: the shortest session timeout a member may ask for.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: the longest.
    pub max_session_timeout_ms: i32,
    /// `offsets.retention.minutes`: how long the committed offsets of an empty group
    /// (counted from when it became empty, or from the commit) are kept.
    pub offsets_retention_minutes: i32,
    /// `offsets.retention.check.interval.ms`: how often expired offsets are looked for.
    pub offsets_retention_check_interval_ms: i64,
}

impl Default for GroupSettings {
    /// Kafka's defaults.
    fn default() -> Self {
        Self {
            initial_rebalance_delay_ms: 3_000,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            offsets_retention_minutes: 10_080,
            offsets_retention_check_interval_ms: 600_000,
        }
    }
}

/// Whether `key` is read by [`SecuritySettings`] rather than [`Settings`].
fn is_security_key(key: &str) -> bool {
    matches!(
        key,
        "listener.security.protocol"
            | "sasl.enabled.mechanisms"
            | "ssl.certificate.location"
            | "ssl.key.location"
            | "authorizer.enabled"
            | "authorizer.class.name"
            | "super.users"
            | "allow.everyone.if.no.acl.found"
    ) || key.starts_with("sasl.user.")
}

/// A listener's security protocol, under Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No TLS, no authentication.
    Plaintext,
    /// SASL over plain TCP.
    SaslPlaintext,
    /// TLS without SASL.
    Ssl,
    /// SASL inside TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Parses Kafka's protocol name.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(Self::Plaintext),
            "SASL_PLAINTEXT" => Some(Self::SaslPlaintext),
            "SSL" => Some(Self::Ssl),
            "SASL_SSL" => Some(Self::SaslSsl),
            _ => None,
        }
    }

    /// Whether clients must authenticate with SASL first.
    pub fn sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    /// Whether connections are wrapped in TLS.
    pub fn tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
}

/// Authentication, authorization and TLS settings.
#[derive(Debug, Clone)]
pub struct SecuritySettings {
    /// `listener.security.protocol`: the protocol of the listener given to `start`.
    pub protocol: SecurityProtocol,
    /// `sasl.enabled.mechanisms`.
    pub mechanisms: Vec<String>,
    /// `sasl.user.<name>=<password>`: users for PLAIN and SCRAM.
    pub users: BTreeMap<String, String>,
    /// `ssl.certificate.location`: PEM certificate chain of TLS listeners.
    pub certificate: Option<std::path::PathBuf>,
    /// `ssl.key.location`: PEM private key of TLS listeners.
    pub key: Option<std::path::PathBuf>,
    /// `authorizer.enabled` (or a non-empty `authorizer.class.name`).
    pub authorizer: bool,
    /// `super.users`: `User:a;User:b`.
    pub super_users: std::collections::BTreeSet<String>,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_if_no_acl: bool,
}

const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

impl SecuritySettings {
    /// Reads the security keys of `properties`.
    pub fn from_properties(properties: &BTreeMap<String, String>) -> Result<Self, BrokerError> {
        let mut s = SecuritySettings {
            protocol: SecurityProtocol::Plaintext,
            mechanisms: MECHANISMS.iter().map(|m| m.to_string()).collect(),
            users: BTreeMap::new(),
            certificate: None,
            key: None,
            authorizer: false,
            super_users: Default::default(),
            allow_if_no_acl: false,
        };
        for (key, v) in properties {
            let k = key.as_str();
            match k {
                "listener.security.protocol" => {
                    s.protocol = SecurityProtocol::parse(v).ok_or_else(|| {
                        bad(k, "expected PLAINTEXT, SASL_PLAINTEXT, SSL or SASL_SSL")
                    })?
                }
                "sasl.enabled.mechanisms" => {
                    let list: Vec<String> = v
                        .split(',')
                        .map(|m| m.trim().to_ascii_uppercase())
                        .filter(|m| !m.is_empty())
                        .collect();
                    if let Some(m) = list.iter().find(|m| !MECHANISMS.contains(&m.as_str())) {
                        return Err(bad(k, format!("unsupported mechanism {m}")));
                    }
                    s.mechanisms = list;
                }
                "ssl.certificate.location" => s.certificate = Some(v.into()),
                "ssl.key.location" => s.key = Some(v.into()),
                "authorizer.enabled" => s.authorizer = parse_bool(k, v)?,
                "authorizer.class.name" => s.authorizer |= !v.trim().is_empty(),
                "super.users" => {
                    s.super_users = v
                        .split(';')
                        .map(|u| u.trim().to_string())
                        .filter(|u| !u.is_empty())
                        .collect()
                }
                "allow.everyone.if.no.acl.found" => s.allow_if_no_acl = parse_bool(k, v)?,
                _ => {
                    if let Some(user) = k.strip_prefix("sasl.user.") {
                        if user.is_empty() {
                            return Err(bad(k, "the user name is missing"));
                        }
                        s.users.insert(user.to_string(), v.clone());
                    }
                }
            }
        }
        if s.protocol.tls() && (s.certificate.is_none() || s.key.is_none()) {
            return Err(bad(
                "listener.security.protocol",
                "a TLS listener needs ssl.certificate.location and ssl.key.location",
            ));
        }
        Ok(s)
    }

    /// A TLS acceptor from the configured certificate and key.
    pub fn tls_acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, BrokerError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let (Some(cert), Some(key)) = (&self.certificate, &self.key) else {
            return Err(bad(
                "ssl.certificate.location",
                "TLS needs ssl.certificate.location and ssl.key.location",
            ));
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                bad(
                    "ssl.certificate.location",
                    format!("{}: {e}", cert.display()),
                )
            })?;
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| bad("ssl.key.location", format!("{}: {e}", key.display())))?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("ssl.certificate.location", e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| bad("ssl.key.location", e.to_string()))?;
        Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
    }
}

/// How a broker configuration may change while the broker runs (Kafka's update modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    /// Only in the broker's properties; a restart applies a change.
    ReadOnly,
    /// Dynamically, but only for this broker (resource name = its id): listener
    /// security, as Kafka's listener-prefixed settings.
    PerBroker,
    /// Dynamically, for this broker (resource name = its id) or as the cluster-wide
    /// default (resource name "").
    ClusterWide,
}

/// One broker configuration as DescribeConfigs lists it.
pub struct BrokerConfigDef {
    /// Kafka's name.
    pub name: &'static str,
    /// Kafka's default; `None` when Kafka has none (reported as null).
    pub default: Option<&'static str>,
    /// The value type.
    pub kind: ConfigType,
    /// Whether and how it may be changed dynamically.
    pub mode: UpdateMode,
}

macro_rules! broker_defs {
    ($(($name:literal, $default:expr, $kind:ident, $mode:ident)),* $(,)?) => {
        &[$(BrokerConfigDef {
            name: $name,
            default: $default,
            kind: ConfigType::$kind,
            mode: UpdateMode::$mode,
        }),*]
    };
}

/// The broker configurations DescribeConfigs reports, sorted by name. Users and their
/// passwords and the authorizer's settings are deliberately not listed.
pub const BROKER_CONFIGS: &[BrokerConfigDef] = broker_defs![
    ("auto.create.topics.enable", Some("true"), Boolean, ReadOnly),
    ("broker.id", None, Int, ReadOnly),
    ("compression.gzip.level", Some("-1"), Int, ClusterWide),
    ("compression.lz4.level", Some("9"), Int, ClusterWide),
    ("compression.type", Some("producer"), String, ClusterWide),
    ("compression.zstd.level", Some("3"), Int, ClusterWide),
    ("default.replication.factor", Some("1"), Int, ReadOnly),
    ("delete.topic.enable", Some("true"), Boolean, ReadOnly),
    (
        "group.initial.rebalance.delay.ms",
        Some("3000"),
        Int,
        ReadOnly
    ),
    (
        "group.max.session.timeout.ms",
        Some("1800000"),
        Int,
        ReadOnly
    ),
    ("group.min.session.timeout.ms", Some("6000"), Int, ReadOnly),
    ("log.cleaner.backoff.ms", Some("15000"), Long, ClusterWide),
    (
        "log.cleaner.dedupe.buffer.size",
        Some("134217728"),
        Long,
        ClusterWide
    ),
    (
        "log.cleaner.delete.retention.ms",
        Some("86400000"),
        Long,
        ClusterWide
    ),
    (
        "log.cleaner.io.buffer.load.factor",
        Some("0.9"),
        Double,
        ClusterWide
    ),
    (
        "log.cleaner.io.buffer.size",
        Some("524288"),
        Int,
        ClusterWide
    ),
    (
        "log.cleaner.io.max.bytes.per.second",
        Some("1.7976931348623157E308"),
        Double,
        ClusterWide
    ),
    (
        "log.cleaner.max.compaction.lag.ms",
        Some("9223372036854775807"),
        Long,
        ClusterWide
    ),
    (
        "log.cleaner.min.cleanable.ratio",
        Some("0.5"),
        Double,
        ClusterWide
    ),
    (
        "log.cleaner.min.compaction.lag.ms",
        Some("0"),
        Long,
        ClusterWide
    ),
    ("log.cleaner.threads", Some("1"), Int, ClusterWide),
    ("log.cleanup.policy", Some("delete"), List, ClusterWide),
    (
        "log.flush.interval.messages",
        Some("9223372036854775807"),
        Long,
        ClusterWide
    ),
    ("log.flush.interval.ms", None, Long, ClusterWide),
    ("log.index.interval.bytes", Some("4096"), Int, ClusterWide),
    (
        "log.index.size.max.bytes",
        Some("10485760"),
        Int,
        ClusterWide
    ),
    (
        "log.message.timestamp.after.max.ms",
        Some("9223372036854775807"),
        Long,
        ClusterWide
    ),
    (
        "log.message.timestamp.before.max.ms",
        Some("9223372036854775807"),
        Long,
        ClusterWide
    ),
    (
        "log.message.timestamp.type",
        Some("CreateTime"),
        String,
        ClusterWide
    ),
    ("log.preallocate", Some("false"), Boolean, ClusterWide),
    ("log.retention.bytes", Some("-1"), Long, ClusterWide),
    (
        "log.retention.check.interval.ms",
        Some("300000"),
        Long,
        ReadOnly
    ),
    ("log.retention.hours", Some("168"), Int, ClusterWide),
    ("log.retention.minutes", None, Int, ClusterWide),
    ("log.retention.ms", None, Long, ClusterWide),
    ("log.roll.hours", Some("168"), Int, ClusterWide),
    ("log.roll.ms", None, Long, ClusterWide),
    ("log.segment.bytes", Some("1073741824"), Int, ClusterWide),
    (
        "log.segment.delete.delay.ms",
        Some("60000"),
        Long,
        ClusterWide
    ),
    ("max.broker.partitions", Some("2147483647"), Int, ReadOnly),
    ("max.partitions.per.request", Some("10000"), Int, ReadOnly),
    ("message.max.bytes", Some("1048588"), Int, ClusterWide),
    ("min.insync.replicas", Some("1"), Int, ClusterWide),
    ("node.id", None, Int, ReadOnly),
    ("num.io.threads", Some("8"), Int, ClusterWide),
    ("num.network.threads", Some("3"), Int, ClusterWide),
    ("num.partitions", Some("1"), Int, ReadOnly),
    (
        "num.recovery.threads.per.data.dir",
        Some("2"),
        Int,
        ClusterWide
    ),
    (
        "offsets.retention.check.interval.ms",
        Some("600000"),
        Long,
        ReadOnly
    ),
    ("offsets.retention.minutes", Some("10080"), Int, ReadOnly),
    (
        "offsets.topic.replication.factor",
        Some("1"),
        Short,
        ReadOnly
    ),
    (
        "producer.id.expiration.ms",
        Some("86400000"),
        Int,
        ClusterWide
    ),
    (
        "sasl.enabled.mechanisms",
        Some("PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"),
        List,
        PerBroker
    ),
    // Kafka's default is 102400; kgate's is -1 (the system's auto-tuned size).
    ("socket.receive.buffer.bytes", Some("-1"), Int, ReadOnly),
    ("socket.request.max.bytes", Some("104857600"), Int, ReadOnly),
    ("socket.send.buffer.bytes", Some("-1"), Int, ReadOnly),
    ("ssl.certificate.location", None, String, PerBroker),
    ("ssl.key.location", None, String, PerBroker),
    (
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        Some("10000"),
        Int,
        ReadOnly
    ),
    ("transaction.max.timeout.ms", Some("900000"), Int, ReadOnly),
    (
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        Some("3600000"),
        Int,
        ReadOnly
    ),
    ("transaction.state.log.min.isr", Some("1"), Int, ReadOnly),
    (
        "transaction.state.log.replication.factor",
        Some("1"),
        Short,
        ReadOnly
    ),
    (
        "transactional.id.expiration.ms",
        Some("604800000"),
        Int,
        ReadOnly
    ),
    (
        "unclean.leader.election.enable",
        Some("false"),
        Boolean,
        ClusterWide
    ),
];

/// The definition of broker configuration `name`.
pub fn broker_config(name: &str) -> Option<&'static BrokerConfigDef> {
    BROKER_CONFIGS.iter().find(|d| d.name == name)
}

/// Settings that are one setting in several units, most specific first: whichever level
/// sets any of a group decides, and within a level the first unit wins (Kafka's
/// synonyms: retention in ms, minutes or hours; segment roll in ms or hours).
const UNIT_GROUPS: &[&[&str]] = &[
    &[
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ],
    &["log.roll.ms", "log.roll.hours"],
];

/// The broker-level names that stand for the same setting as `name`, most specific
/// first (Kafka's synonyms).
pub fn synonyms_of(name: &str) -> Vec<&str> {
    for group in UNIT_GROUPS {
        if let Some(i) = group.iter().position(|k| *k == name) {
            return group[i..].to_vec();
        }
    }
    vec![name]
}

/// Which dynamic level an alteration addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DynamicScope {
    /// This broker (resource name = its id).
    Broker,
    /// The cluster-wide default (resource name "").
    ClusterDefault,
}

/// The broker's configuration at Kafka's levels: dynamic for this broker, dynamic
/// cluster-wide default, and static (the properties the broker was started with).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfigLevels {
    /// Dynamic configs of this broker.
    #[serde(default)]
    pub broker: BTreeMap<String, String>,
    /// Dynamic cluster-wide defaults.
    #[serde(default)]
    pub default: BTreeMap<String, String>,
    /// The broker's own properties (never persisted here).
    #[serde(skip)]
    pub fixed: BTreeMap<String, String>,
}

impl ConfigLevels {
    /// The file, under the data directory, that keeps the dynamic levels.
    pub const FILE: &'static str = "broker-configs.json";

    /// Loads the dynamic levels kept in `data_dir` over the static `properties`.
    pub fn load(
        data_dir: &std::path::Path,
        properties: &BTreeMap<String, String>,
    ) -> std::io::Result<Self> {
        let mut levels: ConfigLevels = match std::fs::read(data_dir.join(Self::FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is unreadable: {e}", Self::FILE),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigLevels::default(),
            Err(e) => return Err(e),
        };
        levels.fixed = properties.clone();
        Ok(levels)
    }

    /// Writes the dynamic levels to `data_dir` atomically (temporary file, fsync, rename).
    pub fn save(&self, data_dir: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write;
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let tmp = data_dir.join(format!("{}.tmp", Self::FILE));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(tmp, data_dir.join(Self::FILE))
    }

    /// The dynamic map of `scope`, to change it.
    pub fn dynamic_mut(&mut self, scope: DynamicScope) -> &mut BTreeMap<String, String> {
        match scope {
            DynamicScope::Broker => &mut self.broker,
            DynamicScope::ClusterDefault => &mut self.default,
        }
    }

    /// The dynamic map of `scope`.
    pub fn dynamic(&self, scope: DynamicScope) -> &BTreeMap<String, String> {
        match scope {
            DynamicScope::Broker => &self.broker,
            DynamicScope::ClusterDefault => &self.default,
        }
    }

    /// One set of properties: each level over the ones below it, a group of unit
    /// synonyms taken whole from the highest level that sets any of it.
    pub fn merged(&self) -> BTreeMap<String, String> {
        let mut out = self.fixed.clone();
        for level in [&self.default, &self.broker] {
            for group in UNIT_GROUPS {
                if group.iter().any(|k| level.contains_key(*k)) {
                    for k in *group {
                        out.remove(*k);
                    }
                }
            }
            out.extend(level.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out
    }

    /// The settings these levels make.
    pub fn settings(&self) -> Result<Settings, BrokerError> {
        Settings::from_properties(&self.merged())
    }

    /// The value of every synonym of `name` at every level, most specific first, as
    /// Kafka lists them (`per_broker` false leaves this broker's own level out).
    pub fn synonyms(&self, name: &str, per_broker: bool) -> Vec<(String, String, Source)> {
        let names = synonyms_of(name);
        let mut levels = Vec::new();
        if per_broker {
            levels.push((&self.broker, Source::DynamicBroker));
        }
        levels.push((&self.default, Source::DynamicDefaultBroker));
        levels.push((&self.fixed, Source::StaticBroker));
        let mut out = Vec::new();
        for (map, source) in levels {
            for n in &names {
                if let Some(v) = map.get(*n) {
                    out.push((n.to_string(), v.clone(), source));
                }
            }
        }
        for n in &names {
            if let Some(default) = broker_config(n).and_then(|d| d.default) {
                out.push((n.to_string(), default.to_string(), Source::Default));
            }
        }
        out
    }
}

/// Checks that broker configuration `name` may change dynamically at `scope`; the error
/// (sent as INVALID_CONFIG) names it and says why not.
pub fn check_dynamic(name: &str, scope: DynamicScope) -> Result<(), String> {
    match broker_config(name) {
        None if is_security_key(name) => Err(format!(
            "cannot update `{name}` dynamically: it must be set in the broker's properties"
        )),
        None => Err(format!("unknown broker configuration `{name}`")),
        Some(d) if d.mode == UpdateMode::ReadOnly => Err(format!(
            "cannot update `{name}` dynamically: it is read-only and must be set in the broker's properties"
        )),
        Some(d) if d.mode == UpdateMode::PerBroker && scope == DynamicScope::ClusterDefault => {
            Err(format!(
                "`{name}` can only be set for one broker (resource name = its id), not as a cluster-wide default"
            ))
        }
        Some(_) => Ok(()),
    }
}
