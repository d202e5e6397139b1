//! Dynamic broker configs: AlterConfigs / IncrementalAlterConfigs on the broker resource
//! (this broker's id, or "" for the cluster-wide default), as Kafka has them: read-only
//! and unknown names refused, values validated, validate_only honoured, persisted across
//! restarts, reported with their sources and synonyms, and in force on topics at once.

mod support;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::ClientConfig;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureRecord;
use rdkafka::types::RDKafkaErrorCode;
use support::wire::{alter_configs_resource, call};
use support::*;
use tokio::net::TcpStream;

fn admin(addr: std::net::SocketAddr) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .create()
        .unwrap()
}

async fn create_topic(addr: std::net::SocketAddr, name: &str, configs: &[(&str, &str)]) {
    let mut topic = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let r = admin(addr)
        .create_topics(&[topic], &AdminOptions::new())
        .await
        .unwrap();
    r[0].as_ref().unwrap();
}

/// (value, source, read-only) of `name` in `resource`, described by rdkafka.
async fn described(
    addr: std::net::SocketAddr,
    resource: ResourceSpecifier<'_>,
    name: &str,
) -> (Option<String>, String, bool) {
    let r = admin(addr)
        .describe_configs([&resource], &AdminOptions::new())
        .await
        .unwrap();
    let cfg = r[0].as_ref().unwrap();
    let e = cfg.get(name).unwrap_or_else(|| panic!("{name} is listed"));
    (e.value.clone(), format!("{:?}", e.source), e.is_read_only)
}

/// Produces one record of `size` bytes and returns the delivery outcome.
async fn produce_sized(
    addr: std::net::SocketAddr,
    topic: &str,
    size: usize,
) -> Result<(), KafkaError> {
    let producer = producer(addr, &[("linger.ms", "0")]);
    let payload = vec![b'x'; size];
    producer
        .send(FutureRecord::<(), _>::to(topic).payload(&payload), DEADLINE)
        .await
        .map(|_| ())
        .map_err(|(e, _)| e)
}

fn watermarks(addr: std::net::SocketAddr, topic: &str) -> (i64, i64) {
    consumer(addr, &[])
        .fetch_watermarks(topic, 0, DEADLINE)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_configs_altered_by_the_admin_client_apply_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let props = [("log.retention.check.interval.ms", "100")];
    let broker = start_in(dir.path(), &props).await;
    let addr = broker.local_addr();
    let plain = unique("dyn-plain");
    let pinned = unique("dyn-pinned");
    create_topic(addr, &plain, &[]).await;
    create_topic(addr, &pinned, &[("max.message.bytes", "100000")]).await;
    produce_sized(addr, &plain, 5000).await.unwrap();

    let r = admin(addr)
        .alter_configs(
            &[AlterConfig::new(ResourceSpecifier::Broker(1))
                .set("message.max.bytes", "2000")
                .set("log.retention.hours", "2")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(r[0].is_ok(), "{:?}", r[0]);

    check_dynamic_values(addr, &plain, &pinned).await;

    broker.shutdown().await.unwrap();
    let broker = start_in(dir.path(), &props).await;
    let addr = broker.local_addr();
    check_dynamic_values(addr, &plain, &pinned).await;

    // A dynamic retention of 1 ms empties a topic that has no retention of its own.
    let r = admin(addr)
        .alter_configs(
            &[AlterConfig::new(ResourceSpecifier::Broker(1)).set("log.retention.ms", "1")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(r[0].is_ok(), "{:?}", r[0]);
    assert_eq!(
        described(addr, ResourceSpecifier::Broker(1), "message.max.bytes").await,
        (Some("1048588".into()), src(ConfigSource::Default), false),
        "AlterConfigs replaces the broker's whole dynamic level"
    );
    let (_, high) = watermarks(addr, &plain);
    assert!(high >= 2);
    eventually("broker-level retention", || {
        watermarks(addr, &plain) == (high, high)
    })
    .await;
    broker.shutdown().await.unwrap();
}

/// The dynamic values the first test sets, as described and as enforced.
async fn check_dynamic_values(addr: std::net::SocketAddr, plain: &str, pinned: &str) {
    assert_eq!(
        described(addr, ResourceSpecifier::Broker(1), "message.max.bytes").await,
        (Some("2000".into()), src(ConfigSource::DynamicBroker), false)
    );
    assert_eq!(
        described(addr, ResourceSpecifier::Broker(1), "log.retention.ms").await,
        (
            Some("7200000".into()),
            src(ConfigSource::DynamicBroker),
            false
        )
    );
    assert_eq!(
        described(addr, ResourceSpecifier::Broker(1), "num.partitions").await,
        (Some("1".into()), src(ConfigSource::Default), true)
    );
    // Topics without an override follow the new broker value...
    assert_eq!(
        described(addr, ResourceSpecifier::Topic(plain), "max.message.bytes").await,
        (Some("2000".into()), src(ConfigSource::DynamicBroker), false)
    );
    assert_eq!(
        described(addr, ResourceSpecifier::Topic(plain), "retention.ms").await,
        (
            Some("7200000".into()),
            src(ConfigSource::DynamicBroker),
            false
        )
    );
    // ...the others keep their own.
    assert_eq!(
        described(addr, ResourceSpecifier::Topic(pinned), "max.message.bytes").await,
        (
            Some("100000".into()),
            src(ConfigSource::DynamicTopic),
            false
        )
    );
    // The new maximum is enforced at once, and only where no override says otherwise.
    match produce_sized(addr, plain, 5000).await {
        Err(KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)) => {}
        other => panic!("a 5000-byte record over a 2000-byte maximum: {other:?}"),
    }
    produce_sized(addr, plain, 100).await.unwrap();
    produce_sized(addr, pinned, 5000).await.unwrap();
}

/// One IncrementalAlterConfigs of a broker resource over the wire: (error, message).
async fn alter(
    s: &mut TcpStream,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, String) {
    let mut r = IncrementalAlterConfigsRequest::default();
    r.resources = vec![alter_configs_resource(4, name, ops)];
    r.validate_only = validate_only;
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
        out.error_message
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default(),
    )
}

/// One described entry: value, source and synonyms as (name, value, source).
type Described = (Option<String>, i8, Vec<(String, String, i8)>);

/// Every entry of a resource, with synonyms, over the wire.
async fn describe_all(
    s: &mut TcpStream,
    resource_type: i8,
    name: &str,
) -> Vec<(String, Described)> {
    let mut resource = describe_configs_request::DescribeConfigsResource::default();
    resource.resource_type = resource_type;
    resource.resource_name = StrBytes::from_string(name.to_string());
    resource.configuration_keys = None;
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
    let result = &resp.results[0];
    assert_eq!(result.error_code, 0, "{:?}", result.error_message);
    result
        .configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                (
                    c.value.as_ref().map(|v| v.to_string()),
                    c.config_source,
                    c.synonyms
                        .iter()
                        .map(|y| {
                            (
                                y.name.to_string(),
                                y.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                                y.source,
                            )
                        })
                        .collect(),
                ),
            )
        })
        .collect()
}

async fn describe(s: &mut TcpStream, resource_type: i8, name: &str, key: &str) -> Described {
    describe_all(s, resource_type, name)
        .await
        .into_iter()
        .find(|(n, _)| n == key)
        .map(|(_, d)| d)
        .unwrap_or_else(|| panic!("{key} is listed for {name}"))
}

fn syn(list: &[(&str, &str, i8)]) -> Vec<(String, String, i8)> {
    list.iter()
        .map(|(n, v, s)| (n.to_string(), v.to_string(), *s))
        .collect()
}

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const DYNAMIC_BROKER: i8 = 2;
const DYNAMIC_DEFAULT: i8 = 3;
const STATIC: i8 = 4;
const DEFAULT: i8 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_broker_configs_at_both_levels_with_synonyms_and_validation() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[("log.retention.hours", "100")]).await;
    let addr = broker.local_addr();
    let topic = unique("dyn-wire");
    create_topic(addr, &topic, &[]).await;
    let mut s = TcpStream::connect(addr).await.unwrap();

    // Nothing dynamic yet: the cluster-wide resource lists nothing.
    assert!(describe_all(&mut s, BROKER, "").await.is_empty());

    // Refusals name the config and change nothing.
    let invalid = ResponseError::InvalidConfig.code();
    for (name, ops) in [
        ("1", vec![("num.partitions", SET, Some("3"))]),
        ("", vec![("auto.create.topics.enable", SET, Some("false"))]),
        ("1", vec![("no.such.config", SET, Some("1"))]),
        ("", vec![("log.retention.ms", SET, Some("soon"))]),
        ("1", vec![("num.io.threads", SET, Some("0"))]),
        ("1", vec![("log.segment.bytes", SET, Some("1"))]),
        ("1", vec![("message.max.bytes", APPEND, Some("1"))]),
    ] {
        let (code, message) = alter(&mut s, name, &ops, false).await;
        assert_eq!(code, invalid, "{ops:?}: {message}");
        assert!(message.contains(ops[0].0), "{message} names {}", ops[0].0);
    }
    let (code, _) = alter(&mut s, "9", &[("log.retention.ms", SET, Some("1"))], false).await;
    assert_ne!(code, 0, "another broker's id is refused");

    // validate_only checks but changes nothing.
    let (code, message) = alter(
        &mut s,
        "1",
        &[("message.max.bytes", SET, Some("500"))],
        true,
    )
    .await;
    assert_eq!(code, 0, "{message}");
    assert_eq!(
        describe(&mut s, BROKER, "1", "message.max.bytes").await.1,
        DEFAULT
    );

    // Cluster-wide default, then this broker's own value over it.
    let (code, message) = alter(
        &mut s,
        "",
        &[("log.retention.ms", SET, Some("7200000"))],
        false,
    )
    .await;
    assert_eq!(code, 0, "{message}");
    assert_eq!(
        describe(&mut s, BROKER, "", "log.retention.ms").await,
        (
            Some("7200000".into()),
            DYNAMIC_DEFAULT,
            syn(&[
                ("log.retention.ms", "7200000", DYNAMIC_DEFAULT),
                ("log.retention.hours", "100", STATIC),
                ("log.retention.hours", "168", DEFAULT),
            ])
        )
    );
    let (code, message) = alter(
        &mut s,
        "1",
        &[("log.retention.ms", SET, Some("3600000"))],
        false,
    )
    .await;
    assert_eq!(code, 0, "{message}");
    let expected = syn(&[
        ("log.retention.ms", "3600000", DYNAMIC_BROKER),
        ("log.retention.ms", "7200000", DYNAMIC_DEFAULT),
        ("log.retention.hours", "100", STATIC),
        ("log.retention.hours", "168", DEFAULT),
    ]);
    assert_eq!(
        describe(&mut s, BROKER, "1", "log.retention.ms").await,
        (Some("3600000".into()), DYNAMIC_BROKER, expected.clone())
    );
    // The topic's value follows, its synonyms showing where from.
    let (value, source, synonyms) = describe(&mut s, TOPIC, &topic, "retention.ms").await;
    assert_eq!(
        (value.as_deref(), source),
        (Some("3600000"), DYNAMIC_BROKER)
    );
    assert_eq!(synonyms, expected);

    // Lists: APPEND and SUBTRACT start from the level's value (else Kafka's default).
    let (code, message) = alter(
        &mut s,
        "",
        &[("log.cleanup.policy", APPEND, Some("compact"))],
        false,
    )
    .await;
    assert_eq!(code, 0, "{message}");
    assert_eq!(
        describe(&mut s, TOPIC, &topic, "cleanup.policy")
            .await
            .0
            .as_deref(),
        Some("delete,compact")
    );
    let (code, message) = alter(
        &mut s,
        "",
        &[("log.cleanup.policy", SUBTRACT, Some("delete"))],
        false,
    )
    .await;
    assert_eq!(code, 0, "{message}");
    let (value, source, synonyms) = describe(&mut s, TOPIC, &topic, "cleanup.policy").await;
    assert_eq!(
        (value.as_deref(), source),
        (Some("compact"), DYNAMIC_DEFAULT)
    );
    assert_eq!(
        synonyms,
        syn(&[
            ("log.cleanup.policy", "compact", DYNAMIC_DEFAULT),
            ("log.cleanup.policy", "delete", DEFAULT),
        ])
    );

    // Segment roll given in hours is reported in ms on the topic.
    let (code, message) = alter(&mut s, "", &[("log.roll.hours", SET, Some("2"))], false).await;
    assert_eq!(code, 0, "{message}");
    assert_eq!(
        describe(&mut s, TOPIC, &topic, "segment.ms").await,
        (
            Some("7200000".into()),
            DYNAMIC_DEFAULT,
            syn(&[
                ("log.roll.hours", "2", DYNAMIC_DEFAULT),
                ("log.roll.hours", "168", DEFAULT),
            ])
        )
    );

    // Survives a restart.
    drop(s);
    broker.shutdown().await.unwrap();
    let broker = start_in(dir.path(), &[("log.retention.hours", "100")]).await;
    let mut s = TcpStream::connect(broker.local_addr()).await.unwrap();
    assert_eq!(
        describe(&mut s, BROKER, "1", "log.retention.ms").await.2,
        expected
    );
    let names: Vec<String> = describe_all(&mut s, BROKER, "")
        .await
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        ["log.cleanup.policy", "log.retention.ms", "log.roll.hours"]
    );

    // DELETE removes a level's value; the next level applies again.
    let (code, message) = alter(&mut s, "1", &[("log.retention.ms", DELETE, None)], false).await;
    assert_eq!(code, 0, "{message}");
    let (value, source, _) = describe(&mut s, BROKER, "1", "log.retention.ms").await;
    assert_eq!(
        (value.as_deref(), source),
        (Some("7200000"), DYNAMIC_DEFAULT)
    );
    let (code, message) = alter(
        &mut s,
        "",
        &[
            ("log.retention.ms", DELETE, None),
            ("log.cleanup.policy", DELETE, None),
            ("log.roll.hours", DELETE, None),
        ],
        false,
    )
    .await;
    assert_eq!(code, 0, "{message}");
    let (value, source, _) = describe(&mut s, TOPIC, &topic, "retention.ms").await;
    assert_eq!((value.as_deref(), source), (Some("360000000"), STATIC));
    assert!(describe_all(&mut s, BROKER, "").await.is_empty());
    drop(s);
    broker.shutdown().await.unwrap();
}

fn src(source: ConfigSource) -> String {
    format!("{source:?}")
}

/// A SaslHandshake for `mechanism` on a fresh connection to `addr`: the error code.
async fn handshake(addr: std::net::SocketAddr, mechanism: &str) -> i16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut r = SaslHandshakeRequest::default();
    r.mechanism = StrBytes::from_string(mechanism.to_string());
    let ResponseKind::SaslHandshake(resp) = call(
        &mut s,
        RequestKind::SaslHandshake(r),
        ApiKey::SaslHandshake,
        1,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    resp.error_code
}

/// Whether an rdkafka client gets metadata over the TLS listener at `addr`.
fn tls_metadata(addr: std::net::SocketAddr) -> Result<usize, KafkaError> {
    let ca = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/certs/ca.pem");
    let consumer = consumer(
        addr,
        &[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", ca.to_str().unwrap()),
        ],
    );
    consumer
        .fetch_metadata(None, DEADLINE)
        .map(|md| md.brokers().len())
}

/// Copies the test certificate and key into `dir`; returns their paths.
fn copy_certs(dir: &std::path::Path) -> (String, String) {
    let certs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/certs");
    std::fs::create_dir_all(dir).unwrap();
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    std::fs::copy(certs.join("server.pem"), &cert).unwrap();
    std::fs::copy(certs.join("server.key"), &key).unwrap();
    (
        cert.to_str().unwrap().to_string(),
        key.to_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_broker_listener_security_applies_to_new_connections_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (cert_a, key_a) = copy_certs(&dir.path().join("a"));
    let (cert_b, key_b) = copy_certs(&dir.path().join("b"));
    let props = [
        ("sasl.enabled.mechanisms", "PLAIN"),
        ("sasl.user.alice", "alice-secret"),
        ("ssl.certificate.location", cert_a.as_str()),
        ("ssl.key.location", key_a.as_str()),
    ];
    let open = |mut broker: kgate_broker::Broker| async move {
        let sasl = broker
            .add_listener(
                tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
                "SASL_PLAINTEXT",
            )
            .unwrap();
        let tls = broker
            .add_listener(
                tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
                "SSL",
            )
            .unwrap();
        (broker, sasl, tls)
    };
    let (broker, sasl, tls) = open(start_in(&data, &props).await).await;
    let mut s = TcpStream::connect(broker.local_addr()).await.unwrap();
    let unsupported = ResponseError::UnsupportedSaslMechanism.code();
    assert_eq!(handshake(sasl, "SCRAM-SHA-256").await, unsupported);
    assert_eq!(tls_metadata(tls).map_err(|e| e.to_string()), Ok(1));

    // Listener security is per broker: not a cluster-wide default; bad values refused.
    let invalid = ResponseError::InvalidConfig.code();
    for (name, ops) in [
        (
            "",
            vec![("sasl.enabled.mechanisms", SET, Some("PLAIN,SCRAM-SHA-256"))],
        ),
        (
            "1",
            vec![("sasl.enabled.mechanisms", SET, Some("PLAIN,GSSAPI"))],
        ),
        (
            "1",
            vec![("ssl.certificate.location", SET, Some("/no/such/cert.pem"))],
        ),
        ("1", vec![("ssl.key.location", SET, Some(cert_b.as_str()))]),
        ("1", vec![("super.users", SET, Some("User:alice"))]),
    ] {
        let (code, message) = alter(&mut s, name, &ops, false).await;
        assert_eq!(code, invalid, "{ops:?}: {message}");
        assert!(message.contains(ops[0].0), "{message} names {}", ops[0].0);
    }
    assert_eq!(handshake(sasl, "SCRAM-SHA-256").await, unsupported);
    assert_eq!(tls_metadata(tls).map_err(|e| e.to_string()), Ok(1));

    let (code, message) = alter(
        &mut s,
        "1",
        &[
            ("sasl.enabled.mechanisms", SET, Some("PLAIN,SCRAM-SHA-256")),
            ("ssl.certificate.location", SET, Some(cert_b.as_str())),
            ("ssl.key.location", SET, Some(key_b.as_str())),
        ],
        false,
    )
    .await;
    assert_eq!(code, 0, "{message}");
    assert_eq!(handshake(sasl, "SCRAM-SHA-256").await, 0);
    assert_eq!(tls_metadata(tls).map_err(|e| e.to_string()), Ok(1));
    assert_eq!(
        describe(&mut s, BROKER, "1", "ssl.certificate.location").await,
        (
            Some(cert_b.clone()),
            DYNAMIC_BROKER,
            syn(&[
                ("ssl.certificate.location", &cert_b, DYNAMIC_BROKER),
                ("ssl.certificate.location", &cert_a, STATIC),
            ])
        )
    );
    assert_eq!(
        describe(&mut s, BROKER, "1", "sasl.enabled.mechanisms")
            .await
            .0
            .as_deref(),
        Some("PLAIN,SCRAM-SHA-256")
    );

    // With the static certificate gone, only the dynamic one can serve TLS after a
    // restart.
    drop(s);
    broker.shutdown().await.unwrap();
    std::fs::remove_file(&cert_a).unwrap();
    std::fs::remove_file(&key_a).unwrap();
    let (broker, sasl, tls) = open(start_in(&data, &props).await).await;
    assert_eq!(tls_metadata(tls).map_err(|e| e.to_string()), Ok(1));
    assert_eq!(handshake(sasl, "SCRAM-SHA-256").await, 0);
    broker.shutdown().await.unwrap();
}

/// CreateTopics of one topic with `configs` over the wire: (error, message).
async fn create_with(s: &mut TcpStream, name: &str, configs: &[(&str, &str)]) -> (i16, String) {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = TopicName(StrBytes::from_string(name.to_string()));
    t.num_partitions = 1;
    t.replication_factor = 1;
    t.configs = configs
        .iter()
        .map(|(k, v)| {
            let mut c = create_topics_request::CreatableTopicConfig::default();
            c.name = StrBytes::from_string(k.to_string());
            c.value = Some(StrBytes::from_string(v.to_string()));
            c
        })
        .collect();
    let mut r = CreateTopicsRequest::default();
    r.topics = vec![t];
    r.timeout_ms = 10_000;
    let ResponseKind::CreateTopics(resp) =
        call(s, RequestKind::CreateTopics(r), ApiKey::CreateTopics, 5).await
    else {
        panic!("wrong response kind")
    };
    let t = &resp.topics[0];
    (
        t.error_code,
        t.error_message.as_deref().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_are_validated_as_kafka_validates_them_no_more_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let invalid = ResponseError::InvalidConfig.code();

    // Broker configs: Kafka's ranges and enums, with Kafka's messages.
    for (name, ops, message) in [
        (
            "1",
            vec![("num.io.threads", SET, Some("0"))],
            "Invalid value 0 for configuration num.io.threads: Value must be at least 1",
        ),
        (
            "",
            vec![("num.network.threads", SET, Some("-1"))],
            "Invalid value -1 for configuration num.network.threads: Value must be at least 1",
        ),
        (
            "",
            vec![("log.cleaner.min.cleanable.ratio", SET, Some("1.5"))],
            "Invalid value 1.5 for configuration log.cleaner.min.cleanable.ratio: Value must be no more than 1",
        ),
        (
            "1",
            vec![("log.message.timestamp.type", SET, Some("Whenever"))],
            "Invalid value Whenever for configuration log.message.timestamp.type: String must be one of: CreateTime, LogAppendTime",
        ),
        (
            "1",
            vec![("log.cleanup.policy", SET, Some("compact,forever"))],
            "Invalid value forever for configuration log.cleanup.policy: String must be one of: compact, delete",
        ),
        (
            "1",
            vec![("log.segment.bytes", SET, Some("1024"))],
            "Invalid value 1024 for configuration log.segment.bytes: Value must be at least 1048576",
        ),
        (
            "1",
            vec![("message.max.bytes", SET, Some("big"))],
            "Invalid value big for configuration message.max.bytes: Not a number of type INT",
        ),
    ] {
        let (code, got) = alter(&mut s, name, &ops, false).await;
        assert_eq!((code, got.as_str()), (invalid, message), "{ops:?}");
    }
    // What Kafka accepts is accepted: values its validators allow.
    for ops in [
        vec![("log.retention.ms", SET, Some("-5"))],
        vec![("log.cleaner.io.max.bytes.per.second", SET, Some("0"))],
        vec![("log.cleaner.threads", SET, Some("0"))],
        vec![("num.io.threads", SET, Some("1"))],
        vec![("log.cleanup.policy", SET, Some(""))],
        vec![("min.insync.replicas", SET, Some("2"))],
    ] {
        let (code, message) = alter(&mut s, "", &ops, true).await;
        assert_eq!(code, 0, "{ops:?}: {message}");
    }

    // Topic configs at creation: Kafka 4's rules and messages.
    for (configs, message) in [
        (
            vec![("segment.bytes", "1024")],
            "Invalid value 1024 for configuration segment.bytes: Value must be at least 1048576",
        ),
        (
            vec![("retention.ms", "-2")],
            "Invalid value -2 for configuration retention.ms: Value must be at least -1",
        ),
        (
            vec![("flush.messages", "0")],
            "Invalid value 0 for configuration flush.messages: Value must be at least 1",
        ),
        (
            vec![("compression.lz4.level", "18")],
            "Invalid value 18 for configuration compression.lz4.level: Value must be no more than 17",
        ),
        (
            vec![
                ("min.compaction.lag.ms", "10"),
                ("max.compaction.lag.ms", "5"),
            ],
            "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)",
        ),
        (
            vec![("remote.storage.enable", "true")],
            "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage.",
        ),
        (
            vec![("no.such.config", "1")],
            "Unknown topic config name: no.such.config",
        ),
    ] {
        let (code, got) = create_with(&mut s, &unique("refused"), &configs).await;
        assert_eq!((code, got.as_str()), (invalid, message), "{configs:?}");
    }
    let accepted = unique("accepted");
    let (code, message) = create_with(
        &mut s,
        &accepted,
        &[
            ("retention.bytes", "-7"),
            ("compression.zstd.level", "-5"),
            ("compression.gzip.level", "-1"),
            ("min.insync.replicas", "3"),
            ("cleanup.policy", "compact, delete"),
            ("leader.replication.throttled.replicas", "0:1"),
            ("preallocate", "TRUE"),
        ],
    )
    .await;
    assert_eq!(code, 0, "{message}");

    // Topic alterations use the same rules.
    let mut r = IncrementalAlterConfigsRequest::default();
    r.resources = vec![alter_configs_resource(
        TOPIC,
        &accepted,
        &[("segment.index.bytes", SET, Some("3"))],
    )];
    let ResponseKind::IncrementalAlterConfigs(resp) = call(
        &mut s,
        RequestKind::IncrementalAlterConfigs(r),
        ApiKey::IncrementalAlterConfigs,
        1,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(resp.responses[0].error_code, invalid);
    assert_eq!(
        resp.responses[0].error_message.as_deref(),
        Some("Invalid value 3 for configuration segment.index.bytes: Value must be at least 4")
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_insync_replicas_above_one_refuses_acks_all_as_a_single_kafka_broker_does() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let topic = unique("min-isr");
    create_topic(addr, &topic, &[("min.insync.replicas", "2")]).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let raw = |acks: i16, value: &'static str| {
        let mut p = produce_request::PartitionProduceData::default();
        p.index = 0;
        p.records = Some(support::wire::batch(&[value], None));
        let mut t = produce_request::TopicProduceData::default();
        t.name = TopicName(StrBytes::from_string(topic.clone()));
        t.partition_data = vec![p];
        let mut r = ProduceRequest::default();
        r.acks = acks;
        r.timeout_ms = 10_000;
        r.topic_data = vec![t];
        RequestKind::Produce(r)
    };
    let produced = |resp: ResponseKind| {
        let ResponseKind::Produce(r) = resp else {
            panic!("wrong response kind")
        };
        let p = &r.responses[0].partition_responses[0];
        (
            p.error_code,
            p.error_message.as_deref().unwrap_or_default().to_string(),
        )
    };
    let (code, message) = produced(call(&mut s, raw(-1, "refused"), ApiKey::Produce, 8).await);
    assert_eq!(code, ResponseError::NotEnoughReplicas.code(), "{message}");
    assert!(message.contains("min.isr requirement of 2"), "{message}");
    // acks=1 is not bound by min.insync.replicas.
    let (code, _) = produced(call(&mut s, raw(1, "kept"), ApiKey::Produce, 8).await);
    assert_eq!(code, 0);
    // librdkafka retries NOT_ENOUGH_REPLICAS until its message timeout, as with Kafka.
    let all = producer(addr, &[("acks", "all"), ("message.timeout.ms", "2000")]);
    let err = all
        .send(
            FutureRecord::<(), _>::to(&topic).payload("refused"),
            std::time::Duration::from_secs(10),
        )
        .await
        .expect_err("acks=all needs 2 in-sync replicas");
    assert!(
        matches!(
            err.0,
            KafkaError::MessageProduction(
                RDKafkaErrorCode::NotEnoughReplicas | RDKafkaErrorCode::MessageTimedOut
            )
        ),
        "{:?}",
        err.0
    );
    // Back to 1: acks=all writes again.
    admin(addr)
        .alter_configs(
            &[AlterConfig::new(ResourceSpecifier::Topic(&topic)).set("min.insync.replicas", "1")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    all.send(
        FutureRecord::<(), _>::to(&topic).payload("now"),
        std::time::Duration::from_secs(10),
    )
    .await
    .unwrap();
    let t = topic.clone();
    let values: Vec<String> = tokio::task::spawn_blocking(move || read_messages(addr, &t, 1, 2))
        .await
        .unwrap()
        .iter()
        .map(|m| String::from_utf8_lossy(rdkafka::Message::payload(m).unwrap()).into_owned())
        .collect();
    assert_eq!(values, vec!["kept", "now"]);
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_outside_the_topics_bounds_are_refused_with_create_time() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let bounded = unique("ts-bounded");
    let (code, message) = create_with(
        &mut s,
        &bounded,
        &[
            ("message.timestamp.before.max.ms", "3600000"),
            ("message.timestamp.after.max.ms", "3600000"),
        ],
    )
    .await;
    assert_eq!(code, 0, "{message}");
    let unbounded = unique("ts-free");
    assert_eq!(create_with(&mut s, &unbounded, &[]).await.0, 0);
    let appended = unique("ts-append-time");
    let (code, _) = create_with(
        &mut s,
        &appended,
        &[
            ("message.timestamp.type", "LogAppendTime"),
            ("message.timestamp.before.max.ms", "3600000"),
        ],
    )
    .await;
    assert_eq!(code, 0);

    // support::wire::batch stamps its records in November 2023: far more than an hour ago.
    let produce = |topic: &str| {
        let mut p = produce_request::PartitionProduceData::default();
        p.index = 0;
        p.records = Some(support::wire::batch(&["old"], None));
        let mut t = produce_request::TopicProduceData::default();
        t.name = TopicName(StrBytes::from_string(topic.to_string()));
        t.partition_data = vec![p];
        let mut r = ProduceRequest::default();
        r.acks = -1;
        r.timeout_ms = 10_000;
        r.topic_data = vec![t];
        RequestKind::Produce(r)
    };
    for (topic, expected) in [
        (&bounded, ResponseError::InvalidTimestamp.code()),
        (&unbounded, 0),
        (&appended, 0),
    ] {
        let ResponseKind::Produce(r) = call(&mut s, produce(topic), ApiKey::Produce, 8).await
        else {
            panic!("wrong response kind")
        };
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, expected, "{topic}: {:?}", p.error_message);
    }
    // A record stamped now is within the bounds.
    producer(addr, &[])
        .send(
            FutureRecord::<(), _>::to(&bounded).payload("now"),
            std::time::Duration::from_secs(10),
        )
        .await
        .unwrap();
    broker.shutdown().await.unwrap();
}
