//! The HTTP load generator: hyper 1 client connections on tokio, request bodies encoded
//! before the clock starts, latencies per request (or per record when streaming).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Body, Frame};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::stats::Run;

/// Longest one request may take before the workload is called failed.
const REQUEST_DEADLINE: Duration = Duration::from_secs(60);

/// Opens one keep-alive HTTP/1.1 connection.
pub async fn connect<B>(addr: SocketAddr) -> Result<SendRequest<B>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await.context("connect")?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake")?;
    tokio::spawn(async move {
        // The connection ends when the sender is dropped; errors then are expected.
        let _ = connection.await;
    });
    Ok(sender)
}

/// A request sent over and over: method, path, headers and a pre-encoded body.
#[derive(Clone)]
pub struct Template {
    /// GET or POST.
    pub method: Method,
    /// Origin-form path and query.
    pub path: String,
    /// Content-Type, for requests with a body.
    pub content_type: Option<&'static str>,
    /// Accept.
    pub accept: &'static str,
    /// The body (empty for GET).
    pub body: Bytes,
}

impl Template {
    fn request(&self) -> Result<Request<Full<Bytes>>> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str())
            .header(header::HOST, "kgate")
            .header(header::ACCEPT, self.accept);
        if let Some(ct) = self.content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        Ok(builder.body(Full::new(self.body.clone()))?)
    }
}

/// Sends one request and returns its status and whole body.
pub async fn call(
    sender: &mut SendRequest<Full<Bytes>>,
    template: &Template,
) -> Result<(StatusCode, Bytes)> {
    let exchange = async {
        sender.ready().await?;
        let response = sender.send_request(template.request()?).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body))
    };
    tokio::time::timeout(REQUEST_DEADLINE, exchange)
        .await
        .context("request timed out")?
}

/// Like [`call`] for an answer that can be large: counts the occurrences of `byte` in the
/// body as its frames arrive instead of collecting it first (a 64 MiB read collected and
/// then scanned kept the gateway waiting for the load generator). The body is kept only
/// when the status is not 200, for the error message.
pub async fn call_counting(
    sender: &mut SendRequest<Full<Bytes>>,
    template: &Template,
    byte: u8,
) -> Result<(StatusCode, u64, Vec<u8>)> {
    let exchange = async {
        sender.ready().await?;
        let response = sender.send_request(template.request()?).await?;
        let status = response.status();
        let mut body = response.into_body();
        let mut count = 0u64;
        let mut kept = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame?.data_ref() {
                count += memchr::memchr_iter(byte, data).count() as u64;
                if status != StatusCode::OK {
                    kept.extend_from_slice(data);
                }
            }
        }
        anyhow::Ok((status, count, kept))
    };
    tokio::time::timeout(REQUEST_DEADLINE, exchange)
        .await
        .context("request timed out")?
}

/// How a produce answer is checked: how many records it reports failed.
pub type Check = fn(StatusCode, &[u8]) -> u64;

/// `connections` connections each send `template` `per_connection` times, one request at
/// a time; every request carries `records_per_request` records of `value_size` bytes.
pub async fn closed_loop(
    addr: SocketAddr,
    connections: usize,
    per_connection: u64,
    template: Template,
    records_per_request: u64,
    value_size: usize,
    check: Check,
) -> Result<Run> {
    // All connections are open before the clock starts.
    let mut senders = Vec::with_capacity(connections);
    for group in (0..connections).collect::<Vec<_>>().chunks(100) {
        let opened = futures::future::join_all(group.iter().map(|_| connect(addr))).await;
        for s in opened {
            senders.push(s?);
        }
    }
    let template = Arc::new(template);
    let started = Instant::now();
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|mut sender| {
            let template = template.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_connection as usize);
                let mut failed = 0u64;
                for done in 0..per_connection {
                    let sent = Instant::now();
                    match call(&mut sender, &template).await {
                        Ok((status, body)) => {
                            latencies.push(sent.elapsed().as_micros() as u32);
                            failed += check(status, &body);
                        }
                        Err(e) => {
                            // The connection's state is unknown now: what it had left to
                            // send counts as failed, and the workload goes on without it.
                            eprintln!("a connection gave up: {e:#}");
                            failed += (per_connection - done) * records_per_request;
                            break;
                        }
                    }
                }
                anyhow::Ok((latencies, failed))
            })
        })
        .collect();
    let mut run = Run::default();
    for task in tasks {
        let (latencies, failed) = task.await??;
        run.latencies_us.extend(latencies);
        run.errors += failed;
    }
    run.elapsed = started.elapsed();
    let requests = connections as u64 * per_connection;
    run.records = requests * records_per_request - run.errors.min(requests * records_per_request);
    run.bytes = run.records * value_size as u64;
    Ok(run)
}

/// v2 produce answers: non-200 fails every record; otherwise each `"error":"..."` entry
/// is one failed record.
pub fn check_v2(status: StatusCode, body: &[u8]) -> u64 {
    if status != StatusCode::OK {
        return u64::MAX / 2;
    }
    count(body, b"\"error\":\"")
}

/// v3 single-record answers: anything but 200 is a failure.
pub fn check_v3(status: StatusCode, _body: &[u8]) -> u64 {
    u64::from(status != StatusCode::OK)
}

fn count(haystack: &[u8], needle: &[u8]) -> u64 {
    memchr::memmem::find_iter(haystack, needle).count() as u64
}

/// Counts the occurrences of one pattern in bytes that arrive in pieces, a match split
/// between two pieces included (SIMD search: the load generator must stay cheap next to the
/// gateway it measures).
struct PatternCounter {
    finder: memchr::memmem::Finder<'static>,
    /// The end of the bytes seen so far, shorter than the pattern: where a match split
    /// between pieces starts.
    carry: Vec<u8>,
    joined: Vec<u8>,
}

impl PatternCounter {
    fn new(pattern: &'static [u8]) -> Self {
        PatternCounter {
            finder: memchr::memmem::Finder::new(pattern),
            carry: Vec::new(),
            joined: Vec::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> u64 {
        self.joined.clear();
        self.joined.extend_from_slice(&self.carry);
        self.joined.extend_from_slice(bytes);
        let found = self.finder.find_iter(&self.joined).count() as u64;
        let keep = (self.finder.needle().len() - 1).min(self.joined.len());
        self.carry.clear();
        self.carry
            .extend_from_slice(&self.joined[self.joined.len() - keep..]);
        found
    }
}

/// v3 streaming produce: `connections` long-lived chunked requests, each streaming
/// `chunks` (pre-encoded, `records_per_chunk` records each) and reading delivery reports
/// as they come; latency is per record, from when its chunk was handed to the connection
/// to when its report arrived.
pub async fn streaming(
    addr: SocketAddr,
    path: String,
    per_connection: Vec<Vec<Bytes>>,
    records_per_chunk: usize,
    value_size: usize,
) -> Result<Run> {
    type Chunks = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<Frame<Bytes>, std::convert::Infallible>> + Send>,
    >;
    let mut senders = Vec::new();
    for _ in &per_connection {
        senders.push(connect::<StreamBody<Chunks>>(addr).await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (mut sender, chunks) in senders.into_iter().zip(per_connection) {
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let expected = chunks.len() * records_per_chunk;
            let sent_at: Arc<Vec<AtomicU64>> =
                Arc::new((0..chunks.len()).map(|_| AtomicU64::new(0)).collect());
            let base = Instant::now();
            let stamps = sent_at.clone();
            let body: Chunks = Box::pin(futures::stream::iter(chunks.into_iter().enumerate().map(
                move |(i, chunk)| {
                    stamps[i].store(base.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    Ok(Frame::data(chunk))
                },
            )));
            let request = Request::builder()
                .method(Method::POST)
                .uri(path)
                .header(header::HOST, "kgate")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json")
                .header(header::TRANSFER_ENCODING, "chunked")
                .body(StreamBody::new(body))?;
            sender.ready().await?;
            let response = tokio::time::timeout(REQUEST_DEADLINE, sender.send_request(request))
                .await
                .context("streaming request timed out")??;
            if response.status() != StatusCode::OK {
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                bail!(
                    "streaming produce answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            let mut body = response.into_body();
            // Every report starts with its error code, which kgate writes first.
            let mut reports = PatternCounter::new(b"{\"error_code\":");
            let mut successes = PatternCounter::new(b"{\"error_code\":200,");
            let mut latencies = Vec::with_capacity(expected);
            let mut seen = 0usize;
            let mut succeeded = 0u64;
            while let Some(frame) = tokio::time::timeout(REQUEST_DEADLINE, body.frame())
                .await
                .context("no report in time")?
            {
                let frame = frame?;
                let Some(data) = frame.data_ref() else {
                    continue;
                };
                let now = base.elapsed().as_nanos() as u64;
                let arrived = reports.feed(data) as usize;
                // A report's start may be split differently between frames for the two
                // patterns, so failures are counted once all reports are in.
                succeeded += successes.feed(data);
                for _ in 0..arrived {
                    let chunk = seen / records_per_chunk;
                    if let Some(sent) = sent_at.get(chunk) {
                        let sent = sent.load(Ordering::Relaxed);
                        latencies.push((now.saturating_sub(sent) / 1000) as u32);
                    }
                    seen += 1;
                }
            }
            if seen != expected {
                bail!("a stream reported {seen} of {expected} records");
            }
            let failed = (seen as u64).saturating_sub(succeeded);
            anyhow::Ok((latencies, failed))
        }));
    }
    let mut run = Run::default();
    let mut total = 0u64;
    for task in tasks {
        let (latencies, failed) = task.await??;
        total += latencies.len() as u64;
        run.latencies_us.extend(latencies);
        run.errors += failed;
    }
    run.elapsed = started.elapsed();
    run.records = total - run.errors.min(total);
    run.bytes = run.records * value_size as u64;
    Ok(run)
}
