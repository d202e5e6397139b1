//! Native admin: consumer groups (ListConsumerGroups, DescribeConsumerGroups,
//! ListConsumerGroupOffsets) and log end offsets (ListOffsets), each one request per call.

use std::collections::BTreeMap;
use std::ffi::{CString, c_char};

use rdkafka::bindings as rd;

use super::{NativeEvent, admin_call, c_string, code_error, error_object, owned_string};
use crate::{Kafka, KafkaError};

/// A group as ListConsumerGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupListing {
    /// The group id.
    pub group_id: String,
    /// True for a group that only commits offsets and has no members protocol.
    pub is_simple: bool,
    /// The state (`STABLE`, `EMPTY`, ...).
    pub state: String,
}

/// One member of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// The member id the coordinator gave.
    pub consumer_id: String,
    /// The static member id (`group.instance.id`), if any.
    pub instance_id: Option<String>,
    /// The client id.
    pub client_id: String,
    /// The host the member connects from.
    pub host: String,
    /// The partitions assigned to it, as (topic, partition).
    pub assignment: Vec<(String, i32)>,
}

/// A group as DescribeConsumerGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    /// The group id.
    pub group_id: String,
    /// True for a group that only commits offsets.
    pub is_simple: bool,
    /// The assignor the group uses (e.g. `range`), empty when none.
    pub partition_assignor: String,
    /// The state (`STABLE`, `EMPTY`, `DEAD` for an unknown group, ...).
    pub state: String,
    /// Node id of the group's coordinator, when known.
    pub coordinator: Option<i32>,
    /// The members.
    pub members: Vec<GroupMember>,
}

/// The name Kafka's Java admin client gives a group state.
fn state_name(state: rd::rd_kafka_consumer_group_state_t) -> &'static str {
    use rd::rd_kafka_consumer_group_state_t as S;
    match state {
        S::RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE => "PREPARING_REBALANCE",
        S::RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE => "COMPLETING_REBALANCE",
        S::RD_KAFKA_CONSUMER_GROUP_STATE_STABLE => "STABLE",
        S::RD_KAFKA_CONSUMER_GROUP_STATE_DEAD => "DEAD",
        S::RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY => "EMPTY",
        _ => "UNKNOWN",
    }
}

/// An owned topic-partition list, destroyed when dropped.
struct PartitionList(*mut rd::rd_kafka_topic_partition_list_t);

// SAFETY: the list is a plain heap object used by one thread at a time.
unsafe impl Send for PartitionList {}

impl Drop for PartitionList {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_topic_partition_list_new, destroyed once.
        unsafe { rd::rd_kafka_topic_partition_list_destroy(self.0) }
    }
}

/// Copies (topic, partition, offset, error) out of a list librdkafka owns.
///
/// # Safety
/// `list` must be null or a live topic-partition list.
unsafe fn read_partitions(
    list: *const rd::rd_kafka_topic_partition_list_t,
) -> Vec<(String, i32, i64, rd::rd_kafka_resp_err_t)> {
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: guaranteed by the caller.
    unsafe {
        let count = usize::try_from((*list).cnt).unwrap_or(0);
        if count == 0 || (*list).elems.is_null() {
            return Vec::new();
        }
        std::slice::from_raw_parts((*list).elems, count)
            .iter()
            .map(|e| {
                (
                    owned_string(e.topic).unwrap_or_default(),
                    e.partition,
                    e.offset,
                    e.err,
                )
            })
            .collect()
    }
}

/// A slice of pointers librdkafka returned, empty when null.
///
/// # Safety
/// `items` must be null or point to `count` elements that live as long as `'a`.
unsafe fn items<'a, T>(items: *mut *const T, count: usize) -> &'a [*const T] {
    if items.is_null() || count == 0 {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(items, count) }
    }
}

impl Kafka {
    /// Every consumer group of the cluster, in one ListConsumerGroups request.
    pub async fn list_consumer_groups(&self) -> Result<Vec<ConsumerGroupListing>, KafkaError> {
        admin_call(
            self,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS,
            "listing consumer groups",
            |req| {
                // SAFETY: the handles are live for this call (see admin_call).
                unsafe {
                    rd::rd_kafka_ListConsumerGroups(req.client(), req.options(), req.queue())
                };
                Ok(())
            },
            |event: &NativeEvent| {
                // SAFETY: the event is a live ListConsumerGroups result; everything is
                // copied before it is dropped.
                unsafe {
                    let result = rd::rd_kafka_event_ListConsumerGroups_result(event.ptr());
                    if result.is_null() {
                        return Err(KafkaError::Internal(
                            "not a ListConsumerGroups result".into(),
                        ));
                    }
                    let mut n = 0usize;
                    let errors = rd::rd_kafka_ListConsumerGroups_result_errors(result, &mut n);
                    if let Some(e) = items(errors, n)
                        .iter()
                        .find_map(|&e| error_object(e, "listing consumer groups"))
                    {
                        return Err(e);
                    }
                    let mut n = 0usize;
                    let valid = rd::rd_kafka_ListConsumerGroups_result_valid(result, &mut n);
                    let mut groups: Vec<ConsumerGroupListing> = items(valid, n)
                        .iter()
                        .map(|&g| ConsumerGroupListing {
                            group_id: owned_string(rd::rd_kafka_ConsumerGroupListing_group_id(g))
                                .unwrap_or_default(),
                            is_simple: rd::rd_kafka_ConsumerGroupListing_is_simple_consumer_group(
                                g,
                            ) != 0,
                            state: state_name(rd::rd_kafka_ConsumerGroupListing_state(g))
                                .to_string(),
                        })
                        .collect();
                    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
                    Ok(groups)
                }
            },
        )
        .await
    }

    /// Describes `groups` in one DescribeConsumerGroups request; one result per group, in
    /// the order asked. An unknown group is reported by Kafka as `DEAD` with no members.
    pub async fn describe_consumer_groups(
        &self,
        groups: &[String],
    ) -> Result<Vec<Result<ConsumerGroupDescription, KafkaError>>, KafkaError> {
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<CString> = groups
            .iter()
            .map(|g| c_string(g))
            .collect::<Result<_, _>>()?;
        let order = groups.to_vec();
        let mut described = admin_call(
            self,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
            "describing consumer groups",
            move |req| {
                let mut ptrs: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
                // SAFETY: the handles are live; the names outlive the call, which copies
                // them.
                unsafe {
                    rd::rd_kafka_DescribeConsumerGroups(
                        req.client(),
                        ptrs.as_mut_ptr(),
                        ptrs.len(),
                        req.options(),
                        req.queue(),
                    )
                };
                Ok(())
            },
            |event: &NativeEvent| {
                // SAFETY: the event is a live DescribeConsumerGroups result; everything is
                // copied before it is dropped.
                unsafe {
                    let result = rd::rd_kafka_event_DescribeConsumerGroups_result(event.ptr());
                    if result.is_null() {
                        return Err(KafkaError::Internal(
                            "not a DescribeConsumerGroups result".into(),
                        ));
                    }
                    let mut n = 0usize;
                    let descs = rd::rd_kafka_DescribeConsumerGroups_result_groups(result, &mut n);
                    let mut out = BTreeMap::new();
                    for &d in items(descs, n) {
                        let group_id =
                            owned_string(rd::rd_kafka_ConsumerGroupDescription_group_id(d))
                                .unwrap_or_default();
                        if let Some(e) =
                            error_object(rd::rd_kafka_ConsumerGroupDescription_error(d), &group_id)
                        {
                            out.insert(group_id, Err(e));
                            continue;
                        }
                        let coordinator = rd::rd_kafka_ConsumerGroupDescription_coordinator(d);
                        let members = (0..rd::rd_kafka_ConsumerGroupDescription_member_count(d))
                            .map(|i| rd::rd_kafka_ConsumerGroupDescription_member(d, i))
                            .filter(|m| !m.is_null())
                            .map(|m| {
                                let assignment = rd::rd_kafka_MemberDescription_assignment(m);
                                let partitions = if assignment.is_null() {
                                    Vec::new()
                                } else {
                                    read_partitions(rd::rd_kafka_MemberAssignment_partitions(
                                        assignment,
                                    ))
                                };
                                GroupMember {
                                    consumer_id: owned_string(
                                        rd::rd_kafka_MemberDescription_consumer_id(m),
                                    )
                                    .unwrap_or_default(),
                                    instance_id: owned_string(
                                        rd::rd_kafka_MemberDescription_group_instance_id(m),
                                    )
                                    .filter(|s| !s.is_empty()),
                                    client_id: owned_string(
                                        rd::rd_kafka_MemberDescription_client_id(m),
                                    )
                                    .unwrap_or_default(),
                                    host: owned_string(rd::rd_kafka_MemberDescription_host(m))
                                        .unwrap_or_default(),
                                    assignment: partitions
                                        .into_iter()
                                        .map(|(t, p, _, _)| (t, p))
                                        .collect(),
                                }
                            })
                            .collect();
                        out.insert(
                            group_id.clone(),
                            Ok(ConsumerGroupDescription {
                                group_id,
                                is_simple:
                                    rd::rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(
                                        d,
                                    ) != 0,
                                partition_assignor: owned_string(
                                    rd::rd_kafka_ConsumerGroupDescription_partition_assignor(d),
                                )
                                .unwrap_or_default(),
                                state: state_name(rd::rd_kafka_ConsumerGroupDescription_state(d))
                                    .to_string(),
                                coordinator: (!coordinator.is_null())
                                    .then(|| rd::rd_kafka_Node_id(coordinator)),
                                members,
                            }),
                        );
                    }
                    Ok(out)
                }
            },
        )
        .await?;
        Ok(order
            .iter()
            .map(|g| {
                described.remove(g).unwrap_or_else(|| {
                    Err(KafkaError::Internal(format!(
                        "group {g} missing from the answer"
                    )))
                })
            })
            .collect())
    }

    /// The offsets `group` committed, as (topic, partition) -> offset, in one
    /// OffsetFetch request; partitions without a commit are left out.
    pub async fn consumer_group_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<(String, i32), i64>, KafkaError> {
        let name = c_string(group)?;
        let context = format!("offsets of group {group}");
        let read_context = context.clone();
        admin_call(
            self,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
            &context,
            move |req| {
                // SAFETY: the name outlives the call; a null partition list asks for every
                // committed partition.
                unsafe {
                    let mut request =
                        rd::rd_kafka_ListConsumerGroupOffsets_new(name.as_ptr(), std::ptr::null());
                    if request.is_null() {
                        return Err(KafkaError::Internal("could not build the request".into()));
                    }
                    rd::rd_kafka_ListConsumerGroupOffsets(
                        req.client(),
                        &mut request,
                        1,
                        req.options(),
                        req.queue(),
                    );
                    rd::rd_kafka_ListConsumerGroupOffsets_destroy(request);
                }
                Ok(())
            },
            move |event: &NativeEvent| {
                // SAFETY: the event is a live ListConsumerGroupOffsets result; everything
                // is copied before it is dropped.
                unsafe {
                    let result = rd::rd_kafka_event_ListConsumerGroupOffsets_result(event.ptr());
                    if result.is_null() {
                        return Err(KafkaError::Internal(
                            "not a ListConsumerGroupOffsets result".into(),
                        ));
                    }
                    let mut n = 0usize;
                    let groups =
                        rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut n);
                    let mut offsets = BTreeMap::new();
                    for &g in items(groups, n) {
                        if let Some(e) =
                            error_object(rd::rd_kafka_group_result_error(g), &read_context)
                        {
                            return Err(e);
                        }
                        for (topic, partition, offset, err) in
                            read_partitions(rd::rd_kafka_group_result_partitions(g))
                        {
                            if let Some(e) = code_error(err, None, &topic) {
                                return Err(e);
                            }
                            if offset >= 0 {
                                offsets.insert((topic, partition), offset);
                            }
                        }
                    }
                    Ok(offsets)
                }
            },
        )
        .await
    }

    /// The log end offset (high watermark) of each of `partitions`, in one ListOffsets
    /// round (librdkafka sends one request per leader).
    pub async fn end_offsets(
        &self,
        partitions: &[(String, i32)],
    ) -> Result<BTreeMap<(String, i32), i64>, KafkaError> {
        self.end_offsets_as(partitions, false).await
    }

    /// [`Kafka::end_offsets`], or with `read_committed` the last stable offsets (where
    /// a read_committed consumer's reading ends).
    pub async fn end_offsets_as(
        &self,
        partitions: &[(String, i32)],
        read_committed: bool,
    ) -> Result<BTreeMap<(String, i32), i64>, KafkaError> {
        if partitions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut topics = Vec::with_capacity(partitions.len());
        for (t, p) in partitions {
            topics.push((c_string(t)?, *p));
        }
        let capacity = i32::try_from(topics.len()).unwrap_or(i32::MAX);
        admin_call(
            self,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTOFFSETS,
            "listing log end offsets",
            move |req| {
                // SAFETY: the options are live for the request; an error object returned
                // by the isolation setter is ours and destroyed once read. The list is
                // built, handed to librdkafka (which copies it) and destroyed by
                // PartitionList; the topic names outlive the adds.
                unsafe {
                    if read_committed {
                        let err = rd::rd_kafka_AdminOptions_set_isolation_level(
                            req.options(),
                            rd::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_COMMITTED,
                        );
                        if !err.is_null() {
                            let e = error_object(err, "read_committed");
                            rd::rd_kafka_error_destroy(err);
                            return Err(e.unwrap_or_else(|| {
                                KafkaError::Internal("could not ask for read_committed".into())
                            }));
                        }
                    }
                    let list = PartitionList(rd::rd_kafka_topic_partition_list_new(capacity));
                    if list.0.is_null() {
                        return Err(KafkaError::Internal("could not build the request".into()));
                    }
                    for (topic, partition) in &topics {
                        let e = rd::rd_kafka_topic_partition_list_add(
                            list.0,
                            topic.as_ptr(),
                            *partition,
                        );
                        if !e.is_null() {
                            (*e).offset =
                                rd::rd_kafka_OffsetSpec_t::RD_KAFKA_OFFSET_SPEC_LATEST as i64;
                        }
                    }
                    rd::rd_kafka_ListOffsets(req.client(), list.0, req.options(), req.queue());
                }
                Ok(())
            },
            |event: &NativeEvent| {
                // SAFETY: the event is a live ListOffsets result; everything is copied
                // before it is dropped.
                unsafe {
                    let result = rd::rd_kafka_event_ListOffsets_result(event.ptr());
                    if result.is_null() {
                        return Err(KafkaError::Internal("not a ListOffsets result".into()));
                    }
                    let mut n = 0usize;
                    let infos = rd::rd_kafka_ListOffsets_result_infos(result, &mut n);
                    let mut out = BTreeMap::new();
                    for &info in items(infos, n) {
                        let tp = rd::rd_kafka_ListOffsetsResultInfo_topic_partition(info);
                        if tp.is_null() {
                            continue;
                        }
                        let topic = owned_string((*tp).topic).unwrap_or_default();
                        if let Some(e) = code_error((*tp).err, None, &topic) {
                            return Err(e);
                        }
                        out.insert((topic, (*tp).partition), (*tp).offset);
                    }
                    Ok(out)
                }
            },
        )
        .await
    }
}
