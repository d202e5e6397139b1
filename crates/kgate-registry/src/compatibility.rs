//! Compatibility levels and the check of a new schema against a subject's versions.

use kgate_formats::schema::ParsedSchema;

/// A compatibility level (`/config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompatibilityLevel {
    /// No check.
    None,
    /// The new schema reads data written with the latest one.
    Backward,
    /// The new schema reads data written with every earlier one.
    BackwardTransitive,
    /// Data written with the new schema is read by the latest one.
    Forward,
    /// Data written with the new schema is read by every earlier one.
    ForwardTransitive,
    /// Backward and forward against the latest schema.
    Full,
    /// Backward and forward against every earlier schema.
    FullTransitive,
}

impl CompatibilityLevel {
    /// The level's name.
    pub fn name(self) -> &'static str {
        match self {
            CompatibilityLevel::None => "NONE",
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Parses a level name, ignoring case.
    pub fn from_name(name: &str) -> Option<CompatibilityLevel> {
        Some(match name.to_ascii_uppercase().as_str() {
            "NONE" => CompatibilityLevel::None,
            "BACKWARD" => CompatibilityLevel::Backward,
            "BACKWARD_TRANSITIVE" => CompatibilityLevel::BackwardTransitive,
            "FORWARD" => CompatibilityLevel::Forward,
            "FORWARD_TRANSITIVE" => CompatibilityLevel::ForwardTransitive,
            "FULL" => CompatibilityLevel::Full,
            "FULL_TRANSITIVE" => CompatibilityLevel::FullTransitive,
            _ => return None,
        })
    }

    /// Whether every earlier version is checked, not only the latest.
    pub fn transitive(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::BackwardTransitive
                | CompatibilityLevel::ForwardTransitive
                | CompatibilityLevel::FullTransitive
        )
    }
}

/// Why `new` is incompatible at `level` with `previous` (oldest first); empty when it is
/// compatible. Non-transitive levels look at the last of `previous` only.
pub fn incompatibilities(
    level: CompatibilityLevel,
    new: &ParsedSchema,
    previous: &[(i32, ParsedSchema)],
) -> Vec<String> {
    use CompatibilityLevel::*;
    if level == None {
        return Vec::new();
    }
    let checked: &[(i32, ParsedSchema)] = if level.transitive() {
        previous
    } else {
        match previous.len() {
            0 => &[],
            n => &previous[n - 1..],
        }
    };
    let mut out = Vec::new();
    for (version, old) in checked.iter().rev() {
        if matches!(level, Backward | BackwardTransitive | Full | FullTransitive) {
            for m in new.read_incompatibilities(old) {
                out.push(format!(
                    "{{oldSchemaVersion: {version}, compatibility: '{}', direction: BACKWARD, message: '{m}'}}",
                    level.name()
                ));
            }
        }
        if matches!(level, Forward | ForwardTransitive | Full | FullTransitive) {
            for m in old.read_incompatibilities(new) {
                out.push(format!(
                    "{{oldSchemaVersion: {version}, compatibility: '{}', direction: FORWARD, message: '{m}'}}",
                    level.name()
                ));
            }
        }
    }
    out
}
