//! The Kafka WebSocket Proxy face (`ws.listeners`) and its admin server
//! (`ws.admin.listeners`).

use super::{Bound, Context, Face, Serving, Wanted};
use crate::config::{Config, ConfigError, HostPort};
use crate::error::KgateError;
use crate::shutdown::Shutdown;

/// The WebSocket proxy and its admin server.
pub struct Ws;

const PROXY: &str = "WebSocket proxy";
const ADMIN: &str = "WebSocket admin";

/// The `ws.*` settings, checked; a bad one names its key.
fn ws_config(config: &Config) -> Result<kgate_ws::WsConfig, KgateError> {
    kgate_ws::WsConfig::from_properties(&config.ws_properties).map_err(|e| {
        KgateError::Config(ConfigError::BadValue {
            key: e.full_key(),
            value: e.value.clone(),
            origin: "the configuration".to_string(),
            message: e.message.clone(),
        })
    })
}

fn host_port(l: &kgate_ws::Listener) -> HostPort {
    HostPort {
        host: l.host.clone(),
        port: l.port,
    }
}

impl Face for Ws {
    fn listeners(&self, config: &Config) -> Result<Vec<Wanted>, KgateError> {
        let ws = ws_config(config)?;
        let proxy = ws.listener.as_ref().map(|l| Wanted {
            name: PROXY,
            key: "ws.listeners",
            at: host_port(l),
        });
        let admin = ws.admin_listener.as_ref().map(|l| Wanted {
            name: ADMIN,
            key: "ws.admin.listeners",
            at: host_port(l),
        });
        Ok(proxy.into_iter().chain(admin).collect())
    }

    fn bound(&self, context: &mut Context<'_>, listeners: &[Bound]) {
        // The proxy's state topics are kgate's own: REST clients may not write them.
        if let (false, Ok(ws)) = (listeners.is_empty(), ws_config(context.config)) {
            context.internal_topics.push(ws.dynamic_config_topic);
            context.internal_topics.push(ws.session_topic);
        }
    }

    fn start(
        &self,
        context: &Context<'_>,
        listeners: Vec<Bound>,
        shutdown: Shutdown,
    ) -> Result<Serving, KgateError> {
        let ws = ws_config(context.config)?;
        let mut bound = kgate_ws::WsListeners {
            proxy: None,
            admin: None,
        };
        for listener in listeners {
            match listener.name {
                PROXY => bound.proxy = Some(listener.listener),
                _ => bound.admin = Some(listener.listener),
            }
        }
        Ok(Box::pin(kgate_ws::serve(
            bound,
            context.kafka.clone(),
            ws,
            shutdown.wait(),
        )))
    }
}
