//! Streaming produce: records read from a request body as its bytes arrive, handed to
//! the producer at once, and their delivery reports written back in request order as a
//! streamed response (a chunked v3 produce request, or a body of several records).
//!
//! This is the path that carries the most records, so it is built to do little per
//! record: a record of BINARY, JSON or STRING data is parsed in place from the received
//! bytes (no JSON tree, no string copies), decoded into a reused buffer, handed to a
//! [`DeliveryQueue`] (no task, channel or boxed future per record), and its report written
//! by hand into the response chunk. Records whose schema comes from the Schema Registry,
//! and the rare retries, take an asynchronous detour one record at a time, which keeps
//! the order.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::body::Bytes;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, Stream, StreamExt};
use kgate_formats::FormatError;
use kgate_kafka::{Delivered, DeliveryQueue, KafkaError, ProduceRecord, RecordRef, SendError};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::RestError;
use crate::v3::records::{
    ProduceRequest, ProduceRequestData, ProduceRequestHeader, ProduceResponseData, Producing,
    RecordError, cannot_deserialize, check_is_object, check_partition, checked_timestamp,
    malformed, neither_key_nor_value, write_outcome,
};

/// How many records of one stream may wait for their delivery reports at once; beyond
/// it, reading the request pauses, which pushes back on the client.
const MAX_IN_FLIGHT: usize = 4096;

/// Most delivery reports written in one response chunk.
const REPORTS_PER_CHUNK: usize = 256;

/// About how many bytes one delivery report takes.
const REPORT_SIZE_HINT: usize = 160;

/// How many keyless records in a row a stream sends to one partition before it moves on
/// to the next.
const KEYLESS_RUN: usize = 1000;

/// Where the next stream's keyless records start, so that streams spread over partitions.
static NEXT_START: AtomicUsize = AtomicUsize::new(0);

/// Chooses the partition of keyless records that name none: runs of [`KEYLESS_RUN`]
/// records per partition, in turn, much as the Java client's sticky partitioner fills one
/// batch at a time. Choosing here spares librdkafka's sticky partitioner and its two clock
/// reads per record (in a profile of a keyless stream, librdkafka's partitioning took
/// about 9% of the gateway's CPU, half of it the sticky choice).
struct KeylessSpread {
    partitions: Vec<i32>,
    index: usize,
    left: usize,
}

impl KeylessSpread {
    fn new(partitions: Vec<i32>) -> Self {
        KeylessSpread {
            index: NEXT_START.fetch_add(1, Ordering::Relaxed),
            partitions,
            left: KEYLESS_RUN,
        }
    }

    /// The partition of the next keyless record; `None` (the producer chooses) when the
    /// topic's partitions are not known.
    fn next(&mut self) -> Option<i32> {
        if self.partitions.is_empty() {
            return None;
        }
        if self.left == 0 {
            self.index = self.index.wrapping_add(1);
            self.left = KEYLESS_RUN;
        }
        self.left -= 1;
        self.partitions
            .get(self.index % self.partitions.len())
            .copied()
    }
}

/// The key and value parts of a record's delivery report.
pub(crate) type Parts = (Option<ProduceResponseData>, Option<ProduceResponseData>);

/// One record's place in the response: its failure, or its report parts while Kafka has
/// not answered yet (outcomes come from the [`DeliveryQueue`] in the same order).
enum Entry {
    Failed(RecordError),
    Sent(Parts),
}

/// The asynchronous detour of one record; nothing else is read meanwhile.
enum Detour {
    /// The record's data was converted through the Schema Registry.
    Converted(Box<Result<(ProduceRecord, Parts), RestError>>),
    /// The record was handed to the queue after waiting (a full local queue, or a
    /// partition the producer learnt about); the queue comes back with the result.
    Sent(DeliveryQueue, Parts, Result<(), KafkaError>),
}

/// The response body of a streaming produce: delivery reports, as bytes, in request order.
pub(crate) struct ReportStream {
    body: BoxStream<'static, Result<Bytes, axum::Error>>,
    /// Received bytes not read yet start at `pos`.
    buf: Vec<u8>,
    pos: usize,
    /// Largest size of one record.
    limit: usize,
    /// Whether the request body has ended.
    body_done: bool,
    /// Whether reading is over (the body ended, broke, or held malformed JSON).
    reading_done: bool,
    producing: Producing,
    /// `None` while a detour holds it.
    queue: Option<DeliveryQueue>,
    entries: VecDeque<Entry>,
    delivered: VecDeque<Delivered>,
    detour: Option<BoxFuture<'static, Detour>>,
    reports: ReportWriter,
    keyless: KeylessSpread,
    /// Reused buffers for decoded keys and values.
    key_buf: Vec<u8>,
    value_buf: Vec<u8>,
}

impl ReportStream {
    /// A stream of reports for the records of `body`, produced as `producing` says to a
    /// topic with `partitions`.
    pub(crate) fn new(
        producing: Producing,
        queue: DeliveryQueue,
        partitions: Vec<i32>,
        body: BoxStream<'static, Result<Bytes, axum::Error>>,
        limit: usize,
    ) -> Self {
        ReportStream {
            keyless: KeylessSpread::new(partitions),
            reports: ReportWriter::new(&producing.cluster_id, &producing.topic),
            body,
            buf: Vec::new(),
            pos: 0,
            limit,
            body_done: false,
            reading_done: false,
            producing,
            queue: Some(queue),
            entries: VecDeque::new(),
            delivered: VecDeque::new(),
            detour: None,
            key_buf: Vec::new(),
            value_buf: Vec::new(),
        }
    }

    /// Reads until the body holds something other than whitespace (`true`) or ends
    /// without (`false`): an empty request is answered with an error status before any
    /// report is written.
    pub(crate) async fn has_content(&mut self) -> bool {
        loop {
            if self.buf[self.pos..]
                .iter()
                .any(|b| !b.is_ascii_whitespace())
            {
                return true;
            }
            if self.body_done {
                return false;
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.take_chunk(&chunk),
                Some(Err(_)) | None => self.body_done = true,
            }
        }
    }

    fn take_chunk(&mut self, chunk: &[u8]) {
        self.buf.drain(..self.pos);
        self.pos = 0;
        self.buf.extend_from_slice(chunk);
    }

    /// Reads and hands over records until the body has no more at hand, the stream has
    /// as many in flight as it may, or a record takes a detour; says whether anything
    /// happened.
    fn read_records(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progressed = false;
        loop {
            if self.reading_done
                || self.detour.is_some()
                || self.queue.is_none()
                || self.entries.len() >= MAX_IN_FLIGHT
            {
                return progressed;
            }
            if self.next_record() {
                progressed = true;
                continue;
            }
            if self.buf.len() - self.pos > self.limit {
                let e = RestError::TooLarge(format!(
                    "A record is larger than the limit of {} bytes",
                    self.limit
                ));
                self.stop(RecordError::from(e));
                return true;
            }
            if self.body_done {
                if !self.buf[self.pos..].iter().all(u8::is_ascii_whitespace) {
                    self.stop(malformed("unexpected end of the request body"));
                }
                self.reading_done = true;
                return true;
            }
            match self.body.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    self.take_chunk(&chunk);
                    progressed = true;
                }
                Poll::Ready(Some(Err(e))) => {
                    // The client went away or broke the framing: nothing more to read.
                    tracing::debug!(error = %e, "streaming produce request ended");
                    self.reading_done = true;
                    return true;
                }
                Poll::Ready(None) => {
                    self.body_done = true;
                    progressed = true;
                }
                Poll::Pending => return progressed,
            }
        }
    }

    /// Stops reading after a failure nothing more can be read past.
    fn stop(&mut self, error: RecordError) {
        self.entries.push_back(Entry::Failed(error));
        self.reading_done = true;
    }

    /// Takes the next whole record from the buffer and hands it on; `false` when the
    /// buffer holds no whole record.
    fn next_record(&mut self) -> bool {
        let buf = std::mem::take(&mut self.buf);
        let rest = &buf[self.pos..];
        let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<FastRequest>();
        let taken = match values.next() {
            None => false,
            Some(Ok(request)) => {
                self.pos += values.byte_offset();
                match check_is_object(rest) {
                    Ok(()) => self.handle(&request),
                    Err(e) => self.entries.push_back(Entry::Failed(RecordError::from(e))),
                }
                true
            }
            Some(Err(e)) if e.is_eof() => false,
            Some(Err(e)) if e.is_data() => {
                // Well-formed JSON of the wrong shape fails this record alone; find where
                // it ends to go on after it.
                let mut skip = serde_json::Deserializer::from_slice(rest).into_iter::<IgnoredAny>();
                match skip.next() {
                    Some(Ok(_)) => {
                        self.pos += skip.byte_offset();
                        let error = RecordError::from(cannot_deserialize(e));
                        self.entries.push_back(Entry::Failed(error));
                        true
                    }
                    Some(Err(e)) if !e.is_eof() => {
                        self.stop(malformed(&e.to_string()));
                        true
                    }
                    _ => false,
                }
            }
            Some(Err(e)) => {
                self.stop(malformed(&e.to_string()));
                true
            }
        };
        self.buf = buf;
        taken
    }

    /// Converts one record and hands it to the producer, or starts its detour.
    fn handle(&mut self, request: &FastRequest<'_>) {
        if request.key.is_none() && request.value.is_none() && request.headers.is_empty() {
            let error = RecordError::from(neither_key_nor_value());
            self.entries.push_back(Entry::Failed(error));
            return;
        }
        if !request.is_plain() {
            let producing = self.producing.clone();
            let request = request.to_request();
            self.detour = Some(Box::pin(async move {
                let converted = match request {
                    Ok(request) => producing
                        .to_record(request)
                        .await
                        .map(|(record, key, value)| (record, (key, value))),
                    Err(e) => Err(e),
                };
                Detour::Converted(Box::new(converted))
            }));
            return;
        }
        // The buffers are lent out while the record borrows them.
        let mut key_buf = std::mem::take(&mut self.key_buf);
        let mut value_buf = std::mem::take(&mut self.value_buf);
        key_buf.clear();
        value_buf.clear();
        match request.plain_record(&mut key_buf, &mut value_buf) {
            Ok((mut record, parts)) => {
                if record.key.is_none() && record.partition.is_none() {
                    record.partition = self.keyless.next();
                }
                self.send(record, parts)
            }
            Err(e) => self.entries.push_back(Entry::Failed(RecordError::from(e))),
        }
        self.key_buf = key_buf;
        self.value_buf = value_buf;
    }

    /// Hands a converted record to the queue; a full local queue or a partition the
    /// producer does not know yet sends it through a detour instead.
    fn send(&mut self, record: RecordRef<'_>, parts: Parts) {
        let Some(queue) = self.queue.as_mut() else {
            return;
        };
        match queue.send(&self.producing.topic, record) {
            Ok(()) => self.entries.push_back(Entry::Sent(parts)),
            Err(SendError::Failed(KafkaError::PartitionNotFound { .. }))
                if record.partition.is_some() =>
            {
                self.send_waiting(owned(record), parts)
            }
            Err(SendError::QueueFull) => self.send_waiting(owned(record), parts),
            Err(SendError::Failed(e)) => {
                let error = RecordError::from(e);
                self.entries.push_back(Entry::Failed(error));
            }
        }
    }

    fn send_waiting(&mut self, record: ProduceRecord, parts: Parts) {
        let Some(mut queue) = self.queue.take() else {
            return;
        };
        let topic = self.producing.topic.clone();
        self.detour = Some(Box::pin(async move {
            let sent = queue.send_waiting(&topic, record.as_ref()).await;
            Detour::Sent(queue, parts, sent)
        }));
    }

    /// Goes on once a detour is over.
    fn detour_done(&mut self, done: Detour) {
        match done {
            Detour::Converted(converted) => match *converted {
                Ok((record, parts)) => self.send(record.as_ref(), parts),
                Err(e) => self.entries.push_back(Entry::Failed(RecordError::from(e))),
            },
            Detour::Sent(queue, parts, sent) => {
                self.queue = Some(queue);
                match sent {
                    Ok(()) => self.entries.push_back(Entry::Sent(parts)),
                    Err(e) => {
                        let error = RecordError::from(e);
                        self.entries.push_back(Entry::Failed(error));
                    }
                }
            }
        }
    }

    /// Writes the reports that are known, in order, up to [`REPORTS_PER_CHUNK`].
    fn write_reports(&mut self, cx: &mut Context<'_>, out: &mut Vec<u8>) {
        let mut written = 0;
        while written < REPORTS_PER_CHUNK {
            match self.entries.front() {
                None => return,
                Some(Entry::Failed(_)) => {
                    if let Some(Entry::Failed(error)) = self.entries.pop_front() {
                        write_outcome(out, &Err(error));
                    }
                }
                Some(Entry::Sent(_)) => {
                    if self.delivered.is_empty() {
                        let Some(queue) = self.queue.as_mut() else {
                            return;
                        };
                        let ready =
                            queue.poll_delivered(cx, &mut self.delivered, REPORTS_PER_CHUNK);
                        if ready.is_pending() || self.delivered.is_empty() {
                            return;
                        }
                    }
                    if let (Some(Entry::Sent((key, value))), Some(delivered)) =
                        (self.entries.pop_front(), self.delivered.pop_front())
                    {
                        match delivered {
                            Ok(position) => self.reports.write(
                                out,
                                position.partition,
                                position.offset,
                                position.timestamp,
                                &key,
                                &value,
                            ),
                            Err(e) => write_outcome(out, &Err(RecordError::from(e))),
                        }
                    }
                }
            }
            written += 1;
        }
    }

    fn finished(&self) -> bool {
        self.reading_done && self.detour.is_none() && self.entries.is_empty()
    }
}

impl Stream for ReportStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let mut progressed = false;
            if let Some(detour) = this.detour.as_mut()
                && let Poll::Ready(done) = detour.as_mut().poll(cx)
            {
                this.detour = None;
                this.detour_done(done);
                progressed = true;
            }
            progressed |= this.read_records(cx);
            let mut out = Vec::new();
            this.write_reports(cx, &mut out);
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Bytes::from(out))));
            }
            if this.finished() {
                return Poll::Ready(None);
            }
            // Every source consulted above (body, detour, queue) has registered the task
            // for its next event.
            if !progressed {
                return Poll::Pending;
            }
        }
    }
}

fn owned(record: RecordRef<'_>) -> ProduceRecord {
    ProduceRecord {
        key: record.key.map(<[u8]>::to_vec),
        value: record.value.map(<[u8]>::to_vec),
        partition: record.partition,
        headers: record.headers.to_vec(),
        timestamp: record.timestamp,
    }
}

/// A produce request read in place from the request's bytes: the same fields as
/// [`ProduceRequest`], with the data and schema fields left as JSON text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastRequest<'a> {
    #[serde(default, deserialize_with = "crate::json::opt_int")]
    partition_id: Option<i32>,
    #[serde(default)]
    headers: Vec<ProduceRequestHeader>,
    #[serde(default, borrow)]
    key: Option<FastData<'a>>,
    #[serde(default, borrow)]
    value: Option<FastData<'a>>,
    #[serde(default, borrow)]
    timestamp: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct FastData<'a> {
    #[serde(default, rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default, borrow)]
    subject: Option<&'a RawValue>,
    #[serde(default, borrow)]
    subject_name_strategy: Option<&'a RawValue>,
    #[serde(default, borrow)]
    schema_id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    schema_version: Option<&'a RawValue>,
    #[serde(default, borrow)]
    schema: Option<&'a RawValue>,
}

/// The formats read without the Schema Registry.
#[derive(Clone, Copy)]
enum Plain {
    Binary,
    Json,
    String,
}

impl Plain {
    fn of(kind: &str) -> Option<Plain> {
        if kind.eq_ignore_ascii_case("BINARY") {
            Some(Plain::Binary)
        } else if kind.eq_ignore_ascii_case("JSON") {
            Some(Plain::Json)
        } else if kind.eq_ignore_ascii_case("STRING") {
            Some(Plain::String)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Plain::Binary => "BINARY",
            Plain::Json => "JSON",
            Plain::String => "STRING",
        }
    }
}

impl FastData<'_> {
    fn plain(&self) -> Option<Plain> {
        self.kind.as_deref().and_then(Plain::of)
    }

    /// The data's bytes: borrowed from the request where they are there as they are
    /// (an unescaped STRING), else decoded into `buf`.
    fn bytes<'b>(
        &'b self,
        kind: Plain,
        buf: &'b mut Vec<u8>,
    ) -> Result<Option<&'b [u8]>, RestError> {
        let Some(raw) = self.data else {
            return Ok(None);
        };
        let text = raw.get();
        // A JSON string without escapes: its content is the text between the quotes.
        let unescaped = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .filter(|t| !t.contains('\\'));
        match (kind, unescaped) {
            (Plain::Binary, Some(b64)) => {
                kgate_formats::base64_decode_into(b64.as_bytes(), buf).map_err(|_| {
                    RestError::BadRequest(format!(
                        "Bad Request: data={text} is not a base64 string."
                    ))
                })?;
                Ok(Some(buf.as_slice()))
            }
            (Plain::String, Some(s)) => Ok(Some(s.as_bytes())),
            _ => {
                // Escaped strings, JSON data and mistakes: the general conversion.
                let value: Value = serde_json::from_str(text)
                    .map_err(|e| RestError::BadRequest(format!("Bad Request: {e}")))?;
                let format = match kind {
                    Plain::Binary => kgate_formats::EmbeddedFormat::Binary,
                    Plain::Json => kgate_formats::EmbeddedFormat::Json,
                    Plain::String => kgate_formats::EmbeddedFormat::String,
                };
                let bytes = kgate_formats::json_to_bytes(format, &value).map_err(|e| match e {
                    FormatError::InvalidBase64(_) => RestError::BadRequest(format!(
                        "Bad Request: data={value} is not a base64 string."
                    )),
                    other => RestError::BadRequest(format!("Bad Request: {other}")),
                })?;
                Ok(bytes.map(|b| {
                    *buf = b;
                    buf.as_slice()
                }))
            }
        }
    }

    fn to_data(&self) -> Result<ProduceRequestData, RestError> {
        let value = |raw: Option<&RawValue>| -> Result<Option<Value>, RestError> {
            raw.map(|r| serde_json::from_str(r.get()).map_err(cannot_deserialize))
                .transpose()
        };
        Ok(ProduceRequestData {
            kind: self.kind.as_deref().map(str::to_string),
            data: value(self.data)?.unwrap_or(Value::Null),
            subject: value(self.subject)?,
            subject_name_strategy: value(self.subject_name_strategy)?,
            schema_id: value(self.schema_id)?,
            schema_version: value(self.schema_version)?,
            schema: value(self.schema)?,
        })
    }
}

impl<'a> FastRequest<'a> {
    /// Whether key and value need no Schema Registry (and there are no headers, which
    /// are rare here and take the general conversion).
    fn is_plain(&self) -> bool {
        self.headers.is_empty()
            && [&self.key, &self.value]
                .iter()
                .all(|d| d.as_ref().is_none_or(|d| d.plain().is_some()))
    }

    fn to_request(&self) -> Result<ProduceRequest, RestError> {
        Ok(ProduceRequest {
            partition_id: self.partition_id,
            headers: self.headers.clone(),
            key: self.key.as_ref().map(FastData::to_data).transpose()?,
            value: self.value.as_ref().map(FastData::to_data).transpose()?,
            timestamp: self.timestamp.as_deref().map(str::to_string),
        })
    }

    /// The record of a plain request (see [`FastRequest::is_plain`]), checked as
    /// [`Producing::to_record`] checks it, with its report parts.
    fn plain_record<'b>(
        &'b self,
        key_buf: &'b mut Vec<u8>,
        value_buf: &'b mut Vec<u8>,
    ) -> Result<(RecordRef<'b>, Parts), RestError> {
        let part = |data: &'b Option<FastData<'a>>,
                    buf: &'b mut Vec<u8>|
         -> Result<(Option<&'b [u8]>, Option<ProduceResponseData>), RestError> {
            let Some(data) = data else {
                return Ok((None, None));
            };
            let Some(kind) = data.plain() else {
                return Err(RestError::Internal(
                    "a schema format took the plain path".into(),
                ));
            };
            let bytes = data.bytes(kind, buf)?;
            let report = ProduceResponseData {
                kind: kind.name(),
                subject: None,
                schema_id: None,
                schema_version: None,
                size: bytes.map_or(0, <[u8]>::len),
            };
            Ok((bytes, Some(report)))
        };
        let (key, key_report) = part(&self.key, key_buf)?;
        let (value, value_report) = part(&self.value, value_buf)?;
        let timestamp = checked_timestamp(self.timestamp.as_deref())?;
        check_partition(self.partition_id)?;
        Ok((
            RecordRef {
                key,
                value,
                partition: self.partition_id,
                headers: &[],
                timestamp,
            },
            (key_report, value_report),
        ))
    }
}

/// Writes delivery reports by hand, in exactly the JSON serde would write for a
/// `ProduceResponse`: the parts every report of a stream shares are written once.
struct ReportWriter {
    /// `{"error_code":200,"cluster_id":"…","topic_name":"…","partition_id":`
    prefix: Vec<u8>,
    /// The last whole second formatted, and its text (`2021-02-05T19:14:42`).
    second: Option<(i64, String)>,
}

impl ReportWriter {
    fn new(cluster_id: &str, topic: &str) -> Self {
        let mut prefix = br#"{"error_code":200,"cluster_id":"#.to_vec();
        write_json_str(&mut prefix, cluster_id);
        prefix.extend_from_slice(br#","topic_name":"#);
        write_json_str(&mut prefix, topic);
        prefix.extend_from_slice(br#","partition_id":"#);
        ReportWriter {
            prefix,
            second: None,
        }
    }

    fn write(
        &mut self,
        out: &mut Vec<u8>,
        partition: i32,
        offset: i64,
        timestamp: Option<i64>,
        key: &Option<ProduceResponseData>,
        value: &Option<ProduceResponseData>,
    ) {
        out.reserve(REPORT_SIZE_HINT);
        out.extend_from_slice(&self.prefix);
        let mut digits = itoa::Buffer::new();
        out.extend_from_slice(digits.format(partition).as_bytes());
        out.extend_from_slice(br#","offset":"#);
        out.extend_from_slice(digits.format(offset).as_bytes());
        if let Some(millis) = timestamp {
            out.extend_from_slice(br#","timestamp":""#);
            self.write_timestamp(out, millis);
            out.push(b'"');
        }
        for (name, part) in [(&br#","key":"#[..], key), (&br#","value":"#[..], value)] {
            if let Some(part) = part {
                out.extend_from_slice(name);
                write_part(out, part);
            }
        }
        out.push(b'}');
    }

    /// As [`crate::v3::records::format_timestamp`] writes it, with the date and time of
    /// the second formatted once per second.
    fn write_timestamp(&mut self, out: &mut Vec<u8>, millis: i64) {
        let second = millis.div_euclid(1_000);
        let ms = millis.rem_euclid(1_000);
        let text = match &self.second {
            Some((s, text)) if *s == second => text,
            _ => {
                let whole = crate::v3::records::format_timestamp(second * 1_000);
                let text = whole.trim_end_matches('Z').to_string();
                &self.second.insert((second, text)).1
            }
        };
        out.extend_from_slice(text.as_bytes());
        if ms != 0 {
            out.push(b'.');
            out.push(b'0' + (ms / 100) as u8);
            out.push(b'0' + (ms / 10 % 10) as u8);
            out.push(b'0' + (ms % 10) as u8);
        }
        out.push(b'Z');
    }
}

/// A key or value part, as serde writes [`ProduceResponseData`].
fn write_part(out: &mut Vec<u8>, part: &ProduceResponseData) {
    if part.subject.is_some() || part.schema_id.is_some() || part.schema_version.is_some() {
        if serde_json::to_writer(&mut *out, part).is_err() {
            out.extend_from_slice(b"null");
        }
        return;
    }
    out.extend_from_slice(br#"{"type":""#);
    out.extend_from_slice(part.kind.as_bytes());
    out.extend_from_slice(br#"","size":"#);
    out.extend_from_slice(itoa::Buffer::new().format(part.size).as_bytes());
    out.push(b'}');
}

fn write_json_str(out: &mut Vec<u8>, text: &str) {
    if serde_json::to_writer(&mut *out, text).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v3::records::{ProduceResponse, format_timestamp};

    #[test]
    fn hand_written_reports_are_what_serde_writes() {
        let binary = ProduceResponseData {
            kind: "BINARY",
            subject: None,
            schema_id: None,
            schema_version: None,
            size: 100,
        };
        let avro = ProduceResponseData {
            kind: "AVRO",
            subject: Some("t-\"value\"".to_string()),
            schema_id: Some(3),
            schema_version: Some(1),
            size: 12,
        };
        let mut writer = ReportWriter::new("cluster \u{e9}", "to\"pic");
        let cases = [
            (0, 0, Some(0), None, Some(binary.clone())),
            (
                3,
                12_345,
                Some(1_612_552_482_123),
                Some(binary.clone()),
                None,
            ),
            (
                1,
                7,
                Some(1_612_552_482_000),
                Some(avro.clone()),
                Some(binary),
            ),
            (2, 9, None, None, Some(avro)),
            (0, 1, Some(1_612_552_482_007), None, None),
        ];
        for (partition, offset, timestamp, key, value) in cases {
            let mut ours = Vec::new();
            writer.write(&mut ours, partition, offset, timestamp, &key, &value);
            let expected = serde_json::to_vec(&ProduceResponse {
                error_code: 200,
                cluster_id: "cluster \u{e9}".to_string(),
                topic_name: "to\"pic".to_string(),
                partition_id: partition,
                offset,
                timestamp: timestamp.map(format_timestamp),
                key,
                value,
            })
            .unwrap_or_default();
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&expected)
            );
        }
    }

    #[test]
    fn plain_records_are_read_in_place() {
        let raw = br#"{"key":{"type":"string","data":"k"},"value":{"type":"BINARY","data":"aGVsbG8="},"partition_id":2}"#;
        let request: FastRequest = serde_json::from_slice(raw).unwrap_or_else(|e| panic!("{e}"));
        assert!(request.is_plain());
        let (mut kb, mut vb) = (Vec::new(), Vec::new());
        let (record, (key, value)) = request
            .plain_record(&mut kb, &mut vb)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(record.key, Some(&b"k"[..]));
        assert_eq!(record.value, Some(&b"hello"[..]));
        assert_eq!(record.partition, Some(2));
        assert_eq!(key.map(|k| (k.kind, k.size)), Some(("STRING", 1)));
        assert_eq!(value.map(|v| (v.kind, v.size)), Some(("BINARY", 5)));

        let bad = br#"{"value":{"type":"BINARY","data":"not base64!"}}"#;
        let request: FastRequest = serde_json::from_slice(bad).unwrap_or_else(|e| panic!("{e}"));
        match request.plain_record(&mut kb, &mut vb) {
            Err(RestError::BadRequest(m)) => {
                assert_eq!(
                    m,
                    r#"Bad Request: data="not base64!" is not a base64 string."#
                )
            }
            Err(other) => panic!("unexpected error {other:?}"),
            Ok(_) => panic!("bad base64 was accepted"),
        }
        let avro = br#"{"value":{"type":"AVRO","data":1}}"#;
        let request: FastRequest = serde_json::from_slice(avro).unwrap_or_else(|e| panic!("{e}"));
        assert!(!request.is_plain());
    }
}
