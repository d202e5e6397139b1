//! StringConverter, ByteArrayConverter and the number and boolean converters: one
//! primitive per record part, encoded as Kafka's own serializers encode it.

use std::collections::BTreeMap;

use super::{ConvertError, Converter};
use crate::data::{Schema, SchemaAndValue, SchemaType, Value};

/// `org.apache.kafka.connect.storage.StringConverter`: the value's text as UTF-8.
pub struct StringConverter;

impl StringConverter {
    /// Checks `converter.encoding` (only UTF-8 is offered).
    pub fn new(settings: &BTreeMap<String, String>) -> Result<StringConverter, ConvertError> {
        let encoding = settings
            .get("converter.encoding")
            .or_else(|| settings.get("serializer.encoding"))
            .or_else(|| settings.get("deserializer.encoding"));
        match encoding.map(|e| e.trim().to_ascii_uppercase()) {
            None => Ok(StringConverter),
            Some(e) if e == "UTF8" || e == "UTF-8" => Ok(StringConverter),
            Some(e) => Err(ConvertError(format!(
                "Unsupported encoding {e}: kgate's StringConverter writes UTF-8"
            ))),
        }
    }
}

impl Converter for StringConverter {
    fn from_connect(
        &self,
        _topic: &str,
        data: &SchemaAndValue,
    ) -> Result<Option<Vec<u8>>, ConvertError> {
        Ok(match &data.value {
            Value::Null => None,
            Value::String(s) => Some(s.as_bytes().to_vec()),
            other => Some(other.to_string().into_bytes()),
        })
    }

    fn to_connect(
        &self,
        _topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError> {
        Ok(SchemaAndValue {
            schema: Some(Schema::of(SchemaType::String, true)),
            value: match bytes {
                None => Value::Null,
                Some(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
            },
        })
    }
}

/// `org.apache.kafka.connect.converters.ByteArrayConverter`: bytes as they are.
pub struct ByteArrayConverter;

impl Converter for ByteArrayConverter {
    fn from_connect(
        &self,
        _topic: &str,
        data: &SchemaAndValue,
    ) -> Result<Option<Vec<u8>>, ConvertError> {
        if let Some(schema) = &data.schema
            && schema.kind != SchemaType::Bytes
        {
            return Err(ConvertError(format!(
                "Invalid schema type for ByteArrayConverter: {}",
                schema.kind.name().to_uppercase()
            )));
        }
        match &data.value {
            Value::Null => Ok(None),
            Value::Bytes(b) => Ok(Some(b.clone())),
            other => Err(ConvertError(format!(
                "ByteArrayConverter is not compatible with objects of type {}",
                kind(other)
            ))),
        }
    }

    fn to_connect(
        &self,
        _topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError> {
        Ok(SchemaAndValue {
            schema: Some(Schema::of(SchemaType::Bytes, true)),
            value: bytes.map_or(Value::Null, |b| Value::Bytes(b.to_vec())),
        })
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Boolean(_) => "class java.lang.Boolean",
        Value::Int8(_) => "class java.lang.Byte",
        Value::Int16(_) => "class java.lang.Short",
        Value::Int32(_) => "class java.lang.Integer",
        Value::Int64(_) => "class java.lang.Long",
        Value::Float32(_) => "class java.lang.Float",
        Value::Float64(_) => "class java.lang.Double",
        Value::String(_) => "class java.lang.String",
        Value::Bytes(_) => "class [B",
        Value::Array(_) => "interface java.util.List",
        Value::Map(_) => "interface java.util.Map",
        Value::Struct(_) => "class org.apache.kafka.connect.data.Struct",
    }
}

/// IntegerConverter, LongConverter, ShortConverter, FloatConverter, DoubleConverter,
/// BooleanConverter: big-endian, as Kafka's serializers write them.
pub struct NumberConverter {
    kind: SchemaType,
    width: usize,
    name: &'static str,
}

impl NumberConverter {
    /// The converter of simple class name `simple`.
    pub fn new(simple: &str) -> Result<NumberConverter, ConvertError> {
        let (kind, width, name) = match simple {
            "IntegerConverter" => (SchemaType::Int32, 4, "Integer"),
            "LongConverter" => (SchemaType::Int64, 8, "Long"),
            "ShortConverter" => (SchemaType::Int16, 2, "Short"),
            "FloatConverter" => (SchemaType::Float32, 4, "Float"),
            "DoubleConverter" => (SchemaType::Float64, 8, "Double"),
            "BooleanConverter" => (SchemaType::Boolean, 1, "Boolean"),
            other => return Err(ConvertError(format!("Class {other} could not be found."))),
        };
        Ok(NumberConverter { kind, width, name })
    }
}

impl Converter for NumberConverter {
    fn from_connect(
        &self,
        topic: &str,
        data: &SchemaAndValue,
    ) -> Result<Option<Vec<u8>>, ConvertError> {
        let bytes = match (&data.value, self.kind) {
            (Value::Null, _) => return Ok(None),
            (Value::Int32(n), SchemaType::Int32) => n.to_be_bytes().to_vec(),
            (Value::Int64(n), SchemaType::Int64) => n.to_be_bytes().to_vec(),
            (Value::Int16(n), SchemaType::Int16) => n.to_be_bytes().to_vec(),
            (Value::Float32(n), SchemaType::Float32) => n.to_be_bytes().to_vec(),
            (Value::Float64(n), SchemaType::Float64) => n.to_be_bytes().to_vec(),
            (Value::Boolean(b), SchemaType::Boolean) => vec![u8::from(*b)],
            (other, _) => {
                return Err(ConvertError(format!(
                    "Failed to serialize to {} (was {}) for topic {topic}",
                    self.kind.name().to_uppercase(),
                    kind(other)
                )));
            }
        };
        Ok(Some(bytes))
    }

    fn to_connect(
        &self,
        topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError> {
        let schema = Some(Schema::of(self.kind, true));
        let Some(bytes) = bytes else {
            return Ok(SchemaAndValue {
                schema,
                value: Value::Null,
            });
        };
        if bytes.len() != self.width {
            return Err(ConvertError(format!(
                "Failed to deserialize {} for topic {topic}: Size of data received by {}Deserializer is not {}",
                self.kind.name(),
                self.name,
                self.width
            )));
        }
        let mut buf = [0u8; 8];
        buf[..self.width].copy_from_slice(bytes);
        let value = match self.kind {
            SchemaType::Int32 => Value::Int32(i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]])),
            SchemaType::Int64 => Value::Int64(i64::from_be_bytes(buf)),
            SchemaType::Int16 => Value::Int16(i16::from_be_bytes([buf[0], buf[1]])),
            SchemaType::Float32 => {
                Value::Float32(f32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]))
            }
            SchemaType::Float64 => Value::Float64(f64::from_be_bytes(buf)),
            _ => Value::Boolean(buf[0] != 0),
        };
        Ok(SchemaAndValue { schema, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_big_endian_and_checked_for_size() {
        let c = NumberConverter::new("LongConverter").unwrap();
        let data = SchemaAndValue {
            schema: None,
            value: Value::Int64(258),
        };
        let bytes = c.from_connect("t", &data).unwrap().unwrap();
        assert_eq!(bytes, [0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(
            c.to_connect("t", Some(&bytes)).unwrap().value,
            Value::Int64(258)
        );
        let e = c.to_connect("t", Some(&[1, 2])).unwrap_err();
        assert!(e.0.contains("is not 8"), "{e}");
        let s = StringConverter;
        assert_eq!(
            s.to_connect("t", Some(b"hi")).unwrap().value,
            Value::String("hi".into())
        );
    }
}
