//! A handler that panics: 500 in the envelope, one log line, and the server keeps serving.
//! (Its own test binary: it installs the process's panic hook and log subscriber.)

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{Server, relaxed};

/// Log output collected in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_500_in_the_envelope_and_is_logged_once() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    kgate_http::log_panics();

    let server = Server::start(relaxed()).await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let response = client
            .get(format!("{}/panic", server.base))
            .send()
            .await
            .expect("an answer, not a dropped connection");
        assert_eq!(response.status().as_u16(), 500);
        assert_eq!(
            response.headers()["content-type"]
                .to_str()
                .unwrap_or_default(),
            "application/json"
        );
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(
            body,
            serde_json::json!({"error_code": 500, "message": "Internal Server Error"})
        );
        // The process keeps serving, on the same connection too.
        let ok = client
            .get(format!("{}/ok", server.base))
            .send()
            .await
            .expect("GET /ok");
        assert_eq!(ok.status().as_u16(), 200);
    }
    server.stop().await;

    let text = log.text();
    let panic_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("boom in a handler"))
        .collect();
    assert_eq!(panic_lines.len(), 2, "one line per panic:\n{text}");
    for line in panic_lines {
        assert!(line.contains("ERROR"), "{line}");
        assert!(
            line.contains("common/mod.rs"),
            "the location is named: {line}"
        );
    }
    // The request line records the 500.
    assert!(
        text.lines()
            .any(|l| l.contains("path=/panic") && l.contains("status=500")),
        "{text}"
    );
}
