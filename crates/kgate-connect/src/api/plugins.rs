//! `/connector-plugins` and `/admin/loggers`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{ApiState, json_response};
use crate::converters::CONVERTERS;
use crate::error::ConnectError;
use crate::plugins::configdef::{DEFAULT_HEADER_CONVERTER, PLUGIN_VERSION};
use crate::plugins::{self, CONNECTORS};

type Answer = Result<Response, ConnectError>;

/// `GET /connector-plugins[?connectorsOnly=false]`.
pub async fn list(Query(query): Query<BTreeMap<String, String>>) -> Answer {
    let connectors_only = !query
        .get("connectorsOnly")
        .is_some_and(|v| v.eq_ignore_ascii_case("false"));
    let mut out: Vec<Value> = CONNECTORS
        .iter()
        .map(|p| json!({"class": p.class, "type": p.kind.name(), "version": PLUGIN_VERSION}))
        .collect();
    if !connectors_only {
        out.extend(
            CONVERTERS
                .iter()
                .map(|c| json!({"class": c.class, "type": "converter", "version": PLUGIN_VERSION})),
        );
        let mut headers: Vec<&str> = CONVERTERS.iter().map(|c| c.class).collect();
        headers.push(DEFAULT_HEADER_CONVERTER);
        headers.sort();
        out.extend(
            headers.into_iter().map(
                |c| json!({"class": c, "type": "header_converter", "version": PLUGIN_VERSION}),
            ),
        );
    }
    Ok(json_response(StatusCode::OK, &Value::Array(out)))
}

fn plugin(name: &str) -> Result<&'static plugins::ConnectorPlugin, ConnectError> {
    plugins::find(name).ok_or_else(|| ConnectError::NotFound(format!("Unknown plugin {name}.")))
}

/// `GET /connector-plugins/{p}/config`: the plugin's own settings, then the common ones.
pub async fn config(Path(name): Path<String>) -> Answer {
    let plugin = plugin(&name)?;
    let mut keys = (plugin.keys)();
    keys.extend(
        plugin
            .all_keys()
            .into_iter()
            .filter(|k| !keys_has(&(plugin.keys)(), k.name)),
    );
    // The converters' defaults come from the worker, so the plugin's own definition has
    // none (validation shows the worker's).
    let worker_supplied = [
        "key.converter",
        "key.converter.plugin.version",
        "value.converter",
        "value.converter.plugin.version",
        "header.converter",
        "header.converter.plugin.version",
    ];
    let definitions = keys
        .iter()
        .map(|k| {
            let mut d = k.definition();
            if worker_supplied.contains(&k.name) {
                d["default_value"] = Value::Null;
            }
            d
        })
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(definitions)))
}

fn keys_has(keys: &[plugins::configdef::ConfigKey], name: &str) -> bool {
    keys.iter().any(|k| k.name == name)
}

/// `PUT /connector-plugins/{p}/config/validate`.
pub async fn validate(Path(name): Path<String>, body: Bytes) -> Answer {
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| ConnectError::BadRequest(format!("Request body is not valid JSON: {e}")))?;
    let object = request.as_object().ok_or_else(|| {
        ConnectError::BadRequest("The configuration must be a JSON object".to_string())
    })?;
    let config: BTreeMap<String, String> = object
        .iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k.clone(), s.clone())),
            Value::Null => None,
            other => Some((k.clone(), other.to_string())),
        })
        .collect();
    let class = config.get("connector.class").cloned().unwrap_or_default();
    if class.is_empty() {
        return Err(ConnectError::BadRequest(
            "Connector config {} contains no connector type".to_string(),
        ));
    }
    // Apache validates the class named in the body; the path only has to agree.
    let plugin = plugins::find(&class)
        .ok_or_else(|| ConnectError::BadRequest(plugins::unknown_class_message(&class)))?;
    let path_plugin = plugins::find(&name);
    if path_plugin.is_some_and(|p| p.class != plugin.class) {
        return Err(ConnectError::BadRequest(
            "Included connector type does not match request type".to_string(),
        ));
    }
    Ok(json_response(StatusCode::OK, &plugin.validate(&config)))
}

const LEVELS: &[&str] = &["OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

/// `GET /admin/loggers`: the levels set through this API.
pub async fn loggers(State(state): State<ApiState>) -> Answer {
    let levels = state.loggers.lock().clone();
    let out: serde_json::Map<String, Value> = levels
        .into_iter()
        .map(|(name, (level, _))| (name, json!({ "level": level })))
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Object(out)))
}

/// `GET /admin/loggers/{name}`.
pub async fn logger(State(state): State<ApiState>, Path(name): Path<String>) -> Answer {
    match state.loggers.lock().get(&name) {
        Some((level, modified)) => Ok(json_response(
            StatusCode::OK,
            &json!({"level": level, "last_modified": modified}),
        )),
        None => Err(ConnectError::NotFound(format!("Logger {name} not found."))),
    }
}

/// `PUT /admin/loggers/{name}`: records the level; answers the loggers it applies to.
pub async fn set_logger(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Answer {
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| ConnectError::BadRequest(format!("Request body is not valid JSON: {e}")))?;
    let level = request
        .get("level")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ConnectError::BadRequest(
                "Desired 'level' parameter was not specified in request.".to_string(),
            )
        })?
        .to_ascii_uppercase();
    if !LEVELS.contains(&level.as_str()) {
        return Err(ConnectError::NotFound(format!(
            "invalid log level '{level}'."
        )));
    }
    let scope = query.get("scope").map(|s| s.to_ascii_lowercase());
    if scope
        .as_deref()
        .is_some_and(|s| s != "worker" && s != "cluster")
    {
        return Err(ConnectError::BadRequest(format!(
            "Invalid scope {}: expected worker or cluster",
            query["scope"]
        )));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut loggers = state.loggers.lock();
    // The level applies to the logger and every logger below it.
    let prefix = format!("{name}.");
    let mut affected: Vec<String> = loggers
        .keys()
        .filter(|k| k.starts_with(&prefix))
        .cloned()
        .collect();
    affected.push(name.clone());
    affected.sort();
    for logger in &affected {
        loggers.insert(logger.clone(), (level.clone(), now));
    }
    if scope.as_deref() == Some("cluster") {
        return Ok(json_response(StatusCode::NO_CONTENT, &Value::Null).map_body_empty());
    }
    Ok(json_response(StatusCode::OK, &json!(affected)))
}

trait EmptyBody {
    fn map_body_empty(self) -> Response;
}

impl EmptyBody for Response {
    fn map_body_empty(self) -> Response {
        let (parts, _) = self.into_parts();
        Response::from_parts(parts, axum::body::Body::empty())
    }
}
