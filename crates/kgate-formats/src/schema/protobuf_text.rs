//! Prints a compiled `.proto` file (a `FileDescriptorProto`) back as `.proto` source.
//!
//! Confluent's serializers register protobuf schemas as a base64 `FileDescriptorProto`
//! rather than source text, and Confluent's registry stores such a schema as text; kgate
//! does the same with this printer. The output keeps what decides the wire format and the
//! JSON mapping (syntax, package, imports, messages, fields with labels, types, numbers
//! and defaults, oneofs, maps, enums, reserved numbers and names, services, extension
//! ranges), the common file options and `packed`, `default`, `json_name` and
//! `deprecated`. Other options (custom ones included) are left out, as they do not
//! change how records are written or read; extensions (`extend`) and groups are refused
//! rather than dropped.

use std::fmt::Write;

use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
use prost_reflect::prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    ServiceDescriptorProto,
};

/// One past the largest field number, as a reserved or extension range end.
const FIELD_NUMBER_END: i32 = 536_870_912;

/// The `.proto` source of `file`, or what it holds that cannot be printed.
pub fn print_file(file: &FileDescriptorProto) -> Result<String, String> {
    let syntax = match file.syntax() {
        "" | "proto2" => "proto2",
        "proto3" => "proto3",
        other => return Err(format!("syntax {other:?} is not supported")),
    };
    if !file.extension.is_empty() {
        return Err("extensions (extend blocks) are not supported".to_string());
    }
    let mut out = String::new();
    let _ = writeln!(out, "syntax = {};", quote(syntax));
    if !file.package().is_empty() {
        let _ = writeln!(out, "package {};", file.package());
    }
    if !file.dependency.is_empty() {
        out.push('\n');
    }
    for (i, dependency) in file.dependency.iter().enumerate() {
        let index = i32::try_from(i).unwrap_or(i32::MAX);
        let modifier = if file.public_dependency.contains(&index) {
            "public "
        } else if file.weak_dependency.contains(&index) {
            "weak "
        } else {
            ""
        };
        let _ = writeln!(out, "import {modifier}{};", quote(dependency));
    }
    if let Some(options) = &file.options {
        let mut lines = Vec::new();
        let mut text_option = |name: &str, value: &Option<String>| {
            if let Some(v) = value {
                lines.push(format!("option {name} = {};", quote(v)));
            }
        };
        text_option("java_package", &options.java_package);
        text_option("java_outer_classname", &options.java_outer_classname);
        text_option("go_package", &options.go_package);
        text_option("csharp_namespace", &options.csharp_namespace);
        text_option("objc_class_prefix", &options.objc_class_prefix);
        text_option("php_namespace", &options.php_namespace);
        text_option("ruby_package", &options.ruby_package);
        text_option("swift_prefix", &options.swift_prefix);
        if let Some(v) = options.java_multiple_files {
            lines.push(format!("option java_multiple_files = {v};"));
        }
        if options.deprecated == Some(true) {
            lines.push("option deprecated = true;".to_string());
        }
        if !lines.is_empty() {
            out.push('\n');
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    let proto3 = syntax == "proto3";
    for message in &file.message_type {
        out.push('\n');
        print_message(&mut out, message, 0, proto3)?;
    }
    for e in &file.enum_type {
        out.push('\n');
        print_enum(&mut out, e, 0);
    }
    for service in &file.service {
        out.push('\n');
        print_service(&mut out, service);
    }
    Ok(out)
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn print_message(
    out: &mut String,
    message: &DescriptorProto,
    depth: usize,
    proto3: bool,
) -> Result<(), String> {
    if !message.extension.is_empty() {
        return Err(format!(
            "extensions (extend blocks) in message {} are not supported",
            message.name()
        ));
    }
    indent(out, depth);
    let _ = writeln!(out, "message {} {{", message.name());
    let inner = depth + 1;
    if message.options.as_ref().and_then(|o| o.deprecated) == Some(true) {
        indent(out, inner);
        out.push_str("option deprecated = true;\n");
    }
    // A proto3 `optional` field sits alone in a oneof the compiler made up; that oneof
    // is not written.
    let synthetic = |index: i32| {
        let members: Vec<&FieldDescriptorProto> = message
            .field
            .iter()
            .filter(|f| f.oneof_index == Some(index))
            .collect();
        !members.is_empty() && members.iter().all(|f| f.proto3_optional())
    };
    let mut printed_oneofs = Vec::new();
    for field in &message.field {
        match field.oneof_index {
            Some(index) if !synthetic(index) => {
                if printed_oneofs.contains(&index) {
                    continue;
                }
                printed_oneofs.push(index);
                let name = usize::try_from(index)
                    .ok()
                    .and_then(|i| message.oneof_decl.get(i))
                    .map(|o| o.name().to_string())
                    .ok_or_else(|| format!("field {} names a missing oneof", field.name()))?;
                indent(out, inner);
                let _ = writeln!(out, "oneof {name} {{");
                for member in message
                    .field
                    .iter()
                    .filter(|f| f.oneof_index == Some(index))
                {
                    print_field(out, message, member, inner + 1, proto3, true)?;
                }
                indent(out, inner);
                out.push_str("}\n");
            }
            _ => print_field(out, message, field, inner, proto3, false)?,
        }
    }
    for nested in &message.nested_type {
        if nested.options.as_ref().and_then(|o| o.map_entry) == Some(true) {
            continue;
        }
        print_message(out, nested, inner, proto3)?;
    }
    for e in &message.enum_type {
        print_enum(out, e, inner);
    }
    for range in &message.extension_range {
        indent(out, inner);
        let _ = writeln!(
            out,
            "extensions {};",
            range_text(range.start(), range.end(), true)
        );
    }
    print_reserved(
        out,
        inner,
        message
            .reserved_range
            .iter()
            .map(|r| range_text(r.start(), r.end(), true)),
        &message.reserved_name,
    );
    indent(out, depth);
    out.push_str("}\n");
    Ok(())
}

/// `n`, `n to m` or `n to max`; `exclusive_end` for message ranges (enum ranges include
/// their end).
fn range_text(start: i32, end: i32, exclusive_end: bool) -> String {
    let last = if exclusive_end { end - 1 } else { end };
    if exclusive_end && end >= FIELD_NUMBER_END || !exclusive_end && end == i32::MAX {
        format!("{start} to max")
    } else if last == start {
        start.to_string()
    } else {
        format!("{start} to {last}")
    }
}

fn print_reserved(
    out: &mut String,
    depth: usize,
    ranges: impl Iterator<Item = String>,
    names: &[String],
) {
    let ranges: Vec<String> = ranges.collect();
    if !ranges.is_empty() {
        indent(out, depth);
        let _ = writeln!(out, "reserved {};", ranges.join(", "));
    }
    if !names.is_empty() {
        indent(out, depth);
        let quoted: Vec<String> = names.iter().map(|n| quote(n)).collect();
        let _ = writeln!(out, "reserved {};", quoted.join(", "));
    }
}

/// The map entry message a map field's type names, if it is one.
fn map_entry<'a>(
    message: &'a DescriptorProto,
    field: &FieldDescriptorProto,
) -> Option<&'a DescriptorProto> {
    if field.label() != Label::Repeated || field.r#type() != Type::Message {
        return None;
    }
    let simple = field.type_name().rsplit('.').next()?;
    message
        .nested_type
        .iter()
        .find(|n| n.name() == simple && n.options.as_ref().and_then(|o| o.map_entry) == Some(true))
}

fn print_field(
    out: &mut String,
    message: &DescriptorProto,
    field: &FieldDescriptorProto,
    depth: usize,
    proto3: bool,
    in_oneof: bool,
) -> Result<(), String> {
    indent(out, depth);
    if let Some(entry) = map_entry(message, field) {
        let part = |number: i32| {
            entry
                .field
                .iter()
                .find(|f| f.number() == number)
                .ok_or_else(|| format!("map field {} lacks its key or value", field.name()))
        };
        let _ = write!(
            out,
            "map<{}, {}> {} = {}",
            type_text(part(1)?)?,
            type_text(part(2)?)?,
            field.name(),
            field.number()
        );
    } else {
        let label = match field.label() {
            Label::Repeated => "repeated ",
            Label::Required => "required ",
            Label::Optional if in_oneof => "",
            Label::Optional if !proto3 || field.proto3_optional() => "optional ",
            Label::Optional => "",
        };
        let _ = write!(
            out,
            "{label}{} {} = {}",
            type_text(field)?,
            field.name(),
            field.number()
        );
    }
    let mut options = Vec::new();
    if let Some(default) = &field.default_value {
        options.push(format!("default = {}", default_text(field, default)));
    }
    if let Some(o) = &field.options {
        if let Some(packed) = o.packed {
            options.push(format!("packed = {packed}"));
        }
        if o.deprecated == Some(true) {
            options.push("deprecated = true".to_string());
        }
    }
    if let Some(json_name) = &field.json_name
        && *json_name != default_json_name(field.name())
    {
        options.push(format!("json_name = {}", quote(json_name)));
    }
    if options.is_empty() {
        out.push_str(";\n");
    } else {
        let _ = writeln!(out, " [{}];", options.join(", "));
    }
    Ok(())
}

/// protoc's JSON name for a field: underscores dropped, the letter after each one
/// upper-cased.
fn default_json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn type_text(field: &FieldDescriptorProto) -> Result<String, String> {
    Ok(match field.r#type() {
        Type::Double => "double".into(),
        Type::Float => "float".into(),
        Type::Int64 => "int64".into(),
        Type::Uint64 => "uint64".into(),
        Type::Int32 => "int32".into(),
        Type::Fixed64 => "fixed64".into(),
        Type::Fixed32 => "fixed32".into(),
        Type::Bool => "bool".into(),
        Type::String => "string".into(),
        Type::Bytes => "bytes".into(),
        Type::Uint32 => "uint32".into(),
        Type::Sfixed32 => "sfixed32".into(),
        Type::Sfixed64 => "sfixed64".into(),
        Type::Sint32 => "sint32".into(),
        Type::Sint64 => "sint64".into(),
        // Fully qualified (leading dot), so the name means the same wherever it is read.
        Type::Message | Type::Enum => field.type_name().to_string(),
        Type::Group => {
            return Err(format!(
                "field {} is a group, which is not supported",
                field.name()
            ));
        }
    })
}

/// A proto2 default as source: strings quoted, bytes kept in their C escapes, the rest
/// (numbers, booleans, enum value names) as they are.
fn default_text(field: &FieldDescriptorProto, default: &str) -> String {
    match field.r#type() {
        Type::String => quote(default),
        Type::Bytes => format!("\"{default}\""),
        _ => default.to_string(),
    }
}

fn print_enum(out: &mut String, e: &EnumDescriptorProto, depth: usize) {
    indent(out, depth);
    let _ = writeln!(out, "enum {} {{", e.name());
    let inner = depth + 1;
    if let Some(o) = &e.options {
        if o.allow_alias == Some(true) {
            indent(out, inner);
            out.push_str("option allow_alias = true;\n");
        }
        if o.deprecated == Some(true) {
            indent(out, inner);
            out.push_str("option deprecated = true;\n");
        }
    }
    for value in &e.value {
        indent(out, inner);
        let deprecated = value.options.as_ref().and_then(|o| o.deprecated) == Some(true);
        let _ = writeln!(
            out,
            "{} = {}{};",
            value.name(),
            value.number(),
            if deprecated {
                " [deprecated = true]"
            } else {
                ""
            }
        );
    }
    print_reserved(
        out,
        inner,
        e.reserved_range
            .iter()
            .map(|r| range_text(r.start(), r.end(), false)),
        &e.reserved_name,
    );
    indent(out, depth);
    out.push_str("}\n");
}

fn print_service(out: &mut String, service: &ServiceDescriptorProto) {
    let _ = writeln!(out, "service {} {{", service.name());
    for method in &service.method {
        let stream = |on: bool| if on { "stream " } else { "" };
        let _ = writeln!(
            out,
            "  rpc {} ({}{}) returns ({}{});",
            method.name(),
            stream(method.client_streaming()),
            method.input_type(),
            stream(method.server_streaming()),
            method.output_type()
        );
    }
    out.push_str("}\n");
}

/// A protobuf string literal.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\{:03o}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
