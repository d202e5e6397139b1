//! A partition's view of transactions: where each open transaction started (which
//! bounds the last stable offset) and the index of aborted transactions that
//! read_committed fetches report, kept in `aborted-txns` beside the segments.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

const ABORTED_FILE: &str = "aborted-txns";

/// One aborted transaction: the records of `producer_id` in `first_offset..=last_offset`
/// (the last one being the abort marker) must be skipped by read_committed consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer that aborted.
    pub producer_id: i64,
    /// The first offset the transaction wrote to this partition.
    pub first_offset: i64,
    /// The offset of the abort marker.
    pub last_offset: i64,
}

/// The transaction state of one partition.
#[derive(Debug, Default)]
pub struct PartitionTxns {
    path: PathBuf,
    /// Producer id -> first offset of its open transaction.
    ongoing: BTreeMap<i64, i64>,
    aborted: Vec<AbortedTxn>,
}

impl PartitionTxns {
    /// Loads the aborted index of the partition in `dir` (open transactions are rebuilt
    /// from the batches by `observe` during recovery).
    pub fn open(dir: &Path) -> io::Result<PartitionTxns> {
        let path = dir.join(ABORTED_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        // A torn last line (crash while appending) is skipped rather than fatal.
        let aborted = text
            .lines()
            .filter_map(|line| {
                let mut it = line.split_whitespace().map(|n| n.parse::<i64>().ok());
                Some(AbortedTxn {
                    producer_id: it.next()??,
                    first_offset: it.next()??,
                    last_offset: it.next()??,
                })
            })
            .collect();
        Ok(PartitionTxns {
            path,
            ongoing: BTreeMap::new(),
            aborted,
        })
    }

    /// Follows a stored batch: a transactional batch opens (or continues) its producer's
    /// transaction, a control batch ends it.
    pub fn observe(
        &mut self,
        producer_id: i64,
        base_offset: i64,
        transactional: bool,
        control: bool,
    ) {
        if control {
            self.ongoing.remove(&producer_id);
        } else if transactional {
            self.ongoing.entry(producer_id).or_insert(base_offset);
        }
    }

    /// The first offset of the producer's open transaction here, if one is open.
    pub fn ongoing_start(&self, producer_id: i64) -> Option<i64> {
        self.ongoing.get(&producer_id).copied()
    }

    /// The first offset of the oldest open transaction.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.values().min().copied()
    }

    /// Records, durably, that the producer's open transaction is aborted by a marker at
    /// `marker_offset`; written before the marker so a crash never loses the entry.
    pub fn record_abort(&mut self, producer_id: i64, marker_offset: i64) -> io::Result<()> {
        let Some(first_offset) = self.ongoing.get(&producer_id).copied() else {
            return Ok(());
        };
        let entry = AbortedTxn {
            producer_id,
            first_offset,
            last_offset: marker_offset,
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(f, "{producer_id} {first_offset} {marker_offset}")?;
        f.sync_data()?;
        self.aborted.push(entry);
        Ok(())
    }

    /// Aborted transactions overlapping `from..to`, as Fetch reports them.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        self.aborted
            .iter()
            .filter(|a| a.last_offset >= from && a.first_offset < to)
            .copied()
            .collect()
    }

    /// Forgets aborted entries wholly below the log start offset.
    pub fn truncate_before(&mut self, log_start: i64) -> io::Result<()> {
        self.retain_aborted(|a| a.last_offset >= log_start)
    }

    /// Keeps only the aborted entries `keep` accepts, rewriting `aborted-txns` durably
    /// (written aside, synced, then renamed over) when any goes. The cleaner drops the
    /// entry of an aborted transaction none of whose records is left in the log.
    pub fn retain_aborted(&mut self, mut keep: impl FnMut(&AbortedTxn) -> bool) -> io::Result<()> {
        let kept: Vec<AbortedTxn> = self.aborted.iter().copied().filter(|a| keep(a)).collect();
        if kept.len() == self.aborted.len() {
            return Ok(());
        }
        let tmp = self.path.with_extension("tmp");
        let mut text = String::new();
        for a in &kept {
            text.push_str(&format!(
                "{} {} {}\n",
                a.producer_id, a.first_offset, a.last_offset
            ));
        }
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_data()?;
        std::fs::rename(tmp, &self.path)?;
        // Memory follows the file only once the file holds the new list.
        self.aborted = kept;
        Ok(())
    }

    /// Every open transaction: (producer id, first offset).
    pub fn ongoing(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing.iter().map(|(p, o)| (*p, *o))
    }
}

/// Encodes a transaction marker: a control batch with one record whose key says commit
/// or abort (Kafka's EndTransactionMarker).
pub fn marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    now_ms: i64,
) -> io::Result<bytes::BytesMut> {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&(if commit { 1i16 } else { 0i16 }).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let record = Record {
        transactional: true,
        control: true,
        partition_leader_epoch: 0,
        producer_id,
        producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: now_ms,
        key: Some(key.into()),
        value: Some(value.into()),
        headers: Default::default(),
        delete_horizon: false,
    };
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| io::Error::other(format!("cannot encode a transaction marker: {e}")))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retained_aborted_entries_are_what_a_reopened_index_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut txns = PartitionTxns::open(dir.path()).unwrap();
        for (producer, first, marker) in [(1, 0, 2), (2, 3, 5), (1, 6, 8)] {
            txns.observe(producer, first, true, false);
            txns.record_abort(producer, marker).unwrap();
            txns.observe(producer, marker, true, true);
        }
        txns.retain_aborted(|a| a.last_offset != 5).unwrap();
        let left = vec![
            AbortedTxn {
                producer_id: 1,
                first_offset: 0,
                last_offset: 2,
            },
            AbortedTxn {
                producer_id: 1,
                first_offset: 6,
                last_offset: 8,
            },
        ];
        assert_eq!(txns.aborted_between(0, 100), left);
        let reopened = PartitionTxns::open(dir.path()).unwrap();
        assert_eq!(reopened.aborted_between(0, 100), left);
        txns.truncate_before(3).unwrap();
        assert_eq!(
            PartitionTxns::open(dir.path())
                .unwrap()
                .aborted_between(0, 100),
            left[1..]
        );
    }
}
