//! REST Proxy v3: brokers and the partition replicas each one holds.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use kgate_kafka::native::cluster::ClusterNode;
use serde_json::{Value, json};

use super::partitions::replica_json;
use super::resource::{V3Result, V3Urls, check_cluster, crn, list, ok, path_id, resource_metadata};
use crate::{AppState, RestError};

/// The brokers routes.
pub fn router() -> Router<AppState> {
    let c = "/v3/clusters/{cluster_id}";
    Router::new()
        .route(&format!("{c}/brokers"), get(list_brokers))
        .route(
            &format!("{c}/brokers/{{broker_id}}"),
            get(get_broker).delete(super::confluent_server::remove_broker),
        )
        .route(
            &format!("{c}/brokers/{{broker_id}}/partition-replicas"),
            get(list_partition_replicas),
        )
}

/// One `KafkaBroker` resource.
fn broker_json(urls: &V3Urls, cluster: &str, b: &ClusterNode) -> Value {
    json!({
        "kind": "KafkaBroker",
        "metadata": resource_metadata(
            urls.cluster(cluster, &format!("/brokers/{}", b.id)),
            crn(cluster, &[("broker", &b.id.to_string())]),
        ),
        "cluster_id": cluster,
        "broker_id": b.id,
        "host": b.host,
        "port": b.port,
        "rack": b.rack,
        "configs": urls.related(cluster, &format!("/brokers/{}/configs", b.id)),
        "partition_replicas": urls.related(cluster, &format!("/brokers/{}/partition-replicas", b.id)),
    })
}

async fn list_brokers(
    State(state): State<AppState>,
    urls: V3Urls,
    Path(cluster_id): Path<String>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let described = state.kafka.describe_cluster().await?;
    let data = described
        .nodes
        .iter()
        .map(|b| broker_json(&urls, &cluster, b))
        .collect();
    Ok(ok(list(
        "KafkaBrokerList",
        urls.cluster(&cluster, "/brokers"),
        data,
    )))
}

/// The broker with id `broker_id`, or 404 "Broker not found".
async fn find_broker(state: &AppState, cluster: &str, broker_id: &str) -> V3Result<ClusterNode> {
    let id = path_id(broker_id)?;
    let described = state.kafka.describe_cluster().await?;
    described
        .nodes
        .into_iter()
        .find(|n| n.id == id)
        .ok_or_else(|| {
            RestError::BrokerNotFound {
                cluster: cluster.to_string(),
                broker: id,
            }
            .into()
        })
}

async fn get_broker(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, broker_id)): Path<(String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let b = find_broker(&state, &cluster, &broker_id).await?;
    Ok(ok(broker_json(&urls, &cluster, &b)))
}

async fn list_partition_replicas(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, broker_id)): Path<(String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let b = find_broker(&state, &cluster, &broker_id).await?;
    let md = state.kafka.metadata().await?;
    let data = md
        .topics
        .values()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| p.replicas.contains(&b.id))
                .map(|p| replica_json(&urls, &cluster, &t.name, p, b.id))
                .collect::<Vec<_>>()
        })
        .collect();
    Ok(ok(list(
        "KafkaReplicaList",
        urls.cluster(&cluster, &format!("/brokers/{}/partition-replicas", b.id)),
        data,
    )))
}
