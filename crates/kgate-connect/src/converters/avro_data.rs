//! Connect data as Avro, the way Confluent's AvroConverter maps them: Connect schemas
//! become Avro schemas (int8/int16 as `int` with a `connect.type`, optional schemas as a
//! union with null, structs as records named after the schema or
//! `io.confluent.connect.avro.ConnectDefault`, maps with non-string keys as arrays of
//! `MapEntry` records), values become the JSON form kgate's Avro codec writes, and back.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json, json};

use super::ConvertError;
use super::walk::{self, Form, Rules};
use crate::data::{Field, Schema, SchemaType, Value};

/// Confluent's namespace for records the Connect schema does not name.
const NAMESPACE: &str = "io.confluent.connect.avro";

/// The Avro schema (as JSON) for a Connect schema.
pub fn avro_schema(schema: &Schema) -> Json {
    let mut counter = 0;
    with_optional(schema, write_schema(schema, &mut counter))
}

fn with_optional(schema: &Schema, avro: Json) -> Json {
    if schema.optional {
        json!(["null", avro])
    } else {
        avro
    }
}

fn write_schema(schema: &Schema, counter: &mut u32) -> Json {
    let base = match schema.kind {
        SchemaType::Boolean => json!("boolean"),
        SchemaType::Int8 => json!({"type": "int", "connect.type": "int8"}),
        SchemaType::Int16 => json!({"type": "int", "connect.type": "int16"}),
        SchemaType::Int32 => json!("int"),
        SchemaType::Int64 => json!("long"),
        SchemaType::Float32 => json!("float"),
        SchemaType::Float64 => json!("double"),
        SchemaType::String => json!("string"),
        SchemaType::Bytes => json!("bytes"),
        SchemaType::Array => {
            let items = schema.value.as_deref().map_or(json!("null"), |s| {
                with_optional(s, write_schema(s, counter))
            });
            json!({"type": "array", "items": items})
        }
        SchemaType::Map => {
            let key = schema.key.as_deref();
            let value = schema.value.as_deref();
            let value_avro = value.map_or(json!("null"), |s| {
                with_optional(s, write_schema(s, counter))
            });
            match key {
                Some(k) if k.kind == SchemaType::String && !k.optional => {
                    json!({"type": "map", "values": value_avro})
                }
                _ => {
                    let key_avro = key.map_or(json!("null"), |s| {
                        with_optional(s, write_schema(s, counter))
                    });
                    *counter += 1;
                    let name = if *counter == 1 {
                        "MapEntry".to_string()
                    } else {
                        format!("MapEntry{counter}")
                    };
                    json!({"type": "array", "items": {
                        "type": "record", "name": name, "namespace": NAMESPACE,
                        "fields": [
                            {"name": "key", "type": key_avro},
                            {"name": "value", "type": value_avro},
                        ]
                    }})
                }
            }
        }
        SchemaType::Struct => {
            let (namespace, name) = match schema.name.as_deref() {
                Some(full) => match full.rsplit_once('.') {
                    Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
                    None => (None, full.to_string()),
                },
                None => {
                    *counter += 1;
                    let name = if *counter == 1 {
                        "ConnectDefault".to_string()
                    } else {
                        format!("ConnectDefault{counter}")
                    };
                    (Some(NAMESPACE.to_string()), name)
                }
            };
            let fields: Vec<Json> = schema
                .fields
                .iter()
                .map(|f| {
                    let mut field = Map::new();
                    field.insert("name".into(), json!(f.name));
                    field.insert(
                        "type".into(),
                        with_optional(&f.schema, write_schema(&f.schema, counter)),
                    );
                    if f.schema.optional {
                        field.insert("default".into(), Json::Null);
                    }
                    Json::Object(field)
                })
                .collect();
            let mut record = Map::new();
            record.insert("type".into(), json!("record"));
            record.insert("name".into(), json!(name));
            if let Some(ns) = namespace {
                record.insert("namespace".into(), json!(ns));
            }
            record.insert("fields".into(), Json::Array(fields));
            return with_metadata(schema, Json::Object(record), false);
        }
    };
    with_metadata(schema, base, true)
}

/// Adds Confluent's `connect.*` properties (name, version, doc, parameters).
fn with_metadata(schema: &Schema, avro: Json, name_it: bool) -> Json {
    let wanted = (name_it && schema.name.is_some())
        || schema.version.is_some()
        || schema.doc.is_some()
        || schema.parameters.is_some();
    if !wanted {
        return avro;
    }
    let mut o = match avro {
        Json::Object(o) => o,
        Json::String(t) => {
            let mut o = Map::new();
            o.insert("type".into(), Json::String(t));
            o
        }
        other => return other,
    };
    if let Some(doc) = &schema.doc {
        o.insert("connect.doc".into(), json!(doc));
    }
    if let Some(v) = schema.version {
        o.insert("connect.version".into(), json!(v));
    }
    if let Some(p) = &schema.parameters {
        o.insert("connect.parameters".into(), json!(p));
    }
    if name_it && let Some(n) = &schema.name {
        o.insert("connect.name".into(), json!(n));
    }
    Json::Object(o)
}

/// A Connect value as the JSON kgate's Avro codec writes with [`avro_schema`]'s schema.
pub fn avro_value(schema: &Schema, value: &Value) -> Result<Json, ConvertError> {
    walk::to_json::<AvroForm>(schema, value)
}

/// Avro's leaves in the shared walk.
struct AvroForm;

impl Form for AvroForm {
    const RULES: Rules = Rules::Checked;

    /// kgate's Avro codec takes bytes as a string of code points 0-255, Avro's JSON
    /// encoding.
    fn bytes(bytes: &[u8]) -> Json {
        Json::String(bytes.iter().map(|&c| char::from(c)).collect())
    }
}

/// Named Avro types seen so far, for references by name.
type Names = BTreeMap<String, Json>;

/// The Connect schema of an Avro schema (as JSON).
pub fn connect_schema(avro: &Json) -> Result<Schema, ConvertError> {
    let mut names = Names::new();
    read_schema(avro, None, &mut names)
}

fn full_name(o: &Map<String, Json>, namespace: Option<&str>) -> Option<String> {
    let name = o.get("name")?.as_str()?;
    if name.contains('.') {
        return Some(name.to_string());
    }
    match o.get("namespace").and_then(Json::as_str).or(namespace) {
        Some(ns) if !ns.is_empty() => Some(format!("{ns}.{name}")),
        _ => Some(name.to_string()),
    }
}

fn resolve<'a>(avro: &'a Json, names: &'a Names, namespace: Option<&str>) -> &'a Json {
    if let Json::String(n) = avro {
        if let Some(found) = names.get(n) {
            return found;
        }
        if let Some(ns) = namespace
            && let Some(found) = names.get(&format!("{ns}.{n}"))
        {
            return found;
        }
    }
    avro
}

fn read_schema(
    avro: &Json,
    namespace: Option<&str>,
    names: &mut Names,
) -> Result<Schema, ConvertError> {
    let avro = resolve(avro, names, namespace).clone();
    match &avro {
        Json::String(t) => primitive(t, None),
        Json::Array(branches) => {
            let non_null: Vec<&Json> = branches.iter().filter(|b| *b != "null").collect();
            if non_null.len() == 1 && branches.len() == 2 {
                let mut s = read_schema(non_null[0], namespace, names)?;
                s.optional = true;
                Ok(s)
            } else {
                Err(ConvertError(
                    "kgate's AvroConverter reads unions of null and one type only".to_string(),
                ))
            }
        }
        Json::Object(o) => {
            let t = o
                .get("type")
                .ok_or_else(|| ConvertError("Avro schema without a type".into()))?;
            let mut schema = match t.as_str() {
                Some("record") => {
                    let full = full_name(o, namespace);
                    if let Some(n) = &full {
                        names.insert(n.clone(), avro.clone());
                    }
                    let inner_ns = full
                        .as_deref()
                        .and_then(|f| f.rsplit_once('.').map(|(ns, _)| ns.to_string()));
                    let mut s = Schema::of(SchemaType::Struct, false);
                    s.name =
                        full.filter(|n| !n.starts_with(&format!("{NAMESPACE}.ConnectDefault")));
                    for f in o
                        .get("fields")
                        .and_then(Json::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let name = f
                            .get("name")
                            .and_then(Json::as_str)
                            .ok_or_else(|| ConvertError("Avro field without a name".into()))?;
                        let field_type = f.get("type").ok_or_else(|| {
                            ConvertError(format!("Avro field {name} without a type"))
                        })?;
                        s.fields.push(Field {
                            name: name.to_string(),
                            schema: read_schema(field_type, inner_ns.as_deref(), names)?,
                        });
                    }
                    s
                }
                Some("enum") => {
                    if let Some(n) = full_name(o, namespace) {
                        names.insert(n, avro.clone());
                    }
                    Schema::of(SchemaType::String, false)
                }
                Some("fixed") => {
                    if let Some(n) = full_name(o, namespace) {
                        names.insert(n, avro.clone());
                    }
                    Schema::of(SchemaType::Bytes, false)
                }
                Some("array") => {
                    let items = o
                        .get("items")
                        .ok_or_else(|| ConvertError("Avro array without items".into()))?;
                    let item = read_schema(items, namespace, names)?;
                    if item.kind == SchemaType::Struct
                        && item.fields.len() == 2
                        && item.fields[0].name == "key"
                        && item.fields[1].name == "value"
                        && item
                            .name
                            .as_deref()
                            .is_some_and(|n| n.starts_with(&format!("{NAMESPACE}.MapEntry")))
                    {
                        let mut s = Schema::of(SchemaType::Map, false);
                        s.key = Some(Box::new(item.fields[0].schema.clone()));
                        s.value = Some(Box::new(item.fields[1].schema.clone()));
                        s
                    } else {
                        let mut s = Schema::of(SchemaType::Array, false);
                        s.value = Some(Box::new(item));
                        s
                    }
                }
                Some("map") => {
                    let values = o
                        .get("values")
                        .ok_or_else(|| ConvertError("Avro map without values".into()))?;
                    let mut s = Schema::of(SchemaType::Map, false);
                    s.key = Some(Box::new(Schema::of(SchemaType::String, false)));
                    s.value = Some(Box::new(read_schema(values, namespace, names)?));
                    s
                }
                Some(other) => primitive(other, Some(o))?,
                None => read_schema(t, namespace, names)?,
            };
            if let Some(doc) = o.get("connect.doc").and_then(Json::as_str) {
                schema.doc = Some(doc.to_string());
            }
            if let Some(v) = o.get("connect.version").and_then(Json::as_i64) {
                schema.version = i32::try_from(v).ok();
            }
            if let Some(Json::Object(p)) = o.get("connect.parameters") {
                schema.parameters = Some(
                    p.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect(),
                );
            }
            if let Some(n) = o.get("connect.name").and_then(Json::as_str) {
                schema.name = Some(n.to_string());
            }
            Ok(schema)
        }
        _ => Err(ConvertError("not an Avro schema".into())),
    }
}

fn primitive(t: &str, o: Option<&Map<String, Json>>) -> Result<Schema, ConvertError> {
    let connect_type = o.and_then(|o| o.get("connect.type")).and_then(Json::as_str);
    let logical = o.and_then(|o| o.get("logicalType")).and_then(Json::as_str);
    let mut schema = Schema::of(
        match (t, connect_type) {
            ("boolean", _) => SchemaType::Boolean,
            ("int", Some("int8")) => SchemaType::Int8,
            ("int", Some("int16")) => SchemaType::Int16,
            ("int", _) => SchemaType::Int32,
            ("long", _) => SchemaType::Int64,
            ("float", _) => SchemaType::Float32,
            ("double", _) => SchemaType::Float64,
            ("string", _) => SchemaType::String,
            ("bytes", _) => SchemaType::Bytes,
            (other, _) => {
                return Err(ConvertError(format!(
                    "kgate's AvroConverter cannot read Avro type {other}"
                )));
            }
        },
        false,
    );
    // Avro's logical types as Connect's logical types.
    schema.name = match (t, logical) {
        ("int", Some("date")) => Some("org.apache.kafka.connect.data.Date".to_string()),
        ("int", Some("time-millis")) => Some("org.apache.kafka.connect.data.Time".to_string()),
        ("long", Some("timestamp-millis")) => {
            Some("org.apache.kafka.connect.data.Timestamp".to_string())
        }
        _ => None,
    };
    Ok(schema)
}

/// The Connect value of a record kgate's Avro codec read (its JSON form) with `avro`.
pub fn connect_value(avro: &Json, value: &Json) -> Result<Value, ConvertError> {
    let mut names = Names::new();
    // Collect the named types first: a value's schema may refer to them by name.
    let _ = read_schema(avro, None, &mut names)?;
    read_value(avro, None, &names, value)
}

fn read_value(
    avro: &Json,
    namespace: Option<&str>,
    names: &Names,
    value: &Json,
) -> Result<Value, ConvertError> {
    let avro = resolve(avro, names, namespace);
    let bad = || {
        ConvertError(format!(
            "Conversion error: the Avro value {value} does not fit its schema"
        ))
    };
    match avro {
        Json::Array(branches) => {
            if value.is_null() {
                return Ok(Value::Null);
            }
            let branch = branches.iter().find(|b| *b != "null").ok_or_else(bad)?;
            // The codec names the branch it read: {"<branch>": value}.
            let inner = match value {
                Json::Object(o) if o.len() == 1 => o.values().next().unwrap_or(&Json::Null),
                other => other,
            };
            read_value(branch, namespace, names, inner)
        }
        Json::String(t) => read_primitive(t, None, value).ok_or_else(bad),
        Json::Object(o) => match o.get("type").and_then(Json::as_str) {
            Some("record") => {
                let full = full_name(o, namespace);
                let inner_ns = full
                    .as_deref()
                    .and_then(|f| f.rsplit_once('.').map(|(ns, _)| ns.to_string()));
                let fields = value.as_object().ok_or_else(bad)?;
                let mut out = Vec::new();
                for f in o
                    .get("fields")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = f.get("name").and_then(Json::as_str).ok_or_else(bad)?;
                    let field_type = f.get("type").ok_or_else(bad)?;
                    let v = fields.get(name).unwrap_or(&Json::Null);
                    out.push((
                        name.to_string(),
                        read_value(field_type, inner_ns.as_deref(), names, v)?,
                    ));
                }
                Ok(Value::Struct(out))
            }
            Some("enum") => value
                .as_str()
                .map(|s| Value::String(s.into()))
                .ok_or_else(bad),
            Some("fixed") => value
                .as_str()
                .map(|s| Value::Bytes(s.chars().map(|c| c as u8).collect()))
                .ok_or_else(bad),
            Some("array") => {
                let items = o.get("items").ok_or_else(bad)?;
                let list = value.as_array().ok_or_else(bad)?;
                let item_schema = read_schema(items, namespace, &mut names.clone())?;
                let is_map_entry = item_schema.kind == SchemaType::Struct
                    && item_schema
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with(&format!("{NAMESPACE}.MapEntry")));
                let values: Vec<Value> = list
                    .iter()
                    .map(|v| read_value(items, namespace, names, v))
                    .collect::<Result<_, _>>()?;
                if is_map_entry {
                    Ok(Value::Map(
                        values
                            .into_iter()
                            .map(|v| match v {
                                Value::Struct(mut f) if f.len() == 2 => {
                                    let value = f.pop().map(|(_, v)| v).unwrap_or(Value::Null);
                                    let key = f.pop().map(|(_, v)| v).unwrap_or(Value::Null);
                                    (key, value)
                                }
                                other => (other, Value::Null),
                            })
                            .collect(),
                    ))
                } else {
                    Ok(Value::Array(values))
                }
            }
            Some("map") => {
                let values = o.get("values").ok_or_else(bad)?;
                let entries = value.as_object().ok_or_else(bad)?;
                Ok(Value::Map(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            Ok((
                                Value::String(k.clone()),
                                read_value(values, namespace, names, v)?,
                            ))
                        })
                        .collect::<Result<_, ConvertError>>()?,
                ))
            }
            Some(t) => read_primitive(t, Some(o), value).ok_or_else(bad),
            None => read_value(o.get("type").ok_or_else(bad)?, namespace, names, value),
        },
        _ => Err(bad()),
    }
}

fn read_primitive(t: &str, o: Option<&Map<String, Json>>, value: &Json) -> Option<Value> {
    let connect_type = o.and_then(|o| o.get("connect.type")).and_then(Json::as_str);
    Some(match (t, connect_type) {
        ("null", _) => Value::Null,
        ("boolean", _) => Value::Boolean(value.as_bool()?),
        ("int", Some("int8")) => Value::Int8(i8::try_from(value.as_i64()?).ok()?),
        ("int", Some("int16")) => Value::Int16(i16::try_from(value.as_i64()?).ok()?),
        ("int", _) => Value::Int32(i32::try_from(value.as_i64()?).ok()?),
        ("long", _) => Value::Int64(value.as_i64()?),
        ("float", _) => Value::Float32(value.as_f64()? as f32),
        ("double", _) => Value::Float64(value.as_f64()?),
        ("string", _) => Value::String(value.as_str()?.to_string()),
        ("bytes", _) => Value::Bytes(value.as_str()?.chars().map(|c| c as u8).collect()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> Schema {
        let mut s = Schema::of(SchemaType::Struct, false);
        s.name = Some("com.example.Person".into());
        s.fields = vec![
            Field {
                name: "name".into(),
                schema: Schema::string(),
            },
            Field {
                name: "age".into(),
                schema: Schema::of(SchemaType::Int8, true),
            },
            Field {
                name: "tags".into(),
                schema: Schema {
                    value: Some(Box::new(Schema::string())),
                    ..Schema::of(SchemaType::Array, false)
                },
            },
        ];
        s
    }

    #[test]
    fn structs_map_to_records_as_confluent_maps_them() {
        let avro = avro_schema(&person());
        assert_eq!(
            avro,
            json!({
                "type": "record", "name": "Person", "namespace": "com.example",
                "fields": [
                    {"name": "name", "type": "string"},
                    {"name": "age", "type": ["null", {"type": "int", "connect.type": "int8"}], "default": null},
                    {"name": "tags", "type": {"type": "array", "items": "string"}},
                ]
            })
        );
        assert_eq!(connect_schema(&avro).unwrap(), person());
        let unnamed = Schema {
            name: None,
            ..person()
        };
        let avro = avro_schema(&unnamed);
        assert_eq!(avro["name"], "ConnectDefault");
        assert_eq!(avro["namespace"], NAMESPACE);
        assert_eq!(connect_schema(&avro).unwrap().name, None);
    }

    #[test]
    fn values_round_trip_through_the_codec_form() {
        let value = Value::Struct(vec![
            ("name".into(), Value::String("Ada".into())),
            ("age".into(), Value::Int8(36)),
            ("tags".into(), Value::Array(vec![Value::String("x".into())])),
        ]);
        let avro = avro_schema(&person());
        let written = avro_value(&person(), &value).unwrap();
        assert_eq!(written, json!({"name": "Ada", "age": 36, "tags": ["x"]}));
        // The codec names union branches when it reads.
        let read = json!({"name": "Ada", "age": {"int": 36}, "tags": ["x"]});
        assert_eq!(connect_value(&avro, &read).unwrap(), value);
        let missing = Value::Struct(vec![("name".into(), Value::Null)]);
        assert!(avro_value(&person(), &missing).is_err());
    }

    #[test]
    fn maps_with_other_keys_are_arrays_of_entries() {
        let map = Schema {
            key: Some(Box::new(Schema::of(SchemaType::Int32, false))),
            value: Some(Box::new(Schema::string())),
            ..Schema::of(SchemaType::Map, false)
        };
        let avro = avro_schema(&map);
        assert_eq!(avro["type"], "array");
        assert_eq!(avro["items"]["name"], "MapEntry");
        assert_eq!(connect_schema(&avro).unwrap(), map);
        let value = Value::Map(vec![(Value::Int32(1), Value::String("one".into()))]);
        let written = avro_value(&map, &value).unwrap();
        assert_eq!(written, json!([{"key": 1, "value": "one"}]));
        assert_eq!(connect_value(&avro, &written).unwrap(), value);
    }
}
