//! `/healthcheck` and `/kafka/cluster/info` (also served by the admin server as
//! `/admin/kafka/info`), and the answer to unknown paths.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::WsState;
use crate::error::WsError;

/// `GET /healthcheck`: the proxy is up (Kafka is not asked).
pub async fn healthcheck(State(state): State<WsState>, headers: HeaderMap) -> Response {
    if let Err(e) = state.authenticate(&headers) {
        return e.into_response();
    }
    json_response(
        StatusCode::OK,
        r#"{ "response": "I'm healthy" }"#.to_string(),
    )
}

/// `GET /kafka/cluster/info`: the brokers of the cluster, as `/admin/kafka/info`.
pub async fn cluster_info(State(state): State<WsState>, headers: HeaderMap) -> Response {
    match brokers(&state, &headers).await {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => e.into_response(),
    }
}

/// The brokers as JSON: `[{"id":..,"host":..,"port":..,"rack":..}]` (`rack` only when
/// the broker has one).
pub async fn brokers(state: &WsState, headers: &HeaderMap) -> Result<String, WsError> {
    state.authenticate(headers)?;
    let cluster = state
        .kafka()
        .describe_cluster()
        .await
        .map_err(|e| match e {
            kgate_kafka::KafkaError::Authentication(_)
            | kgate_kafka::KafkaError::Authorization(_) => WsError::Kafka(e),
            other => WsError::Unavailable(format!("The Kafka cluster cannot be reached: {other}")),
        })?;
    let list: Vec<Value> = cluster
        .nodes
        .iter()
        .map(|n| {
            let mut m = Map::new();
            m.insert("id".into(), json!(n.id));
            m.insert("host".into(), json!(n.host));
            m.insert("port".into(), json!(n.port));
            if let Some(rack) = &n.rack {
                m.insert("rack".into(), json!(rack));
            }
            Value::Object(m)
        })
        .collect();
    Ok(Value::Array(list).to_string())
}

/// Any path the proxy does not serve.
pub async fn not_found() -> Response {
    WsError::NotFound.into_response()
}

/// A JSON body with `status`.
pub fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
