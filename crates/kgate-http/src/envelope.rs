//! The last word on error bodies: every 4xx/5xx a face's HTTP stack produces leaves in the
//! `{"error_code","message"}` envelope, including those no face handler wrote (axum's
//! extractor rejections, such as invalid UTF-8 in a path parameter, a 404 of a router
//! without a fallback, a 405, a body limit hit by a plain `Bytes` extractor).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// The most of a foreign error body kept as the envelope's message: rejection texts are a
/// line or two, and anything longer is not a message a client needs whole.
const MESSAGE_LIMIT: usize = 16 * 1024;

/// Rewrites an error response that is not in the envelope (plain text or no body) into
/// it, keeping the status; `error_code` is the status itself, as Confluent's proxy and
/// registry answer errors raised below their own code (`{"error_code":404,"message":"HTTP
/// 404 Not Found"}`). Error responses with any other content type (the faces' own JSON
/// envelopes) pass untouched.
pub async fn ensure_envelope(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    if let Some(content_type) = response.headers().get(header::CONTENT_TYPE)
        && !is_plain_text(content_type)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MESSAGE_LIMIT).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        // Too long or unreadable: the status alone still says what happened.
        Err(_) => String::new(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(envelope_body(status, &text)))
}

/// The envelope for `status` with `message`, or Confluent's generic `HTTP <code>
/// <reason>` message when `message` is empty.
pub(crate) fn envelope_body(status: StatusCode, message: &str) -> String {
    let message = if message.is_empty() {
        format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Error")
        )
    } else {
        message.to_string()
    };
    serde_json::json!({"error_code": status.as_u16(), "message": message}).to_string()
}

/// A complete JSON envelope response.
pub(crate) fn envelope_response(status: StatusCode, message: &str) -> Response {
    let mut response = Response::new(Body::from(envelope_body(status, message)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn is_plain_text(content_type: &HeaderValue) -> bool {
    content_type
        .to_str()
        .map(|v| v.trim().to_ascii_lowercase().starts_with("text/plain"))
        .unwrap_or(false)
}
