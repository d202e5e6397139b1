//! Producing one record at a time without waiting for its delivery report, for callers
//! that stream records (REST v3 streaming produce): many records stay in flight while
//! their reports are still handed back in send order.

use std::collections::BTreeMap;

use rdkafka::producer::DeliveryFuture;

use crate::error::KafkaError;
use crate::producer::{self, ProduceRecord, RecordPosition};
use crate::{Kafka, KafkaConfig};

/// A record handed to the producer whose delivery report has not been awaited yet.
pub struct PendingDelivery {
    state: Pending,
    topic: String,
    partition: Option<i32>,
}

enum Pending {
    Sent(DeliveryFuture),
    Failed(KafkaError),
}

impl PendingDelivery {
    /// Waits for the delivery report: where the record landed, or why it did not.
    pub async fn delivered(self) -> Result<RecordPosition, KafkaError> {
        match self.state {
            Pending::Failed(e) => Err(e),
            Pending::Sent(delivery) => match delivery.await {
                Ok(Ok(d)) => Ok(RecordPosition {
                    partition: d.partition,
                    offset: d.offset,
                    timestamp: d.timestamp.to_millis(),
                }),
                Ok(Err((e, _))) => Err(producer::delivery_error(e, &self.topic, self.partition)),
                Err(_) => Err(KafkaError::Internal(
                    "producer closed before delivery".to_string(),
                )),
            },
        }
    }
}

/// How long the streaming producer lets records gather into one Produce request.
const STREAMING_LINGER_MS: &str = "5";

/// The settings of the producer for streamed records: a stream keeps many records in
/// flight, so a few milliseconds of linger fill each Produce request and cut the
/// per-record cost of librdkafka and the broker by about a quarter (plain requests keep
/// the default producer's linger 0, where waiting would only add latency). A linger the
/// user configured wins, and then streams share the default producer.
pub(crate) fn streaming_overrides(config: &KafkaConfig) -> BTreeMap<String, String> {
    let configured = ["linger.ms", "queue.buffering.max.ms"]
        .iter()
        .any(|k| config.producer.contains_key(*k) || config.client.contains_key(*k));
    if configured {
        BTreeMap::new()
    } else {
        BTreeMap::from([("linger.ms".to_string(), STREAMING_LINGER_MS.to_string())])
    }
}

impl Kafka {
    /// Hands one record to the default producer and returns at once; records sent one
    /// after another keep their order within a partition.
    ///
    /// A partition the topic lacks fails the record alone (after one fresh metadata look,
    /// since the topic may just have grown); an unknown topic fails it with
    /// [`KafkaError::TopicNotFound`].
    pub async fn send_record(&self, topic: &str, record: ProduceRecord) -> PendingDelivery {
        self.send_through(&BTreeMap::new(), topic, record).await
    }

    /// [`Kafka::send_record`] for a record among many in flight (a streamed request):
    /// through a producer that lingers a few milliseconds to batch them, unless a linger
    /// is configured.
    pub async fn send_streamed_record(
        &self,
        topic: &str,
        record: ProduceRecord,
    ) -> PendingDelivery {
        self.send_through(&self.inner.streaming_overrides, topic, record)
            .await
    }

    async fn send_through(
        &self,
        overrides: &BTreeMap<String, String>,
        topic: &str,
        record: ProduceRecord,
    ) -> PendingDelivery {
        let partition = record.partition;
        let failed = |e| PendingDelivery {
            state: Pending::Failed(e),
            topic: topic.to_string(),
            partition,
        };
        if let Some(p) = partition {
            let known = match self.partition(topic, p).await {
                Ok(_) => Ok(()),
                Err(KafkaError::PartitionNotFound { .. }) => match self.fresh_metadata().await {
                    Ok(md) => match md.topics.get(topic).and_then(|t| t.partition(p)) {
                        Some(_) => Ok(()),
                        None => Err(KafkaError::PartitionNotFound {
                            topic: topic.to_string(),
                            partition: p,
                        }),
                    },
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = known {
                return failed(e);
            }
        }
        let producer = match self.producer(overrides) {
            Ok(p) => p,
            Err(e) => return failed(e),
        };
        match producer::enqueue(&producer, topic, &record).await {
            Ok(delivery) => PendingDelivery {
                state: Pending::Sent(delivery),
                topic: topic.to_string(),
                partition,
            },
            Err(e) => failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_linger_unless_a_linger_is_configured() {
        let linger = |config: &KafkaConfig| streaming_overrides(config).get("linger.ms").cloned();
        assert_eq!(linger(&KafkaConfig::default()), Some("5".to_string()));
        let producer = KafkaConfig {
            producer: [("linger.ms".to_string(), "0".to_string())].into(),
            ..Default::default()
        };
        assert!(streaming_overrides(&producer).is_empty());
        let client = KafkaConfig {
            client: [("queue.buffering.max.ms".to_string(), "1".to_string())].into(),
            ..Default::default()
        };
        assert!(streaming_overrides(&client).is_empty());
    }
}
