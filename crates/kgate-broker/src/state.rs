//! What every request handler shares: topics, the group coordinator, identity.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use kafka_protocol::messages::ApiKey;
use parking_lot::Mutex;

use crate::group::GroupCoordinator;
use crate::topics::TopicRegistry;

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
}

impl BrokerState {
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
