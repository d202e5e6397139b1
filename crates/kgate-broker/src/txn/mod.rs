//! The transaction coordinator: one entry per transactional id (its producer id and
//! epoch, timeout, the partitions and groups of the open transaction, and the offsets it
//! will commit), kept durable in `<data_dir>/transactions/state.json`.
//!
//! On a single node the two-phase protocol collapses: EndTxn writes the markers to every
//! partition of the transaction before it answers, so the Prepare* states of Kafka's
//! coordinator are never visible.
//!
//! A transactional id left idle (no open transaction) longer than
//! `transactional.id.expiration.ms` is forgotten, as Kafka's coordinator does.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;

use kafka_protocol::ResponseError;
use parking_lot::{Mutex, MutexGuard};
use serde::{Deserialize, Serialize};

use crate::state::BrokerState;
use crate::topics::TopicRegistry;

/// Kafka's default `transaction.max.timeout.ms` (15 minutes).
const DEFAULT_MAX_TIMEOUT_MS: i64 = 900_000;
/// Kafka's default `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
const DEFAULT_ABORT_INTERVAL_MS: u64 = 10_000;
/// Kafka's default `transactional.id.expiration.ms` (7 days).
const DEFAULT_ID_EXPIRATION_MS: i64 = 7 * 24 * 3_600_000;
/// Kafka's default `transaction.remove.expired.transaction.cleanup.interval.ms` (1 hour).
const DEFAULT_REMOVE_INTERVAL_MS: u64 = 3_600_000;

/// Every state name Kafka's coordinator knows; ListTransactions reports filters naming
/// anything else as unknown.
pub const STATE_NAMES: &[&str] = &[
    "Empty",
    "Ongoing",
    "PrepareCommit",
    "PrepareAbort",
    "CompleteCommit",
    "CompleteAbort",
    "Dead",
    "PrepareEpochFence",
];

/// Where a transactional id stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnStatus {
    /// Initialised, no transaction started yet.
    Empty,
    /// A transaction is open.
    Ongoing,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
}

impl TxnStatus {
    /// The state's name in ListTransactions and DescribeTransactions.
    pub fn name(self) -> &'static str {
        match self {
            TxnStatus::Empty => "Empty",
            TxnStatus::Ongoing => "Ongoing",
            TxnStatus::CompleteCommit => "CompleteCommit",
            TxnStatus::CompleteAbort => "CompleteAbort",
        }
    }
}

/// An offset a transaction commits for a consumer group when it commits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingOffset {
    /// The consumer group.
    pub group_id: String,
    /// The group generation the producer's consumer was in.
    pub generation_id: i32,
    /// The consumer's member id.
    pub member_id: String,
    /// The consumer's static instance id, if any.
    pub group_instance_id: Option<String>,
    /// Topic of the offset.
    pub topic: String,
    /// Partition of the offset.
    pub partition: i32,
    /// The offset to commit.
    pub offset: i64,
    /// The leader epoch the consumer saw.
    pub leader_epoch: i32,
    /// Client metadata stored with the offset.
    pub metadata: Option<String>,
}

/// The coordinator's record of one transactional id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxnEntry {
    /// The producer id bound to the transactional id.
    pub producer_id: i64,
    /// The current epoch; older epochs are fenced.
    pub producer_epoch: i16,
    /// `transaction.timeout.ms` the producer asked for.
    pub timeout_ms: i64,
    /// The state of the latest transaction.
    pub status: TxnStatus,
    /// Partitions written by the open transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// Groups whose offsets the open transaction commits.
    pub groups: BTreeSet<String>,
    /// Offsets committed when the transaction commits.
    pub pending_offsets: Vec<PendingOffset>,
    /// When the open transaction started (ms since the epoch).
    pub started_ms: i64,
    /// When the coordinator last changed this entry (ms since the epoch); idle time
    /// counts from here. State kept before this field existed counts from loading.
    #[serde(default = "now_ms")]
    pub last_update_ms: i64,
}

impl TxnEntry {
    /// When the latest transaction started, or -1 if none ever did (Kafka's value).
    pub fn start_time_ms(&self) -> i64 {
        if self.status == TxnStatus::Empty && self.started_ms == 0 {
            -1
        } else {
            self.started_ms
        }
    }
}

/// Every transactional id, guarded as one table.
pub type TxnTable = BTreeMap<String, TxnEntry>;

/// The transaction coordinator.
pub struct TxnCoordinator {
    table: Mutex<TxnTable>,
    dir: PathBuf,
    max_timeout_ms: i64,
    /// How often timed-out transactions are looked for.
    pub abort_interval_ms: u64,
    /// `transactional.id.expiration.ms`: idle ids older than this are forgotten.
    id_expiration_ms: i64,
    /// How often expired transactional ids are looked for.
    pub remove_interval_ms: u64,
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Checks that a request comes from the current producer of the entry.
fn check_producer(entry: &TxnEntry, producer_id: i64, epoch: i16) -> Result<(), ResponseError> {
    if entry.producer_id != producer_id {
        return Err(ResponseError::InvalidProducerIdMapping);
    }
    if epoch != entry.producer_epoch {
        return Err(ResponseError::ProducerFenced);
    }
    Ok(())
}

impl TxnCoordinator {
    /// Loads the coordinator state under `<data_dir>/transactions`, with the broker
    /// properties `transaction.max.timeout.ms`,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`,
    /// `transactional.id.expiration.ms` and
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`.
    pub fn open(
        data_dir: &std::path::Path,
        properties: &BTreeMap<String, String>,
    ) -> io::Result<TxnCoordinator> {
        let dir = data_dir.join("transactions");
        std::fs::create_dir_all(&dir)?;
        let table: TxnTable = match std::fs::read(dir.join("state.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("transactions/state.json is unreadable: {e}"),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => TxnTable::new(),
            Err(e) => return Err(e),
        };
        let number = |key: &str| {
            properties
                .get(key)
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        let id_expiration_ms = number("transactional.id.expiration.ms")
            .unwrap_or(DEFAULT_ID_EXPIRATION_MS)
            .max(1);
        // Looking no less often than the expiration itself keeps a short expiration
        // meaningful without also having to shorten the cleanup interval.
        let remove_interval_ms =
            number("transaction.remove.expired.transaction.cleanup.interval.ms")
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(DEFAULT_REMOVE_INTERVAL_MS)
                .min(id_expiration_ms as u64)
                .max(1);
        Ok(TxnCoordinator {
            table: Mutex::new(table),
            dir,
            max_timeout_ms: number("transaction.max.timeout.ms").unwrap_or(DEFAULT_MAX_TIMEOUT_MS),
            abort_interval_ms: number(
                "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            )
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(DEFAULT_ABORT_INTERVAL_MS)
            .max(1),
            id_expiration_ms,
            remove_interval_ms,
        })
    }

    /// The table, locked; produce holds it while appending transactional batches so a
    /// marker can never slip between the check and the append.
    pub fn lock(&self) -> MutexGuard<'_, TxnTable> {
        self.table.lock()
    }

    fn save(&self, table: &TxnTable) -> Result<(), ResponseError> {
        let write = || -> io::Result<()> {
            let bytes = serde_json::to_vec(table).map_err(io::Error::other)?;
            let tmp = self.dir.join("state.json.tmp");
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(tmp, self.dir.join("state.json"))
        };
        write().map_err(|e| {
            tracing::error!(error = %e, "transaction state not persisted");
            ResponseError::CoordinatorNotAvailable
        })
    }

    /// InitProducerId with a transactional id: binds (or re-binds) a producer id, bumps
    /// the epoch to fence older producers, and aborts a transaction left open.
    pub fn init_producer_id(
        &self,
        state: &BrokerState,
        transactional_id: &str,
        timeout_ms: i32,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<(i64, i16), ResponseError> {
        if timeout_ms <= 0 || timeout_ms as i64 > self.max_timeout_ms {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let mut table = self.table.lock();
        let entry = match table.get_mut(transactional_id) {
            None => {
                let id = state.producer_ids.allocate().map_err(|e| {
                    tracing::error!(error = %e, "cannot reserve producer ids");
                    ResponseError::KafkaStorageError
                })?;
                table.insert(
                    transactional_id.to_string(),
                    TxnEntry {
                        producer_id: id,
                        producer_epoch: 0,
                        timeout_ms: timeout_ms as i64,
                        status: TxnStatus::Empty,
                        partitions: BTreeSet::new(),
                        groups: BTreeSet::new(),
                        pending_offsets: Vec::new(),
                        started_ms: 0,
                        last_update_ms: now_ms(),
                    },
                );
                self.save(&table)?;
                return Ok((id, 0));
            }
            Some(entry) => entry,
        };
        // KIP-360: a producer re-initialising names its current id and epoch; anything
        // else is a stale producer.
        if producer_id >= 0
            && (producer_id != entry.producer_id || producer_epoch != entry.producer_epoch)
        {
            return Err(ResponseError::ProducerFenced);
        }
        if entry.status == TxnStatus::Ongoing {
            write_markers(&state.topics, entry, false);
            entry.status = TxnStatus::CompleteAbort;
            finish(entry);
        }
        if entry.producer_epoch >= i16::MAX - 1 {
            entry.producer_id = state.producer_ids.allocate().map_err(|e| {
                tracing::error!(error = %e, "cannot reserve producer ids");
                ResponseError::KafkaStorageError
            })?;
            entry.producer_epoch = 0;
        } else {
            entry.producer_epoch += 1;
        }
        entry.timeout_ms = timeout_ms as i64;
        entry.status = TxnStatus::Empty;
        entry.last_update_ms = now_ms();
        let answer = (entry.producer_id, entry.producer_epoch);
        self.save(&table)?;
        state.topics.appended.notify_waiters();
        Ok(answer)
    }

    /// Starts the transaction if needed and applies `change` to it.
    fn update_ongoing(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        change: impl FnOnce(&mut TxnEntry),
    ) -> Result<(), ResponseError> {
        let mut table = self.table.lock();
        let entry = table
            .get_mut(transactional_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        check_producer(entry, producer_id, producer_epoch)?;
        if entry.status != TxnStatus::Ongoing {
            entry.status = TxnStatus::Ongoing;
            entry.started_ms = now_ms();
        }
        entry.last_update_ms = now_ms();
        change(entry);
        self.save(&table)
    }

    /// AddPartitionsToTxn: the partitions join the open transaction.
    pub fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), ResponseError> {
        self.update_ongoing(transactional_id, producer_id, producer_epoch, |e| {
            e.partitions.extend(partitions.iter().cloned());
        })
    }

    /// AddOffsetsToTxn: the group's offsets will be committed with the transaction.
    pub fn add_offsets(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        group_id: &str,
    ) -> Result<(), ResponseError> {
        self.update_ongoing(transactional_id, producer_id, producer_epoch, |e| {
            e.groups.insert(group_id.to_string());
        })
    }

    /// TxnOffsetCommit: keeps the offsets until the transaction ends.
    pub fn stage_offsets(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        offsets: Vec<PendingOffset>,
    ) -> Result<(), ResponseError> {
        let mut table = self.table.lock();
        let entry = table
            .get_mut(transactional_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        check_producer(entry, producer_id, producer_epoch)?;
        if entry.status != TxnStatus::Ongoing
            || offsets.iter().any(|o| !entry.groups.contains(&o.group_id))
        {
            return Err(ResponseError::InvalidTxnState);
        }
        entry.last_update_ms = now_ms();
        for o in offsets {
            entry.pending_offsets.retain(|p| {
                !(p.group_id == o.group_id && p.topic == o.topic && p.partition == o.partition)
            });
            entry.pending_offsets.push(o);
        }
        self.save(&table)
    }

    /// EndTxn: writes commit or abort markers to every partition of the transaction and
    /// returns the offsets the caller must now commit to the group coordinator.
    pub fn end_txn(
        &self,
        state: &BrokerState,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<Vec<PendingOffset>, ResponseError> {
        let mut table = self.table.lock();
        let entry = table
            .get_mut(transactional_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        check_producer(entry, producer_id, producer_epoch)?;
        match (entry.status, commit) {
            // A retry of an EndTxn that already took effect.
            (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => {
                return Ok(Vec::new());
            }
            (TxnStatus::Ongoing, _) => {}
            _ => return Err(ResponseError::InvalidTxnState),
        }
        write_markers(&state.topics, entry, commit);
        entry.status = if commit {
            TxnStatus::CompleteCommit
        } else {
            TxnStatus::CompleteAbort
        };
        let offsets = if commit {
            std::mem::take(&mut entry.pending_offsets)
        } else {
            Vec::new()
        };
        finish(entry);
        entry.last_update_ms = now_ms();
        self.save(&table)?;
        drop(table);
        state.topics.appended.notify_waiters();
        Ok(offsets)
    }

    /// Aborts every transaction open longer than its timeout, bumping the epoch so the
    /// producer that let it expire is fenced. Returns how many were aborted.
    pub fn abort_expired(&self, state: &BrokerState) -> usize {
        let now = now_ms();
        let mut table = self.table.lock();
        let mut aborted = 0;
        for (id, entry) in table.iter_mut() {
            if entry.status != TxnStatus::Ongoing || now - entry.started_ms <= entry.timeout_ms {
                continue;
            }
            tracing::info!(transactional_id = %id, "aborting a transaction past its timeout");
            if entry.producer_epoch < i16::MAX - 1 {
                entry.producer_epoch += 1;
            }
            write_markers(&state.topics, entry, false);
            entry.status = TxnStatus::CompleteAbort;
            finish(entry);
            entry.last_update_ms = now;
            aborted += 1;
        }
        if aborted > 0 {
            let _ = self.save(&table);
            drop(table);
            state.topics.appended.notify_waiters();
        }
        aborted
    }

    /// Forgets, durably, every transactional id without an open transaction that has
    /// been idle longer than `transactional.id.expiration.ms`. Returns how many.
    pub fn remove_expired(&self) -> usize {
        let now = now_ms();
        let mut table = self.table.lock();
        let before = table.len();
        table.retain(|id, entry| {
            let expired = entry.status != TxnStatus::Ongoing
                && now - entry.last_update_ms > self.id_expiration_ms;
            if expired {
                tracing::info!(transactional_id = %id, "transactional id expired");
            }
            !expired
        });
        let removed = before - table.len();
        if removed > 0 {
            let _ = self.save(&table);
        }
        removed
    }

    /// A copy of every entry, for ListTransactions and DescribeTransactions.
    pub fn snapshot(&self) -> TxnTable {
        self.table.lock().clone()
    }
}

/// Checks a transactional produce against the coordinator: the producer must be current
/// and the partition part of its open transaction.
pub fn check_produce(
    table: &TxnTable,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    topic: &str,
    partition: i32,
) -> Result<(), ResponseError> {
    let entry = table
        .get(transactional_id)
        .ok_or(ResponseError::InvalidProducerIdMapping)?;
    if entry.producer_id != producer_id {
        return Err(ResponseError::InvalidProducerIdMapping);
    }
    if producer_epoch != entry.producer_epoch {
        return Err(ResponseError::InvalidProducerEpoch);
    }
    if entry.status != TxnStatus::Ongoing
        || !entry.partitions.contains(&(topic.to_string(), partition))
    {
        return Err(ResponseError::InvalidTxnState);
    }
    Ok(())
}

/// Clears what belonged to the transaction that just ended.
fn finish(entry: &mut TxnEntry) {
    entry.partitions.clear();
    entry.groups.clear();
    entry.pending_offsets.clear();
}

/// Writes a marker to every partition of the entry's transaction. A partition that is
/// gone (topic deleted) has nothing left to decide.
fn write_markers(topics: &TopicRegistry, entry: &TxnEntry, commit: bool) {
    for (topic, partition) in &entry.partitions {
        let Some(log) = topics.get(topic).and_then(|t| t.partition(*partition)) else {
            continue;
        };
        if let Err(e) = log
            .lock()
            .append_marker(entry.producer_id, entry.producer_epoch, commit, 0)
        {
            tracing::error!(
                topic = %topic,
                partition,
                error = %e.message,
                "cannot write a transaction marker"
            );
        }
    }
}

/// Aborts timed-out transactions every `abort_interval_ms` and forgets expired
/// transactional ids every `remove_interval_ms`, until shutdown.
pub async fn abort_expired_loop(
    state: std::sync::Arc<BrokerState>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let every = |ms: u64| {
        let period = std::time::Duration::from_millis(ms);
        let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        timer
    };
    let mut abort = every(state.txn.abort_interval_ms);
    let mut remove = every(state.txn.remove_interval_ms);
    loop {
        let expire_ids = tokio::select! {
            _ = abort.tick() => false,
            _ = remove.tick() => true,
            _ = shutdown.changed() => return,
        };
        let state = state.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if expire_ids {
                state.txn.remove_expired();
            } else {
                state.txn.abort_expired(&state);
            }
        })
        .await;
    }
}
