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
    fn listeners(&self, config: &Config) -> Result<Vec<Wanted>, KgateError> {
        let worker = worker_config(config)?;
        if !worker.enabled {
            return Ok(Vec::new());
        }
        Ok(vec![Wanted {
            name: "Connect",
            key: "connect.listeners",
            at: HostPort {
                host: worker.listener_host,
                port: worker.listener_port,
            },
        }])
    }

    fn bound(&self, context: &mut Context<'_>, listeners: &[Bound]) {
        // The worker's state topics are kgate's own: REST clients may not write them.
        if let (false, Ok(worker)) = (listeners.is_empty(), worker_config(context.config)) {
            context.internal_topics.extend([
                worker.config_topic,
                worker.offset_topic,
                worker.status_topic,
            ]);
        }
    }

    fn start(
        &self,
        context: &Context<'_>,
        listeners: Vec<Bound>,
        shutdown: Shutdown,
    ) -> Result<Serving, KgateError> {
        let mut worker = worker_config(context.config)?;
        // The registry converters default to the registry kgate's formats use.
        worker.default_registry_url = context.registry_url.clone();
        Ok(Box::pin(kgate_connect::serve(
            super::single(listeners),
            context.kafka.clone(),
            worker,
            shutdown.wait(),
        )))
    }
}
