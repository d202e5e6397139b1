//! The Kafka Connect face (`connect.listeners`, `connect.*` worker settings).

use super::{Bound, Context, Face, Serving, Wanted};
use crate::config::{Config, HostPort};
use crate::error::KgateError;
use crate::shutdown::Shutdown;

/// The Connect REST API and its worker.
pub struct Connect;

/// The worker settings, or the error naming the bad `connect.*` key.
fn worker_config(config: &Config) -> Result<kgate_connect::WorkerConfig, KgateError> {
    kgate_connect::WorkerConfig::from_properties(
        &config.connect_properties,
        config.bootstrap_servers.is_none(),
    )
    .map_err(|e| match e {
        kgate_connect::ConnectError::Config {
            key,
            value,
            message,
        } => KgateError::BadArgument {
            option: format!("connect.{key}"),
            value,
            message,
        },
        other => KgateError::BadArgument {
            option: "connect.*".to_string(),
            value: String::new(),
            message: other.to_string(),
        },
    })
}

impl Face for Connect {
    fn listeners(&self, config: &Config) -> Vec<Wanted> {
        // A bad setting is reported by `start`, which can fail; here it only means the
        // default listener is bound first.
        let (enabled, at) = match worker_config(config) {
            Ok(c) => (
                c.enabled,
                HostPort {
                    host: c.listener_host,
                    port: c.listener_port,
                },
            ),
            Err(_) => (
                true,
                HostPort {
                    host: "0.0.0.0".into(),
                    port: 8083,
                },
            ),
        };
        if !enabled {
            return Vec::new();
        }
        vec![Wanted {
            name: "Connect",
            key: "connect.listeners",
            at,
        }]
    }

    fn start(
        &self,
        context: &Context<'_>,
        listeners: Vec<Bound>,
        shutdown: Shutdown,
    ) -> Result<Serving, KgateError> {
        let worker = worker_config(context.config)?;
        Ok(Box::pin(kgate_connect::serve(
            super::single(listeners),
            context.kafka.clone(),
            worker,
            shutdown.wait(),
        )))
    }
}
