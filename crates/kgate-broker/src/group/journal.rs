//! The coordinator's durable state: an append-only journal under `<data_dir>/groups`.
//!
//! Each frame is `[u32 length][u32 crc32c][JSON batch of operations]`, big-endian. A batch
//! is applied whole or not at all, so an OffsetCommit of many partitions is atomic. One
//! writer thread owns the file: callers queue batches while holding the coordinator's lock
//! (so the journal order is the order in which the memory state changed), and the thread
//! writes whatever has queued up with a single fsync before acknowledging any of it. When
//! the file has grown well past the live state it is rewritten as a snapshot (written to a
//! temporary file, synced, then renamed over the journal, so a crash leaves one or the
//! other). At open, a frame that is cut short or fails its checksum ends the journal: that
//! is the torn tail of a write that was never acknowledged, and it is truncated away.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// The journal's file name inside `<data_dir>/groups`.
const FILE_NAME: &str = "journal.log";
/// Where a snapshot is written before it replaces the journal.
const TMP_NAME: &str = "journal.log.tmp";
/// Frame header: length and checksum.
const HEADER_LEN: usize = 8;
/// A frame larger than this is taken for garbage rather than allocated.
const MAX_FRAME: usize = 256 * 1024 * 1024;
/// The journal is not compacted below this size, whatever the live state.
pub(crate) const DEFAULT_COMPACT_BYTES: u64 = 8 * 1024 * 1024;

/// One change to the durable state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum JournalOp {
    /// An offset committed for a group and partition.
    Commit {
        /// The group.
        group: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// What was committed.
        offset: OffsetRecord,
    },
    /// A committed offset removed (OffsetDelete).
    DeleteOffset {
        /// The group.
        group: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// The group's membership as of its latest generation.
    Group(GroupRecord),
    /// A group and all its offsets removed (DeleteGroups).
    DeleteGroup {
        /// The group.
        group: String,
    },
    /// A topic deleted: every group forgets its offsets.
    DeleteTopic {
        /// The topic.
        topic: String,
    },
}

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OffsetRecord {
    /// The committed offset.
    pub offset: i64,
    /// The leader epoch the client sent, -1 when none.
    pub leader_epoch: i32,
    /// The client's metadata string.
    pub metadata: String,
    /// When the commit was made, in ms since the epoch.
    pub timestamp_ms: i64,
}

/// A group's durable metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GroupRecord {
    /// The group id.
    pub group: String,
    /// The generation.
    pub generation: i32,
    /// The protocol type (`consumer` for consumers), if any member ever joined.
    pub protocol_type: Option<String>,
    /// The selected protocol (assignor) of the generation.
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// The members of the generation.
    pub members: Vec<MemberRecord>,
}

/// A member as stored in a group record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MemberRecord {
    /// The member id.
    pub member_id: String,
    /// The static instance id.
    pub instance_id: Option<String>,
    /// The client id of its latest join.
    pub client_id: String,
    /// The client host of its latest join.
    pub client_host: String,
    /// Its session timeout.
    pub session_timeout_ms: i32,
    /// Its rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// Its protocols with their metadata, in preference order.
    pub protocols: Vec<ProtocolRecord>,
    /// The assignment the leader gave it.
    #[serde(with = "hex_bytes")]
    pub assignment: Vec<u8>,
}

/// One protocol a member supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ProtocolRecord {
    /// The protocol name.
    pub name: String,
    /// The member's metadata for it.
    #[serde(with = "hex_bytes")]
    pub metadata: Vec<u8>,
}

/// Everything the journal holds, as replayed.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DurableState {
    /// Group metadata by group id.
    pub groups: BTreeMap<String, GroupRecord>,
    /// Committed offsets by group id, then topic and partition.
    pub offsets: BTreeMap<String, BTreeMap<(String, i32), OffsetRecord>>,
}

impl DurableState {
    /// Applies one operation.
    pub(crate) fn apply(&mut self, op: &JournalOp) {
        match op {
            JournalOp::Commit {
                group,
                topic,
                partition,
                offset,
            } => {
                self.offsets
                    .entry(group.clone())
                    .or_default()
                    .insert((topic.clone(), *partition), offset.clone());
            }
            JournalOp::DeleteOffset {
                group,
                topic,
                partition,
            } => {
                if let Some(offsets) = self.offsets.get_mut(group) {
                    offsets.remove(&(topic.clone(), *partition));
                    if offsets.is_empty() {
                        self.offsets.remove(group);
                    }
                }
            }
            JournalOp::Group(record) => {
                self.groups.insert(record.group.clone(), record.clone());
            }
            JournalOp::DeleteGroup { group } => {
                self.groups.remove(group);
                self.offsets.remove(group);
            }
            JournalOp::DeleteTopic { topic } => {
                for offsets in self.offsets.values_mut() {
                    offsets.retain(|(t, _), _| t != topic);
                }
                self.offsets.retain(|_, offsets| !offsets.is_empty());
            }
        }
    }

    /// The state as batches of operations that rebuild it, one batch per group.
    fn to_batches(&self) -> Vec<Vec<JournalOp>> {
        let mut ids: Vec<&String> = self.groups.keys().chain(self.offsets.keys()).collect();
        ids.sort();
        ids.dedup();
        ids.into_iter()
            .map(|id| {
                let mut ops = Vec::new();
                if let Some(record) = self.groups.get(id) {
                    ops.push(JournalOp::Group(record.clone()));
                }
                if let Some(offsets) = self.offsets.get(id) {
                    for ((topic, partition), offset) in offsets {
                        ops.push(JournalOp::Commit {
                            group: id.clone(),
                            topic: topic.clone(),
                            partition: *partition,
                            offset: offset.clone(),
                        });
                    }
                }
                ops
            })
            .collect()
    }
}

/// Whether a queued batch reached the disk.
pub(crate) type Ack = oneshot::Receiver<Result<(), Arc<std::io::Error>>>;

/// What the writer thread is asked to do.
enum Command {
    Append(
        Vec<JournalOp>,
        oneshot::Sender<Result<(), Arc<std::io::Error>>>,
    ),
    Close(oneshot::Sender<()>),
}

/// The handle through which the coordinator queues durable changes.
pub(crate) struct Journal {
    commands: mpsc::Sender<Command>,
}

impl Journal {
    /// Opens the journal in `dir` (creating it), replays it, truncates a torn tail and
    /// starts the writer thread.
    pub(crate) fn open(dir: &Path, compact_bytes: u64) -> std::io::Result<(Journal, DurableState)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        // A leftover snapshot never replaced the journal, so it is not authoritative.
        let tmp = dir.join(TMP_NAME);
        if tmp.exists() {
            std::fs::remove_file(&tmp)?;
        }
        let (state, valid_len) = replay(&path)?;
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let file_len = file.metadata()?.len();
        if file_len > valid_len {
            tracing::warn!(
                path = %path.display(),
                valid_len,
                file_len,
                "group journal has a torn tail; truncating it"
            );
            file.set_len(valid_len)?;
            file.sync_all()?;
        }
        let (commands, receiver) = mpsc::channel();
        let writer = Writer {
            dir: dir.to_path_buf(),
            path,
            file: Some(file),
            len: valid_len,
            snapshot_len: 0,
            compact_bytes,
            replica: state.clone(),
        };
        std::thread::Builder::new()
            .name("kgate-groups-journal".into())
            .spawn(move || writer.run(receiver))?;
        Ok((Journal { commands }, state))
    }

    /// Queues a batch; the returned ack resolves once it is on disk.
    pub(crate) fn append(&self, ops: Vec<JournalOp>) -> Ack {
        let (tx, rx) = oneshot::channel();
        // If the writer is gone the sender is dropped with the command, and the ack
        // resolves to an error for the caller to report.
        let _ = self.commands.send(Command::Append(ops, tx));
        rx
    }

    /// Waits until everything queued so far is on disk, then stops the writer.
    pub(crate) async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// The writer thread's state.
struct Writer {
    dir: PathBuf,
    path: PathBuf,
    file: Option<File>,
    len: u64,
    snapshot_len: u64,
    compact_bytes: u64,
    replica: DurableState,
}

impl Writer {
    fn run(mut self, receiver: mpsc::Receiver<Command>) {
        while let Ok(first) = receiver.recv() {
            let mut commands = vec![first];
            while let Ok(next) = receiver.try_recv() {
                commands.push(next);
            }
            let mut buf = Vec::new();
            let mut acks = Vec::new();
            let mut close = None;
            for command in commands {
                match command {
                    Command::Append(ops, ack) => match encode_frame(&ops, &mut buf) {
                        Ok(()) => {
                            for op in &ops {
                                self.replica.apply(op);
                            }
                            acks.push(ack);
                        }
                        Err(e) => {
                            let _ = ack.send(Err(Arc::new(e)));
                        }
                    },
                    Command::Close(ack) => close = Some(ack),
                }
            }
            let result = self.write(&buf).map_err(Arc::new);
            if let Err(e) = &result {
                tracing::error!(path = %self.path.display(), error = %e, "group journal write failed");
            }
            for ack in acks {
                let _ = ack.send(result.clone());
            }
            if result.is_ok()
                && self.should_compact()
                && let Err(e) = self.compact()
            {
                tracing::warn!(path = %self.path.display(), error = %e, "group journal compaction failed");
            }
            if let Some(ack) = close {
                let _ = ack.send(());
                return;
            }
        }
    }

    fn write(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let Some(file) = self.file.as_mut() else {
            return Err(std::io::Error::other(
                "group journal is closed after an earlier failure",
            ));
        };
        let result = file.write_all(buf).and_then(|()| file.sync_data());
        match result {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Cut a partial frame off so that later frames stay readable.
                let _ = file.set_len(self.len);
                Err(e)
            }
        }
    }

    fn should_compact(&self) -> bool {
        self.len > self.compact_bytes && self.len > self.snapshot_len.saturating_mul(2)
    }

    fn compact(&mut self) -> std::io::Result<()> {
        let tmp = self.dir.join(TMP_NAME);
        let mut buf = Vec::new();
        for batch in self.replica.to_batches() {
            encode_frame(&batch, &mut buf)?;
        }
        {
            let mut file = File::create(&tmp)?;
            file.write_all(&buf)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        // From here the old file is unlinked: appending to it would lose data.
        self.file = None;
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        self.file = Some(
            OpenOptions::new()
                .read(true)
                .append(true)
                .open(&self.path)?,
        );
        self.len = buf.len() as u64;
        self.snapshot_len = self.len;
        tracing::debug!(path = %self.path.display(), bytes = self.len, "group journal compacted");
        Ok(())
    }
}

fn encode_frame(ops: &[JournalOp], buf: &mut Vec<u8>) -> std::io::Result<()> {
    let payload = serde_json::to_vec(ops).map_err(std::io::Error::other)?;
    let len = u32::try_from(payload.len())
        .map_err(|_| std::io::Error::other("group journal batch too large"))?;
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    buf.extend_from_slice(&payload);
    Ok(())
}

/// Replays the journal at `path`; returns the state and the length of its valid prefix.
fn replay(path: &Path) -> std::io::Result<(DurableState, u64)> {
    let mut data = Vec::new();
    match File::open(path) {
        Ok(mut file) => {
            file.read_to_end(&mut data)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut state = DurableState::default();
    let mut pos = 0usize;
    while let Some((ops, next)) = decode_frame(&data, pos) {
        for op in &ops {
            state.apply(op);
        }
        pos = next;
    }
    Ok((state, pos as u64))
}

/// Decodes the frame at `pos`, or `None` if there is no whole, intact frame there.
fn decode_frame(data: &[u8], pos: usize) -> Option<(Vec<JournalOp>, usize)> {
    let header = data.get(pos..pos.checked_add(HEADER_LEN)?)?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_FRAME {
        return None;
    }
    let start = pos + HEADER_LEN;
    let payload = data.get(start..start.checked_add(len)?)?;
    if crc32c::crc32c(payload) != crc {
        return None;
    }
    let ops = serde_json::from_slice(payload).ok()?;
    Some((ops, start + len))
}

/// Bytes stored as lowercase hex strings, which keeps the journal readable and compact.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes bytes as hex.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(b & 0x0f)]));
        }
        serializer.serialize_str(&out)
    }

    /// Reads bytes from hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        let digits = text.as_bytes();
        if digits.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd number of hex digits"));
        }
        digits
            .chunks(2)
            .map(|pair| {
                let hi = nibble(pair[0]);
                let lo = nibble(pair[1]);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => Ok((hi << 4) | lo),
                    _ => Err(serde::de::Error::custom("invalid hex digit")),
                }
            })
            .collect()
    }

    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(group: &str, topic: &str, partition: i32, offset: i64) -> JournalOp {
        JournalOp::Commit {
            group: group.into(),
            topic: topic.into(),
            partition,
            offset: OffsetRecord {
                offset,
                leader_epoch: -1,
                metadata: format!("m{offset}"),
                timestamp_ms: 1,
            },
        }
    }

    fn group_record(group: &str) -> GroupRecord {
        GroupRecord {
            group: group.into(),
            generation: 3,
            protocol_type: Some("consumer".into()),
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            members: vec![MemberRecord {
                member_id: "m1".into(),
                instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 20_000,
                protocols: vec![ProtocolRecord {
                    name: "range".into(),
                    metadata: vec![0, 1, 0xfe, 0xff],
                }],
                assignment: vec![9, 8, 7],
            }],
        }
    }

    async fn write_all(journal: &Journal, batches: Vec<Vec<JournalOp>>) {
        let acks: Vec<Ack> = batches.into_iter().map(|b| journal.append(b)).collect();
        for ack in acks {
            assert!(matches!(ack.await, Ok(Ok(()))));
        }
    }

    #[tokio::test]
    async fn replays_what_was_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, state) = Journal::open(dir.path(), DEFAULT_COMPACT_BYTES).unwrap();
        assert_eq!(state, DurableState::default());
        write_all(
            &journal,
            vec![
                vec![commit("g", "t", 0, 5), commit("g", "t", 1, 6)],
                vec![JournalOp::Group(group_record("g"))],
                vec![commit("g", "t", 0, 7)],
                vec![commit("h", "u", 0, 1), commit("h", "t", 0, 1)],
                vec![JournalOp::DeleteTopic { topic: "u".into() }],
                vec![JournalOp::DeleteOffset {
                    group: "g".into(),
                    topic: "t".into(),
                    partition: 1,
                }],
                vec![commit("x", "t", 0, 1)],
                vec![JournalOp::DeleteGroup { group: "x".into() }],
            ],
        )
        .await;
        journal.close().await;
        let (_journal, state) = Journal::open(dir.path(), DEFAULT_COMPACT_BYTES).unwrap();
        assert_eq!(state.groups.get("g"), Some(&group_record("g")));
        let g = &state.offsets["g"];
        assert_eq!(g.len(), 1);
        assert_eq!(g[&("t".to_string(), 0)].offset, 7);
        assert_eq!(g[&("t".to_string(), 0)].metadata, "m7");
        assert_eq!(state.offsets["h"].len(), 1);
        assert!(!state.offsets.contains_key("x"));
    }

    #[tokio::test]
    async fn a_torn_tail_is_truncated_and_later_appends_survive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        {
            let (journal, _) = Journal::open(dir.path(), DEFAULT_COMPACT_BYTES).unwrap();
            write_all(
                &journal,
                vec![vec![commit("g", "t", 0, 1)], vec![commit("g", "t", 0, 2)]],
            )
            .await;
            journal.close().await;
        }
        let full = std::fs::read(&path).unwrap();
        // Every cut inside the last frame must leave exactly the first batch.
        let (_, first_end) = decode_frame(&full, 0).unwrap();
        for cut in first_end..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (journal, state) = Journal::open(dir.path(), DEFAULT_COMPACT_BYTES).unwrap();
            assert_eq!(
                state.offsets["g"][&("t".to_string(), 0)].offset,
                1,
                "cut at {cut}"
            );
            journal.close().await;
            assert_eq!(std::fs::metadata(&path).unwrap().len(), first_end as u64);
        }
        // A flipped byte in the last frame's payload is caught by the checksum.
        let mut bad = full.clone();
        let last = bad.len() - 2;
        bad[last] ^= 0x55;
        std::fs::write(&path, &bad).unwrap();
        let (journal, state) = Journal::open(dir.path(), DEFAULT_COMPACT_BYTES).unwrap();
        assert_eq!(state.offsets["g"][&("t".to_string(), 0)].offset, 1);
        write_all(&journal, vec![vec![commit("g", "t", 0, 3)]]).await;
        journal.close().await;
        let (_journal, state) = Journal::open(dir.path(), DEFAULT_COMPACT_BYTES).unwrap();
        assert_eq!(state.offsets["g"][&("t".to_string(), 0)].offset, 3);
    }

    #[tokio::test]
    async fn compaction_keeps_the_live_state_and_shrinks_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let (journal, _) = Journal::open(dir.path(), 4096).unwrap();
        write_all(&journal, vec![vec![JournalOp::Group(group_record("g"))]]).await;
        for i in 0..500 {
            write_all(&journal, vec![vec![commit("g", "t", i % 3, i64::from(i))]]).await;
        }
        journal.close().await;
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len < 16 * 1024, "journal not compacted: {len} bytes");
        let (_journal, state) = Journal::open(dir.path(), 4096).unwrap();
        assert_eq!(state.groups["g"], group_record("g"));
        let g = &state.offsets["g"];
        assert_eq!(g[&("t".to_string(), 0)].offset, 498);
        assert_eq!(g[&("t".to_string(), 1)].offset, 499);
        assert_eq!(g[&("t".to_string(), 2)].offset, 497);
    }
}
