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
        // apache-avro panics on some invalid names rather than answering an error: names
        // are checked first, and the parser is still called so that a panic left in it
        // becomes this schema's error.
        check_names(&json).map_err(|e| invalid(&e))?;
        for reference in references {
            let referenced: Value = serde_json::from_str(&reference.schema)
                .map_err(|e| invalid(&format!("reference {}: {e}", reference.name)))?;
            check_names(&referenced)
                .map_err(|e| invalid(&format!("reference {}: {e}", reference.name)))?;
        }
        let (schema, references) = if references.is_empty() {
            (
                crate::catch_panic("Parsing the Avro schema", || {
                    apache_avro::Schema::parse(&json)
                })
                .map_err(|e| invalid(&e))?
                .map_err(|e| invalid(&e))?,
                Vec::new(),
            )
        } else {
            crate::catch_panic("Parsing the Avro schema", || {
                apache_avro::Schema::parse_str_with_list(
                    text,
                    references.iter().map(|r| r.schema.as_str()),
                )
            })
            .map_err(|e| invalid(&e))?
            .map_err(|e| invalid(&e))?
        };
        // Computed now, so that a schema whose canonical form cannot be computed is
        // refused here rather than failing later.
        if references.is_empty() {
            crate::catch_panic("The Avro schema's canonical form", || {
                schema.canonical_form()
            })
            .map_err(|e| invalid(&e))?;
        }
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
            crate::catch_panic("The Avro schema's canonical form", || {
                self.schema.canonical_form()
            })
            .unwrap_or_else(|_| self.canonical())
        } else {
            self.canonical()
        }
    }

    /// Why data written with `writer` cannot be read with this schema.
    pub fn read_incompatibilities(&self, writer: &AvroSchema) -> Vec<String> {
        let checked = crate::catch_panic("The Avro compatibility check", || {
            let (reader, writer) = (self.without_logical_types(), writer.without_logical_types());
            SchemaCompatibility::can_read(&writer, &reader).map_err(|e| e.to_string())
        });
        match checked.and_then(|r| r) {
            Ok(()) => Vec::new(),
            Err(e) => vec![format!(
                "READER_CANNOT_READ_WRITER: {e}; reader: {}, writer: {}",
                self.canonical(),
                writer.canonical()
            )],
        }
    }
}

impl AvroSchema {
    /// The schema with every logical type replaced by the type under it. Avro's schema
    /// resolution (and the Java implementation Confluent's registry checks compatibility
    /// with) looks at the types under logical types only; apache-avro's check refuses a
    /// `decimal` or `duration` even against itself.
    fn without_logical_types(&self) -> apache_avro::Schema {
        let strip = |mut json: Value| {
            let mut pending = vec![&mut json];
            while let Some(value) = pending.pop() {
                match value {
                    Value::Object(o) => {
                        o.remove("logicalType");
                        pending.extend(
                            o.iter_mut()
                                .filter(|(k, _)| k.as_str() != "default")
                                .map(|(_, v)| v),
                        );
                    }
                    Value::Array(items) => pending.extend(items.iter_mut()),
                    _ => {}
                }
            }
            json.to_string()
        };
        let main = strip(self.json.clone());
        let parsed = if self.references.is_empty() {
            apache_avro::Schema::parse_str(&main)
        } else {
            let references: Vec<String> = self
                .references
                .iter()
                .filter_map(|r| serde_json::to_value(r).ok())
                .map(strip)
                .collect();
            apache_avro::Schema::parse_str_with_list(&main, references.iter().map(String::as_str))
                .map(|(schema, _)| schema)
        };
        parsed.unwrap_or_else(|_| self.schema.clone())
    }
}

/// Whether `name` is an Avro name: a letter or `_`, then letters, digits and `_`.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` is a full name: names joined by dots.
fn is_full_name(name: &str) -> bool {
    name.split('.').all(is_name)
}

/// Checks the names in an Avro schema's JSON as the Avro specification (and Confluent's
/// registry, through the Java parser) requires: named types' names, namespaces and
/// aliases, field names, and type names used as references. Only schema positions are
/// walked: defaults and other attributes may hold any JSON.
fn check_names(json: &Value) -> Result<(), String> {
    let mut pending = vec![json];
    while let Some(schema) = pending.pop() {
        match schema {
            Value::String(name) if !is_full_name(name) => {
                return Err(format!("{name:?} is not a valid Avro type name"));
            }
            Value::Array(union) => pending.extend(union),
            Value::Object(o) => {
                let kind = o.get("type");
                if let Some(Value::String(k)) = kind
                    && matches!(k.as_str(), "record" | "error" | "enum" | "fixed")
                {
                    match o.get("name") {
                        Some(Value::String(n)) if is_full_name(n) => {}
                        Some(n) => return Err(format!("{n} is not a valid Avro name")),
                        None => return Err(format!("the {k} has no name")),
                    }
                    match o.get("namespace") {
                        None | Some(Value::Null) => {}
                        Some(Value::String(ns)) if ns.is_empty() || is_full_name(ns) => {}
                        Some(ns) => return Err(format!("{ns} is not a valid Avro namespace")),
                    }
                    match o.get("aliases") {
                        None | Some(Value::Null) => {}
                        Some(Value::Array(aliases)) => {
                            for alias in aliases {
                                if !alias.as_str().is_some_and(is_full_name) {
                                    return Err(format!("{alias} is not a valid Avro alias"));
                                }
                            }
                        }
                        Some(a) => return Err(format!("aliases must be an array, not {a}")),
                    }
                }
                if let Some(Value::Array(fields)) = o.get("fields") {
                    for field in fields {
                        match field.get("name") {
                            Some(Value::String(n)) if is_name(n) => {}
                            Some(n) => return Err(format!("{n} is not a valid Avro field name")),
                            None => return Err("a field has no name".to_string()),
                        }
                        if let Some(t) = field.get("type") {
                            pending.push(t);
                        }
                    }
                }
                pending.extend(kind);
                pending.extend(o.get("items"));
                pending.extend(o.get("values"));
            }
            _ => {}
        }
    }
    Ok(())
}
