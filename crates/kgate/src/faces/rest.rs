//! The REST Proxy face (`listeners`).

use super::{Bound, Context, Face, Serving, Wanted};
use crate::config::Config;
use crate::error::KgateError;
use crate::shutdown::Shutdown;

/// The REST Proxy API v2 and v3.
pub struct Rest;

impl Face for Rest {
    fn listeners(&self, config: &Config) -> Result<Vec<Wanted>, KgateError> {
        Ok(vec![Wanted {
            name: "REST Proxy",
            key: "listeners",
            at: config.rest_listener.clone(),
        }])
    }

    fn start(
        &self,
        context: &Context<'_>,
        listeners: Vec<Bound>,
        shutdown: Shutdown,
    ) -> Result<Serving, KgateError> {
        let mut rest_config = context.config.rest.clone();
        rest_config.schema_registry_url = context.registry_url.clone();
        let registry_url = rest_config.schema_registry_url.clone().unwrap_or_default();
        let state = kgate_rest::AppState::new(context.kafka.clone(), rest_config).map_err(|e| {
            KgateError::BadArgument {
                option: "schema.registry.*".to_string(),
                value: registry_url,
                message: e.to_string(),
            }
        })?;
        // Consumer instances are closed by the server itself as it returns.
        Ok(Box::pin(kgate_rest::serve_state(
            super::single(listeners),
            state,
            shutdown.wait(),
        )))
    }
}
