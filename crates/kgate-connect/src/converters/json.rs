//! Apache's JsonConverter (`org.apache.kafka.connect.json.JsonConverter`): with
//! `schemas.enable=true` (the default) each record is `{"schema":{..},"payload":..}`,
//! otherwise the plain JSON value. Schemas and envelopes are written with Apache's field
//! order, so the bytes are the ones an Apache worker writes.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value as Json;

use super::{ConvertError, Converter};
use crate::data::{Field, Schema, SchemaAndValue, SchemaType, Value};

/// JsonConverter for one slot.
pub struct JsonConverter {
    schemas_enabled: bool,
}

impl JsonConverter {
    /// Reads `schemas.enable` (and checks `decimal.format`).
    pub fn new(
        settings: &BTreeMap<String, String>,
        _is_key: bool,
    ) -> Result<JsonConverter, ConvertError> {
        let schemas_enabled = match settings.get("schemas.enable").map(|s| s.trim()) {
            None => true,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(ConvertError(format!(
                    "Invalid value {v} for configuration schemas.enable: Expected value to be either true or false"
                )));
            }
        };
        if let Some(format) = settings.get("decimal.format")
            && !format.eq_ignore_ascii_case("BASE64")
            && !format.eq_ignore_ascii_case("NUMERIC")
        {
            return Err(ConvertError(format!(
                "Invalid value {format} for configuration decimal.format: String must be one of: BASE64, NUMERIC"
            )));
        }
        Ok(JsonConverter { schemas_enabled })
    }
}

impl Converter for JsonConverter {
    fn from_connect(
        &self,
        _topic: &str,
        data: &SchemaAndValue,
    ) -> Result<Option<Vec<u8>>, ConvertError> {
        if data.schema.is_none() && data.value == Value::Null {
            return Ok(None);
        }
        let mut out = String::new();
        if self.schemas_enabled {
            out.push_str("{\"schema\":");
            match &data.schema {
                Some(schema) => write_schema(schema, &mut out),
                None => out.push_str("null"),
            }
            out.push_str(",\"payload\":");
            write_value(data.schema.as_ref(), &data.value, &mut out)?;
            out.push('}');
        } else {
            write_value(data.schema.as_ref(), &data.value, &mut out)?;
        }
        Ok(Some(out.into_bytes()))
    }

    fn to_connect(
        &self,
        _topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError> {
        let Some(bytes) = bytes else {
            return Ok(SchemaAndValue::null());
        };
        let json: Json = serde_json::from_slice(bytes).map_err(|e| {
            ConvertError(format!(
                "Converting byte[] to Kafka Connect data failed due to serialization error: {e}"
            ))
        })?;
        if !self.schemas_enabled {
            return Ok(SchemaAndValue {
                schema: None,
                value: schemaless(&json),
            });
        }
        let envelope = json
            .as_object()
            .filter(|o| o.len() == 2 && o.contains_key("schema") && o.contains_key("payload"));
        let Some(envelope) = envelope else {
            return Err(ConvertError(
                "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.".to_string(),
            ));
        };
        let payload = &envelope["payload"];
        match &envelope["schema"] {
            Json::Null => Ok(SchemaAndValue {
                schema: None,
                value: schemaless(payload),
            }),
            schema_json => {
                let schema = read_schema(schema_json)?;
                let value = read_value(&schema, payload)?;
                Ok(SchemaAndValue {
                    schema: Some(schema),
                    value,
                })
            }
        }
    }
}

/// A JSON value without a schema, as Apache reads it: integers as int64, other numbers
/// as double, objects as maps with string keys.
fn schemaless(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int64(i),
            None => Value::Float64(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(schemaless).collect()),
        Json::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| (Value::String(k.clone()), schemaless(v)))
                .collect(),
        ),
    }
}

fn read_schema(json: &Json) -> Result<Schema, ConvertError> {
    let o = json
        .as_object()
        .ok_or_else(|| ConvertError("Schema must be a JSON object".into()))?;
    let type_name = o
        .get("type")
        .and_then(Json::as_str)
        .ok_or_else(|| ConvertError("Schema must contain 'type' field".into()))?;
    let kind = SchemaType::from_name(type_name)
        .ok_or_else(|| ConvertError(format!("Unknown schema type: {type_name}")))?;
    let mut schema = Schema::of(
        kind,
        o.get("optional").and_then(Json::as_bool).unwrap_or(false),
    );
    schema.name = o.get("name").and_then(Json::as_str).map(str::to_string);
    schema.version = o
        .get("version")
        .and_then(Json::as_i64)
        .and_then(|v| i32::try_from(v).ok());
    schema.doc = o.get("doc").and_then(Json::as_str).map(str::to_string);
    if let Some(Json::Object(p)) = o.get("parameters") {
        schema.parameters = Some(
            p.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect(),
        );
    }
    match kind {
        SchemaType::Struct => {
            let fields = o.get("fields").and_then(Json::as_array).ok_or_else(|| {
                ConvertError("Struct schema's \"fields\" argument is not an array.".into())
            })?;
            for f in fields {
                let name = f.get("field").and_then(Json::as_str).ok_or_else(|| {
                    ConvertError("Struct schema's field name not specified properly".into())
                })?;
                schema.fields.push(Field {
                    name: name.to_string(),
                    schema: read_schema(f)?,
                });
            }
        }
        SchemaType::Array => {
            let items = o.get("items").ok_or_else(|| {
                ConvertError("Array schema did not specify the element type".into())
            })?;
            schema.value = Some(Box::new(read_schema(items)?));
        }
        SchemaType::Map => {
            let keys = o
                .get("keys")
                .ok_or_else(|| ConvertError("Map schema did not specify the key type".into()))?;
            let values = o
                .get("values")
                .ok_or_else(|| ConvertError("Map schema did not specify the value type".into()))?;
            schema.key = Some(Box::new(read_schema(keys)?));
            schema.value = Some(Box::new(read_schema(values)?));
        }
        _ => {}
    }
    if let Some(default) = o.get("default").filter(|d| !d.is_null()) {
        schema.default = Some(Box::new(read_value(&schema, default)?));
    }
    Ok(schema)
}

fn mismatch(schema: &Schema, json: &Json) -> ConvertError {
    ConvertError(format!(
        "Invalid type for {}: {}",
        schema.kind.name().to_uppercase(),
        kind_of(json)
    ))
}

fn kind_of(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn read_value(schema: &Schema, json: &Json) -> Result<Value, ConvertError> {
    if json.is_null() {
        if let Some(default) = &schema.default {
            return Ok((**default).clone());
        }
        if schema.optional {
            return Ok(Value::Null);
        }
        return Err(ConvertError(
            "Invalid null value for required field".to_string(),
        ));
    }
    let int = |json: &Json| json.as_i64().ok_or_else(|| mismatch(schema, json));
    Ok(match schema.kind {
        SchemaType::Int8 => {
            Value::Int8(i8::try_from(int(json)?).map_err(|_| mismatch(schema, json))?)
        }
        SchemaType::Int16 => {
            Value::Int16(i16::try_from(int(json)?).map_err(|_| mismatch(schema, json))?)
        }
        SchemaType::Int32 => {
            Value::Int32(i32::try_from(int(json)?).map_err(|_| mismatch(schema, json))?)
        }
        SchemaType::Int64 => Value::Int64(int(json)?),
        SchemaType::Float32 => {
            Value::Float32(json.as_f64().ok_or_else(|| mismatch(schema, json))? as f32)
        }
        SchemaType::Float64 => Value::Float64(json.as_f64().ok_or_else(|| mismatch(schema, json))?),
        SchemaType::Boolean => {
            Value::Boolean(json.as_bool().ok_or_else(|| mismatch(schema, json))?)
        }
        SchemaType::String => Value::String(
            json.as_str()
                .ok_or_else(|| mismatch(schema, json))?
                .to_string(),
        ),
        SchemaType::Bytes => {
            let text = json.as_str().ok_or_else(|| mismatch(schema, json))?;
            Value::Bytes(
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|e| ConvertError(format!("Invalid bytes field: {e}")))?,
            )
        }
        SchemaType::Array => {
            let items = json.as_array().ok_or_else(|| mismatch(schema, json))?;
            let item_schema = schema
                .value
                .as_deref()
                .ok_or_else(|| mismatch(schema, json))?;
            Value::Array(
                items
                    .iter()
                    .map(|i| read_value(item_schema, i))
                    .collect::<Result<_, _>>()?,
            )
        }
        SchemaType::Map => {
            let key_schema = schema
                .key
                .as_deref()
                .ok_or_else(|| mismatch(schema, json))?;
            let value_schema = schema
                .value
                .as_deref()
                .ok_or_else(|| mismatch(schema, json))?;
            if key_schema.kind == SchemaType::String {
                let o = json.as_object().ok_or_else(|| mismatch(schema, json))?;
                Value::Map(
                    o.iter()
                        .map(|(k, v)| Ok((Value::String(k.clone()), read_value(value_schema, v)?)))
                        .collect::<Result<_, ConvertError>>()?,
                )
            } else {
                // Non-string keys travel as an array of [key, value] pairs.
                let pairs = json.as_array().ok_or_else(|| mismatch(schema, json))?;
                let mut out = Vec::with_capacity(pairs.len());
                for pair in pairs {
                    match pair.as_array().map(Vec::as_slice) {
                        Some([k, v]) => {
                            out.push((read_value(key_schema, k)?, read_value(value_schema, v)?))
                        }
                        _ => {
                            return Err(ConvertError(
                                "Found invalid map entry instead of array tuple".into(),
                            ));
                        }
                    }
                }
                Value::Map(out)
            }
        }
        SchemaType::Struct => {
            let o = json.as_object().ok_or_else(|| mismatch(schema, json))?;
            let mut fields = Vec::with_capacity(schema.fields.len());
            for f in &schema.fields {
                let v = o.get(&f.name).unwrap_or(&Json::Null);
                fields.push((f.name.clone(), read_value(&f.schema, v)?));
            }
            Value::Struct(fields)
        }
    })
}

fn write_str(s: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string()));
}

/// A schema as Apache writes it: type (and fields/items/keys/values), optional, then
/// name, version, doc, parameters, default.
fn write_schema(schema: &Schema, out: &mut String) {
    write_schema_with_field(schema, None, out);
}

fn write_schema_with_field(schema: &Schema, field: Option<&str>, out: &mut String) {
    out.push_str("{\"type\":");
    write_str(schema.kind.name(), out);
    match schema.kind {
        SchemaType::Struct => {
            out.push_str(",\"fields\":[");
            for (i, f) in schema.fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_schema_with_field(&f.schema, Some(&f.name), out);
            }
            out.push(']');
        }
        SchemaType::Array => {
            if let Some(items) = &schema.value {
                out.push_str(",\"items\":");
                write_schema(items, out);
            }
        }
        SchemaType::Map => {
            if let (Some(k), Some(v)) = (&schema.key, &schema.value) {
                out.push_str(",\"keys\":");
                write_schema(k, out);
                out.push_str(",\"values\":");
                write_schema(v, out);
            }
        }
        _ => {}
    }
    out.push_str(",\"optional\":");
    out.push_str(if schema.optional { "true" } else { "false" });
    if let Some(name) = &schema.name {
        out.push_str(",\"name\":");
        write_str(name, out);
    }
    if let Some(version) = schema.version {
        out.push_str(&format!(",\"version\":{version}"));
    }
    if let Some(doc) = &schema.doc {
        out.push_str(",\"doc\":");
        write_str(doc, out);
    }
    if let Some(parameters) = &schema.parameters {
        out.push_str(",\"parameters\":");
        out.push_str(&serde_json::to_string(parameters).unwrap_or_else(|_| "{}".into()));
    }
    if let Some(default) = &schema.default {
        out.push_str(",\"default\":");
        // A default that does not fit its schema is left out rather than failing.
        let mut text = String::new();
        if write_value(Some(schema), default, &mut text).is_ok() {
            out.push_str(&text);
        } else {
            out.push_str("null");
        }
    }
    if let Some(field) = field {
        out.push_str(",\"field\":");
        write_str(field, out);
    }
    out.push('}');
}

fn write_number(n: f64, out: &mut String) {
    match serde_json::Number::from_f64(n) {
        Some(n) => out.push_str(&n.to_string()),
        // JSON has no NaN or infinity; Jackson writes them as strings.
        None => write_str(&n.to_string(), out),
    }
}

fn write_value(
    schema: Option<&Schema>,
    value: &Value,
    out: &mut String,
) -> Result<(), ConvertError> {
    if let (Some(s), Value::Null) = (schema, value) {
        if let Some(default) = &s.default {
            return write_value(Some(s), default, out);
        }
        if !s.optional {
            return Err(ConvertError(
                "Conversion error: null value for field that is required and has no default value"
                    .into(),
            ));
        }
    }
    match value {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int8(n) => out.push_str(&n.to_string()),
        Value::Int16(n) => out.push_str(&n.to_string()),
        Value::Int32(n) => out.push_str(&n.to_string()),
        Value::Int64(n) => out.push_str(&n.to_string()),
        Value::Float32(n) => write_number(f64::from(*n), out),
        Value::Float64(n) => write_number(*n, out),
        Value::String(s) => write_str(s, out),
        Value::Bytes(b) => write_str(&base64::engine::general_purpose::STANDARD.encode(b), out),
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.value.as_deref());
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item_schema, v, out)?;
            }
            out.push(']');
        }
        Value::Map(entries) => {
            let key_schema = schema.and_then(|s| s.key.as_deref());
            let value_schema = schema.and_then(|s| s.value.as_deref());
            let string_keys = match key_schema {
                Some(k) => k.kind == SchemaType::String,
                None => entries.iter().all(|(k, _)| matches!(k, Value::String(_))),
            };
            if string_keys {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(&k.to_string(), out);
                    out.push(':');
                    write_value(value_schema, v, out)?;
                }
                out.push('}');
            } else {
                out.push('[');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('[');
                    write_value(key_schema, k, out)?;
                    out.push(',');
                    write_value(value_schema, v, out)?;
                    out.push(']');
                }
                out.push(']');
            }
        }
        Value::Struct(fields) => {
            out.push('{');
            for (i, (name, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(name, out);
                out.push(':');
                let field_schema = schema.and_then(|s| s.fields.iter().find(|f| f.name == *name));
                write_value(field_schema.map(|f| &f.schema), v, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn converter(schemas: bool) -> JsonConverter {
        let settings = [("schemas.enable".to_string(), schemas.to_string())].into();
        JsonConverter::new(&settings, false).unwrap()
    }

    #[test]
    fn a_string_with_schema_is_written_as_apache_writes_it() {
        let data = SchemaAndValue {
            schema: Some(Schema::string()),
            value: Value::String("line \"1\"".into()),
        };
        let bytes = converter(true).from_connect("t", &data).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"schema":{"type":"string","optional":false},"payload":"line \"1\""}"#
        );
        assert_eq!(converter(true).to_connect("t", Some(&bytes)).unwrap(), data);
        let plain = converter(false).from_connect("t", &data).unwrap().unwrap();
        assert_eq!(plain, br#""line \"1\"""#);
        assert_eq!(
            converter(true)
                .from_connect("t", &SchemaAndValue::null())
                .unwrap(),
            None
        );
    }

    #[test]
    fn structs_round_trip_with_apache_field_order() {
        let text = r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"array","items":{"type":"string","optional":false},"optional":true,"field":"tags"}],"optional":false,"name":"rec"},"payload":{"id":7,"tags":["a","b"]}}"#;
        let c = converter(true);
        let data = c.to_connect("t", Some(text.as_bytes())).unwrap();
        assert_eq!(
            data.value,
            Value::Struct(vec![
                ("id".into(), Value::Int32(7)),
                (
                    "tags".into(),
                    Value::Array(vec![Value::String("a".into()), Value::String("b".into())])
                ),
            ])
        );
        let back = c.from_connect("t", &data).unwrap().unwrap();
        assert_eq!(String::from_utf8(back).unwrap(), text);
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let e = converter(true)
            .to_connect("t", Some(br#"{"a":1}"#))
            .unwrap_err();
        assert!(e.0.contains("schemas.enable=false"), "{e}");
        let e = converter(true).to_connect("t", Some(b"{nope")).unwrap_err();
        assert!(e.0.contains("serialization error"), "{e}");
        let e = converter(true)
            .to_connect(
                "t",
                Some(br#"{"schema":{"type":"int8","optional":false},"payload":1000}"#),
            )
            .unwrap_err();
        assert!(e.0.contains("INT8"), "{e}");
        let schemaless = converter(false)
            .to_connect("t", Some(br#"{"a":1,"b":[1.5]}"#))
            .unwrap();
        assert_eq!(schemaless.value.to_string(), "{a=1, b=[1.5]}");
    }
}
