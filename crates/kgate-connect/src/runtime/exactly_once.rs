//! A source task's loop with exactly-once support (`exactly.once.source.support=enabled`,
//! distributed workers): each transaction holds the task's records and the source
//! offsets they reach, written to the offsets topic, so after a crash the task resumes
//! exactly after the last records that became visible, as Apache's transactional source
//! tasks do.
//!
//! The task's producer has Apache's `transactional.id` (`<group.id>-<connector>-<task>`):
//! starting it fences any older instance of the task and aborts the transaction that
//! instance left open, and only then are the stored offsets read. Transactions end after
//! each poll (`transaction.boundary=poll`, the default) or every
//! `transaction.boundary.interval.ms` (`interval`).

use std::time::{Duration, Instant};

use kgate_kafka::ProduceRecord;
use kgate_kafka::transactions::TransactionalProducer;
use tokio::sync::watch;

use super::control::{Step, drive};
use super::source::{StoredOffsets, converted};
use super::{Control, RecordConverters, TaskContext};
use crate::plugins::{SourceRecord, SourceTask};
use crate::storage::JsonMap;
use crate::storage::records::offset_key;

/// How long a restarted task waits to read the offsets topic to its end.
const OFFSETS_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Where transactions end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Boundary {
    /// After the records of each poll.
    Poll,
    /// Every so often.
    Interval(Duration),
}

impl Boundary {
    fn of(context: &TaskContext) -> Result<Boundary, String> {
        let p = &context.properties;
        match p.get("transaction.boundary").map(|b| b.trim()) {
            None | Some("poll") => Ok(Boundary::Poll),
            Some("interval") => {
                let interval = match p.get("transaction.boundary.interval.ms") {
                    None => context.config.offset_flush_interval,
                    Some(ms) => Duration::from_millis(ms.trim().parse().map_err(|_| {
                        format!("Invalid value {ms} for configuration transaction.boundary.interval.ms: Not a number of type LONG")
                    })?),
                };
                Ok(Boundary::Interval(interval))
            }
            // FileStreamSource, like Apache's, defines no transactions of its own.
            Some("connector") => Err(format!(
                "The connector {} has requested the connector transaction boundary, but it does not define its own transactions",
                context.connector
            )),
            Some(other) => Err(format!(
                "Invalid value {other} for configuration transaction.boundary: String must be one of: poll, interval, connector"
            )),
        }
    }
}

/// Apache's transactional id of a source task.
pub fn transactional_id(group_id: &str, connector: &str, task: u32) -> String {
    format!("{group_id}-{connector}-{task}")
}

/// The open transaction: when it began and the latest offset of each source partition
/// its records reach.
struct Open {
    began: Instant,
    offsets: Vec<(JsonMap, JsonMap)>,
}

impl Open {
    fn reach(&mut self, partition: JsonMap, offset: JsonMap) {
        match self.offsets.iter_mut().find(|(p, _)| *p == partition) {
            Some(entry) => entry.1 = offset,
            None => self.offsets.push((partition, offset)),
        }
    }
}

/// Runs the task until it is stopped or fails; a failed transaction is aborted.
pub(super) async fn work(
    context: &TaskContext,
    task: &mut dyn SourceTask,
    control: &mut watch::Receiver<Control>,
) -> Result<(), String> {
    let converters = RecordConverters::new(context)?;
    let boundary = Boundary::of(context)?;
    let id = transactional_id(&context.config.group_id, &context.connector, context.task);
    let producer = context
        .kafka
        .transactional_producer(&id, &producer_settings(context))
        .await
        .map_err(|e| format!("Failed to start the transactional producer {id}: {e}"))?;
    tracing::debug!(transactional_id = %id, "transactional producer ready");
    let worked = transactions(context, task, control, &converters, boundary, &producer).await;
    if worked.is_err()
        && let Err(e) = producer.abort().await
    {
        tracing::debug!(transactional_id = %id, error = %e, "aborting after a failure failed too");
    }
    producer.close().await;
    worked
}

/// The worker's `producer.*` settings, then the connector's `producer.override.*` ones.
fn producer_settings(context: &TaskContext) -> std::collections::BTreeMap<String, String> {
    let mut settings = context.config.producer.clone();
    if context.config.client_override_policy != "None" {
        for (k, v) in &context.properties {
            if let Some(k) = k.strip_prefix("producer.override.") {
                settings.insert(k.to_string(), v.clone());
            }
        }
    }
    settings
}

async fn transactions(
    context: &TaskContext,
    task: &mut dyn SourceTask,
    control: &mut watch::Receiver<Control>,
    converters: &RecordConverters,
    boundary: Boundary,
    producer: &TransactionalProducer,
) -> Result<(), String> {
    // Starting the producer aborted whatever an earlier instance left open: the offsets
    // topic now reads to its final state for this task.
    context
        .stores
        .refresh_offsets(OFFSETS_READ_TIMEOUT)
        .await
        .map_err(|e| format!("Failed to read the offsets topic to its end: {e}"))?;
    tracing::debug!(connector = %context.connector, task = context.task, "offsets read; starting the task");
    task.start(&context.properties, &StoredOffsets { context })
        .await?;
    let mut step = Transactions {
        context,
        task,
        converters,
        boundary,
        producer,
        open: None,
        topics_seen: Vec::new(),
    };
    drive(context, control, &mut step).await
}

/// An exactly-once source task's step: its records and their offsets in transactions.
struct Transactions<'a> {
    context: &'a TaskContext,
    task: &'a mut dyn SourceTask,
    converters: &'a RecordConverters,
    boundary: Boundary,
    producer: &'a TransactionalProducer,
    open: Option<Open>,
    topics_seen: Vec<String>,
}

impl Step for Transactions<'_> {
    type Batch = Vec<SourceRecord>;

    async fn fetch(&mut self) -> Result<Vec<SourceRecord>, String> {
        self.task.poll().await
    }

    async fn process(&mut self, records: Vec<SourceRecord>) -> Result<(), String> {
        if !records.is_empty() {
            if self.open.is_none() {
                self.producer
                    .begin()
                    .await
                    .map_err(|e| format!("Failed to begin a transaction: {e}"))?;
                self.open = Some(Open {
                    began: Instant::now(),
                    offsets: Vec::new(),
                });
            }
            if let Some(open) = self.open.as_mut() {
                for r in records {
                    let record =
                        converted(self.context, self.converters, &r, &mut self.topics_seen).await?;
                    self.producer
                        .send(&r.topic, record.as_ref())
                        .await
                        .map_err(|e| {
                            format!("Unrecoverable exception from producer send callback: {e}")
                        })?;
                    open.reach(r.partition, r.offset);
                }
            }
        }
        let due = match (self.boundary, &self.open) {
            (_, None) => false,
            (Boundary::Poll, Some(_)) => true,
            (Boundary::Interval(every), Some(o)) => o.began.elapsed() >= every,
        };
        if due {
            self.commit().await?;
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), String> {
        commit(self.context, self.producer, self.open.take()).await
    }
}

/// Adds the offsets to the open transaction and commits it; the offsets then count for
/// this worker at once (its offsets reader sees them a little later).
async fn commit(
    context: &TaskContext,
    producer: &TransactionalProducer,
    open: Option<Open>,
) -> Result<(), String> {
    let Some(open) = open else { return Ok(()) };
    let topic = context
        .stores
        .offset_topic()
        .ok_or("exactly-once source tasks need the offsets topic of a distributed worker")?
        .to_string();
    for (partition, offset) in &open.offsets {
        let record = ProduceRecord {
            key: Some(offset_key(&context.connector, partition)),
            value: Some(serde_json::to_vec(offset).map_err(|e| e.to_string())?),
            ..ProduceRecord::default()
        };
        producer
            .send(&topic, record.as_ref())
            .await
            .map_err(|e| format!("Failed to write offsets to {topic}: {e}"))?;
    }
    producer
        .commit()
        .await
        .map_err(|e| format!("Failed to commit a transaction: {e}"))?;
    tracing::trace!(connector = %context.connector, task = context.task, "committed a transaction");
    let offsets = open
        .offsets
        .into_iter()
        .map(|(p, o)| (p, Some(o)))
        .collect();
    context.stores.note_offsets(&context.connector, offsets);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactional_ids_are_apaches() {
        assert_eq!(
            transactional_id("connect-cluster", "file-in", 0),
            "connect-cluster-file-in-0"
        );
    }
}
