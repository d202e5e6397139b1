//! REST Proxy v3: topics (list, create, get, grow, delete).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use kgate_kafka::TopicMetadata;
use kgate_kafka::native::cluster::TopicSpec;
use serde::Deserialize;
use serde_json::{Value, json};

use super::resource::{
    V3Json, V3Result, V3Urls, check_cluster, created, crn, list, no_content, ok, resource_metadata,
    segment,
};
use crate::{AppState, RestError};

/// The topics routes.
pub fn router() -> Router<AppState> {
    let c = "/v3/clusters/{cluster_id}";
    Router::new()
        .route(&format!("{c}/topics"), get(list_topics).post(create_topic))
        .route(
            &format!("{c}/topics/{{topic_name}}"),
            get(get_topic).patch(update_topic).delete(delete_topic),
        )
}

/// Kafka's own topics, which clients must not write to directly.
pub fn is_internal(topic: &str) -> bool {
    matches!(topic, "__consumer_offsets" | "__transaction_state")
}

/// One `KafkaTopic` resource.
fn topic_json(
    urls: &V3Urls,
    cluster: &str,
    name: &str,
    partitions_count: usize,
    replication_factor: usize,
) -> Value {
    let t = segment(name);
    json!({
        "kind": "KafkaTopic",
        "metadata": resource_metadata(
            urls.cluster(cluster, &format!("/topics/{t}")),
            crn(cluster, &[("topic", name)]),
        ),
        "cluster_id": cluster,
        "topic_name": name,
        "is_internal": is_internal(name),
        "replication_factor": replication_factor,
        "partitions_count": partitions_count,
        "partitions": urls.related(cluster, &format!("/topics/{t}/partitions")),
        "configs": urls.related(cluster, &format!("/topics/{t}/configs")),
        "partition_reassignments": urls.related(cluster, &format!("/topics/{t}/partitions/-/reassignment")),
    })
}

fn topic_json_of(urls: &V3Urls, cluster: &str, t: &TopicMetadata) -> Value {
    let replication = t.partitions.first().map_or(0, |p| p.replicas.len());
    topic_json(urls, cluster, &t.name, t.partitions.len(), replication)
}

async fn list_topics(
    State(state): State<AppState>,
    urls: V3Urls,
    Path(cluster_id): Path<String>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let md = state.kafka.metadata().await?;
    let data = md
        .topics
        .values()
        .map(|t| topic_json_of(&urls, &cluster, t))
        .collect();
    Ok(ok(list(
        "KafkaTopicList",
        urls.cluster(&cluster, "/topics"),
        data,
    )))
}

/// One entry of `configs` in a create request.
#[derive(Debug, Deserialize)]
struct ConfigEntry {
    name: String,
    value: Option<String>,
}

/// The body of `POST /topics`.
#[derive(Debug, Deserialize)]
struct CreateTopic {
    topic_name: String,
    #[serde(default, deserialize_with = "crate::json::opt_int")]
    partitions_count: Option<i32>,
    #[serde(default, deserialize_with = "crate::json::opt_int")]
    replication_factor: Option<i32>,
    replicas_assignments: Option<BTreeMap<String, Vec<i32>>>,
    #[serde(default)]
    configs: Vec<ConfigEntry>,
    #[serde(default)]
    validate_only: bool,
}

/// Most partitions one request may add. Larger numbers are refused (400) rather than
/// sent: such a request is almost always a mistake (a typo, `2147483647`), and a cluster
/// busy creating millions of partitions serves nobody meanwhile.
pub const MAX_NEW_PARTITIONS: i32 = 10_000;

/// Checks a requested partition count (`-1`: the cluster's default) for a topic that has
/// `have` partitions now (0 for a new topic), with Kafka's messages.
fn check_partitions_count(count: i32, have: usize) -> Result<(), RestError> {
    let have = i32::try_from(have).unwrap_or(i32::MAX);
    if count <= 0 && !(count == -1 && have == 0) {
        return Err(kgate_kafka::KafkaError::InvalidRequest(format!(
            "Number of partitions must be larger than 0 (or -1 for the cluster's default), not {count}."
        ))
        .into());
    }
    if count.saturating_sub(have) > MAX_NEW_PARTITIONS {
        return Err(kgate_kafka::KafkaError::InvalidRequest(format!(
            "Cannot add {} partitions in one request; kgate adds at most {MAX_NEW_PARTITIONS} at a time.",
            count - have
        ))
        .into());
    }
    Ok(())
}

/// Checks a requested replication factor (`-1`: the cluster's default); the Kafka
/// protocol carries it in 16 bits.
fn check_replication_factor(factor: i32) -> Result<(), RestError> {
    if factor == -1 || (1..=i32::from(i16::MAX)).contains(&factor) {
        return Ok(());
    }
    Err(kgate_kafka::KafkaError::InvalidRequest(format!(
        "Replication factor must be larger than 0 (or -1 for the cluster's default) and at most {}, not {factor}.",
        i16::MAX
    ))
    .into())
}

/// Turns `{"0": [1, 2], "1": [2, 3]}` into replica lists by partition; the partition ids
/// must be 0..n without gaps, as CreateTopics requires.
fn assignments_of(map: BTreeMap<String, Vec<i32>>) -> V3Result<Vec<Vec<i32>>> {
    let mut by_id: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for (k, replicas) in map {
        let id: i32 = k.parse().map_err(|_| {
            RestError::BadRequest(format!(
                "replicas_assignments key {k:?} is not a partition id"
            ))
        })?;
        by_id.insert(id, replicas);
    }
    for (expected, id) in by_id.keys().enumerate() {
        if usize::try_from(*id).ok() != Some(expected) {
            return Err(RestError::BadRequest(
                "replicas_assignments must name partitions 0, 1, 2, ... without gaps".to_string(),
            )
            .into());
        }
    }
    Ok(by_id.into_values().collect())
}

async fn create_topic(
    State(state): State<AppState>,
    urls: V3Urls,
    Path(cluster_id): Path<String>,
    V3Json(body): V3Json<CreateTopic>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    if body.topic_name.is_empty() {
        return Err(RestError::BadRequest("topic_name must not be empty".to_string()).into());
    }
    // Kafka's own checks, made here so a client's mistake is answered 400 before
    // anything reaches the cluster.
    kgate_kafka::validate::check_topic_name(&body.topic_name)?;
    state.check_writable(&body.topic_name)?;
    if let Some(p) = body.partitions_count {
        check_partitions_count(p, 0)?;
    }
    if let Some(r) = body.replication_factor {
        check_replication_factor(r)?;
    }
    let assignments = body.replicas_assignments.map(assignments_of).transpose()?;
    if assignments.is_some()
        && (body.partitions_count.is_some() || body.replication_factor.is_some())
    {
        return Err(RestError::BadRequest(
            "Give either replicas_assignments or partitions_count/replication_factor, not both."
                .to_string(),
        )
        .into());
    }
    let mut configs = BTreeMap::new();
    for c in body.configs {
        match c.value {
            Some(v) => {
                configs.insert(c.name, v);
            }
            None => {
                return Err(
                    RestError::BadRequest(format!("config {} has no value", c.name)).into(),
                );
            }
        }
    }
    let spec = TopicSpec {
        name: body.topic_name.clone(),
        partitions: body.partitions_count.unwrap_or(-1),
        replication_factor: body.replication_factor.unwrap_or(-1),
        assignments: assignments.clone(),
        configs,
        validate_only: body.validate_only,
    };
    state.kafka.create_topic_spec(&spec).await?;
    // What was asked, where given; the cluster's answer for defaults left to it.
    let (mut partitions, mut replication) = match &assignments {
        Some(a) => (a.len(), a.first().map_or(0, Vec::len)),
        None => (
            usize::try_from(spec.partitions).unwrap_or(0),
            usize::try_from(spec.replication_factor).unwrap_or(0),
        ),
    };
    if !body.validate_only && (partitions == 0 || replication == 0) {
        let t = state.kafka.topic(&spec.name).await?;
        partitions = t.partitions.len();
        replication = t.partitions.first().map_or(0, |p| p.replicas.len());
    }
    Ok(created(topic_json(
        &urls,
        &cluster,
        &spec.name,
        partitions,
        replication,
    )))
}

async fn get_topic(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, topic)): Path<(String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let t = state.kafka.topic(&topic).await?;
    Ok(ok(topic_json_of(&urls, &cluster, &t)))
}

/// The body of `PATCH /topics/{t}`.
#[derive(Debug, Deserialize)]
struct UpdateTopic {
    #[serde(deserialize_with = "crate::json::int")]
    partitions_count: i32,
}

async fn update_topic(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, topic)): Path<(String, String)>,
    V3Json(body): V3Json<UpdateTopic>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    state.check_writable(&topic)?;
    let current = state.kafka.topic(&topic).await?;
    let have = current.partitions.len();
    if body.partitions_count > 0 {
        check_partitions_count(body.partitions_count, have)?;
    }
    let want = usize::try_from(body.partitions_count).unwrap_or(0);
    // Kafka can only add partitions; say so plainly rather than relay the broker's code.
    if want == have {
        return Err(kgate_kafka::KafkaError::InvalidRequest(format!(
            "Topic already has {have} partitions."
        ))
        .into());
    }
    if want < have {
        return Err(kgate_kafka::KafkaError::InvalidRequest(format!(
            "Topic currently has {have} partitions, which is higher than the requested {}; \
             the number of partitions can only be increased.",
            body.partitions_count
        ))
        .into());
    }
    state.kafka.create_partitions(&topic, want).await?;
    let t = state.kafka.topic(&topic).await?;
    let replication = t.partitions.first().map_or(0, |p| p.replicas.len());
    Ok(ok(topic_json(
        &urls,
        &cluster,
        &topic,
        want.max(t.partitions.len()),
        replication,
    )))
}

async fn delete_topic(
    State(state): State<AppState>,
    Path((cluster_id, topic)): Path<(String, String)>,
) -> V3Result {
    check_cluster(&state, &cluster_id).await?;
    state.check_writable(&topic)?;
    state.kafka.topic(&topic).await?;
    state.kafka.delete_topic(&topic).await?;
    Ok(no_content())
}
