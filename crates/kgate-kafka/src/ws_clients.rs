//! Clients of one connection rather than shared ones: a producer with a connection's own
//! settings (its SASL credentials, a transactional id), and a look at a topic with such
//! settings, so a client's own Kafka ACLs decide what it may do.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::Producer;

use crate::context::{log_client_error, log_librdkafka};
use crate::error::KafkaError;
use crate::record_stream::{DeliveryQueue, StreamProducer, create_producer};
use crate::{Kafka, REQUEST_TIMEOUT};

/// How long one try of a look at a topic waits.
const LOOK_TRY: Duration = Duration::from_millis(500);

/// How long a transaction may take to commit or abort before it fails.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A client context that remembers a refused login (and logs like the others).
#[derive(Default)]
struct AuthWatch {
    refused: parking_lot::Mutex<Option<String>>,
}

impl rdkafka::ClientContext for AuthWatch {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_librdkafka(level, fac, log_message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::Authentication) {
            *self.refused.lock() = Some(reason.to_string());
        } else {
            log_client_error(&error, reason);
        }
    }
}

impl rdkafka::consumer::ConsumerContext for AuthWatch {}

/// A producer owned by one connection, created with that connection's settings.
pub struct OwnProducer {
    producer: Arc<StreamProducer>,
    transactional: bool,
}

impl Kafka {
    /// Creates a producer with kgate's producer settings and then `overrides` (e.g. a
    /// connection's `sasl.username`/`sasl.password`). With `transactional_id`, the
    /// producer is transactional and its transactions are initialised (fencing an older
    /// producer with the same id) before it is returned.
    pub async fn own_producer(
        &self,
        overrides: BTreeMap<String, String>,
        transactional_id: Option<String>,
    ) -> Result<OwnProducer, KafkaError> {
        let mut overrides = overrides;
        let transactional = transactional_id.is_some();
        if let Some(id) = transactional_id {
            overrides.insert("transactional.id".to_string(), id);
        }
        let config = self.config().clone();
        // Creating a librdkafka client starts its threads: not work for the async threads.
        let producer = tokio::task::spawn_blocking(move || -> Result<_, KafkaError> {
            let producer = create_producer(&config, &overrides)?;
            if transactional {
                producer
                    .init_transactions(TRANSACTION_TIMEOUT)
                    .map_err(|e| KafkaError::from_rdkafka(e, "initialising transactions"))?;
            }
            Ok(producer)
        })
        .await
        .map_err(|e| KafkaError::Internal(format!("producer task failed: {e}")))??;
        Ok(OwnProducer {
            producer: Arc::new(producer),
            transactional,
        })
    }

    /// The number of partitions of `topic` as a client with `overrides` (a connection's
    /// credentials) sees it: fails with [`KafkaError::Authentication`] when the
    /// credentials are refused and [`KafkaError::Authorization`] when they may not
    /// describe the topic.
    pub async fn topic_partitions_as(
        &self,
        overrides: &BTreeMap<String, String>,
        topic: &str,
    ) -> Result<usize, KafkaError> {
        let mut layer = overrides.clone();
        // A look must not create the topic as a side effect.
        layer.insert("allow.auto.create.topics".to_string(), "false".to_string());
        let config = self.consumer_config(&layer);
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || {
            let client: BaseConsumer<AuthWatch> = config
                .create_with_context(AuthWatch::default())
                .map_err(|e| KafkaError::from_rdkafka(e, "creating a client"))?;
            // Short tries: a refused login shows in a request's error only as a broken
            // connection, and the client's error callback (served by a poll) tells what
            // it was, so each try looks there before the next.
            let started = std::time::Instant::now();
            let md = loop {
                match client.fetch_metadata(Some(&topic), LOOK_TRY) {
                    Ok(md) => break md,
                    Err(e) => {
                        let _ = client.poll(Duration::from_millis(10));
                        if let Some(reason) = client.context().refused.lock().take() {
                            return Err(KafkaError::Authentication(reason));
                        }
                        if started.elapsed() >= REQUEST_TIMEOUT {
                            return Err(KafkaError::from_rdkafka(e, &topic));
                        }
                    }
                }
            };
            let found = md
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .ok_or_else(|| KafkaError::TopicNotFound(topic.clone()))?;
            if let Some(code) = found.error() {
                return Err(KafkaError::from_code(code.into(), &topic));
            }
            Ok(found.partitions().len())
        })
        .await
        .map_err(|e| KafkaError::Internal(format!("metadata task failed: {e}")))?
    }
}

impl OwnProducer {
    /// A queue of records in flight through this producer, reported in send order.
    pub fn delivery_queue(&self) -> DeliveryQueue {
        DeliveryQueue::new(self.producer.clone())
    }

    /// Whether the producer was created with a transactional id.
    pub fn is_transactional(&self) -> bool {
        self.transactional
    }

    /// Starts a transaction: records sent from now on belong to it.
    pub async fn begin_transaction(&self) -> Result<(), KafkaError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.begin_transaction())
            .await
            .map_err(|e| KafkaError::Internal(format!("transaction task failed: {e}")))?
            .map_err(|e| KafkaError::from_rdkafka(e, "beginning a transaction"))
    }

    /// Commits the open transaction (flushing its records first).
    pub async fn commit_transaction(&self) -> Result<(), KafkaError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.commit_transaction(TRANSACTION_TIMEOUT))
            .await
            .map_err(|e| KafkaError::Internal(format!("transaction task failed: {e}")))?
            .map_err(|e| KafkaError::from_rdkafka(e, "committing a transaction"))
    }

    /// Aborts the open transaction; its records are never seen by read_committed readers.
    pub async fn abort_transaction(&self) -> Result<(), KafkaError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.abort_transaction(TRANSACTION_TIMEOUT))
            .await
            .map_err(|e| KafkaError::Internal(format!("transaction task failed: {e}")))?
            .map_err(|e| KafkaError::from_rdkafka(e, "aborting a transaction"))
    }

    /// Waits for every record handed over to be delivered or failed, then drops the
    /// producer (its threads end off the async runtime).
    pub async fn close(self) {
        let producer = self.producer;
        let closed = tokio::task::spawn_blocking(move || {
            if let Err(e) = producer.flush(REQUEST_TIMEOUT) {
                tracing::warn!(error = %e, "flushing a connection's producer failed");
            }
            drop(producer);
        })
        .await;
        if let Err(e) = closed {
            tracing::warn!(error = %e, "closing a connection's producer failed");
        }
    }
}
