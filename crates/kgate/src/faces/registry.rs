//! The built-in Schema Registry face (`schema.registry.listeners`).

use super::{Bound, Context, Face, Serving, Wanted};
use crate::config::Config;
use crate::error::KgateError;
use crate::shutdown::Shutdown;

/// The Schema Registry API, schemas kept in `_schemas`.
pub struct Registry;

impl Face for Registry {
    fn listeners(&self, config: &Config) -> Result<Vec<Wanted>, KgateError> {
        Ok(config
            .registry_listener
            .iter()
            .map(|at| Wanted {
                name: "Schema Registry",
                key: "schema.registry.listeners",
                at: at.clone(),
            })
            .collect())
    }

    fn bound(&self, context: &mut Context<'_>, listeners: &[Bound]) {
        // The formats use the built-in registry unless the user named another.
        if let Some(listener) = listeners.first() {
            context.registry_url.get_or_insert_with(|| listener.url());
        }
    }

    fn start(
        &self,
        context: &Context<'_>,
        listeners: Vec<Bound>,
        shutdown: Shutdown,
    ) -> Result<Serving, KgateError> {
        Ok(Box::pin(kgate_registry::serve(
            super::single(listeners),
            context.kafka.clone(),
            kgate_registry::RegistryConfig::default(),
            shutdown.wait(),
        )))
    }
}
