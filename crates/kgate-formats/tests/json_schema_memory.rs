//! The memory a JSON Schema takes once compiled, measured: references, recursion and
//! patterns must not let a schema of a few kilobytes (or a stream of records) grow the
//! process by more than kgate's budget for compiled schemas (issue 13).
//!
//! Allocations are counted per thread by this test binary's allocator, so that the
//! tests may run side by side.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use common::MemoryRegistry;
use kgate_formats::EmbeddedFormat;
use kgate_formats::cache::CACHE_BYTES;
use kgate_formats::limits::MAX_SCHEMA_UNFOLDED_BYTES;
use kgate_formats::schema::{JsonSchema, ParsedSchema, SchemaType};
use kgate_formats::serializer::{RecordCodec, SchemaFormats};
use serde_json::{Map, Value, json};

/// The system allocator, counting what each thread holds and the most it held.
struct Counting;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = HELD.try_with(|held| {
        let now = held.get() + delta;
        held.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the system allocator's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(p, layout) };
        count(-(layout.size() as isize));
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What this thread holds now, and resets its peak to it.
fn held_now() -> isize {
    let held = HELD.with(Cell::get);
    PEAK.with(|peak| peak.set(held));
    held
}

/// The most this thread held since `held_now`, above `base`, in MiB.
fn peak_mib_above(base: isize) -> isize {
    (PEAK.with(Cell::get) - base) >> 20
}

/// What this thread holds above `base`, in MiB.
fn held_mib_above(base: isize) -> isize {
    (HELD.with(Cell::get) - base) >> 20
}

fn parse(schema: &Value) -> Result<JsonSchema, String> {
    match ParsedSchema::parse(SchemaType::Json, &schema.to_string(), &[]) {
        Ok(ParsedSchema::Json(j)) => Ok(j),
        Ok(_) => Err("not a JSON Schema".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// An object schema with `n` properties `p0..`, each `property`, and `extra` keywords.
fn with_properties(n: usize, property: Value, extra: Value) -> Value {
    let properties: Map<String, Value> = (0..n)
        .map(|i| (format!("p{i}"), property.clone()))
        .collect();
    let mut schema = json!({"type": "object", "properties": properties});
    if let (Value::Object(s), Value::Object(e)) = (&mut schema, extra) {
        s.extend(e);
    }
    schema
}

/// The memory kgate allows a compiled schema beyond its plain size, in MiB, with room
/// for the estimate being an estimate.
const ALLOWED_MIB: isize = (MAX_SCHEMA_UNFOLDED_BYTES >> 20) as isize * 2;

#[test]
fn references_to_a_large_subschema_are_refused_before_they_are_copied() {
    // 1,000 references to an enum of 20,000 numbers: 145 KB of text, which took 616 MB
    // to compile when every reference kept its own copy.
    let big: Vec<Value> = (0..20_000).map(Value::from).collect();
    let definitions = json!({"definitions": {"big": {"enum": big}}});
    let hostile = with_properties(
        1_000,
        json!({"$ref": "#/definitions/big"}),
        definitions.clone(),
    );
    let base = held_now();
    let err = parse(&hostile).expect_err("refused");
    assert!(err.contains("references copy large subschemas"), "{err}");
    assert!(
        peak_mib_above(base) < 16,
        "refusing it took {} MiB",
        peak_mib_above(base)
    );

    // A few references to the same definition are fine, and validate.
    let base = held_now();
    let fine = parse(&with_properties(
        5,
        json!({"$ref": "#/definitions/big"}),
        definitions,
    ))
    .expect("a few references");
    assert!(fine.validate(&json!({"p1": 5, "p4": 19_999})).is_ok());
    assert!(fine.validate(&json!({"p1": -1})).is_err());
    assert!(
        held_mib_above(base) < 32,
        "{} MiB held",
        held_mib_above(base)
    );
}

#[test]
fn references_doubled_at_every_level_are_refused() {
    // d0 refers twice to d1, which refers twice to d2...: 2^30 subschemas unfolded.
    let mut definitions = Map::new();
    for i in 0..30 {
        let next = json!({"$ref": format!("#/definitions/d{}", i + 1)});
        definitions.insert(
            format!("d{i}"),
            json!({"properties": {"a": next.clone(), "b": next}}),
        );
    }
    definitions.insert("d30".into(), json!({"type": "string"}));
    let base = held_now();
    let err = parse(&json!({"definitions": definitions, "$ref": "#/definitions/d0"}))
        .expect_err("refused");
    assert!(err.contains("unfold"), "{err}");
    assert!(peak_mib_above(base) < 16, "{} MiB", peak_mib_above(base));
}

#[test]
fn patterns_are_charged_their_automata() {
    // 1,000 distinct patterns of 15 bytes, each compiled into an automaton of about
    // 50 KB: 50 MB for 50 KB of text.
    let patterns: Map<String, Value> = (0..1_000)
        .map(|i| {
            (
                format!("p{i}"),
                json!({"type": "string", "pattern": format!("[a-z]{{1000}}{i}")}),
            )
        })
        .collect();
    let base = held_now();
    let err = parse(&json!({"properties": patterns})).expect_err("refused");
    assert!(err.contains("patterns compile into more than"), "{err}");
    assert!(peak_mib_above(base) < 16, "{} MiB", peak_mib_above(base));
    // Ordinary patterns, many of them, are fine.
    let ordinary = with_properties(
        2_000,
        json!({"type": "string", "pattern": "^[A-Z][a-z]+(-[A-Z][a-z]+)*$"}),
        json!({}),
    );
    let schema = parse(&ordinary).expect("ordinary patterns");
    assert!(schema.validate(&json!({"p3": "Jean-Paul"})).is_ok());
    assert!(schema.validate(&json!({"p3": "jean"})).is_err());
}

/// A pattern of 15 bytes whose DFA has 2^15 states: the regex library builds that DFA
/// lazily as strings are matched, in a cache it keeps with the pattern.
const EXPLOSIVE_PATTERN: &str = "^(a|b)*a(a|b){14}$";

/// An object whose `n` properties `p0..` are strings of 4,000 a's and b's matching
/// [`EXPLOSIVE_PATTERN`], each different.
fn explosive_matches(n: usize) -> Value {
    let mut seed = 12345u64;
    let record: Map<String, Value> = (0..n)
        .map(|i| {
            let mut text: String = (0..4000)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    if (seed >> 33) & 1 == 1 { 'a' } else { 'b' }
                })
                .collect();
            text.replace_range(4000 - 15..4000 - 14, "a");
            (format!("p{i}"), Value::String(text))
        })
        .collect();
    Value::Object(record)
}

#[test]
fn patterns_are_charged_the_cache_their_matching_fills() {
    // 200 copies took 105 MiB after one record matched them, charged 3 KB each.
    let explosive = json!({"type": "string", "pattern": EXPLOSIVE_PATTERN});
    let many = with_properties(200, explosive.clone(), json!({}));
    let Err(err) = parse(&many) else {
        panic!("200 copies of a pattern whose DFA explodes were accepted")
    };
    assert!(err.contains("MiB"), "{err}");
    // A few copies are accepted, and what matching them holds stays within their charge.
    let base = held_now();
    let schema = parse(&with_properties(8, explosive, json!({}))).expect("accepted");
    let record = explosive_matches(8);
    let before = HELD.with(Cell::get);
    assert_eq!(schema.validate(&record), Ok(()));
    let grown = usize::try_from(HELD.with(Cell::get) - before).unwrap_or(0);
    assert!(
        grown > 1 << 20,
        "the test's strings no longer fill the cache: {grown} bytes"
    );
    let charged = schema.validator.compiled_bytes();
    assert!(
        grown <= charged,
        "matching held {grown} bytes more, the schema was charged {charged} in all"
    );
    assert!(peak_mib_above(base) < ALLOWED_MIB);
}

#[test]
fn a_large_schema_without_references_is_still_accepted() {
    // About 900 KB of plain subschemas: large, but each compiled once.
    let schema = with_properties(
        7_000,
        json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"enum": [1, 2, 3]}},
               "required": ["a"], "description": "a property of the record"}),
        json!({}),
    );
    assert!(schema.to_string().len() > 800_000);
    let schema = parse(&schema).expect("accepted");
    assert!(schema.validate(&json!({"p6999": {"a": 1, "b": 2}})).is_ok());
    assert!(schema.validate(&json!({"p6999": {"b": 2}})).is_err());
}

/// A recursive schema: a tree whose nodes have a value, 200 optional fields and two
/// children `l` and `r`, each the whole schema again.
fn tree_schema() -> Value {
    let mut schema = with_properties(200, json!({"type": "string"}), json!({}));
    schema["properties"]["v"] = json!({"type": "integer"});
    schema["properties"]["l"] = json!({"$ref": "#"});
    schema["properties"]["r"] = json!({"$ref": "#"});
    schema
}

/// A path down the tree, 60 nodes deep, turning left or right as `shape`'s bits say.
fn tree_path(shape: u64) -> Value {
    let mut node = json!({"v": 0});
    for level in 0..60 {
        let side = if (shape >> (level % 16)) & 1 == 1 {
            "l"
        } else {
            "r"
        };
        node = json!({"v": level, side: node});
    }
    node
}

#[test]
fn a_recursive_schema_stays_within_its_budget_over_many_records() {
    let base = held_now();
    let schema = parse(&tree_schema()).expect("a tree schema");
    let mut lowest_after_growth = usize::MAX;
    let mut highest = 0usize;
    // Each record of a new shape makes the validator compile copies of the schema for
    // the nodes it reaches: without a budget, about 20 MB more per record, for ever.
    for shape in 0..80u64 {
        let record = tree_path(shape * 7919);
        assert_eq!(schema.validate(&record), Ok(()), "record {shape}");
        let compiled = schema.validator.compiled_bytes();
        highest = highest.max(compiled);
        if highest > MAX_SCHEMA_UNFOLDED_BYTES / 2 {
            lowest_after_growth = lowest_after_growth.min(compiled);
        }
        assert!(
            held_mib_above(base) < ALLOWED_MIB,
            "record {shape}: {} MiB held",
            held_mib_above(base)
        );
    }
    assert!(
        lowest_after_growth < highest,
        "the validator was never compiled afresh (highest {highest} bytes)"
    );
    assert!(
        highest <= MAX_SCHEMA_UNFOLDED_BYTES + 8 * 1024 * 1024,
        "{highest}"
    );
    // Still a faithful validator: a bad value deep down is found.
    let mut bad = tree_path(3);
    bad["l"]["r"]["v"] = json!("not a number");
    assert!(schema.validate(&bad).is_err());
    assert!(
        peak_mib_above(base) < ALLOWED_MIB,
        "{} MiB at most",
        peak_mib_above(base)
    );
}

/// kgate's cache of parsed schemas weighs a JSON Schema by what its validator compiled,
/// weighed again as records make it grow: records of new shapes sent to many cached
/// schemas cannot make the cache hold more than its bound.
#[tokio::test]
async fn cached_validators_are_weighed_again_as_records_make_them_grow() {
    let formats = SchemaFormats::new(Arc::new(MemoryRegistry::default()));
    let mut serializers = Vec::new();
    for n in 0..4 {
        let mut schema = tree_schema();
        schema["title"] = json!(format!("tree {n}"));
        let serializer = formats
            .v2_serializer(
                EmbeddedFormat::JsonSchema,
                "trees",
                false,
                Some(&schema.to_string()),
                None,
            )
            .await
            .expect("a tree schema");
        serializers.push(serializer);
    }
    let (kept, light) = formats.cached();
    assert_eq!(kept, 4);
    assert!(light < CACHE_BYTES / 4, "{light} bytes before any record");
    // Each validator grows past a third of the cache's bound: four of them do not fit.
    for serializer in &serializers {
        let RecordCodec::Json(validator, _) = serializer.codec() else {
            panic!("not JSON Schema")
        };
        let mut shape = 0;
        while validator.compiled_bytes() < CACHE_BYTES / 3 {
            assert!(shape < 40, "the validator does not grow");
            serializer
                .serialize(&tree_path(shape * 7919))
                .expect("a valid record");
            shape += 1;
        }
    }
    let (kept, heavy) = formats.cached();
    assert!(heavy <= CACHE_BYTES, "{heavy} bytes kept");
    assert!((1..4).contains(&kept), "{kept} schemas kept");
    assert!(
        heavy >= CACHE_BYTES / 3,
        "weighed {heavy}: as if nothing grew"
    );
}

#[test]
fn a_record_that_alone_unfolds_too_far_is_refused() {
    // A complete tree of 2^12 nodes of a new shape at every level reaches more
    // recursive references than the budget lets the validator compile.
    fn full(depth: u32) -> Value {
        if depth == 0 {
            json!({"v": 0})
        } else {
            json!({"v": depth, "l": full(depth - 1), "r": full(depth - 1)})
        }
    }
    let schema = parse(&tree_schema()).expect("a tree schema");
    let record = full(12);
    let base = held_now();
    let err = schema.validate(&record).expect_err("refused");
    assert!(err.contains("unfold"), "{err}");
    assert!(
        peak_mib_above(base) < ALLOWED_MIB,
        "{} MiB at most",
        peak_mib_above(base)
    );
    // Smaller records are still checked.
    assert_eq!(schema.validate(&full(3)), Ok(()));
}
