//! Connect's data model: schemas and the values they describe, what converters turn
//! bytes into and back, and what connectors produce and consume.

use std::collections::BTreeMap;
use std::fmt;

/// A schema's type (Connect's `Schema.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaType {
    /// 8-bit integer.
    Int8,
    /// 16-bit integer.
    Int16,
    /// 32-bit integer.
    Int32,
    /// 64-bit integer.
    Int64,
    /// 32-bit float.
    Float32,
    /// 64-bit float.
    Float64,
    /// Boolean.
    Boolean,
    /// UTF-8 text.
    String,
    /// Bytes.
    Bytes,
    /// A list of values of one schema.
    Array,
    /// Keys and values of one schema each.
    Map,
    /// Named fields.
    Struct,
}

impl SchemaType {
    /// The lower-case name JsonConverter's schemas use.
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Int8 => "int8",
            SchemaType::Int16 => "int16",
            SchemaType::Int32 => "int32",
            SchemaType::Int64 => "int64",
            SchemaType::Float32 => "float",
            SchemaType::Float64 => "double",
            SchemaType::Boolean => "boolean",
            SchemaType::String => "string",
            SchemaType::Bytes => "bytes",
            SchemaType::Array => "array",
            SchemaType::Map => "map",
            SchemaType::Struct => "struct",
        }
    }

    /// The type of a JsonConverter schema's `type` name.
    pub fn from_name(name: &str) -> Option<SchemaType> {
        Some(match name {
            "int8" => SchemaType::Int8,
            "int16" => SchemaType::Int16,
            "int32" => SchemaType::Int32,
            "int64" => SchemaType::Int64,
            "float" => SchemaType::Float32,
            "double" => SchemaType::Float64,
            "boolean" => SchemaType::Boolean,
            "string" => SchemaType::String,
            "bytes" => SchemaType::Bytes,
            "array" => SchemaType::Array,
            "map" => SchemaType::Map,
            "struct" => SchemaType::Struct,
            _ => return None,
        })
    }
}

/// A field of a struct schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// Its schema.
    pub schema: Schema,
}

/// A Connect schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// The type.
    pub kind: SchemaType,
    /// Whether null is allowed.
    pub optional: bool,
    /// Its name (logical types such as `org.apache.kafka.connect.data.Decimal` have one).
    pub name: Option<String>,
    /// Its version.
    pub version: Option<i32>,
    /// Its documentation.
    pub doc: Option<String>,
    /// Its parameters.
    pub parameters: Option<BTreeMap<String, String>>,
    /// Its default value.
    pub default: Option<Box<Value>>,
    /// Fields of a struct.
    pub fields: Vec<Field>,
    /// Key schema of a map.
    pub key: Option<Box<Schema>>,
    /// Value schema of a map, item schema of an array.
    pub value: Option<Box<Schema>>,
}

impl Schema {
    /// A schema of `kind` with nothing else set.
    pub fn of(kind: SchemaType, optional: bool) -> Schema {
        Schema {
            kind,
            optional,
            name: None,
            version: None,
            doc: None,
            parameters: None,
            default: None,
            fields: Vec::new(),
            key: None,
            value: None,
        }
    }

    /// Connect's `Schema.STRING_SCHEMA`.
    pub fn string() -> Schema {
        Schema::of(SchemaType::String, false)
    }
}

/// A Connect value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value.
    Null,
    /// Boolean.
    Boolean(bool),
    /// 8-bit integer.
    Int8(i8),
    /// 16-bit integer.
    Int16(i16),
    /// 32-bit integer.
    Int32(i32),
    /// 64-bit integer.
    Int64(i64),
    /// 32-bit float.
    Float32(f32),
    /// 64-bit float.
    Float64(f64),
    /// Text.
    String(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A list.
    Array(Vec<Value>),
    /// Key-value pairs, in order.
    Map(Vec<(Value, Value)>),
    /// A struct's fields, in its schema's order.
    Struct(Vec<(String, Value)>),
}

/// A value and the schema describing it (none for schemaless data).
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaAndValue {
    /// The schema, when the data has one.
    pub schema: Option<Schema>,
    /// The value.
    pub value: Value,
}

impl SchemaAndValue {
    /// Null with no schema (a null key or value).
    pub fn null() -> SchemaAndValue {
        SchemaAndValue {
            schema: None,
            value: Value::Null,
        }
    }
}

/// Formats a value as Java's `toString` of Connect's value classes does, which is what
/// Apache's FileStreamSink writes: `{a=1, b=2}` for a map, `[1, 2]` for a list,
/// `Struct{a=1,b=2}` for a struct. Bytes are written as text (lossy UTF-8) rather than
/// Java's object identity.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Int8(n) => write!(f, "{n}"),
            Value::Int16(n) => write!(f, "{n}"),
            Value::Int32(n) => write!(f, "{n}"),
            Value::Int64(n) => write!(f, "{n}"),
            Value::Float32(n) => f.write_str(&java_double(f64::from(*n))),
            Value::Float64(n) => f.write_str(&java_double(*n)),
            Value::String(s) => f.write_str(s),
            Value::Bytes(b) => f.write_str(&String::from_utf8_lossy(b)),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}={v}")?;
                }
                f.write_str("}")
            }
            Value::Struct(fields) => {
                f.write_str("Struct{")?;
                let mut first = true;
                for (name, v) in fields {
                    // Java's Struct.toString leaves out null fields.
                    if *v == Value::Null {
                        continue;
                    }
                    if !first {
                        f.write_str(",")?;
                    }
                    first = false;
                    write!(f, "{name}={v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Java's `Double.toString` for the common cases: a whole number keeps `.0`.
fn java_double(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e7 {
        format!("{n:.1}")
    } else if n.is_nan() {
        "NaN".to_string()
    } else if n.is_infinite() {
        if n > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_java_prints_them() {
        let map = Value::Map(vec![
            (Value::String("a".into()), Value::Int64(1)),
            (Value::String("b".into()), Value::Float64(2.0)),
        ]);
        assert_eq!(map.to_string(), "{a=1, b=2.0}");
        assert_eq!(
            Value::Array(vec![Value::Boolean(true), Value::Null]).to_string(),
            "[true, null]"
        );
        let s = Value::Struct(vec![
            ("x".into(), Value::Int32(1)),
            ("y".into(), Value::Null),
            ("z".into(), Value::String("t".into())),
        ]);
        assert_eq!(s.to_string(), "Struct{x=1,z=t}");
    }
}
