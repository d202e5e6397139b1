//! The WebSocket proxy's settings: kgate's `ws.*` keys (prefix removed), parsed and
//! checked once at start-up. A bad key or value is reported under its full name
//! (`ws.<key>`), as the user wrote it.

use std::collections::BTreeMap;

use crate::limits::{ClientLimits, StaticLimits};

/// The id under which limits for every client without limits of its own are configured.
pub const DEFAULT_CLIENT: &str = "__DEFAULT__";

/// A host and port to listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Host name or IP address (without IPv6 brackets).
    pub host: String,
    /// Port; 0 asks the system for a free one.
    pub port: u16,
}

/// A `ws.*` key or value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value `{value}` for configuration key `ws.{key}`: {message}")]
pub struct ConfigError {
    /// The key without the `ws.` prefix.
    pub key: String,
    /// The value as written.
    pub value: String,
    /// What is expected instead.
    pub message: String,
}

impl ConfigError {
    /// The key as the user wrote it (`ws.<key>`).
    pub fn full_key(&self) -> String {
        format!("ws.{}", self.key)
    }
}

/// Everything the WebSocket proxy and its admin server are configured with.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// `ws.enable` and `ws.listeners`: where `/socket/in`, `/socket/out`, `/healthcheck`
    /// and `/kafka/cluster/info` are served; `None` when switched off.
    pub listener: Option<Listener>,
    /// `ws.admin.enable` and `ws.admin.listeners`: the admin server; `None` when off.
    pub admin_listener: Option<Listener>,
    /// `ws.server.id`: this instance's id in the shared session state. Instances sharing
    /// a cluster must each have their own.
    pub server_id: String,
    /// `ws.producer.sessions.enable`: producer connections are counted in the shared
    /// session state (and `instanceId` is required); only then is a producer's
    /// `max-connections` enforced, as in the original proxy.
    pub producer_sessions: bool,
    /// `ws.producer.exactly.once.enable`: whether `transactional=true` is allowed.
    pub exactly_once: bool,
    /// `ws.dynamic.config.enable`: limits can be changed through the admin server and
    /// are kept in [`WsConfig::dynamic_config_topic`].
    pub dynamic_configs: bool,
    /// `ws.dynamic.config.topic`.
    pub dynamic_config_topic: String,
    /// `ws.session.topic`: the shared session state.
    pub session_topic: String,
    /// `ws.state.topic.replication.factor`: of both state topics; -1 is the broker's
    /// default.
    pub state_replication_factor: i32,
    /// `ws.commit.max.stack.size`: records per partition remembered for an ack on a
    /// socket with `autoCommit=false`.
    pub commit_stack_size: usize,
    /// `ws.max.frame.bytes`: the largest frame a client may send.
    pub max_frame_bytes: usize,
    /// `ws.basic.auth.user.<name>=<password>`: when any is set, every endpoint asks for
    /// one of these users.
    pub basic_auth_users: BTreeMap<String, String>,
    /// `ws.basic.auth.realm`.
    pub basic_auth_realm: String,
    /// `ws.producer.limits.*` and `ws.consumer.limits.*`.
    pub limits: StaticLimits,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            listener: Some(Listener {
                host: "0.0.0.0".to_string(),
                port: 8078,
            }),
            admin_listener: Some(Listener {
                host: "0.0.0.0".to_string(),
                port: 9078,
            }),
            server_id: "node-1".to_string(),
            producer_sessions: false,
            exactly_once: false,
            dynamic_configs: true,
            dynamic_config_topic: "_wsproxy.dynamic.configs".to_string(),
            session_topic: "_wsproxy.session.state".to_string(),
            state_replication_factor: -1,
            commit_stack_size: 100,
            max_frame_bytes: 16 * 1024 * 1024,
            basic_auth_users: BTreeMap::new(),
            basic_auth_realm: "Kafka WebSocket Proxy".to_string(),
            limits: StaticLimits::default(),
        }
    }
}

impl WsConfig {
    /// Parses the `ws.*` keys (prefix removed). Unknown keys and bad values are errors
    /// naming the key.
    pub fn from_properties(properties: &BTreeMap<String, String>) -> Result<WsConfig, ConfigError> {
        let mut config = WsConfig::default();
        let mut enable = true;
        let mut admin_enable = true;
        for (key, value) in properties {
            let bad = |message: &str| ConfigError {
                key: key.clone(),
                value: value.clone(),
                message: message.to_string(),
            };
            let v = value.trim();
            match key.as_str() {
                "enable" => enable = parse_bool(v).ok_or_else(|| bad("expected true or false"))?,
                "admin.enable" => {
                    admin_enable = parse_bool(v).ok_or_else(|| bad("expected true or false"))?
                }
                "listeners" => config.listener = Some(parse_listener(v).map_err(|m| bad(&m))?),
                "admin.listeners" => {
                    config.admin_listener = Some(parse_listener(v).map_err(|m| bad(&m))?)
                }
                "server.id" => {
                    if v.is_empty() {
                        return Err(bad("expected a non-empty id"));
                    }
                    config.server_id = v.to_string();
                }
                "producer.sessions.enable" => {
                    config.producer_sessions =
                        parse_bool(v).ok_or_else(|| bad("expected true or false"))?
                }
                "producer.exactly.once.enable" => {
                    config.exactly_once =
                        parse_bool(v).ok_or_else(|| bad("expected true or false"))?
                }
                "dynamic.config.enable" => {
                    config.dynamic_configs =
                        parse_bool(v).ok_or_else(|| bad("expected true or false"))?
                }
                "dynamic.config.topic" => {
                    config.dynamic_config_topic = topic_name(v).map_err(|m| bad(&m))?
                }
                "session.topic" => config.session_topic = topic_name(v).map_err(|m| bad(&m))?,
                "state.topic.replication.factor" => {
                    config.state_replication_factor = v
                        .parse::<i32>()
                        .ok()
                        .filter(|n| *n == -1 || *n >= 1)
                        .ok_or_else(|| {
                            bad("expected -1 (the broker's default) or a positive whole number")
                        })?
                }
                "commit.max.stack.size" => {
                    config.commit_stack_size = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| bad("expected a positive whole number"))?
                }
                "max.frame.bytes" => {
                    config.max_frame_bytes = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n >= 1024)
                        .ok_or_else(|| bad("expected a whole number of bytes, at least 1024"))?
                }
                "basic.auth.realm" => config.basic_auth_realm = v.to_string(),
                _ => {
                    if let Some(user) = key.strip_prefix("basic.auth.user.") {
                        if user.is_empty() || user.contains(':') {
                            return Err(bad("the user name must be non-empty and without ':'"));
                        }
                        config
                            .basic_auth_users
                            .insert(user.to_string(), value.clone());
                    } else if let Some(rest) = key.strip_prefix("producer.limits.") {
                        let (id, field) = limit_key(rest).map_err(|m| bad(&m))?;
                        let n = limit_value(v).map_err(|m| bad(&m))?;
                        let entry = config
                            .limits
                            .producers
                            .entry(id.clone())
                            .or_insert_with(|| ClientLimits::for_id(&id));
                        match field {
                            "max-connections" => entry.max_connections = Some(n),
                            "messages-per-second" => entry.messages_per_second = Some(n),
                            _ => {
                                return Err(bad(
                                    "a producer limit is max-connections or messages-per-second",
                                ));
                            }
                        }
                    } else if let Some(rest) = key.strip_prefix("consumer.limits.") {
                        let (id, field) = limit_key(rest).map_err(|m| bad(&m))?;
                        let n = limit_value(v).map_err(|m| bad(&m))?;
                        let entry = config
                            .limits
                            .consumers
                            .entry(id.clone())
                            .or_insert_with(|| ClientLimits::for_id(&id));
                        match field {
                            "max-connections" => entry.max_connections = Some(n),
                            "messages-per-second" => entry.messages_per_second = Some(n),
                            "batch-size" => entry.batch_size = Some(n),
                            _ => {
                                return Err(bad(
                                    "a consumer limit is max-connections, messages-per-second or batch-size",
                                ));
                            }
                        }
                    } else {
                        return Err(ConfigError {
                            key: key.clone(),
                            value: value.clone(),
                            message: "unknown WebSocket proxy setting".to_string(),
                        });
                    }
                }
            }
        }
        if !enable {
            config.listener = None;
        }
        if !admin_enable {
            config.admin_listener = None;
        }
        Ok(config)
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Parses `http://host:port` (one listener; `https` needs TLS, which kgate does not serve).
fn parse_listener(v: &str) -> Result<Listener, String> {
    let expected = || "expected a URL such as http://0.0.0.0:8078".to_string();
    if v.contains(',') {
        return Err("expected one listener".to_string());
    }
    let (scheme, rest) = v.split_once("://").ok_or_else(expected)?;
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(format!("the `{scheme}` scheme is not supported; use http"));
    }
    let rest = rest.trim_end_matches('/');
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (host, r) = r.split_once(']').ok_or_else(expected)?;
        (host, r.strip_prefix(':').ok_or_else(expected)?)
    } else {
        rest.rsplit_once(':').ok_or_else(expected)?
    };
    if host.is_empty() || host.contains('/') {
        return Err(expected());
    }
    let port = port.parse::<u16>().map_err(|_| expected())?;
    Ok(Listener {
        host: host.to_string(),
        port,
    })
}

fn topic_name(v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.len() <= 249
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(v.to_string())
    } else {
        Err("expected a topic name (letters, digits, '.', '_', '-')".to_string())
    }
}

/// Splits `<id>.<field>`; the id may itself contain dots.
fn limit_key(rest: &str) -> Result<(String, &str), String> {
    match rest.rsplit_once('.') {
        Some((id, field)) if !id.is_empty() => Ok((id.to_string(), field)),
        _ => Err("expected <id>.<limit>, e.g. __DEFAULT__.max-connections".to_string()),
    }
}

fn limit_value(v: &str) -> Result<u32, String> {
    v.parse::<u32>()
        .map_err(|_| "expected a whole number, 0 for unlimited".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_the_original_ports() {
        let c = WsConfig::from_properties(&BTreeMap::new()).expect("defaults");
        assert_eq!(c.listener.map(|l| l.port), Some(8078));
        assert_eq!(c.admin_listener.map(|l| l.port), Some(9078));
        assert_eq!(c.session_topic, "_wsproxy.session.state");
        assert_eq!(c.dynamic_config_topic, "_wsproxy.dynamic.configs");
    }

    #[test]
    fn limits_and_users_are_read() {
        let c = WsConfig::from_properties(&props(&[
            ("producer.limits.__DEFAULT__.max-connections", "0"),
            ("producer.limits.p.1.messages-per-second", "10"),
            ("consumer.limits.g.batch-size", "5"),
            ("basic.auth.user.alice", "secret"),
            ("admin.enable", "false"),
        ]))
        .expect("valid");
        assert_eq!(c.limits.producers["p.1"].messages_per_second, Some(10));
        assert_eq!(c.limits.producers["__DEFAULT__"].max_connections, Some(0));
        assert_eq!(c.limits.consumers["g"].batch_size, Some(5));
        assert_eq!(c.basic_auth_users["alice"], "secret");
        assert!(c.admin_listener.is_none());
    }

    #[test]
    fn bad_keys_and_values_name_the_key() {
        for (key, value) in [
            ("listeners", "https://0.0.0.0:1"),
            ("enable", "yes"),
            ("consumer.limits.g.speed", "1"),
            ("producer.limits.p.max-connections", "-1"),
            ("no.such.key", "1"),
        ] {
            let e = WsConfig::from_properties(&props(&[(key, value)])).expect_err(key);
            assert_eq!(e.full_key(), format!("ws.{key}"));
            assert!(e.to_string().contains(&format!("`ws.{key}`")), "{e}");
        }
    }
}
