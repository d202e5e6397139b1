//! A test server: a small router served by `kgate_http::serve_with` on 127.0.0.1:0.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use kgate_http::{HttpError, LimitedBody, ServeConfig, serve_with, with_common_layers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// A running test server.
pub struct Server {
    /// Its address.
    pub addr: SocketAddr,
    /// `http://addr`.
    pub base: String,
    /// Requests that have entered `/slow`.
    pub slow_entered: Arc<AtomicUsize>,
    /// Releases every request waiting in `/slow`.
    pub release: Arc<Notify>,
    /// Response bodies of `/big` dropped before they produced their last byte.
    pub big_dropped: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Timeouts long enough not to matter, no connection limit: tests set what they test.
pub fn relaxed() -> ServeConfig {
    ServeConfig {
        header_timeout: Some(Duration::from_secs(120)),
        body_timeout: Some(Duration::from_secs(120)),
        idle_timeout: Some(Duration::from_secs(120)),
        connection_limit: None,
    }
}

async fn echo_len(body: Result<LimitedBody, HttpError>) -> Result<String, HttpError> {
    body.map(|LimitedBody(b)| b.len().to_string())
}

/// The size of `/big`'s answer, unless `?bytes=` says otherwise: more than any socket
/// buffers on the way hold.
pub const BIG: usize = 64 << 20;

/// Counts a `/big` body dropped before its end.
struct Unfinished {
    dropped: Arc<AtomicUsize>,
    finished: bool,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.finished {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// `bytes` bytes of `x`, produced as they are sent, 64 KiB at a time.
fn big(
    dropped: Arc<AtomicUsize>,
    query: axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    let bytes = query
        .get("bytes")
        .and_then(|b| b.parse().ok())
        .unwrap_or(BIG);
    let unfinished = Unfinished {
        dropped,
        finished: false,
    };
    let chunks =
        futures::stream::unfold((bytes, unfinished), |(left, mut unfinished)| async move {
            if left == 0 {
                return None;
            }
            let n = left.min(64 << 10);
            // hyper drops a body once it has sent its content-length, without asking
            // for its end: the last chunk produced is the end.
            unfinished.finished = n == left;
            let chunk = bytes::Bytes::from(vec![b'x'; n]);
            Some((Ok::<_, std::io::Error>(chunk), (left - n, unfinished)))
        });
    axum::response::Response::builder()
        .header("content-length", bytes)
        .body(axum::body::Body::from_stream(chunks))
        .unwrap_or_default()
}

/// Switches the connection to a byte echo, as a WebSocket handshake switches it to
/// WebSocket frames.
async fn upgrade_to_echo(mut request: axum::extract::Request) -> axum::response::Response {
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            return;
        };
        let mut io = hyper_util::rt::TokioIo::new(upgraded);
        let mut buf = [0u8; 1024];
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if io.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    axum::response::Response::builder()
        .status(101)
        .header("connection", "upgrade")
        .header("upgrade", "echo")
        .body(axum::body::Body::empty())
        .unwrap_or_default()
}

impl Server {
    /// Starts the test router with `config`.
    pub async fn start(config: ServeConfig) -> Server {
        let slow_entered = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());
        let entered = slow_entered.clone();
        let released = release.clone();
        let big_dropped = Arc::new(AtomicUsize::new(0));
        let dropped = big_dropped.clone();
        let router = Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route("/echo", post(echo_len))
            .route(
                "/sleep",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "slept"
                }),
            )
            .route(
                "/topics/{name}",
                get(|Path(name): Path<String>| async move { name }),
            )
            .route(
                "/slow",
                get(move || {
                    let entered = entered.clone();
                    let released = released.clone();
                    async move {
                        let wait = released.notified();
                        tokio::pin!(wait);
                        // Counted as waiting from here, so a release after the count
                        // reaches it is not missed.
                        wait.as_mut().enable();
                        entered.fetch_add(1, Ordering::SeqCst);
                        wait.await;
                        "done"
                    }
                }),
            )
            .route("/upgrade", get(upgrade_to_echo))
            .route(
                "/big",
                get(move |query| {
                    let dropped = dropped.clone();
                    async move { big(dropped, query) }
                }),
            )
            .route(
                "/panic",
                get(|| async {
                    if true {
                        panic!("boom in a handler");
                    }
                    "unreachable"
                }),
            );
        let router = with_common_layers(router, 1024);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve_with(listener, router, config, async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            base: format!("http://{addr}"),
            slow_entered,
            release,
            big_dropped,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Checks that a new client is served: what a test asserts after one client was cut
    /// off or refused.
    pub async fn assert_serves_new_clients(&self) {
        let ok = reqwest::get(format!("{}/ok", self.base))
            .await
            .expect("GET /ok on a new connection");
        assert_eq!(ok.status().as_u16(), 200);
    }

    /// Stops the server and checks that `serve` returned within 30 s.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("serve returns after shutdown")
                .expect("serve task")
                .expect("serve result");
        }
    }
}

/// Sends `request` on a new connection and reads until the server closes it (or 10 s).
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write request");
    read_until_closed(&mut stream, Duration::from_secs(10)).await
}

/// Reads until EOF, a reset or `limit`; what was read, as text.
pub async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).to_string()
}

/// Waits up to `limit` for the server to close `stream`; whether it did.
pub async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Writes `bytes` one at a time, 100 ms apart, until the server closes `stream` (or
/// `limit` passes, or the bytes run out); whether it closed it.
pub async fn drip_until_cut_off(
    stream: &mut TcpStream,
    bytes: impl IntoIterator<Item = u8>,
    limit: Duration,
) -> bool {
    let started = std::time::Instant::now();
    for byte in bytes {
        if started.elapsed() >= limit {
            return false;
        }
        if stream.write_all(&[byte]).await.is_err()
            || closed_within(stream, Duration::from_millis(100)).await
        {
            return true;
        }
    }
    false
}

/// The status code and the JSON body of a raw HTTP/1.1 answer.
pub fn status_and_json(answer: &str) -> (u16, serde_json::Value) {
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head in {answer:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "not JSON: {head}"
    );
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, body)
}
