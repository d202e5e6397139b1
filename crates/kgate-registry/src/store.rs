//! The store: the `_schemas` topic read into [`State`] by a background reader, and writes
//! made safe by reading them back. A write is decided on the state known so far, produced,
//! and then waited for in the log; if another instance's record got there first the write
//! lost, the state now shows the winner, and the write is decided again. Every instance
//! applies the log in the same order with the same rule, so all agree on the winner.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use kgate_formats::schema::{ParsedSchema, ResolvedReference, SchemaReference, SchemaType};
use kgate_kafka::log_reader::{AppliedLog, LogPositions, LogRecord, LogSettings};
use kgate_kafka::{Kafka, KafkaError, ProduceRecord};
use parking_lot::RwLock;

use crate::RegistryConfig;
use crate::compatibility::CompatibilityLevel;
use crate::error::RegistryError;
use crate::examine::{Check, Examine, Examined, Snapshot, fingerprint};
use crate::records::{ConfigValue, DeleteSubjectValue, ModeValue, RecordKey, SchemaValue};
use crate::state::{Mode, SchemaContent, State};
use crate::work::SchemaWork;

/// How many times a write lost to another instance is decided again before giving up.
const WRITE_ATTEMPTS: usize = 20;

/// A schema as a client submits it.
#[derive(Debug, Clone)]
pub struct NewSchema {
    /// The schema type.
    pub schema_type: SchemaType,
    /// The schema text.
    pub schema: String,
    /// Its references.
    pub references: Vec<SchemaReference>,
    /// The id to register it under (IMPORT mode only).
    pub id: Option<i32>,
    /// The version to register it as (IMPORT mode only).
    pub version: Option<i32>,
}

/// A registered version, as the API returns it.
#[derive(Debug, Clone)]
pub struct RegisteredVersion {
    /// The subject.
    pub subject: String,
    /// The version.
    pub version: i32,
    /// The schema id.
    pub id: i32,
    /// The schema.
    pub content: SchemaContent,
    /// Whether it is soft-deleted.
    pub deleted: bool,
}

/// The registry's store over the `_schemas` topic.
pub struct Store {
    kafka: Kafka,
    config: RegistryConfig,
    /// Shared with the reader, which applies the log to it.
    state: Arc<RwLock<State>>,
    /// The reader of the topic; it stops when the store is dropped.
    log: AppliedLog,
    /// One write at a time from this instance, so it never races itself.
    writes: tokio::sync::Mutex<()>,
    /// Where schemas are parsed and checked, off the async threads.
    work: SchemaWork,
}

impl Store {
    /// Creates the topic if needed, starts the reader and reads the log to its end.
    pub async fn start(kafka: Kafka, config: RegistryConfig) -> Result<Arc<Store>, RegistryError> {
        // A creation refused for a while (a retriable answer, or the embedded broker's
        // POLICY_VIOLATION while descriptors are short) or a topic not in metadata yet is
        // asked again for up to kafkastore.timeout.ms; a lasting refusal fails at once.
        kafka
            .ensure_log_topic(&config.topic, 1, config.replication_factor, config.timeout)
            .await?;
        let state = Arc::new(RwLock::new(State::default()));
        let settings = LogSettings {
            // librdkafka's default, which the registry's reader has always used.
            read_committed: true,
            client_id: "kgate-schema-registry".to_string(),
        };
        let applied = state.clone();
        let topic = config.topic.clone();
        let log = kafka.apply_log(
            &config.topic,
            &[0],
            &settings,
            LogPositions::new(),
            move |records| apply_records(&topic, &mut applied.write(), records),
        )?;
        let work = SchemaWork::new(config.schema_work_threads, config.schema_work_timeout);
        let store = Arc::new(Store {
            kafka,
            config,
            state,
            log,
            writes: tokio::sync::Mutex::new(()),
            work,
        });
        // Confluent's registry marks the end it must reach with a NOOP record too: waiting
        // for our own record copes with gaps a watermark would not show.
        store.write(vec![(RecordKey::Noop, None)]).await?;
        Ok(store)
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state.read())
    }

    /// The pool the schema work runs on.
    pub fn work(&self) -> &SchemaWork {
        &self.work
    }

    /// The registry's settings.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Refuses a schema text over `max_schema_bytes` before anything parses it.
    fn check_size(&self, schema: &str) -> Result<(), RegistryError> {
        if schema.len() > self.config.max_schema_bytes {
            return Err(self.too_large(schema.len()));
        }
        Ok(())
    }

    fn too_large(&self, bytes: usize) -> RegistryError {
        RegistryError::SchemaTooLarge(format!(
            "Schema too large: {bytes} bytes, over the limit of {} bytes",
            self.config.max_schema_bytes
        ))
    }

    /// Parses a client's schema and answers `how` about it under `subject`, on the schema
    /// workers.
    async fn examine(
        &self,
        subject: &str,
        new: &NewSchema,
        how: Examine,
    ) -> Result<Examined, RegistryError> {
        self.check_size(&new.schema)?;
        let limit = self.config.max_referenced_bytes();
        let snapshot = self.read(|state| Snapshot::take(state, subject, new, &how, limit))?;
        let bytes = snapshot.bytes(new, &how);
        let new = new.clone();
        self.work
            .run(bytes, move || snapshot.examine(&new, &how))
            .await
    }

    /// Why `new` is incompatible with the versions of `subject` its level names, or with
    /// `version` alone; empty when compatible.
    pub async fn check_compatibility(
        &self,
        subject: &str,
        new: &NewSchema,
        version: Option<VersionSpec>,
    ) -> Result<Vec<String>, RegistryError> {
        let check = match version {
            None => Check::Subject,
            Some(spec) => Check::Version(self.read(|state| {
                if !state.subject_exists(subject, false) {
                    return Err(RegistryError::SubjectNotFound(subject.to_string()));
                }
                spec.resolve(state, subject, false)
            })?),
        };
        let how = Examine {
            normalize: false,
            find: None,
            check,
        };
        Ok(self.examine(subject, new, how).await?.messages)
    }

    /// A protobuf schema as a base64 `FileDescriptorProto` (`format=serialized`); other
    /// types keep their text.
    pub async fn serialized(&self, content: &SchemaContent) -> Result<String, RegistryError> {
        if content.schema_type != SchemaType::Protobuf {
            return Ok(content.schema.clone());
        }
        let limit = self.config.max_referenced_bytes();
        let resolved =
            self.read(|state| Self::resolve_references(state, &content.references, limit))?;
        let bytes = content.schema.len() + resolved.iter().map(|r| r.schema.len()).sum::<usize>();
        let content = content.clone();
        self.work
            .run(bytes, move || {
                match crate::examine::parse(content.schema_type, &content.schema, &resolved) {
                    Ok(ParsedSchema::Protobuf(p)) => Ok(p.serialized()),
                    Ok(_) => Ok(content.schema),
                    Err(e) => Err(RegistryError::InvalidSchema(e)),
                }
            })
            .await
    }

    /// Produces records in order and waits until the reader has applied them.
    async fn write(&self, records: Vec<(RecordKey, Option<Vec<u8>>)>) -> Result<(), RegistryError> {
        let records: Vec<ProduceRecord> = records
            .into_iter()
            .map(|(key, value)| ProduceRecord {
                key: Some(key.to_bytes()),
                value,
                partition: Some(0),
                ..ProduceRecord::default()
            })
            .collect();
        let results = self.kafka.produce(&self.config.topic, records).await?;
        let mut last = -1;
        for r in results {
            last = last.max(r?.offset);
        }
        let written = BTreeMap::from([(0, last + 1)]);
        match self
            .log
            .positions()
            .wait_for(&written, self.config.timeout)
            .await
        {
            Ok(()) => Ok(()),
            Err(KafkaError::Timeout(_)) => Err(RegistryError::Timeout(
                "the write was not read back from the schemas topic in time".into(),
            )),
            Err(e) => Err(RegistryError::Store(format!(
                "the schemas reader stopped: {e}"
            ))),
        }
    }

    /// The texts of everything `references` needs, dependencies first.
    pub fn resolve_references(
        state: &State,
        references: &[SchemaReference],
        max_bytes: usize,
    ) -> Result<Vec<ResolvedReference>, RegistryError> {
        /// The walk's progress: what is resolved, and how much text it adds up to.
        struct Walk<'a> {
            state: &'a State,
            out: Vec<ResolvedReference>,
            names: HashSet<String>,
            expanded: HashSet<(String, i32)>,
            bytes: usize,
            max_bytes: usize,
        }
        fn visit(
            walk: &mut Walk<'_>,
            r: &SchemaReference,
            depth: usize,
        ) -> Result<(), RegistryError> {
            if depth > 32 {
                return Err(RegistryError::InvalidSchema(
                    "references nest too deep".into(),
                ));
            }
            let state = walk.state;
            let id = state
                .subjects
                .get(&r.subject)
                .and_then(|vs| vs.get(&r.version))
                .map(|e| e.id)
                .ok_or_else(|| {
                    RegistryError::InvalidSchema(format!(
                        "Invalid schema: reference {} to subject {} version {} does not exist",
                        r.name, r.subject, r.version
                    ))
                })?;
            let content = state
                .schemas
                .get(&id)
                .ok_or_else(|| RegistryError::SchemaNotFound(id.to_string()))?;
            // Each version's own references are walked once: references that share
            // dependencies (or, in records written by hand, form a cycle) cost no more
            // than the versions they name.
            if walk.expanded.insert((r.subject.clone(), r.version)) {
                for inner in &content.references {
                    visit(walk, inner, depth + 1)?;
                }
            }
            if walk.names.insert(r.name.clone()) {
                walk.bytes += content.schema.len();
                if walk.bytes > walk.max_bytes {
                    return Err(RegistryError::SchemaTooLarge(format!(
                        "Schema too large: the schemas it references add up to more than {} bytes",
                        walk.max_bytes
                    )));
                }
                walk.out.push(ResolvedReference {
                    name: r.name.clone(),
                    schema: content.schema.clone(),
                });
            }
            Ok(())
        }
        let mut walk = Walk {
            state,
            out: Vec::new(),
            names: HashSet::new(),
            expanded: HashSet::new(),
            bytes: 0,
            max_bytes,
        };
        for r in references {
            visit(&mut walk, r, 0)?;
        }
        Ok(walk.out)
    }

    /// Finds the version of `subject` holding this schema.
    pub async fn lookup(
        &self,
        subject: &str,
        new: &NewSchema,
        normalize: bool,
        deleted: bool,
    ) -> Result<RegisteredVersion, RegistryError> {
        if !self.read(|state| state.subject_exists(subject, deleted)) {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        let how = Examine {
            normalize,
            find: Some(deleted),
            check: Check::Nothing,
        };
        let found = self.examine(subject, new, how).await?.found;
        let version =
            found.ok_or_else(|| RegistryError::SchemaNotInSubject(subject.to_string()))?;
        self.read(|state| version_of(state, subject, version))
    }

    /// Registers a schema under a subject, or returns the id it already has there. The
    /// schema is parsed and checked on the schema workers before this instance's write
    /// lock is taken, so a large schema never holds up other registrations; the decision
    /// is then made under the lock, and taken again if the subject changed meanwhile.
    pub async fn register(
        &self,
        subject: &str,
        new: NewSchema,
        normalize: bool,
    ) -> Result<i32, RegistryError> {
        for _ in 0..WRITE_ATTEMPTS {
            let mode = self.read(|state| state.mode(Some(subject)));
            match mode {
                Mode::ReadOnly => {
                    return Err(RegistryError::OperationNotPermitted(format!(
                        "Subject {subject} is in read-only mode"
                    )));
                }
                Mode::ReadWrite if new.id.is_some() => {
                    return Err(RegistryError::OperationNotPermitted(format!(
                        "Subject {subject} is not in import mode"
                    )));
                }
                _ => {}
            }
            let how = Examine {
                normalize,
                find: Some(false),
                check: if mode == Mode::Import {
                    Check::Nothing
                } else {
                    Check::Subject
                },
            };
            let examined = self.examine(subject, &new, how).await?;
            let _one_writer = self.writes.lock().await;
            let decision = {
                let state = self.state.read();
                if fingerprint(&state, subject) != examined.fingerprint {
                    // Another write reached the subject while the schema was examined.
                    continue;
                }
                if let Some(version) = examined.found
                    && let Some(entry) = state.subjects.get(subject).and_then(|v| v.get(&version))
                    && new.id.is_none_or(|id| id == entry.id)
                {
                    return Ok(entry.id);
                }
                if !examined.messages.is_empty() {
                    return Err(RegistryError::Incompatible {
                        subject: subject.to_string(),
                        messages: examined.messages,
                    });
                }
                let content = examined.content;
                let version = match new.version {
                    Some(v) => v,
                    None => {
                        state
                            .subjects
                            .get(subject)
                            .and_then(|vs| vs.keys().next_back().copied())
                            .unwrap_or(0)
                            + 1
                    }
                };
                let id = match new.id {
                    Some(id) => {
                        if state.schemas.get(&id).is_some_and(|c| **c != content) {
                            return Err(RegistryError::OperationNotPermitted(format!(
                                "Overwrite new schema with id {id} is not permitted."
                            )));
                        }
                        id
                    }
                    None => state.ids.get(&content).copied().unwrap_or(state.max_id + 1),
                };
                SchemaValue {
                    subject: subject.to_string(),
                    version,
                    id,
                    schema: content.schema,
                    schema_type: content.schema_type,
                    references: content.references,
                    deleted: false,
                }
            };
            let key = RecordKey::Schema {
                subject: subject.to_string(),
                version: decision.version,
            };
            let value =
                serde_json::to_vec(&decision).map_err(|e| RegistryError::Store(e.to_string()))?;
            // Escaping can make the record larger than the text: a record over the limit
            // would be refused by Kafka, so it is refused here first, with 42209.
            if value.len() > self.config.max_schema_bytes {
                return Err(self.too_large(value.len()));
            }
            self.write(vec![(key.clone(), Some(value))]).await?;
            let winner = {
                let state = self.state.read();
                match version_of(&state, subject, decision.version) {
                    Ok(v) if v.id == decision.id && v.content.schema == decision.schema => {
                        return Ok(decision.id);
                    }
                    Ok(v) => Some(v),
                    Err(_) => None,
                }
            };
            // Another instance took the version first: write its record again after ours so
            // that compaction, which keeps a key's last record, keeps the winner.
            if let Some(w) = winner {
                let value = SchemaValue {
                    subject: w.subject,
                    version: w.version,
                    id: w.id,
                    schema: w.content.schema,
                    schema_type: w.content.schema_type,
                    references: w.content.references,
                    deleted: w.deleted,
                };
                let bytes =
                    serde_json::to_vec(&value).map_err(|e| RegistryError::Store(e.to_string()))?;
                self.write(vec![(key, Some(bytes))]).await?;
            }
        }
        Err(RegistryError::Store(
            "too many concurrent registrations; try again".into(),
        ))
    }

    /// Soft-deletes (or, after that, permanently deletes) a whole subject; returns the
    /// versions deleted.
    pub async fn delete_subject(
        &self,
        subject: &str,
        permanent: bool,
    ) -> Result<Vec<i32>, RegistryError> {
        let _one_writer = self.writes.lock().await;
        let records = {
            let state = self.state.read();
            self.check_writable(&state, subject)?;
            let all = state.versions(subject, true);
            if all.is_empty() {
                return Err(RegistryError::SubjectNotFound(subject.to_string()));
            }
            let live: Vec<i32> = all
                .iter()
                .filter(|(_, e)| !e.deleted)
                .map(|(v, _)| *v)
                .collect();
            if permanent {
                if !live.is_empty() {
                    return Err(RegistryError::SubjectNotSoftDeleted(subject.to_string()));
                }
                for (v, _) in &all {
                    check_unreferenced(&state, subject, *v)?;
                }
                let versions: Vec<i32> = all.iter().map(|(v, _)| *v).collect();
                let mut records: Vec<(RecordKey, Option<Vec<u8>>)> = versions
                    .iter()
                    .map(|v| {
                        (
                            RecordKey::Schema {
                                subject: subject.to_string(),
                                version: *v,
                            },
                            None,
                        )
                    })
                    .collect();
                records.push((RecordKey::Config(Some(subject.to_string())), None));
                records.push((RecordKey::Mode(Some(subject.to_string())), None));
                (versions, records)
            } else {
                if live.is_empty() {
                    return Err(RegistryError::SubjectSoftDeleted(subject.to_string()));
                }
                for v in &live {
                    check_unreferenced(&state, subject, *v)?;
                }
                let last = *live.last().unwrap_or(&0);
                let mut records = Vec::new();
                for v in &live {
                    records.push(soft_delete_record(&state, subject, *v)?);
                }
                let value = DeleteSubjectValue {
                    subject: subject.to_string(),
                    version: last,
                };
                records.push((
                    RecordKey::DeleteSubject(subject.to_string()),
                    Some(to_json(&value)?),
                ));
                (live, records)
            }
        };
        self.write(records.1).await?;
        Ok(records.0)
    }

    /// Soft-deletes (or, after that, permanently deletes) one version.
    pub async fn delete_version(
        &self,
        subject: &str,
        version: VersionSpec,
        permanent: bool,
    ) -> Result<i32, RegistryError> {
        let _one_writer = self.writes.lock().await;
        let (number, record) = {
            let state = self.state.read();
            self.check_writable(&state, subject)?;
            if !state.subject_exists(subject, true) {
                return Err(RegistryError::SubjectNotFound(subject.to_string()));
            }
            // A numbered version is found even when soft-deleted, to say so (40406);
            // `latest` is the latest live version, as in Confluent's registry, so a
            // permanent delete of `latest` never removes a soft-deleted newer version
            // (the live one is not soft-deleted yet: 40407), and with no live version
            // left `latest` names nothing (40402).
            let number = match version {
                VersionSpec::Number(_) => version.resolve(&state, subject, true)?,
                VersionSpec::Latest => state
                    .versions(subject, false)
                    .last()
                    .map(|(v, _)| *v)
                    .ok_or_else(|| RegistryError::VersionNotFound("latest".into()))?,
            };
            let entry = state
                .subjects
                .get(subject)
                .and_then(|vs| vs.get(&number))
                .ok_or_else(|| RegistryError::VersionNotFound(number.to_string()))?;
            check_unreferenced(&state, subject, number)?;
            if permanent {
                if !entry.deleted {
                    return Err(RegistryError::VersionNotSoftDeleted(
                        subject.to_string(),
                        number,
                    ));
                }
                let key = RecordKey::Schema {
                    subject: subject.to_string(),
                    version: number,
                };
                (number, (key, None))
            } else {
                if entry.deleted {
                    return Err(RegistryError::VersionSoftDeleted(
                        subject.to_string(),
                        number,
                    ));
                }
                (number, soft_delete_record(&state, subject, number)?)
            }
        };
        self.write(vec![record]).await?;
        Ok(number)
    }

    /// Sets (or with `None` removes) the compatibility level of a subject or the global one.
    pub async fn set_config(
        &self,
        subject: Option<&str>,
        level: Option<CompatibilityLevel>,
    ) -> Result<(), RegistryError> {
        let value = match level {
            Some(l) => Some(to_json(&ConfigValue {
                compatibility_level: l.name().to_string(),
            })?),
            None => None,
        };
        let _one_writer = self.writes.lock().await;
        self.write(vec![(RecordKey::Config(subject.map(String::from)), value)])
            .await
    }

    /// Sets (or with `None` removes) the mode of a subject or the global one.
    pub async fn set_mode(
        &self,
        subject: Option<&str>,
        mode: Option<Mode>,
    ) -> Result<(), RegistryError> {
        let value = match mode {
            Some(m) => Some(to_json(&ModeValue {
                mode: m.name().to_string(),
            })?),
            None => None,
        };
        let _one_writer = self.writes.lock().await;
        self.write(vec![(RecordKey::Mode(subject.map(String::from)), value)])
            .await
    }

    fn check_writable(&self, state: &State, subject: &str) -> Result<(), RegistryError> {
        if state.mode(Some(subject)) == Mode::ReadOnly {
            return Err(RegistryError::OperationNotPermitted(format!(
                "Subject {subject} is in read-only mode"
            )));
        }
        Ok(())
    }
}

/// Applies records of the schemas topic in log order; a record that cannot be read
/// (produced there by hand) is skipped with a warning, as Confluent's registry does.
fn apply_records(topic: &str, state: &mut State, records: &[LogRecord]) {
    for r in records {
        let skipped = match &r.key {
            Some(key) => state.apply(key, r.value.as_deref()).err(),
            None => Some("the record has no key".to_string()),
        };
        if let Some(why) = skipped {
            tracing::warn!(
                topic,
                offset = r.offset,
                reason = %why,
                "skipped a record of the schemas topic that cannot be read"
            );
        }
    }
}

/// A version as a path names it: a number, or `latest` / -1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    /// This version number.
    Number(i32),
    /// The latest live version.
    Latest,
}

impl VersionSpec {
    /// Parses a path's version; anything but 1..2^31-1, `latest` and -1 is 42202.
    pub fn parse(text: &str) -> Result<VersionSpec, RegistryError> {
        if text.eq_ignore_ascii_case("latest") {
            return Ok(VersionSpec::Latest);
        }
        match text.parse::<i32>() {
            Ok(-1) => Ok(VersionSpec::Latest),
            Ok(n) if n >= 1 => Ok(VersionSpec::Number(n)),
            _ => Err(RegistryError::InvalidVersion(text.to_string())),
        }
    }

    /// The version number this names in `subject`; soft-deleted versions count only when
    /// `deleted`.
    pub fn resolve(
        self,
        state: &State,
        subject: &str,
        deleted: bool,
    ) -> Result<i32, RegistryError> {
        let versions = state.versions(subject, deleted);
        // A subject with no version left to show (none, or all soft-deleted) is an
        // unknown subject, as Confluent's registry answers, not an unknown version.
        if versions.is_empty() {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        match self {
            VersionSpec::Latest => versions
                .last()
                .map(|(v, _)| *v)
                .ok_or_else(|| RegistryError::VersionNotFound("latest".into())),
            VersionSpec::Number(n) => versions
                .iter()
                .find(|(v, _)| *v == n)
                .map(|(v, _)| *v)
                .ok_or_else(|| RegistryError::VersionNotFound(n.to_string())),
        }
    }
}

/// A version as the API returns it.
pub fn version_of(
    state: &State,
    subject: &str,
    version: i32,
) -> Result<RegisteredVersion, RegistryError> {
    let entry = state
        .subjects
        .get(subject)
        .and_then(|vs| vs.get(&version))
        .ok_or_else(|| RegistryError::VersionNotFound(version.to_string()))?;
    let content = state
        .schemas
        .get(&entry.id)
        .ok_or_else(|| RegistryError::SchemaNotFound(entry.id.to_string()))?;
    Ok(RegisteredVersion {
        subject: subject.to_string(),
        version,
        id: entry.id,
        content: (**content).clone(),
        deleted: entry.deleted,
    })
}

fn check_unreferenced(state: &State, subject: &str, version: i32) -> Result<(), RegistryError> {
    if state.referenced_by(subject, version).is_empty() {
        Ok(())
    } else {
        Err(RegistryError::ReferenceExists(subject.to_string(), version))
    }
}

fn soft_delete_record(
    state: &State,
    subject: &str,
    version: i32,
) -> Result<(RecordKey, Option<Vec<u8>>), RegistryError> {
    let v = version_of(state, subject, version)?;
    let value = SchemaValue {
        subject: v.subject,
        version: v.version,
        id: v.id,
        schema: v.content.schema,
        schema_type: v.content.schema_type,
        references: v.content.references,
        deleted: true,
    };
    Ok((
        RecordKey::Schema {
            subject: subject.to_string(),
            version,
        },
        Some(to_json(&value)?),
    ))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, RegistryError> {
    serde_json::to_vec(value).map_err(|e| RegistryError::Store(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Applies a SCHEMA record of `subject` version 1 with `id`, text `schema` and
    /// references to version 1 of `refs` (name, subject).
    fn plant(state: &mut State, subject: &str, id: i32, schema: &str, refs: &[(&str, &str)]) {
        let key = json!({"keytype": "SCHEMA", "subject": subject, "version": 1, "magic": 1});
        let references: Vec<_> = refs
            .iter()
            .map(|(name, s)| json!({"name": name, "subject": s, "version": 1}))
            .collect();
        let value = json!({"subject": subject, "version": 1, "id": id, "schema": schema,
            "references": references});
        state
            .apply(
                key.to_string().as_bytes(),
                Some(value.to_string().as_bytes()),
            )
            .unwrap();
    }

    fn reference(name: &str, subject: &str) -> SchemaReference {
        SchemaReference {
            name: name.into(),
            subject: subject.into(),
            version: 1,
        }
    }

    #[test]
    fn shared_references_are_walked_once_and_cycles_end() {
        // Thirty levels, each naming the level below twice: walking every path would
        // take 2^30 steps.
        let mut state = State::default();
        plant(&mut state, "s0", 1, "x0", &[]);
        for k in 1..=30 {
            let (a, b, below) = (format!("a{k}"), format!("b{k}"), format!("s{}", k - 1));
            plant(
                &mut state,
                &format!("s{k}"),
                k + 1,
                &format!("x{k}"),
                &[(&a, &below), (&b, &below)],
            );
        }
        let resolved =
            Store::resolve_references(&state, &[reference("top", "s30")], usize::MAX).unwrap();
        assert_eq!(resolved.len(), 61);
        // Dependencies come before the schemas that use them.
        assert_eq!(resolved.first().map(|r| r.schema.as_str()), Some("x0"));
        assert_eq!(
            resolved
                .last()
                .map(|r| (r.name.as_str(), r.schema.as_str())),
            Some(("top", "x30"))
        );

        // Records written by hand can form a cycle; resolving it ends.
        plant(&mut state, "c1", 100, "y1", &[("to-c2", "c2")]);
        plant(&mut state, "c2", 101, "y2", &[("to-c1", "c1")]);
        let cycle =
            Store::resolve_references(&state, &[reference("start", "c1")], usize::MAX).unwrap();
        assert_eq!(cycle.len(), 3);
    }

    #[test]
    fn referenced_texts_are_bounded_in_size() {
        let mut state = State::default();
        plant(&mut state, "big", 1, &"x".repeat(1000), &[]);
        let many: Vec<SchemaReference> = (0..20)
            .map(|i| reference(&format!("n{i}"), "big"))
            .collect();
        assert_eq!(
            Store::resolve_references(&state, &many, 20_000)
                .unwrap()
                .len(),
            20
        );
        let e = Store::resolve_references(&state, &many, 19_999).unwrap_err();
        assert!(matches!(e, RegistryError::SchemaTooLarge(_)), "{e}");
    }
}
