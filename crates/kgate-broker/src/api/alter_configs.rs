//! AlterConfigs (replace a topic's overrides) and IncrementalAlterConfigs (SET,
//! DELETE, APPEND, SUBTRACT per entry), for topics and for the broker's dynamic
//! configs (resource name = its id, or "" for the cluster-wide default).

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, alter_configs_response, incremental_alter_configs_response,
};
use kafka_protocol::protocol::StrBytes;

use super::s;
use crate::config::{DynamicScope, broker_config, check_dynamic};
use crate::log::defaults::ConfigType;
use crate::state::BrokerState;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

type Outcome = Result<(), (ResponseError, String)>;

/// What an alteration addresses.
enum Target {
    /// A topic, by name.
    Topic(String),
    /// A dynamic level of the broker's own configuration.
    Broker(DynamicScope),
}

fn target_of(
    state: &BrokerState,
    resource_type: i8,
    name: &StrBytes,
) -> Result<Target, (ResponseError, String)> {
    let name = name.as_str();
    match resource_type {
        TOPIC => Ok(Target::Topic(name.to_string())),
        BROKER if name.is_empty() => Ok(Target::Broker(DynamicScope::ClusterDefault)),
        BROKER if name == state.node_id.to_string() => Ok(Target::Broker(DynamicScope::Broker)),
        BROKER => Err((
            ResponseError::InvalidRequest,
            format!("this is broker {}, not broker `{name}`", state.node_id),
        )),
        other => Err((
            ResponseError::InvalidRequest,
            format!("resource type {other} (`{name}`) cannot be configured"),
        )),
    }
}

fn apply(
    state: &BrokerState,
    target: &Target,
    configs: BTreeMap<String, String>,
    validate: bool,
) -> Outcome {
    let result = match target {
        Target::Topic(topic) => state.topics.alter_configs(topic, configs, validate),
        Target::Broker(scope) => state.alter_broker_configs(*scope, configs, validate),
    };
    result.map_err(|e| (e.error, e.message))
}

/// Answers an AlterConfigs request: the resource's overrides (a topic's, or one dynamic
/// level of the broker's) become exactly those given.
pub fn handle(
    state: &BrokerState,
    req: AlterConfigsRequest,
    _version: i16,
) -> AlterConfigsResponse {
    let mut resp = AlterConfigsResponse::default();
    for resource in req.resources {
        let outcome =
            target_of(state, resource.resource_type, &resource.resource_name).and_then(|target| {
                let configs = resource
                    .configs
                    .iter()
                    .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                    .collect();
                apply(state, &target, configs, req.validate_only)
            });
        let mut out = alter_configs_response::AlterConfigsResourceResponse::default();
        out.resource_type = resource.resource_type;
        out.resource_name = resource.resource_name;
        if let Err((e, message)) = outcome {
            out.error_code = e.code();
            out.error_message = Some(s(message));
        }
        resp.responses.push(out);
    }
    resp
}

/// The current overrides of `target`, which incremental operations start from.
fn current(
    state: &BrokerState,
    target: &Target,
) -> Result<BTreeMap<String, String>, (ResponseError, String)> {
    match target {
        Target::Topic(name) => match state.topics.get(name) {
            Some(topic) => Ok(topic.configs.read().clone()),
            None => Err((
                ResponseError::UnknownTopicOrPartition,
                format!("topic `{name}` does not exist"),
            )),
        },
        Target::Broker(scope) => Ok(state.topics.config_levels().dynamic(*scope).clone()),
    }
}

/// Answers an IncrementalAlterConfigs request.
pub fn handle_incremental(
    state: &BrokerState,
    req: IncrementalAlterConfigsRequest,
    _version: i16,
) -> IncrementalAlterConfigsResponse {
    let mut resp = IncrementalAlterConfigsResponse::default();
    for resource in req.resources {
        let outcome =
            target_of(state, resource.resource_type, &resource.resource_name).and_then(|target| {
                let mut configs = current(state, &target)?;
                for c in &resource.configs {
                    let key = c.name.to_string();
                    if let Target::Broker(scope) = target {
                        check_dynamic(&key, scope)
                            .map_err(|m| (ResponseError::InvalidConfig, m))?;
                    }
                    let value = c.value.as_ref().map(|v| v.to_string());
                    edit(&mut configs, key, value, c.config_operation)?;
                }
                apply(state, &target, configs, req.validate_only)
            });
        let mut out = incremental_alter_configs_response::AlterConfigsResourceResponse::default();
        out.resource_type = resource.resource_type;
        out.resource_name = resource.resource_name;
        if let Err((e, message)) = outcome {
            out.error_code = e.code();
            out.error_message = Some(s(message));
        }
        resp.responses.push(out);
    }
    resp
}

/// Applies one incremental operation to a topic's overrides.
fn edit(
    configs: &mut BTreeMap<String, String>,
    key: String,
    value: Option<String>,
    op: i8,
) -> Outcome {
    let broker_def = broker_config(&key);
    let is_list = key == "cleanup.policy"
        || key.ends_with("throttled.replicas")
        || broker_def.is_some_and(|d| matches!(d.kind, ConfigType::List));
    match op {
        SET => match value {
            Some(v) => {
                configs.insert(key, v);
                Ok(())
            }
            None => Err((
                ResponseError::InvalidConfig,
                format!("SET of `{key}` needs a value"),
            )),
        },
        DELETE => {
            configs.remove(&key);
            Ok(())
        }
        APPEND | SUBTRACT if !is_list => Err((
            ResponseError::InvalidConfig,
            format!("`{key}` is not a list, so it cannot be appended to or subtracted from"),
        )),
        APPEND | SUBTRACT => {
            // Kafka starts from the level's value, else the config's default.
            let current = configs.get(&key).cloned().unwrap_or_else(|| {
                if key == "cleanup.policy" {
                    "delete".to_string()
                } else {
                    broker_def.and_then(|d| d.default).unwrap_or("").to_string()
                }
            });
            let mut items: Vec<String> = current
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect();
            let given: Vec<String> = value
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect();
            if op == APPEND {
                for g in given {
                    if !items.contains(&g) {
                        items.push(g);
                    }
                }
            } else {
                items.retain(|i| !given.contains(i));
            }
            configs.insert(key, items.join(","));
            Ok(())
        }
        other => Err((
            ResponseError::InvalidRequest,
            format!("unknown config operation {other}"),
        )),
    }
}
