//! v1 produce: `POST /topics/{topic}` and `POST /topics/{topic}/partitions/{partition}`
//! in the binary, json and avro formats. Requests and answers have v2's shape (seed 001's
//! fields), so v2's conversion and sending do the work; only the content types differ.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use kgate_formats::EmbeddedFormat;
use kgate_http::{HttpError, LimitedBody};

use super::{V1Accept, V1Error, request_type};
use crate::error::RestError;
use crate::negotiation::Negotiated;
use crate::state::AppState;
use crate::v2::partitions::parse_partition;
use crate::v2::produce::{ProduceResponse, parse_records, produce};

/// `POST /topics/{topic}`.
pub async fn to_topic(
    State(state): State<AppState>,
    V1Accept(content_type): V1Accept,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Result<LimitedBody, HttpError>,
) -> Result<Negotiated<ProduceResponse>, V1Error> {
    let LimitedBody(body) = body?;
    let format = body_format(&headers)?;
    let (records, schema_ids) = parse_records(&state, &topic, format, &body).await?;
    let response = produce(&state, &topic, records, None, schema_ids).await?;
    Ok(Negotiated(content_type, response))
}

/// `POST /topics/{topic}/partitions/{partition}`.
pub async fn to_partition(
    State(state): State<AppState>,
    V1Accept(content_type): V1Accept,
    Path((topic, partition)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<LimitedBody, HttpError>,
) -> Result<Negotiated<ProduceResponse>, V1Error> {
    let partition = parse_partition(&topic, &partition)?;
    let LimitedBody(body) = body?;
    let format = body_format(&headers)?;
    let (records, schema_ids) = parse_records(&state, &topic, format, &body).await?;
    // 40402 for the whole request rather than one error per record.
    state.kafka.partition(&topic, partition).await?;
    let response = produce(&state, &topic, records, Some(partition), schema_ids).await?;
    Ok(Negotiated(content_type, response))
}

/// The embedded format of a v1 produce body: binary, json or avro (v1 has no other),
/// binary when the type names none.
fn body_format(headers: &HeaderMap) -> Result<EmbeddedFormat, RestError> {
    let format = request_type(headers)?.format_or_binary();
    match format {
        EmbeddedFormat::Binary | EmbeddedFormat::Json | EmbeddedFormat::Avro => Ok(format),
        other => Err(RestError::UnsupportedMediaType(format!(
            "The {other} format is served by REST Proxy v2 and v3, not v1"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, header};

    #[test]
    fn v1_bodies_are_binary_json_or_avro() {
        let mut h = HeaderMap::new();
        assert_eq!(body_format(&h).unwrap(), EmbeddedFormat::Binary);
        for (ct, want) in [
            ("application/vnd.kafka.json.v1+json", EmbeddedFormat::Json),
            ("application/vnd.kafka.avro.v1+json", EmbeddedFormat::Avro),
            ("application/vnd.kafka.v1+json", EmbeddedFormat::Binary),
            ("application/json", EmbeddedFormat::Binary),
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            assert_eq!(body_format(&h).unwrap(), want, "{ct}");
        }
        for ct in [
            "application/vnd.kafka.protobuf.v1+json",
            "application/vnd.kafka.binary.v2+json",
            "text/plain",
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            assert!(
                matches!(body_format(&h), Err(RestError::UnsupportedMediaType(_))),
                "{ct}"
            );
        }
    }
}
