//! Converters between Kafka's bytes and Connect data, under Apache's class names:
//! JsonConverter (`schemas.enable`), StringConverter, ByteArrayConverter and the
//! primitive converters (Integer, Long, Float, Double, Short, Boolean); and Confluent's
//! Schema Registry converters (Avro, Protobuf, JSON Schema), which ask a registry and
//! so convert asynchronously (see [`SlotConverter`]).

pub mod avro_data;
pub mod header;
pub mod json;
pub mod json_schema_data;
pub mod primitive;
pub mod protobuf_data;
pub mod schema_registry;
mod walk;

use std::collections::BTreeMap;

use crate::data::SchemaAndValue;

/// Why data could not be converted.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ConvertError(pub String);

/// Turns Connect data into bytes and back, for one slot (key, value or header).
// The names are Apache's (`fromConnectData`, `toConnectData`), which users know.
#[allow(clippy::wrong_self_convention)]
pub trait Converter: Send + Sync {
    /// Bytes for `data` (`None` for a null record part).
    fn from_connect(
        &self,
        topic: &str,
        data: &SchemaAndValue,
    ) -> Result<Option<Vec<u8>>, ConvertError>;
    /// Connect data for `bytes`.
    fn to_connect(&self, topic: &str, bytes: Option<&[u8]>)
    -> Result<SchemaAndValue, ConvertError>;
}

/// A converter kgate offers: its class name and alias.
pub struct ConverterPlugin {
    /// Apache's class name.
    pub class: &'static str,
    /// What `connector-plugins?connectorsOnly=false` calls its type.
    pub kind: &'static str,
}

/// The converters, as `GET /connector-plugins?connectorsOnly=false` lists them.
pub const CONVERTERS: &[ConverterPlugin] = &[
    ConverterPlugin {
        class: "org.apache.kafka.connect.converters.BooleanConverter",
        kind: "converter",
    },
    ConverterPlugin {
        class: "org.apache.kafka.connect.converters.ByteArrayConverter",
        kind: "converter",
    },
    ConverterPlugin {
        class: "org.apache.kafka.connect.converters.DoubleConverter",
        kind: "converter",
    },
    ConverterPlugin {
        class: "org.apache.kafka.connect.converters.FloatConverter",
        kind: "converter",
    },
    ConverterPlugin {
        class: "org.apache.kafka.connect.converters.IntegerConverter",
        kind: "converter",
    },
    ConverterPlugin {
        class: "org.apache.kafka.connect.converters.LongConverter",
        kind: "converter",
    },
    ConverterPlugin {
        class: "org.apache.kafka.connect.converters.ShortConverter",
        kind: "converter",
    },
    ConverterPlugin {
        class: "org.apache.kafka.connect.json.JsonConverter",
        kind: "converter",
    },
    ConverterPlugin {
        class: "org.apache.kafka.connect.storage.StringConverter",
        kind: "converter",
    },
    ConverterPlugin {
        class: "io.confluent.connect.avro.AvroConverter",
        kind: "converter",
    },
    ConverterPlugin {
        class: "io.confluent.connect.json.JsonSchemaConverter",
        kind: "converter",
    },
    ConverterPlugin {
        class: "io.confluent.connect.protobuf.ProtobufConverter",
        kind: "converter",
    },
];

/// The default converter of keys and values (Apache's default too).
pub const DEFAULT_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";

/// Whether `class` names a converter kgate has (by full name or simple name).
pub fn is_known(class: &str) -> bool {
    full_name(class).is_some()
}

fn full_name(class: &str) -> Option<&'static str> {
    CONVERTERS
        .iter()
        .map(|c| c.class)
        .find(|c| *c == class || c.rsplit('.').next() == Some(class))
}

/// A converter of one slot: Apache's, which convert in place, or a Schema Registry one.
pub enum SlotConverter {
    /// JsonConverter, StringConverter, ByteArrayConverter, the primitive converters.
    Plain(Box<dyn Converter>),
    /// AvroConverter, ProtobufConverter, JsonSchemaConverter (boxed: its caches make it
    /// far larger than the other variant).
    Registry(Box<schema_registry::RegistryConverter>),
}

// The names are Apache's (`fromConnectData`, `toConnectData`), which users know.
#[allow(clippy::wrong_self_convention)]
impl SlotConverter {
    /// Bytes for `data` (`None` for a null record part).
    pub async fn from_connect(
        &self,
        topic: &str,
        data: &SchemaAndValue,
    ) -> Result<Option<Vec<u8>>, ConvertError> {
        match self {
            SlotConverter::Plain(c) => c.from_connect(topic, data),
            SlotConverter::Registry(c) => c.from_connect(topic, data).await,
        }
    }

    /// Connect data for `bytes`.
    pub async fn to_connect(
        &self,
        topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError> {
        match self {
            SlotConverter::Plain(c) => c.to_connect(topic, bytes),
            SlotConverter::Registry(c) => c.to_connect(topic, bytes).await,
        }
    }
}

/// Builds the header converter named `class`: `SimpleHeaderConverter` (the default), or
/// any converter (Apache's converters are header converters too).
pub fn create_header(
    class: &str,
    settings: &BTreeMap<String, String>,
) -> Result<SlotConverter, ConvertError> {
    let class = class.trim();
    if class == crate::plugins::configdef::DEFAULT_HEADER_CONVERTER
        || class == "SimpleHeaderConverter"
    {
        return Ok(SlotConverter::Plain(Box::new(
            header::SimpleHeaderConverter,
        )));
    }
    create(class, settings, false)
}

/// Builds the converter named `class` for the key (`is_key`) or value slot with its
/// nested `settings` (`schemas.enable`, `converter.encoding`, `schema.registry.url`, ...).
pub fn create(
    class: &str,
    settings: &BTreeMap<String, String>,
    is_key: bool,
) -> Result<SlotConverter, ConvertError> {
    let Some(class) = full_name(class) else {
        return Err(ConvertError(format!(
            "Class {class} could not be found: kgate's converters are {}",
            CONVERTERS
                .iter()
                .map(|c| c.class)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let simple = class.rsplit('.').next().unwrap_or(class);
    let registry = |format| {
        schema_registry::RegistryConverter::new(format, settings, is_key)
            .map(|c| SlotConverter::Registry(Box::new(c)))
    };
    Ok(SlotConverter::Plain(match simple {
        "JsonConverter" => Box::new(json::JsonConverter::new(settings, is_key)?),
        "StringConverter" => Box::new(primitive::StringConverter::new(settings)?),
        "ByteArrayConverter" => Box::new(primitive::ByteArrayConverter),
        "AvroConverter" => return registry(schema_registry::RegistryFormat::Avro),
        "JsonSchemaConverter" => return registry(schema_registry::RegistryFormat::JsonSchema),
        "ProtobufConverter" => return registry(schema_registry::RegistryFormat::Protobuf),
        other => Box::new(primitive::NumberConverter::new(other)?),
    }))
}
