//! `/socket/out`: a consumer socket. Records of the topic go to the client one frame each,
//! at the pace the client reads them (a slow socket stops the reads from Kafka, so memory
//! stays bounded) and at most `rate` per second.
//!
//! Offsets are committed by the proxy, never by librdkafka on its own: with
//! `autoCommit=true` the position after each record written to the socket (every second
//! and at the end); with `autoCommit=false` only what the client acks with
//! `{"wsProxyMessageId": ...}`, so records not acked before a disconnect are delivered
//! again to the group's next socket.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use kgate_kafka::KafkaError;
use kgate_kafka::consumer::{
    ConsumedRecord, ConsumerHandle, ConsumerSettings, PartitionOffset, ReadLimits, Subscription,
};
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::WsState;
use crate::auth;
use crate::error::WsError;
use crate::frames;
use crate::inbound::{
    CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR, CLOSE_NORMAL, Membership, READ_BUFFER, check_topic,
    truncate_reason,
};
use crate::limits::{ClientKind, RateLimiter};
use crate::params::{OutParams, Query};
use crate::sessions::Refusal;

/// How long one read from Kafka waits when nothing comes.
const READ_WAIT: Duration = Duration::from_millis(250);

/// Most bytes of keys and values taken from Kafka in one read.
const READ_BYTES: u64 = 512 * 1024;

/// librdkafka's local fetch queue per socket (KiB; its default is 64 MiB): with the
/// socket's reads paused by a slow client, this is what may wait in memory.
const FETCH_QUEUE_KIB: &str = "2048";

/// How often the position of records sent is committed with `autoCommit=true`.
const AUTO_COMMIT_INTERVAL: Duration = Duration::from_secs(1);

/// How long a closing socket waits for the client's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// `GET /socket/out`.
pub async fn socket_out(
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

async fn open(
    state: WsState,
    headers: HeaderMap,
    query: Option<String>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, WsError> {
    state.authenticate(&headers)?;
    let upgrade =
        upgrade.map_err(|_| WsError::Invalid("Expected WebSocket Upgrade request".to_string()))?;
    let params = Query::parse(query.as_deref())?.out_params()?;
    let credentials = auth::kafka_credentials(&headers)?;
    let partitions = check_topic(&state, credentials.as_ref(), &params.topic).await?;
    let limits = state.limits(ClientKind::Consumer, &params.group_id).await?;
    // As the original: a group never gets more sockets than the topic has partitions.
    let partitions = u32::try_from(partitions).unwrap_or(u32::MAX).max(1);
    let max_connections = match limits.max_connections {
        0 => partitions,
        n => n.min(partitions),
    };
    match state
        .sessions()
        .join(
            ClientKind::Consumer,
            &params.group_id,
            &params.client_id,
            max_connections,
        )
        .await?
    {
        Ok(()) => {}
        Err(Refusal::Exists) => {
            return Err(WsError::Invalid(format!(
                "WebSocket for consumer {} in session {} not established because a consumer with the same ID is already registered.",
                params.client_id, params.group_id
            )));
        }
        Err(Refusal::LimitReached(n)) => {
            return Err(WsError::Invalid(format!(
                "The max number of WebSockets for session {} has been reached. Limit is {n}",
                params.group_id
            )));
        }
    }
    let membership = Membership::new(
        state.sessions().clone(),
        params.group_id.clone(),
        params.client_id.clone(),
    );
    let consumer = create_consumer(&state, &params, credentials).await?;
    let rate = [params.rate.unwrap_or(0), limits.messages_per_second]
        .into_iter()
        .filter(|n| *n > 0)
        .min()
        .unwrap_or(0);
    let batch = params
        .batch_size
        .filter(|n| *n > 0)
        .unwrap_or(limits.batch_size);
    let socket = OutSocket {
        consumer: Arc::new(consumer),
        limiter: RateLimiter::new(rate, batch.max(1)),
        batch: batch as usize,
        stacks: Arc::new(Mutex::new(CommitStacks::new(
            state.config().commit_stack_size,
        ))),
        params,
        _membership: membership,
    };
    let tracker = state.sockets().clone();
    let closing = state.closing().clone();
    let max_frame = state.config().max_frame_bytes;
    Ok(upgrade
        .max_message_size(max_frame)
        .max_frame_size(max_frame)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |ws| tracker.track_future(socket.run(ws, closing)))
        .into_response())
}

async fn create_consumer(
    state: &WsState,
    params: &OutParams,
    credentials: Option<BTreeMap<String, String>>,
) -> Result<ConsumerHandle, WsError> {
    let mut overrides = credentials.unwrap_or_default();
    overrides.insert("enable.auto.commit".into(), "false".into());
    overrides.insert(
        "auto.offset.reset".into(),
        params.offset_reset.librdkafka().into(),
    );
    overrides.insert(
        "isolation.level".into(),
        if params.read_committed {
            "read_committed"
        } else {
            "read_uncommitted"
        }
        .into(),
    );
    let configured = |k: &str| {
        let c = state.kafka().config();
        c.client.contains_key(k) || c.consumer.contains_key(k)
    };
    if !configured("queued.max.messages.kbytes") {
        overrides.insert("queued.max.messages.kbytes".into(), FETCH_QUEUE_KIB.into());
    }
    let consumer = state
        .kafka()
        .create_consumer(ConsumerSettings {
            group_id: params.group_id.clone(),
            client_id: params.client_id.clone(),
            overrides,
        })
        .await
        .map_err(|e| WsError::from_kafka(e, &params.topic))?;
    consumer
        .subscribe(Subscription::Topics(vec![params.topic.clone()]))
        .await
        .map_err(|e| WsError::from_kafka(e, &params.topic))?;
    Ok(consumer)
}

/// Records sent on a socket with `autoCommit=false` and not acked yet, per partition,
/// oldest first (at most `max` each: the oldest are forgotten past that).
struct CommitStacks {
    max: usize,
    stacks: HashMap<(Arc<str>, i32), VecDeque<i64>>,
}

impl CommitStacks {
    fn new(max: usize) -> CommitStacks {
        CommitStacks {
            max: max.max(1),
            stacks: HashMap::new(),
        }
    }

    fn push(&mut self, topic: &Arc<str>, partition: i32, offset: i64) {
        let stack = self.stacks.entry((topic.clone(), partition)).or_default();
        if stack.len() >= self.max {
            stack.pop_front();
        }
        stack.push_back(offset);
    }

    /// Takes an acked record (and every older one of its partition) off the stack;
    /// whether it was there.
    fn ack(&mut self, topic: &str, partition: i32, offset: i64) -> bool {
        let key: (Arc<str>, i32) = (Arc::from(topic), partition);
        let Some(stack) = self.stacks.get_mut(&key) else {
            return false;
        };
        match stack.iter().position(|o| *o == offset) {
            Some(pos) => {
                stack.drain(..=pos);
                true
            }
            None => false,
        }
    }
}

/// One consumer socket.
struct OutSocket {
    params: OutParams,
    consumer: Arc<ConsumerHandle>,
    limiter: RateLimiter,
    /// Records sent before a flush (`batchSize`; 0: as they come).
    batch: usize,
    stacks: Arc<Mutex<CommitStacks>>,
    _membership: Membership,
}

/// Why the sending side of a socket stopped.
enum End {
    Client,
    Shutdown,
    Failed(String),
}

type Sink = SplitSink<WebSocket, Message>;

impl OutSocket {
    async fn run(self, ws: WebSocket, closing: CancellationToken) {
        let OutSocket {
            params,
            consumer,
            limiter,
            batch,
            stacks,
            _membership,
        } = self;
        let (sink, mut stream) = ws.split();
        let stop = CancellationToken::new();
        let (records_tx, records_rx) = mpsc::channel(2);
        let reader = tokio::spawn(read_records(consumer.clone(), records_tx));
        let (commits_tx, commits_rx) = mpsc::unbounded_channel();
        let committer = tokio::spawn(commit_in_order(consumer.clone(), commits_rx));
        let (errors_tx, errors_rx) = mpsc::channel::<String>(16);
        let writer = Writer {
            params: params.clone(),
            sink,
            limiter,
            batch,
            stacks: stacks.clone(),
            commits: commits_tx.clone(),
            sent: HashMap::new(),
            committed: HashMap::new(),
        };
        let mut writing = tokio::spawn(writer.run(records_rx, errors_rx, stop.clone(), closing));
        let mut written = None;
        loop {
            tokio::select! {
                done = &mut writing => {
                    written = Some(done);
                    break;
                }
                message = stream.next() => match message {
                    Some(Ok(Message::Text(t))) => {
                        handle_ack(&params, t.as_bytes(), &stacks, &commits_tx, &errors_tx).await
                    }
                    Some(Ok(Message::Binary(b))) => {
                        handle_ack(&params, &b, &stacks, &commits_tx, &errors_tx).await
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                },
            }
        }
        stop.cancel();
        let written = match written {
            Some(w) => w,
            None => writing.await,
        };
        reader.abort();
        let (sink, end, last) = match written {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "a consumer socket's writer failed");
                (None, End::Failed("internal error".into()), Vec::new())
            }
        };
        if let Some(mut sink) = sink {
            let (code, reason) = match &end {
                End::Client => (CLOSE_NORMAL, String::new()),
                End::Shutdown => (CLOSE_GOING_AWAY, "kgate is shutting down".to_string()),
                End::Failed(r) => (CLOSE_INTERNAL_ERROR, r.clone()),
            };
            let _ = sink
                .send(Message::Close(Some(CloseFrame {
                    code,
                    reason: truncate_reason(&reason).into(),
                })))
                .await;
            // Wait (briefly) for the client's answer to the close.
            if !matches!(end, End::Client) {
                let _ = tokio::time::timeout(CLOSE_WAIT, drain(&mut stream)).await;
            }
            let _ = sink.close().await;
        }
        if !last.is_empty() {
            let _ = commits_tx.send(last);
        }
        drop(commits_tx);
        let _ = committer.await;
        if let Err(e) = consumer.close().await {
            tracing::debug!(error = %e, "closing a socket's consumer failed");
        }
    }
}

async fn drain(stream: &mut SplitStream<WebSocket>) {
    while let Some(Ok(m)) = stream.next().await {
        if matches!(m, Message::Close(_)) {
            return;
        }
    }
}

/// Handles a frame from the client: with `autoCommit=false`, an ack.
async fn handle_ack(
    params: &OutParams,
    bytes: &[u8],
    stacks: &Mutex<CommitStacks>,
    commits: &mpsc::UnboundedSender<Vec<PartitionOffset>>,
    errors: &mpsc::Sender<String>,
) {
    if params.auto_commit {
        // As the original: with auto-commit the proxy reads nothing from the client.
        return;
    }
    match frames::parse_ack(bytes) {
        Ok(acked) => {
            let known = stacks
                .lock()
                .ack(&acked.topic, acked.partition, acked.offset);
            if known {
                let _ = commits.send(vec![PartitionOffset {
                    topic: acked.topic,
                    partition: acked.partition,
                    offset: acked.offset + 1,
                    metadata: String::new(),
                }]);
            } else {
                tracing::debug!(topic = %acked.topic, partition = acked.partition, offset = acked.offset,
                    "ignoring an ack of a record this socket has no record of");
            }
        }
        Err(reason) => {
            let _ = errors.send(frames::error_frame(&reason, None, None)).await;
        }
    }
}

/// Reads the socket's records from Kafka into `out`, a read at a time; stops when the
/// socket stops taking them.
async fn read_records(
    consumer: Arc<ConsumerHandle>,
    out: mpsc::Sender<Result<Vec<ConsumedRecord>, KafkaError>>,
) {
    loop {
        let limits = ReadLimits {
            timeout: READ_WAIT,
            max_bytes: READ_BYTES,
            min_bytes: 1,
        };
        let mut chunks = match consumer.read_chunks(limits) {
            Ok(c) => c,
            Err(e) => {
                let _ = out.send(Err(e)).await;
                return;
            }
        };
        while let Some(chunk) = chunks.next().await {
            let failed = chunk.is_err();
            if out.send(chunk).await.is_err() {
                return;
            }
            if failed {
                return;
            }
        }
    }
}

/// Commits offsets one request after the other, so a later position never loses to an
/// earlier one.
async fn commit_in_order(
    consumer: Arc<ConsumerHandle>,
    mut commits: mpsc::UnboundedReceiver<Vec<PartitionOffset>>,
) {
    while let Some(mut offsets) = commits.recv().await {
        // Commits waiting behind a slow one are folded into one request.
        while let Ok(more) = commits.try_recv() {
            for o in more {
                match offsets
                    .iter_mut()
                    .find(|x| x.topic == o.topic && x.partition == o.partition)
                {
                    Some(x) => x.offset = x.offset.max(o.offset),
                    None => offsets.push(o),
                }
            }
        }
        if let Err(e) = consumer.commit(Some(offsets)).await {
            // A partition taken away by a rebalance cannot be committed here any more;
            // its new owner starts from the last committed position.
            tracing::debug!(error = %e, "committing a socket's offsets failed");
        }
    }
}

/// The sending side of a consumer socket.
struct Writer {
    params: OutParams,
    sink: Sink,
    limiter: RateLimiter,
    batch: usize,
    stacks: Arc<Mutex<CommitStacks>>,
    commits: mpsc::UnboundedSender<Vec<PartitionOffset>>,
    /// `autoCommit=true`: the offset after the last record sent, per partition.
    sent: HashMap<(Arc<str>, i32), i64>,
    /// What was last handed to the committer, per partition.
    committed: HashMap<(Arc<str>, i32), i64>,
}

impl Writer {
    /// Sends records until told to stop; returns the sink (unless the client is gone),
    /// why it stopped and the offsets still to commit.
    async fn run(
        mut self,
        mut records: mpsc::Receiver<Result<Vec<ConsumedRecord>, KafkaError>>,
        mut errors: mpsc::Receiver<String>,
        stop: CancellationToken,
        closing: CancellationToken,
    ) -> (Option<Sink>, End, Vec<PartitionOffset>) {
        let mut buffer: VecDeque<ConsumedRecord> = VecDeque::new();
        let mut frame = Vec::with_capacity(512);
        let mut unflushed = 0usize;
        let mut tick = tokio::time::interval(AUTO_COMMIT_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let end = 'sending: loop {
            if buffer.is_empty() {
                if unflushed > 0 {
                    unflushed = 0;
                    tokio::select! {
                        r = self.sink.flush() => if r.is_err() { break 'sending End::Client },
                        () = stop.cancelled() => break 'sending End::Client,
                        () = closing.cancelled() => break 'sending End::Shutdown,
                    }
                }
                tokio::select! {
                    () = stop.cancelled() => break End::Client,
                    () = closing.cancelled() => break End::Shutdown,
                    Some(error) = errors.recv() => {
                        if self.sink.send(Message::Text(error.into())).await.is_err() {
                            break End::Client;
                        }
                    }
                    read = records.recv() => match read {
                        Some(Ok(chunk)) => buffer.extend(chunk),
                        Some(Err(e)) => break End::Failed(format!("Reading from Kafka failed: {e}")),
                        None => break End::Failed("The socket's consumer stopped".to_string()),
                    },
                    _ = tick.tick(), if self.params.auto_commit => self.commit_sent(),
                }
                continue;
            }
            let wait = self.limiter.delay();
            if !wait.is_zero() {
                if unflushed > 0 {
                    unflushed = 0;
                    if self.sink.flush().await.is_err() {
                        break End::Client;
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stop.cancelled() => break End::Client,
                    () = closing.cancelled() => break End::Shutdown,
                }
                continue;
            }
            let Some(record) = buffer.pop_front() else {
                continue;
            };
            let message = match frames::out_frame(
                &record,
                self.params.key_type,
                self.params.val_type,
                &mut frame,
            ) {
                Ok(()) => Message::Text(
                    String::from_utf8(std::mem::take(&mut frame))
                        .unwrap_or_default()
                        .into(),
                ),
                Err(reason) => Message::Text(
                    frames::error_frame(&reason, None, Some(&frames::ws_proxy_message_id(&record)))
                        .into(),
                ),
            };
            tokio::select! {
                sent = self.sink.feed(message) => if sent.is_err() { break End::Client },
                () = stop.cancelled() => break End::Client,
                () = closing.cancelled() => break End::Shutdown,
            }
            self.limiter.take();
            let key = (record.topic.clone(), record.partition);
            if self.params.auto_commit {
                self.sent.insert(key, record.offset + 1);
            } else {
                self.stacks
                    .lock()
                    .push(&record.topic, record.partition, record.offset);
            }
            unflushed += 1;
            if self.batch > 0 && unflushed >= self.batch {
                unflushed = 0;
                if self.sink.flush().await.is_err() {
                    break End::Client;
                }
            }
            if self.params.auto_commit && tick.is_elapsed() {
                self.commit_sent();
            }
        };
        let last = if self.params.auto_commit {
            self.changed_positions()
        } else {
            Vec::new()
        };
        let sink = match end {
            End::Client => None,
            _ => Some(self.sink),
        };
        (sink, end, last)
    }

    fn commit_sent(&mut self) {
        let changed = self.changed_positions();
        if !changed.is_empty() {
            let _ = self.commits.send(changed);
        }
    }

    /// Positions sent since the last commit, marked as handed to the committer.
    fn changed_positions(&mut self) -> Vec<PartitionOffset> {
        let mut out = Vec::new();
        for (key, offset) in &self.sent {
            if self.committed.get(key) != Some(offset) {
                out.push(PartitionOffset {
                    topic: key.0.to_string(),
                    partition: key.1,
                    offset: *offset,
                    metadata: String::new(),
                });
            }
        }
        for o in &out {
            self.committed
                .insert((Arc::from(o.topic.as_str()), o.partition), o.offset);
        }
        out
    }
}

/// `Interval::is_elapsed` is not in tokio; a tick that is ready now counts as elapsed.
trait IntervalElapsed {
    fn is_elapsed(&mut self) -> bool;
}

impl IntervalElapsed for tokio::time::Interval {
    fn is_elapsed(&mut self) -> bool {
        use futures::FutureExt;
        self.tick().now_or_never().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_take_records_and_older_ones_off_the_stack() {
        let mut s = CommitStacks::new(3);
        let t: Arc<str> = Arc::from("t");
        for o in 0..5 {
            s.push(&t, 0, o);
        }
        // Only the last three are remembered.
        assert!(!s.ack("t", 0, 1));
        assert!(s.ack("t", 0, 3));
        assert!(!s.ack("t", 0, 2));
        assert!(s.ack("t", 0, 4));
        assert!(!s.ack("t", 1, 4));
    }
}
