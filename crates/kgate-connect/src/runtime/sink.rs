//! A sink task's loop: consume in the group `connect-<connector>`, convert, put, and
//! commit the offsets of what was put once the task has flushed it, every
//! `offset.flush.interval.ms` and when the task stops.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use kgate_kafka::consumer::{
    ConsumedRecord, ConsumerHandle, ConsumerSettings, PartitionOffset, ReadLimits, Subscription,
    TopicPartition,
};
use tokio::sync::watch;

use super::control::{Step, drive};
use super::errors::{ErrorHandler, Stage};
use super::{Control, RecordConverters, TaskContext, trace};
use crate::plugins::{SinkRecord, SinkTask};
use crate::storage::records::StatusKey;

/// Most bytes of records one put receives.
const READ_BYTES: u64 = 4 * 1024 * 1024;

/// Runs the task until it is stopped or fails.
pub(crate) async fn run(
    context: TaskContext,
    mut task: Box<dyn SinkTask>,
    mut control: watch::Receiver<Control>,
) {
    let key = StatusKey::Task(context.connector.clone(), context.task);
    let mut consumer = None;
    if let Err(message) = work(&context, task.as_mut(), &mut control, &mut consumer).await {
        tracing::warn!(connector = %context.connector, task = context.task, error = %message, "sink task failed");
        context
            .status
            .write(key, "FAILED", Some(trace(&message)))
            .await;
    }
    task.stop().await;
    if let Some(consumer) = consumer {
        let _ = consumer.close().await;
    }
}

/// The group of a sink connector's consumers (Apache's `connect-<name>`).
pub fn group_of(connector: &str) -> String {
    format!("connect-{connector}")
}

fn subscription(properties: &BTreeMap<String, String>) -> Result<Subscription, String> {
    let topics: Vec<String> = properties
        .get("topics")
        .map(|t| {
            t.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let regex = properties
        .get("topics.regex")
        .filter(|r| !r.trim().is_empty());
    match (topics.is_empty(), regex) {
        (false, None) => Ok(Subscription::Topics(topics)),
        (true, Some(r)) => Ok(Subscription::Pattern(r.clone())),
        (false, Some(_)) => {
            Err("topics and topics.regex are mutually exclusive options, but both are set.".into())
        }
        (true, None) => Err("Must configure one of topics or topics.regex".into()),
    }
}

async fn work(
    context: &TaskContext,
    task: &mut dyn SinkTask,
    control: &mut watch::Receiver<Control>,
    consumer_slot: &mut Option<ConsumerHandle>,
) -> Result<(), String> {
    let converters = RecordConverters::new(context)?;
    let errors = ErrorHandler::of(context)?;
    let subscription = subscription(&context.properties)?;
    // Worker `consumer.*` settings, then the connector's `consumer.override.*` ones.
    let mut overrides = context.config.consumer.clone();
    overrides.remove("max.poll.records");
    if context.config.client_override_policy != "None" {
        for (k, v) in &context.properties {
            if let Some(k) = k.strip_prefix("consumer.override.") {
                overrides.insert(k.to_string(), v.clone());
            }
        }
    }
    overrides.insert("enable.auto.commit".into(), "false".into());
    overrides
        .entry("auto.offset.reset".into())
        .or_insert_with(|| "earliest".into());
    let group = group_of(&context.connector);
    let consumer = context
        .kafka
        .create_consumer(ConsumerSettings {
            group_id: group.clone(),
            client_id: format!("connector-consumer-{}-{}", context.connector, context.task),
            overrides,
        })
        .await
        .map_err(|e| format!("Failed to create the consumer: {e}"))?;
    let consumer = consumer_slot.insert(consumer);

    // What the task committed before (the file sink's length marks).
    let mut committed_metadata = Vec::new();
    // Partitions with a committed offset: a partition without one gets its starting
    // point committed (with the task's flush metadata) before its first records are put,
    // so a task that crashes before its first regular commit finds a mark too.
    let mut committed: HashSet<(String, i32)> = HashSet::new();
    if let Subscription::Topics(topics) = &subscription {
        let mut partitions = Vec::new();
        for t in topics {
            if let Ok(meta) = context.kafka.topic(t).await {
                partitions.extend(meta.partitions.iter().map(|p| TopicPartition {
                    topic: t.clone(),
                    partition: p.id,
                }));
            }
        }
        if !partitions.is_empty() {
            for o in consumer
                .committed(partitions)
                .await
                .map_err(|e| format!("Failed to read the committed offsets: {e}"))?
            {
                committed.insert((o.topic.clone(), o.partition));
                committed_metadata.push(o.metadata);
            }
        }
    }
    task.start(&context.properties, &committed_metadata).await?;
    consumer
        .subscribe(subscription)
        .await
        .map_err(|e| format!("Failed to subscribe: {e}"))?;

    let mut step = Put {
        context,
        task,
        consumer,
        converters,
        errors,
        committed,
        positions: BTreeMap::new(),
        last_commit: Instant::now(),
        topics_seen: Vec::new(),
    };
    drive(context, control, &mut step).await
}

/// A sink task's step: consumed records converted and put, their offsets committed once
/// the task has flushed them.
struct Put<'a> {
    context: &'a TaskContext,
    task: &'a mut dyn SinkTask,
    consumer: &'a ConsumerHandle,
    converters: RecordConverters,
    errors: ErrorHandler,
    /// Partitions with a committed offset (see `work`).
    committed: HashSet<(String, i32)>,
    /// The next offset of each partition whose records were put since the last commit.
    positions: BTreeMap<(String, i32), i64>,
    last_commit: Instant,
    topics_seen: Vec<String>,
}

impl Step for Put<'_> {
    type Batch = Vec<ConsumedRecord>;

    async fn fetch(&mut self) -> Result<Vec<ConsumedRecord>, String> {
        let limits = ReadLimits {
            timeout: Duration::from_millis(500),
            max_bytes: READ_BYTES,
            min_bytes: READ_BYTES,
        };
        self.consumer
            .read(limits)
            .await
            .map_err(|e| format!("Failed to consume: {e}"))
    }

    async fn process(&mut self, records: Vec<ConsumedRecord>) -> Result<(), String> {
        if !records.is_empty() {
            let batch = self.converted(&records).await?;
            self.commit_starts(&records).await?;
            self.task.put(batch).await?;
            for r in &records {
                self.positions
                    .insert((r.topic.to_string(), r.partition), r.offset + 1);
            }
        }
        if self.last_commit.elapsed() >= self.context.config.offset_flush_interval {
            self.commit().await?;
            self.last_commit = Instant::now();
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), String> {
        commit(self.consumer, self.task, &mut self.positions).await
    }
}

impl Put<'_> {
    /// The records as the task receives them; one that cannot be converted goes to the
    /// error handler (which fails the task unless errors are tolerated).
    async fn converted(&mut self, records: &[ConsumedRecord]) -> Result<Vec<SinkRecord>, String> {
        let context = self.context;
        let converters = &self.converters;
        let mut batch = Vec::with_capacity(records.len());
        for r in records {
            let key = match converters.key.to_connect(&r.topic, r.key.as_deref()).await {
                Ok(k) => k,
                Err(e) => {
                    self.errors
                        .failed(context, r, Stage::KeyConverter, e.to_string())
                        .await?;
                    continue;
                }
            };
            let value = match converters
                .value
                .to_connect(&r.topic, r.value.as_deref())
                .await
            {
                Ok(v) => v,
                Err(e) => {
                    self.errors
                        .failed(context, r, Stage::ValueConverter, e.to_string())
                        .await?;
                    continue;
                }
            };
            let mut headers = Vec::with_capacity(r.headers.len());
            let mut header_error = None;
            for h in &r.headers {
                match converters
                    .header
                    .to_connect(&r.topic, h.value.as_deref())
                    .await
                {
                    Ok(data) => headers.push((h.name.clone(), data)),
                    Err(e) => {
                        header_error = Some(format!("header {}: {e}", h.name));
                        break;
                    }
                }
            }
            if let Some(e) = header_error {
                self.errors
                    .failed(context, r, Stage::HeaderConverter, e)
                    .await?;
                continue;
            }
            if !self.topics_seen.iter().any(|t| **t == *r.topic) {
                context
                    .stores
                    .write_topic_status(&context.connector, context.task, &r.topic)
                    .await
                    .map_err(|e| e.to_string())?;
                self.topics_seen.push(r.topic.to_string());
            }
            batch.push(SinkRecord {
                topic: r.topic.to_string(),
                partition: r.partition,
                offset: r.offset,
                key,
                value,
                timestamp: r.timestamp,
                headers,
            });
        }
        Ok(batch)
    }

    /// Commits the starting point of each partition of `records` that has no committed
    /// offset yet, with the task's flush metadata, before its first records are put.
    async fn commit_starts(&mut self, records: &[ConsumedRecord]) -> Result<(), String> {
        let mut starts: Vec<PartitionOffset> = Vec::new();
        for r in records {
            let id = (r.topic.to_string(), r.partition);
            if !self.committed.contains(&id)
                && !starts
                    .iter()
                    .any(|s| s.topic == id.0 && s.partition == id.1)
            {
                starts.push(PartitionOffset {
                    topic: id.0,
                    partition: id.1,
                    offset: r.offset,
                    metadata: String::new(),
                });
            }
        }
        if starts.is_empty() {
            return Ok(());
        }
        let metadata = self.task.flush().await?;
        for s in &mut starts {
            s.metadata.clone_from(&metadata);
            self.committed.insert((s.topic.clone(), s.partition));
        }
        self.consumer
            .commit(Some(starts))
            .await
            .map_err(|e| format!("Commit of offsets failed: {e}"))?;
        Ok(())
    }
}

/// Flushes the task and commits the offsets of what it was given, on the partitions the
/// consumer still holds (a partition moved to another task is that task's to commit).
async fn commit(
    consumer: &ConsumerHandle,
    task: &mut dyn SinkTask,
    positions: &mut BTreeMap<(String, i32), i64>,
) -> Result<(), String> {
    let metadata = task.flush().await?;
    if positions.is_empty() {
        return Ok(());
    }
    let held = consumer
        .assignment()
        .await
        .map_err(|e| format!("Failed to read the assignment: {e}"))?;
    let offsets: Vec<PartitionOffset> = std::mem::take(positions)
        .into_iter()
        .filter(|((t, p), _)| held.iter().any(|h| h.topic == *t && h.partition == *p))
        .map(|((topic, partition), offset)| PartitionOffset {
            topic,
            partition,
            offset,
            metadata: metadata.clone(),
        })
        .collect();
    if offsets.is_empty() {
        return Ok(());
    }
    consumer
        .commit(Some(offsets))
        .await
        .map_err(|e| format!("Commit of offsets failed: {e}"))?;
    Ok(())
}
