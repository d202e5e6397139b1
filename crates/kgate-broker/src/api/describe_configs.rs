//! DescribeConfigs for topics and the broker: every documented configuration with its
//! value, source, flags and (on request) synonyms.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::s;
use crate::log::defaults::{ConfigType, Source, TOPIC_CONFIGS, broker_value};
use crate::state::BrokerState;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

/// One configuration entry before encoding.
struct Entry {
    name: String,
    value: String,
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
                    Ok(broker_entries(state))
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
    r.value = Some(s(e.value));
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
    let overrides = topic.configs.read().clone();
    Ok(TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(def.name) {
                synonyms.push((def.name.to_string(), v.clone(), Source::Topic));
            }
            if let Some(syn) = def.broker_synonym
                && let Some(v) = broker_value(settings, syn)
            {
                synonyms.push((syn.to_string(), v, Source::StaticBroker));
            }
            synonyms.push((
                def.broker_synonym.unwrap_or(def.name).to_string(),
                def.default.to_string(),
                Source::Default,
            ));
            let (_, value, source) = synonyms[0].clone();
            Entry {
                name: def.name.to_string(),
                value,
                source,
                read_only: false,
                kind: def.kind,
                synonyms,
            }
        })
        .collect())
}

fn broker_entries(state: &BrokerState) -> Vec<Entry> {
    let settings = state.topics.settings();
    let log = &settings.log;
    let fixed = |name: &str, value: String, kind: ConfigType| {
        let source = if settings.explicit.contains_key(name) {
            Source::StaticBroker
        } else {
            Source::Default
        };
        Entry {
            name: name.to_string(),
            value: value.clone(),
            source,
            // Static broker configuration cannot be altered while the broker runs.
            read_only: true,
            kind,
            synonyms: vec![(name.to_string(), value, source)],
        }
    };
    let mut entries = vec![
        fixed(
            "auto.create.topics.enable",
            settings.auto_create_topics.to_string(),
            ConfigType::Boolean,
        ),
        fixed("broker.id", state.node_id.to_string(), ConfigType::Int),
        fixed("compression.type", "producer".into(), ConfigType::String),
        fixed("default.replication.factor", "1".into(), ConfigType::Int),
        fixed(
            "delete.topic.enable",
            settings.delete_topic_enable.to_string(),
            ConfigType::Boolean,
        ),
        fixed(
            "log.cleanup.policy",
            log.cleanup_policy.clone(),
            ConfigType::List,
        ),
        fixed(
            "log.flush.interval.messages",
            if settings.flush_every_append {
                "1"
            } else {
                "9223372036854775807"
            }
            .into(),
            ConfigType::Long,
        ),
        fixed(
            "log.index.interval.bytes",
            log.index_interval_bytes.to_string(),
            ConfigType::Int,
        ),
        fixed(
            "log.message.timestamp.type",
            log.timestamp_type.clone(),
            ConfigType::String,
        ),
        fixed(
            "log.retention.bytes",
            log.retention_bytes.to_string(),
            ConfigType::Long,
        ),
        fixed(
            "log.retention.check.interval.ms",
            settings.retention_check_interval_ms.to_string(),
            ConfigType::Long,
        ),
        fixed(
            "log.retention.ms",
            log.retention_ms.to_string(),
            ConfigType::Long,
        ),
        fixed(
            "log.segment.bytes",
            log.segment_bytes.to_string(),
            ConfigType::Int,
        ),
        fixed(
            "message.max.bytes",
            log.max_message_bytes.to_string(),
            ConfigType::Int,
        ),
        fixed("min.insync.replicas", "1".into(), ConfigType::Int),
        fixed("node.id", state.node_id.to_string(), ConfigType::Int),
        fixed(
            "num.partitions",
            settings.num_partitions.to_string(),
            ConfigType::Int,
        ),
        fixed(
            "offsets.topic.replication.factor",
            "1".into(),
            ConfigType::Short,
        ),
        fixed(
            "socket.request.max.bytes",
            settings.max_request_bytes.to_string(),
            ConfigType::Int,
        ),
        fixed(
            "transaction.state.log.replication.factor",
            "1".into(),
            ConfigType::Short,
        ),
    ];
    // Log retention given in minutes or hours is still reported as ms, from the broker.
    if let Some(e) = entries.iter_mut().find(|e| e.name == "log.retention.ms")
        && broker_value(settings, "log.retention.ms").is_some()
    {
        e.source = Source::StaticBroker;
    }
    entries
}
