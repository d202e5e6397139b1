//! The connections of one listener: what each is doing (idle, receiving a request's
//! headers, serving requests), the deadline that follows from it, and the limit on how
//! many are open, which closes an idle connection to make room before it refuses a new
//! one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::ServeConfig;

/// Why a connection is being closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CloseReason {
    /// No request for `idle.timeout.ms`.
    Idle,
    /// A request's headers took longer than `http.header.timeout.ms`.
    Header,
    /// Closed while idle to make room for a new connection.
    Evicted,
    /// Output waited for the client to read it, with no byte written, for longer than
    /// `http.body.timeout.ms`.
    WriteStall,
}

impl CloseReason {
    /// The reason in a log line.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            CloseReason::Idle => "idle timeout",
            CloseReason::Header => "header timeout",
            CloseReason::Evicted => "evicted while idle",
            CloseReason::WriteStall => "write stall: the client stopped reading",
        }
    }
}

/// What one connection is doing. Times are milliseconds since the listener's epoch, so
/// they fit atomics shared by the reading side, the service and the watchdog.
pub(super) struct ConnState {
    epoch: Instant,
    /// Requests handed to the app whose responses are not finished.
    in_flight: AtomicUsize,
    /// When the connection last had no request in flight.
    idle_since: AtomicU64,
    /// One more than when the first byte of a request arrived on an idle connection; 0
    /// while no request is being received.
    head_started: AtomicU64,
    /// An HTTP/2 connection: its frames between requests are not request headers.
    http2: AtomicBool,
    /// HTTP/2: one more than when the header block being received (a request's HEADERS
    /// frame and its CONTINUATION frames) began; 0 while none is. Unlike an HTTP/1 head,
    /// it may arrive while other requests of the connection are in flight.
    header_block_started: AtomicU64,
    /// One more than when a write found the socket full (the client not reading) after
    /// the last byte that was written; 0 while output is flowing or there is none.
    /// Unlike every other clock it runs whatever the connection is doing: a request in
    /// flight whose response is not read must not hold its connection forever.
    write_blocked_since: AtomicU64,
    /// Response bodies that produced data which the connection has not taken yet (it
    /// asks for more only once it could send it): body id to one more than when it
    /// began waiting. Over HTTP/2 a client that stops reading stops granting
    /// flow-control window, and the connection waits with its socket empty.
    bodies_waiting: Mutex<HashMap<u64, u64>>,
    /// One more than when bytes last went out on the socket: a body waiting since before
    /// then waits on a client that is still reading (over HTTP/2, granting window).
    last_written: AtomicU64,
    /// Ids for [`ConnState::bodies_waiting`].
    next_body: AtomicU64,
    /// The bytes the system still held unsent for the client when the write-stall clock
    /// last (re)started: a client that reads slowly empties them, one that does not
    /// read leaves them.
    unsent_at_block: AtomicU64,
    /// The connection's socket, to ask the system how much it still holds unsent; -1
    /// until known.
    socket: AtomicI32,
    /// No longer served as HTTP: closed, or upgraded (a WebSocket) and owned elsewhere.
    finished: AtomicBool,
    /// Asked to close to make room.
    evicted: AtomicBool,
    /// Wakes the watchdog when the state changes.
    wake: Notify,
}

impl ConnState {
    pub(super) fn new(epoch: Instant) -> ConnState {
        ConnState {
            epoch,
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(millis_since(epoch)),
            head_started: AtomicU64::new(0),
            http2: AtomicBool::new(false),
            header_block_started: AtomicU64::new(0),
            write_blocked_since: AtomicU64::new(0),
            bodies_waiting: Mutex::new(HashMap::new()),
            next_body: AtomicU64::new(0),
            last_written: AtomicU64::new(0),
            unsent_at_block: AtomicU64::new(u64::MAX),
            socket: AtomicI32::new(-1),
            finished: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// HTTP/1 bytes (or the start of an HTTP/2 preface) arrived: on an idle connection
    /// they start a request's head.
    pub(super) fn on_head_bytes(&self) {
        if self.http2.load(Ordering::Relaxed) || self.in_flight.load(Ordering::Acquire) > 0 {
            return;
        }
        if self.head_started.load(Ordering::Relaxed) == 0 {
            self.head_started
                .store(millis_since(self.epoch) + 1, Ordering::Relaxed);
            self.wake.notify_one();
        }
    }

    /// The HTTP/2 preface is complete: from here on, only header blocks are held to the
    /// header timeout.
    pub(super) fn http2_started(&self) {
        self.http2.store(true, Ordering::Relaxed);
        self.head_started.store(0, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// An HTTP/2 header block began at `millis` (of [`ConnState::now_millis`]), unless
    /// one is already open (its CONTINUATION frames do not restart the clock).
    pub(super) fn header_block_started(&self, millis: u64) {
        if self
            .header_block_started
            .compare_exchange(0, millis + 1, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.wake.notify_one();
        }
    }

    /// The open HTTP/2 header block is complete: a request (or a request's trailers) is
    /// on its way to the service, so the connection counts as busy from here, not idle
    /// since its last response.
    pub(super) fn header_block_ended(&self) {
        self.idle_since
            .store(millis_since(self.epoch), Ordering::Relaxed);
        self.header_block_started.store(0, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// The connection's socket is `fd`, open as long as the connection is served.
    pub(super) fn set_socket(&self, fd: i32) {
        self.socket.store(fd, Ordering::Relaxed);
    }

    /// A write could not go out (the socket's buffer is full): unless a write was already
    /// waiting, the write-stall clock starts now.
    pub(super) fn write_blocked(&self) {
        if self
            .write_blocked_since
            .compare_exchange(
                0,
                millis_since(self.epoch) + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            // What the system holds now, the socket full, is what a reading client
            // empties; a body may have begun waiting before it filled up.
            self.note_unsent();
            self.wake.notify_one();
        }
    }

    /// An id for a response body of this connection.
    pub(super) fn body_id(&self) -> u64 {
        self.next_body.fetch_add(1, Ordering::Relaxed)
    }

    /// Response body `id` produced data and waits for the connection to take it.
    pub(super) fn body_waiting(&self, id: u64) {
        let mut waiting = self
            .bodies_waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let first = waiting.is_empty();
        waiting.insert(id, millis_since(self.epoch) + 1);
        drop(waiting);
        if first {
            if self.write_blocked_since.load(Ordering::Relaxed) == 0 {
                self.note_unsent();
            }
            self.wake.notify_one();
        }
    }

    /// Response body `id` was asked for more, or is gone.
    pub(super) fn body_taken(&self, id: u64) {
        let mut waiting = self
            .bodies_waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        waiting.remove(&id);
    }

    /// When the body waiting longest began waiting (plus one), 0 if none waits.
    fn body_waiting_since(&self) -> u64 {
        let waiting = self
            .bodies_waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        waiting.values().copied().min().unwrap_or(0)
    }

    /// A write-stall clock starts: what the system holds for the client now.
    fn note_unsent(&self) {
        self.unsent_at_block
            .store(self.unsent().unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// At the write-stall deadline: whether the client read any of what the system held
    /// for it since the clock started, in which case the clock starts again. The system
    /// lets kgate write again only once a good part of a large send buffer is free (a
    /// third on Linux), which a slow but steady reader may take longer than the timeout
    /// to empty: kgate's own writes alone would take it for a stalled one.
    fn client_kept_reading(&self) -> bool {
        let Some(unsent) = self.unsent() else {
            return false;
        };
        if unsent >= self.unsent_at_block.load(Ordering::Relaxed) {
            return false;
        }
        self.unsent_at_block.store(unsent, Ordering::Relaxed);
        let now = millis_since(self.epoch) + 1;
        if self.write_blocked_since.load(Ordering::Relaxed) != 0 {
            self.write_blocked_since.store(now, Ordering::Relaxed);
        }
        let mut waiting = self
            .bodies_waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        waiting.values_mut().for_each(|since| *since = now);
        true
    }

    /// How many bytes written to the socket the client has not yet received, if the
    /// system says.
    fn unsent(&self) -> Option<u64> {
        let fd = self.socket.load(Ordering::Relaxed);
        if fd < 0 {
            return None;
        }
        unsent_bytes(fd)
    }

    /// Output went out: the write-stall clock stops.
    /// The watchdog is not woken: it finds the clock stopped when its deadline comes.
    pub(super) fn write_progressed(&self) {
        self.last_written
            .store(millis_since(self.epoch) + 1, Ordering::Relaxed);
        if self.write_blocked_since.load(Ordering::Relaxed) != 0 {
            self.write_blocked_since.store(0, Ordering::Relaxed);
        }
    }

    /// Milliseconds since the listener's epoch, the clock of this state.
    pub(super) fn now_millis(&self) -> u64 {
        millis_since(self.epoch)
    }

    /// Whether the connection speaks HTTP/2.
    #[cfg(test)]
    pub(super) fn is_http2(&self) -> bool {
        self.http2.load(Ordering::Relaxed)
    }

    /// Whether an HTTP/1 head (or an HTTP/2 preface) is being received.
    #[cfg(test)]
    pub(super) fn receiving_head(&self) -> bool {
        self.head_started.load(Ordering::Relaxed) != 0
    }

    /// Whether an HTTP/2 header block is being received.
    #[cfg(test)]
    pub(super) fn receiving_header_block(&self) -> bool {
        self.header_block_started.load(Ordering::Relaxed) != 0
    }

    /// Waits until no request is in flight.
    pub(super) async fn requests_done(&self) {
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            woken.await;
        }
    }

    /// A request's headers were read and it goes to the app; the guard marks its end.
    pub(super) fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(0, Ordering::Relaxed);
        self.wake.notify_one();
        InFlight(self.clone())
    }

    /// Requests in flight.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// The connection is no longer served as HTTP.
    pub(super) fn finish(&self) {
        self.finished.store(true, Ordering::Release);
    }

    /// Whether the connection is no longer served as HTTP.
    pub(super) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Idle and evictable: HTTP, nothing in flight, no request arriving, not already
    /// asked to close.
    fn is_idle(&self) -> bool {
        !self.is_finished()
            && self.in_flight() == 0
            && self.head_started.load(Ordering::Relaxed) == 0
            && self.header_block_started.load(Ordering::Relaxed) == 0
            && !self.evicted.load(Ordering::Relaxed)
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// When the connection must close and why, as things stand; `None` while a request is
    /// in flight (its handler and the body guard bound it) or no timeout applies, except
    /// that an HTTP/2 header block is held to the header timeout, and output the client
    /// does not read to the body timeout, whatever else the connection is doing. Once
    /// the server is stopping (since `stopping`), an idle connection gets only
    /// [`STOPPING_LINGER`]: an HTTP/2 client that never acknowledges the server's GOAWAY
    /// must not hold the shutdown up.
    fn deadline(
        &self,
        config: &ServeConfig,
        stopping: Option<Instant>,
    ) -> Option<(Instant, CloseReason)> {
        if self.is_finished() {
            return None;
        }
        // Times are kept in whole milliseconds, rounded down: a millisecond more keeps
        // every deadline from coming early.
        let at = |millis: u64| self.epoch + Duration::from_millis(millis + 1);
        let header_block = match self.header_block_started.load(Ordering::Relaxed) {
            0 => None,
            started => config
                .header_timeout
                .map(|t| (at(started - 1) + t, CloseReason::Header)),
        };
        let socket_since = self.write_blocked_since.load(Ordering::Relaxed);
        let body_since = match self.body_waiting_since() {
            0 => 0,
            since => since.max(self.last_written.load(Ordering::Relaxed)),
        };
        // Output waits for the client since the earlier of the socket filling up and a
        // response body's data waiting to be taken (counted from the last byte written).
        let since = [socket_since, body_since]
            .into_iter()
            .filter(|&s| s != 0)
            .min();
        let write_stall = since.and_then(|since| {
            config
                .body_timeout
                .map(|t| (at(since - 1) + t, CloseReason::WriteStall))
        });
        // These two apply whether or not requests are in flight.
        let always = earliest(header_block, write_stall);
        if self.in_flight() > 0 {
            return always;
        }
        let other = match self.head_started.load(Ordering::Relaxed) {
            0 => {
                let idle_since = at(self.idle_since.load(Ordering::Relaxed));
                let idle = config.idle_timeout.map(|t| idle_since + t);
                let linger = stopping.map(|since| since.max(idle_since) + STOPPING_LINGER);
                let deadline = match (idle, linger) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                deadline.map(|d| (d, CloseReason::Idle))
            }
            started => config
                .header_timeout
                .map(|t| (at(started - 1) + t, CloseReason::Header)),
        };
        earliest(always, other)
    }
}

/// The earlier of two deadlines, the first on a tie.
fn earliest(
    a: Option<(Instant, CloseReason)>,
    b: Option<(Instant, CloseReason)>,
) -> Option<(Instant, CloseReason)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// How long an idle connection may stay once the server is stopping.
const STOPPING_LINGER: Duration = Duration::from_secs(1);

/// Marks a request in flight until dropped (when its response body is done or dropped).
pub(super) struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let state = &self.0;
        if state.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            state
                .idle_since
                .store(millis_since(state.epoch), Ordering::Relaxed);
            state.wake.notify_one();
        }
    }
}

/// Completes when the connection must be closed: its idle or header deadline passed, or
/// it was evicted. Never completes while a request is in flight.
pub(super) async fn watchdog(
    state: &ConnState,
    config: &ServeConfig,
    stopping: Option<Instant>,
) -> CloseReason {
    loop {
        if state.evicted.load(Ordering::Relaxed) {
            return CloseReason::Evicted;
        }
        match state.deadline(config, stopping) {
            Some((at, reason)) if at <= Instant::now() => {
                if reason == CloseReason::WriteStall && state.client_kept_reading() {
                    continue;
                }
                return reason;
            }
            Some((at, _)) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    () = state.wake.notified() => {}
                }
            }
            None => state.wake.notified().await,
        }
    }
}

/// The bytes a TCP socket holds that its peer has not acknowledged (SIOCOUTQ).
#[cfg(target_os = "linux")]
fn unsent_bytes(fd: i32) -> Option<u64> {
    let mut unsent: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ for sockets) only writes the int it is given; `fd` is
    // the connection's socket, open while the connection is served (the watchdog runs
    // only then), and at worst another descriptor answers an error or a count.
    let done = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut unsent) };
    if done == 0 {
        u64::try_from(unsent).ok()
    } else {
        None
    }
}

/// Elsewhere the system is not asked: only kgate's own writes count as progress.
#[cfg(not(target_os = "linux"))]
fn unsent_bytes(_fd: i32) -> Option<u64> {
    None
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The open connections of one listener.
pub(super) struct Connections {
    limit: Option<usize>,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<ConnState>>>,
}

impl Connections {
    /// No connections yet; at most `limit` at once.
    pub(super) fn new(limit: Option<usize>) -> Arc<Connections> {
        Arc::new(Connections {
            limit,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a new connection; at the limit an idle connection is asked to close to
    /// make room, and `None` means none was idle.
    pub(super) fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(limit) = self.limit
            && open.len() >= limit
        {
            // Connections already asked to close are on their way out.
            let leaving = open
                .values()
                .filter(|c| c.evicted.load(Ordering::Relaxed))
                .count();
            if open.len() - leaving >= limit && !evict_oldest_idle(&open) {
                return None;
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState::new(self.epoch));
        open.insert(id, state.clone());
        Some(Slot {
            connections: self.clone(),
            id,
            state,
        })
    }

    /// Asks the connection idle the longest to close; whether there was one.
    pub(super) fn evict_oldest_idle(&self) -> bool {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        evict_oldest_idle(&open)
    }

    /// How many connections are open.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

fn evict_oldest_idle(open: &HashMap<u64, Arc<ConnState>>) -> bool {
    // Ties (same millisecond) go to the connection opened first.
    let oldest = open
        .iter()
        .filter(|(_, c)| c.is_idle())
        .min_by_key(|(id, c)| (c.idle_since.load(Ordering::Relaxed), **id));
    match oldest {
        Some((_, connection)) => {
            connection.evict();
            true
        }
        None => false,
    }
}

/// A connection's place among the open ones, freed when dropped (with the connection's
/// socket, which may outlive the HTTP connection when it is upgraded).
pub(super) struct Slot {
    connections: Arc<Connections>,
    id: u64,
    state: Arc<ConnState>,
}

impl Slot {
    /// The connection's state.
    pub(super) fn state(&self) -> Arc<ConnState> {
        self.state.clone()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        open.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_limit_the_longest_idle_connection_makes_room() {
        let connections = Connections::new(Some(2));
        let first = connections.admit().expect("room");
        let second = connections.admit().expect("room");
        // Both idle: a third evicts the first (idle longest), and is admitted.
        let third = connections.admit().expect("room made");
        assert!(first.state.evicted.load(Ordering::Relaxed));
        assert!(!second.state.evicted.load(Ordering::Relaxed));
        assert_eq!(connections.len(), 3, "the evicted one is still closing");
        drop(first);
        // Busy connections are never evicted: with both in flight, a new one is refused.
        let _a = second.state.request_started();
        let _b = third.state.request_started();
        assert!(connections.admit().is_none());
        // A connection receiving a request's headers is not idle either.
        drop(_a);
        second.state.on_head_bytes();
        assert!(connections.admit().is_none());
    }

    #[test]
    fn deadlines_follow_the_state() {
        let config = ServeConfig {
            header_timeout: Some(Duration::from_secs(5)),
            body_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(60)),
            connection_limit: None,
        };
        let state = Arc::new(ConnState::new(Instant::now()));
        let (at, reason) = state.deadline(&config, None).expect("idle deadline");
        assert_eq!(reason, CloseReason::Idle);
        assert!(at > Instant::now() + Duration::from_secs(50));
        state.on_head_bytes();
        let (at, reason) = state.deadline(&config, None).expect("header deadline");
        assert_eq!(reason, CloseReason::Header);
        assert!(at < Instant::now() + Duration::from_secs(6));
        let request = state.request_started();
        assert_eq!(
            state.deadline(&config, None),
            None,
            "no deadline while in flight"
        );
        drop(request);
        assert_eq!(
            state.deadline(&config, None).map(|d| d.1),
            Some(CloseReason::Idle)
        );
        // HTTP/2: frames between requests do not start a header deadline; a header
        // block does, even while another request is in flight.
        let h2 = Arc::new(ConnState::new(Instant::now()));
        h2.http2_started();
        assert_eq!(
            h2.deadline(&config, None).map(|d| d.1),
            Some(CloseReason::Idle)
        );
        let request = h2.request_started();
        assert_eq!(h2.deadline(&config, None), None);
        h2.header_block_started(h2.now_millis());
        let (at, reason) = h2.deadline(&config, None).expect("header block deadline");
        assert_eq!(reason, CloseReason::Header);
        assert!(at < Instant::now() + Duration::from_secs(6));
        assert!(!h2.is_idle(), "receiving a header block is not idle");
        h2.header_block_ended();
        assert_eq!(h2.deadline(&config, None), None);
        // Output the client does not read is held to the body timeout, also while a
        // request is in flight; a byte written stops that clock.
        let writing = h2.request_started();
        h2.write_blocked();
        let (_, reason) = h2.deadline(&config, None).expect("write-stall deadline");
        assert_eq!(reason, CloseReason::WriteStall);
        h2.write_progressed();
        assert_eq!(h2.deadline(&config, None), None);
        drop(writing);
        drop(request);
        // Stopping: an idle connection lingers a moment, not the whole idle timeout.
        let (at, _) = h2
            .deadline(&config, Some(Instant::now()))
            .expect("deadline");
        assert!(at < Instant::now() + STOPPING_LINGER * 2);
    }
}
