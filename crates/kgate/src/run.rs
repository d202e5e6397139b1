//! Wiring: starts the embedded broker (when no cluster is configured), the Kafka client
//! layer and the faces (see `faces`), and stops them in the reverse order on a signal.

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
    // Every face serves HTTP through kgate-http, which takes its timeouts and connection
    // limit from here.
    kgate_http::set_process_serve_config(config.http);
    for key in &config.ignored {
        tracing::warn!(key = %key, "configuration key not supported by kgate yet; ignored");
    }

    crate::faces::check(&config)?;

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

    let result = serve_faces(&config, bootstrap, shutdown).await;

    if let Some(broker) = broker {
        // Clients that are still closing lose their broker now; that is no error.
        kgate_kafka::expect_disconnects();
        tracing::info!("stopping the embedded broker");
        let stopped = broker.shutdown().await;
        // The faces' error, if any, is the more useful one to report.
        result?;
        stopped?;
        Ok(())
    } else {
        result
    }
}

/// Connects the Kafka layer and serves every face until shutdown, then closes the Kafka
/// clients (flushing producers) once no request can use them any more.
async fn serve_faces(
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
    // No face is announced before the cluster answers: a face that cannot reach it
    // would announce itself and then fail.
    let target = crate::cluster::Target {
        servers: &bootstrap,
        key: "bootstrap.servers",
        progress: true,
    };
    let reachable = crate::cluster::wait_until_reachable(
        &kafka,
        &target,
        config.cluster_wait,
        Some(shutdown.clone()),
    )
    .await;
    let served = match reachable {
        Ok(true) => crate::faces::serve(config, kafka.clone(), shutdown).await,
        Ok(false) => Ok(()),
        Err(e) => Err(e),
    };
    tracing::info!("closing Kafka clients");
    kafka.close().await;
    served
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

pub(crate) async fn bind(address: &HostPort, key: &str) -> Result<TcpListener, KgateError> {
    TcpListener::bind(address.bind_target())
        .await
        .map_err(|source| KgateError::Bind {
            key: key.into(),
            address: address.to_string(),
            source,
        })
}

/// Prints a listener line on standard output, where scripts and tests look for it.
pub(crate) fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout must not stop the server; the address is in the log too.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
