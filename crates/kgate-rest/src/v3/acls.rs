//! REST Proxy v3: ACLs — list with filters, create one, create a batch, delete matching.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::{get, post};
use kgate_kafka::KafkaError;
use kgate_kafka::native::acls::{
    AclBinding, AclFilter, AclOperation, AclPatternType, AclPermission, AclResourceType,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::RestError;
use crate::v3::resource::{self, V3Json, V3Result, V3Urls};

/// The only name a CLUSTER resource can have.
const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";

/// The acls routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v3/clusters/{cluster_id}/acls",
            get(list).post(create).delete(delete),
        )
        .route("/v3/clusters/{cluster_id}/acls:batch", post(create_batch))
}

/// An ACL as a request body gives it (names as in Kafka: `TOPIC`, `LITERAL`, ...).
#[derive(Debug, Deserialize)]
pub struct AclRequest {
    /// `TOPIC`, `GROUP`, `CLUSTER`, `TRANSACTIONAL_ID`.
    pub resource_type: String,
    /// The resource name or prefix.
    pub resource_name: String,
    /// `LITERAL` or `PREFIXED`.
    pub pattern_type: String,
    /// The principal, e.g. `User:alice`.
    pub principal: String,
    /// The host, `*` for any.
    pub host: String,
    /// The operation, e.g. `READ`.
    pub operation: String,
    /// `ALLOW` or `DENY`.
    pub permission: String,
}

/// The body of `POST /acls:batch`.
#[derive(Debug, Deserialize)]
pub struct AclBatchRequest {
    /// The ACLs to create.
    pub data: Vec<AclRequest>,
}

/// The filter query parameters of list and delete.
#[derive(Debug, Default)]
struct AclQuery {
    resource_type: Option<String>,
    resource_name: Option<String>,
    pattern_type: Option<String>,
    principal: Option<String>,
    host: Option<String>,
    operation: Option<String>,
    permission: Option<String>,
}

/// A value of one of the ACL enums, or 400 naming the field.
fn parse_enum<T>(field: &str, value: &str, parse: fn(&str) -> Option<T>) -> Result<T, RestError> {
    parse(value).ok_or_else(|| {
        RestError::BadRequest(format!(
            "Cannot deserialize value {value:?} of {field}: not one of the accepted values"
        ))
    })
}

/// Filter values, absent meaning ANY.
fn optional_enum<T>(
    field: &str,
    value: Option<&str>,
    any: T,
    parse: fn(&str) -> Option<T>,
) -> Result<T, RestError> {
    match value {
        None | Some("") => Ok(any),
        Some(v) => parse_enum(field, v, parse),
    }
}

impl AclQuery {
    fn parse(raw: Option<&str>) -> Result<AclQuery, RestError> {
        let mut q = AclQuery::default();
        for (key, value) in form_pairs(raw.unwrap_or("")) {
            let slot = match key.as_str() {
                "resource_type" => &mut q.resource_type,
                "resource_name" => &mut q.resource_name,
                "pattern_type" => &mut q.pattern_type,
                "principal" => &mut q.principal,
                "host" => &mut q.host,
                "operation" => &mut q.operation,
                "permission" => &mut q.permission,
                _ => continue,
            };
            *slot = Some(value);
        }
        Ok(q)
    }

    fn filter(&self) -> Result<AclFilter, RestError> {
        Ok(AclFilter {
            resource_type: optional_enum(
                "resource_type",
                self.resource_type.as_deref(),
                AclResourceType::Any,
                AclResourceType::from_name,
            )?,
            resource_name: self.resource_name.clone().filter(|s| !s.is_empty()),
            pattern_type: optional_enum(
                "pattern_type",
                self.pattern_type.as_deref(),
                AclPatternType::Any,
                AclPatternType::from_name,
            )?,
            principal: self.principal.clone().filter(|s| !s.is_empty()),
            host: self.host.clone().filter(|s| !s.is_empty()),
            operation: optional_enum(
                "operation",
                self.operation.as_deref(),
                AclOperation::Any,
                AclOperation::from_name,
            )?,
            permission: optional_enum(
                "permission",
                self.permission.as_deref(),
                AclPermission::Any,
                AclPermission::from_name,
            )?,
        })
    }
}

/// Splits an `application/x-www-form-urlencoded` query into decoded pairs.
fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or(""), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query value, keeping `*` readable as the reference does.
fn query_value(s: &str) -> String {
    resource::segment(s).replace("%2A", "*")
}

/// Turns a request ACL into a binding, refusing filter-only values and a CLUSTER
/// resource with any other name than `kafka-cluster`.
fn binding(a: &AclRequest) -> Result<AclBinding, RestError> {
    let resource_type = parse_enum(
        "resource_type",
        &a.resource_type,
        AclResourceType::from_name,
    )?;
    let pattern_type = parse_enum("pattern_type", &a.pattern_type, AclPatternType::from_name)?;
    let operation = parse_enum("operation", &a.operation, AclOperation::from_name)?;
    let permission = parse_enum("permission", &a.permission, AclPermission::from_name)?;
    if resource_type == AclResourceType::Any
        || matches!(pattern_type, AclPatternType::Any | AclPatternType::Match)
        || operation == AclOperation::Any
        || permission == AclPermission::Any
    {
        return Err(invalid(
            "ANY and MATCH only select ACLs; a new ACL needs a concrete resource_type, pattern_type, operation and permission",
        ));
    }
    if resource_type == AclResourceType::Cluster && a.resource_name != CLUSTER_RESOURCE_NAME {
        return Err(invalid(
            "The only valid name for the CLUSTER resource is kafka-cluster",
        ));
    }
    Ok(AclBinding {
        resource_type,
        resource_name: a.resource_name.clone(),
        pattern_type,
        principal: a.principal.clone(),
        host: a.host.clone(),
        operation,
        permission,
    })
}

/// A request Kafka would refuse (400, error code 40002 in v3).
fn invalid(message: &str) -> RestError {
    RestError::Kafka(KafkaError::InvalidRequest(message.to_string()))
}

/// One `KafkaAcl` resource.
fn acl_json(urls: &V3Urls, cluster: &str, a: &AclBinding) -> Value {
    let query = format!(
        "resource_type={}&resource_name={}&pattern_type={}&principal={}&host={}&operation={}&permission={}",
        a.resource_type.name(),
        query_value(&a.resource_name),
        a.pattern_type.name(),
        query_value(&a.principal),
        query_value(&a.host),
        a.operation.name(),
        a.permission.name(),
    );
    json!({
        "kind": "KafkaAcl",
        "metadata": { "self": urls.cluster(cluster, &format!("/acls?{query}")) },
        "cluster_id": cluster,
        "resource_type": a.resource_type.name(),
        "resource_name": a.resource_name,
        "pattern_type": a.pattern_type.name(),
        "principal": a.principal,
        "host": a.host,
        "operation": a.operation.name(),
        "permission": a.permission.name(),
    })
}

/// `GET /v3/clusters/{cluster_id}/acls`.
async fn list(
    State(state): State<AppState>,
    urls: V3Urls,
    Path(cluster_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> V3Result<Response> {
    let cluster = resource::check_cluster(&state, &cluster_id).await?;
    let filter = AclQuery::parse(raw.as_deref())?.filter()?;
    let mut acls = state.kafka.describe_acls(&filter).await?;
    acls.sort();
    let self_url = match raw.as_deref().filter(|q| !q.is_empty()) {
        Some(q) => urls.cluster(&cluster, &format!("/acls?{q}")),
        None => urls.cluster(&cluster, "/acls"),
    };
    Ok(resource::ok(json!({
        "kind": "KafkaAclList",
        "metadata": { "self": self_url },
        "data": acls.iter().map(|a| acl_json(&urls, &cluster, a)).collect::<Vec<_>>(),
    })))
}

/// `POST /v3/clusters/{cluster_id}/acls`: 201 with no body.
async fn create(
    State(state): State<AppState>,
    Path(cluster_id): Path<String>,
    V3Json(request): V3Json<AclRequest>,
) -> V3Result<Response> {
    resource::check_cluster(&state, &cluster_id).await?;
    let acl = binding(&request)?;
    state.kafka.create_acls(&[acl]).await?;
    Ok(created_empty())
}

/// `POST /v3/clusters/{cluster_id}/acls:batch`: every ACL in one request, 201.
async fn create_batch(
    State(state): State<AppState>,
    Path(cluster_id): Path<String>,
    V3Json(request): V3Json<AclBatchRequest>,
) -> V3Result<Response> {
    resource::check_cluster(&state, &cluster_id).await?;
    let acls = request
        .data
        .iter()
        .map(binding)
        .collect::<Result<Vec<_>, _>>()?;
    if !acls.is_empty() {
        state.kafka.create_acls(&acls).await?;
    }
    Ok(created_empty())
}

fn created_empty() -> Response {
    use axum::response::IntoResponse;
    axum::http::StatusCode::CREATED.into_response()
}

/// `DELETE /v3/clusters/{cluster_id}/acls`: deletes the matching ACLs and lists them.
async fn delete(
    State(state): State<AppState>,
    urls: V3Urls,
    Path(cluster_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> V3Result<Response> {
    let cluster = resource::check_cluster(&state, &cluster_id).await?;
    let query = AclQuery::parse(raw.as_deref())?;
    // Deleting everything by accident is too easy: these must be named (ANY is allowed).
    for (field, value) in [
        ("resource_type", &query.resource_type),
        ("pattern_type", &query.pattern_type),
        ("operation", &query.operation),
        ("permission", &query.permission),
    ] {
        if value
            .as_deref()
            .is_none_or(|v| v.is_empty() || v.eq_ignore_ascii_case("UNKNOWN"))
        {
            return Err(
                RestError::BadRequest(format!("{field} cannot be unspecified or UNKNOWN")).into(),
            );
        }
    }
    let filter = query.filter()?;
    let mut deleted = state.kafka.delete_acls(&[filter]).await?;
    deleted.sort();
    Ok(resource::ok(json!({
        "data": deleted.iter().map(|a| acl_json(&urls, &cluster, a)).collect::<Vec<_>>(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_and_encode() {
        let pairs = form_pairs("principal=User%3Aalice&host=*&resource_name=a+b");
        assert_eq!(
            pairs,
            vec![
                ("principal".to_string(), "User:alice".to_string()),
                ("host".to_string(), "*".to_string()),
                ("resource_name".to_string(), "a b".to_string()),
            ]
        );
        assert_eq!(query_value("User:alice"), "User%3Aalice");
        assert_eq!(query_value("*"), "*");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
