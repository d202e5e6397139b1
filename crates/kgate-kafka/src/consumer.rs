//! Consumer handles: one librdkafka consumer per handle, driven by a task of its own.
//!
//! The task owns the consumer and runs one command at a time. Each step that calls
//! librdkafka (poll, subscribe, assign, seek, commit, committed, close) runs on the
//! blocking pool and gives its thread back when it ends; waiting (for records, through
//! librdkafka's "queue no longer empty" callback, for a slow reader to take a chunk, or for
//! the next command) happens on the async runtime. An instance therefore holds no thread
//! of kgate's between steps, only the threads of its librdkafka client.
//!
//! The task also keeps a subscribed consumer alive between requests: it polls it whenever
//! librdkafka queues an event, so group rebalances complete promptly even while no client
//! is reading, and keeps the records such polls return until a client reads them.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc::error::{TryRecvError, TrySendError};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::{Notify, oneshot};

use crate::{Kafka, KafkaError};

/// Longest wait for records or group events in one go: how late a close is noticed by a
/// read, and how soon an idle subscribed consumer whose queue may still hold events is
/// polled again.
const IDLE_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How often an idle subscribed consumer is polled when librdkafka has signalled nothing:
/// its queue's callback wakes it for every event, so this only bounds a missed one.
const IDLE_POLL_FALLBACK: Duration = Duration::from_secs(1);

/// Records kept in memory ahead of reads before the consumer's partitions are paused.
const PREFETCH_LIMIT_BYTES: u64 = 4 * 1024 * 1024;

/// librdkafka's pause after its local fetch queue filled up; kgate's default is 10 ms.
const FETCH_QUEUE_BACKOFF: &str = "fetch.queue.backoff.ms";

/// Records polled ahead between two looks for a waiting command.
const REFILL_STEP: usize = 64;

/// Longest wait for a blocking librdkafka call other than a read.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a seek keeps retrying while a freshly assigned partition starts fetching.
const SEEK_RETRY_WINDOW: Duration = Duration::from_secs(5);

/// Size of the blocks polled keys and values are copied into: one allocation per block
/// rather than two per record (allocating on the consumer's thread and freeing on
/// another measured as a good part of the thread's time).
const ARENA_BLOCK: usize = 64 * 1024;

/// Most records in one chunk of a read.
const CHUNK_RECORDS: usize = 1024;

/// Most bytes of keys and values in one chunk of a read (one record may exceed it).
const CHUNK_BYTES: u64 = 256 * 1024;

/// How long a read waits for its reader (the HTTP client receiving the response) to take
/// a chunk before it ends: a stalled client must not hold the consumer forever.
const READER_STALL_LIMIT: Duration = Duration::from_secs(30);

/// Chunks of a read handed over but not yet taken by the reader: enough for polling and
/// encoding to overlap, few enough to keep a large read's memory small.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Longest wait for each lookup an assignment makes first (the committed offsets, the
/// leaders of topics new to the consumer); past it librdkafka finds them by itself, as
/// it would without kgate's lookups.
const START_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// First wait of one committed-offset lookup; doubled after each that times out.
const START_LOOKUP_FIRST_TRY: Duration = Duration::from_millis(20);

/// One partition of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic name.
    pub topic: String,
    /// The partition id.
    pub partition: i32,
}

/// Where a seek moves a partition's next read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekTarget {
    /// To this offset.
    Offset(i64),
    /// To the first offset still in the log.
    Beginning,
    /// To the offset the next produced record will get.
    End,
}

/// An offset of one partition, with the metadata committed alongside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOffset {
    /// The topic name.
    pub topic: String,
    /// The partition id.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The commit metadata (empty when none).
    pub metadata: String,
}

/// What a consumer asked its group for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// These topics.
    Topics(Vec<String>),
    /// Every topic whose whole name matches this regular expression.
    Pattern(String),
}

/// One header of a consumed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// The header's name.
    pub name: String,
    /// The header's value; `None` for a null value.
    pub value: Option<Vec<u8>>,
}

/// A record handed out by a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// The topic it was read from (shared by the records of one topic, rather than a
    /// string per record).
    pub topic: Arc<str>,
    /// The partition it was read from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its timestamp in milliseconds since the epoch, when it has one.
    pub timestamp: Option<i64>,
    /// Its key; `None` for a null key.
    pub key: Option<Bytes>,
    /// Its value; `None` for a null value.
    pub value: Option<Bytes>,
    /// Its headers, in order.
    pub headers: Vec<RecordHeader>,
}

impl ConsumedRecord {
    /// Bytes of key and value, the measure read limits are expressed in.
    pub fn size(&self) -> u64 {
        let key = self.key.as_ref().map_or(0, Bytes::len);
        let value = self.value.as_ref().map_or(0, Bytes::len);
        (key + value) as u64
    }

    fn tp(&self) -> TopicPartition {
        TopicPartition {
            topic: self.topic.to_string(),
            partition: self.partition,
        }
    }
}

/// Bounds of one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// The read returns by then, with whatever it has.
    pub timeout: Duration,
    /// Bytes of keys and values not to exceed, except that one record is returned even
    /// when it alone is larger.
    pub max_bytes: u64,
    /// The read returns early once it holds at least this many bytes (and at least one
    /// record) and nothing more is immediately available.
    pub min_bytes: u64,
}

/// Per-handle settings beyond the configured `client.*` / `consumer.*` layers.
#[derive(Debug, Clone, Default)]
pub struct ConsumerSettings {
    /// The consumer group (`group.id`).
    pub group_id: String,
    /// The client id announced to the brokers (`client.id`); empty keeps the configured one.
    pub client_id: String,
    /// librdkafka settings applied last (e.g. `auto.offset.reset`, `enable.auto.commit`).
    pub overrides: BTreeMap<String, String>,
}

type Reply<T> = oneshot::Sender<Result<T, KafkaError>>;

enum Command {
    /// Carried out by the worker in one step.
    Step(Step),
    /// Carried out by the consumer's task, over as many steps as the read takes.
    Read(ReadLimits, ChunkSender),
    Close(Reply<()>),
}

/// What the worker carries out in one step (see [`Worker::handle`]).
enum Step {
    Subscribe(Subscription, Reply<()>),
    Unsubscribe(Reply<()>),
    Assign(Vec<TopicPartition>, Reply<()>),
    Assignment(Reply<Vec<TopicPartition>>),
    Seek(Vec<(TopicPartition, SeekTarget)>, Reply<()>),
    Commit(Option<Vec<PartitionOffset>>, Reply<Vec<PartitionOffset>>),
    Committed(Vec<TopicPartition>, Reply<Vec<PartitionOffset>>),
    /// Records a read handed over that its reader did not deliver, given back in their
    /// order, with the epoch of that read.
    Unread(u64, Vec<ConsumedRecord>),
}

/// What a read hands over: its records in order, a chunk at a time, the last one marked.
struct ReadChunk {
    records: Vec<ConsumedRecord>,
    last: bool,
    /// The worker's epoch when the records were handed over (see [`Worker::epoch`]).
    epoch: u64,
}

type ChunkSender = tokio::sync::mpsc::Sender<Result<ReadChunk, KafkaError>>;

/// The records of one read, handed over in chunks while the consumer's task is still
/// polling the next ones, so a large read is encoded as it is read and never held whole.
///
/// Records the reader could not deliver go back with [`RecordChunks::give_back`]; when
/// the reader is dropped before the read ended, the chunks handed over but not taken go
/// back by themselves, so nothing polled is skipped.
pub struct RecordChunks {
    chunks: tokio::sync::mpsc::Receiver<Result<ReadChunk, KafkaError>>,
    /// Where given-back records are sent.
    commands: UnboundedSender<Command>,
    /// The epoch of the chunks received.
    epoch: Option<u64>,
    done: bool,
}

impl RecordChunks {
    /// The next chunk of records (never empty); `None` once the read has ended. An error
    /// ends the read; records of chunks taken before it count as delivered.
    pub async fn next(&mut self) -> Option<Result<Vec<ConsumedRecord>, KafkaError>> {
        while !self.done {
            let received = self.chunks.recv().await;
            match received {
                Some(Ok(chunk)) => {
                    self.done = chunk.last;
                    self.epoch = Some(chunk.epoch);
                    if !chunk.records.is_empty() {
                        return Some(Ok(chunk.records));
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                None => {
                    self.done = true;
                    return Some(Err(KafkaError::Internal("consumer is closed".into())));
                }
            }
        }
        None
    }

    /// Whether the read has ended: [`next`](Self::next) has nothing more to give.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Ends the read and hands `records` (taken from this read, in order, not delivered
    /// to the client), followed by every chunk not taken yet, back to the consumer: its
    /// next read starts with them, and an empty commit, the stored offsets and the
    /// positions of their partitions go back to the first of them.
    pub fn give_back(&mut self, mut records: Vec<ConsumedRecord>) {
        self.done = true;
        // No chunk can be added once closed; the consumer's task keeps the one it was
        // handing over, in front of what it still holds.
        self.chunks.close();
        while let Ok(message) = self.chunks.try_recv() {
            if let Ok(chunk) = message {
                self.epoch = Some(chunk.epoch);
                records.extend(chunk.records);
            }
        }
        if let (false, Some(epoch)) = (records.is_empty(), self.epoch) {
            // A closed consumer has nothing left to give back to.
            let _ = self
                .commands
                .send(Command::Step(Step::Unread(epoch, records)));
        }
    }
}

impl Drop for RecordChunks {
    fn drop(&mut self) {
        if !self.done {
            self.give_back(Vec::new());
        }
    }
}

/// A consumer in a group, driven by a task of its own; dropping the handle closes the
/// consumer (leaving its group) in the background.
pub struct ConsumerHandle {
    commands: UnboundedSender<Command>,
    closed: Arc<AtomicBool>,
    /// Set by `close` so that a read in progress returns at once instead of making the
    /// close wait for its timeout.
    interrupt: Arc<AtomicBool>,
}

impl Kafka {
    /// Starts a consumer in `settings.group_id`: `bootstrap.servers`, `client.*`,
    /// `consumer.*`, then `settings.overrides`. A setting librdkafka refuses is
    /// [`KafkaError::Config`].
    pub async fn create_consumer(
        &self,
        settings: ConsumerSettings,
    ) -> Result<ConsumerHandle, KafkaError> {
        crate::validate::check_protocol_string("consumer group name", &settings.group_id)?;
        crate::validate::check_protocol_string("client id", &settings.client_id)?;
        let mut layer = settings.overrides;
        layer.insert("group.id".to_string(), settings.group_id.clone());
        if !settings.client_id.is_empty() {
            layer.insert("client.id".to_string(), settings.client_id.clone());
        }
        // Offsets are stored only for records handed to a client, not for those merely
        // prefetched into the handle's buffer, so auto-commit never skips unread records.
        layer.insert("enable.auto.offset.store".to_string(), "false".to_string());
        layer.insert("enable.partition.eof".to_string(), "false".to_string());
        // librdkafka stops fetching for fetch.queue.backoff.ms (1 s by default) whenever
        // its local queue holds queued.min.messages; a client reading large batches
        // drains that queue in far less, and then sat idle for the rest of the second
        // (measured: 150k instead of 400k+ records/s). Configured values still win.
        let configured = |key: &str| {
            let c = self.config();
            c.client.contains_key(key) || c.consumer.contains_key(key) || layer.contains_key(key)
        };
        if !configured(FETCH_QUEUE_BACKOFF) {
            layer.insert(FETCH_QUEUE_BACKOFF.to_string(), "10".to_string());
        }
        let config = self.consumer_config(&layer);
        let auto_commit = config
            .get("enable.auto.commit")
            .is_none_or(|v| v.eq_ignore_ascii_case("true"));
        let context = InstanceContext {
            reset: reset_offset(&config),
            ..InstanceContext::default()
        };
        let arrived = Arc::new(Notify::new());
        let signal = arrived.clone();
        let consumer = tokio::task::spawn_blocking(move || {
            let mut consumer: BaseConsumer<InstanceContext> =
                config
                    .create_with_context(context)
                    .map_err(|e| KafkaError::from_rdkafka(e, "creating consumer"))?;
            // Called by librdkafka's threads when the consumer's queue gets an event
            // (records, a rebalance, an error) while it was empty.
            consumer.set_nonempty_callback(move || signal.notify_one());
            Ok::<_, KafkaError>(consumer)
        })
        .await
        .map_err(|e| KafkaError::Internal(format!("creating consumer: {e}")))??;
        let (commands, inbox) = tokio::sync::mpsc::unbounded_channel();
        let closed = Arc::new(AtomicBool::new(false));
        let interrupt = Arc::new(AtomicBool::new(false));
        let core = Core {
            worker: Worker::new(consumer, auto_commit, interrupt.clone()),
            inbox,
        };
        tokio::spawn(drive(core, arrived, interrupt.clone(), closed.clone()));
        Ok(ConsumerHandle {
            commands,
            closed,
            interrupt,
        })
    }
}

impl ConsumerHandle {
    /// Has the worker carry out one step and waits for its answer.
    async fn step<T>(&self, step: impl FnOnce(Reply<T>) -> Step) -> Result<T, KafkaError> {
        self.call(|r| Command::Step(step(r))).await
    }

    async fn call<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, KafkaError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(command(tx))
            .map_err(|_| KafkaError::Internal("consumer is closed".into()))?;
        rx.await
            .map_err(|_| KafkaError::Internal("consumer is closed".into()))?
    }

    /// Whether the consumer has been closed (its task has ended).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Subscribes to topics or a pattern, replacing any subscription or assignment.
    pub async fn subscribe(&self, subscription: Subscription) -> Result<(), KafkaError> {
        match &subscription {
            Subscription::Topics(topics) => check_topics(topics.iter().map(String::as_str))?,
            Subscription::Pattern(pattern) => {
                crate::validate::check_protocol_string("topic pattern", pattern)?
            }
        }
        self.step(|r| Step::Subscribe(subscription, r)).await
    }

    /// Drops the subscription and the assignment.
    pub async fn unsubscribe(&self) -> Result<(), KafkaError> {
        self.step(Step::Unsubscribe).await
    }

    /// Reads these partitions without group management, replacing any subscription.
    pub async fn assign(&self, partitions: Vec<TopicPartition>) -> Result<(), KafkaError> {
        check_topics(partitions.iter().map(|tp| tp.topic.as_str()))?;
        self.step(|r| Step::Assign(partitions, r)).await
    }

    /// The partitions the consumer holds now, assigned manually or by its group.
    pub async fn assignment(&self) -> Result<Vec<TopicPartition>, KafkaError> {
        self.step(Step::Assignment).await
    }

    /// Moves the next read of each partition. A subscribed partition not assigned yet is
    /// moved when the group assigns it.
    pub async fn seek(&self, targets: Vec<(TopicPartition, SeekTarget)>) -> Result<(), KafkaError> {
        check_topics(targets.iter().map(|(tp, _)| tp.topic.as_str()))?;
        self.step(|r| Step::Seek(targets, r)).await
    }

    /// Starts a read within `limits`, whose records come in chunks as they are polled.
    pub fn read_chunks(&self, limits: ReadLimits) -> Result<RecordChunks, KafkaError> {
        let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
        self.commands
            .send(Command::Read(limits, tx))
            .map_err(|_| KafkaError::Internal("consumer is closed".into()))?;
        Ok(RecordChunks {
            chunks: rx,
            commands: self.commands.clone(),
            epoch: None,
            done: false,
        })
    }

    /// Reads records within `limits`, all at once. An error after some records arrived
    /// ends the read with those records (they count as delivered), and is logged.
    pub async fn read(&self, limits: ReadLimits) -> Result<Vec<ConsumedRecord>, KafkaError> {
        let mut chunks = self.read_chunks(limits)?;
        let mut out = Vec::new();
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(records) if out.is_empty() => out = records,
                Ok(records) => out.extend(records),
                Err(e) if out.is_empty() => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "a read ended early");
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Commits `offsets` as given, or with `None` the position after every record handed
    /// out by reads on the partitions still held; returns what was committed.
    pub async fn commit(
        &self,
        offsets: Option<Vec<PartitionOffset>>,
    ) -> Result<Vec<PartitionOffset>, KafkaError> {
        if let Some(offsets) = &offsets {
            check_topics(offsets.iter().map(|o| o.topic.as_str()))?;
            for o in offsets {
                crate::validate::check_protocol_string("commit metadata", &o.metadata)?;
            }
        }
        self.step(|r| Step::Commit(offsets, r)).await
    }

    /// The group's committed offsets of these partitions; partitions without one are left
    /// out.
    pub async fn committed(
        &self,
        partitions: Vec<TopicPartition>,
    ) -> Result<Vec<PartitionOffset>, KafkaError> {
        check_topics(partitions.iter().map(|tp| tp.topic.as_str()))?;
        self.step(|r| Step::Committed(partitions, r)).await
    }

    /// Closes the consumer, leaving its group, and waits until it is done.
    pub async fn close(&self) -> Result<(), KafkaError> {
        if self.is_closed() {
            return Ok(());
        }
        self.interrupt.store(true, Ordering::SeqCst);
        match self.call(Command::Close).await {
            Err(KafkaError::Internal(_)) if self.is_closed() => Ok(()),
            other => other,
        }
    }
}

/// Copies `bytes` into the arena's current block (a new one when it is full) and returns
/// them as a view of that block.
fn copy_into(arena: &mut BytesMut, bytes: &[u8]) -> Bytes {
    if arena.capacity() < bytes.len() {
        *arena = BytesMut::with_capacity(ARENA_BLOCK.max(bytes.len()));
    }
    arena.extend_from_slice(bytes);
    arena.split().freeze()
}

/// Fails with [`KafkaError::InvalidRequest`] for a topic name no topic can have, before
/// it reaches librdkafka (whose topic lists panic on a NUL byte).
fn check_topics<'a>(topics: impl IntoIterator<Item = &'a str>) -> Result<(), KafkaError> {
    topics
        .into_iter()
        .try_for_each(crate::validate::check_topic_name)
}

/// Sets its flag when dropped.
struct ClosedOnExit(Arc<AtomicBool>);

impl Drop for ClosedOnExit {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Where a partition with no committed offset starts (`auto.offset.reset`): the start
/// offset kgate puts in the assignment, or `None` when librdkafka must handle it (`error`,
/// whose failure only librdkafka reports).
fn reset_offset(config: &rdkafka::ClientConfig) -> Option<Offset> {
    // librdkafka's default is `latest`, like Java's.
    let policy = config.get("auto.offset.reset").unwrap_or("latest");
    match policy.to_ascii_lowercase().as_str() {
        "earliest" | "smallest" | "beginning" => Some(Offset::Beginning),
        "latest" | "largest" | "end" => Some(Offset::End),
        _ => None,
    }
}

/// Gives the partitions of `tpl` that have no start offset the one they continue from:
/// the group's committed offset, else the reset policy's.
///
/// librdkafka finds both by itself, but when a partition has no committed offset it
/// applies the reset policy after a 100 ms back-off, which every new consumer's first
/// read waited for. With the start in the assignment, fetching starts at once. A failed
/// lookup leaves the offsets unset, for librdkafka to find as before.
fn resolve_start_offsets<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    tpl: &mut TopicPartitionList,
    reset: Option<Offset>,
) {
    let Some(reset) = reset else { return };
    let mut unknown = TopicPartitionList::new();
    for e in tpl.elements() {
        if e.offset() == Offset::Invalid {
            unknown.add_partition(e.topic(), e.partition());
        }
    }
    if unknown.count() == 0 {
        return;
    }
    // A consumer created a moment ago may not know its group coordinator yet, and
    // librdkafka's lookup then waits for a change of broker state, which can take far
    // longer than finding the coordinator: short tries, repeated, find it sooner.
    let deadline = Instant::now() + START_LOOKUP_TIMEOUT;
    let mut wait = START_LOOKUP_FIRST_TRY;
    let committed = loop {
        match consumer.committed_offsets(unknown.clone(), wait) {
            Ok(c) => break c,
            Err(e) => {
                let code = e.rdkafka_error_code();
                let timed_out = code == Some(RDKafkaErrorCode::OperationTimedOut);
                let left = deadline.saturating_duration_since(Instant::now());
                if !timed_out || left.is_zero() {
                    tracing::debug!(error = %e, "looking up an assignment's offsets failed");
                    return;
                }
                wait = (wait * 2).min(left);
            }
        }
    };
    for e in committed.elements() {
        if e.error().is_err() {
            continue;
        }
        let start = match e.offset() {
            Offset::Offset(o) if o >= 0 => Offset::Offset(o),
            _ => reset,
        };
        if let Err(err) = tpl.set_partition_offset(e.topic(), e.partition(), start) {
            tracing::debug!(error = %err, "setting an assignment's start offset failed");
        }
    }
}

/// Group callbacks: applies seeks waiting for their partition, gives the others their
/// start offset and tells the worker that the assignment changed.
#[derive(Default)]
struct InstanceContext {
    pending_seeks: Mutex<HashMap<TopicPartition, Offset>>,
    rebalanced: AtomicBool,
    /// The start of partitions with no committed offset (see [`reset_offset`]).
    reset: Option<Offset>,
}

/// Logs through `tracing` like kgate's other clients (rdkafka's default context would
/// log each event twice and keep logging errors while kgate stops).
impl ClientContext for InstanceContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        crate::log_librdkafka(level, fac, log_message);
    }

    fn error(&self, error: RdKafkaError, reason: &str) {
        crate::log_client_error(&error, reason);
    }
}

impl ConsumerContext for InstanceContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let mut pending = self.pending_seeks.lock();
                let assigned: Vec<TopicPartition> = tpl
                    .elements()
                    .iter()
                    .map(|e| TopicPartition {
                        topic: e.topic().to_string(),
                        partition: e.partition(),
                    })
                    .collect();
                for tp in assigned {
                    if let Some(offset) = pending.remove(&tp) {
                        // The start offset is set in the assignment itself, so the first
                        // fetch already reads from where the client asked.
                        if let Err(e) = tpl.set_partition_offset(&tp.topic, tp.partition, offset) {
                            tracing::warn!(error = %e, "applying a pending seek failed");
                        }
                    }
                }
                drop(pending);
                resolve_start_offsets(consumer, tpl, self.reset);
                if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::warn!(error = ?other, "consumer group rebalance failed");
                consumer.unassign()
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "applying a group assignment failed");
        }
        self.rebalanced.store(true, Ordering::SeqCst);
    }
}

/// What a consumer's task hands to each of its blocking steps: the consumer's state, and
/// its inbox (a step that polls ahead stops as soon as a command is waiting).
struct Core {
    worker: Worker,
    inbox: UnboundedReceiver<Command>,
}

/// How a step that polled ahead ended.
enum Refill {
    /// A command came and is next.
    Command(Command),
    /// librdkafka's queue was found empty: its callback signals the next event.
    Drained,
    /// Polling stopped with events possibly still queued (the buffer is full enough).
    Stopped,
    /// The handle is gone.
    Disconnected,
}

impl Core {
    /// Polls ahead into the buffer until it is full, nothing more is at hand, or a command
    /// arrives: records are then ready for the next read while the caller is still busy
    /// with the last one (encoding and sending it).
    fn refill(&mut self) -> Refill {
        let worker = &mut self.worker;
        if matches!(worker.mode, Mode::Idle) {
            return Refill::Drained;
        }
        loop {
            // Checked every few records, so a command waits little while the cost of
            // looking stays small next to the records' own.
            for _ in 0..REFILL_STEP {
                // Stops below the pause threshold: pausing and resuming the partitions
                // costs librdkafka a fetch round (measured: reads stalling for most of a
                // second), and records beyond this wait in librdkafka's own queue.
                if worker.paused || worker.buffer_bytes >= PREFETCH_LIMIT_BYTES / 2 {
                    return Refill::Stopped;
                }
                match worker.poll_one(Duration::ZERO) {
                    Ok(Some(record)) => worker.push_buffer(record),
                    Ok(None) => return Refill::Drained,
                    Err(e) => {
                        tracing::warn!(error = %e, "background poll of a consumer failed");
                        return Refill::Stopped;
                    }
                }
            }
            match self.inbox.try_recv() {
                Ok(command) => return Refill::Command(command),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => return Refill::Disconnected,
            }
        }
    }
}

/// Holds a consumer's [`Core`] between its steps.
struct CoreSlot(Option<Core>);

impl CoreSlot {
    /// Runs `step` on the blocking pool with the core; `None` when there is no core (a
    /// step panicked before, and the consumer is gone) or this step panicked.
    async fn step<R: Send + 'static>(
        &mut self,
        step: impl FnOnce(&mut Core) -> R + Send + 'static,
    ) -> Option<R> {
        let mut core = self.0.take()?;
        let ran = tokio::task::spawn_blocking(move || {
            let result = step(&mut core);
            (core, result)
        })
        .await;
        match ran {
            Ok((core, result)) => {
                self.0 = Some(core);
                Some(result)
            }
            Err(e) => {
                // The core went down with the step's thread: the consumer is closed.
                tracing::error!(error = %e, "a consumer's step failed; the consumer is closed");
                None
            }
        }
    }

    fn get(&mut self) -> Option<&mut Core> {
        self.0.as_mut()
    }

    /// Leaves the group and drops the consumer, which waits for librdkafka to finish.
    async fn close(&mut self) {
        if let Some(core) = self.0.take() {
            let _ = tokio::task::spawn_blocking(move || core.worker.close()).await;
        }
    }
}

/// A consumer whose task ends without closing it (the runtime is stopping) is dropped on a
/// thread of its own: dropping a consumer waits for librdkafka, never on the runtime.
impl Drop for CoreSlot {
    fn drop(&mut self) {
        if let Some(core) = self.0.take() {
            let closing = std::thread::Builder::new()
                .name("kgate-consumer-close".into())
                .spawn(move || core.worker.close());
            if let Err(e) = closing {
                tracing::warn!(error = %e, "closing a consumer in the background failed");
            }
        }
    }
}

/// A read in progress, carried from one step to the next.
struct ReadState {
    limits: ReadLimits,
    /// The read returns by then, with whatever it has.
    deadline: Instant,
    chunks: ChunkSender,
    /// Records not handed over yet, and their bytes.
    chunk: Vec<ConsumedRecord>,
    chunk_bytes: u64,
    /// Records of the read so far (handed over or in `chunk`), and their bytes.
    count: usize,
    bytes: u64,
    /// A message left to the driver to send, waiting for the outcome.
    sending: Option<Sending>,
    /// The outcome of sending it: `Err(Some(message))` when the reader is gone or stalled,
    /// `Err(None)` when the consumer is closing.
    sent: Option<SendOutcome>,
}

type SendOutcome = Result<(), Option<Result<ReadChunk, KafkaError>>>;

/// What a message left to the driver carries besides its records.
struct Sending {
    /// The last offset of each partition in it.
    ends: Vec<(Arc<str>, i32, i64)>,
    /// Whether the read ends with it.
    ends_read: bool,
}

/// Where a step of a read stopped.
enum ReadProgress {
    /// The read has ended.
    Done,
    /// Nothing is at hand: wait up to this long for librdkafka to signal records.
    Wait(Duration),
    /// The reader is behind: send this message once it has room, then go on.
    Send(Result<ReadChunk, KafkaError>),
}

/// Runs a consumer: its commands in order, one read at a time, and the polling of a
/// subscribed consumer between reads. `arrived` is notified by librdkafka when the
/// consumer's queue gets an event.
async fn drive(
    core: Core,
    arrived: Arc<Notify>,
    interrupt: Arc<AtomicBool>,
    closed: Arc<AtomicBool>,
) {
    // Marks the handle closed however the task ends, a failed step included.
    let _closed = ClosedOnExit(closed);
    let mut slot = CoreSlot(Some(core));
    let mut waiting: Option<Command> = None;
    // Whether librdkafka's queue may hold events its callback will not signal again.
    let mut undrained = false;
    loop {
        let command = match waiting.take() {
            Some(command) => command,
            None => {
                let Some(core) = slot.get() else { return };
                if matches!(core.worker.mode, Mode::Subscribed) {
                    let idle = if undrained {
                        IDLE_POLL_INTERVAL
                    } else {
                        IDLE_POLL_FALLBACK
                    };
                    tokio::select! {
                        command = core.inbox.recv() => match command {
                            Some(command) => command,
                            None => break,
                        },
                        _ = tokio::time::timeout(idle, arrived.notified()) => {
                            let Some(drained) = slot.step(|core| core.worker.prefetch()).await
                            else {
                                return;
                            };
                            undrained = match drained {
                                Ok(()) => false,
                                Err(e) => {
                                    tracing::warn!(error = %e, "background poll of a consumer failed");
                                    true
                                }
                            };
                            continue;
                        }
                    }
                } else {
                    match core.inbox.recv().await {
                        Some(command) => command,
                        None => break,
                    }
                }
            }
        };
        match command {
            Command::Read(limits, chunks) => {
                if !read(&mut slot, &arrived, &interrupt, limits, chunks).await {
                    return;
                }
            }
            Command::Close(reply) => {
                slot.close().await;
                let _ = reply.send(Ok(()));
                return;
            }
            Command::Step(step) => {
                if slot
                    .step(move |core| core.worker.handle(step))
                    .await
                    .is_none()
                {
                    return;
                }
            }
        }
        match slot.step(Core::refill).await {
            None => return,
            Some(Refill::Command(next)) => waiting = Some(next),
            Some(Refill::Drained) => undrained = false,
            Some(Refill::Stopped) => undrained = true,
            Some(Refill::Disconnected) => break,
        }
    }
    slot.close().await;
}

/// Runs a read to its end; false when the consumer is gone.
async fn read(
    slot: &mut CoreSlot,
    arrived: &Notify,
    interrupt: &AtomicBool,
    limits: ReadLimits,
    chunks: ChunkSender,
) -> bool {
    let mut read = ReadState {
        limits,
        deadline: Instant::now() + limits.timeout,
        chunks,
        chunk: Vec::new(),
        chunk_bytes: 0,
        count: 0,
        bytes: 0,
        sending: None,
        sent: None,
    };
    loop {
        let stepped = slot
            .step(move |core| {
                let progress = core.worker.read_step(&mut read);
                (read, progress)
            })
            .await;
        let Some((state, progress)) = stepped else {
            return false;
        };
        read = state;
        match progress {
            ReadProgress::Done => return true,
            ReadProgress::Wait(wait) => {
                // Woken by librdkafka's callback, or at the end of the slice.
                let _ = tokio::time::timeout(wait, arrived.notified()).await;
            }
            ReadProgress::Send(message) => {
                read.sent = Some(send(&read.chunks, message, interrupt).await);
            }
        }
    }
}

/// Sends a message of a read once its reader has room. When the reader is gone, or has
/// taken nothing for [`READER_STALL_LIMIT`], the message comes back; when the consumer is
/// closing it is dropped.
async fn send(
    chunks: &ChunkSender,
    message: Result<ReadChunk, KafkaError>,
    interrupt: &AtomicBool,
) -> SendOutcome {
    let stalled = tokio::time::sleep(READER_STALL_LIMIT);
    tokio::pin!(stalled);
    loop {
        tokio::select! {
            permit = chunks.reserve() => {
                return match permit {
                    Ok(permit) => {
                        permit.send(message);
                        Ok(())
                    }
                    Err(_) => Err(Some(message)),
                };
            }
            _ = &mut stalled => {
                tracing::warn!("a records response stopped being read; its read ends");
                return Err(Some(message));
            }
            // Only bounds how late a close is noticed.
            _ = tokio::time::sleep(IDLE_POLL_INTERVAL) => {
                if interrupt.load(Ordering::SeqCst) {
                    return Err(None);
                }
            }
        }
    }
}

/// What the consumer reads from.
enum Mode {
    Idle,
    Subscribed,
    Assigned(Vec<TopicPartition>),
}

/// The state owned by a consumer's thread.
struct Worker {
    consumer: BaseConsumer<InstanceContext>,
    mode: Mode,
    auto_commit: bool,
    /// Records polled but not yet handed out, in arrival order.
    buffer: VecDeque<ConsumedRecord>,
    buffer_bytes: u64,
    /// The offset after the last record handed out, per partition: what an empty commit
    /// commits.
    delivered: HashMap<TopicPartition, i64>,
    /// Where the next read of a manually assigned partition starts, when known.
    positions: HashMap<TopicPartition, Offset>,
    paused: bool,
    interrupt: Arc<AtomicBool>,
    /// The topic of the last record polled, shared with the next records of that topic.
    last_topic: Option<Arc<str>>,
    /// Where polled keys and values are copied: records share its blocks.
    arena: BytesMut,
    /// Topics whose metadata this consumer has looked up (see [`Worker::learn_leaders`]).
    known_topics: HashSet<String>,
    /// Counts the changes of where reads continue (subscription, assignment, seeks):
    /// records given back from a read of an earlier epoch are stale and dropped.
    epoch: u64,
}

impl Worker {
    fn new(
        consumer: BaseConsumer<InstanceContext>,
        auto_commit: bool,
        interrupt: Arc<AtomicBool>,
    ) -> Self {
        Self {
            consumer,
            mode: Mode::Idle,
            auto_commit,
            buffer: VecDeque::new(),
            buffer_bytes: 0,
            delivered: HashMap::new(),
            positions: HashMap::new(),
            paused: false,
            interrupt,
            last_topic: None,
            arena: BytesMut::new(),
            known_topics: HashSet::new(),
            epoch: 0,
        }
    }

    /// Carries out one step.
    fn handle(&mut self, step: Step) {
        match step {
            Step::Subscribe(s, reply) => {
                let _ = reply.send(self.subscribe(s));
            }
            Step::Unsubscribe(reply) => {
                let _ = reply.send(self.unsubscribe());
            }
            Step::Assign(p, reply) => {
                let _ = reply.send(self.assign(p));
            }
            Step::Assignment(reply) => {
                self.handle_rebalance();
                let mut held: Vec<TopicPartition> = match &self.mode {
                    Mode::Assigned(p) => p.clone(),
                    _ => self.assigned_set().into_iter().collect(),
                };
                held.sort();
                let _ = reply.send(Ok(held));
            }
            Step::Seek(t, reply) => {
                let _ = reply.send(self.seek(t));
            }
            Step::Commit(o, reply) => {
                let _ = reply.send(self.commit(o));
            }
            Step::Committed(p, reply) => {
                let _ = reply.send(self.committed(p));
            }
            Step::Unread(epoch, records) => self.unread(epoch, records),
        }
    }

    /// Leaves the group: committing (when auto-commit is on) and unsubscribing happen
    /// while the consumer is dropped, which waits for librdkafka to finish.
    fn close(self) {
        if matches!(self.mode, Mode::Subscribed) {
            self.consumer.unsubscribe();
        }
        drop(self.consumer);
    }

    fn subscribe(&mut self, subscription: Subscription) -> Result<(), KafkaError> {
        self.reset();
        let topics: Vec<String> = match &subscription {
            Subscription::Topics(t) => t.clone(),
            // librdkafka treats a topic starting with '^' as a regular expression, matched
            // anywhere in the name; anchoring both ends gives Java's whole-name match.
            Subscription::Pattern(p) => vec![format!("^({p})$")],
        };
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&refs)
            .map_err(|e| KafkaError::from_rdkafka(e, "subscribing"))?;
        self.mode = Mode::Subscribed;
        Ok(())
    }

    fn unsubscribe(&mut self) -> Result<(), KafkaError> {
        self.reset();
        Ok(())
    }

    /// Drops subscription, assignment and everything tied to them.
    fn reset(&mut self) {
        self.epoch += 1;
        match self.mode {
            Mode::Subscribed => self.consumer.unsubscribe(),
            Mode::Assigned(_) => {
                if let Err(e) = self.consumer.unassign() {
                    tracing::warn!(error = %e, "unassigning a consumer failed");
                }
            }
            Mode::Idle => {}
        }
        self.mode = Mode::Idle;
        self.clear_buffer();
        self.delivered.clear();
        self.positions.clear();
        self.consumer.context().pending_seeks.lock().clear();
        self.paused = false;
    }

    fn assign(&mut self, partitions: Vec<TopicPartition>) -> Result<(), KafkaError> {
        self.reset();
        let mut unique = Vec::new();
        for tp in partitions {
            if !unique.contains(&tp) {
                unique.push(tp);
            }
        }
        self.apply_assignment(&unique)?;
        self.mode = Mode::Assigned(unique);
        Ok(())
    }

    /// (Re)assigns `partitions` manually, each starting where it is known to continue.
    fn apply_assignment(&mut self, partitions: &[TopicPartition]) -> Result<(), KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for tp in partitions {
            let offset = self.positions.get(tp).copied().unwrap_or(Offset::Invalid);
            tpl.add_partition_offset(&tp.topic, tp.partition, offset)
                .map_err(|e| KafkaError::from_rdkafka(e, "assigning"))?;
        }
        resolve_start_offsets(&self.consumer, &mut tpl, self.consumer.context().reset);
        self.learn_leaders(partitions);
        self.consumer
            .assign(&tpl)
            .map_err(|e| KafkaError::from_rdkafka(e, "assigning"))?;
        self.paused = false;
        Ok(())
    }

    /// Looks up the leaders of the topics this consumer is assigned for the first time.
    /// A partition assigned to start at the beginning or the end, whose leader librdkafka
    /// does not know yet, waits for a 500 ms timer before it asks for that offset, even
    /// though the leader is known a few milliseconds later.
    fn learn_leaders(&mut self, partitions: &[TopicPartition]) {
        // One time limit for all of them: an unreachable cluster delays an assignment by
        // at most that much.
        let deadline = Instant::now() + START_LOOKUP_TIMEOUT;
        for tp in partitions {
            if self.known_topics.contains(&tp.topic) {
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.consumer.fetch_metadata(Some(&tp.topic), left) {
                Ok(_) => {
                    self.known_topics.insert(tp.topic.clone());
                }
                Err(e) => tracing::debug!(error = %e, "looking up an assigned topic failed"),
            }
        }
    }

    fn seek(&mut self, targets: Vec<(TopicPartition, SeekTarget)>) -> Result<(), KafkaError> {
        self.epoch += 1;
        let targets: Vec<(TopicPartition, Offset)> = targets
            .into_iter()
            .map(|(tp, t)| {
                let offset = match t {
                    SeekTarget::Offset(o) => Offset::Offset(o),
                    SeekTarget::Beginning => Offset::Beginning,
                    SeekTarget::End => Offset::End,
                };
                (tp, offset)
            })
            .collect();
        match &self.mode {
            Mode::Assigned(partitions) => {
                let partitions = partitions.clone();
                for (tp, _) in &targets {
                    if !partitions.contains(tp) {
                        return Err(KafkaError::InvalidRequest(format!(
                            "partition {} of topic {} is not assigned to this consumer",
                            tp.partition, tp.topic
                        )));
                    }
                }
                // Re-assigning with start offsets is deterministic, whereas a seek fails
                // until librdkafka has started fetching the partition.
                self.keep_buffered_positions();
                self.clear_buffer();
                for (tp, offset) in targets {
                    self.positions.insert(tp, offset);
                }
                self.apply_assignment(&partitions)
            }
            Mode::Subscribed => {
                self.handle_rebalance();
                let assigned = self.assigned_set();
                let mut now = Vec::new();
                {
                    let mut pending = self.consumer.context().pending_seeks.lock();
                    for (tp, offset) in targets {
                        if assigned.contains(&tp) {
                            now.push((tp, offset));
                        } else {
                            pending.insert(tp, offset);
                        }
                    }
                }
                if now.is_empty() {
                    return Ok(());
                }
                self.buffer_retain(|r| !now.iter().any(|(tp, _)| *tp == r.tp()));
                self.seek_assigned(now)
            }
            Mode::Idle => Err(KafkaError::InvalidRequest(
                "the consumer has no subscription or assignment to seek in".into(),
            )),
        }
    }

    /// Seeks partitions the group assigned to this consumer, retrying while librdkafka
    /// has not started fetching them yet.
    fn seek_assigned(&mut self, targets: Vec<(TopicPartition, Offset)>) -> Result<(), KafkaError> {
        let started = Instant::now();
        let mut remaining = targets;
        loop {
            let mut tpl = TopicPartitionList::new();
            for (tp, offset) in &remaining {
                tpl.add_partition_offset(&tp.topic, tp.partition, *offset)
                    .map_err(|e| KafkaError::from_rdkafka(e, "seeking"))?;
            }
            let result = self
                .consumer
                .seek_partitions(tpl, CALL_TIMEOUT)
                .map_err(|e| KafkaError::from_rdkafka(e, "seeking"))?;
            let mut retry = Vec::new();
            for elem in result.elements() {
                if let Err(e) = elem.error() {
                    let tp = TopicPartition {
                        topic: elem.topic().to_string(),
                        partition: elem.partition(),
                    };
                    let not_started = matches!(
                        e.rdkafka_error_code(),
                        Some(RDKafkaErrorCode::State | RDKafkaErrorCode::PreviousInProgress)
                    );
                    if not_started && started.elapsed() < SEEK_RETRY_WINDOW {
                        if let Some(t) = remaining.iter().find(|(r, _)| *r == tp) {
                            retry.push(t.clone());
                        }
                    } else {
                        return Err(KafkaError::from_rdkafka(e, &tp.topic));
                    }
                }
            }
            if retry.is_empty() {
                return Ok(());
            }
            remaining = retry;
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Goes on with a read within its limits, handing records over in chunks as they are
    /// polled, until it ends or must wait: for records to arrive, or for its reader to
    /// take a chunk. The last chunk (possibly empty) is marked, or an error ends the read.
    fn read_step(&mut self, read: &mut ReadState) -> ReadProgress {
        if let Some(sending) = read.sending.take() {
            // The driver has sent, or failed to send, the chunk left to it.
            match read.sent.take().unwrap_or(Err(None)) {
                Ok(()) => {
                    self.mark_delivered(sending.ends);
                    if sending.ends_read {
                        return ReadProgress::Done;
                    }
                }
                Err(unsent) => {
                    // Its reader is gone or stalled (its records stay for the next read),
                    // or the consumer is closing.
                    if let Some(Ok(chunk)) = unsent {
                        self.unpop_buffer(chunk.records);
                    }
                    self.flow_control();
                    return ReadProgress::Done;
                }
            }
        } else if read.count == 0 && matches!(self.mode, Mode::Idle) {
            let _ = read.chunks.try_send(Err(KafkaError::InvalidRequest(
                "the consumer has no subscription or assignment to read from".into(),
            )));
            return ReadProgress::Done;
        }
        let limits = read.limits;
        let max_bytes = limits.max_bytes.max(1);
        let mut failure = None;
        'reading: loop {
            while let Some(front) = self.buffer.front() {
                let size = front.size();
                if read.count > 0 && read.bytes + size > max_bytes {
                    break 'reading;
                }
                if let Some(record) = self.pop_buffer() {
                    read.bytes += size;
                    read.chunk_bytes += size;
                    read.count += 1;
                    read.chunk.push(record);
                }
                if read.bytes >= max_bytes {
                    break 'reading;
                }
                if (read.chunk.len() >= CHUNK_RECORDS || read.chunk_bytes >= CHUNK_BYTES)
                    && let Some(progress) = self.hand_over(read, false)
                {
                    return progress;
                }
            }
            let satisfied = read.count > 0 && read.bytes >= limits.min_bytes;
            if self.interrupt.load(Ordering::SeqCst) {
                break;
            }
            // Once satisfied the read only takes what is at hand, without reading the
            // clock for every record.
            let wait = if satisfied {
                Duration::ZERO
            } else {
                // Waits are sliced so that a close does not wait for the whole timeout.
                read.deadline
                    .saturating_duration_since(Instant::now())
                    .min(IDLE_POLL_INTERVAL)
            };
            // Records already read go out before the read waits for more.
            if !wait.is_zero()
                && !read.chunk.is_empty()
                && let Some(progress) = self.hand_over(read, false)
            {
                return progress;
            }
            match self.poll_one(Duration::ZERO) {
                Ok(Some(record)) => self.push_buffer(record),
                Ok(None) if wait.is_zero() => break,
                // The driver waits on the runtime, not on a thread, until records come.
                Ok(None) => return ReadProgress::Wait(wait),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        self.flow_control();
        match failure {
            None => self.hand_over(read, true).unwrap_or(ReadProgress::Done),
            Some(e) => {
                // Records not handed over yet stay for the next read.
                self.unpop_buffer(std::mem::take(&mut read.chunk));
                self.offer(read, Err(e), Vec::new(), true)
                    .unwrap_or(ReadProgress::Done)
            }
        }
    }

    /// An empty chunk with room for the records at hand (a chunk that grew one record at
    /// a time was copied over and over as it did).
    fn new_chunk(&self) -> Vec<ConsumedRecord> {
        Vec::with_capacity(self.buffer.len().clamp(16, CHUNK_RECORDS))
    }

    /// Hands the read's current chunk to its reader (marked last, or not) and marks its
    /// records delivered; `None` when the read goes on.
    fn hand_over(&mut self, read: &mut ReadState, last: bool) -> Option<ReadProgress> {
        let fresh = self.new_chunk();
        let records = std::mem::replace(&mut read.chunk, fresh);
        read.chunk_bytes = 0;
        // Only the last record of each partition moves its offsets: one offset store and
        // two map updates per partition rather than per record.
        let mut ends: Vec<(Arc<str>, i32, i64)> = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let run_ends = records
                .get(i + 1)
                .is_none_or(|n| n.partition != r.partition || n.topic != r.topic);
            if run_ends {
                match ends
                    .iter_mut()
                    .find(|(t, p, _)| *p == r.partition && *t == r.topic)
                {
                    Some(end) => end.2 = r.offset,
                    None => ends.push((r.topic.clone(), r.partition, r.offset)),
                }
            }
        }
        let chunk = ReadChunk {
            records,
            last,
            epoch: self.epoch,
        };
        self.offer(read, Ok(chunk), ends, last)
    }

    /// Gives a message of a read to its reader when it has room; otherwise leaves the
    /// sending to the driver, which waits for the reader on the runtime. `ends` are the
    /// partitions' last offsets in it, and `ends_read` says the read ends with it.
    fn offer(
        &mut self,
        read: &mut ReadState,
        message: Result<ReadChunk, KafkaError>,
        ends: Vec<(Arc<str>, i32, i64)>,
        ends_read: bool,
    ) -> Option<ReadProgress> {
        match read.chunks.try_send(message) {
            Ok(()) => {
                self.mark_delivered(ends);
                ends_read.then_some(ReadProgress::Done)
            }
            Err(TrySendError::Full(message)) => {
                read.sending = Some(Sending { ends, ends_read });
                Some(ReadProgress::Send(message))
            }
            Err(TrySendError::Closed(message)) => {
                // The reader is gone: its records stay for the next read.
                if let Ok(chunk) = message {
                    self.unpop_buffer(chunk.records);
                }
                self.flow_control();
                Some(ReadProgress::Done)
            }
        }
    }

    /// Moves the offsets of partitions whose records up to `ends` reached a reader.
    fn mark_delivered(&mut self, ends: Vec<(Arc<str>, i32, i64)>) {
        for (topic, partition, offset) in ends {
            // librdkafka's offset store takes the record's own offset and keeps the one
            // after it.
            if self.auto_commit
                && let Err(e) = self.consumer.store_offset(&topic, partition, offset)
            {
                tracing::debug!(error = %e, "storing a consumed offset failed");
            }
            let tp = TopicPartition {
                topic: topic.to_string(),
                partition,
            };
            if matches!(self.mode, Mode::Assigned(_)) {
                self.positions
                    .insert(tp.clone(), Offset::Offset(offset + 1));
            }
            self.delivered.insert(tp, offset + 1);
        }
    }

    /// Polls the consumer once, serving group events; returns a record when one came.
    fn poll_one(&mut self, wait: Duration) -> Result<Option<ConsumedRecord>, KafkaError> {
        let polled = self.consumer.poll(wait);
        let record = match polled {
            None => None,
            Some(Ok(m)) => Some(ConsumedRecord {
                topic: match &self.last_topic {
                    Some(t) if **t == *m.topic() => t.clone(),
                    _ => {
                        let t: Arc<str> = Arc::from(m.topic());
                        self.last_topic = Some(t.clone());
                        t
                    }
                },
                partition: m.partition(),
                offset: m.offset(),
                timestamp: m.timestamp().to_millis(),
                key: m.key().map(|k| copy_into(&mut self.arena, k)),
                value: m.payload().map(|v| copy_into(&mut self.arena, v)),
                headers: m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| RecordHeader {
                                name: h.key.to_string(),
                                value: h.value.map(<[u8]>::to_vec),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            Some(Err(RdKafkaError::MessageConsumptionFatal(code))) => {
                return Err(KafkaError::from_code(code, "consuming"));
            }
            Some(Err(e)) => {
                // Transport hiccups, unknown subscribed topics and the like: librdkafka
                // retries by itself, and the read goes on.
                tracing::debug!(error = %e, "consumer reported an error");
                None
            }
        };
        self.handle_rebalance();
        Ok(record)
    }

    /// After a rebalance, forgets buffered records and positions of partitions no longer
    /// held, and re-applies flow control to the new assignment.
    fn handle_rebalance(&mut self) {
        if !self
            .consumer
            .context()
            .rebalanced
            .swap(false, Ordering::SeqCst)
        {
            return;
        }
        let assigned = self.assigned_set();
        self.buffer_retain(|r| assigned.contains(&r.tp()));
        self.delivered.retain(|tp, _| assigned.contains(tp));
        self.paused = false;
        self.flow_control();
    }

    fn assigned_set(&self) -> HashSet<TopicPartition> {
        match self.consumer.assignment() {
            Ok(tpl) => tpl
                .elements()
                .iter()
                .map(|e| TopicPartition {
                    topic: e.topic().to_string(),
                    partition: e.partition(),
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "reading a consumer's assignment failed");
                HashSet::new()
            }
        }
    }

    /// Polls a subscribed consumer without a reader, keeping what arrives.
    fn prefetch(&mut self) -> Result<(), KafkaError> {
        loop {
            match self.poll_one(Duration::ZERO)? {
                Some(record) => {
                    self.push_buffer(record);
                    self.flow_control();
                }
                None => return Ok(()),
            }
        }
    }

    /// Pauses fetching while the buffer is full, resumes it once half drained.
    fn flow_control(&mut self) {
        let pause = self.buffer_bytes >= PREFETCH_LIMIT_BYTES;
        let resume = self.buffer_bytes < PREFETCH_LIMIT_BYTES / 2;
        if pause == self.paused || (!pause && !resume) {
            return;
        }
        let tpl = match self.consumer.assignment() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "reading a consumer's assignment failed");
                return;
            }
        };
        let result = if pause {
            self.consumer.pause(&tpl)
        } else {
            self.consumer.resume(&tpl)
        };
        match result {
            Ok(()) => self.paused = pause,
            Err(e) => tracing::warn!(error = %e, "pausing or resuming a consumer failed"),
        }
    }

    fn push_buffer(&mut self, record: ConsumedRecord) {
        self.buffer_bytes += record.size();
        self.buffer.push_back(record);
    }

    fn pop_buffer(&mut self) -> Option<ConsumedRecord> {
        let record = self.buffer.pop_front()?;
        self.buffer_bytes = self.buffer_bytes.saturating_sub(record.size());
        Some(record)
    }

    /// Puts records taken from the front of the buffer back there, in their order.
    fn unpop_buffer(&mut self, records: Vec<ConsumedRecord>) {
        for record in records.into_iter().rev() {
            self.buffer_bytes += record.size();
            self.buffer.push_front(record);
        }
    }

    fn buffer_retain(&mut self, keep: impl Fn(&ConsumedRecord) -> bool) {
        self.buffer.retain(|r| keep(r));
        self.buffer_bytes = self.buffer.iter().map(ConsumedRecord::size).sum();
    }

    fn clear_buffer(&mut self) {
        self.buffer.clear();
        self.buffer_bytes = 0;
    }

    /// Before buffered records are thrown away, remembers where each partition must
    /// continue, so a partition with nothing handed out yet does not skip them.
    fn keep_buffered_positions(&mut self) {
        for r in &self.buffer {
            self.positions
                .entry(r.tp())
                .or_insert(Offset::Offset(r.offset));
        }
    }

    /// Takes back records a read handed over but its reader did not deliver (see
    /// [`RecordChunks::give_back`]): they go to the front of the buffer, and each of
    /// their partitions is again positioned at the first of them, for reads, for an empty
    /// commit and for auto-commit. Records of partitions no longer held, or of a read
    /// before a seek or a change of subscription, are dropped: the group's offsets or the
    /// seek say where those partitions continue.
    fn unread(&mut self, epoch: u64, mut records: Vec<ConsumedRecord>) {
        if epoch != self.epoch {
            return;
        }
        self.handle_rebalance();
        let held: HashSet<TopicPartition> = match &self.mode {
            Mode::Assigned(partitions) => partitions.iter().cloned().collect(),
            Mode::Subscribed => self.assigned_set(),
            Mode::Idle => return,
        };
        records.retain(|r| held.contains(&r.tp()));
        let mut firsts: Vec<(TopicPartition, i64)> = Vec::new();
        for r in &records {
            if !firsts
                .iter()
                .any(|(tp, _)| tp.partition == r.partition && *tp.topic == *r.topic)
            {
                firsts.push((r.tp(), r.offset));
            }
        }
        let mut stored = TopicPartitionList::new();
        for (tp, offset) in firsts {
            if self.auto_commit
                && let Err(e) =
                    stored.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(offset))
            {
                tracing::debug!(error = %e, "listing a given-back offset failed");
            }
            if matches!(self.mode, Mode::Assigned(_)) {
                self.positions.insert(tp.clone(), Offset::Offset(offset));
            }
            self.delivered.insert(tp, offset);
        }
        // The stored offset is the next one to read, so auto-commit does not commit past
        // the records given back.
        if stored.count() > 0
            && let Err(e) = self.consumer.store_offsets(&stored)
        {
            tracing::debug!(error = %e, "storing a given-back offset failed");
        }
        self.unpop_buffer(records);
        self.flow_control();
    }

    fn commit(
        &mut self,
        offsets: Option<Vec<PartitionOffset>>,
    ) -> Result<Vec<PartitionOffset>, KafkaError> {
        let offsets = match offsets {
            Some(o) => o,
            None => {
                self.handle_rebalance();
                let mut all: Vec<PartitionOffset> = self
                    .delivered
                    .iter()
                    .map(|(tp, o)| PartitionOffset {
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                        offset: *o,
                        metadata: String::new(),
                    })
                    .collect();
                all.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
                all
            }
        };
        if offsets.is_empty() {
            return Ok(offsets);
        }
        let mut tpl = TopicPartitionList::new();
        for o in &offsets {
            tpl.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.offset))
                .map_err(|e| KafkaError::from_rdkafka(e, "committing"))?;
            if !o.metadata.is_empty()
                && let Some(mut elem) = tpl.find_partition(&o.topic, o.partition)
            {
                elem.set_metadata(&o.metadata);
            }
        }
        self.consumer.commit(&tpl, CommitMode::Sync).map_err(
            |e| match KafkaError::from_rdkafka(e, "committing offsets") {
                // The error names no topic: name the ones committed to.
                KafkaError::TopicNotFound(_) => {
                    let mut topics: Vec<&str> = offsets.iter().map(|o| o.topic.as_str()).collect();
                    topics.dedup();
                    KafkaError::TopicNotFound(topics.join(", "))
                }
                other => other,
            },
        )?;
        Ok(offsets)
    }

    fn committed(
        &mut self,
        partitions: Vec<TopicPartition>,
    ) -> Result<Vec<PartitionOffset>, KafkaError> {
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        let mut tpl = TopicPartitionList::new();
        for tp in &partitions {
            tpl.add_partition(&tp.topic, tp.partition);
        }
        let answer = self
            .consumer
            .committed_offsets(tpl, CALL_TIMEOUT)
            .map_err(|e| KafkaError::from_rdkafka(e, "reading committed offsets"))?;
        let mut out = Vec::new();
        for elem in answer.elements() {
            if let Err(e) = elem.error() {
                return Err(KafkaError::from_rdkafka(e, elem.topic()));
            }
            if let Offset::Offset(offset) = elem.offset() {
                out.push(PartitionOffset {
                    topic: elem.topic().to_string(),
                    partition: elem.partition(),
                    offset,
                    metadata: elem.metadata().to_string(),
                });
            }
        }
        Ok(out)
    }
}
