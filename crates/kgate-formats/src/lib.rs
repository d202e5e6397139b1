//! kgate's embedded formats: how a JSON value in a request becomes Kafka bytes and back.
//!
//! `binary` (base64 strings), `json` (the JSON text itself) and `string` (UTF-8 text)
//! need nothing else and go through [`json_to_bytes`] / [`bytes_to_json`]. `avro`,
//! `protobuf` and `jsonschema` need a Schema Registry: [`serializer::SchemaFormats`] turns
//! values into Confluent's wire format and back through a [`registry::SchemaRegistry`].

#![warn(missing_docs)]

pub mod avro;
pub mod json_schema;
pub mod protobuf;
pub mod registry;
pub mod schema;
pub mod serializer;
pub mod subject;
pub mod wire;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;

/// Errors converting between JSON request values and Kafka bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// A `binary` value was not a base64 string.
    #[error("{0}")]
    InvalidBase64(String),
    /// A value does not fit the embedded format (e.g. a number where text is required).
    #[error("{0}")]
    InvalidValue(String),
    /// Bytes read from Kafka are not valid in the embedded format.
    #[error("{0}")]
    Undecodable(String),
    /// The format needs a schema, and this call has none (use [`serializer::SchemaFormats`]).
    #[error("The {0} embedded format needs a schema from a Schema Registry")]
    Unsupported(EmbeddedFormat),
    /// A schema given in a request, or found in the registry, is not a valid schema.
    #[error("Invalid schema: {0}")]
    InvalidSchema(String),
    /// A value does not match the schema it is written with.
    #[error("{0}")]
    SchemaMismatch(String),
    /// The Schema Registry cannot be reached or failed (timeouts, connection errors, 5xx).
    #[error("Schema registry unavailable: {0}")]
    RegistryUnavailable(String),
    /// The Schema Registry answered with an error: unknown subject, version or id,
    /// incompatible schema, ...
    #[error("{message}")]
    Registry {
        /// The HTTP status the registry answered with.
        status: u16,
        /// The registry's `error_code`.
        error_code: u32,
        /// The registry's `message`.
        message: String,
    },
}

/// How records are embedded in a JSON request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmbeddedFormat {
    /// Raw bytes as base64 strings.
    Binary,
    /// The record is a JSON document, embedded as is.
    Json,
    /// The record is UTF-8 text, embedded as a JSON string (REST v3's `STRING`).
    String,
    /// Avro with a schema from the Schema Registry.
    Avro,
    /// Protobuf with a schema from the Schema Registry.
    Protobuf,
    /// JSON Schema with a schema from the Schema Registry.
    JsonSchema,
}

impl EmbeddedFormat {
    /// The name used in content types and consumer settings (`binary`, `json`, ...).
    pub fn name(self) -> &'static str {
        match self {
            EmbeddedFormat::Binary => "binary",
            EmbeddedFormat::Json => "json",
            EmbeddedFormat::String => "string",
            EmbeddedFormat::Avro => "avro",
            EmbeddedFormat::Protobuf => "protobuf",
            EmbeddedFormat::JsonSchema => "jsonschema",
        }
    }

    /// Parses a format name, ignoring case.
    pub fn from_name(name: &str) -> Option<EmbeddedFormat> {
        match name.to_ascii_lowercase().as_str() {
            "binary" => Some(EmbeddedFormat::Binary),
            "json" => Some(EmbeddedFormat::Json),
            "string" => Some(EmbeddedFormat::String),
            "avro" => Some(EmbeddedFormat::Avro),
            "protobuf" => Some(EmbeddedFormat::Protobuf),
            "jsonschema" => Some(EmbeddedFormat::JsonSchema),
            _ => None,
        }
    }

    /// Whether records in this format carry a schema id from the Schema Registry.
    pub fn uses_schema_registry(self) -> bool {
        matches!(
            self,
            EmbeddedFormat::Avro | EmbeddedFormat::Protobuf | EmbeddedFormat::JsonSchema
        )
    }
}

impl std::fmt::Display for EmbeddedFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Base64 as Confluent's proxy accepts it: the standard alphabet, padding optional.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Converts a JSON value from a request into Kafka bytes; JSON `null` means no bytes (a
/// null key, or a tombstone value).
pub fn json_to_bytes(
    format: EmbeddedFormat,
    value: &Value,
) -> Result<Option<Vec<u8>>, FormatError> {
    if value.is_null() {
        return Ok(None);
    }
    match format {
        EmbeddedFormat::Binary => match value {
            Value::String(s) => BASE64
                .decode(s.as_bytes())
                .map(Some)
                .map_err(|e| FormatError::InvalidBase64(format!("Invalid base64 string: {e}"))),
            other => Err(FormatError::InvalidBase64(format!(
                "Expected a base64 string, found {}",
                kind_of(other)
            ))),
        },
        EmbeddedFormat::Json => serde_json::to_vec(value)
            .map(Some)
            .map_err(|e| FormatError::InvalidValue(e.to_string())),
        EmbeddedFormat::String => match value {
            Value::String(s) => Ok(Some(s.as_bytes().to_vec())),
            other => Err(FormatError::InvalidValue(format!(
                "Expected a string, found {}",
                kind_of(other)
            ))),
        },
        other => Err(FormatError::Unsupported(other)),
    }
}

/// Converts Kafka bytes into the JSON value a response embeds; no bytes become `null`.
pub fn bytes_to_json(format: EmbeddedFormat, bytes: Option<&[u8]>) -> Result<Value, FormatError> {
    let Some(bytes) = bytes else {
        return Ok(Value::Null);
    };
    match format {
        EmbeddedFormat::Binary => Ok(Value::String(BASE64.encode(bytes))),
        EmbeddedFormat::Json => serde_json::from_slice(bytes)
            .map_err(|e| FormatError::Undecodable(format!("Record is not valid JSON: {e}"))),
        EmbeddedFormat::String => std::str::from_utf8(bytes)
            .map(|s| Value::String(s.to_string()))
            .map_err(|e| FormatError::Undecodable(format!("Record is not valid UTF-8: {e}"))),
        other => Err(FormatError::Unsupported(other)),
    }
}

/// Encodes bytes as standard padded base64 (as binary-format responses and headers do).
pub fn base64_encode(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Decodes standard base64, padding optional.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, FormatError> {
    BASE64
        .decode(text.as_bytes())
        .map_err(|e| FormatError::InvalidBase64(format!("Invalid base64 string: {e}")))
}

/// Decodes standard base64 (padding optional) onto the end of `out`, which a caller may
/// reuse from record to record.
pub fn base64_decode_into(text: &[u8], out: &mut Vec<u8>) -> Result<(), FormatError> {
    BASE64
        .decode_vec(text, out)
        .map_err(|e| FormatError::InvalidBase64(format!("Invalid base64 string: {e}")))
}

pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binary_round_trips_and_accepts_unpadded() {
        let bytes = json_to_bytes(EmbeddedFormat::Binary, &json!("a2Fma2E=")).unwrap();
        assert_eq!(bytes.as_deref(), Some(&b"kafka"[..]));
        let unpadded = json_to_bytes(EmbeddedFormat::Binary, &json!("a2Fma2E")).unwrap();
        assert_eq!(unpadded, bytes);
        assert_eq!(
            bytes_to_json(EmbeddedFormat::Binary, Some(b"kafka")).unwrap(),
            json!("a2Fma2E=")
        );
    }

    #[test]
    fn binary_rejects_bad_base64_and_non_strings() {
        assert!(matches!(
            json_to_bytes(EmbeddedFormat::Binary, &json!("not base64!")),
            Err(FormatError::InvalidBase64(_))
        ));
        assert!(matches!(
            json_to_bytes(EmbeddedFormat::Binary, &json!(12)),
            Err(FormatError::InvalidBase64(_))
        ));
    }

    #[test]
    fn json_embeds_documents_and_null_is_no_bytes() {
        let v = json!({"foo": [1, "bar"]});
        let bytes = json_to_bytes(EmbeddedFormat::Json, &v).unwrap().unwrap();
        assert_eq!(
            bytes_to_json(EmbeddedFormat::Json, Some(&bytes)).unwrap(),
            v
        );
        assert_eq!(
            json_to_bytes(EmbeddedFormat::Json, &Value::Null).unwrap(),
            None
        );
        assert_eq!(
            bytes_to_json(EmbeddedFormat::Json, None).unwrap(),
            Value::Null
        );
        assert!(bytes_to_json(EmbeddedFormat::Json, Some(b"{oops")).is_err());
    }

    #[test]
    fn schema_formats_are_a_clear_error() {
        let err = json_to_bytes(EmbeddedFormat::Avro, &json!(1)).unwrap_err();
        assert_eq!(err, FormatError::Unsupported(EmbeddedFormat::Avro));
        assert!(err.to_string().contains("avro"));
    }

    #[test]
    fn names_parse() {
        for f in [
            EmbeddedFormat::Binary,
            EmbeddedFormat::Json,
            EmbeddedFormat::String,
            EmbeddedFormat::Avro,
            EmbeddedFormat::Protobuf,
            EmbeddedFormat::JsonSchema,
        ] {
            assert_eq!(EmbeddedFormat::from_name(f.name()), Some(f));
        }
        assert_eq!(
            EmbeddedFormat::from_name("BINARY"),
            Some(EmbeddedFormat::Binary)
        );
        assert_eq!(EmbeddedFormat::from_name("xml"), None);
    }
}
