//! `/connectors` and everything under it.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{ApiState, json_response, leader_write};
use crate::error::ConnectError;
use crate::herder::{parse_initial_state, patched};
use crate::storage::JsonMap;
use crate::storage::records::{Properties, TargetState};

type Answer = Result<Response, ConnectError>;

fn parse_json(body: &[u8]) -> Result<Value, ConnectError> {
    serde_json::from_slice(body)
        .map_err(|e| ConnectError::BadRequest(format!("Request body is not valid JSON: {e}")))
}

/// A configuration object: string values (numbers and booleans are taken as their text,
/// as Apache's JSON mapping takes them); `nulls` keeps null values (PATCH removes those).
fn config_map(v: &Value, nulls: bool) -> Result<BTreeMap<String, Option<String>>, ConnectError> {
    let object = v.as_object().ok_or_else(|| {
        ConnectError::BadRequest("Connector configuration must be a JSON object".to_string())
    })?;
    let mut out = BTreeMap::new();
    for (k, v) in object {
        let value = match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null if nulls => None,
            Value::Null => continue,
            _ => {
                return Err(ConnectError::BadRequest(format!(
                    "The value of connector configuration '{k}' must be a string"
                )));
            }
        };
        out.insert(k.clone(), value);
    }
    Ok(out)
}

fn strings(map: BTreeMap<String, Option<String>>) -> Properties {
    map.into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
}

/// Puts the URL's connector name into the config, or refuses a different one there.
fn named(name: &str, mut config: Properties) -> Result<Properties, ConnectError> {
    match config.get("name") {
        Some(included) if included != name => Err(ConnectError::BadRequest(format!(
            "Connector name configuration ({included}) doesn't match connector name in the URL ({name})"
        ))),
        Some(_) => Ok(config),
        None => {
            config.insert("name".to_string(), name.to_string());
            Ok(config)
        }
    }
}

/// `GET /connectors[?expand=status|info]`.
pub async fn list(State(state): State<ApiState>, uri: Uri) -> Answer {
    let expand: Vec<String> = uri
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.strip_prefix("expand="))
        .map(str::to_string)
        .collect();
    let names = state.herder.connectors();
    if expand.is_empty() {
        return Ok(json_response(StatusCode::OK, &json!(names)));
    }
    let mut out = Map::new();
    for name in names {
        let mut entry = Map::new();
        if expand.iter().any(|e| e == "info")
            && let Ok(info) = state.herder.connector_info(&name)
        {
            entry.insert("info".into(), info);
        }
        if expand.iter().any(|e| e == "status")
            && let Ok(status) = state.herder.connector_status(&name)
        {
            entry.insert("status".into(), status);
        }
        out.insert(name, Value::Object(entry));
    }
    Ok(json_response(StatusCode::OK, &Value::Object(out)))
}

/// `POST /connectors`.
pub async fn create(State(state): State<ApiState>, uri: Uri, body: Bytes) -> Answer {
    let request = parse_json(&body)?;
    let name = request
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    let config = request
        .get("config")
        .filter(|c| !c.is_null())
        .ok_or_else(|| ConnectError::BadRequest("Connector config must be provided".to_string()))?;
    let config = named(&name, strings(config_map(config, false)?))?;
    let initial = match request.get("initial_state") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_initial_state(s).ok_or_else(|| {
            ConnectError::BadRequest(format!(
                "Invalid initial_state {s}: expected RUNNING, PAUSED or STOPPED"
            ))
        })?),
        Some(_) => {
            return Err(ConnectError::BadRequest(
                "initial_state must be a string".to_string(),
            ));
        }
    };
    let herder = state.herder.clone();
    leader_write(&state, Method::POST, &uri, Some(body), || async move {
        let (_, info) = herder.put_connector(&name, config, false, initial).await?;
        let mut response = json_response(StatusCode::CREATED, &info);
        if let Ok(location) = format!("/connectors/{name}").parse() {
            response.headers_mut().insert(header::LOCATION, location);
        }
        Ok(response)
    })
    .await
}

/// `GET /connectors/{c}`.
pub async fn info(State(state): State<ApiState>, Path(name): Path<String>) -> Answer {
    Ok(json_response(
        StatusCode::OK,
        &state.herder.connector_info(&name)?,
    ))
}

/// `GET /connectors/{c}/config`.
pub async fn config(State(state): State<ApiState>, Path(name): Path<String>) -> Answer {
    Ok(json_response(
        StatusCode::OK,
        &json!(state.herder.connector_config(&name)?),
    ))
}

/// `PUT /connectors/{c}/config`: 201 when it creates the connector, 200 otherwise.
pub async fn put_config(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Answer {
    let config = named(&name, strings(config_map(&parse_json(&body)?, false)?))?;
    let herder = state.herder.clone();
    leader_write(&state, Method::PUT, &uri, Some(body), || async move {
        let (created, info) = herder.put_connector(&name, config, true, None).await?;
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok(json_response(status, &info))
    })
    .await
}

/// `PATCH /connectors/{c}/config`: merges the given keys (null removes one).
pub async fn patch_config(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Answer {
    let patch = config_map(&parse_json(&body)?, true)?;
    let herder = state.herder.clone();
    leader_write(&state, Method::PATCH, &uri, Some(body), || async move {
        let current = herder.connector_config(&name)?;
        let config = named(&name, patched(current, &patch))?;
        let (_, info) = herder.put_connector(&name, config, true, None).await?;
        Ok(json_response(StatusCode::OK, &info))
    })
    .await
}

/// `DELETE /connectors/{c}`.
pub async fn delete(State(state): State<ApiState>, Path(name): Path<String>, uri: Uri) -> Answer {
    let herder = state.herder.clone();
    leader_write(&state, Method::DELETE, &uri, None, || async move {
        herder.delete_connector(&name).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

/// `GET /connectors/{c}/status`.
pub async fn status(State(state): State<ApiState>, Path(name): Path<String>) -> Answer {
    Ok(json_response(
        StatusCode::OK,
        &state.herder.connector_status(&name)?,
    ))
}

async fn target(
    state: ApiState,
    name: String,
    uri: Uri,
    target: TargetState,
    method: Method,
    status: StatusCode,
) -> Answer {
    let herder = state.herder.clone();
    leader_write(&state, method, &uri, None, || async move {
        herder.set_target_state(&name, target).await?;
        Ok(status.into_response())
    })
    .await
}

/// `PUT /connectors/{c}/pause`: 202.
pub async fn pause(State(state): State<ApiState>, Path(name): Path<String>, uri: Uri) -> Answer {
    target(
        state,
        name,
        uri,
        TargetState::Paused,
        Method::PUT,
        StatusCode::ACCEPTED,
    )
    .await
}

/// `PUT /connectors/{c}/resume`: 202.
pub async fn resume(State(state): State<ApiState>, Path(name): Path<String>, uri: Uri) -> Answer {
    target(
        state,
        name,
        uri,
        TargetState::Started,
        Method::PUT,
        StatusCode::ACCEPTED,
    )
    .await
}

/// `PUT /connectors/{c}/stop`: 204.
pub async fn stop(State(state): State<ApiState>, Path(name): Path<String>, uri: Uri) -> Answer {
    target(
        state,
        name,
        uri,
        TargetState::Stopped,
        Method::PUT,
        StatusCode::NO_CONTENT,
    )
    .await
}

fn flag(query: &BTreeMap<String, String>, key: &str) -> Result<bool, ConnectError> {
    match query.get(key).map(|v| v.to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(ConnectError::BadRequest(format!(
            "Invalid value {v} for query parameter {key}: expected true or false"
        ))),
    }
}

/// `POST /connectors/{c}/restart[?includeTasks=&onlyFailed=]`: 204 for the connector
/// alone, else 202 with the status showing what restarts.
pub async fn restart(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    uri: Uri,
) -> Answer {
    let include_tasks = flag(&query, "includeTasks")?;
    let only_failed = flag(&query, "onlyFailed")?;
    let herder = state.herder.clone();
    leader_write(&state, Method::POST, &uri, None, || async move {
        herder
            .request_restart(&name, include_tasks, only_failed)
            .await?;
        if !include_tasks && !only_failed {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        let mut status = herder.connector_status(&name)?;
        let restarting = |s: &mut Value| {
            let failed = s["state"] == "FAILED";
            if !only_failed || failed {
                s["state"] = json!("RESTARTING");
            }
        };
        restarting(&mut status["connector"]);
        if include_tasks && let Some(tasks) = status["tasks"].as_array_mut() {
            tasks.iter_mut().for_each(restarting);
        }
        Ok(json_response(StatusCode::ACCEPTED, &status))
    })
    .await
}

/// `GET /connectors/{c}/tasks`.
pub async fn tasks(State(state): State<ApiState>, Path(name): Path<String>) -> Answer {
    Ok(json_response(
        StatusCode::OK,
        &state.herder.task_configs(&name)?,
    ))
}

fn task_number(text: &str) -> Result<u32, ConnectError> {
    text.parse()
        .map_err(|_| ConnectError::NotFound("HTTP 404 Not Found".to_string()))
}

/// `GET /connectors/{c}/tasks/{t}/status`.
pub async fn task_status(
    State(state): State<ApiState>,
    Path((name, task)): Path<(String, String)>,
) -> Answer {
    let task = task_number(&task)?;
    Ok(json_response(
        StatusCode::OK,
        &state.herder.task_status(&name, task)?,
    ))
}

/// `POST /connectors/{c}/tasks/{t}/restart`: restarted where it runs (forwarded to that
/// worker when it is another).
pub async fn task_restart(
    State(state): State<ApiState>,
    Path((name, task)): Path<(String, String)>,
    uri: Uri,
) -> Answer {
    let n = task_number(&task)?;
    let herder = &state.herder;
    let exists = herder.stores().config(|c| {
        c.connectors
            .contains_key(&name)
            .then(|| c.task_configs(&name).len())
    });
    match exists {
        None => return Err(ConnectError::NotFound(format!("Unknown connector: {name}"))),
        Some(count) if n as usize >= count => {
            return Err(ConnectError::NotFound(format!("Unknown task: {name}-{n}")));
        }
        Some(_) => {}
    }
    if herder.restart_task_here(&name, n).await {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let owner = herder
        .task_owner(&name, n)
        .filter(|o| o != herder.worker_id());
    match (owner, super::forward_flag(uri.query())) {
        (Some(owner), None) => {
            let target =
                format!("http://{owner}/connectors/{name}/tasks/{n}/restart?forward=false");
            let answer = state.http.post(&target).send().await.map_err(|e| {
                ConnectError::Conflict(format!(
                    "Cannot reach the worker {owner} running the task: {e}"
                ))
            })?;
            let status =
                StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let text = answer.bytes().await.unwrap_or_default();
            Ok((status, [(header::CONTENT_TYPE, "application/json")], text).into_response())
        }
        _ => Err(ConnectError::Conflict(
            "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
                .to_string(),
        )),
    }
}

/// `GET /connectors/{c}/topics`.
pub async fn topics(State(state): State<ApiState>, Path(name): Path<String>) -> Answer {
    Ok(json_response(StatusCode::OK, &state.herder.topics(&name)))
}

/// `PUT /connectors/{c}/topics/reset`: 202.
pub async fn topics_reset(State(state): State<ApiState>, Path(name): Path<String>) -> Answer {
    state.herder.stores().reset_topics(&name).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `GET /connectors/{c}/offsets`.
pub async fn offsets(State(state): State<ApiState>, Path(name): Path<String>) -> Answer {
    Ok(json_response(
        StatusCode::OK,
        &state.herder.offsets(&name).await?,
    ))
}

/// `PATCH /connectors/{c}/offsets`.
pub async fn alter_offsets(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Answer {
    let request = parse_json(&body)?;
    let list = request
        .get("offsets")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            ConnectError::BadRequest(
                "Partitions / offsets need to be provided for an alter offsets request".to_string(),
            )
        })?;
    let mut changes: Vec<(JsonMap, Option<JsonMap>)> = Vec::new();
    for entry in list {
        let partition = entry
            .get("partition")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| {
                ConnectError::BadRequest("Each offset needs a partition object".to_string())
            })?;
        let offset = match entry.get("offset") {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(o.clone()),
            Some(_) => {
                return Err(ConnectError::BadRequest(
                    "An offset must be an object or null".to_string(),
                ));
            }
        };
        changes.push((partition, offset));
    }
    let herder = state.herder.clone();
    leader_write(&state, Method::PATCH, &uri, Some(body), || async move {
        let answer = herder.alter_offsets(&name, Some(changes)).await?;
        Ok(json_response(StatusCode::OK, &answer))
    })
    .await
}

/// `DELETE /connectors/{c}/offsets`.
pub async fn reset_offsets(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    uri: Uri,
) -> Answer {
    let herder = state.herder.clone();
    leader_write(&state, Method::DELETE, &uri, None, || async move {
        let answer = herder.alter_offsets(&name, None).await?;
        Ok(json_response(StatusCode::OK, &answer))
    })
    .await
}
