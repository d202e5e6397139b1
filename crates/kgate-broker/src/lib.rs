//! kgate's embedded single-node Kafka-compatible broker.
//!
//! Everything else in kgate reaches this broker only over the Kafka protocol; this crate
//! exposes nothing but a way to start it, learn its address, and stop it.

mod context;
mod group;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Errors that stop the broker from starting or shutting down cleanly.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// An I/O failure on the listener or the data directory.
    #[error("broker I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A configuration key or value the broker cannot accept.
    #[error("invalid broker configuration `{key}`: {message}")]
    Config {
        /// The offending key, in Kafka's name.
        key: String,
        /// Why it was refused.
        message: String,
    },
}

/// How to run a broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Where logs, offsets and metadata are kept.
    pub data_dir: PathBuf,
    /// The broker's node id (Kafka's `node.id` / `broker.id`).
    pub node_id: i32,
    /// Host and port announced in Metadata; `None` announces the bound address.
    pub advertised: Option<(String, u16)>,
    /// Further broker settings under Apache Kafka's names (`auto.create.topics.enable`,
    /// `num.partitions`, `log.segment.bytes`, `log.retention.ms`, ...).
    pub properties: BTreeMap<String, String>,
}

impl BrokerConfig {
    /// A configuration with Kafka's defaults, keeping data under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            node_id: 1,
            advertised: None,
            properties: BTreeMap::new(),
        }
    }
}

/// A running broker.
pub struct Broker {
    local_addr: SocketAddr,
}

impl Broker {
    /// Starts a broker on `listener` (which may be bound to port 0).
    pub async fn start(
        listener: tokio::net::TcpListener,
        config: BrokerConfig,
    ) -> Result<Broker, BrokerError> {
        let _ = config;
        let local_addr = listener.local_addr()?;
        Ok(Broker { local_addr })
    }

    /// The address the broker listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections, flushes what was acknowledged and closes the logs.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        Ok(())
    }
}

/// Runs a broker on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: BrokerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BrokerError> {
    let broker = Broker::start(listener, config).await?;
    shutdown.await;
    broker.shutdown().await
}
