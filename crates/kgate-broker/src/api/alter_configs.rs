//! AlterConfigs (replace a topic's overrides) and IncrementalAlterConfigs (SET,
//! DELETE, APPEND, SUBTRACT per entry). Broker configuration is static here.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, alter_configs_response, incremental_alter_configs_response,
};
use kafka_protocol::protocol::StrBytes;

use super::s;
use crate::state::BrokerState;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

type Outcome = Result<(), (ResponseError, String)>;

fn check_resource(state: &BrokerState, resource_type: i8, name: &StrBytes) -> Outcome {
    match resource_type {
        TOPIC => Ok(()),
        BROKER => Err((
            ResponseError::InvalidConfig,
            format!(
                "broker {} has static configuration only; set it in the broker's properties",
                state.node_id
            ),
        )),
        other => Err((
            ResponseError::InvalidRequest,
            format!(
                "resource type {other} (`{}`) cannot be configured",
                name.as_str()
            ),
        )),
    }
}

fn apply(
    state: &BrokerState,
    topic: &str,
    configs: BTreeMap<String, String>,
    validate: bool,
) -> Outcome {
    state
        .topics
        .alter_configs(topic, configs, validate)
        .map_err(|e| (e.error, e.message))
}

/// Answers an AlterConfigs request: each topic's overrides become exactly those given.
pub fn handle(
    state: &BrokerState,
    req: AlterConfigsRequest,
    _version: i16,
) -> AlterConfigsResponse {
    let mut resp = AlterConfigsResponse::default();
    for resource in req.resources {
        let outcome = check_resource(state, resource.resource_type, &resource.resource_name)
            .and_then(|()| {
                let configs = resource
                    .configs
                    .iter()
                    .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                    .collect();
                apply(
                    state,
                    resource.resource_name.as_str(),
                    configs,
                    req.validate_only,
                )
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

/// Answers an IncrementalAlterConfigs request.
pub fn handle_incremental(
    state: &BrokerState,
    req: IncrementalAlterConfigsRequest,
    _version: i16,
) -> IncrementalAlterConfigsResponse {
    let mut resp = IncrementalAlterConfigsResponse::default();
    for resource in req.resources {
        let name = resource.resource_name.as_str().to_string();
        let outcome = check_resource(state, resource.resource_type, &resource.resource_name)
            .and_then(|()| {
                let Some(topic) = state.topics.get(&name) else {
                    return Err((
                        ResponseError::UnknownTopicOrPartition,
                        format!("topic `{name}` does not exist"),
                    ));
                };
                let mut configs = topic.configs.read().clone();
                for c in &resource.configs {
                    let key = c.name.to_string();
                    let value = c.value.as_ref().map(|v| v.to_string());
                    edit(&mut configs, key, value, c.config_operation)?;
                }
                apply(state, &name, configs, req.validate_only)
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
    let is_list = key == "cleanup.policy" || key.ends_with("throttled.replicas");
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
            let current = configs.get(&key).cloned().unwrap_or_else(|| {
                if key == "cleanup.policy" {
                    "delete".to_string()
                } else {
                    String::new()
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
