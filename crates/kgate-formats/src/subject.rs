//! Subject name strategies: which registry subject a topic's keys or values are
//! registered under, with the names Confluent's serializers and REST v3 use.

use crate::FormatError;

/// How a subject name is derived from the topic and the record type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SubjectNameStrategy {
    /// `<topic>-key` / `<topic>-value` (the default).
    #[default]
    TopicName,
    /// The fully-qualified record name.
    RecordName,
    /// `<topic>-<fully-qualified record name>`.
    TopicRecordName,
}

impl SubjectNameStrategy {
    /// Parses REST v3's `subject_name_strategy` (`TOPIC_NAME`, `RECORD_NAME`,
    /// `TOPIC_RECORD_NAME`), ignoring case.
    pub fn from_name(name: &str) -> Option<SubjectNameStrategy> {
        match name.to_ascii_uppercase().as_str() {
            "TOPIC_NAME" => Some(SubjectNameStrategy::TopicName),
            "RECORD_NAME" => Some(SubjectNameStrategy::RecordName),
            "TOPIC_RECORD_NAME" => Some(SubjectNameStrategy::TopicRecordName),
            _ => None,
        }
    }

    /// Whether the subject depends on the record type, so the schema must be known first.
    pub fn needs_record_name(self) -> bool {
        !matches!(self, SubjectNameStrategy::TopicName)
    }

    /// The subject for a key (`is_key`) or value of `topic` whose schema names the record
    /// type `record_name` (Avro full name, protobuf message full name, JSON Schema title).
    pub fn subject(
        self,
        topic: &str,
        is_key: bool,
        record_name: Option<&str>,
    ) -> Result<String, FormatError> {
        let record = || {
            record_name.ok_or_else(|| {
                FormatError::InvalidSchema(
                    "The schema has no record name, which this subject name strategy needs"
                        .to_string(),
                )
            })
        };
        Ok(match self {
            SubjectNameStrategy::TopicName => {
                format!("{topic}-{}", if is_key { "key" } else { "value" })
            }
            SubjectNameStrategy::RecordName => record()?.to_string(),
            SubjectNameStrategy::TopicRecordName => format!("{topic}-{}", record()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_name_subjects_as_confluent_does() {
        let s = SubjectNameStrategy::from_name("topic_name").unwrap();
        assert_eq!(s.subject("t", true, None).unwrap(), "t-key");
        assert_eq!(s.subject("t", false, Some("x.R")).unwrap(), "t-value");
        let r = SubjectNameStrategy::from_name("RECORD_NAME").unwrap();
        assert_eq!(r.subject("t", false, Some("x.R")).unwrap(), "x.R");
        assert!(r.subject("t", false, None).is_err());
        let tr = SubjectNameStrategy::from_name("TOPIC_RECORD_NAME").unwrap();
        assert_eq!(tr.subject("t", true, Some("x.R")).unwrap(), "t-x.R");
        assert_eq!(SubjectNameStrategy::from_name("other"), None);
    }
}
