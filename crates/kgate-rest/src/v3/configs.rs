//! REST Proxy v3: configs of the cluster (dynamic broker defaults), of brokers and of
//! topics: list, get, set, reset and batch alter.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use kgate_kafka::native::configs::{ConfigChange, ConfigEntry, ConfigResource};
use kgate_kafka::{ConfigValueSource, KafkaError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::resource::{
    V3Json, V3Result, V3Urls, check_cluster, crn, list, no_content, ok, path_id, resource_metadata,
    segment,
};
use crate::{AppState, RestError};

/// The configs routes.
pub fn router() -> Router<AppState> {
    let c = "/v3/clusters/{cluster_id}";
    Router::new()
        .route(&format!("{c}/broker-configs"), get(list_cluster_configs))
        .route(
            &format!("{c}/broker-configs/{{name}}"),
            get(get_cluster_config)
                .put(put_cluster_config)
                .delete(delete_cluster_config),
        )
        .route(
            &format!("{c}/broker-configs:alter"),
            post(alter_cluster_configs),
        )
        .route(
            &format!("{c}/brokers/-/configs"),
            get(list_all_broker_configs),
        )
        .route(
            &format!("{c}/brokers/{{broker_id}}/configs"),
            get(list_broker_configs),
        )
        .route(
            &format!("{c}/brokers/{{broker_id}}/configs/{{name}}"),
            get(get_broker_config)
                .put(put_broker_config)
                .delete(delete_broker_config),
        )
        .route(
            &format!("{c}/brokers/{{broker_id}}/configs:alter"),
            post(alter_broker_configs),
        )
        .route(
            &format!("{c}/topics/-/configs"),
            get(list_all_topic_configs),
        )
        .route(
            &format!("{c}/topics/{{topic_name}}/configs"),
            get(list_topic_configs),
        )
        .route(
            &format!("{c}/topics/{{topic_name}}/default-configs"),
            get(list_topic_default_configs),
        )
        .route(
            &format!("{c}/topics/{{topic_name}}/configs/{{name}}"),
            get(get_topic_config)
                .put(put_topic_config)
                .delete(delete_topic_config),
        )
        .route(
            &format!("{c}/topics/{{topic_name}}/configs:alter"),
            post(alter_topic_configs),
        )
}

/// Kafka's name of a config source, as v3 reports it.
pub fn source_name(source: ConfigValueSource) -> &'static str {
    match source {
        ConfigValueSource::DynamicTopic => "DYNAMIC_TOPIC_CONFIG",
        ConfigValueSource::DynamicBroker => "DYNAMIC_BROKER_CONFIG",
        ConfigValueSource::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        ConfigValueSource::StaticBroker => "STATIC_BROKER_CONFIG",
        ConfigValueSource::Default => "DEFAULT_CONFIG",
        ConfigValueSource::Unknown => "UNKNOWN",
    }
}

/// Whose configuration a JSON entry describes.
enum Owner<'a> {
    Cluster,
    Broker(i32),
    Topic(&'a str),
}

/// One config resource (`KafkaClusterConfig`, `KafkaBrokerConfig` or `KafkaTopicConfig`).
fn config_json(urls: &V3Urls, cluster: &str, owner: &Owner<'_>, e: &ConfigEntry) -> Value {
    let synonyms: Vec<Value> = e
        .synonyms
        .iter()
        .map(|s| json!({ "name": s.name, "value": s.value, "source": source_name(s.source) }))
        .collect();
    let mut v = json!({
        "cluster_id": cluster,
        "name": e.name,
        "value": if e.is_sensitive { None } else { e.value.clone() },
        "is_default": e.is_default,
        "is_read_only": e.is_read_only,
        "is_sensitive": e.is_sensitive,
        "source": source_name(e.source),
        "synonyms": synonyms,
    });
    let name = segment(&e.name);
    let (kind, self_url, resource_name) = match owner {
        Owner::Cluster => {
            v["config_type"] = json!("BROKER");
            (
                "KafkaClusterConfig",
                urls.cluster(cluster, &format!("/broker-configs/{name}")),
                crn(cluster, &[("broker-config", &e.name)]),
            )
        }
        Owner::Broker(b) => {
            v["broker_id"] = json!(b);
            (
                "KafkaBrokerConfig",
                urls.cluster(cluster, &format!("/brokers/{b}/configs/{name}")),
                crn(cluster, &[("broker", &b.to_string()), ("config", &e.name)]),
            )
        }
        Owner::Topic(t) => {
            v["topic_name"] = json!(t);
            (
                "KafkaTopicConfig",
                urls.cluster(cluster, &format!("/topics/{}/configs/{name}", segment(t))),
                crn(cluster, &[("topic", t), ("config", &e.name)]),
            )
        }
    };
    v["kind"] = json!(kind);
    v["metadata"] = resource_metadata(self_url, resource_name);
    v
}

/// A config name that no entry of the resource has (404).
fn config_not_found(name: &str, owner: &Owner<'_>) -> RestError {
    let what = match owner {
        Owner::Cluster => "the cluster".to_string(),
        Owner::Broker(b) => format!("broker {b}"),
        Owner::Topic(t) => format!("topic {t}"),
    };
    RestError::V3NotFound(format!("Config {name} cannot be found for {what}."))
}

/// Fails with 404 unless `broker` is one of the cluster's brokers.
async fn check_broker(state: &AppState, cluster: &str, broker: i32) -> V3Result<()> {
    let md = state.kafka.metadata().await?;
    if md.brokers.iter().any(|b| b.id == broker) {
        return Ok(());
    }
    let md = state.kafka.fresh_metadata().await?;
    if md.brokers.iter().any(|b| b.id == broker) {
        Ok(())
    } else {
        Err(RestError::BrokerNotFound {
            cluster: cluster.to_string(),
            broker,
        }
        .into())
    }
}

/// The entries of one resource.
async fn describe_one(state: &AppState, resource: ConfigResource) -> V3Result<Vec<ConfigEntry>> {
    let answer = state
        .kafka
        .describe_configs(std::slice::from_ref(&resource))
        .await?
        .into_iter()
        .next()
        .unwrap_or_else(|| Err(KafkaError::Internal("empty configs answer".to_string())))?;
    Ok(answer)
}

/// The cluster-wide dynamic defaults only: the broker resource "" also answers static
/// and default values on some brokers, which are not cluster configs.
async fn cluster_entries(state: &AppState) -> V3Result<Vec<ConfigEntry>> {
    Ok(describe_one(state, ConfigResource::BrokerDefaults)
        .await?
        .into_iter()
        .filter(|e| e.source == ConfigValueSource::DynamicDefaultBroker)
        .collect())
}

/// The request body of `PUT .../configs/{name}`.
#[derive(Debug, Deserialize)]
struct UpdateConfig {
    value: Option<String>,
}

/// One entry of a `configs:alter` body.
#[derive(Debug, Deserialize)]
struct AlterEntry {
    name: String,
    value: Option<String>,
    operation: Option<String>,
}

/// The request body of `configs:alter`.
#[derive(Debug, Deserialize)]
struct AlterConfigs {
    data: Vec<AlterEntry>,
    #[serde(default)]
    validate_only: bool,
}

fn changes_of(body: AlterConfigs) -> V3Result<(Vec<ConfigChange>, bool)> {
    let mut changes = Vec::with_capacity(body.data.len());
    for e in body.data {
        let op = e.operation.as_deref().unwrap_or("SET").to_ascii_uppercase();
        changes.push(match op.as_str() {
            "SET" => ConfigChange::Set {
                value: e.value.unwrap_or_default(),
                name: e.name,
            },
            "DELETE" => ConfigChange::Delete { name: e.name },
            other => {
                return Err(RestError::BadRequest(format!(
                    "Unknown config operation {other}; use SET or DELETE."
                ))
                .into());
            }
        });
    }
    Ok((changes, body.validate_only))
}

fn set(name: String, body: UpdateConfig) -> ConfigChange {
    ConfigChange::Set {
        name,
        value: body.value.unwrap_or_default(),
    }
}

// ---- cluster-wide broker configs ----

async fn list_cluster_configs(
    State(state): State<AppState>,
    urls: V3Urls,
    Path(cluster_id): Path<String>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let data = cluster_entries(&state)
        .await?
        .iter()
        .map(|e| config_json(&urls, &cluster, &Owner::Cluster, e))
        .collect();
    Ok(ok(list(
        "KafkaClusterConfigList",
        urls.cluster(&cluster, "/broker-configs"),
        data,
    )))
}

async fn get_cluster_config(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, name)): Path<(String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let entries = cluster_entries(&state).await?;
    let e = entries
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| config_not_found(&name, &Owner::Cluster))?;
    Ok(ok(config_json(&urls, &cluster, &Owner::Cluster, e)))
}

async fn put_cluster_config(
    State(state): State<AppState>,
    Path((cluster_id, name)): Path<(String, String)>,
    V3Json(body): V3Json<UpdateConfig>,
) -> V3Result {
    check_cluster(&state, &cluster_id).await?;
    let change = set(name, body);
    state
        .kafka
        .alter_configs(&ConfigResource::BrokerDefaults, &[change], false)
        .await?;
    Ok(no_content())
}

async fn delete_cluster_config(
    State(state): State<AppState>,
    Path((cluster_id, name)): Path<(String, String)>,
) -> V3Result {
    check_cluster(&state, &cluster_id).await?;
    state
        .kafka
        .alter_configs(
            &ConfigResource::BrokerDefaults,
            &[ConfigChange::Delete { name }],
            false,
        )
        .await?;
    Ok(no_content())
}

async fn alter_cluster_configs(
    State(state): State<AppState>,
    Path(cluster_id): Path<String>,
    V3Json(body): V3Json<AlterConfigs>,
) -> V3Result {
    check_cluster(&state, &cluster_id).await?;
    let (changes, validate_only) = changes_of(body)?;
    state
        .kafka
        .alter_configs(&ConfigResource::BrokerDefaults, &changes, validate_only)
        .await?;
    Ok(no_content())
}

// ---- broker configs ----

async fn list_all_broker_configs(
    State(state): State<AppState>,
    urls: V3Urls,
    Path(cluster_id): Path<String>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let md = state.kafka.metadata().await?;
    let resources: Vec<ConfigResource> = md
        .brokers
        .iter()
        .map(|b| ConfigResource::Broker(b.id))
        .collect();
    let answers = state.kafka.describe_configs(&resources).await?;
    let mut data = Vec::new();
    for (b, answer) in md.brokers.iter().zip(answers) {
        for e in answer? {
            data.push(config_json(&urls, &cluster, &Owner::Broker(b.id), &e));
        }
    }
    Ok(ok(list(
        "KafkaBrokerConfigList",
        urls.cluster(&cluster, "/brokers/-/configs"),
        data,
    )))
}

async fn list_broker_configs(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, broker_id)): Path<(String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let broker = path_id(&broker_id)?;
    check_broker(&state, &cluster, broker).await?;
    let data = describe_one(&state, ConfigResource::Broker(broker))
        .await?
        .iter()
        .map(|e| config_json(&urls, &cluster, &Owner::Broker(broker), e))
        .collect();
    Ok(ok(list(
        "KafkaBrokerConfigList",
        urls.cluster(&cluster, &format!("/brokers/{broker}/configs")),
        data,
    )))
}

async fn get_broker_config(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, broker_id, name)): Path<(String, String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let broker = path_id(&broker_id)?;
    check_broker(&state, &cluster, broker).await?;
    let entries = describe_one(&state, ConfigResource::Broker(broker)).await?;
    let owner = Owner::Broker(broker);
    let e = entries
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| config_not_found(&name, &owner))?;
    Ok(ok(config_json(&urls, &cluster, &owner, e)))
}

async fn put_broker_config(
    State(state): State<AppState>,
    Path((cluster_id, broker_id, name)): Path<(String, String, String)>,
    V3Json(body): V3Json<UpdateConfig>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let broker = path_id(&broker_id)?;
    check_broker(&state, &cluster, broker).await?;
    state
        .kafka
        .alter_configs(&ConfigResource::Broker(broker), &[set(name, body)], false)
        .await?;
    Ok(no_content())
}

async fn delete_broker_config(
    State(state): State<AppState>,
    Path((cluster_id, broker_id, name)): Path<(String, String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let broker = path_id(&broker_id)?;
    check_broker(&state, &cluster, broker).await?;
    state
        .kafka
        .alter_configs(
            &ConfigResource::Broker(broker),
            &[ConfigChange::Delete { name }],
            false,
        )
        .await?;
    Ok(no_content())
}

async fn alter_broker_configs(
    State(state): State<AppState>,
    Path((cluster_id, broker_id)): Path<(String, String)>,
    V3Json(body): V3Json<AlterConfigs>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let broker = path_id(&broker_id)?;
    check_broker(&state, &cluster, broker).await?;
    let (changes, validate_only) = changes_of(body)?;
    state
        .kafka
        .alter_configs(&ConfigResource::Broker(broker), &changes, validate_only)
        .await?;
    Ok(no_content())
}

// ---- topic configs ----

async fn topic_entries(state: &AppState, topic: &str) -> V3Result<Vec<ConfigEntry>> {
    // DescribeConfigs on a missing topic answers differently across brokers; metadata
    // gives one clear "not found".
    state.kafka.topic(topic).await?;
    describe_one(state, ConfigResource::Topic(topic.to_string())).await
}

async fn list_all_topic_configs(
    State(state): State<AppState>,
    urls: V3Urls,
    Path(cluster_id): Path<String>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let md = state.kafka.metadata().await?;
    let names: Vec<&String> = md.topics.keys().collect();
    let resources: Vec<ConfigResource> = names
        .iter()
        .map(|t| ConfigResource::Topic((*t).clone()))
        .collect();
    let answers = state.kafka.describe_configs(&resources).await?;
    let mut data = Vec::new();
    for (topic, answer) in names.into_iter().zip(answers) {
        match answer {
            Ok(entries) => {
                data.extend(
                    entries
                        .iter()
                        .map(|e| config_json(&urls, &cluster, &Owner::Topic(topic), e)),
                );
            }
            // Deleted between the metadata and the configs request: no longer listed.
            Err(KafkaError::TopicNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ok(list(
        "KafkaTopicConfigList",
        urls.cluster(&cluster, "/topics/-/configs"),
        data,
    )))
}

async fn list_topic_configs(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, topic)): Path<(String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let data = topic_entries(&state, &topic)
        .await?
        .iter()
        .map(|e| config_json(&urls, &cluster, &Owner::Topic(&topic), e))
        .collect();
    Ok(ok(list(
        "KafkaTopicConfigList",
        urls.cluster(&cluster, &format!("/topics/{}/configs", segment(&topic))),
        data,
    )))
}

/// What each config of `topic` would be without the topic's own overrides: the first
/// synonym below the topic level.
async fn list_topic_default_configs(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, topic)): Path<(String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let data = topic_entries(&state, &topic)
        .await?
        .into_iter()
        .map(|mut e| {
            let below: Vec<_> = e
                .synonyms
                .iter()
                .filter(|s| s.source != ConfigValueSource::DynamicTopic)
                .cloned()
                .collect();
            if e.source == ConfigValueSource::DynamicTopic {
                if let Some(first) = below.first() {
                    e.value = first.value.clone();
                    e.source = first.source;
                }
                e.is_default = e.source == ConfigValueSource::Default;
            }
            e.synonyms = below;
            config_json(&urls, &cluster, &Owner::Topic(&topic), &e)
        })
        .collect();
    Ok(ok(list(
        "KafkaTopicConfigList",
        urls.cluster(
            &cluster,
            &format!("/topics/{}/default-configs", segment(&topic)),
        ),
        data,
    )))
}

async fn get_topic_config(
    State(state): State<AppState>,
    urls: V3Urls,
    Path((cluster_id, topic, name)): Path<(String, String, String)>,
) -> V3Result {
    let cluster = check_cluster(&state, &cluster_id).await?;
    let entries = topic_entries(&state, &topic).await?;
    let owner = Owner::Topic(&topic);
    let e = entries
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| config_not_found(&name, &owner))?;
    Ok(ok(config_json(&urls, &cluster, &owner, e)))
}

async fn put_topic_config(
    State(state): State<AppState>,
    Path((cluster_id, topic, name)): Path<(String, String, String)>,
    V3Json(body): V3Json<UpdateConfig>,
) -> V3Result {
    check_cluster(&state, &cluster_id).await?;
    state.check_writable(&topic)?;
    state.kafka.topic(&topic).await?;
    state
        .kafka
        .alter_configs(&ConfigResource::Topic(topic), &[set(name, body)], false)
        .await?;
    Ok(no_content())
}

async fn delete_topic_config(
    State(state): State<AppState>,
    Path((cluster_id, topic, name)): Path<(String, String, String)>,
) -> V3Result {
    check_cluster(&state, &cluster_id).await?;
    state.check_writable(&topic)?;
    state.kafka.topic(&topic).await?;
    state
        .kafka
        .alter_configs(
            &ConfigResource::Topic(topic),
            &[ConfigChange::Delete { name }],
            false,
        )
        .await?;
    Ok(no_content())
}

async fn alter_topic_configs(
    State(state): State<AppState>,
    Path((cluster_id, topic)): Path<(String, String)>,
    V3Json(body): V3Json<AlterConfigs>,
) -> V3Result {
    check_cluster(&state, &cluster_id).await?;
    state.check_writable(&topic)?;
    state.kafka.topic(&topic).await?;
    let (changes, validate_only) = changes_of(body)?;
    state
        .kafka
        .alter_configs(&ConfigResource::Topic(topic), &changes, validate_only)
        .await?;
    Ok(no_content())
}
