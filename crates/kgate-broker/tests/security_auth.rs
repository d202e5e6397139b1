//! SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and TLS listeners driven by librdkafka:
//! the right credentials produce and consume, wrong ones fail with an authentication
//! error, and TLS carries the same traffic.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, MetadataRequest, RequestKind};
use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureRecord;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use support::*;

const USERS: &[(&str, &str)] = &[
    ("sasl.user.alice", "alice-secret"),
    ("sasl.user.bob", "bob=secret,with;odd chars"),
];

fn certs() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/certs")
}

/// Collects the errors librdkafka reports through its error callback.
#[derive(Clone, Default)]
struct Errors(Arc<Mutex<Vec<String>>>);

impl ClientContext for Errors {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.lock().push(format!("{error} / {reason}"));
    }
}
impl ConsumerContext for Errors {}

/// Produces one record with `settings` and reads it back with the same settings.
async fn round_trip(addr: std::net::SocketAddr, settings: &[(&str, &str)]) {
    let topic = unique("secure");
    let producer = producer(addr, settings);
    let delivered = producer
        .send(
            FutureRecord::to(&topic)
                .key("k")
                .payload("over a secured link"),
            Duration::from_secs(30),
        )
        .await;
    assert!(delivered.is_ok(), "produce failed: {delivered:?}");
    let consumer = consumer(addr, settings);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < DEADLINE, "record never came back");
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                assert_eq!(m.payload(), Some(&b"over a secured link"[..]));
                break;
            }
            Some(Err(e)) => panic!("consume failed: {e}"),
            None => {}
        }
    }
}

/// Connects with `settings` and waits for librdkafka to report an authentication error.
async fn expect_auth_failure(addr: std::net::SocketAddr, settings: &[(&str, &str)]) {
    let errors = Errors::default();
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", addr.to_string())
        .set("group.id", unique("auth"));
    for (k, v) in settings {
        c.set(*k, *v);
    }
    let consumer: BaseConsumer<Errors> = c.create_with_context(errors.clone()).unwrap();
    let start = Instant::now();
    loop {
        let seen = errors.0.lock().clone();
        if let Some(e) = seen.iter().find(|e| e.contains("uthentication")) {
            assert!(
                e.contains("SASL") || e.contains("uthentication failed"),
                "unexpected error text: {e}"
            );
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no authentication error reported; errors seen: {seen:?}"
        );
        // Metadata requests make the client (re)connect; they must not succeed.
        let md = consumer.fetch_metadata(None, Duration::from_millis(300));
        assert!(md.is_err(), "metadata arrived without authentication");
        consumer.poll(Duration::from_millis(50));
    }
}

fn sasl(
    mechanism: &'static str,
    user: &'static str,
    password: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", mechanism),
        ("sasl.username", user),
        ("sasl.password", password),
    ]
}

async fn sasl_broker(dir: &std::path::Path) -> kgate_broker::Broker {
    let mut props = USERS.to_vec();
    props.push(("listener.security.protocol", "SASL_PLAINTEXT"));
    start_in(dir, &props).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_plain_accepts_the_right_password_and_rejects_a_wrong_one() {
    let dir = tempfile::tempdir().unwrap();
    let broker = sasl_broker(dir.path()).await;
    let addr = broker.local_addr();
    round_trip(addr, &sasl("PLAIN", "alice", "alice-secret")).await;
    round_trip(addr, &sasl("PLAIN", "bob", "bob=secret,with;odd chars")).await;
    expect_auth_failure(addr, &sasl("PLAIN", "alice", "wrong")).await;
    expect_auth_failure(addr, &sasl("PLAIN", "mallory", "alice-secret")).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_scram_sha256_and_sha512_accept_the_right_password_and_reject_a_wrong_one() {
    let dir = tempfile::tempdir().unwrap();
    let broker = sasl_broker(dir.path()).await;
    let addr = broker.local_addr();
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        round_trip(addr, &sasl(mechanism, "alice", "alice-secret")).await;
        round_trip(addr, &sasl(mechanism, "bob", "bob=secret,with;odd chars")).await;
        expect_auth_failure(addr, &sasl(mechanism, "alice", "alice-secret2")).await;
        expect_auth_failure(addr, &sasl(mechanism, "nobody", "x")).await;
    }
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sasl_listener_closes_connections_that_skip_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let broker = sasl_broker(dir.path()).await;
    let mut stream = tokio::net::TcpStream::connect(broker.local_addr())
        .await
        .unwrap();
    let request = RequestKind::Metadata(MetadataRequest::default());
    wire::send_frame(&mut stream, &wire::frame(&request, ApiKey::Metadata, 9, 1)).await;
    assert!(wire::is_closed(&mut stream).await);
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_sasl_ssl_listeners_serve_next_to_the_plaintext_one() {
    let dir = tempfile::tempdir().unwrap();
    let cert = certs().join("server.pem");
    let key = certs().join("server.key");
    let ca = certs().join("ca.pem");
    let mut props = USERS.to_vec();
    props.push(("ssl.certificate.location", cert.to_str().unwrap()));
    props.push(("ssl.key.location", key.to_str().unwrap()));
    let mut broker = start_in(dir.path(), &props).await;
    let plain = broker.local_addr();
    let tls = broker
        .add_listener(
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            "SSL",
        )
        .unwrap();
    let sasl_ssl = broker
        .add_listener(
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            "SASL_SSL",
        )
        .unwrap();
    round_trip(plain, &[]).await;
    let ca = ca.to_str().unwrap();
    round_trip(
        tls,
        &[("security.protocol", "SSL"), ("ssl.ca.location", ca)],
    )
    .await;
    round_trip(
        sasl_ssl,
        &[
            ("security.protocol", "SASL_SSL"),
            ("ssl.ca.location", ca),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
            ("sasl.password", "alice-secret"),
        ],
    )
    .await;
    expect_auth_failure(
        sasl_ssl,
        &[
            ("security.protocol", "SASL_SSL"),
            ("ssl.ca.location", ca),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "alice"),
            ("sasl.password", "nope"),
        ],
    )
    .await;
    broker.shutdown().await.unwrap();
}
