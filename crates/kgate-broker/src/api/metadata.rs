//! Metadata: the broker, the cluster id and topics, auto-creating topics when allowed.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use super::s;
use crate::state::BrokerState;
use crate::topics::Topic;

/// Kafka's marker for "authorized operations not requested".
const OPERATIONS_OMITTED: i32 = i32::MIN;

/// Answers a Metadata request.
pub fn handle(state: &BrokerState, req: MetadataRequest, version: i16) -> MetadataResponse {
    let mut resp = MetadataResponse::default();
    let mut broker = MetadataResponseBroker::default();
    broker.node_id = BrokerId(state.node_id);
    broker.host = s(state.advertised_host.clone());
    broker.port = state.advertised_port;
    resp.brokers = vec![broker];
    if version >= 1 {
        resp.controller_id = BrokerId(state.node_id);
    }
    if version >= 2 {
        resp.cluster_id = Some(s(state.cluster_id.clone()));
    }
    if (8..=10).contains(&version) {
        resp.cluster_authorized_operations = OPERATIONS_OMITTED;
    }
    // v0 has no "all topics" null: an empty list means all topics there.
    let all = match &req.topics {
        None => true,
        Some(t) => t.is_empty() && version == 0,
    };
    if all {
        resp.topics = state
            .topics
            .all()
            .iter()
            .map(|t| describe(state, t, version))
            .collect();
        return resp;
    }
    let auto_create = state.topics.settings().auto_create_topics
        && (version < 4 || req.allow_auto_topic_creation);
    for wanted in req.topics.unwrap_or_default() {
        let topic = match wanted.name.as_ref() {
            Some(name) => state.topics.get(name.as_str()),
            None => state.topics.get_by_id(wanted.topic_id),
        };
        let entry = match (topic, wanted.name) {
            (Some(t), _) => describe(state, &t, version),
            (None, Some(name)) => {
                if auto_create {
                    match state
                        .topics
                        .create(name.as_str(), -1, -1, Default::default())
                    {
                        Ok(t) => describe(state, &t, version),
                        // Another request created it meanwhile.
                        Err(_) if let Some(t) = state.topics.get(name.as_str()) => {
                            describe(state, &t, version)
                        }
                        Err(e) => error_topic(Some(name), e.error, version),
                    }
                } else {
                    error_topic(Some(name), ResponseError::UnknownTopicOrPartition, version)
                }
            }
            (None, None) => {
                let mut t = error_topic(None, ResponseError::UnknownTopicId, version);
                t.topic_id = wanted.topic_id;
                t
            }
        };
        resp.topics.push(entry);
    }
    resp
}

fn error_topic(
    name: Option<TopicName>,
    error: ResponseError,
    version: i16,
) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.error_code = error.code();
    t.name = name;
    if version >= 8 {
        t.topic_authorized_operations = OPERATIONS_OMITTED;
    }
    t
}

fn describe(state: &BrokerState, topic: &Topic, version: i16) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.name = Some(TopicName(s(topic.name.clone())));
    if version >= 10 {
        t.topic_id = topic.id;
    }
    if version >= 8 {
        t.topic_authorized_operations = OPERATIONS_OMITTED;
    }
    let node = BrokerId(state.node_id);
    t.partitions = (0..topic.partition_count())
        .map(|p| {
            let mut part = MetadataResponsePartition::default();
            part.partition_index = p;
            part.leader_id = node;
            if version >= 7 {
                // No epoch: clients then skip leader-epoch validation (OffsetForLeaderEpoch),
                // which a single node without leader changes never needs.
                part.leader_epoch = -1;
            }
            part.replica_nodes = vec![node];
            part.isr_nodes = vec![node];
            part
        })
        .collect();
    t
}
