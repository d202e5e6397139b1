//! Routes librdkafka's log lines and client errors into `tracing`, where the rest of
//! kgate logs; rdkafka's default context writes them to the `log` crate, which kgate does
//! not collect.

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

/// Emits one librdkafka log line as a `tracing` event of the matching level; other
/// client contexts (e.g. consumers') may call it from their own `log`.
pub fn log_librdkafka(level: RDKafkaLogLevel, facility: &str, message: &str) {
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
    tracing::warn!(target: "librdkafka", error = %error, "{reason}");
}
