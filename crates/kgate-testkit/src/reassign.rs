//! Starts a partition reassignment (AlterPartitionReassignments) with the kafka-protocol
//! crate over a plain connection: neither librdkafka nor REST v3 can start one, and the
//! multi-broker tests need one to watch through REST v3.

use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Asks the broker at `address` (any broker: it forwards to the controller) to move
/// partition `partition` of `topic` to `replicas` (the first is the preferred leader), or
/// with `None` to cancel a move in progress. Panics, naming Kafka's error, if refused.
pub async fn reassign_partition(
    address: &str,
    topic: &str,
    partition: i32,
    replicas: Option<&[i32]>,
) {
    let mut p = ReassignablePartition::default();
    p.partition_index = partition;
    p.replicas = replicas.map(|r| r.iter().map(|b| BrokerId(*b)).collect());
    let mut t = ReassignableTopic::default();
    t.name = TopicName(StrBytes::from_string(topic.to_string()));
    t.partitions = vec![p];
    let mut request = AlterPartitionReassignmentsRequest::default();
    request.timeout_ms = 30_000;
    request.topics = vec![t];
    let version = 0;

    let mut header = RequestHeader::default();
    header.request_api_key = AlterPartitionReassignmentsRequest::KEY;
    header.request_api_version = version;
    header.correlation_id = 1;
    header.client_id = Some(StrBytes::from_static_str("kgate-testkit"));
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    header
        .encode(
            &mut frame,
            AlterPartitionReassignmentsRequest::header_version(version),
        )
        .expect("encode the request header");
    request
        .encode(&mut frame, version)
        .expect("encode the request");
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());

    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream.write_all(&frame).await?;
        let size = stream.read_i32().await?;
        let mut body = vec![0u8; usize::try_from(size).unwrap_or(0)];
        stream.read_exact(&mut body).await?;
        Ok::<_, std::io::Error>(body)
    };
    let body = tokio::time::timeout(Duration::from_secs(60), exchange)
        .await
        .unwrap_or_else(|_| panic!("no answer to AlterPartitionReassignments from {address}"))
        .unwrap_or_else(|e| panic!("AlterPartitionReassignments to {address}: {e}"));
    let mut body = bytes::Bytes::from(body);
    type Response = <AlterPartitionReassignmentsRequest as Request>::Response;
    ResponseHeader::decode(&mut body, Response::header_version(version))
        .expect("decode the response header");
    let response = Response::decode(&mut body, version).expect("decode the response");
    assert!(!body.has_remaining() || body.remaining() < 4);
    assert_eq!(
        response.error_code, 0,
        "reassignment of {topic}/{partition} refused: {:?}",
        response.error_message
    );
    for t in &response.responses {
        for p in &t.partitions {
            assert_eq!(
                p.error_code, 0,
                "reassignment of {topic}/{} refused: {:?}",
                p.partition_index, p.error_message
            );
        }
    }
}
