//! kgate's Confluent-compatible REST Proxy API (v1, v2, v3).

#![warn(missing_docs)]

pub mod error;
pub mod json;
pub mod negotiation;
pub mod state;
pub mod v1;
pub mod v2;
pub mod v3;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use kgate_kafka::Kafka;

pub use error::RestError;
pub use state::AppState;

/// REST Proxy settings, under Confluent REST Proxy's names where one exists.
#[derive(Debug, Clone)]
pub struct RestConfig {
    /// `id`: this instance's id, used in generated consumer instance names.
    pub id: String,
    /// `advertised.listeners` / `host.name`: base of consumer `base_uri`s; `None` uses the
    /// request's Host header.
    pub advertised_base_uri: Option<String>,
    /// `api.v1.enable`.
    pub api_v1_enable: bool,
    /// `api.v2.enable`.
    pub api_v2_enable: bool,
    /// `api.v3.enable`.
    pub api_v3_enable: bool,
    /// `consumer.instance.timeout.ms`.
    pub consumer_instance_timeout: Duration,
    /// `consumer.request.timeout.ms`.
    pub consumer_request_timeout: Duration,
    /// `consumer.request.max.bytes`.
    pub consumer_request_max_bytes: u64,
    /// `consumer.iterator.timeout.ms`.
    pub consumer_iterator_timeout: Duration,
    /// `simpleconsumer.pool.size.max`: most partition readers serving v1's
    /// per-partition reads at once.
    pub simpleconsumer_pool_size_max: usize,
    /// `simpleconsumer.pool.timeout.ms`: how long a per-partition read waits for a free
    /// reader before it answers 503 (50301).
    pub simpleconsumer_pool_timeout: Duration,
    /// Largest request body accepted, in bytes (`max.request.size`-like limit).
    pub max_request_body_bytes: usize,
    /// `schema.registry.url`: the registry the avro, protobuf and jsonschema formats use;
    /// `None` leaves those formats off.
    pub schema_registry_url: Option<String>,
    /// `schema.registry.basic.auth.user.info` (`user:password`) for that registry.
    pub schema_registry_basic_auth_user_info: Option<String>,
    /// `schema.registry.ssl.ca.location`: PEM authorities trusted for an https registry
    /// (the system's when `None`).
    pub schema_registry_ssl_ca_location: Option<std::path::PathBuf>,
    /// `schema.registry.ssl.certificate.location`: PEM client certificate (mutual TLS).
    pub schema_registry_ssl_certificate_location: Option<std::path::PathBuf>,
    /// `schema.registry.ssl.key.location`: PEM private key of that certificate.
    pub schema_registry_ssl_key_location: Option<std::path::PathBuf>,
    /// `consumer.instances.max`: most v2 consumer instances this process holds at once;
    /// a create beyond it answers 429.
    pub consumer_instances_max: usize,
    /// `internal.topics`: topics REST clients may not produce to, delete, create, grow or
    /// reconfigure (a name ending in `*` is a prefix).
    pub internal_topics: Vec<String>,
    /// `internal.topics.writable`: lets REST clients do all that to them after all.
    pub internal_topics_writable: bool,
}

/// The default `internal.topics`: the Schema Registry's and Kafka's own. The faces that
/// keep state in other topics (Connect, WebSocket) add theirs to the configured list.
pub const DEFAULT_INTERNAL_TOPICS: &[&str] =
    &["_schemas", "__consumer_offsets", "__transaction_state"];

/// The default `consumer.instances.max`.
pub const DEFAULT_CONSUMER_INSTANCES_MAX: usize = 1_000;

impl Default for RestConfig {
    fn default() -> Self {
        Self {
            id: String::new(),
            advertised_base_uri: None,
            api_v1_enable: true,
            api_v2_enable: true,
            api_v3_enable: true,
            consumer_instance_timeout: Duration::from_millis(300_000),
            consumer_request_timeout: Duration::from_millis(1_000),
            consumer_request_max_bytes: 67_108_864,
            consumer_iterator_timeout: Duration::from_millis(1_000),
            simpleconsumer_pool_size_max: 25,
            simpleconsumer_pool_timeout: Duration::from_millis(1_000),
            max_request_body_bytes: 67_108_864,
            schema_registry_url: None,
            schema_registry_basic_auth_user_info: None,
            schema_registry_ssl_ca_location: None,
            schema_registry_ssl_certificate_location: None,
            schema_registry_ssl_key_location: None,
            consumer_instances_max: DEFAULT_CONSUMER_INSTANCES_MAX,
            internal_topics: DEFAULT_INTERNAL_TOPICS
                .iter()
                .map(|t| t.to_string())
                .collect(),
            internal_topics_writable: false,
        }
    }
}

/// The REST Proxy's routes for `state`, with the body limit and request logging.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    if state.config.api_v2_enable {
        router = router.merge(v2::router());
    }
    if state.config.api_v3_enable {
        router = router.merge(v3::router());
    }
    let mut router = router
        .fallback(|uri: axum::http::Uri| async move {
            // Confluent's server does not match a path with an empty segment either;
            // say why, since the doubled slash is easy to miss. (A trailing slash is
            // trimmed before routing, as Confluent's router tolerates it.)
            if uri.path().contains("//") {
                return RestError::NotFoundPath(
                    "HTTP 404 Not Found: the path has an empty segment (//)".to_string(),
                );
            }
            RestError::NotFound
        })
        .method_not_allowed_fallback(|| async { RestError::MethodNotAllowed });
    if state.config.api_v1_enable {
        // v1 shares its paths with v2: requests are told apart by their content types.
        router = v1::beside(router, state.clone());
    }
    let max_body = state.config.max_request_body_bytes;
    kgate_http::with_common_layers(router, max_body).with_state(state)
}

/// Serves the REST Proxy on `listener` until `shutdown` completes, then closes consumer
/// instances; unusable Schema Registry client settings fail it at once (see
/// [`AppState::new`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    kafka: Kafka,
    config: RestConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = AppState::new(kafka, config)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    serve_state(listener, state, shutdown).await
}

/// [`serve`] with a state already built.
pub async fn serve_state(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let consumers = state.consumers.clone();
    let readers = state.partition_readers.clone();
    let served = kgate_http::serve(listener, router(state), shutdown).await;
    consumers.close_all().await;
    readers.close().await;
    served
}
