//! A bound on the memory a compiled JSON Schema takes.
//!
//! The validator compiles a schema into a tree that is neither shared nor bounded by the
//! schema's size: every `$ref` keeps its own copy of the subschema it leads to (compiled
//! at the first use, and compiled again, with fresh copies of what its own references
//! lead to, wherever a recursive reference is reached by a document), every compiled
//! subschema keeps a copy of its annotations (`definitions` included, in drafts 4 to 7),
//! and every `pattern` is compiled into an automaton that may be thousands of times its
//! length. Measured: a schema of 145 KB with 1,000 references to a 20,000-value `enum`
//! took 616 MB to compile, and a binary-tree schema of 89 bytes grew by about 0.8 MB
//! with every record of a new shape, without end.
//!
//! So each subschema of the compiled copy carries, in kgate's step keyword (see
//! `json_steps`), an estimate of what compiling it allocates: its own keywords and
//! annotations, the copies its references keep, and its patterns' automata (measured
//! by compiling them once). The keyword's factory charges that estimate to the
//! validator's budget when the subschema is compiled, before its parts are, at the
//! build as at every later compilation a document causes; see [`CompileBudget`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use serde_json::{Map, Value};

use super::json_refs::{
    DATA, DESCENDING, DESCENDING_ARRAYS, DESCENDING_MAPS, IN_PLACE, IN_PLACE_ARRAYS, IN_PLACE_MAPS,
    REFERENCES, ReferenceCosts,
};
use super::json_steps::STEP_KEYWORD;
use crate::limits::MAX_SCHEMA_UNFOLDED_BYTES;

/// The estimated size of a JSON value held in memory (its slot), before what it owns.
pub(crate) const VALUE_BYTES: usize = 32;
/// The estimated size of an object: its slot, the map, and kgate's step keyword, which
/// the compiled copy adds to every object that may be a subschema.
pub(crate) const OBJECT_BYTES: usize = VALUE_BYTES + 64 + ENTRY_BYTES + 16;
/// The estimated size of an object entry, before its key's text and its value.
const ENTRY_BYTES: usize = 48;
/// What compiling a subschema allocates beyond its keywords' values: the compiled node,
/// its keywords' validators and their locations (measured: 1 to 2 KB for small
/// subschemas in a debug build).
const COMPILED_NODE_BYTES: usize = 1024;
/// What compiling one keyword allocates beyond its value.
const COMPILED_KEYWORD_BYTES: usize = 160;
/// What compiling one reference allocates beyond the copy it keeps: its compiled node
/// and the state it needs to compile that copy later (measured: about 3 KB in a debug
/// build).
const COMPILED_REFERENCE_BYTES: usize = 3 * 1024;
/// The longest pattern measured by compiling it; a longer one is charged the validator's
/// largest automaton.
const MAX_MEASURED_PATTERN: usize = 64 * 1024;
/// The largest automaton the validator's regex engine builds for one pattern (its
/// default size limit).
const MAX_PATTERN_BYTES: usize = 10 * 1024 * 1024;

/// The estimated size of an object entry whose value has the estimated size `value`.
pub(crate) fn entry_bytes(key: &str, value: usize) -> usize {
    ENTRY_BYTES.saturating_add(key.len()).saturating_add(value)
}

/// The estimated size of `value` held in memory. Recursive: schema documents are at most
/// `MAX_SCHEMA_DEPTH` deep by the time they are weighed.
pub(crate) fn value_bytes(value: &Value) -> usize {
    match value {
        Value::Object(entries) => entries.iter().fold(OBJECT_BYTES, |sum, (k, v)| {
            sum.saturating_add(entry_bytes(k, value_bytes(v)))
        }),
        Value::Array(items) => items
            .iter()
            .fold(VALUE_BYTES, |sum, v| sum.saturating_add(value_bytes(v))),
        Value::String(s) => VALUE_BYTES + s.len(),
        _ => VALUE_BYTES,
    }
}

/// The memory one validator's compiled subschemas may take, estimated, and what they
/// took so far. Charges during the build are refused past the schema's plain size (each
/// subschema compiled once) and half of [`MAX_SCHEMA_UNFOLDED_BYTES`] (the schema is then
/// invalid); after it, past its plain size and the whole of it, the validator is spent:
/// the subschema being compiled fails every document and the validator's owner
/// compiles a fresh one.
pub(crate) struct CompileBudget {
    used: AtomicUsize,
    build_limit: usize,
    limit: usize,
    built: AtomicBool,
    spent: AtomicBool,
}

/// Counts the charges of every validator after its build, in all: a cache that keeps
/// validators weighs them again when it moved (see [`growth_count`]).
static GROWTH: AtomicU64 = AtomicU64::new(0);

/// How many times, so far, a document made some validator compile more of its schema
/// (the validators of this process, all together). A validator's
/// [`compiled_bytes`](super::JsonValidator::compiled_bytes) only changes when this does.
pub fn growth_count() -> u64 {
    GROWTH.load(Ordering::Acquire)
}

/// The answer to a charge.
pub(crate) enum Charge {
    /// Within the budget.
    Fits,
    /// Past the budget while the validator is built: the schema is refused.
    Refused,
    /// Past the budget after the build: the validator is spent.
    Spent,
}

impl CompileBudget {
    /// Nothing charged yet for a schema whose subschemas, each compiled once, take
    /// `plain`; the validator is being built.
    pub(crate) fn new(plain: usize) -> CompileBudget {
        CompileBudget {
            used: AtomicUsize::new(0),
            build_limit: plain.saturating_add(Self::BUILD_ALLOWANCE),
            limit: plain.saturating_add(MAX_SCHEMA_UNFOLDED_BYTES),
            built: AtomicBool::new(false),
            spent: AtomicBool::new(false),
        }
    }

    /// What a build may take beyond the schema's plain size.
    pub(crate) const BUILD_ALLOWANCE: usize = MAX_SCHEMA_UNFOLDED_BYTES / 2;

    /// Charges `bytes` for a subschema about to be compiled.
    pub(crate) fn charge(&self, bytes: usize) -> Charge {
        let before = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_add(bytes))
            })
            .unwrap_or(usize::MAX);
        let used = before.saturating_add(bytes);
        if !self.built.load(Ordering::Acquire) {
            if used > self.build_limit {
                return Charge::Refused;
            }
        } else {
            GROWTH.fetch_add(1, Ordering::AcqRel);
            if used > self.limit {
                self.spent.store(true, Ordering::Release);
                return Charge::Spent;
            }
        }
        Charge::Fits
    }

    /// The build is over: later charges come from documents reaching parts compiled
    /// lazily.
    pub(crate) fn built(&self) {
        self.built.store(true, Ordering::Release);
    }

    /// Whether a charge after the build went past the limit.
    pub(crate) fn is_spent(&self) -> bool {
        self.spent.load(Ordering::Acquire)
    }

    /// What was charged so far.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// Weighs the subschemas of the compiled copies of a schema and its references.
pub(crate) struct Weigher<'a> {
    references: &'a ReferenceCosts,
    /// The cost of a reference the analysis did not reach (it found every reference a
    /// validation can reach; this only keeps an unforeseen one from being free).
    unforeseen: usize,
    /// Patterns measured so far.
    patterns: HashMap<String, usize>,
    /// The total of the distinct patterns measured.
    patterns_total: usize,
    /// What compiling every subschema once takes, without the patterns and what
    /// references copy: the schema's plain size.
    plain: usize,
}

impl<'a> Weigher<'a> {
    /// A weigher for references that cost `references`.
    pub(crate) fn new(references: &'a ReferenceCosts) -> Weigher<'a> {
        Weigher {
            references,
            unforeseen: references.values().copied().max().unwrap_or(0),
            patterns: HashMap::new(),
            patterns_total: 0,
            plain: 0,
        }
    }

    /// The plain size of the documents instrumented so far: each of their subschemas
    /// compiled once, and the validator's own copies of the documents.
    pub(crate) fn plain(&self) -> usize {
        self.plain
    }

    /// Adds kgate's step keyword, holding the subschema's weight, to every object of
    /// `document` that may be compiled as a subschema (the first key of each). Returns
    /// what the validator's `copies` whole copies of the document take, which count in
    /// the plain size, and what the copies the root's references keep take (no
    /// subschema holds the root to pay for them).
    pub(crate) fn instrument(
        &mut self,
        document: &mut Value,
        copies: usize,
    ) -> Result<(usize, usize), String> {
        let size = self.visit(document)?;
        let root = match document {
            Value::Object(o) => self.reference_cost(o, size),
            _ => 0,
        };
        let copies = size.saturating_mul(copies);
        self.plain = self.plain.saturating_add(copies);
        Ok((copies, root))
    }

    /// Instruments `value` and its subschemas; returns the estimated size of `value`.
    fn visit(&mut self, value: &mut Value) -> Result<usize, String> {
        let Value::Object(entries) = value else {
            return Ok(match value {
                Value::Array(items) => {
                    let mut size = VALUE_BYTES;
                    for item in items {
                        size = size.saturating_add(self.visit(item)?);
                    }
                    size
                }
                other => value_bytes(other),
            });
        };
        // The keyword is kgate's: a schema spelling it itself must not set its weight.
        entries.remove(STEP_KEYWORD);
        let mut size = OBJECT_BYTES;
        let mut weight = COMPILED_NODE_BYTES;
        // What references copy and patterns compile into, beyond the plain size.
        let mut unfolded = 0usize;
        for (key, child) in entries.iter_mut() {
            let k = key.as_str();
            let (child_size, charged) = if DATA.contains(&k) || NOT_SUBSCHEMAS.contains(&k) {
                let child_size = value_bytes(child);
                (child_size, child_size)
            } else if DEFINITIONS.contains(&k)
                && let Value::Object(map) = child
            {
                // Subschemas compiled only through references (which pay for them);
                // the map is kept whole as an annotation by drafts 4 to 7.
                let mut size = OBJECT_BYTES;
                for (name, entry) in map.iter_mut() {
                    size = size.saturating_add(entry_bytes(name, self.visit(entry)?));
                }
                (size, size)
            } else if let Some(subschemas) = compiled_subschemas(k, child) {
                // Compiled subschemas weigh themselves when compiled; those holding a
                // reference are compiled without their other keywords in drafts 4 to 7
                // (so without the step keyword): their parent pays for them.
                let mut held = 0usize;
                let mut own = VALUE_BYTES;
                let child_size = match &mut *child {
                    Value::Object(map) if subschemas == Subschemas::Map => {
                        let mut size = OBJECT_BYTES;
                        for (name, entry) in map.iter_mut() {
                            let entry_size = self.visit(entry)?;
                            size = size.saturating_add(entry_bytes(name, entry_size));
                            own = own.saturating_add(entry_bytes(name, 0));
                            match entry {
                                Value::Object(o) => {
                                    held = held.saturating_add(self.reference_cost(o, entry_size));
                                }
                                // Data among subschemas (`dependencies` lists names).
                                _ => own = own.saturating_add(entry_size),
                            }
                        }
                        size
                    }
                    Value::Array(items) => {
                        let mut size = VALUE_BYTES;
                        for item in items.iter_mut() {
                            let item_size = self.visit(item)?;
                            size = size.saturating_add(item_size);
                            own = own.saturating_add(VALUE_BYTES);
                            if let Value::Object(o) = item {
                                held = held.saturating_add(self.reference_cost(o, item_size));
                            }
                        }
                        size
                    }
                    Value::Object(_) => {
                        let size = self.visit(child)?;
                        if let Value::Object(o) = &*child {
                            held = held.saturating_add(self.reference_cost(o, size));
                        }
                        size
                    }
                    other => {
                        let size = value_bytes(other);
                        own = own.saturating_add(size);
                        size
                    }
                };
                if k == "patternProperties"
                    && let Value::Object(map) = &*child
                {
                    for name in map.keys() {
                        held = held.saturating_add(self.pattern_bytes(name)?);
                    }
                }
                unfolded = unfolded.saturating_add(held);
                (child_size, own.saturating_add(held))
            } else {
                // Anything else is a copy the compiled subschema keeps (an annotation,
                // a keyword's value), and may hold subschemas references lead to.
                let child_size = self.visit(child)?;
                let mut charged = child_size;
                if k == "pattern"
                    && let Value::String(pattern) = &*child
                {
                    let automaton = self.pattern_bytes(pattern)?;
                    unfolded = unfolded.saturating_add(automaton);
                    charged = charged.saturating_add(automaton);
                }
                (child_size, charged)
            };
            size = size.saturating_add(entry_bytes(k, child_size));
            weight = weight
                .saturating_add(entry_bytes(k, charged))
                .saturating_add(COMPILED_KEYWORD_BYTES);
        }
        self.plain = self.plain.saturating_add(weight.saturating_sub(unfolded));
        let mut first = Map::new();
        first.insert(STEP_KEYWORD.to_string(), Value::from(weight));
        first.append(entries);
        *entries = first;
        Ok(size)
    }

    /// What compiling the subschema `schema` (of estimated size `size`) costs when it
    /// holds references, beyond its own weight: a copy of itself (in drafts 4 to 7 its
    /// other keywords become kept annotations) and what each of its references keeps.
    fn reference_cost(&self, schema: &Map<String, Value>, size: usize) -> usize {
        let mut cost = 0usize;
        for keyword in REFERENCES {
            if let Some(Value::String(reference)) = schema.get(*keyword) {
                let target = self
                    .references
                    .get(&(keyword.to_string(), reference.clone()))
                    .copied()
                    .unwrap_or(self.unforeseen);
                cost = cost
                    .saturating_add(target)
                    .saturating_add(COMPILED_REFERENCE_BYTES);
            }
        }
        if cost > 0 {
            cost.saturating_add(size)
        } else {
            0
        }
    }

    /// The memory the automaton of `pattern` takes, measured once per pattern; an
    /// error once the distinct patterns alone pass the build's budget.
    fn pattern_bytes(&mut self, pattern: &str) -> Result<usize, String> {
        if let Some(&bytes) = self.patterns.get(pattern) {
            return Ok(bytes);
        }
        let bytes = measure_pattern(pattern);
        self.patterns.insert(pattern.to_string(), bytes);
        self.patterns_total = self.patterns_total.saturating_add(bytes);
        if self.patterns_total > CompileBudget::BUILD_ALLOWANCE {
            return Err(format!(
                "its patterns compile into more than kgate's limit of {} MiB",
                CompileBudget::BUILD_ALLOWANCE >> 20
            ));
        }
        Ok(bytes)
    }
}

/// Keywords whose values are plain data or maps of names, never subschemas, though they
/// may hold objects.
const NOT_SUBSCHEMAS: &[&str] = &["dependentRequired", "$vocabulary"];

/// Keywords whose values are maps of subschemas that are compiled only when referenced.
const DEFINITIONS: &[&str] = &["definitions", "$defs"];

/// How a keyword holds the subschemas the validator compiles with its parent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Subschemas {
    /// One subschema, or an array of them.
    One,
    /// A map of names to subschemas.
    Map,
}

/// How `keyword` (of value `value`) holds compiled subschemas, if it does.
fn compiled_subschemas(keyword: &str, value: &Value) -> Option<Subschemas> {
    let k = &keyword;
    match value {
        Value::Object(_) if IN_PLACE_MAPS.contains(k) || DESCENDING_MAPS.contains(k) => {
            Some(Subschemas::Map)
        }
        Value::Object(_) | Value::Bool(_) if IN_PLACE.contains(k) || DESCENDING.contains(k) => {
            Some(Subschemas::One)
        }
        Value::Array(_) if IN_PLACE_ARRAYS.contains(k) || DESCENDING_ARRAYS.contains(k) => {
            Some(Subschemas::One)
        }
        _ => None,
    }
}

/// The memory of the automaton the validator's regex engine builds for `pattern`, and of
/// the cache it fills as it matches strings.
///
/// The engine is not asked: it offers no measure. The pattern is compiled by the regex
/// library the engine delegates to, after the rewrites the validator makes of ECMA 262
/// syntax that change the size (`\d` and `\w` are ASCII classes in ECMA 262), and with
/// lookarounds and back-references read as plain groups (the engine runs those parts
/// itself, on automata of the same pieces). A pattern that still does not compile is
/// charged the engine's largest automaton.
///
/// The library matches with a DFA it builds lazily, state by state as strings reach
/// them, in a cache it keeps with the pattern (up to [`MAX_PATTERN_CACHE_BYTES`]; the
/// engine offers no setting for it): measured, 200 copies of a pattern of 15 bytes whose
/// DFA has 2^15 states grew the process by 105 MiB when one record of 800 KB matched
/// them. That cache is charged as what the whole DFA takes, built ahead once here,
/// within that bound.
fn measure_pattern(pattern: &str) -> usize {
    const FLOOR: usize = 1024;
    if pattern.len() > MAX_MEASURED_PATTERN {
        return MAX_PATTERN_BYTES.saturating_add(MAX_PATTERN_CACHE_BYTES);
    }
    let rewritten = ascii_classes(pattern);
    let built = regex_automata::meta::Regex::builder()
        .configure(regex_automata::meta::Regex::config().nfa_size_limit(Some(MAX_PATTERN_BYTES)))
        .build(&rewritten);
    match built {
        Ok(regex) => regex
            .memory_usage()
            .max(FLOOR)
            .saturating_add(measure_pattern_cache(&rewritten)),
        Err(_) => MAX_PATTERN_BYTES.saturating_add(MAX_PATTERN_CACHE_BYTES),
    }
}

/// The most the regex library's lazy DFA cache holds for one pattern (its default
/// capacity). The library keeps a cache for each thread that matches the pattern (up to
/// one per validating thread); kgate charges one.
const MAX_PATTERN_CACHE_BYTES: usize = 2 * 1024 * 1024;

/// What the lazy DFA of `pattern` (rewritten as for [`measure_pattern`]) may keep: the
/// size of its whole DFA, or [`MAX_PATTERN_CACHE_BYTES`] when that is larger (building
/// it stops there, so a pattern whose DFA explodes costs little time here).
fn measure_pattern_cache(pattern: &str) -> usize {
    use regex_automata::dfa::dense;
    let config = dense::Config::new()
        .dfa_size_limit(Some(MAX_PATTERN_CACHE_BYTES))
        .determinize_size_limit(Some(MAX_PATTERN_CACHE_BYTES))
        // A DFA takes \b on ASCII text only, as the lazy DFA runs it (ECMA 262's \b
        // is ASCII); without this a pattern with \b would count as one that explodes.
        .unicode_word_boundary(true);
    match dense::Builder::new().configure(config).build(pattern) {
        Ok(dfa) => dfa.memory_usage().min(MAX_PATTERN_CACHE_BYTES),
        Err(_) => MAX_PATTERN_CACHE_BYTES,
    }
}

/// `pattern` with ECMA 262's ASCII classes spelt out, lookarounds made plain groups and
/// back-references dropped, for [`measure_pattern`].
fn ascii_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('d') => out.push_str(if in_class { "0-9" } else { "[0-9]" }),
                Some('w') => out.push_str(if in_class {
                    "A-Za-z0-9_"
                } else {
                    "[A-Za-z0-9_]"
                }),
                Some('D') if !in_class => out.push_str("[^0-9]"),
                Some('W') if !in_class => out.push_str("[^A-Za-z0-9_]"),
                Some('1'..='9') if !in_class => {
                    while chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                    }
                }
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` first in a class is a member, not its end.
                if chars.peek() == Some(&'^') {
                    out.extend(chars.next());
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '(' if !in_class && chars.peek() == Some(&'?') => {
                out.push('(');
                let mut look = chars.clone();
                look.next();
                let plain = match (look.next(), look.peek()) {
                    (Some('=' | '!'), _) => Some(2),
                    (Some('<'), Some('=' | '!')) => Some(3),
                    _ => None,
                };
                if let Some(skip) = plain {
                    for _ in 0..skip {
                        chars.next();
                    }
                    out.push_str("?:");
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patterns_are_measured_as_the_validator_reads_them() {
        assert_eq!(ascii_classes(r"^\d+\w*$"), "^[0-9]+[A-Za-z0-9_]*$");
        assert_eq!(ascii_classes(r"[\d_]"), "[0-9_]");
        assert_eq!(
            ascii_classes(r"(?=.*\d)(?!x)(?<=a)(a)\1"),
            "(?:.*[0-9])(?:x)(?:a)(a)"
        );
        assert_eq!(ascii_classes(r"[]a]\\d"), r"[\]a]\\d");
        let small = measure_pattern("^[a-z]+$");
        let large = measure_pattern("[a-z]{1000}");
        assert!(small < 16 * 1024, "{small}");
        assert!(large > 20 * small, "{large} vs {small}");
        assert_eq!(
            measure_pattern("(unclosed"),
            MAX_PATTERN_BYTES + MAX_PATTERN_CACHE_BYTES
        );
        // The cache of a DFA that explodes (2^15 states) is charged; a plain one's is small.
        let explosive = measure_pattern_cache("^(a|b)*a(a|b){14}$");
        assert!(explosive > 512 * 1024, "{explosive}");
        assert!(measure_pattern_cache("^[a-z]+$") < 4 * 1024);
        assert!(measure_pattern_cache(r"\bkgate\b") < 64 * 1024);
    }

    #[test]
    fn weights_cover_what_references_copy() {
        let big: Vec<Value> = (0..1000).map(Value::from).collect();
        let costs: ReferenceCosts = [(
            ("$ref".to_string(), "#/definitions/big".to_string()),
            value_bytes(&json!({"enum": big})),
        )]
        .into_iter()
        .collect();
        let mut schema = json!({
            "properties": {"a": {"$ref": "#/definitions/big"}, "b": {"$ref": "#/definitions/big"}},
            "definitions": {"big": {"enum": big}}
        });
        let mut weigher = Weigher::new(&costs);
        weigher.instrument(&mut schema, 1).expect("weighed");
        let weight = schema[STEP_KEYWORD].as_u64().expect("a weight") as usize;
        // Two copies of the definition, and the definitions kept as an annotation.
        assert!(weight > 3 * 1000 * VALUE_BYTES, "{weight}");
        assert!(weight < 5 * 1000 * VALUE_BYTES, "{weight}");
        // A schema cannot weigh its own subschemas.
        let mut spelt =
            json!({"$$kgate-step": 0, "properties": {"a": {"$$kgate-step": 0, "enum": big}}});
        weigher.instrument(&mut spelt, 1).expect("weighed");
        assert!(spelt["properties"]["a"][STEP_KEYWORD].as_u64() > Some(1000));
        assert!(spelt[STEP_KEYWORD].as_u64() > Some(0));
        // Every subschema is weighed, the step keyword first.
        let big_weight = schema["definitions"]["big"][STEP_KEYWORD].as_u64();
        assert!(big_weight.is_some_and(|w| w as usize > 1000 * VALUE_BYTES));
        assert_eq!(
            schema["properties"]["a"]
                .as_object()
                .and_then(|o| o.keys().next())
                .map(String::as_str),
            Some(STEP_KEYWORD)
        );
    }

    #[test]
    fn the_budget_refuses_a_build_and_spends_a_validator() {
        let plain = 1 << 20;
        let budget = CompileBudget::new(plain);
        assert!(matches!(budget.charge(plain), Charge::Fits));
        assert!(matches!(
            budget.charge(CompileBudget::BUILD_ALLOWANCE + 1),
            Charge::Refused
        ));
        let budget = CompileBudget::new(plain);
        assert!(matches!(
            budget.charge(plain + CompileBudget::BUILD_ALLOWANCE),
            Charge::Fits
        ));
        budget.built();
        assert!(matches!(
            budget.charge(MAX_SCHEMA_UNFOLDED_BYTES / 2),
            Charge::Fits
        ));
        assert!(!budget.is_spent());
        assert!(matches!(budget.charge(1), Charge::Spent));
        assert!(budget.is_spent());
        assert!(budget.used() > plain + MAX_SCHEMA_UNFOLDED_BYTES);
    }
}
