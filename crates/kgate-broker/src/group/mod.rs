//! The group coordinator: consumer groups (join, sync, heartbeat, leave, static
//! membership) and durable committed offsets.
//!
//! Contract with the server (see `server.rs`): the dispatcher decodes a request with
//! `kafka-protocol` into a `RequestKind`, and offers it to `GroupCoordinator::handle`,
//! which answers the group APIs (FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups,
//! OffsetDelete) and hands any other request back. `SUPPORTED_APIS` tells ApiVersions
//! which versions the coordinator implements.
//!
//! Layout: `membership`, `offsets` and `admin` hold the state machine on plain data (time
//! passed in, no I/O); `handlers` turn requests into calls on it and answers into
//! responses of the request's version; `journal` keeps what must survive a restart.
//! `handle` may be awaited concurrently: JoinGroup and SyncGroup park on a channel, not on
//! the lock, so the same connection's other requests are served meanwhile.

mod admin;
mod codes;
mod handlers;
mod journal;
mod membership;
mod offsets;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use parking_lot::Mutex;

use crate::context::{RequestContext, TopicLookup};
use journal::{Ack, Journal};
use membership::{Group, Groups};
pub use offsets::TxnOffset;

/// The (api, min version, max version) triples the coordinator implements.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 5),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
];

/// How often session and rebalance deadlines are checked.
const TICK: Duration = Duration::from_millis(100);

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
    inner: Arc<Inner>,
}

/// What the handlers and the timer task share.
struct Inner {
    groups: Mutex<Groups>,
    journal: Journal,
    topics: Arc<dyn TopicLookup>,
    address: CoordinatorAddress,
    timer_started: AtomicBool,
    stopped: AtomicBool,
}

impl Inner {
    /// Runs `f` on the groups under the lock and queues the durable changes it made, in
    /// the order they were made; the returned ack resolves once they are on disk.
    fn update<R>(&self, f: impl FnOnce(&mut Groups, Instant) -> R) -> (R, Option<Ack>) {
        let mut groups = self.groups.lock();
        let result = f(&mut groups, Instant::now());
        let ops = std::mem::take(&mut groups.outbox);
        let ack = (!ops.is_empty()).then(|| self.journal.append(ops));
        (result, ack)
    }

    /// Like `update` for changes that need not be waited for.
    fn update_in_background<R>(&self, f: impl FnOnce(&mut Groups, Instant) -> R) -> R {
        self.update(f).0
    }

    /// Reads the groups under the lock.
    fn read<R>(&self, f: impl FnOnce(&Groups) -> R) -> R {
        f(&self.groups.lock())
    }
}

/// Waits for an ack; false (and a log line) if the change did not reach the disk.
async fn durable(ack: Option<Ack>) -> bool {
    let Some(ack) = ack else {
        return true;
    };
    match ack.await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "group coordinator change not persisted");
            false
        }
        Err(_) => {
            tracing::error!("group coordinator journal is closed");
            false
        }
    }
}

impl GroupCoordinator {
    /// Opens (or creates) the coordinator's durable state under `data_dir`.
    pub fn open(
        data_dir: &Path,
        address: CoordinatorAddress,
        topics: Arc<dyn TopicLookup>,
        settings: &crate::config::GroupSettings,
    ) -> std::io::Result<Self> {
        let (journal, state) =
            Journal::open(&data_dir.join("groups"), journal::DEFAULT_COMPACT_BYTES)?;
        let now = Instant::now();
        let mut groups = Groups {
            timeouts: membership::GroupTimeouts::from_settings(settings),
            // The first expiry check comes one interval after start-up.
            offsets_checked: Some(now),
            ..Groups::default()
        };
        for record in state.groups.into_values() {
            groups.restore(Group::restore(record, now));
        }
        for (group_id, offsets) in state.offsets {
            groups.restore_offsets(&group_id, offsets);
        }
        tracing::debug!(
            groups = groups.groups.len(),
            "group coordinator state restored"
        );
        let coordinator = GroupCoordinator {
            inner: Arc::new(Inner {
                groups: Mutex::new(groups),
                journal,
                topics,
                address,
                timer_started: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
            }),
        };
        coordinator.start_timer();
        Ok(coordinator)
    }

    /// Starts the task that expires sessions and ends overdue rebalances, once a tokio
    /// runtime is at hand (`open` may be called outside one).
    fn start_timer(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.timer_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                if inner.stopped.load(Ordering::SeqCst) {
                    break;
                }
                inner.update_in_background(|groups, now| {
                    groups.tick(now);
                    groups.expire_offsets(now, handlers::now_ms());
                });
            }
        });
    }

    /// Answers a group API request; any other request is handed back unchanged.
    pub async fn handle(
        &self,
        ctx: &RequestContext,
        request: RequestKind,
    ) -> Result<ResponseKind, RequestKind> {
        if !self.inner.timer_started.load(Ordering::Relaxed) {
            self.start_timer();
        }
        let inner = &self.inner;
        Ok(match request {
            RequestKind::FindCoordinator(r) => {
                ResponseKind::FindCoordinator(handlers::find_coordinator(inner, ctx, r))
            }
            RequestKind::JoinGroup(r) => {
                ResponseKind::JoinGroup(handlers::join_group(inner, ctx, r).await)
            }
            RequestKind::SyncGroup(r) => {
                ResponseKind::SyncGroup(handlers::sync_group(inner, ctx, r).await)
            }
            RequestKind::Heartbeat(r) => {
                ResponseKind::Heartbeat(handlers::heartbeat(inner, ctx, r))
            }
            RequestKind::LeaveGroup(r) => {
                ResponseKind::LeaveGroup(handlers::leave_group(inner, ctx, r))
            }
            RequestKind::OffsetCommit(r) => {
                ResponseKind::OffsetCommit(handlers::offset_commit(inner, ctx, r).await)
            }
            RequestKind::OffsetFetch(r) => {
                ResponseKind::OffsetFetch(handlers::offset_fetch(inner, ctx, r))
            }
            RequestKind::ListGroups(r) => {
                ResponseKind::ListGroups(handlers::list_groups(inner, ctx, r))
            }
            RequestKind::DescribeGroups(r) => {
                ResponseKind::DescribeGroups(handlers::describe_groups(inner, ctx, r))
            }
            RequestKind::DeleteGroups(r) => {
                ResponseKind::DeleteGroups(handlers::delete_groups(inner, ctx, r).await)
            }
            RequestKind::OffsetDelete(r) => {
                ResponseKind::OffsetDelete(handlers::offset_delete(inner, ctx, r).await)
            }
            other => return Err(other),
        })
    }

    /// TxnOffsetCommit's group check (member, generation, static fencing), for the
    /// transaction coordinator to call before staging offsets; returns an error code.
    pub fn check_txn_offset_commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> i16 {
        self.inner
            .read(|groups| groups.check_txn_commit(group_id, generation, member_id, instance_id))
    }

    /// Stores the offsets of a committed transaction without checking generations again
    /// (a rebalance after TxnOffsetCommit must not lose them); true once on disk.
    pub async fn commit_txn_offsets(&self, offsets: Vec<TxnOffset>) -> bool {
        let timestamp = handlers::now_ms();
        let topics = self.inner.topics.as_ref();
        let (_, ack) = self
            .inner
            .update(|groups, _| groups.commit_txn_offsets(&offsets, topics, timestamp));
        durable(ack).await
    }

    /// Forgets the committed offsets of a deleted topic.
    pub fn topic_deleted(&self, topic: &str) {
        self.inner
            .update_in_background(|groups, _| groups.topic_deleted(topic));
    }

    /// Flushes durable state; called once when the broker stops. Parked JoinGroup and
    /// SyncGroup requests are answered with COORDINATOR_NOT_AVAILABLE (clients look for
    /// the coordinator again), so calling this before draining connections speeds it up.
    pub async fn shutdown(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.inner.update_in_background(|groups, _| {
            groups.release_waiters(codes::COORDINATOR_NOT_AVAILABLE)
        });
        self.inner.journal.close().await;
    }
}
