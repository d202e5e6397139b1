//! The HTTP edge against real sockets: timeouts (idle, headers, stalled body), the
//! per-listener connection limit, errors hyper and axum produce answered in the JSON
//! envelope, half-closed requests, and HTTP/2 with prior knowledge.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{
    Server, closed_within, drip_until_cut_off, raw_exchange, read_until_closed, relaxed,
    status_and_json,
};
use kgate_http::ServeConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_idle_timeout() {
    let idle = Duration::from_millis(300);
    let server = Server::start(ServeConfig {
        idle_timeout: Some(idle),
        ..relaxed()
    })
    .await;
    let opened = Instant::now();
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    assert!(
        closed_within(&mut silent, Duration::from_secs(20)).await,
        "a silent connection stayed open"
    );
    assert!(opened.elapsed() >= idle, "closed before the idle timeout");

    // After a response, a kept-alive connection is idle again and closed likewise.
    let mut kept = TcpStream::connect(server.addr).await.expect("connect");
    kept.write_all(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut kept, Duration::from_secs(20)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn headers_dripped_slowly_are_cut_off_by_the_header_timeout() {
    let header = Duration::from_millis(500);
    let server = Server::start(ServeConfig {
        header_timeout: Some(header),
        ..relaxed()
    })
    .await;
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    let started = Instant::now();
    slow.write_all(b"GET /ok HTTP/1.1\r\nHost: t\r\n")
        .await
        .expect("write");
    // One header byte every 100 ms keeps the connection busy, never idle, for 20 s
    // unless the server cuts it off.
    let cut_off =
        drip_until_cut_off(&mut slow, std::iter::repeat(b'X'), Duration::from_secs(20)).await;
    assert!(cut_off, "a request whose headers never end was kept open");
    assert!(
        started.elapsed() >= header,
        "cut off before the header timeout"
    );
    // The idle timeout (two minutes here) had nothing to do with it; other clients are
    // still served.
    server.assert_serves_new_clients().await;
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_in_the_envelope() {
    let server = Server::start(ServeConfig {
        body_timeout: Some(Duration::from_millis(300)),
        ..relaxed()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .expect("write");
    let answer = read_until_closed(&mut stream, Duration::from_secs(20)).await;
    let (status, body) = status_and_json(&answer);
    assert_eq!(status, 408, "{answer}");
    assert_eq!(body["error_code"], 408, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("300 ms"),
        "{body}"
    );
    // A body that arrives in pieces, each within the timeout, is read whole.
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\nConnection: close\r\n\r\n0123456789")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(b"0123456789").await.expect("write");
    let answer = read_until_closed(&mut stream, Duration::from_secs(20)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("20"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn idle_connections_past_the_limit_make_room_and_busy_ones_get_503() {
    const LIMIT: usize = 100;
    let server = Server::start(ServeConfig {
        connection_limit: Some(LIMIT),
        ..relaxed()
    })
    .await;

    // 1,100 connections that send nothing (timeouts are two minutes here): each one past
    // the limit closes the one idle longest.
    let mut idle = Vec::new();
    for _ in 0..1_100 {
        idle.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    let client = reqwest::Client::new();
    let ok = client
        .get(format!("{}/ok", server.base))
        .send()
        .await
        .expect("a new client is served");
    assert_eq!(ok.status().as_u16(), 200);
    let mut closed = 0;
    for stream in &mut idle[..1_000] {
        if closed_within(stream, Duration::from_millis(20)).await {
            closed += 1;
        }
    }
    assert!(
        closed >= 900,
        "only {closed} of the oldest idle connections were closed"
    );
    drop(idle);
    drop(client);

    // LIMIT connections each with a request in progress: nothing is idle, so one more is
    // answered 503 in the envelope. Each request is seen in its handler before the next
    // connection opens, so none of them is taken for idle.
    let mut busy = Vec::new();
    for n in 1..=LIMIT {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .expect("write");
        busy.push(stream);
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.slow_entered.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < deadline,
                "request {n} never reached its handler"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let answer = raw_exchange(server.addr, b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let (status, body) = status_and_json(&answer);
    assert_eq!(status, 503, "{answer}");
    assert_eq!(body["error_code"], 503);
    assert!(
        body["message"].as_str().unwrap_or_default().contains("100"),
        "{body}"
    );

    // Once the requests finish, their connections are idle and new clients are served.
    server.release.notify_waiters();
    for stream in &mut busy {
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(
            Duration::from_secs(20),
            tokio::io::AsyncReadExt::read(stream, &mut buf),
        )
        .await
        .expect("a response in time")
        .expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    }
    server.assert_serves_new_clients().await;
    drop(busy);
    server.stop().await;
}

#[tokio::test]
async fn errors_hyper_answers_itself_are_in_the_envelope() {
    let server = Server::start(relaxed()).await;

    let answer = raw_exchange(server.addr, b"NOT AN HTTP REQUEST\r\n\r\n").await;
    let (status, body) = status_and_json(&answer);
    assert_eq!(
        (status, body["error_code"].as_u64()),
        (400, Some(400)),
        "{answer}"
    );

    let header = format!(
        "GET /ok HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(512 * 1024)
    );
    let answer = raw_exchange(server.addr, header.as_bytes()).await;
    let (status, body) = status_and_json(&answer);
    assert_eq!(
        (status, body["error_code"].as_u64()),
        (431, Some(431)),
        "{answer}"
    );

    let uri = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "u".repeat(70_000));
    let answer = raw_exchange(server.addr, uri.as_bytes()).await;
    let (status, body) = status_and_json(&answer);
    assert_eq!(
        (status, body["error_code"].as_u64()),
        (414, Some(414)),
        "{answer}"
    );

    // The server is unharmed.
    server.assert_serves_new_clients().await;
    server.stop().await;
}

#[tokio::test]
async fn errors_axum_answers_itself_are_in_the_envelope() {
    let server = Server::start(relaxed()).await;
    let client = reqwest::Client::new();
    let json = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .to_string();
        let body: serde_json::Value = response.json().await.expect("a JSON body");
        (status, content_type, body)
    };

    // A path parameter that is not UTF-8 (axum's Path rejection).
    let (status, content_type, body) = json(
        client
            .get(format!("{}/topics/%FF%FE", server.base))
            .send()
            .await
            .expect("GET"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(content_type, "application/json");
    assert_eq!(body["error_code"], 400, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    // The same route with a valid name works.
    let fine = client
        .get(format!("{}/topics/caf%C3%A9", server.base))
        .send()
        .await
        .expect("GET");
    assert_eq!(fine.text().await.expect("body"), "café");

    // No route, and a route without that method (this router has no fallbacks).
    let (status, _, body) = json(
        client
            .get(format!("{}/nowhere", server.base))
            .send()
            .await
            .expect("GET"),
    )
    .await;
    assert_eq!(
        (status, &body),
        (
            404,
            &serde_json::json!({"error_code": 404, "message": "HTTP 404 Not Found"})
        )
    );
    let (status, _, body) = json(
        client
            .delete(format!("{}/ok", server.base))
            .send()
            .await
            .expect("DELETE"),
    )
    .await;
    assert_eq!(
        (status, body["error_code"].as_u64()),
        (405, Some(405)),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_request_followed_by_a_half_close_gets_its_response() {
    let server = Server::start(relaxed()).await;
    for (request, expected_body) in [
        (&b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n"[..], "ok"),
        // The half-close arrives while the handler is still at work.
        (&b"GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n"[..], "slept"),
        (
            &b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"[..],
            "5",
        ),
    ] {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream.write_all(request).await.expect("write");
        // SHUT_WR: the client has nothing more to say and waits for the answer.
        stream.shutdown().await.expect("half-close");
        let answer = read_until_closed(&mut stream, Duration::from_secs(20)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        assert!(answer.ends_with(expected_body), "{answer:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_served() {
    let server = Server::start(relaxed()).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let response = h2
        .get(format!("{}/ok", server.base))
        .send()
        .await
        .expect("GET over h2c");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.expect("body"), "ok");
    // Errors over HTTP/2 are in the envelope too.
    let missing = h2
        .get(format!("{}/nowhere", server.base))
        .send()
        .await
        .expect("GET over h2c");
    assert_eq!(missing.status().as_u16(), 404);
    let body: serde_json::Value = missing.json().await.expect("JSON");
    assert_eq!(body["error_code"], 404);

    // The bare preface is answered with the server's SETTINGS frame, not left hanging.
    let mut raw = TcpStream::connect(server.addr).await.expect("connect");
    raw.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("write");
    let mut frame = [0u8; 9];
    tokio::time::timeout(
        Duration::from_secs(20),
        tokio::io::AsyncReadExt::read_exact(&mut raw, &mut frame),
    )
    .await
    .expect("an answer to the preface")
    .expect("read");
    assert_eq!(frame[3], 0x4, "the first frame is SETTINGS: {frame:?}");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_lets_requests_finish() {
    let server = Server::start(relaxed()).await;
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    let mut busy = TcpStream::connect(server.addr).await.expect("connect");
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.slow_entered.load(Ordering::SeqCst) < 1 {
        assert!(
            Instant::now() < deadline,
            "the request never reached its handler"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let release = server.release.clone();
    let stopping = tokio::spawn(server.stop());
    assert!(
        closed_within(&mut idle, Duration::from_secs(20)).await,
        "an idle connection kept shutdown waiting"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !stopping.is_finished(),
        "serve returned with a request in flight"
    );
    release.notify_waiters();
    let answer = read_until_closed(&mut busy, Duration::from_secs(20)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("done"), "{answer}");
    stopping.await.expect("stopped");
}

#[tokio::test]
async fn an_upgraded_connection_is_left_to_its_new_protocol() {
    // Short timeouts and a limit of two: none of them may touch an upgraded connection
    // (a WebSocket), which has no HTTP requests any more.
    let server = Server::start(ServeConfig {
        idle_timeout: Some(Duration::from_millis(200)),
        header_timeout: Some(Duration::from_millis(200)),
        connection_limit: Some(2),
        ..relaxed()
    })
    .await;
    let mut upgraded = TcpStream::connect(server.addr).await.expect("connect");
    upgraded
        .write_all(
            b"GET /upgrade HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n",
        )
        .await
        .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(
            Duration::from_secs(20),
            tokio::io::AsyncReadExt::read(&mut upgraded, &mut byte),
        )
        .await
        .expect("the 101 in time")
        .expect("read");
        assert_eq!(n, 1, "closed during the handshake: {head:?}");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );

    // Other connections come and go, past the limit, while the upgraded one is quiet for
    // longer than the idle and header timeouts.
    for _ in 0..5 {
        let ok = reqwest::Client::new()
            .get(format!("{}/ok", server.base))
            .send()
            .await
            .expect("GET /ok");
        assert_eq!(ok.status().as_u16(), 200);
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    upgraded.write_all(b"still here").await.expect("write");
    let mut echo = [0u8; 10];
    tokio::time::timeout(
        Duration::from_secs(20),
        tokio::io::AsyncReadExt::read_exact(&mut upgraded, &mut echo),
    )
    .await
    .expect("the echo in time")
    .expect("the upgraded connection is open");
    assert_eq!(&echo, b"still here");
    drop(upgraded);
    server.stop().await;
}

/// An HTTP/2 frame: its header (length, type, flags, stream) and payload.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// HTTP/2 frame types and flags the tests send or look for.
const H2_DATA: u8 = 0x0;
const H2_HEADERS: u8 = 0x1;
const H2_SETTINGS: u8 = 0x4;
const H2_PING: u8 = 0x6;
const H2_GOAWAY: u8 = 0x7;
const H2_CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// The client preface and an empty SETTINGS frame.
fn h2_preface() -> Vec<u8> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(h2_frame(H2_SETTINGS, 0, 0, &[]));
    out
}

/// The HPACK header block of `GET path` (static table entries and literals that are not
/// indexed, so that blocks can be sent in any order), with `padding` bytes in an extra
/// header.
fn h2_get(path: &str, padding: usize) -> Vec<u8> {
    // :method GET, :scheme http (static table 2 and 6).
    let mut block = vec![0x82, 0x86];
    // :path (static name 4) and :authority (static name 1), literal values.
    for (name, value) in [(0x04u8, path.as_bytes()), (0x01, b"t")] {
        block.push(name);
        block.push(u8::try_from(value.len()).expect("short value"));
        block.extend_from_slice(value);
    }
    block.extend(h2_padding(padding));
    block
}

/// An HPACK literal header `x-pad` of `len` bytes (lengths as HPACK integers with a
/// 7-bit prefix), nothing when `len` is 0.
fn h2_padding(len: usize) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    let mut block = vec![0x00, 0x05];
    block.extend(b"x-pad");
    if len < 127 {
        block.push(len as u8);
    } else {
        block.push(127);
        let mut rest = len - 127;
        while rest >= 128 {
            block.push((rest % 128) as u8 | 0x80);
            rest /= 128;
        }
        block.push(rest as u8);
    }
    block.extend(std::iter::repeat_n(b'a', len));
    block
}

/// What a raw HTTP/2 client saw of the server until the connection closed.
#[derive(Debug, Default)]
struct H2Seen {
    /// The error codes of the GOAWAY frames received.
    goaways: Vec<u32>,
    /// When the first GOAWAY arrived.
    first_goaway: Option<Instant>,
    /// Streams a response's HEADERS arrived on.
    responses: Vec<u32>,
    /// Data received per stream, in order.
    data: Vec<(u32, Vec<u8>)>,
    /// When the connection closed (EOF or reset), if it did within the reader's limit.
    closed: Option<Instant>,
}

/// Reads the server's frames until the connection closes or `limit` passes.
async fn read_h2_frames(mut reader: tokio::net::tcp::OwnedReadHalf, limit: Duration) -> H2Seen {
    use tokio::io::AsyncReadExt;
    let mut seen = H2Seen::default();
    let _ = tokio::time::timeout(limit, async {
        loop {
            let mut head = [0u8; 9];
            if reader.read_exact(&mut head).await.is_err() {
                break;
            }
            let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
            let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            let mut payload = vec![0u8; len];
            if reader.read_exact(&mut payload).await.is_err() {
                break;
            }
            match head[3] {
                H2_GOAWAY if payload.len() >= 8 => {
                    seen.goaways.push(u32::from_be_bytes([
                        payload[4], payload[5], payload[6], payload[7],
                    ]));
                    seen.first_goaway.get_or_insert_with(Instant::now);
                }
                H2_HEADERS => seen.responses.push(stream),
                H2_DATA => seen.data.push((stream, payload)),
                _ => {}
            }
        }
        seen.closed = Some(Instant::now());
    })
    .await;
    seen
}

#[tokio::test]
async fn http2_header_blocks_dripped_slowly_are_cut_off_by_the_header_timeout() {
    let header = Duration::from_millis(500);
    let server = Server::start(ServeConfig {
        header_timeout: Some(header),
        ..relaxed()
    })
    .await;
    // A HEADERS frame whose bytes drip; and a complete HEADERS frame without END_HEADERS
    // followed by a CONTINUATION frame that drips (kept to one frame: the HTTP/2 library
    // itself refuses a flood of small CONTINUATION frames).
    let block = h2_get("/ok", 200);
    let dripped_headers = h2_frame(H2_HEADERS, END_STREAM | END_HEADERS, 1, &block);
    let mut unfinished = h2_frame(H2_HEADERS, END_STREAM, 1, &h2_get("/ok", 0));
    let continuation = h2_frame(H2_CONTINUATION, END_HEADERS, 1, &h2_padding(200));
    let split = unfinished.len() + 9;
    unfinished.extend(continuation);
    for (case, bytes, sent_at_once) in [
        ("a dripped HEADERS frame", dripped_headers, 0),
        ("an unfinished header block", unfinished, split),
    ] {
        let stream = TcpStream::connect(server.addr).await.expect("connect");
        let (reader, mut writer) = stream.into_split();
        let frames = tokio::spawn(read_h2_frames(reader, Duration::from_secs(30)));
        writer.write_all(&h2_preface()).await.expect("preface");
        let started = Instant::now();
        writer
            .write_all(&bytes[..sent_at_once])
            .await
            .expect("write");
        // One byte every 100 ms: the block would take 20 s or more to complete.
        for byte in &bytes[sent_at_once..] {
            if frames.is_finished() || writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let seen = frames.await.expect("reader");
        let closed = seen
            .closed
            .unwrap_or_else(|| panic!("{case}: kept open: {seen:?}"));
        assert!(
            closed.duration_since(started) >= header,
            "{case}: closed before the header timeout"
        );
        assert!(
            closed.duration_since(started) < Duration::from_secs(10),
            "{case}: closed only after {:?}",
            closed.duration_since(started)
        );
        // Cut off by kgate (GOAWAY with NO_ERROR), not refused by the HTTP/2 library.
        assert_eq!(seen.goaways.first(), Some(&0), "{case}: {seen:?}");
        assert!(seen.responses.is_empty(), "{case}: the request was served");
    }
    // The preface itself, dripped, is held to the header timeout like an HTTP/1 head.
    let mut dripping = TcpStream::connect(server.addr).await.expect("connect");
    let started = Instant::now();
    let cut_off = drip_until_cut_off(
        &mut dripping,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".iter().copied(),
        Duration::from_secs(20),
    )
    .await;
    assert!(cut_off, "a dripped preface was kept open");
    assert!(
        started.elapsed() >= header,
        "cut off before the header timeout"
    );
    // Other clients are still served.
    server.assert_serves_new_clients().await;
    server.stop().await;
}

#[tokio::test]
async fn an_idle_http2_connection_is_held_to_the_idle_timeout_not_the_header_timeout() {
    let idle = Duration::from_millis(1500);
    let server = Server::start(ServeConfig {
        header_timeout: Some(Duration::from_millis(200)),
        idle_timeout: Some(idle),
        ..relaxed()
    })
    .await;
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (reader, mut writer) = stream.into_split();
    let frames = tokio::spawn(read_h2_frames(reader, Duration::from_secs(30)));
    let opened = Instant::now();
    writer.write_all(&h2_preface()).await.expect("preface");
    // PINGs are not requests: they neither start the header clock nor keep the
    // connection from being idle.
    while !frames.is_finished() && opened.elapsed() < Duration::from_secs(20) {
        let ping = h2_frame(H2_PING, 0, 0, &[7; 8]);
        if writer.write_all(&ping).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = frames.await.expect("reader");
    let closed = seen.closed.expect("closed by the idle timeout");
    assert!(
        closed.duration_since(opened) >= idle,
        "closed after {:?}, before the idle timeout",
        closed.duration_since(opened)
    );
    assert_eq!(seen.goaways.first(), Some(&0), "{seen:?}");
    server.stop().await;
}

#[tokio::test]
async fn http2_requests_in_flight_finish_when_a_header_block_is_cut_off() {
    let header = Duration::from_millis(500);
    let server = Server::start(ServeConfig {
        header_timeout: Some(header),
        ..relaxed()
    })
    .await;
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (reader, mut writer) = stream.into_split();
    let frames = tokio::spawn(read_h2_frames(reader, Duration::from_secs(30)));
    writer.write_all(&h2_preface()).await.expect("preface");
    writer
        .write_all(&h2_frame(
            H2_HEADERS,
            END_STREAM | END_HEADERS,
            1,
            &h2_get("/slow", 0),
        ))
        .await
        .expect("request");
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.slow_entered.load(Ordering::SeqCst) < 1 {
        assert!(
            Instant::now() < deadline,
            "the request never reached its handler"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A second request whose header block never ends, while the first is in flight.
    let started = Instant::now();
    writer
        .write_all(&h2_frame(H2_HEADERS, END_STREAM, 3, &h2_get("/ok", 0)))
        .await
        .expect("unfinished block");
    // Well past the header timeout, the first request is answered all the same.
    tokio::time::sleep(header * 3).await;
    server.release.notify_waiters();
    let seen = frames.await.expect("reader");
    let goaway = seen.first_goaway.expect("a GOAWAY");
    assert!(goaway.duration_since(started) >= header, "{seen:?}");
    assert_eq!(seen.goaways.first(), Some(&0), "{seen:?}");
    assert_eq!(seen.responses, vec![1], "{seen:?}");
    let body: Vec<u8> = seen
        .data
        .iter()
        .filter(|(s, _)| *s == 1)
        .flat_map(|(_, d)| d.clone())
        .collect();
    assert_eq!(body, b"done");
    let closed = seen.closed.expect("closed once the request finished");
    assert!(closed.duration_since(started) < Duration::from_secs(10));
    server.stop().await;
}

#[tokio::test]
async fn an_ordinary_http2_client_keeps_its_connection_across_requests() {
    // Timeouts short enough to cut off a well-behaved client if they were misapplied.
    let server = Server::start(ServeConfig {
        header_timeout: Some(Duration::from_millis(300)),
        idle_timeout: Some(Duration::from_secs(2)),
        body_timeout: Some(Duration::from_millis(300)),
        ..relaxed()
    })
    .await;
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (client, connection) = h2::client::handshake(tcp).await.expect("handshake");
    let connection = tokio::spawn(connection);
    let request = |method: &str, path: &str| {
        http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", server.addr))
            .body(())
            .expect("request")
    };
    let mut client = client.ready().await.expect("ready");
    // Requests one after another, with pauses longer than the header timeout between
    // them; a POST whose body comes in two pieces; then several at once.
    for round in 0..4 {
        let (response, _) = client
            .send_request(request("GET", "/ok"), true)
            .expect("send");
        let response = response.await.expect("response");
        assert_eq!(response.status(), 200, "round {round}");
        let mut body = response.into_body();
        let data = body.data().await.expect("data").expect("data");
        assert_eq!(&data[..], b"ok");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (response, mut upload) = client
        .send_request(request("POST", "/echo"), false)
        .expect("send");
    upload
        .send_data(bytes::Bytes::from_static(b"hello "), false)
        .expect("data");
    tokio::time::sleep(Duration::from_millis(100)).await;
    upload
        .send_data(bytes::Bytes::from_static(b"world"), true)
        .expect("data");
    let response = response.await.expect("response");
    assert_eq!(response.status(), 200);
    let data = response
        .into_body()
        .data()
        .await
        .expect("data")
        .expect("data");
    assert_eq!(&data[..], b"11");
    let mut pending = Vec::new();
    for _ in 0..5 {
        client = client.ready().await.expect("ready");
        let (response, _) = client
            .send_request(request("GET", "/sleep"), true)
            .expect("send");
        pending.push(response);
    }
    for response in pending {
        assert_eq!(response.await.expect("response").status(), 200);
    }
    assert!(
        !connection.is_finished(),
        "the connection was closed under the client"
    );
    drop(client);
    server.stop().await;
}

/// A connection to `addr` whose receive buffer is small, so that a response it does not
/// read fills the buffers on the way quickly.
async fn small_buffer_connection(addr: std::net::SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.connect(addr).await.expect("connect")
}

/// Waits up to `limit` for `count` to reach `n`; whether it did.
async fn reaches(count: &std::sync::atomic::AtomicUsize, n: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while count.load(Ordering::SeqCst) < n {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

#[tokio::test]
async fn a_client_that_stops_reading_a_response_is_cut_off_after_the_body_timeout() {
    let timeout = Duration::from_secs(1);
    let server = Server::start(ServeConfig {
        body_timeout: Some(timeout),
        ..relaxed()
    })
    .await;
    let mut stalled = small_buffer_connection(server.addr).await;
    let asked = Instant::now();
    stalled
        .write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    // The client reads nothing: once the buffers are full kgate can write no more, and
    // after the timeout it drops the connection and the response's body.
    assert!(
        reaches(&server.big_dropped, 1, timeout + Duration::from_secs(10)).await,
        "a response nobody reads held its connection"
    );
    assert!(
        asked.elapsed() >= timeout,
        "cut off after {:?}, before the timeout",
        asked.elapsed()
    );
    // What the buffers held arrives, then the end: far less than the whole answer.
    let mut received = 0;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match tokio::io::AsyncReadExt::read(&mut stalled, &mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received += n,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection was not closed");
    assert!(received < common::BIG, "the whole answer was sent");
    // Other clients are served as before.
    server.assert_serves_new_clients().await;
    server.stop().await;
}

#[tokio::test]
async fn a_client_reading_slowly_but_steadily_gets_its_whole_response() {
    let timeout = Duration::from_secs(1);
    let server = Server::start(ServeConfig {
        body_timeout: Some(timeout),
        ..relaxed()
    })
    .await;
    // More than the system's largest send buffer (4 MiB by default on Linux) and the
    // client's small receive buffer hold: kgate's writes wait on the client for most of
    // the slow phase below, far longer than the timeout.
    const BYTES: usize = 16 << 20;
    let mut slow = small_buffer_connection(server.addr).await;
    slow.write_all(
        format!("GET /big?bytes={BYTES} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .expect("write");
    // 4 KiB every 100 ms (40 KB/s) for four times the timeout: kgate waits on the
    // client the whole time, but never a whole timeout without writing a byte.
    let mut answer = Vec::new();
    let reading = Instant::now();
    let mut buf = vec![0u8; 4096];
    while reading.elapsed() < timeout * 4 {
        let n = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::io::AsyncReadExt::read(&mut slow, &mut buf),
        )
        .await
        .expect("data keeps coming")
        .expect("read");
        assert!(n > 0, "cut off after {:?}", reading.elapsed());
        answer.extend_from_slice(&buf[..n]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answer.len() < BYTES, "the test read too fast to be slow");
    assert_eq!(server.big_dropped.load(Ordering::SeqCst), 0);
    // Then the rest, all of it.
    let rest = read_until_closed(&mut slow, Duration::from_secs(20)).await;
    answer.extend_from_slice(rest.as_bytes());
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body.len(), BYTES, "the whole body");
    assert_eq!(server.big_dropped.load(Ordering::SeqCst), 0);
    server.stop().await;
}

#[tokio::test]
async fn the_slot_of_a_client_that_stops_reading_is_freed_when_it_is_cut_off() {
    let timeout = Duration::from_secs(1);
    let server = Server::start(ServeConfig {
        body_timeout: Some(timeout),
        connection_limit: Some(2),
        ..relaxed()
    })
    .await;
    // Two clients that ask for a large answer and never read take both slots: neither
    // is idle, so a third client is refused.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut stream = small_buffer_connection(server.addr).await;
        stream
            .write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .expect("write");
        stalled.push(stream);
    }
    let refused_at = Instant::now();
    let answer = raw_exchange(server.addr, b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let (status, _) = status_and_json(&answer);
    assert_eq!(status, 503, "{answer}");
    // Once they are cut off their slots are free and a new client is served.
    assert!(
        reaches(&server.big_dropped, 2, timeout + Duration::from_secs(10)).await,
        "the stalled clients were kept"
    );
    let answer = raw_exchange(
        server.addr,
        b"GET /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(refused_at.elapsed() < timeout + Duration::from_secs(10));
    drop(stalled);
    server.stop().await;
}

/// Asks for `path` (a `/big` answer) over a new HTTP/2 connection: its response head,
/// the task driving the connection, and the client's handle (held, so that the connection
/// ends only when the server ends it, not when the client has nothing left to ask).
async fn h2_get_big(
    server: &Server,
    path: &str,
) -> (
    http::Response<h2::RecvStream>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
    h2::client::SendRequest<bytes::Bytes>,
) {
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (client, connection) = h2::client::handshake(tcp).await.expect("handshake");
    let connection = tokio::spawn(connection);
    let mut client = client.ready().await.expect("ready");
    let request = http::Request::builder()
        .uri(format!("http://{}{path}", server.addr))
        .body(())
        .expect("request");
    let (response, _) = client.send_request(request, true).expect("send");
    let response = response.await.expect("response");
    assert_eq!(response.status(), 200);
    (response, connection, client)
}

#[tokio::test]
async fn an_http2_client_that_stops_reading_a_response_is_cut_off_after_the_body_timeout() {
    let timeout = Duration::from_secs(1);
    let server = Server::start(ServeConfig {
        body_timeout: Some(timeout),
        ..relaxed()
    })
    .await;
    // An HTTP/2 client that keeps reading its socket but never releases the window of
    // its response: kgate sends one window's worth, then waits with its socket empty.
    let asked = Instant::now();
    let (response, connection, _client) = h2_get_big(&server, "/big").await;
    assert!(
        reaches(&server.big_dropped, 1, timeout + Duration::from_secs(10)).await,
        "a response nobody reads held its connection"
    );
    assert!(
        asked.elapsed() >= timeout,
        "cut off after {:?}, before the timeout",
        asked.elapsed()
    );
    // The connection is closed, not just the stream.
    let closed = tokio::time::timeout(Duration::from_secs(10), connection).await;
    assert!(closed.is_ok(), "the connection was kept open");
    drop(response);
    server.stop().await;
}

#[tokio::test]
async fn an_http2_client_reading_slowly_but_steadily_gets_its_whole_response() {
    let timeout = Duration::from_secs(1);
    let server = Server::start(ServeConfig {
        body_timeout: Some(timeout),
        ..relaxed()
    })
    .await;
    const BYTES: usize = 192 << 10;
    let (response, _connection, _client) =
        h2_get_big(&server, &format!("/big?bytes={BYTES}")).await;
    // 4 KiB of window every 100 ms (40 KB/s, five seconds in all): kgate waits on the
    // client's window the whole time, longer than the timeout for each 64 KiB piece
    // of the body, but never a whole timeout without sending a byte.
    let mut body = response.into_body();
    let started = Instant::now();
    let mut received = 0;
    let mut unreleased = 0;
    while let Some(data) = body.data().await {
        let data = data.unwrap_or_else(|e| {
            panic!(
                "cut off after {:?}, {received} bytes: {e}",
                started.elapsed()
            )
        });
        received += data.len();
        unreleased += data.len();
        while unreleased > 0 {
            let n = unreleased.min(4 << 10);
            body.flow_control().release_capacity(n).expect("release");
            unreleased -= n;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(received, BYTES, "the whole body");
    assert!(started.elapsed() > timeout * 2, "the test read too fast");
    assert_eq!(server.big_dropped.load(Ordering::SeqCst), 0);
    server.stop().await;
}
