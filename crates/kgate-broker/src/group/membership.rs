//! The classic group membership protocol as a state machine on plain data: join, sync,
//! heartbeat, leave, session and rebalance timeouts, static membership.
//!
//! Time is passed in (`now`) rather than read, so that tests can drive timeouts. Requests
//! that must wait for other members (JoinGroup until the rebalance completes, SyncGroup
//! until the leader has sent the assignments) get a [`Reply::Later`] whose channel is
//! completed when the group moves on; nothing here blocks.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::codes;
use super::journal::{GroupRecord, JournalOp, MemberRecord, ProtocolRecord};
use super::offsets::CommittedOffset;

/// The coordinator's bounds and delays: Kafka's classic group configs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupTimeouts {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members to join.
    pub initial_rebalance_delay: Duration,
    /// `group.min.session.timeout.ms`: the smallest session timeout a member may ask for.
    pub min_session_timeout: Duration,
    /// `group.max.session.timeout.ms`: the largest.
    pub max_session_timeout: Duration,
    /// `offsets.retention.minutes`, in ms.
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`.
    pub offsets_check_interval: Duration,
}

impl GroupTimeouts {
    /// The timeouts of the broker's settings (negative values count as zero).
    pub(crate) fn from_settings(s: &crate::config::GroupSettings) -> Self {
        Self {
            initial_rebalance_delay: duration_ms(s.initial_rebalance_delay_ms),
            min_session_timeout: duration_ms(s.min_session_timeout_ms),
            max_session_timeout: duration_ms(s.max_session_timeout_ms),
            offsets_retention_ms: (s.offsets_retention_minutes as i64).saturating_mul(60_000),
            offsets_check_interval: Duration::from_millis(
                u64::try_from(s.offsets_retention_check_interval_ms)
                    .unwrap_or(1)
                    .max(1),
            ),
        }
    }
}

impl Default for GroupTimeouts {
    /// Kafka's defaults.
    fn default() -> Self {
        Self::from_settings(&crate::config::GroupSettings::default())
    }
}

/// The initial rebalance of a new group, delayed so that members started together join
/// one generation: Kafka's InitialDelayedJoin.
#[derive(Debug, Clone, Copy)]
struct InitialDelay {
    /// When the current wait ends.
    deadline: Instant,
    /// The length of the current wait.
    delay: Duration,
    /// What is left of the rebalance timeout for further waits.
    remaining: Duration,
    /// Whether a member joined during the current wait (which earns another one).
    new_member_added: bool,
}

/// An answer now, or one that arrives when the group moves on.
#[derive(Debug)]
pub(crate) enum Reply<T> {
    /// The answer is known already.
    Now(T),
    /// The answer is sent on this channel later.
    Later(oneshot::Receiver<T>),
}

/// The states of a classic group, named as Kafka names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupState {
    /// No members (offsets may still be kept).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignments.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
}

impl GroupState {
    /// The state's name in ListGroups and DescribeGroups.
    pub(crate) fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// A member of a group.
#[derive(Debug)]
pub(crate) struct Member {
    /// The member id the coordinator gave it.
    pub id: String,
    /// Its static instance id (`group.instance.id`), if any.
    pub instance_id: Option<String>,
    /// The client id of its latest join.
    pub client_id: String,
    /// The client host of its latest join (`/ip`).
    pub client_host: String,
    /// Silence longer than this removes it.
    pub session_timeout: Duration,
    /// How long a rebalance waits for it to rejoin.
    pub rebalance_timeout: Duration,
    /// Its protocols (assignors) with their metadata, in preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// The assignment the leader gave it in the current generation.
    pub assignment: Bytes,
    awaiting_join: Option<oneshot::Sender<JoinResult>>,
    awaiting_sync: Option<oneshot::Sender<SyncResult>>,
    session_deadline: Instant,
}

impl Member {
    /// The member's metadata for `protocol`, empty if it does not support it.
    pub(crate) fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    fn is_awaiting(&self) -> bool {
        self.awaiting_join.is_some() || self.awaiting_sync.is_some()
    }

    fn record(&self) -> MemberRecord {
        MemberRecord {
            member_id: self.id.clone(),
            instance_id: self.instance_id.clone(),
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
            session_timeout_ms: millis(self.session_timeout),
            rebalance_timeout_ms: millis(self.rebalance_timeout),
            protocols: self
                .protocols
                .iter()
                .map(|(name, metadata)| ProtocolRecord {
                    name: name.clone(),
                    metadata: metadata.to_vec(),
                })
                .collect(),
            assignment: self.assignment.to_vec(),
        }
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// The generation after `g`; wraps to 1 rather than overflow (only a damaged journal
/// could bring a generation that far).
fn next_generation(g: i32) -> i32 {
    g.checked_add(1).unwrap_or(1)
}

fn duration_ms(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// A consumer group (or any classic-protocol group) and its committed offsets.
#[derive(Debug)]
pub(crate) struct Group {
    /// The group id.
    pub id: String,
    /// Where the group is in the membership protocol.
    pub state: GroupState,
    /// The current generation.
    pub generation: i32,
    /// The protocol type its members share (`consumer` for consumers).
    pub protocol_type: Option<String>,
    /// The protocol (assignor) chosen for the current generation.
    pub protocol: Option<String>,
    /// The member id of the leader, who computes the assignments.
    pub leader: Option<String>,
    /// Members by member id.
    pub members: BTreeMap<String, Member>,
    /// Static instance id to the member id that currently holds it.
    pub static_members: BTreeMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until they join or expire.
    pending: BTreeMap<String, Instant>,
    /// When the current join (or sync) phase gives up on missing members.
    phase_deadline: Option<Instant>,
    /// The first rebalance of a new group, while it waits for more members.
    initial_delay: Option<InitialDelay>,
    /// `group.initial.rebalance.delay.ms`, set by the coordinator before each join.
    initial_rebalance_delay: Duration,
    /// When the group last became empty (unknown after a restart): the committed
    /// offsets of an empty group expire `offsets.retention.minutes` after it.
    pub empty_since: Option<Instant>,
    /// Committed offsets by topic and partition.
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
}

impl Group {
    /// A new, empty group.
    pub(crate) fn new(id: &str) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending: BTreeMap::new(),
            phase_deadline: None,
            initial_delay: None,
            initial_rebalance_delay: Duration::ZERO,
            empty_since: None,
            offsets: BTreeMap::new(),
        }
    }

    /// Rebuilds a group from its durable record; members get a full session to come back.
    pub(crate) fn restore(record: GroupRecord, now: Instant) -> Group {
        let mut group = Group::new(&record.group);
        group.generation = record.generation;
        group.protocol_type = record.protocol_type;
        group.protocol = record.protocol;
        group.leader = record.leader;
        for m in record.members {
            let session_timeout = duration_ms(m.session_timeout_ms);
            if let Some(instance) = &m.instance_id {
                group
                    .static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            let member = Member {
                id: m.member_id.clone(),
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout,
                rebalance_timeout: duration_ms(m.rebalance_timeout_ms),
                protocols: m
                    .protocols
                    .into_iter()
                    .map(|p| (p.name, Bytes::from(p.metadata)))
                    .collect(),
                assignment: Bytes::from(m.assignment),
                awaiting_join: None,
                awaiting_sync: None,
                session_deadline: now + session_timeout,
            };
            group.members.insert(m.member_id, member);
        }
        if group.members.is_empty() {
            group.leader = None;
        } else {
            group.state = GroupState::Stable;
            if !group
                .leader
                .as_ref()
                .is_some_and(|l| group.members.contains_key(l))
            {
                group.leader = group.members.keys().next().cloned();
            }
        }
        group
    }

    /// The group's durable record.
    pub(crate) fn record(&self) -> GroupRecord {
        GroupRecord {
            group: self.id.clone(),
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            members: self.members.values().map(Member::record).collect(),
        }
    }

    /// True if nothing about the group is worth keeping.
    pub(crate) fn is_vacant(&self) -> bool {
        self.state == GroupState::Empty
            && self.members.is_empty()
            && self.pending.is_empty()
            && self.offsets.is_empty()
            && self.generation == 0
            && self.protocol_type.is_none()
    }

    /// True if no member id handed out is waiting to be used.
    pub(crate) fn pending_is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// True if `member_id` is a member.
    pub(crate) fn has_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    /// True if a static `instance_id` is held by a member other than `member_id`.
    pub(crate) fn is_fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        match instance_id {
            Some(instance) => self
                .static_members
                .get(instance)
                .is_some_and(|holder| holder != member_id),
            None => false,
        }
    }

    /// Resets a member's session timer.
    pub(crate) fn touch(&mut self, member_id: &str, now: Instant) {
        if let Some(member) = self.members.get_mut(member_id) {
            member.session_deadline = now + member.session_timeout;
        }
    }

    /// The protocols every member supports, in the first member's order of preference.
    fn candidate_protocols(&self) -> Vec<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return Vec::new();
        };
        let mut candidates: Vec<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for member in members {
            candidates.retain(|c| member.protocols.iter().any(|(n, _)| n == c));
        }
        candidates
    }

    fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && self
                .candidate_protocols()
                .iter()
                .any(|c| protocols.iter().any(|(n, _)| n == c))
    }

    /// The protocol with the most first-choice votes among those every member supports.
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: Vec<usize> = vec![0; candidates.len()];
        for member in self.members.values() {
            let first_choice = member
                .protocols
                .iter()
                .find_map(|(n, _)| candidates.iter().position(|c| c == n));
            if let Some(i) = first_choice {
                votes[i] += 1;
            }
        }
        let mut best: Option<(usize, usize)> = None;
        for (i, v) in votes.iter().enumerate() {
            if best.is_none_or(|(_, bv)| *v > bv) {
                best = Some((i, *v));
            }
        }
        best.map(|(i, _)| candidates[i].clone())
    }

    fn join_result(&self, member_id: &str, with_members: bool) -> JoinResult {
        let is_leader = self.leader.as_deref() == Some(member_id);
        let protocol = self.protocol.clone().unwrap_or_default();
        let members = if is_leader && with_members {
            self.members
                .values()
                .map(|m| JoinedMember {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    metadata: m.metadata(&protocol),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            error: codes::NONE,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
            skip_assignment: false,
        }
    }

    fn max_rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
    }

    fn prepare_rebalance(&mut self, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            self.reset_assignments(codes::REBALANCE_IN_PROGRESS);
        }
        let rebalance_timeout = self.max_rebalance_timeout();
        if self.state == GroupState::Empty && !self.initial_rebalance_delay.is_zero() {
            // As Kafka: a new group waits `group.initial.rebalance.delay.ms` for more
            // members, and again while more keep coming, within the rebalance timeout.
            let delay = self.initial_rebalance_delay;
            self.initial_delay = Some(InitialDelay {
                deadline: now + delay,
                delay,
                remaining: rebalance_timeout.saturating_sub(delay),
                new_member_added: false,
            });
        }
        self.state = GroupState::PreparingRebalance;
        self.phase_deadline = Some(now + rebalance_timeout);
    }

    /// Moves the initial delay on at `now`: another wait if members joined during this
    /// one and time is left, else the join phase completes with whoever has joined.
    fn tick_initial_delay(&mut self, now: Instant, outbox: &mut Vec<JournalOp>) {
        let Some(mut wait) = self.initial_delay else {
            return;
        };
        if wait.deadline > now {
            return;
        }
        if wait.new_member_added && !wait.remaining.is_zero() {
            let delay = self.initial_rebalance_delay.min(wait.remaining);
            wait.remaining = wait.remaining.saturating_sub(wait.delay);
            wait.delay = delay;
            wait.deadline = now + delay;
            wait.new_member_added = false;
            self.initial_delay = Some(wait);
            return;
        }
        self.initial_delay = None;
        if self.state == GroupState::PreparingRebalance {
            self.complete_join(now, outbox);
        }
    }

    fn reset_assignments(&mut self, error: i16) {
        for member in self.members.values_mut() {
            member.assignment = Bytes::new();
            if let Some(tx) = member.awaiting_sync.take() {
                let _ = tx.send(SyncResult::error(error));
            }
        }
    }

    /// Completes the join phase if every member has rejoined and no new member is expected.
    fn try_complete_join(&mut self, now: Instant, outbox: &mut Vec<JournalOp>) {
        // The initial rebalance of a new group ends with its delay, not earlier.
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay.is_none()
            && self.pending.is_empty()
            && self.members.values().all(|m| m.awaiting_join.is_some())
        {
            self.complete_join(now, outbox);
        }
    }

    fn complete_join(&mut self, now: Instant, outbox: &mut Vec<JournalOp>) {
        self.initial_delay = None;
        // Dynamic members that did not rejoin in time are gone; static ones keep their
        // slot until their session runs out, so a restarting instance does not lose it.
        let missing: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in missing {
            self.remove_member(&id);
        }
        if self.members.is_empty() {
            self.generation = next_generation(self.generation);
            self.protocol = None;
            self.leader = None;
            self.state = GroupState::Empty;
            self.empty_since = Some(now);
            self.phase_deadline = None;
            outbox.push(JournalOp::Group(self.record()));
            return;
        }
        let leader_joined = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .is_some_and(|m| m.awaiting_join.is_some());
        if !leader_joined {
            match self.members.values().find(|m| m.awaiting_join.is_some()) {
                Some(m) => self.leader = Some(m.id.clone()),
                None => {
                    // Only absent static members remain: wait another round for them.
                    self.phase_deadline = Some(now + self.max_rebalance_timeout());
                    return;
                }
            }
        }
        self.generation = next_generation(self.generation);
        self.protocol = self.select_protocol();
        self.state = GroupState::CompletingRebalance;
        self.phase_deadline = Some(now + self.max_rebalance_timeout());
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.join_result(&id, true);
            if let Some(member) = self.members.get_mut(&id) {
                member.session_deadline = now + member.session_timeout;
                if let Some(tx) = member.awaiting_join.take() {
                    let _ = tx.send(result);
                }
            }
        }
    }

    /// Removes a member without touching the group's state; answers its waiting calls.
    fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let mut member = self.members.remove(member_id)?;
        if let Some(instance) = &member.instance_id
            && self.static_members.get(instance).map(String::as_str) == Some(member_id)
        {
            self.static_members.remove(instance);
        }
        if let Some(tx) = member.awaiting_join.take() {
            let _ = tx.send(JoinResult::error(member_id, codes::UNKNOWN_MEMBER_ID));
        }
        if let Some(tx) = member.awaiting_sync.take() {
            let _ = tx.send(SyncResult::error(codes::UNKNOWN_MEMBER_ID));
        }
        if self.leader.as_deref() == Some(member_id) {
            self.leader = self.members.keys().next().cloned();
        }
        Some(member)
    }

    /// Removes a member (left or expired) and moves the group on.
    fn remove_member_and_rebalance(
        &mut self,
        member_id: &str,
        now: Instant,
        outbox: &mut Vec<JournalOp>,
    ) {
        if self.remove_member(member_id).is_none() {
            return;
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now);
                self.try_complete_join(now, outbox);
            }
            GroupState::PreparingRebalance => self.try_complete_join(now, outbox),
            GroupState::Empty => {}
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        member_id: String,
        p: &JoinParams,
        now: Instant,
        outbox: &mut Vec<JournalOp>,
    ) -> Reply<JoinResult> {
        let (tx, rx) = oneshot::channel();
        if self.members.is_empty() {
            self.protocol_type = Some(p.protocol_type.clone());
        }
        if let Some(instance) = &p.instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        let member = Member {
            id: member_id.clone(),
            instance_id: p.instance_id.clone(),
            client_id: p.client_id.clone(),
            client_host: p.client_host.clone(),
            session_timeout: p.session_timeout,
            rebalance_timeout: p.rebalance_timeout,
            protocols: p.protocols.clone(),
            assignment: Bytes::new(),
            awaiting_join: Some(tx),
            awaiting_sync: None,
            session_deadline: now + p.session_timeout,
        };
        self.members.insert(member_id.clone(), member);
        if self.leader.is_none() {
            self.leader = Some(member_id);
        }
        if let Some(wait) = &mut self.initial_delay {
            wait.new_member_added = true;
        }
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now);
        }
        self.try_complete_join(now, outbox);
        Reply::Later(rx)
    }

    fn update_member_and_rebalance(
        &mut self,
        member_id: &str,
        p: &JoinParams,
        now: Instant,
        outbox: &mut Vec<JournalOp>,
    ) -> Reply<JoinResult> {
        let (tx, rx) = oneshot::channel();
        if let Some(member) = self.members.get_mut(member_id) {
            member.client_id = p.client_id.clone();
            member.client_host = p.client_host.clone();
            member.session_timeout = p.session_timeout;
            member.rebalance_timeout = p.rebalance_timeout;
            member.protocols = p.protocols.clone();
            member.session_deadline = now + p.session_timeout;
            if let Some(old) = member.awaiting_join.replace(tx) {
                // A second join from the same member replaces the first; the first caller
                // is told to rejoin rather than left hanging.
                let _ = old.send(JoinResult::error(member_id, codes::REBALANCE_IN_PROGRESS));
            }
        }
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now);
        }
        self.try_complete_join(now, outbox);
        Reply::Later(rx)
    }

    /// A static member restarted (new member id, same instance id): it takes its slot back.
    fn replace_static_member(
        &mut self,
        old_id: &str,
        new_id: String,
        p: &JoinParams,
        now: Instant,
        outbox: &mut Vec<JournalOp>,
    ) -> Reply<JoinResult> {
        let Some(mut member) = self.members.remove(old_id) else {
            return self.add_member_and_rebalance(new_id, p, now, outbox);
        };
        // Whoever still waits under the old id is the instance being replaced.
        if let Some(tx) = member.awaiting_join.take() {
            let _ = tx.send(JoinResult::error(old_id, codes::FENCED_INSTANCE_ID));
        }
        if let Some(tx) = member.awaiting_sync.take() {
            let _ = tx.send(SyncResult::error(codes::FENCED_INSTANCE_ID));
        }
        member.protocols = p.protocols.clone();
        member.id = new_id.clone();
        member.client_id = p.client_id.clone();
        member.client_host = p.client_host.clone();
        member.session_timeout = p.session_timeout;
        member.rebalance_timeout = p.rebalance_timeout;
        member.session_deadline = now + p.session_timeout;
        self.members.insert(new_id.clone(), member);
        if let Some(instance) = &p.instance_id {
            self.static_members.insert(instance.clone(), new_id.clone());
        }
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        // As in Kafka, only a change of the protocol the group would select calls for a
        // rebalance; changed metadata alone (e.g. owned partitions) does not.
        let same_protocol = self.select_protocol() == self.protocol;
        match self.state {
            GroupState::Stable if same_protocol => {
                // The member resumes its old assignment.
                outbox.push(JournalOp::Group(self.record()));
                let is_leader = self.leader.as_deref() == Some(new_id.as_str());
                let mut result = self.join_result(&new_id, true);
                result.skip_assignment = is_leader;
                Reply::Now(result)
            }
            _ => self.update_member_and_rebalance(&new_id, p, now, outbox),
        }
    }

    /// Moves timers on: expires sessions, ends join and sync phases that ran out of time.
    fn tick(&mut self, now: Instant, outbox: &mut Vec<JournalOp>) {
        self.pending.retain(|_, deadline| *deadline > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.is_awaiting() && m.session_deadline <= now)
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "member session expired");
            self.remove_member_and_rebalance(&id, now, outbox);
        }
        if self.initial_delay.is_some() {
            self.tick_initial_delay(now, outbox);
            return;
        }
        let phase_over = self.phase_deadline.is_some_and(|d| d <= now);
        match self.state {
            GroupState::PreparingRebalance if phase_over => self.complete_join(now, outbox),
            GroupState::PreparingRebalance => self.try_complete_join(now, outbox),
            GroupState::CompletingRebalance if phase_over => {
                let unsynced: Vec<String> = self
                    .members
                    .values()
                    .filter(|m| m.awaiting_sync.is_none())
                    .map(|m| m.id.clone())
                    .collect();
                for id in unsynced {
                    self.remove_member(&id);
                }
                self.prepare_rebalance(now);
                self.try_complete_join(now, outbox);
            }
            _ => {}
        }
    }
}

/// What a JoinGroup request asks.
#[derive(Debug, Clone)]
pub(crate) struct JoinParams {
    /// The group to join.
    pub group_id: String,
    /// The member id, empty for a new member.
    pub member_id: String,
    /// The static instance id, if any.
    pub instance_id: Option<String>,
    /// The request header's client id.
    pub client_id: String,
    /// The client host (`/ip`).
    pub client_host: String,
    /// The session timeout asked for.
    pub session_timeout: Duration,
    /// The rebalance timeout asked for.
    pub rebalance_timeout: Duration,
    /// The protocol type (`consumer` for consumers).
    pub protocol_type: String,
    /// The protocols with metadata, in preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new dynamic member first gets its id with MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
}

/// A member as the leader sees it in a JoinGroup answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JoinedMember {
    /// The member id.
    pub member_id: String,
    /// Its static instance id, if any.
    pub instance_id: Option<String>,
    /// Its metadata for the chosen protocol.
    pub metadata: Bytes,
}

/// The answer to a JoinGroup request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JoinResult {
    /// The error code.
    pub error: i16,
    /// The generation joined.
    pub generation: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen protocol.
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// The joining member's id.
    pub member_id: String,
    /// Every member, for the leader only.
    pub members: Vec<JoinedMember>,
    /// True when the leader must not compute assignments again (static rejoin).
    pub skip_assignment: bool,
}

impl JoinResult {
    /// A failed join.
    pub(crate) fn error(member_id: &str, error: i16) -> JoinResult {
        JoinResult {
            error,
            generation: -1,
            protocol_type: None,
            protocol: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// What a SyncGroup request asks.
#[derive(Debug, Clone)]
pub(crate) struct SyncParams {
    /// The group.
    pub group_id: String,
    /// The generation the member joined.
    pub generation: i32,
    /// The member id.
    pub member_id: String,
    /// The static instance id, if any.
    pub instance_id: Option<String>,
    /// The protocol type the member expects (v5+).
    pub protocol_type: Option<String>,
    /// The protocol the member expects (v5+).
    pub protocol: Option<String>,
    /// The leader's assignments by member id (empty from followers).
    pub assignments: Vec<(String, Bytes)>,
}

/// The answer to a SyncGroup request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyncResult {
    /// The error code.
    pub error: i16,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen protocol.
    pub protocol: Option<String>,
    /// The member's assignment.
    pub assignment: Bytes,
}

impl SyncResult {
    /// A failed sync.
    pub(crate) fn error(error: i16) -> SyncResult {
        SyncResult {
            error,
            protocol_type: None,
            protocol: None,
            assignment: Bytes::new(),
        }
    }
}

/// Every group the coordinator knows, and the durable changes not yet handed to the journal.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    /// Groups by group id.
    pub groups: BTreeMap<String, Group>,
    /// Session timeout bounds and the initial rebalance delay.
    pub timeouts: GroupTimeouts,
    /// Changes to write to the journal, drained by the coordinator after each call.
    pub outbox: Vec<JournalOp>,
    /// When committed offsets were last checked for expiry.
    pub offsets_checked: Option<Instant>,
}

impl Groups {
    /// Handles JoinGroup.
    pub(crate) fn join(&mut self, p: JoinParams, now: Instant) -> Reply<JoinResult> {
        if p.group_id.is_empty() {
            return Reply::Now(JoinResult::error(&p.member_id, codes::INVALID_GROUP_ID));
        }
        if p.session_timeout < self.timeouts.min_session_timeout
            || p.session_timeout > self.timeouts.max_session_timeout
        {
            return Reply::Now(JoinResult::error(
                &p.member_id,
                codes::INVALID_SESSION_TIMEOUT,
            ));
        }
        if p.protocol_type.is_empty() || p.protocols.is_empty() {
            return Reply::Now(JoinResult::error(
                &p.member_id,
                codes::INCONSISTENT_GROUP_PROTOCOL,
            ));
        }
        let unknown_member = p.member_id.is_empty();
        if !self.groups.contains_key(&p.group_id) {
            if !unknown_member {
                return Reply::Now(JoinResult::error(&p.member_id, codes::UNKNOWN_MEMBER_ID));
            }
            self.groups
                .insert(p.group_id.clone(), Group::new(&p.group_id));
        }
        let outbox = &mut self.outbox;
        let Some(group) = self.groups.get_mut(&p.group_id) else {
            return Reply::Now(JoinResult::error(&p.member_id, codes::UNKNOWN_MEMBER_ID));
        };
        group.initial_rebalance_delay = self.timeouts.initial_rebalance_delay;
        let reply = if !group.supports_protocols(&p.protocol_type, &p.protocols) {
            Reply::Now(JoinResult::error(
                &p.member_id,
                codes::INCONSISTENT_GROUP_PROTOCOL,
            ))
        } else if unknown_member {
            join_unknown_member(group, &p, now, outbox)
        } else {
            join_known_member(group, &p, now, outbox)
        };
        if group.is_vacant() {
            self.groups.remove(&p.group_id);
        }
        reply
    }

    /// Handles SyncGroup.
    pub(crate) fn sync(&mut self, p: SyncParams, now: Instant) -> Reply<SyncResult> {
        let Some(group) = self.groups.get_mut(&p.group_id) else {
            return Reply::Now(SyncResult::error(codes::UNKNOWN_MEMBER_ID));
        };
        if group.is_fenced(p.instance_id.as_deref(), &p.member_id) {
            return Reply::Now(SyncResult::error(codes::FENCED_INSTANCE_ID));
        }
        if !group.has_member(&p.member_id) {
            return Reply::Now(SyncResult::error(codes::UNKNOWN_MEMBER_ID));
        }
        if p.generation != group.generation {
            return Reply::Now(SyncResult::error(codes::ILLEGAL_GENERATION));
        }
        let type_differs = p
            .protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != group.protocol_type.as_ref());
        let protocol_differs = p
            .protocol
            .as_ref()
            .is_some_and(|n| Some(n) != group.protocol.as_ref());
        if type_differs || protocol_differs {
            return Reply::Now(SyncResult::error(codes::INCONSISTENT_GROUP_PROTOCOL));
        }
        match group.state {
            GroupState::Empty => Reply::Now(SyncResult::error(codes::UNKNOWN_MEMBER_ID)),
            GroupState::PreparingRebalance => {
                Reply::Now(SyncResult::error(codes::REBALANCE_IN_PROGRESS))
            }
            GroupState::Stable => {
                group.touch(&p.member_id, now);
                let assignment = group
                    .members
                    .get(&p.member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                Reply::Now(SyncResult {
                    error: codes::NONE,
                    protocol_type: group.protocol_type.clone(),
                    protocol: group.protocol.clone(),
                    assignment,
                })
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(member) = group.members.get_mut(&p.member_id) {
                    member.session_deadline = now + member.session_timeout;
                    if let Some(old) = member.awaiting_sync.replace(tx) {
                        let _ = old.send(SyncResult::error(codes::REBALANCE_IN_PROGRESS));
                    }
                }
                if group.leader.as_deref() == Some(p.member_id.as_str()) {
                    let mut assignments: BTreeMap<String, Bytes> =
                        p.assignments.into_iter().collect();
                    for member in group.members.values_mut() {
                        member.assignment = assignments.remove(&member.id).unwrap_or_default();
                    }
                    group.state = GroupState::Stable;
                    group.phase_deadline = None;
                    self.outbox.push(JournalOp::Group(group.record()));
                    for member in group.members.values_mut() {
                        member.session_deadline = now + member.session_timeout;
                        if let Some(tx) = member.awaiting_sync.take() {
                            let _ = tx.send(SyncResult {
                                error: codes::NONE,
                                protocol_type: group.protocol_type.clone(),
                                protocol: group.protocol.clone(),
                                assignment: member.assignment.clone(),
                            });
                        }
                    }
                }
                Reply::Later(rx)
            }
        }
    }

    /// Handles Heartbeat; returns the error code.
    pub(crate) fn heartbeat(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        now: Instant,
    ) -> i16 {
        let Some(group) = self.groups.get_mut(group_id) else {
            return codes::UNKNOWN_MEMBER_ID;
        };
        if group.is_fenced(instance_id, member_id) {
            return codes::FENCED_INSTANCE_ID;
        }
        if !group.has_member(member_id) {
            return codes::UNKNOWN_MEMBER_ID;
        }
        if generation != group.generation {
            return codes::ILLEGAL_GENERATION;
        }
        match group.state {
            GroupState::Empty => codes::UNKNOWN_MEMBER_ID,
            GroupState::PreparingRebalance => {
                group.touch(member_id, now);
                codes::REBALANCE_IN_PROGRESS
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                group.touch(member_id, now);
                codes::NONE
            }
        }
    }

    /// Handles LeaveGroup for each `(member id, instance id)`; returns one error per member.
    pub(crate) fn leave(
        &mut self,
        group_id: &str,
        leaving: &[(String, Option<String>)],
        now: Instant,
    ) -> Vec<i16> {
        let Some(group) = self.groups.get_mut(group_id) else {
            return vec![codes::UNKNOWN_MEMBER_ID; leaving.len()];
        };
        let mut errors = Vec::with_capacity(leaving.len());
        for (member_id, instance_id) in leaving {
            let target = match instance_id {
                // An admin removes a static member by instance id alone (KIP-345).
                Some(instance) if member_id.is_empty() => {
                    group.static_members.get(instance).cloned()
                }
                Some(instance) => {
                    if group.is_fenced(Some(instance), member_id) {
                        errors.push(codes::FENCED_INSTANCE_ID);
                        continue;
                    }
                    Some(member_id.clone())
                }
                None => Some(member_id.clone()),
            };
            let Some(target) = target else {
                errors.push(codes::UNKNOWN_MEMBER_ID);
                continue;
            };
            if group.pending.remove(&target).is_some() {
                errors.push(codes::NONE);
                group.try_complete_join(now, &mut self.outbox);
                continue;
            }
            if !group.has_member(&target) {
                errors.push(codes::UNKNOWN_MEMBER_ID);
                continue;
            }
            group.remove_member_and_rebalance(&target, now, &mut self.outbox);
            errors.push(codes::NONE);
        }
        errors
    }

    /// Moves every group's timers on.
    pub(crate) fn tick(&mut self, now: Instant) {
        for group in self.groups.values_mut() {
            group.tick(now, &mut self.outbox);
        }
        // A group created by a join whose member never came back leaves nothing behind.
        self.groups.retain(|_, g| !g.is_vacant());
    }

    /// Answers every parked JoinGroup and SyncGroup with `error`; used when stopping, so
    /// that connections are not held open by requests that would never complete.
    pub(crate) fn release_waiters(&mut self, error: i16) {
        for group in self.groups.values_mut() {
            for member in group.members.values_mut() {
                if let Some(tx) = member.awaiting_join.take() {
                    let _ = tx.send(JoinResult::error(&member.id, error));
                }
                if let Some(tx) = member.awaiting_sync.take() {
                    let _ = tx.send(SyncResult::error(error));
                }
            }
        }
    }

    /// Adds groups restored from the journal.
    pub(crate) fn restore(&mut self, group: Group) {
        self.groups.insert(group.id.clone(), group);
    }
}

/// A new member id: the client (or instance) id, a dash and a UUID, as Kafka makes them.
/// The prefix is cut so the id still fits the 32,767-byte strings of non-flexible
/// versions (a client id may be that long itself).
fn new_member_id(prefix: &str) -> String {
    let prefix = crate::oversize::clip_str(prefix, crate::oversize::MAX_STRING - 37);
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

fn join_unknown_member(
    group: &mut Group,
    p: &JoinParams,
    now: Instant,
    outbox: &mut Vec<JournalOp>,
) -> Reply<JoinResult> {
    match &p.instance_id {
        Some(instance) => {
            let new_id = new_member_id(instance);
            match group.static_members.get(instance).cloned() {
                Some(old_id) => group.replace_static_member(&old_id, new_id, p, now, outbox),
                None => group.add_member_and_rebalance(new_id, p, now, outbox),
            }
        }
        None => {
            let new_id = new_member_id(&p.client_id);
            if p.require_known_member_id {
                // The client must come back with this id; until then the rebalance
                // waits for it (or for its session timeout).
                group
                    .pending
                    .insert(new_id.clone(), now + p.session_timeout);
                Reply::Now(JoinResult::error(&new_id, codes::MEMBER_ID_REQUIRED))
            } else {
                group.add_member_and_rebalance(new_id, p, now, outbox)
            }
        }
    }
}

fn join_known_member(
    group: &mut Group,
    p: &JoinParams,
    now: Instant,
    outbox: &mut Vec<JournalOp>,
) -> Reply<JoinResult> {
    if group.pending.remove(&p.member_id).is_some() {
        return group.add_member_and_rebalance(p.member_id.clone(), p, now, outbox);
    }
    if group.is_fenced(p.instance_id.as_deref(), &p.member_id) {
        return Reply::Now(JoinResult::error(&p.member_id, codes::FENCED_INSTANCE_ID));
    }
    let Some(member) = group.members.get(&p.member_id) else {
        return Reply::Now(JoinResult::error(&p.member_id, codes::UNKNOWN_MEMBER_ID));
    };
    let same_protocols = member.protocols == p.protocols;
    let is_leader = group.leader.as_deref() == Some(p.member_id.as_str());
    match group.state {
        GroupState::Empty => Reply::Now(JoinResult::error(&p.member_id, codes::UNKNOWN_MEMBER_ID)),
        GroupState::PreparingRebalance => {
            group.update_member_and_rebalance(&p.member_id, p, now, outbox)
        }
        GroupState::CompletingRebalance if same_protocols => {
            // The member missed our join answer; give it again.
            group.touch(&p.member_id, now);
            Reply::Now(group.join_result(&p.member_id, true))
        }
        GroupState::Stable if same_protocols && !is_leader => {
            group.touch(&p.member_id, now);
            Reply::Now(group.join_result(&p.member_id, false))
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            group.update_member_and_rebalance(&p.member_id, p, now, outbox)
        }
    }
}

#[cfg(test)]
impl Groups {
    /// Groups without the initial rebalance delay, so rebalances complete at once.
    pub(crate) fn undelayed() -> Groups {
        let mut groups = Groups::default();
        groups.timeouts.initial_rebalance_delay = Duration::ZERO;
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: Duration = Duration::from_secs(10);

    const REBALANCE: Duration = Duration::from_secs(30);

    fn undelayed() -> Groups {
        Groups::undelayed()
    }

    fn params(group: &str, member_id: &str, instance: Option<&str>) -> JoinParams {
        JoinParams {
            group_id: group.into(),
            member_id: member_id.into(),
            instance_id: instance.map(String::from),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: SESSION,
            rebalance_timeout: REBALANCE,
            protocol_type: "consumer".into(),
            protocols: vec![
                ("range".into(), Bytes::from_static(b"range-meta")),
                ("roundrobin".into(), Bytes::from_static(b"rr-meta")),
            ],
            require_known_member_id: true,
        }
    }

    fn now_result<T: std::fmt::Debug>(reply: Reply<T>) -> T {
        match reply {
            Reply::Now(r) => r,
            Reply::Later(_) => panic!("expected an immediate answer"),
        }
    }

    fn later<T: std::fmt::Debug>(reply: Reply<T>) -> oneshot::Receiver<T> {
        match reply {
            Reply::Later(rx) => rx,
            Reply::Now(r) => panic!("expected to wait, got {r:?}"),
        }
    }

    fn ready<T>(rx: &mut oneshot::Receiver<T>) -> T {
        rx.try_recv().expect("answer should be ready")
    }

    /// Joins a new dynamic member through the MEMBER_ID_REQUIRED round trip.
    fn join_new(
        groups: &mut Groups,
        group: &str,
        now: Instant,
    ) -> (String, oneshot::Receiver<JoinResult>) {
        let first = now_result(groups.join(params(group, "", None), now));
        assert_eq!(first.error, codes::MEMBER_ID_REQUIRED);
        let id = first.member_id;
        (
            id.clone(),
            later(groups.join(params(group, &id, None), now)),
        )
    }

    fn sync(
        groups: &mut Groups,
        group: &str,
        generation: i32,
        member: &str,
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> Reply<SyncResult> {
        groups.sync(
            SyncParams {
                group_id: group.into(),
                generation,
                member_id: member.into(),
                instance_id: None,
                protocol_type: None,
                protocol: None,
                assignments,
            },
            now,
        )
    }

    #[test]
    fn a_single_member_joins_syncs_and_becomes_stable() {
        let mut groups = undelayed();
        let t0 = Instant::now();
        let (id, mut rx) = join_new(&mut groups, "g", t0);
        let joined = ready(&mut rx);
        assert_eq!(joined.error, codes::NONE);
        assert_eq!(joined.generation, 1);
        assert_eq!(joined.leader, id);
        assert_eq!(joined.protocol.as_deref(), Some("range"));
        assert_eq!(joined.members.len(), 1);
        assert_eq!(
            joined.members[0].metadata,
            Bytes::from_static(b"range-meta")
        );
        assert_eq!(groups.groups["g"].state, GroupState::CompletingRebalance);
        let mut rx = later(sync(
            &mut groups,
            "g",
            1,
            &id,
            vec![(id.clone(), Bytes::from_static(b"A"))],
            t0,
        ));
        let synced = ready(&mut rx);
        assert_eq!(synced.error, codes::NONE);
        assert_eq!(synced.assignment, Bytes::from_static(b"A"));
        assert_eq!(groups.groups["g"].state, GroupState::Stable);
        assert_eq!(groups.heartbeat("g", 1, &id, None, t0), codes::NONE);
        assert_eq!(
            groups.heartbeat("g", 0, &id, None, t0),
            codes::ILLEGAL_GENERATION
        );
        assert_eq!(
            groups.heartbeat("g", 1, "nobody", None, t0),
            codes::UNKNOWN_MEMBER_ID
        );
        assert!(matches!(groups.outbox.last(), Some(JournalOp::Group(r)) if r.generation == 1));
    }

    #[test]
    fn a_second_member_triggers_a_rebalance_that_waits_for_the_first() {
        let mut groups = undelayed();
        let t0 = Instant::now();
        let (a, mut rx_a) = join_new(&mut groups, "g", t0);
        ready(&mut rx_a);
        answer(sync(
            &mut groups,
            "g",
            1,
            &a,
            vec![(a.clone(), Bytes::from_static(b"all"))],
            t0,
        ));
        let (b, mut rx_b) = join_new(&mut groups, "g", t0);
        assert!(rx_b.try_recv().is_err(), "b must wait for a to rejoin");
        assert_eq!(groups.groups["g"].state, GroupState::PreparingRebalance);
        assert_eq!(
            groups.heartbeat("g", 1, &a, None, t0),
            codes::REBALANCE_IN_PROGRESS
        );
        let mut rx_a = later(groups.join(params("g", &a, None), t0));
        let ja = ready(&mut rx_a);
        let jb = ready(&mut rx_b);
        assert_eq!((ja.generation, jb.generation), (2, 2));
        assert_eq!(ja.leader, a);
        assert_eq!(ja.members.len(), 2, "the leader sees every member");
        assert!(jb.members.is_empty(), "followers see none");
        let mut rx_b = later(sync(&mut groups, "g", 2, &b, vec![], t0));
        assert!(rx_b.try_recv().is_err(), "followers wait for the leader");
        let assignments = vec![
            (a.clone(), Bytes::from_static(b"p0")),
            (b.clone(), Bytes::from_static(b"p1")),
        ];
        let mut rx_a = later(sync(&mut groups, "g", 2, &a, assignments, t0));
        assert_eq!(ready(&mut rx_a).assignment, Bytes::from_static(b"p0"));
        assert_eq!(ready(&mut rx_b).assignment, Bytes::from_static(b"p1"));
    }

    #[test]
    fn leaving_rebalances_and_the_last_leave_empties_the_group() {
        let mut groups = undelayed();
        let t0 = Instant::now();
        let (a, mut rx_a) = join_new(&mut groups, "g", t0);
        let (b, mut rx_b) = join_new(&mut groups, "g", t0);
        // a joined first and completed generation 1 alone; b's join started generation 2.
        ready(&mut rx_a);
        let mut rx_a = later(groups.join(params("g", &a, None), t0));
        assert_eq!(ready(&mut rx_a).leader, a);
        ready(&mut rx_b);
        answer(sync(&mut groups, "g", 2, &a, vec![], t0));
        answer(sync(&mut groups, "g", 2, &b, vec![], t0));
        assert_eq!(
            groups.leave("g", &[(b.clone(), None)], t0),
            vec![codes::NONE]
        );
        assert_eq!(groups.groups["g"].state, GroupState::PreparingRebalance);
        let mut rx_a = later(groups.join(params("g", &a, None), t0));
        let ja = ready(&mut rx_a);
        assert_eq!(ja.generation, 3);
        assert_eq!(ja.members.len(), 1);
        assert_eq!(
            groups.leave("g", &[(a.clone(), None)], t0),
            vec![codes::NONE]
        );
        let g = &groups.groups["g"];
        assert_eq!(g.state, GroupState::Empty);
        assert_eq!(g.generation, 4);
        assert_eq!(
            groups.leave("g", &[(a, None)], t0),
            vec![codes::UNKNOWN_MEMBER_ID]
        );
    }

    #[test]
    fn a_silent_member_is_expired_after_its_session_timeout() {
        let mut groups = undelayed();
        let t0 = Instant::now();
        let (a, mut rx_a) = join_new(&mut groups, "g", t0);
        ready(&mut rx_a);
        answer(sync(&mut groups, "g", 1, &a, vec![], t0));
        groups.tick(t0 + SESSION - Duration::from_millis(1));
        assert!(groups.groups["g"].has_member(&a));
        assert_eq!(
            groups.heartbeat("g", 1, &a, None, t0 + Duration::from_secs(5)),
            codes::NONE
        );
        groups.tick(t0 + SESSION + Duration::from_secs(1));
        assert!(
            groups.groups["g"].has_member(&a),
            "the heartbeat renewed the session"
        );
        groups.tick(t0 + SESSION + Duration::from_secs(6));
        let g = &groups.groups["g"];
        assert!(!g.has_member(&a));
        assert_eq!(g.state, GroupState::Empty);
    }

    #[test]
    fn a_rebalance_completes_without_members_that_do_not_rejoin() {
        let mut groups = undelayed();
        let t0 = Instant::now();
        let (a, mut rx_a) = join_new(&mut groups, "g", t0);
        ready(&mut rx_a);
        answer(sync(&mut groups, "g", 1, &a, vec![], t0));
        let (b, mut rx_b) = join_new(&mut groups, "g", t0);
        // a keeps heartbeating but never rejoins: the rebalance timeout drops it.
        for secs in [8, 16, 24] {
            let t = t0 + Duration::from_secs(secs);
            assert_eq!(
                groups.heartbeat("g", 1, &a, None, t),
                codes::REBALANCE_IN_PROGRESS
            );
            groups.tick(t);
            assert!(rx_b.try_recv().is_err());
        }
        groups.tick(t0 + REBALANCE + Duration::from_millis(1));
        let jb = ready(&mut rx_b);
        assert_eq!(jb.error, codes::NONE);
        assert_eq!(jb.leader, b);
        assert_eq!(jb.members.len(), 1);
        assert!(!groups.groups["g"].has_member(&a));
    }

    #[test]
    fn an_unfinished_sync_phase_is_restarted() {
        let mut groups = undelayed();
        let t0 = Instant::now();
        let (a, mut rx_a) = join_new(&mut groups, "g", t0);
        ready(&mut rx_a);
        // The leader never syncs.
        groups.tick(t0 + REBALANCE + Duration::from_millis(1));
        let g = &groups.groups["g"];
        assert!(!g.has_member(&a));
        assert_eq!(g.state, GroupState::Empty);
    }

    #[test]
    fn protocols_are_selected_by_vote_among_common_ones() {
        let mut groups = undelayed();
        let t0 = Instant::now();
        let mut p = params("g", "", None);
        p.require_known_member_id = false;
        p.protocols = vec![
            ("roundrobin".into(), Bytes::new()),
            ("range".into(), Bytes::new()),
        ];
        let mut rx_a = later(groups.join(p.clone(), t0));
        let ja = ready(&mut rx_a);
        assert_eq!(ja.protocol.as_deref(), Some("roundrobin"));
        // A member that shares no protocol is refused.
        let mut other = p.clone();
        other.protocols = vec![("sticky".into(), Bytes::new())];
        assert_eq!(
            now_result(groups.join(other, t0)).error,
            codes::INCONSISTENT_GROUP_PROTOCOL
        );
        let mut other_type = p.clone();
        other_type.protocol_type = "connect".into();
        assert_eq!(
            now_result(groups.join(other_type, t0)).error,
            codes::INCONSISTENT_GROUP_PROTOCOL
        );
        // Two members who prefer range outvote one who prefers roundrobin.
        let mut q = p.clone();
        q.protocols = vec![
            ("range".into(), Bytes::new()),
            ("roundrobin".into(), Bytes::new()),
        ];
        let mut rx_b = later(groups.join(q.clone(), t0));
        let mut rx_c = later(groups.join(q, t0));
        let mut rx_a = later(groups.join(params_known(&p, &ja.member_id), t0));
        let ja = ready(&mut rx_a);
        assert_eq!(ja.protocol.as_deref(), Some("range"));
        assert_eq!(ready(&mut rx_b).protocol.as_deref(), Some("range"));
        assert_eq!(ready(&mut rx_c).generation, ja.generation);
    }

    fn params_known(p: &JoinParams, member_id: &str) -> JoinParams {
        let mut p = p.clone();
        p.member_id = member_id.into();
        p
    }

    #[test]
    fn a_member_id_never_used_expires_and_takes_its_group_along() {
        let mut groups = undelayed();
        let t0 = Instant::now();
        let first = now_result(groups.join(params("g", "", None), t0));
        assert_eq!(first.error, codes::MEMBER_ID_REQUIRED);
        assert!(groups.groups.contains_key("g"));
        groups.tick(t0 + SESSION + Duration::from_millis(1));
        assert!(!groups.groups.contains_key("g"));
        // Coming back too late is coming back unknown.
        let late = now_result(groups.join(params("g", &first.member_id, None), t0 + SESSION * 2));
        assert_eq!(late.error, codes::UNKNOWN_MEMBER_ID);
    }

    #[test]
    fn invalid_joins_are_refused() {
        let mut groups = undelayed();
        let t0 = Instant::now();
        let mut p = params("", "", None);
        assert_eq!(
            now_result(groups.join(p.clone(), t0)).error,
            codes::INVALID_GROUP_ID
        );
        p.group_id = "g".into();
        p.session_timeout = Duration::from_millis(10);
        assert_eq!(
            now_result(groups.join(p.clone(), t0)).error,
            codes::INVALID_SESSION_TIMEOUT
        );
        p.session_timeout = SESSION;
        p.protocols.clear();
        assert_eq!(
            now_result(groups.join(p.clone(), t0)).error,
            codes::INCONSISTENT_GROUP_PROTOCOL
        );
        assert_eq!(
            now_result(groups.join(params("g", "ghost", None), t0)).error,
            codes::UNKNOWN_MEMBER_ID
        );
        assert!(
            groups.groups.is_empty(),
            "refused joins leave no group behind"
        );
    }

    #[test]
    fn a_restarted_static_member_takes_its_slot_back_without_a_rebalance() {
        let mut groups = undelayed();
        let t0 = Instant::now();
        let mut rx_a = later(groups.join(params("g", "", Some("i-a")), t0));
        let ja = ready(&mut rx_a);
        let a = ja.member_id.clone();
        assert!(a.starts_with("i-a-"));
        let (b, mut rx_b) = join_new(&mut groups, "g", t0);
        let mut rx_a = later(groups.join(params("g", &a, Some("i-a")), t0));
        let ja = ready(&mut rx_a);
        ready(&mut rx_b);
        let assignments = vec![
            (a.clone(), Bytes::from_static(b"A")),
            (b.clone(), Bytes::from_static(b"B")),
        ];
        later(sync(&mut groups, "g", 2, &a, assignments, t0));
        answer(sync(&mut groups, "g", 2, &b, vec![], t0));
        assert_eq!(ja.generation, 2);
        // The instance restarts: same instance id, no member id, and its metadata may
        // differ (owned partitions) without calling for a rebalance.
        let mut restarted = params("g", "", Some("i-a"));
        restarted.protocols[0].1 = Bytes::from_static(b"other-range-meta");
        let rejoined = now_result(groups.join(restarted, t0));
        assert_eq!(rejoined.error, codes::NONE);
        assert_eq!(rejoined.generation, 2, "no new generation");
        assert_ne!(rejoined.member_id, a);
        assert_eq!(groups.groups["g"].state, GroupState::Stable);
        let new_a = rejoined.member_id;
        let synced = answer(sync(&mut groups, "g", 2, &new_a, vec![], t0));
        assert_eq!(synced.assignment, Bytes::from_static(b"A"));
        // The old incarnation is fenced.
        assert_eq!(
            groups.heartbeat("g", 2, &a, Some("i-a"), t0),
            codes::FENCED_INSTANCE_ID
        );
        assert_eq!(
            now_result(groups.join(params("g", &a, Some("i-a")), t0)).error,
            codes::FENCED_INSTANCE_ID
        );
        assert_eq!(
            groups.heartbeat("g", 2, &new_a, Some("i-a"), t0),
            codes::NONE
        );
        assert_eq!(
            groups.heartbeat("g", 2, &b, None, t0),
            codes::NONE,
            "b saw no rebalance"
        );
        assert_eq!(
            groups.leave("g", &[(a.clone(), Some("i-a".into()))], t0),
            vec![codes::FENCED_INSTANCE_ID]
        );
        // A restart that changes which protocol the group would select does rebalance.
        let mut roundrobin_only = params("g", "", Some("i-a"));
        roundrobin_only.protocols.remove(0);
        let mut rx = later(groups.join(roundrobin_only, t0));
        assert!(rx.try_recv().is_err(), "waits for b to rejoin");
        assert_eq!(groups.groups["g"].state, GroupState::PreparingRebalance);
        let new_a = groups.groups["g"].static_members["i-a"].clone();
        let mut rx_b = later(groups.join(params("g", &b, None), t0));
        assert_eq!(ready(&mut rx).protocol.as_deref(), Some("roundrobin"));
        assert_eq!(ready(&mut rx_b).generation, 3);
        // An admin may remove the static member by instance id alone.
        assert_eq!(
            groups.leave("g", &[(String::new(), Some("i-a".into()))], t0),
            vec![codes::NONE]
        );
        assert!(!groups.groups["g"].has_member(&new_a));
    }

    #[test]
    fn a_static_member_that_misses_a_rebalance_keeps_its_slot_until_its_session_ends() {
        let mut groups = undelayed();
        let t0 = Instant::now();
        let mut rx_a = later(groups.join(params("g", "", Some("i-a")), t0));
        let a = ready(&mut rx_a).member_id;
        answer(sync(&mut groups, "g", 1, &a, vec![], t0));
        let (b, mut rx_b) = join_new(&mut groups, "g", t0);
        // a is down: its session (10 s) ends before the rebalance timeout (30 s), and
        // the rebalance completes without it.
        groups.tick(t0 + SESSION + Duration::from_millis(1));
        let jb = ready(&mut rx_b);
        assert_eq!(jb.leader, b);
        assert!(!groups.groups["g"].static_members.contains_key("i-a"));
    }

    #[test]
    fn restore_brings_back_a_stable_group() {
        let mut groups = undelayed();
        let t0 = Instant::now();
        let mut rx_a = later(groups.join(params("g", "", Some("i-a")), t0));
        let a = ready(&mut rx_a).member_id;
        answer(sync(
            &mut groups,
            "g",
            1,
            &a,
            vec![(a.clone(), Bytes::from_static(b"A"))],
            t0,
        ));
        let record = groups.groups["g"].record();
        let mut restored = undelayed();
        restored.restore(Group::restore(record, t0));
        let g = &restored.groups["g"];
        assert_eq!(g.state, GroupState::Stable);
        assert_eq!(g.generation, 1);
        assert_eq!(g.leader.as_deref(), Some(a.as_str()));
        assert_eq!(g.members[&a].assignment, Bytes::from_static(b"A"));
        assert_eq!(restored.heartbeat("g", 1, &a, Some("i-a"), t0), codes::NONE);
    }

    /// The answer, whether it came at once or was already sent on its channel.
    fn answer<T>(reply: Reply<T>) -> T {
        match reply {
            Reply::Now(r) => r,
            Reply::Later(mut rx) => rx.try_recv().expect("answer should be ready"),
        }
    }

    fn delayed(delay: Duration) -> Groups {
        let mut groups = Groups::default();
        groups.timeouts.initial_rebalance_delay = delay;
        groups
    }

    #[test]
    fn the_first_rebalance_of_a_new_group_waits_the_initial_delay() {
        let mut groups = delayed(Duration::from_secs(3));
        let t0 = Instant::now();
        let (_, mut a) = join_new(&mut groups, "g", t0);
        groups.tick(t0 + Duration::from_millis(2_900));
        assert!(a.try_recv().is_err(), "still waiting for more members");
        groups.tick(t0 + Duration::from_secs(3));
        let joined = ready(&mut a);
        assert_eq!((joined.error, joined.generation), (codes::NONE, 1));
        assert_eq!(joined.members.len(), 1);
    }

    #[test]
    fn members_joining_during_the_delay_extend_it_and_share_one_generation() {
        let mut groups = delayed(Duration::from_secs(3));
        let t0 = Instant::now();
        let (a_id, mut a) = join_new(&mut groups, "g", t0);
        let (b_id, mut b) = join_new(&mut groups, "g", t0 + Duration::from_secs(1));
        // B joined during the first wait: a second one starts instead of completing.
        groups.tick(t0 + Duration::from_secs(3));
        assert!(a.try_recv().is_err() && b.try_recv().is_err());
        groups.tick(t0 + Duration::from_secs(6));
        let (ja, jb) = (ready(&mut a), ready(&mut b));
        assert_eq!((ja.generation, jb.generation), (1, 1));
        assert_eq!(ja.leader, a_id);
        let mut members: Vec<String> = ja.members.iter().map(|m| m.member_id.clone()).collect();
        members.sort();
        let mut expected = vec![a_id, b_id];
        expected.sort();
        assert_eq!(members, expected);
    }

    #[test]
    fn the_delay_never_outlasts_the_rebalance_timeout() {
        let mut groups = delayed(Duration::from_secs(3));
        let t0 = Instant::now();
        let join = |groups: &mut Groups, at: Instant| {
            let mut p = params("g", "", None);
            p.rebalance_timeout = Duration::from_secs(5);
            let id = now_result(groups.join(p.clone(), at)).member_id;
            p.member_id = id;
            later(groups.join(p, at))
        };
        let mut a = join(&mut groups, t0);
        let _b = join(&mut groups, t0 + Duration::from_secs(1));
        // Extended by what is left of the 5 s rebalance timeout: 2 s.
        groups.tick(t0 + Duration::from_secs(3));
        let _c = join(&mut groups, t0 + Duration::from_secs(4));
        groups.tick(t0 + Duration::from_millis(4_900));
        assert!(a.try_recv().is_err());
        // C joined, but no time is left: the join phase completes with all three.
        groups.tick(t0 + Duration::from_secs(5));
        assert_eq!(ready(&mut a).members.len(), 3);
    }

    #[test]
    fn later_rebalances_are_not_delayed() {
        let mut groups = delayed(Duration::from_secs(3));
        let t0 = Instant::now();
        let (a_id, mut a) = join_new(&mut groups, "g", t0);
        groups.tick(t0 + Duration::from_secs(3));
        assert_eq!(ready(&mut a).generation, 1);
        let t1 = t0 + Duration::from_secs(4);
        let _ = sync(&mut groups, "g", 1, &a_id, vec![], t1);
        assert_eq!(groups.groups["g"].state, GroupState::Stable);
        // A second member: the rebalance waits for A to rejoin, not for a delay.
        let (_, mut b) = join_new(&mut groups, "g", t1);
        let mut a = later(groups.join(params("g", &a_id, None), t1));
        assert_eq!(ready(&mut a).generation, 2);
        assert_eq!(ready(&mut b).generation, 2);
    }

    #[test]
    fn session_timeouts_outside_the_configured_bounds_are_refused() {
        let mut groups = undelayed();
        groups.timeouts.min_session_timeout = Duration::from_secs(6);
        groups.timeouts.max_session_timeout = Duration::from_secs(60);
        let t0 = Instant::now();
        for (ms, expected) in [
            (5_999, codes::INVALID_SESSION_TIMEOUT),
            (60_001, codes::INVALID_SESSION_TIMEOUT),
            (6_000, codes::MEMBER_ID_REQUIRED),
            (60_000, codes::MEMBER_ID_REQUIRED),
        ] {
            let mut p = params("g", "", None);
            p.session_timeout = Duration::from_millis(ms);
            assert_eq!(now_result(groups.join(p, t0)).error, expected, "{ms} ms");
        }
    }
}
