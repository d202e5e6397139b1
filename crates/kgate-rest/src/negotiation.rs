//! Content negotiation: the `application/vnd.kafka[.format][.version]+json` types,
//! `application/json` and `application/octet-stream`, weighted Accept headers.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use kgate_formats::EmbeddedFormat;

use crate::error::RestError;

/// The v2 metadata response type, preferred when the client accepts anything.
pub const V2_JSON: &str = "application/vnd.kafka.v2+json";

/// Response types a v2 endpoint without embedded records can answer with, most
/// preferred first.
pub const V2_RESPONSE_TYPES: &[&str] = &[V2_JSON, "application/vnd.kafka+json", "application/json"];

/// The v1 metadata response type.
pub const V1_JSON: &str = "application/vnd.kafka.v1+json";

/// The v1 binary records type.
pub const V1_BINARY: &str = "application/vnd.kafka.binary.v1+json";

/// The v1 JSON records type.
pub const V1_JSON_RECORDS: &str = "application/vnd.kafka.json.v1+json";

/// The v1 avro records type.
pub const V1_AVRO: &str = "application/vnd.kafka.avro.v1+json";

/// Response types a v1 endpoint without embedded records can answer with, most preferred
/// first; the records types come last, as Confluent's proxy offers them there at a low
/// weight for clients that send one type with every request.
pub const V1_RESPONSE_TYPES: &[&str] = &[
    V1_JSON,
    "application/vnd.kafka+json",
    "application/json",
    V1_BINARY,
    V1_JSON_RECORDS,
    V1_AVRO,
];

/// The API version a request names: its Content-Type's when that names one, else that
/// of the versioned Kafka type its Accept header weighs highest (the first listed among
/// equals); `None` when neither names a version.
pub fn requested_version(headers: &HeaderMap) -> Option<u32> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_media_type);
    if let Some(version) = content_type.and_then(|t| t.version) {
        return Some(version);
    }
    let mut best: Option<(f32, u32)> = None;
    let ranges = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|a| a.split(','));
    for range in ranges {
        let Some(version) = parse_media_type(range).and_then(|t| t.version) else {
            continue;
        };
        let q = range
            .split(';')
            .skip(1)
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, v)| v.trim().parse().unwrap_or(0.0));
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, version));
        }
    }
    best.map(|(_, version)| version)
}

/// A request or response media type, as far as the REST Proxy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaMediaType {
    /// The embedded format; `None` when the type names none (binary is then assumed for
    /// records).
    pub format: Option<EmbeddedFormat>,
    /// The API version (`2` for `.v2`); `None` when the type names none.
    pub version: Option<u32>,
}

impl KafkaMediaType {
    /// The embedded format, binary when the type names none.
    pub fn format_or_binary(&self) -> EmbeddedFormat {
        self.format.unwrap_or(EmbeddedFormat::Binary)
    }
}

/// Parses a media type (parameters ignored). `application/json` and
/// `application/octet-stream` are the less specific types the reference permits; anything
/// else that is not `application/vnd.kafka...+json` is `None`.
pub fn parse_media_type(text: &str) -> Option<KafkaMediaType> {
    let essence = text.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" | "application/octet-stream" => {
            return Some(KafkaMediaType {
                format: None,
                version: None,
            });
        }
        _ => {}
    }
    let rest = essence.strip_prefix("application/vnd.kafka")?;
    let rest = rest.strip_suffix("+json")?;
    let mut format = None;
    let mut version = None;
    for part in rest.split('.').skip(1) {
        if let Some(v) = part.strip_prefix('v').and_then(|v| v.parse::<u32>().ok()) {
            if version.is_some() {
                return None;
            }
            version = Some(v);
        } else if format.is_none() && version.is_none() {
            format = Some(EmbeddedFormat::from_name(part)?);
        } else {
            return None;
        }
    }
    if !(rest.is_empty() || rest.starts_with('.')) {
        return None;
    }
    Some(KafkaMediaType { format, version })
}

/// The type of a v2 request body: absent means binary, a type of another API version or
/// of no Kafka kind is 415.
pub fn request_media_type(headers: &HeaderMap) -> Result<KafkaMediaType, RestError> {
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
        Some(t) if t.version.is_none() || t.version == Some(2) => Ok(t),
        _ => Err(RestError::UnsupportedMediaType(format!(
            "HTTP 415 Unsupported Media Type: {text}"
        ))),
    }
}

/// Picks the response type among `offered` (most preferred first) that the Accept header
/// weighs highest; no Accept header means the first offer, nothing acceptable is 406.
pub fn negotiate(headers: &HeaderMap, offered: &[&'static str]) -> Result<&'static str, RestError> {
    let accepts: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if accepts.is_empty() {
        return offered.first().copied().ok_or(RestError::NotAcceptable);
    }
    let mut best: Option<(f32, usize, &'static str)> = None;
    for range in accepts.iter().flat_map(|a| a.split(',')) {
        let mut parts = range.split(';');
        let Some(pattern) = parts.next().map(|p| p.trim().to_ascii_lowercase()) else {
            continue;
        };
        if pattern.is_empty() {
            continue;
        }
        let mut q = 1.0f32;
        for param in parts {
            if let Some((k, v)) = param.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = v.trim().parse().unwrap_or(0.0);
            }
        }
        if q <= 0.0 {
            continue;
        }
        for (rank, offer) in offered.iter().enumerate() {
            if matches_range(&pattern, offer) {
                let better = match best {
                    None => true,
                    Some((bq, brank, _)) => q > bq || (q == bq && rank < brank),
                };
                if better {
                    best = Some((q, rank, offer));
                }
            }
        }
    }
    best.map(|(_, _, offer)| offer)
        .ok_or(RestError::NotAcceptable)
}

fn matches_range(pattern: &str, offer: &str) -> bool {
    if pattern == "*/*" || pattern == "*" {
        return true;
    }
    if let Some(prefix) = pattern.strip_suffix("/*") {
        return offer.split('/').next() == Some(prefix);
    }
    // `*/json` is no standard range, but clients send it meaning "any JSON": it matches
    // the offers whose subtype is `json` (`application/json`), as servers commonly read it.
    if let Some(subtype) = pattern.strip_prefix("*/") {
        return offer.split_once('/').is_some_and(|(_, s)| s == subtype);
    }
    pattern == offer
}

/// The negotiated response type of a v2 endpoint without embedded records.
#[derive(Debug, Clone, Copy)]
pub struct V2Accept(pub &'static str);

impl<S: Send + Sync> FromRequestParts<S> for V2Accept {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        negotiate(&parts.headers, V2_RESPONSE_TYPES).map(V2Accept)
    }
}

/// A JSON body sent with a negotiated content type.
pub struct Negotiated<T>(pub &'static str, pub T);

impl<T: serde::Serialize> IntoResponse for Negotiated<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.1) {
            Ok(body) => {
                let mut response = body.into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(self.0));
                response
            }
            Err(e) => RestError::Internal(format!("response serialization: {e}")).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn parses_kafka_types() {
        let t = parse_media_type("application/vnd.kafka.binary.v2+json").unwrap();
        assert_eq!(t.format, Some(EmbeddedFormat::Binary));
        assert_eq!(t.version, Some(2));
        let t = parse_media_type("application/vnd.kafka.json.v2+json; charset=utf-8").unwrap();
        assert_eq!(t.format, Some(EmbeddedFormat::Json));
        let t = parse_media_type("application/vnd.kafka.v2+json").unwrap();
        assert_eq!((t.format, t.version), (None, Some(2)));
        let t = parse_media_type("application/vnd.kafka+json").unwrap();
        assert_eq!((t.format, t.version), (None, None));
        let t = parse_media_type("application/vnd.kafka.avro+json").unwrap();
        assert_eq!((t.format, t.version), (Some(EmbeddedFormat::Avro), None));
        assert!(parse_media_type("application/json").is_some());
        assert!(parse_media_type("application/octet-stream").is_some());
        assert!(parse_media_type("text/plain").is_none());
        assert!(parse_media_type("application/vnd.kafka.xml.v2+json").is_none());
        assert!(parse_media_type("application/vnd.kafkax+json").is_none());
        assert!(parse_media_type("application/vnd.kafka.v2+xml").is_none());
    }

    #[test]
    fn the_requested_version_comes_from_content_type_then_accept() {
        let mut h = accept("application/vnd.kafka.v1+json, application/vnd.kafka+json");
        assert_eq!(requested_version(&h), Some(1));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.kafka.binary.v2+json"),
        );
        assert_eq!(requested_version(&h), Some(2));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert_eq!(requested_version(&h), Some(1));
        let h =
            accept("application/vnd.kafka.v2+json; q=0.9, application/vnd.kafka.v1+json; q=0.5");
        assert_eq!(requested_version(&h), Some(2));
        let h = accept("application/vnd.kafka.binary.v1+json, application/vnd.kafka.v2+json");
        assert_eq!(requested_version(&h), Some(1));
        let h = accept("application/vnd.kafka.v1+json; q=0, application/json");
        assert_eq!(requested_version(&h), None);
        assert_eq!(requested_version(&accept("*/*")), None);
        assert_eq!(requested_version(&HeaderMap::new()), None);
    }

    #[test]
    fn negotiation_honours_weights_and_wildcards() {
        assert_eq!(
            negotiate(&HeaderMap::new(), V2_RESPONSE_TYPES).unwrap(),
            V2_JSON
        );
        assert_eq!(
            negotiate(
                &accept("application/vnd.kafka.v2+json; q=0.4, application/json; q=0.5"),
                V2_RESPONSE_TYPES
            )
            .unwrap(),
            "application/json"
        );
        assert_eq!(
            negotiate(&accept("*/*"), V2_RESPONSE_TYPES).unwrap(),
            V2_JSON
        );
        assert_eq!(
            negotiate(&accept("application/*"), V2_RESPONSE_TYPES).unwrap(),
            V2_JSON
        );
        assert!(matches!(
            negotiate(&accept("text/html"), V2_RESPONSE_TYPES),
            Err(RestError::NotAcceptable)
        ));
        assert!(matches!(
            negotiate(&accept("application/json; q=0"), V2_RESPONSE_TYPES),
            Err(RestError::NotAcceptable)
        ));
        assert_eq!(
            negotiate(&accept("*/json"), V2_RESPONSE_TYPES).unwrap(),
            "application/json"
        );
        assert!(matches!(
            negotiate(&accept("*/xml"), V2_RESPONSE_TYPES),
            Err(RestError::NotAcceptable)
        ));
    }
}
