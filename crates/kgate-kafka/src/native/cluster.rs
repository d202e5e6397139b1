//! Native admin: the cluster's identity, controller and brokers (DescribeCluster).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::bindings as rd;
use rdkafka::consumer::Consumer;

use super::{admin_call, owned_string};
use crate::{Kafka, KafkaError, REQUEST_TIMEOUT};

/// One broker as DescribeCluster reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// The broker's node id.
    pub id: i32,
    /// Host the broker advertises.
    pub host: String,
    /// Port the broker advertises.
    pub port: u16,
    /// The broker's rack, when it has one.
    pub rack: Option<String>,
}

/// What DescribeCluster tells about the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster id.
    pub cluster_id: String,
    /// Node id of the controller, if the cluster named one.
    pub controller: Option<i32>,
    /// The brokers, sorted by id.
    pub nodes: Vec<ClusterNode>,
}

/// How long a looked-up cluster id is used without looking again (a different cluster may
/// come up behind the same addresses).
const CLUSTER_ID_TTL: Duration = Duration::from_secs(10);

impl Kafka {
    /// The cluster id, as looked up at most 10 s ago: every v3 request
    /// checks it, and a lookup costs a hop to a blocking thread.
    pub async fn cluster_id(&self) -> Result<String, KafkaError> {
        if let Some((id, at)) = &*self.inner.cluster_id.lock()
            && at.elapsed() < CLUSTER_ID_TTL
        {
            return Ok(id.clone());
        }
        self.fresh_cluster_id().await
    }

    /// The cluster id, from the metadata librdkafka already keeps (no request when it is
    /// known); for a caller that found the cached one wrong.
    pub async fn fresh_cluster_id(&self) -> Result<String, KafkaError> {
        let client = Arc::clone(&self.inner.lookup);
        let id =
            tokio::task::spawn_blocking(move || client.client().fetch_cluster_id(REQUEST_TIMEOUT))
                .await
                .map_err(|e| KafkaError::Internal(format!("cluster id task failed: {e}")))?
                .ok_or_else(|| {
                    KafkaError::Timeout("the cluster id is not known yet".to_string())
                })?;
        *self.inner.cluster_id.lock() = Some((id.clone(), Instant::now()));
        Ok(id)
    }

    /// The cluster id, controller and brokers (with racks), in one DescribeCluster request;
    /// clusters older than DescribeCluster (Kafka 2.8) are described from metadata.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription, KafkaError> {
        match self.describe_cluster_request().await {
            Err(KafkaError::Unsupported(_)) => self.describe_cluster_from_metadata().await,
            other => other,
        }
    }

    async fn describe_cluster_from_metadata(&self) -> Result<ClusterDescription, KafkaError> {
        let cluster_id = self.cluster_id().await?;
        let md = self.fresh_metadata().await?;
        let client = Arc::clone(&self.inner.lookup);
        let timeout_ms = i32::try_from(REQUEST_TIMEOUT.as_millis()).unwrap_or(i32::MAX);
        let controller = tokio::task::spawn_blocking(move || {
            // SAFETY: the handle is live while `client` is held.
            unsafe { rd::rd_kafka_controllerid(client.client().native_ptr(), timeout_ms) }
        })
        .await
        .map_err(|e| KafkaError::Internal(format!("controller task failed: {e}")))?;
        Ok(ClusterDescription {
            cluster_id,
            controller: (controller >= 0).then_some(controller),
            nodes: md
                .brokers
                .iter()
                .map(|b| ClusterNode {
                    id: b.id,
                    host: b.host.clone(),
                    port: u16::try_from(b.port).unwrap_or(0),
                    rack: None,
                })
                .collect(),
        })
    }

    async fn describe_cluster_request(&self) -> Result<ClusterDescription, KafkaError> {
        admin_call(
            self,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECLUSTER,
            "describing the cluster",
            |req| {
                // SAFETY: the handles are live for this call (see admin_call).
                unsafe { rd::rd_kafka_DescribeCluster(req.client(), req.options(), req.queue()) };
                Ok(())
            },
            |event| {
                // SAFETY: the event is a live DescribeCluster result; everything read from
                // it is copied before the event is dropped.
                unsafe {
                    let result = rd::rd_kafka_event_DescribeCluster_result(event.ptr());
                    if result.is_null() {
                        return Err(KafkaError::Internal(
                            "DescribeCluster answered with another event".to_string(),
                        ));
                    }
                    let cluster_id =
                        owned_string(rd::rd_kafka_DescribeCluster_result_cluster_id(result))
                            .unwrap_or_default();
                    let controller = rd::rd_kafka_DescribeCluster_result_controller(result);
                    let controller =
                        (!controller.is_null()).then(|| rd::rd_kafka_Node_id(controller));
                    let mut count = 0usize;
                    let nodes_ptr = rd::rd_kafka_DescribeCluster_result_nodes(result, &mut count);
                    let mut nodes = Vec::with_capacity(count);
                    if !nodes_ptr.is_null() {
                        for i in 0..count {
                            let node = *nodes_ptr.add(i);
                            if node.is_null() {
                                continue;
                            }
                            nodes.push(node_of(node));
                        }
                    }
                    nodes.sort_by_key(|n: &ClusterNode| n.id);
                    Ok(ClusterDescription {
                        cluster_id,
                        controller,
                        nodes,
                    })
                }
            },
        )
        .await
    }
}

/// Copies one node.
///
/// # Safety
/// `node` must be a live `rd_kafka_Node_t`.
unsafe fn node_of(node: *const rd::rd_kafka_Node_t) -> ClusterNode {
    // SAFETY: guaranteed by the caller.
    unsafe {
        ClusterNode {
            id: rd::rd_kafka_Node_id(node),
            host: owned_string(rd::rd_kafka_Node_host(node)).unwrap_or_default(),
            port: rd::rd_kafka_Node_port(node),
            rack: owned_string(rd::rd_kafka_Node_rack(node)).filter(|r| !r.is_empty()),
        }
    }
}

/// A topic to create, with everything CreateTopics accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicSpec {
    /// The topic name.
    pub name: String,
    /// Number of partitions; -1 uses the broker's default. Ignored with `assignments`.
    pub partitions: i32,
    /// Replication factor; -1 uses the broker's default. Ignored with `assignments`.
    pub replication_factor: i32,
    /// Replica broker ids per partition (partition 0 first), instead of a count and factor.
    pub assignments: Option<Vec<Vec<i32>>>,
    /// Per-topic configuration overrides.
    pub configs: std::collections::BTreeMap<String, String>,
    /// Only let the broker check the request.
    pub validate_only: bool,
}

impl Kafka {
    /// Creates a topic as `spec` says (or only validates it).
    pub async fn create_topic_spec(&self, spec: &TopicSpec) -> Result<(), KafkaError> {
        use rdkafka::admin::{NewTopic, TopicReplication};
        crate::validate::check_topic_name(&spec.name)?;
        for (k, v) in &spec.configs {
            crate::validate::check_protocol_string("config name", k)?;
            crate::validate::check_protocol_string("config value", v)?;
        }
        let refs: Vec<&[i32]> = spec
            .assignments
            .iter()
            .flatten()
            .map(Vec::as_slice)
            .collect();
        let mut topic = match &spec.assignments {
            Some(a) => NewTopic::new(
                &spec.name,
                i32::try_from(a.len()).unwrap_or(i32::MAX),
                TopicReplication::Variable(&refs),
            ),
            None => NewTopic::new(
                &spec.name,
                spec.partitions,
                TopicReplication::Fixed(spec.replication_factor),
            ),
        };
        for (k, v) in &spec.configs {
            topic = topic.set(k, v);
        }
        let options = crate::admin::options(REQUEST_TIMEOUT).validate_only(spec.validate_only);
        let results = self
            .inner
            .admin
            .create_topics([&topic], &options)
            .await
            .map_err(|e| KafkaError::from_rdkafka(e, &spec.name));
        self.inner.metadata.invalidate();
        for r in results? {
            if let Err((name, code)) = r {
                return Err(KafkaError::from_code(code, &name));
            }
        }
        Ok(())
    }
}

impl Kafka {
    /// Low and high watermarks of each of `partitions`: one ListOffsets round for the
    /// log starts and one for the log ends, however many partitions are asked.
    pub async fn partitions_offsets(
        &self,
        partitions: &[(String, i32)],
    ) -> Result<std::collections::BTreeMap<(String, i32), crate::PartitionOffsets>, KafkaError>
    {
        use rd::rd_kafka_OffsetSpec_t as Spec;
        let mut out = std::collections::BTreeMap::new();
        if partitions.is_empty() {
            return Ok(out);
        }
        let (starts, ends) = futures::future::try_join(
            self.list_offsets(partitions, Spec::RD_KAFKA_OFFSET_SPEC_EARLIEST),
            self.list_offsets(partitions, Spec::RD_KAFKA_OFFSET_SPEC_LATEST),
        )
        .await?;
        for (key, beginning) in starts {
            let end = ends.get(&key).copied().unwrap_or(-1);
            out.insert(key, crate::PartitionOffsets { beginning, end });
        }
        Ok(out)
    }

    /// One ListOffsets round (librdkafka sends one request per leader) for `spec`.
    async fn list_offsets(
        &self,
        partitions: &[(String, i32)],
        spec: rd::rd_kafka_OffsetSpec_t,
    ) -> Result<std::collections::BTreeMap<(String, i32), i64>, KafkaError> {
        let mut asked = Vec::with_capacity(partitions.len());
        for (t, p) in partitions {
            asked.push((super::c_string(t)?, *p));
        }
        let capacity = i32::try_from(asked.len()).unwrap_or(i32::MAX);
        admin_call(
            self,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTOFFSETS,
            "listing offsets",
            move |req| {
                // SAFETY: the list lives until after the call, which copies it; the topic
                // names outlive the adds.
                unsafe {
                    let list = rd::rd_kafka_topic_partition_list_new(capacity);
                    if list.is_null() {
                        return Err(KafkaError::Internal("could not allocate a list".into()));
                    }
                    for (topic, partition) in &asked {
                        let e =
                            rd::rd_kafka_topic_partition_list_add(list, topic.as_ptr(), *partition);
                        if !e.is_null() {
                            (*e).offset = spec as i64;
                        }
                    }
                    rd::rd_kafka_ListOffsets(req.client(), list, req.options(), req.queue());
                    rd::rd_kafka_topic_partition_list_destroy(list);
                }
                Ok(())
            },
            |event| {
                // SAFETY: the event is a live ListOffsets result, copied before it is
                // dropped.
                unsafe {
                    let result = rd::rd_kafka_event_ListOffsets_result(event.ptr());
                    if result.is_null() {
                        return Err(KafkaError::Internal(
                            "ListOffsets answered with another event".to_string(),
                        ));
                    }
                    let mut count = 0usize;
                    let infos = rd::rd_kafka_ListOffsets_result_infos(result, &mut count);
                    let mut out = std::collections::BTreeMap::new();
                    if infos.is_null() {
                        return Ok(out);
                    }
                    for i in 0..count {
                        let info = *infos.add(i);
                        if info.is_null() {
                            continue;
                        }
                        let tp = rd::rd_kafka_ListOffsetsResultInfo_topic_partition(info);
                        if tp.is_null() {
                            continue;
                        }
                        let topic = owned_string((*tp).topic).unwrap_or_default();
                        if let Some(e) = super::code_error((*tp).err, None, &topic) {
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
