//! FileStreamSource (`org.apache.kafka.connect.file.FileStreamSourceConnector`): each
//! line of a file (or of standard input) becomes a record with a string value; its
//! offset is `{"position": <bytes read>}` under the partition `{"filename": <file>}`,
//! as Apache writes them, so either worker resumes where the other stopped.

use async_trait::async_trait;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

use super::configdef::{ConfigKey, Kind, plain};
use super::{OffsetReader, SourceRecord, SourceTask, TaskError};
use crate::data::{Schema, SchemaAndValue, Value as Data};
use crate::storage::JsonMap;
use crate::storage::records::Properties;

/// How long a poll waits when the file has nothing new (Apache waits a second).
const IDLE_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// The connector's own settings.
pub fn keys() -> Vec<ConfigKey> {
    vec![
        plain(
            "file",
            Kind::String,
            None,
            false,
            "HIGH",
            "The file to read; standard input when not set.",
        ),
        plain(
            "topic",
            Kind::String,
            None,
            true,
            "HIGH",
            "The topic the lines are written to.",
        ),
        plain(
            "batch.size",
            Kind::Int,
            Some("2000"),
            false,
            "LOW",
            "The most lines one poll returns.",
        ),
    ]
}

/// Checks an offset written through the REST API, with Apache's messages.
pub fn check_offset(partition: &JsonMap, offset: Option<&JsonMap>) -> Result<(), String> {
    if !partition.contains_key("filename") {
        return Err("Partition objects should contain the key 'filename'".to_string());
    }
    if let Some(offset) = offset {
        match offset.get("position") {
            Some(Value::Number(n)) if n.as_i64().is_some_and(|p| p >= 0) => {}
            Some(Value::Number(_)) => {
                return Err(
                    "The value for the 'position' key in the offset should be a non-negative value"
                        .to_string(),
                );
            }
            _ => {
                return Err(
                    "The value for the 'position' key in the offset is expected to be a Long value"
                        .to_string(),
                );
            }
        }
    }
    Ok(())
}

/// The running task.
#[derive(Default)]
pub struct FileStreamSourceTask {
    input: Option<Box<dyn AsyncRead + Send + Unpin>>,
    filename: Option<String>,
    topic: String,
    batch_size: usize,
    /// Bytes read and not yet returned as lines.
    buffer: Vec<u8>,
    /// The file position of the start of `buffer`.
    position: u64,
}

impl FileStreamSourceTask {
    fn partition(&self) -> JsonMap {
        let mut p = JsonMap::new();
        p.insert(
            "filename".into(),
            self.filename.clone().map_or(Value::Null, Value::String),
        );
        p
    }

    /// Takes the complete lines of the buffer, up to the batch size.
    fn lines(&mut self) -> Vec<SourceRecord> {
        let mut out = Vec::new();
        let mut start = 0;
        let partition = self.partition();
        while out.len() < self.batch_size {
            let Some(end) = self.buffer[start..]
                .iter()
                .position(|b| *b == b'\n' || *b == b'\r')
            else {
                break;
            };
            let end = start + end;
            let mut next = end + 1;
            if self.buffer[end] == b'\r' {
                match self.buffer.get(next) {
                    Some(b'\n') => next += 1,
                    // A lone '\r' at the end of what was read may still be followed by '\n'.
                    None => break,
                    _ => {}
                }
            }
            let line = String::from_utf8_lossy(&self.buffer[start..end]).into_owned();
            let mut offset = JsonMap::new();
            offset.insert("position".into(), Value::from(self.position + next as u64));
            out.push(SourceRecord {
                partition: partition.clone(),
                offset,
                topic: self.topic.clone(),
                kafka_partition: None,
                key: SchemaAndValue::null(),
                value: SchemaAndValue {
                    schema: Some(Schema::string()),
                    value: Data::String(line),
                },
                timestamp: Some(now_ms()),
                headers: Vec::new(),
            });
            start = next;
        }
        self.buffer.drain(..start);
        self.position += start as u64;
        out
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[async_trait]
impl SourceTask for FileStreamSourceTask {
    async fn start(
        &mut self,
        config: &Properties,
        offsets: &dyn OffsetReader,
    ) -> Result<(), TaskError> {
        self.filename = config.get("file").filter(|f| !f.is_empty()).cloned();
        self.topic = config.get("topic").cloned().ok_or_else(|| {
            "Missing required configuration \"topic\" which has no default value.".to_string()
        })?;
        self.batch_size = config
            .get("batch.size")
            .and_then(|b| b.trim().parse::<usize>().ok())
            .unwrap_or(2000)
            .max(1);
        let stored = offsets.offset(&self.partition());
        let position = match stored.as_ref().and_then(|o| o.get("position")) {
            None => 0,
            Some(p) => p
                .as_u64()
                .ok_or_else(|| format!("Offset position is the incorrect type: {p}"))?,
        };
        self.input = match &self.filename {
            None => Some(Box::new(tokio::io::stdin())),
            Some(name) => {
                let mut file = tokio::fs::File::open(name).await.map_err(|e| {
                    format!("Couldn't find or open file {name} for FileStreamSourceTask: {e}")
                })?;
                if position > 0 {
                    file.seek(std::io::SeekFrom::Start(position))
                        .await
                        .map_err(|e| {
                            format!(
                                "Error while trying to seek to previous offset in file {name}: {e}"
                            )
                        })?;
                }
                Some(Box::new(file))
            }
        };
        self.position = position;
        Ok(())
    }

    async fn poll(&mut self) -> Result<Vec<SourceRecord>, TaskError> {
        let ready = self.lines();
        if !ready.is_empty() {
            return Ok(ready);
        }
        let Some(input) = self.input.as_mut() else {
            return Err("the task was not started".to_string());
        };
        let mut chunk = vec![0u8; 256 * 1024];
        let read = input.read(&mut chunk).await.map_err(|e| {
            format!(
                "Error while reading from {}: {e}",
                self.filename.as_deref().unwrap_or("stdin")
            )
        })?;
        if read == 0 {
            tokio::time::sleep(IDLE_WAIT).await;
            return Ok(Vec::new());
        }
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(self.lines())
    }

    async fn stop(&mut self) {
        self.input = None;
    }
}
