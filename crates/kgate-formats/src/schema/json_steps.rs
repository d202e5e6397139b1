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
//!
//! The same keyword's compilation charges the memory budget of the validator (see
//! `json_budget`): every subschema the validator compiles, at once or later, is counted.

use std::cell::Cell;
use std::sync::Arc;

use jsonschema::paths::{LazyLocation, Location};
use jsonschema::{Keyword, ValidationError, ValidationOptions};
use serde_json::Value;

use super::json_budget::{Charge, CompileBudget};
use crate::limits::{MAX_RECORD_STEPS, MAX_SCHEMA_UNFOLDED_BYTES};

/// The keyword added to every subschema of the compiled copy (by `json_budget`, with
/// the subschema's weight as its value); `$$` keeps it ahead of every standard keyword
/// in the validator's order and out of any standard's way.
pub(super) const STEP_KEYWORD: &str = "$$kgate-step";

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

/// A subschema compiled after its validator's budget was spent: it fails every
/// document, and the validator's owner compiles a fresh validator (see
/// `json_budget::CompileBudget`).
struct Spent;

impl Keyword for Spent {
    fn validate<'i>(
        &self,
        instance: &'i Value,
        location: &LazyLocation,
    ) -> Result<(), ValidationError<'i>> {
        Err(ValidationError::custom(
            Location::new(),
            location.into(),
            instance,
            "the compiled schema is over its memory budget",
        ))
    }

    fn is_valid(&self, _instance: &Value) -> bool {
        false
    }
}

/// Teaches `options` the step keyword, whose every compilation charges the subschema's
/// weight (the keyword's value) to `budget`.
// The factory's error type is the validator's, whatever its size.
#[allow(clippy::result_large_err)]
pub(crate) fn with_step_keyword(
    options: ValidationOptions,
    budget: Arc<CompileBudget>,
) -> ValidationOptions {
    options.with_keyword(STEP_KEYWORD, move |_, value, location| {
        // A weight that is not a number (the keyword is kgate's, so only a schema that
        // spells it itself could make one) is charged as the whole budget.
        let weight = value
            .as_u64()
            .and_then(|w| usize::try_from(w).ok())
            .unwrap_or(MAX_SCHEMA_UNFOLDED_BYTES);
        match budget.charge(weight) {
            Charge::Fits => Ok(Box::new(Step) as Box<dyn Keyword>),
            Charge::Spent => Ok(Box::new(Spent) as Box<dyn Keyword>),
            Charge::Refused => Err(ValidationError::custom(
                Location::new(),
                location,
                value,
                format!(
                    "compiling it would take more than {} MiB beyond compiling each of its subschemas once, kgate's limit: its references copy large subschemas, or its patterns compile into large automata",
                    CompileBudget::BUILD_ALLOWANCE >> 20
                ),
            )),
        }
    })
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
