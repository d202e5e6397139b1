//! Protobuf schemas: `.proto` text compiled by `protox` into a `prost-reflect`
//! descriptor pool; compatibility compares messages and fields by number, as the wire
//! format does.

use std::collections::HashMap;

use prost_reflect::{Cardinality, DescriptorPool, FileDescriptor, Kind, MessageDescriptor};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

use super::{ResolvedReference, SchemaError, SchemaType};

/// The name the schema being parsed gets among its imports.
const MAIN_FILE: &str = "kgate_registered_schema.proto";

/// A parsed Protobuf schema: its file and every file it imports.
#[derive(Debug, Clone)]
pub struct ProtobufSchema {
    /// The pool holding the file and its imports.
    pub pool: DescriptorPool,
    /// The schema's own file.
    pub file: FileDescriptor,
    text: String,
}

/// Resolves the schema and its references from memory; well-known `google/protobuf/*`
/// files come from protox's built-in copies.
struct InMemoryFiles(HashMap<String, String>);

impl FileResolver for InMemoryFiles {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match self.0.get(name) {
            Some(source) => File::from_source(name, source),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

impl ProtobufSchema {
    /// Compiles `.proto` text, or a base64 `FileDescriptorProto` as Confluent's
    /// serializers register it (kept as the `.proto` text it prints as); references are
    /// the files it imports, named by import path.
    pub fn parse(
        text: &str,
        references: &[ResolvedReference],
    ) -> Result<ProtobufSchema, SchemaError> {
        let source_error = match Self::compile(text, references) {
            Ok(schema) => return Ok(schema),
            Err(e) => e,
        };
        match descriptor_source(text) {
            None => Err(source_error),
            Some(Err(e)) => Err(SchemaError::invalid(SchemaType::Protobuf, e)),
            Some(Ok(printed)) => Self::compile(&printed, references),
        }
    }

    /// The schema as a base64 `FileDescriptorProto`, the `format=serialized` form
    /// Confluent's deserializers ask the registry for.
    pub fn serialized(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.file.encode_to_vec())
    }

    fn compile(
        text: &str,
        references: &[ResolvedReference],
    ) -> Result<ProtobufSchema, SchemaError> {
        let invalid = |e: &dyn std::fmt::Display| SchemaError::invalid(SchemaType::Protobuf, e);
        // The text may have been printed from a descriptor, after the caller's checks.
        super::check_nesting(SchemaType::Protobuf, text).map_err(|e| invalid(&e))?;
        let mut files: HashMap<String, String> = references
            .iter()
            .map(|r| (r.name.clone(), r.schema.clone()))
            .collect();
        files.insert(MAIN_FILE.to_string(), text.to_string());
        let mut resolver = ChainFileResolver::new();
        resolver.add(InMemoryFiles(files));
        resolver.add(GoogleFileResolver::new());
        let pool = crate::catch_panic("Compiling the protobuf schema", || {
            let mut compiler = protox::Compiler::with_file_resolver(resolver);
            compiler.include_imports(true);
            compiler.open_file(MAIN_FILE)?;
            Ok::<_, protox::Error>(compiler.descriptor_pool())
        })
        .map_err(|e| invalid(&e))?
        .map_err(|e| invalid(&e))?;
        let file = pool
            .get_file_by_name(MAIN_FILE)
            .ok_or_else(|| invalid(&"the compiled file is missing"))?;
        if file.messages().len() == 0 {
            return Err(invalid(&"the schema defines no message"));
        }
        Ok(ProtobufSchema {
            pool,
            file,
            text: text.trim().to_string(),
        })
    }

    /// The text as registered, trimmed.
    pub fn canonical(&self) -> String {
        self.text.clone()
    }

    /// The file printed from its compiled form: equal for two texts that differ only in
    /// layout, comments, or how type names are qualified, so the registry compares
    /// schemas by it. `None` for what the printer does not cover (extensions, groups).
    pub fn printed(&self) -> Option<String> {
        crate::catch_panic("Printing the protobuf schema", || {
            super::protobuf_text::print_file(self.file.file_descriptor_proto())
        })
        .ok()?
        .ok()
    }

    /// The text with comments dropped and whitespace collapsed, so layout-only edits
    /// normalize to the same schema.
    pub fn normalized(&self) -> String {
        let mut out = String::new();
        for line in self.text.lines() {
            let line = match line.find("//") {
                Some(i) => &line[..i],
                None => line,
            };
            let words: Vec<&str> = line.split_whitespace().collect();
            if !words.is_empty() {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&words.join(" "));
            }
        }
        out
    }

    /// The schema's top-level messages, in file order (index 0 is the default message of
    /// the Confluent wire format).
    pub fn messages(&self) -> Vec<MessageDescriptor> {
        self.file.messages().collect()
    }

    /// The message at a Confluent message-index path (`[0]` is the first top-level
    /// message, `[1, 2]` the third nested message of the second one).
    pub fn message_at(&self, indexes: &[i32]) -> Option<MessageDescriptor> {
        let (first, rest) = indexes.split_first().unwrap_or((&0, &[]));
        let mut message = self.file.messages().nth(usize::try_from(*first).ok()?)?;
        for index in rest {
            let child = message
                .child_messages()
                .nth(usize::try_from(*index).ok()?)?;
            message = child;
        }
        Some(message)
    }

    /// The Confluent message-index path of a message of this file, by full name.
    pub fn message_indexes(&self, full_name: &str) -> Option<Vec<i32>> {
        let message = self.pool.get_message_by_name(full_name)?;
        if message.parent_file().name() != MAIN_FILE {
            return None;
        }
        let mut path = Vec::new();
        let mut current = message;
        loop {
            let siblings: Vec<MessageDescriptor> = match current.parent_message() {
                Some(parent) => parent.child_messages().collect(),
                None => self.file.messages().collect(),
            };
            let index = siblings
                .iter()
                .position(|m| m.full_name() == current.full_name())?;
            path.push(i32::try_from(index).ok()?);
            match current.parent_message() {
                Some(parent) => current = parent,
                None => break,
            }
        }
        path.reverse();
        Some(path)
    }

    /// Why data written with `writer` cannot be read with this schema: a message of the
    /// writer's file missing from the reader's, or a field number whose type changed.
    pub fn read_incompatibilities(&self, writer: &ProtobufSchema) -> Vec<String> {
        let mut out = Vec::new();
        let mut writer_messages = Vec::new();
        collect_messages(writer.file.messages(), &mut writer_messages);
        for wm in writer_messages {
            let Some(rm) = self.pool.get_message_by_name(wm.full_name()) else {
                out.push(format!("MESSAGE_REMOVED: {}", wm.full_name()));
                continue;
            };
            // Fields only the reader has: a required one cannot be read from old data.
            for rf in rm.fields() {
                if wm.get_field(rf.number()).is_none() && rf.cardinality() == Cardinality::Required
                {
                    out.push(format!(
                        "REQUIRED_FIELD_ADDED: {}.{} (#{})",
                        wm.full_name(),
                        rf.name(),
                        rf.number()
                    ));
                }
            }
            for wf in wm.fields() {
                let Some(rf) = rm.get_field(wf.number()) else {
                    // Removing a field is fine, except from a oneof (the reader would see
                    // the oneof unset although the writer set it) or a required one.
                    let where_ = format!("{}.{} (#{})", wm.full_name(), wf.name(), wf.number());
                    if wf.containing_oneof().is_some_and(|o| !o.is_synthetic()) {
                        out.push(format!("ONEOF_FIELD_REMOVED: {where_}"));
                    } else if wf.cardinality() == Cardinality::Required {
                        out.push(format!("REQUIRED_FIELD_REMOVED: {where_}"));
                    }
                    continue;
                };
                let where_ = format!("{}.{} (#{})", wm.full_name(), wf.name(), wf.number());
                if !kinds_compatible(&rf.kind(), &wf.kind()) {
                    out.push(format!(
                        "FIELD_KIND_CHANGED: {where_} was {:?}, now {:?}",
                        kind_name(&wf.kind()),
                        kind_name(&rf.kind())
                    ));
                } else if rf.is_map() != wf.is_map()
                    || (rf.cardinality() == Cardinality::Repeated)
                        != (wf.cardinality() == Cardinality::Repeated)
                        && !is_packable(&rf.kind())
                {
                    out.push(format!("FIELD_LABEL_CHANGED: {where_}"));
                }
                let (ro, wo) = (rf.containing_oneof(), wf.containing_oneof());
                if let (Some(ro), None) = (&ro, &wo)
                    && ro.fields().count() > 1
                    && ro
                        .fields()
                        .any(|f| wm.get_field(f.number()).is_some() && f.number() != wf.number())
                {
                    out.push(format!("FIELD_MOVED_TO_EXISTING_ONEOF: {where_}"));
                }
            }
        }
        out
    }
}

/// The `.proto` source of a base64 `FileDescriptorProto`; `None` when `text` is not
/// base64 of a descriptor with at least one message (so it is reported as bad source).
fn descriptor_source(text: &str) -> Option<Result<String, String>> {
    use base64::Engine;
    use prost::Message;
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.contains(|c: char| c.is_whitespace()) {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .ok()?;
    let file = prost_reflect::prost_types::FileDescriptorProto::decode(bytes.as_slice()).ok()?;
    if file.message_type.is_empty() {
        return None;
    }
    Some(super::protobuf_text::print_file(&file))
}

fn collect_messages(
    messages: impl Iterator<Item = MessageDescriptor>,
    out: &mut Vec<MessageDescriptor>,
) {
    for m in messages {
        if m.is_map_entry() {
            continue;
        }
        collect_messages(m.child_messages(), out);
        out.push(m);
    }
}

fn is_packable(kind: &Kind) -> bool {
    !matches!(kind, Kind::String | Kind::Bytes | Kind::Message(_))
}

fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Message(m) => m.full_name().to_string(),
        Kind::Enum(e) => e.full_name().to_string(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Kinds whose wire encodings read back as each other (protobuf's documented
/// compatible groups).
fn kinds_compatible(reader: &Kind, writer: &Kind) -> bool {
    use Kind::*;
    let group = |k: &Kind| -> u8 {
        match k {
            Int32 | Uint32 | Int64 | Uint64 | Bool | Enum(_) => 1,
            Sint32 | Sint64 => 2,
            Fixed32 | Sfixed32 => 3,
            Fixed64 | Sfixed64 => 4,
            String | Bytes => 5,
            Float => 6,
            Double => 7,
            Message(_) => 8,
        }
    };
    match (reader, writer) {
        (Message(r), Message(w)) => r.full_name() == w.full_name(),
        (Enum(r), Enum(w)) => r.full_name() == w.full_name(),
        (r, w) => group(r) == group(w),
    }
}
