//! One segment of a partition log: a `.log` file of record batches as received (base
//! offsets assigned), with sparse `.index` (offset -> position) and `.timeindex`
//! (timestamp -> offset) files beside it.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::batch::{BatchHeader, HEADER_LEN, crc_matches};

/// One segment file and its in-memory sparse indexes.
pub struct Segment {
    /// The offset of the segment's first batch (also its file name).
    pub base_offset: i64,
    /// One past the last offset stored (equals `base_offset` when empty).
    pub next_offset: i64,
    /// Bytes in the `.log` file.
    pub size: u64,
    /// Largest record timestamp in the segment (-1 when none).
    pub max_timestamp: i64,
    /// Base offset of the batch holding `max_timestamp`.
    pub max_timestamp_batch: i64,
    /// When the segment was last appended to, in ms since the epoch.
    pub last_modified_ms: i64,
    /// The largest timestamp of the segment's first batch (-1 when empty): what
    /// `segment.ms` and `max.compaction.lag.ms` measure a segment's age from.
    pub first_batch_timestamp: i64,
    /// When the segment was created (or, after a restart, its file last changed).
    pub created_ms: i64,
    log: File,
    index_file: File,
    time_index_file: File,
    log_path: PathBuf,
    /// (offset relative to base, file position) of some batch starts.
    index: Vec<(u32, u32)>,
    /// (largest timestamp of all batches before the offset, relative offset).
    time_index: Vec<(i64, u32)>,
    bytes_since_index: u64,
}

/// The file name (without extension) of the segment starting at `base_offset`.
pub(crate) fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

/// The path of the cleaner's not yet installed rewrite of a segment file (`ext` is
/// `log`, `index` or `timeindex`).
pub(crate) fn cleaned_path(dir: &Path, base_offset: i64, ext: &str) -> PathBuf {
    dir.join(format!("{}.{ext}.cleaned", file_stem(base_offset)))
}

/// What recovery found in a segment file.
pub struct Recovered {
    /// The segment, truncated to its last valid batch.
    pub segment: Segment,
    /// Whether an invalid or torn tail was cut off.
    pub truncated: bool,
}

impl Segment {
    /// Creates an empty segment starting at `base_offset` (replacing any leftover files).
    pub fn create(dir: &Path, base_offset: i64, now_ms: i64) -> io::Result<Segment> {
        let stem = file_stem(base_offset);
        let open = |ext: &str| {
            OpenOptions::new()
                .create(true)
                .read(true)
                .write(true)
                .truncate(true)
                .open(dir.join(format!("{stem}.{ext}")))
        };
        Ok(Segment {
            base_offset,
            next_offset: base_offset,
            size: 0,
            max_timestamp: -1,
            max_timestamp_batch: base_offset,
            last_modified_ms: now_ms,
            first_batch_timestamp: -1,
            created_ms: now_ms,
            log: open("log")?,
            index_file: open("index")?,
            time_index_file: open("timeindex")?,
            log_path: dir.join(format!("{stem}.log")),
            index: Vec::new(),
            time_index: Vec::new(),
            bytes_since_index: 0,
        })
    }

    /// Opens an existing segment, scanning its batches to rebuild the indexes and cut off
    /// a torn or corrupt tail. `verify_crc` checks every batch's CRC (used for the last
    /// segment, the only one a crash can leave half-written). `on_batch` sees every valid
    /// batch header in order.
    pub fn recover(
        dir: &Path,
        base_offset: i64,
        index_interval: u32,
        verify_crc: bool,
        on_batch: impl FnMut(&BatchHeader),
    ) -> io::Result<Recovered> {
        let stem = file_stem(base_offset);
        let log_path = dir.join(format!("{stem}.log"));
        let log = OpenOptions::new().read(true).write(true).open(&log_path)?;
        let indexes = [
            dir.join(format!("{stem}.index")),
            dir.join(format!("{stem}.timeindex")),
        ];
        Self::scan(
            log,
            log_path,
            indexes,
            base_offset,
            index_interval,
            verify_crc,
            on_batch,
        )
    }

    /// Opens the cleaner's rewrite of the segment at `base_offset` (its `.cleaned`
    /// files), ready to be installed: once renamed, it is the segment at that offset.
    pub fn load_cleaned(dir: &Path, base_offset: i64, index_interval: u32) -> io::Result<Segment> {
        let path = cleaned_path(dir, base_offset, "log");
        let log = OpenOptions::new().read(true).write(true).open(&path)?;
        let indexes = [
            cleaned_path(dir, base_offset, "index"),
            cleaned_path(dir, base_offset, "timeindex"),
        ];
        let final_path = dir.join(format!("{}.log", file_stem(base_offset)));
        let recovered = Self::scan(
            log,
            final_path,
            indexes,
            base_offset,
            index_interval,
            false,
            |_| {},
        )?;
        if recovered.truncated {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the cleaner wrote an unreadable segment {}", path.display()),
            ));
        }
        Ok(recovered.segment)
    }

    /// A handle for positioned reads that need no lock: rolled segments never change,
    /// and the handle stays valid even if the file is deleted meanwhile.
    pub fn reader(&self) -> io::Result<File> {
        self.log.try_clone()
    }

    /// Scans the batches of `log` (stored at `log_path` once installed), writing fresh
    /// index files at `indexes`.
    fn scan(
        log: File,
        log_path: PathBuf,
        indexes: [PathBuf; 2],
        base_offset: i64,
        index_interval: u32,
        verify_crc: bool,
        mut on_batch: impl FnMut(&BatchHeader),
    ) -> io::Result<Recovered> {
        let meta = log.metadata()?;
        let file_len = meta.len();
        let modified_ms = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        // The index files are always rebuilt from the log, so their old contents never
        // need to be trusted after a crash.
        let mut seg = Segment::create_indexes_only(base_offset, log, log_path, indexes)?;
        seg.last_modified_ms = modified_ms;
        seg.created_ms = modified_ms;

        let mut reader = BufReader::with_capacity(256 * 1024, seg.log.try_clone()?);
        let mut pos: u64 = 0;
        let mut header_buf = [0u8; HEADER_LEN];
        let mut body = Vec::new();
        let mut truncated = false;
        loop {
            if pos == file_len {
                break;
            }
            if file_len - pos < HEADER_LEN as u64 {
                truncated = true;
                break;
            }
            reader.read_exact(&mut header_buf)?;
            let header = match BatchHeader::parse(&header_buf) {
                Ok(h) => h,
                Err(_) => {
                    truncated = true;
                    break;
                }
            };
            let size = header.size as u64;
            if pos + size > file_len
                || header.base_offset < seg.next_offset
                || header.last_offset_delta < 0
            {
                truncated = true;
                break;
            }
            if verify_crc {
                body.clear();
                body.extend_from_slice(&header_buf);
                body.resize(header.size, 0);
                reader.read_exact(&mut body[HEADER_LEN..])?;
                if !crc_matches(&body) {
                    truncated = true;
                    break;
                }
            } else {
                reader.seek_relative(size as i64 - HEADER_LEN as i64)?;
            }
            seg.note_batch(&header, pos as u32, index_interval)?;
            on_batch(&header);
            pos += size;
        }
        if truncated {
            tracing::warn!(
                segment = %seg.log_path.display(),
                valid_bytes = pos,
                file_bytes = file_len,
                "truncating a torn or corrupt tail left by an unclean shutdown"
            );
            seg.log.set_len(pos)?;
        }
        seg.size = pos;
        Ok(Recovered {
            segment: seg,
            truncated,
        })
    }

    fn create_indexes_only(
        base_offset: i64,
        log: File,
        log_path: PathBuf,
        indexes: [PathBuf; 2],
    ) -> io::Result<Segment> {
        let open = |path: &PathBuf| {
            OpenOptions::new()
                .create(true)
                .read(true)
                .write(true)
                .truncate(true)
                .open(path)
        };
        Ok(Segment {
            base_offset,
            next_offset: base_offset,
            size: 0,
            max_timestamp: -1,
            max_timestamp_batch: base_offset,
            last_modified_ms: 0,
            first_batch_timestamp: -1,
            created_ms: 0,
            log,
            index_file: open(&indexes[0])?,
            time_index_file: open(&indexes[1])?,
            log_path,
            index: Vec::new(),
            time_index: Vec::new(),
            bytes_since_index: 0,
        })
    }

    /// Updates the indexes and bookkeeping for a batch stored at `position`.
    fn note_batch(&mut self, h: &BatchHeader, position: u32, interval: u32) -> io::Result<()> {
        let rel = (h.base_offset - self.base_offset) as u32;
        if self.index.is_empty() || self.bytes_since_index >= interval as u64 {
            self.index.push((rel, position));
            let mut e = [0u8; 8];
            e[..4].copy_from_slice(&rel.to_be_bytes());
            e[4..].copy_from_slice(&position.to_be_bytes());
            self.index_file.write_all(&e)?;
            if self.time_index.last().map(|t| t.0) != Some(self.max_timestamp) {
                self.time_index.push((self.max_timestamp, rel));
                let mut t = [0u8; 12];
                t[..8].copy_from_slice(&self.max_timestamp.to_be_bytes());
                t[8..].copy_from_slice(&rel.to_be_bytes());
                self.time_index_file.write_all(&t)?;
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += h.size as u64;
        if self.first_batch_timestamp < 0 {
            self.first_batch_timestamp = h.max_timestamp.max(0);
        }
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.max_timestamp_batch = h.base_offset;
        }
        self.next_offset = h.last_offset() + 1;
        Ok(())
    }

    /// Appends `bytes` (whole batches whose headers are `batches`) at the end of the log.
    pub fn append(
        &mut self,
        bytes: &[u8],
        batches: &[BatchHeader],
        index_interval: u32,
        now_ms: i64,
    ) -> io::Result<()> {
        self.log.write_all_at(bytes, self.size)?;
        let mut position = self.size;
        for h in batches {
            self.note_batch(h, position as u32, index_interval)?;
            position += h.size as u64;
        }
        self.size += bytes.len() as u64;
        self.last_modified_ms = now_ms;
        Ok(())
    }

    /// The time an idle active segment's age is measured from: its first batch's
    /// timestamp (Kafka's rolling-based timestamp), but never before the segment was
    /// created, so records with old timestamps do not make every pass roll a new one.
    pub fn roll_base_ms(&self) -> i64 {
        self.first_batch_timestamp.max(self.created_ms)
    }

    /// Reads `len` bytes at `position`.
    pub fn read_at(&self, position: u64, len: usize) -> io::Result<Bytes> {
        // Reading through the shared cursor fills spare capacity without zeroing it
        // first; callers hold the partition lock, so no other read moves the cursor
        // (appends use positioned writes and never touch it).
        let mut file = &self.log;
        file.seek(SeekFrom::Start(position))?;
        let mut buf = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut buf)?;
        if buf.len() != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("segment ends {} bytes early", len - buf.len()),
            ));
        }
        Ok(Bytes::from(buf))
    }

    /// Reads the batch header at `position`, if a whole header is there.
    pub fn header_at(&self, position: u64) -> io::Result<Option<BatchHeader>> {
        if position + HEADER_LEN as u64 > self.size {
            return Ok(None);
        }
        let mut buf = [0u8; HEADER_LEN];
        self.log.read_exact_at(&mut buf, position)?;
        Ok(BatchHeader::parse(&buf).ok())
    }

    /// The position of the batch holding `offset` (or the first batch after it), or
    /// `None` when the segment ends before `offset`.
    pub fn find_position(&self, offset: i64) -> io::Result<Option<(u64, BatchHeader)>> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let rel = (offset - self.base_offset).max(0) as u32;
        let start = match self.index.partition_point(|e| e.0 <= rel) {
            0 => 0,
            i => self.index[i - 1].1 as u64,
        };
        self.scan_from(start, |h| h.last_offset() >= offset)
    }

    /// The position of the first batch from `start` on that satisfies `pred`.
    pub fn scan_from(
        &self,
        mut position: u64,
        pred: impl Fn(&BatchHeader) -> bool,
    ) -> io::Result<Option<(u64, BatchHeader)>> {
        while let Some(h) = self.header_at(position)? {
            if pred(&h) {
                return Ok(Some((position, h)));
            }
            position += h.size as u64;
        }
        Ok(None)
    }

    /// Where to start looking for the first record with a timestamp >= `ts`: no batch
    /// before the returned position holds such a record.
    pub fn time_lookup_start(&self, ts: i64) -> io::Result<u64> {
        let i = self.time_index.partition_point(|e| e.0 < ts);
        if i == 0 {
            return Ok(0);
        }
        let rel = self.time_index[i - 1].1;
        let j = self.index.partition_point(|e| e.0 <= rel);
        Ok(if j == 0 {
            0
        } else {
            self.index[j - 1].1 as u64
        })
    }

    /// Forces the segment's data to disk.
    pub fn flush(&self) -> io::Result<()> {
        self.log.sync_data()?;
        self.index_file.sync_data()?;
        self.time_index_file.sync_data()
    }

    /// Deletes the segment's files.
    pub fn delete_files(self) -> io::Result<()> {
        let stem = self.log_path.with_extension("");
        drop(self.log);
        std::fs::remove_file(&self.log_path)?;
        for ext in ["index", "timeindex"] {
            let _ = std::fs::remove_file(stem.with_extension(ext));
        }
        Ok(())
    }
}
