//! The query parameters of `/socket/in` and `/socket/out`, as seed 000 lists them, with
//! the original proxy's defaults and its messages for missing or malformed ones.

use crate::error::WsError;
use crate::format::FormatType;

/// The parameters of a `/socket/in` (producer) connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InParams {
    /// `clientId`: groups the connections of one producing application.
    pub client_id: String,
    /// `instanceId`: tells one connection of the client from another (required with
    /// producer sessions and with `transactional=true`).
    pub instance_id: Option<String>,
    /// `topic`.
    pub topic: String,
    /// `keyType`; `None` when the client sends no keys (or names their format in each
    /// frame).
    pub key_type: Option<FormatType>,
    /// `valType` (default `string`).
    pub val_type: FormatType,
    /// `transactional`: records go through Kafka transactions.
    pub transactional: bool,
}

/// Where a consumer starts when its group has no committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// The first record still in the log.
    Earliest,
    /// Only records produced from now on.
    Latest,
    /// Fail (the socket is closed with an error).
    None,
}

impl OffsetReset {
    /// librdkafka's `auto.offset.reset` value.
    pub fn librdkafka(self) -> &'static str {
        match self {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Latest => "latest",
            OffsetReset::None => "error",
        }
    }
}

/// The parameters of a `/socket/out` (consumer) connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutParams {
    /// `clientId`: this consumer in its group.
    pub client_id: String,
    /// `groupId` (default `<clientId>-group`, as the original proxy).
    pub group_id: String,
    /// `topic`.
    pub topic: String,
    /// `keyType`; keys are left out of frames when not given.
    pub key_type: Option<FormatType>,
    /// `valType` (default `string`).
    pub val_type: FormatType,
    /// `offsetResetStrategy` (default `earliest`).
    pub offset_reset: OffsetReset,
    /// `isolationLevel`: `true` for `read_committed` (default `read_uncommitted`).
    pub read_committed: bool,
    /// `rate`: most records per second to this socket.
    pub rate: Option<u32>,
    /// `batchSize`: most records taken from Kafka at a time.
    pub batch_size: Option<u32>,
    /// `autoCommit` (default `true`); with `false`, the client's ack frames commit.
    pub auto_commit: bool,
}

/// The decoded query string.
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Decodes `raw` (the part after `?`).
    pub fn parse(raw: Option<&str>) -> Result<Query, WsError> {
        let pairs = match raw {
            Some(q) => serde_urlencoded::from_str::<Vec<(String, String)>>(q).map_err(|e| {
                WsError::Invalid(format!("The query string could not be decoded: {e}"))
            })?,
            None => Vec::new(),
        };
        Ok(Query(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        // The last occurrence wins, as in most HTTP frameworks.
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &'static str) -> Result<String, WsError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v.to_string()),
            _ => Err(WsError::MissingParameter(name)),
        }
    }

    fn optional(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).map(str::to_string)
    }

    fn format(&self, name: &'static str) -> Result<Option<FormatType>, WsError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => FormatType::from_name(v)
                .map(Some)
                .ok_or_else(|| WsError::BadParameter {
                    name,
                    message: format!("{v} is not a valid format type"),
                }),
        }
    }

    fn boolean(&self, name: &'static str, default: bool) -> Result<bool, WsError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => Ok(true),
                "false" | "no" | "off" => Ok(false),
                _ => Err(WsError::BadParameter {
                    name,
                    message: format!("'{v}' is not a valid Boolean value"),
                }),
            },
        }
    }

    fn count(&self, name: &'static str) -> Result<Option<u32>, WsError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<u32>()
                .map(Some)
                .map_err(|_| WsError::BadParameter {
                    name,
                    message: format!("'{v}' is not a valid non-negative 32-bit integer value"),
                }),
        }
    }

    fn payload(&self) -> Result<(), WsError> {
        match self.get("socketPayload") {
            None | Some("") => Ok(()),
            Some(v) if v.eq_ignore_ascii_case("json") => Ok(()),
            Some(v) => Err(WsError::BadParameter {
                name: "socketPayload",
                message: format!("{v} is not a valid socket payload; the proxy speaks json"),
            }),
        }
    }

    /// The parameters of `/socket/in`.
    pub fn in_params(&self) -> Result<InParams, WsError> {
        let client_id = self.required("clientId")?;
        let topic = self.required("topic")?;
        self.payload()?;
        Ok(InParams {
            client_id,
            instance_id: self.optional("instanceId"),
            topic,
            key_type: self.format("keyType")?,
            val_type: self.format("valType")?.unwrap_or(FormatType::String),
            transactional: self.boolean("transactional", false)?,
        })
    }

    /// The parameters of `/socket/out`.
    pub fn out_params(&self) -> Result<OutParams, WsError> {
        let client_id = self.required("clientId")?;
        let topic = self.required("topic")?;
        self.payload()?;
        let offset_reset = match self.get("offsetResetStrategy") {
            None | Some("") => OffsetReset::Earliest,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "earliest" => OffsetReset::Earliest,
                "latest" => OffsetReset::Latest,
                "none" => OffsetReset::None,
                _ => {
                    return Err(WsError::BadParameter {
                        name: "offsetResetStrategy",
                        message: format!("{v} is not a valid offset reset strategy"),
                    });
                }
            },
        };
        let read_committed = match self.get("isolationLevel") {
            None | Some("") => false,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "read_uncommitted" => false,
                "read_committed" => true,
                _ => {
                    return Err(WsError::BadParameter {
                        name: "isolationLevel",
                        message: format!(
                            "{v} is not a valid isolation level (read_uncommitted or read_committed)"
                        ),
                    });
                }
            },
        };
        Ok(OutParams {
            group_id: self
                .optional("groupId")
                .unwrap_or_else(|| format!("{client_id}-group")),
            client_id,
            topic,
            key_type: self.format("keyType")?,
            val_type: self.format("valType")?.unwrap_or(FormatType::String),
            offset_reset,
            read_committed,
            rate: self.count("rate")?,
            batch_size: self.count("batchSize")?,
            auto_commit: self.boolean("autoCommit", true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_required_parameters() {
        let q = Query::parse(Some("clientId=c&topic=t")).unwrap();
        let out = q.out_params().unwrap();
        assert_eq!(out.group_id, "c-group");
        assert_eq!(out.val_type, FormatType::String);
        assert_eq!(out.offset_reset, OffsetReset::Earliest);
        assert!(out.auto_commit && !out.read_committed);
        let e = Query::parse(Some("topic=t"))
            .unwrap()
            .in_params()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Request is missing required parameter 'clientId'"
        );
    }

    #[test]
    fn malformed_parameters_name_themselves() {
        for (q, name) in [
            ("clientId=c&topic=t&valType=avro2", "valType"),
            ("clientId=c&topic=t&rate=fast", "rate"),
            ("clientId=c&topic=t&autoCommit=maybe", "autoCommit"),
            (
                "clientId=c&topic=t&offsetResetStrategy=middle",
                "offsetResetStrategy",
            ),
            ("clientId=c&topic=t&isolationLevel=x", "isolationLevel"),
            ("clientId=c&topic=t&socketPayload=avro", "socketPayload"),
        ] {
            let e = Query::parse(Some(q)).unwrap().out_params().unwrap_err();
            assert!(
                e.to_string()
                    .starts_with(&format!("The query parameter '{name}'")),
                "{e}"
            );
        }
    }
}
