//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete and topic deletion, on plain
//! data. Durable changes go to the outbox like the membership ones.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use bytes::Buf;
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;

use super::codes;
use super::journal::{JournalOp, OffsetRecord};
use super::membership::{Group, GroupState, Groups};
use crate::context::TopicLookup;

/// Commit metadata longer than this is refused (Kafka's `offset.metadata.max.bytes`).
pub(crate) const MAX_METADATA_BYTES: usize = 4096;

/// A committed offset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CommittedOffset {
    /// The committed offset.
    pub offset: i64,
    /// The leader epoch the client sent, -1 when none.
    pub leader_epoch: i32,
    /// The client's metadata string.
    pub metadata: String,
    /// When it was committed, in ms since the epoch.
    pub timestamp_ms: i64,
}

impl CommittedOffset {
    fn record(&self) -> OffsetRecord {
        OffsetRecord {
            offset: self.offset,
            leader_epoch: self.leader_epoch,
            metadata: self.metadata.clone(),
            timestamp_ms: self.timestamp_ms,
        }
    }
}

impl From<OffsetRecord> for CommittedOffset {
    fn from(r: OffsetRecord) -> Self {
        CommittedOffset {
            offset: r.offset,
            leader_epoch: r.leader_epoch,
            metadata: r.metadata,
            timestamp_ms: r.timestamp_ms,
        }
    }
}

/// What an OffsetCommit request asks.
#[derive(Debug, Clone)]
pub(crate) struct CommitParams {
    /// The group.
    pub group_id: String,
    /// The generation, or -1 for a commit outside group management.
    pub generation: i32,
    /// The member id, empty outside group management.
    pub member_id: String,
    /// The static instance id, if any.
    pub instance_id: Option<String>,
    /// The partitions to commit.
    pub partitions: Vec<PartitionCommit>,
}

/// One partition of an OffsetCommit.
#[derive(Debug, Clone)]
pub(crate) struct PartitionCommit {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset to commit.
    pub offset: i64,
    /// The leader epoch, -1 when none.
    pub leader_epoch: i32,
    /// The client's metadata string.
    pub metadata: Option<String>,
}

/// One partition of an OffsetFetch answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FetchedOffset {
    /// The partition.
    pub partition: i32,
    /// The committed offset, -1 when none.
    pub offset: i64,
    /// The committed leader epoch, -1 when none.
    pub leader_epoch: i32,
    /// The committed metadata.
    pub metadata: String,
    /// The error code.
    pub error: i16,
}

/// An offset of a committed transaction, to store in its group.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnOffset {
    /// The consumer group.
    pub group_id: String,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset to commit.
    pub offset: i64,
    /// The leader epoch the consumer saw, -1 when none.
    pub leader_epoch: i32,
    /// The client's metadata string.
    pub metadata: Option<String>,
}

/// Topics and partitions named in a request.
pub(crate) type TopicPartitions = Vec<(String, Vec<i32>)>;

/// An error code per partition, by topic.
pub(crate) type PartitionErrors = Vec<(String, Vec<(i32, i16)>)>;

impl Groups {
    /// Expires committed offsets as Kafka does, at most once per
    /// `offsets.retention.check.interval.ms`: an empty group's offsets live
    /// `offsets.retention.minutes` from when it became empty (or from their commit, when
    /// that came later or the moment is unknown); a group left with neither members nor
    /// offsets is removed. Returns how many offsets expired.
    pub(crate) fn expire_offsets(&mut self, now: Instant, now_ms: i64) -> usize {
        if self
            .offsets_checked
            .is_some_and(|at| now.duration_since(at) < self.timeouts.offsets_check_interval)
        {
            return 0;
        }
        self.offsets_checked = Some(now);
        let retention = self.timeouts.offsets_retention_ms;
        let mut expired = 0;
        let mut emptied = Vec::new();
        for group in self.groups.values_mut() {
            if group.state != GroupState::Empty || !group.members.is_empty() {
                continue;
            }
            let empty_since_ms = group
                .empty_since
                .map(|at| now_ms - now.duration_since(at).as_millis() as i64)
                .unwrap_or(i64::MIN);
            let gone: Vec<(String, i32)> = group
                .offsets
                .iter()
                .filter(|(_, c)| {
                    c.timestamp_ms.max(empty_since_ms).saturating_add(retention) <= now_ms
                })
                .map(|(key, _)| key.clone())
                .collect();
            for (topic, partition) in gone {
                group.offsets.remove(&(topic.clone(), partition));
                self.outbox.push(JournalOp::DeleteOffset {
                    group: group.id.clone(),
                    topic,
                    partition,
                });
                expired += 1;
            }
            if group.offsets.is_empty() && group.pending_is_empty() {
                emptied.push(group.id.clone());
            }
        }
        for id in emptied {
            self.groups.remove(&id);
            self.outbox.push(JournalOp::DeleteGroup { group: id });
        }
        if expired > 0 {
            tracing::info!(
                expired,
                "committed offsets expired (offsets.retention.minutes)"
            );
        }
        expired
    }

    /// Handles OffsetCommit; returns one error code per partition, in request order.
    pub(crate) fn commit(
        &mut self,
        p: &CommitParams,
        topics: &dyn TopicLookup,
        now: Instant,
        timestamp_ms: i64,
    ) -> Vec<i16> {
        let all = |code: i16| vec![code; p.partitions.len()];
        let group = match self.groups.get_mut(&p.group_id) {
            Some(group) => group,
            // A group that does not use Kafka for membership may still store offsets.
            None if p.generation < 0 => self
                .groups
                .entry(p.group_id.clone())
                .or_insert_with(|| Group::new(&p.group_id)),
            None => return all(codes::ILLEGAL_GENERATION),
        };
        let error = if group.is_fenced(p.instance_id.as_deref(), &p.member_id) {
            Some(codes::FENCED_INSTANCE_ID)
        } else if p.generation < 0 && group.state == GroupState::Empty {
            None
        } else if group.state == GroupState::CompletingRebalance {
            Some(codes::REBALANCE_IN_PROGRESS)
        } else if !group.has_member(&p.member_id) {
            Some(codes::UNKNOWN_MEMBER_ID)
        } else if p.generation != group.generation {
            Some(codes::ILLEGAL_GENERATION)
        } else {
            group.touch(&p.member_id, now);
            None
        };
        let errors = match error {
            Some(code) => all(code),
            None => p
                .partitions
                .iter()
                .map(|c| store(group, c, topics, timestamp_ms, &mut self.outbox))
                .collect(),
        };
        if group.is_vacant() {
            self.groups.remove(&p.group_id);
        }
        errors
    }

    /// Handles OffsetFetch for one group: the named partitions, or every committed one
    /// when `topics` is `None`.
    pub(crate) fn fetch(
        &self,
        group_id: &str,
        topics: Option<&[(String, Vec<i32>)]>,
    ) -> Vec<(String, Vec<FetchedOffset>)> {
        let offsets = self.groups.get(group_id).map(|g| &g.offsets);
        let fetched = |topic: &str, partition: i32| match offsets
            .and_then(|o| o.get(&(topic.to_string(), partition)))
        {
            Some(c) => FetchedOffset {
                partition,
                offset: c.offset,
                leader_epoch: c.leader_epoch,
                metadata: c.metadata.clone(),
                error: codes::NONE,
            },
            // Kafka answers "nothing committed" with offset -1 and no error, also for
            // topics it does not know.
            None => FetchedOffset {
                partition,
                offset: -1,
                leader_epoch: -1,
                metadata: String::new(),
                error: codes::NONE,
            },
        };
        match topics {
            Some(topics) => topics
                .iter()
                .map(|(topic, partitions)| {
                    let list = partitions.iter().map(|p| fetched(topic, *p)).collect();
                    (topic.clone(), list)
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<FetchedOffset>> = BTreeMap::new();
                if let Some(offsets) = offsets {
                    for (topic, partition) in offsets.keys() {
                        by_topic
                            .entry(topic.clone())
                            .or_default()
                            .push(fetched(topic, *partition));
                    }
                }
                by_topic.into_iter().collect()
            }
        }
    }

    /// Handles OffsetDelete: a top-level error, or one error per partition.
    pub(crate) fn delete_offsets(
        &mut self,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
        lookup: &dyn TopicLookup,
    ) -> Result<PartitionErrors, i16> {
        let Some(group) = self.groups.get_mut(group_id) else {
            return Err(codes::GROUP_ID_NOT_FOUND);
        };
        let subscribed = match group.state {
            GroupState::Empty => Subscribed::Nothing,
            _ if group.protocol_type.as_deref() == Some("consumer") => subscribed_topics(group),
            _ => return Err(codes::NON_EMPTY_GROUP),
        };
        let mut result = Vec::with_capacity(topics.len());
        for (topic, partitions) in topics {
            let count = lookup.partition_count(topic);
            let mut errors = Vec::with_capacity(partitions.len());
            for &partition in partitions {
                let error = if count.is_none_or(|n| partition < 0 || partition >= n) {
                    codes::UNKNOWN_TOPIC_OR_PARTITION
                } else if subscribed.contains(topic) {
                    codes::GROUP_SUBSCRIBED_TO_TOPIC
                } else {
                    if group.offsets.remove(&(topic.clone(), partition)).is_some() {
                        self.outbox.push(JournalOp::DeleteOffset {
                            group: group_id.to_string(),
                            topic: topic.clone(),
                            partition,
                        });
                    }
                    codes::NONE
                };
                errors.push((partition, error));
            }
            result.push((topic.clone(), errors));
        }
        if group.is_vacant() {
            self.groups.remove(group_id);
        }
        Ok(result)
    }

    /// TxnOffsetCommit's group check, by Kafka's rules: a member id and a generation are
    /// checked only when given, so producers outside group management may commit too.
    pub(crate) fn check_txn_commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> i16 {
        let vacant;
        let group = match self.groups.get(group_id) {
            Some(group) => group,
            None => {
                vacant = Group::new(group_id);
                &vacant
            }
        };
        if group.is_fenced(instance_id, member_id) {
            codes::FENCED_INSTANCE_ID
        } else if !member_id.is_empty() && !group.has_member(member_id) {
            codes::UNKNOWN_MEMBER_ID
        } else if generation >= 0 && generation != group.generation {
            codes::ILLEGAL_GENERATION
        } else {
            codes::NONE
        }
    }

    /// Stores the offsets of a committed transaction. Their group checks were made at
    /// TxnOffsetCommit time; a rebalance since then must not lose them, as in Kafka.
    pub(crate) fn commit_txn_offsets(
        &mut self,
        offsets: &[TxnOffset],
        topics: &dyn TopicLookup,
        timestamp_ms: i64,
    ) {
        for o in offsets {
            let group = self
                .groups
                .entry(o.group_id.clone())
                .or_insert_with(|| Group::new(&o.group_id));
            let commit = PartitionCommit {
                topic: o.topic.clone(),
                partition: o.partition,
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: o.metadata.clone(),
            };
            let error = store(group, &commit, topics, timestamp_ms, &mut self.outbox);
            if error != codes::NONE {
                tracing::warn!(
                    group = %o.group_id,
                    topic = %o.topic,
                    partition = o.partition,
                    error,
                    "transactional offset not stored"
                );
            }
        }
        self.groups.retain(|_, g| !g.is_vacant());
    }

    /// Forgets every group's offsets of a deleted topic.
    pub(crate) fn topic_deleted(&mut self, topic: &str) {
        let mut touched = false;
        for group in self.groups.values_mut() {
            let before = group.offsets.len();
            group.offsets.retain(|(t, _), _| t != topic);
            touched |= group.offsets.len() != before;
        }
        if touched {
            self.outbox.push(JournalOp::DeleteTopic {
                topic: topic.to_string(),
            });
        }
        self.groups.retain(|_, g| !g.is_vacant());
    }

    /// Adds offsets restored from the journal to their groups (creating Empty ones).
    pub(crate) fn restore_offsets(
        &mut self,
        group_id: &str,
        offsets: BTreeMap<(String, i32), OffsetRecord>,
    ) {
        let group = self
            .groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id));
        group
            .offsets
            .extend(offsets.into_iter().map(|(k, v)| (k, v.into())));
    }
}

fn store(
    group: &mut Group,
    c: &PartitionCommit,
    topics: &dyn TopicLookup,
    timestamp_ms: i64,
    outbox: &mut Vec<JournalOp>,
) -> i16 {
    let exists = topics
        .partition_count(&c.topic)
        .is_some_and(|n| c.partition >= 0 && c.partition < n);
    if !exists {
        return codes::UNKNOWN_TOPIC_OR_PARTITION;
    }
    let metadata = c.metadata.clone().unwrap_or_default();
    if metadata.len() > MAX_METADATA_BYTES {
        return codes::OFFSET_METADATA_TOO_LARGE;
    }
    let committed = CommittedOffset {
        offset: c.offset,
        leader_epoch: c.leader_epoch,
        metadata,
        timestamp_ms,
    };
    outbox.push(JournalOp::Commit {
        group: group.id.clone(),
        topic: c.topic.clone(),
        partition: c.partition,
        offset: committed.record(),
    });
    group
        .offsets
        .insert((c.topic.clone(), c.partition), committed);
    codes::NONE
}

/// The topics a group's members consume, as far as we can tell.
enum Subscribed {
    Nothing,
    Topics(BTreeSet<String>),
    /// Some subscription could not be read: assume every topic is in use.
    Unknown,
}

impl Subscribed {
    fn contains(&self, topic: &str) -> bool {
        match self {
            Subscribed::Nothing => false,
            Subscribed::Topics(topics) => topics.contains(topic),
            Subscribed::Unknown => true,
        }
    }
}

fn subscribed_topics(group: &Group) -> Subscribed {
    let mut topics = BTreeSet::new();
    for member in group.members.values() {
        // Before the first generation no protocol is chosen; any of them may become it.
        let metadata: Vec<_> = match &group.protocol {
            Some(protocol) => vec![member.metadata(protocol)],
            None => member.protocols.iter().map(|(_, m)| m.clone()).collect(),
        };
        for bytes in metadata {
            match parse_subscription(bytes) {
                Some(subscription) => {
                    topics.extend(subscription.topics.iter().map(|t| t.to_string()));
                }
                None => return Subscribed::Unknown,
            }
        }
    }
    Subscribed::Topics(topics)
}

/// Parses consumer-protocol member metadata: a version, then the subscription.
pub(crate) fn parse_subscription(mut bytes: bytes::Bytes) -> Option<ConsumerProtocolSubscription> {
    if bytes.remaining() < 2 {
        return None;
    }
    let version = bytes.get_i16();
    // Later versions only append fields, so the newest version we know reads them.
    let version = version.clamp(0, 3);
    ConsumerProtocolSubscription::decode(&mut bytes, version).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::membership::{JoinParams, Reply, SyncParams};
    use bytes::{BufMut, Bytes, BytesMut};
    use kafka_protocol::protocol::{Encodable, StrBytes};
    use std::time::Duration;

    struct Topics;
    impl TopicLookup for Topics {
        fn partition_count(&self, topic: &str) -> Option<i32> {
            match topic {
                "t" | "u" => Some(2),
                _ => None,
            }
        }
    }

    fn commit(
        group: &str,
        generation: i32,
        member: &str,
        parts: &[(&str, i32, i64, &str)],
    ) -> CommitParams {
        CommitParams {
            group_id: group.into(),
            generation,
            member_id: member.into(),
            instance_id: None,
            partitions: parts
                .iter()
                .map(|(t, p, o, m)| PartitionCommit {
                    topic: t.to_string(),
                    partition: *p,
                    offset: *o,
                    leader_epoch: 4,
                    metadata: Some(m.to_string()),
                })
                .collect(),
        }
    }

    fn subscription(topics: &[&str]) -> Bytes {
        let mut s = ConsumerProtocolSubscription::default();
        s.topics = topics
            .iter()
            .map(|t| StrBytes::from_string(t.to_string()))
            .collect();
        let mut buf = BytesMut::new();
        buf.put_i16(1);
        s.encode(&mut buf, 1).unwrap();
        buf.freeze()
    }

    /// A group with one stable member subscribed to `topics`; returns its member id.
    fn stable_group(groups: &mut Groups, group: &str, topics: &[&str], now: Instant) -> String {
        let p = JoinParams {
            group_id: group.into(),
            member_id: String::new(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(10),
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), subscription(topics))],
            require_known_member_id: false,
        };
        let Reply::Later(mut rx) = groups.join(p, now) else {
            panic!("join must wait")
        };
        let joined = rx.try_recv().unwrap();
        let reply = groups.sync(
            SyncParams {
                group_id: group.into(),
                generation: joined.generation,
                member_id: joined.member_id.clone(),
                instance_id: None,
                protocol_type: None,
                protocol: None,
                assignments: vec![],
            },
            now,
        );
        assert!(matches!(reply, Reply::Later(_)));
        joined.member_id
    }

    #[test]
    fn standalone_commits_round_trip_with_metadata() {
        let mut groups = Groups::undelayed();
        let now = Instant::now();
        let errors = groups.commit(
            &commit(
                "g",
                -1,
                "",
                &[
                    ("t", 0, 10, "meta-0"),
                    ("t", 1, 11, ""),
                    ("t", 2, 1, ""),
                    ("nope", 0, 1, ""),
                ],
            ),
            &Topics,
            now,
            5,
        );
        assert_eq!(
            errors,
            vec![
                codes::NONE,
                codes::NONE,
                codes::UNKNOWN_TOPIC_OR_PARTITION,
                codes::UNKNOWN_TOPIC_OR_PARTITION
            ]
        );
        let fetched = groups.fetch(
            "g",
            Some(&[("t".into(), vec![0, 1]), ("u".into(), vec![0])]),
        );
        assert_eq!(fetched[0].1[0].offset, 10);
        assert_eq!(fetched[0].1[0].metadata, "meta-0");
        assert_eq!(fetched[0].1[0].leader_epoch, 4);
        assert_eq!(fetched[0].1[1].offset, 11);
        assert_eq!(fetched[1].1[0].offset, -1);
        let all = groups.fetch("g", None);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0, "t");
        assert_eq!(all[0].1.len(), 2);
        assert!(groups.fetch("other", None).is_empty());
        assert_eq!(groups.outbox.len(), 2);
        let too_long = "x".repeat(MAX_METADATA_BYTES + 1);
        let errors = groups.commit(
            &commit("g", -1, "", &[("t", 0, 12, &too_long)]),
            &Topics,
            now,
            5,
        );
        assert_eq!(errors, vec![codes::OFFSET_METADATA_TOO_LARGE]);
        // A commit that stores nothing creates no group.
        groups.commit(&commit("h", -1, "", &[("nope", 0, 1, "")]), &Topics, now, 5);
        assert!(!groups.groups.contains_key("h"));
        // Group commits with a generation need the group.
        let errors = groups.commit(&commit("h", 3, "m", &[("t", 0, 1, "")]), &Topics, now, 5);
        assert_eq!(errors, vec![codes::ILLEGAL_GENERATION]);
    }

    #[test]
    fn group_commits_check_member_and_generation() {
        let mut groups = Groups::undelayed();
        let now = Instant::now();
        let member = stable_group(&mut groups, "g", &["t"], now);
        let ok = groups.commit(
            &commit("g", 1, &member, &[("t", 0, 7, "m")]),
            &Topics,
            now,
            1,
        );
        assert_eq!(ok, vec![codes::NONE]);
        let stale = groups.commit(
            &commit("g", 0, &member, &[("t", 0, 8, "m")]),
            &Topics,
            now,
            1,
        );
        assert_eq!(stale, vec![codes::ILLEGAL_GENERATION]);
        let stranger = groups.commit(&commit("g", 1, "x", &[("t", 0, 8, "m")]), &Topics, now, 1);
        assert_eq!(stranger, vec![codes::UNKNOWN_MEMBER_ID]);
        let standalone = groups.commit(&commit("g", -1, "", &[("t", 0, 8, "m")]), &Topics, now, 1);
        assert_eq!(
            standalone,
            vec![codes::UNKNOWN_MEMBER_ID],
            "not while the group has members"
        );
        assert_eq!(groups.fetch("g", None)[0].1[0].offset, 7);
    }

    #[test]
    fn offsets_of_subscribed_topics_cannot_be_deleted() {
        let mut groups = Groups::undelayed();
        let now = Instant::now();
        let member = stable_group(&mut groups, "g", &["t"], now);
        groups.commit(
            &commit("g", 1, &member, &[("t", 0, 7, ""), ("u", 0, 3, "")]),
            &Topics,
            now,
            1,
        );
        let result = groups
            .delete_offsets(
                "g",
                &[
                    ("t".into(), vec![0]),
                    ("u".into(), vec![0]),
                    ("zz".into(), vec![0]),
                ],
                &Topics,
            )
            .unwrap();
        assert_eq!(result[0].1, vec![(0, codes::GROUP_SUBSCRIBED_TO_TOPIC)]);
        assert_eq!(result[1].1, vec![(0, codes::NONE)]);
        assert_eq!(result[2].1, vec![(0, codes::UNKNOWN_TOPIC_OR_PARTITION)]);
        let left = groups.fetch("g", None);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].0, "t");
        assert_eq!(
            groups.delete_offsets("nope", &[], &Topics),
            Err(codes::GROUP_ID_NOT_FOUND)
        );
    }

    #[test]
    fn transactional_offsets_are_checked_early_and_stored_whatever_happened_since() {
        let mut groups = Groups::undelayed();
        let now = Instant::now();
        let member = stable_group(&mut groups, "g", &["t"], now);
        assert_eq!(groups.check_txn_commit("g", 1, &member, None), codes::NONE);
        assert_eq!(groups.check_txn_commit("g", -1, "", None), codes::NONE);
        assert_eq!(
            groups.check_txn_commit("g", 2, &member, None),
            codes::ILLEGAL_GENERATION
        );
        assert_eq!(
            groups.check_txn_commit("g", 1, "ghost", None),
            codes::UNKNOWN_MEMBER_ID
        );
        assert_eq!(groups.check_txn_commit("new", -1, "", None), codes::NONE);
        // The member left before the transaction committed: its offsets still count.
        groups.leave("g", &[(member, None)], now);
        let offsets = [
            TxnOffset {
                group_id: "g".into(),
                topic: "t".into(),
                partition: 1,
                offset: 9,
                leader_epoch: 2,
                metadata: Some("txn".into()),
            },
            TxnOffset {
                group_id: "fresh".into(),
                topic: "t".into(),
                partition: 0,
                offset: 3,
                leader_epoch: -1,
                metadata: None,
            },
            TxnOffset {
                group_id: "gone".into(),
                topic: "nope".into(),
                partition: 0,
                offset: 3,
                leader_epoch: -1,
                metadata: None,
            },
        ];
        groups.commit_txn_offsets(&offsets, &Topics, 1);
        let g = groups.fetch("g", None);
        assert_eq!((g[0].1[0].offset, g[0].1[0].metadata.as_str()), (9, "txn"));
        assert_eq!(groups.fetch("fresh", None)[0].1[0].offset, 3);
        assert!(!groups.groups.contains_key("gone"));
    }

    #[test]
    fn deleting_a_topic_forgets_its_offsets() {
        let mut groups = Groups::undelayed();
        let now = Instant::now();
        groups.commit(
            &commit("g", -1, "", &[("t", 0, 1, ""), ("u", 0, 1, "")]),
            &Topics,
            now,
            1,
        );
        groups.commit(&commit("h", -1, "", &[("t", 0, 1, "")]), &Topics, now, 1);
        groups.topic_deleted("t");
        assert_eq!(groups.fetch("g", None).len(), 1);
        assert!(
            !groups.groups.contains_key("h"),
            "a group left with nothing is gone"
        );
        assert!(
            matches!(groups.outbox.last(), Some(JournalOp::DeleteTopic { topic }) if topic == "t")
        );
    }

    #[test]
    fn subscriptions_of_every_version_parse() {
        for version in 0..=3i16 {
            let mut s = ConsumerProtocolSubscription::default();
            s.topics = vec![
                StrBytes::from_static_str("a"),
                StrBytes::from_static_str("b"),
            ];
            let mut buf = BytesMut::new();
            buf.put_i16(version);
            s.encode(&mut buf, version).unwrap();
            let parsed = parse_subscription(buf.freeze()).unwrap();
            assert_eq!(parsed.topics.len(), 2);
        }
        assert!(parse_subscription(Bytes::from_static(b"\x00")).is_none());
    }

    #[test]
    fn offsets_of_empty_groups_expire_after_the_retention() {
        let mut groups = Groups::undelayed();
        groups.timeouts.offsets_retention_ms = 60_000;
        groups.timeouts.offsets_check_interval = std::time::Duration::from_secs(1);
        let topics = Topics;
        let t0 = Instant::now();
        let base_ms = 1_000_000;
        // A standalone commit (no group membership) at base_ms.
        let commit = |groups: &mut Groups, group: &str, partition: i32, at_ms: i64| {
            groups.commit(
                &CommitParams {
                    group_id: group.into(),
                    generation: -1,
                    member_id: String::new(),
                    instance_id: None,
                    partitions: vec![PartitionCommit {
                        topic: "t".into(),
                        partition,
                        offset: 7,
                        leader_epoch: -1,
                        metadata: None,
                    }],
                },
                &topics,
                t0,
                at_ms,
            )
        };
        assert_eq!(commit(&mut groups, "g", 0, base_ms), vec![codes::NONE]);
        assert_eq!(
            commit(&mut groups, "g", 1, base_ms + 30_000),
            vec![codes::NONE]
        );
        groups.outbox.clear();
        // 59 s after the first commit: nothing has expired.
        assert_eq!(groups.expire_offsets(t0, base_ms + 59_000), 0);
        // Checks run once per interval.
        assert_eq!(groups.expire_offsets(t0, base_ms + 60_000), 0);
        let t1 = t0 + std::time::Duration::from_secs(2);
        assert_eq!(groups.expire_offsets(t1, base_ms + 60_000), 1);
        assert!(matches!(
            groups.outbox.last(),
            Some(JournalOp::DeleteOffset { partition: 0, .. })
        ));
        assert_eq!(groups.groups["g"].offsets.len(), 1);
        // The last offset goes 60 s after its own commit, and the group with it.
        let t2 = t1 + std::time::Duration::from_secs(2);
        assert_eq!(groups.expire_offsets(t2, base_ms + 90_000), 1);
        assert!(!groups.groups.contains_key("g"));
        assert!(matches!(
            groups.outbox.last(),
            Some(JournalOp::DeleteGroup { group }) if group == "g"
        ));
    }
}
