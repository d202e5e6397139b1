//! `/socket/in`: a producer socket. Each frame becomes a record produced with acks=all
//! and idempotence; each record gets one result frame, in the order the frames came,
//! once Kafka has it (with `transactional=true`, once its transaction is committed). A
//! frame that cannot be made into a record gets an error frame in its place.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::stream::SplitSink;
use futures::{FutureExt, SinkExt, StreamExt};
use kgate_kafka::{Delivered, DeliveryQueue, KafkaError, OwnProducer};

use crate::WsState;
use crate::auth;
use crate::error::WsError;
use crate::frames::{self, BadFrame};
use crate::limits::{ClientKind, RateLimiter};
use crate::params::{InParams, Query};
use crate::sessions::{Refusal, Sessions};

/// Records in flight on one socket before kgate stops reading its frames (TCP then
/// slows the client down).
const MAX_IN_FLIGHT: usize = 8192;

/// Most records in one transaction of a transactional socket.
const MAX_TRANSACTION_RECORDS: usize = 1000;

/// Close code: normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code: the server is going away (shutdown).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code: a frame too large to process.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code: an internal error (e.g. Kafka refused the socket's records).
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;

/// `GET /socket/in`.
pub async fn socket_in(
    State(state): State<WsState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    match open(state, headers, query, upgrade).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// Checks everything that can be refused before the upgrade, so a refusal is an HTTP
/// answer with the original's status and JSON rather than a socket closed at once.
async fn open(
    state: WsState,
    headers: HeaderMap,
    query: Option<String>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, WsError> {
    state.authenticate(&headers)?;
    let upgrade =
        upgrade.map_err(|_| WsError::Invalid("Expected WebSocket Upgrade request".to_string()))?;
    let params = Query::parse(query.as_deref())?.in_params()?;
    let credentials = auth::kafka_credentials(&headers)?;
    let config = state.config();
    if params.transactional {
        if !config.exactly_once {
            return Err(WsError::Invalid(
                "Transactional producers are not enabled on this proxy (ws.producer.exactly.once.enable)"
                    .to_string(),
            ));
        }
        if params.instance_id.is_none() {
            return Err(WsError::Invalid(
                "A transactional producer needs the instanceId parameter".to_string(),
            ));
        }
    }
    if config.producer_sessions && params.instance_id.is_none() {
        return Err(WsError::Invalid(
            "Producer sessions are enabled: the instanceId parameter is required".to_string(),
        ));
    }
    check_topic(&state, credentials.as_ref(), &params.topic).await?;
    let limits = state
        .limits(ClientKind::Producer, &params.client_id)
        .await?;
    let membership = if config.producer_sessions {
        let instance = params.instance_id.clone().unwrap_or_default();
        match state
            .sessions()
            .join(
                ClientKind::Producer,
                &params.client_id,
                &instance,
                limits.max_connections,
            )
            .await?
        {
            Ok(()) => Some(Membership::new(
                state.sessions().clone(),
                params.client_id.clone(),
                instance,
            )),
            Err(Refusal::Exists) => {
                return Err(WsError::Invalid(format!(
                    "WebSocket for producer {instance} in session {} not established because a producer with the same ID is already registered.",
                    params.client_id
                )));
            }
            Err(Refusal::LimitReached(n)) => {
                return Err(WsError::Invalid(format!(
                    "The max number of WebSockets for session {} has been reached. Limit is {n}",
                    params.client_id
                )));
            }
        }
    } else {
        None
    };
    // The shared producer serves every socket without credentials of its own; a socket
    // with them, or with transactions, gets its own.
    let own = if credentials.is_some() || params.transactional {
        let mut overrides = credentials.unwrap_or_default();
        overrides.insert("client.id".to_string(), params.client_id.clone());
        let transactional_id = params.transactional.then(|| {
            format!(
                "{}-{}",
                params.client_id,
                params.instance_id.as_deref().unwrap_or_default()
            )
        });
        Some(
            state
                .kafka()
                .own_producer(overrides, transactional_id)
                .await
                .map_err(|e| WsError::from_kafka(e, &params.topic))?,
        )
    } else {
        None
    };
    let queue = match &own {
        Some(p) => p.delivery_queue(),
        None => state.kafka().delivery_queue()?,
    };
    let socket = InSocket {
        params,
        queue,
        own,
        limiter: RateLimiter::new(limits.messages_per_second, 1),
        pending: VecDeque::new(),
        in_flight: 0,
        _membership: membership,
    };
    let tracker = state.sockets().clone();
    let closing = state.closing().clone();
    Ok(upgrade
        .max_message_size(config.max_frame_bytes)
        .max_frame_size(config.max_frame_bytes)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |ws| tracker.track_future(socket.run(ws, closing)))
        .into_response())
}

/// The socket read buffer: small, since thousands of idle sockets each keep one.
pub(crate) const READ_BUFFER: usize = 8 * 1024;

/// Refuses a socket whose topic does not exist, as seen with the socket's own
/// credentials when it has them.
pub(crate) async fn check_topic(
    state: &WsState,
    credentials: Option<&std::collections::BTreeMap<String, String>>,
    topic: &str,
) -> Result<usize, WsError> {
    let found = match credentials {
        Some(c) => state.kafka().topic_partitions_as(c, topic).await,
        None => state.kafka().topic(topic).await.map(|t| t.partitions.len()),
    };
    match found {
        Ok(n) => Ok(n),
        Err(KafkaError::TopicNotFound(_)) => Err(WsError::TopicNotFound(topic.to_string())),
        Err(e @ (KafkaError::Authentication(_) | KafkaError::Authorization(_))) => {
            Err(WsError::Kafka(e))
        }
        Err(KafkaError::Timeout(m)) => Err(WsError::Unavailable(format!(
            "The Kafka cluster cannot be reached: {m}"
        ))),
        Err(e) => Err(WsError::from_kafka(e, topic)),
    }
}

/// A socket's place in its session, given up when the socket ends.
pub(crate) struct Membership {
    sessions: Arc<Sessions>,
    id: String,
    instance: String,
}

impl Membership {
    pub(crate) fn new(sessions: Arc<Sessions>, id: String, instance: String) -> Membership {
        Membership {
            sessions,
            id,
            instance,
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let sessions = self.sessions.clone();
        let id = std::mem::take(&mut self.id);
        let instance = std::mem::take(&mut self.instance);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = sessions.leave(&id, &instance).await {
                    tracing::warn!(session = %id, instance = %instance, error = %e, "could not remove a closed socket from its session");
                }
            });
        }
    }
}

/// What a frame turned into, in the order frames came.
enum Slot {
    /// A record handed to the producer, waiting for its delivery report.
    Record { message_id: Option<String> },
    /// A frame that could not be made into a record.
    Failed(BadFrame),
}

/// One producer socket.
struct InSocket {
    params: InParams,
    queue: DeliveryQueue,
    /// The socket's own producer (credentials or transactions), if any.
    own: Option<OwnProducer>,
    limiter: RateLimiter,
    /// Frames whose answer has not been sent yet, oldest first.
    pending: VecDeque<Slot>,
    /// Records handed to the producer whose report has not been taken yet.
    in_flight: usize,
    _membership: Option<Membership>,
}

type Sink = SplitSink<WebSocket, Message>;

/// Why a socket ends.
enum End {
    /// The client closed it (or went away).
    Client,
    /// kgate is shutting down.
    Shutdown,
    /// Kafka failed in a way the socket cannot go on from.
    Failed(String),
    /// The client sent a frame larger than `ws.max.frame.bytes`.
    TooBig,
}

impl InSocket {
    async fn run(mut self, ws: WebSocket, closing: tokio_util::sync::CancellationToken) {
        let (mut sink, mut stream) = ws.split();
        let transactional = self.own.as_ref().is_some_and(OwnProducer::is_transactional);
        let end = if transactional {
            self.run_transactional(&mut sink, &mut stream, &closing)
                .await
        } else {
            self.run_plain(&mut sink, &mut stream, &closing).await
        };
        let (code, reason) = match &end {
            End::Client => (CLOSE_NORMAL, String::new()),
            End::Shutdown => (CLOSE_GOING_AWAY, "kgate is shutting down".to_string()),
            End::Failed(reason) => (CLOSE_INTERNAL_ERROR, reason.clone()),
            End::TooBig => (
                CLOSE_TOO_BIG,
                "The frame is larger than the proxy accepts (ws.max.frame.bytes)".to_string(),
            ),
        };
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: truncate_reason(&reason).into(),
            })))
            .await;
        let _ = sink.close().await;
        if let Some(own) = self.own.take() {
            drop(self.queue);
            own.close().await;
        }
    }

    /// Records go out as frames come; results go back as reports come, in order.
    async fn run_plain(
        &mut self,
        sink: &mut Sink,
        stream: &mut futures::stream::SplitStream<WebSocket>,
        closing: &tokio_util::sync::CancellationToken,
    ) -> End {
        let mut reading = true;
        let mut end = End::Client;
        let mut reports: VecDeque<Delivered> = VecDeque::new();
        let mut out: Vec<String> = Vec::new();
        let mut sink_ok = true;
        loop {
            if !reading && self.in_flight == 0 {
                break;
            }
            tokio::select! {
                biased;
                () = std::future::poll_fn(|cx| self.queue.poll_delivered(cx, &mut reports, 1024)),
                    if self.in_flight > 0 =>
                {
                    while let Some(report) = reports.pop_front() {
                        self.in_flight -= 1;
                        self.answer_record(report, &mut out);
                    }
                    self.answer_failed_front(&mut out);
                }
                () = closing.cancelled(), if reading => {
                    reading = false;
                    end = End::Shutdown;
                }
                message = stream.next(), if reading && self.in_flight < MAX_IN_FLIGHT => {
                    match message {
                        Some(Ok(Message::Text(text))) => self.take_frame(text.as_bytes()).await,
                        Some(Ok(Message::Binary(bytes))) => self.take_frame(&bytes).await,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Err(e)) if too_big(&e) => {
                            reading = false;
                            end = End::TooBig;
                        }
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => reading = false,
                    }
                    self.answer_failed_front(&mut out);
                }
            }
            if !out.is_empty() && sink_ok {
                sink_ok = send_all(sink, &mut out).await;
                if !sink_ok {
                    // The client is gone; records in flight still complete in Kafka.
                    reading = false;
                }
            }
            out.clear();
        }
        end
    }

    /// Records are sent in transactions: the frames at hand (up to a limit) make one
    /// transaction, and their results go back once it is committed. A failed record or
    /// commit aborts the transaction, and each of its frames gets an error frame.
    async fn run_transactional(
        &mut self,
        sink: &mut Sink,
        stream: &mut futures::stream::SplitStream<WebSocket>,
        closing: &tokio_util::sync::CancellationToken,
    ) -> End {
        let Some(producer) = self.own.take() else {
            return End::Failed("no transactional producer".to_string());
        };
        let mut out: Vec<String> = Vec::new();
        let end = loop {
            // Wait for the first frame of the next transaction.
            let first = tokio::select! {
                () = closing.cancelled() => break End::Shutdown,
                m = stream.next() => m,
            };
            let first = match first {
                Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
                Some(Ok(Message::Binary(b))) => b.to_vec(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Err(e)) if too_big(&e) => break End::TooBig,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break End::Client,
            };
            if let Err(e) = producer.begin_transaction().await {
                break End::Failed(format!("Kafka refused to begin a transaction: {e}"));
            }
            let mut frames = vec![first];
            let mut client_done = false;
            // Frames already waiting join the same transaction.
            while frames.len() < MAX_TRANSACTION_RECORDS {
                match stream.next().now_or_never() {
                    Some(Some(Ok(Message::Text(t)))) => frames.push(t.as_bytes().to_vec()),
                    Some(Some(Ok(Message::Binary(b)))) => frames.push(b.to_vec()),
                    Some(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                    Some(Some(Ok(Message::Close(_))) | None | Some(Err(_))) => {
                        client_done = true;
                        break;
                    }
                    None => break,
                }
            }
            for frame in &frames {
                self.take_frame(frame).await;
            }
            let mut reports = Vec::with_capacity(self.in_flight);
            while self.in_flight > 0 {
                match self.queue.next_delivered().await {
                    Some(r) => reports.push(r),
                    None => break,
                }
                self.in_flight -= 1;
            }
            let failed = reports.iter().find_map(|r| r.as_ref().err().cloned());
            let outcome = match failed {
                Some(e) => Err(format!("The transaction was aborted: a record failed: {e}")),
                None => producer
                    .commit_transaction()
                    .await
                    .map_err(|e| format!("The transaction was aborted: {e}")),
            };
            if let Err(reason) = &outcome
                && let Err(e) = producer.abort_transaction().await
            {
                tracing::warn!(error = %e, "aborting a socket's transaction failed");
                // The producer cannot go on: answer what is pending and close.
                self.answer_aborted(reports, reason, &mut out);
                let _ = send_all(sink, &mut out).await;
                break End::Failed(reason.clone());
            }
            match outcome {
                Ok(()) => {
                    for r in reports {
                        self.answer_record(r, &mut out);
                    }
                    self.answer_failed_front(&mut out);
                }
                Err(reason) => self.answer_aborted(reports, &reason, &mut out),
            }
            if !send_all(sink, &mut out).await {
                break End::Client;
            }
            out.clear();
            if client_done {
                break End::Client;
            }
        };
        self.own = Some(producer);
        end
    }

    /// Turns a frame into a record and hands it to the producer, or files why not.
    async fn take_frame(&mut self, bytes: &[u8]) {
        if self.limiter.is_limited() {
            self.limiter.acquire().await;
        }
        let parsed = frames::parse_in(bytes, self.params.key_type, self.params.val_type);
        match parsed {
            Ok(record) => {
                let sent = self
                    .queue
                    .send_waiting(&self.params.topic, record.record.as_ref())
                    .await;
                match sent {
                    Ok(()) => {
                        self.in_flight += 1;
                        self.pending.push_back(Slot::Record {
                            message_id: record.message_id,
                        });
                    }
                    Err(e) => self.pending.push_back(Slot::Failed(BadFrame {
                        reason: format!("The record was not produced: {e}"),
                        message_id: record.message_id,
                    })),
                }
            }
            Err(bad) => self.pending.push_back(Slot::Failed(bad)),
        }
    }

    /// Answers the oldest record in flight with its report (after any failed frames that
    /// came before it).
    fn answer_record(&mut self, report: Delivered, out: &mut Vec<String>) {
        self.answer_failed_front(out);
        let message_id = match self.pending.pop_front() {
            Some(Slot::Record { message_id }) => message_id,
            // Failed frames were answered above; a record's report always has its slot.
            _ => None,
        };
        out.push(match report {
            Ok(position) => frames::result_frame(
                &self.params.topic,
                position.partition,
                position.offset,
                position.timestamp.unwrap_or_else(now_millis),
                message_id.as_deref(),
            ),
            Err(e) => frames::error_frame(
                &format!("The record was not produced: {e}"),
                message_id.as_deref(),
                None,
            ),
        });
    }

    /// Answers failed frames at the front (no record ahead of them is waiting).
    fn answer_failed_front(&mut self, out: &mut Vec<String>) {
        while let Some(Slot::Failed(_)) = self.pending.front() {
            if let Some(Slot::Failed(bad)) = self.pending.pop_front() {
                out.push(frames::error_frame(
                    &bad.reason,
                    bad.message_id.as_deref(),
                    None,
                ));
            }
        }
    }

    /// Answers every frame of an aborted transaction with an error frame.
    fn answer_aborted(&mut self, reports: Vec<Delivered>, reason: &str, out: &mut Vec<String>) {
        for _ in reports {
            self.answer_failed_front(out);
            if let Some(Slot::Record { message_id }) = self.pending.pop_front() {
                out.push(frames::error_frame(reason, message_id.as_deref(), None));
            }
        }
        self.answer_failed_front(out);
    }
}

/// Sends frames, then flushes once; false when the client is gone.
async fn send_all(sink: &mut Sink, out: &mut Vec<String>) -> bool {
    for frame in out.drain(..) {
        if sink.feed(Message::Text(frame.into())).await.is_err() {
            return false;
        }
    }
    sink.flush().await.is_ok()
}

/// Whether a socket failed on a frame over the size limit.
fn too_big(e: &axum::Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<tungstenite::Error>())
        .is_some_and(|t| matches!(t, tungstenite::Error::Capacity(_)))
}

/// A close reason fits in a control frame (123 bytes).
pub(crate) fn truncate_reason(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
