//! Sessions: which sockets each consumer group (and, with producer sessions on, each
//! producer client) has open on which kgate instance, shared by all instances through the
//! `_wsproxy.session.state` topic in the original proxy's record format, so connection
//! limits hold across instances.
//!
//! A change is decided on the state known so far, written, and read back; when another
//! instance's write got there first and the change is not in the state read back, it is
//! decided again on the newer state (and may then hit the limit).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::WsError;
use crate::limits::ClientKind;
use crate::state_topic::{StateTopic, TopicState};

/// How many times a change lost to another instance's write is decided again.
const ATTEMPTS: usize = 10;

/// How long a socket waits for the session state to be read at start-up.
pub const READY_WAIT: Duration = Duration::from_secs(10);

/// One socket in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The consumer's `clientId`, or the producer's `instanceId`.
    pub id: String,
    /// The kgate instance (`ws.server.id`) that holds the socket.
    pub server_id: String,
}

/// The sockets of one consumer group or producer client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Consumer or producer session.
    pub kind: ClientKind,
    /// The group id or producer client id.
    pub id: String,
    /// Most sockets at once; 0 for no limit.
    pub max_connections: u32,
    /// The sockets open now.
    pub instances: Vec<Instance>,
}

impl Session {
    /// The record value the original proxy writes for this session.
    pub fn to_json(&self) -> Value {
        let instances: Vec<Value> = self
            .instances
            .iter()
            .map(|i| match self.kind {
                ClientKind::Consumer => json!({
                    "id": {"groupId": self.id, "clientId": i.id},
                    "serverId": i.server_id,
                    "client_instance_type": "ConsumerInstance",
                }),
                ClientKind::Producer => json!({
                    "id": {"producerId": self.id, "instanceId": i.id},
                    "serverId": i.server_id,
                    "client_instance_type": "ProducerInstance",
                }),
            })
            .collect();
        match self.kind {
            ClientKind::Consumer => json!({
                "sessionId": self.id,
                "groupId": self.id,
                "maxConnections": self.max_connections,
                "instances": instances,
                "session_type": "ConsumerSession",
            }),
            ClientKind::Producer => json!({
                "sessionId": self.id,
                "maxConnections": self.max_connections,
                "instances": instances,
                "session_type": "ProducerSession",
            }),
        }
    }

    /// Reads a session record (the current format, and the original's older consumer-only
    /// format); `None` when it is neither.
    pub fn from_json(value: &Value) -> Option<Session> {
        let obj = value.as_object()?;
        let max = |v: Option<&Value>| {
            v.and_then(Value::as_u64)
                .map(|n| n.min(u32::MAX as u64) as u32)
        };
        if let Some(kind) = obj.get("session_type").and_then(Value::as_str) {
            let kind = match kind {
                "ConsumerSession" => ClientKind::Consumer,
                "ProducerSession" => ClientKind::Producer,
                _ => return None,
            };
            let id = obj.get("sessionId")?.as_str()?.to_string();
            let instances = obj
                .get("instances")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|i| {
                            let inner = i.get("id")?;
                            let id = match kind {
                                ClientKind::Consumer => {
                                    inner.get("clientId")?.as_str()?.to_string()
                                }
                                // A producer without an instance id has none to show.
                                ClientKind::Producer => inner
                                    .get("instanceId")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_string(),
                            };
                            Some(Instance {
                                id,
                                server_id: i.get("serverId")?.as_str()?.to_string(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            return Some(Session {
                kind,
                id,
                max_connections: max(obj.get("maxConnections")).unwrap_or(0),
                instances,
            });
        }
        // The original's first format: consumer sessions only.
        let id = obj.get("consumerGroupId")?.as_str()?.to_string();
        let instances = obj
            .get("consumers")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|c| {
                        Some(Instance {
                            id: c.get("id")?.as_str()?.to_string(),
                            server_id: c.get("serverId")?.as_str()?.to_string(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Session {
            kind: ClientKind::Consumer,
            id,
            max_connections: max(obj.get("consumerLimit")).unwrap_or(0),
            instances,
        })
    }
}

/// Every session, by session id.
#[derive(Debug, Default)]
pub struct SessionState {
    sessions: HashMap<String, Session>,
}

impl TopicState for SessionState {
    fn apply(&mut self, key: &str, value: Option<&[u8]>) {
        match value {
            None => {
                self.sessions.remove(key);
            }
            Some(bytes) => match serde_json::from_slice::<Value>(bytes)
                .ok()
                .as_ref()
                .and_then(Session::from_json)
            {
                Some(session) => {
                    self.sessions.insert(key.to_string(), session);
                }
                None => tracing::warn!(key, "ignoring a session record kgate cannot read"),
            },
        }
    }
}

impl SessionState {
    /// The session `id`, if any.
    pub fn get(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }
}

/// Why a socket could not join its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A socket with the same id is already in the session.
    Exists,
    /// The session has as many sockets as it may.
    LimitReached(u32),
}

/// The sessions of every instance, through the session topic.
pub struct Sessions {
    topic: Arc<StateTopic<SessionState>>,
    server_id: String,
    /// One change at a time from this instance, so it never races itself.
    changes: tokio::sync::Mutex<()>,
    /// Set once the state has been read and this instance's old sockets removed: no
    /// socket joins before that, or the clean-up would remove it too.
    started: tokio::sync::OnceCell<()>,
}

impl Sessions {
    /// Starts reading the session topic.
    pub fn spawn(
        kafka: kgate_kafka::Kafka,
        topic: String,
        replication_factor: i32,
        server_id: String,
    ) -> Arc<Sessions> {
        Arc::new(Sessions {
            topic: StateTopic::spawn(kafka, topic, replication_factor),
            server_id,
            changes: tokio::sync::Mutex::new(()),
            started: tokio::sync::OnceCell::new(),
        })
    }

    /// This instance's id.
    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// The session `id` as known now.
    pub fn get(&self, id: &str) -> Option<Session> {
        self.topic.read(|s| s.get(id).cloned())
    }

    /// Adds the socket `instance_id` to the session `id` of `kind`, whose limit is now
    /// `max_connections` (0: none).
    pub async fn join(
        &self,
        kind: ClientKind,
        id: &str,
        instance_id: &str,
        max_connections: u32,
    ) -> Result<Result<(), Refusal>, WsError> {
        self.start().await?;
        let _one = self.changes.lock().await;
        for _ in 0..ATTEMPTS {
            let mut session = self.get(id).unwrap_or_else(|| Session {
                kind,
                id: id.to_string(),
                max_connections,
                instances: Vec::new(),
            });
            session.kind = kind;
            session.max_connections = max_connections;
            // Producers without an instance id are anonymous, never the same socket.
            let named = !instance_id.is_empty();
            if named && session.instances.iter().any(|i| i.id == instance_id) {
                return Ok(Err(Refusal::Exists));
            }
            if max_connections > 0
                && session.instances.len() as u64 + 1 > u64::from(max_connections)
            {
                return Ok(Err(Refusal::LimitReached(max_connections)));
            }
            session.instances.push(Instance {
                id: instance_id.to_string(),
                server_id: self.server_id.clone(),
            });
            let count_before = self.count_mine(id, instance_id);
            self.topic
                .write(id, Some(session.to_json().to_string().into_bytes()))
                .await?;
            if self.count_mine(id, instance_id) > count_before {
                return Ok(Ok(()));
            }
        }
        Err(WsError::Unavailable(format!(
            "The session {id} changed too often to join it; try again"
        )))
    }

    /// Removes the socket `instance_id` (of this instance) from the session `id`.
    pub async fn leave(&self, id: &str, instance_id: &str) -> Result<(), WsError> {
        self.start().await?;
        let _one = self.changes.lock().await;
        for _ in 0..ATTEMPTS {
            let Some(mut session) = self.get(id) else {
                return Ok(());
            };
            let before = self.count_mine(id, instance_id);
            if before == 0 {
                return Ok(());
            }
            // One entry: anonymous producers share the empty id.
            if let Some(pos) = session
                .instances
                .iter()
                .position(|i| i.id == instance_id && i.server_id == self.server_id)
            {
                session.instances.remove(pos);
            }
            self.topic
                .write(id, Some(session.to_json().to_string().into_bytes()))
                .await?;
            if self.count_mine(id, instance_id) < before {
                return Ok(());
            }
        }
        Err(WsError::Unavailable(format!(
            "The session {id} changed too often to leave it"
        )))
    }

    /// Waits until the state has been read, and removes (once) every socket this
    /// instance left behind when it last stopped without closing them.
    pub async fn start(&self) -> Result<(), WsError> {
        self.started
            .get_or_try_init(|| self.forget_own_sockets())
            .await
            .map(|_| ())
    }

    async fn forget_own_sockets(&self) -> Result<(), WsError> {
        self.topic.ready(READY_WAIT).await?;
        let _one = self.changes.lock().await;
        let stale: Vec<Session> = self.topic.read(|s| {
            s.sessions
                .values()
                .filter(|session| {
                    session
                        .instances
                        .iter()
                        .any(|i| i.server_id == self.server_id)
                })
                .cloned()
                .collect()
        });
        let records = stale
            .into_iter()
            .map(|mut session| {
                session.instances.retain(|i| i.server_id != self.server_id);
                (
                    session.id.clone(),
                    Some(session.to_json().to_string().into_bytes()),
                )
            })
            .collect();
        self.topic.write_all(records).await
    }

    fn count_mine(&self, id: &str, instance_id: &str) -> usize {
        self.topic.read(|s| {
            s.get(id).map_or(0, |session| {
                session
                    .instances
                    .iter()
                    .filter(|i| i.id == instance_id && i.server_id == self.server_id)
                    .count()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_records_round_trip_in_the_original_format() {
        let s = Session {
            kind: ClientKind::Consumer,
            id: "g".into(),
            max_connections: 2,
            instances: vec![Instance {
                id: "c1".into(),
                server_id: "node-1".into(),
            }],
        };
        let v = s.to_json();
        assert_eq!(v["session_type"], "ConsumerSession");
        assert_eq!(v["instances"][0]["id"]["clientId"], "c1");
        assert_eq!(Session::from_json(&v), Some(s));
        let old = json!({"consumerGroupId":"g","consumers":[{"id":"c","serverId":"n"}],"consumerLimit":3});
        let parsed = Session::from_json(&old).expect("old format");
        assert_eq!(parsed.max_connections, 3);
        assert_eq!(parsed.instances[0].id, "c");
    }
}
