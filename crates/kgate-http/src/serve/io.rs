//! A connection's socket as hyper sees it: reads tell the connection's state when a
//! request starts arriving, writes tell it when output waits for a client that does not
//! read (the write-stall clock, see `connections`), and the error answers hyper writes
//! by itself before any router sees a request (400 for an unparsable request line or
//! header, 414 for a URI too long, 431 for headers too large, all without a body) are
//! rewritten into the JSON envelope on their way out. hyper has no setting to hand such
//! requests to the app.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::connections::{ConnState, Slot};
use super::incoming::Incoming;

/// The socket of one connection, holding the connection's slot until it closes.
pub(super) struct WatchedIo {
    stream: TcpStream,
    state: Arc<ConnState>,
    /// What the bytes read so far start or finish (request heads, HTTP/2 header blocks).
    incoming: Incoming,
    _slot: Slot,
    /// An envelope answer being written in place of hyper's bodiless one.
    rewrite: Option<Rewrite>,
}

struct Rewrite {
    answer: Vec<u8>,
    written: usize,
    /// The length of hyper's answer, reported as written once ours is.
    replaced: usize,
}

impl WatchedIo {
    /// Wraps `stream`, the socket of the connection in `slot`.
    pub(super) fn new(stream: TcpStream, slot: Slot) -> WatchedIo {
        slot.state()
            .set_socket(std::os::fd::AsRawFd::as_raw_fd(&stream));
        WatchedIo {
            stream,
            state: slot.state(),
            incoming: Incoming::new(),
            _slot: slot,
            rewrite: None,
        }
    }
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        let read = &buf.filled()[before..];
        if !read.is_empty() {
            this.incoming.on_read(read, &this.state);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.rewrite.is_none()
            && this.state.in_flight() == 0
            && !this.state.is_finished()
            && let Some(answer) = envelope_for_hyper_error(buf)
        {
            this.rewrite = Some(Rewrite {
                answer,
                written: 0,
                replaced: buf.len(),
            });
        }
        let Some(rewrite) = &mut this.rewrite else {
            let written = Pin::new(&mut this.stream).poll_write(cx, buf);
            return watch_write(&this.state, written);
        };
        while rewrite.written < rewrite.answer.len() {
            let written =
                Pin::new(&mut this.stream).poll_write(cx, &rewrite.answer[rewrite.written..]);
            let n = ready!(watch_write(&this.state, written))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            rewrite.written += n;
        }
        let replaced = rewrite.replaced;
        this.rewrite = None;
        Poll::Ready(Ok(replaced))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        // hyper's own answers are a head alone, in one buffer.
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next())
            && (self.rewrite.is_some() || only.starts_with(b"HTTP/1.1 4"))
        {
            let only: &[u8] = only;
            return self.poll_write(cx, only);
        }
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        watch_write(&self.state, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let flushed = Pin::new(&mut self.stream).poll_flush(cx);
        // A flush that completes writes nothing by itself, so only its waiting counts.
        if flushed.is_pending() {
            self.state.write_blocked();
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Tells `state` what a write to the socket did: waiting starts the write-stall clock,
/// bytes written stop it.
fn watch_write(
    state: &ConnState,
    written: Poll<std::io::Result<usize>>,
) -> Poll<std::io::Result<usize>> {
    match &written {
        Poll::Pending => state.write_blocked(),
        Poll::Ready(Ok(n)) if *n > 0 => state.write_progressed(),
        Poll::Ready(_) => {}
    }
    written
}

/// The envelope answer for a response head hyper wrote by itself: one of its parse-error
/// statuses with `content-length: 0` and nothing after the head. Only called while no
/// request is in flight, so the head cannot belong to a response of the app (whose error
/// responses always have an envelope body).
fn envelope_for_hyper_error(written: &[u8]) -> Option<Vec<u8>> {
    let head = std::str::from_utf8(written).ok()?;
    let rest = head.strip_prefix("HTTP/1.1 ")?;
    let (status, message) = match rest.get(..3)? {
        "400" => (
            http::StatusCode::BAD_REQUEST,
            "Bad Request: the request line or a header could not be parsed",
        ),
        "414" => (
            http::StatusCode::URI_TOO_LONG,
            "URI Too Long: the request's URI is longer than the server accepts",
        ),
        "431" => (
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large: the request's headers are more or larger than the server accepts",
        ),
        _ => return None,
    };
    let end = head.find("\r\n\r\n")?;
    if end + 4 != head.len() {
        return None;
    }
    let lines: Vec<&str> = head[..end].split("\r\n").skip(1).collect();
    if !lines
        .iter()
        .any(|l| l.eq_ignore_ascii_case("content-length: 0"))
    {
        return None;
    }
    let date = lines
        .iter()
        .find(|l| l.len() > 5 && l[..5].eq_ignore_ascii_case("date:"));
    let body = crate::envelope::envelope_body(status, message);
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    if let Some(date) = date {
        answer.push_str(date);
        answer.push_str("\r\n");
    }
    answer.push_str("\r\n");
    answer.push_str(&body);
    Some(answer.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bodiless_error_heads_are_rewritten() {
        let answer = envelope_for_hyper_error(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n",
        )
        .expect("rewritten");
        let answer = String::from_utf8(answer).expect("text");
        let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains("date: Thu, 01 Jan 2026"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).expect("JSON body");
        assert_eq!(body["error_code"], 431);

        for untouched in [
            // A response of the app: a body follows.
            &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}"[..],
            &b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"[..],
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n"[..],
            &b"some body bytes"[..],
        ] {
            assert!(envelope_for_hyper_error(untouched).is_none());
        }
    }
}
