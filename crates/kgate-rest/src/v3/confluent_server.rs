//! REST Proxy v3 endpoints that only Confluent Server backs (self-balancing, broker
//! removal and tasks, replica exclusions, cells, cluster links and mirrors). They exist
//! as routes so clients get an error naming what is missing rather than a bare 404.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::any;

use super::resource::{V3Result, check_cluster};
use crate::{AppState, RestError};

/// The routes of Confluent Server features, each answering any method.
pub fn router() -> Router<AppState> {
    const BALANCER: &str = "Self-Balancing Clusters (the Confluent Balancer)";
    const TASKS: &str = "broker tasks of the Confluent Balancer";
    const REMOVAL: &str = "broker removal by the Confluent Balancer";
    const EXCLUSIONS: &str = "broker replica exclusions of the Confluent Balancer";
    const CELLS: &str = "cells";
    const LINKS: &str = "Cluster Linking";
    let mut routes: Vec<(&str, &'static str)> = vec![
        ("/balancer", BALANCER),
        ("/balancer/any-uneven-load", BALANCER),
        ("/brokers/-/tasks", TASKS),
        ("/brokers/{broker_id}/tasks", TASKS),
        ("/brokers/-/tasks/{task_type}", TASKS),
        ("/brokers/{broker_id}/tasks/{task_type}", TASKS),
        ("/brokers:delete", REMOVAL),
        ("/remove-broker-tasks", REMOVAL),
        ("/remove-broker-tasks/{broker_id}", REMOVAL),
        ("/broker-replica-exclusions", EXCLUSIONS),
        ("/broker-replica-exclusions/{broker_id}", EXCLUSIONS),
        ("/broker-replica-exclusions:create", EXCLUSIONS),
        ("/broker-replica-exclusions:delete", EXCLUSIONS),
        ("/cells", CELLS),
        ("/links", LINKS),
        ("/links/{link_name}", LINKS),
        ("/links/{link_name}/configs", LINKS),
        ("/links/{link_name}/configs:alter", LINKS),
        ("/links/{link_name}/configs/{config_name}", LINKS),
        ("/links/-/mirrors", LINKS),
        ("/links/{link_name}/mirrors", LINKS),
        ("/links/{link_name}/mirrors/{mirror_topic_name}", LINKS),
    ];
    let actions = [
        "/links/{link_name}/mirrors:promote",
        "/links/{link_name}/mirrors:failover",
        "/links/{link_name}/mirrors:pause",
        "/links/{link_name}/mirrors:resume",
        "/links/{link_name}/mirrors:reverse-and-start-mirror",
        "/links/{link_name}/mirrors:reverse-and-pause-mirror",
        "/links/{link_name}/mirrors:truncate-and-restore",
    ];
    routes.extend(actions.iter().map(|a| (*a, LINKS)));
    let mut router = Router::new();
    for (path, feature) in routes {
        router = router.route(
            &format!("/v3/clusters/{{cluster_id}}{path}"),
            any(move |s: State<AppState>, p: Path<Vec<(String, String)>>| {
                unsupported(s, p, feature)
            }),
        );
    }
    router
}

/// `DELETE /clusters/{c}/brokers/{b}`: broker removal, a Confluent Balancer feature.
pub async fn remove_broker(state: State<AppState>, path: Path<Vec<(String, String)>>) -> V3Result {
    unsupported(state, path, "broker removal by the Confluent Balancer").await
}

/// Answers 400 naming the missing feature, after the usual cluster check.
async fn unsupported(
    State(state): State<AppState>,
    Path(params): Path<Vec<(String, String)>>,
    feature: &'static str,
) -> V3Result {
    if let Some((_, cluster)) = params.iter().find(|(k, _)| k == "cluster_id") {
        check_cluster(&state, cluster).await?;
    }
    Err(RestError::ConfluentServerOnly(format!(
        "{feature} is a Confluent Server feature; kgate fronts an Apache Kafka cluster, which does not offer it."
    ))
    .into())
}
