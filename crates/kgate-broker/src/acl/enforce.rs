//! ACL enforcement around the dispatcher: `before` checks a request (answering it
//! outright, or removing the resources the caller may not touch), `after` puts the
//! refused resources back into the response with Kafka's authorization errors and hides
//! what the caller may not describe.

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{Authorizer, op, resource};

const TOPIC_DENIED: i16 = 29;
const GROUP_DENIED: i16 = 30;
const CLUSTER_DENIED: i16 = 31;
const TXN_ID_DENIED: i16 = 53;
const OPERATION_NOT_ATTEMPTED: i16 = 55;

/// The cluster resource's name in ACLs.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// Who sent a request.
pub struct Caller<'a> {
    /// `User:<name>`.
    pub principal: &'a str,
    /// The peer's IP address.
    pub host: &'a str,
}

/// What to do with a request after the authorization check.
pub enum Gate {
    /// Dispatch this (possibly narrowed) request, then call `after` with the refusals.
    Forward(Box<RequestKind>, Refused),
    /// Answer with this response without dispatching.
    Answer(Box<ResponseKind>),
}

/// The parts of a request removed before dispatch, to be answered with an error.
#[derive(Default)]
pub enum Refused {
    /// Nothing was removed.
    #[default]
    Nothing,
    /// Topics (with their partitions) the caller may not use.
    Topics(Vec<(TopicName, Vec<i32>)>),
    /// Topics refused with this error code inside a group request.
    GroupTopics(Vec<(TopicName, Vec<i32>)>, i16),
    /// Groups the caller may not use.
    Groups(Vec<GroupId>),
    /// Metadata for all topics: hide those the caller may not describe.
    HideTopics,
    /// ListGroups: hide groups the caller may not describe.
    HideGroups,
    /// Config resources refused, with their type.
    ConfigResources(Vec<(i8, StrBytes)>),
    /// FindCoordinator v4 keys refused, with the error each gets.
    CoordinatorKeys(Vec<StrBytes>, i16),
    /// DescribeTransactions: ids the caller may not describe; the topics of the others
    /// are narrowed to those it may describe.
    TransactionalIds(Vec<TransactionalId>),
    /// ListTransactions: hide ids the caller may not describe.
    HideTransactions,
}

struct Check<'a> {
    authz: &'a Authorizer,
    caller: &'a Caller<'a>,
}

impl Check<'_> {
    fn ok(&self, operation: i8, resource_type: i8, name: &str) -> bool {
        self.authz.authorize(
            self.caller.principal,
            self.caller.host,
            operation,
            resource_type,
            name,
        )
    }
    fn topic(&self, operation: i8, name: &str) -> bool {
        self.ok(operation, resource::TOPIC, name)
    }
    fn group(&self, operation: i8, name: &str) -> bool {
        self.ok(operation, resource::GROUP, name)
    }
    fn cluster(&self, operation: i8) -> bool {
        self.ok(operation, resource::CLUSTER, CLUSTER_NAME)
    }
}

fn answer(r: ResponseKind) -> Gate {
    Gate::Answer(Box::new(r))
}

fn forward(r: RequestKind, refused: Refused) -> Gate {
    Gate::Forward(Box::new(r), refused)
}

/// Splits `items` into those `allowed` keeps and the refused rest.
fn split<T>(items: Vec<T>, allowed: impl Fn(&T) -> bool) -> (Vec<T>, Vec<T>) {
    items.into_iter().partition(|t| allowed(t))
}

/// A refusal carrying only a top-level CLUSTER_AUTHORIZATION_FAILED.
macro_rules! top_level_denied {
    ($response:ident) => {
        |_| {
            let mut resp = $response::default();
            resp.error_code = CLUSTER_DENIED;
            resp
        }
    };
}

/// Cluster-level APIs: each needs one operation on the cluster resource and otherwise
/// gets its refusal built from the request. Returns the request when it is not one of
/// them.
macro_rules! cluster_guarded {
    ($request:expr, $check:expr; $($kind:ident => $operation:expr, $denied:expr;)*) => {
        match $request {
            $(RequestKind::$kind(r) => {
                return if $check.cluster($operation) {
                    forward(RequestKind::$kind(r), Refused::Nothing)
                } else {
                    answer(ResponseKind::$kind(($denied)(r)))
                };
            })*
            other => other,
        }
    };
}

fn acl_creations_denied(r: CreateAclsRequest) -> CreateAclsResponse {
    let mut resp = CreateAclsResponse::default();
    resp.results = r
        .creations
        .iter()
        .map(|_| {
            let mut x = create_acls_response::AclCreationResult::default();
            x.error_code = CLUSTER_DENIED;
            x
        })
        .collect();
    resp
}

fn acl_deletions_denied(r: DeleteAclsRequest) -> DeleteAclsResponse {
    let mut resp = DeleteAclsResponse::default();
    resp.filter_results = r
        .filters
        .iter()
        .map(|_| {
            let mut x = delete_acls_response::DeleteAclsFilterResult::default();
            x.error_code = CLUSTER_DENIED;
            x
        })
        .collect();
    resp
}

fn scram_alterations_denied(
    r: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let mut resp = AlterUserScramCredentialsResponse::default();
    let users = r
        .deletions
        .into_iter()
        .map(|d| d.name)
        .chain(r.upsertions.into_iter().map(|u| u.name));
    resp.results = users
        .map(|u| {
            let mut x =
                alter_user_scram_credentials_response::AlterUserScramCredentialsResult::default();
            x.user = u;
            x.error_code = CLUSTER_DENIED;
            x
        })
        .collect();
    resp
}

/// Checks `request` for `caller`.
pub fn before(authz: &Authorizer, caller: &Caller<'_>, version: i16, request: RequestKind) -> Gate {
    if !authz.enabled {
        return forward(request, Refused::Nothing);
    }
    let c = Check { authz, caller };
    let request = cluster_guarded!(request, c;
        CreateAcls => op::ALTER, acl_creations_denied;
        DeleteAcls => op::ALTER, acl_deletions_denied;
        AlterUserScramCredentials => op::ALTER, scram_alterations_denied;
        AlterPartitionReassignments => op::ALTER,
            top_level_denied!(AlterPartitionReassignmentsResponse);
        ElectLeaders => op::ALTER, top_level_denied!(ElectLeadersResponse);
        DescribeAcls => op::DESCRIBE, top_level_denied!(DescribeAclsResponse);
        DescribeUserScramCredentials => op::DESCRIBE,
            top_level_denied!(DescribeUserScramCredentialsResponse);
        DescribeLogDirs => op::DESCRIBE, top_level_denied!(DescribeLogDirsResponse);
        ListPartitionReassignments => op::DESCRIBE,
            top_level_denied!(ListPartitionReassignmentsResponse);
    );
    match request {
        RequestKind::Produce(mut r) => {
            if let Some(id) = &r.transactional_id
                && !c.ok(op::WRITE, resource::TRANSACTIONAL_ID, id)
            {
                let mut resp = ProduceResponse::default();
                resp.responses = r
                    .topic_data
                    .iter()
                    .map(|t| {
                        produce_denied(
                            &t.name,
                            t.partition_data.iter().map(|p| p.index),
                            TXN_ID_DENIED,
                        )
                    })
                    .collect();
                return answer(ResponseKind::Produce(resp));
            }
            let (keep, refused) = split(std::mem::take(&mut r.topic_data), |t| {
                c.topic(op::WRITE, &t.name)
            });
            r.topic_data = keep;
            let refused = refused
                .into_iter()
                .map(|t| (t.name, t.partition_data.iter().map(|p| p.index).collect()))
                .collect();
            forward(RequestKind::Produce(r), Refused::Topics(refused))
        }
        RequestKind::Fetch(mut r) => {
            let (keep, refused) = split(std::mem::take(&mut r.topics), |t| {
                c.topic(op::READ, &t.topic)
            });
            let refused: Vec<(TopicName, Vec<i32>)> = refused
                .into_iter()
                .map(|t| (t.topic, t.partitions.iter().map(|p| p.partition).collect()))
                .collect();
            if keep.is_empty() && !refused.is_empty() {
                let mut resp = FetchResponse::default();
                resp.responses = refused.iter().map(|(t, ps)| fetch_denied(t, ps)).collect();
                return answer(ResponseKind::Fetch(resp));
            }
            r.topics = keep;
            forward(RequestKind::Fetch(r), Refused::Topics(refused))
        }
        RequestKind::ListOffsets(mut r) => {
            let (keep, refused) = split(std::mem::take(&mut r.topics), |t| {
                c.topic(op::DESCRIBE, &t.name)
            });
            r.topics = keep;
            let refused = refused
                .into_iter()
                .map(|t| {
                    (
                        t.name,
                        t.partitions.iter().map(|p| p.partition_index).collect(),
                    )
                })
                .collect();
            forward(RequestKind::ListOffsets(r), Refused::Topics(refused))
        }
        RequestKind::Metadata(mut r) => match r.topics.take() {
            None => forward(RequestKind::Metadata(r), Refused::HideTopics),
            // In v0 an empty list, not null, asks for every topic.
            Some(topics) if version == 0 && topics.is_empty() => {
                r.topics = Some(topics);
                forward(RequestKind::Metadata(r), Refused::HideTopics)
            }
            Some(topics) => {
                let (keep, refused) = split(topics, |t| {
                    t.name.as_ref().is_none_or(|n| c.topic(op::DESCRIBE, n))
                });
                r.topics = Some(keep);
                let refused = refused
                    .into_iter()
                    .filter_map(|t| t.name.map(|n| (n, Vec::new())))
                    .collect();
                forward(RequestKind::Metadata(r), Refused::Topics(refused))
            }
        },
        RequestKind::FindCoordinator(mut r) => {
            let (rt, code) = if r.key_type == 1 {
                (resource::TRANSACTIONAL_ID, TXN_ID_DENIED)
            } else {
                (resource::GROUP, GROUP_DENIED)
            };
            if version < 4 {
                if c.ok(op::DESCRIBE, rt, &r.key) {
                    return forward(RequestKind::FindCoordinator(r), Refused::Nothing);
                }
                let mut resp = FindCoordinatorResponse::default();
                resp.error_code = code;
                resp.node_id = BrokerId(-1);
                resp.port = -1;
                return answer(ResponseKind::FindCoordinator(resp));
            }
            // v4 batches keys: each is answered on its own.
            let (keep, refused) = split(std::mem::take(&mut r.coordinator_keys), |k| {
                c.ok(op::DESCRIBE, rt, k)
            });
            if keep.is_empty() && !refused.is_empty() {
                let mut resp = FindCoordinatorResponse::default();
                resp.coordinators = refused
                    .into_iter()
                    .map(|k| coordinator_denied(k, code))
                    .collect();
                return answer(ResponseKind::FindCoordinator(resp));
            }
            r.coordinator_keys = keep;
            forward(
                RequestKind::FindCoordinator(r),
                Refused::CoordinatorKeys(refused, code),
            )
        }
        RequestKind::JoinGroup(r) => {
            if c.group(op::READ, &r.group_id) {
                return forward(RequestKind::JoinGroup(r), Refused::Nothing);
            }
            let mut resp = JoinGroupResponse::default();
            resp.error_code = GROUP_DENIED;
            resp.generation_id = -1;
            resp.member_id = r.member_id;
            answer(ResponseKind::JoinGroup(resp))
        }
        RequestKind::SyncGroup(r) => {
            if c.group(op::READ, &r.group_id) {
                return forward(RequestKind::SyncGroup(r), Refused::Nothing);
            }
            let mut resp = SyncGroupResponse::default();
            resp.error_code = GROUP_DENIED;
            answer(ResponseKind::SyncGroup(resp))
        }
        RequestKind::Heartbeat(r) => {
            if c.group(op::READ, &r.group_id) {
                return forward(RequestKind::Heartbeat(r), Refused::Nothing);
            }
            let mut resp = HeartbeatResponse::default();
            resp.error_code = GROUP_DENIED;
            answer(ResponseKind::Heartbeat(resp))
        }
        RequestKind::LeaveGroup(r) => {
            if c.group(op::READ, &r.group_id) {
                return forward(RequestKind::LeaveGroup(r), Refused::Nothing);
            }
            let mut resp = LeaveGroupResponse::default();
            resp.error_code = GROUP_DENIED;
            answer(ResponseKind::LeaveGroup(resp))
        }
        RequestKind::OffsetCommit(mut r) => {
            if !c.group(op::READ, &r.group_id) {
                let mut resp = OffsetCommitResponse::default();
                resp.topics = r
                    .topics
                    .iter()
                    .map(|t| {
                        commit_denied(
                            &t.name,
                            t.partitions.iter().map(|p| p.partition_index),
                            GROUP_DENIED,
                        )
                    })
                    .collect();
                return answer(ResponseKind::OffsetCommit(resp));
            }
            let (keep, refused) = split(std::mem::take(&mut r.topics), |t| {
                c.topic(op::READ, &t.name)
            });
            r.topics = keep;
            let refused = refused
                .into_iter()
                .map(|t| {
                    (
                        t.name,
                        t.partitions.iter().map(|p| p.partition_index).collect(),
                    )
                })
                .collect();
            forward(
                RequestKind::OffsetCommit(r),
                Refused::GroupTopics(refused, TOPIC_DENIED),
            )
        }
        RequestKind::OffsetFetch(r) => {
            let groups: Vec<&GroupId> = if r.groups.is_empty() {
                vec![&r.group_id]
            } else {
                r.groups.iter().map(|g| &g.group_id).collect()
            };
            if groups.iter().all(|g| c.group(op::DESCRIBE, g)) {
                return forward(RequestKind::OffsetFetch(r), Refused::Nothing);
            }
            let mut resp = OffsetFetchResponse::default();
            if r.groups.is_empty() {
                // Before v8 the group's error is the top-level one.
                resp.error_code = GROUP_DENIED;
            }
            resp.groups = r
                .groups
                .iter()
                .map(|g| {
                    let mut out = offset_fetch_response::OffsetFetchResponseGroup::default();
                    out.group_id = g.group_id.clone();
                    out.error_code = if c.group(op::DESCRIBE, &g.group_id) {
                        0
                    } else {
                        GROUP_DENIED
                    };
                    out
                })
                .collect();
            answer(ResponseKind::OffsetFetch(resp))
        }
        RequestKind::OffsetDelete(r) => {
            if c.group(op::DELETE, &r.group_id) {
                return forward(RequestKind::OffsetDelete(r), Refused::Nothing);
            }
            let mut resp = OffsetDeleteResponse::default();
            resp.error_code = GROUP_DENIED;
            answer(ResponseKind::OffsetDelete(resp))
        }
        RequestKind::DescribeGroups(mut r) => {
            let (keep, refused) =
                split(std::mem::take(&mut r.groups), |g| c.group(op::DESCRIBE, g));
            r.groups = keep;
            forward(RequestKind::DescribeGroups(r), Refused::Groups(refused))
        }
        RequestKind::ListGroups(r) => {
            if c.cluster(op::DESCRIBE) {
                forward(RequestKind::ListGroups(r), Refused::Nothing)
            } else {
                forward(RequestKind::ListGroups(r), Refused::HideGroups)
            }
        }
        RequestKind::DeleteGroups(mut r) => {
            let (keep, refused) = split(std::mem::take(&mut r.groups_names), |g| {
                c.group(op::DELETE, g)
            });
            r.groups_names = keep;
            forward(RequestKind::DeleteGroups(r), Refused::Groups(refused))
        }
        RequestKind::CreateTopics(mut r) => {
            let cluster = c.cluster(op::CREATE);
            let (keep, refused) = split(std::mem::take(&mut r.topics), |t| {
                cluster || c.topic(op::CREATE, &t.name)
            });
            r.topics = keep;
            let refused = refused.into_iter().map(|t| (t.name, Vec::new())).collect();
            forward(RequestKind::CreateTopics(r), Refused::Topics(refused))
        }
        RequestKind::DeleteTopics(mut r) => {
            let mut refused = Vec::new();
            let (keep, no) = split(std::mem::take(&mut r.topic_names), |t| {
                c.topic(op::DELETE, t)
            });
            r.topic_names = keep;
            refused.extend(no.into_iter().map(|t| (t, Vec::new())));
            let (keep, no) = split(std::mem::take(&mut r.topics), |t| {
                t.name.as_ref().is_none_or(|n| c.topic(op::DELETE, n))
            });
            r.topics = keep;
            refused.extend(
                no.into_iter()
                    .filter_map(|t| t.name.map(|n| (n, Vec::new()))),
            );
            forward(RequestKind::DeleteTopics(r), Refused::Topics(refused))
        }
        RequestKind::CreatePartitions(mut r) => {
            let (keep, refused) = split(std::mem::take(&mut r.topics), |t| {
                c.topic(op::ALTER, &t.name)
            });
            r.topics = keep;
            let refused = refused.into_iter().map(|t| (t.name, Vec::new())).collect();
            forward(RequestKind::CreatePartitions(r), Refused::Topics(refused))
        }
        RequestKind::DeleteRecords(mut r) => {
            let (keep, refused) = split(std::mem::take(&mut r.topics), |t| {
                c.topic(op::DELETE, &t.name)
            });
            r.topics = keep;
            let refused = refused
                .into_iter()
                .map(|t| {
                    (
                        t.name,
                        t.partitions.iter().map(|p| p.partition_index).collect(),
                    )
                })
                .collect();
            forward(RequestKind::DeleteRecords(r), Refused::Topics(refused))
        }
        RequestKind::DescribeConfigs(mut r) => {
            let (keep, refused) = split(std::mem::take(&mut r.resources), |res| {
                config_allowed(
                    &c,
                    op::DESCRIBE_CONFIGS,
                    res.resource_type,
                    &res.resource_name,
                )
            });
            r.resources = keep;
            let refused = refused
                .into_iter()
                .map(|res| (res.resource_type, res.resource_name))
                .collect();
            forward(
                RequestKind::DescribeConfigs(r),
                Refused::ConfigResources(refused),
            )
        }
        RequestKind::AlterConfigs(mut r) => {
            let (keep, refused) = split(std::mem::take(&mut r.resources), |res| {
                config_allowed(&c, op::ALTER_CONFIGS, res.resource_type, &res.resource_name)
            });
            r.resources = keep;
            let refused = refused
                .into_iter()
                .map(|res| (res.resource_type, res.resource_name))
                .collect();
            forward(
                RequestKind::AlterConfigs(r),
                Refused::ConfigResources(refused),
            )
        }
        RequestKind::IncrementalAlterConfigs(mut r) => {
            let (keep, refused) = split(std::mem::take(&mut r.resources), |res| {
                config_allowed(&c, op::ALTER_CONFIGS, res.resource_type, &res.resource_name)
            });
            r.resources = keep;
            let refused = refused
                .into_iter()
                .map(|res| (res.resource_type, res.resource_name))
                .collect();
            forward(
                RequestKind::IncrementalAlterConfigs(r),
                Refused::ConfigResources(refused),
            )
        }
        RequestKind::InitProducerId(r) => {
            let allowed = match &r.transactional_id {
                Some(id) => c.ok(op::WRITE, resource::TRANSACTIONAL_ID, id),
                None => {
                    c.cluster(op::IDEMPOTENT_WRITE)
                        || authz.allows_any(caller.principal, op::WRITE, resource::TOPIC)
                }
            };
            if allowed {
                return forward(RequestKind::InitProducerId(r), Refused::Nothing);
            }
            let mut resp = InitProducerIdResponse::default();
            resp.error_code = if r.transactional_id.is_some() {
                TXN_ID_DENIED
            } else {
                CLUSTER_DENIED
            };
            resp.producer_id = ProducerId(-1);
            resp.producer_epoch = -1;
            answer(ResponseKind::InitProducerId(resp))
        }
        RequestKind::EndTxn(r) => {
            if c.ok(op::WRITE, resource::TRANSACTIONAL_ID, &r.transactional_id) {
                return forward(RequestKind::EndTxn(r), Refused::Nothing);
            }
            let mut resp = EndTxnResponse::default();
            resp.error_code = TXN_ID_DENIED;
            answer(ResponseKind::EndTxn(resp))
        }
        RequestKind::AddOffsetsToTxn(r) => {
            let code = if !c.ok(op::WRITE, resource::TRANSACTIONAL_ID, &r.transactional_id) {
                TXN_ID_DENIED
            } else if !c.group(op::READ, &r.group_id) {
                GROUP_DENIED
            } else {
                return forward(RequestKind::AddOffsetsToTxn(r), Refused::Nothing);
            };
            let mut resp = AddOffsetsToTxnResponse::default();
            resp.error_code = code;
            answer(ResponseKind::AddOffsetsToTxn(resp))
        }
        RequestKind::AddPartitionsToTxn(r) => {
            // Versions 0-3 (a producer's request) are the ones this broker answers.
            let txn_ok = c.ok(
                op::WRITE,
                resource::TRANSACTIONAL_ID,
                &r.v3_and_below_transactional_id,
            );
            let topic_ok = |t: &TopicName| c.topic(op::WRITE, t);
            if txn_ok && r.v3_and_below_topics.iter().all(|t| topic_ok(&t.name)) {
                return forward(RequestKind::AddPartitionsToTxn(r), Refused::Nothing);
            }
            // As in Kafka, nothing is added when any topic is refused: the refused
            // partitions say why, the others that they were not attempted.
            let mut resp = AddPartitionsToTxnResponse::default();
            resp.results_by_topic_v3_and_below = r
                .v3_and_below_topics
                .iter()
                .map(|t| {
                    let code = if !txn_ok {
                        TXN_ID_DENIED
                    } else if !topic_ok(&t.name) {
                        TOPIC_DENIED
                    } else {
                        OPERATION_NOT_ATTEMPTED
                    };
                    let mut out =
                        add_partitions_to_txn_response::AddPartitionsToTxnTopicResult::default();
                    out.name = t.name.clone();
                    out.results_by_partition = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let mut x = add_partitions_to_txn_response::AddPartitionsToTxnPartitionResult::default();
                            x.partition_index = *p;
                            x.partition_error_code = code;
                            x
                        })
                        .collect();
                    out
                })
                .collect();
            answer(ResponseKind::AddPartitionsToTxn(resp))
        }
        RequestKind::TxnOffsetCommit(mut r) => {
            // The transactional id, then the group refuse every partition; topics
            // without READ refuse only their own.
            let whole = if !c.ok(op::WRITE, resource::TRANSACTIONAL_ID, &r.transactional_id) {
                Some(TXN_ID_DENIED)
            } else if !c.group(op::READ, &r.group_id) {
                Some(GROUP_DENIED)
            } else {
                None
            };
            let (keep, refused) = match whole {
                Some(_) => (Vec::new(), std::mem::take(&mut r.topics)),
                None => split(std::mem::take(&mut r.topics), |t| {
                    c.topic(op::READ, &t.name)
                }),
            };
            let refused: Vec<(TopicName, Vec<i32>)> = refused
                .into_iter()
                .map(|t| {
                    (
                        t.name,
                        t.partitions.iter().map(|p| p.partition_index).collect(),
                    )
                })
                .collect();
            if whole.is_some() || (keep.is_empty() && !refused.is_empty()) {
                let code = whole.unwrap_or(TOPIC_DENIED);
                let mut resp = TxnOffsetCommitResponse::default();
                resp.topics = refused
                    .into_iter()
                    .map(|(t, ps)| txn_commit_denied(t, ps, code))
                    .collect();
                return answer(ResponseKind::TxnOffsetCommit(resp));
            }
            r.topics = keep;
            forward(
                RequestKind::TxnOffsetCommit(r),
                Refused::GroupTopics(refused, TOPIC_DENIED),
            )
        }
        RequestKind::DescribeProducers(mut r) => {
            let (keep, refused) = split(std::mem::take(&mut r.topics), |t| {
                c.topic(op::READ, &t.name)
            });
            r.topics = keep;
            let refused = refused
                .into_iter()
                .map(|t| (t.name, t.partition_indexes))
                .collect();
            forward(RequestKind::DescribeProducers(r), Refused::Topics(refused))
        }
        RequestKind::DescribeTransactions(mut r) => {
            let (keep, refused) = split(std::mem::take(&mut r.transactional_ids), |id| {
                c.ok(op::DESCRIBE, resource::TRANSACTIONAL_ID, id)
            });
            r.transactional_ids = keep;
            forward(
                RequestKind::DescribeTransactions(r),
                Refused::TransactionalIds(refused),
            )
        }
        RequestKind::ListTransactions(r) => {
            forward(RequestKind::ListTransactions(r), Refused::HideTransactions)
        }
        other => forward(other, Refused::Nothing),
    }
}

fn config_allowed(c: &Check<'_>, operation: i8, resource_type: i8, name: &str) -> bool {
    match resource_type {
        // ConfigResource.Type: TOPIC = 2, BROKER = 4, BROKER_LOGGER = 8.
        2 => c.topic(operation, name),
        _ => c.cluster(operation),
    }
}

fn produce_denied(
    name: &TopicName,
    partitions: impl Iterator<Item = i32>,
    code: i16,
) -> produce_response::TopicProduceResponse {
    let mut t = produce_response::TopicProduceResponse::default();
    t.name = name.clone();
    t.partition_responses = partitions
        .map(|p| {
            let mut r = produce_response::PartitionProduceResponse::default();
            r.index = p;
            r.error_code = code;
            r.base_offset = -1;
            r.log_append_time_ms = -1;
            r.log_start_offset = -1;
            r
        })
        .collect();
    t
}

fn fetch_denied(name: &TopicName, partitions: &[i32]) -> fetch_response::FetchableTopicResponse {
    let mut t = fetch_response::FetchableTopicResponse::default();
    t.topic = name.clone();
    t.partitions = partitions
        .iter()
        .map(|p| {
            let mut r = fetch_response::PartitionData::default();
            r.partition_index = *p;
            r.error_code = TOPIC_DENIED;
            r.high_watermark = -1;
            r.last_stable_offset = -1;
            r.log_start_offset = -1;
            r
        })
        .collect();
    t
}

fn coordinator_denied(key: StrBytes, code: i16) -> find_coordinator_response::Coordinator {
    let mut co = find_coordinator_response::Coordinator::default();
    co.key = key;
    co.error_code = code;
    co.node_id = BrokerId(-1);
    co.port = -1;
    co
}

fn txn_commit_denied(
    name: TopicName,
    partitions: Vec<i32>,
    code: i16,
) -> txn_offset_commit_response::TxnOffsetCommitResponseTopic {
    let mut t = txn_offset_commit_response::TxnOffsetCommitResponseTopic::default();
    t.name = name;
    t.partitions = partitions
        .into_iter()
        .map(|p| {
            let mut r = txn_offset_commit_response::TxnOffsetCommitResponsePartition::default();
            r.partition_index = p;
            r.error_code = code;
            r
        })
        .collect();
    t
}

fn commit_denied(
    name: &TopicName,
    partitions: impl Iterator<Item = i32>,
    code: i16,
) -> offset_commit_response::OffsetCommitResponseTopic {
    let mut t = offset_commit_response::OffsetCommitResponseTopic::default();
    t.name = name.clone();
    t.partitions = partitions
        .map(|p| {
            let mut r = offset_commit_response::OffsetCommitResponsePartition::default();
            r.partition_index = p;
            r.error_code = code;
            r
        })
        .collect();
    t
}

/// Adds the refused parts back to `response` and hides what the caller may not see.
pub fn after(
    authz: &Authorizer,
    caller: &Caller<'_>,
    response: ResponseKind,
    refused: Refused,
) -> ResponseKind {
    let c = Check { authz, caller };
    match (response, refused) {
        (r, Refused::Nothing) => r,
        (ResponseKind::Produce(mut r), Refused::Topics(ts)) => {
            for (t, ps) in ts {
                r.responses
                    .push(produce_denied(&t, ps.into_iter(), TOPIC_DENIED));
            }
            ResponseKind::Produce(r)
        }
        (ResponseKind::Fetch(mut r), Refused::Topics(ts)) => {
            for (t, ps) in ts {
                r.responses.push(fetch_denied(&t, &ps));
            }
            ResponseKind::Fetch(r)
        }
        (ResponseKind::ListOffsets(mut r), Refused::Topics(ts)) => {
            for (t, ps) in ts {
                let mut out = list_offsets_response::ListOffsetsTopicResponse::default();
                out.name = t;
                out.partitions = ps
                    .into_iter()
                    .map(|p| {
                        let mut x = list_offsets_response::ListOffsetsPartitionResponse::default();
                        x.partition_index = p;
                        x.error_code = TOPIC_DENIED;
                        x.timestamp = -1;
                        x.offset = -1;
                        x
                    })
                    .collect();
                r.topics.push(out);
            }
            ResponseKind::ListOffsets(r)
        }
        (ResponseKind::Metadata(mut r), Refused::HideTopics) => {
            r.topics
                .retain(|t| t.name.as_ref().is_none_or(|n| c.topic(op::DESCRIBE, n)));
            ResponseKind::Metadata(r)
        }
        (ResponseKind::Metadata(mut r), Refused::Topics(ts)) => {
            for (t, _) in ts {
                let mut out = metadata_response::MetadataResponseTopic::default();
                out.name = Some(t);
                out.error_code = TOPIC_DENIED;
                out.topic_authorized_operations = i32::MIN;
                r.topics.push(out);
            }
            ResponseKind::Metadata(r)
        }
        (ResponseKind::OffsetCommit(mut r), Refused::GroupTopics(ts, code)) => {
            for (t, ps) in ts {
                r.topics.push(commit_denied(&t, ps.into_iter(), code));
            }
            ResponseKind::OffsetCommit(r)
        }
        (ResponseKind::TxnOffsetCommit(mut r), Refused::GroupTopics(ts, code)) => {
            for (t, ps) in ts {
                r.topics.push(txn_commit_denied(t, ps, code));
            }
            ResponseKind::TxnOffsetCommit(r)
        }
        (ResponseKind::FindCoordinator(mut r), Refused::CoordinatorKeys(keys, code)) => {
            for k in keys {
                r.coordinators.push(coordinator_denied(k, code));
            }
            ResponseKind::FindCoordinator(r)
        }
        (ResponseKind::DescribeProducers(mut r), Refused::Topics(ts)) => {
            for (t, ps) in ts {
                let mut out = describe_producers_response::TopicResponse::default();
                out.name = t;
                out.partitions = ps
                    .into_iter()
                    .map(|p| {
                        let mut x = describe_producers_response::PartitionResponse::default();
                        x.partition_index = p;
                        x.error_code = TOPIC_DENIED;
                        x
                    })
                    .collect();
                r.topics.push(out);
            }
            ResponseKind::DescribeProducers(r)
        }
        (ResponseKind::DescribeTransactions(mut r), Refused::TransactionalIds(ids)) => {
            // Kafka lists only the topics the caller may describe.
            for t in &mut r.transaction_states {
                t.topics.retain(|topic| c.topic(op::DESCRIBE, &topic.topic));
            }
            for id in ids {
                let mut out = describe_transactions_response::TransactionState::default();
                out.transactional_id = id;
                out.error_code = TXN_ID_DENIED;
                out.transaction_start_time_ms = -1;
                out.producer_id = ProducerId(-1);
                out.producer_epoch = -1;
                r.transaction_states.push(out);
            }
            ResponseKind::DescribeTransactions(r)
        }
        (ResponseKind::ListTransactions(mut r), Refused::HideTransactions) => {
            r.transaction_states.retain(|t| {
                c.ok(
                    op::DESCRIBE,
                    resource::TRANSACTIONAL_ID,
                    &t.transactional_id,
                )
            });
            ResponseKind::ListTransactions(r)
        }
        (ResponseKind::DescribeGroups(mut r), Refused::Groups(gs)) => {
            for g in gs {
                let mut out = describe_groups_response::DescribedGroup::default();
                out.group_id = g;
                out.error_code = GROUP_DENIED;
                out.authorized_operations = i32::MIN;
                r.groups.push(out);
            }
            ResponseKind::DescribeGroups(r)
        }
        (ResponseKind::ListGroups(mut r), Refused::HideGroups) => {
            r.groups.retain(|g| c.group(op::DESCRIBE, &g.group_id));
            ResponseKind::ListGroups(r)
        }
        (ResponseKind::DeleteGroups(mut r), Refused::Groups(gs)) => {
            for g in gs {
                let mut out = delete_groups_response::DeletableGroupResult::default();
                out.group_id = g;
                out.error_code = GROUP_DENIED;
                r.results.push(out);
            }
            ResponseKind::DeleteGroups(r)
        }
        (ResponseKind::CreateTopics(mut r), Refused::Topics(ts)) => {
            for (t, _) in ts {
                let mut out = create_topics_response::CreatableTopicResult::default();
                out.name = t;
                out.error_code = TOPIC_DENIED;
                out.error_message = Some(StrBytes::from_static_str("Authorization failed."));
                out.num_partitions = -1;
                out.replication_factor = -1;
                r.topics.push(out);
            }
            ResponseKind::CreateTopics(r)
        }
        (ResponseKind::DeleteTopics(mut r), Refused::Topics(ts)) => {
            for (t, _) in ts {
                let mut out = delete_topics_response::DeletableTopicResult::default();
                out.name = Some(t);
                out.error_code = TOPIC_DENIED;
                r.responses.push(out);
            }
            ResponseKind::DeleteTopics(r)
        }
        (ResponseKind::CreatePartitions(mut r), Refused::Topics(ts)) => {
            for (t, _) in ts {
                let mut out = create_partitions_response::CreatePartitionsTopicResult::default();
                out.name = t;
                out.error_code = TOPIC_DENIED;
                r.results.push(out);
            }
            ResponseKind::CreatePartitions(r)
        }
        (ResponseKind::DeleteRecords(mut r), Refused::Topics(ts)) => {
            for (t, ps) in ts {
                let mut out = delete_records_response::DeleteRecordsTopicResult::default();
                out.name = t;
                out.partitions = ps
                    .into_iter()
                    .map(|p| {
                        let mut x =
                            delete_records_response::DeleteRecordsPartitionResult::default();
                        x.partition_index = p;
                        x.low_watermark = -1;
                        x.error_code = TOPIC_DENIED;
                        x
                    })
                    .collect();
                r.topics.push(out);
            }
            ResponseKind::DeleteRecords(r)
        }
        (ResponseKind::DescribeConfigs(mut r), Refused::ConfigResources(rs)) => {
            for (rt, name) in rs {
                let mut out = describe_configs_response::DescribeConfigsResult::default();
                out.error_code = config_denied_code(rt);
                out.resource_type = rt;
                out.resource_name = name;
                r.results.push(out);
            }
            ResponseKind::DescribeConfigs(r)
        }
        (ResponseKind::AlterConfigs(mut r), Refused::ConfigResources(rs)) => {
            for (rt, name) in rs {
                let mut out = alter_configs_response::AlterConfigsResourceResponse::default();
                out.error_code = config_denied_code(rt);
                out.resource_type = rt;
                out.resource_name = name;
                r.responses.push(out);
            }
            ResponseKind::AlterConfigs(r)
        }
        (ResponseKind::IncrementalAlterConfigs(mut r), Refused::ConfigResources(rs)) => {
            for (rt, name) in rs {
                let mut out =
                    incremental_alter_configs_response::AlterConfigsResourceResponse::default();
                out.error_code = config_denied_code(rt);
                out.resource_type = rt;
                out.resource_name = name;
                r.responses.push(out);
            }
            ResponseKind::IncrementalAlterConfigs(r)
        }
        (r, _) => r,
    }
}

fn config_denied_code(resource_type: i8) -> i16 {
    if resource_type == 2 {
        TOPIC_DENIED
    } else {
        CLUSTER_DENIED
    }
}
