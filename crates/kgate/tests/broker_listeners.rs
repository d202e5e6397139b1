//! The binary opens the embedded broker's extra listeners from `broker.listeners`
//! (`SASL_PLAINTEXT://...` next to a plaintext one) with users from
//! `broker.sasl.user.<name>`: the right password is let in, a wrong one gets an
//! authentication error, and kgate itself keeps using the plaintext listener.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Kgate;
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;

const DEADLINE: Duration = Duration::from_secs(30);

/// Collects the errors librdkafka reports through its error callback.
#[derive(Clone, Default)]
struct Errors(Arc<Mutex<Vec<String>>>);

impl ClientContext for Errors {
    fn error(&self, error: KafkaError, reason: &str) {
        if let Ok(mut seen) = self.0.lock() {
            seen.push(format!("{error} / {reason}"));
        }
    }

    // Some refusals (a mechanism the broker does not offer) only reach the log.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Warning as i32)
            && let Ok(mut seen) = self.0.lock()
        {
            seen.push(format!("{fac}: {log_message}"));
        }
    }
}
impl ConsumerContext for Errors {}

fn client(address: &str, settings: &[(&str, &str)]) -> (BaseConsumer<Errors>, Errors) {
    let errors = Errors::default();
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", address)
        .set("group.id", "listener-test");
    for (k, v) in settings {
        c.set(*k, *v);
    }
    (c.create_with_context(errors.clone()).unwrap(), errors)
}

fn sasl<'a>(mechanism: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", mechanism),
        ("sasl.username", "alice"),
        ("sasl.password", password),
    ]
}

/// The port the broker announces to a client connected with `settings`.
fn announced_port(address: &str, settings: &[(&str, &str)]) -> i32 {
    let (consumer, errors) = client(address, settings);
    let md = consumer
        .fetch_metadata(None, DEADLINE)
        .unwrap_or_else(|e| panic!("metadata over {address}: {e}; {:?}", errors.0.lock()));
    md.brokers().first().map(|b| b.port()).expect("one broker")
}

/// Connects with `settings` and waits for librdkafka to report a refusal containing
/// `needle`; no metadata may arrive meanwhile.
fn expect_refusal(address: &str, settings: &[(&str, &str)], needle: &str) {
    let (consumer, errors) = client(address, settings);
    let start = Instant::now();
    loop {
        let seen = errors.0.lock().map(|e| e.clone()).unwrap_or_default();
        if seen.iter().any(|e| e.contains(needle)) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no refusal with {needle:?} reported; errors seen: {seen:?}"
        );
        // Metadata requests make the client (re)connect; they must not succeed.
        let md = consumer.fetch_metadata(None, Duration::from_millis(300));
        assert!(md.is_err(), "metadata arrived without authentication");
        consumer.poll(Duration::from_millis(50));
    }
}

fn port_of(address: &str) -> i32 {
    address
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {address}"))
}

#[test]
fn serve_opens_a_sasl_listener_next_to_the_plaintext_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut kgate = Kgate::serve(
        dir.path(),
        &[
            // Listed first, yet kgate connects through the plaintext one.
            "broker.listeners=SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
            "broker.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256",
            "broker.sasl.user.alice=alice-secret",
        ],
    );
    let plain = kgate.broker_address();
    let secured = kgate.wait_for_line("kgate broker SASL_PLAINTEXT listener on ");
    assert_ne!(plain, secured);
    // The REST Proxy came up, so kgate reached its broker over the plaintext listener.
    kgate.rest_url();

    assert_eq!(announced_port(&plain, &[]), port_of(&plain));
    for mechanism in ["PLAIN", "SCRAM-SHA-256"] {
        assert_eq!(
            announced_port(&secured, &sasl(mechanism, "alice-secret")),
            port_of(&secured),
            "{mechanism} with the right password, told its own listener"
        );
        expect_refusal(&secured, &sasl(mechanism, "wrong"), "Authentication failed");
    }
    // A mechanism left out of broker.sasl.enabled.mechanisms is refused.
    expect_refusal(
        &secured,
        &sasl("SCRAM-SHA-512", "alice-secret"),
        "supported mechanisms: PLAIN,SCRAM-SHA-256",
    );
}

#[test]
fn a_bad_broker_listener_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut kgate = Kgate::serve(dir.path(), &["broker.listeners=KERBEROS://127.0.0.1:0"]);
    let status = kgate.wait_exit(DEADLINE).expect("kgate exits");
    assert!(!status.success());
    assert!(
        kgate.output().contains("broker.listeners"),
        "{}",
        kgate.output()
    );
}
