//! The avro, protobuf and jsonschema embedded formats end to end: choosing the schema
//! (inline, by id, by subject version or latest), registering it, and turning JSON values
//! into Confluent's wire format and back.

use std::sync::Arc;

use parking_lot::Mutex;
use prost_reflect::MessageDescriptor;
use serde_json::Value;

use crate::avro::AvroCodec;
use crate::cache::{BoundedCache, CACHE_BYTES, CACHE_ENTRIES};
use crate::protobuf::ProtobufCodec;
use crate::registry::{SchemaRegistry, SchemaText, SubjectSchema};
use crate::schema::{ParsedSchema, ResolvedReference, SchemaReference, SchemaType};
use crate::subject::SubjectNameStrategy;
use crate::{EmbeddedFormat, FormatError, json_schema, wire};

/// A parsed schema, ready to write and read records.
pub enum RecordCodec {
    /// An Avro schema.
    Avro(AvroCodec),
    /// A .proto file and the message type records are written as.
    Protobuf {
        /// The file's messages.
        codec: ProtobufCodec,
        /// The message written by [`RecordCodec::encode`].
        message: MessageDescriptor,
    },
    /// A JSON Schema.
    Json(Arc<crate::schema::JsonValidator>, Value),
}

impl std::fmt::Debug for RecordCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordCodec::Avro(c) => write!(f, "Avro({:?})", c.schema().name()),
            RecordCodec::Protobuf { message, .. } => write!(f, "Protobuf({})", message.full_name()),
            RecordCodec::Json(_, schema) => write!(f, "Json({schema})"),
        }
    }
}

impl RecordCodec {
    /// The embedded format this schema serves.
    pub fn format(&self) -> EmbeddedFormat {
        match self {
            RecordCodec::Avro(_) => EmbeddedFormat::Avro,
            RecordCodec::Protobuf { .. } => EmbeddedFormat::Protobuf,
            RecordCodec::Json(..) => EmbeddedFormat::JsonSchema,
        }
    }

    /// The record type's name, for the RECORD_NAME strategies: an Avro named type's full
    /// name, the protobuf message's full name, a JSON Schema's `title`.
    pub fn record_name(&self) -> Option<String> {
        match self {
            RecordCodec::Avro(c) => c.schema().name().map(|n| n.fullname(None)),
            RecordCodec::Protobuf { message, .. } => Some(message.full_name().to_string()),
            RecordCodec::Json(_, schema) => schema
                .get("title")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    /// Serializes `value` framed with `schema_id`.
    pub fn encode(&self, schema_id: i32, value: &Value) -> Result<Vec<u8>, FormatError> {
        match self {
            RecordCodec::Avro(c) => Ok(wire::frame(schema_id, &c.encode(value)?)),
            RecordCodec::Protobuf { codec, message } => {
                let (indexes, payload) = codec.encode(message, value)?;
                let mut body = Vec::with_capacity(payload.len() + 2);
                wire::write_message_indexes(&indexes, &mut body);
                body.extend_from_slice(&payload);
                Ok(wire::frame(schema_id, &body))
            }
            RecordCodec::Json(validator, _) => Ok(wire::frame(
                schema_id,
                &json_schema::encode(validator, value)?,
            )),
        }
    }

    /// Reads a record's body (what follows the 5-byte header).
    pub fn decode(&self, body: &[u8]) -> Result<Value, FormatError> {
        match self {
            RecordCodec::Avro(c) => c.decode(body),
            RecordCodec::Protobuf { codec, .. } => {
                let (indexes, payload) = wire::read_message_indexes(body)?;
                codec.decode(&indexes, payload)
            }
            RecordCodec::Json(..) => json_schema::decode(body),
        }
    }
}

/// The registry's name for the schema type of a format (`schemaType`).
pub fn schema_type_of(format: EmbeddedFormat) -> SchemaType {
    match format {
        EmbeddedFormat::Protobuf => SchemaType::Protobuf,
        EmbeddedFormat::JsonSchema => SchemaType::Json,
        _ => SchemaType::Avro,
    }
}

/// Which schema a key or value is written with, in REST v3's terms; v2's `key_schema` /
/// `key_schema_id` are the `schema` / `schema_id` cases with the TOPIC_NAME strategy.
#[derive(Debug, Clone, Default)]
pub struct SchemaSelector {
    /// The full schema text (registered under the subject before use).
    pub schema: Option<String>,
    /// A registered schema's id.
    pub schema_id: Option<i32>,
    /// A version of the subject.
    pub schema_version: Option<i32>,
    /// The subject; derived with `strategy` when absent.
    pub subject: Option<String>,
    /// How to derive the subject when it is not given.
    pub strategy: SubjectNameStrategy,
}

/// A schema chosen for a request's keys or values, ready to serialize them.
#[derive(Debug, Clone)]
pub struct RecordSerializer {
    /// The schema's id.
    pub schema_id: i32,
    /// The subject it was chosen or registered under (none when only an id was given
    /// and the strategy needs nothing more).
    pub subject: Option<String>,
    /// Its version under the subject, when known.
    pub schema_version: Option<i32>,
    codec: Arc<RecordCodec>,
}

impl RecordSerializer {
    /// Serializes a value in the wire format; JSON `null` is no bytes (a null key or a
    /// tombstone), as Confluent's serializers do.
    pub fn serialize(&self, value: &Value) -> Result<Option<Vec<u8>>, FormatError> {
        if value.is_null() {
            return Ok(None);
        }
        self.codec.encode(self.schema_id, value).map(Some)
    }

    /// The parsed schema.
    pub fn codec(&self) -> &RecordCodec {
        &self.codec
    }
}

/// The schema-registry formats of one kgate instance: the registry client and a cache of
/// parsed schemas by id (bounded: see [`crate::cache`]).
pub struct SchemaFormats {
    registry: Arc<dyn SchemaRegistry>,
    codecs: Mutex<Codecs>,
}

/// The parsed schemas kept, each with the weight of its text, and the count of JSON
/// Schema validators' growth they were last weighed at.
///
/// A JSON Schema validator compiles more of its schema as records of new shapes reach it,
/// up to its budget ([`crate::limits::MAX_SCHEMA_UNFOLDED_BYTES`] beyond its plain
/// size): an entry weighs its text and its validator's compiled size, weighed again at
/// the next use of the cache whenever some validator grew, so that the schemas kept stay
/// within the cache's bound however records make them grow.
struct Codecs {
    cache: BoundedCache<i32, (Arc<RecordCodec>, usize)>,
    weighed_at: u64,
}

impl Codecs {
    /// What an entry weighs: its text's weight and, for JSON Schema, its validator's
    /// compiled size as it stands.
    fn weight((codec, text_bytes): &(Arc<RecordCodec>, usize)) -> usize {
        match &**codec {
            RecordCodec::Json(validator, _) => {
                text_bytes.saturating_add(validator.compiled_bytes())
            }
            _ => *text_bytes,
        }
    }

    /// Weighs every entry again if a validator grew since they were last weighed.
    fn settle(&mut self) {
        let growth = crate::schema::json_validator_growth_count();
        if growth != self.weighed_at {
            self.weighed_at = growth;
            self.cache.reweigh(Self::weight);
        }
    }
}

impl SchemaFormats {
    /// Serialization through `registry`.
    pub fn new(registry: Arc<dyn SchemaRegistry>) -> Self {
        Self {
            registry,
            codecs: Mutex::new(Codecs {
                cache: BoundedCache::new(CACHE_ENTRIES, CACHE_BYTES),
                weighed_at: crate::schema::json_validator_growth_count(),
            }),
        }
    }

    /// The registry client.
    pub fn registry(&self) -> &Arc<dyn SchemaRegistry> {
        &self.registry
    }

    /// The serializer for REST v2's `key_schema`/`key_schema_id` (`is_key`) or
    /// `value_schema`/`value_schema_id`: an inline schema is registered under
    /// `<topic>-key` / `<topic>-value`.
    pub async fn v2_serializer(
        &self,
        format: EmbeddedFormat,
        topic: &str,
        is_key: bool,
        schema: Option<&str>,
        schema_id: Option<i32>,
    ) -> Result<RecordSerializer, FormatError> {
        if let Some(id) = schema_id {
            let codec = self.codec_by_id(id).await?;
            check_format(format, &codec, id)?;
            return Ok(RecordSerializer {
                schema_id: id,
                subject: None,
                schema_version: None,
                codec,
            });
        }
        let text = schema.ok_or_else(|| {
            FormatError::InvalidSchema("Neither a schema nor a schema id was given".to_string())
        })?;
        let schema = SchemaText {
            schema: text.to_string(),
            schema_type: schema_type_of(format),
            references: Vec::new(),
        };
        // Parse first so that a broken schema is the client's 42205, whatever the
        // registry would have said.
        let codec = Arc::new(self.parse(&schema).await?);
        let subject = SubjectNameStrategy::TopicName.subject(topic, is_key, None)?;
        let id = self.register(&subject, &schema).await?;
        self.keep(id, &codec, &schema);
        Ok(RecordSerializer {
            schema_id: id,
            subject: Some(subject),
            schema_version: None,
            codec,
        })
    }

    /// The serializer for REST v3's key or value `type` (AVRO, PROTOBUF, JSONSCHEMA as
    /// `format`) and its `schema`, `schema_id`, `schema_version`, `subject` and
    /// `subject_name_strategy`; with none of the first three, the subject's latest
    /// schema.
    pub async fn serializer(
        &self,
        format: EmbeddedFormat,
        topic: &str,
        is_key: bool,
        selector: &SchemaSelector,
    ) -> Result<RecordSerializer, FormatError> {
        self.serializer_for(Some(format), topic, is_key, selector)
            .await
    }

    /// Like [`SchemaFormats::serializer`], where `None` (REST v3's key or value without a
    /// `type`) takes the format from the chosen schema; an inline schema without a format
    /// is read as Avro, the registry's default type.
    pub async fn serializer_for(
        &self,
        format: Option<EmbeddedFormat>,
        topic: &str,
        is_key: bool,
        selector: &SchemaSelector,
    ) -> Result<RecordSerializer, FormatError> {
        let fixed_subject = |codec: Option<&RecordCodec>| -> Result<String, FormatError> {
            match &selector.subject {
                Some(s) => Ok(s.clone()),
                None => selector.strategy.subject(
                    topic,
                    is_key,
                    codec.and_then(RecordCodec::record_name).as_deref(),
                ),
            }
        };
        if let Some(text) = &selector.schema {
            let schema = SchemaText {
                schema: text.clone(),
                schema_type: schema_type_of(format.unwrap_or(EmbeddedFormat::Avro)),
                references: Vec::new(),
            };
            let codec = Arc::new(self.parse(&schema).await?);
            let subject = fixed_subject(Some(&codec))?;
            let id = self.register(&subject, &schema).await?;
            let version = self
                .registry
                .lookup(&subject, &schema)
                .await
                .ok()
                .map(|s| s.version);
            self.keep(id, &codec, &schema);
            return Ok(RecordSerializer {
                schema_id: id,
                subject: Some(subject),
                schema_version: version,
                codec,
            });
        }
        if let Some(id) = selector.schema_id {
            let codec = self.codec_by_id(id).await?;
            check_format(format, &codec, id)?;
            let subject = fixed_subject(Some(&codec))?;
            let schema = self.registry.schema_by_id(id).await?;
            let version = self
                .registry
                .lookup(&subject, &schema)
                .await
                .ok()
                .map(|s| s.version);
            return Ok(RecordSerializer {
                schema_id: id,
                subject: Some(subject),
                schema_version: version,
                codec,
            });
        }
        if selector.subject.is_none() && selector.strategy.needs_record_name() {
            return Err(FormatError::InvalidSchema(
                "A subject name strategy that uses the record name needs a schema or schema id"
                    .to_string(),
            ));
        }
        let subject = fixed_subject(None)?;
        let found: SubjectSchema = self
            .registry
            .subject_version(&subject, selector.schema_version)
            .await?;
        let codec = self.codec_by_id(found.id).await?;
        check_format(format, &codec, found.id)?;
        Ok(RecordSerializer {
            schema_id: found.id,
            subject: Some(subject),
            schema_version: Some(found.version),
            codec,
        })
    }

    /// Reads a record written in the wire format by any Confluent-compatible serializer;
    /// no bytes become `null`.
    pub async fn deserialize(
        &self,
        format: EmbeddedFormat,
        bytes: Option<&[u8]>,
    ) -> Result<Value, FormatError> {
        let Some(bytes) = bytes else {
            return Ok(Value::Null);
        };
        let (id, body) = wire::unframe(bytes)?;
        let codec = self.codec_by_id(id).await?;
        if codec.format() != format {
            return Err(FormatError::Undecodable(format!(
                "Record was written with {} schema {id}, not {format}",
                codec.format()
            )));
        }
        codec.decode(body)
    }

    async fn register(&self, subject: &str, schema: &SchemaText) -> Result<i32, FormatError> {
        self.registry
            .register(subject, schema)
            .await
            .map_err(|e| match e {
                // The registry's "invalid schema" is the REST Proxy's.
                FormatError::Registry {
                    error_code: 42201,
                    message,
                    ..
                } => FormatError::InvalidSchema(message),
                other => other,
            })
    }

    /// The parsed schema with id `id`, from the cache or the registry.
    pub async fn codec_by_id(&self, id: i32) -> Result<Arc<RecordCodec>, FormatError> {
        {
            let mut codecs = self.codecs.lock();
            codecs.settle();
            if let Some((codec, _)) = codecs.cache.get(&id) {
                return Ok(codec);
            }
        }
        let schema = self.registry.schema_by_id(id).await?;
        let codec = Arc::new(self.parse(&schema).await?);
        self.keep(id, &codec, &schema);
        Ok(codec)
    }

    /// Caches the parsed schema of `id`, weighed by its text (and its references' names)
    /// and what it compiled (see [`Codecs`]).
    fn keep(&self, id: i32, codec: &Arc<RecordCodec>, schema: &SchemaText) {
        let mut codecs = self.codecs.lock();
        codecs.settle();
        let entry = (codec.clone(), schema.cached_bytes());
        let bytes = Codecs::weight(&entry);
        codecs.cache.insert(id, entry, bytes);
    }

    /// How many parsed schemas are kept, and what they weigh in all (bytes).
    pub fn cached(&self) -> (usize, usize) {
        let mut codecs = self.codecs.lock();
        codecs.settle();
        (codecs.cache.len(), codecs.cache.bytes())
    }

    /// Parses `schema`, fetching the schemas it references (and theirs) first.
    async fn parse(&self, schema: &SchemaText) -> Result<RecordCodec, FormatError> {
        // Discovered from the top down; reversed, each dependency precedes its users.
        let mut found: Vec<ResolvedReference> = Vec::new();
        let mut pending: Vec<SchemaReference> = schema.references.clone();
        while let Some(reference) = pending.pop() {
            if found.iter().any(|r| r.name == reference.name) {
                continue;
            }
            if found.len() >= crate::limits::MAX_REFERENCES {
                return Err(FormatError::InvalidSchema(format!(
                    "More than kgate's limit of {} schema references",
                    crate::limits::MAX_REFERENCES
                )));
            }
            let referenced = self
                .registry
                .subject_version(&reference.subject, Some(reference.version))
                .await?;
            pending.extend(referenced.schema.references.iter().cloned());
            found.push(ResolvedReference {
                name: reference.name,
                schema: referenced.schema.schema,
            });
        }
        found.reverse();
        // Compiling a large schema takes seconds: off the async threads.
        let bytes = schema.schema.len() + found.iter().map(|r| r.schema.len()).sum::<usize>();
        let schema = schema.clone();
        crate::work::off_runtime(crate::work::Lane::for_schema(bytes), move || {
            parse_schema(&schema, &found)
        })
        .await
    }
}

fn check_format(
    format: impl Into<Option<EmbeddedFormat>>,
    codec: &RecordCodec,
    id: i32,
) -> Result<(), FormatError> {
    let Some(format) = format.into() else {
        return Ok(());
    };
    if codec.format() == format {
        Ok(())
    } else {
        Err(FormatError::InvalidSchema(format!(
            "Schema {id} is a {} schema, not {format}",
            codec.format()
        )))
    }
}

/// Parses a schema and its resolved references (dependencies first) with the shared
/// schema model, and prepares it for records.
fn parse_schema(
    schema: &SchemaText,
    references: &[ResolvedReference],
) -> Result<RecordCodec, FormatError> {
    let parsed = ParsedSchema::parse(schema.schema_type, &schema.schema, references)
        .map_err(|e| FormatError::InvalidSchema(e.to_string()))?;
    Ok(match parsed {
        ParsedSchema::Avro(a) => RecordCodec::Avro(AvroCodec::new(a.schema, &a.references)),
        ParsedSchema::Protobuf(p) => {
            let codec = ProtobufCodec::new(p);
            let message = codec.default_message()?;
            RecordCodec::Protobuf { codec, message }
        }
        ParsedSchema::Json(j) => RecordCodec::Json(j.validator, j.value),
    })
}
