//! Wiring: starts the embedded broker (when no cluster is configured), the Kafka client
//! layer and the REST Proxy, and stops them in the reverse order on a signal.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use kgate_broker::{Broker, BrokerConfig, BrokerError};
use kgate_kafka::{Kafka, KafkaConfig};
use tokio::net::TcpListener;

use crate::cli::BrokerArgs;
use crate::config::{BrokerListener, Config, HostPort, connectable, parse_broker_listeners};
use crate::error::KgateError;
use crate::shutdown::Shutdown;

/// Runs `kgate serve` until a signal asks it to stop.
pub async fn serve(config: Config, shutdown: Shutdown) -> Result<(), KgateError> {
    for key in &config.ignored {
        tracing::warn!(key = %key, "configuration key not supported by kgate yet; ignored");
    }

    let mut broker = None;
    let bootstrap = match &config.bootstrap_servers {
        Some(servers) => servers.clone(),
        None => {
            let started = start_broker(
                &config.broker_listeners,
                "broker.listeners",
                &config.data_dir.join("broker"),
                config.broker_node_id,
                config.broker_advertised.clone(),
                config.broker_properties.clone(),
                "broker.",
            )
            .await?;
            let address = connectable(started.local_addr()).to_string();
            broker = Some(started);
            address
        }
    };

    let result = serve_rest(&config, bootstrap, shutdown).await;

    if let Some(broker) = broker {
        tracing::info!("stopping the embedded broker");
        let stopped = broker.shutdown().await;
        // The REST error, if any, is the more useful one to report.
        result?;
        stopped?;
        Ok(())
    } else {
        result
    }
}

/// Connects the Kafka layer and serves the REST Proxy until shutdown, then closes the
/// Kafka clients (flushing producers) once no request can use them any more.
async fn serve_rest(
    config: &Config,
    bootstrap: String,
    shutdown: Shutdown,
) -> Result<(), KgateError> {
    let kafka_config = KafkaConfig {
        bootstrap_servers: bootstrap.clone(),
        ..config.kafka.clone()
    };
    tracing::info!(bootstrap.servers = %bootstrap, "connecting to Kafka");
    let kafka = Kafka::connect(kafka_config).await?;

    let listener = match bind(&config.rest_listener, "listeners").await {
        Ok(listener) => listener,
        Err(e) => {
            kafka.close().await;
            return Err(e);
        }
    };
    let address = listener.local_addr().map_err(|source| KgateError::Bind {
        key: "listeners".into(),
        address: config.rest_listener.to_string(),
        source,
    })?;
    announce(&format!(
        "kgate REST Proxy listening on http://{}",
        connectable(address)
    ));
    tracing::info!(%address, "REST Proxy listening");

    let mut rest_config = config.rest.clone();
    let registry = match &config.registry_listener {
        Some(wanted) => {
            let (task, url) = match start_registry(wanted, &kafka, &shutdown).await {
                Ok(started) => started,
                Err(e) => {
                    kafka.close().await;
                    return Err(e);
                }
            };
            // The formats use the built-in registry unless the user named another.
            rest_config.schema_registry_url.get_or_insert(url);
            Some(task)
        }
        None => None,
    };

    let registry_url = rest_config.schema_registry_url.clone().unwrap_or_default();
    let state = match kgate_rest::AppState::new(kafka.clone(), rest_config) {
        Ok(state) => state,
        Err(e) => {
            kafka.close().await;
            return Err(KgateError::BadArgument {
                option: "schema.registry.*".to_string(),
                value: registry_url,
                message: e.to_string(),
            });
        }
    };

    let mut server = tokio::spawn(kgate_rest::serve_state(
        listener,
        state,
        shutdown.clone().wait(),
    ));
    let finished = tokio::select! {
        finished = &mut server => Some(finished),
        () = shutdown.wait() => None,
    };
    let finished = match finished {
        Some(finished) => finished,
        // In-flight requests get the grace period; consumer instances are closed by
        // the server itself as it returns.
        None => match tokio::time::timeout(config.shutdown_grace, &mut server).await {
            Ok(finished) => finished,
            Err(_) => {
                tracing::warn!(
                    grace_ms = config.shutdown_grace.as_millis() as u64,
                    "REST Proxy did not stop within shutdown.graceful.ms; abandoning open requests"
                );
                server.abort();
                Ok(Ok(()))
            }
        },
    };
    if let Some(registry) = registry {
        match tokio::time::timeout(config.shutdown_grace, registry).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "Schema Registry stopped with an error"),
            Ok(Err(join)) => tracing::warn!(error = %join, "Schema Registry task failed"),
            Err(_) => tracing::warn!("Schema Registry did not stop within shutdown.graceful.ms"),
        }
    }
    tracing::info!("closing Kafka clients");
    kafka.close().await;
    match finished {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(KgateError::Rest { address, source }),
        Err(join) => Err(KgateError::RestTask(join.to_string())),
    }
}

/// Runs `kgate broker` until a signal asks it to stop.
pub async fn broker(args: BrokerArgs, shutdown: Shutdown) -> Result<(), KgateError> {
    let listen =
        parse_broker_listeners(&args.listen).map_err(|message| KgateError::BadArgument {
            option: "--listen".into(),
            value: args.listen.clone(),
            message,
        })?;
    let advertised = match &args.advertised {
        Some(text) => {
            let hp = parse_address("--advertised", text)?;
            Some((hp.host, hp.port))
        }
        None => None,
    };
    let mut properties = std::collections::BTreeMap::new();
    for set in &args.sets {
        let (key, value) = set.split_once('=').ok_or_else(|| KgateError::BadArgument {
            option: "--set".into(),
            value: set.clone(),
            message: "expected key=value".into(),
        })?;
        properties.insert(key.trim().to_string(), value.trim().to_string());
    }
    let broker = start_broker(
        &listen,
        "--listen",
        &args.data_dir,
        args.node_id,
        advertised,
        properties,
        "",
    )
    .await?;
    shutdown.wait().await;
    tracing::info!("stopping the broker");
    broker.shutdown().await?;
    Ok(())
}

fn parse_address(option: &str, text: &str) -> Result<HostPort, KgateError> {
    HostPort::parse(text).ok_or_else(|| KgateError::BadArgument {
        option: option.into(),
        value: text.into(),
        message: "expected HOST:PORT, e.g. 127.0.0.1:9092".into(),
    })
}

/// Binds and starts the embedded broker on its first listener, opens the others, and
/// prints where each listens.
async fn start_broker(
    listeners: &[BrokerListener],
    key: &str,
    data_dir: &Path,
    node_id: i32,
    advertised: Option<(String, u16)>,
    properties: std::collections::BTreeMap<String, String>,
    key_prefix: &str,
) -> Result<Broker, KgateError> {
    let Some((primary, extra)) = listeners.split_first() else {
        return Err(KgateError::BadArgument {
            option: key.into(),
            value: String::new(),
            message: "no listener given".into(),
        });
    };
    std::fs::create_dir_all(data_dir).map_err(|source| KgateError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    })?;
    let listen = &primary.address;
    let listener = bind(listen, key).await?;
    let bound = listener.local_addr().map_err(|source| KgateError::Bind {
        key: key.into(),
        address: listen.to_string(),
        source,
    })?;
    let mut config = BrokerConfig::new(data_dir);
    config.node_id = node_id;
    // Announcing 0.0.0.0 would send clients nowhere useful; loopback at least works on
    // this machine, and broker.advertised.listeners is there for other machines.
    config.advertised = advertised.or_else(|| {
        bound
            .ip()
            .is_unspecified()
            .then(|| announced(connectable(bound)))
    });
    config.properties = properties;
    if let Some(protocol) = &primary.protocol {
        config
            .properties
            .insert("listener.security.protocol".into(), protocol.clone());
    }
    let name_key = |e: BrokerError| match e {
        // Name the key as the user wrote it (`broker.num.partitions` in kgate's
        // configuration, `num.partitions` on `kgate broker --set`).
        BrokerError::Config { key, message } => BrokerError::Config {
            key: format!("{key_prefix}{key}"),
            message,
        },
        other => other,
    };
    let mut broker = Broker::start(listener, config).await.map_err(name_key)?;
    // The broker logs its own start-up (address, data directory, cluster id).
    announce(&format!(
        "kgate broker listening on {}",
        broker.local_addr()
    ));
    for other in extra {
        let listener = match bind(&other.address, key).await {
            Ok(listener) => listener,
            Err(e) => {
                let _ = broker.shutdown().await;
                return Err(e);
            }
        };
        let protocol = other.protocol_name();
        let address = match broker.add_listener(listener, protocol) {
            Ok(address) => address,
            Err(e) => {
                let _ = broker.shutdown().await;
                return Err(name_key(e).into());
            }
        };
        announce(&format!(
            "kgate broker {protocol} listener on {}",
            connectable(address)
        ));
        tracing::info!(%address, protocol, "broker listener open");
    }
    Ok(broker)
}

fn announced(addr: SocketAddr) -> (String, u16) {
    (addr.ip().to_string(), addr.port())
}

async fn bind(address: &HostPort, key: &str) -> Result<TcpListener, KgateError> {
    TcpListener::bind(address.bind_target())
        .await
        .map_err(|source| KgateError::Bind {
            key: key.into(),
            address: address.to_string(),
            source,
        })
}

/// Prints a listener line on standard output, where scripts and tests look for it.
fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout must not stop the server; the address is in the log too.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Binds the built-in Schema Registry's listener and starts it; returns its task and the
/// URL the REST Proxy's formats reach it at.
async fn start_registry(
    wanted: &HostPort,
    kafka: &Kafka,
    shutdown: &Shutdown,
) -> Result<(tokio::task::JoinHandle<std::io::Result<()>>, String), KgateError> {
    let listener = bind(wanted, "schema.registry.listeners").await?;
    let address = listener.local_addr().map_err(|source| KgateError::Bind {
        key: "schema.registry.listeners".into(),
        address: wanted.to_string(),
        source,
    })?;
    let url = format!("http://{}", connectable(address));
    announce(&format!("kgate Schema Registry listening on {url}"));
    tracing::info!(%address, "Schema Registry listening");
    let task = tokio::spawn(kgate_registry::serve(
        listener,
        kafka.clone(),
        kgate_registry::RegistryConfig::default(),
        shutdown.clone().wait(),
    ));
    Ok((task, url))
}
