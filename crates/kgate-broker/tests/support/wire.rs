//! A raw Kafka protocol connection for tests that need exact control of the bytes.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind,
    incremental_alter_configs_request,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request frame (without length prefix) for `request` at `version`.
pub fn frame(request: &RequestKind, key: ApiKey, version: i16, correlation_id: i32) -> Bytes {
    let mut buf = BytesMut::new();
    let mut header = RequestHeader::default();
    header.request_api_key = key as i16;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(StrBytes::from_static_str("wire-test"));
    header
        .encode(&mut buf, key.request_header_version(version))
        .unwrap();
    request.encode(&mut buf, version).unwrap();
    buf.freeze()
}

/// Sends one length-prefixed frame.
pub async fn send_frame(stream: &mut TcpStream, frame: &[u8]) {
    stream
        .write_all(&(frame.len() as i32).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(frame).await.unwrap();
}

/// Reads one response frame, or `None` if the broker closed the connection.
pub async fn read_frame(stream: &mut TcpStream) -> Option<Bytes> {
    let len = tokio::time::timeout(Duration::from_secs(30), stream.read_i32())
        .await
        .expect("broker answers or closes within 30 s")
        .ok()?;
    let mut buf = vec![0u8; len as usize];
    stream.read_exact(&mut buf).await.ok()?;
    Some(Bytes::from(buf))
}

/// Sends `request` and decodes the response.
pub async fn call(
    stream: &mut TcpStream,
    request: RequestKind,
    key: ApiKey,
    version: i16,
) -> ResponseKind {
    send_frame(stream, &frame(&request, key, version, 7)).await;
    let mut body = read_frame(stream).await.expect("a response");
    let header = ResponseHeader::decode(&mut body, key.response_header_version(version)).unwrap();
    assert_eq!(header.correlation_id, 7);
    ResponseKind::decode(key, &mut body, version).unwrap()
}

/// One resource of an IncrementalAlterConfigs request: `ops` are (name, operation,
/// value) with Kafka's operation codes (0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT).
pub fn alter_configs_resource(
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
) -> incremental_alter_configs_request::AlterConfigsResource {
    let mut resource = incremental_alter_configs_request::AlterConfigsResource::default();
    resource.resource_type = resource_type;
    resource.resource_name = StrBytes::from_string(name.to_string());
    resource.configs = ops
        .iter()
        .map(|(k, op, v)| {
            let mut c = incremental_alter_configs_request::AlterableConfig::default();
            c.name = StrBytes::from_string(k.to_string());
            c.config_operation = *op;
            c.value = v.map(|v| StrBytes::from_string(v.to_string()));
            c
        })
        .collect();
    resource
}

/// Whether the broker closes `stream` (rather than answering or hanging).
pub async fn is_closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => panic!("broker neither answered nor closed the connection"),
    }
}

/// A v2 record batch of `values`, optionally from an idempotent producer.
pub fn batch(values: &[&str], producer: Option<(i64, i16, i32)>) -> Bytes {
    let (producer_id, producer_epoch, first_seq) = producer.unwrap_or((-1, -1, -1));
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: if first_seq < 0 {
                -1
            } else {
                first_seq + i as i32
            },
            timestamp: 1_700_000_000_000 + i as i64,
            key: None,
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}
