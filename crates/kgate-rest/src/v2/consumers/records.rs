//! The body of a records response: a JSON array written chunk by chunk as the consumer's
//! thread hands records over, so that polling and encoding overlap on two cores and a
//! large read is never held whole in memory.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use kgate_formats::serializer::SchemaFormats;
use kgate_formats::{EmbeddedFormat, FormatError};
use kgate_kafka::consumer::{ConsumedRecord, RecordChunks};
use serde::Serialize;
use serde_json::Value;

use super::instances::InstanceLease;
use crate::error::RestError;

/// Bytes of JSON a read collects before its response starts streaming: small reads are
/// still one body with its length, larger ones start sending early, so that the transfer
/// and the client's work overlap with polling. (Streamed bodies need TCP_NODELAY on the
/// connection: without it their last small piece waited for the client's delayed ACK,
/// 40 to 45 ms, which kgate-http now sets.)
const STREAM_AFTER: usize = 256 * 1024;

/// Answers a read: encodes its chunks as they come, and answers once the read has ended
/// or [`STREAM_AFTER`] bytes are written, so that an empty read is still `[]` and an
/// error before that point is still an error response; a longer read then streams the
/// rest of the array as its chunks come. `consumer` and `reading` are held until the
/// body is written, so the instance does not expire and no other read starts meanwhile.
///
/// A record that cannot be encoded (its data is not in the instance's format, or the
/// Schema Registry is away) loses nothing: it and every record after it go back to the
/// consumer, whose position stays at it. The records before it are answered (200); when
/// there are none, the read answers the record's error (42206 names its partition and
/// offset; seeking past it goes on). So a client first gets every good record, then the
/// error, and never a record that comes after one it was not given.
pub(super) async fn respond(
    consumer: InstanceLease,
    reading: tokio::sync::OwnedMutexGuard<()>,
    content_type: &'static str,
    mut chunks: RecordChunks,
    schemas: Option<Arc<SchemaFormats>>,
) -> Result<Response, RestError> {
    let mut encoder = RecordsEncoder {
        format: consumer.format,
        schemas,
        written: false,
    };
    let mut first = vec![b'['];
    while first.len() < STREAM_AFTER {
        let failure = match chunks.next().await {
            Some(Ok(records)) => match encoder.encode(&mut first, records).await {
                Ok(()) => continue,
                Err((e, rest)) => {
                    chunks.give_back(rest);
                    e
                }
            },
            // The consumer's thread kept the records it had not handed over.
            Some(Err(e)) => RestError::from(e),
            None => break,
        };
        if !encoder.written {
            return Err(failure);
        }
        tracing::info!(error = %failure, "a read ends early; its next read starts at the record that failed");
        break;
    }
    if chunks.is_done() {
        first.push(b']');
        return Ok(json_response(content_type, Body::from(first)));
    }
    let body = StreamedBody {
        chunks,
        _reading: reading,
        _consumer: consumer,
        encoder,
        first: Some(first),
        ended: false,
    };
    let stream = futures::stream::unfold(body, |mut body| async move {
        let bytes = body.next_bytes().await?;
        Some((Ok::<Bytes, Infallible>(bytes), body))
    });
    Ok(json_response(content_type, Body::from_stream(stream)))
}

fn json_response(content_type: &'static str, body: Body) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// The rest of a streamed records array. The fields drop in order: the chunks give back
/// what was not taken before the read lock is released.
struct StreamedBody {
    chunks: RecordChunks,
    _reading: tokio::sync::OwnedMutexGuard<()>,
    _consumer: InstanceLease,
    encoder: RecordsEncoder,
    /// The array's opening and first chunks, written before the response was answered.
    first: Option<Vec<u8>>,
    ended: bool,
}

impl StreamedBody {
    /// The next piece of the body; `None` once the array is closed.
    async fn next_bytes(&mut self) -> Option<Bytes> {
        if let Some(first) = self.first.take() {
            return Some(Bytes::from(first));
        }
        if self.ended {
            return None;
        }
        let mut out = Vec::new();
        match self.chunks.next().await {
            Some(Ok(records)) => {
                if let Err((e, rest)) = self.encoder.encode(&mut out, records).await {
                    // The status and the first records are sent already: an error can
                    // only end the array early, with the records written so far; the
                    // others go back to the consumer for its next read.
                    tracing::info!(error = %e, "a streamed read ends early; its next read starts at the record that failed");
                    self.chunks.give_back(rest);
                    self.ended = true;
                }
            }
            Some(Err(e)) => {
                // As above: the response is under way, so the array ends here.
                tracing::warn!(error = %e, "a streamed read ended early");
                self.ended = true;
            }
            None => self.ended = true,
        }
        if self.chunks.is_done() {
            self.ended = true;
        }
        if self.ended {
            out.push(b']');
        }
        Some(Bytes::from(out))
    }
}

/// Writes records as elements of the records array, in the instance's format.
struct RecordsEncoder {
    format: EmbeddedFormat,
    schemas: Option<Arc<SchemaFormats>>,
    /// Whether a record has been written, so the next one needs a comma.
    written: bool,
}

impl RecordsEncoder {
    /// Appends `records` to `out`. On an error, `out` holds the records before the one
    /// that failed, each complete, and the error comes with the records not written
    /// (the one that failed first).
    async fn encode(
        &mut self,
        out: &mut Vec<u8>,
        records: Vec<ConsumedRecord>,
    ) -> Result<(), (RestError, Vec<ConsumedRecord>)> {
        if self.format == EmbeddedFormat::Binary {
            self.encode_binary(out, &records);
            return Ok(());
        }
        let mut records = records.into_iter();
        while let Some(r) = records.next() {
            let response = match record_response(self.format, self.schemas.as_deref(), &r).await {
                Ok(response) => response,
                Err(e) => {
                    let mut rest = vec![r];
                    rest.extend(records);
                    return Err((e, rest));
                }
            };
            self.separate(out);
            // Serializing plain data into memory does not fail.
            if let Err(e) = serde_json::to_writer(&mut *out, &response) {
                tracing::error!(error = %e, "a record response did not serialize");
            }
        }
        Ok(())
    }

    /// Writes binary records by hand in [`RecordResponse`]'s shape: no response value,
    /// no string per base64 field, the topic escaped once per chunk (measured as most of
    /// the encoding's cost when it went through serde per record).
    fn encode_binary(&mut self, out: &mut Vec<u8>, records: &[ConsumedRecord]) {
        let mut topic: Option<(&Arc<str>, Vec<u8>)> = None;
        let payload: usize = records.iter().map(|r| r.size() as usize).sum();
        out.reserve(payload / 3 * 4 + records.len() * 96);
        let mut number = itoa::Buffer::new();
        for r in records {
            let quoted = match &mut topic {
                Some((name, quoted)) if Arc::ptr_eq(name, &r.topic) || **name == r.topic => quoted,
                slot => &slot.insert((&r.topic, json_string(&r.topic))).1,
            };
            self.separate(out);
            out.extend_from_slice(b"{\"topic\":");
            out.extend_from_slice(quoted);
            out.extend_from_slice(b",\"key\":");
            write_base64(out, r.key.as_deref());
            out.extend_from_slice(b",\"value\":");
            write_base64(out, r.value.as_deref());
            out.extend_from_slice(b",\"partition\":");
            out.extend_from_slice(number.format(r.partition).as_bytes());
            out.extend_from_slice(b",\"offset\":");
            out.extend_from_slice(number.format(r.offset).as_bytes());
            if let Some(ts) = r.timestamp {
                out.extend_from_slice(b",\"timestamp\":");
                out.extend_from_slice(number.format(ts).as_bytes());
            }
            if !r.headers.is_empty() {
                out.extend_from_slice(b",\"headers\":[");
                for (i, h) in r.headers.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"{\"name\":");
                    out.extend_from_slice(&json_string(&h.name));
                    out.extend_from_slice(b",\"value\":");
                    write_base64(out, h.value.as_deref());
                    out.push(b'}');
                }
                out.push(b']');
            }
            out.push(b'}');
        }
    }

    fn separate(&mut self, out: &mut Vec<u8>) {
        if self.written {
            out.push(b',');
        }
        self.written = true;
    }
}

/// One record of a records response (v1 takes its fields but headers).
#[derive(Debug, Serialize)]
pub(crate) struct RecordResponse {
    pub(crate) topic: String,
    pub(crate) key: Value,
    pub(crate) value: Value,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    /// The record's timestamp (milliseconds since the epoch), which Confluent's proxy
    /// leaves out; clients ignore fields they do not know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    headers: Vec<HeaderResponse>,
}

/// A record header: its name and its value in base64 (`null` for a null value), as v3
/// writes headers.
#[derive(Debug, Serialize)]
struct HeaderResponse {
    name: String,
    value: Option<String>,
}

/// Shapes one record; `schemas` decodes the schema-registry formats.
pub(crate) async fn record_response(
    format: EmbeddedFormat,
    schemas: Option<&SchemaFormats>,
    record: &ConsumedRecord,
) -> Result<RecordResponse, RestError> {
    let decode = async |bytes: Option<&[u8]>| {
        let decoded = match schemas {
            Some(schemas) if format.uses_schema_registry() => {
                match schemas.deserialize(format, bytes).await {
                    // The registry being away is its own error (40801), not bad data.
                    Err(
                        e @ (FormatError::RegistryUnavailable(_) | FormatError::Registry { .. }),
                    ) => {
                        return Err(RestError::from(e));
                    }
                    other => other,
                }
            }
            _ => kgate_formats::bytes_to_json(format, bytes),
        };
        // Data written in another format is not a bug: the client chose a format its
        // topic does not hold, or a producer wrote bad data (Confluent's proxy answers a
        // 500-class Kafka error; kgate answers 42206, naming the record to seek past).
        decoded.map_err(|e| RestError::UndecodableRecord {
            topic: record.topic.to_string(),
            partition: record.partition,
            offset: record.offset,
            format: format.to_string(),
            message: e.to_string(),
        })
    };
    let key = decode(record.key.as_deref()).await?;
    let value = decode(record.value.as_deref()).await?;
    Ok(RecordResponse {
        key,
        value,
        headers: record
            .headers
            .iter()
            .map(|h| HeaderResponse {
                name: h.name.clone(),
                value: h.value.as_deref().map(kgate_formats::base64_encode),
            })
            .collect(),
        topic: record.topic.to_string(),
        partition: record.partition,
        offset: record.offset,
        timestamp: record.timestamp,
    })
}

/// `text` as a JSON string.
fn json_string(text: &str) -> Vec<u8> {
    // Serializing a string cannot fail.
    serde_json::to_vec(text).unwrap_or_else(|_| b"\"\"".to_vec())
}

/// Appends `bytes` as a base64 JSON string, or `null`, encoding straight into `out`.
fn write_base64(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    let Some(bytes) = bytes else {
        out.extend_from_slice(b"null");
        return;
    };
    out.push(b'"');
    kgate_formats::base64_encode_into(bytes, out);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use kgate_kafka::consumer::RecordHeader;

    fn record(
        topic: &Arc<str>,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> ConsumedRecord {
        ConsumedRecord {
            topic: topic.clone(),
            partition: 3,
            offset,
            timestamp: Some(1),
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            headers: Vec::new(),
        }
    }

    #[tokio::test]
    async fn binary_records_are_written_as_serde_would() {
        let a: Arc<str> = Arc::from("a\"topic");
        let b: Arc<str> = Arc::from("b");
        let mut with_headers = record(&b, 7, None, Some(b"\xff\x00x"));
        with_headers.headers = vec![
            RecordHeader {
                name: "h\u{e9}\n".to_string(),
                value: Some(b"v".to_vec()),
            },
            RecordHeader {
                name: "null".to_string(),
                value: None,
            },
        ];
        let chunks = vec![
            vec![
                record(&a, 0, Some(b"k"), Some(b"")),
                record(&a, 1, None, None),
            ],
            vec![
                with_headers,
                record(&a, i64::MAX, Some(b"ab"), Some(b"abcd")),
            ],
        ];
        let mut encoder = RecordsEncoder {
            format: EmbeddedFormat::Binary,
            schemas: None,
            written: false,
        };
        let mut out = vec![b'['];
        let mut want = Vec::new();
        for chunk in chunks {
            for r in &chunk {
                let b64 = |v: Option<&[u8]>| v.map(kgate_formats::base64_encode);
                let mut json = serde_json::json!({
                    "topic": &*r.topic, "key": b64(r.key.as_deref()), "value": b64(r.value.as_deref()),
                    "partition": r.partition, "offset": r.offset, "timestamp": r.timestamp,
                });
                if !r.headers.is_empty() {
                    json["headers"] = r
                        .headers
                        .iter()
                        .map(|h| serde_json::json!({"name": h.name, "value": b64(h.value.as_deref())}))
                        .collect();
                }
                want.push(json);
            }
            assert!(encoder.encode(&mut out, chunk).await.is_ok());
        }
        out.push(b']');
        let got: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(got, Value::Array(want));
        // Field order as Confluent's proxy writes it.
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(
                r#"[{"topic":"a\"topic","key":"aw==","value":"","partition":3,"offset":0,"timestamp":1},"#
            ),
            "{text}"
        );
    }
}
