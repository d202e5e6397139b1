//! Test support: an embedded broker (or a running Apache Kafka cluster, see [`peer`]) and
//! a kgate server on 127.0.0.1:0.
//!
//! ```no_run
//! # use std::time::Duration;
//! # use kgate_testkit::TestCluster;
//! # async fn example() -> Result<(), reqwest::Error> {
//! let cluster = TestCluster::start().await;
//! cluster.create_topic("t", 3).await;
//! let topics = cluster.http().get(format!("{}/topics", cluster.rest_url())).send().await?;
//! assert_eq!(topics.status(), 200);
//! let landed = cluster.consume_all("t", 3, Duration::from_secs(30)).await;
//! cluster.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! Test helpers panic with a clear message on failure: a panic is how a test fails.

#![warn(missing_docs)]

mod peer;
mod reassign;

pub use peer::{ApacheNodes, Peer, apache_bootstrap, peer, skip_unless_embedded};
pub use reassign::reassign_partition;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use kgate_broker::{Broker, BrokerConfig};
use kgate_kafka::{Kafka, KafkaConfig};
use kgate_rest::RestConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

pub use kgate_registry;
pub use kgate_rest;

/// A record read back from Kafka by [`TestCluster::consume_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The key, if any.
    pub key: Option<Vec<u8>>,
    /// The value, if any.
    pub value: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// How to start a [`TestCluster`].
#[derive(Debug, Clone)]
pub struct TestClusterBuilder {
    rest: RestConfig,
    broker_properties: BTreeMap<String, String>,
    kafka: KafkaConfig,
    registry: Option<kgate_registry::RegistryConfig>,
}

impl TestClusterBuilder {
    /// Also starts the Schema Registry (default settings), at [`TestCluster::registry_url`].
    pub fn with_registry(self) -> Self {
        self.registry_config(kgate_registry::RegistryConfig::default())
    }

    /// Also starts the Schema Registry with `config`.
    pub fn registry_config(mut self, config: kgate_registry::RegistryConfig) -> Self {
        self.registry = Some(config);
        self
    }

    /// Uses `config` for the REST server (e.g. a short `consumer_instance_timeout`).
    pub fn rest_config(mut self, config: RestConfig) -> Self {
        self.rest = config;
        self
    }

    /// Sets a broker property (Apache Kafka's name).
    pub fn broker_property(mut self, key: &str, value: &str) -> Self {
        self.broker_properties
            .insert(key.to_string(), value.to_string());
        self
    }

    /// Sets a librdkafka property for kgate's producers (`producer.*` without the prefix).
    pub fn producer_property(mut self, key: &str, value: &str) -> Self {
        self.kafka
            .producer
            .insert(key.to_string(), value.to_string());
        self
    }

    /// Sets a librdkafka property for kgate's consumers (`consumer.*` without the prefix).
    pub fn consumer_property(mut self, key: &str, value: &str) -> Self {
        self.kafka
            .consumer
            .insert(key.to_string(), value.to_string());
        self
    }

    /// Starts the broker (on the embedded peer) and the REST server.
    pub async fn start(self) -> TestCluster {
        let dir = tempfile::tempdir().expect("create a temporary data directory");
        let (broker, bootstrap) = match peer() {
            Peer::Embedded => {
                let broker_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind the broker listener");
                let mut broker_config = BrokerConfig::new(dir.path().join("broker"));
                let mut properties = self.broker_properties;
                // As in Kafka's own test set-ups: a new group's first rebalance does not
                // wait 3 s for more members (tests that need the delay set it back). The
                // shared Apache cluster keeps Kafka's default, which its tests allow for.
                properties
                    .entry("group.initial.rebalance.delay.ms".to_string())
                    .or_insert_with(|| "0".to_string());
                broker_config.properties = properties;
                let broker = Broker::start(broker_listener, broker_config)
                    .await
                    .expect("start the embedded broker");
                let bootstrap = broker.local_addr().to_string();
                (Some(broker), bootstrap)
            }
            Peer::Apache { bootstrap } => {
                // A shared cluster's settings are not the test's to change.
                assert!(
                    self.broker_properties.is_empty(),
                    "this test sets broker properties ({:?}): begin it with \
                     `if kgate_testkit::skip_unless_embedded(\"sets broker properties\") {{ return; }}`",
                    self.broker_properties
                );
                (None, bootstrap)
            }
        };
        let kafka = Kafka::connect(KafkaConfig {
            bootstrap_servers: bootstrap.clone(),
            ..self.kafka
        })
        .await
        .expect("create the Kafka client layer");
        // On a shared cluster each test cluster keeps its schemas in a topic of its own, so
        // that subjects, ids and global settings are the test's alone, as they are on a
        // fresh embedded broker.
        let registry_topic = match &self.registry {
            Some(config) if config.topic != DEFAULT_REGISTRY_TOPIC => config.topic.clone(),
            _ if peer().is_embedded() => DEFAULT_REGISTRY_TOPIC.to_string(),
            _ => unique_name("_schemas"),
        };
        let registry = match self.registry {
            Some(mut config) => {
                config.topic = registry_topic.clone();
                Some(RegistryServer::start(kafka.clone(), config).await)
            }
            None => None,
        };
        let mut rest_config = self.rest;
        // The REST Proxy's avro/protobuf/jsonschema formats use the registry started here
        // unless the test points them elsewhere.
        if rest_config.schema_registry_url.is_none() {
            rest_config.schema_registry_url = registry.as_ref().map(RegistryServer::url);
        }
        let rest_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the REST listener");
        let rest_addr = rest_listener.local_addr().expect("REST listener address");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(kgate_rest::serve(
            rest_listener,
            kafka.clone(),
            rest_config,
            async move {
                let _ = stop_rx.await;
            },
        ));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("build the HTTP client");
        TestCluster {
            registry,
            registry_topic,
            broker,
            bootstrap,
            rest_addr,
            kafka,
            http,
            stop: Some(stop_tx),
            server: Some(server),
            _dir: dir,
        }
    }
}

/// The registry's topic unless a test names another.
const DEFAULT_REGISTRY_TOPIC: &str = "_schemas";

/// A Kafka peer (an embedded broker, or the run's Apache Kafka cluster) and a REST Proxy
/// talking to it over the Kafka protocol.
pub struct TestCluster {
    registry: Option<RegistryServer>,
    /// The schemas topic of this cluster's registries (on a shared cluster, one of the
    /// test's own).
    registry_topic: String,
    broker: Option<Broker>,
    bootstrap: String,
    rest_addr: SocketAddr,
    kafka: Kafka,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A name no other test uses, in this process or another run on the same (shared)
/// cluster: `prefix`, the process id, the process's start time and a counter.
pub fn unique_name(prefix: &str) -> String {
    static STARTED: OnceLock<u64> = OnceLock::new();
    let started = *STARTED.get_or_init(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    });
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}-{}-{:x}-{n}",
        std::process::id(),
        started & 0xff_ffff
    )
}

/// One answer of [`TestCluster::call_redacted`].
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The Content-Type header, or "".
    pub content_type: String,
    /// The JSON body (null when empty), base URL and cluster id redacted.
    pub body: serde_json::Value,
}

/// Sends `request` and returns the answer's status, content type (empty without one) and
/// body text.
pub async fn text_answer(request: reqwest::RequestBuilder) -> (u16, String, String) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = response.text().await.expect("body");
    (status, content_type, text)
}

/// Sends `request` and returns the answer's status and JSON body; a body that is not JSON
/// fails the test, naming it.
pub async fn json_answer(request: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let (status, _, text) = text_answer(request).await;
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, body)
}

/// Splits concatenated JSON (such as the delivery reports of a v3 stream) into its
/// values; panics on anything else.
pub fn concatenated_json(text: &[u8]) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_slice(text)
        .into_iter::<serde_json::Value>()
        .map(|v| v.expect("concatenated JSON"))
        .collect()
}

impl TestCluster {
    /// Starts a broker and a REST server with default settings.
    pub async fn start() -> TestCluster {
        Self::builder().start().await
    }

    /// A builder for non-default settings.
    pub fn builder() -> TestClusterBuilder {
        TestClusterBuilder {
            rest: RestConfig::default(),
            broker_properties: BTreeMap::new(),
            kafka: KafkaConfig::default(),
            registry: None,
        }
    }

    /// Base URL of the Schema Registry started by [`TestClusterBuilder::with_registry`].
    pub fn registry_url(&self) -> String {
        self.registry
            .as_ref()
            .map(RegistryServer::url)
            .expect("the cluster was built without with_registry()")
    }

    /// Starts another Schema Registry on this cluster's broker (a second kgate instance,
    /// or a restarted one); it reads the existing `_schemas` topic before serving.
    pub async fn start_registry(
        &self,
        mut config: kgate_registry::RegistryConfig,
    ) -> RegistryServer {
        if config.topic == DEFAULT_REGISTRY_TOPIC {
            config.topic = self.registry_topic.clone();
        }
        RegistryServer::start(self.kafka.clone(), config).await
    }

    /// The topic this cluster's registries keep their schemas in: `_schemas` on the
    /// embedded broker, a topic of the test's own on a shared cluster (a registry a test
    /// starts itself takes it too).
    pub fn registry_topic(&self) -> &str {
        &self.registry_topic
    }

    /// Stops the registry started with the cluster (e.g. to start a fresh one and see it
    /// rebuild its state from the topic).
    pub async fn stop_registry(&mut self) {
        if let Some(registry) = self.registry.take() {
            registry.stop().await;
        }
    }

    /// Base URL of the REST server, e.g. `http://127.0.0.1:41234`.
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.rest_addr)
    }

    /// The REST server's address.
    pub fn rest_addr(&self) -> SocketAddr {
        self.rest_addr
    }

    /// The peer's bootstrap servers: the embedded broker's `host:port`, or the Apache
    /// Kafka cluster's `host:port,...`.
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// The client layer the REST server uses.
    pub fn kafka(&self) -> &Kafka {
        &self.kafka
    }

    /// An HTTP client with a generous timeout.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// POSTs `body` as JSON to `path` on the REST listener; the answer's status and JSON.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let request = self
            .http
            .post(format!("{}{path}", self.rest_url()))
            .header("Content-Type", "application/json")
            .body(body.to_string());
        json_answer(request).await
    }

    /// GETs `path` on the REST listener; the answer's status and JSON.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        json_answer(self.http.get(format!("{}{path}", self.rest_url()))).await
    }

    /// POSTs `chunks` of JSON to `path` on the REST listener as one streamed (chunked)
    /// request, and returns the answer's status and its concatenated JSON values (the
    /// delivery reports of a v3 streamed produce).
    pub async fn post_streamed(
        &self,
        path: &str,
        chunks: Vec<String>,
    ) -> (u16, Vec<serde_json::Value>) {
        let chunks = chunks.into_iter().map(Ok::<String, std::io::Error>);
        let response = self
            .http
            .post(format!("{}{path}", self.rest_url()))
            .header("Content-Type", "application/json")
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .send()
            .await
            .expect("streamed request");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("streamed answer");
        (status, concatenated_json(&body))
    }

    /// Sends `method path` to the REST listener, with `body` as JSON when given. In the
    /// answer's body the base URL reads `http://kgate` and the cluster id `CID`, so whole
    /// responses compare exactly.
    pub async fn call_redacted(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Answer {
        let url = format!("{}{path}", self.rest_url());
        let mut req = match method {
            "GET" => self.http.get(&url),
            "POST" => self.http.post(&url),
            "PUT" => self.http.put(&url),
            "PATCH" => self.http.patch(&url),
            "DELETE" => self.http.delete(&url),
            other => panic!("unknown method {other}"),
        };
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let (status, content_type, text) = text_answer(req).await;
        let cluster_id = self.kafka.cluster_id().await.expect("cluster id");
        let redacted = text
            .replace(&self.rest_url(), "http://kgate")
            .replace(&cluster_id, "CID");
        let body = if redacted.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&redacted).unwrap_or_else(|e| panic!("{e}: {redacted}"))
        };
        Answer {
            status,
            content_type,
            body,
        }
    }

    /// Creates a topic with `partitions` partitions and waits until metadata shows it.
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        self.create_topic_with(name, partitions, &BTreeMap::new())
            .await
    }

    /// Creates topic `name` with every partition left under the broker's
    /// `max.broker.partitions` of `limit` (the cluster must be started with it), so that
    /// the next topic creation is refused with POLICY_VIOLATION, as the embedded broker
    /// refuses creations while the process has too few file descriptors to spare.
    /// Deleting `name` makes room again.
    pub async fn fill_partitions(&self, name: &str, limit: i32) {
        let held: usize = self
            .kafka
            .fresh_metadata()
            .await
            .expect("metadata")
            .topics
            .values()
            .map(|t| t.partitions.len())
            .sum();
        let room = limit - i32::try_from(held).expect("partitions");
        assert!(room > 0, "{held} partitions held already");
        self.create_topic(name, room).await;
    }

    /// Creates a topic with configuration overrides and waits until metadata shows it.
    pub async fn create_topic_with(
        &self,
        name: &str,
        partitions: i32,
        configs: &BTreeMap<String, String>,
    ) {
        match self.kafka.create_topic(name, partitions, 1, configs).await {
            // Names are the test's own: "exists" is the client's retry of a request that
            // a busy cluster carried out but answered too late (seen on Apache Kafka under
            // CI load); the partition count is checked below.
            Ok(()) | Err(kgate_kafka::KafkaError::TopicAlreadyExists(_)) => {}
            Err(e) => panic!("create topic {name}: {e}"),
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(t) = self.kafka.topic(name).await
                && t.partitions.len() == partitions as usize
                && t.partitions.iter().all(|p| p.leader >= 0)
            {
                break;
            }
            assert!(Instant::now() < deadline, "topic {name} never appeared");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if peer().is_embedded() {
            return;
        }
        // On several brokers, the one that answered the metadata request may know the
        // topic before the others do, and a client that asks a broker still behind
        // hears that the topic does not exist (and may keep that answer a while). Wait
        // until kgate's own offset lookups find every partition too.
        for p in 0..partitions {
            while let Err(e) = self.kafka.partition_offsets(name, p).await {
                assert!(
                    Instant::now() < deadline,
                    "partition {p} of topic {name} never answered offsets: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// An rdkafka producer on the broker (acks=all), independent of kgate's.
    pub fn producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("acks", "all")
            .create()
            .expect("create a test producer")
    }

    /// Produces one record with rdkafka directly; returns (partition, offset).
    pub async fn produce(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> (i32, i64) {
        let producer = self.producer();
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
        if let Some(p) = partition {
            record = record.partition(p);
        }
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(v) = value {
            record = record.payload(v);
        }
        let delivery = producer
            .send(record, Duration::from_secs(30))
            .await
            .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"));
        (delivery.partition, delivery.offset)
    }

    /// Reads `topic` from the beginning of every partition with a plain rdkafka consumer
    /// until `count` records arrived (panics after `timeout`); then keeps reading briefly
    /// so that extra, unexpected records show up too. Records are sorted by (partition,
    /// offset).
    pub async fn consume_all(
        &self,
        topic: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<ConsumedRecord> {
        let meta = self
            .kafka
            .topic(topic)
            .await
            .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
        let bootstrap = self.bootstrap.clone();
        let topic = topic.to_string();
        // librdkafka needs a group id to assign partitions; it is never joined nor committed.
        let group = unique_name("testkit-reader");
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", &group)
                .set("enable.auto.commit", "false")
                .set("enable.partition.eof", "false")
                .create()
                .expect("create a test consumer");
            let mut tpl = TopicPartitionList::new();
            for p in &meta.partitions {
                tpl.add_partition_offset(&topic, p.id, Offset::Beginning)
                    .expect("add partition");
            }
            consumer.assign(&tpl).expect("assign partitions");
            let deadline = Instant::now() + timeout;
            let mut out = Vec::new();
            let mut settle_until: Option<Instant> = None;
            loop {
                let now = Instant::now();
                if let Some(until) = settle_until {
                    if now >= until {
                        break;
                    }
                } else if out.len() >= count {
                    settle_until = Some(now + Duration::from_millis(300));
                    continue;
                } else if now >= deadline {
                    panic!(
                        "only {} of {count} records arrived in {topic} within {timeout:?}",
                        out.len()
                    );
                }
                match consumer.poll(Duration::from_millis(100)) {
                    None => {}
                    Some(Err(e)) => panic!("consume {topic}: {e}"),
                    Some(Ok(m)) => out.push(ConsumedRecord {
                        topic: m.topic().to_string(),
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(|k| k.to_vec()),
                        value: m.payload().map(|v| v.to_vec()),
                        headers: m
                            .headers()
                            .map(|hs| {
                                hs.iter()
                                    .map(|h| (h.key.to_string(), h.value.map(|v| v.to_vec())))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    }),
                }
            }
            out.sort_by_key(|r| (r.partition, r.offset));
            out
        })
        .await
        .expect("consumer task")
    }

    /// Stops the broker alone, leaving kgate running, to see how kgate answers when the
    /// cluster is gone. Embedded broker only (see [`skip_unless_embedded`]).
    pub async fn stop_broker(&mut self) {
        assert!(
            peer().is_embedded(),
            "stop_broker stops the embedded broker: skip this test on other peers"
        );
        if let Some(broker) = self.broker.take() {
            broker.shutdown().await.expect("broker shutdown");
        }
    }

    /// Stops the REST server (closing consumer instances), the client layer and the broker.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        self.stop_registry().await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            match tokio::time::timeout(Duration::from_secs(30), server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => panic!("REST server failed: {e}"),
                Ok(Err(e)) => panic!("REST server task failed: {e}"),
                Err(_) => panic!("REST server did not stop within 30 s"),
            }
        }
        self.kafka.close().await;
        if let Some(broker) = self.broker.take() {
            broker.shutdown().await.expect("broker shutdown");
        }
    }
}

impl Drop for TestCluster {
    /// A test that panicked before [`TestCluster::stop`] still asks the REST server to
    /// stop; the broker's tasks end with the test's runtime.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An embedded broker alone on 127.0.0.1:0, whatever the run's peer: the fidelity tests
/// run the same scenarios on it and on Apache Kafka.
pub struct EmbeddedBroker {
    broker: Option<Broker>,
    bootstrap: String,
    _dir: tempfile::TempDir,
}

impl EmbeddedBroker {
    /// Starts a broker with default settings on a fresh data directory.
    pub async fn start() -> EmbeddedBroker {
        let dir = tempfile::tempdir().expect("create a temporary data directory");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the broker listener");
        let broker = Broker::start(listener, BrokerConfig::new(dir.path().join("broker")))
            .await
            .expect("start the embedded broker");
        EmbeddedBroker {
            bootstrap: broker.local_addr().to_string(),
            broker: Some(broker),
            _dir: dir,
        }
    }

    /// The broker's `host:port`.
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// Shuts the broker down.
    pub async fn stop(mut self) {
        if let Some(broker) = self.broker.take() {
            broker.shutdown().await.expect("broker shutdown");
        }
    }
}

/// A Schema Registry server on 127.0.0.1:0, with its own Kafka client layer.
pub struct RegistryServer {
    addr: SocketAddr,
    kafka: Kafka,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RegistryServer {
    /// Starts a registry whose clients are configured like `kafka`'s; the listener is
    /// bound at once, and requests wait until the `_schemas` topic has been read.
    pub async fn start(kafka: Kafka, config: kgate_registry::RegistryConfig) -> RegistryServer {
        // Its own clients, as a separate kgate instance would have.
        let kafka = Kafka::connect(kafka.config().clone())
            .await
            .expect("create the registry's Kafka client layer");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the registry listener");
        let addr = listener.local_addr().expect("registry listener address");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(kgate_registry::serve(
            listener,
            kafka.clone(),
            config,
            async move {
                let _ = stop_rx.await;
            },
        ));
        let mut registry = RegistryServer {
            addr,
            kafka,
            stop: Some(stop_tx),
            server: Some(server),
        };
        registry.wait_until_serving().await;
        registry
    }

    /// Waits until the registry answers a request (it answers once its topic is read),
    /// so that a registry that failed to start fails the test with its own error rather
    /// than a reset connection later.
    async fn wait_until_serving(&mut self) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("build the HTTP client");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if http.get(format!("{}/", self.url())).send().await.is_ok() {
                return;
            }
            if let Some(server) = &self.server
                && server.is_finished()
                && let Some(server) = self.server.take()
            {
                match server.await {
                    Ok(Ok(())) => panic!("the registry stopped at start-up"),
                    Ok(Err(e)) => panic!("the registry failed to start: {e}"),
                    Err(e) => panic!("the registry task failed at start-up: {e}"),
                }
            }
            assert!(
                Instant::now() < deadline,
                "the registry at {} did not answer within 120 s",
                self.url()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:41235`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and its clients.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            match tokio::time::timeout(Duration::from_secs(30), server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => panic!("registry server failed: {e}"),
                Ok(Err(e)) => panic!("registry server task failed: {e}"),
                Err(_) => panic!("registry server did not stop within 30 s"),
            }
        }
        self.kafka.close().await;
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
