//! Avro schemas, parsed by `apache-avro`; compatibility is Avro's schema resolution.

use apache_avro::schema_compatibility::SchemaCompatibility;
use serde_json::Value;

use super::{ResolvedReference, SchemaError, SchemaType};

/// A parsed Avro schema with the named schemas its references define.
#[derive(Debug, Clone)]
pub struct AvroSchema {
    /// The schema itself.
    pub schema: apache_avro::Schema,
    /// The referenced schemas, needed to resolve names the schema uses.
    pub references: Vec<apache_avro::Schema>,
    json: Value,
}

impl AvroSchema {
    /// Parses an Avro schema in JSON, with the texts of the named schemas it refers to.
    pub fn parse(text: &str, references: &[ResolvedReference]) -> Result<AvroSchema, SchemaError> {
        let invalid = |e: &dyn std::fmt::Display| SchemaError::invalid(SchemaType::Avro, e);
        let json: Value = serde_json::from_str(text).map_err(|e| invalid(&e))?;
        let (schema, references) = if references.is_empty() {
            (
                apache_avro::Schema::parse(&json).map_err(|e| invalid(&e))?,
                Vec::new(),
            )
        } else {
            apache_avro::Schema::parse_str_with_list(
                text,
                references.iter().map(|r| r.schema.as_str()),
            )
            .map_err(|e| invalid(&e))?
        };
        Ok(AvroSchema {
            schema,
            references,
            json,
        })
    }

    /// The schema as compact JSON, the form the registry stores and compares.
    pub fn canonical(&self) -> String {
        self.json.to_string()
    }

    /// Avro's Parsing Canonical Form when it can be computed, else the compact JSON.
    pub fn normalized(&self) -> String {
        if self.references.is_empty() {
            self.schema.canonical_form()
        } else {
            self.canonical()
        }
    }

    /// Why data written with `writer` cannot be read with this schema.
    pub fn read_incompatibilities(&self, writer: &AvroSchema) -> Vec<String> {
        match SchemaCompatibility::can_read(&writer.schema, &self.schema) {
            Ok(()) => Vec::new(),
            Err(e) => vec![format!(
                "READER_CANNOT_READ_WRITER: {e}; reader: {}, writer: {}",
                self.canonical(),
                writer.canonical()
            )],
        }
    }
}
