//! The broker at the byte level: malformed and truncated frames, unknown APIs and
//! versions, old message formats, sequence checks of idempotent producers, and a
//! property test showing request decoding never panics on random or damaged frames.

mod support;

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;
use support::wire::*;
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn api_versions_ok(addr: std::net::SocketAddr) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let ResponseKind::ApiVersions(r) = call(
        &mut s,
        RequestKind::ApiVersions(ApiVersionsRequest::default()),
        ApiKey::ApiVersions,
        2,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(r.error_code, 0);
}

#[tokio::test]
async fn malformed_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let mut bystander = TcpStream::connect(addr).await.unwrap();

    // An absurd length prefix.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3])
        .await
        .unwrap();
    assert!(is_closed(&mut s).await);

    // A negative length prefix.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&(-5i32).to_be_bytes()).await.unwrap();
    assert!(is_closed(&mut s).await);

    // A frame too short for a header.
    let mut s = TcpStream::connect(addr).await.unwrap();
    send_frame(&mut s, &[0, 3, 0]).await;
    assert!(is_closed(&mut s).await);

    // A truncated frame: the length promises more than ever arrives.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&100i32.to_be_bytes()).await.unwrap();
    s.write_all(&[0, 3, 0, 1, 0, 0, 0, 1]).await.unwrap();
    s.shutdown().await.unwrap();
    assert!(is_closed(&mut s).await);

    // A known header with a garbage body.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut f = vec![0, 3, 0, 1, 0, 0, 0, 9, 0, 0];
    f.extend_from_slice(&[0x7f; 40]);
    send_frame(&mut s, &f).await;
    assert!(is_closed(&mut s).await);

    // An API key no Kafka version defines.
    let mut s = TcpStream::connect(addr).await.unwrap();
    send_frame(&mut s, &[0x27, 0x0f, 0, 0, 0, 0, 0, 1, 0, 0]).await;
    assert!(is_closed(&mut s).await);

    // A version of Metadata the broker does not implement.
    let mut s = TcpStream::connect(addr).await.unwrap();
    send_frame(&mut s, &[0, 3, 0x10, 0, 0, 0, 0, 1, 0, 0]).await;
    assert!(is_closed(&mut s).await);

    // The connection that behaved is still served, and so are new ones.
    let ResponseKind::Metadata(md) = call(
        &mut bystander,
        RequestKind::Metadata(MetadataRequest::default()),
        ApiKey::Metadata,
        1,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(md.brokers.len(), 1);
    api_versions_ok(addr).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn too_new_api_versions_request_gets_unsupported_version_and_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let mut s = TcpStream::connect(broker.local_addr()).await.unwrap();
    // ApiVersions v100, header v1 as KIP-511 clients send it.
    send_frame(&mut s, &[0, 18, 0, 100, 0, 0, 0, 42, 0, 0]).await;
    let mut body = read_frame(&mut s).await.expect("a reply, not a hang");
    let header =
        <ResponseHeader as kafka_protocol::protocol::Decodable>::decode(&mut body, 0).unwrap();
    assert_eq!(header.correlation_id, 42);
    let r =
        <ApiVersionsResponse as kafka_protocol::protocol::Decodable>::decode(&mut body, 0).unwrap();
    assert_eq!(r.error_code, ResponseError::UnsupportedVersion.code());
    let produce = r.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    assert_eq!((produce.min_version, produce.max_version), (3, 9));
    broker.shutdown().await.unwrap();
}

fn produce_request(topic: &str, records: Bytes, acks: i16) -> RequestKind {
    let mut p = PartitionProduceData::default();
    p.index = 0;
    p.records = Some(records);
    let mut t = TopicProduceData::default();
    t.name = TopicName(StrBytes::from_string(topic.to_string()));
    t.partition_data = vec![p];
    let mut r = ProduceRequest::default();
    r.acks = acks;
    r.timeout_ms = 30_000;
    r.topic_data = vec![t];
    RequestKind::Produce(r)
}

async fn produce(s: &mut TcpStream, topic: &str, records: Bytes) -> (i16, i64) {
    let ResponseKind::Produce(r) =
        call(s, produce_request(topic, records, -1), ApiKey::Produce, 8).await
    else {
        panic!("wrong response kind")
    };
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

async fn create(s: &mut TcpStream, topic: &str) {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = TopicName(StrBytes::from_string(topic.to_string()));
    t.num_partitions = 1;
    t.replication_factor = 1;
    let mut r = CreateTopicsRequest::default();
    r.topics = vec![t];
    r.timeout_ms = 10_000;
    let ResponseKind::CreateTopics(resp) =
        call(s, RequestKind::CreateTopics(r), ApiKey::CreateTopics, 4).await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(resp.topics[0].error_code, 0);
}

#[tokio::test]
async fn old_message_format_and_bad_sequences_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let mut s = TcpStream::connect(broker.local_addr()).await.unwrap();
    let topic = unique("wire");
    create(&mut s, &topic).await;

    // Magic v1 message sets are refused.
    // offset, size, crc, magic 1, attributes, timestamp, null key, value "old".
    let mut v1 = BytesMut::new();
    let mut message = Vec::new();
    message.extend_from_slice(&0u32.to_be_bytes());
    message.push(1);
    message.push(0);
    message.extend_from_slice(&1i64.to_be_bytes());
    message.extend_from_slice(&(-1i32).to_be_bytes());
    message.extend_from_slice(&3i32.to_be_bytes());
    message.extend_from_slice(b"old");
    v1.extend_from_slice(&0i64.to_be_bytes());
    v1.extend_from_slice(&(message.len() as i32).to_be_bytes());
    v1.extend_from_slice(&message);
    let (code, _) = produce(&mut s, &topic, v1.freeze()).await;
    assert_eq!(code, ResponseError::UnsupportedForMessageFormat.code());

    // A corrupted CRC is refused.
    let mut bad = BytesMut::from(&batch(&["a"], None)[..]);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let (code, _) = produce(&mut s, &topic, bad.freeze()).await;
    assert_eq!(code, ResponseError::CorruptMessage.code());

    // Idempotent producer: in-order, duplicate, out-of-order.
    let ResponseKind::InitProducerId(pid) = call(
        &mut s,
        RequestKind::InitProducerId(InitProducerIdRequest::default()),
        ApiKey::InitProducerId,
        1,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(pid.error_code, 0);
    let id = pid.producer_id.0;
    assert!(id >= 0);
    let (code, offset) = produce(&mut s, &topic, batch(&["a", "b"], Some((id, 0, 0)))).await;
    assert_eq!((code, offset), (0, 0));
    let (code, offset) = produce(&mut s, &topic, batch(&["c"], Some((id, 0, 2)))).await;
    assert_eq!((code, offset), (0, 2));
    // A retry of the first batch is answered with its original offset and not stored.
    let (code, offset) = produce(&mut s, &topic, batch(&["a", "b"], Some((id, 0, 0)))).await;
    assert_eq!((code, offset), (0, 0));
    // A gap in the sequence is refused.
    let (code, _) = produce(&mut s, &topic, batch(&["e"], Some((id, 0, 5)))).await;
    assert_eq!(code, ResponseError::OutOfOrderSequenceNumber.code());
    // An older epoch is fenced.
    let (code, _) = produce(&mut s, &topic, batch(&["f"], Some((id, 0, 3)))).await;
    assert_eq!((code, 0), (0, 0));
    let (code, offset) = produce(&mut s, &topic, batch(&["g"], Some((id, 1, 0)))).await;
    assert_eq!((code, offset), (0, 4));
    let (code, _) = produce(&mut s, &topic, batch(&["h"], Some((id, 0, 4)))).await;
    assert_eq!(code, ResponseError::InvalidProducerEpoch.code());

    // acks=0 gets no response; the next request's response comes next.
    send_frame(
        &mut s,
        &frame(
            &produce_request(&topic, batch(&["z"], None), 0),
            ApiKey::Produce,
            8,
            1,
        ),
    )
    .await;
    let ResponseKind::ListOffsets(lo) = call(
        &mut s,
        RequestKind::ListOffsets({
            let mut p = list_offsets_request::ListOffsetsPartition::default();
            p.timestamp = -1;
            let mut t = list_offsets_request::ListOffsetsTopic::default();
            t.name = TopicName(StrBytes::from_string(topic.clone()));
            t.partitions = vec![p];
            let mut r = ListOffsetsRequest::default();
            r.topics = vec![t];
            r
        }),
        ApiKey::ListOffsets,
        5,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(
        lo.topics[0].partitions[0].offset, 6,
        "a, b, c, f, g and z are stored"
    );

    // Earliest, and the record with the largest timestamp ("b", the second of its batch).
    let offsets = list_offsets(&mut s, &topic, &[-2, -3, 1_700_000_000_001]).await;
    assert_eq!(offsets[0], (0, -1));
    assert_eq!(offsets[1], (1, 1_700_000_000_001));
    assert_eq!(offsets[2], (1, 1_700_000_000_001));
    broker.shutdown().await.unwrap();
}

async fn list_offsets(s: &mut TcpStream, topic: &str, timestamps: &[i64]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for ts in timestamps {
        let mut p = list_offsets_request::ListOffsetsPartition::default();
        p.timestamp = *ts;
        let mut t = list_offsets_request::ListOffsetsTopic::default();
        t.name = TopicName(StrBytes::from_string(topic.to_string()));
        t.partitions = vec![p];
        let mut r = ListOffsetsRequest::default();
        r.topics = vec![t];
        let ResponseKind::ListOffsets(lo) =
            call(s, RequestKind::ListOffsets(r), ApiKey::ListOffsets, 7).await
        else {
            panic!("wrong response kind")
        };
        let p = &lo.topics[0].partitions[0];
        assert_eq!(p.error_code, 0);
        out.push((p.offset, p.timestamp));
    }
    out
}

fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32) -> RequestKind {
    let mut p = fetch_request::FetchPartition::default();
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    let mut t = fetch_request::FetchTopic::default();
    t.topic = TopicName(StrBytes::from_string(topic.to_string()));
    t.partitions = vec![p];
    let mut r = FetchRequest::default();
    r.max_wait_ms = max_wait_ms;
    r.min_bytes = 1;
    r.max_bytes = 1 << 20;
    r.topics = vec![t];
    RequestKind::Fetch(r)
}

#[tokio::test]
async fn fetch_waits_for_data_and_wakes_when_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let mut producer_conn = TcpStream::connect(addr).await.unwrap();
    let topic = unique("long-poll");
    create(&mut producer_conn, &topic).await;

    // Nothing to read: the fetch returns empty after max_wait_ms.
    let mut c = TcpStream::connect(addr).await.unwrap();
    let started = std::time::Instant::now();
    let ResponseKind::Fetch(r) =
        call(&mut c, fetch_request(&topic, 0, 300), ApiKey::Fetch, 11).await
    else {
        panic!("wrong response kind")
    };
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    assert_eq!(
        r.responses[0].partitions[0]
            .records
            .as_ref()
            .map(|b| b.len()),
        Some(0)
    );

    // A fetch with a long wait is woken by the append, well before its deadline.
    let t = topic.clone();
    let waiting = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let ResponseKind::Fetch(r) =
            call(&mut c, fetch_request(&t, 0, 60_000), ApiKey::Fetch, 11).await
        else {
            panic!("wrong response kind")
        };
        (started.elapsed(), r)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the fetch waits while there is no data"
    );
    let (code, _) = produce(&mut producer_conn, &topic, batch(&["wake"], None)).await;
    assert_eq!(code, 0);
    let (elapsed, r) = waiting.await.unwrap();
    assert!(elapsed < std::time::Duration::from_secs(30));
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.high_watermark, 1);
    let mut records = p.records.clone().unwrap();
    let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut records).unwrap();
    assert_eq!(set.records[0].value.as_deref(), Some(&b"wake"[..]));

    // Out of range offsets are reported, not waited on.
    let mut c = TcpStream::connect(addr).await.unwrap();
    let ResponseKind::Fetch(r) =
        call(&mut c, fetch_request(&topic, 5, 60_000), ApiKey::Fetch, 11).await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::OffsetOutOfRange.code()
    );
    broker.shutdown().await.unwrap();
}

/// Valid request frames of several APIs, to damage in the property test.
fn sample_frames() -> Vec<Bytes> {
    let mut md = MetadataRequest::default();
    md.topics = Some(vec![{
        let mut t = metadata_request::MetadataRequestTopic::default();
        t.name = Some(TopicName(StrBytes::from_static_str("a-topic")));
        t
    }]);
    let mut fetch = FetchRequest::default();
    fetch.max_bytes = 52_428_800;
    fetch.max_wait_ms = 100;
    fetch.topics = vec![{
        let mut t = fetch_request::FetchTopic::default();
        t.topic = TopicName(StrBytes::from_static_str("a-topic"));
        t.partitions = vec![{
            let mut p = fetch_request::FetchPartition::default();
            p.partition_max_bytes = 1_048_576;
            p
        }];
        t
    }];
    let mut create = CreateTopicsRequest::default();
    create.topics = vec![{
        let mut t = create_topics_request::CreatableTopic::default();
        t.name = TopicName(StrBytes::from_static_str("a-topic"));
        t.num_partitions = 3;
        t.replication_factor = 1;
        t
    }];
    let produce = produce_request("a-topic", batch(&["x", "y"], Some((1, 0, 0))), -1);
    let mut out = Vec::new();
    for v in [0i16, 4, 9, 12] {
        out.push(frame(
            &RequestKind::Metadata(md.clone()),
            ApiKey::Metadata,
            v,
            1,
        ));
    }
    for v in [4i16, 11, 12] {
        out.push(frame(
            &RequestKind::Fetch(fetch.clone()),
            ApiKey::Fetch,
            v,
            1,
        ));
    }
    for v in [3i16, 8, 9] {
        out.push(frame(&produce, ApiKey::Produce, v, 1));
    }
    for v in [2i16, 5] {
        out.push(frame(
            &RequestKind::CreateTopics(create.clone()),
            ApiKey::CreateTopics,
            v,
            1,
        ));
    }
    out.push(frame(
        &RequestKind::ApiVersions(ApiVersionsRequest::default()),
        ApiKey::ApiVersions,
        3,
        1,
    ));
    out
}

fn header_for(key: i16, version: i16) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&key.to_be_bytes());
    h.extend_from_slice(&version.to_be_bytes());
    h.extend_from_slice(&1i32.to_be_bytes());
    h.extend_from_slice(&(-1i16).to_be_bytes());
    let flexible = kafka_protocol::messages::ApiKey::try_from(key)
        .map(|k| k.request_header_version(version) >= 2)
        .unwrap_or(false);
    if flexible {
        h.push(0);
    }
    h
}

proptest! {
    // PROPTEST_CASES raises the count for a longer campaign.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = kgate_broker::fuzzing::decode_request(Bytes::from(bytes));
    }

    #[test]
    fn random_bodies_behind_valid_headers_never_panic(
        api in 0usize..64,
        version_pick in any::<u16>(),
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let apis = kgate_broker::fuzzing::supported_apis();
        let (key, min, max) = apis[api % apis.len()];
        let version = min + (version_pick % (max - min + 1) as u16) as i16;
        let mut f = header_for(key, version);
        f.extend_from_slice(&body);
        let _ = kgate_broker::fuzzing::decode_request(Bytes::from(f));
    }

    #[test]
    fn truncated_and_damaged_frames_never_panic(
        pick in any::<usize>(),
        cut in any::<usize>(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
    ) {
        let samples = sample_frames();
        let full = &samples[pick % samples.len()];
        prop_assert!(kgate_broker::fuzzing::decode_request(full.clone()).is_ok());
        let mut f = full[..cut % (full.len() + 1)].to_vec();
        for (at, x) in flips {
            if !f.is_empty() {
                let i = at % f.len();
                f[i] ^= x;
            }
        }
        let _ = kgate_broker::fuzzing::decode_request(Bytes::from(f));
    }
}

#[tokio::test]
async fn random_frames_over_the_network_leave_the_broker_serving() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let samples = sample_frames();
    for (i, sample) in samples.iter().enumerate() {
        let mut damaged = sample.to_vec();
        let at = (i * 7919) % damaged.len();
        damaged[at] ^= 0x5a;
        damaged.truncate(damaged.len() - (i % 5));
        let mut s = TcpStream::connect(addr).await.unwrap();
        send_frame(&mut s, &damaged).await;
        // Whatever the broker makes of it, it must answer or close, never hang.
        let _ = read_frame(&mut s).await;
    }
    api_versions_ok(addr).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn metadata_announces_the_advertised_address_and_node() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = kgate_broker::BrokerConfig::new(dir.path());
    config.node_id = 7;
    config.advertised = Some(("kafka.example.test".into(), 19093));
    let broker = kgate_broker::Broker::start(listener, config).await.unwrap();
    let mut s = TcpStream::connect(broker.local_addr()).await.unwrap();
    let ResponseKind::Metadata(md) = call(
        &mut s,
        RequestKind::Metadata(MetadataRequest::default()),
        ApiKey::Metadata,
        12,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(md.brokers.len(), 1);
    assert_eq!(md.brokers[0].node_id.0, 7);
    assert_eq!(md.brokers[0].host.as_str(), "kafka.example.test");
    assert_eq!(md.brokers[0].port, 19093);
    assert_eq!(md.controller_id.0, 7);
    assert_eq!(
        md.cluster_id.as_ref().map(|c| c.to_string()),
        Some(broker.cluster_id().to_string())
    );
    let ResponseKind::DescribeCluster(dc) = call(
        &mut s,
        RequestKind::DescribeCluster(DescribeClusterRequest::default()),
        ApiKey::DescribeCluster,
        1,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(dc.cluster_id.as_str(), broker.cluster_id());
    assert_eq!(dc.controller_id.0, 7);
    assert_eq!(dc.brokers[0].host.as_str(), "kafka.example.test");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn incremental_alter_configs_validates_and_edits_lists() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let mut s = TcpStream::connect(broker.local_addr()).await.unwrap();
    let topic = unique("incremental");
    create(&mut s, &topic).await;

    async fn alter(
        s: &mut TcpStream,
        resource_type: i8,
        name: &str,
        ops: &[(&str, i8, Option<&str>)],
    ) -> (i16, Option<String>) {
        let mut r = IncrementalAlterConfigsRequest::default();
        r.resources = vec![alter_configs_resource(resource_type, name, ops)];
        let ResponseKind::IncrementalAlterConfigs(resp) = call(
            s,
            RequestKind::IncrementalAlterConfigs(r),
            ApiKey::IncrementalAlterConfigs,
            1,
        )
        .await
        else {
            panic!("wrong response kind")
        };
        let out = &resp.responses[0];
        (
            out.error_code,
            out.error_message.as_ref().map(|m| m.to_string()),
        )
    }

    async fn describe(s: &mut TcpStream, topic: &str, key: &str) -> (Option<String>, i8) {
        let mut resource = describe_configs_request::DescribeConfigsResource::default();
        resource.resource_type = 2;
        resource.resource_name = StrBytes::from_string(topic.to_string());
        resource.configuration_keys = Some(vec![StrBytes::from_string(key.to_string())]);
        let mut r = DescribeConfigsRequest::default();
        r.resources = vec![resource];
        r.include_synonyms = true;
        let ResponseKind::DescribeConfigs(resp) = call(
            s,
            RequestKind::DescribeConfigs(r),
            ApiKey::DescribeConfigs,
            4,
        )
        .await
        else {
            panic!("wrong response kind")
        };
        let entry = &resp.results[0].configs[0];
        (
            entry.value.as_ref().map(|v| v.to_string()),
            entry.config_source,
        )
    }

    let (code, message) = alter(&mut s, 2, &topic, &[("retention.ms", 0, Some("later"))]).await;
    assert_eq!(code, ResponseError::InvalidConfig.code());
    assert!(message.unwrap().contains("retention.ms"));
    let (code, _) = alter(&mut s, 2, &topic, &[("no.such.thing", 0, Some("1"))]).await;
    assert_eq!(code, ResponseError::InvalidConfig.code());

    let (code, _) = alter(&mut s, 2, &topic, &[("cleanup.policy", 2, Some("compact"))]).await;
    assert_eq!(code, 0);
    assert_eq!(
        describe(&mut s, &topic, "cleanup.policy").await,
        (Some("delete,compact".into()), 1)
    );
    let (code, _) = alter(&mut s, 2, &topic, &[("cleanup.policy", 3, Some("delete"))]).await;
    assert_eq!(code, 0);
    assert_eq!(
        describe(&mut s, &topic, "cleanup.policy").await,
        (Some("compact".into()), 1)
    );
    let (code, _) = alter(&mut s, 2, &topic, &[("cleanup.policy", 1, None)]).await;
    assert_eq!(code, 0);
    assert_eq!(
        describe(&mut s, &topic, "cleanup.policy").await,
        (Some("delete".into()), 5)
    );

    let (code, _) = alter(
        &mut s,
        2,
        "no-such-topic",
        &[("retention.ms", 0, Some("1"))],
    )
    .await;
    assert_eq!(code, ResponseError::UnknownTopicOrPartition.code());
    let (code, _) = alter(&mut s, 4, "1", &[("num.partitions", 0, Some("3"))]).await;
    assert_eq!(code, ResponseError::InvalidConfig.code());
    broker.shutdown().await.unwrap();
}
