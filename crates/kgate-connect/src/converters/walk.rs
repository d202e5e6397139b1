//! The walks over Connect values that the Schema Registry formats share: a Connect value
//! to the JSON form a format's codec takes (Avro, JSON Schema, Protobuf), and that JSON
//! form back to a Connect value (JSON Schema, Protobuf; Avro's reading follows the Avro
//! schema instead). Arrays, maps and structs are walked here once; each format gives
//! its leaves (how bytes and integers look) and its [`Rules`].

use base64::Engine;
use serde_json::{Map, Value as Json, json};

use super::ConvertError;
use crate::data::{Schema, SchemaType, Value};

/// How a format treats nulls, maps, and schemas that lack a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rules {
    /// Avro and JSON Schema: a null needs an optional schema; a map whose keys are not
    /// required strings is an array of `{"key": …, "value": …}` entries; a schema that
    /// lacks its items, keys or values is an error that says so.
    Checked,
    /// Protobuf (proto3): every field has a default, so a null is an absent field and
    /// needs no optional schema; maps have string keys only; a value whose schema lacks
    /// a part does not fit that schema.
    Proto3,
}

/// What a format gives the walk that writes Connect values.
pub(super) trait Form {
    /// Its rules.
    const RULES: Rules;

    /// A bytes value as the format's JSON form holds it: base64 unless it says otherwise.
    fn bytes(bytes: &[u8]) -> Json {
        json!(base64::engine::general_purpose::STANDARD.encode(bytes))
    }
}

/// What a format gives the walk that reads Connect values (bytes are base64).
pub(super) trait ReadForm: Form {
    /// How its read errors name a value ("JSON", "protobuf").
    const VALUE_NAME: &'static str;

    /// An integer of `kind` (Int8 ... Int64) read from JSON; `None` when it does not fit.
    fn integer(kind: SchemaType, json: &Json) -> Option<Value> {
        let n = json.as_i64()?;
        Some(match kind {
            SchemaType::Int8 => Value::Int8(i8::try_from(n).ok()?),
            SchemaType::Int16 => Value::Int16(i16::try_from(n).ok()?),
            SchemaType::Int32 => Value::Int32(i32::try_from(n).ok()?),
            _ => Value::Int64(n),
        })
    }

    /// A struct field's JSON in an object read.
    fn field<'a>(object: &'a Map<String, Json>, name: &str) -> Option<&'a Json> {
        object.get(name)
    }
}

/// A Connect value as the JSON form of format `F`, written with `schema`.
pub(super) fn to_json<F: Form>(schema: &Schema, value: &Value) -> Result<Json, ConvertError> {
    let proto3 = F::RULES == Rules::Proto3;
    Ok(match (schema.kind, value) {
        (_, Value::Null) if schema.optional || proto3 => Json::Null,
        (_, Value::Null) => {
            return Err(ConvertError(
                "Conversion error: null value for field that is required and has no default value"
                    .to_string(),
            ));
        }
        (SchemaType::Boolean, Value::Boolean(b)) => json!(b),
        (SchemaType::Int8, Value::Int8(n)) => json!(n),
        (SchemaType::Int16, Value::Int16(n)) => json!(n),
        (SchemaType::Int32, Value::Int32(n)) => json!(n),
        (SchemaType::Int64, Value::Int64(n)) => json!(n),
        (SchemaType::Float32, Value::Float32(n)) => json!(n),
        (SchemaType::Float64, Value::Float64(n)) => json!(n),
        (SchemaType::String, Value::String(s)) => json!(s),
        (SchemaType::Bytes, Value::Bytes(b)) => F::bytes(b),
        (SchemaType::Array, Value::Array(items)) => {
            let item = part::<F>(schema.value.as_deref(), "array items", || {
                mismatch(schema, value)
            })?;
            Json::Array(
                items
                    .iter()
                    .map(|v| to_json::<F>(item, v))
                    .collect::<Result<_, _>>()?,
            )
        }
        (SchemaType::Map, Value::Map(entries)) => {
            // Proto3 maps are string-keyed whatever their key schema says.
            let key = match F::RULES {
                Rules::Checked => Some(part::<F>(schema.key.as_deref(), "map keys", || {
                    mismatch(schema, value)
                })?),
                Rules::Proto3 => None,
            };
            let val = part::<F>(schema.value.as_deref(), "map values", || {
                mismatch(schema, value)
            })?;
            match key {
                Some(key) if key.kind != SchemaType::String || key.optional => Json::Array(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            Ok(json!({"key": to_json::<F>(key, k)?, "value": to_json::<F>(val, v)?}))
                        })
                        .collect::<Result<_, ConvertError>>()?,
                ),
                _ => {
                    let mut o = Map::new();
                    for (k, v) in entries {
                        let Value::String(k) = k else {
                            return Err(match key {
                                Some(key) => mismatch(key, k),
                                None => mismatch(schema, value),
                            });
                        };
                        o.insert(k.clone(), to_json::<F>(val, v)?);
                    }
                    Json::Object(o)
                }
            }
        }
        (SchemaType::Struct, Value::Struct(fields)) => {
            let mut o = Map::new();
            for f in &schema.fields {
                let v = fields
                    .iter()
                    .find(|(n, _)| *n == f.name)
                    .map_or(&Value::Null, |(_, v)| v);
                // A proto3 field left out reads as its default.
                if proto3 && *v == Value::Null {
                    continue;
                }
                o.insert(f.name.clone(), to_json::<F>(&f.schema, v)?);
            }
            Json::Object(o)
        }
        (_, other) => return Err(mismatch(schema, other)),
    })
}

/// The Connect value of the JSON form of format `F`, read with `schema`.
pub(super) fn from_json<F: ReadForm>(schema: &Schema, json: &Json) -> Result<Value, ConvertError> {
    let bad = || {
        ConvertError(format!(
            "Conversion error: the {} value {json} does not fit the schema type {}",
            F::VALUE_NAME,
            schema.kind.name().to_uppercase()
        ))
    };
    if json.is_null() {
        return if schema.optional || F::RULES == Rules::Proto3 {
            Ok(Value::Null)
        } else {
            Err(bad())
        };
    }
    Ok(match schema.kind {
        SchemaType::Boolean => Value::Boolean(json.as_bool().ok_or_else(bad)?),
        SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32 | SchemaType::Int64 => {
            F::integer(schema.kind, json).ok_or_else(bad)?
        }
        SchemaType::Float32 => Value::Float32(json.as_f64().ok_or_else(bad)? as f32),
        SchemaType::Float64 => Value::Float64(json.as_f64().ok_or_else(bad)?),
        SchemaType::String => Value::String(json.as_str().ok_or_else(bad)?.to_string()),
        SchemaType::Bytes => Value::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(json.as_str().ok_or_else(bad)?)
                .map_err(|_| bad())?,
        ),
        SchemaType::Array => {
            let item = part::<F>(schema.value.as_deref(), "array items", bad)?;
            Value::Array(
                json.as_array()
                    .ok_or_else(bad)?
                    .iter()
                    .map(|v| from_json::<F>(item, v))
                    .collect::<Result<_, _>>()?,
            )
        }
        SchemaType::Map => {
            let key = match F::RULES {
                Rules::Checked => Some(part::<F>(schema.key.as_deref(), "map keys", bad)?),
                Rules::Proto3 => None,
            };
            let val = part::<F>(schema.value.as_deref(), "map values", bad)?;
            match (json, key) {
                (Json::Object(o), _) => Value::Map(
                    o.iter()
                        .map(|(k, v)| Ok((Value::String(k.clone()), from_json::<F>(val, v)?)))
                        .collect::<Result<_, ConvertError>>()?,
                ),
                (Json::Array(entries), Some(key)) => Value::Map(
                    entries
                        .iter()
                        .map(|e| {
                            Ok((
                                from_json::<F>(key, e.get("key").unwrap_or(&Json::Null))?,
                                from_json::<F>(val, e.get("value").unwrap_or(&Json::Null))?,
                            ))
                        })
                        .collect::<Result<_, ConvertError>>()?,
                ),
                _ => return Err(bad()),
            }
        }
        SchemaType::Struct => {
            let o = json.as_object().ok_or_else(bad)?;
            Value::Struct(
                schema
                    .fields
                    .iter()
                    .map(|f| {
                        let v = F::field(o, &f.name).unwrap_or(&Json::Null);
                        Ok((f.name.clone(), from_json::<F>(&f.schema, v)?))
                    })
                    .collect::<Result<_, ConvertError>>()?,
            )
        }
    })
}

/// A schema's part (array items, map keys or values); when it lacks it, the error
/// `F`'s rules give: one naming the part, or `misfit` (the value does not fit).
fn part<'a, F: Form>(
    part: Option<&'a Schema>,
    what: &str,
    misfit: impl FnOnce() -> ConvertError,
) -> Result<&'a Schema, ConvertError> {
    part.ok_or_else(|| match F::RULES {
        Rules::Checked => ConvertError(format!("the schema has no {what}")),
        Rules::Proto3 => misfit(),
    })
}

/// A value that does not fit its schema's type.
fn mismatch(schema: &Schema, value: &Value) -> ConvertError {
    ConvertError(format!(
        "Conversion error: a {} value does not fit the schema type {}",
        super::primitive::kind(value),
        schema.kind.name().to_uppercase()
    ))
}

#[cfg(test)]
mod tests {
    //! What the three formats write and read where their rules differ, through each
    //! format's own functions.

    use serde_json::json;

    use crate::converters::avro_data::avro_value;
    use crate::converters::json_schema_data::{self, json_value};
    use crate::converters::protobuf_data::{self, proto_value};
    use crate::data::{Field, Schema, SchemaType, Value};

    fn map_of(key: Option<Schema>, value: Option<Schema>) -> Schema {
        Schema {
            key: key.map(Box::new),
            value: value.map(Box::new),
            ..Schema::of(SchemaType::Map, false)
        }
    }

    fn array_of(item: Option<Schema>) -> Schema {
        Schema {
            value: item.map(Box::new),
            ..Schema::of(SchemaType::Array, false)
        }
    }

    fn record() -> Schema {
        let mut s = Schema::of(SchemaType::Struct, false);
        s.fields = vec![
            Field {
                name: "user_id".into(),
                schema: Schema::of(SchemaType::Int64, false),
            },
            Field {
                name: "note".into(),
                schema: Schema::of(SchemaType::String, true),
            },
        ];
        s
    }

    fn message(result: Result<impl std::fmt::Debug, crate::converters::ConvertError>) -> String {
        match result {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn avro_and_json_schema_check_nulls_and_write_other_keyed_maps_as_entries() {
        let required_null =
            "Conversion error: null value for field that is required and has no default value";
        for write in [avro_value, json_value] {
            assert_eq!(
                message(write(&Schema::string(), &Value::Null)),
                required_null
            );
            assert_eq!(
                write(&Schema::of(SchemaType::String, true), &Value::Null).unwrap(),
                json!(null)
            );
            // A missing optional field is written as null; a missing required one fails.
            let partial = Value::Struct(vec![("user_id".into(), Value::Int64(7))]);
            assert_eq!(
                write(&record(), &partial).unwrap(),
                json!({"user_id": 7, "note": null})
            );
            let no_id = Value::Struct(vec![("note".into(), Value::String("x".into()))]);
            assert_eq!(message(write(&record(), &no_id)), required_null);
            // Keys that are not required strings: entries.
            let optional_keys = map_of(
                Some(Schema::of(SchemaType::String, true)),
                Some(Schema::of(SchemaType::Int32, false)),
            );
            let entries = Value::Map(vec![(Value::String("a".into()), Value::Int32(1))]);
            assert_eq!(
                write(&optional_keys, &entries).unwrap(),
                json!([{"key": "a", "value": 1}])
            );
            let string_keys = map_of(
                Some(Schema::string()),
                Some(Schema::of(SchemaType::Int32, false)),
            );
            assert_eq!(write(&string_keys, &entries).unwrap(), json!({"a": 1}));
            let int_keyed = Value::Map(vec![(Value::Int32(1), Value::Int32(1))]);
            assert_eq!(
                message(write(&string_keys, &int_keyed)),
                "Conversion error: a class java.lang.Integer value does not fit the schema type STRING"
            );
            // A schema lacking a part says which.
            assert_eq!(
                message(write(&array_of(None), &Value::Array(vec![]))),
                "the schema has no array items"
            );
            assert_eq!(
                message(write(&map_of(None, Some(Schema::string())), &entries)),
                "the schema has no map keys"
            );
            assert_eq!(
                message(write(&map_of(Some(Schema::string()), None), &entries)),
                "the schema has no map values"
            );
            assert_eq!(
                message(write(
                    &Schema::of(SchemaType::Int32, false),
                    &Value::String("1".into())
                )),
                "Conversion error: a class java.lang.String value does not fit the schema type INT32"
            );
        }
        // Per-format leaves: Avro's codec takes bytes as code points, JSON Schema base64.
        let bytes = Value::Bytes(vec![0, 255]);
        let schema = array_of(Some(Schema::of(SchemaType::Bytes, false)));
        let list = Value::Array(vec![bytes]);
        assert_eq!(avro_value(&schema, &list).unwrap(), json!(["\u{0}\u{ff}"]));
        assert_eq!(json_value(&schema, &list).unwrap(), json!(["AP8="]));
    }

    #[test]
    fn protobuf_leaves_nulls_out_and_has_string_keyed_maps_only() {
        let partial = Value::Struct(vec![
            ("user_id".into(), Value::Int64(7)),
            ("note".into(), Value::Null),
        ]);
        assert_eq!(
            proto_value(&record(), &partial).unwrap(),
            json!({"user_id": 7})
        );
        assert_eq!(
            proto_value(&Schema::string(), &Value::Null).unwrap(),
            json!(null)
        );
        let optional_keys = map_of(
            Some(Schema::of(SchemaType::String, true)),
            Some(Schema::of(SchemaType::Bytes, false)),
        );
        let entries = Value::Map(vec![(
            Value::String("a".into()),
            Value::Bytes(vec![0, 255]),
        )]);
        assert_eq!(
            proto_value(&optional_keys, &entries).unwrap(),
            json!({"a": "AP8="})
        );
        let int_keyed = Value::Map(vec![(Value::Int32(1), Value::Bytes(vec![]))]);
        assert_eq!(
            message(proto_value(&optional_keys, &int_keyed)),
            "Conversion error: a interface java.util.Map value does not fit the schema type MAP"
        );
        assert_eq!(
            message(proto_value(&array_of(None), &Value::Array(vec![]))),
            "Conversion error: a interface java.util.List value does not fit the schema type ARRAY"
        );
        // Keys are not asked for.
        assert_eq!(
            proto_value(&map_of(None, Some(Schema::string())), &Value::Map(vec![])).unwrap(),
            json!({})
        );
    }

    #[test]
    fn json_schema_reads_typed_integers_and_both_map_forms() {
        let read = json_schema_data::connect_value;
        assert_eq!(
            message(read(&Schema::string(), &json!(null))),
            "Conversion error: the JSON value null does not fit the schema type STRING"
        );
        assert_eq!(
            read(&Schema::of(SchemaType::Int8, false), &json!(-128)).unwrap(),
            Value::Int8(-128)
        );
        assert_eq!(
            message(read(&Schema::of(SchemaType::Int8, false), &json!(300))),
            "Conversion error: the JSON value 300 does not fit the schema type INT8"
        );
        assert_eq!(
            read(&Schema::of(SchemaType::Int16, false), &json!(300)).unwrap(),
            Value::Int16(300)
        );
        assert!(read(&Schema::of(SchemaType::Int64, false), &json!("7")).is_err());
        let int_keys = map_of(
            Some(Schema::of(SchemaType::Int32, false)),
            Some(Schema::of(SchemaType::Bytes, false)),
        );
        assert_eq!(
            read(&int_keys, &json!([{"key": 1, "value": "AP8="}])).unwrap(),
            Value::Map(vec![(Value::Int32(1), Value::Bytes(vec![0, 255]))])
        );
        let string_keys = map_of(Some(Schema::string()), Some(Schema::string()));
        assert_eq!(
            read(&string_keys, &json!({"a": "b"})).unwrap(),
            Value::Map(vec![(Value::String("a".into()), Value::String("b".into()))])
        );
        assert_eq!(
            message(read(&string_keys, &json!("a"))),
            "Conversion error: the JSON value \"a\" does not fit the schema type MAP"
        );
        assert_eq!(
            message(read(&array_of(None), &json!([1]))),
            "the schema has no array items"
        );
        assert_eq!(
            read(&record(), &json!({"user_id": 7})).unwrap(),
            Value::Struct(vec![
                ("user_id".into(), Value::Int64(7)),
                ("note".into(), Value::Null),
            ])
        );
        assert_eq!(
            message(read(&record(), &json!({"userId": 7}))),
            "Conversion error: the JSON value null does not fit the schema type INT64"
        );
    }

    #[test]
    fn protobuf_reads_defaults_int32_and_json_names() {
        let read = protobuf_data::connect_value;
        assert_eq!(read(&Schema::string(), &json!(null)).unwrap(), Value::Null);
        assert_eq!(
            read(&Schema::of(SchemaType::Int8, false), &json!(300)).unwrap(),
            Value::Int32(300)
        );
        assert_eq!(
            read(&Schema::of(SchemaType::Int64, false), &json!("7")).unwrap(),
            Value::Int64(7)
        );
        assert_eq!(
            message(read(
                &Schema::of(SchemaType::Int32, false),
                &json!(3_000_000_000_i64)
            )),
            "Conversion error: the protobuf value 3000000000 does not fit the schema type INT32"
        );
        let string_keys = map_of(None, Some(Schema::string()));
        assert_eq!(
            read(&string_keys, &json!({"a": "b"})).unwrap(),
            Value::Map(vec![(Value::String("a".into()), Value::String("b".into()))])
        );
        assert_eq!(
            message(read(&string_keys, &json!([{"key": "a", "value": "b"}]))),
            "Conversion error: the protobuf value [{\"key\":\"a\",\"value\":\"b\"}] does not fit the schema type MAP"
        );
        assert_eq!(
            message(read(&array_of(None), &json!([1]))),
            "Conversion error: the protobuf value [1] does not fit the schema type ARRAY"
        );
        assert_eq!(
            read(&record(), &json!({"userId": "7"})).unwrap(),
            Value::Struct(vec![
                ("user_id".into(), Value::Int64(7)),
                ("note".into(), Value::Null),
            ])
        );
    }
}
