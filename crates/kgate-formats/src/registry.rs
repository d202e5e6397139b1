//! The Schema Registry as the embedded formats see it: a trait for what they ask of it,
//! and its implementation over Confluent Schema Registry's HTTP API (which kgate's own
//! registry also serves), with a cache so a schema is fetched once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::FormatError;
use crate::schema::{SchemaReference, SchemaType};

/// The content type of Confluent Schema Registry's API.
pub const REGISTRY_CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// A schema as the registry stores it: its text, type and references.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SchemaText {
    /// The schema text (Avro JSON, .proto source, or JSON Schema).
    pub schema: String,
    /// `AVRO`, `PROTOBUF` or `JSON`; the registry omits it for Avro.
    #[serde(rename = "schemaType", default)]
    pub schema_type: SchemaType,
    /// Other subjects' schemas this one imports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
}

/// A schema registered under a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectSchema {
    /// The subject.
    pub subject: String,
    /// The schema's globally unique id.
    pub id: i32,
    /// The version under the subject.
    pub version: i32,
    /// The schema.
    pub schema: SchemaText,
}

/// What the embedded formats need from a Schema Registry.
#[async_trait::async_trait]
pub trait SchemaRegistry: Send + Sync {
    /// Registers `schema` under `subject` (idempotent) and returns its id.
    async fn register(&self, subject: &str, schema: &SchemaText) -> Result<i32, FormatError>;
    /// The schema with id `id`.
    async fn schema_by_id(&self, id: i32) -> Result<SchemaText, FormatError>;
    /// Version `version` of `subject`, or the latest with `None`.
    async fn subject_version(
        &self,
        subject: &str,
        version: Option<i32>,
    ) -> Result<SubjectSchema, FormatError>;
    /// The subject's version holding `schema`, if it is registered there.
    async fn lookup(
        &self,
        subject: &str,
        schema: &SchemaText,
    ) -> Result<SubjectSchema, FormatError>;
}

/// How to reach a registry over HTTP, under Confluent's client setting names.
#[derive(Debug, Clone, Default)]
pub struct RegistryClientConfig {
    /// `schema.registry.url`: one or more base URLs, comma-separated.
    pub urls: String,
    /// `schema.registry.basic.auth.user.info` (`user:password`), sent when set.
    pub basic_auth_user_info: Option<String>,
    /// Time allowed for one request; 30 s when `None`.
    pub request_timeout: Option<Duration>,
}

/// A [`SchemaRegistry`] over Confluent Schema Registry's HTTP API.
pub struct HttpSchemaRegistry {
    client: reqwest::Client,
    urls: Vec<String>,
    auth: Option<(String, String)>,
    by_id: Mutex<HashMap<i32, SchemaText>>,
    ids: Mutex<HashMap<(String, SchemaText), i32>>,
}

#[derive(Deserialize)]
struct IdAnswer {
    id: i32,
}

#[derive(Deserialize)]
struct VersionAnswer {
    subject: String,
    id: i32,
    version: i32,
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: SchemaType,
    #[serde(default)]
    references: Vec<SchemaReference>,
}

impl From<VersionAnswer> for SubjectSchema {
    fn from(a: VersionAnswer) -> Self {
        SubjectSchema {
            subject: a.subject,
            id: a.id,
            version: a.version,
            schema: SchemaText {
                schema: a.schema,
                schema_type: a.schema_type,
                references: a.references,
            },
        }
    }
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error_code: u32,
    message: String,
}

impl HttpSchemaRegistry {
    /// A client for the registry `config` points at.
    pub fn new(config: &RegistryClientConfig) -> Result<Self, FormatError> {
        let urls: Vec<String> = config
            .urls
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect();
        if urls.is_empty() {
            return Err(FormatError::RegistryUnavailable(
                "schema.registry.url is empty".to_string(),
            ));
        }
        let auth = match &config.basic_auth_user_info {
            Some(info) => {
                let (user, password) = info.split_once(':').unwrap_or((info.as_str(), ""));
                Some((user.to_string(), password.to_string()))
            }
            None => None,
        };
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout.unwrap_or(Duration::from_secs(30)))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| FormatError::RegistryUnavailable(e.to_string()))?;
        Ok(Self {
            client,
            urls,
            auth,
            by_id: Mutex::new(HashMap::new()),
            ids: Mutex::new(HashMap::new()),
        })
    }

    /// A shareable client for the registry at `url`.
    pub fn for_url(url: &str) -> Result<Arc<dyn SchemaRegistry>, FormatError> {
        Ok(Arc::new(Self::new(&RegistryClientConfig {
            urls: url.to_string(),
            ..RegistryClientConfig::default()
        })?))
    }

    /// Sends a request to each URL in turn until one answers; a registry that answers
    /// with an error is not retried elsewhere.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, FormatError> {
        let mut last = String::new();
        for base in &self.urls {
            let mut request = self
                .client
                .request(method.clone(), format!("{base}{path}"))
                .header(reqwest::header::ACCEPT, REGISTRY_CONTENT_TYPE);
            if let Some((user, password)) = &self.auth {
                request = request.basic_auth(user, Some(password));
            }
            if let Some(body) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, REGISTRY_CONTENT_TYPE)
                    .body(body.to_string());
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{base}: {e}");
                    continue;
                }
            };
            let status = response.status();
            let bytes = response
                .bytes()
                .await
                .map_err(|e| FormatError::RegistryUnavailable(format!("{base}: {e}")))?;
            if status.is_success() {
                return serde_json::from_slice(&bytes).map_err(|e| {
                    FormatError::RegistryUnavailable(format!(
                        "Unexpected answer from the schema registry at {base}: {e}"
                    ))
                });
            }
            if status.is_server_error() {
                last = format!("{base} answered {status}");
                continue;
            }
            let (error_code, message) = match serde_json::from_slice::<ErrorAnswer>(&bytes) {
                Ok(e) => (e.error_code, e.message),
                Err(_) => (
                    u32::from(status.as_u16()),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ),
            };
            return Err(FormatError::Registry {
                status: status.as_u16(),
                error_code,
                message,
            });
        }
        Err(FormatError::RegistryUnavailable(last))
    }
}

fn schema_body(schema: &SchemaText) -> serde_json::Value {
    let mut body = serde_json::json!({ "schema": schema.schema });
    // Confluent's registry before 5.5 rejects an explicit AVRO type, so leave it out.
    if schema.schema_type != SchemaType::Avro {
        body["schemaType"] = schema.schema_type.name().into();
    }
    if !schema.references.is_empty() {
        body["references"] = serde_json::to_value(&schema.references).unwrap_or_default();
    }
    body
}

/// Escapes a subject for a URL path segment.
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[async_trait::async_trait]
impl SchemaRegistry for HttpSchemaRegistry {
    async fn register(&self, subject: &str, schema: &SchemaText) -> Result<i32, FormatError> {
        let key = (subject.to_string(), schema.clone());
        if let Some(id) = self.ids.lock().get(&key) {
            return Ok(*id);
        }
        let answer: IdAnswer = self
            .call(
                reqwest::Method::POST,
                &format!("/subjects/{}/versions", segment(subject)),
                Some(&schema_body(schema)),
            )
            .await?;
        self.ids.lock().insert(key, answer.id);
        self.by_id
            .lock()
            .entry(answer.id)
            .or_insert_with(|| schema.clone());
        Ok(answer.id)
    }

    async fn schema_by_id(&self, id: i32) -> Result<SchemaText, FormatError> {
        if let Some(s) = self.by_id.lock().get(&id) {
            return Ok(s.clone());
        }
        let schema: SchemaText = self
            .call(reqwest::Method::GET, &format!("/schemas/ids/{id}"), None)
            .await?;
        self.by_id.lock().insert(id, schema.clone());
        Ok(schema)
    }

    async fn subject_version(
        &self,
        subject: &str,
        version: Option<i32>,
    ) -> Result<SubjectSchema, FormatError> {
        let version = version.map_or_else(|| "latest".to_string(), |v| v.to_string());
        let answer: VersionAnswer = self
            .call(
                reqwest::Method::GET,
                &format!("/subjects/{}/versions/{version}", segment(subject)),
                None,
            )
            .await?;
        let found = SubjectSchema::from(answer);
        self.by_id
            .lock()
            .entry(found.id)
            .or_insert_with(|| found.schema.clone());
        Ok(found)
    }

    async fn lookup(
        &self,
        subject: &str,
        schema: &SchemaText,
    ) -> Result<SubjectSchema, FormatError> {
        let answer: VersionAnswer = self
            .call(
                reqwest::Method::POST,
                &format!("/subjects/{}", segment(subject)),
                Some(&schema_body(schema)),
            )
            .await?;
        Ok(answer.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_paths_follow_confluent() {
        let avro = SchemaText {
            schema: "\"int\"".into(),
            schema_type: SchemaType::Avro,
            references: vec![],
        };
        assert_eq!(schema_body(&avro), serde_json::json!({"schema": "\"int\""}));
        let proto = SchemaText {
            schema: "syntax = \"proto3\";".into(),
            schema_type: SchemaType::Protobuf,
            references: vec![SchemaReference {
                name: "a.proto".into(),
                subject: "a".into(),
                version: 1,
            }],
        };
        assert_eq!(
            schema_body(&proto)["references"][0]["subject"],
            serde_json::json!("a")
        );
        assert_eq!(segment("my topic/x-value"), "my%20topic%2Fx-value");
        let parsed: SchemaText = serde_json::from_str(r#"{"schema":"\"int\""}"#).unwrap();
        assert_eq!(parsed.schema_type, SchemaType::Avro);
    }

    #[tokio::test]
    async fn an_unreachable_registry_is_unavailable() {
        // Bind then drop, so nothing listens on the port.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let registry = HttpSchemaRegistry::for_url(&format!("http://127.0.0.1:{port}")).unwrap();
        let err = registry.schema_by_id(1).await.unwrap_err();
        assert!(
            matches!(err, FormatError::RegistryUnavailable(_)),
            "{err:?}"
        );
    }
}
