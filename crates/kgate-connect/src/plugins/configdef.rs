//! Configuration definitions and their validation, in the shape of Apache's
//! `ConfigInfos` (`PUT /connector-plugins/{p}/config/validate`) and `ConfigKeyInfo`
//! (`GET /connector-plugins/{p}/config`). Names, types, defaults, groups and orders are
//! Apache's; the documentation texts are kgate's own words.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::converters;

/// A setting's type, under Apache's `ConfigDef.Type` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    String,
    /// 32-bit number.
    Int,
    /// 16-bit number.
    Short,
    /// 64-bit number.
    Long,
    /// true or false.
    Boolean,
    /// A class name.
    Class,
    /// A comma-separated list.
    List,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::String => "STRING",
            Kind::Int => "INT",
            Kind::Short => "SHORT",
            Kind::Long => "LONG",
            Kind::Boolean => "BOOLEAN",
            Kind::Class => "CLASS",
            Kind::List => "LIST",
        }
    }
}

/// Extra checks on a value beyond its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// No further check.
    None,
    /// A non-empty string without control characters.
    NonEmpty,
    /// At least this number.
    AtLeast(i64),
    /// One of these (case-insensitive).
    OneOf(&'static [&'static str]),
    /// A converter class kgate has.
    Converter,
    /// A header converter class kgate has.
    HeaderConverter,
}

/// One setting's definition.
#[derive(Debug, Clone)]
pub struct ConfigKey {
    /// The key.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Its default; `None` with `required` means it must be given.
    pub default: Option<&'static str>,
    /// Whether it must be given.
    pub required: bool,
    /// HIGH, MEDIUM or LOW.
    pub importance: &'static str,
    /// What it does.
    pub documentation: &'static str,
    /// Its group, if any.
    pub group: Option<&'static str>,
    /// Its place in the group (-1 when none).
    pub order: i32,
    /// NONE, SHORT, MEDIUM or LONG.
    pub width: &'static str,
    /// Its display name.
    pub display_name: &'static str,
    /// The extra check.
    pub check: Check,
}

/// The header converter kgate applies by default (Apache's SimpleHeaderConverter name).
pub const DEFAULT_HEADER_CONVERTER: &str = "org.apache.kafka.connect.storage.SimpleHeaderConverter";

/// The version kgate reports for its built-in plugins and its API.
pub const PLUGIN_VERSION: &str = "4.4.0";

// One positional argument per field keeps the tables below one line per setting.
#[allow(clippy::too_many_arguments)]
const fn key(
    name: &'static str,
    kind: Kind,
    default: Option<&'static str>,
    required: bool,
    importance: &'static str,
    group: Option<&'static str>,
    order: i32,
    width: &'static str,
    display_name: &'static str,
    documentation: &'static str,
    check: Check,
) -> ConfigKey {
    ConfigKey {
        name,
        kind,
        default,
        required,
        importance,
        documentation,
        group,
        order,
        width,
        display_name,
        check,
    }
}

const COMMON: &str = "Common";
const ERRORS: &str = "Error Handling";

/// The settings every connector has (Apache's `ConnectorConfig`).
pub fn common_keys() -> Vec<ConfigKey> {
    use Kind::*;
    vec![
        key(
            "name",
            String,
            None,
            true,
            "HIGH",
            Some(COMMON),
            1,
            "MEDIUM",
            "Connector name",
            "A name for the connector, unique in the Connect cluster.",
            Check::NonEmpty,
        ),
        key(
            "connector.class",
            String,
            None,
            true,
            "HIGH",
            Some(COMMON),
            2,
            "LONG",
            "Connector class",
            "The connector's class, by full name or by its simple name with or without the Connector suffix (FileStreamSink, FileStreamSinkConnector).",
            Check::None,
        ),
        key(
            "connector.plugin.version",
            String,
            Some(PLUGIN_VERSION),
            false,
            "MEDIUM",
            Some(COMMON),
            3,
            "MEDIUM",
            "Connector version",
            "The version of the connector plugin to use.",
            Check::None,
        ),
        key(
            "tasks.max",
            Int,
            Some("1"),
            false,
            "HIGH",
            Some(COMMON),
            4,
            "SHORT",
            "Tasks max",
            "The most tasks the connector may run.",
            Check::AtLeast(1),
        ),
        key(
            "tasks.max.enforce",
            Boolean,
            Some("true"),
            false,
            "LOW",
            Some(COMMON),
            5,
            "SHORT",
            "Enforce tasks max",
            "(Deprecated) Whether a connector that asks for more tasks than tasks.max fails.",
            Check::None,
        ),
        key(
            "key.converter",
            Class,
            Some(converters::DEFAULT_CONVERTER),
            false,
            "LOW",
            Some(COMMON),
            6,
            "SHORT",
            "Key converter class",
            "The converter of record keys; overrides the worker's key.converter.",
            Check::Converter,
        ),
        key(
            "key.converter.plugin.version",
            String,
            Some(PLUGIN_VERSION),
            false,
            "LOW",
            Some(COMMON),
            7,
            "SHORT",
            "Key converter version",
            "The version of the key converter to use.",
            Check::None,
        ),
        key(
            "value.converter",
            Class,
            Some(converters::DEFAULT_CONVERTER),
            false,
            "LOW",
            Some(COMMON),
            8,
            "SHORT",
            "Value converter class",
            "The converter of record values; overrides the worker's value.converter.",
            Check::Converter,
        ),
        key(
            "value.converter.plugin.version",
            String,
            Some(PLUGIN_VERSION),
            false,
            "LOW",
            Some(COMMON),
            9,
            "SHORT",
            "Value converter version",
            "The version of the value converter to use.",
            Check::None,
        ),
        key(
            "header.converter",
            Class,
            Some(DEFAULT_HEADER_CONVERTER),
            false,
            "LOW",
            Some(COMMON),
            10,
            "SHORT",
            "Header converter class",
            "The converter of record headers; overrides the worker's header.converter.",
            Check::HeaderConverter,
        ),
        key(
            "header.converter.plugin.version",
            String,
            Some(PLUGIN_VERSION),
            false,
            "LOW",
            Some(COMMON),
            11,
            "SHORT",
            "Header converter version",
            "The version of the header converter to use.",
            Check::None,
        ),
        key(
            "transforms",
            List,
            Some(""),
            false,
            "LOW",
            Some("Transforms"),
            12,
            "LONG",
            "Transforms",
            "Aliases of the transformations applied to records, in order.",
            Check::None,
        ),
        key(
            "predicates",
            List,
            Some(""),
            false,
            "LOW",
            Some("Predicates"),
            13,
            "LONG",
            "Predicates",
            "Aliases of the predicates transformations may use.",
            Check::None,
        ),
        key(
            "config.action.reload",
            String,
            Some("restart"),
            false,
            "LOW",
            Some(COMMON),
            14,
            "MEDIUM",
            "Reload Action",
            "What to do when an external configuration provider's value changes: none or restart.",
            Check::OneOf(&["none", "restart"]),
        ),
        key(
            "errors.retry.timeout",
            Long,
            Some("0"),
            false,
            "MEDIUM",
            Some(ERRORS),
            1,
            "MEDIUM",
            "Retry Timeout for Errors",
            "How long a failed operation is retried, in milliseconds; -1 retries forever.",
            Check::AtLeast(-1),
        ),
        key(
            "errors.retry.delay.max.ms",
            Long,
            Some("60000"),
            false,
            "MEDIUM",
            Some(ERRORS),
            2,
            "MEDIUM",
            "Maximum Delay Between Retries for Errors",
            "The longest wait between two retries, in milliseconds.",
            Check::AtLeast(1),
        ),
        key(
            "errors.tolerance",
            String,
            Some("none"),
            false,
            "MEDIUM",
            Some(ERRORS),
            3,
            "SHORT",
            "Error Tolerance",
            "none fails the task on the first bad record; all skips bad records.",
            Check::OneOf(&["none", "all"]),
        ),
        key(
            "errors.log.enable",
            Boolean,
            Some("false"),
            false,
            "MEDIUM",
            Some(ERRORS),
            4,
            "SHORT",
            "Log Errors",
            "Whether skipped failures are logged.",
            Check::None,
        ),
        key(
            "errors.log.include.messages",
            Boolean,
            Some("false"),
            false,
            "MEDIUM",
            Some(ERRORS),
            5,
            "SHORT",
            "Log Error Details",
            "Whether the logged failures include the records.",
            Check::None,
        ),
    ]
}

/// The settings of source connectors only.
pub fn source_keys() -> Vec<ConfigKey> {
    use Kind::*;
    vec![
        key(
            "topic.creation.groups",
            List,
            Some(""),
            false,
            "LOW",
            Some("Topic Creation"),
            1,
            "LONG",
            "Topic Creation Groups",
            "Groups of settings for the topics the connector creates.",
            Check::None,
        ),
        key(
            "exactly.once.support",
            String,
            Some("requested"),
            false,
            "MEDIUM",
            Some("Exactly Once Support"),
            2,
            "SHORT",
            "Exactly once support",
            "requested or required: whether the connector must support exactly-once delivery.",
            Check::OneOf(&["requested", "required"]),
        ),
        key(
            "transaction.boundary",
            String,
            Some("poll"),
            false,
            "MEDIUM",
            Some("Exactly Once Support"),
            3,
            "SHORT",
            "Transaction Boundary",
            "Where transactions end with exactly-once source support: poll, interval or connector.",
            Check::OneOf(&["poll", "interval", "connector"]),
        ),
        key(
            "transaction.boundary.interval.ms",
            Long,
            None,
            false,
            "LOW",
            Some("Exactly Once Support"),
            4,
            "SHORT",
            "Transaction boundary interval",
            "How often transactions are committed with the interval boundary, in milliseconds.",
            Check::AtLeast(0),
        ),
        key(
            "offsets.storage.topic",
            String,
            None,
            false,
            "LOW",
            Some("offsets.topic"),
            1,
            "LONG",
            "Offsets topic",
            "A separate topic for this connector's offsets (the worker's offsets topic by default).",
            Check::None,
        ),
    ]
}

/// The settings of sink connectors only.
pub fn sink_keys() -> Vec<ConfigKey> {
    use Kind::*;
    vec![
        key(
            "topics",
            List,
            Some(""),
            false,
            "HIGH",
            Some(COMMON),
            4,
            "LONG",
            "Topics",
            "The topics to consume, comma-separated.",
            Check::None,
        ),
        key(
            "topics.regex",
            String,
            Some(""),
            false,
            "HIGH",
            Some(COMMON),
            4,
            "LONG",
            "Topics regex",
            "A regular expression of the topics to consume.",
            Check::None,
        ),
        key(
            "errors.deadletterqueue.topic.name",
            String,
            Some(""),
            false,
            "MEDIUM",
            Some(ERRORS),
            6,
            "MEDIUM",
            "Dead Letter Queue Topic Name",
            "A topic that records failing with errors.tolerance=all go to.",
            Check::None,
        ),
        key(
            "errors.deadletterqueue.topic.replication.factor",
            Short,
            Some("3"),
            false,
            "MEDIUM",
            Some(ERRORS),
            7,
            "MEDIUM",
            "Dead Letter Queue Topic Replication Factor",
            "The replication factor of the dead letter queue topic when it is created.",
            Check::None,
        ),
        key(
            "errors.deadletterqueue.context.headers.enable",
            Boolean,
            Some("false"),
            false,
            "MEDIUM",
            Some(ERRORS),
            8,
            "MEDIUM",
            "Enable Error Context Headers",
            "Whether dead letter queue records carry headers describing the failure.",
            Check::None,
        ),
    ]
}

/// A connector-specific setting without a group (file connectors' `file`, ...).
pub const fn plain(
    name: &'static str,
    kind: Kind,
    default: Option<&'static str>,
    required: bool,
    importance: &'static str,
    documentation: &'static str,
) -> ConfigKey {
    key(
        name,
        kind,
        default,
        required,
        importance,
        None,
        -1,
        "NONE",
        name,
        documentation,
        Check::None,
    )
}

impl ConfigKey {
    /// The `definition` object of the REST API.
    pub fn definition(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind.name(),
            "required": self.required,
            "default_value": self.default,
            "importance": self.importance,
            "documentation": self.documentation,
            "group": self.group,
            "order_in_group": self.order,
            "width": self.width,
            "display_name": self.display_name,
            "dependents": [],
        })
    }

    /// Whether `value` reads as this key's type (numbers and booleans).
    pub fn parses(&self, value: &str) -> bool {
        let v = value.trim();
        match self.kind {
            Kind::Int => v.parse::<i32>().is_ok(),
            Kind::Short => v.parse::<i16>().is_ok(),
            Kind::Long => v.parse::<i64>().is_ok(),
            Kind::Boolean => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
            _ => true,
        }
    }

    /// The errors of `value` (the given text, or `None` when not set).
    pub fn errors(&self, value: Option<&str>) -> Vec<String> {
        let Some(value) = value.or(self.default) else {
            return if self.required {
                vec![format!(
                    "Missing required configuration \"{}\" which has no default value.",
                    self.name
                )]
            } else {
                Vec::new()
            };
        };
        let invalid = |why: &str| {
            vec![format!(
                "Invalid value {value} for configuration {}: {why}",
                self.name
            )]
        };
        let trimmed = value.trim();
        let number = match self.kind {
            Kind::Int => match trimmed.parse::<i32>() {
                Ok(n) => Some(i64::from(n)),
                Err(_) => return invalid("Not a number of type INT"),
            },
            Kind::Short => match trimmed.parse::<i16>() {
                Ok(n) => Some(i64::from(n)),
                Err(_) => return invalid("Not a number of type SHORT"),
            },
            Kind::Long => match trimmed.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => return invalid("Not a number of type LONG"),
            },
            Kind::Boolean => {
                if !trimmed.eq_ignore_ascii_case("true") && !trimmed.eq_ignore_ascii_case("false") {
                    return invalid("Expected value to be either true or false");
                }
                None
            }
            _ => None,
        };
        match self.check {
            Check::None => Vec::new(),
            Check::NonEmpty if value.is_empty() => invalid("String may not be empty"),
            Check::NonEmpty if value.chars().any(char::is_control) => {
                invalid("String may not contain control sequences")
            }
            Check::NonEmpty => Vec::new(),
            Check::AtLeast(min) => match number {
                Some(n) if n < min => invalid(&format!("Value must be at least {min}")),
                _ => Vec::new(),
            },
            Check::OneOf(allowed) => {
                if allowed.iter().any(|a| a.eq_ignore_ascii_case(trimmed)) {
                    Vec::new()
                } else {
                    invalid(&format!("String must be one of: {}", allowed.join(", ")))
                }
            }
            Check::Converter => {
                if converters::is_known(trimmed) {
                    Vec::new()
                } else {
                    invalid(&format!("Class {trimmed} could not be found."))
                }
            }
            Check::HeaderConverter => {
                if converters::is_known(trimmed)
                    || trimmed == DEFAULT_HEADER_CONVERTER
                    || trimmed == "SimpleHeaderConverter"
                {
                    Vec::new()
                } else {
                    invalid(&format!("Class {trimmed} could not be found."))
                }
            }
        }
    }

    /// Values a client may pick from (`recommended_values`).
    pub fn recommended(&self) -> Vec<String> {
        match self.check {
            Check::Converter => converters::CONVERTERS
                .iter()
                .map(|c| c.class.to_string())
                .collect(),
            Check::HeaderConverter => {
                let mut all: Vec<String> = converters::CONVERTERS
                    .iter()
                    .map(|c| c.class.to_string())
                    .collect();
                all.push(DEFAULT_HEADER_CONVERTER.to_string());
                all.sort();
                all
            }
            _ if self.name.ends_with("plugin.version") => vec![PLUGIN_VERSION.to_string()],
            _ => Vec::new(),
        }
    }
}

/// The validation answer for `config` against `keys`: Apache's `ConfigInfos`.
pub fn validate(
    name: &str,
    keys: &[ConfigKey],
    config: &BTreeMap<String, String>,
    extra_errors: &BTreeMap<&'static str, Vec<String>>,
) -> Value {
    let mut groups: Vec<&str> = Vec::new();
    let mut configs = Vec::new();
    let mut error_count = 0;
    for k in keys {
        if let Some(g) = k.group
            && !groups.contains(&g)
        {
            groups.push(g);
        }
        let given = config.get(k.name).map(String::as_str);
        let mut errors = k.errors(given);
        if let Some(more) = extra_errors.get(k.name) {
            errors.extend(more.iter().cloned());
        }
        if !errors.is_empty() {
            error_count += 1;
        }
        // A value that does not parse as its type is shown as null, as Apache does.
        let shown = given.or(k.default).filter(|v| k.parses(v));
        configs.push(json!({
            "definition": k.definition(),
            "value": {
                "name": k.name,
                "value": shown,
                "recommended_values": k.recommended(),
                "errors": errors,
                "visible": true,
            }
        }));
    }
    json!({
        "name": name,
        "error_count": error_count,
        "groups": groups,
        "configs": configs,
    })
}

/// The errors of a validation answer, as Apache lists them in a 400 message.
pub fn error_messages(infos: &Value) -> Vec<String> {
    infos["configs"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["value"]["errors"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect()
}
