//! kgate's Kafka Connect face: Apache Kafka Connect's REST API and a worker that runs
//! connectors, alone (standalone mode) or in a group of workers sharing connectors and
//! tasks through Kafka's group coordinator (distributed mode), with its state in three
//! compacted topics in Apache's record formats.

#![warn(missing_docs)]

pub mod api;
pub mod converters;
pub mod data;
pub mod error;
pub mod herder;
pub mod plugins;
pub mod runtime;
pub mod storage;
pub mod worker_config;

use std::future::Future;
use std::sync::Arc;

use kgate_kafka::Kafka;

pub use error::ConnectError;
pub use worker_config::{Mode, WorkerConfig};

/// The largest request body accepted.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The host and port workers advertise: `rest.advertised.*`, else the bound address
/// (a wildcard bind advertises this machine's loopback address).
pub fn advertised(config: &WorkerConfig, bound: std::net::SocketAddr) -> (String, u16) {
    let host = config.advertised_host.clone().unwrap_or_else(|| {
        if bound.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            bound.ip().to_string()
        }
    });
    (host, config.advertised_port.unwrap_or(bound.port()))
}

/// Serves the Connect API on `listener` and runs the worker until `shutdown`: reads the
/// state topics (distributed) or the offsets file (standalone) first, then joins the
/// worker group and answers requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    kafka: Kafka,
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    for key in &config.unknown {
        tracing::warn!(key = %key, "the configuration {key} was supplied but isn't a known config");
    }
    let bound = listener.local_addr()?;
    let (host, port) = advertised(&config, bound);
    let worker_id = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let url = format!("http://{worker_id}/");
    let stores = match config.mode {
        Mode::Distributed => storage::Stores::distributed(&kafka, &config).await,
        Mode::Standalone => {
            let file = config.offset_file.clone().unwrap_or_default();
            storage::Stores::standalone(file).await
        }
    }
    .map_err(|e| std::io::Error::other(format!("starting the Connect worker: {e}")))?;
    let config = Arc::new(config);
    let herder = herder::Herder::new(kafka, config, stores.clone(), url, worker_id);
    let (stop_herder, herder_stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(herder.clone().run(async move {
        let mut stopped = herder_stopped;
        let _ = stopped.wait_for(|s| *s).await;
    }));
    let state = api::ApiState {
        herder,
        http: reqwest::Client::new(),
        loggers: Arc::default(),
    };
    let router = kgate_http::with_common_layers(api::router(state), MAX_BODY_BYTES);
    let served = kgate_http::serve(listener, router, shutdown).await;
    let _ = stop_herder.send(true);
    if let Err(e) = running.await {
        tracing::warn!(error = %e, "the Connect worker ended abnormally");
    }
    stores.close().await;
    served
}
