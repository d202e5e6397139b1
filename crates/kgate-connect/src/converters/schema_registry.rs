//! Confluent's Schema Registry converters under their class names:
//! `io.confluent.connect.avro.AvroConverter`,
//! `io.confluent.connect.json.JsonSchemaConverter` and
//! `io.confluent.connect.protobuf.ProtobufConverter`. Records are in Confluent's wire
//! format (magic byte, schema id, payload); writing registers the record's schema under
//! `<topic>-key` / `<topic>-value` (`auto.register.schemas`, true by default) or looks it
//! up there, reading fetches the writer's schema by id. Schemas and values go through
//! kgate-formats, the codecs the REST Proxy uses.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kgate_formats::registry::{HttpSchemaRegistry, RegistryClientConfig, SchemaText};
use kgate_formats::schema::SchemaType as RegistryType;
use kgate_formats::serializer::{RecordSerializer, SchemaFormats, SchemaSelector};
use kgate_formats::subject::SubjectNameStrategy;
use kgate_formats::{EmbeddedFormat, wire};
use parking_lot::Mutex;
use serde_json::Value as Json;

use super::{ConvertError, avro_data, json_schema_data, protobuf_data};
use crate::data::{Schema, SchemaAndValue, Value};

/// Avro, Protobuf or JSON Schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryFormat {
    /// `AvroConverter`.
    Avro,
    /// `ProtobufConverter`.
    Protobuf,
    /// `JsonSchemaConverter`.
    JsonSchema,
}

impl RegistryFormat {
    fn embedded(self) -> EmbeddedFormat {
        match self {
            RegistryFormat::Avro => EmbeddedFormat::Avro,
            RegistryFormat::Protobuf => EmbeddedFormat::Protobuf,
            RegistryFormat::JsonSchema => EmbeddedFormat::JsonSchema,
        }
    }

    fn registry_type(self) -> RegistryType {
        match self {
            RegistryFormat::Avro => RegistryType::Avro,
            RegistryFormat::Protobuf => RegistryType::Protobuf,
            RegistryFormat::JsonSchema => RegistryType::Json,
        }
    }

    fn name(self) -> &'static str {
        match self {
            RegistryFormat::Avro => "Avro",
            RegistryFormat::Protobuf => "Protobuf",
            RegistryFormat::JsonSchema => "JSON Schema",
        }
    }
}

/// A converter of one slot backed by a Schema Registry.
pub struct RegistryConverter {
    format: RegistryFormat,
    formats: SchemaFormats,
    is_key: bool,
    auto_register: bool,
    /// Serializers by schema text: one registration per schema, not per record.
    writers: Mutex<HashMap<String, RecordSerializer>>,
    /// The Connect schema of each writer's schema id, with what reading values needs.
    readers: Mutex<HashMap<i32, Arc<Reader>>>,
}

/// How records written with one registered schema are read.
enum Reader {
    Avro(Json),
    Json(Schema),
    Protobuf(Schema),
}

impl RegistryConverter {
    /// A converter of `format` for the key (`is_key`) or value slot with its nested
    /// settings (`schema.registry.url`, `auto.register.schemas`, `basic.auth.*`).
    pub fn new(
        format: RegistryFormat,
        settings: &BTreeMap<String, String>,
        is_key: bool,
    ) -> Result<RegistryConverter, ConvertError> {
        let url = settings
            .get("schema.registry.url")
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                ConvertError(
                    "Missing required configuration \"schema.registry.url\" which has no default value."
                        .to_string(),
                )
            })?;
        let auth = match (
            settings
                .get("basic.auth.credentials.source")
                .map(String::as_str),
            settings.get("basic.auth.user.info"),
        ) {
            (Some("USER_INFO"), Some(info)) => Some(info.clone()),
            _ => None,
        };
        let auto_register = match settings.get("auto.register.schemas").map(|v| v.trim()) {
            None => true,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(ConvertError(format!(
                    "Invalid value {v} for configuration auto.register.schemas: Expected value to be either true or false"
                )));
            }
        };
        let registry = HttpSchemaRegistry::new(&RegistryClientConfig {
            urls: url.to_string(),
            basic_auth_user_info: auth,
            ..RegistryClientConfig::default()
        })
        .map_err(|e| ConvertError(format!("Invalid schema.registry.url {url}: {e}")))?;
        Ok(RegistryConverter {
            format,
            formats: SchemaFormats::new(Arc::new(registry)),
            is_key,
            auto_register,
            writers: Mutex::new(HashMap::new()),
            readers: Mutex::new(HashMap::new()),
        })
    }

    /// Connect data as a record in the wire format (null stays null).
    pub async fn from_connect(
        &self,
        topic: &str,
        data: &SchemaAndValue,
    ) -> Result<Option<Vec<u8>>, ConvertError> {
        if data.value == Value::Null {
            return Ok(None);
        }
        let failed = |e: &dyn std::fmt::Display| {
            ConvertError(format!(
                "Failed to serialize {} data from topic {topic} : {e}",
                self.format.name()
            ))
        };
        let schema = data.schema.as_ref().ok_or_else(|| {
            failed(&"the value has no schema (kgate's schema registry converters write data with a schema)")
        })?;
        let (text, value) = match self.format {
            RegistryFormat::Avro => (
                avro_data::avro_schema(schema).to_string(),
                avro_data::avro_value(schema, &data.value)?,
            ),
            RegistryFormat::JsonSchema => (
                json_schema_data::json_schema(schema).to_string(),
                json_schema_data::json_value(schema, &data.value)?,
            ),
            RegistryFormat::Protobuf => (
                protobuf_data::proto_file(schema)?,
                protobuf_data::proto_value(schema, &data.value)?,
            ),
        };
        let cached = self.writers.lock().get(&text).cloned();
        let serializer = match cached {
            Some(s) => s,
            None => {
                let s = self
                    .serializer(topic, &text)
                    .await
                    .map_err(|e| failed(&e))?;
                self.writers.lock().insert(text, s.clone());
                s
            }
        };
        serializer.serialize(&value).map_err(|e| failed(&e))
    }

    async fn serializer(
        &self,
        topic: &str,
        text: &str,
    ) -> Result<RecordSerializer, kgate_formats::FormatError> {
        let format = Some(self.format.embedded());
        if self.auto_register {
            let selector = SchemaSelector {
                schema: Some(text.to_string()),
                strategy: SubjectNameStrategy::TopicName,
                ..SchemaSelector::default()
            };
            return self
                .formats
                .serializer_for(format, topic, self.is_key, &selector)
                .await;
        }
        // Not registering: the schema must already be under the subject.
        let subject = SubjectNameStrategy::TopicName.subject(topic, self.is_key, None)?;
        let found = self
            .formats
            .registry()
            .lookup(
                &subject,
                &SchemaText {
                    schema: text.to_string(),
                    schema_type: self.format.registry_type(),
                    references: Vec::new(),
                },
            )
            .await?;
        let selector = SchemaSelector {
            schema_id: Some(found.id),
            strategy: SubjectNameStrategy::TopicName,
            ..SchemaSelector::default()
        };
        self.formats
            .serializer_for(format, topic, self.is_key, &selector)
            .await
    }

    /// A record in the wire format as Connect data.
    pub async fn to_connect(
        &self,
        topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError> {
        let Some(bytes) = bytes else {
            return Ok(SchemaAndValue::null());
        };
        let failed = |e: &dyn std::fmt::Display| {
            ConvertError(format!(
                "Failed to deserialize data for topic {topic} to {}: {e}",
                self.format.name()
            ))
        };
        let (id, _) = wire::unframe(bytes).map_err(|e| failed(&e))?;
        let decoded = self
            .formats
            .deserialize(self.format.embedded(), Some(bytes))
            .await
            .map_err(|e| failed(&e))?;
        let reader = self.reader(id).await.map_err(|e| failed(&e))?;
        match reader.as_ref() {
            Reader::Avro(avro) => Ok(SchemaAndValue {
                schema: Some(avro_data::connect_schema(avro)?),
                value: avro_data::connect_value(avro, &decoded)?,
            }),
            Reader::Json(schema) => Ok(SchemaAndValue {
                value: json_schema_data::connect_value(schema, &decoded)?,
                schema: Some(schema.clone()),
            }),
            Reader::Protobuf(schema) => Ok(SchemaAndValue {
                value: protobuf_data::connect_value(schema, &decoded)?,
                schema: Some(schema.clone()),
            }),
        }
    }

    async fn reader(&self, id: i32) -> Result<Arc<Reader>, ConvertError> {
        if let Some(r) = self.readers.lock().get(&id) {
            return Ok(r.clone());
        }
        let text = self
            .formats
            .registry()
            .schema_by_id(id)
            .await
            .map_err(|e| ConvertError(e.to_string()))?;
        let reader = match self.format {
            RegistryFormat::Avro => {
                let json: Json = serde_json::from_str(&text.schema)
                    .map_err(|e| ConvertError(format!("schema {id} is not JSON: {e}")))?;
                // Checked once here, so a schema kgate cannot map fails clearly.
                avro_data::connect_schema(&json)?;
                Reader::Avro(json)
            }
            RegistryFormat::JsonSchema => {
                Reader::Json(json_schema_data::connect_schema_text(&text.schema)?)
            }
            RegistryFormat::Protobuf => {
                Reader::Protobuf(protobuf_data::connect_schema(&text.schema)?)
            }
        };
        let reader = Arc::new(reader);
        self.readers.lock().insert(id, reader.clone());
        Ok(reader)
    }
}
