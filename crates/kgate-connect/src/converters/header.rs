//! Apache's default header converter (`org.apache.kafka.connect.storage.
//! SimpleHeaderConverter`): a header value is written as text and read back with its
//! type inferred from the text, as Apache's `Values.parseString` does for the common
//! cases (booleans, the smallest integer type that holds a number, floats, else text).

use base64::Engine;

use super::{ConvertError, Converter};
use crate::data::{Schema, SchemaAndValue, SchemaType, Value};

/// Apache's default header converter.
pub struct SimpleHeaderConverter;

impl Converter for SimpleHeaderConverter {
    fn from_connect(
        &self,
        _topic: &str,
        data: &SchemaAndValue,
    ) -> Result<Option<Vec<u8>>, ConvertError> {
        Ok(match &data.value {
            Value::Null => None,
            Value::String(s) => Some(s.as_bytes().to_vec()),
            // Apache writes bytes as base64 text.
            Value::Bytes(b) => Some(
                base64::engine::general_purpose::STANDARD
                    .encode(b)
                    .into_bytes(),
            ),
            other => Some(other.to_string().into_bytes()),
        })
    }

    fn to_connect(
        &self,
        _topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError> {
        let Some(bytes) = bytes else {
            return Ok(SchemaAndValue::null());
        };
        let text = String::from_utf8_lossy(bytes);
        Ok(parse(&text))
    }
}

/// A header's text as typed Connect data.
fn parse(text: &str) -> SchemaAndValue {
    let typed = |kind, value| SchemaAndValue {
        schema: Some(Schema::of(kind, false)),
        value,
    };
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("true") || trimmed.eq_ignore_ascii_case("false") {
        return typed(
            SchemaType::Boolean,
            Value::Boolean(trimmed.eq_ignore_ascii_case("true")),
        );
    }
    if let Ok(n) = trimmed.parse::<i64>() {
        return if let Ok(n) = i8::try_from(n) {
            typed(SchemaType::Int8, Value::Int8(n))
        } else if let Ok(n) = i16::try_from(n) {
            typed(SchemaType::Int16, Value::Int16(n))
        } else if let Ok(n) = i32::try_from(n) {
            typed(SchemaType::Int32, Value::Int32(n))
        } else {
            typed(SchemaType::Int64, Value::Int64(n))
        };
    }
    let looks_numeric = trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && trimmed.chars().any(|c| c.is_ascii_digit());
    if looks_numeric && let Ok(d) = trimmed.parse::<f64>() {
        let f = d as f32;
        return if f64::from(f) == d {
            typed(SchemaType::Float32, Value::Float32(f))
        } else {
            typed(SchemaType::Float64, Value::Float64(d))
        };
    }
    typed(SchemaType::String, Value::String(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> SchemaAndValue {
        SimpleHeaderConverter
            .to_connect("t", Some(text.as_bytes()))
            .unwrap()
    }

    #[test]
    fn header_text_is_read_as_its_smallest_type() {
        assert_eq!(read("true").value, Value::Boolean(true));
        assert_eq!(read("12").value, Value::Int8(12));
        assert_eq!(read("300").value, Value::Int16(300));
        assert_eq!(read("70000").value, Value::Int32(70000));
        assert_eq!(read("5000000000").value, Value::Int64(5_000_000_000));
        assert_eq!(read("1.5").value, Value::Float32(1.5));
        assert_eq!(read("0.1").value, Value::Float64(0.1));
        assert_eq!(read("abc").value, Value::String("abc".into()));
        assert_eq!(read("abc").schema.unwrap().kind, SchemaType::String);
        assert_eq!(
            SimpleHeaderConverter.to_connect("t", None).unwrap(),
            SchemaAndValue::null()
        );
    }

    #[test]
    fn values_are_written_as_text() {
        let write = |value| {
            SimpleHeaderConverter
                .from_connect(
                    "t",
                    &SchemaAndValue {
                        schema: None,
                        value,
                    },
                )
                .unwrap()
        };
        assert_eq!(write(Value::Int32(7)), Some(b"7".to_vec()));
        assert_eq!(write(Value::String("x y".into())), Some(b"x y".to_vec()));
        assert_eq!(write(Value::Bytes(vec![0, 255])), Some(b"AP8=".to_vec()));
        assert_eq!(write(Value::Null), None);
    }
}
