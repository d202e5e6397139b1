//! One partition's log: an ordered list of segments, the log start offset, and the
//! idempotent producer state. This is the interface the request handlers use.

use std::io;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::records::RecordBatchDecoder;

use super::batch::{self, BatchHeader};
use super::config::LogConfig;
use super::producers::{ProducerStates, SequenceCheck};
use super::segment::Segment;
use super::transactions::{AbortedTxn, PartitionTxns};

/// Where the log start offset is kept when it moves inside the first segment.
const LOG_START_FILE: &str = "log-start-offset";
/// Where the cleaner keeps the end of the part of the log it has cleaned (Kafka's
/// cleaner-offset-checkpoint, one per partition here).
const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

/// A partition log.
pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    segments: Vec<Segment>,
    log_start_offset: i64,
    producers: ProducerStates,
    txns: PartitionTxns,
    /// The first offset the cleaner has not cleaned yet (Kafka's first dirty offset).
    cleaner_checkpoint: i64,
    /// The earliest delete horizon of a cleaned batch that still holds a tombstone or a
    /// marker waiting for it: the log must be cleaned again once it has passed.
    pending_horizon: Option<i64>,
    /// Records appended since the log was last forced to disk (`flush.messages`).
    unflushed: i64,
    /// When the log was last forced to disk, in ms since the epoch (`flush.ms`).
    flushed_at: i64,
}

/// The result of a successful append.
#[derive(Debug, Clone, Copy)]
pub struct Appended {
    /// Offset given to the first record of the request.
    pub base_offset: i64,
    /// The broker time stamped on the batches, or -1 with CreateTime.
    pub log_append_time: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
}

/// Why an append was refused.
#[derive(Debug, Clone)]
pub struct AppendError {
    /// The protocol error code.
    pub error: ResponseError,
    /// A human-readable explanation.
    pub message: String,
}

impl AppendError {
    fn new(error: ResponseError, message: impl Into<String>) -> Self {
        Self {
            error,
            message: message.into(),
        }
    }
}

impl From<io::Error> for AppendError {
    fn from(e: io::Error) -> Self {
        tracing::error!(error = %e, "log write failed");
        AppendError::new(
            ResponseError::KafkaStorageError,
            format!("log write failed: {e}"),
        )
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl PartitionLog {
    /// Opens the log in `dir`, creating it if needed and recovering after a crash.
    pub fn open(dir: &Path, config: LogConfig) -> io::Result<PartitionLog> {
        std::fs::create_dir_all(dir)?;
        finish_cleaner_swaps(dir)?;
        let mut pending_horizon: Option<i64> = None;
        let mut bases: Vec<i64> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".log")?.parse::<i64>().ok()
            })
            .collect();
        bases.sort_unstable();
        let mut producers = ProducerStates::default();
        let mut txns = PartitionTxns::open(dir)?;
        let mut segments: Vec<Segment> = Vec::with_capacity(bases.len().max(1));
        let mut cut = false;
        for (i, base) in bases.iter().copied().enumerate() {
            if cut {
                // Everything after a corrupt point is unreachable by offset order.
                let seg = Segment::create(dir, base, 0)?;
                seg.delete_files()?;
                continue;
            }
            if let Some(prev) = segments.last()
                && prev.next_offset > base
            {
                cut = true;
                let seg = Segment::create(dir, base, 0)?;
                seg.delete_files()?;
                continue;
            }
            let last = i + 1 == bases.len();
            let recovered = Segment::recover(dir, base, config.index_interval_bytes, last, |h| {
                txns.observe(
                    h.producer_id,
                    h.base_offset,
                    h.is_transactional(),
                    h.is_control(),
                );
                // Which of these batches still hold a tombstone is not known without
                // reading them; one extra pass after a restart settles it.
                if let Some(horizon) = h.delete_horizon() {
                    pending_horizon = Some(pending_horizon.map_or(horizon, |p| p.min(horizon)));
                }
                if !h.is_control() {
                    producers.record(h)
                }
            })?;
            cut = recovered.truncated;
            segments.push(recovered.segment);
        }
        if segments.is_empty() {
            segments.push(Segment::create(dir, 0, now_ms())?);
        }
        let first_base = segments[0].base_offset;
        let saved_start = std::fs::read_to_string(dir.join(LOG_START_FILE))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(first_base);
        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset: first_base,
            producers,
            txns,
            cleaner_checkpoint: 0,
            pending_horizon,
            unflushed: 0,
            flushed_at: now_ms(),
        };
        log.log_start_offset = saved_start.clamp(first_base, log.next_offset());
        log.cleaner_checkpoint = std::fs::read_to_string(dir.join(CLEANER_CHECKPOINT_FILE))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(log.log_start_offset);
        Ok(log)
    }

    /// The offset the next record will get (the high watermark on a single node).
    pub fn next_offset(&self) -> i64 {
        self.segments.last().map(|s| s.next_offset).unwrap_or(0)
    }

    /// The first offset still readable.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Bytes stored in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// The settings the log runs with.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segments, oldest first (the last one is active).
    pub fn segment_list(&self) -> &[Segment] {
        &self.segments
    }

    /// The transaction state, for the cleaner to prune the aborted index.
    pub(crate) fn txns_mut(&mut self) -> &mut PartitionTxns {
        &mut self.txns
    }

    /// The segments, for the cleaner to swap rewritten ones in.
    pub(crate) fn segments_mut(&mut self) -> &mut Vec<Segment> {
        &mut self.segments
    }

    /// The first offset the cleaner has not cleaned, kept within the log (Kafka resets
    /// a checkpoint that fell outside it to the log start).
    pub fn cleaner_checkpoint(&self) -> i64 {
        if self.cleaner_checkpoint < self.log_start_offset
            || self.cleaner_checkpoint > self.next_offset()
        {
            self.log_start_offset
        } else {
            self.cleaner_checkpoint
        }
    }

    /// Each idempotent producer's latest batch here: id -> (epoch, last sequence). The
    /// cleaner keeps such a batch (emptied) so the producer's state survives a restart.
    pub fn producer_last_batches(&self) -> std::collections::HashMap<i64, (i16, i32)> {
        self.producers
            .describe()
            .into_iter()
            .map(|(id, epoch, last)| (id, (epoch, last)))
            .collect()
    }

    /// When a cleaned tombstone or marker becomes removable, if one waits.
    pub fn pending_horizon(&self) -> Option<i64> {
        self.pending_horizon
    }

    /// Records the outcome of a cleaner pass: everything below `checkpoint` is clean.
    pub(crate) fn set_cleaner_state(
        &mut self,
        checkpoint: i64,
        pending_horizon: Option<i64>,
    ) -> io::Result<()> {
        self.pending_horizon = pending_horizon;
        if checkpoint != self.cleaner_checkpoint {
            self.cleaner_checkpoint = checkpoint;
            let tmp = self.dir.join(format!("{CLEANER_CHECKPOINT_FILE}.tmp"));
            std::fs::write(&tmp, checkpoint.to_string())?;
            std::fs::rename(tmp, self.dir.join(CLEANER_CHECKPOINT_FILE))?;
        }
        Ok(())
    }

    /// Rolls the active segment when it is older than `segment.ms` (or, compacted,
    /// `max.compaction.lag.ms`) even though nothing is being written, so a quiet log
    /// still gets segments the cleaner may work on; returns whether it rolled.
    pub fn roll_if_aged(&mut self, now: i64) -> io::Result<bool> {
        let due = {
            let active = self.active();
            active.size > 0 && now - active.roll_base_ms() > self.config.roll_ms()
        };
        if due {
            self.roll(now)?;
        }
        Ok(due)
    }

    /// Replaces the settings (a topic's configuration changed).
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// Appends the record batches of a produce request, assigning offsets.
    pub fn append(&mut self, records: &[u8]) -> Result<Appended, AppendError> {
        let batches = batch::split_batches(records, self.config.max_message_bytes)
            .map_err(|e| AppendError::new(e, append_error_text(e)))?;
        let now = now_ms();
        let mut producers = self.producers.clone_if(batches.len() > 1);
        let mut out = BytesMut::with_capacity(records.len());
        let mut stored: Vec<BatchHeader> = Vec::with_capacity(batches.len());
        let mut next = self.next_offset();
        let mut first_offset = None;
        for (header, range) in &batches {
            if header.is_control() {
                return Err(AppendError::new(
                    ResponseError::InvalidRecord,
                    "clients may not write control batches",
                ));
            }
            if !self.config.log_append_time {
                self.check_timestamps(header, now)?;
            }
            let check = match &producers {
                Some(p) => p.check(header),
                None => self.producers.check(header),
            }
            .map_err(|e| AppendError::new(e, sequence_error_text(e, header)))?;
            match check {
                SequenceCheck::Duplicate(offset) => {
                    first_offset.get_or_insert(offset);
                }
                SequenceCheck::Append => {
                    let start = out.len();
                    let original = &records[range.clone()];
                    let mut h = *header;
                    match self.config.compression {
                        // The topic's compression.type: recompress, as Kafka does.
                        Some(codec) if header.attributes & 0x07 != codec => {
                            let recompressed =
                                batch::recompress(original, header, codec).map_err(|e| {
                                    AppendError::new(
                                        ResponseError::CorruptMessage,
                                        format!("cannot recompress a batch: {e}"),
                                    )
                                })?;
                            h = BatchHeader::parse(&recompressed)
                                .map_err(|e| AppendError::new(e, "recompressed batch"))?;
                            out.extend_from_slice(&recompressed);
                        }
                        _ => out.extend_from_slice(original),
                    }
                    let bytes = &mut out[start..];
                    batch::set_base_offset(bytes, next);
                    h.base_offset = next;
                    if self.config.log_append_time {
                        batch::set_log_append_time(bytes, now);
                        h.max_timestamp = now;
                    }
                    first_offset.get_or_insert(next);
                    next = h.last_offset() + 1;
                    if let Some(p) = producers.as_mut() {
                        p.record(&h);
                    }
                    stored.push(h);
                }
            }
        }
        if !stored.is_empty() {
            self.write(&out, &stored, now)?;
            match producers {
                Some(p) => self.producers = p,
                None => stored.iter().for_each(|h| self.producers.record(h)),
            }
            for h in &stored {
                self.txns
                    .observe(h.producer_id, h.base_offset, h.is_transactional(), false);
            }
        }
        Ok(Appended {
            base_offset: first_offset.unwrap_or(next),
            log_append_time: if self.config.log_append_time { now } else { -1 },
            log_start_offset: self.log_start_offset,
        })
    }

    /// Writes batches whose offsets are assigned, rolling the segment first if needed.
    fn write(&mut self, out: &[u8], stored: &[BatchHeader], now: i64) -> io::Result<()> {
        let needs_roll = {
            let active = self.active();
            // Kafka measures a segment's age by its records' timestamps when it can.
            let newest = stored.iter().map(|h| h.max_timestamp).max().unwrap_or(now);
            let waited = if active.first_batch_timestamp > 0 {
                newest - active.first_batch_timestamp
            } else {
                now - active.created_ms
            };
            active.size > 0
                && (active.size + out.len() as u64 > self.config.segment_bytes
                    || waited > self.config.roll_ms())
        };
        if needs_roll {
            self.roll(now)?;
        }
        let interval = self.config.index_interval_bytes;
        self.active_mut().append(out, stored, interval, now)?;
        // Kafka's flush.messages and flush.ms: force the log to disk after so many
        // records, or on the first append once so long has passed.
        let records: i64 = stored.iter().map(|h| h.records_count.max(0) as i64).sum();
        self.unflushed = self.unflushed.saturating_add(records);
        if self.unflushed >= self.config.flush_messages
            || now.saturating_sub(self.flushed_at) >= self.config.flush_ms
        {
            self.active_mut().flush()?;
            self.unflushed = 0;
            self.flushed_at = now;
        }
        Ok(())
    }

    /// Refuses, as Kafka does with CreateTime, a batch whose timestamps are further in
    /// the past than `message.timestamp.before.max.ms` or in the future than
    /// `message.timestamp.after.max.ms` (its first and largest timestamps are checked).
    fn check_timestamps(&self, header: &BatchHeader, now: i64) -> Result<(), AppendError> {
        let earliest = now.saturating_sub(self.config.timestamp_before_max_ms);
        let latest = now.saturating_add(self.config.timestamp_after_max_ms);
        for ts in [header.first_timestamp, header.max_timestamp] {
            // -1 is "no timestamp", which Kafka does not check.
            if ts != -1 && (ts < earliest || ts > latest) {
                return Err(AppendError::new(
                    ResponseError::InvalidTimestamp,
                    format!(
                        "Timestamp {ts} of a record in the batch is out of range: it should be within [{earliest}, {latest}]"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Writes a transaction marker (commit or abort) for `producer_id`, ending its open
    /// transaction here; returns the marker's offset.
    pub fn append_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Result<i64, AppendError> {
        let now = now_ms();
        let mut bytes = super::transactions::marker_batch(
            producer_id,
            producer_epoch,
            commit,
            coordinator_epoch,
            now,
        )?;
        let offset = self.next_offset();
        batch::set_base_offset(&mut bytes, offset);
        let header = BatchHeader::parse(&bytes).map_err(|e| AppendError::new(e, "bad marker"))?;
        if !commit {
            self.txns.record_abort(producer_id, offset)?;
        }
        self.write(&bytes, &[header], now)?;
        self.txns.observe(producer_id, offset, true, true);
        Ok(offset)
    }

    /// The last stable offset: below it every transaction is decided.
    pub fn last_stable_offset(&self) -> i64 {
        self.txns
            .first_unstable_offset()
            .unwrap_or_else(|| self.next_offset())
    }

    /// Aborted transactions overlapping `from..to` (for read_committed fetches).
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        self.txns.aborted_between(from, to)
    }

    /// The producers that wrote here: (id, epoch, last sequence, open transaction start).
    pub fn active_producers(&self) -> Vec<(i64, i16, i32, Option<i64>)> {
        self.producers
            .describe()
            .into_iter()
            .map(|(id, epoch, last)| (id, epoch, last, self.txns.ongoing_start(id)))
            .chain(
                self.txns
                    .ongoing()
                    .filter(|(id, _)| !self.producers.knows(*id))
                    .map(|(id, start)| (id, -1, -1, Some(start))),
            )
            .collect()
    }

    /// Like `read`, but never returns a batch at or past `limit` (the last stable offset
    /// for read_committed fetches).
    pub fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        limit: i64,
    ) -> Result<Bytes, ResponseError> {
        if offset >= limit && offset <= self.next_offset() && offset >= self.log_start_offset {
            return Ok(Bytes::new());
        }
        let data = self.read(offset, max_bytes)?;
        let mut pos = 0;
        while data.len() - pos >= batch::LOG_OVERHEAD {
            let base = i64::from_be_bytes([
                data[pos],
                data[pos + 1],
                data[pos + 2],
                data[pos + 3],
                data[pos + 4],
                data[pos + 5],
                data[pos + 6],
                data[pos + 7],
            ]);
            if base >= limit {
                break;
            }
            let len =
                i32::from_be_bytes([data[pos + 8], data[pos + 9], data[pos + 10], data[pos + 11]]);
            pos += len.max(0) as usize + batch::LOG_OVERHEAD;
        }
        Ok(data.slice(..pos.min(data.len())))
    }

    fn active(&self) -> &Segment {
        // A log always has at least one segment (open and retention keep one).
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    fn roll(&mut self, now: i64) -> io::Result<()> {
        let next = self.next_offset();
        self.active().flush()?;
        self.segments.push(Segment::create(&self.dir, next, now)?);
        Ok(())
    }

    /// Reads whole batches starting with the one holding `offset`, up to `max_bytes`
    /// (but always at least one whole batch, so a large batch never blocks a consumer).
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Bytes, ResponseError> {
        let next = self.next_offset();
        if offset < self.log_start_offset || offset > next {
            return Err(ResponseError::OffsetOutOfRange);
        }
        if offset == next {
            return Ok(Bytes::new());
        }
        let first = self
            .segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1);
        for seg in &self.segments[first..] {
            let found = seg.find_position(offset).map_err(storage_error)?;
            let Some((position, header)) = found else {
                continue;
            };
            let available = (seg.size - position) as usize;
            let len = max_bytes.max(header.size).min(available);
            let data = seg.read_at(position, len).map_err(storage_error)?;
            return Ok(data.slice(..whole_batches_len(&data)));
        }
        Ok(Bytes::new())
    }

    /// The first offset whose record timestamp is >= `ts`, with that timestamp.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, ResponseError> {
        for seg in &self.segments {
            if seg.max_timestamp < ts || seg.next_offset <= self.log_start_offset {
                continue;
            }
            let start = seg.time_lookup_start(ts).map_err(storage_error)?;
            let log_start = self.log_start_offset;
            let mut position = start;
            while let Some((pos, h)) = seg
                .scan_from(position, |h| {
                    h.max_timestamp >= ts && h.last_offset() >= log_start && !h.is_control()
                })
                .map_err(storage_error)?
            {
                let found = first_record_matching(seg, pos, &h, |r| {
                    r.timestamp >= ts && r.offset >= log_start
                })?;
                if let Some(hit) = found {
                    return Ok(Some(hit));
                }
                position = pos + h.size as u64;
            }
        }
        Ok(None)
    }

    /// The offset and timestamp of the record with the largest timestamp.
    pub fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>, ResponseError> {
        let Some(seg) = self
            .segments
            .iter()
            .filter(|s| s.next_offset > self.log_start_offset && s.max_timestamp >= 0)
            .reduce(|a, b| {
                if b.max_timestamp > a.max_timestamp {
                    b
                } else {
                    a
                }
            })
        else {
            return Ok(None);
        };
        let max = seg.max_timestamp;
        let Some((pos, h)) = seg
            .find_position(seg.max_timestamp_batch)
            .map_err(storage_error)?
        else {
            return Ok(None);
        };
        first_record_matching(seg, pos, &h, |r| r.timestamp == max)
    }

    /// Deletes whole segments past `retention.ms` / `retention.bytes`; returns whether
    /// the log start offset moved.
    pub fn apply_retention(&mut self, now: i64) -> io::Result<bool> {
        if !self.config.delete_policy {
            return Ok(false);
        }
        let before = self.log_start_offset;
        let retention_ms = self.config.retention_ms;
        let expired = |s: &Segment| {
            let newest = if s.max_timestamp > 0 {
                s.max_timestamp
            } else {
                s.last_modified_ms
            };
            retention_ms >= 0 && s.size > 0 && now - newest > retention_ms
        };
        // An expired active segment is rolled first so it can be deleted like the rest.
        if expired(self.active()) {
            self.roll(now)?;
        }
        // An empty segment left by compaction holds nothing to keep.
        while self.segments.len() > 1 && (self.segments[0].size == 0 || expired(&self.segments[0]))
        {
            self.remove_oldest()?;
        }
        if self.config.retention_bytes >= 0 {
            let limit = self.config.retention_bytes as u64;
            let mut total = self.size_bytes();
            while self.segments.len() > 1 && total - self.segments[0].size >= limit {
                total -= self.segments[0].size;
                self.remove_oldest()?;
            }
        }
        Ok(self.log_start_offset != before)
    }

    /// Makes every offset below `offset` unreadable (DeleteRecords); -1 means the high
    /// watermark. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, ResponseError> {
        let next = self.next_offset();
        let offset = if offset == -1 { next } else { offset };
        if offset < 0 || offset > next {
            return Err(ResponseError::OffsetOutOfRange);
        }
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
            self.save_log_start().map_err(storage_error)?;
            // Whole segments below the new start are no longer needed.
            while self.segments.len() > 1 && self.segments[1].base_offset <= offset {
                self.remove_oldest().map_err(storage_error)?;
            }
        }
        Ok(self.log_start_offset)
    }

    fn remove_oldest(&mut self) -> io::Result<()> {
        let seg = self.segments.remove(0);
        seg.delete_files()?;
        let first = self.segments[0].base_offset;
        if first > self.log_start_offset {
            self.log_start_offset = first;
            self.save_log_start()?;
            self.txns.truncate_before(first)?;
        }
        Ok(())
    }

    fn save_log_start(&self) -> io::Result<()> {
        let tmp = self.dir.join(format!("{LOG_START_FILE}.tmp"));
        std::fs::write(&tmp, self.log_start_offset.to_string())?;
        std::fs::rename(tmp, self.dir.join(LOG_START_FILE))
    }

    /// Forces everything written so far to disk.
    pub fn flush(&self) -> io::Result<()> {
        self.active().flush()
    }
}

/// Completes cleaner swaps a crash interrupted and drops unfinished rewrites. A swap
/// file `<first>.<end>.swap` is a finished rewrite of the segments in `first..end`: the
/// old segments go and it takes the first one's name.
fn finish_cleaner_swaps(dir: &Path) -> io::Result<()> {
    let names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    for name in &names {
        if name.ends_with(".cleaned") {
            std::fs::remove_file(dir.join(name))?;
        }
    }
    for name in &names {
        let Some(range) = name.strip_suffix(".swap") else {
            continue;
        };
        let Some((first, end)) = range
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
        else {
            continue;
        };
        for old in &names {
            let Some(base) = old.strip_suffix(".log").and_then(|b| b.parse::<i64>().ok()) else {
                continue;
            };
            if (first..end).contains(&base) {
                let stem = super::segment::file_stem(base);
                for ext in ["log", "index", "timeindex"] {
                    let _ = std::fs::remove_file(dir.join(format!("{stem}.{ext}")));
                }
            }
        }
        std::fs::rename(
            dir.join(name),
            dir.join(format!("{}.log", super::segment::file_stem(first))),
        )?;
    }
    Ok(())
}

impl ProducerStates {
    /// A working copy when several batches must be checked before any is stored.
    fn clone_if(&self, needed: bool) -> Option<ProducerStates> {
        needed.then(|| self.clone())
    }
}

fn storage_error(e: io::Error) -> ResponseError {
    tracing::error!(error = %e, "log read failed");
    ResponseError::KafkaStorageError
}

/// The length of the complete batches at the start of `data`.
fn whole_batches_len(data: &[u8]) -> usize {
    let mut pos = 0;
    while data.len() - pos >= batch::LOG_OVERHEAD {
        let len =
            i32::from_be_bytes([data[pos + 8], data[pos + 9], data[pos + 10], data[pos + 11]]);
        let size = len.max(0) as usize + batch::LOG_OVERHEAD;
        if len <= 0 || pos + size > data.len() {
            break;
        }
        pos += size;
    }
    pos
}

/// Decodes the batch at `pos` and returns the offset and timestamp of its first record
/// that satisfies `pred`.
fn first_record_matching(
    seg: &Segment,
    pos: u64,
    h: &BatchHeader,
    pred: impl Fn(&kafka_protocol::records::Record) -> bool,
) -> Result<Option<(i64, i64)>, ResponseError> {
    let mut data = seg.read_at(pos, h.size).map_err(storage_error)?;
    let set = RecordBatchDecoder::decode(&mut data).map_err(|e| {
        tracing::error!(error = %e, offset = h.base_offset, "stored batch does not decode");
        ResponseError::CorruptMessage
    })?;
    Ok(set
        .records
        .iter()
        .find(|r| pred(r))
        .map(|r| (r.offset, r.timestamp)))
}

fn append_error_text(e: ResponseError) -> String {
    match e {
        ResponseError::UnsupportedForMessageFormat => {
            "only record batches of magic v2 are accepted (message format v0/v1 is not supported)"
                .to_string()
        }
        ResponseError::CorruptMessage => {
            "record batch is truncated or its CRC does not match".to_string()
        }
        ResponseError::MessageTooLarge => {
            "record batch is larger than max.message.bytes".to_string()
        }
        _ => "invalid record batch".to_string(),
    }
}

fn sequence_error_text(e: ResponseError, h: &BatchHeader) -> String {
    format!(
        "producer {} epoch {} base sequence {}: {}",
        h.producer_id, h.producer_epoch, h.base_sequence, e
    )
}
