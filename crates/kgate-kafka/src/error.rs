//! The one error type of the client layer, classified so each face can map it to its codes.

use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// Errors from talking to Kafka, typed so each API can map them to its own codes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KafkaError {
    /// The topic does not exist in the cluster.
    #[error("Topic {0} not found.")]
    TopicNotFound(String),
    /// The topic exists but has no such partition.
    #[error("Partition {partition} of topic {topic} not found.")]
    PartitionNotFound {
        /// The topic asked for.
        topic: String,
        /// The partition asked for.
        partition: i32,
    },
    /// A topic with this name already exists.
    #[error("Topic {0} already exists.")]
    TopicAlreadyExists(String),
    /// The broker refused the arguments of the request (bad config, partition count, ...).
    #[error("{0}")]
    InvalidRequest(String),
    /// The client could not authenticate to the cluster.
    #[error("Kafka authentication error: {0}")]
    Authentication(String),
    /// The client is not allowed to do this operation.
    #[error("Kafka authorization error: {0}")]
    Authorization(String),
    /// The cluster did not answer in time.
    #[error("Kafka timeout: {0}")]
    Timeout(String),
    /// A failure that may go away when the operation is retried.
    #[error("Retriable Kafka error: {message}")]
    Retriable {
        /// Kafka's (or librdkafka's, when negative) error code.
        code: i32,
        /// What went wrong.
        message: String,
    },
    /// A failure that will not go away by retrying.
    #[error("Kafka error: {message}")]
    Kafka {
        /// Kafka's (or librdkafka's, when negative) error code.
        code: i32,
        /// What went wrong.
        message: String,
    },
    /// The cluster does not implement what was asked (an API or version it lacks).
    #[error("Not supported by the Kafka cluster: {0}")]
    Unsupported(String),
    /// A client setting (from `client.*`, `producer.*`, ...) was refused by librdkafka.
    #[error("invalid Kafka client configuration: {0}")]
    Config(String),
    /// A failure inside kgate itself (a worker thread died, ...).
    #[error("internal error in the Kafka client layer: {0}")]
    Internal(String),
}

impl KafkaError {
    /// True when retrying the same operation may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(self, KafkaError::Retriable { .. } | KafkaError::Timeout(_))
    }

    /// True for librdkafka's local "Unknown partition", and its "No leaders found" (the
    /// no-entry code) of an admin request's leader lookup: the client's metadata does not
    /// know the partition or its leader yet, as right after another client created its
    /// topic (seen starting Connect on a 3-broker Apache Kafka cluster).
    pub fn is_partition_unknown_to_client(&self) -> bool {
        matches!(self, KafkaError::Kafka { code, .. }
            if *code == RDKafkaErrorCode::UnknownPartition as i32
                || *code == RDKafkaErrorCode::NoEnt as i32)
    }

    /// True for a broker's POLICY_VIOLATION refusal (classified as
    /// [`KafkaError::InvalidRequest`] with the code's text as the message's end). The
    /// embedded broker answers so to a topic creation while the process has too few file
    /// descriptors to spare, which passes once descriptors are released.
    pub fn is_policy_violation(&self) -> bool {
        matches!(self, KafkaError::InvalidRequest(message)
            if message.ends_with(&RDKafkaErrorCode::PolicyViolation.to_string()))
    }

    /// Classifies an error code reported by librdkafka or by a broker.
    pub fn from_code(code: RDKafkaErrorCode, context: &str) -> KafkaError {
        use RDKafkaErrorCode as C;
        let message = if context.is_empty() {
            code.to_string()
        } else {
            format!("{context}: {code}")
        };
        match code {
            C::UnknownTopic | C::UnknownTopicOrPartition | C::UnknownTopicId => {
                KafkaError::TopicNotFound(context.to_string())
            }
            C::TopicAlreadyExists => KafkaError::TopicAlreadyExists(context.to_string()),
            C::Authentication
            | C::SaslAuthenticationFailed
            | C::UnsupportedSASLMechanism
            | C::IllegalSASLState
            | C::SSL => KafkaError::Authentication(message),
            C::TopicAuthorizationFailed
            | C::GroupAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::TransactionalIdAuthorizationFailed
            | C::DelegationTokenAuthorizationFailed => KafkaError::Authorization(message),
            C::OperationTimedOut | C::MessageTimedOut | C::RequestTimedOut | C::TimedOutQueue => {
                KafkaError::Timeout(message)
            }
            C::InvalidConfig
            | C::InvalidPartitions
            | C::InvalidReplicationFactor
            | C::InvalidReplicaAssignment
            | C::InvalidTopic
            | C::PolicyViolation
            | C::InvalidRequest
            | C::InvalidArgument
            | C::InvalidRecord
            | C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::InvalidTimestamp
            | C::TopicDeletionDisabled => KafkaError::InvalidRequest(message),
            C::UnsupportedFeature | C::UnsupportedVersion | C::NotImplemented => {
                KafkaError::Unsupported(message)
            }
            _ if is_retriable_code(code) => KafkaError::Retriable {
                code: code as i32,
                message,
            },
            _ => KafkaError::Kafka {
                code: code as i32,
                message,
            },
        }
    }

    /// Converts an rdkafka error, naming what was being done in `context`.
    pub fn from_rdkafka(err: RdKafkaError, context: &str) -> KafkaError {
        match &err {
            RdKafkaError::ClientConfig(_, desc, key, value) => {
                KafkaError::Config(format!("{key}={value}: {desc}"))
            }
            RdKafkaError::ClientCreation(msg) => KafkaError::Config(msg.clone()),
            RdKafkaError::AdminOp(code) => KafkaError::from_code(*code, context),
            RdKafkaError::Canceled => KafkaError::Internal(format!("{context}: client closed")),
            _ => match err.rdkafka_error_code() {
                Some(code) => KafkaError::from_code(code, context),
                None if context.is_empty() => KafkaError::Kafka {
                    code: -1,
                    message: err.to_string(),
                },
                None => KafkaError::Kafka {
                    code: -1,
                    message: format!("{context}: {err}"),
                },
            },
        }
    }
}

/// Whether Kafka documents this code as retriable (plus librdkafka's transient local
/// failures), following the Java client's `RetriableException` hierarchy.
fn is_retriable_code(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::BrokerTransportFailure
            | C::Resolve
            | C::AllBrokersDown
            | C::QueueFull
            | C::WaitingForCoordinator
            | C::Retry
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::BrokerNotAvailable
            | C::ReplicaNotAvailable
            | C::NetworkException
            | C::CoordinatorLoadInProgress
            | C::CoordinatorNotAvailable
            | C::NotCoordinator
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::NotController
            | C::KafkaStorageError
            | C::FencedLeaderEpoch
            | C::UnknownLeaderEpoch
            | C::OffsetNotAvailable
            | C::PreferredLeaderNotAvailable
            | C::EligibleLeadersNotAvailable
            | C::UnstableOffsetCommit
            | C::ThrottlingQuotaExceeded
            | C::RebalanceInProgress
            | C::ConcurrentTransactions
            | C::InvalidMessage
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        assert!(matches!(
            KafkaError::from_code(RDKafkaErrorCode::UnknownTopicOrPartition, "t"),
            KafkaError::TopicNotFound(t) if t == "t"
        ));
        assert!(KafkaError::from_code(RDKafkaErrorCode::NotLeaderForPartition, "").is_retriable());
        assert!(KafkaError::from_code(RDKafkaErrorCode::MessageTimedOut, "").is_retriable());
        assert!(!KafkaError::from_code(RDKafkaErrorCode::InvalidConfig, "").is_retriable());
        for code in [RDKafkaErrorCode::UnknownPartition, RDKafkaErrorCode::NoEnt] {
            assert!(
                KafkaError::from_code(code, "t").is_partition_unknown_to_client(),
                "{code:?}"
            );
        }
        assert!(
            !KafkaError::from_code(RDKafkaErrorCode::UnknownTopicOrPartition, "t")
                .is_partition_unknown_to_client()
        );
        let refused = KafkaError::from_code(RDKafkaErrorCode::PolicyViolation, "connect-configs");
        assert!(refused.is_policy_violation(), "{refused:?}");
        assert!(matches!(refused, KafkaError::InvalidRequest(_)));
        assert!(!refused.is_retriable());
        assert!(
            !KafkaError::from_code(RDKafkaErrorCode::InvalidReplicationFactor, "t")
                .is_policy_violation()
        );
        assert!(!KafkaError::InvalidRequest("t".into()).is_policy_violation());
        assert!(matches!(
            KafkaError::from_code(RDKafkaErrorCode::TopicAuthorizationFailed, ""),
            KafkaError::Authorization(_)
        ));
    }
}
