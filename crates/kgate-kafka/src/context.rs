//! Routes librdkafka's log lines and client errors into `tracing`, where the rest of
//! kgate logs; rdkafka's default context writes them to the `log` crate, which kgate does
//! not collect.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError as RdKafkaError;

/// The client context of kgate's shared producers, admin and metadata clients.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingContext;

impl ClientContext for TracingContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_librdkafka(level, fac, log_message);
    }

    fn error(&self, error: RdKafkaError, reason: &str) {
        log_client_error(&error, reason);
    }
}

/// The metadata client is a group-less consumer; rebalances never happen to it.
impl rdkafka::consumer::ConsumerContext for TracingContext {}

/// How long an identical warning or error is not logged again: kgate runs several
/// clients against the same brokers (producers, admin, lookups, consumer instances), and
/// each reports the same unreachable broker in the same words.
const REPEAT_WINDOW: Duration = Duration::from_secs(10);

/// Lines logged within the last [`REPEAT_WINDOW`], and when.
static RECENT: LazyLock<Mutex<HashMap<String, Instant>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Whether `line` was not logged within the last [`REPEAT_WINDOW`] (and is now).
fn first_in_window(line: &str) -> bool {
    let now = Instant::now();
    let mut recent = RECENT.lock();
    if let Some(at) = recent.get(line)
        && now.duration_since(*at) < REPEAT_WINDOW
    {
        return false;
    }
    recent.retain(|_, at| now.duration_since(*at) < REPEAT_WINDOW);
    recent.insert(line.to_string(), now);
    true
}

/// Emits one librdkafka log line as a `tracing` event of the matching level; other
/// client contexts (e.g. consumers') may call it from their own `log`. A warning or error
/// that another client just reported in the same words is left out.
pub fn log_librdkafka(level: RDKafkaLogLevel, facility: &str, message: &str) {
    let serious = matches!(
        level,
        RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning
    );
    if serious && !first_in_window(message) {
        return;
    }
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(target: "librdkafka", facility, "{message}")
        }
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", facility, "{message}")
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
    }
}

/// Logs a client-level error (a broker going away, all brokers down...); these are usually
/// transient and librdkafka retries on its own, hence a warning.
pub fn log_client_error(error: &RdKafkaError, reason: &str) {
    if first_in_window(&format!("{error}: {reason}")) {
        tracing::warn!(target: "librdkafka", error = %error, "{reason}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_repeated_within_the_window_is_logged_once() {
        let line = "test line: broker 127.0.0.1:1 unreachable";
        assert!(first_in_window(line));
        assert!(!first_in_window(line));
        assert!(first_in_window("test line: another broker"));
        // Once the window has passed, the line is logged again.
        RECENT
            .lock()
            .insert(line.to_string(), Instant::now() - REPEAT_WINDOW);
        assert!(first_in_window(line));
    }
}
