//! JSON Schemas, compiled by the `jsonschema` crate; compatibility follows Confluent's
//! rules for the common keywords (type, properties, required, items, enum, content model).

use std::sync::Arc;

use serde_json::Value;

use super::{ResolvedReference, SchemaError, SchemaType};

/// A parsed JSON Schema with its compiled validator.
#[derive(Clone)]
pub struct JsonSchema {
    /// The schema document.
    pub value: Value,
    /// The compiled validator, references included.
    pub validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for JsonSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSchema")
            .field("value", &self.value)
            .finish()
    }
}

/// Where `jsonschema` resolves relative `$ref`s of a schema without an `$id`.
const DEFAULT_BASE: &str = "json-schema:///";

impl JsonSchema {
    /// Parses a JSON Schema; each reference is made available under its name (also
    /// relative to the default base URI, so `"$ref": "other.json"` finds it).
    pub fn parse(text: &str, references: &[ResolvedReference]) -> Result<JsonSchema, SchemaError> {
        let invalid = |e: &dyn std::fmt::Display| SchemaError::invalid(SchemaType::Json, e);
        let value: Value = serde_json::from_str(text).map_err(|e| invalid(&e))?;
        if !(value.is_object() || value.is_boolean()) {
            return Err(invalid(&"a JSON Schema must be an object or a boolean"));
        }
        jsonschema::meta::validate(&value).map_err(|e| invalid(&e))?;
        let mut options = jsonschema::options();
        for reference in references {
            let contents: Value = serde_json::from_str(&reference.schema)
                .map_err(|e| invalid(&format!("reference {}: {e}", reference.name)))?;
            let uris = if reference.name.contains(':') {
                vec![reference.name.clone()]
            } else {
                vec![
                    reference.name.clone(),
                    format!("{DEFAULT_BASE}{}", reference.name.trim_start_matches('/')),
                ]
            };
            for uri in uris {
                let resource = jsonschema::Resource::from_contents(contents.clone())
                    .map_err(|e| invalid(&format!("reference {}: {e}", reference.name)))?;
                options = options.with_resource(uri, resource);
            }
        }
        let validator = options.build(&value).map_err(|e| invalid(&e))?;
        Ok(JsonSchema {
            value,
            validator: Arc::new(validator),
        })
    }

    /// The schema as compact JSON (keys sorted), the form the registry stores.
    pub fn canonical(&self) -> String {
        self.value.to_string()
    }

    /// Checks a document against the schema; the error lists what does not match.
    pub fn validate(&self, instance: &Value) -> Result<(), String> {
        let errors: Vec<String> = self
            .validator
            .iter_errors(instance)
            .map(|e| format!("{}: {e}", e.instance_path))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Why documents valid under `writer` may be rejected or misread with this schema.
    pub fn read_incompatibilities(&self, writer: &JsonSchema) -> Vec<String> {
        let mut out = Vec::new();
        compare(&self.value, &writer.value, "#", &mut out);
        out
    }
}

fn types_of(schema: &Value) -> Option<Vec<String>> {
    match schema.get("type")? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect(),
        ),
        _ => None,
    }
}

fn is_open(schema: &Value) -> bool {
    !matches!(schema.get("additionalProperties"), Some(Value::Bool(false)))
}

fn required(schema: &Value) -> Vec<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Compares a reader's schema with a writer's at `path`, pushing Confluent-style
/// difference names for what makes the pair incompatible.
fn compare(reader: &Value, writer: &Value, path: &str, out: &mut Vec<String>) {
    if reader == writer {
        return;
    }
    match (reader, writer) {
        (Value::Bool(true), _) => return,
        (Value::Bool(false), _) => {
            out.push(format!(
                "TYPE_CHANGED at {path}: the reader accepts nothing"
            ));
            return;
        }
        (_, Value::Bool(true)) if reader.as_object().is_some_and(|o| !o.is_empty()) => {
            out.push(format!(
                "TYPE_NARROWED at {path}: the writer accepts anything"
            ));
            return;
        }
        _ => {}
    }
    if let (Some(rt), Some(wt)) = (types_of(reader), types_of(writer)) {
        let widened =
            |t: &String| rt.contains(t) || (t == "integer" && rt.iter().any(|r| r == "number"));
        if !wt.iter().all(widened) {
            out.push(format!(
                "TYPE_CHANGED at {path}: reader type {rt:?}, writer type {wt:?}"
            ));
            return;
        }
    } else if types_of(reader).is_some()
        && types_of(writer).is_none()
        && writer.get("$ref").is_none()
    {
        out.push(format!("TYPE_NARROWED at {path}: the reader adds a type"));
    }
    if let (Some(re), Some(we)) = (
        reader.get("enum").and_then(Value::as_array),
        writer.get("enum").and_then(Value::as_array),
    ) {
        if !we.iter().all(|v| re.contains(v)) {
            out.push(format!("ENUM_ARRAY_NARROWED at {path}"));
        }
    } else if reader.get("enum").is_some() && writer.get("enum").is_none() {
        out.push(format!(
            "ENUM_ARRAY_NARROWED at {path}: the reader adds an enum"
        ));
    }
    let empty = serde_json::Map::new();
    let rprops = reader
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let wprops = writer
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let wrequired = required(writer);
    for name in required(reader) {
        if !wrequired.contains(&name) {
            if wprops.contains_key(&name) {
                out.push(format!(
                    "REQUIRED_ATTRIBUTE_ADDED at {path}/properties/{name}"
                ));
            } else if rprops.get(&name).and_then(|p| p.get("default")).is_none() {
                out.push(format!(
                    "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL at {path}/properties/{name}"
                ));
            }
        }
    }
    for (name, rprop) in rprops {
        let child = format!("{path}/properties/{name}");
        match wprops.get(name) {
            Some(wprop) => compare(rprop, wprop, &child, out),
            // The writer may have put anything under this name.
            None if is_open(writer)
                && rprop != &Value::Bool(true)
                && rprop.as_object().is_none_or(|o| !o.is_empty()) =>
            {
                out.push(format!("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL at {child}"));
            }
            None => {}
        }
    }
    for name in wprops.keys() {
        if !rprops.contains_key(name) && !is_open(reader) {
            out.push(format!(
                "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL at {path}/properties/{name}"
            ));
        }
    }
    if is_open(writer) && !is_open(reader) {
        out.push(format!("ADDITIONAL_PROPERTIES_REMOVED at {path}"));
    }
    if let (Some(ri), Some(wi)) = (reader.get("items"), writer.get("items")) {
        compare(ri, wi, &format!("{path}/items"), out);
    }
    for (keyword, narrower_is_smaller) in [
        ("maxLength", true),
        ("maximum", true),
        ("maxItems", true),
        ("minLength", false),
        ("minimum", false),
        ("minItems", false),
    ] {
        let (r, w) = (
            reader.get(keyword).and_then(Value::as_f64),
            writer.get(keyword).and_then(Value::as_f64),
        );
        let narrowed = match (r, w) {
            (Some(_), None) => true,
            (Some(r), Some(w)) => {
                if narrower_is_smaller {
                    r < w
                } else {
                    r > w
                }
            }
            _ => false,
        };
        if narrowed {
            out.push(format!("{}_NARROWED at {path}", keyword.to_uppercase()));
        }
    }
}
