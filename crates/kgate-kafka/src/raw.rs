//! Requests librdkafka has no call for (partition reassignments, log dirs), sent with the
//! kafka-protocol crate over a plain connection.
//!
//! Also the cluster-wide broker defaults (the broker config resource named ""), which
//! librdkafka refuses because it wants a numeric broker id. Only PLAINTEXT listeners are
//! reachable this way; with TLS or SASL configured these calls answer
//! [`KafkaError::Unsupported`].

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    DescribeConfigsRequest, IncrementalAlterConfigsRequest, ListPartitionReassignmentsRequest,
    RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::native::configs::{ConfigChange, ConfigEntry, ConfigSynonym};
use crate::{ConfigValueSource, Kafka, KafkaError, REQUEST_TIMEOUT};

/// Kafka's resource type code of a broker.
const BROKER_RESOURCE: i8 = 4;

/// Largest response accepted, so a confused peer cannot make us allocate gigabytes.
const MAX_RESPONSE_BYTES: usize = 100 * 1024 * 1024;

/// One partition being moved between brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReassignment {
    /// The topic.
    pub topic: String,
    /// The partition id.
    pub partition: i32,
    /// The replicas during the move (old and new).
    pub replicas: Vec<i32>,
    /// Replicas being added.
    pub adding_replicas: Vec<i32>,
    /// Replicas being removed.
    pub removing_replicas: Vec<i32>,
}

/// Sends one request to `address` and reads its response.
async fn call<R: Request>(
    address: &str,
    request: &R,
    version: i16,
) -> Result<R::Response, KafkaError> {
    let context = format!("raw request to {address}");
    let encoding = |e: &dyn std::fmt::Display| KafkaError::Internal(format!("{context}: {e}"));
    let mut header = RequestHeader::default();
    header.request_api_key = R::KEY;
    header.request_api_version = version;
    header.correlation_id = 1;
    header.client_id = Some(StrBytes::from_static_str("kgate"));
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    header
        .encode(&mut frame, R::header_version(version))
        .map_err(|e| encoding(&e))?;
    request
        .encode(&mut frame, version)
        .map_err(|e| encoding(&e))?;
    let size = i32::try_from(frame.len() - 4)
        .map_err(|_| KafkaError::Internal(format!("{context}: request too large")))?;
    frame[..4].copy_from_slice(&size.to_be_bytes());

    let exchange = async {
        let mut stream = TcpStream::connect(address).await?;
        stream.write_all(&frame).await?;
        let size = stream.read_i32().await?;
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s <= MAX_RESPONSE_BYTES)
            .ok_or_else(|| std::io::Error::other(format!("bad response size {size}")))?;
        let mut body = vec![0u8; size];
        stream.read_exact(&mut body).await?;
        Ok::<_, std::io::Error>(body)
    };
    let body = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| KafkaError::Timeout(format!("{context}: no answer")))?
        .map_err(|e| KafkaError::Retriable {
            code: -195,
            message: format!("{context}: {e}"),
        })?;
    let mut body = bytes::Bytes::from(body);
    let _header = ResponseHeader::decode(&mut body, R::Response::header_version(version))
        .map_err(|e| encoding(&e))?;
    let response = R::Response::decode(&mut body, version).map_err(|e| encoding(&e))?;
    if body.has_remaining() {
        tracing::debug!(left = body.remaining(), "raw response has trailing bytes");
    }
    Ok(response)
}

/// Classifies an error code from a raw response.
fn error_of(code: i16, message: Option<&StrBytes>, context: &str) -> Option<KafkaError> {
    if code == 0 {
        return None;
    }
    let known = ResponseError::try_from_code(code);
    let text = match (message.map(|m| m.as_str()).filter(|m| !m.is_empty()), known) {
        (Some(m), _) => format!("{context}: {m}"),
        (None, Some(e)) => format!("{context}: {e:?}"),
        (None, None) => format!("{context}: error code {code}"),
    };
    Some(match known {
        Some(ResponseError::UnknownTopicOrPartition) => {
            KafkaError::TopicNotFound(context.to_string())
        }
        Some(
            ResponseError::InvalidConfig
            | ResponseError::InvalidRequest
            | ResponseError::PolicyViolation
            | ResponseError::InvalidPartitions
            | ResponseError::InvalidReplicationFactor
            | ResponseError::InvalidReplicaAssignment,
        ) => KafkaError::InvalidRequest(text),
        Some(
            ResponseError::ClusterAuthorizationFailed | ResponseError::TopicAuthorizationFailed,
        ) => KafkaError::Authorization(text),
        Some(ResponseError::UnsupportedVersion) => KafkaError::Unsupported(text),
        Some(e) if e.is_retriable() => KafkaError::Retriable {
            code: i32::from(code),
            message: text,
        },
        _ => KafkaError::Kafka {
            code: i32::from(code),
            message: text,
        },
    })
}

fn source_of(code: i8) -> ConfigValueSource {
    match code {
        1 => ConfigValueSource::DynamicTopic,
        2 => ConfigValueSource::DynamicBroker,
        3 => ConfigValueSource::DynamicDefaultBroker,
        4 => ConfigValueSource::StaticBroker,
        5 => ConfigValueSource::Default,
        _ => ConfigValueSource::Unknown,
    }
}

impl Kafka {
    /// Refuses raw requests when the cluster needs TLS or SASL, which this module does not
    /// speak.
    fn check_plaintext(&self) -> Result<(), KafkaError> {
        let c = &self.inner.config;
        let protocol = c
            .admin
            .get("security.protocol")
            .or_else(|| c.client.get("security.protocol"))
            .map(|p| p.to_ascii_lowercase());
        match protocol.as_deref() {
            None | Some("plaintext") => Ok(()),
            Some(other) => Err(KafkaError::Unsupported(format!(
                "this request is sent without librdkafka and supports only PLAINTEXT listeners, not {other}"
            ))),
        }
    }

    /// `host:port` of the controller (or of any broker when the cluster names none).
    async fn controller_address(&self) -> Result<String, KafkaError> {
        let cluster = self.describe_cluster().await?;
        let node = cluster
            .controller
            .and_then(|c| cluster.nodes.iter().find(|n| n.id == c))
            .or_else(|| cluster.nodes.first())
            .ok_or_else(|| KafkaError::Retriable {
                code: 8,
                message: "the cluster reported no brokers".to_string(),
            })?;
        Ok(format!("{}:{}", node.host, node.port))
    }

    /// The dynamic defaults shared by all brokers, with synonyms (DescribeConfigs on the
    /// broker resource named "").
    pub(crate) async fn describe_broker_defaults(&self) -> Result<Vec<ConfigEntry>, KafkaError> {
        self.check_plaintext()?;
        let address = self.controller_address().await?;
        let mut resource = DescribeConfigsResource::default();
        resource.resource_type = BROKER_RESOURCE;
        resource.resource_name = StrBytes::from_static_str("");
        resource.configuration_keys = None;
        let mut request = DescribeConfigsRequest::default();
        request.resources = vec![resource];
        request.include_synonyms = true;
        let response = call(&address, &request, 1).await?;
        let result = response
            .results
            .into_iter()
            .next()
            .ok_or_else(|| KafkaError::Internal("empty DescribeConfigs answer".to_string()))?;
        if let Some(e) = error_of(
            result.error_code,
            result.error_message.as_ref(),
            "broker defaults",
        ) {
            return Err(e);
        }
        Ok(result
            .configs
            .into_iter()
            .map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.map(|v| v.to_string()),
                source: source_of(c.config_source),
                is_default: c.config_source == 5,
                is_read_only: c.read_only,
                is_sensitive: c.is_sensitive,
                synonyms: c
                    .synonyms
                    .into_iter()
                    .map(|s| ConfigSynonym {
                        name: s.name.to_string(),
                        value: s.value.map(|v| v.to_string()),
                        source: source_of(s.source),
                    })
                    .collect(),
            })
            .collect())
    }

    /// Applies `changes` to the dynamic defaults shared by all brokers.
    pub(crate) async fn alter_broker_defaults(
        &self,
        changes: &[ConfigChange],
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        self.check_plaintext()?;
        let address = self.controller_address().await?;
        let mut resource = AlterConfigsResource::default();
        resource.resource_type = BROKER_RESOURCE;
        resource.resource_name = StrBytes::from_static_str("");
        resource.configs = changes
            .iter()
            .map(|c| {
                let mut a = AlterableConfig::default();
                match c {
                    ConfigChange::Set { name, value } => {
                        a.name = StrBytes::from_string(name.clone());
                        a.config_operation = 0;
                        a.value = Some(StrBytes::from_string(value.clone()));
                    }
                    ConfigChange::Delete { name } => {
                        a.name = StrBytes::from_string(name.clone());
                        a.config_operation = 1;
                        a.value = None;
                    }
                }
                a
            })
            .collect();
        let mut request = IncrementalAlterConfigsRequest::default();
        request.resources = vec![resource];
        request.validate_only = validate_only;
        let response = call(&address, &request, 0).await?;
        for r in &response.responses {
            if let Some(e) = error_of(r.error_code, r.error_message.as_ref(), "broker defaults") {
                return Err(e);
            }
        }
        Ok(())
    }

    /// The partition reassignments in progress, asked of the controller; `topics` limits
    /// the answer to those partitions (`None`: every partition of every topic).
    pub async fn list_partition_reassignments(
        &self,
        topics: Option<&BTreeMap<String, Vec<i32>>>,
    ) -> Result<Vec<PartitionReassignment>, KafkaError> {
        self.check_plaintext()?;
        let address = self.controller_address().await?;
        let mut request = ListPartitionReassignmentsRequest::default();
        request.timeout_ms = i32::try_from(REQUEST_TIMEOUT.as_millis()).unwrap_or(i32::MAX);
        request.topics = topics.map(|topics| {
            topics
                .iter()
                .map(|(name, partitions)| {
                    let mut t = ListPartitionReassignmentsTopics::default();
                    t.name = TopicName(StrBytes::from_string(name.clone()));
                    t.partition_indexes = partitions.clone();
                    t
                })
                .collect()
        });
        let response = call(&address, &request, 0).await?;
        if let Some(e) = error_of(
            response.error_code,
            response.error_message.as_ref(),
            "listing partition reassignments",
        ) {
            return Err(e);
        }
        let mut out: Vec<PartitionReassignment> = response
            .topics
            .into_iter()
            .flat_map(|t| {
                let topic = t.name.0.to_string();
                t.partitions
                    .into_iter()
                    .map(move |p| PartitionReassignment {
                        topic: topic.clone(),
                        partition: p.partition_index,
                        replicas: p.replicas.into_iter().map(|b| b.0).collect(),
                        adding_replicas: p.adding_replicas.into_iter().map(|b| b.0).collect(),
                        removing_replicas: p.removing_replicas.into_iter().map(|b| b.0).collect(),
                    })
            })
            .collect();
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }
}
