//! Routes librdkafka's log lines and client errors into `tracing`, where the rest of
//! kgate logs; rdkafka's default context writes them to the `log` crate, which kgate does
//! not collect.
//!
//! librdkafka reports one event twice, as a log line and as a client error (a broker
//! connection refused, say): the two are recognised as one and logged once. The last
//! client error is kept so that kgate can say why a cluster is unreachable, and once kgate
//! is stopping, connections lost as brokers go away are expected and logged at debug
//! level only.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::types::RDKafkaErrorCode;

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

/// The last client error reported by any client, and when.
static LAST_CLIENT_ERROR: LazyLock<Mutex<Option<(Instant, String)>>> =
    LazyLock::new(|| Mutex::new(None));

/// Set once kgate is stopping: brokers going away are then expected.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Tells the log routing that kgate is stopping: from now on librdkafka's warnings and
/// errors (connections closed by a broker that is shutting down, say) are debug lines,
/// so a clean shutdown logs no errors.
pub fn expect_disconnects() {
    STOPPING.store(true, Ordering::Relaxed);
}

/// The last error a Kafka client reported (e.g. `127.0.0.1:9092/bootstrap: Connect to
/// ipv4#127.0.0.1:9092 failed: Connection refused`), if it is at most `within` old: the
/// reason a cluster does not answer, in librdkafka's words.
pub fn last_client_error(within: Duration) -> Option<String> {
    match LAST_CLIENT_ERROR.lock().as_ref() {
        Some((at, reason)) if at.elapsed() <= within => Some(reason.clone()),
        _ => None,
    }
}

/// The part of a librdkafka log line that its client-error twin repeats: log lines
/// start with the thread's name (`[thrd:127.0.0.1:1/bootstrap]: `), client errors do not.
fn event_text(message: &str) -> &str {
    match message.strip_prefix("[thrd:") {
        Some(rest) => rest.split_once("]: ").map_or(message, |(_, text)| text),
        None => message,
    }
}

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
    if serious && !first_in_window(event_text(message)) {
        return;
    }
    if serious && STOPPING.load(Ordering::Relaxed) {
        tracing::debug!(target: "librdkafka", facility, "{message}");
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
/// The same event already logged as a log line is not logged again.
pub fn log_client_error(error: &RdKafkaError, reason: &str) {
    // "1/1 brokers are down" follows the error that says why; keep that one.
    if error.rdkafka_error_code() != Some(RDKafkaErrorCode::AllBrokersDown) {
        *LAST_CLIENT_ERROR.lock() = Some((Instant::now(), reason.to_string()));
    }
    if !first_in_window(event_text(reason)) {
        return;
    }
    if STOPPING.load(Ordering::Relaxed) {
        tracing::debug!(target: "librdkafka", error = %error, "{reason}");
    } else {
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

    #[test]
    fn a_log_line_and_its_client_error_twin_are_one_event() {
        let log_line = "[thrd:127.0.0.1:2/bootstrap]: 127.0.0.1:2/bootstrap: Connect to ipv4#127.0.0.1:2 failed: Connection refused (after 0ms in state CONNECT)";
        let client_error = "127.0.0.1:2/bootstrap: Connect to ipv4#127.0.0.1:2 failed: Connection refused (after 0ms in state CONNECT)";
        assert_eq!(event_text(log_line), client_error);
        assert_eq!(event_text(client_error), client_error);
        assert_eq!(event_text("[thrd:main]"), "[thrd:main]");
        // The log line comes first; its twin is then left out.
        assert!(first_in_window(event_text(log_line)));
        assert!(!first_in_window(event_text(client_error)));
    }

    #[test]
    fn the_last_client_error_is_kept_for_a_while() {
        let error = RdKafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure);
        log_client_error(
            &error,
            "127.0.0.1:3/bootstrap: Connect to ipv4#127.0.0.1:3 failed",
        );
        let all_down = RdKafkaError::Global(RDKafkaErrorCode::AllBrokersDown);
        log_client_error(&all_down, "1/1 brokers are down");
        let kept = last_client_error(Duration::from_secs(60)).expect("kept");
        assert!(
            kept.contains("127.0.0.1:3"),
            "the reason, not the summary: {kept}"
        );
        *LAST_CLIENT_ERROR.lock() = Some((Instant::now() - Duration::from_secs(120), kept));
        assert_eq!(last_client_error(Duration::from_secs(60)), None);
    }
}
