//! The Schema Registry as the embedded formats see it: a trait for what they ask of it,
//! and its implementation over Confluent Schema Registry's HTTP API (which kgate's own
//! registry also serves), with a cache so a schema is fetched once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use crate::FormatError;
use crate::cache::{BoundedCache, CACHE_BYTES, CACHE_ENTRIES};
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
    /// `schema.registry.ssl.ca.location`: a PEM bundle of the certificate authorities
    /// an `https://` registry's certificate is checked against; the system's trusted
    /// authorities when `None`. (Confluent's Java clients take a JKS truststore instead.)
    pub ssl_ca_location: Option<PathBuf>,
    /// `schema.registry.ssl.certificate.location`: a PEM certificate chain presented to a
    /// registry that asks for client certificates (mutual TLS); needs the key below.
    pub ssl_certificate_location: Option<PathBuf>,
    /// `schema.registry.ssl.key.location`: the PEM private key of that certificate
    /// (PKCS#8, PKCS#1 or SEC1, unencrypted).
    pub ssl_key_location: Option<PathBuf>,
}

/// The HTTP client: HTTP/1.1 over TCP, or over TLS for `https://` URLs.
type Transport = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

impl SchemaText {
    /// The bytes kgate's caches count for this schema (see [`crate::cache`]): its text
    /// and its references' names.
    pub fn cached_bytes(&self) -> usize {
        let references: usize = self
            .references
            .iter()
            .map(|r| r.name.len() + r.subject.len() + 8)
            .sum();
        self.schema.len() + references
    }
}

/// A [`SchemaRegistry`] over Confluent Schema Registry's HTTP API.
pub struct HttpSchemaRegistry {
    client: Transport,
    timeout: Duration,
    urls: Vec<String>,
    /// The `Authorization` header value for basic auth.
    auth: Option<HeaderValue>,
    by_id: Mutex<BoundedCache<i32, SchemaText>>,
    ids: Mutex<BoundedCache<(String, SchemaText), i32>>,
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
    /// Keeps the schema of `id`, which a registry never changes.
    fn remember(&self, id: i32, schema: &SchemaText) {
        self.by_id
            .lock()
            .insert(id, schema.clone(), schema.cached_bytes());
    }

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
                // `user:password`; a bare user name has an empty password.
                let (user, password) = info.split_once(':').unwrap_or((info.as_str(), ""));
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{user}:{password}").as_bytes());
                let value = HeaderValue::from_str(&format!("Basic {token}")).map_err(|_| {
                    FormatError::RegistryUnavailable(
                        "schema.registry.basic.auth.user.info cannot be sent in a header"
                            .to_string(),
                    )
                })?;
                Some(value)
            }
            None => None,
        };
        let needs_system_roots = config.ssl_ca_location.is_none()
            && urls
                .iter()
                .any(|u| u.to_ascii_lowercase().starts_with("https:"));
        let tls = tls_config(config, needs_system_roots)?;
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(Duration::from_secs(10)));
        tcp.set_nodelay(true);
        // The TLS layer decides by scheme; the TCP layer must not refuse https URLs.
        tcp.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            client,
            timeout: config.request_timeout.unwrap_or(Duration::from_secs(30)),
            urls,
            auth,
            by_id: Mutex::new(BoundedCache::new(CACHE_ENTRIES, CACHE_BYTES)),
            ids: Mutex::new(BoundedCache::new(CACHE_ENTRIES, CACHE_BYTES)),
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
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, FormatError> {
        let mut last = String::new();
        for base in &self.urls {
            let mut request = Request::builder()
                .method(method.clone())
                .uri(format!("{base}{path}"))
                .header(ACCEPT, REGISTRY_CONTENT_TYPE);
            if let Some(auth) = &self.auth {
                request = request.header(AUTHORIZATION, auth.clone());
            }
            let payload = match body {
                Some(body) => {
                    request = request.header(CONTENT_TYPE, REGISTRY_CONTENT_TYPE);
                    Bytes::from(body.to_string())
                }
                None => Bytes::new(),
            };
            let request = match request.body(Full::new(payload)) {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{base}: not a usable URL: {e}");
                    continue;
                }
            };
            let exchange = async {
                let response = self
                    .client
                    .request(request)
                    .await
                    .map_err(|e| describe(&e))?;
                let status = response.status();
                // A registry is trusted with schemas, not with the process's memory.
                let bytes = http_body_util::Limited::new(
                    response.into_body(),
                    crate::limits::MAX_REGISTRY_ANSWER_BYTES,
                )
                .collect()
                .await
                .map_err(|e| describe(e.as_ref()))?
                .to_bytes();
                Ok::<_, String>((status, bytes))
            };
            let (status, bytes) = match tokio::time::timeout(self.timeout, exchange).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(e)) => {
                    last = format!("{base}: {e}");
                    continue;
                }
                Err(_) => {
                    last = format!("{base}: no answer within {:?}", self.timeout);
                    continue;
                }
            };
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

/// An error with its causes, since a TLS failure hides below "client error (Connect)".
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The TLS settings for `https://` URLs: the configured CA bundle (or the system's
/// authorities when `system_roots`), and the client certificate when one is configured.
fn tls_config(
    config: &RegistryClientConfig,
    system_roots: bool,
) -> Result<rustls::ClientConfig, FormatError> {
    let unusable = |key: &str, what: String| {
        FormatError::RegistryUnavailable(format!("schema.registry.ssl.{key}: {what}"))
    };
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = &config.ssl_ca_location {
        let certs = read_certificates(path).map_err(|e| unusable("ca.location", e))?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| unusable("ca.location", format!("{}: {e}", path.display())))?;
        }
    } else if system_roots {
        // A system store may hold certificates rustls cannot use, or be missing; an
        // https registry then fails per request, naming the unknown issuer.
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FormatError::RegistryUnavailable(format!("TLS setup: {e}")))?
        .with_root_certificates(roots);
    match (&config.ssl_certificate_location, &config.ssl_key_location) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert_path), Some(key_path)) => {
            let chain =
                read_certificates(cert_path).map_err(|e| unusable("certificate.location", e))?;
            let key = PrivateKeyDer::from_pem_file(key_path)
                .map_err(|e| unusable("key.location", format!("{}: {e}", key_path.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| unusable("key.location", format!("{}: {e}", key_path.display())))
        }
        (Some(_), None) => Err(unusable(
            "certificate.location",
            "set without schema.registry.ssl.key.location".to_string(),
        )),
        (None, Some(_)) => Err(unusable(
            "key.location",
            "set without schema.registry.ssl.certificate.location".to_string(),
        )),
    }
}

/// Every certificate of a PEM file; none is an error.
fn read_certificates(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
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
            return Ok(id);
        }
        let answer: IdAnswer = self
            .call(
                Method::POST,
                &format!("/subjects/{}/versions", segment(subject)),
                Some(&schema_body(schema)),
            )
            .await?;
        let bytes = key.1.cached_bytes() + key.0.len();
        self.ids.lock().insert(key, answer.id, bytes);
        self.remember(answer.id, schema);
        Ok(answer.id)
    }

    async fn schema_by_id(&self, id: i32) -> Result<SchemaText, FormatError> {
        if let Some(s) = self.by_id.lock().get(&id) {
            return Ok(s);
        }
        let schema: SchemaText = self
            .call(Method::GET, &format!("/schemas/ids/{id}"), None)
            .await?;
        self.remember(id, &schema);
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
                Method::GET,
                &format!("/subjects/{}/versions/{version}", segment(subject)),
                None,
            )
            .await?;
        let found = SubjectSchema::from(answer);
        self.remember(found.id, &found.schema);
        Ok(found)
    }

    async fn lookup(
        &self,
        subject: &str,
        schema: &SchemaText,
    ) -> Result<SubjectSchema, FormatError> {
        let answer: VersionAnswer = self
            .call(
                Method::POST,
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

    /// Answers one HTTP request with `answer` and hands back the request's head.
    async fn one_answer(answer: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let served = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&head).into_owned()
        });
        (url, served)
    }

    #[tokio::test]
    async fn requests_carry_basic_auth_and_the_registry_content_type() {
        let (url, served) = one_answer(r#"{"schema": "\"int\""}"#).await;
        let registry = HttpSchemaRegistry::new(&RegistryClientConfig {
            urls: format!("{url}/"),
            basic_auth_user_info: Some("fred:s3cret".into()),
            ..RegistryClientConfig::default()
        })
        .unwrap();
        let schema = registry.schema_by_id(7).await.unwrap();
        assert_eq!(schema.schema, "\"int\"");
        let head = served.await.unwrap().to_ascii_lowercase();
        assert!(head.starts_with("get /schemas/ids/7 http/1.1"), "{head}");
        // base64("fred:s3cret")
        assert!(
            head.contains("authorization: basic znjlzdpzm2nyzxq="),
            "{head}"
        );
        assert!(
            head.contains("accept: application/vnd.schemaregistry.v1+json"),
            "{head}"
        );
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
