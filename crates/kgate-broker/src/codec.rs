//! Request decoding and response encoding around `kafka-protocol`, hardened against
//! hostile input: nothing in a frame can make the broker panic or allocate without bound.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::buf::ByteBuf;
use kafka_protocol::protocol::{Decodable, Encodable};

/// Array lengths above this (and above the bytes left) are refused before the decoder
/// reserves memory for them: a garbage length would otherwise reserve gigabytes.
const MAX_IMPLAUSIBLE_COUNT: i64 = 1 << 24;

/// What a [`GuardedBuf`] does with a 32-bit value too large to be the length of what
/// follows (more than [`MAX_IMPLAUSIBLE_COUNT`] and more than the bytes left).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suspicious {
    /// Refuse it: the decode fails.
    Refuse,
    /// Hand the decoder `bytes left + 1` instead and note where it was read. If it was an
    /// array, string or bytes length the decode still fails (every element takes at
    /// least one byte), but only after reserving memory for at most the bytes left;
    /// if the decode succeeds, every noted value was a plain field.
    Clamp,
}

/// A request frame's body as a buffer that refuses implausible collection lengths.
///
/// The generated decoders reserve `Vec::with_capacity(n)` for an array of `n` elements
/// read from the wire before reading any element; an allocation failure aborts the
/// process, so lengths that cannot fit in the remaining bytes are never handed over as
/// they are. A length and a plain 32-bit field (a partition index, a timeout) look the
/// same to a buffer, so [`decode_body`] decodes in up to two passes: the first clamps
/// suspicious values (see [`Suspicious::Clamp`]); when it succeeds with some clamped,
/// they were fields, and the second pass reads them as they are.
/// Leading 32-bit fields that routinely hold large values (timeouts, byte limits) are
/// exempted per API, which spares most requests the second pass.
pub struct GuardedBuf {
    inner: Bytes,
    /// The body's length, to locate reads by their offset.
    total: usize,
    exempt_i32: u32,
    count_limit: i64,
    varint_value: u64,
    varint_shift: u32,
    on_suspicious: Suspicious,
    /// Offsets of the suspicious values clamped so far (Clamp mode).
    clamped: Vec<usize>,
    /// Offsets of values known to be plain fields, read as they are.
    fields: Vec<usize>,
}

impl GuardedBuf {
    fn new(inner: Bytes, exempt_i32: u32, count_limit: i64) -> Self {
        Self {
            total: inner.len(),
            inner,
            exempt_i32,
            count_limit,
            varint_value: 0,
            varint_shift: 0,
            on_suspicious: Suspicious::Refuse,
            clamped: Vec::new(),
            fields: Vec::new(),
        }
    }
}

fn refuse(requested: usize, available: usize) -> bytes::TryGetError {
    bytes::TryGetError {
        requested,
        available,
    }
}

impl Buf for GuardedBuf {
    fn remaining(&self) -> usize {
        self.inner.remaining()
    }
    fn chunk(&self) -> &[u8] {
        self.inner.chunk()
    }
    fn advance(&mut self, cnt: usize) {
        self.inner.advance(cnt)
    }
    fn try_get_i32(&mut self) -> Result<i32, bytes::TryGetError> {
        let at = self.total - self.inner.remaining();
        let v = self.inner.try_get_i32()?;
        if self.exempt_i32 > 0 {
            self.exempt_i32 -= 1;
            return Ok(v);
        }
        let left = self.inner.remaining();
        if v as i64 > self.count_limit && v as i64 > left as i64 {
            if self.fields.binary_search(&at).is_ok() {
                return Ok(v);
            }
            return match self.on_suspicious {
                Suspicious::Refuse => Err(refuse(v as usize, left)),
                Suspicious::Clamp => {
                    self.clamped.push(at);
                    Ok(i32::try_from(left + 1).unwrap_or(i32::MAX))
                }
            };
        }
        Ok(v)
    }
    fn try_get_u8(&mut self) -> Result<u8, bytes::TryGetError> {
        // Unsigned varints (compact lengths and tag counts) are read a byte at a time;
        // follow them so a multi-byte length larger than what is left can be refused on
        // its last byte, before the decoder reserves memory for it. (Unsigned varints
        // are only ever lengths, counts and tags, never plain fields.)
        let b = self.inner.try_get_u8()?;
        if b & 0x80 == 0 && self.varint_shift == 0 {
            return Ok(b);
        }
        // Mirror the decoder: at most five bytes, 7 bits each, truncated to 32 bits.
        self.varint_value |= ((b & 0x7f) as u64) << self.varint_shift;
        self.varint_shift += 7;
        if b & 0x80 != 0 && self.varint_shift < 35 {
            return Ok(b);
        }
        let value = self.varint_value as u32 as u64;
        self.varint_value = 0;
        self.varint_shift = 0;
        let left = self.inner.remaining() as u64;
        if value > left + 1 {
            return Err(refuse(value as usize, left as usize));
        }
        Ok(b)
    }
}

impl ByteBuf for GuardedBuf {
    fn peek_bytes(&mut self, r: std::ops::Range<usize>) -> Bytes {
        self.inner.slice(r)
    }
    fn get_bytes(&mut self, size: usize) -> Bytes {
        self.inner.split_to(size)
    }
}

/// A request taken apart: its header and the still-encoded body.
pub struct RawRequest {
    /// The API key, already known to `kafka-protocol`.
    pub api_key: ApiKey,
    /// The API version.
    pub api_version: i16,
    /// The correlation id.
    pub correlation_id: i32,
    /// The decoded header.
    pub header: RequestHeader,
    /// The body bytes after the header.
    pub body: Bytes,
}

/// Why a frame could not be understood.
#[derive(Debug)]
pub enum FrameError {
    /// The frame is too short or its header is malformed.
    Malformed(String),
    /// The API key is not one `kafka-protocol` knows.
    UnknownApiKey {
        /// The key sent.
        api_key: i16,
    },
}

/// Splits a request frame into its header and body.
pub fn parse_frame(frame: Bytes) -> Result<RawRequest, FrameError> {
    if frame.len() < 8 {
        return Err(FrameError::Malformed(format!(
            "frame of {} bytes is shorter than a request header",
            frame.len()
        )));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let Ok(api_key) = ApiKey::try_from(key) else {
        return Err(FrameError::UnknownApiKey { api_key: key });
    };
    let header_version = if api_version < 0 {
        1
    } else {
        api_key.request_header_version(api_version)
    };
    let mut buf = GuardedBuf::new(frame.clone(), 0, MAX_IMPLAUSIBLE_COUNT);
    let mut header = catch(|| RequestHeader::decode(&mut buf, header_version));
    if header.is_err() && api_key == ApiKey::ApiVersions {
        // A client probing with an ApiVersions version we do not know may use either
        // header layout; Kafka answers both, so retry with the non-flexible one.
        buf = GuardedBuf::new(frame, 0, MAX_IMPLAUSIBLE_COUNT);
        header = catch(|| RequestHeader::decode(&mut buf, 1));
    }
    let header = header.map_err(|e| FrameError::Malformed(format!("bad request header: {e}")))?;
    Ok(RawRequest {
        api_key,
        api_version,
        correlation_id,
        header,
        body: buf.inner,
    })
}

/// How many leading 32-bit fields of a request body may legitimately be large.
fn exempt_leading_i32(api_key: ApiKey, version: i16) -> u32 {
    match api_key {
        ApiKey::Fetch if version >= 7 => 6,
        ApiKey::Fetch => 4,
        ApiKey::JoinGroup if version >= 1 => 2,
        ApiKey::JoinGroup | ApiKey::Produce | ApiKey::InitProducerId => 1,
        _ => 0,
    }
}

/// Decodes a request body (whose version the caller has checked is supported).
pub fn decode_body(raw: &RawRequest) -> Result<RequestKind, String> {
    let limit = match raw.api_key {
        // Fetch carries per-partition byte limits inside its arrays.
        ApiKey::Fetch => MAX_IMPLAUSIBLE_COUNT << 2,
        _ => MAX_IMPLAUSIBLE_COUNT,
    };
    let exempt = exempt_leading_i32(raw.api_key, raw.api_version);
    let mut buf = GuardedBuf::new(raw.body.clone(), exempt, limit);
    buf.on_suspicious = Suspicious::Clamp;
    let request = decode_kind(raw, &mut buf)?;
    if buf.clamped.is_empty() {
        return Ok(request);
    }
    // The clamped values were plain fields (a clamped length cannot decode): read them
    // again as they are. Field values never change how the rest is laid out, so the
    // second pass reads the same fields at the same offsets.
    let mut fields = std::mem::take(&mut buf.clamped);
    fields.sort_unstable();
    let mut buf = GuardedBuf::new(raw.body.clone(), exempt, limit);
    buf.fields = fields;
    decode_kind(raw, &mut buf)
}

fn decode_kind(raw: &RawRequest, buf: &mut GuardedBuf) -> Result<RequestKind, String> {
    macro_rules! kinds {
        ($($key:ident => $ty:ident),* $(,)?) => {
            match raw.api_key {
                $(ApiKey::$key => catch(|| {
                    kafka_protocol::messages::$ty::decode(buf, raw.api_version)
                        .map(RequestKind::$key)
                }),)*
                other => Err(format!("{other:?} requests are not decoded by this broker")),
            }
        };
    }
    kinds! {
        Produce => ProduceRequest,
        Fetch => FetchRequest,
        ListOffsets => ListOffsetsRequest,
        Metadata => MetadataRequest,
        OffsetCommit => OffsetCommitRequest,
        OffsetFetch => OffsetFetchRequest,
        FindCoordinator => FindCoordinatorRequest,
        JoinGroup => JoinGroupRequest,
        Heartbeat => HeartbeatRequest,
        LeaveGroup => LeaveGroupRequest,
        SyncGroup => SyncGroupRequest,
        DescribeGroups => DescribeGroupsRequest,
        ListGroups => ListGroupsRequest,
        SaslHandshake => SaslHandshakeRequest,
        ApiVersions => ApiVersionsRequest,
        CreateTopics => CreateTopicsRequest,
        DeleteTopics => DeleteTopicsRequest,
        DeleteRecords => DeleteRecordsRequest,
        InitProducerId => InitProducerIdRequest,
        OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
        AddPartitionsToTxn => AddPartitionsToTxnRequest,
        AddOffsetsToTxn => AddOffsetsToTxnRequest,
        EndTxn => EndTxnRequest,
        TxnOffsetCommit => TxnOffsetCommitRequest,
        DescribeAcls => DescribeAclsRequest,
        CreateAcls => CreateAclsRequest,
        DeleteAcls => DeleteAclsRequest,
        DescribeConfigs => DescribeConfigsRequest,
        AlterConfigs => AlterConfigsRequest,
        DescribeLogDirs => DescribeLogDirsRequest,
        SaslAuthenticate => SaslAuthenticateRequest,
        CreatePartitions => CreatePartitionsRequest,
        DeleteGroups => DeleteGroupsRequest,
        IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
        OffsetDelete => OffsetDeleteRequest,
        DescribeCluster => DescribeClusterRequest,
        DescribeProducers => DescribeProducersRequest,
        DescribeTransactions => DescribeTransactionsRequest,
        ListTransactions => ListTransactionsRequest,
        ElectLeaders => ElectLeadersRequest,
        AlterPartitionReassignments => AlterPartitionReassignmentsRequest,
        ListPartitionReassignments => ListPartitionReassignmentsRequest,
        DescribeUserScramCredentials => DescribeUserScramCredentialsRequest,
        AlterUserScramCredentials => AlterUserScramCredentialsRequest,
        ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest,
        ConsumerGroupDescribe => ConsumerGroupDescribeRequest,
    }
}

/// Runs a decoder, turning an error or a panic inside it into a message.
fn catch<T, E: std::fmt::Display>(f: impl FnOnce() -> Result<T, E>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err("decoder panicked".to_string()),
    }
}

/// Record sets at least this large are passed to the socket as they are instead of
/// being copied into the response buffer.
const SPLICE_MIN: usize = 16 * 1024;

/// A response buffer that keeps large record sets by reference: when the encoder copies
/// one of the registered `Bytes` (recognised by address and length), the buffer records
/// a reference to it instead, so fetched data is never copied on its way out.
struct SpliceBuf {
    parts: Vec<Bytes>,
    current: BytesMut,
    spliceable: Vec<Bytes>,
    flushed_len: usize,
}

impl SpliceBuf {
    fn new(spliceable: Vec<Bytes>) -> Self {
        Self {
            parts: Vec::new(),
            current: BytesMut::with_capacity(256),
            spliceable,
            flushed_len: 0,
        }
    }

    fn len(&self) -> usize {
        self.flushed_len + self.current.len()
    }

    fn into_parts(mut self) -> Vec<Bytes> {
        if !self.current.is_empty() {
            self.parts.push(self.current.split().freeze());
        }
        self.parts
    }
}

// SAFETY: every method delegates to the `BytesMut` being written, which upholds the
// `BufMut` contract; spliced parts are only ever appended between whole writes.
unsafe impl bytes::BufMut for SpliceBuf {
    fn remaining_mut(&self) -> usize {
        self.current.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller initialised `cnt` bytes of `chunk_mut`, which is
        // `current`'s chunk.
        unsafe { self.current.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut bytes::buf::UninitSlice {
        self.current.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if src.len() >= SPLICE_MIN
            && let Some(b) = self
                .spliceable
                .iter()
                .find(|b| b.as_ptr() == src.as_ptr() && b.len() == src.len())
        {
            let b = b.clone();
            if !self.current.is_empty() {
                self.flushed_len += self.current.len();
                self.parts.push(self.current.split().freeze());
            }
            self.flushed_len += b.len();
            self.parts.push(b);
            return;
        }
        self.current.extend_from_slice(src);
    }
}

impl kafka_protocol::protocol::buf::ByteBufMut for SpliceBuf {
    fn offset(&self) -> usize {
        self.len()
    }

    fn seek(&mut self, offset: usize) {
        // Message encoders never seek (only record batch encoders reserve gaps); stay
        // within the unflushed part if one ever does.
        let local = offset.saturating_sub(self.flushed_len);
        if local > self.current.len() {
            self.current.resize(local, 0);
        } else {
            self.current.truncate(local);
        }
    }

    fn range(&mut self, r: std::ops::Range<usize>) -> &mut [u8] {
        let start = r
            .start
            .saturating_sub(self.flushed_len)
            .min(self.current.len());
        let end = r
            .end
            .saturating_sub(self.flushed_len)
            .clamp(start, self.current.len());
        &mut self.current[start..end]
    }
}

/// The large record sets of a response, which can go out without being copied.
fn spliceable(response: &ResponseKind) -> Vec<Bytes> {
    match response {
        ResponseKind::Fetch(f) => f
            .responses
            .iter()
            .flat_map(|t| &t.partitions)
            .filter_map(|p| p.records.clone())
            .filter(|r| r.len() >= SPLICE_MIN)
            .collect(),
        _ => Vec::new(),
    }
}

/// Encodes a response frame as the parts to write in order, length prefix first.
pub fn encode_response(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    response: &ResponseKind,
) -> Result<Vec<Bytes>, String> {
    let mut head = BytesMut::with_capacity(256);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    header
        .encode(&mut head, api_key.response_header_version(api_version))
        .map_err(|e| format!("{e:#}"))?;
    let body = match response {
        // Only Fetch carries bulk data; its generic encoder can write into the splicing
        // buffer, while `ResponseKind::encode` needs a plain `BytesMut`.
        ResponseKind::Fetch(fetch) => {
            let mut buf = SpliceBuf::new(spliceable(response));
            buf.current = head;
            fetch
                .encode(&mut buf, api_version)
                .map_err(|e| format!("{e:#}"))?;
            buf.into_parts()
        }
        other => {
            other
                .encode(&mut head, api_version)
                .map_err(|e| format!("{e:#}"))?;
            vec![head.freeze()]
        }
    };
    let len: usize = body.iter().map(Bytes::len).sum();
    let len = i32::try_from(len).map_err(|_| "response larger than 2 GiB".to_string())?;
    let mut parts = Vec::with_capacity(body.len() + 1);
    parts.push(Bytes::copy_from_slice(&len.to_be_bytes()));
    parts.extend(body);
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::FetchResponse;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};

    #[test]
    fn large_fetch_records_are_spliced_not_copied_and_decode_back() {
        let records = Bytes::from(vec![7u8; 40 * 1024]);
        let mut p = PartitionData::default();
        p.records = Some(records.clone());
        p.high_watermark = 5;
        let mut t = FetchableTopicResponse::default();
        t.topic = kafka_protocol::messages::TopicName(
            kafka_protocol::protocol::StrBytes::from_static_str("t"),
        );
        t.partitions = vec![p.clone(), p];
        let mut resp = FetchResponse::default();
        resp.responses = vec![t];
        for version in [4i16, 11, 12] {
            let kind = ResponseKind::Fetch(resp.clone());
            let parts = encode_response(ApiKey::Fetch, version, 9, &kind).unwrap();
            let shared = parts
                .iter()
                .filter(|b| b.as_ptr() == records.as_ptr())
                .count();
            assert_eq!(
                shared, 2,
                "both record sets go out by reference (v{version})"
            );
            let mut whole = BytesMut::new();
            for part in &parts {
                whole.extend_from_slice(part);
            }
            let mut whole = whole.freeze();
            let len = i32::from_be_bytes([whole[0], whole[1], whole[2], whole[3]]);
            assert_eq!(len as usize, whole.len() - 4);
            let _ = whole.split_to(4);
            let header =
                ResponseHeader::decode(&mut whole, ApiKey::Fetch.response_header_version(version))
                    .unwrap();
            assert_eq!(header.correlation_id, 9);
            let back = FetchResponse::decode(&mut whole, version).unwrap();
            assert_eq!(
                back.responses[0].partitions[1].records,
                Some(records.clone())
            );
            assert_eq!(back.responses[0].partitions[0].high_watermark, 5);
        }
    }
}
