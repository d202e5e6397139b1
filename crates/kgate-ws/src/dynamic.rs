//! Dynamic client limits: set through the admin server and kept in the compacted
//! `_wsproxy.dynamic.configs` topic, keyed `consumer-<groupId>` or `producer-<clientId>`
//! as in the original proxy, so every instance on the cluster applies them.
//!
//! The original writes each value as HOCON; kgate writes JSON (which is HOCON too) and
//! reads both JSON and the flat `key = value` HOCON the original writes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::WsError;
use crate::limits::{ClientKind, ClientLimits};
use crate::state_topic::{StateTopic, TopicState};

/// How long an admin request or a socket waits for the dynamic configs to be read at
/// start-up.
const READY_WAIT: Duration = Duration::from_secs(10);

/// The record key of the dynamic limits of `id`.
pub fn record_key(kind: ClientKind, id: &str) -> String {
    format!("{}-{id}", kind.word())
}

/// Every dynamic limit, by record key.
#[derive(Debug, Default)]
pub struct DynamicState {
    configs: BTreeMap<String, (ClientKind, ClientLimits)>,
}

impl TopicState for DynamicState {
    fn apply(&mut self, key: &str, value: Option<&[u8]>) {
        let Some(bytes) = value else {
            self.configs.remove(key);
            return;
        };
        let kind = if key.starts_with("consumer-") {
            ClientKind::Consumer
        } else if key.starts_with("producer-") {
            ClientKind::Producer
        } else {
            tracing::warn!(key, "ignoring a dynamic config record with an unknown key");
            return;
        };
        match parse_value(bytes).and_then(|v| ClientLimits::from_json(kind, &v).ok()) {
            Some(limits) => {
                self.configs.insert(key.to_string(), (kind, limits));
            }
            None => tracing::warn!(key, "ignoring a dynamic config record kgate cannot read"),
        }
    }
}

/// Reads a record value: JSON, else flat HOCON (`key = value` lines, `key: value`, or
/// comma-separated, optionally inside braces).
fn parse_value(bytes: &[u8]) -> Option<Value> {
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        return Some(v);
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let body = text.trim().trim_start_matches('{').trim_end_matches('}');
    let mut obj = Map::new();
    for item in body.split(['\n', ',']) {
        let item = item.trim();
        if item.is_empty() || item.starts_with('#') || item.starts_with("//") {
            continue;
        }
        let (k, v) = item.split_once(['=', ':'])?;
        let k = k.trim().trim_matches('"').to_string();
        let v = v.trim();
        let value = match v.parse::<u64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::from(v.trim_matches('"')),
        };
        obj.insert(k, value);
    }
    Some(Value::Object(obj))
}

/// The dynamic limits, through their topic.
pub struct DynamicConfigs {
    topic: Arc<StateTopic<DynamicState>>,
}

impl DynamicConfigs {
    /// Starts reading the dynamic config topic.
    pub fn spawn(
        kafka: kgate_kafka::Kafka,
        topic: String,
        replication_factor: i32,
    ) -> DynamicConfigs {
        DynamicConfigs {
            topic: StateTopic::spawn(kafka, topic, replication_factor),
        }
    }

    /// Waits until the topic has been read at start-up (or fails with 503).
    pub async fn ready(&self) -> Result<(), WsError> {
        self.topic.ready(READY_WAIT).await
    }

    /// The dynamic limits of `id`, if any.
    pub async fn find(&self, kind: ClientKind, id: &str) -> Result<Option<ClientLimits>, WsError> {
        self.ready().await?;
        let key = record_key(kind, id);
        Ok(self
            .topic
            .read(|s| s.configs.get(&key).map(|(_, limits)| limits.clone())))
    }

    /// Every dynamic limit of `kind`, by id.
    pub async fn all(&self, kind: ClientKind) -> Result<Vec<ClientLimits>, WsError> {
        self.ready().await?;
        Ok(self.topic.read(|s| {
            s.configs
                .values()
                .filter(|(k, _)| *k == kind)
                .map(|(_, limits)| limits.clone())
                .collect()
        }))
    }

    /// Saves (adds or replaces) the dynamic limits of `limits.id`.
    pub async fn save(&self, kind: ClientKind, limits: &ClientLimits) -> Result<(), WsError> {
        self.ready().await?;
        let value = limits.to_json(kind).to_string().into_bytes();
        self.topic
            .write(&record_key(kind, &limits.id), Some(value))
            .await
    }

    /// Removes the dynamic limits of `id`; whether there were any.
    pub async fn remove(&self, kind: ClientKind, id: &str) -> Result<bool, WsError> {
        if self.find(kind, id).await?.is_none() {
            return Ok(false);
        }
        self.topic.write(&record_key(kind, id), None).await?;
        Ok(true)
    }

    /// Removes every dynamic limit.
    pub async fn remove_all(&self) -> Result<(), WsError> {
        self.ready().await?;
        let keys: Vec<String> = self.topic.read(|s| s.configs.keys().cloned().collect());
        self.topic
            .write_all(keys.into_iter().map(|k| (k, None)).collect())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hocon_and_json_values_are_read() {
        let mut s = DynamicState::default();
        s.apply(
            "consumer-g",
            Some(b"group-id = \"g\"\nmax-connections = 4\nmessages-per-second = 400\n"),
        );
        s.apply(
            "producer-p",
            Some(br#"{"producer-id":"p","max-connections":2}"#),
        );
        assert_eq!(s.configs["consumer-g"].1.max_connections, Some(4));
        assert_eq!(s.configs["consumer-g"].1.messages_per_second, Some(400));
        assert_eq!(s.configs["producer-p"].1.max_connections, Some(2));
        s.apply("producer-p", None);
        assert!(!s.configs.contains_key("producer-p"));
    }
}
