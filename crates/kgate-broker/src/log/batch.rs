//! The fixed header of a v2 record batch, read without touching the records.

use std::io;

use bytes::Bytes;
use kafka_protocol::ResponseError;

/// Bytes before the records of a v2 batch.
pub const HEADER_LEN: usize = 61;
/// Bytes of `baseOffset` + `batchLength`, which precede what `batchLength` counts.
pub const LOG_OVERHEAD: usize = 12;
/// Where the CRC-covered part of a batch starts.
const CRC_START: usize = 21;
/// The attribute bit saying the base timestamp is the cleaner's delete horizon (KIP-534).
const DELETE_HORIZON_FLAG: i16 = 0x40;
/// The attribute bit of LogAppendTime batches.
const LOG_APPEND_TIME_FLAG: i16 = 0x08;

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
    /// The batch's base timestamp: the first record's, or the delete horizon when the
    /// cleaner set one.
    pub first_timestamp: i64,
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

    /// The delete horizon the cleaner stamped on the batch: tombstones and markers in it
    /// may be removed once this time has passed.
    pub fn delete_horizon(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_FLAG != 0).then_some(self.first_timestamp)
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
            first_timestamp: i64_at(b, 27),
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

/// One record of a stored batch, kept as bytes so rewriting it loses nothing (duplicate
/// or non-UTF-8 header keys survive compaction untouched).
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// Offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// Timestamp relative to the batch's base timestamp.
    pub timestamp_delta: i64,
    /// The key, if any.
    pub key: Option<Bytes>,
    /// Whether the value is null (a tombstone, when keyed).
    pub is_tombstone: bool,
    /// The record from its offset delta to its end, copied as is when rewritten.
    tail: Bytes,
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("stored batch: {what}"))
}

fn read_varlong(b: &[u8], pos: &mut usize) -> io::Result<i64> {
    let mut raw: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos).ok_or_else(|| corrupt("truncated varint"))?;
        *pos += 1;
        raw |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    Err(corrupt("varint too long"))
}

fn write_varlong(out: &mut Vec<u8>, v: i64) {
    let mut raw = ((v << 1) ^ (v >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8 & 0x7f) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

/// Reads a length-prefixed byte string (-1 is null) at `pos`.
fn read_bytes(b: &Bytes, pos: &mut usize) -> io::Result<Option<Bytes>> {
    let len = read_varlong(b, pos)?;
    if len < 0 {
        return Ok(None);
    }
    let end = pos
        .checked_add(len as usize)
        .filter(|e| *e <= b.len())
        .ok_or_else(|| corrupt("field longer than its record"))?;
    let v = b.slice(*pos..end);
    *pos = end;
    Ok(Some(v))
}

/// The records section of a batch, decompressed.
fn records_section(batch: &Bytes, h: &BatchHeader) -> io::Result<Bytes> {
    use kafka_protocol::compression::{Decompressor, Gzip, Lz4, Snappy, Zstd};
    let mut data = batch.slice(HEADER_LEN..h.size.min(batch.len()));
    let take = |b: &mut Bytes| Ok(std::mem::take(b));
    let out = match h.attributes & 0x07 {
        0 => Ok(data),
        1 => Gzip::decompress(&mut data, take),
        2 => Snappy::decompress(&mut data, take),
        3 => Lz4::decompress(&mut data, take),
        4 => Zstd::decompress(&mut data, take),
        c => return Err(corrupt(&format!("unknown compression {c}"))),
    };
    out.map_err(|e| corrupt(&format!("cannot decompress: {e}")))
}

/// The records of a stored batch, in order.
pub fn stored_records(batch: &Bytes, h: &BatchHeader) -> io::Result<Vec<StoredRecord>> {
    let data = records_section(batch, h)?;
    let mut out = Vec::with_capacity(h.records_count.max(0) as usize);
    let mut pos = 0;
    for _ in 0..h.records_count.max(0) {
        let len = read_varlong(&data, &mut pos)?;
        let end = pos
            .checked_add(len.max(0) as usize)
            .filter(|e| *e <= data.len())
            .ok_or_else(|| corrupt("record longer than its batch"))?;
        let record = data.slice(pos..end);
        let mut p = 1; // the unused record attributes byte
        let timestamp_delta = read_varlong(&record, &mut p)?;
        let tail_start = p;
        let offset_delta = read_varlong(&record, &mut p)? as i32;
        let key = read_bytes(&record, &mut p)?;
        let is_tombstone = read_bytes(&record, &mut p)?.is_none();
        out.push(StoredRecord {
            offset_delta,
            timestamp_delta,
            key,
            is_tombstone,
            tail: record.slice(tail_start..),
        });
        pos = end;
    }
    Ok(out)
}

/// Whether a control batch's record is a COMMIT marker (false for ABORT).
pub fn is_commit_marker(records: &[StoredRecord]) -> bool {
    records
        .first()
        .and_then(|r| r.key.as_ref())
        .is_some_and(|k| k.len() >= 4 && i16::from_be_bytes([k[2], k[3]]) == 1)
}

/// Re-encodes a stored batch with only `kept` of its records, keeping its base offset,
/// offset span, producer fields and compression (so offsets and idempotence state stay
/// as they were). With `delete_horizon`, the base timestamp becomes the horizon and the
/// batch is flagged, as Kafka's cleaner does; record timestamps are unchanged.
pub fn rewrite(
    original: &[u8],
    h: &BatchHeader,
    kept: &[StoredRecord],
    delete_horizon: Option<i64>,
) -> io::Result<Vec<u8>> {
    let old_base = h.first_timestamp;
    let absolute: Vec<i64> = kept
        .iter()
        .map(|r| old_base.wrapping_add(r.timestamp_delta))
        .collect();
    let base_ts = match delete_horizon {
        Some(horizon) => horizon,
        None if h.delete_horizon().is_none() => old_base,
        None => absolute.iter().copied().min().unwrap_or(old_base),
    };
    let max_ts = if h.attributes & LOG_APPEND_TIME_FLAG != 0 {
        h.max_timestamp
    } else {
        absolute.iter().copied().max().unwrap_or(h.max_timestamp)
    };
    let mut raw = Vec::new();
    let mut body = Vec::new();
    for (r, ts) in kept.iter().zip(&absolute) {
        body.clear();
        body.push(0);
        write_varlong(&mut body, ts - base_ts);
        body.extend_from_slice(&r.tail);
        write_varlong(&mut raw, body.len() as i64);
        raw.extend_from_slice(&body);
    }
    let mut records = compress(&raw, h.attributes & 0x07)?;
    let mut attributes = h.attributes & !DELETE_HORIZON_FLAG;
    if kept.is_empty() {
        // An empty batch has no records section to compress.
        attributes &= !0x07;
        records.clear();
    }
    if delete_horizon.is_some() {
        attributes |= DELETE_HORIZON_FLAG;
    }
    let mut out = Vec::with_capacity(HEADER_LEN + records.len());
    out.extend_from_slice(&original[0..8]);
    out.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + records.len()) as i32).to_be_bytes());
    out.extend_from_slice(&original[12..17]); // leader epoch, magic
    out.extend_from_slice(&[0; 4]); // CRC, filled below
    out.extend_from_slice(&attributes.to_be_bytes());
    out.extend_from_slice(&h.last_offset_delta.to_be_bytes());
    out.extend_from_slice(&base_ts.to_be_bytes());
    out.extend_from_slice(&max_ts.to_be_bytes());
    out.extend_from_slice(&original[43..57]); // producer id, epoch, base sequence
    out.extend_from_slice(&(kept.len() as i32).to_be_bytes());
    out.extend_from_slice(&records);
    let crc = crc32c::crc32c(&out[CRC_START..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// Compresses `raw` with Kafka's codec number `codec` (0: none).
fn compress(raw: &[u8], codec: i16) -> io::Result<bytes::BytesMut> {
    use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
    let put = |b: &mut bytes::BytesMut| {
        b.extend_from_slice(raw);
        Ok(())
    };
    let mut out = bytes::BytesMut::new();
    let done = match codec {
        0 => {
            out.extend_from_slice(raw);
            Ok(())
        }
        1 => Gzip::compress(&mut out, put),
        2 => Snappy::compress(&mut out, put),
        3 => Lz4::compress(&mut out, put),
        4 => Zstd::compress(&mut out, put),
        c => return Err(corrupt(&format!("unknown compression {c}"))),
    };
    done.map_err(|e| io::Error::other(format!("cannot compress a batch: {e}")))?;
    Ok(out)
}

/// The batch at the start of `original` with its records compressed with `codec` (Kafka's
/// numbers, 0 for none) instead: what a topic's `compression.type` asks of the broker.
/// The records themselves, their offsets, timestamps and producer fields are unchanged.
pub fn recompress(original: &[u8], h: &BatchHeader, codec: i16) -> io::Result<Vec<u8>> {
    let batch = Bytes::copy_from_slice(&original[..h.size.min(original.len())]);
    let raw = records_section(&batch, h)?;
    let records = compress(&raw, codec)?;
    let attributes = (h.attributes & !0x07) | codec;
    let mut out = Vec::with_capacity(HEADER_LEN + records.len());
    out.extend_from_slice(&batch[0..8]);
    out.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + records.len()) as i32).to_be_bytes());
    out.extend_from_slice(&batch[12..17]); // leader epoch, magic
    out.extend_from_slice(&[0; 4]); // CRC, filled below
    out.extend_from_slice(&attributes.to_be_bytes());
    out.extend_from_slice(&batch[23..HEADER_LEN]);
    out.extend_from_slice(&records);
    let crc = crc32c::crc32c(&out[CRC_START..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };

    fn record(offset: i64, key: &str, value: Option<&str>, timestamp: i64) -> Record {
        Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: 7,
            producer_epoch: 1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: offset as i32,
            timestamp,
            key: Some(Bytes::from(key.to_string())),
            value: value.map(|v| Bytes::from(v.to_string())),
            headers: Default::default(),
            delete_horizon: false,
        }
    }

    #[test]
    fn rewrite_keeps_offsets_and_timestamps_and_stamps_the_horizon() {
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let records = [
                record(10, "a", Some("1"), 1_000),
                record(11, "b", None, 1_500),
                record(12, "a", Some("2"), 2_000),
            ];
            let mut buf = bytes::BytesMut::new();
            RecordBatchEncoder::encode(
                &mut buf,
                &records,
                &RecordEncodeOptions {
                    version: 2,
                    compression,
                },
            )
            .unwrap();
            let original = buf.freeze();
            let h = BatchHeader::parse(&original).unwrap();
            let stored = stored_records(&original, &h).unwrap();
            assert_eq!(stored.len(), 3);
            assert!(stored[1].is_tombstone && !stored[0].is_tombstone);

            let kept = [stored[1].clone(), stored[2].clone()];
            let out = Bytes::from(rewrite(&original, &h, &kept, Some(99_000)).unwrap());
            assert!(crc_matches(&out));
            let nh = BatchHeader::parse(&out).unwrap();
            assert_eq!(nh.delete_horizon(), Some(99_000));
            assert_eq!((nh.base_offset, nh.last_offset()), (10, 12));
            assert_eq!((nh.base_sequence, nh.producer_id), (10, 7));
            assert_eq!(nh.records_count, 2);
            assert_eq!(nh.max_timestamp, 2_000);
            let decoded = RecordBatchDecoder::decode(&mut out.clone()).unwrap();
            let got: Vec<_> = decoded
                .records
                .iter()
                .map(|r| (r.offset, r.timestamp, r.value.is_some()))
                .collect();
            assert_eq!(got, [(11, 1_500, false), (12, 2_000, true)]);
            assert_eq!(decoded.compression, compression);

            // Dropping the horizon again restores a plain base timestamp.
            let again = stored_records(&out, &nh).unwrap();
            let plain = Bytes::from(rewrite(&out, &nh, &again[1..], None).unwrap());
            let ph = BatchHeader::parse(&plain).unwrap();
            assert_eq!(ph.delete_horizon(), None);
            let decoded = RecordBatchDecoder::decode(&mut plain.clone()).unwrap();
            assert_eq!(decoded.records[0].timestamp, 2_000);
            assert_eq!(decoded.records[0].offset, 12);
        }
    }

    #[test]
    fn recompression_keeps_records_offsets_and_producer_fields() {
        let records: Vec<Record> = (0..20)
            .map(|i| {
                let mut r = record(i, &format!("k{i}"), Some("value value value"), 1_000 + i);
                r.producer_id = 42;
                r.producer_epoch = 3;
                r.sequence = 7 + i as i32;
                r
            })
            .collect();
        for (from, to) in [
            (Compression::None, 4),
            (Compression::Gzip, 0),
            (Compression::Snappy, 3),
            (Compression::Lz4, 2),
            (Compression::Zstd, 1),
        ] {
            let mut buf = bytes::BytesMut::new();
            RecordBatchEncoder::encode(
                &mut buf,
                &records,
                &RecordEncodeOptions {
                    version: 2,
                    compression: from,
                },
            )
            .unwrap();
            let h = BatchHeader::parse(&buf).unwrap();
            let out = recompress(&buf, &h, to).unwrap();
            assert!(crc_matches(&out));
            let h2 = BatchHeader::parse(&out).unwrap();
            assert_eq!(h2.attributes & 0x07, to);
            assert_eq!(
                (
                    h2.producer_id,
                    h2.producer_epoch,
                    h2.base_sequence,
                    h2.records_count
                ),
                (42, 3, 7, 20)
            );
            let mut back = Bytes::from(out);
            let decoded = RecordBatchDecoder::decode(&mut back).unwrap();
            assert_eq!(decoded.records.len(), 20);
            assert_eq!(decoded.records[19].offset, 19);
            assert_eq!(decoded.records[19].timestamp, 1_019);
            assert_eq!(decoded.records[3].key.as_deref(), Some(&b"k3"[..]));
        }
    }
}
