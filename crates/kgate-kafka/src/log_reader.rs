//! Reading whole partitions from their start, as state stores built on compacted topics
//! do (the Schema Registry's `_schemas`, the WebSocket proxy's `_wsproxy.*` topics, Kafka
//! Connect's config, offset and status topics): records come in batches with the
//! reader's position in each partition, so "read to the end" compares positions with end
//! offsets and works on topics holding transaction markers, which take an offset but are
//! never handed out as records.
//!
//! One librdkafka consumer with no group, on its own thread (its polls never run on the
//! async runtime); end offsets are asked through the shared admin client. On top of it:
//! making sure of a state topic ([`Kafka::ensure_log_topic`]) and applying a log in the
//! background with the positions applied so far ([`Kafka::apply_log`]), which is what
//! every state store needs. Right after a topic is created, a cluster of several brokers
//! (and the asking client itself) may not know it everywhere yet: such answers are asked
//! again until a deadline, here, once for every store.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::context::TracingContext;
use crate::{Kafka, KafkaError};

/// How long one poll waits for records, which is also how late a stop is noticed.
const POLL_WAIT: Duration = Duration::from_millis(200);

/// Most records in one batch.
const BATCH_RECORDS: usize = 2048;

/// Pause before a question answered "not yet" is asked again.
const ASK_AGAIN_PAUSE: Duration = Duration::from_millis(200);

/// Settings of a log reader beyond its topic and partitions.
#[derive(Debug, Clone, Default)]
pub struct LogSettings {
    /// Hand out only committed records; end offsets are then the last stable offsets.
    pub read_committed: bool,
    /// The client id the reader announces to the brokers; empty keeps the configured one.
    pub client_id: String,
}

/// A record of the log.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value (`None`: a tombstone).
    pub value: Option<Vec<u8>>,
}

/// Records read, in log order per partition, and the reader's position after them.
#[derive(Debug, Clone, Default)]
pub struct LogBatch {
    /// The records.
    pub records: Vec<LogRecord>,
    /// The next offset the reader will read, per partition (past transaction markers).
    pub positions: BTreeMap<i32, i64>,
}

/// A running reader of some partitions of a topic; stopped when closed or dropped.
pub struct LogReader {
    /// End offsets are asked through the shared admin client (ListOffsets): a broker
    /// answers a connection's requests in order, so lookups on the reading consumer's
    /// connections would queue behind its long-polling fetches, and a client of its own
    /// per reader would cost each reader its threads and descriptors.
    kafka: Kafka,
    topic: String,
    partitions: Vec<i32>,
    read_committed: bool,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Kafka {
    /// Starts reading `partitions` of `topic` from their start. With `read_committed`,
    /// records of open or aborted transactions are never handed out, and end offsets are
    /// the last stable offsets.
    pub fn read_log(
        &self,
        topic: &str,
        partitions: &[i32],
        read_committed: bool,
    ) -> Result<(LogReader, mpsc::Receiver<LogBatch>), KafkaError> {
        let settings = LogSettings {
            read_committed,
            ..LogSettings::default()
        };
        self.read_log_with(topic, partitions, &settings)
    }

    /// [`Kafka::read_log`] with all its settings.
    pub fn read_log_with(
        &self,
        topic: &str,
        partitions: &[i32],
        settings: &LogSettings,
    ) -> Result<(LogReader, mpsc::Receiver<LogBatch>), KafkaError> {
        // Both end up in C strings (the thread's name, librdkafka's settings).
        crate::validate::check_topic_name(topic)?;
        crate::validate::check_protocol_string("client id", &settings.client_id)?;
        let mut layer = BTreeMap::new();
        layer.insert("enable.auto.commit".to_string(), "false".to_string());
        layer.insert("enable.partition.eof".to_string(), "false".to_string());
        layer.insert("auto.offset.reset".to_string(), "earliest".to_string());
        layer.insert(
            "isolation.level".to_string(),
            if settings.read_committed {
                "read_committed"
            } else {
                "read_uncommitted"
            }
            .to_string(),
        );
        // librdkafka wants a group even for assigned partitions; this one never joins
        // (nothing subscribes) nor commits, so every reader reads the whole log.
        layer.insert("group.id".to_string(), "kgate-log-reader".to_string());
        if !settings.client_id.is_empty() {
            layer.insert("client.id".to_string(), settings.client_id.clone());
        }
        // librdkafka pauses fetching for fetch.queue.backoff.ms (1 s) whenever its queue
        // holds queued.min.messages; the reader drains that queue far sooner, so a long
        // log would be read in one-second steps. A configured value still wins.
        let configured = |key: &str| {
            let c = self.config();
            c.client.contains_key(key) || c.consumer.contains_key(key)
        };
        if !configured("fetch.queue.backoff.ms") {
            layer.insert("fetch.queue.backoff.ms".to_string(), "10".to_string());
        }
        let config = self.consumer_config(&layer);
        let consumer: BaseConsumer<TracingContext> = config
            .create_with_context(TracingContext)
            .map_err(|e| KafkaError::from_rdkafka(e, "creating a log reader"))?;
        let mut assignment = TopicPartitionList::new();
        for p in partitions {
            assignment
                .add_partition_offset(topic, *p, Offset::Beginning)
                .map_err(|e| KafkaError::from_rdkafka(e, topic))?;
        }
        consumer
            .assign(&assignment)
            .map_err(|e| KafkaError::from_rdkafka(e, topic))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (sender, batches) = mpsc::channel(4);
        let thread = {
            let stop = stop.clone();
            let topic = topic.to_string();
            std::thread::Builder::new()
                .name(format!("kgate-log-{topic}"))
                .spawn(move || read_loop(&consumer, &topic, &stop, &sender))
                .map_err(|e| KafkaError::Internal(format!("starting a log reader thread: {e}")))?
        };
        Ok((
            LogReader {
                kafka: self.clone(),
                topic: topic.to_string(),
                partitions: partitions.to_vec(),
                read_committed: settings.read_committed,
                stop,
                thread: Some(thread),
            },
            batches,
        ))
    }

    /// Creates `topic` (compacted, as state topics are) unless it exists, waits until
    /// metadata shows a leader for each of its partitions, and returns their ids.
    ///
    /// Answers that mean "not yet" are asked again until `within` has passed: retriable
    /// errors and timeouts (a controller moving, a cluster just started), a topic not in
    /// metadata yet, and POLICY_VIOLATION, which the embedded broker answers while the
    /// process has too few file descriptors to spare (logged once at warn, since only
    /// an operator can end it early). A policy of a cluster that refuses the topic for
    /// good is therefore reported only once `within` has passed.
    pub async fn ensure_log_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: i32,
        within: Duration,
    ) -> Result<Vec<i32>, KafkaError> {
        let configs = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
        let mut asking = AskAgain::new(topic, "creating the state topic", within);
        loop {
            match self
                .create_topic(topic, partitions, replication_factor, &configs)
                .await
            {
                Ok(()) | Err(KafkaError::TopicAlreadyExists(_)) => break,
                Err(e) if creation_may_succeed_later(&e) => {
                    if e.is_policy_violation() {
                        asking.warn_once(
                            &e,
                            "the cluster refuses to create the state topic (POLICY_VIOLATION; the embedded broker answers so while the process has too few file descriptors to spare); asking again",
                        );
                    }
                    if !asking.again(&e).await {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // A topic just created (here, or by another instance a moment ago) may take a
        // moment to show in metadata with a leader for every partition.
        let mut asking = asking.next("waiting for the state topic's leaders");
        loop {
            let error = match self.fresh_metadata().await {
                Ok(meta) => match meta.topics.get(topic) {
                    Some(t)
                        if !t.partitions.is_empty()
                            && t.partitions.iter().all(|p| p.leader >= 0) =>
                    {
                        return Ok(t.partitions.iter().map(|p| p.id).collect());
                    }
                    _ => KafkaError::Timeout(format!(
                        "{topic} shows no leader for each of its partitions in metadata yet"
                    )),
                },
                Err(e) if e.is_retriable() => e,
                Err(e) => return Err(e),
            };
            if !asking.again(&error).await {
                return Err(error);
            }
        }
    }

    /// Starts reading `partitions` of `topic` from their start in the background: each
    /// batch of records is handed to `apply` (on the async runtime: keep it short), and
    /// `positions` then moves past it, so a writer can wait there for its records.
    pub fn apply_log(
        &self,
        topic: &str,
        partitions: &[i32],
        settings: &LogSettings,
        positions: LogPositions,
        mut apply: impl FnMut(&[LogRecord]) + Send + 'static,
    ) -> Result<AppliedLog, KafkaError> {
        let (reader, mut batches) = self.read_log_with(topic, partitions, settings)?;
        let applied = positions.clone();
        let applier = tokio::spawn(async move {
            while let Some(batch) = batches.recv().await {
                if !batch.records.is_empty() {
                    apply(&batch.records);
                }
                applied.advance(&batch.positions);
            }
        });
        Ok(AppliedLog {
            topic: topic.to_string(),
            reader: tokio::sync::Mutex::new(Some(reader)),
            positions,
            applier,
        })
    }
}

impl LogReader {
    /// The offset each partition ends at now: the high watermark, or with
    /// `read_committed` the last stable offset (an open transaction's records are not
    /// waited for).
    pub async fn end_offsets(&self) -> Result<BTreeMap<i32, i64>, KafkaError> {
        let asked: Vec<(String, i32)> = self
            .partitions
            .iter()
            .map(|p| (self.topic.clone(), *p))
            .collect();
        let answered = self
            .kafka
            .end_offsets_as(&asked, self.read_committed)
            .await?;
        Ok(answered
            .into_iter()
            .filter(|(_, o)| *o >= 0)
            .map(|((_, p), o)| (p, o))
            .collect())
    }

    /// [`LogReader::end_offsets`], asked again while the answer means the topic is not
    /// known everywhere yet, until `within` has passed.
    pub async fn end_offsets_within(
        &self,
        within: Duration,
    ) -> Result<BTreeMap<i32, i64>, KafkaError> {
        end_offsets_within(&self.topic, within, || self.end_offsets()).await
    }

    /// Stops the reader and waits until its consumer is closed.
    pub async fn close(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for LogReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The next offset applied in each partition of a log, shared by its applier and the
/// writers waiting for their records to be read back.
#[derive(Debug, Clone)]
pub struct LogPositions(watch::Sender<BTreeMap<i32, i64>>);

impl Default for LogPositions {
    fn default() -> Self {
        LogPositions::new()
    }
}

impl LogPositions {
    /// Positions at the start of every partition.
    pub fn new() -> LogPositions {
        LogPositions(watch::channel(BTreeMap::new()).0)
    }

    /// The next offset to apply in `partition` (0 before anything was read).
    pub fn position(&self, partition: i32) -> i64 {
        self.0.borrow().get(&partition).copied().unwrap_or(0)
    }

    /// Waits (at most `within`) until each partition's next offset to apply is at least
    /// the one given; [`KafkaError::Timeout`] when it is not.
    pub async fn wait_for(
        &self,
        ends: &BTreeMap<i32, i64>,
        within: Duration,
    ) -> Result<(), KafkaError> {
        let mut applied = self.0.subscribe();
        let reached = applied.wait_for(|positions| {
            ends.iter()
                .all(|(p, end)| positions.get(p).copied().unwrap_or(0) >= *end)
        });
        match tokio::time::timeout(within, reached).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(KafkaError::Internal("the log's applier stopped".into())),
            Err(_) => Err(KafkaError::Timeout(format!(
                "the log was not read up to {ends:?} within {within:?}"
            ))),
        }
    }

    /// Moves to `positions` (never backwards: a reader's position can lag the records it
    /// has handed out).
    fn advance(&self, positions: &BTreeMap<i32, i64>) {
        self.0.send_if_modified(|at| {
            let mut moved = false;
            for (p, next) in positions {
                let at = at.entry(*p).or_insert(0);
                if *next > *at {
                    *at = *next;
                    moved = true;
                }
            }
            moved
        });
    }
}

/// A log read from its start and applied in the background (see [`Kafka::apply_log`]);
/// reading stops when it is closed or dropped.
pub struct AppliedLog {
    topic: String,
    reader: tokio::sync::Mutex<Option<LogReader>>,
    positions: LogPositions,
    applier: tokio::task::JoinHandle<()>,
}

impl Drop for AppliedLog {
    fn drop(&mut self) {
        self.applier.abort();
    }
}

impl AppliedLog {
    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The positions applied so far.
    pub fn positions(&self) -> &LogPositions {
        &self.positions
    }

    /// Waits until every record written before the call has been applied (with
    /// read_committed, every record of a transaction committed before the call), at
    /// most `within`: end offsets the cluster does not know yet are asked again, then
    /// the applier is waited for. [`KafkaError::Timeout`] when it has not caught up.
    pub async fn read_to_end(&self, within: Duration) -> Result<(), KafkaError> {
        let deadline = Instant::now() + within;
        let ends = end_offsets_within(&self.topic, within, || async {
            // The lock is held for one lookup at a time, so a close is not held up by
            // a lookup asked again and again.
            match self.reader.lock().await.as_ref() {
                Some(reader) => reader.end_offsets().await,
                None => Err(KafkaError::Internal(format!(
                    "the reader of {} is closed",
                    self.topic
                ))),
            }
        })
        .await?;
        let left = deadline.saturating_duration_since(Instant::now());
        match self
            .positions
            .wait_for(&ends, left.max(Duration::from_secs(1)))
            .await
        {
            Err(KafkaError::Timeout(_)) => Err(KafkaError::Timeout(format!(
                "Timed out reading to the end of {}",
                self.topic
            ))),
            other => other,
        }
    }

    /// Stops reading (the reader's consumer is closed when this returns).
    pub async fn close(&self) {
        if let Some(reader) = self.reader.lock().await.take() {
            reader.close().await;
        }
    }
}

/// Whether a refused topic creation may succeed when asked again.
fn creation_may_succeed_later(e: &KafkaError) -> bool {
    e.is_retriable() || e.is_policy_violation()
}

/// Whether a failed end-offsets lookup of a topic known to exist may succeed when asked
/// again: "not found" too, since a broker, or the asking client itself (librdkafka's
/// local "Unknown partition" or "No leaders found", seen on a 3-broker Apache Kafka
/// cluster right after the topic was created), has not caught up with the topic yet.
fn end_offsets_not_known_yet(e: &KafkaError) -> bool {
    e.is_retriable()
        || e.is_partition_unknown_to_client()
        || matches!(
            e,
            KafkaError::TopicNotFound(_) | KafkaError::PartitionNotFound { .. }
        )
}

/// Asks `lookup` for end offsets until it answers, fails for good, or `within` passes.
async fn end_offsets_within<F, Fut>(
    topic: &str,
    within: Duration,
    mut lookup: F,
) -> Result<BTreeMap<i32, i64>, KafkaError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<BTreeMap<i32, i64>, KafkaError>>,
{
    let mut asking = AskAgain::new(topic, "asking the end offsets", within);
    loop {
        match lookup().await {
            Ok(ends) => return Ok(ends),
            Err(e) if end_offsets_not_known_yet(&e) => {
                if !asking.again(&e).await {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// A question asked again while its answer means "not yet", until a deadline: one
/// place for the pause, the deadline and the log lines of every such loop.
struct AskAgain<'a> {
    topic: &'a str,
    what: &'static str,
    deadline: Instant,
    asked: u32,
    warned: bool,
}

impl<'a> AskAgain<'a> {
    fn new(topic: &'a str, what: &'static str, within: Duration) -> AskAgain<'a> {
        AskAgain {
            topic,
            what,
            deadline: Instant::now() + within,
            asked: 0,
            warned: false,
        }
    }

    /// The next question about the same topic, under the same deadline.
    fn next(self, what: &'static str) -> AskAgain<'a> {
        AskAgain {
            what,
            asked: 0,
            ..self
        }
    }

    /// Logs `message` at warn the first time only.
    fn warn_once(&mut self, error: &KafkaError, message: &str) {
        if !self.warned {
            self.warned = true;
            tracing::warn!(topic = %self.topic, error = %error, "{message}");
        }
    }

    /// After the answer `error`: pauses and says true while the deadline allows
    /// another question, else says false at once.
    async fn again(&mut self, error: &KafkaError) -> bool {
        if Instant::now() + ASK_AGAIN_PAUSE > self.deadline {
            return false;
        }
        // The first "not yet" is worth a line; the rest only while debugging.
        if self.asked == 0 {
            tracing::info!(topic = %self.topic, error = %error, "{}: not yet; asking again", self.what);
        } else {
            tracing::debug!(topic = %self.topic, error = %error, "{}: not yet; asking again", self.what);
        }
        self.asked += 1;
        tokio::time::sleep(ASK_AGAIN_PAUSE).await;
        true
    }
}

fn read_loop(
    consumer: &BaseConsumer<TracingContext>,
    topic: &str,
    stop: &AtomicBool,
    sender: &mpsc::Sender<LogBatch>,
) {
    let mut last_positions = BTreeMap::new();
    while !stop.load(Ordering::SeqCst) {
        let mut records = Vec::new();
        let mut wait = POLL_WAIT;
        while records.len() < BATCH_RECORDS {
            match consumer.poll(wait) {
                Some(Ok(m)) => records.push(LogRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                }),
                Some(Err(e)) => {
                    tracing::warn!(topic, error = %e, "reading a log failed; retrying");
                    break;
                }
                None => break,
            }
            // Take what is already fetched without waiting again.
            wait = Duration::ZERO;
        }
        let positions = positions(consumer, &records);
        if records.is_empty() && positions == last_positions {
            continue;
        }
        last_positions.clone_from(&positions);
        if sender
            .blocking_send(LogBatch { records, positions })
            .is_err()
        {
            // Nobody reads the batches any more.
            return;
        }
    }
}

/// The consumer's position in each partition, never behind the records just read (the
/// position can lag the records handed out until librdkafka updates it).
fn positions(consumer: &BaseConsumer<TracingContext>, records: &[LogRecord]) -> BTreeMap<i32, i64> {
    let mut out = BTreeMap::new();
    if let Ok(list) = consumer.position() {
        for e in list.elements() {
            if let Offset::Offset(o) = e.offset() {
                out.insert(e.partition(), o);
            }
        }
    }
    for r in records {
        let next = out.entry(r.partition).or_insert(0);
        *next = (*next).max(r.offset + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::types::RDKafkaErrorCode as C;

    #[test]
    fn refusals_that_pass_are_asked_again() {
        // The embedded broker's answer while descriptors are short, and retriable ones.
        assert!(creation_may_succeed_later(&KafkaError::from_code(
            C::PolicyViolation,
            "connect-configs"
        )));
        assert!(creation_may_succeed_later(&KafkaError::from_code(
            C::NotController,
            "t"
        )));
        assert!(creation_may_succeed_later(&KafkaError::from_code(
            C::RequestTimedOut,
            "t"
        )));
        // Mistakes of the settings fail at once.
        for code in [
            C::InvalidReplicationFactor,
            C::InvalidConfig,
            C::InvalidTopic,
        ] {
            assert!(
                !creation_may_succeed_later(&KafkaError::from_code(code, "t")),
                "{code:?}"
            );
        }
        assert!(!creation_may_succeed_later(&KafkaError::from_code(
            C::TopicAuthorizationFailed,
            "t"
        )));
    }

    #[test]
    fn end_offsets_of_a_new_topic_are_asked_again() {
        for code in [
            C::UnknownTopicOrPartition,
            C::NotLeaderForPartition,
            C::LeaderNotAvailable,
            C::UnknownPartition,
            C::NoEnt,
            C::RequestTimedOut,
        ] {
            assert!(
                end_offsets_not_known_yet(&KafkaError::from_code(code, "t")),
                "{code:?}"
            );
        }
        for code in [C::TopicAuthorizationFailed, C::PolicyViolation] {
            assert!(
                !end_offsets_not_known_yet(&KafkaError::from_code(code, "t")),
                "{code:?}"
            );
        }
    }

    #[tokio::test]
    async fn positions_only_move_forward_and_release_waiters() {
        let positions = LogPositions::new();
        let waiter = {
            let positions = positions.clone();
            tokio::spawn(async move {
                positions
                    .wait_for(&BTreeMap::from([(0, 5), (1, 2)]), Duration::from_secs(30))
                    .await
            })
        };
        positions.advance(&BTreeMap::from([(0, 5)]));
        positions.advance(&BTreeMap::from([(0, 3), (1, 2)]));
        assert_eq!(positions.position(0), 5);
        assert_eq!(positions.position(1), 2);
        assert_eq!(positions.position(7), 0);
        assert!(waiter.await.expect("waiter").is_ok());
        let late = positions
            .wait_for(&BTreeMap::from([(0, 6)]), Duration::from_millis(20))
            .await;
        assert!(matches!(late, Err(KafkaError::Timeout(_))), "{late:?}");
    }

    #[tokio::test]
    async fn a_lookup_is_asked_again_until_it_answers_or_the_deadline_passes() {
        let mut asked = 0;
        let ends = end_offsets_within("t", Duration::from_secs(30), || {
            asked += 1;
            let answer = if asked < 3 {
                Err(KafkaError::from_code(C::UnknownPartition, "t"))
            } else {
                Ok(BTreeMap::from([(0, 7)]))
            };
            async move { answer }
        })
        .await;
        assert_eq!(ends.expect("ends"), BTreeMap::from([(0, 7)]));
        assert_eq!(asked, 3);

        let mut asked = 0;
        let refused = end_offsets_within("t", Duration::from_secs(30), || {
            asked += 1;
            async { Err(KafkaError::from_code(C::TopicAuthorizationFailed, "t")) }
        })
        .await;
        assert!(matches!(refused, Err(KafkaError::Authorization(_))));
        assert_eq!(asked, 1, "a lasting refusal is not asked again");

        // Ends (with the last answer) once the deadline has passed.
        let late = end_offsets_within("t", Duration::from_millis(500), || async {
            Err(KafkaError::from_code(C::NotLeaderForPartition, "t"))
        })
        .await;
        assert!(late.is_err_and(|e| e.is_retriable()));
    }
}
