//! What every request handler shares: topics, the group coordinator, identity.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use std::collections::BTreeMap;

use kafka_protocol::messages::ApiKey;
use parking_lot::{Mutex, RwLock};

use crate::BrokerError;
use crate::config::{DynamicScope, SecuritySettings};
use crate::group::GroupCoordinator;
use crate::topics::{TopicError, TopicRegistry, check_dynamic_names};

/// Shared broker state.
pub struct BrokerState {
    /// Topics and their logs.
    pub topics: Arc<TopicRegistry>,
    /// The consumer group coordinator.
    pub groups: GroupCoordinator,
    /// This broker's node id.
    pub node_id: i32,
    /// Host announced in Metadata.
    pub advertised_host: String,
    /// Port announced in Metadata.
    pub advertised_port: i32,
    /// The cluster id, stable across restarts.
    pub cluster_id: String,
    /// Allocator of idempotent producer ids.
    pub producer_ids: ProducerIds,
    /// The transaction coordinator.
    pub txn: crate::txn::TxnCoordinator,
    /// Every (api, min, max) this broker answers, as advertised by ApiVersions.
    pub api_versions: Vec<(ApiKey, i16, i16)>,
    /// SASL mechanisms and TLS certificate, which per-broker dynamic configs change.
    pub listener_security: RwLock<ListenerSecurity>,
    /// Serialises dynamic broker config changes (settings and listener security).
    pub config_change: Mutex<()>,
    /// Lets one topic creation, growth or deletion at a time onto the blocking pool.
    pub topic_changes: tokio::sync::Semaphore,
}

/// The listener security that per-broker dynamic configs change while the broker runs:
/// a new connection uses what is current when it is accepted.
pub struct ListenerSecurity {
    /// `sasl.enabled.mechanisms`.
    pub mechanisms: Vec<String>,
    /// The TLS acceptor of SSL and SASL_SSL listeners, from `ssl.certificate.location`
    /// and `ssl.key.location`.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Whether a TLS listener is open, so its certificate cannot be taken away.
    pub tls_listener_open: bool,
}

impl ListenerSecurity {
    /// Loads the certificate, if one is configured (it must be while a TLS listener is
    /// open).
    pub fn from_settings(
        settings: &SecuritySettings,
        tls_listener_open: bool,
    ) -> Result<Self, BrokerError> {
        let configured = settings.certificate.is_some() || settings.key.is_some();
        let tls = if configured || tls_listener_open {
            Some(settings.tls_acceptor()?)
        } else {
            None
        };
        Ok(Self {
            mechanisms: settings.mechanisms.clone(),
            tls,
            tls_listener_open,
        })
    }
}

impl BrokerState {
    /// Replaces the dynamic broker configs of `scope` (see
    /// [`TopicRegistry::alter_broker_configs`]); listener security changes are checked
    /// (the certificate loaded) before anything is committed, and apply to the next
    /// connection.
    pub fn alter_broker_configs(
        &self,
        scope: DynamicScope,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _guard = self.config_change.lock();
        // Named refusals come before any complaint about the security settings.
        check_dynamic_names(&configs, scope)?;
        let mut levels = self.topics.config_levels();
        *levels.dynamic_mut(scope) = configs.clone();
        let tls_open = self.listener_security.read().tls_listener_open;
        let security = SecuritySettings::from_properties(&levels.merged())
            .and_then(|s| ListenerSecurity::from_settings(&s, tls_open))
            .map_err(TopicError::invalid_config)?;
        self.topics
            .alter_broker_configs(scope, configs, validate_only)?;
        if !validate_only {
            *self.listener_security.write() = security;
        }
        Ok(())
    }

    /// The supported version range of `key`, if it is supported at all.
    pub fn version_range(&self, key: ApiKey) -> Option<(i16, i16)> {
        self.api_versions
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, min, max)| (*min, *max))
    }
}

/// Hands out producer ids that are never reused, even across restarts: a block is
/// reserved on disk before any id in it is given out.
pub struct ProducerIds {
    path: std::path::PathBuf,
    next: AtomicI64,
    reserved_until: Mutex<i64>,
}

const PRODUCER_ID_BLOCK: i64 = 1000;

impl ProducerIds {
    /// Loads the allocator state from `path`.
    pub fn open(path: std::path::PathBuf) -> std::io::Result<Self> {
        let start = match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().parse::<i64>().unwrap_or(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(Self {
            path,
            next: AtomicI64::new(start),
            reserved_until: Mutex::new(start),
        })
    }

    /// A fresh producer id.
    pub fn allocate(&self) -> std::io::Result<i64> {
        let mut reserved = self.reserved_until.lock();
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        if id >= *reserved {
            let until = id + PRODUCER_ID_BLOCK;
            let tmp = self.path.with_extension("tmp");
            std::fs::write(&tmp, until.to_string())?;
            std::fs::rename(&tmp, &self.path)?;
            *reserved = until;
        }
        Ok(id)
    }
}
