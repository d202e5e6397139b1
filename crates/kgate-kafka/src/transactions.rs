//! Transactional producers: the records sent between [`TransactionalProducer::begin`]
//! and [`TransactionalProducer::commit`] become visible to `read_committed` readers all
//! together, or (after an abort, a crash, or a newer producer with the same
//! `transactional.id` fencing this one) never.
//!
//! Every librdkafka call that can block (init, begin, commit, abort, close) runs under
//! `spawn_blocking`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use crate::context::{log_client_error, log_librdkafka};
use crate::producer::{self, QUEUE_FULL_PATIENCE, RecordRef};
use crate::{Kafka, KafkaError};

/// Longest wait for init, commit or abort.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// Logs like kgate's other clients; delivery failures need no callback of their own,
/// since a commit fails when any record of its transaction did.
struct TransactionContext;

impl ClientContext for TransactionContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_librdkafka(level, fac, log_message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        log_client_error(&error, reason);
    }
}

impl ProducerContext for TransactionContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

/// A producer with a `transactional.id`, ready for transactions (its id fenced any older
/// producer of the same id and aborted what that one left open).
pub struct TransactionalProducer {
    producer: Arc<ThreadedProducer<TransactionContext>>,
    id: String,
}

impl Kafka {
    /// Creates a producer with `transactional_id` (settings: kgate's producer defaults,
    /// `client.*`, `producer.*`, then `overrides`) and initialises its transactions.
    pub async fn transactional_producer(
        &self,
        transactional_id: &str,
        overrides: &BTreeMap<String, String>,
    ) -> Result<TransactionalProducer, KafkaError> {
        let mut layer = overrides.clone();
        layer.insert("transactional.id".into(), transactional_id.into());
        // A transaction is committed as a whole: sending early only helps its latency.
        layer
            .entry("linger.ms".into())
            .or_insert_with(|| "5".into());
        let config = self.producer_config(&layer);
        let id = transactional_id.to_string();
        let producer = blocking(move || {
            let producer: ThreadedProducer<TransactionContext> = config
                .create_with_context(TransactionContext)
                .map_err(|e| KafkaError::from_rdkafka(e, "creating a transactional producer"))?;
            producer
                .init_transactions(TRANSACTION_TIMEOUT)
                .map_err(|e| KafkaError::from_rdkafka(e, &format!("initialising {id}")))?;
            Ok(producer)
        })
        .await?;
        Ok(TransactionalProducer {
            producer: Arc::new(producer),
            id: transactional_id.to_string(),
        })
    }
}

impl TransactionalProducer {
    /// Its `transactional.id`.
    pub fn transactional_id(&self) -> &str {
        &self.id
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> Result<(), KafkaError> {
        let producer = self.producer.clone();
        let id = self.id.clone();
        blocking(move || {
            producer.begin_transaction().map_err(|e| {
                KafkaError::from_rdkafka(e, &format!("beginning a transaction of {id}"))
            })
        })
        .await
    }

    /// Adds a record to the open transaction (waiting a little while librdkafka's queue
    /// is full).
    pub async fn send(&self, topic: &str, record: RecordRef<'_>) -> Result<(), KafkaError> {
        let started = Instant::now();
        loop {
            let mut base: BaseRecord<'_, [u8], [u8], ()> = BaseRecord::to(topic);
            if let Some(k) = record.key {
                base = base.key(k);
            }
            if let Some(v) = record.value {
                base = base.payload(v);
            }
            if let Some(p) = record.partition {
                base = base.partition(p);
            }
            if let Some(ts) = record.timestamp {
                base = base.timestamp(ts);
            }
            if let Some(headers) = producer::headers(record.headers) {
                base = base.headers(headers);
            }
            match self.producer.send(base) {
                Ok(()) => return Ok(()),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                    _,
                )) if started.elapsed() < QUEUE_FULL_PATIENCE => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => return Err(producer::delivery_error(e, topic, record.partition)),
            }
        }
    }

    /// Commits the open transaction: fails (and the transaction must be aborted) when
    /// any of its records could not be written.
    pub async fn commit(&self) -> Result<(), KafkaError> {
        let producer = self.producer.clone();
        let id = self.id.clone();
        blocking(move || {
            producer
                .commit_transaction(TRANSACTION_TIMEOUT)
                .map_err(|e| {
                    KafkaError::from_rdkafka(e, &format!("committing a transaction of {id}"))
                })
        })
        .await
    }

    /// Aborts the open transaction: none of its records will be read by `read_committed`
    /// readers.
    pub async fn abort(&self) -> Result<(), KafkaError> {
        let producer = self.producer.clone();
        let id = self.id.clone();
        blocking(move || {
            producer
                .abort_transaction(TRANSACTION_TIMEOUT)
                .map_err(|e| {
                    KafkaError::from_rdkafka(e, &format!("aborting a transaction of {id}"))
                })
        })
        .await
    }

    /// Closes the producer (an open transaction is left to the broker, which aborts it
    /// when it times out or a producer with the same id starts).
    pub async fn close(self) {
        let producer = self.producer;
        // Dropping a librdkafka producer waits for its threads.
        let _ = tokio::task::spawn_blocking(move || drop(producer)).await;
    }
}

async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| KafkaError::Internal(format!("transactional producer task failed: {e}")))?
}
