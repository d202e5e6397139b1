//! A source task's loop: poll the task, convert each record, produce it (acks=all,
//! idempotent), and store the offsets of the records Kafka acknowledged, in the order
//! they were polled, every `offset.flush.interval.ms` and when the task stops.

use std::collections::VecDeque;
use std::time::Instant;

use kgate_kafka::{Delivered, DeliveryQueue, ProduceRecord};
use tokio::sync::watch;

use super::control::{Step, drive};
use super::{Control, RecordConverters, TaskContext, trace};
use crate::plugins::{OffsetReader, SourceRecord, SourceTask};
use crate::storage::JsonMap;
use crate::storage::records::StatusKey;

/// Reads offsets from the worker's offset store.
pub(super) struct StoredOffsets<'a> {
    pub(super) context: &'a TaskContext,
}

impl OffsetReader for StoredOffsets<'_> {
    fn offset(&self, partition: &JsonMap) -> Option<JsonMap> {
        self.context
            .stores
            .offsets(|o| o.get(&self.context.connector, partition).cloned())
    }
}

/// The offsets of records sent, waiting for their acknowledgements (in send order), and
/// the latest acknowledged offset of each source partition.
#[derive(Default)]
struct Offsets {
    in_flight: VecDeque<(JsonMap, JsonMap)>,
    acknowledged: Vec<(JsonMap, JsonMap)>,
}

impl Offsets {
    fn acknowledge(&mut self) {
        if let Some((partition, offset)) = self.in_flight.pop_front() {
            match self.acknowledged.iter_mut().find(|(p, _)| *p == partition) {
                Some(entry) => entry.1 = offset,
                None => self.acknowledged.push((partition, offset)),
            }
        }
    }
}

/// Runs the task until it is stopped or fails.
pub(crate) async fn run(
    context: TaskContext,
    mut task: Box<dyn SourceTask>,
    mut control: watch::Receiver<Control>,
) {
    let key = StatusKey::Task(context.connector.clone(), context.task);
    // Standalone workers keep offsets in a file, which cannot join a transaction:
    // exactly-once support is for distributed workers, as in Apache.
    let exactly_once =
        context.config.exactly_once_source && context.stores.offset_topic().is_some();
    let worked = if exactly_once {
        super::exactly_once::work(&context, task.as_mut(), &mut control).await
    } else {
        work(&context, task.as_mut(), &mut control).await
    };
    match worked {
        Ok(()) => {}
        Err(message) => {
            tracing::warn!(connector = %context.connector, task = context.task, error = %message, "source task failed");
            context
                .status
                .write(key, "FAILED", Some(trace(&message)))
                .await;
        }
    }
    task.stop().await;
}

async fn work(
    context: &TaskContext,
    task: &mut dyn SourceTask,
    control: &mut watch::Receiver<Control>,
) -> Result<(), String> {
    let converters = RecordConverters::new(context)?;
    let queue = context.kafka.delivery_queue().map_err(|e| e.to_string())?;
    task.start(&context.properties, &StoredOffsets { context })
        .await?;
    let mut step = Produce {
        context,
        task,
        converters,
        queue,
        offsets: Offsets::default(),
        last_flush: Instant::now(),
        topics_seen: Vec::new(),
        delivered: VecDeque::new(),
    };
    drive(context, control, &mut step).await
}

/// A source task's step: its records produced, their offsets stored once acknowledged.
struct Produce<'a> {
    context: &'a TaskContext,
    task: &'a mut dyn SourceTask,
    converters: RecordConverters,
    queue: DeliveryQueue,
    offsets: Offsets,
    last_flush: Instant,
    topics_seen: Vec<String>,
    delivered: VecDeque<Delivered>,
}

impl Step for Produce<'_> {
    type Batch = Vec<SourceRecord>;

    async fn fetch(&mut self) -> Result<Vec<SourceRecord>, String> {
        self.task.poll().await
    }

    async fn process(&mut self, records: Vec<SourceRecord>) -> Result<(), String> {
        for r in records {
            let record =
                converted(self.context, &self.converters, &r, &mut self.topics_seen).await?;
            self.queue
                .send_waiting(&r.topic, record.as_ref())
                .await
                .map_err(|e| format!("Unrecoverable exception from producer send callback: {e}"))?;
            self.offsets.in_flight.push_back((r.partition, r.offset));
        }
        take_delivered(&mut self.queue, &mut self.offsets, &mut self.delivered)?;
        if self.last_flush.elapsed() >= self.context.config.offset_flush_interval {
            self.commit().await?;
            self.last_flush = Instant::now();
        }
        Ok(())
    }

    /// Waits for every record in flight, then stores the acknowledged offsets.
    async fn commit(&mut self) -> Result<(), String> {
        drain(&mut self.queue, &mut self.offsets, &mut self.delivered).await?;
        commit(self.context, &mut self.offsets).await
    }
}

/// A source record as the record to produce; notes (once) that the connector used its
/// topic.
pub(super) async fn converted(
    context: &TaskContext,
    converters: &RecordConverters,
    r: &SourceRecord,
    topics_seen: &mut Vec<String>,
) -> Result<ProduceRecord, String> {
    let key = converters
        .key
        .from_connect(&r.topic, &r.key)
        .await
        .map_err(|e| format!("Conversion error: {e}"))?;
    let value = converters
        .value
        .from_connect(&r.topic, &r.value)
        .await
        .map_err(|e| format!("Conversion error: {e}"))?;
    if !topics_seen.contains(&r.topic) {
        context
            .stores
            .write_topic_status(&context.connector, context.task, &r.topic)
            .await
            .map_err(|e| e.to_string())?;
        topics_seen.push(r.topic.clone());
    }
    let mut headers = Vec::with_capacity(r.headers.len());
    for (name, data) in &r.headers {
        let bytes = converters
            .header
            .from_connect(&r.topic, data)
            .await
            .map_err(|e| format!("Conversion error of header {name}: {e}"))?;
        headers.push((name.clone(), bytes));
    }
    Ok(ProduceRecord {
        key,
        value,
        partition: r.kafka_partition,
        timestamp: r.timestamp,
        headers,
    })
}

/// Takes the acknowledgements already known, without waiting.
fn take_delivered(
    queue: &mut DeliveryQueue,
    offsets: &mut Offsets,
    delivered: &mut VecDeque<Delivered>,
) -> Result<(), String> {
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let _ = queue.poll_delivered(&mut cx, delivered, usize::MAX);
    settle(offsets, delivered)
}

fn settle(offsets: &mut Offsets, delivered: &mut VecDeque<Delivered>) -> Result<(), String> {
    while let Some(outcome) = delivered.pop_front() {
        outcome.map_err(|e| format!("Unrecoverable exception from producer send callback: {e}"))?;
        offsets.acknowledge();
    }
    Ok(())
}

/// Waits for every record in flight.
async fn drain(
    queue: &mut DeliveryQueue,
    offsets: &mut Offsets,
    delivered: &mut VecDeque<Delivered>,
) -> Result<(), String> {
    while !offsets.in_flight.is_empty() {
        std::future::poll_fn(|cx| queue.poll_delivered(cx, delivered, usize::MAX)).await;
        if delivered.is_empty() {
            return Err("a delivery report is missing".to_string());
        }
        settle(offsets, delivered)?;
    }
    Ok(())
}

/// Stores the acknowledged offsets.
async fn commit(context: &TaskContext, offsets: &mut Offsets) -> Result<(), String> {
    if offsets.acknowledged.is_empty() {
        return Ok(());
    }
    let written: Vec<(JsonMap, Option<JsonMap>)> = offsets
        .acknowledged
        .drain(..)
        .map(|(p, o)| (p, Some(o)))
        .collect();
    context
        .stores
        .write_offsets(&context.connector, written)
        .await
        .map_err(|e| format!("Failed to commit offsets: {e}"))
}
