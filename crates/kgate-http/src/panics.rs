//! Panics: a handler that panics answers 500 in the envelope and the process keeps
//! serving; the panic itself is logged once, on one line, by the hook [`log_panics`]
//! installs.

use std::any::Any;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use tower_http::catch_panic::ResponseForPanic;

use crate::envelope::envelope_response;

/// Turns a caught handler panic into Confluent's generic 500. The panic's text stays in
/// the log: it may describe internals a client has no business seeing.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PanicResponse;

impl ResponseForPanic for PanicResponse {
    type ResponseBody = Body;

    fn response_for_panic(&mut self, _panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
        envelope_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }
}

/// Replaces the default panic hook (several lines on standard error, outside the log)
/// with one ERROR event per panic through `tracing`: the message, where it happened and
/// the thread, plus the backtrace on the same line when `RUST_BACKTRACE` asks for one.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload_as_str()
            .unwrap_or("(a panic without a message)")
            .replace('\n', "\\n");
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("unnamed");
        let backtrace = std::backtrace::Backtrace::capture();
        let backtrace = match backtrace.status() {
            // Debug formatting keeps the frames on one line.
            std::backtrace::BacktraceStatus::Captured => format!("{backtrace:?}"),
            _ => String::new(),
        };
        if tracing::dispatcher::has_been_set() {
            if backtrace.is_empty() {
                tracing::error!(target: "panic", thread, location, "panic: {message}");
            } else {
                tracing::error!(target: "panic", thread, location, backtrace, "panic: {message}");
            }
        } else {
            eprintln!("panic in thread {thread} at {location}: {message} {backtrace}");
        }
    }));
}
