//! Serving a router over TCP: HTTP/1.1 and h2c (HTTP/2 with prior knowledge) on one port,
//! with the timeouts and the per-listener connection limit of [`ServeConfig`], and a
//! graceful shutdown that lets in-flight requests finish.
//!
//! kgate drives hyper itself rather than through `axum::serve` because axum's server has
//! no timeouts, no connection limit and no HTTP/2 without prior configuration, and these
//! are what keep one client from starving the others (issue 13).

mod body;
mod connections;
mod incoming;
mod io;

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

use self::body::{StallGuard, Stalled, TrackedBody};
use self::connections::{CloseReason, ConnState, Connections};
use self::io::WatchedIo;

/// How a listener treats its connections. `None` switches a timeout or the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeConfig {
    /// Longest time from the first byte of a request to the end of its headers
    /// (`http.header.timeout.ms`): a client dripping its headers is cut off.
    pub header_timeout: Option<Duration>,
    /// Longest wait for the next piece of a body, in both directions
    /// (`http.body.timeout.ms`): a request body that stalls while a handler reads it is
    /// answered 408, and a connection whose output waits this long for a client that
    /// does not read it (full socket or HTTP/2 window), with no byte written or taken
    /// by the client, is closed with its requests in flight. One setting rather than a
    /// separate write timeout: both bound a body that stops moving.
    pub body_timeout: Option<Duration>,
    /// How long a connection with no request in progress stays open (`idle.timeout.ms`),
    /// counted from its opening or the end of its last response.
    pub idle_timeout: Option<Duration>,
    /// Most connections one listener holds open at once (`server.connection.limit`).
    pub connection_limit: Option<usize>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            header_timeout: Some(Duration::from_secs(10)),
            body_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(30)),
            connection_limit: Some(default_connection_limit()),
        }
    }
}

/// The connection limit used when none is configured: an eighth of the process's
/// open-file limit per listener, so that several listeners, the Kafka clients and the
/// embedded broker's files still fit when every listener is full.
pub fn default_connection_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let files = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    } else {
        1024
    };
    (files / 8).clamp(16, 100_000)
}

/// The configuration [`serve`] uses, set once by the program (see
/// [`set_process_serve_config`]).
static PROCESS_CONFIG: RwLock<Option<ServeConfig>> = RwLock::new(None);

/// Sets the configuration every later [`serve`] call uses. The faces' own `serve`
/// functions take no HTTP settings; the binary sets them here once, before starting any
/// face, so REST, registry and every face to come share them.
pub fn set_process_serve_config(config: ServeConfig) {
    let mut slot = PROCESS_CONFIG.write().unwrap_or_else(|e| e.into_inner());
    *slot = Some(config);
}

/// The configuration set by [`set_process_serve_config`], else the defaults.
pub fn process_serve_config() -> ServeConfig {
    let slot = PROCESS_CONFIG.read().unwrap_or_else(|e| e.into_inner());
    slot.unwrap_or_default()
}

/// Serves `router` on `listener` with the process's [`ServeConfig`] until `shutdown`
/// completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, process_serve_config(), shutdown).await
}

/// The service every connection calls: the router behind the layers `serve` adds.
type App = BoxCloneSyncService<Request, Response, Infallible>;

/// How many refused connections may at once be answered 503 and given a moment to read
/// it; past that a refused connection is closed without an answer.
const REFUSALS_ANSWERED: usize = 64;

/// The largest header list an HTTP/2 request may have, in bytes (hyper's default).
const H2_MAX_HEADER_LIST_SIZE: u32 = 16 * 1024;
/// How many HTTP/2 streams one connection may have open at once (hyper's default).
const H2_MAX_CONCURRENT_STREAMS: u32 = 200;

/// [`serve`] with an explicit configuration.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(router);
    let connections = Connections::new(config.connection_limit);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // kgate's own header timeout (see `connections`) covers the time before the
        // first byte as well as hyper's would, and can tell idle from slow.
        .header_read_timeout(None)
        // A client may send its request and shut its sending side (SHUT_WR) while it
        // waits: the response must still go out.
        .half_close(true);
    // hyper's own defaults, stated so that the README's figures hold: what one HTTP/2
    // connection may hold in headers and streams at once. A header block's time is
    // bounded by kgate (see `incoming`), its size here.
    builder
        .http2()
        .max_header_list_size(H2_MAX_HEADER_LIST_SIZE)
        .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS);
    let builder = Arc::new(builder);
    let refusals = Arc::new(Semaphore::new(REFUSALS_ANSWERED));
    let (stop, stopping) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut accept_trouble = AcceptTrouble::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Without TCP_NODELAY the last small segment of a response waits for
                    // the client's delayed ACK (Nagle): measured as a 40-50 ms stall
                    // between consecutive v2 reads.
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
                    }
                    match connections.admit() {
                        Some(slot) => {
                            tasks.spawn(run_connection(
                                builder.clone(),
                                stream,
                                slot,
                                app.clone(),
                                config,
                                stopping.clone(),
                            ));
                        }
                        None => {
                            tracing::warn!(%peer, limit = config.connection_limit, "connection limit reached; connection refused with 503");
                            refuse(stream, &refusals, config.connection_limit.unwrap_or(0));
                        }
                    }
                }
                Err(e) => accept_trouble.handle(e, &connections).await,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    // New connections are refused by the system from here on; open ones finish the
    // request in hand and close (idle ones at once).
    drop(listener);
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// The router behind the layers every face gets from `serve`, whatever it added itself.
fn app(router: Router) -> App {
    // Confluent's examples use paths with and without a trailing slash
    // (`POST /consumers/testgroup/`); both must reach the same route.
    let router =
        tower_http::normalize_path::NormalizePathLayer::trim_trailing_slash().layer(router);
    let inner = tower_http::catch_panic::CatchPanicLayer::custom(crate::panics::PanicResponse)
        .layer(router);
    let inner = ServiceExt::<Request>::map_response(inner, |response| response.map(Body::new));
    let service = axum::middleware::map_response(crate::envelope::ensure_envelope).layer(inner);
    BoxCloneSyncService::new(service)
}

/// Serves one connection until it closes, is upgraded (WebSocket), times out, is evicted
/// to make room, or the server stops.
async fn run_connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    stream: TcpStream,
    slot: connections::Slot,
    app: App,
    config: ServeConfig,
    mut stopping: watch::Receiver<bool>,
) {
    let state = slot.state();
    let service = Tracked {
        app,
        state: state.clone(),
        body_timeout: config.body_timeout,
    };
    let io = TokioIo::new(WatchedIo::new(stream, slot));
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let mut shutting_down = None;
    loop {
        let event = tokio::select! {
            served = connection.as_mut() => Event::Ended(served.err()),
            reason = connections::watchdog(&state, &config, shutting_down) => Event::Close(reason),
            _ = stopping.wait_for(|stop| *stop), if shutting_down.is_none() => Event::Stop,
        };
        match event {
            Event::Ended(error) => {
                if let Some(e) = error {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            Event::Close(CloseReason::WriteStall) => {
                // Nothing more can be written, a GOAWAY or a last response included:
                // the connection is dropped at once, and with it the bodies of its
                // requests in flight (a consumer read gives its undelivered records
                // back when its body is dropped).
                tracing::debug!(
                    reason = CloseReason::WriteStall.as_str(),
                    "closing connection"
                );
                break;
            }
            Event::Close(reason) => {
                tracing::debug!(reason = reason.as_str(), "closing connection");
                connection.as_mut().graceful_shutdown();
                // An idle HTTP/1 connection closes at once and HTTP/2 says GOAWAY; one
                // stuck in a request's headers is dropped a moment later. An HTTP/2
                // connection cut off for a header block may have other requests in
                // flight: they finish first (their handlers and the body timeout bound
                // them), and no new request is taken.
                let closing = async {
                    state.requests_done().await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                };
                tokio::select! {
                    _ = connection.as_mut() => {}
                    () = closing => {}
                }
                break;
            }
            Event::Stop => {
                shutting_down = Some(Instant::now());
                connection.as_mut().graceful_shutdown();
            }
        }
    }
    state.finish();
}

/// What ends a turn of a connection's loop.
enum Event {
    /// The connection closed or was upgraded, with the error if any.
    Ended(Option<Box<dyn std::error::Error + Send + Sync>>),
    /// The server closes it.
    Close(CloseReason),
    /// The server is shutting down.
    Stop,
}

/// The per-connection service: counts requests in flight for the idle timeout and the
/// eviction of idle connections, guards the request body against stalls, and hands the
/// request to the app.
#[derive(Clone)]
struct Tracked {
    app: App,
    state: Arc<ConnState>,
    body_timeout: Option<Duration>,
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let in_flight = self.state.request_started();
        let state = self.state.clone();
        let app = self.app.clone();
        let body_timeout = self.body_timeout;
        Box::pin(async move {
            let (request, stalled) = match body_timeout {
                Some(timeout) => {
                    let stalled = Stalled::default();
                    let request =
                        request.map(|b| Body::new(StallGuard::new(b, timeout, stalled.clone())));
                    (request, Some((stalled, timeout)))
                }
                None => (request.map(Body::new), None),
            };
            let response = match app.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let response = match stalled {
                Some((stalled, timeout)) if stalled.is_set() => body::stalled_response(timeout),
                _ => response,
            };
            Ok(response.map(|b| Body::new(TrackedBody::new(b, state, in_flight))))
        })
    }
}

/// Answers a connection over the limit with 503 in the envelope and closes it, after
/// giving the client a moment to read the answer (closing with its request unread would
/// reset the connection and lose the answer).
fn refuse(mut stream: TcpStream, refusals: &Arc<Semaphore>, limit: usize) {
    let body = crate::envelope::envelope_body(
        http::StatusCode::SERVICE_UNAVAILABLE,
        &format!(
            "Too many connections: this listener serves at most {limit} at once; try again later"
        ),
    );
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        // Too many refusals in progress: a best-effort answer, then close.
        let _ = stream.try_write(answer.as_bytes());
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(answer.as_bytes()).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 1024];
            while stream.read(&mut sink).await? > 0 {}
            std::io::Result::Ok(())
        })
        .await;
    });
}

/// What the accept loop does when `accept` fails, so that it never stops accepting.
#[derive(Default)]
struct AcceptTrouble {
    last_warning: Option<Instant>,
}

impl AcceptTrouble {
    /// How often the same trouble is logged: under fd exhaustion accept fails many times a
    /// second.
    const LOG_EVERY: Duration = Duration::from_secs(5);

    async fn handle(&mut self, error: std::io::Error, connections: &Connections) {
        use std::io::ErrorKind::*;
        // A connection that went away between the system's accept and ours.
        if matches!(
            error.kind(),
            ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
        ) {
            return;
        }
        let out_of_files = matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
        let freed = out_of_files && connections.evict_oldest_idle();
        if self
            .last_warning
            .is_none_or(|at| at.elapsed() >= Self::LOG_EVERY)
        {
            self.last_warning = Some(Instant::now());
            if out_of_files {
                tracing::warn!(error = %error, closed_an_idle_connection = freed, "out of file descriptors; accepting again shortly");
            } else {
                tracing::warn!(error = %error, "accept failed; accepting again shortly");
            }
        }
        // The evicted connection needs a moment to close and free its descriptor; without
        // one, wait longer for others to close.
        let pause = if freed { 10 } else { 100 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}
