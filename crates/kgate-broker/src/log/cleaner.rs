//! Log compaction for `cleanup.policy=compact`: keeps the latest record of every key and
//! drops tombstones older than `delete.retention.ms`.
//!
//! A pass has three steps so produce and fetch are never blocked by the rewriting: a
//! plan is taken under the partition lock (which rolled segments to rewrite), the new
//! segment files are written without the lock (rolled segments never change), and the
//! rewritten files are swapped in under the lock, if the log still starts with the
//! planned segments.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};

use super::batch::{self, BatchHeader};
use super::partition::PartitionLog;
use super::segment::{Segment, file_stem};

/// Suffix of a rewritten segment waiting to be swapped in.
const CLEANED_SUFFIX: &str = "log.cleaned";

/// What one compaction pass works on, taken under the partition lock.
pub struct CleaningPlan {
    dir: PathBuf,
    /// Rolled segments to rewrite: (base offset, bytes).
    segments: Vec<(i64, u64)>,
    /// The rest of the log, read only to learn the latest offset of each key.
    tail: Vec<(i64, u64)>,
    delete_retention_ms: i64,
}

/// Rewritten segments ready to be swapped in.
pub struct Cleaned {
    bases: Vec<i64>,
}

impl PartitionLog {
    /// A plan for a compaction pass, or `None` when the log is not compacted or has no
    /// rolled segment below the last stable offset.
    pub fn cleaning_plan(&self) -> Option<CleaningPlan> {
        let config = self.config();
        if !config.compact_policy {
            return None;
        }
        let stable = self.last_stable_offset();
        let segments = self.segment_list();
        let (rolled, active) = segments.split_at(segments.len().saturating_sub(1));
        // Segments holding undecided transactions are left for a later pass.
        let cleanable: Vec<(i64, u64)> = rolled
            .iter()
            .take_while(|s| s.next_offset <= stable)
            .map(|s| (s.base_offset, s.size))
            .collect();
        if cleanable.is_empty() {
            return None;
        }
        let tail = rolled[cleanable.len()..]
            .iter()
            .chain(active)
            .map(|s| (s.base_offset, s.size))
            .collect();
        Some(CleaningPlan {
            dir: self.dir().to_path_buf(),
            segments: cleanable,
            tail,
            delete_retention_ms: config.delete_retention_ms,
        })
    }

    /// Swaps rewritten segments in; false when the log changed so they no longer fit
    /// (the pass is then discarded and retried later).
    pub fn install_cleaned(&mut self, cleaned: Cleaned) -> io::Result<bool> {
        let dir = self.dir().to_path_buf();
        let interval = self.config().index_interval_bytes;
        let fits = {
            let segments = self.segment_list();
            segments.len() > cleaned.bases.len()
                && segments
                    .iter()
                    .zip(&cleaned.bases)
                    .all(|(s, b)| s.base_offset == *b)
        };
        if !fits {
            for base in &cleaned.bases {
                let _ = std::fs::remove_file(
                    dir.join(format!("{}.{CLEANED_SUFFIX}", file_stem(*base))),
                );
            }
            return Ok(false);
        }
        for (i, base) in cleaned.bases.iter().enumerate() {
            let stem = file_stem(*base);
            std::fs::rename(
                dir.join(format!("{stem}.{CLEANED_SUFFIX}")),
                dir.join(format!("{stem}.log")),
            )?;
            let recovered = Segment::recover(&dir, *base, interval, false, |_| {})?;
            self.replace_segment(i, recovered.segment);
        }
        Ok(true)
    }
}

/// Reads the first `size` bytes of the segment at `base`.
fn read_segment(plan: &CleaningPlan, base: i64, size: u64) -> io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(plan.dir.join(format!("{}.log", file_stem(base))))?;
    let mut buf = vec![0u8; size as usize];
    file.read_exact_at(&mut buf, 0)?;
    Ok(Bytes::from(buf))
}

/// Splits segment bytes into (header, batch bytes).
fn batches(data: &Bytes) -> io::Result<Vec<(BatchHeader, Bytes)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let h = BatchHeader::parse(&data[pos..])
            .map_err(|e| io::Error::other(format!("unreadable batch in a rolled segment: {e}")))?;
        if pos + h.size > data.len() {
            break;
        }
        out.push((h, data.slice(pos..pos + h.size)));
        pos += h.size;
    }
    Ok(out)
}

/// Writes the rewritten segments of `plan` beside the originals (no lock needed).
pub fn clean(plan: &CleaningPlan, now_ms: i64) -> io::Result<Cleaned> {
    let mut contents = Vec::with_capacity(plan.segments.len());
    for (base, size) in &plan.segments {
        contents.push((*base, batches(&read_segment(plan, *base, *size)?)?));
    }
    let mut latest: HashMap<Bytes, i64> = HashMap::new();
    let mut learn = |batches: &[(BatchHeader, Bytes)]| -> io::Result<()> {
        for (h, bytes) in batches {
            if h.is_control() {
                continue;
            }
            let set = RecordBatchDecoder::decode(&mut bytes.clone())
                .map_err(|e| io::Error::other(format!("stored batch does not decode: {e}")))?;
            for r in set.records {
                if let Some(key) = r.key {
                    latest.insert(key, r.offset);
                }
            }
        }
        Ok(())
    };
    for (_, b) in &contents {
        learn(b)?;
    }
    for (base, size) in &plan.tail {
        learn(&batches(&read_segment(plan, *base, *size)?)?)?;
    }
    let mut bases = Vec::with_capacity(contents.len());
    let mut changed = false;
    for (base, batches) in contents {
        let mut out = BytesMut::new();
        for (h, bytes) in batches {
            // Markers and transactional batches are kept whole: read_committed consumers
            // rely on them to skip aborted records.
            if h.is_control() || h.is_transactional() {
                out.extend_from_slice(&bytes);
                continue;
            }
            let set = RecordBatchDecoder::decode(&mut bytes.clone())
                .map_err(|e| io::Error::other(format!("stored batch does not decode: {e}")))?;
            let total = set.records.len();
            let kept: Vec<_> = set
                .records
                .into_iter()
                .filter(|r| match &r.key {
                    None => true,
                    Some(k) => {
                        latest.get(k) == Some(&r.offset)
                            && (r.value.is_some()
                                || now_ms - r.timestamp.max(h.max_timestamp)
                                    < plan.delete_retention_ms)
                    }
                })
                .collect();
            changed |= kept.len() != total;
            if kept.len() == total {
                out.extend_from_slice(&bytes);
            } else if !kept.is_empty() {
                let mut encoded = BytesMut::new();
                RecordBatchEncoder::encode(
                    &mut encoded,
                    &kept,
                    &RecordEncodeOptions {
                        version: 2,
                        compression: set.compression,
                    },
                )
                .map_err(|e| io::Error::other(format!("cannot re-encode a batch: {e}")))?;
                batch::set_base_offset(&mut encoded, kept[0].offset);
                out.extend_from_slice(&encoded);
            }
        }
        let path = plan
            .dir
            .join(format!("{}.{CLEANED_SUFFIX}", file_stem(base)));
        std::fs::write(&path, &out)?;
        std::fs::File::open(&path)?.sync_all()?;
        bases.push(base);
    }
    if !changed {
        // Nothing to drop: leave the segments alone rather than rewrite them unchanged.
        for base in &bases {
            let _ = std::fs::remove_file(
                plan.dir
                    .join(format!("{}.{CLEANED_SUFFIX}", file_stem(*base))),
            );
        }
        bases.clear();
    }
    Ok(Cleaned { bases })
}

/// One compaction pass over every compacted partition.
pub fn clean_all(topics: &crate::topics::TopicRegistry) {
    for topic in topics.all() {
        let logs: Vec<_> = topic.partitions.read().clone();
        for (index, log) in logs.iter().enumerate() {
            let Some(plan) = log.lock().cleaning_plan() else {
                continue;
            };
            let result = clean(&plan, now_ms()).and_then(|cleaned| {
                if cleaned.bases.is_empty() {
                    return Ok(());
                }
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
    let backoff = topics
        .settings()
        .explicit
        .get("log.cleaner.backoff.ms")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_BACKOFF_MS)
        .max(1);
    let period = std::time::Duration::from_millis(backoff);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.changed() => return,
        }
        let topics = topics.clone();
        let _ = tokio::task::spawn_blocking(move || clean_all(&topics)).await;
    }
}
