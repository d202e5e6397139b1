//! Protobuf's JSON mapping <-> protobuf binary, plus the message indexes Confluent's
//! wire format puts before a protobuf record to say which message type of the .proto
//! file it is.

use prost::Message;
use prost_reflect::{DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions};
use serde_json::Value;

use crate::FormatError;
use crate::schema::ProtobufSchema;

/// A .proto file's message types, ready to encode and decode records.
#[derive(Debug, Clone)]
pub struct ProtobufCodec {
    schema: ProtobufSchema,
}

impl ProtobufCodec {
    /// A codec for the messages of a parsed .proto schema.
    pub fn new(schema: ProtobufSchema) -> Self {
        Self { schema }
    }

    /// The message type records are written with: the first one of the file, as
    /// Confluent's serializers choose when no type is named.
    pub fn default_message(&self) -> Result<MessageDescriptor, FormatError> {
        self.schema.messages().into_iter().next().ok_or_else(|| {
            FormatError::InvalidSchema("The protobuf schema defines no message".to_string())
        })
    }

    /// The message type at `indexes` (top-level position, then nested positions).
    pub fn message_at(&self, indexes: &[i32]) -> Result<MessageDescriptor, FormatError> {
        self.schema.message_at(indexes).ok_or_else(|| {
            FormatError::Undecodable(format!(
                "No protobuf message at index path {indexes:?} in the record's schema"
            ))
        })
    }

    /// Encodes a value in protobuf's JSON mapping as `message`, returning the message
    /// indexes to frame it with and the binary record.
    pub fn encode(
        &self,
        message: &MessageDescriptor,
        value: &Value,
    ) -> Result<(Vec<i32>, Vec<u8>), FormatError> {
        let indexes = self
            .schema
            .message_indexes(message.full_name())
            .ok_or_else(|| {
                FormatError::InvalidSchema(format!(
                    "Message {} is not defined by the schema itself",
                    message.full_name()
                ))
            })?;
        crate::check_value_depth(value)?;
        let options = DeserializeOptions::new().deny_unknown_fields(true);
        let mismatch = |e: &dyn std::fmt::Display| {
            FormatError::SchemaMismatch(format!(
                "Value does not match protobuf message {}: {e}",
                message.full_name()
            ))
        };
        let dynamic = crate::catch_panic("Protobuf conversion", || {
            DynamicMessage::deserialize_with_options(message.clone(), value, &options)
        })
        .map_err(|e| mismatch(&e))?
        .map_err(|e| mismatch(&e))?;
        let bytes = crate::catch_panic("Protobuf encoding", || dynamic.encode_to_vec())
            .map_err(|e| mismatch(&e))?;
        Ok((indexes, bytes))
    }

    /// Decodes a binary record of the message at `indexes` into protobuf's JSON mapping,
    /// with fields at their default values included as Confluent's proxy shows them.
    pub fn decode(&self, indexes: &[i32], bytes: &[u8]) -> Result<Value, FormatError> {
        let message = self.message_at(indexes)?;
        let invalid = |e: &dyn std::fmt::Display| {
            FormatError::Undecodable(format!(
                "Record is not a valid protobuf {}: {e}",
                message.full_name()
            ))
        };
        // prost refuses messages nested more than 100 levels deep while decoding, so
        // neither decoding nor the conversion below recurses without bound.
        let dynamic = crate::catch_panic("Protobuf decoding", || {
            DynamicMessage::decode(message.clone(), bytes)
        })
        .map_err(|e| invalid(&e))?
        .map_err(|e| invalid(&e))?;
        let options = SerializeOptions::new().skip_default_fields(false);
        let value = crate::catch_panic("Protobuf conversion", || {
            dynamic.serialize_with_options(serde_json::value::Serializer, &options)
        })
        .map_err(|e| invalid(&e))?
        .map_err(|e| FormatError::Undecodable(e.to_string()))?;
        // Maps and repeated fields add JSON levels of their own.
        crate::check_value_depth(&value).map_err(|e| invalid(&e))?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codec(source: &str) -> ProtobufCodec {
        ProtobufCodec::new(ProtobufSchema::parse(source, &[]).unwrap())
    }

    const PROTO: &str = r#"
        syntax = "proto3";
        package demo;
        message Order {
            string id = 1;
            int64 amount = 2;
            repeated Line lines = 3;
            message Line { string sku = 1; int32 qty = 2; }
        }
        message Other { bool flag = 1; }
    "#;

    #[test]
    fn round_trips_and_chooses_the_first_message() {
        let c = codec(PROTO);
        let order = c.default_message().unwrap();
        assert_eq!(order.full_name(), "demo.Order");
        let value = json!({"id": "o1", "amount": "12", "lines": [{"sku": "a", "qty": 2}]});
        let (indexes, bytes) = c.encode(&order, &value).unwrap();
        assert_eq!(indexes, [0]);
        assert_eq!(c.decode(&indexes, &bytes).unwrap(), value);
    }

    #[test]
    fn nested_and_later_messages_get_their_index_paths() {
        let c = codec(PROTO);
        let line = c.message_at(&[0, 0]).unwrap();
        assert_eq!(line.full_name(), "demo.Order.Line");
        let (indexes, _) = c.encode(&line, &json!({"sku": "a"})).unwrap();
        assert_eq!(indexes, [0, 0]);
        let other = c.message_at(&[1]).unwrap();
        let (indexes, bytes) = c.encode(&other, &json!({"flag": true})).unwrap();
        assert_eq!(indexes, [1]);
        assert_eq!(c.decode(&[1], &bytes).unwrap(), json!({"flag": true}));
        assert!(c.message_at(&[5]).is_err());
    }

    #[test]
    fn mismatches_are_schema_errors() {
        let c = codec(PROTO);
        let order = c.default_message().unwrap();
        for bad in [json!({"id": 5}), json!({"nope": 1}), json!("x")] {
            assert!(matches!(
                c.encode(&order, &bad),
                Err(FormatError::SchemaMismatch(_))
            ));
        }
        assert!(c.decode(&[0], &[0xff, 0xff]).is_err());
    }
}
