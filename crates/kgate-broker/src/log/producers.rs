//! Idempotent producer state of one partition: the last batches each producer wrote,
//! for duplicate detection and sequence checks.

use std::collections::{HashMap, VecDeque};

use kafka_protocol::ResponseError;

use super::batch::BatchHeader;

/// How many recent batches per producer are remembered (Kafka's in-flight limit).
const REMEMBERED_BATCHES: usize = 5;

/// One producer's recent writes to a partition.
#[derive(Debug, Clone, Default)]
pub struct ProducerEntry {
    epoch: i16,
    /// (first sequence, last sequence, base offset) of recent batches, oldest first.
    recent: VecDeque<(i32, i32, i64)>,
}

/// What to do with an incoming idempotent batch.
#[derive(Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    /// A new batch in sequence: store it.
    Append,
    /// A retry of a stored batch: answer with its original base offset.
    Duplicate(i64),
}

/// The idempotent producers of a partition.
#[derive(Debug, Default, Clone)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

fn next_sequence(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

impl ProducerStates {
    /// Checks an incoming batch against what the producer wrote before.
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, ResponseError> {
        if h.producer_id < 0 {
            return Ok(SequenceCheck::Append);
        }
        // A producer the partition has no state for (new, or its batches were removed by
        // retention) is accepted at any sequence, as Kafka does.
        let Some(entry) = self.producers.get(&h.producer_id) else {
            return Ok(SequenceCheck::Append);
        };
        if h.producer_epoch < entry.epoch {
            return Err(ResponseError::InvalidProducerEpoch);
        }
        if h.producer_epoch > entry.epoch {
            return if h.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(ResponseError::OutOfOrderSequenceNumber)
            };
        }
        let last = h.last_sequence();
        if let Some(&(_, _, offset)) = entry
            .recent
            .iter()
            .find(|(first, l, _)| *first == h.base_sequence && *l == last)
        {
            return Ok(SequenceCheck::Duplicate(offset));
        }
        match entry.recent.back() {
            Some(&(_, prev_last, _)) if next_sequence(prev_last) != h.base_sequence => {
                Err(ResponseError::OutOfOrderSequenceNumber)
            }
            _ => Ok(SequenceCheck::Append),
        }
    }

    /// Every known producer: (id, epoch, last sequence written).
    pub fn describe(&self) -> Vec<(i64, i16, i32)> {
        let mut out: Vec<_> = self
            .producers
            .iter()
            .map(|(id, e)| (*id, e.epoch, e.recent.back().map(|r| r.1).unwrap_or(-1)))
            .collect();
        out.sort_unstable();
        out
    }

    /// Whether the producer has written here.
    pub fn knows(&self, producer_id: i64) -> bool {
        self.producers.contains_key(&producer_id)
    }

    /// Remembers a stored batch (its base offset already assigned).
    pub fn record(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 {
            return;
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.recent.clear();
        }
        if entry.recent.len() == REMEMBERED_BATCHES {
            entry.recent.pop_front();
        }
        entry
            .recent
            .push_back((h.base_sequence, h.last_sequence(), h.base_offset));
    }
}
