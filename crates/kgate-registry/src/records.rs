//! The key and value records of the `_schemas` topic, in the JSON layout Confluent Schema
//! Registry writes, so either registry can serve a topic the other wrote.

use kgate_formats::schema::{SchemaReference, SchemaType};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A record key of the `_schemas` topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    /// One version of one subject.
    Schema {
        /// The subject.
        subject: String,
        /// The version.
        version: i32,
    },
    /// The compatibility level of a subject, or the global one.
    Config(Option<String>),
    /// The mode of a subject, or the global one.
    Mode(Option<String>),
    /// A soft delete of a whole subject.
    DeleteSubject(String),
    /// A permanent delete of a whole subject.
    ClearSubject(String),
    /// Written by Confluent's registry to find the end of the log; carries nothing.
    Noop,
}

impl RecordKey {
    /// Parses a key; `None` for a key type this registry does not know (skipped, as
    /// Confluent's registry skips them).
    pub fn parse(bytes: &[u8]) -> Option<RecordKey> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        let subject = v.get("subject").and_then(Value::as_str).map(String::from);
        match v.get("keytype")?.as_str()? {
            "SCHEMA" => Some(RecordKey::Schema {
                subject: subject?,
                version: i32::try_from(v.get("version")?.as_i64()?).ok()?,
            }),
            "CONFIG" => Some(RecordKey::Config(subject)),
            "MODE" => Some(RecordKey::Mode(subject)),
            "DELETE_SUBJECT" => Some(RecordKey::DeleteSubject(subject?)),
            "CLEAR_SUBJECT" => Some(RecordKey::ClearSubject(subject?)),
            "NOOP" => Some(RecordKey::Noop),
            _ => None,
        }
    }

    /// The key's bytes; field order and `magic` follow Confluent's writer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let v = match self {
            RecordKey::Schema { subject, version } => {
                json!({"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1})
            }
            RecordKey::Config(subject) => {
                json!({"keytype": "CONFIG", "subject": subject, "magic": 0})
            }
            RecordKey::Mode(subject) => json!({"keytype": "MODE", "subject": subject, "magic": 0}),
            RecordKey::DeleteSubject(subject) => {
                json!({"keytype": "DELETE_SUBJECT", "subject": subject, "magic": 0})
            }
            RecordKey::ClearSubject(subject) => {
                json!({"keytype": "CLEAR_SUBJECT", "subject": subject, "magic": 0})
            }
            RecordKey::Noop => json!({"keytype": "NOOP", "magic": 0}),
        };
        v.to_string().into_bytes()
    }
}

/// The value of a SCHEMA record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaValue {
    /// The subject.
    pub subject: String,
    /// The version within the subject.
    pub version: i32,
    /// The global schema id.
    pub id: i32,
    /// The schema text.
    pub schema: String,
    /// The schema type; absent means AVRO.
    #[serde(rename = "schemaType", default, skip_serializing_if = "is_avro")]
    pub schema_type: SchemaType,
    /// The schemas it references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    /// Whether this version is soft-deleted.
    #[serde(default)]
    pub deleted: bool,
}

fn is_avro(t: &SchemaType) -> bool {
    *t == SchemaType::Avro
}

/// The value of a CONFIG record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValue {
    /// The compatibility level's name.
    #[serde(rename = "compatibilityLevel")]
    pub compatibility_level: String,
}

/// The value of a MODE record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeValue {
    /// The mode's name.
    pub mode: String,
}

/// The value of a DELETE_SUBJECT record: every version up to `version` is soft-deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteSubjectValue {
    /// The subject.
    pub subject: String,
    /// The highest version deleted.
    pub version: i32,
}
