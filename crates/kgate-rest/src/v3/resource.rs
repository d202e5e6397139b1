//! What every v3 resource shares: URLs for `metadata.self` and `related` links built
//! from the request's base URL, `crn:///` resource names, the list wrapper, the cluster
//! id check, the JSON body extractor and the v3 error response.

use std::fmt;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kgate_http::{ErrorEnvelope, LimitedBody};
use kgate_kafka::KafkaError;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::parse_json;
use crate::{AppState, RestError};

/// A v3 error: any [`RestError`], answered with v3's codes and `application/json`.
///
/// v3 reports an unknown topic or partition as 40403 "This server does not host this
/// topic-partition." and a refused Kafka request as 40002, where v2 used 40401/40402/400.
#[derive(Debug)]
pub struct V3Error(pub RestError);

impl<E: Into<RestError>> From<E> for V3Error {
    fn from(e: E) -> Self {
        V3Error(e.into())
    }
}

impl V3Error {
    fn is_unknown_topic_partition(&self) -> bool {
        matches!(
            self.0,
            RestError::TopicNotFound(_)
                | RestError::PartitionNotFound { .. }
                | RestError::Kafka(KafkaError::TopicNotFound(_))
                | RestError::Kafka(KafkaError::PartitionNotFound { .. })
        )
    }
}

impl fmt::Display for V3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_unknown_topic_partition() {
            return f.write_str("This server does not host this topic-partition.");
        }
        match &self.0 {
            RestError::Kafka(KafkaError::TopicAlreadyExists(t)) => {
                write!(f, "Topic '{t}' already exists.")
            }
            RestError::Kafka(KafkaError::InvalidRequest(m)) => f.write_str(m),
            RestError::Kafka(KafkaError::Unsupported(_)) => f.write_str(
                "The version of this API is not supported in the underlying Kafka cluster.",
            ),
            other => other.fmt(f),
        }
    }
}

impl ErrorEnvelope for V3Error {
    fn status(&self) -> StatusCode {
        match &self.0 {
            RestError::Kafka(KafkaError::TopicAlreadyExists(_)) => StatusCode::CONFLICT,
            RestError::Kafka(KafkaError::InvalidRequest(_) | KafkaError::Unsupported(_)) => {
                StatusCode::BAD_REQUEST
            }
            other => other.status(),
        }
    }

    fn error_code(&self) -> u32 {
        if self.is_unknown_topic_partition() {
            return 40403;
        }
        match &self.0 {
            RestError::Kafka(KafkaError::TopicAlreadyExists(_)) => 409,
            RestError::Kafka(KafkaError::InvalidRequest(_)) => 40002,
            RestError::Kafka(KafkaError::Unsupported(_)) => 40035,
            other => other.error_code(),
        }
    }
}

impl IntoResponse for V3Error {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

/// The result of a v3 handler.
pub type V3Result<T = Response> = Result<T, V3Error>;

/// Builds the absolute URLs of v3 resources for one request: the advertised base when
/// configured, else the scheme and host the request was sent to.
#[derive(Debug, Clone)]
pub struct V3Urls {
    base: String,
}

impl V3Urls {
    /// URLs under `base` (e.g. `http://proxy:8082`).
    pub fn new(base: &str) -> Self {
        V3Urls {
            base: format!("{}/v3", base.trim_end_matches('/')),
        }
    }

    /// `{base}/v3/clusters`.
    pub fn clusters(&self) -> String {
        format!("{}/clusters", self.base)
    }

    /// `{base}/v3/clusters/{cluster}` followed by `path` (which starts with `/` or is
    /// empty); each segment of `path` must already be encoded with [`segment`].
    pub fn cluster(&self, cluster: &str, path: &str) -> String {
        format!("{}/clusters/{}{}", self.base, segment(cluster), path)
    }

    /// `{"related": <cluster url + path>}`.
    pub fn related(&self, cluster: &str, path: &str) -> Value {
        json!({ "related": self.cluster(cluster, path) })
    }
}

impl FromRequestParts<AppState> for V3Urls {
    type Rejection = V3Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> V3Result<Self> {
        Ok(V3Urls::new(&state.base_url(&parts.headers, &parts.uri)?))
    }
}

/// Percent-encodes one path segment (topic names may hold `.`/`_`/`-` only, but group
/// ids, config names and principals can hold anything).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `crn:///kafka=<cluster>` resource name, with `parts` (`("topic", "t")`, ...)
/// appended as `/<kind>=<name>`.
pub fn crn(cluster: &str, parts: &[(&str, &str)]) -> String {
    let mut out = format!("crn:///kafka={cluster}");
    for (kind, name) in parts {
        out.push_str(&format!("/{kind}={name}"));
    }
    out
}

/// `{"self": .., "resource_name": ..}`, the metadata of one resource.
pub fn resource_metadata(self_url: String, resource_name: String) -> Value {
    json!({ "self": self_url, "resource_name": resource_name })
}

/// The list wrapper `{"kind":..,"metadata":{"self":..,"next":null},"data":[..]}`.
pub fn list(kind: &str, self_url: String, data: Vec<Value>) -> Value {
    json!({
        "kind": kind,
        "metadata": { "self": self_url, "next": null },
        "data": data,
    })
}

/// A 200 response with a JSON body.
pub fn ok(body: Value) -> Response {
    axum::Json(body).into_response()
}

/// A 201 response with a JSON body.
pub fn created(body: Value) -> Response {
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

/// A 204 response.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Checks that `cluster_id` is this cluster's id (404 "Cluster X cannot be found."
/// otherwise) and returns it.
pub async fn check_cluster(state: &AppState, cluster_id: &str) -> V3Result<String> {
    let actual = state.kafka.cluster_id().await?;
    if actual == cluster_id {
        return Ok(actual);
    }
    // The id is cached; another cluster may have come up behind the same addresses.
    let actual = state.kafka.fresh_cluster_id().await?;
    if actual == cluster_id {
        Ok(actual)
    } else {
        Err(RestError::ClusterNotFound(cluster_id.to_string()).into())
    }
}

/// Parses a numeric path parameter (partition or broker id); anything else is 404, as no
/// resource can have such an id, with a message naming what was given.
pub fn path_id(text: &str) -> V3Result<i32> {
    text.parse::<i32>().map_err(|_| {
        V3Error(RestError::V3NotFound(format!(
            "{:?} is not a partition or broker id: ids are numbers.",
            text.chars().take(100).collect::<String>()
        )))
    })
}

/// A v3 JSON request body: a Content-Type other than JSON is 415, an empty body 422
/// "Payload error. Request body is empty. Data is required.", malformed JSON 400, and
/// JSON of the wrong shape 422.
pub struct V3Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for V3Json<T> {
    type Rejection = V3Error;

    async fn from_request(req: Request, state: &S) -> V3Result<Self> {
        check_json_content_type(req.headers())?;
        let LimitedBody(bytes) = LimitedBody::from_request(req, state)
            .await
            .map_err(RestError::from)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(RestError::Unprocessable(
                "Payload error. Request body is empty. Data is required.".to_string(),
            )
            .into());
        }
        Ok(V3Json(parse_json(&bytes)?))
    }
}

/// Accepts `application/json` and `+json` types; no Content-Type is taken as JSON, as
/// curl users often omit it.
/// Request bodies are JSON: any other declared type is 415 (no type at all is taken as
/// JSON, as the reference proxy does).
pub(crate) fn check_json_content_type(headers: &HeaderMap) -> V3Result<()> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(RestError::UnsupportedMediaType("HTTP 415 Unsupported Media Type".to_string()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_names() {
        let u = V3Urls::new("http://h:1/");
        assert_eq!(u.clusters(), "http://h:1/v3/clusters");
        assert_eq!(
            u.cluster("c", "/topics/t"),
            "http://h:1/v3/clusters/c/topics/t"
        );
        assert_eq!(
            crn("c", &[("topic", "t"), ("partition", "1")]),
            "crn:///kafka=c/topic=t/partition=1"
        );
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn v3_codes() {
        let e = V3Error::from(KafkaError::TopicNotFound("t".into()));
        assert_eq!((e.status(), e.error_code()), (StatusCode::NOT_FOUND, 40403));
        assert_eq!(
            e.to_string(),
            "This server does not host this topic-partition."
        );
        let e = V3Error::from(RestError::ClusterNotFound("x".into()));
        assert_eq!((e.status(), e.error_code()), (StatusCode::NOT_FOUND, 404));
        assert_eq!(e.to_string(), "Cluster x cannot be found.");
        let e = V3Error::from(KafkaError::InvalidRequest("bad".into()));
        assert_eq!(
            (e.status(), e.error_code()),
            (StatusCode::BAD_REQUEST, 40002)
        );
    }
}
