//! The registry under hostile input: body and schema size limits, errors in the
//! `{"error_code", "message"}` envelope at every layer, large schemas that must not starve
//! other requests, and records planted in `_schemas` by hand.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{CT, Registry, assert_error, avro_record};
use kgate_testkit::kgate_registry::{RegistryConfig, Store, app};
use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A JSON Schema whose `oneOf` has `n` object alternatives, each requiring its own field.
fn one_of(n: usize) -> String {
    let alternatives: Vec<Value> = (0..n)
        .map(|i| {
            let f = format!("f{i}");
            json!({"type": "object", "properties": {f.clone(): {"type": "integer"}}, "required": [f]})
        })
        .collect();
    json!({ "oneOf": alternatives }).to_string()
}

/// A registry started by the test itself, so the test can watch its schema workers.
struct OwnRegistry {
    store: Arc<Store>,
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl OwnRegistry {
    async fn start(cluster: &TestCluster, mut config: RegistryConfig) -> OwnRegistry {
        if config.topic == RegistryConfig::default().topic {
            config.topic = cluster.registry_topic().to_string();
        }
        let kafka = kgate_kafka::Kafka::connect(cluster.kafka().config().clone())
            .await
            .expect("the registry's Kafka clients");
        let max_body = config.max_body_bytes;
        let store = Store::start(kafka, config).await.expect("the store starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(kgate_http::serve(
            listener,
            app(store.clone(), max_body),
            async move {
                let _ = stopped.await;
            },
        ));
        OwnRegistry {
            store,
            url,
            stop,
            server,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
    }
}

/// The number of records in the `_schemas` topic now.
async fn schema_records(cluster: &TestCluster, at_least: usize) -> usize {
    cluster
        .consume_all(cluster.registry_topic(), at_least, Duration::from_secs(30))
        .await
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_schemas_do_not_starve_other_requests() {
    let cluster = TestCluster::start().await;
    let config = RegistryConfig {
        schema_work_threads: 1,
        schema_work_timeout: Duration::from_secs(600),
        ..RegistryConfig::default()
    };
    let own = OwnRegistry::start(&cluster, config).await;
    let r = Registry::new(own.url.clone());
    let big = unique_name("big-value");
    let schema = one_of(10_000);
    let started = Instant::now();
    let big_id = r
        .register(&big, json!({"schemaType": "JSON", "schema": schema}))
        .await;
    println!(
        "registering a JSON Schema of 10,000 oneOf alternatives ({} bytes) took {:?}",
        schema.len(),
        started.elapsed()
    );
    let small = unique_name("small-value");
    let small_id = r
        .register(&small, avro_record("Small", &[("a", "int", None)]))
        .await;

    // Four large compatibility checks at once, on one large-lane worker.
    let heavy: Vec<_> = (0..4)
        .map(|_| {
            let r = r.clone();
            let path = format!("/compatibility/subjects/{big}/versions/latest");
            let body = json!({"schemaType": "JSON", "schema": schema});
            tokio::spawn(async move { r.post(&path, body).await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stats = own.store.work().stats();
        if stats.large_running == 1 && stats.large_waiting >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline && !heavy.iter().all(|h| h.is_finished()),
            "the large lane never filled: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    // Cheap requests, reads and small schema work alike, are answered meanwhile.
    assert_eq!(r.get("/subjects").await.0, 200);
    assert_eq!(r.get(&format!("/schemas/ids/{small_id}")).await.0, 200);
    let next = avro_record("Small", &[("a", "int", None), ("b", "int", Some(json!(0)))]);
    assert_ne!(r.register(&small, next.clone()).await, small_id);
    assert_eq!(
        r.post(
            &format!("/compatibility/subjects/{small}/versions/latest"),
            next
        )
        .await,
        (200, json!({"is_compatible": true}))
    );
    let stats = own.store.work().stats();
    assert!(
        stats.large_running + stats.large_waiting >= 1,
        "the large checks were still in progress when the cheap requests were answered: {stats:?}"
    );
    assert!(!heavy.iter().all(|h| h.is_finished()));

    for h in heavy {
        assert_eq!(h.await.unwrap(), (200, json!({"is_compatible": true})));
    }
    println!(
        "four compatibility checks of it, one at a time, ended {:?} after the start",
        started.elapsed()
    );
    assert_eq!(r.get(&format!("/schemas/ids/{big_id}")).await.0, 200);
    own.stop().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_over_the_size_or_time_limit_are_refused_and_nothing_lands() {
    let cluster = TestCluster::start().await;
    let sized = OwnRegistry::start(
        &cluster,
        RegistryConfig {
            max_schema_bytes: 20_000,
            ..RegistryConfig::default()
        },
    )
    .await;
    let r = Registry::new(sized.url.clone());
    let s = unique_name("limits-value");
    r.register(&s, avro_record("Fits", &[("a", "int", None)]))
        .await;
    let before = schema_records(&cluster, 2).await;

    // Over the limit as text, and as a body that could never hold a schema that fits.
    let big = json!({"schemaType": "JSON", "schema": one_of(1_000)});
    assert_error(
        &r.post(&format!("/subjects/{s}/versions"), big.clone())
            .await,
        422,
        42209,
    );
    assert_error(
        &r.post(&format!("/compatibility/subjects/{s}/versions"), big)
            .await,
        422,
        42209,
    );
    let padded = json!({"schema": "\"string\"", "padding": "x".repeat(200_000)});
    assert_error(
        &r.post(&format!("/subjects/{s}/versions"), padded).await,
        422,
        42209,
    );
    // Under the text limit, but escaped into a record it would be over: refused as well.
    let quotes = format!("{{\"description\":\"{}\"}}", "\\\"".repeat(9_000));
    assert!(quotes.len() < 20_000);
    assert_error(
        &r.post(
            &format!("/subjects/{}/versions", unique_name("quotes")),
            json!({"schemaType": "JSON", "schema": quotes}),
        )
        .await,
        422,
        42209,
    );
    // Nested deeper than any parser is asked to go: refused before parsing.
    let deep = format!(
        "syntax = \"proto3\";\n{}int32 x = 1;{}",
        "message M {".repeat(600),
        "}".repeat(600)
    );
    let refused = r
        .post(
            &format!("/subjects/{}/versions", unique_name("deep")),
            json!({"schemaType": "PROTOBUF", "schema": deep}),
        )
        .await;
    assert_error(&refused, 422, 42201);
    assert!(
        refused.1["message"].as_str().unwrap().contains("512"),
        "{refused:?}"
    );
    sized.stop().await;

    // A limit of work time: a large schema cannot be parsed and checked in 1 ms.
    let hurried = OwnRegistry::start(
        &cluster,
        RegistryConfig {
            schema_work_timeout: Duration::from_millis(1),
            ..RegistryConfig::default()
        },
    )
    .await;
    let r = Registry::new(hurried.url.clone());
    let answer = r
        .post(
            &format!("/subjects/{s}/versions"),
            json!({"schemaType": "JSON", "schema": one_of(10_000)}),
        )
        .await;
    assert_error(&answer, 422, 42209);
    assert!(
        answer.1["message"].as_str().unwrap().contains("1 ms"),
        "{answer:?}"
    );
    // Nothing was written by any refused request (the second registry wrote its NOOP).
    assert_eq!(schema_records(&cluster, before + 1).await, before + 1);
    assert_eq!(r.get("/subjects").await, (200, json!([s])));
    hurried.stop().await;
    cluster.stop().await;
}

/// Sends raw bytes to `url`'s host, half-closes, and returns the whole answer.
async fn raw_exchange(url: &str, request: &[u8]) -> String {
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("an answer within 30 s")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status and JSON body of a raw HTTP/1.1 answer, checking its content type.
fn parse_raw(answer: &str) -> (u16, Value) {
    let (head, body) = answer.split_once("\r\n\r\n").expect("a complete answer");
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-type: {CT}")),
        "{answer}"
    );
    (status, serde_json::from_str(body).expect("a JSON body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_and_router_errors_are_in_the_envelope() {
    // One body limit for the REST Proxy and the registry: `max.request.body.bytes`.
    assert_eq!(
        RegistryConfig::default().max_body_bytes,
        kgate_testkit::kgate_rest::RestConfig::default().max_request_body_bytes
    );
    let cluster = TestCluster::builder()
        .registry_config(RegistryConfig {
            max_body_bytes: 1024,
            ..RegistryConfig::default()
        })
        .start()
        .await;
    let url = cluster.registry_url();
    let r = Registry::new(url.clone());
    let s = unique_name("env-value");

    let too_large = r
        .post(
            &format!("/subjects/{s}/versions"),
            json!({"schema": format!("\"{}\"", "x".repeat(2000))}),
        )
        .await;
    assert_error(&too_large, 413, 413);
    assert!(
        too_large.1["message"].as_str().unwrap().contains("1024"),
        "{too_large:?}"
    );

    // A body shorter than its Content-Length, the connection then closed.
    let truncated = format!(
        "POST /subjects/{s}/versions HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\nContent-Length: 100\r\n\r\n{{\"schema\""
    );
    let (status, body) = parse_raw(&raw_exchange(&url, truncated.as_bytes()).await);
    assert_eq!((status, &body["error_code"]), (400, &json!(400)), "{body}");
    assert!(body["message"].is_string());

    // Refusals of the router and its extractors.
    assert_error(&r.get("/subjects/%FF/versions").await, 400, 400);
    assert_error(
        &r.send(reqwest::Method::PUT, "/schemas/types", None).await,
        405,
        405,
    );
    assert_error(&r.get("/no/such/path").await, 404, 404);

    // Nothing was registered by any of them, and the registry still serves.
    assert_error(&r.get(&format!("/subjects/{s}/versions")).await, 404, 40401);
    r.register(&s, json!({"schema": "\"string\""})).await;
    cluster.stop().await;
}

/// Records of `_schemas` produced by hand: garbage, and schemas the parsers must refuse
/// without harm.
fn hostile_records() -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let key = |subject: &str, version: i32| {
        json!({"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1})
            .to_string()
            .into_bytes()
    };
    let value = |v: Value| Some(v.to_string().into_bytes());
    let mut nested = String::from("syntax = \"proto3\";\n");
    for i in 0..1000 {
        nested.push_str(&format!("message M{i} {{\n"));
    }
    nested.push_str("int32 x = 1;\n");
    for _ in 0..1000 {
        nested.push_str("}\n");
    }
    let good = r#"{"type":"record","name":"Good","fields":[{"name":"a","type":"int"}]}"#;
    vec![
        (
            key("good-value", 1),
            value(json!({"subject": "good-value", "version": 1, "id": 1, "schema": good})),
        ),
        (key("garbage-value", 1), Some(b"\x00\xffnot json".to_vec())),
        (
            b"\x00\x01 not a key".to_vec(),
            value(json!({"subject": "x"})),
        ),
        (
            key("garbage-value", 2),
            value(json!({"subject": "garbage-value", "version": 2, "id": "nine", "schema": 7})),
        ),
        (
            json!({"keytype": "CONFIG", "subject": null, "magic": 0})
                .to_string()
                .into_bytes(),
            value(json!({"compatibilityLevel": "SIDEWAYS"})),
        ),
        (
            key("bad-avro-value", 1),
            value(json!({"subject": "bad-avro-value", "version": 1, "id": 2,
                "schema": r#"{"type":"record","name":"1bad","fields":[{"name":"a","type":"int"}]}"#})),
        ),
        (
            key("deep-proto-value", 1),
            value(json!({"subject": "deep-proto-value", "version": 1, "id": 3,
                "schemaType": "PROTOBUF", "schema": nested})),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_records_in_the_schemas_topic_are_skipped_or_refused_cleanly() {
    let cluster = TestCluster::start().await;
    let topic = unique_name("_schemas");
    let mut configs = BTreeMap::new();
    configs.insert("cleanup.policy".to_string(), "compact".to_string());
    cluster.create_topic_with(&topic, 1, &configs).await;
    for (key, value) in hostile_records() {
        cluster
            .produce(&topic, Some(0), Some(&key), value.as_deref())
            .await;
    }
    let config = RegistryConfig {
        topic: topic.clone(),
        ..RegistryConfig::default()
    };
    for round in ["first start", "restart"] {
        let server = cluster.start_registry(config.clone()).await;
        let r = Registry::new(server.url());
        // The unreadable records were skipped; the readable ones are served as stored.
        let (status, subjects) = r.get("/subjects?deleted=true").await;
        assert_eq!(status, 200);
        let planted: Vec<&Value> = subjects
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| !s.as_str().unwrap().starts_with("other"))
            .collect();
        assert_eq!(
            planted,
            [
                &json!("bad-avro-value"),
                &json!("deep-proto-value"),
                &json!("good-value")
            ],
            "{round}"
        );
        assert_eq!(
            r.get("/config").await.1,
            json!({"compatibilityLevel": "BACKWARD"}),
            "{round}"
        );
        assert_eq!(r.get("/schemas/ids/1").await.0, 200, "{round}");
        let (status, raw) = r.get("/schemas/ids/2/schema").await;
        assert_eq!((status, &raw["name"]), (200, &json!("1bad")), "{round}");
        assert_eq!(r.get("/schemas/ids/3").await.0, 200, "{round}");

        // Work that must parse a hostile schema answers 422, and the registry goes on.
        assert_error(
            &r.post(
                "/subjects/bad-avro-value/versions",
                avro_record("Fine", &[("a", "int", None)]),
            )
            .await,
            422,
            42201,
        );
        // The 1,000-deep protobuf is refused before any parser sees it.
        let deep = r
            .post(
                "/subjects/deep-proto-value/versions",
                json!({"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\"; message Fine { int32 a = 1; }"}),
            )
            .await;
        assert_error(&deep, 422, 42201);
        assert!(
            deep.1["message"].as_str().unwrap().contains("version 1"),
            "{round}: the answer names the stored version: {deep:?}"
        );
        assert_error(&r.get("/schemas/ids/3?format=serialized").await, 422, 42201);
        assert_error(
            &r.post(
                "/subjects/bad-avro-value/versions",
                json!({"schema": r#"{"type":"record","name":"2bad","fields":[]}"#}),
            )
            .await,
            422,
            42201,
        );

        // Everything else works as before.
        let id = r
            .register(
                "good-value",
                avro_record("Good", &[("a", "int", None), ("b", "int", Some(json!(0)))]),
            )
            .await;
        assert!(id > 3, "a fresh id after the planted ones: {id}");
        r.register(&unique_name("other"), json!({"schema": "\"long\""}))
            .await;
        server.stop().await;
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schemas_that_unfold_past_the_memory_budget_are_refused() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let r = Registry::new(cluster.registry_url());
    // A large definition registered as its own subject, then referenced from another
    // schema once per property: every reference would keep its own copy.
    let big: Vec<Value> = (0..20_000).map(Value::from).collect();
    let dep = unique_name("big-enum");
    r.register(
        &dep,
        json!({"schemaType": "JSON", "schema": json!({"enum": big}).to_string()}),
    )
    .await;
    let referencing = |n: usize| {
        let properties: serde_json::Map<String, Value> = (0..n)
            .map(|i| (format!("p{i}"), json!({"$ref": "big.json"})))
            .collect();
        json!({
            "schemaType": "JSON",
            "schema": json!({"type": "object", "properties": properties}).to_string(),
            "references": [{"name": "big.json", "subject": dep, "version": 1}]
        })
    };
    // Patterns whose automata are thousands of times their length.
    let patterns: serde_json::Map<String, Value> = (0..1_000)
        .map(|i| {
            (
                format!("p{i}"),
                json!({"type": "string", "pattern": format!("[a-z]{{1000}}{i}")}),
            )
        })
        .collect();
    let patterns =
        json!({"schemaType": "JSON", "schema": json!({"properties": patterns}).to_string()});

    let s = unique_name("unfolding-value");
    for (body, says) in [
        (referencing(1_000), "references copy large subschemas"),
        (patterns, "patterns compile into more than"),
    ] {
        for path in [
            format!("/subjects/{s}/versions"),
            format!("/compatibility/subjects/{s}/versions/latest"),
        ] {
            let answer = r.post(&path, body.clone()).await;
            if path.starts_with("/compatibility") {
                // Nothing registered under the subject yet: the registry says so first.
                assert_error(&answer, 404, 40401);
                continue;
            }
            assert_error(&answer, 422, 42201);
            let message = answer.1["message"].as_str().unwrap_or_default();
            assert!(message.contains(says), "{message}");
        }
    }
    assert_error(&r.get(&format!("/subjects/{s}/versions")).await, 404, 40401);

    // A few references to the same subject are fine, and once registered, the hostile
    // version is refused by the compatibility check too.
    r.register(&s, referencing(3)).await;
    let answer = r
        .post(
            &format!("/compatibility/subjects/{s}/versions/latest"),
            referencing(1_000),
        )
        .await;
    assert_error(&answer, 422, 42201);
    assert_eq!(
        r.get(&format!("/subjects/{s}/versions")).await,
        (200, json!([1]))
    );
    cluster.stop().await;
}
