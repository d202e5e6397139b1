//! A connection's incoming bytes as far as its timeouts need them: whether it speaks
//! HTTP/2 (the prior-knowledge preface) or HTTP/1, and, for HTTP/2, when a request's
//! header block (a HEADERS frame and the CONTINUATION frames that finish it) starts and
//! ends.
//!
//! hyper's header-read timeout exists for HTTP/1 only, and its HTTP/2 server hands a
//! stream to the service only once the stream's headers are complete: a client that
//! drips a HEADERS frame, or leaves a header block unfinished, is invisible to the
//! service. kgate follows the frame boundaries itself (a few bytes of state, no copy of
//! the data) so that a header block is held to `http.header.timeout.ms` like an HTTP/1
//! request's head.

use super::connections::ConnState;

/// What an HTTP/2 client sends first (RFC 9113, section 3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The size of an HTTP/2 frame header: length (24 bits), type, flags, stream id.
const FRAME_HEADER: usize = 9;
/// Frame types that carry a header block.
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
/// The flag that ends a header block.
const END_HEADERS: u8 = 0x4;

/// Where a connection's incoming bytes stand.
pub(super) enum Incoming {
    /// As many bytes of the preface as have arrived, all matching: the client may
    /// still turn out to speak either protocol.
    Undecided(usize),
    /// HTTP/1: any bytes on an idle connection start a request's head.
    Http1,
    /// HTTP/2, past the preface.
    Http2(Frames),
}

/// Where the incoming HTTP/2 frames stand.
#[derive(Default)]
pub(super) struct Frames {
    /// The header of the frame being received, as far as it arrived.
    header: [u8; FRAME_HEADER],
    header_len: usize,
    /// When the frame being received began (milliseconds of the connection's clock).
    started: u64,
    /// Payload bytes of the current frame still to come, once its header is complete.
    payload_left: usize,
    /// The current frame carries a header block fragment.
    in_block: bool,
    /// The current frame ends its header block.
    ends_block: bool,
}

impl Incoming {
    /// A new connection: nothing arrived yet.
    pub(super) fn new() -> Incoming {
        Incoming::Undecided(0)
    }

    /// Follows `bytes`, the next bytes read from the connection, telling `state` what
    /// they start or finish.
    pub(super) fn on_read(&mut self, mut bytes: &[u8], state: &ConnState) {
        if let Incoming::Undecided(matched) = self {
            let take = bytes.len().min(PREFACE.len() - *matched);
            if bytes[..take] != PREFACE[*matched..*matched + take] {
                *self = Incoming::Http1;
            } else if *matched + take < PREFACE.len() {
                // A preface (or a request line) in progress: like an HTTP/1 head, it
                // must be complete within the header timeout.
                *matched += take;
                state.on_head_bytes();
                return;
            } else {
                state.http2_started();
                bytes = &bytes[take..];
                *self = Incoming::Http2(Frames::default());
            }
        }
        match self {
            Incoming::Undecided(_) => {}
            Incoming::Http1 => state.on_head_bytes(),
            Incoming::Http2(frames) => frames.on_read(bytes, state),
        }
    }
}

impl Frames {
    fn on_read(&mut self, mut bytes: &[u8], state: &ConnState) {
        while !bytes.is_empty() {
            if self.payload_left == 0 {
                if self.header_len == 0 {
                    self.started = state.now_millis();
                }
                let take = bytes.len().min(FRAME_HEADER - self.header_len);
                self.header[self.header_len..self.header_len + take]
                    .copy_from_slice(&bytes[..take]);
                self.header_len += take;
                bytes = &bytes[take..];
                if self.header_len < FRAME_HEADER {
                    return;
                }
                self.header_len = 0;
                let [l0, l1, l2, kind, flags, ..] = self.header;
                self.payload_left = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
                self.in_block = matches!(kind, HEADERS | CONTINUATION);
                self.ends_block = self.in_block && flags & END_HEADERS != 0;
                if self.in_block {
                    // Counted from the frame's first byte, as an HTTP/1 head is from its
                    // first byte; a block already open keeps its start.
                    state.header_block_started(self.started);
                }
            } else {
                let take = bytes.len().min(self.payload_left);
                self.payload_left -= take;
                bytes = &bytes[take..];
            }
            if self.payload_left == 0 && self.ends_block {
                self.ends_block = false;
                state.header_block_ended();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// An HTTP/2 frame.
    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn header_blocks_are_followed_across_frames_and_reads() {
        let state = ConnState::new(Instant::now());
        let mut incoming = Incoming::new();
        // The preface, in pieces: a head in progress until it is complete.
        incoming.on_read(&PREFACE[..5], &state);
        assert!(state.receiving_head());
        let settings = frame(0x4, 0, 0, &[]);
        let mut bytes = PREFACE[5..].to_vec();
        bytes.extend_from_slice(&settings);
        incoming.on_read(&bytes, &state);
        assert!(!state.receiving_head(), "the preface is not a request");
        assert!(state.is_http2());
        assert!(!state.receiving_header_block());

        // HEADERS without END_HEADERS, then a CONTINUATION that ends the block, each
        // arriving a byte at a time: the block is known once the first frame header is
        // complete (its clock counts from the frame's first byte).
        let mut block = frame(HEADERS, 0x1, 1, &[0x82, 0x84]);
        block.extend(frame(CONTINUATION, END_HEADERS, 1, &[0x86]));
        for (i, byte) in block.iter().enumerate() {
            incoming.on_read(std::slice::from_ref(byte), &state);
            let last = i + 1 == block.len();
            assert_eq!(
                state.receiving_header_block(),
                i >= FRAME_HEADER - 1 && !last,
                "after byte {i}"
            );
        }
        // Frames that carry no header block leave the clock alone; a complete HEADERS
        // frame in one read opens and closes its block.
        let mut bytes = frame(0x0, 0x1, 1, b"body");
        bytes.extend(frame(0x6, 0, 0, &[0; 8]));
        bytes.extend(frame(HEADERS, END_HEADERS, 3, &[0x82]));
        incoming.on_read(&bytes, &state);
        assert!(!state.receiving_header_block());
        incoming.on_read(&frame(HEADERS, 0, 5, &[0x82]), &state);
        assert!(state.receiving_header_block(), "a block left unfinished");
    }

    #[test]
    fn anything_but_the_preface_is_http1() {
        let state = ConnState::new(Instant::now());
        let mut incoming = Incoming::new();
        incoming.on_read(b"PRI", &state);
        incoming.on_read(b" * HTTP/1.1\r\n", &state);
        assert!(matches!(incoming, Incoming::Http1));
        assert!(!state.is_http2());
        assert!(state.receiving_head());
    }
}
