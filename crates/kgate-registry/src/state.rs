//! The registry's state as rebuilt from the `_schemas` log: subjects, versions, schemas by
//! id, configs and modes. Records are applied in log order, and a record that conflicts
//! with what an earlier record established (another schema under a taken id or version) is
//! ignored: this rule, the same on every instance, is what makes concurrent writers safe.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use kgate_formats::schema::{SchemaReference, SchemaType};
use serde_json::Value;

use crate::compatibility::CompatibilityLevel;
use crate::records::{ConfigValue, DeleteSubjectValue, ModeValue, RecordKey, SchemaValue};

/// A registry mode (`/mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reads and writes allowed.
    ReadWrite,
    /// Writes refused.
    ReadOnly,
    /// Schemas are registered with the ids and versions the client gives.
    Import,
}

impl Mode {
    /// The mode's name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::ReadWrite => "READWRITE",
            Mode::ReadOnly => "READONLY",
            Mode::Import => "IMPORT",
        }
    }

    /// Parses a mode name, ignoring case.
    pub fn from_name(name: &str) -> Option<Mode> {
        match name.to_ascii_uppercase().as_str() {
            "READWRITE" => Some(Mode::ReadWrite),
            "READONLY" | "READONLY_OVERRIDE" => Some(Mode::ReadOnly),
            "IMPORT" => Some(Mode::Import),
            _ => None,
        }
    }
}

/// A schema's content, shared by every version registered with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemaContent {
    /// The schema type.
    pub schema_type: SchemaType,
    /// The schema text (canonical form).
    pub schema: String,
    /// Its references.
    pub references: Vec<SchemaReference>,
}

/// One version of a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    /// The schema id.
    pub id: i32,
    /// Whether it is soft-deleted.
    pub deleted: bool,
}

/// Everything read from the log so far.
#[derive(Debug, Default)]
pub struct State {
    /// Versions of every subject.
    pub subjects: BTreeMap<String, BTreeMap<i32, VersionEntry>>,
    /// Schema contents by id, shared so a request can take them out of the lock cheaply.
    pub schemas: HashMap<i32, Arc<SchemaContent>>,
    /// Ids by content, to give an identical schema the same id.
    pub ids: HashMap<Arc<SchemaContent>, i32>,
    /// Ids by GUID (see [`crate::guid`]); the first id a content got.
    pub guids: HashMap<String, i32>,
    /// The (subject, version) pairs holding each id, so a look-up by id costs what it
    /// finds rather than a walk over every version.
    pub holders: HashMap<i32, BTreeSet<(String, i32)>>,
    /// The ids whose schema references each (subject, version).
    pub referrers: HashMap<(String, i32), BTreeSet<i32>>,
    /// Compatibility levels; `None` is the global one.
    pub configs: HashMap<Option<String>, CompatibilityLevel>,
    /// Modes; `None` is the global one.
    pub modes: HashMap<Option<String>, Mode>,
    /// The highest id seen, so ids are never reused.
    pub max_id: i32,
}

impl State {
    /// Applies one record of the log. A record that cannot be read is left out and the
    /// reason returned, for the reader to log: Confluent's registry skips such records the
    /// same way, so one bad record (garbage produced to the topic by hand) never stops the
    /// registry. Keys of a type this registry does not know are skipped silently.
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), String> {
        let Some(key) = RecordKey::parse(key) else {
            return match serde_json::from_slice::<Value>(key) {
                Ok(v) if v.get("keytype").is_some_and(Value::is_string) => Ok(()),
                _ => Err("the key is not a schema registry record key".into()),
            };
        };
        fn read<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, String> {
            serde_json::from_slice(bytes)
                .map_err(|e| format!("the {what} value cannot be read: {e}"))
        }
        match key {
            RecordKey::Schema { subject, version } => match value {
                None => {
                    if let Some(versions) = self.subjects.get_mut(&subject) {
                        if let Some(entry) = versions.remove(&version)
                            && let Some(holders) = self.holders.get_mut(&entry.id)
                        {
                            holders.remove(&(subject.clone(), version));
                            if holders.is_empty() {
                                self.holders.remove(&entry.id);
                            }
                        }
                        if versions.is_empty() {
                            self.subjects.remove(&subject);
                        }
                    }
                }
                Some(bytes) => self.apply_schema(read::<SchemaValue>(bytes, "schema")?),
            },
            RecordKey::Config(subject) => match value {
                None => {
                    self.configs.remove(&subject);
                }
                Some(bytes) => {
                    let c = read::<ConfigValue>(bytes, "config")?;
                    let level =
                        CompatibilityLevel::from_name(&c.compatibility_level).ok_or_else(|| {
                            format!("unknown compatibility level {:?}", c.compatibility_level)
                        })?;
                    self.configs.insert(subject, level);
                }
            },
            RecordKey::Mode(subject) => match value {
                None => {
                    self.modes.remove(&subject);
                }
                Some(bytes) => {
                    let m = read::<ModeValue>(bytes, "mode")?;
                    let mode = Mode::from_name(&m.mode)
                        .ok_or_else(|| format!("unknown mode {:?}", m.mode))?;
                    self.modes.insert(subject, mode);
                }
            },
            RecordKey::DeleteSubject(subject) => {
                let Some(bytes) = value else {
                    return Ok(());
                };
                let v = read::<DeleteSubjectValue>(bytes, "delete-subject")?;
                if let Some(versions) = self.subjects.get_mut(&subject) {
                    for (_, entry) in versions.range_mut(..=v.version) {
                        entry.deleted = true;
                    }
                }
            }
            RecordKey::ClearSubject(_) | RecordKey::Noop => {}
        }
        Ok(())
    }

    fn apply_schema(&mut self, v: SchemaValue) {
        let content = SchemaContent {
            schema_type: v.schema_type,
            schema: v.schema,
            references: v.references,
        };
        // An id names one content forever; a record giving it to another is a lost race.
        if let Some(existing) = self.schemas.get(&v.id)
            && **existing != content
        {
            return;
        }
        let versions = self.subjects.entry(v.subject.clone()).or_default();
        if let Some(entry) = versions.get_mut(&v.version) {
            // The same version rewritten (a soft delete) keeps its id; another id is a
            // lost race for the version.
            if entry.id == v.id {
                entry.deleted = v.deleted;
            }
            return;
        }
        versions.insert(
            v.version,
            VersionEntry {
                id: v.id,
                deleted: v.deleted,
            },
        );
        self.holders
            .entry(v.id)
            .or_default()
            .insert((v.subject, v.version));
        if !self.schemas.contains_key(&v.id) {
            for r in &content.references {
                self.referrers
                    .entry((r.subject.clone(), r.version))
                    .or_default()
                    .insert(v.id);
            }
            let content = Arc::new(content);
            self.ids.entry(content.clone()).or_insert(v.id);
            self.guids.entry(crate::guid::of(&content)).or_insert(v.id);
            self.schemas.insert(v.id, content);
        }
        self.max_id = self.max_id.max(v.id);
    }

    /// The versions of a subject, soft-deleted ones only when `deleted`.
    pub fn versions(&self, subject: &str, deleted: bool) -> Vec<(i32, &VersionEntry)> {
        self.subjects
            .get(subject)
            .map(|vs| {
                vs.iter()
                    .filter(|(_, e)| deleted || !e.deleted)
                    .map(|(v, e)| (*v, e))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether a subject has any version, soft-deleted ones counted when `deleted`.
    pub fn subject_exists(&self, subject: &str, deleted: bool) -> bool {
        !self.versions(subject, deleted).is_empty()
    }

    /// The compatibility level in force for a subject.
    pub fn compatibility(&self, subject: Option<&str>) -> CompatibilityLevel {
        subject
            .and_then(|s| self.configs.get(&Some(s.to_string())))
            .or_else(|| self.configs.get(&None))
            .copied()
            .unwrap_or(CompatibilityLevel::Backward)
    }

    /// The mode in force for a subject.
    pub fn mode(&self, subject: Option<&str>) -> Mode {
        subject
            .and_then(|s| self.modes.get(&Some(s.to_string())))
            .or_else(|| self.modes.get(&None))
            .copied()
            .unwrap_or(Mode::ReadWrite)
    }

    /// The (subject, version) pairs registered with a schema id, in subject and version
    /// order.
    pub fn usages(&self, id: i32, deleted: bool) -> Vec<(String, i32)> {
        self.holders
            .get(&id)
            .map(|holders| {
                holders
                    .iter()
                    .filter(|(subject, version)| {
                        deleted
                            || self
                                .subjects
                                .get(subject)
                                .and_then(|vs| vs.get(version))
                                .is_some_and(|e| !e.deleted)
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ids of the schemas (live versions) that reference `subject` at `version`, sorted.
    pub fn referenced_by(&self, subject: &str, version: i32) -> Vec<i32> {
        self.referrers
            .get(&(subject.to_string(), version))
            .map(|ids| {
                ids.iter()
                    .copied()
                    .filter(|id| !self.usages(*id, false).is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}
