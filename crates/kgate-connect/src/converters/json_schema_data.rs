//! Connect data as JSON Schema, the way Confluent's JsonSchemaConverter maps them:
//! integers carry a `connect.type` (int8 ... int64), floats too (float32, float64), bytes
//! are base64 strings with `connect.type` bytes, maps with string keys are objects with
//! `additionalProperties` and `connect.type` map, structs are objects titled after the
//! schema with their fields' `connect.index`, and an optional schema is a `oneOf` with
//! null.

use serde_json::{Map, Value as Json, json};

use super::ConvertError;
use super::walk::{self, Form, ReadForm, Rules};
use crate::data::{Field, Schema, SchemaType, Value};

/// The JSON Schema for a Connect schema.
pub fn json_schema(schema: &Schema) -> Json {
    with_optional(schema, write_schema(schema))
}

fn with_optional(schema: &Schema, written: Json) -> Json {
    if schema.optional {
        json!({"oneOf": [{"type": "null"}, written]})
    } else {
        written
    }
}

fn typed(t: &str, connect: &str) -> Json {
    json!({"type": t, "connect.type": connect})
}

fn write_schema(schema: &Schema) -> Json {
    let mut out = match schema.kind {
        SchemaType::Boolean => json!({"type": "boolean"}),
        SchemaType::Int8 => typed("integer", "int8"),
        SchemaType::Int16 => typed("integer", "int16"),
        SchemaType::Int32 => typed("integer", "int32"),
        SchemaType::Int64 => typed("integer", "int64"),
        SchemaType::Float32 => typed("number", "float32"),
        SchemaType::Float64 => typed("number", "float64"),
        SchemaType::String => json!({"type": "string"}),
        SchemaType::Bytes => typed("string", "bytes"),
        SchemaType::Array => {
            let items = schema.value.as_deref().map_or(json!({}), json_schema);
            json!({"type": "array", "items": items})
        }
        SchemaType::Map => {
            let key = schema.key.as_deref();
            let value = schema.value.as_deref().map_or(json!({}), json_schema);
            match key {
                Some(k) if k.kind == SchemaType::String && !k.optional => {
                    json!({"type": "object", "additionalProperties": value, "connect.type": "map"})
                }
                _ => {
                    let key = key.map_or(json!({}), json_schema);
                    json!({
                        "type": "array",
                        "items": {"type": "object", "properties": {"key": key, "value": value}},
                        "connect.type": "map",
                    })
                }
            }
        }
        SchemaType::Struct => {
            let mut properties = Map::new();
            for (i, f) in schema.fields.iter().enumerate() {
                let mut field = json_schema(&f.schema);
                if let Json::Object(o) = &mut field {
                    o.insert("connect.index".into(), json!(i));
                }
                properties.insert(f.name.clone(), field);
            }
            let mut o = Map::new();
            o.insert("type".into(), json!("object"));
            if let Some(name) = &schema.name {
                o.insert("title".into(), json!(name));
            }
            o.insert("properties".into(), Json::Object(properties));
            Json::Object(o)
        }
    };
    if let Json::Object(o) = &mut out {
        if let Some(doc) = &schema.doc {
            o.insert("description".into(), json!(doc));
        }
        if let Some(v) = schema.version {
            o.insert("connect.version".into(), json!(v));
        }
        if let Some(p) = &schema.parameters {
            o.insert("connect.parameters".into(), json!(p));
        }
        if schema.kind != SchemaType::Struct
            && let Some(n) = &schema.name
        {
            o.insert("title".into(), json!(n));
        }
    }
    out
}

/// A Connect value as the JSON document written with [`json_schema`]'s schema.
pub fn json_value(schema: &Schema, value: &Value) -> Result<Json, ConvertError> {
    walk::to_json::<JsonSchemaForm>(schema, value)
}

/// JSON Schema's leaves in the shared walks: base64 bytes, integers as JSON numbers.
struct JsonSchemaForm;

impl Form for JsonSchemaForm {
    const RULES: Rules = Rules::Checked;
}

impl ReadForm for JsonSchemaForm {
    const VALUE_NAME: &'static str = "JSON";
}

/// The order keys appear in a JSON text, object by object (serde_json's maps sort
/// them): a struct's fields follow its `properties` as written when they carry no
/// `connect.index`, as in Confluent's converter.
#[derive(Debug, Default)]
pub struct KeyOrder(Vec<(String, KeyOrder)>, Vec<KeyOrder>);

impl KeyOrder {
    fn child(&self, key: &str) -> Option<&KeyOrder> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, o)| o)
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == key)
    }

    fn item(&self, i: usize) -> Option<&KeyOrder> {
        self.1.get(i)
    }
}

impl<'de> serde::Deserialize<'de> for KeyOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<KeyOrder, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, KeyOrder>()? {
                    keys.push((k, v));
                }
                Ok(KeyOrder(keys, Vec::new()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<KeyOrder, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = seq.next_element::<KeyOrder>()? {
                    items.push(v);
                }
                Ok(KeyOrder(Vec::new(), items))
            }
            fn visit_bool<E>(self, _: bool) -> Result<KeyOrder, E> {
                Ok(KeyOrder::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<KeyOrder, E> {
                Ok(KeyOrder::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<KeyOrder, E> {
                Ok(KeyOrder::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<KeyOrder, E> {
                Ok(KeyOrder::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<KeyOrder, E> {
                Ok(KeyOrder::default())
            }
            fn visit_unit<E>(self) -> Result<KeyOrder, E> {
                Ok(KeyOrder::default())
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The Connect schema of a registered JSON Schema's text.
pub fn connect_schema_text(text: &str) -> Result<Schema, ConvertError> {
    let json: Json = serde_json::from_str(text)
        .map_err(|e| ConvertError(format!("the JSON Schema is not JSON: {e}")))?;
    let order: KeyOrder = serde_json::from_str(text).unwrap_or_default();
    schema_of(&json, Some(&order))
}

/// The Connect schema of a JSON Schema (one kgate or Confluent's converter wrote, or a
/// plain one: objects without `connect.type` become structs, numbers doubles).
pub fn connect_schema(json: &Json) -> Result<Schema, ConvertError> {
    schema_of(json, None)
}

fn schema_of(json: &Json, order: Option<&KeyOrder>) -> Result<Schema, ConvertError> {
    let o = match json {
        Json::Object(o) => o,
        Json::Bool(true) => return Ok(Schema::of(SchemaType::String, true)),
        _ => return Err(ConvertError("not a JSON Schema".into())),
    };
    for union in ["oneOf", "anyOf"] {
        if let Some(Json::Array(branches)) = o.get(union) {
            let non_null: Vec<&Json> = branches
                .iter()
                .filter(|b| b.get("type").and_then(Json::as_str) != Some("null"))
                .collect();
            if non_null.len() == 1 && branches.len() == 2 {
                let at = branches.iter().position(|b| b == non_null[0]).unwrap_or(0);
                let inner = order.and_then(|o| o.child(union)).and_then(|o| o.item(at));
                let mut s = schema_of(non_null[0], inner)?;
                s.optional = true;
                return Ok(s);
            }
            return Err(ConvertError(format!(
                "kgate's JsonSchemaConverter reads a {union} of null and one schema only"
            )));
        }
    }
    let connect_type = o.get("connect.type").and_then(Json::as_str);
    let t = o.get("type").and_then(Json::as_str).unwrap_or("object");
    let mut schema = match (t, connect_type) {
        ("boolean", _) => Schema::of(SchemaType::Boolean, false),
        ("integer", Some("int8")) => Schema::of(SchemaType::Int8, false),
        ("integer", Some("int16")) => Schema::of(SchemaType::Int16, false),
        ("integer", Some("int32")) => Schema::of(SchemaType::Int32, false),
        ("integer", _) => Schema::of(SchemaType::Int64, false),
        ("number", Some("float32")) => Schema::of(SchemaType::Float32, false),
        ("number", _) => Schema::of(SchemaType::Float64, false),
        ("string", Some("bytes")) => Schema::of(SchemaType::Bytes, false),
        ("string", _) => Schema::of(SchemaType::String, false),
        ("array", Some("map")) => {
            let items = o.get("items").cloned().unwrap_or(json!({}));
            let props = items.get("properties");
            let key = props
                .and_then(|p| p.get("key"))
                .cloned()
                .unwrap_or(json!({}));
            let value = props
                .and_then(|p| p.get("value"))
                .cloned()
                .unwrap_or(json!({}));
            Schema {
                key: Some(Box::new(schema_of(&key, None)?)),
                value: Some(Box::new(schema_of(&value, None)?)),
                ..Schema::of(SchemaType::Map, false)
            }
        }
        ("array", _) => {
            let items = o.get("items").cloned().unwrap_or(json!({}));
            Schema {
                value: Some(Box::new(schema_of(
                    &items,
                    order.and_then(|o| o.child("items")),
                )?)),
                ..Schema::of(SchemaType::Array, false)
            }
        }
        ("object", Some("map")) => {
            let values = o.get("additionalProperties").cloned().unwrap_or(json!({}));
            Schema {
                key: Some(Box::new(Schema::of(SchemaType::String, false))),
                value: Some(Box::new(schema_of(
                    &values,
                    order.and_then(|o| o.child("additionalProperties")),
                )?)),
                ..Schema::of(SchemaType::Map, false)
            }
        }
        ("object", _) => {
            let mut fields: Vec<(i64, Field)> = Vec::new();
            let written = order.and_then(|o| o.child("properties"));
            if let Some(Json::Object(props)) = o.get("properties") {
                for (i, (name, p)) in props.iter().enumerate() {
                    let as_written = written.and_then(|w| w.position(name)).unwrap_or(i);
                    let index = p
                        .get("connect.index")
                        .and_then(Json::as_i64)
                        .unwrap_or(as_written as i64);
                    fields.push((
                        index,
                        Field {
                            name: name.clone(),
                            schema: schema_of(p, written.and_then(|w| w.child(name)))?,
                        },
                    ));
                }
            }
            fields.sort_by_key(|(i, _)| *i);
            let mut s = Schema::of(SchemaType::Struct, false);
            s.fields = fields.into_iter().map(|(_, f)| f).collect();
            s
        }
        (other, _) => {
            return Err(ConvertError(format!(
                "kgate's JsonSchemaConverter cannot read JSON Schema type {other}"
            )));
        }
    };
    schema.name = o.get("title").and_then(Json::as_str).map(str::to_string);
    schema.doc = o
        .get("description")
        .and_then(Json::as_str)
        .map(str::to_string);
    schema.version = o
        .get("connect.version")
        .and_then(Json::as_i64)
        .and_then(|v| i32::try_from(v).ok());
    if let Some(Json::Object(p)) = o.get("connect.parameters") {
        schema.parameters = Some(
            p.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect(),
        );
    }
    Ok(schema)
}

/// The Connect value of a JSON document read with `schema`.
pub fn connect_value(schema: &Schema, json: &Json) -> Result<Value, ConvertError> {
    walk::from_json::<JsonSchemaForm>(schema, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_round_trip_with_connect_types() {
        let mut person = Schema::of(SchemaType::Struct, false);
        person.name = Some("Person".into());
        person.fields = vec![
            Field {
                name: "name".into(),
                schema: Schema::string(),
            },
            Field {
                name: "age".into(),
                schema: Schema::of(SchemaType::Int32, true),
            },
            Field {
                name: "photo".into(),
                schema: Schema::of(SchemaType::Bytes, false),
            },
        ];
        let written = json_schema(&person);
        assert_eq!(
            written,
            json!({
                "type": "object", "title": "Person",
                "properties": {
                    "name": {"type": "string", "connect.index": 0},
                    "age": {"oneOf": [{"type": "null"}, {"type": "integer", "connect.type": "int32"}], "connect.index": 1},
                    "photo": {"type": "string", "connect.type": "bytes", "connect.index": 2},
                }
            })
        );
        assert_eq!(connect_schema(&written).unwrap(), person);
        let value = Value::Struct(vec![
            ("name".into(), Value::String("Ada".into())),
            ("age".into(), Value::Null),
            ("photo".into(), Value::Bytes(vec![0, 255])),
        ]);
        let json = json_value(&person, &value).unwrap();
        assert_eq!(json, json!({"name": "Ada", "age": null, "photo": "AP8="}));
        assert_eq!(connect_value(&person, &json).unwrap(), value);
    }
}
