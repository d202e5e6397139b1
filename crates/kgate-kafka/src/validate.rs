//! Checks of client-supplied names and strings before they reach librdkafka (C strings,
//! which cannot hold a NUL byte and whose Rust wrappers panic on one in some calls) or
//! the Kafka protocol (whose strings are at most 32,767 bytes long).

use crate::KafkaError;

/// Longest string the Kafka protocol can carry (its length is a signed 16-bit number).
pub const MAX_PROTOCOL_STRING: usize = i16::MAX as usize;

/// Longest topic name Kafka accepts.
pub const MAX_TOPIC_NAME: usize = 249;

/// Fails with [`KafkaError::InvalidRequest`] when `value` holds a NUL byte or is longer
/// than the Kafka protocol can carry; `what` names the field in the message.
pub fn check_protocol_string(what: &str, value: &str) -> Result<(), KafkaError> {
    if value.contains('\0') {
        return Err(KafkaError::InvalidRequest(format!(
            "The {what} contains a NUL character, which Kafka does not accept."
        )));
    }
    if value.len() > MAX_PROTOCOL_STRING {
        return Err(KafkaError::InvalidRequest(format!(
            "The {what} is {} bytes long; Kafka accepts at most {MAX_PROTOCOL_STRING}.",
            value.len()
        )));
    }
    Ok(())
}

/// Why `name` cannot be a Kafka topic name (Kafka's own rules: 1 to 249 characters out
/// of ASCII letters, digits, `.`, `_` and `-`, and not `.` or `..`), or `None` when it can.
pub fn topic_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("Topic name is illegal, it can't be empty.".to_string());
    }
    if name == "." || name == ".." {
        return Some("Topic name cannot be \".\" or \"..\".".to_string());
    }
    if name.len() > MAX_TOPIC_NAME {
        return Some(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME} characters."
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Some(format!(
            "Topic name {:?} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'.",
            truncated(name)
        ));
    }
    None
}

/// Whether `name` can be a Kafka topic name (see [`topic_name_problem`]).
pub fn is_legal_topic_name(name: &str) -> bool {
    topic_name_problem(name).is_none()
}

/// Fails with [`KafkaError::InvalidRequest`] when `name` cannot be a topic name.
pub fn check_topic_name(name: &str) -> Result<(), KafkaError> {
    match topic_name_problem(name) {
        Some(problem) => Err(KafkaError::InvalidRequest(problem)),
        None => Ok(()),
    }
}

/// At most the first 100 characters of `text`, so a huge name does not make a huge
/// error message.
pub(crate) fn truncated(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafkas_rules() {
        for good in ["a", "my-topic.v1_2", &"x".repeat(249)] {
            assert!(is_legal_topic_name(good), "{good}");
        }
        for bad in ["", ".", "..", "a b", "t\0", "é", &"x".repeat(250), "a/b"] {
            assert!(!is_legal_topic_name(bad), "{bad:?}");
        }
        assert!(check_topic_name("a\0").is_err());
    }

    #[test]
    fn protocol_strings_have_no_nul_and_fit_an_i16_length() {
        assert!(check_protocol_string("group", "g").is_ok());
        assert!(check_protocol_string("group", &"g".repeat(32_767)).is_ok());
        assert!(check_protocol_string("group", &"g".repeat(32_768)).is_err());
        let e = check_protocol_string("group", "a\0b").unwrap_err();
        assert!(e.to_string().contains("NUL"), "{e}");
        assert_eq!(truncated(&"y".repeat(500)).len(), 103);
    }
}
