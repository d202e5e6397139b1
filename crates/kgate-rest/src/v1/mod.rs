//! REST Proxy API v1, the legacy API of seeds 001 and 002: metadata, produce,
//! per-partition reads served by a pool of partition readers, and consumer instances that
//! read `/consumers/{g}/instances/{i}/topics/{t}`.
//!
//! v1 shares its paths with v2, and Confluent's proxy tells the two apart by content
//! type; so does [`beside`]. A request goes to v1 when its Content-Type names v1, or when
//! it has no versioned Content-Type and the versioned Kafka type its Accept header weighs
//! highest is a v1 one (seed 001's examples send `Accept: application/vnd.kafka.v1+json,
//! application/vnd.kafka+json, application/json`). A request naming no version at all goes
//! to v2: Confluent's 4.x/5.x proxies sent such requests to v1, but v2 is the current API
//! and what kgate's users of `application/json` expect. Paths only v1 has, and every v1
//! path while v2 is switched off, also take requests naming no version.

pub mod consumers;
pub mod error;
pub mod messages;
pub mod metadata;
pub mod produce;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::routing::{delete, get, post};
use tower::ServiceExt;

use crate::error::RestError;
use crate::negotiation::{
    KafkaMediaType, V1_RESPONSE_TYPES, negotiate, parse_media_type, requested_version,
};
use crate::state::AppState;
pub use error::V1Error;

/// The v1 routes (paths have no version prefix, as in Confluent's proxy).
pub fn router() -> Router<AppState> {
    const INSTANCE: &str = "/consumers/{group}/instances/{instance}";
    Router::new()
        .route("/", get(metadata::root))
        .route("/topics", get(metadata::topics))
        .route(
            "/topics/{topic}",
            get(metadata::topic).post(produce::to_topic),
        )
        .route("/topics/{topic}/partitions", get(metadata::partitions))
        .route(
            "/topics/{topic}/partitions/{partition}",
            get(metadata::partition).post(produce::to_partition),
        )
        .route(
            "/topics/{topic}/partitions/{partition}/messages",
            get(messages::get),
        )
        .route("/brokers", get(metadata::brokers))
        .route("/consumers/{group}", post(consumers::create))
        .route(INSTANCE, delete(consumers::destroy))
        .route(&format!("{INSTANCE}/offsets"), post(consumers::commit))
        .route(
            &format!("{INSTANCE}/topics/{{topic}}"),
            get(consumers::read),
        )
        .fallback(|| async { V1Error(RestError::NotFound) })
        .method_not_allowed_fallback(|| async { V1Error(RestError::MethodNotAllowed) })
}

/// Puts the v1 routes beside `other` (the v2 and v3 routes, with their fallbacks): each
/// request goes to one or the other as the module documentation says.
pub fn beside(other: Router<AppState>, state: AppState) -> Router<AppState> {
    let dispatch = Dispatch {
        v2_enabled: state.config.api_v2_enable,
        v1: router().with_state(state.clone()),
        other: other.with_state(state),
    };
    // Chosen before either router matches the path: a router that matched first would
    // hand its path parameters on to the one the request goes to.
    Router::new().fallback_service(tower::service_fn(move |req: Request| {
        let dispatch = dispatch.clone();
        async move {
            let target = if selects_v1(req.uri().path(), req.headers(), dispatch.v2_enabled) {
                dispatch.v1
            } else {
                dispatch.other
            };
            target.oneshot(req).await
        }
    }))
}

/// The two sets of routes a request may go to.
#[derive(Clone)]
struct Dispatch {
    v1: Router,
    other: Router,
    v2_enabled: bool,
}

/// Whether a request for `path` with `headers` is a v1 request.
fn selects_v1(path: &str, headers: &HeaderMap, v2_enabled: bool) -> bool {
    let Some(route) = v1_route(path) else {
        return false;
    };
    match requested_version(headers) {
        Some(1) => true,
        Some(_) => false,
        None => route == V1Route::OnlyV1 || !v2_enabled,
    }
}

/// Whether a path is one of v1's, and whether v2 has it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V1Route {
    Shared,
    OnlyV1,
}

/// The kind of v1 route `path` matches, if any (`*` standing for one path segment).
fn v1_route(path: &str) -> Option<V1Route> {
    const SHARED: &[&[&str]] = &[
        &[],
        &["topics"],
        &["topics", "*"],
        &["topics", "*", "partitions"],
        &["topics", "*", "partitions", "*"],
        &["brokers"],
        &["consumers", "*"],
        &["consumers", "*", "instances", "*"],
        &["consumers", "*", "instances", "*", "offsets"],
    ];
    const ONLY_V1: &[&[&str]] = &[
        &["topics", "*", "partitions", "*", "messages"],
        &["consumers", "*", "instances", "*", "topics", "*"],
    ];
    let trimmed = path.trim_matches('/');
    let segments: Vec<&str> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    };
    let matches = |pattern: &&[&str]| {
        pattern.len() == segments.len()
            && pattern
                .iter()
                .zip(&segments)
                .all(|(p, s)| !s.is_empty() && (*p == "*" || p == s))
    };
    if ONLY_V1.iter().any(matches) {
        Some(V1Route::OnlyV1)
    } else if SHARED.iter().any(matches) {
        Some(V1Route::Shared)
    } else {
        None
    }
}

/// The negotiated response type of a v1 endpoint without embedded records.
#[derive(Debug, Clone, Copy)]
pub struct V1Accept(pub &'static str);

impl<S: Send + Sync> FromRequestParts<S> for V1Accept {
    type Rejection = V1Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(V1Accept(negotiate(&parts.headers, V1_RESPONSE_TYPES)?))
    }
}

/// The type of a v1 request body: absent means binary; a type of another API version or
/// of no Kafka kind is 415.
pub fn request_type(headers: &HeaderMap) -> Result<KafkaMediaType, RestError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(KafkaMediaType {
            format: None,
            version: None,
        });
    };
    let text = value
        .to_str()
        .map_err(|_| RestError::UnsupportedMediaType("Unreadable Content-Type".to_string()))?;
    match parse_media_type(text) {
        Some(t) if t.version.is_none() || t.version == Some(1) => Ok(t),
        _ => Err(RestError::UnsupportedMediaType(format!(
            "HTTP 415 Unsupported Media Type: {text}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(name.clone(), HeaderValue::from_static(value));
        }
        h
    }

    #[test]
    fn paths_are_recognised() {
        assert_eq!(v1_route("/"), Some(V1Route::Shared));
        assert_eq!(v1_route("/topics/t"), Some(V1Route::Shared));
        assert_eq!(v1_route("/topics/t/partitions/0"), Some(V1Route::Shared));
        assert_eq!(
            v1_route("/topics/t/partitions/0/messages"),
            Some(V1Route::OnlyV1)
        );
        assert_eq!(
            v1_route("/consumers/g/instances/i/topics/t"),
            Some(V1Route::OnlyV1)
        );
        assert_eq!(v1_route("/consumers/g/instances/i/records"), None);
        assert_eq!(v1_route("/v3/clusters"), None);
        assert_eq!(v1_route("/topics/t/partitions/0/offsets"), None);
        assert_eq!(v1_route("/topics//partitions"), None);
    }

    #[test]
    fn requests_are_told_apart_by_their_types() {
        let v1_accept = headers(&[(
            header::ACCEPT,
            "application/vnd.kafka.v1+json, application/vnd.kafka+json, application/json",
        )]);
        assert!(selects_v1("/topics", &v1_accept, true));
        assert!(!selects_v1("/v3/clusters", &v1_accept, true));
        let v1_body = headers(&[
            (header::CONTENT_TYPE, "application/vnd.kafka.binary.v1+json"),
            (header::ACCEPT, "application/json"),
        ]);
        assert!(selects_v1("/topics/t", &v1_body, true));
        let v2_body = headers(&[
            (header::CONTENT_TYPE, "application/vnd.kafka.binary.v2+json"),
            (header::ACCEPT, "application/vnd.kafka.v1+json"),
        ]);
        assert!(!selects_v1("/topics/t", &v2_body, true));
        let generic = headers(&[(header::ACCEPT, "application/json")]);
        assert!(!selects_v1("/topics", &generic, true));
        assert!(selects_v1("/topics", &generic, false));
        assert!(selects_v1(
            "/topics/t/partitions/0/messages",
            &generic,
            true
        ));
        let v2_accept = headers(&[(header::ACCEPT, "application/vnd.kafka.binary.v2+json")]);
        assert!(!selects_v1(
            "/topics/t/partitions/0/messages",
            &v2_accept,
            true
        ));
    }

    #[test]
    fn v1_bodies_take_v1_and_unversioned_types() {
        let ok = headers(&[(header::CONTENT_TYPE, "application/vnd.kafka.avro.v1+json")]);
        assert!(request_type(&ok).is_ok());
        let generic = headers(&[(header::CONTENT_TYPE, "application/octet-stream")]);
        assert!(request_type(&generic).is_ok());
        let v2 = headers(&[(header::CONTENT_TYPE, "application/vnd.kafka.json.v2+json")]);
        assert!(matches!(
            request_type(&v2),
            Err(RestError::UnsupportedMediaType(_))
        ));
    }
}
