//! The JSON frames of the sockets: a record a producer sends and the result it gets back,
//! a record a consumer receives and the ack it sends, and the error frame kgate sends
//! where the original proxy dropped a frame silently.

use std::borrow::Cow;

use serde_json::Value;
use serde_json::value::RawValue;

use kgate_kafka::ProduceRecord;
use kgate_kafka::consumer::ConsumedRecord;

use crate::format::{FormatType, write_string};

/// A frame of `/socket/in` made into a record, with the client's message id.
#[derive(Debug)]
pub struct InRecord {
    /// The record to produce.
    pub record: ProduceRecord,
    /// The client's `messageId`, echoed as `clientMessageId`.
    pub message_id: Option<String>,
}

/// A frame that could not be made into a record: why, and its `messageId` if readable.
#[derive(Debug)]
pub struct BadFrame {
    /// What is wrong.
    pub reason: String,
    /// The client's `messageId`, when the frame had one.
    pub message_id: Option<String>,
}

/// Reads a `/socket/in` frame: `{"headers": [...], "key": {...}, "value": {...},
/// "messageId": "..."}`. The key is read as `key_type`, else as the format the key
/// names, else as a string.
pub fn parse_in(
    bytes: &[u8],
    key_type: Option<FormatType>,
    val_type: FormatType,
) -> Result<InRecord, BadFrame> {
    if let Some(record) = parse_in_fast(bytes, key_type, val_type) {
        return Ok(record);
    }
    parse_in_checked(bytes, key_type, val_type)
}

/// The usual frame, read without building a JSON tree (keys, values and headers are
/// borrowed from the frame): `None` for anything else, which [`parse_in_checked`] then
/// reads and, when it is wrong, explains.
fn parse_in_fast(
    bytes: &[u8],
    key_type: Option<FormatType>,
    val_type: FormatType,
) -> Option<InRecord> {
    let frame: FastFrame<'_> = serde_json::from_slice(bytes).ok()?;
    let headers = frame
        .headers
        .unwrap_or_default()
        .into_iter()
        .map(|h| {
            (
                h.key.into_owned(),
                h.value.map(|v| v.into_owned().into_bytes()),
            )
        })
        .collect();
    let value = frame.value.convert(Some(val_type))?;
    let key = match frame.key {
        None => None,
        Some(k) => k.convert(key_type)?,
    };
    Some(InRecord {
        record: ProduceRecord {
            key,
            value,
            partition: None,
            headers,
            timestamp: None,
        },
        message_id: frame.message_id.map(Cow::into_owned),
    })
}

#[derive(serde::Deserialize)]
struct FastFrame<'a> {
    #[serde(borrow, default)]
    headers: Option<Vec<FastHeader<'a>>>,
    #[serde(borrow, default)]
    key: Option<FastValue<'a>>,
    #[serde(borrow)]
    value: FastValue<'a>,
    #[serde(borrow, default, rename = "messageId")]
    message_id: Option<Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct FastHeader<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow)]
    value: Option<Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct FastValue<'a> {
    #[serde(borrow)]
    value: &'a RawValue,
    #[serde(borrow, default)]
    format: Option<Cow<'a, str>>,
}

impl FastValue<'_> {
    /// The record bytes (`Some(None)` for null), or `None` when the checked reading must
    /// decide.
    fn convert(&self, expected: Option<FormatType>) -> Option<Option<Vec<u8>>> {
        let named = match &self.format {
            None => None,
            Some(name) => Some(FormatType::from_name(name)?),
        };
        let raw = self.value.get();
        if raw == "null" {
            return Some(None);
        }
        let bytes = match expected.or(named).unwrap_or(FormatType::String) {
            FormatType::String => serde_json::from_str::<Cow<'_, str>>(raw)
                .ok()?
                .into_owned()
                .into_bytes(),
            FormatType::Int => i32::try_from(serde_json::from_str::<i64>(raw).ok()?)
                .ok()?
                .to_be_bytes()
                .to_vec(),
            FormatType::Short => i16::try_from(serde_json::from_str::<i64>(raw).ok()?)
                .ok()?
                .to_be_bytes()
                .to_vec(),
            FormatType::Long => serde_json::from_str::<i64>(raw)
                .ok()?
                .to_be_bytes()
                .to_vec(),
            // JSON is stored compact, numbers with their checks, bytes decoded: the
            // checked reading does those.
            FormatType::Json | FormatType::Double | FormatType::Float | FormatType::ByteArray => {
                return None;
            }
        };
        Some(Some(bytes))
    }
}

/// Reads a frame through a JSON tree, saying precisely what is wrong with it.
fn parse_in_checked(
    bytes: &[u8],
    key_type: Option<FormatType>,
    val_type: FormatType,
) -> Result<InRecord, BadFrame> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| BadFrame {
        reason: format!("The frame is not valid JSON: {e}"),
        message_id: None,
    })?;
    let Value::Object(obj) = value else {
        return Err(BadFrame {
            reason: "The frame must be a JSON object".to_string(),
            message_id: None,
        });
    };
    let message_id = match obj.get("messageId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    let bad = |reason: String| BadFrame {
        reason,
        message_id: message_id.clone(),
    };
    let headers = match obj.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => {
            let mut out = Vec::with_capacity(list.len());
            for h in list {
                let key = h.get("key").and_then(Value::as_str).ok_or_else(|| {
                    bad("Each header must be an object with a string `key`".to_string())
                })?;
                let value = match h.get("value") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.as_bytes().to_vec()),
                    Some(_) => {
                        return Err(bad(format!("The value of header `{key}` must be a string")));
                    }
                };
                out.push((key.to_string(), value));
            }
            out
        }
        Some(_) => return Err(bad("`headers` must be an array".to_string())),
    };
    let value_field = obj
        .get("value")
        .ok_or_else(|| bad("The frame has no `value`".to_string()))?;
    let value = convert(value_field, Some(val_type), "value").map_err(&bad)?;
    let key = match obj.get("key") {
        None | Some(Value::Null) => None,
        Some(k) => convert(k, key_type, "key").map_err(&bad)?,
    };
    Ok(InRecord {
        record: ProduceRecord {
            key,
            value,
            partition: None,
            headers,
            timestamp: None,
        },
        message_id,
    })
}

/// Converts `{"value": ..., "format": "..."}` to bytes; a null value is a null record
/// value (a tombstone).
fn convert(
    field: &Value,
    expected: Option<FormatType>,
    what: &str,
) -> Result<Option<Vec<u8>>, String> {
    let obj = field
        .as_object()
        .ok_or_else(|| format!("`{what}` must be an object with `value` and `format`"))?;
    let named = match obj.get("format") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(
            FormatType::from_name(name)
                .ok_or_else(|| format!("{name} is not a valid format type (in `{what}`)"))?,
        ),
        Some(_) => return Err(format!("`{what}.format` must be a string")),
    };
    let format = expected.or(named).unwrap_or(FormatType::String);
    match obj.get("value") {
        None => Err(format!("`{what}` has no `value`")),
        Some(Value::Null) => Ok(None),
        Some(v) => format
            .to_bytes(v)
            .map(Some)
            .map_err(|e| format!("Invalid {what}: {e}")),
    }
}

/// The result frame of a produced record, as the original sends it.
pub fn result_frame(
    topic: &str,
    partition: i32,
    offset: i64,
    timestamp: i64,
    message_id: Option<&str>,
) -> String {
    let mut out = Vec::with_capacity(96 + topic.len());
    out.extend_from_slice(b"{\"topic\":");
    write_string(topic, &mut out);
    out.extend_from_slice(
        format!(",\"partition\":{partition},\"offset\":{offset},\"timestamp\":{timestamp}")
            .as_bytes(),
    );
    if let Some(id) = message_id {
        out.extend_from_slice(b",\"clientMessageId\":");
        write_string(id, &mut out);
    }
    out.push(b'}');
    into_string(out)
}

/// The frame kgate sends for a frame or record it could not handle.
pub fn error_frame(
    reason: &str,
    message_id: Option<&str>,
    ws_proxy_message_id: Option<&str>,
) -> String {
    let mut out = Vec::with_capacity(64 + reason.len());
    out.extend_from_slice(b"{\"error\":");
    write_string(reason, &mut out);
    if let Some(id) = message_id {
        out.extend_from_slice(b",\"clientMessageId\":");
        write_string(id, &mut out);
    }
    if let Some(id) = ws_proxy_message_id {
        out.extend_from_slice(b",\"wsProxyMessageId\":");
        write_string(id, &mut out);
    }
    out.push(b'}');
    into_string(out)
}

/// The id of a consumed record: `<topic>-<partition>-<offset>-<timestamp>`.
pub fn ws_proxy_message_id(r: &ConsumedRecord) -> String {
    format!(
        "{}-{}-{}-{}",
        r.topic,
        r.partition,
        r.offset,
        r.timestamp.unwrap_or(-1)
    )
}

/// A record id of an ack, split into topic, partition and offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckedRecord {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
}

/// Splits `<topic>-<partition>-<offset>-<timestamp>` from the right (topics may contain
/// `-`, and the timestamp may be -1).
pub fn parse_ws_proxy_message_id(id: &str) -> Option<AckedRecord> {
    let (rest, ts) = id.rsplit_once('-')?;
    let rest = match rest.strip_suffix('-') {
        Some(r) if ts.chars().all(|c| c.is_ascii_digit()) && !r.is_empty() => r,
        _ => rest,
    };
    ts.parse::<i64>().ok()?;
    let (rest, offset) = rest.rsplit_once('-')?;
    let (topic, partition) = rest.rsplit_once('-')?;
    if topic.is_empty() {
        return None;
    }
    Some(AckedRecord {
        topic: topic.to_string(),
        partition: partition.parse().ok()?,
        offset: offset.parse().ok()?,
    })
}

/// Reads an ack frame `{"wsProxyMessageId": "..."}`.
pub fn parse_ack(bytes: &[u8]) -> Result<AckedRecord, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("The frame is not valid JSON: {e}"))?;
    let id = value
        .get("wsProxyMessageId")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            "An ack frame is {\"wsProxyMessageId\": \"<id of a record>\"}".to_string()
        })?;
    parse_ws_proxy_message_id(id).ok_or_else(|| format!("{id} is not a wsProxyMessageId"))
}

/// The frame of a consumed record, or why its key or value is not of the socket's types.
pub fn out_frame(
    r: &ConsumedRecord,
    key_type: Option<FormatType>,
    val_type: FormatType,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    out.clear();
    out.extend_from_slice(b"{\"wsProxyMessageId\":\"");
    // Topic names are letters, digits, '.', '_' and '-': nothing to escape.
    let id = ws_proxy_message_id(r);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b"\",\"topic\":");
    write_string(&r.topic, out);
    out.extend_from_slice(
        format!(
            ",\"partition\":{},\"offset\":{},\"timestamp\":{}",
            r.partition,
            r.offset,
            r.timestamp.unwrap_or(-1)
        )
        .as_bytes(),
    );
    if !r.headers.is_empty() {
        out.extend_from_slice(b",\"headers\":[");
        for (i, h) in r.headers.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"key\":");
            write_string(&h.name, out);
            out.extend_from_slice(b",\"value\":");
            match &h.value {
                Some(v) => write_string(&String::from_utf8_lossy(v), out),
                None => out.extend_from_slice(b"null"),
            }
            out.push(b'}');
        }
        out.push(b']');
    }
    if let (Some(kt), Some(key)) = (key_type, &r.key) {
        out.extend_from_slice(b",\"key\":{\"value\":");
        kt.write_json(key, out)
            .map_err(|e| format!("Invalid key: {e}"))?;
        out.extend_from_slice(b",\"format\":\"");
        out.extend_from_slice(kt.name().as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b",\"value\":{\"value\":");
    match &r.value {
        Some(v) => val_type
            .write_json(v, out)
            .map_err(|e| format!("Invalid value: {e}"))?,
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"format\":\"");
    out.extend_from_slice(val_type.name().as_bytes());
    out.extend_from_slice(b"\"}}");
    Ok(())
}

fn into_string(bytes: Vec<u8>) -> String {
    // Built from UTF-8 pieces only.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_from_the_right() {
        assert_eq!(
            parse_ws_proxy_message_id("my-topic-3-42-1554402266846"),
            Some(AckedRecord {
                topic: "my-topic".into(),
                partition: 3,
                offset: 42
            })
        );
        assert_eq!(
            parse_ws_proxy_message_id("t-0-5--1").map(|a| a.offset),
            Some(5)
        );
        assert_eq!(parse_ws_proxy_message_id("nonsense"), None);
        assert_eq!(parse_ws_proxy_message_id("-0-1-2"), None);
    }

    #[test]
    fn in_frames_convert_and_refuse() {
        let r = parse_in(
            br#"{"headers":[{"key":"h","value":"v"}],"key":{"value":7,"format":"int"},"value":{"value":"bar","format":"string"},"messageId":"m1"}"#,
            Some(FormatType::Int),
            FormatType::String,
        )
        .expect("valid");
        assert_eq!(r.record.key, Some(vec![0, 0, 0, 7]));
        assert_eq!(r.record.value, Some(b"bar".to_vec()));
        assert_eq!(r.message_id.as_deref(), Some("m1"));
        assert_eq!(
            r.record.headers,
            vec![("h".to_string(), Some(b"v".to_vec()))]
        );
        let e = parse_in(
            br#"{"value":{"value":"x"},"messageId":"m2"}"#,
            None,
            FormatType::Int,
        )
        .expect_err("not an int");
        assert_eq!(e.message_id.as_deref(), Some("m2"));
        assert!(parse_in(b"{", None, FormatType::String).is_err());
        assert!(parse_in(br#"{"key":{"value":"k"}}"#, None, FormatType::String).is_err());
    }
}

#[cfg(test)]
mod fast_tests {
    use super::*;

    /// The fast reading gives what the checked one gives, for every format type.
    #[test]
    fn fast_and_checked_readings_agree() {
        let frames: &[(&[u8], Option<FormatType>, FormatType)] = &[
            (br#"{"value":{"value":"a\"b","format":"string"},"messageId":"m"}"#, None, FormatType::String),
            (br#"{"key":{"value":-3,"format":"int"},"value":{"value":70000,"format":"long"}}"#, Some(FormatType::Int), FormatType::Long),
            (br#"{"key":{"value":3},"value":{"value":-7}}"#, Some(FormatType::Short), FormatType::Int),
            (br#"{"headers":[{"key":"h","value":"v"},{"key":"n","value":null}],"value":{"value":null}}"#, None, FormatType::String),
            (br#"{"value":{"value":{"a": [1, 2]}}}"#, None, FormatType::Json),
            (br#"{"value":{"value":1.5}}"#, None, FormatType::Double),
        ];
        for (bytes, kt, vt) in frames {
            let checked = parse_in_checked(bytes, *kt, *vt).expect("valid");
            let either = parse_in(bytes, *kt, *vt).expect("valid");
            assert_eq!(either.record, checked.record);
            assert_eq!(either.message_id, checked.message_id);
        }
        // Out of range for the fast path: the checked reading explains.
        assert!(parse_in(br#"{"value":{"value":70000}}"#, None, FormatType::Short).is_err());
        assert!(
            parse_in(
                br#"{"value":{"value":"x","format":"nope"}}"#,
                None,
                FormatType::String
            )
            .is_err()
        );
    }
}
