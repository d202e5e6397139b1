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
    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
    "log.cleaner.backoff.ms",
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
                _ if is_security_key(k) => {}
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
