//! kgate's embedded single-node Kafka-compatible broker.
//!
//! Everything else in kgate reaches this broker only over the Kafka protocol; this crate
//! exposes nothing but a way to start it, learn its address, and stop it.
//!
//! Inside: `server` owns connections and framing, `codec` decodes requests defensively
//! and encodes responses, `api` holds one handler per request type, `group` is the
//! consumer group coordinator, `topics` the durable topic registry and `log` the
//! segment storage behind it. A data directory holds `meta.properties` (cluster id),
//! `topics.json`, `broker-configs.json` (dynamic broker configs), `producer-ids`, `logs/<topic>-<partition>/` segment files,
//! `groups/`, `acls.json` and `scram-credentials.json`.
//!
//! Security properties (kgate's names where Kafka's need a listener prefix):
//! `listener.security.protocol` (PLAINTEXT, SASL_PLAINTEXT, SSL, SASL_SSL) for the
//! listener given to [`Broker::start`]; [`Broker::add_listener`] opens more;
//! `sasl.enabled.mechanisms` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512);
//! `sasl.user.<name>=<password>` for each user; `ssl.certificate.location` and
//! `ssl.key.location` (PEM) for TLS; `authorizer.enabled` (or `authorizer.class.name`),
//! `super.users` (`User:a;User:b`) and `allow.everyone.if.no.acl.found` for ACLs.

mod acl;
mod api;
mod codec;
mod config;
mod config_defs;
mod context;
mod fds;
mod group;
mod log;
mod oversize;
mod sasl;
mod server;
mod state;
mod topics;
mod txn;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;

use crate::context::TopicLookup;
use crate::group::{CoordinatorAddress, GroupCoordinator};
use crate::state::{BrokerState, ProducerIds};
use crate::topics::TopicRegistry;

/// Errors that stop the broker from starting or shutting down cleanly.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// An I/O failure on the listener or the data directory.
    #[error("broker I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A configuration key or value the broker cannot accept.
    #[error("invalid broker configuration `{key}`: {message}")]
    Config {
        /// The offending key, in Kafka's name.
        key: String,
        /// Why it was refused.
        message: String,
    },
}

/// How to run a broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Where logs, offsets and metadata are kept.
    pub data_dir: PathBuf,
    /// The broker's node id (Kafka's `node.id` / `broker.id`).
    pub node_id: i32,
    /// Host and port announced in Metadata; `None` announces the bound address.
    pub advertised: Option<(String, u16)>,
    /// Further broker settings under Apache Kafka's names (`auto.create.topics.enable`,
    /// `num.partitions`, `log.segment.bytes`, `log.retention.ms`, ...).
    pub properties: BTreeMap<String, String>,
}

impl BrokerConfig {
    /// A configuration with Kafka's defaults, keeping data under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            node_id: 1,
            advertised: None,
            properties: BTreeMap::new(),
        }
    }
}

/// A running broker.
pub struct Broker {
    local_addr: SocketAddr,
    state: Arc<BrokerState>,
    security: Arc<server::Security>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Held while the broker runs so a second broker cannot share the data directory.
    _lock: std::fs::File,
}

/// Takes the data directory's lock file; the OS releases it even after kill -9.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, BrokerError> {
    let path = data_dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(BrokerError::Io(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            format!("{} is in use by another running broker", data_dir.display()),
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// Reads the cluster id from `<data_dir>/meta.properties`, creating it on first start.
fn load_cluster_id(data_dir: &Path, node_id: i32) -> Result<String, BrokerError> {
    let path = data_dir.join("meta.properties");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            for line in text.lines() {
                if let Some(id) = line.trim().strip_prefix("cluster.id=") {
                    return Ok(id.trim().to_string());
                }
            }
            Err(BrokerError::Config {
                key: "cluster.id".into(),
                message: format!("{} has no cluster.id line", path.display()),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding.
            let id = base64_url(uuid::Uuid::new_v4().as_bytes());
            let tmp = data_dir.join("meta.properties.tmp");
            std::fs::write(
                &tmp,
                format!("version=1\ncluster.id={id}\nnode.id={node_id}\n"),
            )?;
            std::fs::rename(tmp, path)?;
            Ok(id)
        }
        Err(e) => Err(e.into()),
    }
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Every API the broker answers: the server's table merged with the coordinator's.
fn supported_apis() -> Vec<(kafka_protocol::messages::ApiKey, i16, i16)> {
    let mut all: Vec<_> = api::SUPPORTED_APIS
        .iter()
        .chain(group::SUPPORTED_APIS.iter())
        .copied()
        .collect();
    all.sort_by_key(|(k, _, _)| *k as i16);
    all.dedup_by_key(|(k, _, _)| *k as i16);
    all
}

impl Broker {
    /// Starts a broker on `listener` (which may be bound to port 0).
    pub async fn start(
        listener: tokio::net::TcpListener,
        config: BrokerConfig,
    ) -> Result<Broker, BrokerError> {
        let settings = config::Settings::from_properties(&config.properties)?;
        let security_settings = config::SecuritySettings::from_properties(&config.properties)?;
        let local_addr = listener.local_addr()?;
        std::fs::create_dir_all(&config.data_dir)?;
        let lock = lock_data_dir(&config.data_dir)?;
        let cluster_id = load_cluster_id(&config.data_dir, config.node_id)?;
        let (host, port) = match &config.advertised {
            Some((h, p)) => (h.clone(), *p),
            None if local_addr.ip().is_unspecified() => {
                ("localhost".to_string(), local_addr.port())
            }
            None => (local_addr.ip().to_string(), local_addr.port()),
        };
        let retention_interval = settings.retention_check_interval_ms;
        let data_dir = config.data_dir.clone();
        let properties = config.properties.clone();
        let topics =
            tokio::task::spawn_blocking(move || TopicRegistry::open(&data_dir, &properties))
                .await
                .map_err(|e| std::io::Error::other(format!("log recovery task failed: {e}")))??;
        let topics = Arc::new(topics);
        // Per-broker dynamic configs (certificate, mechanisms) override the properties.
        let listener_security = state::ListenerSecurity::from_settings(
            &config::SecuritySettings::from_properties(&topics.config_levels().merged())?,
            security_settings.protocol.tls(),
        )?;
        let lookup: Arc<dyn TopicLookup> = topics.clone();
        let groups = GroupCoordinator::open(
            &config.data_dir,
            CoordinatorAddress {
                node_id: config.node_id,
                host: host.clone(),
                port: port as i32,
            },
            lookup,
            &settings.group,
        )?;
        let state = Arc::new(BrokerState {
            topics: topics.clone(),
            groups,
            node_id: config.node_id,
            advertised_host: host.clone(),
            advertised_port: port as i32,
            cluster_id,
            producer_ids: ProducerIds::open(config.data_dir.join("producer-ids"))?,
            txn: txn::TxnCoordinator::open(&config.data_dir, &config.properties)?,
            api_versions: supported_apis(),
            listener_security: parking_lot::RwLock::new(listener_security),
            config_change: parking_lot::Mutex::new(()),
            topic_changes: tokio::sync::Semaphore::new(1),
        });
        let security = Arc::new(server::Security {
            users: sasl::UserStore::open(
                config.data_dir.join("scram-credentials.json"),
                security_settings.users.clone(),
            )?,
            authorizer: acl::Authorizer::open(
                config.data_dir.join("acls.json"),
                security_settings.authorizer,
                security_settings.super_users.clone(),
                security_settings.allow_if_no_acl,
            )?,
            log_dir: config.data_dir.join("logs").display().to_string(),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(server::accept_loop(
            listener,
            state.clone(),
            security.clone(),
            Arc::new(server::ListenerInfo {
                protocol: security_settings.protocol,
                advertised: None,
            }),
            shutdown_rx.clone(),
        )));
        tasks.push(tokio::spawn(log::cleaner::run(
            topics.clone(),
            shutdown_rx.clone(),
        )));
        tasks.push(tokio::spawn(txn::abort_expired_loop(
            state.clone(),
            shutdown_rx.clone(),
        )));
        let mut retention_rx = shutdown_rx;
        tasks.push(tokio::spawn(async move {
            let period = std::time::Duration::from_millis(retention_interval.max(1));
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(period) => {}
                    _ = retention_rx.changed() => return,
                }
                let topics = topics.clone();
                let _ = tokio::task::spawn_blocking(move || topics.apply_retention()).await;
            }
        }));
        tracing::info!(
            address = %local_addr,
            advertised = %format!("{host}:{port}"),
            data_dir = %config.data_dir.display(),
            cluster_id = %state.cluster_id,
            "kgate broker listening"
        );
        Ok(Broker {
            local_addr,
            state,
            security,
            shutdown,
            tasks,
            _lock: lock,
        })
    }

    /// The address the broker listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves a further listener with its own security protocol (`PLAINTEXT`,
    /// `SASL_PLAINTEXT`, `SSL` or `SASL_SSL`); its clients are told its own address.
    /// Returns the address it listens on.
    pub fn add_listener(
        &mut self,
        listener: tokio::net::TcpListener,
        protocol: &str,
    ) -> Result<SocketAddr, BrokerError> {
        let protocol =
            config::SecurityProtocol::parse(protocol).ok_or_else(|| BrokerError::Config {
                key: "listener.security.protocol".into(),
                message: format!("unknown security protocol `{protocol}`"),
            })?;
        if protocol.tls() {
            let mut current = self.state.listener_security.write();
            if current.tls.is_none() {
                return Err(BrokerError::Config {
                    key: "ssl.certificate.location".into(),
                    message: "a TLS listener needs ssl.certificate.location and ssl.key.location"
                        .into(),
                });
            }
            current.tls_listener_open = true;
        }
        let addr = listener.local_addr()?;
        let host = if addr.ip().is_unspecified() {
            "localhost".to_string()
        } else {
            addr.ip().to_string()
        };
        let info = server::ListenerInfo {
            protocol,
            advertised: Some((host, addr.port() as i32)),
        };
        self.tasks.push(tokio::spawn(server::accept_loop(
            listener,
            self.state.clone(),
            self.security.clone(),
            Arc::new(info),
            self.shutdown.subscribe(),
        )));
        Ok(addr)
    }

    /// The cluster id announced in Metadata (stable across restarts of a data directory).
    pub fn cluster_id(&self) -> &str {
        &self.state.cluster_id
    }

    /// Stops accepting connections, flushes what was acknowledged and closes the logs.
    pub async fn shutdown(mut self) -> Result<(), BrokerError> {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        self.state.groups.shutdown().await;
        let topics = self.state.topics.clone();
        tokio::task::spawn_blocking(move || topics.flush_all())
            .await
            .map_err(|e| std::io::Error::other(format!("flush task failed: {e}")))?;
        tracing::info!(address = %self.local_addr, "kgate broker stopped");
        Ok(())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // A broker dropped without `shutdown` still stops serving.
        let _ = self.shutdown.send(true);
    }
}

/// Runs a broker on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: BrokerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BrokerError> {
    let broker = Broker::start(listener, config).await?;
    shutdown.await;
    broker.shutdown().await
}

/// Entry points for robustness tests of request decoding; not part of the broker's API.
#[doc(hidden)]
pub mod fuzzing {
    /// Decodes one request frame (without its length prefix) exactly as the server does
    /// before dispatching it: header, version check, body.
    pub fn decode_request(frame: bytes::Bytes) -> Result<(), String> {
        let raw = match crate::codec::parse_frame(frame) {
            Ok(raw) => raw,
            Err(crate::codec::FrameError::Malformed(m)) => return Err(m),
            Err(crate::codec::FrameError::UnknownApiKey { api_key }) => {
                return Err(format!("unknown API key {api_key}"));
            }
        };
        let supported = super::supported_apis()
            .iter()
            .any(|(k, min, max)| *k == raw.api_key && (*min..=*max).contains(&raw.api_version));
        if !supported {
            return Err("unsupported version".into());
        }
        crate::codec::decode_body(&raw).map(|_| ())
    }

    /// The (api key, min version, max version) triples the broker advertises.
    pub fn supported_apis() -> Vec<(i16, i16, i16)> {
        super::supported_apis()
            .into_iter()
            .map(|(k, a, b)| (k as i16, a, b))
            .collect()
    }
}
