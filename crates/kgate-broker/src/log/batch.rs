//! The fixed header of a v2 record batch, read without touching the records.

use kafka_protocol::ResponseError;

/// Bytes before the records of a v2 batch.
pub const HEADER_LEN: usize = 61;
/// Bytes of `baseOffset` + `batchLength`, which precede what `batchLength` counts.
pub const LOG_OVERHEAD: usize = 12;
/// Where the CRC-covered part of a batch starts.
const CRC_START: usize = 21;

/// The header fields of one record batch the broker acts on.
#[derive(Debug, Clone, Copy)]
pub struct BatchHeader {
    /// First offset of the batch.
    pub base_offset: i64,
    /// Total size of the batch in bytes, overhead included.
    pub size: usize,
    /// Offset of the last record relative to `base_offset`.
    pub last_offset_delta: i32,
    /// Attributes (compression, timestamp type, transactional, control).
    pub attributes: i16,
    /// The largest record timestamp.
    pub max_timestamp: i64,
    /// The idempotent producer's id, or -1.
    pub producer_id: i64,
    /// The producer's epoch.
    pub producer_epoch: i16,
    /// The first record's sequence number.
    pub base_sequence: i32,
    /// Number of records.
    pub records_count: i32,
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl BatchHeader {
    /// The offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    /// The sequence number of the batch's last record (sequences wrap at i32::MAX).
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        (last % (i32::MAX as i64 + 1)) as i32
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    /// Whether the batch holds transaction control records.
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    /// Parses the header at the start of `b`, which must hold at least `HEADER_LEN`
    /// bytes; checks only what the header itself can tell.
    pub fn parse(b: &[u8]) -> Result<BatchHeader, ResponseError> {
        if b.len() < LOG_OVERHEAD + 5 {
            return Err(ResponseError::CorruptMessage);
        }
        let length = i32_at(b, 8);
        if b[16] != 2 {
            return Err(ResponseError::UnsupportedForMessageFormat);
        }
        if length < (HEADER_LEN - LOG_OVERHEAD) as i32 || b.len() < HEADER_LEN {
            return Err(ResponseError::CorruptMessage);
        }
        Ok(BatchHeader {
            base_offset: i64_at(b, 0),
            size: length as usize + LOG_OVERHEAD,
            attributes: i16_at(b, 21),
            last_offset_delta: i32_at(b, 23),
            max_timestamp: i64_at(b, 35),
            producer_id: i64_at(b, 43),
            producer_epoch: i16_at(b, 51),
            base_sequence: i32_at(b, 53),
            records_count: i32_at(b, 57),
        })
    }
}

/// Whether the CRC stored in a complete batch matches its contents.
pub fn crc_matches(batch: &[u8]) -> bool {
    if batch.len() < HEADER_LEN {
        return false;
    }
    let stored = u32::from_be_bytes([batch[17], batch[18], batch[19], batch[20]]);
    crc32c::crc32c(&batch[CRC_START..]) == stored
}

/// Splits a produce request's records into validated batches; each element is the
/// batch's header and its byte range.
pub fn split_batches(
    records: &[u8],
    max_batch_bytes: i32,
) -> Result<Vec<(BatchHeader, std::ops::Range<usize>)>, ResponseError> {
    let mut out = Vec::with_capacity(1);
    let mut pos = 0;
    while pos < records.len() {
        let rest = &records[pos..];
        let header = BatchHeader::parse(rest)?;
        if header.size > rest.len() {
            return Err(ResponseError::CorruptMessage);
        }
        if header.size > max_batch_bytes.max(0) as usize + LOG_OVERHEAD {
            return Err(ResponseError::MessageTooLarge);
        }
        if header.last_offset_delta < 0
            || header.records_count < 0
            || header.records_count as i64 > header.last_offset_delta as i64 + 1
        {
            return Err(ResponseError::InvalidRecord);
        }
        if !crc_matches(&rest[..header.size]) {
            return Err(ResponseError::CorruptMessage);
        }
        out.push((header, pos..pos + header.size));
        pos += header.size;
    }
    if out.is_empty() {
        return Err(ResponseError::InvalidRecord);
    }
    Ok(out)
}

/// Rewrites a stored batch's base offset (not covered by the CRC).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Stamps a batch with the broker's time (LogAppendTime) and recomputes its CRC.
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attributes = i16_at(batch, 21) | 0x08;
    batch[21..23].copy_from_slice(&attributes.to_be_bytes());
    batch[35..43].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}
