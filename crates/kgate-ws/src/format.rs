//! The proxy's format types (`keyType`, `valType`): how a JSON value in a frame becomes
//! the bytes of a Kafka key or value and back. The bytes are those of Kafka's own Java
//! serializers for the type (big-endian numbers, UTF-8 strings), so records interoperate
//! with Java clients using `IntegerSerializer`, `DoubleSerializer`, ...

use std::fmt;

use serde_json::Value;

/// A format type of the seed's table, plus the original proxy's `byte_array` (base64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatType {
    /// Any JSON value, stored as its JSON text.
    Json,
    /// A JSON string, stored as UTF-8.
    String,
    /// A 32-bit integer, 4 bytes big-endian.
    Int,
    /// A 16-bit integer, 2 bytes big-endian.
    Short,
    /// A 64-bit integer, 8 bytes big-endian.
    Long,
    /// A 64-bit float, 8 bytes IEEE 754 big-endian.
    Double,
    /// A 32-bit float, 4 bytes IEEE 754 big-endian.
    Float,
    /// Any bytes, as a base64 string in frames.
    ByteArray,
}

impl FormatType {
    /// The name clients use (`json`, `string`, `int`, ...).
    pub fn name(self) -> &'static str {
        match self {
            FormatType::Json => "json",
            FormatType::String => "string",
            FormatType::Int => "int",
            FormatType::Short => "short",
            FormatType::Long => "long",
            FormatType::Double => "double",
            FormatType::Float => "float",
            FormatType::ByteArray => "byte_array",
        }
    }

    /// The type with this name (case does not matter), if any.
    pub fn from_name(name: &str) -> Option<FormatType> {
        let lower = name.to_ascii_lowercase();
        Some(match lower.as_str() {
            "json" => FormatType::Json,
            "string" => FormatType::String,
            "int" => FormatType::Int,
            "short" => FormatType::Short,
            "long" => FormatType::Long,
            "double" => FormatType::Double,
            "float" => FormatType::Float,
            "byte_array" | "bytearray" => FormatType::ByteArray,
            _ => return None,
        })
    }

    /// The Kafka bytes of `value`, or why it is not a value of this type.
    pub fn to_bytes(self, value: &Value) -> Result<Vec<u8>, String> {
        let wrong = || format!("{} is not a valid {} value", short(value), self.name());
        match self {
            FormatType::Json => serde_json::to_vec(value).map_err(|e| e.to_string()),
            FormatType::String => value
                .as_str()
                .map(|s| s.as_bytes().to_vec())
                .ok_or_else(wrong),
            FormatType::Int => value
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .map(|n| n.to_be_bytes().to_vec())
                .ok_or_else(wrong),
            FormatType::Short => value
                .as_i64()
                .and_then(|n| i16::try_from(n).ok())
                .map(|n| n.to_be_bytes().to_vec())
                .ok_or_else(wrong),
            FormatType::Long => value
                .as_i64()
                .map(|n| n.to_be_bytes().to_vec())
                .ok_or_else(wrong),
            FormatType::Double => value
                .as_f64()
                .map(|n| n.to_be_bytes().to_vec())
                .ok_or_else(wrong),
            FormatType::Float => value
                .as_f64()
                .filter(|n| n.abs() <= f64::from(f32::MAX))
                .map(|n| (n as f32).to_be_bytes().to_vec())
                .ok_or_else(wrong),
            FormatType::ByteArray => value
                .as_str()
                .and_then(|s| {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD.decode(s).ok()
                })
                .ok_or_else(|| format!("{} is not valid base64", short(value))),
        }
    }

    /// Appends the JSON of Kafka `bytes` read as this type to `out`, or says why they are
    /// not of this type.
    pub fn write_json(self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let wrong = |_| format!("{} bytes are not a {} value", bytes.len(), self.name());
        match self {
            FormatType::Json => {
                // Stored JSON is passed through as it is; anything else is sent as a
                // string rather than dropped.
                match serde_json::from_slice::<&serde_json::value::RawValue>(bytes) {
                    Ok(raw) => out.extend_from_slice(raw.get().trim().as_bytes()),
                    Err(_) => write_string(&String::from_utf8_lossy(bytes), out),
                }
            }
            FormatType::String => write_string(&String::from_utf8_lossy(bytes), out),
            FormatType::Int => {
                let b: [u8; 4] = bytes.try_into().map_err(wrong)?;
                out.extend_from_slice(itoa_i64(i64::from(i32::from_be_bytes(b))).as_bytes());
            }
            FormatType::Short => {
                let b: [u8; 2] = bytes.try_into().map_err(wrong)?;
                out.extend_from_slice(itoa_i64(i64::from(i16::from_be_bytes(b))).as_bytes());
            }
            FormatType::Long => {
                let b: [u8; 8] = bytes.try_into().map_err(wrong)?;
                out.extend_from_slice(itoa_i64(i64::from_be_bytes(b)).as_bytes());
            }
            FormatType::Double => {
                let b: [u8; 8] = bytes.try_into().map_err(wrong)?;
                write_float(f64::from_be_bytes(b), out);
            }
            FormatType::Float => {
                let b: [u8; 4] = bytes.try_into().map_err(wrong)?;
                write_float(f64::from(f32::from_be_bytes(b)), out);
            }
            FormatType::ByteArray => {
                use base64::Engine;
                out.push(b'"');
                out.extend_from_slice(
                    base64::engine::general_purpose::STANDARD
                        .encode(bytes)
                        .as_bytes(),
                );
                out.push(b'"');
            }
        }
        Ok(())
    }
}

impl fmt::Display for FormatType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Appends `s` as a JSON string.
pub fn write_string(s: &str, out: &mut Vec<u8>) {
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_float(n: f64, out: &mut Vec<u8>) {
    // JSON has no NaN or infinities; Java's serializers can produce them.
    if n.is_finite() {
        let _ = serde_json::to_writer(&mut *out, &n);
    } else {
        out.extend_from_slice(b"null");
    }
}

fn itoa_i64(n: i64) -> String {
    n.to_string()
}

/// A value shortened for an error message.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 64 {
        let mut end = 64;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &text[..end])
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(t: FormatType, v: Value) -> String {
        let bytes = t.to_bytes(&v).expect("encodes");
        let mut out = Vec::new();
        t.write_json(&bytes, &mut out).expect("decodes");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn java_serializer_bytes() {
        assert_eq!(
            FormatType::Int.to_bytes(&json!(1)).unwrap(),
            vec![0, 0, 0, 1]
        );
        assert_eq!(
            FormatType::Short.to_bytes(&json!(-2)).unwrap(),
            vec![0xff, 0xfe]
        );
        assert_eq!(
            FormatType::Long.to_bytes(&json!(258)).unwrap(),
            vec![0, 0, 0, 0, 0, 0, 1, 2]
        );
        assert_eq!(
            FormatType::Double.to_bytes(&json!(1.5)).unwrap(),
            1.5f64.to_be_bytes().to_vec()
        );
        assert_eq!(
            FormatType::Float.to_bytes(&json!(1.5)).unwrap(),
            1.5f32.to_be_bytes().to_vec()
        );
        assert_eq!(
            FormatType::String.to_bytes(&json!("é")).unwrap(),
            "é".as_bytes()
        );
        assert_eq!(
            FormatType::Json.to_bytes(&json!({"a":[1,2]})).unwrap(),
            br#"{"a":[1,2]}"#.to_vec()
        );
    }

    #[test]
    fn round_trips() {
        assert_eq!(round_trip(FormatType::Int, json!(-7)), "-7");
        assert_eq!(
            round_trip(FormatType::Long, json!(i64::MAX)),
            i64::MAX.to_string()
        );
        assert_eq!(round_trip(FormatType::Double, json!(2.25)), "2.25");
        assert_eq!(round_trip(FormatType::Float, json!(0.5)), "0.5");
        assert_eq!(
            round_trip(FormatType::Json, json!({"x":null})),
            r#"{"x":null}"#
        );
        assert_eq!(round_trip(FormatType::String, json!("a\"b")), r#""a\"b""#);
        assert_eq!(
            round_trip(FormatType::ByteArray, json!("AAE=")),
            r#""AAE=""#
        );
    }

    #[test]
    fn wrong_values_are_refused() {
        assert!(FormatType::Int.to_bytes(&json!(1u64 << 40)).is_err());
        assert!(FormatType::Short.to_bytes(&json!(70000)).is_err());
        assert!(FormatType::Int.to_bytes(&json!("1")).is_err());
        assert!(FormatType::String.to_bytes(&json!(1)).is_err());
        assert!(FormatType::Long.to_bytes(&json!(1.5)).is_err());
        assert!(FormatType::ByteArray.to_bytes(&json!("!!")).is_err());
        let mut out = Vec::new();
        assert!(FormatType::Int.write_json(&[1, 2], &mut out).is_err());
    }
}
