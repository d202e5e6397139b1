//! Request and response bodies as a connection serves them: a request body that stalls
//! fails the read (and the request is answered 408), and a response body marks its
//! request finished when it is done or dropped, and tells the connection while data it
//! produced waits to be taken (the write-stall clock, see `connections`).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use http::StatusCode;
use http_body::{Frame, SizeHint};

use super::connections::{ConnState, InFlight};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Whether a request's body stalled, seen by the service once the app has answered.
#[derive(Debug, Clone, Default)]
pub(super) struct Stalled(Arc<AtomicBool>);

impl Stalled {
    /// Whether the body stalled.
    pub(super) fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The error a stalled body's reader gets. It is the body's own error, seen by handlers
/// only as a failed read (the service then answers 408), so it is not a variant of
/// [`crate::HttpError`], which the faces match on.
#[derive(Debug, thiserror::Error)]
#[error("no part of the request body arrived for {} ms", .0.as_millis())]
pub(super) struct BodyStalled(Duration);

/// A request body that fails when the client sends nothing for `timeout` while the
/// handler waits for more; a handler that is not reading is never cut off.
pub(super) struct StallGuard<B> {
    inner: B,
    timeout: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    armed: bool,
    stalled: Stalled,
}

impl<B> StallGuard<B> {
    /// Guards `inner`, recording a stall in `stalled`.
    pub(super) fn new(inner: B, timeout: Duration, stalled: Stalled) -> StallGuard<B> {
        StallGuard {
            inner,
            timeout,
            timer: Box::pin(tokio::time::sleep(timeout)),
            armed: false,
            stalled,
        }
    }
}

impl<B> http_body::Body for StallGuard<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if !this.armed {
                    this.armed = true;
                    let deadline = tokio::time::Instant::now() + this.timeout;
                    this.timer.as_mut().reset(deadline);
                }
                if this.timer.as_mut().poll(cx).is_ready() {
                    this.armed = false;
                    this.stalled.0.store(true, Ordering::Release);
                    return Poll::Ready(Some(Err(BodyStalled(this.timeout).into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer to a request whose body stalled, whatever the handler made of the failed
/// read: 408 in the envelope, and the connection closed (the rest of the body will not
/// be read).
pub(super) fn stalled_response(timeout: Duration) -> Response {
    let mut response = crate::envelope::envelope_response(
        StatusCode::REQUEST_TIMEOUT,
        &format!(
            "Request timeout: no part of the request body arrived for {} ms",
            timeout.as_millis()
        ),
    );
    response.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
}

/// A response body that keeps its request counted in flight until it is finished or
/// dropped. The connection asks a body for more only once it could send what it had:
/// from a data frame produced to the next ask, the body waits on the client.
pub(super) struct TrackedBody {
    inner: Body,
    state: Arc<ConnState>,
    id: u64,
    waiting: bool,
    _in_flight: InFlight,
}

impl TrackedBody {
    /// `inner`, counted in flight by `in_flight`, of the connection in `state`.
    pub(super) fn new(inner: Body, state: Arc<ConnState>, in_flight: InFlight) -> TrackedBody {
        TrackedBody {
            inner,
            id: state.body_id(),
            state,
            waiting: false,
            _in_flight: in_flight,
        }
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        if self.waiting {
            self.state.body_taken(self.id);
        }
    }
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if this.waiting {
            this.waiting = false;
            this.state.body_taken(this.id);
        }
        let frame = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &frame
            && f.is_data()
            && !this.inner.is_end_stream()
        {
            this.waiting = true;
            this.state.body_waiting(this.id);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
