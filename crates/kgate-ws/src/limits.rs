//! Per-client limits (connections, messages per second, batch size): static ones from the
//! configuration, dynamic ones from the admin server, in the JSON shapes of the original
//! proxy, and the rate limiter a socket paces itself with.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::config::DEFAULT_CLIENT;

/// Which kind of client a limit is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// `/socket/in` clients, by `clientId`.
    Producer,
    /// `/socket/out` clients, by `groupId`.
    Consumer,
}

impl ClientKind {
    /// The JSON field naming the client (`producer-id` or `group-id`).
    pub fn id_field(self) -> &'static str {
        match self {
            ClientKind::Producer => "producer-id",
            ClientKind::Consumer => "group-id",
        }
    }

    /// The word used in keys and messages (`producer` or `consumer`).
    pub fn word(self) -> &'static str {
        match self {
            ClientKind::Producer => "producer",
            ClientKind::Consumer => "consumer",
        }
    }
}

/// The limits of one client id (or of [`DEFAULT_CLIENT`]); `None` where not set, 0 for
/// unlimited.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientLimits {
    /// The producer's `clientId` or the consumer's `groupId`.
    pub id: String,
    /// Most sockets open at once for this id.
    pub max_connections: Option<u32>,
    /// Most records per second through one socket.
    pub messages_per_second: Option<u32>,
    /// Consumers only: most records taken from Kafka at a time.
    pub batch_size: Option<u32>,
}

impl ClientLimits {
    /// No limits set yet for `id`.
    pub fn for_id(id: &str) -> ClientLimits {
        ClientLimits {
            id: id.to_string(),
            ..ClientLimits::default()
        }
    }

    /// The JSON the admin server shows (fields not set are left out).
    pub fn to_json(&self, kind: ClientKind) -> Value {
        let mut m = Map::new();
        if let (ClientKind::Consumer, Some(b)) = (kind, self.batch_size) {
            m.insert("batch-size".into(), json!(b));
        }
        m.insert(kind.id_field().into(), json!(self.id));
        if let Some(n) = self.max_connections {
            m.insert("max-connections".into(), json!(n));
        }
        if let Some(n) = self.messages_per_second {
            m.insert("messages-per-second".into(), json!(n));
        }
        Value::Object(m)
    }

    /// Reads the admin server's JSON for `kind`; the error says what is wrong.
    pub fn from_json(kind: ClientKind, value: &Value) -> Result<ClientLimits, String> {
        let obj = value
            .as_object()
            .ok_or_else(|| "expected a JSON object".to_string())?;
        let id = obj
            .get(kind.id_field())
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("`{}` is missing", kind.id_field()))?;
        let number = |field: &str| -> Result<Option<u32>, String> {
            match obj.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .map(Some)
                    .ok_or_else(|| format!("`{field}` must be a whole number, 0 for unlimited")),
            }
        };
        let allowed: &[&str] = match kind {
            ClientKind::Producer => &["producer-id", "max-connections", "messages-per-second"],
            ClientKind::Consumer => &[
                "group-id",
                "max-connections",
                "messages-per-second",
                "batch-size",
            ],
        };
        if let Some(other) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!("unknown field `{other}`"));
        }
        Ok(ClientLimits {
            id: id.to_string(),
            max_connections: number("max-connections")?,
            messages_per_second: number("messages-per-second")?,
            batch_size: match kind {
                ClientKind::Consumer => number("batch-size")?,
                ClientKind::Producer => None,
            },
        })
    }

    /// Fills the limits not set here from `fallback`.
    fn or(&self, fallback: Option<&ClientLimits>) -> ClientLimits {
        let Some(f) = fallback else {
            return self.clone();
        };
        ClientLimits {
            id: self.id.clone(),
            max_connections: self.max_connections.or(f.max_connections),
            messages_per_second: self.messages_per_second.or(f.messages_per_second),
            batch_size: self.batch_size.or(f.batch_size),
        }
    }
}

/// Limits from the configuration, by client id.
#[derive(Debug, Clone, Default)]
pub struct StaticLimits {
    /// `ws.producer.limits.<clientId>.*`.
    pub producers: BTreeMap<String, ClientLimits>,
    /// `ws.consumer.limits.<groupId>.*`.
    pub consumers: BTreeMap<String, ClientLimits>,
}

impl StaticLimits {
    /// The configured limits of `kind`.
    pub fn of(&self, kind: ClientKind) -> &BTreeMap<String, ClientLimits> {
        match kind {
            ClientKind::Producer => &self.producers,
            ClientKind::Consumer => &self.consumers,
        }
    }

    /// What the admin server lists as static: the defaults (all 0 unless configured)
    /// first, then every configured id.
    pub fn listed(&self, kind: ClientKind) -> Vec<ClientLimits> {
        let configured = self.of(kind);
        let zero = Some(0);
        let default = ClientLimits {
            id: DEFAULT_CLIENT.to_string(),
            max_connections: zero,
            messages_per_second: zero,
            batch_size: match kind {
                ClientKind::Consumer => zero,
                ClientKind::Producer => None,
            },
        };
        let default = match configured.get(DEFAULT_CLIENT) {
            Some(c) => c.or(Some(&default)),
            None => default,
        };
        std::iter::once(default)
            .chain(
                configured
                    .values()
                    .filter(|c| c.id != DEFAULT_CLIENT)
                    .cloned(),
            )
            .collect()
    }

    /// The static limits of `id` alone (no defaults), if configured.
    pub fn find(&self, kind: ClientKind, id: &str) -> Option<&ClientLimits> {
        self.of(kind).get(id)
    }

    /// The limits in force for `id`: `dynamic` (from the admin server) over the id's
    /// static limits, over the static defaults; what none sets is 0 (unlimited).
    pub fn effective(
        &self,
        kind: ClientKind,
        id: &str,
        dynamic: Option<&ClientLimits>,
    ) -> EffectiveLimits {
        let own = ClientLimits::for_id(id);
        let merged = own
            .or(dynamic)
            .or(self.of(kind).get(id))
            .or(self.of(kind).get(DEFAULT_CLIENT));
        EffectiveLimits {
            max_connections: merged.max_connections.unwrap_or(0),
            messages_per_second: merged.messages_per_second.unwrap_or(0),
            batch_size: merged.batch_size.unwrap_or(0),
        }
    }
}

/// The limits applied to one connection; 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EffectiveLimits {
    /// Most sockets open at once for the client id.
    pub max_connections: u32,
    /// Most records per second through the socket.
    pub messages_per_second: u32,
    /// Most records taken from Kafka at a time (consumers).
    pub batch_size: u32,
}

/// Paces records to at most `rate` per second, letting up to `burst` through at once.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Option<Duration>,
    burst: u32,
    /// When the bucket was full last (tokens are counted from there).
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// A limiter of `rate` records per second (0: none) with bursts of `burst` (at
    /// least 1).
    pub fn new(rate: u32, burst: u32) -> RateLimiter {
        let burst = burst.max(1);
        RateLimiter {
            interval: (rate > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(rate))),
            burst,
            tokens: f64::from(burst),
            updated: Instant::now(),
        }
    }

    /// Whether any pacing applies.
    pub fn is_limited(&self) -> bool {
        self.interval.is_some()
    }

    /// How long to wait before the next record may go (zero when it may go now).
    pub fn delay(&mut self) -> Duration {
        let Some(interval) = self.interval else {
            return Duration::ZERO;
        };
        self.refill(interval);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            interval.mul_f64(1.0 - self.tokens)
        }
    }

    /// Counts one record as sent.
    pub fn take(&mut self) {
        if let Some(interval) = self.interval {
            self.refill(interval);
            self.tokens -= 1.0;
        }
    }

    fn refill(&mut self, interval: Duration) {
        let now = Instant::now();
        let earned = now.duration_since(self.updated).as_secs_f64() / interval.as_secs_f64();
        self.tokens = (self.tokens + earned).min(f64::from(self.burst));
        self.updated = now;
    }

    /// Waits until the next record may go, then counts it.
    pub async fn acquire(&mut self) {
        let wait = self.delay();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        self.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_over_static_over_default() {
        let mut s = StaticLimits::default();
        s.consumers.insert(
            DEFAULT_CLIENT.into(),
            ClientLimits {
                id: DEFAULT_CLIENT.into(),
                max_connections: Some(3),
                messages_per_second: Some(7),
                batch_size: None,
            },
        );
        s.consumers.insert(
            "g".into(),
            ClientLimits {
                id: "g".into(),
                max_connections: Some(2),
                ..Default::default()
            },
        );
        let e = s.effective(ClientKind::Consumer, "g", None);
        assert_eq!((e.max_connections, e.messages_per_second), (2, 7));
        let dynamic = ClientLimits {
            id: "g".into(),
            max_connections: Some(5),
            ..Default::default()
        };
        let e = s.effective(ClientKind::Consumer, "g", Some(&dynamic));
        assert_eq!(e.max_connections, 5);
        let e = s.effective(ClientKind::Consumer, "other", None);
        assert_eq!(e.max_connections, 3);
    }

    #[test]
    fn json_round_trip_and_refusals() {
        let v =
            json!({"group-id":"g","max-connections":3,"messages-per-second":300,"batch-size":100});
        let c = ClientLimits::from_json(ClientKind::Consumer, &v).expect("valid");
        assert_eq!(c.to_json(ClientKind::Consumer), v);
        assert!(ClientLimits::from_json(ClientKind::Producer, &v).is_err());
        let bad = json!({"group-id":"g","max-connections":-1});
        assert!(ClientLimits::from_json(ClientKind::Consumer, &bad).is_err());
    }
}
