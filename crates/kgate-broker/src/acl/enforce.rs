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
        |_| $response::default().with_error_code(CLUSTER_DENIED)
    };
}

/// Adds the refused config resources to `list`, entries of type `entry` (the three config
/// APIs answer alike in types of their own).
macro_rules! config_denials {
    ($list:expr, $entry:path, $refused:expr) => {
        $list.extend($refused.into_iter().map(|(rt, name)| {
            <$entry>::default()
                .with_error_code(config_denied_code(rt))
                .with_resource_type(rt)
                .with_resource_name(name)
        }))
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
    CreateAclsResponse::default().with_results(
        r.creations
            .iter()
            .map(|_| {
                create_acls_response::AclCreationResult::default().with_error_code(CLUSTER_DENIED)
            })
            .collect(),
    )
}

fn acl_deletions_denied(r: DeleteAclsRequest) -> DeleteAclsResponse {
    DeleteAclsResponse::default().with_filter_results(
        r.filters
            .iter()
            .map(|_| {
                delete_acls_response::DeleteAclsFilterResult::default()
                    .with_error_code(CLUSTER_DENIED)
            })
            .collect(),
    )
}

fn scram_alterations_denied(
    r: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let users = r
        .deletions
        .into_iter()
        .map(|d| d.name)
        .chain(r.upsertions.into_iter().map(|u| u.name));
    AlterUserScramCredentialsResponse::default().with_results(
        users
            .map(|u| {
                alter_user_scram_credentials_response::AlterUserScramCredentialsResult::default()
                    .with_user(u)
                    .with_error_code(CLUSTER_DENIED)
            })
            .collect(),
    )
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
                return answer(ResponseKind::Produce(
                    ProduceResponse::default().with_responses(
                        r.topic_data
                            .iter()
                            .map(|t| {
                                produce_denied(
                                    &t.name,
                                    t.partition_data.iter().map(|p| p.index),
                                    TXN_ID_DENIED,
                                )
                            })
                            .collect(),
                    ),
                ));
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
                return answer(ResponseKind::Fetch(
                    FetchResponse::default().with_responses(
                        refused.iter().map(|(t, ps)| fetch_denied(t, ps)).collect(),
                    ),
                ));
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
                return answer(ResponseKind::FindCoordinator(
                    FindCoordinatorResponse::default()
                        .with_error_code(code)
                        .with_node_id(BrokerId(-1))
                        .with_port(-1),
                ));
            }
            // v4 batches keys: each is answered on its own.
            let (keep, refused) = split(std::mem::take(&mut r.coordinator_keys), |k| {
                c.ok(op::DESCRIBE, rt, k)
            });
            if keep.is_empty() && !refused.is_empty() {
                return answer(ResponseKind::FindCoordinator(
                    FindCoordinatorResponse::default().with_coordinators(
                        refused
                            .into_iter()
                            .map(|k| coordinator_denied(k, code))
                            .collect(),
                    ),
                ));
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
            answer(ResponseKind::JoinGroup(
                JoinGroupResponse::default()
                    .with_error_code(GROUP_DENIED)
                    .with_generation_id(-1)
                    .with_member_id(r.member_id),
            ))
        }
        RequestKind::SyncGroup(r) => {
            if c.group(op::READ, &r.group_id) {
                return forward(RequestKind::SyncGroup(r), Refused::Nothing);
            }
            answer(ResponseKind::SyncGroup(
                SyncGroupResponse::default().with_error_code(GROUP_DENIED),
            ))
        }
        RequestKind::Heartbeat(r) => {
            if c.group(op::READ, &r.group_id) {
                return forward(RequestKind::Heartbeat(r), Refused::Nothing);
            }
            answer(ResponseKind::Heartbeat(
                HeartbeatResponse::default().with_error_code(GROUP_DENIED),
            ))
        }
        RequestKind::LeaveGroup(r) => {
            if c.group(op::READ, &r.group_id) {
                return forward(RequestKind::LeaveGroup(r), Refused::Nothing);
            }
            answer(ResponseKind::LeaveGroup(
                LeaveGroupResponse::default().with_error_code(GROUP_DENIED),
            ))
        }
        RequestKind::OffsetCommit(mut r) => {
            if !c.group(op::READ, &r.group_id) {
                return answer(ResponseKind::OffsetCommit(
                    OffsetCommitResponse::default().with_topics(
                        r.topics
                            .iter()
                            .map(|t| {
                                commit_denied(
                                    &t.name,
                                    t.partitions.iter().map(|p| p.partition_index),
                                    GROUP_DENIED,
                                )
                            })
                            .collect(),
                    ),
                ));
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
                    offset_fetch_response::OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_error_code(if c.group(op::DESCRIBE, &g.group_id) {
                            0
                        } else {
                            GROUP_DENIED
                        })
                })
                .collect();
            answer(ResponseKind::OffsetFetch(resp))
        }
        RequestKind::OffsetDelete(r) => {
            if c.group(op::DELETE, &r.group_id) {
                return forward(RequestKind::OffsetDelete(r), Refused::Nothing);
            }
            answer(ResponseKind::OffsetDelete(
                OffsetDeleteResponse::default().with_error_code(GROUP_DENIED),
            ))
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
            answer(ResponseKind::InitProducerId(
                InitProducerIdResponse::default()
                    .with_error_code(if r.transactional_id.is_some() {
                        TXN_ID_DENIED
                    } else {
                        CLUSTER_DENIED
                    })
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            ))
        }
        RequestKind::EndTxn(r) => {
            if c.ok(op::WRITE, resource::TRANSACTIONAL_ID, &r.transactional_id) {
                return forward(RequestKind::EndTxn(r), Refused::Nothing);
            }
            answer(ResponseKind::EndTxn(
                EndTxnResponse::default().with_error_code(TXN_ID_DENIED),
            ))
        }
        RequestKind::AddOffsetsToTxn(r) => {
            let code = if !c.ok(op::WRITE, resource::TRANSACTIONAL_ID, &r.transactional_id) {
                TXN_ID_DENIED
            } else if !c.group(op::READ, &r.group_id) {
                GROUP_DENIED
            } else {
                return forward(RequestKind::AddOffsetsToTxn(r), Refused::Nothing);
            };
            answer(ResponseKind::AddOffsetsToTxn(
                AddOffsetsToTxnResponse::default().with_error_code(code),
            ))
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
            use add_partitions_to_txn_response::{
                AddPartitionsToTxnPartitionResult as PartitionResult,
                AddPartitionsToTxnTopicResult as TopicResult,
            };
            let topics = r
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
                    let partitions = t.partitions.iter().map(|p| {
                        PartitionResult::default()
                            .with_partition_index(*p)
                            .with_partition_error_code(code)
                    });
                    TopicResult::default()
                        .with_name(t.name.clone())
                        .with_results_by_partition(partitions.collect())
                })
                .collect();
            answer(ResponseKind::AddPartitionsToTxn(
                AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics),
            ))
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
                return answer(ResponseKind::TxnOffsetCommit(
                    TxnOffsetCommitResponse::default().with_topics(
                        refused
                            .into_iter()
                            .map(|(t, ps)| txn_commit_denied(t, ps, code))
                            .collect(),
                    ),
                ));
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
    produce_response::TopicProduceResponse::default()
        .with_name(name.clone())
        .with_partition_responses(
            partitions
                .map(|p| {
                    produce_response::PartitionProduceResponse::default()
                        .with_index(p)
                        .with_error_code(code)
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(-1)
                })
                .collect(),
        )
}

fn fetch_denied(name: &TopicName, partitions: &[i32]) -> fetch_response::FetchableTopicResponse {
    fetch_response::FetchableTopicResponse::default()
        .with_topic(name.clone())
        .with_partitions(
            partitions
                .iter()
                .map(|p| {
                    fetch_response::PartitionData::default()
                        .with_partition_index(*p)
                        .with_error_code(TOPIC_DENIED)
                        .with_high_watermark(-1)
                        .with_last_stable_offset(-1)
                        .with_log_start_offset(-1)
                })
                .collect(),
        )
}

fn coordinator_denied(key: StrBytes, code: i16) -> find_coordinator_response::Coordinator {
    find_coordinator_response::Coordinator::default()
        .with_key(key)
        .with_error_code(code)
        .with_node_id(BrokerId(-1))
        .with_port(-1)
}

fn txn_commit_denied(
    name: TopicName,
    partitions: Vec<i32>,
    code: i16,
) -> txn_offset_commit_response::TxnOffsetCommitResponseTopic {
    txn_offset_commit_response::TxnOffsetCommitResponseTopic::default()
        .with_name(name)
        .with_partitions(
            partitions
                .into_iter()
                .map(|p| {
                    txn_offset_commit_response::TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p)
                        .with_error_code(code)
                })
                .collect(),
        )
}

fn commit_denied(
    name: &TopicName,
    partitions: impl Iterator<Item = i32>,
    code: i16,
) -> offset_commit_response::OffsetCommitResponseTopic {
    offset_commit_response::OffsetCommitResponseTopic::default()
        .with_name(name.clone())
        .with_partitions(
            partitions
                .map(|p| {
                    offset_commit_response::OffsetCommitResponsePartition::default()
                        .with_partition_index(p)
                        .with_error_code(code)
                })
                .collect(),
        )
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
                r.topics.push(
                    list_offsets_response::ListOffsetsTopicResponse::default()
                        .with_name(t)
                        .with_partitions(
                            ps.into_iter()
                                .map(|p| {
                                    list_offsets_response::ListOffsetsPartitionResponse::default()
                                        .with_partition_index(p)
                                        .with_error_code(TOPIC_DENIED)
                                        .with_timestamp(-1)
                                        .with_offset(-1)
                                })
                                .collect(),
                        ),
                );
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
                r.topics.push(
                    metadata_response::MetadataResponseTopic::default()
                        .with_name(Some(t))
                        .with_error_code(TOPIC_DENIED)
                        .with_topic_authorized_operations(i32::MIN),
                );
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
                r.topics.push(
                    describe_producers_response::TopicResponse::default()
                        .with_name(t)
                        .with_partitions(
                            ps.into_iter()
                                .map(|p| {
                                    describe_producers_response::PartitionResponse::default()
                                        .with_partition_index(p)
                                        .with_error_code(TOPIC_DENIED)
                                })
                                .collect(),
                        ),
                );
            }
            ResponseKind::DescribeProducers(r)
        }
        (ResponseKind::DescribeTransactions(mut r), Refused::TransactionalIds(ids)) => {
            // Kafka lists only the topics the caller may describe.
            for t in &mut r.transaction_states {
                t.topics.retain(|topic| c.topic(op::DESCRIBE, &topic.topic));
            }
            for id in ids {
                r.transaction_states.push(
                    describe_transactions_response::TransactionState::default()
                        .with_transactional_id(id)
                        .with_error_code(TXN_ID_DENIED)
                        .with_transaction_start_time_ms(-1)
                        .with_producer_id(ProducerId(-1))
                        .with_producer_epoch(-1),
                );
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
                r.groups.push(
                    describe_groups_response::DescribedGroup::default()
                        .with_group_id(g)
                        .with_error_code(GROUP_DENIED)
                        .with_authorized_operations(i32::MIN),
                );
            }
            ResponseKind::DescribeGroups(r)
        }
        (ResponseKind::ListGroups(mut r), Refused::HideGroups) => {
            r.groups.retain(|g| c.group(op::DESCRIBE, &g.group_id));
            ResponseKind::ListGroups(r)
        }
        (ResponseKind::DeleteGroups(mut r), Refused::Groups(gs)) => {
            for g in gs {
                r.results.push(
                    delete_groups_response::DeletableGroupResult::default()
                        .with_group_id(g)
                        .with_error_code(GROUP_DENIED),
                );
            }
            ResponseKind::DeleteGroups(r)
        }
        (ResponseKind::CreateTopics(mut r), Refused::Topics(ts)) => {
            for (t, _) in ts {
                r.topics.push(
                    create_topics_response::CreatableTopicResult::default()
                        .with_name(t)
                        .with_error_code(TOPIC_DENIED)
                        .with_error_message(Some(StrBytes::from_static_str(
                            "Authorization failed.",
                        )))
                        .with_num_partitions(-1)
                        .with_replication_factor(-1),
                );
            }
            ResponseKind::CreateTopics(r)
        }
        (ResponseKind::DeleteTopics(mut r), Refused::Topics(ts)) => {
            for (t, _) in ts {
                r.responses.push(
                    delete_topics_response::DeletableTopicResult::default()
                        .with_name(Some(t))
                        .with_error_code(TOPIC_DENIED),
                );
            }
            ResponseKind::DeleteTopics(r)
        }
        (ResponseKind::CreatePartitions(mut r), Refused::Topics(ts)) => {
            for (t, _) in ts {
                r.results.push(
                    create_partitions_response::CreatePartitionsTopicResult::default()
                        .with_name(t)
                        .with_error_code(TOPIC_DENIED),
                );
            }
            ResponseKind::CreatePartitions(r)
        }
        (ResponseKind::DeleteRecords(mut r), Refused::Topics(ts)) => {
            for (t, ps) in ts {
                r.topics.push(
                    delete_records_response::DeleteRecordsTopicResult::default()
                        .with_name(t)
                        .with_partitions(
                            ps.into_iter()
                                .map(|p| {
                                    delete_records_response::DeleteRecordsPartitionResult::default()
                                        .with_partition_index(p)
                                        .with_low_watermark(-1)
                                        .with_error_code(TOPIC_DENIED)
                                })
                                .collect(),
                        ),
                );
            }
            ResponseKind::DeleteRecords(r)
        }
        (ResponseKind::DescribeConfigs(mut r), Refused::ConfigResources(rs)) => {
            config_denials!(
                r.results,
                describe_configs_response::DescribeConfigsResult,
                rs
            );
            ResponseKind::DescribeConfigs(r)
        }
        (ResponseKind::AlterConfigs(mut r), Refused::ConfigResources(rs)) => {
            config_denials!(
                r.responses,
                alter_configs_response::AlterConfigsResourceResponse,
                rs
            );
            ResponseKind::AlterConfigs(r)
        }
        (ResponseKind::IncrementalAlterConfigs(mut r), Refused::ConfigResources(rs)) => {
            config_denials!(
                r.responses,
                incremental_alter_configs_response::AlterConfigsResourceResponse,
                rs
            );
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
