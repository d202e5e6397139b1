//! The bounds kgate puts on untrusted schemas and records, so that no schema or record a
//! client sends (or plants in `_schemas` or a topic) can overflow a stack, loop forever or
//! grow the process without bound.
//!
//! Every parser, encoder and decoder of this crate applies them and answers a
//! [`crate::FormatError`] or [`crate::schema::SchemaError`] when one is passed; the faces
//! may rely on them and need not check again. They are chosen so that work at each limit
//! fits in well under 1 MiB of stack in a debug build (the tests check this on a thread
//! with a 1 MiB stack), and that schemas and records real applications use stay far
//! inside them.

/// How deeply a record value may nest: JSON objects and arrays, and Avro's records,
/// arrays, maps and union branches as they appear in Avro's JSON encoding. JSON request
/// bodies are already held to 128 levels by the JSON parser; 100 also keeps what kgate
/// writes back readable by such parsers, and matches protobuf's own decoding limit.
pub const MAX_VALUE_DEPTH: usize = 100;

/// The largest schema text accepted, in bytes: 1 MiB, which is also about the largest
/// `_schemas` record an Apache Kafka broker takes with its default `message.max.bytes`.
pub const MAX_SCHEMA_BYTES: usize = 1024 * 1024;

/// The largest total of a schema's text and the texts of every schema it references.
pub const MAX_SCHEMA_TOTAL_BYTES: usize = 4 * MAX_SCHEMA_BYTES;

/// How many schemas one schema may reference, directly or through other references.
pub const MAX_REFERENCES: usize = 256;

/// How deeply an Avro or JSON Schema document may nest (JSON objects and arrays); the
/// same bound as the JSON parser's own.
pub const MAX_SCHEMA_DEPTH: usize = 128;

/// How deeply declarations of a `.proto` file may nest (`{`, `[`, `(` and `<`): the
/// protobuf compiler recurses on each level.
pub const MAX_PROTOBUF_NESTING: usize = 64;

/// How many subschemas a JSON Schema may unfold into when every reference is replaced
/// by what it refers to (recursion counted once): the validator compiles them lazily as
/// documents reach them and keeps them, so references shared at every level (a schema
/// of a kilobyte can unfold into a million subschemas) would grow its memory without
/// bound.
pub const MAX_SCHEMA_EXPANSION: usize = 100_000;

/// How much memory (estimated, see `schema::json_budget`) a compiled JSON Schema may
/// take beyond what compiling each of its subschemas once takes (which its size limits
/// bound): the copy every reference keeps of what it leads to, the parts recursive
/// references make the validator compile as documents reach them, and its patterns'
/// automata. A schema that needs more than half of it to be compiled is refused; the
/// other half is room for what documents make the validator compile, past which the
/// validator is dropped and compiled afresh.
pub const MAX_SCHEMA_UNFOLDED_BYTES: usize = 64 * 1024 * 1024;

/// The work a compatibility check of two schemas may do, in comparisons of a pair of
/// subschemas (JSON Schema) or types (Avro, Protobuf). A check that needs more reports
/// the pair as incompatible, with a message saying why, instead of running for minutes.
pub const MAX_COMPATIBILITY_STEPS: usize = 200_000;

/// The work one encoding or decoding of a record may do, counted in values visited, over
/// and above one per input byte: trying the branches of Avro unions nested in each other
/// is otherwise exponential, and an array of empty items is otherwise unbounded by the
/// record's size.
pub const MAX_RECORD_STEPS: usize = 1_000_000;

/// The largest answer read from a Schema Registry: a schema of [`MAX_SCHEMA_BYTES`] as a
/// JSON string, escapes included, with room to spare.
pub const MAX_REGISTRY_ANSWER_BYTES: usize = 8 * MAX_SCHEMA_BYTES;
