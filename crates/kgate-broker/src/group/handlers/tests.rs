//! Every API at every advertised version: the answers must encode for that version (a
//! field set where the version lacks it fails encoding) and decode back the same.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::context::{RequestContext, TopicLookup};
use crate::group::{CoordinatorAddress, GroupCoordinator, SUPPORTED_APIS, codes};

struct Topics;
impl TopicLookup for Topics {
    fn partition_count(&self, topic: &str) -> Option<i32> {
        (topic == "t").then_some(3)
    }
}

/// Kafka's group settings without the initial rebalance delay.
fn undelayed() -> crate::config::GroupSettings {
    crate::config::GroupSettings {
        initial_rebalance_delay_ms: 0,
        ..Default::default()
    }
}

fn ctx(version: i16) -> RequestContext {
    RequestContext {
        client_id: "versions-test".into(),
        peer: "127.0.0.1:40000".parse().expect("address"),
        api_version: version,
    }
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// Encodes at `version`, decodes again and returns the decoded copy.
fn round_trip<T: Encodable + Decodable>(message: &T, version: i16) -> T {
    let mut buf = BytesMut::new();
    message.encode(&mut buf, version).unwrap_or_else(|e| {
        panic!(
            "{} v{version} does not encode: {e}",
            std::any::type_name::<T>()
        )
    });
    let mut bytes = buf.freeze();
    T::decode(&mut bytes, version).expect("decodes")
}

fn versions(key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let (_, min, max) = SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k == key)
        .copied()
        .expect("advertised");
    min..=max
}

fn clamp(key: ApiKey, v: i16) -> i16 {
    let range = versions(key);
    v.clamp(*range.start(), *range.end())
}

async fn call(c: &GroupCoordinator, v: i16, request: RequestKind) -> ResponseKind {
    match c.handle(&ctx(v), request).await {
        Ok(response) => response,
        Err(_) => panic!("coordinator refused a group request"),
    }
}

#[tokio::test]
async fn every_version_of_every_api_answers_encodably() {
    let dir = tempfile::tempdir().expect("tempdir");
    let address = CoordinatorAddress {
        node_id: 7,
        host: "broker.example".into(),
        port: 9092,
    };
    let c =
        GroupCoordinator::open(dir.path(), address, Arc::new(Topics), &undelayed()).expect("open");
    for v in 0..=9i16 {
        let group = format!("g{v}");
        // FindCoordinator
        let fv = clamp(ApiKey::FindCoordinator, v);
        let mut req = FindCoordinatorRequest::default();
        if fv >= 4 {
            req.coordinator_keys = vec![s(&group)];
        } else {
            req.key = s(&group);
        }
        let ResponseKind::FindCoordinator(resp) =
            call(&c, fv, RequestKind::FindCoordinator(req)).await
        else {
            panic!("wrong response kind")
        };
        let resp = round_trip(&resp, fv);
        if fv >= 4 {
            assert_eq!(resp.coordinators[0].node_id.0, 7);
            assert_eq!(resp.coordinators[0].port, 9092);
        } else {
            assert_eq!(resp.node_id.0, 7);
            assert_eq!(resp.host.as_str(), "broker.example");
        }

        // JoinGroup, twice from v4 (MEMBER_ID_REQUIRED first).
        let jv = clamp(ApiKey::JoinGroup, v);
        let mut req = JoinGroupRequest::default();
        req.group_id = GroupId(s(&group));
        req.session_timeout_ms = 10_000;
        if jv >= 1 {
            req.rebalance_timeout_ms = 10_000;
        }
        req.protocol_type = s("consumer");
        let mut protocol = JoinGroupRequestProtocol::default();
        protocol.name = s("range");
        protocol.metadata =
            Bytes::from_static(b"\x00\x00\x00\x00\x00\x01\x00\x01t\xff\xff\xff\xff");
        req.protocols = vec![protocol];
        let ResponseKind::JoinGroup(resp) = call(&c, jv, RequestKind::JoinGroup(req.clone())).await
        else {
            panic!("wrong response kind")
        };
        let mut resp = round_trip(&resp, jv);
        if jv >= 4 {
            assert_eq!(resp.error_code, codes::MEMBER_ID_REQUIRED);
            req.member_id = resp.member_id.clone();
            let ResponseKind::JoinGroup(again) = call(&c, jv, RequestKind::JoinGroup(req)).await
            else {
                panic!("wrong response kind")
            };
            resp = round_trip(&again, jv);
        }
        assert_eq!(resp.error_code, codes::NONE, "join v{jv}");
        assert_eq!(resp.generation_id, 1);
        assert_eq!(
            resp.protocol_name.as_ref().map(|p| p.as_str()),
            Some("range")
        );
        assert_eq!(resp.members.len(), 1);
        let member_id = resp.member_id.clone();

        // SyncGroup
        let sv = clamp(ApiKey::SyncGroup, v);
        let mut req = SyncGroupRequest::default();
        req.group_id = GroupId(s(&group));
        req.generation_id = 1;
        req.member_id = member_id.clone();
        if sv >= 5 {
            req.protocol_type = Some(s("consumer"));
            req.protocol_name = Some(s("range"));
        }
        let mut assignment = SyncGroupRequestAssignment::default();
        assignment.member_id = member_id.clone();
        assignment.assignment = Bytes::from_static(b"assignment");
        req.assignments = vec![assignment];
        let ResponseKind::SyncGroup(resp) = call(&c, sv, RequestKind::SyncGroup(req)).await else {
            panic!("wrong response kind")
        };
        let resp = round_trip(&resp, sv);
        assert_eq!(resp.error_code, codes::NONE);
        assert_eq!(resp.assignment, Bytes::from_static(b"assignment"));

        // Heartbeat
        let hv = clamp(ApiKey::Heartbeat, v);
        let mut req = HeartbeatRequest::default();
        req.group_id = GroupId(s(&group));
        req.generation_id = 1;
        req.member_id = member_id.clone();
        let ResponseKind::Heartbeat(resp) = call(&c, hv, RequestKind::Heartbeat(req)).await else {
            panic!("wrong response kind")
        };
        assert_eq!(round_trip(&resp, hv).error_code, codes::NONE);

        // OffsetCommit
        let cv = clamp(ApiKey::OffsetCommit, v);
        let mut req = OffsetCommitRequest::default();
        req.group_id = GroupId(s(&group));
        req.generation_id_or_member_epoch = 1;
        req.member_id = member_id.clone();
        let mut partition = OffsetCommitRequestPartition::default();
        partition.partition_index = 1;
        partition.committed_offset = 42;
        partition.committed_metadata = Some(s("meta"));
        let mut topic = OffsetCommitRequestTopic::default();
        topic.name = TopicName(s("t"));
        topic.partitions = vec![partition];
        req.topics = vec![topic];
        let ResponseKind::OffsetCommit(resp) = call(&c, cv, RequestKind::OffsetCommit(req)).await
        else {
            panic!("wrong response kind")
        };
        let resp = round_trip(&resp, cv);
        assert_eq!(resp.topics[0].partitions[0].error_code, codes::NONE);

        // OffsetFetch, by partition and for all partitions
        let ov = clamp(ApiKey::OffsetFetch, v);
        for all in [false, true] {
            if all && ov < 2 {
                continue;
            }
            let mut req = OffsetFetchRequest::default();
            if ov >= 8 {
                let mut g = OffsetFetchRequestGroup::default();
                g.group_id = GroupId(s(&group));
                g.topics = None;
                if !all {
                    let mut t = OffsetFetchRequestTopics::default();
                    t.name = TopicName(s("t"));
                    t.partition_indexes = vec![1];
                    g.topics = Some(vec![t]);
                }
                req.groups = vec![g];
            } else {
                req.group_id = GroupId(s(&group));
                req.topics = None;
                if !all {
                    let mut t = OffsetFetchRequestTopic::default();
                    t.name = TopicName(s("t"));
                    t.partition_indexes = vec![1];
                    req.topics = Some(vec![t]);
                }
            }
            let ResponseKind::OffsetFetch(resp) = call(&c, ov, RequestKind::OffsetFetch(req)).await
            else {
                panic!("wrong response kind")
            };
            let resp = round_trip(&resp, ov);
            let (offset, metadata) = if ov >= 8 {
                let p = &resp.groups[0].topics[0].partitions[0];
                (p.committed_offset, p.metadata.clone())
            } else {
                let p = &resp.topics[0].partitions[0];
                (p.committed_offset, p.metadata.clone())
            };
            assert_eq!(offset, 42, "fetch v{ov}");
            assert_eq!(metadata.as_ref().map(|m| m.as_str()), Some("meta"));
        }

        // ListGroups
        let lv = clamp(ApiKey::ListGroups, v);
        let mut req = ListGroupsRequest::default();
        if lv >= 4 {
            req.states_filter = vec![s("Stable")];
        }
        let ResponseKind::ListGroups(resp) = call(&c, lv, RequestKind::ListGroups(req)).await
        else {
            panic!("wrong response kind")
        };
        let resp = round_trip(&resp, lv);
        assert!(resp.groups.iter().any(|g| g.group_id.as_str() == group));

        // DescribeGroups, of this group and of one that does not exist
        let dv = clamp(ApiKey::DescribeGroups, v);
        let mut req = DescribeGroupsRequest::default();
        req.groups = vec![GroupId(s(&group)), GroupId(s("missing"))];
        req.include_authorized_operations = dv >= 3;
        let ResponseKind::DescribeGroups(resp) =
            call(&c, dv, RequestKind::DescribeGroups(req)).await
        else {
            panic!("wrong response kind")
        };
        let resp = round_trip(&resp, dv);
        let described = &resp.groups[0];
        assert_eq!(described.group_state.as_str(), "Stable");
        assert_eq!(described.protocol_data.as_str(), "range");
        assert_eq!(described.members[0].client_id.as_str(), "versions-test");
        assert_eq!(described.members[0].client_host.as_str(), "/127.0.0.1");
        assert_eq!(
            described.members[0].member_assignment,
            Bytes::from_static(b"assignment")
        );
        assert_eq!(resp.groups[1].group_state.as_str(), "Dead");

        // OffsetDelete refuses while the member consumes "t".
        let odv = clamp(ApiKey::OffsetDelete, v);
        let mut req = OffsetDeleteRequest::default();
        req.group_id = GroupId(s(&group));
        let mut topic = OffsetDeleteRequestTopic::default();
        topic.name = TopicName(s("t"));
        let mut partition = OffsetDeleteRequestPartition::default();
        partition.partition_index = 1;
        topic.partitions = vec![partition];
        req.topics = vec![topic];
        let ResponseKind::OffsetDelete(resp) = call(&c, odv, RequestKind::OffsetDelete(req)).await
        else {
            panic!("wrong response kind")
        };
        let resp = round_trip(&resp, odv);
        assert_eq!(
            resp.topics[0].partitions[0].error_code,
            codes::GROUP_SUBSCRIBED_TO_TOPIC
        );

        // DeleteGroups refuses a group with members.
        let gv = clamp(ApiKey::DeleteGroups, v);
        let mut del = DeleteGroupsRequest::default();
        del.groups_names = vec![GroupId(s(&group))];
        let ResponseKind::DeleteGroups(resp) =
            call(&c, gv, RequestKind::DeleteGroups(del.clone())).await
        else {
            panic!("wrong response kind")
        };
        assert_eq!(
            round_trip(&resp, gv).results[0].error_code,
            codes::NON_EMPTY_GROUP
        );

        // LeaveGroup
        let lgv = clamp(ApiKey::LeaveGroup, v);
        let mut req = LeaveGroupRequest::default();
        req.group_id = GroupId(s(&group));
        if lgv >= 3 {
            let mut m = MemberIdentity::default();
            m.member_id = member_id.clone();
            req.members = vec![m];
        } else {
            req.member_id = member_id.clone();
        }
        let ResponseKind::LeaveGroup(resp) = call(&c, lgv, RequestKind::LeaveGroup(req)).await
        else {
            panic!("wrong response kind")
        };
        let resp = round_trip(&resp, lgv);
        if lgv >= 3 {
            assert_eq!(resp.members[0].error_code, codes::NONE);
        } else {
            assert_eq!(resp.error_code, codes::NONE);
        }

        // Now empty: offsets may be deleted, then the group.
        let ResponseKind::OffsetDelete(resp) =
            call(&c, odv, RequestKind::OffsetDelete(req_clone(&group))).await
        else {
            panic!("wrong response kind")
        };
        assert_eq!(
            round_trip(&resp, odv).topics[0].partitions[0].error_code,
            codes::NONE
        );
        let ResponseKind::DeleteGroups(resp) = call(&c, gv, RequestKind::DeleteGroups(del)).await
        else {
            panic!("wrong response kind")
        };
        assert_eq!(round_trip(&resp, gv).results[0].error_code, codes::NONE);
    }
    c.shutdown().await;
}

fn req_clone(group: &str) -> OffsetDeleteRequest {
    let mut req = OffsetDeleteRequest::default();
    req.group_id = GroupId(s(group));
    let mut topic = OffsetDeleteRequestTopic::default();
    topic.name = TopicName(s("t"));
    let mut partition = OffsetDeleteRequestPartition::default();
    partition.partition_index = 1;
    topic.partitions = vec![partition];
    req.topics = vec![topic];
    req
}

#[tokio::test]
async fn unknown_coordinator_key_types_are_refused_and_other_requests_handed_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let address = CoordinatorAddress {
        node_id: 1,
        host: "h".into(),
        port: 1,
    };
    let c =
        GroupCoordinator::open(dir.path(), address, Arc::new(Topics), &undelayed()).expect("open");
    let mut req = FindCoordinatorRequest::default();
    req.key = s("g");
    req.key_type = 2;
    let ResponseKind::FindCoordinator(resp) = call(&c, 3, RequestKind::FindCoordinator(req)).await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(round_trip(&resp, 3).error_code, codes::INVALID_REQUEST);
    let other = RequestKind::Metadata(MetadataRequest::default());
    assert!(matches!(
        c.handle(&ctx(1), other).await,
        Err(RequestKind::Metadata(_))
    ));
    c.shutdown().await;
}

#[tokio::test]
async fn committed_transaction_offsets_are_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let address = CoordinatorAddress {
        node_id: 1,
        host: "h".into(),
        port: 1,
    };
    let c = GroupCoordinator::open(dir.path(), address.clone(), Arc::new(Topics), &undelayed())
        .expect("open");
    assert_eq!(c.check_txn_offset_commit("tg", -1, "", None), codes::NONE);
    assert_eq!(
        c.check_txn_offset_commit("tg", 3, "", None),
        codes::ILLEGAL_GENERATION
    );
    let offset = crate::group::TxnOffset {
        group_id: "tg".into(),
        topic: "t".into(),
        partition: 2,
        offset: 17,
        leader_epoch: -1,
        metadata: Some("in a transaction".into()),
    };
    assert!(c.commit_txn_offsets(vec![offset]).await);
    c.shutdown().await;
    drop(c);
    let c = GroupCoordinator::open(dir.path(), address, Arc::new(Topics), &undelayed())
        .expect("reopen");
    let mut req = OffsetFetchRequest::default();
    req.group_id = GroupId(s("tg"));
    req.topics = None;
    let ResponseKind::OffsetFetch(resp) = call(&c, 7, RequestKind::OffsetFetch(req)).await else {
        panic!("wrong response kind")
    };
    let p = &resp.topics[0].partitions[0];
    assert_eq!((p.partition_index, p.committed_offset), (2, 17));
    assert_eq!(
        p.metadata.as_ref().map(|m| m.as_str()),
        Some("in a transaction")
    );
    c.shutdown().await;
}
