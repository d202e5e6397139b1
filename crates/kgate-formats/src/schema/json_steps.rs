//! A bound on the work of checking one document against a JSON Schema.
//!
//! `allOf`, `anyOf` and `oneOf` apply several subschemas to the same document; nested in
//! each other (through references, a schema of a kilobyte can nest them twenty deep) they
//! make the work exponential: 2^20 evaluations for one small record. The validator has
//! no bound of its own, so kgate adds one: the compiled copy of every schema carries, in
//! each subschema and ahead of its other keywords, a keyword of kgate's whose check
//! counts one step against a per-thread budget, and fails once the budget is spent. A
//! failing first keyword ends the evaluation of its subschema at once, so a spent budget
//! stops the whole check within a few steps of every subschema still on the stack. The
//! stored schema, its canonical form and compatibility checks never see the keyword.

use std::cell::Cell;

use jsonschema::paths::{LazyLocation, Location};
use jsonschema::{Keyword, ValidationError, ValidationOptions};
use serde_json::{Map, Value};

use crate::limits::MAX_RECORD_STEPS;

/// The keyword added to every subschema of the compiled copy; `$$` keeps it ahead of
/// every standard keyword in the validator's order and out of any standard's way.
const STEP_KEYWORD: &str = "$$kgate-step";

/// Keywords whose values are maps of subschemas (the map itself is not a subschema).
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "definitions",
    "$defs",
    "dependentSchemas",
    "dependencies",
];
/// Keywords whose values are data or plain maps, never subschemas.
const NOT_SCHEMAS: &[&str] = &[
    "enum",
    "const",
    "default",
    "examples",
    "dependentRequired",
    "$vocabulary",
];

thread_local! {
    /// Steps left to the check running on this thread; unbounded outside [`bounded`].
    static STEPS_LEFT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The step keyword's check.
struct Step;

impl Keyword for Step {
    fn validate<'i>(
        &self,
        instance: &'i Value,
        location: &LazyLocation,
    ) -> Result<(), ValidationError<'i>> {
        if self.is_valid(instance) {
            Ok(())
        } else {
            Err(ValidationError::custom(
                Location::new(),
                location.into(),
                instance,
                "too many steps",
            ))
        }
    }

    fn is_valid(&self, _instance: &Value) -> bool {
        STEPS_LEFT.with(|left| match left.get() {
            0 => false,
            n => {
                left.set(n - 1);
                true
            }
        })
    }
}

/// Teaches `options` the step keyword.
// The factory's error type is the validator's, whatever its size.
#[allow(clippy::result_large_err)]
pub(crate) fn with_step_keyword(options: ValidationOptions) -> ValidationOptions {
    options.with_keyword(STEP_KEYWORD, |_, _, _| Ok(Box::new(Step)))
}

/// Adds the step keyword to every subschema of `schema`, first in each.
pub(crate) fn instrument(schema: &mut Value) {
    let mut pending: Vec<(&mut Value, bool)> = vec![(schema, true)];
    while let Some((value, is_schema)) = pending.pop() {
        match value {
            Value::Object(o) => {
                if is_schema {
                    let mut first = Map::new();
                    first.insert(STEP_KEYWORD.to_string(), Value::Bool(true));
                    first.append(o);
                    *o = first;
                }
                for (key, child) in o.iter_mut() {
                    let k = key.as_str();
                    if k == STEP_KEYWORD || NOT_SCHEMAS.contains(&k) {
                        continue;
                    }
                    if SCHEMA_MAPS.contains(&k) {
                        if let Value::Object(entries) = child {
                            pending.extend(entries.values_mut().map(|v| (v, true)));
                        }
                        continue;
                    }
                    // Subschemas, and anything a reference may point into.
                    pending.push((child, true));
                }
            }
            Value::Array(items) => pending.extend(items.iter_mut().map(|v| (v, is_schema))),
            _ => {}
        }
    }
}

/// The steps a check of a document of `values` JSON values may take: enough for every
/// value to meet a hundred subschemas, but never more than [`MAX_RECORD_STEPS`]. Each
/// step may also compile a subschema the validator keeps, so small documents get small
/// budgets.
pub(crate) fn budget(values: usize) -> usize {
    values
        .saturating_mul(100)
        .saturating_add(10_000)
        .min(MAX_RECORD_STEPS)
}

/// Runs a check of one document with a budget of `steps`; an error when the budget ran
/// out, whatever the check answered.
pub(crate) fn bounded<T>(steps: usize, check: impl FnOnce() -> T) -> Result<T, String> {
    let before = STEPS_LEFT.replace(steps);
    let outcome = check();
    let left = STEPS_LEFT.replace(before);
    if left == 0 {
        Err(format!(
            "Checking the value against the JSON schema needs more than kgate's limit of {steps} steps"
        ))
    } else {
        Ok(outcome)
    }
}
