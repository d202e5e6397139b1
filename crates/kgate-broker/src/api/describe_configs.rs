//! DescribeConfigs for topics and the broker: every documented configuration with its
//! value, source, flags and (on request) synonyms.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::s;
use crate::config::{BROKER_CONFIGS, UpdateMode};
use crate::log::defaults::{ConfigType, Source, TOPIC_CONFIGS};
use crate::state::BrokerState;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

/// One configuration entry before encoding.
struct Entry {
    name: String,
    value: Option<String>,
    source: Source,
    read_only: bool,
    kind: ConfigType,
    /// (name, value, source) from most to least specific.
    synonyms: Vec<(String, String, Source)>,
}

/// Answers a DescribeConfigs request.
pub fn handle(
    state: &BrokerState,
    req: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let mut resp = DescribeConfigsResponse::default();
    for resource in req.resources {
        let mut out = DescribeConfigsResult::default();
        out.resource_type = resource.resource_type;
        out.resource_name = resource.resource_name.clone();
        let entries = match resource.resource_type {
            TOPIC => topic_entries(state, resource.resource_name.as_str()),
            BROKER => {
                let name = resource.resource_name.as_str();
                if name.is_empty() || name == state.node_id.to_string() {
                    Ok(broker_entries(state, !name.is_empty()))
                } else {
                    Err((
                        ResponseError::InvalidRequest,
                        format!("this is broker {}, not broker `{name}`", state.node_id),
                    ))
                }
            }
            other => Err((
                ResponseError::InvalidRequest,
                format!("resource type {other} has no configurations on this broker"),
            )),
        };
        match entries {
            Ok(entries) => {
                let wanted = resource.configuration_keys.as_ref();
                out.configs = entries
                    .into_iter()
                    .filter(|e| wanted.is_none_or(|w| w.iter().any(|k| k.as_str() == e.name)))
                    .map(|e| encode(e, req.include_synonyms, version))
                    .collect();
            }
            Err((error, message)) => {
                out.error_code = error.code();
                out.error_message = Some(s(message));
            }
        }
        resp.results.push(out);
    }
    resp
}

fn encode(e: Entry, include_synonyms: bool, version: i16) -> DescribeConfigsResourceResult {
    let mut r = DescribeConfigsResourceResult::default();
    r.name = s(e.name);
    r.value = e.value.map(s);
    r.read_only = e.read_only;
    r.config_source = e.source as i8;
    r.is_sensitive = false;
    if include_synonyms {
        r.synonyms = e
            .synonyms
            .into_iter()
            .map(|(name, value, source)| {
                let mut syn = DescribeConfigsSynonym::default();
                syn.name = s(name);
                syn.value = Some(s(value));
                syn.source = source as i8;
                syn
            })
            .collect();
    }
    if version >= 3 {
        r.config_type = e.kind as i8;
    }
    r
}

fn topic_entries(state: &BrokerState, name: &str) -> Result<Vec<Entry>, (ResponseError, String)> {
    let Some(topic) = state.topics.get(name) else {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            format!("topic `{name}` does not exist"),
        ));
    };
    let settings = state.topics.settings();
    let levels = state.topics.config_levels();
    let overrides = topic.configs.read().clone();
    Ok(TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(def.name) {
                synonyms.push((def.name.to_string(), v.clone(), Source::Topic));
            }
            let broker = def
                .broker_synonym
                .map(|syn| levels.synonyms(syn, true))
                .unwrap_or_default();
            let has_default = broker.iter().any(|(_, _, s)| *s == Source::Default);
            synonyms.extend(broker);
            if !has_default {
                synonyms.push((
                    def.broker_synonym.unwrap_or(def.name).to_string(),
                    def.default.to_string(),
                    Source::Default,
                ));
            }
            let (_, mut value, source) = synonyms[0].clone();
            // Settings given in minutes or hours are still reported in ms, as Kafka does.
            if source != Source::Topic {
                match def.name {
                    "retention.ms" => value = settings.log.retention_ms.to_string(),
                    "segment.ms" => value = settings.log.segment_ms.to_string(),
                    _ => {}
                }
            }
            Entry {
                name: def.name.to_string(),
                value: Some(value),
                source,
                read_only: false,
                kind: def.kind,
                synonyms,
            }
        })
        .collect())
}

/// The broker's configs: for this broker (`per_broker`) every listed config with its
/// effective value; for the cluster-wide resource "" only the dynamic defaults set.
fn broker_entries(state: &BrokerState, per_broker: bool) -> Vec<Entry> {
    let levels = state.topics.config_levels();
    BROKER_CONFIGS
        .iter()
        .filter(|def| per_broker || levels.default.contains_key(def.name))
        .map(|def| {
            let mut synonyms = levels.synonyms(def.name, per_broker);
            if def.name == "broker.id" || def.name == "node.id" {
                // The id comes from the broker's start-up configuration.
                synonyms = vec![(
                    def.name.to_string(),
                    state.node_id.to_string(),
                    Source::StaticBroker,
                )];
            }
            let (mut value, source) = match synonyms.first() {
                Some((_, v, source)) => (Some(v.clone()), *source),
                None => (None, Source::Default),
            };
            if matches!(def.name, "log.retention.ms" | "log.roll.ms") {
                // As Kafka reports them: a value only where this very key is set; when
                // only its hours synonym is (by default), the value is null and the
                // synonyms say what applies.
                value = synonyms
                    .iter()
                    .find(|(name, _, _)| name == def.name)
                    .map(|(_, v, _)| v.clone());
            }
            Entry {
                name: def.name.to_string(),
                value,
                source,
                read_only: def.mode == UpdateMode::ReadOnly,
                kind: def.kind,
                synonyms,
            }
        })
        .collect()
}
