//! REST Proxy v3: consumer groups, their consumers and assignments, and lags.
//!
//! Lags come from the group's committed offsets and the partitions' log end offsets; the
//! member owning a partition is found in the group's description. Each endpoint makes
//! one request per kind of data (list, describe, committed offsets, end offsets), never
//! one per group or partition.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use kgate_kafka::native::groups::{ConsumerGroupDescription, GroupMember};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::RestError;
use crate::v3::resource::{self, V3Result, V3Urls, crn, segment};

/// The consumer_groups routes.
pub fn router() -> Router<AppState> {
    const G: &str = "/v3/clusters/{cluster_id}/consumer-groups";
    Router::new()
        .route(G, get(list_groups))
        .route(&format!("{G}/{{consumer_group_id}}"), get(get_group))
        .route(&format!("{G}/{{consumer_group_id}}/consumers"), get(list_consumers))
        .route(&format!("{G}/{{consumer_group_id}}/consumers/{{consumer_id}}"), get(get_consumer))
        .route(
            &format!("{G}/{{consumer_group_id}}/consumers/{{consumer_id}}/assignments"),
            get(list_assignments),
        )
        .route(
            &format!("{G}/{{consumer_group_id}}/consumers/{{consumer_id}}/assignments/{{topic_name}}/partitions/{{partition_id}}"),
            get(get_assignment),
        )
        .route(&format!("{G}/{{consumer_group_id}}/lags"), get(list_lags))
        .route(
            &format!("{G}/{{consumer_group_id}}/lags/{{topic_name}}/partitions/{{partition_id}}"),
            get(get_lag),
        )
        .route(&format!("{G}/{{consumer_group_id}}/lag-summary"), get(lag_summary))
}

/// Path of a group below the cluster URL.
fn group_path(group: &str) -> String {
    format!("/consumer-groups/{}", segment(group))
}

fn group_json(urls: &V3Urls, cluster: &str, g: &ConsumerGroupDescription) -> Value {
    let path = group_path(&g.group_id);
    let mut v = json!({
        "kind": "KafkaConsumerGroup",
        "metadata": resource::resource_metadata(
            urls.cluster(cluster, &path),
            crn(cluster, &[("consumer-group", &g.group_id)]),
        ),
        "cluster_id": cluster,
        "consumer_group_id": g.group_id,
        "is_simple": g.is_simple,
        "partition_assignor": g.partition_assignor,
        "state": g.state,
        "coordinator": Value::Null,
        "consumers": urls.related(cluster, &format!("{path}/consumers")),
        "lag_summary": urls.related(cluster, &format!("{path}/lag-summary")),
    });
    if let Some(id) = g.coordinator {
        v["coordinator"] = urls.related(cluster, &format!("/brokers/{id}"));
    }
    v
}

fn consumer_json(urls: &V3Urls, cluster: &str, group: &str, m: &GroupMember) -> Value {
    let path = format!(
        "{}/consumers/{}",
        group_path(group),
        segment(&m.consumer_id)
    );
    json!({
        "kind": "KafkaConsumer",
        "metadata": resource::resource_metadata(
            urls.cluster(cluster, &path),
            crn(cluster, &[("consumer-group", group), ("consumer", &m.consumer_id)]),
        ),
        "cluster_id": cluster,
        "consumer_group_id": group,
        "consumer_id": m.consumer_id,
        "instance_id": m.instance_id,
        "client_id": m.client_id,
        "assignments": urls.related(cluster, &format!("{path}/assignments")),
    })
}

fn assignment_json(
    urls: &V3Urls,
    cluster: &str,
    group: &str,
    consumer: &str,
    topic: &str,
    partition: i32,
) -> Value {
    let path = format!(
        "{}/consumers/{}/assignments/{}/partitions/{partition}",
        group_path(group),
        segment(consumer),
        segment(topic)
    );
    json!({
        "kind": "KafkaConsumerAssignment",
        "metadata": resource::resource_metadata(
            urls.cluster(cluster, &path),
            crn(cluster, &[
                ("consumer-group", group),
                ("consumer", consumer),
                ("assignment", topic),
                ("partition", &partition.to_string()),
            ]),
        ),
        "cluster_id": cluster,
        "consumer_group_id": group,
        "consumer_id": consumer,
        "topic_name": topic,
        "partition_id": partition,
        "partition": urls.related(cluster, &format!("/topics/{}/partitions/{partition}", segment(topic))),
        "lag": urls.related(cluster, &format!("{}/lags/{}/partitions/{partition}", group_path(group), segment(topic))),
    })
}

/// 404 with a message naming what is missing.
fn not_found(message: String) -> RestError {
    RestError::ResourceNotFound(message)
}

/// Describes one group; Kafka reports an unknown group as DEAD, which is 404 here.
async fn describe(state: &AppState, group: &str) -> V3Result<ConsumerGroupDescription> {
    let mut described = state
        .kafka
        .describe_consumer_groups(&[group.to_string()])
        .await?;
    let description = described
        .pop()
        .ok_or_else(|| RestError::Internal("empty DescribeConsumerGroups answer".into()))??;
    if description.state == "DEAD" {
        return Err(not_found(format!("Consumer group {group} could not be found.")).into());
    }
    Ok(description)
}

fn member<'a>(
    g: &'a ConsumerGroupDescription,
    consumer: &str,
) -> Result<&'a GroupMember, RestError> {
    g.members
        .iter()
        .find(|m| m.consumer_id == consumer)
        .ok_or_else(|| {
            not_found(format!(
                "Consumer {consumer} could not be found in consumer group {}.",
                g.group_id
            ))
        })
}

/// `GET /consumer-groups`: one ListConsumerGroups and one DescribeConsumerGroups.
async fn list_groups(
    State(state): State<AppState>,
    urls: V3Urls,
    Path(cluster_id): Path<String>,
) -> V3Result<Response> {
    let cluster = resource::check_cluster(&state, &cluster_id).await?;
    let ids: Vec<String> = state
        .kafka
        .list_consumer_groups()
        .await?
        .into_iter()
        .map(|g| g.group_id)
        .collect();
    let described = state.kafka.describe_consumer_groups(&ids).await?;
    let mut data = Vec::with_capacity(described.len());
    for d in described {
        match d {
            // A group that vanished between the two requests is left out.
            Ok(d) if d.state == "DEAD" => {}
            Ok(d) => data.push(group_json(&urls, &cluster, &d)),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(resource::ok(resource::list(
        "KafkaConsumerGroupList",
        urls.cluster(&cluster, "/consumer-groups"),
        data,
    )))
}

/// `GET /consumer-groups/{group}`.
async fn get_group(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, group)): Path<(String, String)>,
) -> V3Result<Response> {
    let cluster = resource::check_cluster(&state, &cluster_id).await?;
    let g = describe(&state, &group).await?;
    Ok(resource::ok(group_json(&urls, &cluster, &g)))
}

/// `GET /consumer-groups/{group}/consumers`.
async fn list_consumers(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, group)): Path<(String, String)>,
) -> V3Result<Response> {
    let cluster = resource::check_cluster(&state, &cluster_id).await?;
    let g = describe(&state, &group).await?;
    let mut members: Vec<&GroupMember> = g.members.iter().collect();
    members.sort_by(|a, b| a.consumer_id.cmp(&b.consumer_id));
    let data = members
        .into_iter()
        .map(|m| consumer_json(&urls, &cluster, &group, m))
        .collect();
    Ok(resource::ok(resource::list(
        "KafkaConsumerList",
        urls.cluster(&cluster, &format!("{}/consumers", group_path(&group))),
        data,
    )))
}

/// `GET /consumer-groups/{group}/consumers/{consumer}`.
async fn get_consumer(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, group, consumer)): Path<(String, String, String)>,
) -> V3Result<Response> {
    let cluster = resource::check_cluster(&state, &cluster_id).await?;
    let g = describe(&state, &group).await?;
    let m = member(&g, &consumer)?;
    Ok(resource::ok(consumer_json(&urls, &cluster, &group, m)))
}

/// `GET /consumer-groups/{group}/consumers/{consumer}/assignments`.
async fn list_assignments(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, group, consumer)): Path<(String, String, String)>,
) -> V3Result<Response> {
    let cluster = resource::check_cluster(&state, &cluster_id).await?;
    let g = describe(&state, &group).await?;
    let m = member(&g, &consumer)?;
    let mut assignment = m.assignment.clone();
    assignment.sort();
    let data = assignment
        .iter()
        .map(|(t, p)| assignment_json(&urls, &cluster, &group, &consumer, t, *p))
        .collect();
    Ok(resource::ok(resource::list(
        "KafkaConsumerAssignmentList",
        urls.cluster(
            &cluster,
            &format!(
                "{}/consumers/{}/assignments",
                group_path(&group),
                segment(&consumer)
            ),
        ),
        data,
    )))
}

/// `GET /consumer-groups/{group}/consumers/{consumer}/assignments/{topic}/partitions/{p}`.
async fn get_assignment(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, group, consumer, topic, partition)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
) -> V3Result<Response> {
    let cluster = resource::check_cluster(&state, &cluster_id).await?;
    let partition = resource::path_id(&partition)?;
    let g = describe(&state, &group).await?;
    let m = member(&g, &consumer)?;
    if !m
        .assignment
        .iter()
        .any(|(t, p)| *t == topic && *p == partition)
    {
        return Err(not_found(format!(
            "Consumer {consumer} is not assigned partition {partition} of topic {topic}."
        ))
        .into());
    }
    Ok(resource::ok(assignment_json(
        &urls, &cluster, &group, &consumer, &topic, partition,
    )))
}

/// The lag of one partition the group committed an offset for.
#[derive(Debug, Clone)]
struct PartitionLag {
    topic: String,
    partition: i32,
    current_offset: i64,
    log_end_offset: i64,
    consumer_id: Option<String>,
    instance_id: Option<String>,
    client_id: Option<String>,
}

impl PartitionLag {
    fn lag(&self) -> i64 {
        (self.log_end_offset - self.current_offset).max(0)
    }
}

/// Every committed partition's lag, sorted by (topic, partition): one describe, one
/// committed-offsets and one end-offsets request.
async fn lags(state: &AppState, group: &str) -> V3Result<Vec<PartitionLag>> {
    let g = describe(state, group).await?;
    let committed = state.kafka.consumer_group_offsets(group).await?;
    let partitions: Vec<(String, i32)> = committed.keys().cloned().collect();
    let ends = state.kafka.end_offsets(&partitions).await?;
    let mut owners: BTreeMap<(&str, i32), &GroupMember> = BTreeMap::new();
    for m in &g.members {
        for (t, p) in &m.assignment {
            owners.insert((t.as_str(), *p), m);
        }
    }
    Ok(committed
        .iter()
        .map(|((topic, partition), offset)| {
            let owner = owners.get(&(topic.as_str(), *partition));
            PartitionLag {
                topic: topic.clone(),
                partition: *partition,
                current_offset: *offset,
                log_end_offset: ends
                    .get(&(topic.clone(), *partition))
                    .copied()
                    .unwrap_or(*offset),
                consumer_id: owner.map(|m| m.consumer_id.clone()),
                instance_id: owner.and_then(|m| m.instance_id.clone()),
                client_id: owner.map(|m| m.client_id.clone()),
            }
        })
        .collect())
}

fn lag_json(urls: &V3Urls, cluster: &str, group: &str, l: &PartitionLag) -> Value {
    let path = format!(
        "{}/lags/{}/partitions/{}",
        group_path(group),
        segment(&l.topic),
        l.partition
    );
    json!({
        "kind": "KafkaConsumerLag",
        "metadata": resource::resource_metadata(
            urls.cluster(cluster, &path),
            crn(cluster, &[
                ("consumer-group", group),
                ("lag", &l.topic),
                ("partition", &l.partition.to_string()),
            ]),
        ),
        "cluster_id": cluster,
        "consumer_group_id": group,
        "topic_name": l.topic,
        "partition_id": l.partition,
        "consumer_id": l.consumer_id.clone().unwrap_or_default(),
        "instance_id": l.instance_id,
        "client_id": l.client_id.clone().unwrap_or_default(),
        "current_offset": l.current_offset,
        "log_end_offset": l.log_end_offset,
        "lag": l.lag(),
    })
}

/// `GET /consumer-groups/{group}/lags`.
async fn list_lags(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, group)): Path<(String, String)>,
) -> V3Result<Response> {
    let cluster = resource::check_cluster(&state, &cluster_id).await?;
    let data = lags(&state, &group)
        .await?
        .iter()
        .map(|l| lag_json(&urls, &cluster, &group, l))
        .collect();
    Ok(resource::ok(resource::list(
        "KafkaConsumerLagList",
        urls.cluster(&cluster, &format!("{}/lags", group_path(&group))),
        data,
    )))
}

/// `GET /consumer-groups/{group}/lags/{topic}/partitions/{partition}`.
async fn get_lag(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, group, topic, partition)): Path<(String, String, String, String)>,
) -> V3Result<Response> {
    let cluster = resource::check_cluster(&state, &cluster_id).await?;
    let partition = resource::path_id(&partition)?;
    let lag = lags(&state, &group)
        .await?
        .into_iter()
        .find(|l| l.topic == topic && l.partition == partition)
        .ok_or_else(|| {
            not_found(format!(
                "Consumer group {group} has no committed offset for partition {partition} of topic {topic}."
            ))
        })?;
    Ok(resource::ok(lag_json(&urls, &cluster, &group, &lag)))
}

/// `GET /consumer-groups/{group}/lag-summary`.
async fn lag_summary(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, group)): Path<(String, String)>,
) -> V3Result<Response> {
    let cluster = resource::check_cluster(&state, &cluster_id).await?;
    let lags = lags(&state, &group).await?;
    let total: i64 = lags.iter().map(PartitionLag::lag).sum();
    // The first partition with the largest lag, in (topic, partition) order.
    let max = lags
        .iter()
        .fold(None::<&PartitionLag>, |best, l| match best {
            Some(b) if b.lag() >= l.lag() => Some(b),
            _ => Some(l),
        });
    let path = format!("{}/lag-summary", group_path(&group));
    let mut v = json!({
        "kind": "KafkaConsumerGroupLagSummary",
        "metadata": resource::resource_metadata(
            urls.cluster(&cluster, &path),
            format!("{}/lag-summary", crn(&cluster, &[("consumer-group", &group)])),
        ),
        "cluster_id": cluster,
        "consumer_group_id": group,
        "max_lag_consumer_id": max.and_then(|l| l.consumer_id.clone()).unwrap_or_default(),
        "max_lag_instance_id": max.and_then(|l| l.instance_id.clone()),
        "max_lag_client_id": max.and_then(|l| l.client_id.clone()).unwrap_or_default(),
        "max_lag_topic_name": max.map(|l| l.topic.clone()).unwrap_or_default(),
        "max_lag_partition_id": max.map_or(0, |l| l.partition),
        "max_lag": max.map_or(0, PartitionLag::lag),
        "total_lag": total,
        "max_lag_consumer": Value::Null,
        "max_lag_partition": Value::Null,
    });
    if let Some(l) = max {
        if let Some(c) = &l.consumer_id {
            v["max_lag_consumer"] = urls.related(
                &cluster,
                &format!("{}/consumers/{}", group_path(&group), segment(c)),
            );
        }
        v["max_lag_partition"] = urls.related(
            &cluster,
            &format!("/topics/{}/partitions/{}", segment(&l.topic), l.partition),
        );
    }
    Ok(resource::ok(v))
}
