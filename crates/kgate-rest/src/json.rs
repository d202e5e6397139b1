//! Deserializers for request fields that Confluent's proxy reads more leniently than
//! serde does: Jackson coerces a numeric string (`"7"`) into an integer field, and
//! clients rely on it (e.g. `"value_schema_id": "7"`).

use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// An integer field that also takes a JSON string holding an integer.
pub fn int<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    deserializer.deserialize_any(IntVisitor(PhantomData))
}

/// An optional integer field (absent or `null` is `None`) that also takes a JSON string
/// holding an integer. Use with `#[serde(default)]`.
pub fn opt_int<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    deserializer.deserialize_any(OptIntVisitor(PhantomData))
}

/// A field that may be absent (`None`, with `#[serde(default)]`) or given, `null`
/// included (`Some(Value::Null)`), where serde's `Option` would take `null` as absent.
pub fn present<'de, D>(deserializer: D) -> Result<Option<serde_json::Value>, D::Error>
where
    D: Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

struct IntVisitor<T>(PhantomData<T>);

impl<T: TryFrom<i64> + TryFrom<u64>> Visitor<'_> for IntVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer, or a string holding one")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        let text = v.trim();
        match text.parse::<i64>() {
            Ok(n) => self.visit_i64(n),
            Err(_) => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }
}

struct OptIntVisitor<T>(PhantomData<T>);

impl<T: TryFrom<i64> + TryFrom<u64>> Visitor<'_> for OptIntVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer, a string holding one, or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<T>, E> {
        IntVisitor(PhantomData).visit_i64(v).map(Some)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<T>, E> {
        IntVisitor(PhantomData).visit_u64(v).map(Some)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<T>, E> {
        IntVisitor(PhantomData).visit_str(v).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct R {
        #[serde(deserialize_with = "super::int")]
        a: i32,
        #[serde(default, deserialize_with = "super::opt_int")]
        b: Option<i64>,
    }

    #[test]
    fn numbers_and_numeric_strings_are_integers() {
        let r: R = serde_json::from_str(r#"{"a": "7", "b": 8}"#).unwrap();
        assert_eq!((r.a, r.b), (7, Some(8)));
        let r: R = serde_json::from_str(r#"{"a": -1, "b": null}"#).unwrap();
        assert_eq!((r.a, r.b), (-1, None));
        let r: R = serde_json::from_str(r#"{"a": 1}"#).unwrap();
        assert_eq!(r.b, None);
        assert!(serde_json::from_str::<R>(r#"{"a": "x"}"#).is_err());
        assert!(serde_json::from_str::<R>(r#"{"a": 1.5}"#).is_err());
        assert!(serde_json::from_str::<R>(r#"{"a": 3000000000}"#).is_err());
        assert!(serde_json::from_str::<R>(r#"{"a": [1]}"#).is_err());
    }
}
