//! JSON Schemas, compiled by the `jsonschema` crate; compatibility follows Confluent's
//! rules for the common keywords (type, properties, required, items, enum, content model).

use std::collections::HashSet;
use std::sync::Arc;

use jsonschema::{Draft, ValidationOptions};
use parking_lot::RwLock;
use serde_json::Value;

use super::json_budget::{Charge, CompileBudget};
use super::{ResolvedReference, SchemaError, SchemaType};
use crate::limits::{MAX_COMPATIBILITY_STEPS, MAX_SCHEMA_UNFOLDED_BYTES};

/// A parsed JSON Schema with its compiled validator.
#[derive(Clone)]
pub struct JsonSchema {
    /// The schema document.
    pub value: Value,
    /// The compiled validator, references included.
    pub validator: Arc<JsonValidator>,
}

impl std::fmt::Debug for JsonSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSchema")
            .field("value", &self.value)
            .finish()
    }
}

/// Where `jsonschema` resolves relative `$ref`s of a schema without an `$id`.
const DEFAULT_BASE: &str = "json-schema:///";

impl JsonSchema {
    /// Parses a JSON Schema; each reference is made available under its name (also
    /// relative to the default base URI, so `"$ref": "other.json"` finds it).
    ///
    /// The draft is the one `$schema` names; a schema without `$schema`, or naming one
    /// the validator does not know, is read as draft 7, as Confluent's registry does.
    pub fn parse(text: &str, references: &[ResolvedReference]) -> Result<JsonSchema, SchemaError> {
        let invalid = |e: &dyn std::fmt::Display| SchemaError::invalid(SchemaType::Json, e);
        let value: Value = serde_json::from_str(text).map_err(|e| invalid(&e))?;
        if !(value.is_object() || value.is_boolean()) {
            return Err(invalid(&"a JSON Schema must be an object or a boolean"));
        }
        let draft = draft_of(&value);
        crate::catch_panic("Checking the JSON Schema against its meta-schema", || {
            meta_validate(draft, &value)
        })
        .map_err(|e| invalid(&e))?
        .map_err(|e| invalid(&e))?;
        let mut documents: Vec<(String, Value)> = Vec::with_capacity(references.len());
        for reference in references {
            let contents: Value = serde_json::from_str(&reference.schema)
                .map_err(|e| invalid(&format!("reference {}: {e}", reference.name)))?;
            documents.push((reference.name.clone(), contents));
        }
        let all: Vec<(&str, &Value)> = std::iter::once(("", &value))
            .chain(documents.iter().map(|(n, v)| (n.as_str(), v)))
            .collect();
        let reference_costs = super::json_refs::analyze(&all).map_err(|e| invalid(&e))?;
        let mut weigher = super::json_budget::Weigher::new(&reference_costs);
        let mut base_charge = 0usize;
        let mut options = jsonschema::options().with_draft(draft);
        for (name, mut contents) in documents {
            let uris = if name.contains(':') {
                vec![name.clone()]
            } else {
                vec![
                    name.clone(),
                    format!("{DEFAULT_BASE}{}", name.trim_start_matches('/')),
                ]
            };
            let draft = draft_of(&contents);
            forget_unknown_meta_schema(&mut contents);
            // The validator keeps the document twice per name it is known by (its
            // options and its registry); its root's references are compiled only
            // through the schema's, which pay for them.
            let (copies, _) = weigher
                .instrument(&mut contents, 2 * uris.len())
                .map_err(|e| invalid(&e))?;
            base_charge = base_charge.saturating_add(copies);
            for uri in uris {
                options = options.with_resource(uri, draft.create_resource(contents.clone()));
            }
        }
        let mut compiled = value.clone();
        forget_unknown_meta_schema(&mut compiled);
        // Kept three times: as parsed, as compiled, and in the validator's registry.
        let (copies, root) = weigher
            .instrument(&mut compiled, 3)
            .map_err(|e| invalid(&e))?;
        let validator = JsonValidator::new(
            options,
            compiled,
            base_charge.saturating_add(copies).saturating_add(root),
            weigher.plain(),
        )
        .map_err(|e| invalid(&e))?;
        Ok(JsonSchema {
            value,
            validator: Arc::new(validator),
        })
    }

    /// Checks a document against the schema; the error says what does not match first.
    pub fn validate(&self, instance: &Value) -> Result<(), String> {
        self.validator.validate(instance)
    }

    /// The schema as compact JSON (keys sorted), the form the registry stores.
    pub fn canonical(&self) -> String {
        self.value.to_string()
    }

    /// Why documents valid under `writer` may be rejected or misread with this schema.
    ///
    /// The comparison is bounded by [`MAX_COMPATIBILITY_STEPS`]: schemas that need more
    /// (alternatives nested in alternatives multiply the work) are reported incompatible,
    /// with a message that says so.
    pub fn read_incompatibilities(&self, writer: &JsonSchema) -> Vec<String> {
        let mut out = Vec::new();
        let mut steps = MAX_COMPATIBILITY_STEPS;
        compare(&self.value, &writer.value, "#", &mut out, &mut steps);
        if steps == 0 {
            out.push(format!(
                "TOO_COMPLEX: comparing the schemas needs more than kgate's limit of {MAX_COMPATIBILITY_STEPS} steps"
            ));
        }
        out
    }
}

/// A JSON Schema's compiled validator, held to kgate's memory budget for compiled
/// schemas: what compiling each subschema once takes, and
/// [`MAX_SCHEMA_UNFOLDED_BYTES`] more.
///
/// The validator compiles the parts recursive references lead to as documents reach
/// them, and keeps them: records of ever new shapes grow it without end. Once what it
/// compiled passes the budget, it is dropped and compiled afresh from the schema, and
/// the document being checked is checked again with the fresh one.
pub struct JsonValidator {
    /// What every compilation starts from: the draft and the references' documents.
    options: ValidationOptions,
    /// The schema as compiled, with kgate's step keyword in every subschema.
    compiled: Value,
    /// What a compilation costs beyond its subschemas' weights.
    base_charge: usize,
    /// What compiling each subschema once takes.
    plain: usize,
    /// The validator in use and its budget.
    current: RwLock<Arc<Compiled>>,
}

/// One compilation of a schema.
struct Compiled {
    validator: jsonschema::Validator,
    budget: Arc<CompileBudget>,
}

impl JsonValidator {
    /// Compiles `compiled` with `options`; an error when the schema does not compile or
    /// needs more than the budget allows a build.
    fn new(
        options: ValidationOptions,
        compiled: Value,
        base_charge: usize,
        plain: usize,
    ) -> Result<JsonValidator, String> {
        let first = compile(&options, &compiled, base_charge, plain)?;
        Ok(JsonValidator {
            options,
            compiled,
            base_charge,
            plain,
            current: RwLock::new(Arc::new(first)),
        })
    }

    /// Checks a document against the schema, within kgate's limits on the document's
    /// depth, on the work of the check and on the memory of the compiled schema; the
    /// error says what does not match first.
    pub fn validate(&self, instance: &Value) -> Result<(), String> {
        let mut compiled = self.current.read().clone();
        // A check that spent the budget may have met subschemas compiled past it, which
        // fail every document: its answer is not trusted, and the check is made again
        // on a fresh compilation. Another check may spend that one first; three tries
        // leave only a document that alone needs more than the budget. A document over
        // the depth or work limits is refused at once.
        for _ in 0..3 {
            let checked = check_document(&compiled.validator, instance)?;
            if !compiled.budget.is_spent() {
                return checked;
            }
            compiled = self.recompile(&compiled)?;
        }
        Err(format!(
            "Checking the value makes the JSON schema's recursive references unfold into more than kgate's limit of {} MiB",
            MAX_SCHEMA_UNFOLDED_BYTES >> 20
        ))
    }

    /// The estimated memory of the compiled schema as it stands (what its budget was
    /// charged so far), in bytes.
    pub fn compiled_bytes(&self) -> usize {
        self.current.read().budget.used()
    }

    /// A fresh compilation in place of `spent`, unless another check made one already.
    fn recompile(&self, spent: &Arc<Compiled>) -> Result<Arc<Compiled>, String> {
        let mut current = self.current.write();
        if Arc::ptr_eq(&current, spent) {
            *current = Arc::new(compile(
                &self.options,
                &self.compiled,
                self.base_charge,
                self.plain,
            )?);
        }
        Ok(current.clone())
    }
}

/// Compiles `schema` with `options` and a new budget for a schema of plain size
/// `plain`, charged `base_charge` first.
fn compile(
    options: &ValidationOptions,
    schema: &Value,
    base_charge: usize,
    plain: usize,
) -> Result<Compiled, String> {
    let budget = Arc::new(CompileBudget::new(plain));
    if matches!(budget.charge(base_charge), Charge::Refused) {
        return Err(format!(
            "its root's references copy more than {} MiB, kgate's limit",
            CompileBudget::BUILD_ALLOWANCE >> 20
        ));
    }
    let options = super::json_steps::with_step_keyword(options.clone(), budget.clone());
    let validator = crate::catch_panic("Compiling the JSON Schema", || {
        options.build(schema).map_err(|e| e.to_string())
    })
    .and_then(|built| built)?;
    budget.built();
    Ok(Compiled { validator, budget })
}

/// Checks a document against a compiled schema, within kgate's limits on the document's
/// depth and on the work of the check: the outer error is a limit the document passed
/// (whatever the schema's compilation), the inner one what does not match first.
///
/// Only the first mismatch is reported: finding every mismatch means evaluating every
/// alternative of the schema to its end, which the work limit could not stop early.
fn check_document(
    validator: &jsonschema::Validator,
    instance: &Value,
) -> Result<Result<(), String>, String> {
    let values = crate::check_value_depth(instance).map_err(|e| e.to_string())?;
    crate::catch_panic("JSON Schema validation", || {
        super::json_steps::bounded(super::json_steps::budget(values), || {
            validator.validate(instance).map_err(|e| {
                let at = e.instance_path.to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
        })
    })
    .and_then(|bounded| bounded)
}

/// The draft a schema is written in: the one its `$schema` names (over http or https,
/// with or without the trailing `#`), else draft 7. Confluent's registry reads schemas
/// without `$schema`, or with one it does not know, as draft 7; so does kgate, rather
/// than refusing the schema (or taking the validator's own default, 2020-12).
fn draft_of(schema: &Value) -> Draft {
    schema
        .get("$schema")
        .and_then(Value::as_str)
        .and_then(known_draft)
        .unwrap_or(Draft::Draft7)
}

/// The draft a `$schema` URL names, if it names one.
fn known_draft(url: &str) -> Option<Draft> {
    let url = url.trim_end_matches('#');
    let url = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    Some(match url {
        "json-schema.org/draft-04/schema" => Draft::Draft4,
        "json-schema.org/draft-06/schema" => Draft::Draft6,
        "json-schema.org/draft-07/schema" => Draft::Draft7,
        "json-schema.org/draft/2019-09/schema" => Draft::Draft201909,
        "json-schema.org/draft/2020-12/schema" => Draft::Draft202012,
        _ => return None,
    })
}

/// Removes a `$schema` that names no known draft (the schema is then read as draft 7):
/// the validator would otherwise try to fetch it as a meta-schema of its own.
fn forget_unknown_meta_schema(schema: &mut Value) {
    let known = schema
        .get("$schema")
        .and_then(Value::as_str)
        .is_none_or(|url| known_draft(url).is_some());
    if !known && let Value::Object(o) = schema {
        o.remove("$schema");
    }
}

/// Checks a schema against the meta-schema of `draft`.
fn meta_validate(draft: Draft, schema: &Value) -> Result<(), String> {
    let checked = match draft {
        Draft::Draft4 => jsonschema::draft4::meta::validate(schema),
        Draft::Draft6 => jsonschema::draft6::meta::validate(schema),
        Draft::Draft201909 => jsonschema::draft201909::meta::validate(schema),
        Draft::Draft202012 => jsonschema::draft202012::meta::validate(schema),
        _ => jsonschema::draft7::meta::validate(schema),
    };
    checked.map_err(|e| e.to_string())
}

/// The alternatives of a `oneOf` / `anyOf` schema.
fn alternatives(schema: &Value) -> Option<&Vec<Value>> {
    schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
}

/// Compares schemas of which at least one is a `oneOf` / `anyOf` of alternatives: every
/// alternative the writer may have used must be readable by one of the reader's. `None`
/// when neither is such a schema.
fn compare_combined(
    reader: &Value,
    writer: &Value,
    path: &str,
    steps: &mut usize,
) -> Option<Vec<String>> {
    let (r, w) = (alternatives(reader), alternatives(writer));
    if r.is_none() && w.is_none() {
        return None;
    }
    let single_r = [reader.clone()];
    let single_w = [writer.clone()];
    let r: &[Value] = r.map_or(&single_r[..], Vec::as_slice);
    let w: &[Value] = w.map_or(&single_w[..], Vec::as_slice);
    let mut out = Vec::new();
    // An alternative both sides have unchanged is readable without comparing it with
    // every alternative of the reader, which for long lists is what costs.
    let unchanged: HashSet<String> = r.iter().map(Value::to_string).collect();
    for (i, wanted) in w.iter().enumerate() {
        let readable = unchanged.contains(&wanted.to_string())
            || r.iter().any(|candidate| {
                let mut found = Vec::new();
                compare(candidate, wanted, path, &mut found, steps);
                found.is_empty()
            });
        if !readable {
            out.push(format!(
                "COMBINED_TYPE_SUBSCHEMAS_CHANGED at {path}: the writer's alternative {i} matches none of the reader's"
            ));
        }
    }
    // With `oneOf` a document must match exactly one alternative: one the writer had
    // alone may now match two of the reader's.
    if reader.get("oneOf").is_some() && r.len() > w.len() && writer.get("oneOf").is_none() {
        let overlapping = w.iter().any(|wanted| {
            r.iter()
                .filter(|candidate| {
                    let mut found = Vec::new();
                    compare(candidate, wanted, path, &mut found, steps);
                    found.is_empty()
                })
                .count()
                > 1
        });
        if overlapping {
            out.push(format!(
                "COMBINED_TYPE_CHANGED at {path}: a writer's document may match several of the reader's oneOf"
            ));
        }
    }
    Some(out)
}

fn types_of(schema: &Value) -> Option<Vec<String>> {
    match schema.get("type")? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect(),
        ),
        _ => None,
    }
}

fn is_open(schema: &Value) -> bool {
    !matches!(schema.get("additionalProperties"), Some(Value::Bool(false)))
}

fn required(schema: &Value) -> Vec<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Compares a reader's schema with a writer's at `path`, pushing Confluent-style
/// difference names for what makes the pair incompatible.
fn compare(reader: &Value, writer: &Value, path: &str, out: &mut Vec<String>, steps: &mut usize) {
    if reader == writer {
        return;
    }
    // Out of steps: the caller reports the check as too complex.
    if *steps == 0 {
        return;
    }
    *steps -= 1;
    match (reader, writer) {
        (Value::Bool(true), _) => return,
        (Value::Bool(false), _) => {
            out.push(format!(
                "TYPE_CHANGED at {path}: the reader accepts nothing"
            ));
            return;
        }
        (_, Value::Bool(true)) if reader.as_object().is_some_and(|o| !o.is_empty()) => {
            out.push(format!(
                "TYPE_NARROWED at {path}: the writer accepts anything"
            ));
            return;
        }
        _ => {}
    }
    if let Some(found) = compare_combined(reader, writer, path, steps) {
        out.extend(found);
        return;
    }
    if let (Some(rt), Some(wt)) = (types_of(reader), types_of(writer)) {
        let widened =
            |t: &String| rt.contains(t) || (t == "integer" && rt.iter().any(|r| r == "number"));
        if !wt.iter().all(widened) {
            out.push(format!(
                "TYPE_CHANGED at {path}: reader type {rt:?}, writer type {wt:?}"
            ));
            return;
        }
    } else if types_of(reader).is_some()
        && types_of(writer).is_none()
        && writer.get("$ref").is_none()
    {
        out.push(format!("TYPE_NARROWED at {path}: the reader adds a type"));
    }
    if let (Some(re), Some(we)) = (
        reader.get("enum").and_then(Value::as_array),
        writer.get("enum").and_then(Value::as_array),
    ) {
        if !we.iter().all(|v| re.contains(v)) {
            out.push(format!("ENUM_ARRAY_NARROWED at {path}"));
        }
    } else if reader.get("enum").is_some() && writer.get("enum").is_none() {
        out.push(format!(
            "ENUM_ARRAY_NARROWED at {path}: the reader adds an enum"
        ));
    }
    let empty = serde_json::Map::new();
    let rprops = reader
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let wprops = writer
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let wrequired = required(writer);
    for name in required(reader) {
        if !wrequired.contains(&name) {
            if wprops.contains_key(&name) {
                out.push(format!(
                    "REQUIRED_ATTRIBUTE_ADDED at {path}/properties/{name}"
                ));
            } else if rprops.get(&name).and_then(|p| p.get("default")).is_none() {
                out.push(format!(
                    "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL at {path}/properties/{name}"
                ));
            }
        }
    }
    for (name, rprop) in rprops {
        let child = format!("{path}/properties/{name}");
        match wprops.get(name) {
            Some(wprop) => compare(rprop, wprop, &child, out, steps),
            // The writer may have put anything under this name.
            None if is_open(writer)
                && rprop != &Value::Bool(true)
                && rprop.as_object().is_none_or(|o| !o.is_empty()) =>
            {
                out.push(format!("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL at {child}"));
            }
            None => {}
        }
    }
    for name in wprops.keys() {
        if !rprops.contains_key(name) && !is_open(reader) {
            out.push(format!(
                "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL at {path}/properties/{name}"
            ));
        }
    }
    if is_open(writer) && !is_open(reader) {
        out.push(format!("ADDITIONAL_PROPERTIES_REMOVED at {path}"));
    }
    // Extra properties the writer allowed (all, or of some schema) must still be read.
    match (
        reader.get("additionalProperties"),
        writer.get("additionalProperties"),
    ) {
        (Some(r @ Value::Object(_)), Some(w @ Value::Object(_))) => {
            compare(r, w, &format!("{path}/additionalProperties"), out, steps);
        }
        (Some(Value::Object(r)), None | Some(Value::Bool(true))) if !r.is_empty() => {
            out.push(format!("ADDITIONAL_PROPERTIES_NARROWED at {path}"));
        }
        _ => {}
    }
    if let (Some(ri), Some(wi)) = (reader.get("items"), writer.get("items")) {
        compare(ri, wi, &format!("{path}/items"), out, steps);
    }
    match (
        reader.get("pattern").and_then(Value::as_str),
        writer.get("pattern").and_then(Value::as_str),
    ) {
        (Some(_), None) => out.push(format!("PATTERN_ADDED at {path}")),
        (Some(r), Some(w)) if r != w => out.push(format!("PATTERN_CHANGED at {path}")),
        _ => {}
    }
    match (
        reader.get("multipleOf").and_then(Value::as_f64),
        writer.get("multipleOf").and_then(Value::as_f64),
    ) {
        (Some(_), None) => out.push(format!("MULTIPLE_OF_ADDED at {path}")),
        // Every multiple of the writer's step must be one of the reader's.
        (Some(r), Some(w)) if r != 0.0 && ((w / r) - (w / r).round()).abs() > 1e-9 => {
            out.push(format!("MULTIPLE_OF_CHANGED at {path}"));
        }
        _ => {}
    }
    // Draft 6 and later give exclusive bounds as numbers (draft 4's booleans are skipped
    // by `as_f64`).
    for (keyword, narrower_is_smaller) in [
        ("maxLength", true),
        ("maximum", true),
        ("exclusiveMaximum", true),
        ("maxItems", true),
        ("maxProperties", true),
        ("minLength", false),
        ("minimum", false),
        ("exclusiveMinimum", false),
        ("minItems", false),
        ("minProperties", false),
    ] {
        let (r, w) = (
            reader.get(keyword).and_then(Value::as_f64),
            writer.get(keyword).and_then(Value::as_f64),
        );
        let narrowed = match (r, w) {
            (Some(_), None) => true,
            (Some(r), Some(w)) => {
                if narrower_is_smaller {
                    r < w
                } else {
                    r > w
                }
            }
            _ => false,
        };
        if narrowed {
            out.push(format!("{}_NARROWED at {path}", keyword.to_uppercase()));
        }
    }
}
