//! Log compaction for `cleanup.policy=compact`, following Apache Kafka's log cleaner.
//!
//! A log is cleaned when the uncleaned ("dirty") part is more than
//! `min.cleanable.dirty.ratio` of it, when its oldest dirty record is older than
//! `max.compaction.lag.ms`, or when a tombstone or marker the cleaner kept has reached its
//! delete horizon. A pass covers the rolled segments from the log start up to the first
//! one that is not yet stable (an undecided transaction) or holds a record younger than
//! `min.compaction.lag.ms`. It keeps the latest record of every key seen in the dirty
//! part, drops the records of aborted transactions, stamps batches holding tombstones
//! with a delete horizon (`delete.retention.ms` from now) and removes those tombstones
//! in a later pass once it has passed (transaction markers whose transaction has no
//! batch left likewise, an abort marker only once its aborted-index entry is gone),
//! keeps each idempotent producer's latest batch (emptied if need be) so producer
//! state survives restarts, and writes the result as segments of up to
//! `segment.bytes`, merging small neighbours. Batches keep their base offset and offset
//! span, so offsets, sequences and the segments' ends do not move.
//!
//! Produce and fetch are never blocked by the rewriting: a plan is taken under the
//! partition lock (which rolled segments to rewrite, with file handles to read them),
//! the new files are written without the lock (rolled segments never change), and they
//! are swapped in under the lock if the log still starts with the planned segments. A
//! swap is crash-safe: the rewritten file is renamed to `<first>.<end>.swap` before the
//! old segments are deleted, and opening a log completes any swap it finds.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use bytes::Bytes;

use super::batch::{self, BatchHeader, HEADER_LEN, StoredRecord};
use super::partition::PartitionLog;
use super::segment::{Segment, cleaned_path, file_stem};
use super::transactions::AbortedTxn;

/// One rolled segment a pass reads.
struct PlannedSegment {
    base_offset: i64,
    next_offset: i64,
    size: u64,
    file: File,
}

/// What one compaction pass works on, taken under the partition lock.
pub struct CleaningPlan {
    dir: PathBuf,
    /// The segments to rewrite, from the start of the log.
    segments: Vec<PlannedSegment>,
    /// The first offset this pass leaves alone (base of the first segment not planned).
    end: i64,
    /// Where the part not cleaned before starts; only its keys supersede older records.
    first_dirty: i64,
    /// Aborted transactions overlapping the planned segments.
    aborted: Vec<AbortedTxn>,
    /// Each idempotent producer's latest batch: id -> (epoch, last sequence).
    producer_last: HashMap<i64, (i16, i32)>,
    segment_bytes: u64,
    delete_retention_ms: i64,
    index_interval: u32,
}

/// A run of planned segments rewritten as one.
struct Group {
    first: i64,
    /// Base offset of the segment after the group.
    end: i64,
    members: usize,
    segment: Segment,
}

/// Rewritten segments ready to be swapped in.
pub struct Cleaned {
    /// Base offsets of every planned segment, to check the log still starts with them.
    planned: Vec<i64>,
    groups: Vec<Group>,
    end: i64,
    pending_horizon: Option<i64>,
    /// Aborted-index entries whose transaction has no batch left once these segments
    /// are in: they may leave the index with this swap, and their markers in a later
    /// pass after the delete horizon.
    forget: Vec<AbortedTxn>,
}

impl PartitionLog {
    /// Rolls an aged active segment, then returns a plan for a compaction pass when
    /// this log is compacted and Kafka's cleaner would clean it now.
    pub fn cleaning_plan(&mut self, now: i64) -> io::Result<Option<CleaningPlan>> {
        let config = self.config().clone();
        if !config.compact_policy {
            return Ok(None);
        }
        self.roll_if_aged(now)?;
        let stable = self.last_stable_offset();
        let first_dirty = self.cleaner_checkpoint();
        let segments = self.segment_list();
        let rolled = &segments[..segments.len().saturating_sub(1)];
        let young_after = now.saturating_sub(config.min_compaction_lag_ms);
        let count = rolled
            .iter()
            .take_while(|s| {
                s.next_offset <= stable
                    && (config.min_compaction_lag_ms == 0 || s.max_timestamp <= young_after)
            })
            .count();
        if count == 0 {
            return Ok(None);
        }
        let cleanable = &rolled[..count];
        let (mut clean_bytes, mut dirty_bytes) = (0u64, 0u64);
        for s in cleanable {
            if s.next_offset > first_dirty {
                dirty_bytes += s.size;
            } else {
                clean_bytes += s.size;
            }
        }
        let ratio = if dirty_bytes == 0 {
            0.0
        } else {
            dirty_bytes as f64 / (clean_bytes + dirty_bytes) as f64
        };
        // Kafka measures the compaction delay on every dirty rolled segment, cleanable
        // or not, by its first batch's timestamp.
        let overdue = rolled
            .iter()
            .filter(|s| s.next_offset > first_dirty && s.first_batch_timestamp > 0)
            .map(|s| s.first_batch_timestamp)
            .min()
            .is_some_and(|t| t < now.saturating_sub(config.max_compaction_lag_ms));
        let horizon_passed = self.pending_horizon().is_some_and(|h| h <= now);
        // Strictly greater, as in Kafka: a ratio of 1 leaves cleaning to the lag rules.
        let due =
            ratio > config.min_cleanable_ratio || (overdue && dirty_bytes > 0) || horizon_passed;
        if !due {
            return Ok(None);
        }
        let end = segments[count].base_offset;
        let mut planned = Vec::with_capacity(count);
        for s in cleanable {
            planned.push(PlannedSegment {
                base_offset: s.base_offset,
                next_offset: s.next_offset,
                size: s.size,
                file: s.reader()?,
            });
        }
        let start = cleanable[0].base_offset;
        Ok(Some(CleaningPlan {
            dir: self.dir().to_path_buf(),
            segments: planned,
            end,
            first_dirty,
            aborted: self.aborted_between(start, end),
            producer_last: self.producer_last_batches(),
            segment_bytes: config.segment_bytes,
            delete_retention_ms: config.delete_retention_ms,
            index_interval: config.index_interval_bytes,
        }))
    }

    /// Swaps rewritten segments in and records the pass; false when the log changed so
    /// they no longer fit (the pass is then discarded and retried later).
    pub fn install_cleaned(&mut self, cleaned: Cleaned) -> io::Result<bool> {
        let dir = self.dir().to_path_buf();
        let fits = {
            let segments = self.segment_list();
            segments.len() > cleaned.planned.len()
                && segments
                    .iter()
                    .zip(&cleaned.planned)
                    .all(|(s, b)| s.base_offset == *b)
        };
        if !fits {
            for g in &cleaned.groups {
                remove_cleaned_files(&dir, g.first);
            }
            return Ok(false);
        }
        let mut failure = None;
        for group in cleaned.groups {
            let swap = dir.join(format!(
                "{}.{}.swap",
                file_stem(group.first),
                file_stem(group.end)
            ));
            // The rename to .swap is the commit point: from here a restart completes
            // the swap instead of keeping the old segments.
            if let Err(e) = std::fs::rename(cleaned_path(&dir, group.first, "log"), &swap) {
                remove_cleaned_files(&dir, group.first);
                failure.get_or_insert(e);
                continue;
            }
            let segments = self.segments_mut();
            let Some(at) = segments.iter().position(|s| s.base_offset == group.first) else {
                continue;
            };
            let old: Vec<Segment> = segments
                .splice(at..at + group.members, [group.segment])
                .collect();
            let mut result = Ok(());
            for seg in old {
                result = result.and(seg.delete_files());
            }
            let stem = file_stem(group.first);
            for ext in ["index", "timeindex"] {
                result = result.and(std::fs::rename(
                    cleaned_path(&dir, group.first, ext),
                    dir.join(format!("{stem}.{ext}")),
                ));
            }
            result = result.and(std::fs::rename(&swap, dir.join(format!("{stem}.log"))));
            if let Err(e) = result {
                failure.get_or_insert(e);
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        // Only now that every group is in are the dropped aborted batches gone.
        let forget = cleaned.forget;
        self.txns_mut().retain_aborted(|a| !forget.contains(a))?;
        self.set_cleaner_state(cleaned.end, cleaned.pending_horizon)?;
        Ok(true)
    }
}

fn remove_cleaned_files(dir: &std::path::Path, base: i64) {
    for ext in ["log", "index", "timeindex"] {
        let _ = std::fs::remove_file(cleaned_path(dir, base, ext));
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unreadable batch in a rolled segment: {e}"),
    )
}

/// Calls `f` with every whole batch of a planned segment, reading without the lock.
fn for_each_batch(
    seg: &PlannedSegment,
    mut f: impl FnMut(BatchHeader, Bytes) -> io::Result<()>,
) -> io::Result<()> {
    let mut head = [0u8; HEADER_LEN];
    let mut pos = 0u64;
    while pos + HEADER_LEN as u64 <= seg.size {
        seg.file.read_exact_at(&mut head, pos)?;
        let h = BatchHeader::parse(&head).map_err(invalid)?;
        if pos + h.size as u64 > seg.size {
            break;
        }
        let mut buf = vec![0u8; h.size];
        seg.file.read_exact_at(&mut buf, pos)?;
        f(h, Bytes::from(buf))?;
        pos += h.size as u64;
    }
    Ok(())
}

/// What a pass does with one batch.
enum Verdict {
    Keep,
    Drop,
    Rewrite(Vec<u8>),
}

/// The per-pass state of filtering batches in offset order.
struct Filter<'a> {
    plan: &'a CleaningPlan,
    latest: HashMap<Bytes, i64>,
    now: i64,
    /// Producer -> whether a batch of its current transaction survives this pass (a
    /// record of a committed one, or an aborted batch kept empty as the producer's last).
    survivors: HashMap<i64, bool>,
    pending_horizon: Option<i64>,
    /// Aborted-index entries with no batch left after this pass.
    forget: Vec<AbortedTxn>,
}

impl Filter<'_> {
    fn is_aborted(&self, h: &BatchHeader) -> bool {
        h.is_transactional()
            && self.plan.aborted.iter().any(|a| {
                a.producer_id == h.producer_id
                    && a.first_offset <= h.base_offset
                    && h.base_offset <= a.last_offset
            })
    }

    fn new_horizon(&self) -> i64 {
        self.now.saturating_add(self.plan.delete_retention_ms)
    }

    fn note_horizon(&mut self, horizon: i64) {
        self.pending_horizon = Some(self.pending_horizon.map_or(horizon, |p| p.min(horizon)));
    }

    fn judge(&mut self, h: &BatchHeader, bytes: &Bytes) -> io::Result<Verdict> {
        if h.is_control() {
            return self.judge_marker(h, bytes);
        }
        if self.is_aborted(h) {
            let verdict = self.drop_or_empty(h, bytes)?;
            // An aborted batch kept (empty) needs its abort marker, or a restart would
            // take its transaction for an open one.
            *self.survivors.entry(h.producer_id).or_insert(false) |=
                !matches!(verdict, Verdict::Drop);
            return Ok(verdict);
        }
        let records = batch::stored_records(bytes, h)?;
        let horizon = h.delete_horizon();
        let now = self.now;
        let kept: Vec<StoredRecord> = records
            .iter()
            .filter(|r| {
                let Some(key) = &r.key else {
                    return true;
                };
                let offset = h.base_offset + r.offset_delta as i64;
                let latest = self.latest.get(key).is_none_or(|l| offset >= *l);
                // A tombstone is kept until the horizon of the pass that first cleaned it.
                latest && (!r.is_tombstone || horizon.is_none_or(|t| t > now))
            })
            .cloned()
            .collect();
        if kept.is_empty() {
            let verdict = self.drop_or_empty(h, bytes)?;
            if h.is_transactional() {
                // A batch kept empty still needs its commit marker at the next restart.
                *self.survivors.entry(h.producer_id).or_insert(false) |=
                    !matches!(verdict, Verdict::Drop);
            }
            return Ok(verdict);
        }
        if h.is_transactional() {
            self.survivors.insert(h.producer_id, true);
        }
        let has_tombstone = kept.iter().any(|r| r.key.is_some() && r.is_tombstone);
        let wanted = has_tombstone.then(|| horizon.unwrap_or_else(|| self.new_horizon()));
        if let Some(t) = wanted {
            self.note_horizon(t);
        }
        if kept.len() == records.len() && wanted == horizon {
            return Ok(Verdict::Keep);
        }
        Ok(Verdict::Rewrite(batch::rewrite(bytes, h, &kept, wanted)?))
    }

    /// A batch with nothing left to keep goes, unless it is its producer's latest:
    /// that one stays as an empty batch, as in Kafka, so the producer's epoch and
    /// sequence are rebuilt from the log after a restart.
    fn drop_or_empty(&self, h: &BatchHeader, bytes: &Bytes) -> io::Result<Verdict> {
        let latest = h.producer_id >= 0
            && self.plan.producer_last.get(&h.producer_id)
                == Some(&(h.producer_epoch, h.last_sequence()));
        Ok(match (latest, h.records_count) {
            (false, _) => Verdict::Drop,
            (true, 0) => Verdict::Keep,
            (true, _) => Verdict::Rewrite(batch::rewrite(bytes, h, &[], None)?),
        })
    }

    /// The aborted-index entry an abort marker closes, if the index still holds it.
    fn indexed_abort(&self, h: &BatchHeader) -> Option<AbortedTxn> {
        self.plan
            .aborted
            .iter()
            .find(|a| a.producer_id == h.producer_id && a.last_offset == h.base_offset)
            .copied()
    }

    /// A transaction marker whose transaction has no batch left is removable: it gets a
    /// delete horizon and goes in a pass after that has passed, as in Kafka. An abort
    /// marker additionally waits until its aborted-index entry is gone: that entry is
    /// dropped with the swap of the pass that finds no batch of the transaction left,
    /// never before (read_committed fetches must keep skipping its records while any
    /// remains), and the marker never goes first, because a consumer told of an
    /// aborted range skips the producer's batches until it meets the abort marker.
    fn judge_marker(&mut self, h: &BatchHeader, bytes: &Bytes) -> io::Result<Verdict> {
        let survived = self.survivors.remove(&h.producer_id).unwrap_or(false);
        let records = batch::stored_records(bytes, h)?;
        let is_txn_marker = marker_type(&records).is_some_and(|t| t == ABORT || t == COMMIT);
        if survived || !is_txn_marker {
            if let Some(t) = h.delete_horizon() {
                self.note_horizon(t);
            }
            return Ok(Verdict::Keep);
        }
        let indexed = if batch::is_commit_marker(&records) {
            None
        } else {
            self.indexed_abort(h)
        };
        if let Some(entry) = indexed {
            self.forget.push(entry);
            return Ok(match h.delete_horizon() {
                Some(t) => {
                    // Past its horizon it only waits for the index, which does not need
                    // another pass to be scheduled.
                    if t > self.now {
                        self.note_horizon(t);
                    }
                    Verdict::Keep
                }
                None => {
                    let t = self.new_horizon();
                    self.note_horizon(t);
                    Verdict::Rewrite(batch::rewrite(bytes, h, &records, Some(t))?)
                }
            });
        }
        match h.delete_horizon() {
            Some(t) if t <= self.now => Ok(Verdict::Drop),
            Some(t) => {
                self.note_horizon(t);
                Ok(Verdict::Keep)
            }
            None => {
                let t = self.new_horizon();
                self.note_horizon(t);
                Ok(Verdict::Rewrite(batch::rewrite(
                    bytes,
                    h,
                    &records,
                    Some(t),
                )?))
            }
        }
    }
}

/// Kafka's control record types of transaction markers.
const ABORT: i16 = 0;
const COMMIT: i16 = 1;

/// The type of a control batch's record (its key is a version then a type, 16 bits each).
fn marker_type(records: &[StoredRecord]) -> Option<i16> {
    let key = records.first()?.key.as_ref()?;
    (key.len() >= 4).then(|| i16::from_be_bytes([key[2], key[3]]))
}

/// A group of rewritten segments being assembled.
struct GroupBuilder {
    first: i64,
    members: usize,
    bytes: Vec<u8>,
    changed: bool,
}

/// Writes the rewritten segments of `plan` beside the originals (no lock needed).
pub fn clean(plan: &CleaningPlan, now: i64) -> io::Result<Cleaned> {
    // Kafka's offset map: the latest offset of every key in the dirty part, leaving out
    // aborted records and markers.
    let mut filter = Filter {
        plan,
        latest: HashMap::new(),
        now,
        survivors: HashMap::new(),
        pending_horizon: None,
        forget: Vec::new(),
    };
    for seg in plan
        .segments
        .iter()
        .filter(|s| s.next_offset > plan.first_dirty)
    {
        let mut keys = Vec::new();
        for_each_batch(seg, |h, bytes| {
            if h.is_control() || filter.is_aborted(&h) {
                return Ok(());
            }
            for r in batch::stored_records(&bytes, &h)? {
                if let Some(key) = r.key {
                    keys.push((key, h.base_offset + r.offset_delta as i64));
                }
            }
            Ok(())
        })?;
        filter.latest.extend(keys);
    }

    let mut groups = Vec::new();
    let mut current: Option<GroupBuilder> = None;
    for seg in &plan.segments {
        let mut out = Vec::new();
        let mut changed = false;
        for_each_batch(seg, |h, bytes| {
            match filter.judge(&h, &bytes)? {
                Verdict::Keep => out.extend_from_slice(&bytes),
                Verdict::Drop => changed = true,
                Verdict::Rewrite(b) => {
                    changed = true;
                    out.extend_from_slice(&b);
                }
            }
            Ok(())
        })?;
        // Small neighbours are merged up to segment.bytes, keeping offsets within a
        // segment addressable as 32-bit deltas.
        let joins = current.as_ref().is_some_and(|g| {
            (g.bytes.len() + out.len()) as u64 <= plan.segment_bytes
                && seg.next_offset - g.first <= i32::MAX as i64
        });
        if joins {
            if let Some(g) = current.as_mut() {
                g.members += 1;
                g.changed = true;
                g.bytes.extend_from_slice(&out);
            }
        } else {
            if let Some(g) = current.take() {
                groups.extend(finish_group(plan, g, seg.base_offset)?);
            }
            current = Some(GroupBuilder {
                first: seg.base_offset,
                members: 1,
                bytes: out,
                changed,
            });
        }
    }
    if let Some(g) = current.take() {
        groups.extend(finish_group(plan, g, plan.end)?);
    }
    Ok(Cleaned {
        planned: plan.segments.iter().map(|s| s.base_offset).collect(),
        groups,
        end: plan.end,
        pending_horizon: filter.pending_horizon,
        forget: filter.forget,
    })
}

/// Writes a group's `.cleaned` files, unless it is one segment that did not change.
fn finish_group(plan: &CleaningPlan, g: GroupBuilder, end: i64) -> io::Result<Option<Group>> {
    if !g.changed {
        return Ok(None);
    }
    let path = cleaned_path(&plan.dir, g.first, "log");
    std::fs::write(&path, &g.bytes)?;
    File::open(&path)?.sync_all()?;
    let segment = Segment::load_cleaned(&plan.dir, g.first, plan.index_interval)?;
    Ok(Some(Group {
        first: g.first,
        end,
        members: g.members,
        segment,
    }))
}

/// One compaction pass over every compacted partition.
pub fn clean_all(topics: &crate::topics::TopicRegistry) {
    for topic in topics.all() {
        let logs: Vec<_> = topic.partitions.read().clone();
        for (index, log) in logs.iter().enumerate() {
            let now = now_ms();
            // The guard must be gone before cleaning: the rewrite runs without the lock.
            let planned = log.lock().cleaning_plan(now);
            let result = planned.and_then(|plan| {
                let Some(plan) = plan else {
                    return Ok(());
                };
                let cleaned = match clean(&plan, now) {
                    Ok(c) => c,
                    Err(e) => {
                        for s in &plan.segments {
                            remove_cleaned_files(&plan.dir, s.base_offset);
                        }
                        return Err(e);
                    }
                };
                log.lock().install_cleaned(cleaned).map(|_| ())
            });
            if let Err(e) = result {
                tracing::warn!(topic = %topic.name, partition = index, error = %e, "compaction pass failed");
            }
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Kafka's default `log.cleaner.backoff.ms`.
const DEFAULT_BACKOFF_MS: u64 = 15_000;

/// Runs compaction passes every `log.cleaner.backoff.ms` until shutdown.
pub async fn run(
    topics: std::sync::Arc<crate::topics::TopicRegistry>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        // Read each time, so a dynamic change of the broker setting applies.
        let backoff = topics
            .settings()
            .explicit
            .get("log.cleaner.backoff.ms")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(DEFAULT_BACKOFF_MS)
            .max(1);
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(backoff)) => {}
            _ = shutdown.changed() => return,
        }
        let topics = topics.clone();
        let _ = tokio::task::spawn_blocking(move || clean_all(&topics)).await;
    }
}
