//! kgate's configuration: a TOML or Java .properties file, then `--set key=value`, then
//! `KGATE_<KEY>` environment variables, merged into one typed [`Config`].
//!
//! Key names are Confluent REST Proxy's wherever one exists, so a user's
//! `kafka-rest.properties` works unchanged; kgate's own keys (`data.dir`,
//! `broker.listeners`, `broker.*`, `log.*`) fill the gaps.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kgate_kafka::KafkaConfig;
use kgate_rest::RestConfig;

/// Prefix of the environment variables that set configuration keys.
pub const ENV_PREFIX: &str = "KGATE_";

/// Errors that stop start-up because the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file named by `--config`.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or .properties.
    #[error("cannot parse configuration file {path}: {message}")]
    Parse {
        /// The file named by `--config`.
        path: PathBuf,
        /// What the parser reported.
        message: String,
    },
    /// A `--set` argument without `=`.
    #[error("`--set {0}` is not of the form key=value")]
    SetSyntax(String),
    /// A key kgate does not know.
    #[error("unknown configuration key `{key}` (from {origin})")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Where it came from: the file, `--set` or an environment variable.
        origin: String,
    },
    /// A known key with a value kgate cannot use.
    #[error("invalid value `{value}` for configuration key `{key}` (from {origin}): {message}")]
    BadValue {
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// Where it came from.
        origin: String,
        /// What is expected instead.
        message: String,
    },
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable text lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything `kgate serve` needs, parsed and checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// `bootstrap.servers`; `None` starts the embedded broker.
    pub bootstrap_servers: Option<String>,
    /// The REST Proxy listener (`listeners`), as host and port to bind.
    pub rest_listener: HostPort,
    /// Settings handed to the REST Proxy.
    pub rest: RestConfig,
    /// `client.*`, `producer.*`, `consumer.*` and `admin.*` pass-through settings.
    pub kafka: KafkaConfig,
    /// `data.dir`: the embedded broker keeps its data under `<data.dir>/broker`.
    pub data_dir: PathBuf,
    /// `broker.listeners`: where the embedded broker listens, the listener kgate itself
    /// connects to first (the first PLAINTEXT one, else the first given).
    pub broker_listeners: Vec<BrokerListener>,
    /// `broker.advertised.listeners`: host and port the embedded broker announces.
    pub broker_advertised: Option<(String, u16)>,
    /// `broker.node.id`.
    pub broker_node_id: i32,
    /// Other `broker.*` settings, prefix removed, under Apache Kafka's names.
    pub broker_properties: BTreeMap<String, String>,
    /// `ws.*` settings, prefix removed: the WebSocket proxy face checks them.
    pub ws_properties: BTreeMap<String, String>,
    /// `connect.*` settings, prefix removed (Apache Kafka Connect's worker keys): the
    /// Connect face checks them.
    pub connect_properties: BTreeMap<String, String>,
    /// `schema.registry.listeners` when `schema.registry.enable` is on: where the
    /// built-in Schema Registry listens; `None` when it is switched off.
    pub registry_listener: Option<HostPort>,
    /// `log.format`.
    pub log_format: LogFormat,
    /// `log.level`: a tracing filter such as `info` or `kgate=debug,warn`.
    pub log_level: Option<String>,
    /// `shutdown.graceful.ms`: how long in-flight requests may take after a signal.
    pub shutdown_grace: Duration,
    /// How every HTTP listener treats its connections: `idle.timeout.ms`,
    /// `http.header.timeout.ms`, `http.body.timeout.ms`, `server.connection.limit`.
    pub http: kgate_http::ServeConfig,
    /// `client.init.timeout.ms`: how long start-up waits for the Kafka cluster to answer
    /// before kgate gives up.
    pub cluster_wait: Duration,
    /// Keys that Confluent REST Proxy knows but kgate does not support yet; they are
    /// logged at start-up rather than silently dropped.
    pub ignored: Vec<String>,
}

/// One listener of the embedded broker: `[PROTOCOL://]host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerListener {
    /// Kafka's security protocol (PLAINTEXT, SASL_PLAINTEXT, SSL, SASL_SSL); `None`
    /// when the entry names none, which means PLAINTEXT (or, for the first listener,
    /// `broker.listener.security.protocol`).
    pub protocol: Option<String>,
    /// Where it listens.
    pub address: HostPort,
}

impl BrokerListener {
    /// The protocol name to hand to the broker.
    pub fn protocol_name(&self) -> &str {
        self.protocol.as_deref().unwrap_or("PLAINTEXT")
    }
}

/// Kafka's listener security protocols.
const BROKER_PROTOCOLS: &[&str] = &["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"];

/// Parses a comma list of broker listeners (`SASL_PLAINTEXT://127.0.0.1:0,...`, or bare
/// `host:port`) and puts first the one kgate connects to: the first PLAINTEXT listener,
/// else the first listed.
pub fn parse_broker_listeners(text: &str) -> Result<Vec<BrokerListener>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (protocol, address) = match item.split_once("://") {
            Some((scheme, rest)) => {
                let upper = scheme.to_ascii_uppercase();
                if !BROKER_PROTOCOLS.contains(&upper.as_str()) {
                    return Err(format!(
                        "unknown security protocol `{scheme}`; expected PLAINTEXT, SASL_PLAINTEXT, SSL or SASL_SSL"
                    ));
                }
                (Some(upper), rest)
            }
            None => (None, item),
        };
        let address = HostPort::parse(address).ok_or_else(|| {
            format!("`{item}` is not [PROTOCOL://]host:port, e.g. 127.0.0.1:9092")
        })?;
        out.push(BrokerListener { protocol, address });
    }
    if out.is_empty() {
        return Err("expected at least one listener, e.g. 127.0.0.1:9092".to_string());
    }
    if let Some(i) = out
        .iter()
        .position(|l| l.protocol.as_deref().is_none_or(|p| p == "PLAINTEXT"))
    {
        let plain = out.remove(i);
        out.insert(0, plain);
    }
    Ok(out)
}

/// A host (name or IP) and port to bind or announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Host name or IP address, without IPv6 brackets.
    pub host: String,
    /// Port; 0 asks the system for a free one.
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port`, `[v6]:port`.
    pub fn parse(text: &str) -> Option<HostPort> {
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, rest) = rest.split_once(']')?;
            (host, rest.strip_prefix(':')?)
        } else {
            text.rsplit_once(':')?
        };
        if host.is_empty() || host.contains('/') {
            return None;
        }
        let port = port.parse().ok()?;
        Some(HostPort {
            host: host.to_string(),
            port,
        })
    }

    /// The pair tokio's `TcpListener::bind` accepts.
    pub fn bind_target(&self) -> (&str, u16) {
        (&self.host, self.port)
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Turns a bound address into one a client on this machine can connect to: an
/// unspecified address (0.0.0.0 or ::) is replaced by loopback.
pub fn connectable(addr: SocketAddr) -> SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        let loopback: std::net::IpAddr = if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        addr.set_ip(loopback);
    }
    addr
}

/// Keys kgate understands exactly (not by prefix), with their defaults where one exists.
const KNOWN_KEYS: &[(&str, Option<&str>)] = &[
    ("bootstrap.servers", None),
    ("listeners", Some("http://0.0.0.0:8082")),
    ("advertised.listeners", None),
    ("host.name", None),
    ("id", None),
    ("api.v1.enable", Some("true")),
    ("api.v2.enable", Some("true")),
    ("api.v3.enable", Some("true")),
    ("consumer.instance.timeout.ms", Some("300000")),
    ("consumer.request.timeout.ms", Some("1000")),
    ("consumer.request.max.bytes", Some("67108864")),
    ("consumer.iterator.timeout.ms", Some("1000")),
    ("consumer.instances.max", Some("1000")),
    (
        "internal.topics",
        Some("_schemas,__consumer_offsets,__transaction_state"),
    ),
    ("internal.topics.writable", Some("false")),
    ("simpleconsumer.pool.size.max", Some("25")),
    ("simpleconsumer.pool.timeout.ms", Some("1000")),
    ("max.request.body.bytes", Some("67108864")),
    ("shutdown.graceful.ms", Some("10000")),
    ("idle.timeout.ms", Some("30000")),
    ("server.connection.limit", None),
    ("http.header.timeout.ms", Some("10000")),
    ("http.body.timeout.ms", Some("30000")),
    ("client.init.timeout.ms", Some("60000")),
    ("data.dir", Some("./kgate-data")),
    ("broker.listeners", Some("127.0.0.1:9092")),
    ("broker.advertised.listeners", None),
    ("broker.node.id", Some("1")),
    ("schema.registry.enable", Some("true")),
    ("schema.registry.listeners", Some("http://0.0.0.0:8081")),
    ("schema.registry.url", None),
    ("schema.registry.basic.auth.user.info", None),
    ("schema.registry.ssl.ca.location", None),
    ("schema.registry.ssl.certificate.location", None),
    ("schema.registry.ssl.key.location", None),
    ("log.format", Some("text")),
    ("log.level", None),
];

/// Prefixes whose keys are passed through: to librdkafka (`client.` to every client) or
/// to the embedded broker (`broker.`).
/// `ws.` and `connect.` keys go whole (prefix removed) to the WebSocket proxy and Connect
/// faces, which check them when they start.
const PASS_THROUGH_PREFIXES: &[&str] = &[
    "client.",
    "producer.",
    "consumer.",
    "admin.",
    "broker.",
    "ws.",
    "connect.",
];

/// Confluent REST Proxy keys (exact) that kgate accepts but does not act on yet.
const UNSUPPORTED_KEYS: &[&str] = &[
    "port",
    "zookeeper.connect",
    "debug",
    "compression.enable",
    "access.control.allow.origin",
    "access.control.allow.methods",
    "access.control.allow.headers",
    "authentication.method",
    "authentication.realm",
    "authentication.roles",
    "authentication.skip.paths",
    "rest.servlet.initializor.classes",
    "kafka.rest.resource.extension.class",
    "response.http.headers.config",
    "request.logger.name",
    "metric.reporters",
    "metrics.jmx.prefix",
    "metrics.sample.window.ms",
    "metrics.num.samples",
    "metrics.tag.map",
    "thread.pool.min",
    "thread.pool.max",
    "request.queue.capacity",
    "http2.enabled",
    "listener.protocol.map",
    "consumer.threads",
    "consumer.iterator.backoff.ms",
    "producer.threads",
    "fetch.min.bytes",
    "api.endpoints.allowlist",
    "api.endpoints.blocklist",
    "nosniff.prevention.enable",
    // Confluent's own client settings, not librdkafka's: passing them through would make
    // librdkafka refuse the configuration.
    "client.timeout.ms",
    "client.zk.session.timeout.ms",
];

/// Prefixes of Confluent REST Proxy keys that kgate accepts but does not act on yet.
const UNSUPPORTED_PREFIXES: &[&str] = &[
    "schema.registry.",
    "ssl.",
    "authentication.",
    "confluent.",
    "rate.limit.",
    "dos.filter.",
    "csrf.prevention.",
    "websocket.",
    "kafka.rest.",
    "basic.auth.",
    "bearer.auth.",
];

/// One configuration value and where it came from, for error messages.
#[derive(Debug, Clone)]
struct Entry {
    value: String,
    origin: String,
}

/// How a key is treated.
enum KeyKind {
    Known,
    PassThrough,
    Unsupported,
    Unknown,
}

fn classify(key: &str) -> KeyKind {
    if KNOWN_KEYS.iter().any(|(k, _)| *k == key) {
        KeyKind::Known
    } else if UNSUPPORTED_KEYS.contains(&key)
        || UNSUPPORTED_PREFIXES.iter().any(|p| key.starts_with(p))
    {
        KeyKind::Unsupported
    } else if PASS_THROUGH_PREFIXES
        .iter()
        .any(|p| key.len() > p.len() && key.starts_with(p))
    {
        KeyKind::PassThrough
    } else {
        KeyKind::Unknown
    }
}

/// What the command line contributed to the configuration.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// `--config FILE`.
    pub file: Option<PathBuf>,
    /// Each `--set key=value`, in order.
    pub sets: Vec<String>,
    /// The process environment (only `KGATE_*` variables are looked at).
    pub env: Vec<(String, String)>,
}

impl Sources {
    /// Sources with the current process environment.
    pub fn with_process_env(file: Option<PathBuf>, sets: Vec<String>) -> Sources {
        Sources {
            file,
            sets,
            // `std::env::vars` panics on a variable that is not UTF-8; such a variable
            // cannot name a kgate key anyway, so it is skipped.
            env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }
}

/// Reads, merges and checks the configuration; the second value lists environment
/// variables with the `KGATE_` prefix that name no key (logged, not fatal, because the
/// environment is shared with other programs).
pub fn load(sources: &Sources) -> Result<(Config, Vec<String>), ConfigError> {
    let mut merged: BTreeMap<String, Entry> = BTreeMap::new();
    if let Some(path) = &sources.file {
        let source = path.display().to_string();
        for (key, value) in read_file(path)? {
            insert(&mut merged, key, value, &source)?;
        }
    }
    for set in &sources.sets {
        let (key, value) = set
            .split_once('=')
            .ok_or_else(|| ConfigError::SetSyntax(set.clone()))?;
        insert(
            &mut merged,
            key.trim().to_string(),
            value.trim().to_string(),
            "--set",
        )?;
    }
    let mut stray_env = Vec::new();
    for (name, value) in &sources.env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let key = rest.to_ascii_lowercase().replace('_', ".");
        if matches!(classify(&key), KeyKind::Unknown) || key.is_empty() {
            stray_env.push(name.clone());
            continue;
        }
        insert(
            &mut merged,
            key,
            value.clone(),
            &format!("environment {name}"),
        )?;
    }
    Ok((build(merged)?, stray_env))
}

fn insert(
    merged: &mut BTreeMap<String, Entry>,
    key: String,
    value: String,
    source: &str,
) -> Result<(), ConfigError> {
    if matches!(classify(&key), KeyKind::Unknown) {
        return Err(ConfigError::UnknownKey {
            key,
            origin: source.to_string(),
        });
    }
    merged.insert(
        key,
        Entry {
            value,
            origin: source.to_string(),
        },
    );
    Ok(())
}

/// Reads a configuration file as TOML or .properties: by extension when it says, else
/// TOML if it parses as TOML, else .properties.
fn read_file(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parse_error = |message: String| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    };
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => parse_toml(&text).map_err(parse_error),
        Some("properties") => Ok(parse_properties(&text)),
        _ => Ok(parse_toml(&text).unwrap_or_else(|_| parse_properties(&text))),
    }
}

/// Flattens a TOML document into dotted keys: `[consumer] request.timeout.ms = 5` and
/// `"consumer.request.timeout.ms" = 5` both give `consumer.request.timeout.ms`.
pub fn parse_toml(text: &str) -> Result<Vec<(String, String)>, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    flatten_toml("", &table, &mut out)?;
    Ok(out)
}

fn flatten_toml(
    prefix: &str,
    table: &toml::Table,
    out: &mut Vec<(String, String)>,
) -> Result<(), String> {
    for (key, value) in table {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten_toml(&full, inner, out)?,
            other => out.push((full.clone(), toml_scalar(&full, other)?)),
        }
    }
    Ok(())
}

fn toml_scalar(key: &str, value: &toml::Value) -> Result<String, String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        // Lists (e.g. several bootstrap servers) are written comma-separated, as in a
        // .properties file.
        toml::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                toml::Value::Table(_) | toml::Value::Array(_) => {
                    Err(format!("`{key}`: nested lists and tables are not values"))
                }
                scalar => toml_scalar(key, scalar),
            })
            .collect::<Result<Vec<_>, _>>()?
            .join(","),
        toml::Value::Table(_) => return Err(format!("`{key}`: a table is not a value")),
    })
}

/// Parses a Java .properties document: `key=value`, `key: value` or `key value`, `#` and
/// `!` comments, backslash line continuations and escapes (`\t`, `\n`, `\uXXXX`, ...).
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(first) = lines.next() {
        let trimmed = first.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        // Join continuation lines: an odd number of trailing backslashes continues.
        let mut logical = String::from(trimmed);
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some(next) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split_property(&logical);
        out.push((unescape(&key), unescape(value.trim_end_matches(['\r']))));
    }
    out
}

fn ends_with_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// Splits a logical line at the first unescaped `=`, `:` or whitespace.
fn split_property(line: &str) -> (String, &str) {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' => return (line[..i].to_string(), line[i + 1..].trim_start()),
            c if c.is_whitespace() => {
                let rest = line[i..].trim_start();
                let rest = rest
                    .strip_prefix(['=', ':'])
                    .map(str::trim_start)
                    .unwrap_or(rest);
                return (line[..i].to_string(), rest);
            }
            _ => {}
        }
    }
    (line.to_string(), "")
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) => out.push(decoded),
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Turns the merged key/value pairs into a [`Config`], checking every value.
fn build(merged: BTreeMap<String, Entry>) -> Result<Config, ConfigError> {
    let get = |key: &str| -> Option<&Entry> { merged.get(key) };
    let value_of = |key: &str| -> (String, String) {
        match get(key) {
            Some(entry) => (entry.value.clone(), entry.origin.clone()),
            None => {
                let default = KNOWN_KEYS
                    .iter()
                    .find(|(k, _)| *k == key)
                    .and_then(|(_, d)| *d)
                    .unwrap_or_default();
                (default.to_string(), "default".to_string())
            }
        }
    };
    let bad = |key: &str, message: &str| {
        let (value, origin) = value_of(key);
        ConfigError::BadValue {
            key: key.to_string(),
            value,
            origin,
            message: message.to_string(),
        }
    };
    let boolean = |key: &str| -> Result<bool, ConfigError> {
        match value_of(key).0.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad(key, "expected true or false")),
        }
    };
    let number = |key: &str| -> Result<u64, ConfigError> {
        value_of(key)
            .0
            .trim()
            .parse::<u64>()
            .map_err(|_| bad(key, "expected a non-negative whole number"))
    };
    let millis = |key: &str| number(key).map(Duration::from_millis);
    let optional = |key: &str| -> Option<String> {
        get(key)
            .map(|e| e.value.trim().to_string())
            .filter(|v| !v.is_empty())
    };

    let bootstrap_servers = optional("bootstrap.servers");

    let rest_listener = {
        let (value, _) = value_of("listeners");
        let urls: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        match urls.as_slice() {
            [one] => parse_http_url(one).map_err(|m| bad("listeners", &m))?,
            [] => {
                return Err(bad(
                    "listeners",
                    "expected a listener such as http://0.0.0.0:8082",
                ));
            }
            _ => {
                return Err(bad(
                    "listeners",
                    "kgate serves the REST Proxy on exactly one listener",
                ));
            }
        }
    };

    let advertised_base_uri = match optional("advertised.listeners") {
        Some(list) => {
            let first = list
                .split(',')
                .map(str::trim)
                .find(|s| !s.is_empty())
                .unwrap_or_default();
            let hp = parse_http_url(first).map_err(|m| bad("advertised.listeners", &m))?;
            Some(format!("http://{hp}"))
        }
        None => optional("host.name").map(|host| {
            let port = rest_listener.port;
            if host.contains(':') {
                format!("http://[{host}]:{port}")
            } else {
                format!("http://{host}:{port}")
            }
        }),
    };

    let max_request_body_bytes = usize::try_from(number("max.request.body.bytes")?)
        .map_err(|_| bad("max.request.body.bytes", "too large"))?;
    let simpleconsumer_pool_size_max = match number("simpleconsumer.pool.size.max")? {
        0 => return Err(bad("simpleconsumer.pool.size.max", "must be at least 1")),
        n => usize::try_from(n).map_err(|_| bad("simpleconsumer.pool.size.max", "too large"))?,
    };
    // `..Default::default()` keeps settings the REST crate adds later at their defaults
    // until kgate has a key for them.
    #[allow(clippy::needless_update)]
    let rest = RestConfig {
        id: optional("id").unwrap_or_default(),
        advertised_base_uri,
        api_v1_enable: boolean("api.v1.enable")?,
        api_v2_enable: boolean("api.v2.enable")?,
        api_v3_enable: boolean("api.v3.enable")?,
        consumer_instance_timeout: millis("consumer.instance.timeout.ms")?,
        consumer_request_timeout: millis("consumer.request.timeout.ms")?,
        consumer_request_max_bytes: number("consumer.request.max.bytes")?,
        consumer_iterator_timeout: millis("consumer.iterator.timeout.ms")?,
        simpleconsumer_pool_size_max,
        simpleconsumer_pool_timeout: millis("simpleconsumer.pool.timeout.ms")?,
        max_request_body_bytes,
        schema_registry_url: optional("schema.registry.url"),
        schema_registry_basic_auth_user_info: optional("schema.registry.basic.auth.user.info"),
        schema_registry_ssl_ca_location: optional("schema.registry.ssl.ca.location")
            .map(PathBuf::from),
        schema_registry_ssl_certificate_location: optional(
            "schema.registry.ssl.certificate.location",
        )
        .map(PathBuf::from),
        schema_registry_ssl_key_location: optional("schema.registry.ssl.key.location")
            .map(PathBuf::from),
        consumer_instances_max: usize::try_from(number("consumer.instances.max")?)
            .map_err(|_| bad("consumer.instances.max", "too large"))?,
        internal_topics: value_of("internal.topics")
            .0
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        internal_topics_writable: boolean("internal.topics.writable")?,
        ..RestConfig::default()
    };

    // A registry named by `schema.registry.url` replaces the built-in one.
    let registry_listener =
        if boolean("schema.registry.enable")? && rest.schema_registry_url.is_none() {
            let (value, _) = value_of("schema.registry.listeners");
            let first = value.split(',').map(str::trim).find(|s| !s.is_empty());
            let url = first.ok_or_else(|| {
                bad(
                    "schema.registry.listeners",
                    "expected a listener such as http://0.0.0.0:8081",
                )
            })?;
            Some(parse_http_url(url).map_err(|m| bad("schema.registry.listeners", &m))?)
        } else {
            None
        };

    let mut kafka = KafkaConfig {
        bootstrap_servers: bootstrap_servers.clone().unwrap_or_default(),
        ..KafkaConfig::default()
    };
    let mut broker_properties = BTreeMap::new();
    let mut ws_properties = BTreeMap::new();
    let mut connect_properties = BTreeMap::new();
    let mut ignored = Vec::new();
    for (key, entry) in &merged {
        match classify(key) {
            KeyKind::Unsupported => ignored.push(key.clone()),
            KeyKind::PassThrough => {
                let (prefix, rest) = key.split_once('.').unwrap_or((key.as_str(), ""));
                let value = entry.value.clone();
                let target = match prefix {
                    "client" => &mut kafka.client,
                    "producer" => &mut kafka.producer,
                    "consumer" => &mut kafka.consumer,
                    "admin" => &mut kafka.admin,
                    "ws" => &mut ws_properties,
                    "connect" => &mut connect_properties,
                    _ => &mut broker_properties,
                };
                target.insert(rest.to_string(), value);
            }
            KeyKind::Known | KeyKind::Unknown => {}
        }
    }

    let data_dir = PathBuf::from(value_of("data.dir").0.trim());
    if data_dir.as_os_str().is_empty() {
        return Err(bad("data.dir", "expected a directory path"));
    }
    let broker_listeners = parse_broker_listeners(&value_of("broker.listeners").0)
        .map_err(|m| bad("broker.listeners", &m))?;
    let broker_advertised = match optional("broker.advertised.listeners") {
        Some(value) => {
            let value = value.split_once("://").map(|(_, r)| r).unwrap_or(&value);
            let hp = HostPort::parse(value).ok_or_else(|| {
                bad(
                    "broker.advertised.listeners",
                    "expected host:port, e.g. kafka.local:9092",
                )
            })?;
            Some((hp.host, hp.port))
        }
        None => None,
    };
    let broker_node_id = value_of("broker.node.id")
        .0
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| bad("broker.node.id", "expected a non-negative whole number"))?;

    // 0 switches a timeout off (as Confluent's `idle.timeout.ms=0` means no timeout).
    let timeout = |key: &str| millis(key).map(|d| (!d.is_zero()).then_some(d));
    let connection_limit = match optional("server.connection.limit") {
        // Unset: a share of the open-file limit, so the listeners cannot run kgate out of
        // file descriptors; 0 is Confluent's "no limit".
        None => Some(kgate_http::default_connection_limit()),
        Some(_) => {
            let limit = usize::try_from(number("server.connection.limit")?)
                .map_err(|_| bad("server.connection.limit", "too large"))?;
            (limit > 0).then_some(limit)
        }
    };
    let http = kgate_http::ServeConfig {
        header_timeout: timeout("http.header.timeout.ms")?,
        body_timeout: timeout("http.body.timeout.ms")?,
        idle_timeout: timeout("idle.timeout.ms")?,
        connection_limit,
    };

    let log_format = match value_of("log.format")
        .0
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        _ => return Err(bad("log.format", "expected text or json")),
    };

    Ok(Config {
        bootstrap_servers,
        rest_listener,
        rest,
        kafka,
        data_dir,
        broker_listeners,
        broker_advertised,
        broker_node_id,
        broker_properties,
        ws_properties,
        connect_properties,
        registry_listener,
        log_format,
        log_level: optional("log.level"),
        shutdown_grace: millis("shutdown.graceful.ms")?,
        http,
        cluster_wait: millis("client.init.timeout.ms")?,
        ignored,
    })
}

/// Parses an `http://host:port` listener URL; `https` needs TLS, which kgate does not
/// serve yet.
fn parse_http_url(url: &str) -> Result<HostPort, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("expected a URL such as http://0.0.0.0:8082".to_string());
    };
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(format!("the `{scheme}` scheme is not supported; use http"));
    }
    let rest = rest.trim_end_matches('/');
    HostPort::parse(rest).ok_or_else(|| "expected a URL such as http://0.0.0.0:8082".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sources(file: Option<PathBuf>, sets: &[&str], env: &[(&str, &str)]) -> Sources {
        Sources {
            file,
            sets: sets.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        let mut file = std::fs::File::create(&path).expect("create test file");
        file.write_all(text.as_bytes()).expect("write test file");
        path
    }

    #[test]
    fn defaults_match_confluent() {
        let (config, stray) = load(&Sources::default()).expect("defaults load");
        assert!(stray.is_empty());
        assert_eq!(config.bootstrap_servers, None);
        assert_eq!(
            config.rest_listener,
            HostPort {
                host: "0.0.0.0".into(),
                port: 8082
            }
        );
        assert_eq!(
            config.broker_listeners[0].address.to_string(),
            "127.0.0.1:9092"
        );
        assert_eq!(config.data_dir, PathBuf::from("./kgate-data"));
        assert!(config.rest.api_v1_enable);
        assert!(config.rest.api_v2_enable && config.rest.api_v3_enable);
        assert_eq!(config.rest.simpleconsumer_pool_size_max, 25);
        assert_eq!(
            config.rest.simpleconsumer_pool_timeout,
            Duration::from_millis(1_000)
        );
        assert_eq!(
            config.rest.consumer_instance_timeout,
            Duration::from_millis(300_000)
        );
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn precedence_file_then_set_then_env() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write_file(
            &dir,
            "kgate.properties",
            "id=from-file\nconsumer.request.timeout.ms=111\nconsumer.request.max.bytes=1\nhost.name=file-host\n\
             api.v1.enable=false\nsimpleconsumer.pool.size.max=3\nsimpleconsumer.pool.timeout.ms=50\n",
        );
        let (config, _) = load(&sources(
            Some(file),
            &["consumer.request.timeout.ms=222", "id=from-set"],
            &[("KGATE_ID", "from-env"), ("PATH", "/bin")],
        ))
        .expect("load");
        assert_eq!(config.rest.id, "from-env");
        assert_eq!(
            config.rest.consumer_request_timeout,
            Duration::from_millis(222)
        );
        assert_eq!(config.rest.consumer_request_max_bytes, 1);
        assert!(!config.rest.api_v1_enable);
        assert_eq!(config.rest.simpleconsumer_pool_size_max, 3);
        assert_eq!(
            config.rest.simpleconsumer_pool_timeout,
            Duration::from_millis(50)
        );
        assert_eq!(
            config.rest.advertised_base_uri.as_deref(),
            Some("http://file-host:8082")
        );
    }

    #[test]
    fn toml_file_with_tables_and_quoted_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write_file(
            &dir,
            "kgate.toml",
            r#"
"bootstrap.servers" = ["a:9092", "b:9092"]
listeners = "http://127.0.0.1:0"
api.v3.enable = false

[consumer]
instance.timeout.ms = 5000
"fetch.min.bytes" = 10

[producer]
linger.ms = 5

[broker]
"auto.create.topics.enable" = false
"#,
        );
        let (config, _) = load(&sources(Some(file), &[], &[])).expect("load");
        assert_eq!(config.bootstrap_servers.as_deref(), Some("a:9092,b:9092"));
        assert_eq!(config.kafka.bootstrap_servers, "a:9092,b:9092");
        assert_eq!(config.rest_listener.port, 0);
        assert!(!config.rest.api_v3_enable);
        assert_eq!(
            config.rest.consumer_instance_timeout,
            Duration::from_millis(5000)
        );
        assert_eq!(
            config
                .kafka
                .consumer
                .get("fetch.min.bytes")
                .map(String::as_str),
            Some("10")
        );
        assert_eq!(
            config.kafka.producer.get("linger.ms").map(String::as_str),
            Some("5")
        );
        assert_eq!(
            config
                .broker_properties
                .get("auto.create.topics.enable")
                .map(String::as_str),
            Some("false")
        );
    }

    #[test]
    fn properties_file_syntax() {
        let parsed = parse_properties(
            "# comment\n! also comment\n\nbootstrap.servers = localhost:9092\nid:one\nclient.client.id two\nproducer.long.value=a,\\\n   b\nconsumer.x=tab\\there\\u0041\n",
        );
        let map: BTreeMap<_, _> = parsed.into_iter().collect();
        assert_eq!(map["bootstrap.servers"], "localhost:9092");
        assert_eq!(map["id"], "one");
        assert_eq!(map["client.client.id"], "two");
        assert_eq!(map["producer.long.value"], "a,b");
        assert_eq!(map["consumer.x"], "tab\thereA");
    }

    #[test]
    fn properties_sniffed_without_extension() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write_file(
            &dir,
            "kafka-rest.conf",
            "bootstrap.servers=PLAINTEXT://localhost:9092\nlisteners=http://0.0.0.0:18082\n",
        );
        let (config, _) = load(&sources(Some(file), &[], &[])).expect("load");
        assert_eq!(
            config.bootstrap_servers.as_deref(),
            Some("PLAINTEXT://localhost:9092")
        );
        assert_eq!(config.rest_listener.port, 18082);
    }

    #[test]
    fn env_names_map_to_keys() {
        let (config, stray) = load(&sources(
            None,
            &[],
            &[
                ("KGATE_BOOTSTRAP_SERVERS", "k:9092"),
                ("KGATE_PRODUCER_LINGER_MS", "7"),
                ("KGATE_BROKER_LISTENERS", "127.0.0.1:0"),
                ("KGATE_NO_SUCH_THING", "x"),
            ],
        ))
        .expect("load");
        assert_eq!(config.bootstrap_servers.as_deref(), Some("k:9092"));
        assert_eq!(
            config.kafka.producer.get("linger.ms").map(String::as_str),
            Some("7")
        );
        assert_eq!(config.broker_listeners[0].address.port, 0);
        assert_eq!(stray, vec!["KGATE_NO_SUCH_THING".to_string()]);
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = load(&sources(None, &["no.such.key=1"], &[])).expect_err("must fail");
        assert!(err.to_string().contains("no.such.key"), "{err}");

        let dir = tempfile::tempdir().expect("tempdir");
        let file = write_file(&dir, "bad.properties", "listenrs=http://0.0.0.0:1\n");
        let err = load(&sources(Some(file), &[], &[])).expect_err("must fail");
        assert!(err.to_string().contains("listenrs"), "{err}");
    }

    #[test]
    fn bad_values_are_errors_naming_the_key() {
        for (set, key) in [
            ("api.v2.enable=yes", "api.v2.enable"),
            ("api.v1.enable=1", "api.v1.enable"),
            (
                "simpleconsumer.pool.size.max=0",
                "simpleconsumer.pool.size.max",
            ),
            (
                "simpleconsumer.pool.timeout.ms=soon",
                "simpleconsumer.pool.timeout.ms",
            ),
            (
                "consumer.request.timeout.ms=-1",
                "consumer.request.timeout.ms",
            ),
            ("listeners=https://0.0.0.0:8082", "listeners"),
            ("listeners=http://a:1,http://b:2", "listeners"),
            ("listeners=0.0.0.0:8082", "listeners"),
            ("broker.listeners=nowhere", "broker.listeners"),
            ("log.format=xml", "log.format"),
            (
                "consumer.request.max.bytes=lots",
                "consumer.request.max.bytes",
            ),
        ] {
            let err = load(&sources(None, &[set], &[])).expect_err(set);
            assert!(err.to_string().contains(key), "{set}: {err}");
        }
        let err = load(&sources(None, &["novalue"], &[])).expect_err("no =");
        assert!(matches!(err, ConfigError::SetSyntax(_)));
    }

    #[test]
    fn http_edge_keys() {
        let (config, _) = load(&Sources::default()).expect("defaults");
        assert_eq!(
            config.http.idle_timeout,
            Some(Duration::from_millis(30_000))
        );
        assert_eq!(
            config.http.header_timeout,
            Some(Duration::from_millis(10_000))
        );
        assert_eq!(
            config.http.body_timeout,
            Some(Duration::from_millis(30_000))
        );
        assert_eq!(
            config.http.connection_limit,
            Some(kgate_http::default_connection_limit())
        );
        assert_eq!(config.cluster_wait, Duration::from_millis(60_000));
        assert!(config.ignored.is_empty());

        let (config, _) = load(&sources(
            None,
            &[
                "idle.timeout.ms=0",
                "http.header.timeout.ms=250",
                "http.body.timeout.ms=500",
                "server.connection.limit=7",
                "client.init.timeout.ms=2000",
            ],
            &[],
        ))
        .expect("load");
        assert_eq!(config.http.idle_timeout, None, "0 switches it off");
        assert_eq!(config.http.header_timeout, Some(Duration::from_millis(250)));
        assert_eq!(config.http.body_timeout, Some(Duration::from_millis(500)));
        assert_eq!(config.http.connection_limit, Some(7));
        assert_eq!(config.cluster_wait, Duration::from_millis(2000));
        assert!(config.ignored.is_empty(), "{:?}", config.ignored);
        assert!(
            config.kafka.client.is_empty(),
            "client.init.timeout.ms is kgate's"
        );

        let (config, _) = load(&sources(None, &["server.connection.limit=0"], &[])).expect("load");
        assert_eq!(config.http.connection_limit, None, "0 means no limit");
        for bad in ["idle.timeout.ms=soon", "server.connection.limit=-1"] {
            let error = load(&sources(None, &[bad], &[])).expect_err(bad);
            let key = bad.split('=').next().unwrap_or_default();
            assert!(error.to_string().contains(key), "{error}");
        }
    }

    #[test]
    fn broken_toml_is_a_parse_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write_file(&dir, "bad.toml", "listeners = \n");
        let err = load(&sources(Some(file), &[], &[])).expect_err("must fail");
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
    }

    #[test]
    fn unsupported_confluent_keys_are_reported_not_fatal() {
        let (config, _) = load(&sources(
            None,
            &[
                "schema.registry.ssl.truststore.location=/y",
                "ssl.keystore.location=/x",
                "authentication.method=BASIC",
            ],
            &[],
        ))
        .expect("load");
        assert_eq!(
            config.ignored,
            vec![
                "authentication.method".to_string(),
                "schema.registry.ssl.truststore.location".to_string(),
                "ssl.keystore.location".to_string()
            ]
        );
    }

    #[test]
    fn schema_registry_keys() {
        let (config, _) = load(&sources(None, &[], &[])).expect("load");
        let listener = config.registry_listener.expect("registry on by default");
        assert_eq!((listener.host.as_str(), listener.port), ("0.0.0.0", 8081));
        assert_eq!(config.rest.schema_registry_url, None);

        let (config, _) = load(&sources(
            None,
            &["schema.registry.url=http://registry.example:8081"],
            &[],
        ))
        .expect("load");
        assert!(
            config.registry_listener.is_none(),
            "an external registry replaces the built-in one"
        );

        let (config, _) =
            load(&sources(None, &["schema.registry.enable=false"], &[])).expect("load");
        assert!(config.registry_listener.is_none());

        let (config, _) = load(&sources(
            None,
            &[
                "schema.registry.url=http://registry.example:8081",
                "schema.registry.basic.auth.user.info=fred:secret",
            ],
            &[],
        ))
        .expect("load");
        assert!(config.registry_listener.is_none());
        assert_eq!(
            config.rest.schema_registry_url.as_deref(),
            Some("http://registry.example:8081")
        );
        assert_eq!(
            config.rest.schema_registry_basic_auth_user_info.as_deref(),
            Some("fred:secret")
        );

        // PEM files for an https registry (kgate's names; the JKS keys stay ignored).
        let (config, _) = load(&sources(
            None,
            &[
                "schema.registry.url=https://registry.example:8081",
                "schema.registry.ssl.ca.location=/etc/ca.pem",
                "schema.registry.ssl.certificate.location=/etc/me.pem",
                "schema.registry.ssl.key.location=/etc/me.key",
            ],
            &[],
        ))
        .expect("load");
        assert_eq!(
            (
                config.rest.schema_registry_ssl_ca_location.as_deref(),
                config
                    .rest
                    .schema_registry_ssl_certificate_location
                    .as_deref(),
                config.rest.schema_registry_ssl_key_location.as_deref(),
            ),
            (
                Some(Path::new("/etc/ca.pem")),
                Some(Path::new("/etc/me.pem")),
                Some(Path::new("/etc/me.key")),
            )
        );

        let error = load(&sources(
            None,
            &["schema.registry.listeners=ftp://x:1"],
            &[],
        ))
        .expect_err("a bad listener is refused");
        assert!(
            error.to_string().contains("schema.registry.listeners"),
            "{error}"
        );
    }

    #[test]
    fn ws_and_connect_keys_reach_their_faces_without_the_prefix() {
        let (config, _) = load(&sources(
            None,
            &["ws.listeners=http://127.0.0.1:0", "connect.group.id=g"],
            &[("KGATE_WS_ENABLE", "false")],
        ))
        .expect("load");
        let pairs = |map: &BTreeMap<String, String>| {
            map.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            pairs(&config.ws_properties),
            ["enable=false", "listeners=http://127.0.0.1:0"]
        );
        assert_eq!(pairs(&config.connect_properties), ["group.id=g"]);
        assert!(config.broker_properties.is_empty());
    }

    #[test]
    fn advertised_listener_and_broker_keys() {
        let (config, _) = load(&sources(
            None,
            &[
                "advertised.listeners=http://proxy.example:80",
                "broker.advertised.listeners=PLAINTEXT://kafka.example:19092",
                "broker.node.id=3",
                "broker.num.partitions=4",
            ],
            &[],
        ))
        .expect("load");
        assert_eq!(
            config.rest.advertised_base_uri.as_deref(),
            Some("http://proxy.example:80")
        );
        assert_eq!(
            config.broker_advertised,
            Some(("kafka.example".to_string(), 19092))
        );
        assert_eq!(config.broker_node_id, 3);
        assert_eq!(
            config
                .broker_properties
                .get("num.partitions")
                .map(String::as_str),
            Some("4")
        );
        assert!(!config.broker_properties.contains_key("node.id"));
    }

    #[test]
    fn host_port_parsing() {
        assert_eq!(
            HostPort::parse("[::1]:9092"),
            Some(HostPort {
                host: "::1".into(),
                port: 9092
            })
        );
        assert_eq!(
            HostPort::parse("[::1]:9092")
                .map(|h| h.to_string())
                .as_deref(),
            Some("[::1]:9092")
        );
        assert_eq!(HostPort::parse("localhost"), None);
        assert_eq!(HostPort::parse(":9092"), None);
        assert_eq!(HostPort::parse("h:99999"), None);
    }

    #[test]
    fn broker_listener_lists_put_the_plaintext_one_first() {
        let (config, _) = load(&sources(
            None,
            &[
                "broker.listeners=SASL_PLAINTEXT://127.0.0.1:0, plaintext://127.0.0.1:9093,SSL://[::1]:0",
                "broker.sasl.enabled.mechanisms=PLAIN",
                "broker.sasl.user.alice=secret",
                "broker.super.users=User:alice",
            ],
            &[],
        ))
        .expect("load");
        let listed: Vec<(String, String)> = config
            .broker_listeners
            .iter()
            .map(|l| (l.protocol_name().to_string(), l.address.to_string()))
            .collect();
        assert_eq!(
            listed,
            [
                ("PLAINTEXT".to_string(), "127.0.0.1:9093".to_string()),
                ("SASL_PLAINTEXT".to_string(), "127.0.0.1:0".to_string()),
                ("SSL".to_string(), "[::1]:0".to_string()),
            ]
        );
        assert_eq!(
            config
                .broker_properties
                .get("sasl.user.alice")
                .map(String::as_str),
            Some("secret")
        );
        for bad in [
            "broker.listeners=KERBEROS://h:1",
            "broker.listeners=h",
            "broker.listeners= , ",
        ] {
            let error = load(&sources(None, &[bad], &[])).expect_err(bad);
            assert!(error.to_string().contains("broker.listeners"), "{error}");
        }
    }
}
