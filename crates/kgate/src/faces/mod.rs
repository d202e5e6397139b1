//! The HTTP faces kgate serves (REST Proxy, Schema Registry, and the faces to come), each
//! started, announced and stopped the same way: a face names the listeners it wants, is
//! told where they were bound, and returns one future that serves them until shutdown.
//!
//! Adding a face is a module here and one entry in [`FACES`].

mod connect;
mod registry;
mod rest;
mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use kgate_kafka::Kafka;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::{Config, HostPort, connectable};
use crate::error::KgateError;
use crate::shutdown::Shutdown;

/// Every face, in the order they are bound, announced and started. A face that needs
/// what another makes known (the REST Proxy needs the registry's URL) comes after it.
const FACES: &[&dyn Face] = &[&registry::Registry, &rest::Rest, &ws::Ws, &connect::Connect];

/// A listener a face wants: what it serves and the configuration key that placed it.
pub struct Wanted {
    /// What is served there, as printed at start-up ("REST Proxy").
    pub name: &'static str,
    /// The configuration key of the address, for error messages.
    pub key: &'static str,
    /// The address to bind.
    pub at: HostPort,
}

/// A listener bound for a face.
pub struct Bound {
    /// What is served there.
    pub name: &'static str,
    /// The bound socket.
    pub listener: TcpListener,
    /// Its real address (port 0 resolved).
    pub address: SocketAddr,
}

impl Bound {
    /// The URL a client on this machine reaches the listener at.
    pub fn url(&self) -> String {
        format!("http://{}", connectable(self.address))
    }
}

/// What the faces share while they start.
pub struct Context<'a> {
    /// The whole configuration.
    pub config: &'a Config,
    /// The Kafka client layer.
    pub kafka: Kafka,
    /// The Schema Registry the formats use: `schema.registry.url`, else the built-in
    /// registry's once it is bound.
    pub registry_url: Option<String>,
    /// Topics a face keeps its own state in (the WebSocket proxy's, Connect's): REST
    /// clients may not write them, as with `internal.topics`.
    pub internal_topics: Vec<String>,
}

/// A face's serving future: ends when shutdown has been asked for and its in-flight work
/// is done, or earlier with the error that stopped it.
pub type Serving = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

/// One face of kgate.
pub trait Face: Sync {
    /// The listeners it wants; none when it is switched off. A face checks its own
    /// settings here, so a bad one stops start-up before anything is bound or started.
    fn listeners(&self, config: &Config) -> Result<Vec<Wanted>, KgateError>;
    /// Called once every face's listeners are bound, before any face starts, so a face
    /// can make its addresses and state topics known to the others.
    fn bound(&self, _context: &mut Context<'_>, _listeners: &[Bound]) {}
    /// Starts serving on `listeners` (in the order [`Face::listeners`] gave) until
    /// `shutdown`.
    fn start(
        &self,
        context: &Context<'_>,
        listeners: Vec<Bound>,
        shutdown: Shutdown,
    ) -> Result<Serving, KgateError>;
}

/// A face's running task.
struct Running {
    name: &'static str,
    address: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

/// Checks every face's settings (see [`Face::listeners`]); run before anything starts.
pub fn check(config: &Config) -> Result<(), KgateError> {
    for face in FACES {
        face.listeners(config)?;
    }
    Ok(())
}

/// Binds, announces and serves every enabled face until `shutdown`, or until one face
/// stops on its own (then the others are stopped too: no face is left half-alive, and
/// the error is returned so the process exits non-zero).
pub async fn serve(config: &Config, kafka: Kafka, shutdown: Shutdown) -> Result<(), KgateError> {
    let mut context = Context {
        config,
        kafka,
        registry_url: config.rest.schema_registry_url.clone(),
        internal_topics: Vec::new(),
    };

    let mut bound = Vec::new();
    for face in FACES {
        let mut listeners = Vec::new();
        for wanted in face.listeners(config)? {
            listeners.push(bind_wanted(wanted).await?);
        }
        if !listeners.is_empty() {
            bound.push((*face, listeners));
        }
    }
    for (face, listeners) in &bound {
        for listener in listeners {
            crate::run::announce(&format!(
                "kgate {} listening on {}",
                listener.name,
                listener.url()
            ));
            tracing::info!(address = %listener.address, face = listener.name, "listening");
        }
        face.bound(&mut context, listeners);
    }

    let (stop_all, faces_shutdown) = shutdown.linked();
    let mut running = Vec::new();
    for (face, listeners) in bound {
        let name = listeners[0].name;
        let address = listeners[0].address;
        match face.start(&context, listeners, faces_shutdown.clone()) {
            Ok(serving) => running.push(Running {
                name,
                address,
                task: tokio::spawn(serving),
            }),
            Err(e) => {
                stop_all.stop();
                // The start-up error is the one to report.
                let _ = stop_running(running, config).await;
                return Err(e);
            }
        }
    }

    // Wait for the shutdown signal or for the first face to stop on its own.
    let mut failure = None;
    let mut finished = None;
    {
        let watched = futures::future::select_all(running.iter_mut().map(|r| &mut r.task));
        tokio::select! {
            // A face that stops because shutdown was asked for is no failure: when both
            // are ready, the shutdown counts.
            biased;
            () = faces_shutdown.clone().wait() => {}
            (ended, index, _) = watched => {
                finished = Some(index);
                let name = running[index].name;
                let address = running[index].address;
                failure = match ended {
                    // A face that finished its shutdown before this task saw the signal.
                    Ok(Ok(())) if faces_shutdown.is_requested() => None,
                    Ok(Ok(())) => Some(KgateError::Face {
                        name,
                        address,
                        source: std::io::Error::other("stopped unexpectedly"),
                    }),
                    Ok(Err(source)) => Some(KgateError::Face { name, address, source }),
                    Err(join) => Some(KgateError::FaceTask { name, message: join.to_string() }),
                };
                if let Some(error) = &failure {
                    tracing::error!(error = %error, "a face stopped; stopping kgate");
                }
            }
        }
    }
    stop_all.stop();
    // The face that ended has been awaited already.
    if let Some(index) = finished {
        running.remove(index);
    }
    let stopped = stop_running(running, config).await;
    match failure {
        Some(error) => Err(error),
        None => stopped,
    }
}

/// Lets each running face finish within `shutdown.graceful.ms` (in-flight requests
/// complete), abandons those that do not, and returns the first error.
async fn stop_running(running: Vec<Running>, config: &Config) -> Result<(), KgateError> {
    let deadline = tokio::time::Instant::now() + config.shutdown_grace;
    let mut first_error = None;
    for mut face in running {
        let ended = match tokio::time::timeout_at(deadline, &mut face.task).await {
            Ok(ended) => ended,
            Err(_) => {
                tracing::warn!(
                    face = face.name,
                    grace_ms = config.shutdown_grace.as_millis() as u64,
                    "did not stop within shutdown.graceful.ms; abandoning open requests"
                );
                face.task.abort();
                continue;
            }
        };
        let error = match ended {
            Ok(Ok(())) => continue,
            Ok(Err(source)) => KgateError::Face {
                name: face.name,
                address: face.address,
                source,
            },
            Err(join) => KgateError::FaceTask {
                name: face.name,
                message: join.to_string(),
            },
        };
        tracing::warn!(error = %error, "stopped with an error");
        first_error.get_or_insert(error);
    }
    first_error.map_or(Ok(()), Err)
}

/// The one listener of a face that asked for one.
fn single(listeners: Vec<Bound>) -> TcpListener {
    listeners
        .into_iter()
        .next()
        .map(|bound| bound.listener)
        .expect("a face is started with the listeners it asked for")
}

async fn bind_wanted(wanted: Wanted) -> Result<Bound, KgateError> {
    let listener = crate::run::bind(&wanted.at, wanted.key).await?;
    let address = listener.local_addr().map_err(|source| KgateError::Bind {
        key: wanted.key.into(),
        address: wanted.at.to_string(),
        source,
    })?;
    Ok(Bound {
        name: wanted.name,
        listener,
        address,
    })
}
