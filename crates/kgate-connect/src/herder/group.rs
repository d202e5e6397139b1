//! The herder's loop: join the worker group (eager protocol: everything this worker runs
//! is stopped before it rejoins, so no task ever runs twice), let the leader assign the
//! connectors and tasks, run them, heartbeat, and rejoin when the group or the work to
//! assign changes. In standalone mode the worker is its own leader and assigns itself
//! everything.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use kgate_kafka::group_membership::{GroupMembership, GroupState, Joined, MembershipSettings};

use super::protocol::{self, Assignment, Metadata};
use super::{GroupView, Herder};
use crate::worker_config::Mode;

/// Pause after a failed join before trying again.
const RETRY_BACKOFF: Duration = Duration::from_secs(1);

pub(super) async fn run(
    herder: Arc<Herder>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    match herder.config.mode {
        Mode::Standalone => {
            tokio::select! {
                () = standalone(herder.clone()) => {}
                () = &mut shutdown => {}
            }
        }
        Mode::Distributed => {
            let settings = MembershipSettings {
                group_id: herder.config.group_id.clone(),
                protocol_type: "connect".to_string(),
                session_timeout: herder.config.session_timeout,
                rebalance_timeout: herder.config.rebalance_timeout,
                client_id: format!("connect-{}", herder.worker_id),
            };
            let mut membership = herder.kafka.group_membership(settings);
            tokio::select! {
                () = distributed(herder.clone(), &mut membership) => {}
                () = &mut shutdown => {}
            }
            herder.worker.stop_all().await;
            // The others rebalance at once instead of after the session timeout.
            membership.leave().await;
            return;
        }
    }
    herder.worker.stop_all().await;
}

/// Everything in the config state, as work to assign.
fn all_work(herder: &Herder) -> (Vec<String>, Vec<(String, u32)>) {
    herder.stores.config(|c| {
        let connectors: Vec<String> = c.connectors.keys().cloned().collect();
        let tasks = connectors
            .iter()
            .flat_map(|name| (0..c.task_configs(name).len() as u32).map(move |n| (name.clone(), n)))
            .collect();
        (connectors, tasks)
    })
}

async fn start_assigned(herder: &Herder, assignment: &Assignment) {
    for c in &assignment.connectors {
        herder.worker.start_connector(c).await;
    }
    for (c, n) in &assignment.tasks {
        herder.worker.start_task(c, *n).await;
    }
}

async fn standalone(herder: Arc<Herder>) {
    let mut changes = herder.stores.config_changes();
    let mut restarts = herder.stores.restarts();
    *herder.view.write() = GroupView {
        leader_url: Some(herder.url.clone()),
        is_leader: true,
        rebalancing: false,
        generation: 1,
    };
    herder.worker.set_generation(1);
    herder.ready.store(true, Ordering::SeqCst);
    loop {
        let assigned_at = herder.stores.config(|c| c.assignment_version);
        herder.worker.stop_all().await;
        let (connectors, tasks) = all_work(&herder);
        start_assigned(
            &herder,
            &Assignment {
                connectors,
                tasks,
                ..Assignment::default()
            },
        )
        .await;
        // Runs until the work to assign changes.
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() { return; }
                    if herder.stores.config(|c| c.assignment_version) != assigned_at { break; }
                    after_config_change(&herder).await;
                }
                restart = restarts.recv() => {
                    if let Ok(r) = restart {
                        herder.worker.restart(&r.connector, r.include_tasks, r.only_failed).await;
                    }
                }
                () = herder.rejoin.notified() => break,
            }
        }
    }
}

/// What a worker does when the config changed without changing the work to assign:
/// apply target states, restart tasks whose configuration changed and (as leader)
/// write the task configurations connectors now need.
async fn after_config_change(herder: &Herder) {
    herder.worker.apply_target_states().await;
    herder.worker.restart_changed_tasks().await;
    if herder.view.read().is_leader
        && let Err(e) = herder.reconcile_tasks().await
    {
        tracing::warn!(error = %e, "writing task configurations failed");
    }
}

async fn distributed(herder: Arc<Herder>, membership: &mut GroupMembership) {
    let mut changes = herder.stores.config_changes();
    let mut restarts = herder.stores.restarts();
    loop {
        // Eager protocol: nothing of the old assignment runs while the group rebalances.
        herder.view.write().rebalancing = true;
        herder.worker.stop_all().await;
        let metadata = Metadata {
            url: herder.url.clone(),
            config_offset: herder.stores.config_offset(),
        };
        let joined = match membership
            .join(&[(protocol::PROTOCOL.to_string(), metadata.encode())])
            .await
        {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(error = %e, "joining the Connect worker group failed; retrying");
                tokio::time::sleep(RETRY_BACKOFF).await;
                continue;
            }
        };
        let assignments = if joined.is_leader() {
            leader_assignments(&herder, &joined).await
        } else {
            Vec::new()
        };
        let assigned_at = herder.stores.config(|c| c.assignment_version);
        let mine = match membership.sync(&joined, assignments).await {
            Ok(bytes) => Assignment::decode(bytes),
            Err(e) => {
                tracing::info!(error = %e, "the worker group rebalanced again before it was stable");
                continue;
            }
        };
        let Some(mine) = mine else {
            tracing::warn!("the leader's assignment could not be read; rejoining");
            tokio::time::sleep(RETRY_BACKOFF).await;
            continue;
        };
        // The assignment was made at the leader's config offset: catch up first.
        if herder.stores.config_offset() < mine.config_offset
            && let Err(e) = herder
                .stores
                .refresh_config(herder.config.worker_sync_timeout)
                .await
        {
            tracing::warn!(error = %e, "could not catch up with the config topic; rejoining");
            continue;
        }
        *herder.view.write() = GroupView {
            leader_url: Some(mine.leader_url.clone()),
            is_leader: joined.is_leader(),
            rebalancing: false,
            generation: joined.generation,
        };
        herder.worker.set_generation(joined.generation);
        herder.ready.store(true, Ordering::SeqCst);
        tracing::info!(
            generation = joined.generation,
            leader = joined.is_leader(),
            connectors = mine.connectors.len(),
            tasks = mine.tasks.len(),
            "joined the Connect worker group"
        );
        start_assigned(&herder, &mine).await;
        if joined.is_leader()
            && let Err(e) = herder.reconcile_tasks().await
        {
            tracing::warn!(error = %e, "writing task configurations failed");
        }
        // Work until the group or the work to assign changes.
        loop {
            if herder.stores.config(|c| c.assignment_version) != assigned_at {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(herder.config.heartbeat_interval) => {
                    match membership.heartbeat().await {
                        Ok(GroupState::Stable) => {}
                        Ok(state) => {
                            tracing::info!(?state, "the Connect worker group is rebalancing");
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "heartbeat failed; rejoining");
                            break;
                        }
                    }
                }
                changed = changes.changed() => {
                    if changed.is_err() { return; }
                    after_config_change(&herder).await;
                }
                restart = restarts.recv() => {
                    if let Ok(r) = restart {
                        herder.worker.restart(&r.connector, r.include_tasks, r.only_failed).await;
                    }
                }
                () = herder.rejoin.notified() => break,
            }
        }
    }
}

/// The leader's assignments: catch up with the config topic, then spread the work.
async fn leader_assignments(herder: &Herder, joined: &Joined) -> Vec<(String, Bytes)> {
    if let Err(e) = herder
        .stores
        .refresh_config(herder.config.worker_sync_timeout * 10)
        .await
    {
        tracing::warn!(error = %e, "the leader could not read the config topic to its end");
    }
    let config_offset = herder.stores.config_offset();
    let members: Vec<(String, Metadata)> = joined
        .members
        .iter()
        .filter_map(|(id, bytes)| Metadata::decode(bytes.clone()).map(|m| (id.clone(), m)))
        .collect();
    let leader_url = members
        .iter()
        .find(|(id, _)| *id == joined.member_id)
        .map(|(_, m)| m.url.clone())
        .unwrap_or_else(|| herder.url.clone());
    let (connectors, tasks) = all_work(herder);
    let ids: Vec<String> = members.iter().map(|(id, _)| id.clone()).collect();
    protocol::assign(&ids, &connectors, &tasks)
        .into_iter()
        .map(|(member, (connectors, tasks))| {
            let a = Assignment {
                error: 0,
                leader: joined.member_id.clone(),
                leader_url: leader_url.clone(),
                config_offset,
                connectors,
                tasks,
            };
            (member, a.encode())
        })
        .collect()
}
