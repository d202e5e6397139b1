//! DeleteTopics: remove topics and their data, telling the group coordinator.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};

use super::s;
use crate::state::BrokerState;

/// Answers a DeleteTopics request.
pub fn handle(state: &BrokerState, req: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
    let mut resp = DeleteTopicsResponse::default();
    let names: Vec<(Option<TopicName>, uuid::Uuid)> = if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n), uuid::Uuid::nil()))
            .collect()
    };
    for (name, id) in names {
        let mut out = DeletableTopicResult::default();
        let topic_name = match &name {
            Some(n) => Some(n.as_str().to_string()),
            None => state.topics.get_by_id(id).map(|t| t.name.clone()),
        };
        out.name = name.or_else(|| topic_name.clone().map(|n| TopicName(s(n))));
        if version >= 6 {
            out.topic_id = id;
        }
        let result = if !state.topics.settings().delete_topic_enable {
            Err((
                ResponseError::TopicDeletionDisabled,
                "topic deletion is disabled (delete.topic.enable=false)".to_string(),
            ))
        } else {
            match &topic_name {
                None => Err((
                    ResponseError::UnknownTopicId,
                    format!("no topic has id {id}"),
                )),
                Some(n) => state
                    .topics
                    .delete(n)
                    .map(|()| state.groups.topic_deleted(n))
                    .map_err(|e| (e.error, e.message)),
            }
        };
        if let Err((e, message)) = result {
            out.error_code = e.code();
            if version >= 5 {
                out.error_message = Some(s(message));
            }
        }
        resp.responses.push(out);
    }
    resp
}
