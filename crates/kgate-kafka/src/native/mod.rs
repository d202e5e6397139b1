//! Admin operations the rdkafka wrapper lacks, called through rdkafka-sys behind a small
//! safe interface (ACLs, consumer groups, DescribeCluster, IncrementalAlterConfigs, ...).
//!
//! Every operation goes through [`admin_call`]: it makes the admin options and a private
//! result queue on the shared admin client, lets the operation enqueue its one request,
//! waits for the result event on a blocking thread and hands the event to a reader that
//! copies what it needs into owned Rust values. The rdkafka wrapper's own admin calls use
//! a different queue, so the two never see each other's events.

pub mod acls;
pub mod cluster;
pub mod configs;
pub mod groups;

use std::ffi::{CStr, CString, c_char, c_int};
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::types::RDKafkaErrorCode;

use crate::{Kafka, KafkaError, REQUEST_TIMEOUT};

/// How much longer than the request timeout the result is awaited: librdkafka answers a
/// timed-out request with its own error event, which says more than a bare local timeout.
const POLL_MARGIN: Duration = Duration::from_secs(5);

/// The librdkafka handles one native admin request is started with. Only valid inside
/// the `send` closure given to [`admin_call`].
pub(crate) struct NativeRequest {
    client: *mut rd::rd_kafka_t,
    options: *mut rd::rd_kafka_AdminOptions_t,
    queue: *mut rd::rd_kafka_queue_t,
}

impl NativeRequest {
    /// The client handle (`rd_kafka_t`).
    pub(crate) fn client(&self) -> *mut rd::rd_kafka_t {
        self.client
    }

    /// The admin options of this request, request timeout already set.
    pub(crate) fn options(&self) -> *mut rd::rd_kafka_AdminOptions_t {
        self.options
    }

    /// The queue the result event must be delivered to.
    pub(crate) fn queue(&self) -> *mut rd::rd_kafka_queue_t {
        self.queue
    }

    /// Asks the broker to check the request without applying it.
    pub(crate) fn set_validate_only(&self, validate_only: bool) -> Result<(), KafkaError> {
        let mut buf = ErrBuf::new();
        // SAFETY: options is a live AdminOptions owned by admin_call; buf outlives the call.
        let res = unsafe {
            rd::rd_kafka_AdminOptions_set_validate_only(
                self.options,
                c_int::from(validate_only),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        buf.check(res, "validate_only")
    }

    /// Sends the request to this broker instead of the one librdkafka would choose.
    #[allow(dead_code, reason = "for operations that must reach one broker")]
    pub(crate) fn set_broker(&self, broker_id: i32) -> Result<(), KafkaError> {
        let mut buf = ErrBuf::new();
        // SAFETY: as in set_validate_only.
        let res = unsafe {
            rd::rd_kafka_AdminOptions_set_broker(
                self.options,
                broker_id,
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        buf.check(res, "broker")
    }
}

/// An admin result event, destroyed when dropped.
pub(crate) struct NativeEvent(*mut rd::rd_kafka_event_t);

impl NativeEvent {
    /// The event handle, valid while `self` lives.
    pub(crate) fn ptr(&self) -> *mut rd::rd_kafka_event_t {
        self.0
    }
}

impl Drop for NativeEvent {
    fn drop(&mut self) {
        // SAFETY: the event came from rd_kafka_queue_poll and is destroyed exactly once.
        unsafe { rd::rd_kafka_event_destroy(self.0) }
    }
}

struct Queue(*mut rd::rd_kafka_queue_t);

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_queue_new; librdkafka keeps its own reference while
        // a reply is still pending, so dropping ours early is safe.
        unsafe { rd::rd_kafka_queue_destroy(self.0) }
    }
}

struct Options(*mut rd::rd_kafka_AdminOptions_t);

impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_AdminOptions_new; librdkafka copies options when a
        // request is enqueued.
        unsafe { rd::rd_kafka_AdminOptions_destroy(self.0) }
    }
}

/// The error text buffer librdkafka's setters write into.
pub(crate) struct ErrBuf([c_char; 512]);

impl ErrBuf {
    /// An empty buffer.
    pub(crate) fn new() -> Self {
        ErrBuf([0; 512])
    }

    /// The buffer's start, for librdkafka.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut c_char {
        self.0.as_mut_ptr()
    }

    /// The buffer's size, for librdkafka.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Turns a setter's result into an error carrying the text librdkafka wrote.
    pub(crate) fn check(&self, res: rd::rd_kafka_resp_err_t, what: &str) -> Result<(), KafkaError> {
        if res == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Ok(());
        }
        // SAFETY: the buffer is zero-initialised and librdkafka writes a NUL-terminated
        // string of at most its size.
        let text = unsafe { CStr::from_ptr(self.0.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        Err(KafkaError::InvalidRequest(if text.is_empty() {
            format!("{what}: {}", RDKafkaErrorCode::from(res))
        } else {
            format!("{what}: {text}")
        }))
    }
}

/// A C string for librdkafka; an interior NUL byte, or more bytes than a Kafka protocol
/// string holds, is the caller's mistake.
pub(crate) fn c_string(s: &str) -> Result<CString, KafkaError> {
    let shown = crate::validate::truncated(s);
    if s.len() > crate::validate::MAX_PROTOCOL_STRING {
        return Err(KafkaError::InvalidRequest(format!(
            "{shown:?} is {} bytes long; Kafka accepts at most {}.",
            s.len(),
            crate::validate::MAX_PROTOCOL_STRING
        )));
    }
    CString::new(s)
        .map_err(|_| KafkaError::InvalidRequest(format!("{shown:?} contains a NUL character")))
}

/// Copies a C string owned by librdkafka; `None` for a null pointer.
///
/// # Safety
/// `ptr` must be null or point to a NUL-terminated string that lives during the call.
pub(crate) unsafe fn owned_string(ptr: *const c_char) -> Option<String> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: guaranteed by the caller.
        Some(
            unsafe { CStr::from_ptr(ptr) }
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// Classifies an error code that came with an optional message from the broker.
/// `context` names the object concerned (a topic name for topic errors).
pub(crate) fn code_error(
    err: rd::rd_kafka_resp_err_t,
    message: Option<String>,
    context: &str,
) -> Option<KafkaError> {
    if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return None;
    }
    let classified = KafkaError::from_code(RDKafkaErrorCode::from(err), context);
    // The broker's own message says more than the code's name (which config is invalid,
    // why a partition count was refused, ...).
    let detail = match message.filter(|m| !m.is_empty()) {
        Some(m) if context.is_empty() => m,
        Some(m) => format!("{context}: {m}"),
        None => return Some(classified),
    };
    Some(match classified {
        KafkaError::InvalidRequest(_) => KafkaError::InvalidRequest(detail),
        KafkaError::Authorization(_) => KafkaError::Authorization(detail),
        KafkaError::Authentication(_) => KafkaError::Authentication(detail),
        KafkaError::Timeout(_) => KafkaError::Timeout(detail),
        KafkaError::Unsupported(_) => KafkaError::Unsupported(detail),
        KafkaError::Retriable { code, .. } => KafkaError::Retriable {
            code,
            message: detail,
        },
        KafkaError::Kafka { code, .. } => KafkaError::Kafka {
            code,
            message: detail,
        },
        other => other,
    })
}

/// Classifies an `rd_kafka_error_t` (as per-item results carry them); `None` when the
/// pointer is null or holds no error.
///
/// # Safety
/// `err` must be null or a live `rd_kafka_error_t`.
pub(crate) unsafe fn error_object(
    err: *const rd::rd_kafka_error_t,
    context: &str,
) -> Option<KafkaError> {
    if err.is_null() {
        return None;
    }
    // SAFETY: guaranteed by the caller.
    let (code, message) = unsafe {
        (
            rd::rd_kafka_error_code(err),
            owned_string(rd::rd_kafka_error_string(err)),
        )
    };
    code_error(code, message, context)
}

/// Runs one native admin operation on the shared admin client.
///
/// `send` enqueues exactly one request with the given handles (e.g.
/// `rd_kafka_CreateAcls(req.client(), .., req.options(), req.queue())`); `read` copies
/// the result out of the event. Both run on a blocking thread. An error carried by the
/// event as a whole is returned before `read` is called; `context` names the operation
/// in such errors.
pub(crate) async fn admin_call<T, S, R>(
    kafka: &Kafka,
    op: rd::rd_kafka_admin_op_t,
    context: &str,
    send: S,
    read: R,
) -> Result<T, KafkaError>
where
    T: Send + 'static,
    S: FnOnce(&NativeRequest) -> Result<(), KafkaError> + Send + 'static,
    R: FnOnce(&NativeEvent) -> Result<T, KafkaError> + Send + 'static,
{
    let kafka = kafka.clone();
    let context = context.to_string();
    tokio::task::spawn_blocking(move || {
        let client = kafka.inner.admin.inner().native_ptr();
        // SAFETY: client is the live handle of the admin client `kafka` keeps alive for
        // the whole closure.
        let queue = Queue(unsafe { rd::rd_kafka_queue_new(client) });
        // SAFETY: as above.
        let options = Options(unsafe { rd::rd_kafka_AdminOptions_new(client, op) });
        if queue.0.is_null() || options.0.is_null() {
            return Err(KafkaError::Internal(format!(
                "{context}: librdkafka could not allocate the request"
            )));
        }
        let mut buf = ErrBuf::new();
        let timeout_ms = c_int::try_from(REQUEST_TIMEOUT.as_millis()).unwrap_or(c_int::MAX);
        // SAFETY: options is live; buf outlives the call.
        let res = unsafe {
            rd::rd_kafka_AdminOptions_set_request_timeout(
                options.0,
                timeout_ms,
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        buf.check(res, "request timeout")?;
        let request = NativeRequest {
            client,
            options: options.0,
            queue: queue.0,
        };
        send(&request)?;
        let wait = REQUEST_TIMEOUT + POLL_MARGIN;
        let wait_ms = c_int::try_from(wait.as_millis()).unwrap_or(c_int::MAX);
        // SAFETY: queue is live; only this request's result is ever delivered to it.
        let event = unsafe { rd::rd_kafka_queue_poll(queue.0, wait_ms) };
        if event.is_null() {
            return Err(KafkaError::Timeout(format!(
                "{context}: no answer within {} s",
                wait.as_secs()
            )));
        }
        let event = NativeEvent(event);
        // SAFETY: the event is live until `event` is dropped.
        let (code, message) = unsafe {
            (
                rd::rd_kafka_event_error(event.ptr()),
                owned_string(rd::rd_kafka_event_error_string(event.ptr())),
            )
        };
        if let Some(e) = code_error(code, message, &context) {
            return Err(e);
        }
        read(&event)
    })
    .await
    .map_err(|e| KafkaError::Internal(format!("admin task failed: {e}")))?
}
