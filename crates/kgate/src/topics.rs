//! `kgate topics`: create and list topics over the Kafka protocol, so a newcomer with only
//! kgate can prepare a topic for the REST Proxy (whose v2 API cannot create one).

use std::collections::BTreeMap;
use std::time::Duration;

use kgate_kafka::{Kafka, KafkaConfig};

use crate::cli::{TopicsAction, TopicsArgs};
use crate::error::KgateError;

/// How long `kgate topics` waits for the cluster before saying it cannot reach it.
const REACH_LIMIT: Duration = Duration::from_secs(5);

/// Runs one `kgate topics` action and prints its result.
pub async fn run(args: TopicsArgs) -> Result<(), KgateError> {
    let kafka = Kafka::connect(KafkaConfig {
        bootstrap_servers: args.bootstrap_server.clone(),
        ..KafkaConfig::default()
    })
    .await?;
    let target = crate::cluster::Target {
        servers: &args.bootstrap_server,
        key: "--bootstrap-server",
        progress: false,
    };
    crate::cluster::wait_until_reachable(&kafka, &target, REACH_LIMIT, None).await?;
    let result = act(&kafka, args.action).await;
    kafka.close().await;
    result
}

async fn act(kafka: &Kafka, action: TopicsAction) -> Result<(), KgateError> {
    match action {
        TopicsAction::Create {
            name,
            partitions,
            replication_factor,
            configs,
        } => {
            let mut settings = BTreeMap::new();
            for config in configs {
                let (key, value) =
                    config
                        .split_once('=')
                        .ok_or_else(|| KgateError::BadArgument {
                            option: "--config".into(),
                            value: config.clone(),
                            message: "expected key=value".into(),
                        })?;
                settings.insert(key.trim().to_string(), value.trim().to_string());
            }
            kafka
                .create_topic(&name, partitions, replication_factor, &settings)
                .await
                .map_err(KgateError::KafkaRequest)?;
            println!("created topic {name}");
        }
        TopicsAction::List => {
            let metadata = kafka
                .fresh_metadata()
                .await
                .map_err(KgateError::KafkaRequest)?;
            for topic in metadata.topics.keys() {
                println!("{topic}");
            }
        }
    }
    Ok(())
}
