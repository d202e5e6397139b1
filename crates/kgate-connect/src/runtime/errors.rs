//! What a sink task does with a record it cannot convert, under Apache's settings:
//! `errors.tolerance=none` (the default) fails the task; `all` skips the record, logs it
//! with `errors.log.enable` (and its key and value with `errors.log.include.messages`),
//! and writes it as it was read to `errors.deadletterqueue.topic.name` when set, with
//! Apache's `__connect.errors.*` headers when
//! `errors.deadletterqueue.context.headers.enable=true`.

use std::collections::BTreeMap;

use kgate_kafka::consumer::ConsumedRecord;
use kgate_kafka::{KafkaError, ProduceRecord};

use super::TaskContext;

/// A stage of a record's processing, as Apache names it in its error headers.
#[derive(Debug, Clone, Copy)]
// Apache's stage names (KEY_CONVERTER, ...).
#[allow(clippy::enum_variant_names)]
pub(crate) enum Stage {
    /// The key converter.
    KeyConverter,
    /// The value converter.
    ValueConverter,
    /// The header converter.
    HeaderConverter,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::KeyConverter => "KEY_CONVERTER",
            Stage::ValueConverter => "VALUE_CONVERTER",
            Stage::HeaderConverter => "HEADER_CONVERTER",
        }
    }

    fn slot(self) -> &'static str {
        match self {
            Stage::KeyConverter => "key.converter",
            Stage::ValueConverter => "value.converter",
            Stage::HeaderConverter => "header.converter",
        }
    }
}

/// The dead letter queue of a sink connector.
struct DeadLetterQueue {
    topic: String,
    replication: i32,
    context_headers: bool,
    ready: bool,
}

/// How a sink task's failing records are handled.
pub(crate) struct ErrorHandler {
    tolerate_all: bool,
    log: bool,
    log_messages: bool,
    dlq: Option<DeadLetterQueue>,
}

fn flag(properties: &BTreeMap<String, String>, key: &str) -> Result<bool, String> {
    match properties.get(key).map(|v| v.trim()) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(format!(
            "Invalid value {v} for configuration {key}: Expected value to be either true or false"
        )),
    }
}

impl ErrorHandler {
    /// The connector's error settings.
    pub(crate) fn of(context: &TaskContext) -> Result<ErrorHandler, String> {
        let p = &context.properties;
        let tolerate_all = match p.get("errors.tolerance").map(|v| v.trim()) {
            None | Some("none") => false,
            Some("all") => true,
            Some(other) => {
                return Err(format!(
                    "Invalid value {other} for configuration errors.tolerance: String must be one of: none, all"
                ));
            }
        };
        let dlq = match p
            .get("errors.deadletterqueue.topic.name")
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
        {
            None => None,
            Some(topic) => Some(DeadLetterQueue {
                topic: topic.to_string(),
                // Apache's default is 3; kgate's is the broker's own default.
                replication: match p.get("errors.deadletterqueue.topic.replication.factor") {
                    None => -1,
                    Some(r) => r.trim().parse().map_err(|_| {
                        format!("Invalid value {r} for configuration errors.deadletterqueue.topic.replication.factor: Not a number of type SHORT")
                    })?,
                },
                context_headers: flag(p, "errors.deadletterqueue.context.headers.enable")?,
                ready: false,
            }),
        };
        Ok(ErrorHandler {
            tolerate_all,
            log: flag(p, "errors.log.enable")?,
            log_messages: flag(p, "errors.log.include.messages")?,
            dlq,
        })
    }

    /// Handles `record` failing at `stage`: `Ok` when the record is to be skipped (it
    /// was reported), `Err` with the task's failure otherwise.
    pub(crate) async fn failed(
        &mut self,
        context: &TaskContext,
        record: &ConsumedRecord,
        stage: Stage,
        error: String,
    ) -> Result<(), String> {
        let message = format!("Conversion error: {error}");
        if !self.tolerate_all {
            return Err(format!("Tolerance exceeded in error handler: {message}"));
        }
        if self.log {
            if self.log_messages {
                tracing::error!(
                    connector = %context.connector, task = context.task, stage = stage.name(),
                    topic = %record.topic, partition = record.partition, offset = record.offset,
                    key = ?record.key.as_deref().map(String::from_utf8_lossy),
                    value = ?record.value.as_deref().map(String::from_utf8_lossy),
                    error = %message, "Error encountered in task; the record is skipped"
                );
            } else {
                tracing::error!(
                    connector = %context.connector, task = context.task, stage = stage.name(),
                    topic = %record.topic, partition = record.partition, offset = record.offset,
                    error = %message, "Error encountered in task; the record is skipped"
                );
            }
        }
        if let Some(dlq) = self.dlq.as_mut() {
            dlq.send(context, record, stage, &message)
                .await
                .map_err(|e| {
                    format!(
                        "Could not write to the dead letter queue {}: {e}",
                        dlq.topic
                    )
                })?;
        }
        Ok(())
    }
}

impl DeadLetterQueue {
    async fn send(
        &mut self,
        context: &TaskContext,
        record: &ConsumedRecord,
        stage: Stage,
        message: &str,
    ) -> Result<(), KafkaError> {
        if !self.ready {
            let mut configs = BTreeMap::new();
            configs.insert("cleanup.policy".to_string(), "delete".to_string());
            match context
                .kafka
                .create_topic(&self.topic, 1, self.replication, &configs)
                .await
            {
                Ok(()) | Err(KafkaError::TopicAlreadyExists(_)) => self.ready = true,
                Err(e) => return Err(e),
            }
        }
        let mut headers: Vec<(String, Option<Vec<u8>>)> = record
            .headers
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        if self.context_headers {
            let class = context
                .properties
                .get(stage.slot())
                .cloned()
                .or_else(|| context.config.properties.get(stage.slot()).cloned())
                .unwrap_or_default();
            for (name, value) in [
                ("__connect.errors.topic", record.topic.to_string()),
                ("__connect.errors.partition", record.partition.to_string()),
                ("__connect.errors.offset", record.offset.to_string()),
                ("__connect.errors.connector.name", context.connector.clone()),
                ("__connect.errors.task.id", context.task.to_string()),
                ("__connect.errors.stage", stage.name().to_string()),
                ("__connect.errors.class.name", class),
                (
                    "__connect.errors.exception.class.name",
                    "org.apache.kafka.connect.errors.DataException".to_string(),
                ),
                ("__connect.errors.exception.message", message.to_string()),
                (
                    "__connect.errors.exception.stacktrace",
                    format!("org.apache.kafka.connect.errors.DataException: {message}"),
                ),
            ] {
                headers.push((name.to_string(), Some(value.into_bytes())));
            }
        }
        let written = context
            .kafka
            .produce(
                &self.topic,
                vec![ProduceRecord {
                    key: record.key.as_deref().map(<[u8]>::to_vec),
                    value: record.value.as_deref().map(<[u8]>::to_vec),
                    partition: None,
                    headers,
                    timestamp: record.timestamp,
                }],
            )
            .await?;
        for w in written {
            w?;
        }
        Ok(())
    }
}
