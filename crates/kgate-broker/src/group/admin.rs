//! Group administration on plain data: ListGroups, DescribeGroups, DeleteGroups.

use bytes::Bytes;

use super::codes;
use super::journal::JournalOp;
use super::membership::{GroupState, Groups};

/// The only group type this coordinator runs (KIP-848 groups are not supported).
pub(crate) const GROUP_TYPE: &str = "classic";

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListedGroup {
    /// The group id.
    pub group_id: String,
    /// The protocol type, empty for groups that only store offsets.
    pub protocol_type: String,
    /// The state's name.
    pub state: &'static str,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// `None` when the group does not exist.
    pub state: Option<&'static str>,
    /// The protocol type.
    pub protocol_type: String,
    /// The chosen protocol, empty unless stable.
    pub protocol: String,
    /// The members.
    pub members: Vec<MemberDescription>,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MemberDescription {
    /// The member id.
    pub member_id: String,
    /// The static instance id, if any.
    pub instance_id: Option<String>,
    /// The client id.
    pub client_id: String,
    /// The client host.
    pub client_host: String,
    /// Its metadata for the chosen protocol, empty unless stable.
    pub metadata: Bytes,
    /// Its assignment, empty unless stable.
    pub assignment: Bytes,
}

impl Groups {
    /// Handles ListGroups; empty filters match everything, states match case-insensitively.
    pub(crate) fn list(&self, states: &[String], types: &[String]) -> Vec<ListedGroup> {
        if !types.is_empty() && !types.iter().any(|t| t.eq_ignore_ascii_case(GROUP_TYPE)) {
            return Vec::new();
        }
        self.groups
            .values()
            .filter(|g| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state.name()))
            })
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state.name(),
            })
            .collect()
    }

    /// Handles DescribeGroups for one group.
    pub(crate) fn describe(&self, group_id: &str) -> GroupDescription {
        let Some(group) = self.groups.get(group_id) else {
            return GroupDescription {
                group_id: group_id.to_string(),
                state: None,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            };
        };
        // As in Kafka, metadata and assignments are shown only once they are settled.
        let stable = group.state == GroupState::Stable;
        let protocol = if stable {
            group.protocol.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let members = group
            .members
            .values()
            .map(|m| MemberDescription {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata(&protocol)
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        GroupDescription {
            group_id: group_id.to_string(),
            state: Some(group.state.name()),
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol,
            members,
        }
    }

    /// Handles DeleteGroups for one group; returns its error code.
    pub(crate) fn delete_group(&mut self, group_id: &str) -> i16 {
        let Some(group) = self.groups.get(group_id) else {
            return codes::GROUP_ID_NOT_FOUND;
        };
        if group.state != GroupState::Empty || !group.members.is_empty() {
            return codes::NON_EMPTY_GROUP;
        }
        self.groups.remove(group_id);
        self.outbox.push(JournalOp::DeleteGroup {
            group: group_id.to_string(),
        });
        codes::NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::TopicLookup;
    use crate::group::membership::{JoinParams, Reply, SyncParams};
    use crate::group::offsets::{CommitParams, PartitionCommit};
    use std::time::{Duration, Instant};

    struct Topics;
    impl TopicLookup for Topics {
        fn partition_count(&self, _topic: &str) -> Option<i32> {
            Some(1)
        }
    }

    fn join(groups: &mut Groups, group: &str, now: Instant) -> String {
        let p = JoinParams {
            group_id: group.into(),
            member_id: String::new(),
            instance_id: Some("inst".into()),
            client_id: "client-1".into(),
            client_host: "/10.0.0.1".into(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(10),
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
            require_known_member_id: true,
        };
        let Reply::Later(mut rx) = groups.join(p, now) else {
            panic!("join must wait")
        };
        rx.try_recv().unwrap().member_id
    }

    fn sync(groups: &mut Groups, group: &str, member: &str, now: Instant) {
        groups.sync(
            SyncParams {
                group_id: group.into(),
                generation: 1,
                member_id: member.into(),
                instance_id: None,
                protocol_type: None,
                protocol: None,
                assignments: vec![(member.into(), Bytes::from_static(b"assigned"))],
            },
            now,
        );
    }

    #[test]
    fn list_filters_by_state_and_type() {
        let mut groups = Groups::undelayed();
        let now = Instant::now();
        let m = join(&mut groups, "busy", now);
        sync(&mut groups, "busy", &m, now);
        groups.commit(
            &CommitParams {
                group_id: "idle".into(),
                generation: -1,
                member_id: String::new(),
                instance_id: None,
                partitions: vec![PartitionCommit {
                    topic: "t".into(),
                    partition: 0,
                    offset: 1,
                    leader_epoch: -1,
                    metadata: None,
                }],
            },
            &Topics,
            now,
            0,
        );
        let all = groups.list(&[], &[]);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].group_id, "busy");
        assert_eq!(all[0].protocol_type, "consumer");
        assert_eq!(all[0].state, "Stable");
        assert_eq!(all[1].state, "Empty");
        assert_eq!(all[1].protocol_type, "");
        let stable = groups.list(&["stable".into()], &[]);
        assert_eq!(stable.len(), 1);
        assert_eq!(stable[0].group_id, "busy");
        assert_eq!(groups.list(&[], &["Classic".into()]).len(), 2);
        assert!(groups.list(&[], &["consumer".into()]).is_empty());
    }

    #[test]
    fn describe_shows_members_once_stable() {
        let mut groups = Groups::undelayed();
        let now = Instant::now();
        let m = join(&mut groups, "g", now);
        let d = groups.describe("g");
        assert_eq!(d.state, Some("CompletingRebalance"));
        assert_eq!(d.protocol, "");
        assert!(d.members[0].assignment.is_empty());
        sync(&mut groups, "g", &m, now);
        let d = groups.describe("g");
        assert_eq!(d.state, Some("Stable"));
        assert_eq!(d.protocol_type, "consumer");
        assert_eq!(d.protocol, "range");
        let member = &d.members[0];
        assert_eq!(member.member_id, m);
        assert_eq!(member.instance_id.as_deref(), Some("inst"));
        assert_eq!(member.client_id, "client-1");
        assert_eq!(member.client_host, "/10.0.0.1");
        assert_eq!(member.metadata, Bytes::from_static(b"meta"));
        assert_eq!(member.assignment, Bytes::from_static(b"assigned"));
        assert_eq!(groups.describe("nope").state, None);
    }

    #[test]
    fn only_empty_groups_can_be_deleted() {
        let mut groups = Groups::undelayed();
        let now = Instant::now();
        let m = join(&mut groups, "g", now);
        sync(&mut groups, "g", &m, now);
        assert_eq!(groups.delete_group("g"), codes::NON_EMPTY_GROUP);
        assert_eq!(groups.delete_group("nope"), codes::GROUP_ID_NOT_FOUND);
        groups.leave("g", &[(m, Some("inst".into()))], now);
        assert_eq!(groups.describe("g").state, Some("Empty"));
        assert_eq!(groups.delete_group("g"), codes::NONE);
        assert_eq!(groups.describe("g").state, None);
        assert!(
            matches!(groups.outbox.last(), Some(JournalOp::DeleteGroup { group }) if group == "g")
        );
    }
}
