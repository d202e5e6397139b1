//! REST Proxy v3: clusters (`/v3/clusters`, `/v3/clusters/{cluster_id}`).

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use serde_json::{Value, json};

use super::resource::{V3Result, V3Urls, check_cluster, crn, list, ok, resource_metadata};
use crate::AppState;

/// The clusters routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v3/clusters", get(list_clusters))
        .route("/v3/clusters/{cluster_id}", get(get_cluster))
}

/// One `KafkaCluster` resource.
fn cluster_json(urls: &V3Urls, cluster: &str, controller: Option<i32>) -> Value {
    json!({
        "kind": "KafkaCluster",
        "metadata": resource_metadata(urls.cluster(cluster, ""), crn(cluster, &[])),
        "cluster_id": cluster,
        "controller": controller.map(|c| urls.related(cluster, &format!("/brokers/{c}"))),
        "acls": urls.related(cluster, "/acls"),
        "brokers": urls.related(cluster, "/brokers"),
        "broker_configs": urls.related(cluster, "/broker-configs"),
        "consumer_groups": urls.related(cluster, "/consumer-groups"),
        "topics": urls.related(cluster, "/topics"),
        "partition_reassignments": urls.related(cluster, "/topics/-/partitions/-/reassignment"),
    })
}

async fn list_clusters(State(state): State<AppState>, urls: V3Urls) -> V3Result {
    let described = state.kafka.describe_cluster().await?;
    let data = vec![cluster_json(
        &urls,
        &described.cluster_id,
        described.controller,
    )];
    Ok(ok(list("KafkaClusterList", urls.clusters(), data)))
}

async fn get_cluster(
    State(state): State<AppState>,
    urls: V3Urls,
    Path(cluster_id): Path<String>,
) -> V3Result {
    check_cluster(&state, &cluster_id).await?;
    let described = state.kafka.describe_cluster().await?;
    Ok(ok(cluster_json(&urls, &cluster_id, described.controller)))
}
