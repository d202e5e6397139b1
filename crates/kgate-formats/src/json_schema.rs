//! The jsonschema embedded format: records are JSON text, checked against a JSON Schema
//! before they are written; reading back needs no schema beyond parsing the JSON.

use serde_json::Value;

use crate::FormatError;
use crate::schema::JsonValidator;

/// Checks `value` against `validator` and returns its JSON text.
pub fn encode(validator: &JsonValidator, value: &Value) -> Result<Vec<u8>, FormatError> {
    validator.validate(value).map_err(|problem| {
        FormatError::SchemaMismatch(format!("Value does not match the JSON schema: {problem}"))
    })?;
    serde_json::to_vec(value).map_err(|e| FormatError::InvalidValue(e.to_string()))
}

/// Parses a record's JSON text.
pub fn decode(bytes: &[u8]) -> Result<Value, FormatError> {
    serde_json::from_slice(bytes)
        .map_err(|e| FormatError::Undecodable(format!("Record is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn valid_values_pass_and_invalid_ones_say_where() {
        let schema =
            json!({"type":"object","properties":{"f1":{"type":"string"}},"required":["f1"]});
        let validator = crate::schema::JsonSchema::parse(&schema.to_string(), &[])
            .unwrap()
            .validator;
        let bytes = encode(&validator, &json!({"f1": "bar"})).unwrap();
        assert_eq!(decode(&bytes).unwrap(), json!({"f1": "bar"}));
        let err = encode(&validator, &json!({"f1": 3})).unwrap_err();
        assert!(matches!(&err, FormatError::SchemaMismatch(m) if m.contains("/f1")));
        assert!(encode(&validator, &json!({})).is_err());
    }
}
