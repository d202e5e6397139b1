//! Schemas of the three registry types (AVRO, PROTOBUF, JSON): parsing, validation and
//! canonical forms, shared by the Schema Registry and the embedded formats.
//!
//! A schema is parsed together with the texts of the schemas it references (already
//! resolved by whoever holds them, e.g. the registry's store), so parsing never reaches
//! out to a network or a file system.

mod avro;
mod json;
mod json_budget;
mod json_refs;
pub(crate) mod json_steps;
mod protobuf;
mod protobuf_text;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use avro::AvroSchema;
pub use json::{JsonSchema, JsonValidator};
pub use json_budget::growth_count as json_validator_growth_count;
pub use protobuf::ProtobufSchema;

/// The type of a registered schema, as Confluent Schema Registry names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SchemaType {
    /// Apache Avro (the registry's default when `schemaType` is absent).
    #[default]
    Avro,
    /// Protocol Buffers (proto2/proto3 source text).
    Protobuf,
    /// JSON Schema.
    Json,
}

impl SchemaType {
    /// The name used in the registry's `schemaType` field.
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Protobuf => "PROTOBUF",
            SchemaType::Json => "JSON",
        }
    }

    /// Parses a `schemaType` name, ignoring case.
    pub fn from_name(name: &str) -> Option<SchemaType> {
        match name.to_ascii_uppercase().as_str() {
            "AVRO" => Some(SchemaType::Avro),
            "PROTOBUF" => Some(SchemaType::Protobuf),
            "JSON" => Some(SchemaType::Json),
            _ => None,
        }
    }

    /// All types, in the order `GET /schemas/types` lists them.
    pub fn all() -> [SchemaType; 3] {
        [SchemaType::Json, SchemaType::Protobuf, SchemaType::Avro]
    }
}

impl fmt::Display for SchemaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A reference from one schema to another registered schema (the registry's
/// `references` entries).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SchemaReference {
    /// The name the referring schema uses: an Avro full name, a proto import path or a
    /// JSON Schema `$ref` URI.
    pub name: String,
    /// The subject the referenced schema is registered under.
    pub subject: String,
    /// The version of that subject.
    pub version: i32,
}

/// The text of a referenced schema, looked up by its reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedReference {
    /// The reference's `name` (see [`SchemaReference::name`]).
    pub name: String,
    /// The referenced schema's text.
    pub schema: String,
}

/// Why a schema could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The text is not a valid schema of its type (the registry's 42201).
    #[error("Invalid {schema_type} schema: {message}")]
    Invalid {
        /// The type the text was parsed as.
        schema_type: SchemaType,
        /// What is wrong, from the type's parser.
        message: String,
    },
}

impl SchemaError {
    fn invalid(schema_type: SchemaType, message: impl fmt::Display) -> SchemaError {
        SchemaError::Invalid {
            schema_type,
            message: message.to_string(),
        }
    }
}

/// A schema parsed and validated, ready for serialization and compatibility checks.
#[derive(Debug, Clone)]
pub enum ParsedSchema {
    /// An Avro schema.
    Avro(AvroSchema),
    /// A Protobuf file and the files it imports.
    Protobuf(ProtobufSchema),
    /// A JSON Schema with its compiled validator.
    Json(JsonSchema),
}

impl ParsedSchema {
    /// Parses `text` as a schema of `schema_type`; `references` holds every schema it
    /// refers to, directly or not, dependencies before the schemas that use them.
    ///
    /// The texts are untrusted: their sizes, count and nesting are checked against
    /// [`crate::limits`] before any parser (several of which recurse on nesting) sees them.
    pub fn parse(
        schema_type: SchemaType,
        text: &str,
        references: &[ResolvedReference],
    ) -> Result<ParsedSchema, SchemaError> {
        check_limits(schema_type, text, references)?;
        Ok(match schema_type {
            SchemaType::Avro => ParsedSchema::Avro(AvroSchema::parse(text, references)?),
            SchemaType::Protobuf => {
                ParsedSchema::Protobuf(ProtobufSchema::parse(text, references)?)
            }
            SchemaType::Json => ParsedSchema::Json(JsonSchema::parse(text, references)?),
        })
    }

    /// The schema's type.
    pub fn schema_type(&self) -> SchemaType {
        match self {
            ParsedSchema::Avro(_) => SchemaType::Avro,
            ParsedSchema::Protobuf(_) => SchemaType::Protobuf,
            ParsedSchema::Json(_) => SchemaType::Json,
        }
    }

    /// The canonical text: two schemas that differ only in layout have the same one, so
    /// the registry stores and compares this form.
    pub fn canonical(&self) -> String {
        match self {
            ParsedSchema::Avro(s) => s.canonical(),
            ParsedSchema::Protobuf(s) => s.canonical(),
            ParsedSchema::Json(s) => s.canonical(),
        }
    }

    /// The normalized text (the registry's `normalize=true`): the canonical text with
    /// semantically irrelevant differences (such as the order of JSON keys) removed too.
    pub fn normalized(&self) -> String {
        match self {
            ParsedSchema::Avro(s) => s.normalized(),
            ParsedSchema::Protobuf(s) => s.normalized(),
            ParsedSchema::Json(s) => s.canonical(),
        }
    }

    /// Why data written with `writer` cannot be read with `self` as the reader's schema;
    /// empty when it can. Schemas of different types are never compatible.
    pub fn read_incompatibilities(&self, writer: &ParsedSchema) -> Vec<String> {
        match (self, writer) {
            (ParsedSchema::Avro(r), ParsedSchema::Avro(w)) => r.read_incompatibilities(w),
            (ParsedSchema::Protobuf(r), ParsedSchema::Protobuf(w)) => r.read_incompatibilities(w),
            (ParsedSchema::Json(r), ParsedSchema::Json(w)) => r.read_incompatibilities(w),
            (r, w) => vec![format!(
                "TYPE_MISMATCH: the reader's schema is {} but the writer's is {}",
                r.schema_type(),
                w.schema_type()
            )],
        }
    }
}

/// Checks the size, count and nesting of a schema and its references.
fn check_limits(
    schema_type: SchemaType,
    text: &str,
    references: &[ResolvedReference],
) -> Result<(), SchemaError> {
    use crate::limits::{MAX_REFERENCES, MAX_SCHEMA_BYTES, MAX_SCHEMA_TOTAL_BYTES};
    let invalid = |m: String| SchemaError::invalid(schema_type, m);
    if references.len() > MAX_REFERENCES {
        return Err(invalid(format!(
            "{} schema references, more than kgate's limit of {MAX_REFERENCES}",
            references.len()
        )));
    }
    let mut total = 0usize;
    for (name, text) in std::iter::once(("the schema", text)).chain(
        references
            .iter()
            .map(|r| (r.name.as_str(), r.schema.as_str())),
    ) {
        if text.len() > MAX_SCHEMA_BYTES {
            return Err(invalid(format!(
                "{} is {} bytes long, more than kgate's limit of {MAX_SCHEMA_BYTES}",
                quoted_name(name),
                text.len()
            )));
        }
        total += text.len();
        check_nesting(schema_type, text)
            .map_err(|m| invalid(format!("{}: {m}", quoted_name(name))))?;
    }
    if total > MAX_SCHEMA_TOTAL_BYTES {
        return Err(invalid(format!(
            "the schema and its references are {total} bytes long, more than kgate's limit of {MAX_SCHEMA_TOTAL_BYTES}"
        )));
    }
    Ok(())
}

fn quoted_name(name: &str) -> String {
    if name == "the schema" {
        name.to_string()
    } else {
        format!("reference {name:?}")
    }
}

/// Refuses a text nested deeper than the parser of its type may safely recurse.
fn check_nesting(schema_type: SchemaType, text: &str) -> Result<(), String> {
    use crate::limits::{MAX_PROTOBUF_NESTING, MAX_SCHEMA_DEPTH};
    match schema_type {
        SchemaType::Avro | SchemaType::Json => {
            if json_nesting(text) > MAX_SCHEMA_DEPTH {
                return Err(format!(
                    "nested more than kgate's limit of {MAX_SCHEMA_DEPTH} levels"
                ));
            }
        }
        SchemaType::Protobuf => {
            if protobuf_nesting(text) > MAX_PROTOBUF_NESTING {
                return Err(format!(
                    "declarations nested more than kgate's limit of {MAX_PROTOBUF_NESTING} levels"
                ));
            }
        }
    }
    Ok(())
}

/// The deepest nesting of JSON arrays and objects in `text`, strings skipped. Only an
/// upper bound for text that is not valid JSON, which is all a pre-check needs.
pub(crate) fn json_nesting(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'"' => {
                while let Some(c) = bytes.next() {
                    match c {
                        b'\\' => {
                            bytes.next();
                        }
                        b'"' => break,
                        _ => {}
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The deepest nesting of brackets (`{`, `[`, `(`, `<`) in `.proto` text, strings and
/// comments skipped. A closing bracket only closes the same kind, so mismatched or
/// unbalanced text counts at least as deep as a parser that recovers from errors could
/// go.
pub(crate) fn protobuf_nesting(text: &str) -> usize {
    let mut open: Vec<u8> = Vec::new();
    let mut deepest = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 1;
            }
            b @ (b'{' | b'[' | b'(' | b'<') => {
                open.push(b);
                deepest = deepest.max(open.len());
            }
            b @ (b'}' | b']' | b')' | b'>') => {
                let opening = match b {
                    b'}' => b'{',
                    b']' => b'[',
                    b')' => b'(',
                    _ => b'<',
                };
                if open.last() == Some(&opening) {
                    open.pop();
                }
            }
            _ => {}
        }
        i += 1;
    }
    deepest
}

#[cfg(test)]
mod tests;
