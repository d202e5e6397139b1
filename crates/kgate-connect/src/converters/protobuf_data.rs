//! Connect data as Protobuf, close to Confluent's ProtobufConverter: a struct becomes a
//! proto3 message named after its schema (`ConnectDefault1` when unnamed) whose fields
//! are numbered in order, nested structs become nested messages, arrays `repeated`
//! fields and maps with string keys `map<string, ...>` fields. Reading maps any message
//! back to a struct whose fields are optional (proto3 fields always have a value).
//!
//! kgate writes struct values only: a top-level primitive has no message to live in.

use kgate_formats::schema::ProtobufSchema;
use prost_reflect::{Kind, MessageDescriptor};
use serde_json::{Map, Value as Json};

use super::ConvertError;
use super::walk::{self, Form, ReadForm, Rules};
use crate::data::{Field, Schema, SchemaType, Value};

/// Confluent's name for a message the Connect schema does not name.
const DEFAULT_NAME: &str = "ConnectDefault1";

/// The `.proto` file for a struct schema.
pub fn proto_file(schema: &Schema) -> Result<String, ConvertError> {
    if schema.kind != SchemaType::Struct {
        return Err(ConvertError(format!(
            "kgate's ProtobufConverter writes struct values only, not {}",
            schema.kind.name().to_uppercase()
        )));
    }
    let mut out = String::from("syntax = \"proto3\";\n\n");
    if let Some((package, _)) = schema.name.as_deref().and_then(|n| n.rsplit_once('.')) {
        out.push_str(&format!("package {package};\n\n"));
    }
    write_message(schema, &message_name(schema, DEFAULT_NAME), 0, &mut out)?;
    Ok(out)
}

fn message_name(schema: &Schema, fallback: &str) -> String {
    schema
        .name
        .as_deref()
        .map(|n| n.rsplit('.').next().unwrap_or(n).to_string())
        .unwrap_or_else(|| fallback.to_string())
}

fn capitalized(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn write_message(
    schema: &Schema,
    name: &str,
    depth: usize,
    out: &mut String,
) -> Result<(), ConvertError> {
    let indent = "  ".repeat(depth);
    out.push_str(&format!("{indent}message {name} {{\n"));
    for (i, f) in schema.fields.iter().enumerate() {
        let (declaration, nested) = field_type(&f.schema, &f.name)?;
        for (nested_name, nested_schema) in nested {
            write_message(nested_schema, &nested_name, depth + 1, out)?;
        }
        out.push_str(&format!(
            "{indent}  {declaration} {} = {};\n",
            f.name,
            i + 1
        ));
    }
    out.push_str(&format!("{indent}}}\n"));
    Ok(())
}

/// A field's type declaration and the nested messages (name, schema) it needs.
type FieldType<'a> = (String, Vec<(String, &'a Schema)>);

/// A field's type declaration and the nested messages it needs.
fn field_type<'a>(schema: &'a Schema, field: &str) -> Result<FieldType<'a>, ConvertError> {
    let scalar = |s: &Schema| -> Option<&'static str> {
        Some(match s.kind {
            SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32 => "int32",
            SchemaType::Int64 => "int64",
            SchemaType::Float32 => "float",
            SchemaType::Float64 => "double",
            SchemaType::Boolean => "bool",
            SchemaType::String => "string",
            SchemaType::Bytes => "bytes",
            _ => return None,
        })
    };
    let element = |s: &'a Schema, fallback: String| -> Result<FieldType<'a>, ConvertError> {
        if let Some(t) = scalar(s) {
            return Ok((t.to_string(), Vec::new()));
        }
        if s.kind == SchemaType::Struct {
            let name = message_name(s, &fallback);
            return Ok((name.clone(), vec![(name, s)]));
        }
        Err(ConvertError(format!(
            "kgate's ProtobufConverter cannot nest {} in field {field}",
            s.kind.name().to_uppercase()
        )))
    };
    match schema.kind {
        SchemaType::Array => {
            let item = schema
                .value
                .as_deref()
                .ok_or_else(|| ConvertError(format!("array field {field} has no item schema")))?;
            let (t, nested) = element(item, capitalized(field))?;
            Ok((format!("repeated {t}"), nested))
        }
        SchemaType::Map => {
            let key = schema.key.as_deref();
            if !key.is_some_and(|k| k.kind == SchemaType::String) {
                return Err(ConvertError(format!(
                    "kgate's ProtobufConverter writes maps with string keys only (field {field})"
                )));
            }
            let value = schema
                .value
                .as_deref()
                .ok_or_else(|| ConvertError(format!("map field {field} has no value schema")))?;
            let (t, nested) = element(value, format!("{}Value", capitalized(field)))?;
            Ok((format!("map<string, {t}>"), nested))
        }
        _ => element(schema, capitalized(field)),
    }
}

/// A struct value in protobuf's JSON mapping (null fields left out: proto3 defaults).
pub fn proto_value(schema: &Schema, value: &Value) -> Result<Json, ConvertError> {
    walk::to_json::<ProtobufForm>(schema, value)
}

/// Protobuf's leaves in the shared walks: base64 bytes, integers as numbers or (64-bit,
/// as protobuf's JSON mapping writes them) strings, fields by name or JSON name.
struct ProtobufForm;

impl Form for ProtobufForm {
    const RULES: Rules = Rules::Proto3;
}

impl ReadForm for ProtobufForm {
    const VALUE_NAME: &'static str = "protobuf";

    fn integer(kind: SchemaType, json: &Json) -> Option<Value> {
        let n = json
            .as_i64()
            .or_else(|| json.as_str().and_then(|s| s.parse().ok()))?;
        Some(match kind {
            SchemaType::Int64 => Value::Int64(n),
            // Proto3 has no 8- or 16-bit integers: those schemas read as int32.
            _ => Value::Int32(i32::try_from(n).ok()?),
        })
    }

    fn field<'a>(object: &'a Map<String, Json>, name: &str) -> Option<&'a Json> {
        object.get(name).or_else(|| object.get(&camel_case(name)))
    }
}

/// The Connect schema of a registered `.proto` file's first message (the one
/// Confluent's serializers write when none is named).
pub fn connect_schema(text: &str) -> Result<Schema, ConvertError> {
    let parsed = ProtobufSchema::parse(text, &[])
        .map_err(|e| ConvertError(format!("Invalid protobuf schema: {e}")))?;
    let message = parsed
        .messages()
        .into_iter()
        .next()
        .ok_or_else(|| ConvertError("The protobuf schema defines no message".into()))?;
    Ok(message_schema(&message, false))
}

fn message_schema(message: &MessageDescriptor, optional: bool) -> Schema {
    let mut s = Schema::of(SchemaType::Struct, optional);
    s.name = Some(message.full_name().to_string());
    for f in message.fields() {
        let element = |kind: &Kind| kind_schema(kind);
        let schema = if f.is_map() {
            let entry = match f.kind() {
                Kind::Message(m) => m,
                _ => continue,
            };
            let key = entry.map_entry_key_field().kind();
            let value = entry.map_entry_value_field().kind();
            Schema {
                key: Some(Box::new(element(&key))),
                value: Some(Box::new(element(&value))),
                ..Schema::of(SchemaType::Map, true)
            }
        } else if f.is_list() {
            Schema {
                value: Some(Box::new(element(&f.kind()))),
                ..Schema::of(SchemaType::Array, true)
            }
        } else {
            element(&f.kind())
        };
        s.fields.push(Field {
            name: f.name().to_string(),
            schema,
        });
    }
    s
}

fn kind_schema(kind: &Kind) -> Schema {
    let t = match kind {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => SchemaType::Int32,
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint32 | Kind::Fixed32 => {
            SchemaType::Int64
        }
        Kind::Uint64 | Kind::Fixed64 => SchemaType::Int64,
        Kind::Float => SchemaType::Float32,
        Kind::Double => SchemaType::Float64,
        Kind::Bool => SchemaType::Boolean,
        Kind::String | Kind::Enum(_) => SchemaType::String,
        Kind::Bytes => SchemaType::Bytes,
        Kind::Message(m) => return message_schema(m, true),
    };
    Schema::of(t, true)
}

/// The Connect value of a record decoded to protobuf's JSON mapping (field names in
/// lowerCamelCase, 64-bit integers as strings).
pub fn connect_value(schema: &Schema, json: &Json) -> Result<Value, ConvertError> {
    walk::from_json::<ProtobufForm>(schema, json)
}

/// Protobuf's JSON name of a field: `user_id` is `userId`.
fn camel_case(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn structs_become_messages_and_back() {
        let mut address = Schema::of(SchemaType::Struct, false);
        address.fields = vec![Field {
            name: "city".into(),
            schema: Schema::string(),
        }];
        let mut person = Schema::of(SchemaType::Struct, false);
        person.name = Some("com.example.Person".into());
        person.fields = vec![
            Field {
                name: "user_name".into(),
                schema: Schema::string(),
            },
            Field {
                name: "visits".into(),
                schema: Schema::of(SchemaType::Int64, false),
            },
            Field {
                name: "address".into(),
                schema: address,
            },
        ];
        let text = proto_file(&person).unwrap();
        assert_eq!(
            text,
            "syntax = \"proto3\";\n\npackage com.example;\n\nmessage Person {\n  string user_name = 1;\n  int64 visits = 2;\n  message Address {\n    string city = 1;\n  }\n  Address address = 3;\n}\n"
        );
        let read = connect_schema(&text).unwrap();
        assert_eq!(read.name.as_deref(), Some("com.example.Person"));
        let names: Vec<&str> = read.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["user_name", "visits", "address"]);
        // As the codec decodes: JSON names, 64-bit integers as strings.
        let decoded = json!({"userName": "ada", "visits": "7", "address": {"city": "London"}});
        assert_eq!(
            connect_value(&read, &decoded).unwrap(),
            Value::Struct(vec![
                ("user_name".into(), Value::String("ada".into())),
                ("visits".into(), Value::Int64(7)),
                (
                    "address".into(),
                    Value::Struct(vec![("city".into(), Value::String("London".into()))])
                ),
            ])
        );
        assert!(proto_file(&Schema::string()).is_err());
    }
}
