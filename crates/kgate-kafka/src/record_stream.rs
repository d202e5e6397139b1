//! Producing one record at a time without waiting for its delivery report, for callers
//! that stream records (REST v3 streaming produce): many records stay in flight while
//! their reports are still handed back in send order.

use std::collections::BTreeMap;

use rdkafka::producer::DeliveryFuture;

use crate::Kafka;
use crate::error::KafkaError;
use crate::producer::{self, ProduceRecord, RecordPosition};

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

impl Kafka {
    /// Hands one record to the default producer and returns at once; records sent one
    /// after another keep their order within a partition.
    ///
    /// A partition the topic lacks fails the record alone (after one fresh metadata look,
    /// since the topic may just have grown); an unknown topic fails it with
    /// [`KafkaError::TopicNotFound`].
    pub async fn send_record(&self, topic: &str, record: ProduceRecord) -> PendingDelivery {
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
        let producer = match self.producer(&BTreeMap::new()) {
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
