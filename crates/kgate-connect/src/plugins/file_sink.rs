//! FileStreamSink (`org.apache.kafka.connect.file.FileStreamSinkConnector`): each
//! record's value is written as a line of text to a file (or standard output).
//!
//! kgate adds one thing to Apache's behaviour: with a single task (`tasks.max=1`), the
//! file's length after each flush is committed with the consumer offsets, and a
//! restarted task cuts the file back to that length before writing, so lines written
//! after the last commit (a crash between write and commit) are not written twice.

use async_trait::async_trait;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};

use super::configdef::{ConfigKey, Kind, plain};
use super::{SinkRecord, SinkTask, TaskError};
use crate::storage::records::Properties;

/// The commit metadata prefix that carries the file's length.
const LENGTH_MARK: &str = "kgate.file.length=";

/// The connector's own settings.
pub fn keys() -> Vec<ConfigKey> {
    vec![plain(
        "file",
        Kind::String,
        None,
        false,
        "HIGH",
        "The file to append to; standard output when not set.",
    )]
}

/// The running task.
#[derive(Default)]
pub struct FileStreamSinkTask {
    output: Option<BufWriter<Box<dyn AsyncWrite + Send + Unpin>>>,
    filename: Option<String>,
    /// Bytes in the file after the last write.
    length: u64,
    single_writer: bool,
}

#[async_trait]
impl SinkTask for FileStreamSinkTask {
    async fn start(&mut self, config: &Properties, committed: &[String]) -> Result<(), TaskError> {
        self.filename = config.get("file").filter(|f| !f.is_empty()).cloned();
        self.single_writer = config.get("tasks.max").is_none_or(|m| m.trim() == "1");
        let writer: Box<dyn AsyncWrite + Send + Unpin> = match &self.filename {
            None => Box::new(tokio::io::stdout()),
            Some(name) => {
                let file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(name)
                    .await
                    .map_err(|e| {
                        format!("Couldn't find or create file '{name}' for FileStreamSinkTask: {e}")
                    })?;
                let mut length = file
                    .metadata()
                    .await
                    .map_err(|e| format!("Couldn't read the length of '{name}': {e}"))?
                    .len();
                // Lines past the committed length were written after the last commit and
                // will be consumed again.
                let marks: Vec<u64> = committed
                    .iter()
                    .filter_map(|m| m.strip_prefix(LENGTH_MARK).and_then(|l| l.parse().ok()))
                    .collect();
                if self.single_writer && !marks.is_empty() && marks.len() == committed.len() {
                    let committed_length = marks.iter().copied().max().unwrap_or(0);
                    if committed_length < length {
                        file.set_len(committed_length).await.map_err(|e| {
                            format!("Couldn't cut '{name}' back to its committed length: {e}")
                        })?;
                        tracing::info!(file = %name, from = length, to = committed_length, "cut the sink file back to its last committed length");
                        length = committed_length;
                    }
                }
                self.length = length;
                Box::new(file)
            }
        };
        self.output = Some(BufWriter::with_capacity(256 * 1024, writer));
        Ok(())
    }

    async fn put(&mut self, records: Vec<SinkRecord>) -> Result<(), TaskError> {
        let output = self
            .output
            .as_mut()
            .ok_or_else(|| "the task was not started".to_string())?;
        let mut text = String::new();
        for r in &records {
            text.clear();
            use std::fmt::Write;
            let _ = writeln!(text, "{}", r.value.value);
            output.write_all(text.as_bytes()).await.map_err(|e| {
                format!(
                    "Couldn't write to {}: {e}",
                    self.filename.as_deref().unwrap_or("stdout")
                )
            })?;
            self.length += text.len() as u64;
        }
        // Each batch reaches the file at once, as each of Apache's lines does: readers of
        // the file need not wait for the next offset flush.
        output.flush().await.map_err(|e| {
            format!(
                "Couldn't write to {}: {e}",
                self.filename.as_deref().unwrap_or("stdout")
            )
        })?;
        Ok(())
    }

    async fn flush(&mut self) -> Result<String, TaskError> {
        if let Some(output) = self.output.as_mut() {
            output.flush().await.map_err(|e| {
                format!(
                    "Couldn't flush {}: {e}",
                    self.filename.as_deref().unwrap_or("stdout")
                )
            })?;
        }
        Ok(if self.filename.is_some() && self.single_writer {
            format!("{LENGTH_MARK}{}", self.length)
        } else {
            String::new()
        })
    }

    async fn stop(&mut self) {
        if let Some(mut output) = self.output.take() {
            let _ = output.flush().await;
        }
    }
}
