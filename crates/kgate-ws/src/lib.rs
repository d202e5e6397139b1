//! kgate's Kafka WebSocket Proxy: `/socket/in` (produce), `/socket/out` (consume),
//! `/healthcheck` and `/kafka/cluster/info` on the proxy listener, and the admin server
//! (`/admin/kafka/info`, `/admin/client/config/...`) on its own listener, compatible with
//! the clients of kpmeen's kafka-websocket-proxy (seed 000).
//!
//! Each socket is one task that owns its Kafka client from the Kafka layer; sessions and
//! dynamic limits are kept in `_wsproxy.*` topics so every instance on a cluster enforces
//! the same limits.

#![warn(missing_docs)]

pub mod admin;
pub mod auth;
pub mod config;
pub mod dynamic;
pub mod error;
pub mod format;
mod frames;
pub mod inbound;
pub mod limits;
pub mod outbound;
pub mod params;
pub mod sessions;
pub mod state_topic;
pub mod status;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use kgate_kafka::Kafka;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{ConfigError, Listener, WsConfig};
pub use error::WsError;

use crate::dynamic::DynamicConfigs;
use crate::limits::{ClientKind, EffectiveLimits};
use crate::sessions::Sessions;

/// What the WebSocket proxy's handlers share.
#[derive(Clone)]
pub struct WsState {
    inner: Arc<Inner>,
}

struct Inner {
    kafka: Kafka,
    config: WsConfig,
    sessions: Arc<Sessions>,
    dynamic: Option<DynamicConfigs>,
    /// Every open socket's task, so shutdown can wait for them.
    sockets: TaskTracker,
    /// Cancelled at shutdown: sockets finish what is in flight and close.
    closing: CancellationToken,
}

impl WsState {
    /// Starts reading the state topics (in the background) for `config`.
    pub fn new(kafka: Kafka, config: WsConfig) -> WsState {
        let sessions = Sessions::spawn(
            kafka.clone(),
            config.session_topic.clone(),
            config.state_replication_factor,
            config.server_id.clone(),
        );
        let dynamic = config.dynamic_configs.then(|| {
            DynamicConfigs::spawn(
                kafka.clone(),
                config.dynamic_config_topic.clone(),
                config.state_replication_factor,
            )
        });
        // Sockets this instance had open when it last stopped are not open any more.
        let forget = sessions.clone();
        tokio::spawn(async move {
            loop {
                match forget.start().await {
                    Ok(()) => return,
                    Err(WsError::Unavailable(_)) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not clear this instance's old sockets from the session state");
                        return;
                    }
                }
            }
        });
        WsState {
            inner: Arc::new(Inner {
                kafka,
                config,
                sessions,
                dynamic,
                sockets: TaskTracker::new(),
                closing: CancellationToken::new(),
            }),
        }
    }

    /// The Kafka client layer.
    pub fn kafka(&self) -> &Kafka {
        &self.inner.kafka
    }

    /// The configuration.
    pub fn config(&self) -> &WsConfig {
        &self.inner.config
    }

    /// The shared session state.
    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.inner.sessions
    }

    /// The dynamic limits, when switched on.
    pub fn dynamic(&self) -> Option<&DynamicConfigs> {
        self.inner.dynamic.as_ref()
    }

    /// Cancelled when the server shuts down.
    pub fn closing(&self) -> &CancellationToken {
        &self.inner.closing
    }

    /// Tracks socket tasks.
    pub fn sockets(&self) -> &TaskTracker {
        &self.inner.sockets
    }

    /// Checks `Authorization` against the configured users.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<(), WsError> {
        auth::check_basic(
            headers,
            &self.inner.config.basic_auth_users,
            &self.inner.config.basic_auth_realm,
        )
    }

    /// The limits in force for `id`: dynamic over static over the defaults.
    pub async fn limits(&self, kind: ClientKind, id: &str) -> Result<EffectiveLimits, WsError> {
        let dynamic = match &self.inner.dynamic {
            Some(d) => d.find(kind, id).await?,
            None => None,
        };
        Ok(self
            .inner
            .config
            .limits
            .effective(kind, id, dynamic.as_ref()))
    }
}

/// The listeners of the WebSocket proxy; either may be absent (switched off).
pub struct WsListeners {
    /// The proxy listener (`ws.listeners`).
    pub proxy: Option<TcpListener>,
    /// The admin listener (`ws.admin.listeners`).
    pub admin: Option<TcpListener>,
}

/// The proxy listener's routes.
pub fn proxy_router(state: WsState) -> Router {
    Router::new()
        .route("/socket/in", axum::routing::get(inbound::socket_in))
        .route("/socket/out", axum::routing::get(outbound::socket_out))
        .route("/healthcheck", axum::routing::get(status::healthcheck))
        .route(
            "/kafka/cluster/info",
            axum::routing::get(status::cluster_info),
        )
        .fallback(status::not_found)
        .with_state(state)
}

/// Serves the proxy and the admin server until `shutdown` completes; then open sockets
/// finish the records in flight and are closed (code 1001) before this returns.
pub async fn serve(
    listeners: WsListeners,
    kafka: Kafka,
    config: WsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = WsState::new(kafka, config);
    serve_state(listeners, state, shutdown).await
}

/// [`serve`] with a state made by the caller.
pub async fn serve_state(
    listeners: WsListeners,
    state: WsState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let closing = state.closing().clone();
    let trigger = closing.clone();
    tokio::spawn(async move {
        shutdown.await;
        trigger.cancel();
    });
    let max_body = 1024 * 1024;
    let proxy = listeners.proxy.map(|l| {
        let router = kgate_http::with_common_layers(proxy_router(state.clone()), max_body);
        tokio::spawn(serve_one(l, router, closing.clone()))
    });
    let admin = listeners.admin.map(|l| {
        let router = kgate_http::with_common_layers(admin::router(state.clone()), max_body);
        tokio::spawn(serve_one(l, router, closing.clone()))
    });
    let mut result = Ok(());
    for server in [proxy, admin].into_iter().flatten() {
        let ended = server
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(format!("server task failed: {e}"))));
        if let Err(e) = ended
            && result.is_ok()
        {
            result = Err(e);
        }
    }
    // Upgraded sockets are no longer the HTTP servers' connections: wait for them here.
    closing.cancel();
    state.sockets().close();
    state.sockets().wait().await;
    result
}

/// Serves one listener; its failure stops the other listener and the sockets too.
async fn serve_one(
    listener: TcpListener,
    router: Router,
    closing: CancellationToken,
) -> std::io::Result<()> {
    let served = kgate_http::serve(listener, router, closing.clone().cancelled_owned()).await;
    if served.is_err() {
        closing.cancel();
    }
    served
}
