//! The CPU-heavy part of registering, looking up and checking a schema, split from the
//! state so it runs on the schema workers ([`crate::work`]) without holding the state's
//! lock: a [`Snapshot`] copies out what the work needs in one short read (schema texts
//! are shared, not copied), and [`Snapshot::examine`] parses and compares.

use std::sync::Arc;

use kgate_formats::schema::{ParsedSchema, ResolvedReference, SchemaType};

use crate::compatibility::{CompatibilityLevel, incompatibilities};
use crate::error::RegistryError;
use crate::state::{Mode, SchemaContent, State};
use crate::store::{NewSchema, Store};

/// Which earlier versions a schema is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// None (look-ups, IMPORT mode).
    Nothing,
    /// Those the subject's compatibility level names: the latest live version, or every
    /// live version for the transitive levels.
    Subject,
    /// This live version, at the subject's level.
    Version(i32),
}

/// What a request wants to know about a schema.
#[derive(Debug, Clone, Copy)]
pub struct Examine {
    /// Store the normalized form rather than the canonical one.
    pub normalize: bool,
    /// Look for a version of the subject holding the schema; soft-deleted versions count
    /// when `Some(true)`.
    pub find: Option<bool>,
    /// What to check compatibility against; skipped when the schema is found.
    pub check: Check,
}

/// The answers.
#[derive(Debug, Clone)]
pub struct Examined {
    /// The content to store for the schema.
    pub content: SchemaContent,
    /// The version of the subject already holding it, if looked for and found.
    pub found: Option<i32>,
    /// Why it is incompatible; empty when it is compatible or nothing was checked.
    pub messages: Vec<String>,
    /// The subject as the answers saw it, to tell whether it changed since.
    pub fingerprint: Fingerprint,
}

/// What a registration decided on depends on: the subject's versions, level and mode.
pub type Fingerprint = (Vec<(i32, i32, bool)>, CompatibilityLevel, Mode);

/// The fingerprint of a subject in `state`.
pub fn fingerprint(state: &State, subject: &str) -> Fingerprint {
    let versions = state
        .subjects
        .get(subject)
        .map(|vs| vs.iter().map(|(v, e)| (*v, e.id, e.deleted)).collect())
        .unwrap_or_default();
    (
        versions,
        state.compatibility(Some(subject)),
        state.mode(Some(subject)),
    )
}

/// One stored version, taken out of the state.
#[derive(Debug, Clone)]
struct StoredVersion {
    version: i32,
    deleted: bool,
    content: Arc<SchemaContent>,
}

/// What the work on one schema needs from the state.
pub struct Snapshot {
    subject: String,
    /// The texts the new schema's references resolve to.
    resolved: Vec<ResolvedReference>,
    /// Every version of the subject, oldest first.
    versions: Vec<StoredVersion>,
    /// The versions to check against, with their references resolved (or why they do
    /// not resolve).
    checked: Vec<(StoredVersion, Result<Vec<ResolvedReference>, String>)>,
    level: CompatibilityLevel,
    fingerprint: Fingerprint,
}

impl Snapshot {
    /// Takes what examining `new` under `subject` needs; a reference that does not
    /// resolve is 42201 at once, referenced texts over `max_referenced` bytes 42209.
    pub fn take(
        state: &State,
        subject: &str,
        new: &NewSchema,
        how: &Examine,
        max_referenced: usize,
    ) -> Result<Snapshot, RegistryError> {
        let resolved = Store::resolve_references(state, &new.references, max_referenced)?;
        let versions: Vec<StoredVersion> = state
            .subjects
            .get(subject)
            .map(|vs| {
                vs.iter()
                    .filter_map(|(v, e)| {
                        state.schemas.get(&e.id).map(|c| StoredVersion {
                            version: *v,
                            deleted: e.deleted,
                            content: c.clone(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let level = state.compatibility(Some(subject));
        let live: Vec<&StoredVersion> = versions.iter().filter(|v| !v.deleted).collect();
        let checked: Vec<&StoredVersion> = match how.check {
            _ if level == CompatibilityLevel::None => Vec::new(),
            Check::Nothing => Vec::new(),
            Check::Subject if level.transitive() => live,
            Check::Subject => live.last().copied().into_iter().collect(),
            Check::Version(n) => live.into_iter().filter(|v| v.version == n).collect(),
        };
        let checked = checked
            .into_iter()
            .map(|v| {
                let refs = Store::resolve_references(state, &v.content.references, max_referenced)
                    .map_err(|e| e.to_string());
                (v.clone(), refs)
            })
            .collect();
        Ok(Snapshot {
            subject: subject.to_string(),
            resolved,
            versions,
            checked,
            level,
            fingerprint: fingerprint(state, subject),
        })
    }

    /// How many bytes of schema text the work will go through, to choose its lane.
    pub fn bytes(&self, new: &NewSchema, how: &Examine) -> usize {
        let refs = |r: &[ResolvedReference]| r.iter().map(|r| r.schema.len()).sum::<usize>();
        let mut total = new.schema.len() + refs(&self.resolved);
        if how.find.is_some() {
            total += self
                .versions
                .iter()
                .map(|v| v.content.schema.len())
                .sum::<usize>();
        }
        for (v, r) in &self.checked {
            total += v.content.schema.len() + r.as_deref().map(refs).unwrap_or(0);
        }
        total
    }

    /// Parses `new` and answers `how` (the CPU-heavy part: run it on the workers).
    pub fn examine(self, new: &NewSchema, how: &Examine) -> Result<Examined, RegistryError> {
        let parsed = parse(new.schema_type, &new.schema, &self.resolved)
            .map_err(RegistryError::InvalidSchema)?;
        let content = content_of(&parsed, new, how.normalize);
        let found = how
            .find
            .and_then(|deleted| self.find_version(&content, &parsed, deleted));
        let mut messages = Vec::new();
        if found.is_none() {
            // One earlier version parsed at a time, newest first (the order of the
            // messages), and dropped once checked: a transitive check of many versions
            // holds two parsed schemas at most, each within the parsers' memory budget.
            for (v, refs) in self.checked.iter().rev() {
                // A stored schema kgate cannot parse (one produced to the topic by hand,
                // or beyond the parsers' limits) fails the check as Confluent's registry
                // fails it: 42201, naming the stored version.
                let unparseable = |e: &dyn std::fmt::Display| {
                    RegistryError::InvalidSchema(format!(
                        "Invalid schema: the stored schema of subject '{}' version {} cannot be parsed: {e}",
                        self.subject, v.version
                    ))
                };
                let refs = refs.as_ref().map_err(|e| unparseable(e))?;
                let old = parse(v.content.schema_type, &v.content.schema, refs)
                    .map_err(|e| unparseable(&e))?;
                messages.extend(incompatibilities(self.level, &parsed, &[(v.version, old)]));
            }
        }
        Ok(Examined {
            content,
            found,
            messages,
            fingerprint: self.fingerprint,
        })
    }

    /// The version of the subject holding `content` (parsed as `parsed`), the latest if
    /// several.
    fn find_version(
        &self,
        content: &SchemaContent,
        parsed: &ParsedSchema,
        deleted: bool,
    ) -> Option<i32> {
        // A protobuf schema is also the same when it prints the same: another layout,
        // other comments, or given as a descriptor (as Confluent's serializers send it).
        let printed = match parsed {
            ParsedSchema::Protobuf(p) => p.printed(),
            _ => None,
        };
        self.versions
            .iter()
            .rev()
            .filter(|v| deleted || !v.deleted)
            .find(|v| {
                same_schema(&v.content, content)
                    || printed
                        .as_deref()
                        .is_some_and(|p| self.prints_as(&v.content, content, p))
            })
            .map(|v| v.version)
    }

    /// Whether a stored protobuf schema with the same references as `content` prints as
    /// `printed`; the same references resolve to the same texts as the new schema's.
    fn prints_as(&self, stored: &SchemaContent, content: &SchemaContent, printed: &str) -> bool {
        if stored.schema_type != SchemaType::Protobuf || stored.references != content.references {
            return false;
        }
        match parse(stored.schema_type, &stored.schema, &self.resolved) {
            Ok(ParsedSchema::Protobuf(p)) => p.printed().as_deref() == Some(printed),
            _ => false,
        }
    }
}

/// How deeply brackets of any kind may nest in a schema text. Parsers recurse once per
/// level; this bound keeps every parse far within a worker's stack whatever the formats'
/// own limits, and no real schema comes near it.
pub const MAX_NESTING: usize = 512;

/// Parses a schema whose text (and every reference's) nests at most [`MAX_NESTING`]
/// deep; the error is the message of a 42201.
pub fn parse(
    schema_type: SchemaType,
    text: &str,
    references: &[ResolvedReference],
) -> Result<ParsedSchema, String> {
    for (name, t) in std::iter::once(("the schema", text)).chain(
        references
            .iter()
            .map(|r| (r.name.as_str(), r.schema.as_str())),
    ) {
        if nesting(t) > MAX_NESTING {
            return Err(format!(
                "Invalid {schema_type} schema: {name} nests deeper than {MAX_NESTING} levels"
            ));
        }
    }
    ParsedSchema::parse(schema_type, text, references).map_err(|e| e.to_string())
}

/// The deepest nesting of `{}`, `[]` and `()` in a schema text, outside string literals
/// and comments (JSON strings, and protobuf's strings and `//`, `/* */` comments).
fn nesting(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// The stored content for a submitted schema (canonical or normalized text).
fn content_of(parsed: &ParsedSchema, new: &NewSchema, normalize: bool) -> SchemaContent {
    SchemaContent {
        schema_type: new.schema_type,
        schema: if normalize {
            parsed.normalized()
        } else {
            parsed.canonical()
        },
        references: new.references.clone(),
    }
}

/// Whether two contents are one schema: equal text, or (for a schema another registry
/// wrote in a different layout) equal canonical forms.
fn same_schema(stored: &SchemaContent, content: &SchemaContent) -> bool {
    if stored.schema_type != content.schema_type || stored.references != content.references {
        return false;
    }
    if stored.schema == content.schema {
        return true;
    }
    match stored.schema_type {
        SchemaType::Avro | SchemaType::Json => {
            let a: Result<serde_json::Value, _> = serde_json::from_str(&stored.schema);
            let b: Result<serde_json::Value, _> = serde_json::from_str(&content.schema);
            matches!((a, b), (Ok(a), Ok(b)) if a == b)
        }
        SchemaType::Protobuf => stored.schema.trim() == content.schema.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_brackets_outside_strings_and_comments() {
        assert_eq!(nesting(r#"{"a": [1, {"b": "}}}{{{"}]}"#), 3);
        assert_eq!(
            nesting(
                "message A { // {{{{\n /* {{{ */ message B { string s = 1 [default = \"{\"]; } }"
            ),
            3
        );
        assert_eq!(nesting("'{{{' \"\\\"{\""), 0);
        let deep = format!(
            "{}{}",
            "{".repeat(MAX_NESTING + 1),
            "}".repeat(MAX_NESTING + 1)
        );
        let refused = parse(SchemaType::Json, &deep, &[]).unwrap_err();
        assert!(refused.contains("deeper than 512"), "{refused}");
        let reference = ResolvedReference {
            name: "r.proto".into(),
            schema: deep,
        };
        let refused =
            parse(SchemaType::Protobuf, "syntax = \"proto3\";", &[reference]).unwrap_err();
        assert!(refused.contains("r.proto"), "{refused}");
    }
}
