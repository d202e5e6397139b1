//! The group coordinator: consumer groups (join, sync, heartbeat, leave, static
//! membership) and durable committed offsets.
//!
//! Contract with the server (see `server.rs`): the dispatcher decodes a request with
//! `kafka-protocol` into a `RequestKind`, and offers it to `GroupCoordinator::handle`,
//! which answers the group APIs (FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups,
//! OffsetDelete) and hands any other request back. `SUPPORTED_APIS` tells ApiVersions
//! which versions the coordinator implements.

use std::path::Path;
use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

use crate::context::{RequestContext, TopicLookup};

/// The (api, min version, max version) triples the coordinator implements.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[];

/// Where clients find the coordinator: this broker's node id and advertised address.
#[derive(Debug, Clone)]
pub struct CoordinatorAddress {
    /// The broker's node id.
    pub node_id: i32,
    /// The advertised host.
    pub host: String,
    /// The advertised port.
    pub port: i32,
}

/// Consumer groups and their committed offsets, kept under `<data_dir>/groups`.
pub struct GroupCoordinator {
    #[allow(dead_code)]
    topics: Arc<dyn TopicLookup>,
    #[allow(dead_code)]
    address: CoordinatorAddress,
}

impl GroupCoordinator {
    /// Opens (or creates) the coordinator's durable state under `data_dir`.
    pub fn open(
        data_dir: &Path,
        address: CoordinatorAddress,
        topics: Arc<dyn TopicLookup>,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(data_dir.join("groups"))?;
        Ok(Self { topics, address })
    }

    /// Answers a group API request; any other request is handed back unchanged.
    pub async fn handle(
        &self,
        ctx: &RequestContext,
        request: RequestKind,
    ) -> Result<ResponseKind, RequestKind> {
        let _ = ctx;
        Err(request)
    }

    /// Forgets the committed offsets of a deleted topic.
    pub fn topic_deleted(&self, topic: &str) {
        let _ = topic;
    }

    /// Flushes durable state; called once when the broker stops.
    pub async fn shutdown(&self) {}
}
