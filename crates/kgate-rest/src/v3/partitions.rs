//! REST Proxy v3: partitions, their replicas, reassignments in progress and replica
//! status.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use kgate_kafka::raw::PartitionReassignment;
use kgate_kafka::{PartitionMetadata, TopicMetadata};
use serde_json::{Value, json};

use super::resource::{
    V3Result, V3Urls, check_cluster, crn, list, ok, path_id, resource_metadata, segment,
};
use crate::{AppState, RestError};

/// The partitions routes.
pub fn router() -> Router<AppState> {
    let t = "/v3/clusters/{cluster_id}/topics";
    Router::new()
        .route(
            &format!("{t}/{{topic_name}}/partitions"),
            get(list_partitions),
        )
        .route(
            &format!("{t}/{{topic_name}}/partitions/{{partition_id}}"),
            get(get_partition),
        )
        .route(
            &format!("{t}/{{topic_name}}/partitions/{{partition_id}}/replicas"),
            get(list_replicas),
        )
        .route(
            &format!("{t}/{{topic_name}}/partitions/{{partition_id}}/replicas/{{broker_id}}"),
            get(get_replica),
        )
        .route(
            &format!("{t}/-/partitions/-/reassignment"),
            get(list_all_reassignments),
        )
        .route(
            &format!("{t}/{{topic_name}}/partitions/-/reassignment"),
            get(list_topic_reassignments),
        )
        .route(
            &format!("{t}/{{topic_name}}/partitions/{{partition_id}}/reassignment"),
            get(get_reassignment),
        )
        .route(
            &format!("{t}/-/partitions/-/replica-status"),
            get(list_all_replica_status),
        )
        .route(
            &format!("{t}/{{topic_name}}/partitions/-/replica-status"),
            get(list_topic_replica_status),
        )
        .route(
            &format!("{t}/{{topic_name}}/partitions/{{partition_id}}/replica-status"),
            get(get_partition_replica_status),
        )
}

fn partition_path(topic: &str, partition: i32) -> String {
    format!("/topics/{}/partitions/{partition}", segment(topic))
}

/// One `KafkaPartition` resource.
fn partition_json(urls: &V3Urls, cluster: &str, topic: &str, p: &PartitionMetadata) -> Value {
    let path = partition_path(topic, p.id);
    json!({
        "kind": "KafkaPartition",
        "metadata": resource_metadata(
            urls.cluster(cluster, &path),
            crn(cluster, &[("topic", topic), ("partition", &p.id.to_string())]),
        ),
        "cluster_id": cluster,
        "topic_name": topic,
        "partition_id": p.id,
        "leader": (p.leader >= 0).then(|| urls.related(cluster, &format!("{path}/replicas/{}", p.leader))),
        "replicas": urls.related(cluster, &format!("{path}/replicas")),
        "reassignment": urls.related(cluster, &format!("{path}/reassignment")),
    })
}

/// One `KafkaReplica` resource: `broker` holding a replica of `p`.
pub fn replica_json(
    urls: &V3Urls,
    cluster: &str,
    topic: &str,
    p: &PartitionMetadata,
    broker: i32,
) -> Value {
    let path = partition_path(topic, p.id);
    json!({
        "kind": "KafkaReplica",
        "metadata": resource_metadata(
            urls.cluster(cluster, &format!("{path}/replicas/{broker}")),
            crn(cluster, &[
                ("topic", topic),
                ("partition", &p.id.to_string()),
                ("replica", &broker.to_string()),
            ]),
        ),
        "cluster_id": cluster,
        "topic_name": topic,
        "partition_id": p.id,
        "broker_id": broker,
        "is_leader": p.leader == broker,
        "is_in_sync": p.isr.contains(&broker),
        "broker": urls.related(cluster, &format!("/brokers/{broker}")),
    })
}

/// The topic and, when `partition_id` is given, the partition; unknown ones are 404
/// 40403.
async fn lookup(
    state: &AppState,
    topic: &str,
    partition_id: &str,
) -> V3Result<(TopicMetadata, PartitionMetadata)> {
    let partition = path_id(partition_id)?;
    let p = state.kafka.partition(topic, partition).await?;
    let t = state.kafka.topic(topic).await?;
    Ok((t, p))
}

async fn list_partitions(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, topic)): Path<(String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let t = state.kafka.topic(&topic).await?;
    let data = t
        .partitions
        .iter()
        .map(|p| partition_json(&urls, &cluster, &topic, p))
        .collect();
    Ok(ok(list(
        "KafkaPartitionList",
        urls.cluster(&cluster, &format!("/topics/{}/partitions", segment(&topic))),
        data,
    )))
}

async fn get_partition(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, topic, partition_id)): Path<(String, String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let (_, p) = lookup(&state, &topic, &partition_id).await?;
    Ok(ok(partition_json(&urls, &cluster, &topic, &p)))
}

async fn list_replicas(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, topic, partition_id)): Path<(String, String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let (_, p) = lookup(&state, &topic, &partition_id).await?;
    let data = p
        .replicas
        .iter()
        .map(|b| replica_json(&urls, &cluster, &topic, &p, *b))
        .collect();
    Ok(ok(list(
        "KafkaReplicaList",
        urls.cluster(
            &cluster,
            &format!("{}/replicas", partition_path(&topic, p.id)),
        ),
        data,
    )))
}

async fn get_replica(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, topic, partition_id, broker_id)): Path<(String, String, String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let (_, p) = lookup(&state, &topic, &partition_id).await?;
    let broker = path_id(&broker_id)?;
    if !p.replicas.contains(&broker) {
        return Err(RestError::V3NotFound(format!(
            "Replica on broker {broker} of partition {} of topic {topic} cannot be found.",
            p.id
        ))
        .into());
    }
    Ok(ok(replica_json(&urls, &cluster, &topic, &p, broker)))
}

// ---- reassignments ----

/// One `KafkaReassignment` resource.
fn reassignment_json(urls: &V3Urls, cluster: &str, r: &PartitionReassignment) -> Value {
    let path = partition_path(&r.topic, r.partition);
    json!({
        "kind": "KafkaReassignment",
        "metadata": resource_metadata(
            urls.cluster(cluster, &format!("{path}/reassignment")),
            format!(
                "{}/reassignment",
                crn(cluster, &[("topic", &r.topic), ("partition", &r.partition.to_string())])
            ),
        ),
        "cluster_id": cluster,
        "topic_name": r.topic,
        "partition_id": r.partition,
        "adding_replicas": r.adding_replicas,
        "removing_replicas": r.removing_replicas,
        "replicas": urls.related(cluster, &format!("{path}/replicas")),
    })
}

async fn list_all_reassignments(
    State(state): State<AppState>,
    urls: V3Urls,
    Path(cluster_id): Path<String>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let found = state.kafka.list_partition_reassignments(None).await?;
    let data = found
        .iter()
        .map(|r| reassignment_json(&urls, &cluster, r))
        .collect();
    Ok(ok(list(
        "KafkaReassignmentList",
        urls.cluster(&cluster, "/topics/-/partitions/-/reassignment"),
        data,
    )))
}

async fn list_topic_reassignments(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, topic)): Path<(String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let t = state.kafka.topic(&topic).await?;
    let asked: BTreeMap<String, Vec<i32>> =
        [(topic.clone(), t.partitions.iter().map(|p| p.id).collect())].into();
    let found = state
        .kafka
        .list_partition_reassignments(Some(&asked))
        .await?;
    let data = found
        .iter()
        .filter(|r| r.topic == topic)
        .map(|r| reassignment_json(&urls, &cluster, r))
        .collect();
    Ok(ok(list(
        "KafkaReassignmentList",
        urls.cluster(
            &cluster,
            &format!("/topics/{}/partitions/-/reassignment", segment(&topic)),
        ),
        data,
    )))
}

async fn get_reassignment(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, topic, partition_id)): Path<(String, String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let (_, p) = lookup(&state, &topic, &partition_id).await?;
    let asked: BTreeMap<String, Vec<i32>> = [(topic.clone(), vec![p.id])].into();
    let found = state
        .kafka
        .list_partition_reassignments(Some(&asked))
        .await?;
    let r = found
        .iter()
        .find(|r| r.topic == topic && r.partition == p.id)
        .ok_or_else(|| {
            RestError::V3NotFound(format!(
                "Reassignment of partition {} of topic {topic} cannot be found.",
                p.id
            ))
        })?;
    Ok(ok(reassignment_json(&urls, &cluster, r)))
}

// ---- replica status ----

/// The `KafkaReplicaStatus` of every replica of the given partitions, with offsets from
/// one ListOffsets round per kind (log start, log end).
async fn replica_statuses(
    state: &AppState,
    urls: &V3Urls,
    cluster: &str,
    partitions: &[(String, PartitionMetadata)],
) -> V3Result<Vec<Value>> {
    let keys: Vec<(String, i32)> = partitions
        .iter()
        .filter(|(_, p)| p.leader >= 0)
        .map(|(t, p)| (t.clone(), p.id))
        .collect();
    let offsets = state.kafka.partitions_offsets(&keys).await?;
    // The leader is caught up with itself at the moment it answers, so its times are
    // that moment (KRaft's DescribeQuorum reports its leader the same way). A follower's
    // fetch times live only on its leader and Apache Kafka exposes no request for them:
    // -1, "unknown".
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(-1);
    let mut out = Vec::new();
    for (topic, p) in partitions {
        let o = offsets.get(&(topic.clone(), p.id));
        for &broker in &p.replicas {
            let in_sync = p.isr.contains(&broker);
            // An in-sync replica holds the leader's log; others' positions are unknown
            // without asking each broker.
            let (start, end) = match o {
                Some(o) if in_sync => (o.beginning, o.end),
                _ => (-1, -1),
            };
            let times = if in_sync && p.leader == broker {
                now_ms
            } else {
                -1
            };
            out.push(json!({
                "kind": "KafkaReplicaStatus",
                "metadata": {
                    "self": urls.cluster(cluster, &format!(
                        "{}/brokers/{broker}/replica-status",
                        partition_path(topic, p.id)
                    )),
                },
                "cluster_id": cluster,
                "topic_name": topic,
                "broker_id": broker,
                "partition_id": p.id,
                "is_leader": p.leader == broker,
                "is_observer": false,
                "is_isr_eligible": true,
                "is_in_isr": in_sync,
                "is_caught_up": in_sync,
                "log_start_offset": start,
                "log_end_offset": end,
                "last_caught_up_time_ms": times,
                "last_fetch_time_ms": times,
                "link_name": null,
            }));
        }
    }
    Ok(out)
}

fn status_list(self_url: String, data: Vec<Value>) -> Value {
    json!({
        "kind": "KafkaReplicaStatusList",
        "metadata": { "self": self_url, "resource_name": null },
        "data": data,
    })
}

async fn list_all_replica_status(
    State(state): State<AppState>,
    urls: V3Urls,
    Path(cluster_id): Path<String>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let md = state.kafka.metadata().await?;
    let partitions: Vec<(String, PartitionMetadata)> = md
        .topics
        .values()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.clone())))
        .collect();
    let data = replica_statuses(&state, &urls, &cluster, &partitions).await?;
    Ok(ok(status_list(
        urls.cluster(&cluster, "/topics/-/partitions/-/replica-status"),
        data,
    )))
}

async fn list_topic_replica_status(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, topic)): Path<(String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let t = state.kafka.topic(&topic).await?;
    let partitions: Vec<(String, PartitionMetadata)> = t
        .partitions
        .iter()
        .map(|p| (topic.clone(), p.clone()))
        .collect();
    let data = replica_statuses(&state, &urls, &cluster, &partitions).await?;
    Ok(ok(status_list(
        urls.cluster(
            &cluster,
            &format!("/topics/{}/partitions/-/replica-status", segment(&topic)),
        ),
        data,
    )))
}

async fn get_partition_replica_status(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, topic, partition_id)): Path<(String, String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let (_, p) = lookup(&state, &topic, &partition_id).await?;
    let id = p.id;
    let data = replica_statuses(&state, &urls, &cluster, &[(topic.clone(), p)]).await?;
    Ok(ok(status_list(
        urls.cluster(
            &cluster,
            &format!("{}/replica-status", partition_path(&topic, id)),
        ),
        data,
    )))
}
