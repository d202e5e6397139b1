//! Test support: the WebSocket proxy served on 127.0.0.1:0 in front of a cluster, and a
//! WebSocket client (tokio-tungstenite) that speaks to it.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use kgate_kafka::Kafka;
use kgate_ws::{WsConfig, WsListeners};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use kgate_testkit::{TestCluster, unique_name};

/// How long a test waits for a frame before failing.
pub const FRAME_WAIT: Duration = Duration::from_secs(30);

/// A client socket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket proxy (and its admin server) on 127.0.0.1:0.
pub struct WsServer {
    /// `ws://127.0.0.1:PORT`.
    pub ws: String,
    /// `http://127.0.0.1:PORT` (the same listener).
    pub http: String,
    /// `http://127.0.0.1:PORT` of the admin server.
    pub admin: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl WsServer {
    /// Serves `config` in front of `kafka`.
    pub async fn start(kafka: Kafka, config: WsConfig) -> WsServer {
        let proxy = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy listener");
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the admin listener");
        let proxy_addr = proxy.local_addr().expect("proxy address");
        let admin_addr = admin.local_addr().expect("admin address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(kgate_ws::serve(
            WsListeners {
                proxy: Some(proxy),
                admin: Some(admin),
            },
            kafka,
            config,
            async move {
                let _ = stopped.await;
            },
        ));
        WsServer {
            ws: format!("ws://{proxy_addr}"),
            http: format!("http://{proxy_addr}"),
            admin: format!("http://{admin_addr}"),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits for its sockets to close.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(Duration::from_secs(30), task).await {
                Ok(Ok(Ok(()))) => {}
                other => panic!("the WebSocket proxy did not stop cleanly: {other:?}"),
            }
        }
    }
}

impl Drop for WsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A configuration for tests: defaults, with `pairs` (`ws.` keys without the prefix).
pub fn config(pairs: &[(&str, &str)]) -> WsConfig {
    let props = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    WsConfig::from_properties(&props).expect("a valid test configuration")
}

/// Opens a socket at `url` (path and query included); panics when refused.
pub async fn connect(url: &str) -> Socket {
    match tokio_tungstenite::connect_async(url).await {
        Ok((socket, _)) => socket,
        Err(e) => panic!("connecting to {url} failed: {e}; {}", refusal_text(&e)),
    }
}

/// Opens a socket with extra request headers.
pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Result<Socket, (u16, Value)> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().expect("a valid URL");
    for (k, v) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            http::HeaderValue::from_str(v).expect("header value"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(e) => Err(refusal(e)),
    }
}

/// The status and JSON body of a refused upgrade.
pub async fn refused(url: &str) -> (u16, Value) {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => panic!("{url} was accepted"),
        Err(e) => refusal(e),
    }
}

fn refusal(e: tokio_tungstenite::tungstenite::Error) -> (u16, Value) {
    match e {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            let body = response.body().clone().unwrap_or_default();
            let json = serde_json::from_slice(&body).unwrap_or_else(|_| {
                panic!(
                    "refusal body is not JSON: {}",
                    String::from_utf8_lossy(&body)
                )
            });
            (status, json)
        }
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

fn refusal_text(e: &tokio_tungstenite::tungstenite::Error) -> String {
    match e {
        tokio_tungstenite::tungstenite::Error::Http(response) => format!(
            "HTTP {} {}",
            response.status(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
        ),
        _ => String::new(),
    }
}

/// Sends one JSON text frame.
pub async fn send_json(socket: &mut Socket, value: &Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .expect("send a frame");
}

/// Sends one text frame as written.
pub async fn send_text(socket: &mut Socket, text: &str) {
    socket
        .send(Message::Text(text.to_string().into()))
        .await
        .expect("send a frame");
}

/// The next text frame as JSON (pings and pongs skipped); panics on close or timeout.
pub async fn next_json(socket: &mut Socket) -> Value {
    match next_frame(socket, FRAME_WAIT).await {
        Some(Frame::Json(v)) => v,
        Some(Frame::Closed(code, reason)) => panic!("socket closed ({code}: {reason})"),
        None => panic!("no frame within {FRAME_WAIT:?}"),
    }
}

/// What a socket gave.
#[derive(Debug)]
pub enum Frame {
    /// A text frame, as JSON.
    Json(Value),
    /// A close frame (code, reason), or the end of the stream (0).
    Closed(u16, String),
}

/// The next frame within `wait`, `None` if there was none.
pub async fn next_frame(socket: &mut Socket, wait: Duration) -> Option<Frame> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()?;
        match message {
            Some(Ok(Message::Text(t))) => {
                return Some(Frame::Json(
                    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {t}")),
                ));
            }
            Some(Ok(Message::Binary(b))) => {
                return Some(Frame::Json(
                    serde_json::from_slice(&b).expect("binary frame of JSON"),
                ));
            }
            Some(Ok(Message::Close(c))) => {
                return Some(Frame::Closed(
                    c.as_ref().map_or(0, |c| u16::from(c.code)),
                    c.map(|c| c.reason.to_string()).unwrap_or_default(),
                ));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Some(Frame::Closed(0, e.to_string())),
            None => return Some(Frame::Closed(0, String::new())),
        }
    }
}

/// Closes a socket and waits for the server's close.
pub async fn close(mut socket: Socket) {
    let _ = socket.close(None).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
}

/// A GET answered with its status and JSON body (`Value::Null` for an empty body).
pub async fn get(url: &str) -> (u16, Value) {
    request(reqwest::Method::GET, url, None).await
}

/// A request with an optional JSON body, answered with status and JSON body.
pub async fn request(method: reqwest::Method, url: &str, body: Option<&Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method, url);
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    let response = req.send().await.expect("HTTP request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("HTTP body");
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    (status, json)
}
