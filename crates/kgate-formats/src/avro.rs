//! Avro's JSON encoding <-> Avro binary, walking the writer's schema.
//!
//! The REST Proxy's avro format carries records in Avro's JSON encoding: a union value
//! other than null is an object whose one key names the branch (`{"string": "x"}`),
//! `bytes` and `fixed` are strings whose characters are the byte values. Records read
//! back are shown the same way, so a value round-trips unchanged.

use std::collections::HashMap;

use apache_avro::Schema;
use serde_json::{Map, Number, Value};

use crate::FormatError;
use crate::limits::{MAX_RECORD_STEPS, MAX_VALUE_DEPTH};
use crate::wire::{read_zigzag, write_zigzag};

/// What one encoding or decoding may still do: how deep it is and how many values it may
/// still visit. Recursive schemas make both unbounded by the schema alone.
struct Walk {
    depth: usize,
    steps_left: usize,
    exhausted: bool,
}

impl Walk {
    fn new(steps: usize) -> Self {
        Self {
            depth: 0,
            steps_left: steps,
            exhausted: false,
        }
    }

    /// Counts one value visited.
    fn step(&mut self) -> Result<(), FormatError> {
        if self.steps_left == 0 {
            self.exhausted = true;
            return Err(Self::exhausted_error());
        }
        self.steps_left -= 1;
        Ok(())
    }

    fn exhausted_error() -> FormatError {
        FormatError::SchemaMismatch(format!(
            "The Avro value needs more than kgate's limit of {MAX_RECORD_STEPS} steps to convert"
        ))
    }

    /// Enters a record, array, map or union branch.
    fn enter(&mut self, error: fn(String) -> FormatError) -> Result<(), FormatError> {
        if self.depth >= MAX_VALUE_DEPTH {
            return Err(error(format!(
                "The Avro value nests more than kgate's limit of {MAX_VALUE_DEPTH} levels"
            )));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }
}

/// An Avro schema ready to encode and decode records, with the named types of its
/// references so that `Ref`s resolve.
#[derive(Debug, Clone)]
pub struct AvroCodec {
    schema: Schema,
    named: HashMap<String, Schema>,
}

impl AvroCodec {
    /// A codec for `schema`, whose named-type references may point into itself or into
    /// `references` (the schemas it imports through the registry).
    pub fn new(schema: Schema, references: &[Schema]) -> Self {
        let mut named = HashMap::new();
        for s in references.iter().chain(std::iter::once(&schema)) {
            collect_named(s, &mut named);
        }
        Self { schema, named }
    }

    /// The writer's schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Encodes a value in Avro's JSON encoding as Avro binary.
    pub fn encode(&self, value: &Value) -> Result<Vec<u8>, FormatError> {
        let size = crate::check_value_depth(value)?;
        let mut out = Vec::new();
        let mut walk = Walk::new(MAX_RECORD_STEPS.saturating_add(size));
        self.write(&self.schema, value, &mut out, false, "$", &mut walk)?;
        Ok(out)
    }

    /// Decodes Avro binary into Avro's JSON encoding; trailing bytes are an error.
    pub fn decode(&self, bytes: &[u8]) -> Result<Value, FormatError> {
        let mut input = bytes;
        let mut walk = Walk::new(MAX_RECORD_STEPS.saturating_add(bytes.len()));
        let value = self.read(&self.schema, &mut input, &mut walk)?;
        if !input.is_empty() {
            return Err(FormatError::Undecodable(format!(
                "{} bytes left over after the Avro record",
                input.len()
            )));
        }
        Ok(value)
    }

    fn resolve<'a>(&'a self, schema: &'a Schema) -> Result<&'a Schema, FormatError> {
        match schema {
            Schema::Ref { name } => {
                let full = name.fullname(None);
                self.named.get(&full).ok_or_else(|| {
                    FormatError::InvalidSchema(format!("Unknown Avro named type {full}"))
                })
            }
            other => Ok(other),
        }
    }

    /// Writes `value` as `schema`. In `default` mode (a field default from the schema),
    /// unions take their first branch unwrapped, as the Avro specification says.
    fn write(
        &self,
        schema: &Schema,
        value: &Value,
        out: &mut Vec<u8>,
        default: bool,
        path: &str,
        walk: &mut Walk,
    ) -> Result<(), FormatError> {
        let schema = self.resolve(schema)?;
        walk.step()?;
        let nested = matches!(
            schema,
            Schema::Record(_) | Schema::Array(_) | Schema::Map(_) | Schema::Union(_)
        );
        if nested {
            walk.enter(FormatError::SchemaMismatch)?;
        }
        let written = self.write_resolved(schema, value, out, default, path, walk);
        if nested {
            walk.leave();
        }
        written
    }

    fn write_resolved(
        &self,
        schema: &Schema,
        value: &Value,
        out: &mut Vec<u8>,
        default: bool,
        path: &str,
        walk: &mut Walk,
    ) -> Result<(), FormatError> {
        let mismatch = |expected: &str| {
            FormatError::SchemaMismatch(format!(
                "Expected {expected} at {path}, found {}",
                crate::kind_of(value)
            ))
        };
        match schema {
            Schema::Null => match value {
                Value::Null => Ok(()),
                _ => Err(mismatch("null")),
            },
            Schema::Boolean => match value {
                Value::Bool(b) => {
                    out.push(u8::from(*b));
                    Ok(())
                }
                _ => Err(mismatch("a boolean")),
            },
            Schema::Int | Schema::Date | Schema::TimeMillis => {
                let v = value
                    .as_i64()
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(|| mismatch("a 32-bit integer"))?;
                write_zigzag(i64::from(v), out);
                Ok(())
            }
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => {
                let v = value.as_i64().ok_or_else(|| mismatch("a 64-bit integer"))?;
                write_zigzag(v, out);
                Ok(())
            }
            Schema::Float => {
                let v = json_float(value).ok_or_else(|| mismatch("a number"))?;
                out.extend_from_slice(&(v as f32).to_le_bytes());
                Ok(())
            }
            Schema::Double => {
                let v = json_float(value).ok_or_else(|| mismatch("a number"))?;
                out.extend_from_slice(&v.to_le_bytes());
                Ok(())
            }
            Schema::Bytes | Schema::BigDecimal => {
                let bytes = json_bytes(value).ok_or_else(|| mismatch("a string of bytes"))?;
                write_zigzag(bytes.len() as i64, out);
                out.extend_from_slice(&bytes);
                Ok(())
            }
            Schema::String | Schema::Uuid => {
                let s = value.as_str().ok_or_else(|| mismatch("a string"))?;
                write_zigzag(s.len() as i64, out);
                out.extend_from_slice(s.as_bytes());
                Ok(())
            }
            Schema::Decimal(d) => self.write(&d.inner, value, out, default, path, walk),
            Schema::Fixed(f) => {
                let bytes = json_bytes(value)
                    .filter(|b| b.len() == f.size)
                    .ok_or_else(|| mismatch(&format!("a string of {} bytes", f.size)))?;
                out.extend_from_slice(&bytes);
                Ok(())
            }
            Schema::Duration => {
                let bytes = json_bytes(value)
                    .filter(|b| b.len() == 12)
                    .ok_or_else(|| mismatch("a string of 12 bytes"))?;
                out.extend_from_slice(&bytes);
                Ok(())
            }
            Schema::Enum(e) => {
                let symbol = value.as_str().ok_or_else(|| mismatch("an enum symbol"))?;
                let index = e.symbols.iter().position(|s| s == symbol).ok_or_else(|| {
                    FormatError::SchemaMismatch(format!(
                        "{symbol:?} at {path} is not a symbol of enum {}",
                        e.name.fullname(None)
                    ))
                })?;
                write_zigzag(index as i64, out);
                Ok(())
            }
            Schema::Array(a) => {
                let items = value.as_array().ok_or_else(|| mismatch("an array"))?;
                if !items.is_empty() {
                    write_zigzag(items.len() as i64, out);
                    for (i, item) in items.iter().enumerate() {
                        self.write(&a.items, item, out, default, &format!("{path}[{i}]"), walk)?;
                    }
                }
                out.push(0);
                Ok(())
            }
            Schema::Map(m) => {
                let entries = value.as_object().ok_or_else(|| mismatch("an object"))?;
                if !entries.is_empty() {
                    write_zigzag(entries.len() as i64, out);
                    for (k, v) in entries {
                        write_zigzag(k.len() as i64, out);
                        out.extend_from_slice(k.as_bytes());
                        self.write(&m.types, v, out, default, &format!("{path}.{k}"), walk)?;
                    }
                }
                out.push(0);
                Ok(())
            }
            Schema::Record(r) => {
                let fields = value.as_object().ok_or_else(|| mismatch("an object"))?;
                if let Some(unknown) = fields.keys().find(|k| !r.lookup.contains_key(*k)) {
                    return Err(FormatError::SchemaMismatch(format!(
                        "Field {unknown} at {path} is not in record {}",
                        r.name.fullname(None)
                    )));
                }
                for field in &r.fields {
                    let field_path = format!("{path}.{}", field.name);
                    match (fields.get(&field.name), &field.default) {
                        (Some(v), _) => {
                            self.write(&field.schema, v, out, default, &field_path, walk)?
                        }
                        (None, Some(d)) => {
                            self.write(&field.schema, d, out, true, &field_path, walk)?
                        }
                        (None, None) => {
                            return Err(FormatError::SchemaMismatch(format!(
                                "Missing field {field_path}, which has no default"
                            )));
                        }
                    }
                }
                Ok(())
            }
            Schema::Union(u) => {
                let variants = u.variants();
                if default {
                    let first = variants.first().ok_or_else(|| mismatch("a union"))?;
                    write_zigzag(0, out);
                    return self.write(first, value, out, true, path, walk);
                }
                let (index, inner, written) = self.pick_branch(variants, value, path, walk)?;
                write_zigzag(index as i64, out);
                match written {
                    Some(bytes) => {
                        out.extend_from_slice(&bytes);
                        Ok(())
                    }
                    None => self.write(&variants[index], inner, out, false, path, walk),
                }
            }
            Schema::Ref { name } => Err(FormatError::InvalidSchema(format!(
                "Unresolved Avro reference {}",
                name.fullname(None)
            ))),
        }
    }

    /// Chooses a union branch: `null` picks the null branch, `{"<branch name>": v}` picks
    /// the named one (Avro's JSON encoding); as a convenience a bare value is accepted
    /// when exactly one non-null branch takes it. Also returns the value already written
    /// as that branch when finding the branch meant writing it.
    fn pick_branch<'v>(
        &self,
        variants: &[Schema],
        value: &'v Value,
        path: &str,
        walk: &mut Walk,
    ) -> Result<(usize, &'v Value, Option<Vec<u8>>), FormatError> {
        if value.is_null()
            && let Some(i) = variants.iter().position(|s| matches!(s, Schema::Null))
        {
            return Ok((i, value, None));
        }
        if let Value::Object(o) = value
            && o.len() == 1
            && let Some((key, inner)) = o.iter().next()
        {
            for (i, s) in variants.iter().enumerate() {
                if self.branch_names(s).iter().any(|n| n == key) {
                    return Ok((i, inner, None));
                }
            }
        }
        let non_null: Vec<usize> = (0..variants.len())
            .filter(|&i| !matches!(variants[i], Schema::Null))
            .collect();
        // The common `["null", T]`: a bare value can only be meant as T, and is written
        // (or refused) once instead of being tried first, which for a recursive T would
        // try every level below it again at each level.
        if let [only] = non_null.as_slice()
            && !value.is_null()
        {
            return Ok((*only, value, None));
        }
        // Each branch is tried once, and the one that fits is kept as written: writing it
        // again would try the unions below it again, for every level of nesting.
        let mut fitting = Vec::new();
        for i in non_null {
            let mut written = Vec::new();
            let fits = self
                .write(&variants[i], value, &mut written, false, path, walk)
                .is_ok();
            if walk.exhausted {
                return Err(Walk::exhausted_error());
            }
            if fits {
                fitting.push((i, written));
            }
        }
        if fitting.len() == 1
            && let Some((one, written)) = fitting.pop()
        {
            return Ok((one, value, Some(written)));
        }
        Err(FormatError::SchemaMismatch(format!(
            "Value at {path} does not match the union {}: write it as {{\"<type>\": value}}",
            variants
                .iter()
                .map(|s| self.branch_names(s).into_iter().next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    /// The names a union branch goes by in Avro's JSON encoding: its type name, or the
    /// full and short name of a named type.
    fn branch_names(&self, schema: &Schema) -> Vec<String> {
        let resolved = self.resolve(schema).unwrap_or(schema);
        if let Some(name) = resolved.name() {
            let full = name.fullname(None);
            let short = name.name.clone();
            return if full == short {
                vec![full]
            } else {
                vec![full, short]
            };
        }
        vec![type_name(resolved).to_string()]
    }

    fn read(
        &self,
        schema: &Schema,
        input: &mut &[u8],
        walk: &mut Walk,
    ) -> Result<Value, FormatError> {
        let schema = self.resolve(schema)?;
        walk.step()?;
        let nested = matches!(
            schema,
            Schema::Record(_) | Schema::Array(_) | Schema::Map(_) | Schema::Union(_)
        );
        if nested {
            walk.enter(FormatError::Undecodable)?;
        }
        let value = self.read_resolved(schema, input, walk);
        if nested {
            walk.leave();
        }
        value
    }

    fn read_resolved(
        &self,
        schema: &Schema,
        input: &mut &[u8],
        walk: &mut Walk,
    ) -> Result<Value, FormatError> {
        Ok(match schema {
            Schema::Null => Value::Null,
            Schema::Boolean => {
                let b = take(input, 1)?;
                Value::Bool(b[0] != 0)
            }
            Schema::Int | Schema::Date | Schema::TimeMillis => {
                let v = read_long(input)?;
                let v = i32::try_from(v).map_err(|_| undecodable("int out of range"))?;
                Value::from(v)
            }
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => Value::from(read_long(input)?),
            Schema::Float => {
                let b = take(input, 4)?;
                let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                // Through the shortest decimal text, so 1.1f shows as 1.1 and not as the
                // f64 nearest the f32.
                float_json(v.to_string().parse::<f64>().unwrap_or(f64::from(v)))
            }
            Schema::Double => {
                let b = take(input, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                float_json(f64::from_le_bytes(a))
            }
            Schema::Bytes | Schema::BigDecimal => {
                let len = read_len(input)?;
                bytes_json(take(input, len)?)
            }
            Schema::String | Schema::Uuid => {
                let len = read_len(input)?;
                let b = take(input, len)?;
                Value::String(
                    std::str::from_utf8(b)
                        .map_err(|_| undecodable("string is not UTF-8"))?
                        .to_string(),
                )
            }
            Schema::Decimal(d) => self.read(&d.inner, input, walk)?,
            Schema::Fixed(f) => bytes_json(take(input, f.size)?),
            Schema::Duration => bytes_json(take(input, 12)?),
            Schema::Enum(e) => {
                let i = read_long(input)?;
                let symbol = usize::try_from(i)
                    .ok()
                    .and_then(|i| e.symbols.get(i))
                    .ok_or_else(|| undecodable("enum index out of range"))?;
                Value::String(symbol.clone())
            }
            Schema::Array(a) => {
                let mut items = Vec::new();
                read_blocks(input, |input| {
                    items.push(self.read(&a.items, input, walk)?);
                    Ok(())
                })?;
                Value::Array(items)
            }
            Schema::Map(m) => {
                let mut entries = Map::new();
                read_blocks(input, |input| {
                    let len = read_len(input)?;
                    let key = std::str::from_utf8(take(input, len)?)
                        .map_err(|_| undecodable("map key is not UTF-8"))?
                        .to_string();
                    let v = self.read(&m.types, input, walk)?;
                    entries.insert(key, v);
                    Ok(())
                })?;
                Value::Object(entries)
            }
            Schema::Record(r) => {
                let mut fields = Map::new();
                for field in &r.fields {
                    fields.insert(field.name.clone(), self.read(&field.schema, input, walk)?);
                }
                Value::Object(fields)
            }
            Schema::Union(u) => {
                let i = read_long(input)?;
                let branch = usize::try_from(i)
                    .ok()
                    .and_then(|i| u.variants().get(i))
                    .ok_or_else(|| undecodable("union index out of range"))?;
                let v = self.read(branch, input, walk)?;
                if matches!(self.resolve(branch)?, Schema::Null) {
                    Value::Null
                } else {
                    let name = self
                        .branch_names(branch)
                        .into_iter()
                        .next()
                        .unwrap_or_default();
                    let mut o = Map::new();
                    o.insert(name, v);
                    Value::Object(o)
                }
            }
            Schema::Ref { name } => {
                return Err(FormatError::InvalidSchema(format!(
                    "Unresolved Avro reference {}",
                    name.fullname(None)
                )));
            }
        })
    }
}

/// Records every named type in `schema` under its full name.
fn collect_named(schema: &Schema, named: &mut HashMap<String, Schema>) {
    match schema {
        Schema::Record(r) => {
            named.insert(r.name.fullname(None), schema.clone());
            for f in &r.fields {
                collect_named(&f.schema, named);
            }
        }
        Schema::Enum(e) => {
            named.insert(e.name.fullname(None), schema.clone());
        }
        Schema::Fixed(f) => {
            named.insert(f.name.fullname(None), schema.clone());
        }
        Schema::Array(a) => collect_named(&a.items, named),
        Schema::Map(m) => collect_named(&m.types, named),
        Schema::Union(u) => {
            for v in u.variants() {
                collect_named(v, named);
            }
        }
        Schema::Decimal(d) => collect_named(&d.inner, named),
        _ => {}
    }
}

/// The name of an unnamed type as a union branch: logical types go by their underlying
/// type, as Avro's JSON encoder writes them.
fn type_name(schema: &Schema) -> &'static str {
    match schema {
        Schema::Null => "null",
        Schema::Boolean => "boolean",
        Schema::Int | Schema::Date | Schema::TimeMillis => "int",
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => "long",
        Schema::Float => "float",
        Schema::Double => "double",
        Schema::Bytes | Schema::BigDecimal | Schema::Decimal(_) => "bytes",
        Schema::String | Schema::Uuid => "string",
        Schema::Array(_) => "array",
        Schema::Map(_) => "map",
        Schema::Union(_) => "union",
        Schema::Record(_) => "record",
        Schema::Enum(_) => "enum",
        Schema::Fixed(_) | Schema::Duration => "fixed",
        Schema::Ref { .. } => "ref",
    }
}

fn json_float(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        // Avro's JSON encoding writes the non-finite values as strings.
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

fn float_json(v: f64) -> Value {
    match Number::from_f64(v) {
        Some(n) => Value::Number(n),
        None if v.is_nan() => Value::String("NaN".to_string()),
        None if v > 0.0 => Value::String("Infinity".to_string()),
        None => Value::String("-Infinity".to_string()),
    }
}

/// Avro's JSON encoding of bytes: one character per byte, code points 0..=255.
fn json_bytes(value: &Value) -> Option<Vec<u8>> {
    value
        .as_str()?
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

fn bytes_json(bytes: &[u8]) -> Value {
    Value::String(bytes.iter().map(|&b| char::from(b)).collect())
}

fn undecodable(what: &str) -> FormatError {
    FormatError::Undecodable(format!("Invalid Avro data: {what}"))
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], FormatError> {
    if input.len() < n {
        return Err(undecodable("record is truncated"));
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

fn read_long(input: &mut &[u8]) -> Result<i64, FormatError> {
    let (v, rest) = read_zigzag(input)?;
    *input = rest;
    Ok(v)
}

fn read_len(input: &mut &[u8]) -> Result<usize, FormatError> {
    let v = read_long(input)?;
    usize::try_from(v)
        .ok()
        .filter(|&n| n <= input.len())
        .ok_or_else(|| undecodable("invalid length"))
}

/// Reads array or map blocks; a negative count is followed by the block's byte size.
fn read_blocks(
    input: &mut &[u8],
    mut item: impl FnMut(&mut &[u8]) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    loop {
        let mut count = read_long(input)?;
        if count == 0 {
            return Ok(());
        }
        if count < 0 {
            count = count
                .checked_neg()
                .ok_or_else(|| undecodable("block count"))?;
            read_long(input)?;
        }
        // No check of the count against the bytes left: items of `null` (or of an empty
        // record) take none. Each item counts against the decoding's step budget instead.
        for _ in 0..count {
            item(input)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codec(schema: &str) -> AvroCodec {
        AvroCodec::new(Schema::parse_str(schema).unwrap(), &[])
    }

    /// The same bytes as apache-avro's own encoder, so other Avro readers agree.
    fn agrees_with_apache_avro(schema: &str, value: Value, avro: apache_avro::types::Value) {
        let c = codec(schema);
        let ours = c.encode(&value).unwrap();
        let theirs = apache_avro::to_avro_datum(c.schema(), avro).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(c.decode(&ours).unwrap(), value);
    }

    #[test]
    fn primitives_match_apache_avro() {
        use apache_avro::types::Value as A;
        agrees_with_apache_avro(r#""int""#, json!(-12), A::Int(-12));
        agrees_with_apache_avro(r#""long""#, json!(1i64 << 40), A::Long(1 << 40));
        agrees_with_apache_avro(r#""string""#, json!("héllo"), A::String("héllo".into()));
        agrees_with_apache_avro(r#""boolean""#, json!(true), A::Boolean(true));
        agrees_with_apache_avro(r#""double""#, json!(2.5), A::Double(2.5));
        agrees_with_apache_avro(r#""float""#, json!(1.1), A::Float(1.1));
        agrees_with_apache_avro(
            r#""bytes""#,
            json!("\u{0}\u{ff}a"),
            A::Bytes(vec![0, 255, b'a']),
        );
    }

    #[test]
    fn records_unions_and_nesting_match_apache_avro() {
        use apache_avro::types::Value as A;
        let schema = r#"{"type":"record","name":"User","namespace":"com.example","fields":[
            {"name":"name","type":"string"},
            {"name":"age","type":["null","int"]},
            {"name":"tags","type":{"type":"array","items":"string"}},
            {"name":"attrs","type":{"type":"map","values":"long"}},
            {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},
            {"name":"address","type":["null",{"type":"record","name":"Address","fields":[
                {"name":"city","type":"string"}]}]},
            {"name":"previous","type":["null","Address"]}
        ]}"#;
        let value = json!({
            "name": "ann",
            "age": {"int": 7},
            "tags": ["x", "y"],
            "attrs": {"k": 3},
            "kind": "B",
            "address": {"com.example.Address": {"city": "Oslo"}},
            "previous": null
        });
        let avro = A::Record(vec![
            ("name".into(), A::String("ann".into())),
            ("age".into(), A::Union(1, Box::new(A::Int(7)))),
            (
                "tags".into(),
                A::Array(vec![A::String("x".into()), A::String("y".into())]),
            ),
            (
                "attrs".into(),
                A::Map([("k".to_string(), A::Long(3))].into_iter().collect()),
            ),
            ("kind".into(), A::Enum(1, "B".into())),
            (
                "address".into(),
                A::Union(
                    1,
                    Box::new(A::Record(vec![("city".into(), A::String("Oslo".into()))])),
                ),
            ),
            ("previous".into(), A::Union(0, Box::new(A::Null))),
        ]);
        agrees_with_apache_avro(schema, value, avro);
    }

    #[test]
    fn unions_accept_short_names_and_unambiguous_bare_values() {
        let c = codec(
            r#"["null","string",{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"int"}]}]"#,
        );
        let wrapped = c.encode(&json!({"string": "s"})).unwrap();
        assert_eq!(c.encode(&json!("s")).unwrap(), wrapped);
        assert_eq!(c.decode(&wrapped).unwrap(), json!({"string": "s"}));
        let short = c.encode(&json!({"R": {"a": 1}})).unwrap();
        assert_eq!(c.decode(&short).unwrap(), json!({"n.R": {"a": 1}}));
        assert_eq!(
            c.decode(&c.encode(&json!(null)).unwrap()).unwrap(),
            json!(null)
        );
        assert!(matches!(
            c.encode(&json!(12)),
            Err(FormatError::SchemaMismatch(_))
        ));
    }

    #[test]
    fn defaults_fill_missing_fields() {
        let c = codec(
            r#"{"type":"record","name":"R","fields":[
            {"name":"a","type":"int"},
            {"name":"b","type":["null","string"],"default":null},
            {"name":"c","type":"string","default":"x"}]}"#,
        );
        let bytes = c.encode(&json!({"a": 1})).unwrap();
        assert_eq!(
            c.decode(&bytes).unwrap(),
            json!({"a": 1, "b": null, "c": "x"})
        );
    }

    #[test]
    fn mismatches_are_schema_errors() {
        let c = codec(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#);
        for bad in [
            json!({"a": "x"}),
            json!({}),
            json!({"a": 1, "b": 2}),
            json!([1]),
            json!({"a": 1u64 << 40}),
        ] {
            assert!(
                matches!(c.encode(&bad), Err(FormatError::SchemaMismatch(_))),
                "{bad}"
            );
        }
        assert!(c.decode(&[0x80]).is_err());
        assert!(c.decode(&[2, 2]).is_err());
    }
}
