//! The real `kgate` binary as a process: it serves on its ports, stops cleanly on
//! SIGTERM/SIGINT, and refuses a bad configuration naming the key.

mod common;

use std::time::{Duration, Instant};

use common::{Kgate, path_str};

/// Polls `url` until it answers 200, for up to 30 s; returns the body.
async fn get_ok(url: &str) -> String {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        match client.get(url).send().await {
            Ok(response) if response.status().is_success() => {
                return response.text().await.expect("response body");
            }
            Ok(response) => last = format!("status {}", response.status()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("GET {url} never answered 200; last: {last}");
}

#[tokio::test]
async fn serve_answers_on_its_port_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut kgate = Kgate::serve(dir.path(), &["broker.listeners=127.0.0.1:0"]);
    let broker = kgate.broker_address();
    assert!(broker.starts_with("127.0.0.1:"), "{broker}");
    let base = kgate.rest_url();

    let root = get_ok(&format!("{base}/")).await;
    assert!(root.trim_start().starts_with('{'), "GET / body: {root}");
    // GET /topics goes through the Kafka protocol to the embedded broker.
    let topics = get_ok(&format!("{base}/topics")).await;
    let parsed: serde_json::Value = serde_json::from_str(&topics).expect("topics is JSON");
    assert!(parsed.is_array(), "GET /topics body: {topics}");

    // Something to find again after the restart.
    let topic = "kept-across-restart";
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_kgate"))
        .args(["topics", "create", topic, "--bootstrap-server", &broker])
        .output()
        .expect("run kgate topics create");
    assert!(created.status.success(), "{created:?}");
    let (status, body) = send_json(
        reqwest::Client::new().post(format!("{base}/topics/{topic}")),
        "application/vnd.kafka.json.v2+json",
        serde_json::json!({"records": [{"value": 1}, {"value": 2}, {"value": 3}]}),
    )
    .await;
    assert!(status.is_success(), "produce: {status} {body}");

    kgate.signal(libc::SIGTERM);
    let status = kgate.wait_exit(Duration::from_secs(20));
    let output = kgate.output();
    let status = status.unwrap_or_else(|| panic!("kgate did not exit on SIGTERM:\n{output}"));
    assert!(status.success(), "exit status {status:?}:\n{output}");
    // The broker's data directory is where the configuration put it.
    assert!(dir.path().join("broker").is_dir());

    // The broker was left consistent: a new kgate on the same data finds the records.
    let mut again = Kgate::serve(dir.path(), &["broker.listeners=127.0.0.1:0"]);
    let base = again.rest_url();
    let offsets = get_ok(&format!("{base}/topics/{topic}/partitions/0/offsets")).await;
    let offsets: serde_json::Value = serde_json::from_str(&offsets).expect("offsets JSON");
    assert_eq!(offsets["beginning_offset"], 0, "{offsets}");
    assert_eq!(offsets["end_offset"], 3, "{offsets}");
    again.signal(libc::SIGTERM);
    let status = again.wait_exit(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{}", again.output());
}

#[tokio::test]
async fn default_command_is_serve_and_sigint_stops_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("kgate.properties");
    std::fs::write(
        &config,
        format!(
            "listeners=http://127.0.0.1:0\nbroker.listeners=127.0.0.1:0\ndata.dir={}\n",
            path_str(dir.path())
        ),
    )
    .expect("write config");
    let mut kgate = Kgate::spawn(&["--config", path_str(&config), "--log-format", "json"]);
    let base = kgate.rest_url();
    get_ok(&format!("{base}/")).await;
    // JSON logs: log lines on stderr are JSON objects.
    let line = kgate.wait_for_line("{");
    let parsed: serde_json::Value =
        serde_json::from_str(&format!("{{{line}")).expect("a JSON log line");
    assert!(parsed["level"].is_string(), "{parsed}");

    kgate.signal(libc::SIGINT);
    let status = kgate.wait_exit(Duration::from_secs(20));
    let output = kgate.output();
    let status = status.unwrap_or_else(|| panic!("kgate did not exit on SIGINT:\n{output}"));
    assert!(status.success(), "exit status {status:?}:\n{output}");
}

#[test]
fn unknown_key_stops_startup_naming_the_key() {
    let mut kgate = Kgate::spawn(&["serve", "--set", "listenrs=http://127.0.0.1:0"]);
    let output = kgate.refused_start(Duration::from_secs(30), "a bad key");
    assert!(output.contains("listenrs"), "{output}");
}

#[test]
fn bad_value_from_environment_stops_startup_naming_the_key() {
    let mut kgate = Kgate::spawn_with_env(&[], &[("KGATE_API_V2_ENABLE", "maybe")]);
    let output = kgate.refused_start(Duration::from_secs(30), "a bad value");
    assert!(output.contains("api.v2.enable"), "{output}");
    assert!(output.contains("KGATE_API_V2_ENABLE"), "{output}");
}

#[test]
fn bad_config_file_stops_startup_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("kgate.toml");
    std::fs::write(&config, "consumer.request.timeout.ms = \"soon\"\n").expect("write");
    let mut kgate = Kgate::spawn(&["serve", "--config", path_str(&config)]);
    let output = kgate.refused_start(Duration::from_secs(30), "a bad value");
    assert!(output.contains("consumer.request.timeout.ms"), "{output}");
}

#[test]
fn broker_command_listens_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut kgate = Kgate::spawn(&[
        "broker",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        path_str(&data),
    ]);
    let address = kgate.broker_address();
    let stream = std::net::TcpStream::connect(&address).expect("connect to the broker port");
    drop(stream);
    kgate.signal(libc::SIGTERM);
    let status = kgate.wait_exit(Duration::from_secs(20));
    let output = kgate.output();
    let status = status.unwrap_or_else(|| panic!("broker did not exit on SIGTERM:\n{output}"));
    assert!(status.success(), "exit status {status:?}:\n{output}");
    assert!(data.is_dir());
}

/// `kgate serve` with the REST Proxy and the embedded broker on free ports, its data in
/// `dir`, and `settings` (`key=value`) on top.
fn serve_on_port_zero(dir: &std::path::Path, settings: &[&str]) -> Kgate {
    let data_dir = format!("data.dir={}", path_str(dir));
    let mut args = vec![
        "serve",
        "--set",
        "listeners=http://127.0.0.1:0",
        "--set",
        "broker.listeners=127.0.0.1:0",
        "--set",
        &data_dir,
    ];
    for setting in settings {
        args.extend(["--set", setting]);
    }
    Kgate::spawn(&args)
}

#[test]
fn bad_embedded_broker_setting_stops_startup_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut kgate = serve_on_port_zero(dir.path(), &["broker.num.partitions=many"]);
    let output = kgate.refused_start(Duration::from_secs(30), "a bad broker setting");
    assert!(output.contains("broker.num.partitions"), "{output}");
}

/// Sends `request` with a JSON body and returns the status and parsed JSON answer.
async fn send_json(
    request: reqwest::RequestBuilder,
    content_type: &str,
    body: serde_json::Value,
) -> (reqwest::StatusCode, serde_json::Value) {
    let response = request
        .header("Content-Type", content_type)
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    let json = if text.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    (status, json)
}

/// The README's curl example, step by step, against the real binary: with
/// `bootstrap.servers` pointing at a separate `kgate broker` process, `serve` starts no
/// broker of its own and produces and consumes through it.
#[tokio::test]
async fn serve_with_bootstrap_servers_uses_that_cluster_and_readme_example_works() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;

    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = Kgate::spawn(&[
        "broker",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        path_str(&dir.path().join("external")),
    ]);
    let bootstrap = broker.broker_address();
    let mut kgate = Kgate::spawn(&[
        "serve",
        "--set",
        "listeners=http://127.0.0.1:0",
        "--set",
        &format!("bootstrap.servers={bootstrap}"),
        "--set",
        &format!("data.dir={}", path_str(&dir.path().join("unused"))),
        // On a cluster kgate did not start, Connect's state topics take Apache's
        // replication factor 3, which this one-broker cluster cannot hold.
        "--set",
        "connect.enable=false",
    ]);
    let base = kgate.rest_url();
    get_ok(&format!("{base}/topics")).await;
    assert!(
        !kgate.output().contains("kgate broker listening on"),
        "an embedded broker was started although bootstrap.servers is set"
    );
    assert!(!dir.path().join("unused").exists());

    // REST v2 cannot create topics; `kgate topics create` can.
    let topic = "jsontest";
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_kgate"))
        .args([
            "topics",
            "create",
            topic,
            "--partitions",
            "2",
            "--bootstrap-server",
            &bootstrap,
        ])
        .output()
        .expect("run kgate topics create");
    assert!(
        created.status.success(),
        "kgate topics create: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_kgate"))
        .args(["topics", "list", "--bootstrap-server", &bootstrap])
        .output()
        .expect("run kgate topics list");
    assert!(listed.status.success());
    assert!(
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .any(|l| l == topic)
    );

    let client = reqwest::Client::new();
    let (status, produced) = send_json(
        client
            .post(format!("{base}/topics/{topic}"))
            .header("Accept", "application/vnd.kafka.v2+json"),
        "application/vnd.kafka.json.v2+json",
        serde_json::json!({"records": [
            {"key": "alice", "value": {"foo": "bar"}},
            {"value": [1, 2, 3]}
        ]}),
    )
    .await;
    assert!(status.is_success(), "produce: {status} {produced}");
    let offsets = produced["offsets"].as_array().expect("offsets array");
    assert_eq!(offsets.len(), 2, "{produced}");

    // What landed in Kafka, read with an independent client.
    let bootstrap_for_reader = bootstrap.clone();
    let stored = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap_for_reader)
            .set("group.id", "readme-check")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        consumer.subscribe(&["jsontest"]).expect("subscribe");
        let mut values = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while values.len() < 2 && Instant::now() < deadline {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(500)) {
                values.push(
                    String::from_utf8_lossy(message.payload().unwrap_or_default()).to_string(),
                );
            }
        }
        values
    })
    .await
    .expect("reader");
    let mut stored: Vec<serde_json::Value> = stored
        .iter()
        .map(|v| serde_json::from_str(v).expect("stored JSON"))
        .collect();
    stored.sort_by_key(|v| v.to_string());
    assert_eq!(
        stored,
        vec![
            serde_json::json!([1, 2, 3]),
            serde_json::json!({"foo": "bar"})
        ]
    );

    let v2 = "application/vnd.kafka.v2+json";
    let (status, created) = send_json(
        client.post(format!("{base}/consumers/my_group")),
        v2,
        serde_json::json!({"name": "my_consumer", "format": "json", "auto.offset.reset": "earliest"}),
    )
    .await;
    assert!(status.is_success(), "create consumer: {status} {created}");
    assert_eq!(created["instance_id"], "my_consumer");
    let instance = created["base_uri"].as_str().expect("base_uri").to_string();
    assert!(
        instance.ends_with("/consumers/my_group/instances/my_consumer"),
        "{instance}"
    );
    let instance = format!("{base}/consumers/my_group/instances/my_consumer");

    let (status, body) = send_json(
        client.post(format!("{instance}/subscription")),
        v2,
        serde_json::json!({"topics": [topic]}),
    )
    .await;
    assert!(status.is_success(), "subscribe: {status} {body}");

    let mut records: Vec<serde_json::Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while records.len() < 2 && Instant::now() < deadline {
        let response = client
            .get(format!("{instance}/records?timeout=1000"))
            .header("Accept", "application/vnd.kafka.json.v2+json")
            .send()
            .await
            .expect("read records");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("records JSON");
        assert!(status.is_success(), "read: {status} {body}");
        records.extend(body.as_array().cloned().unwrap_or_default());
    }
    assert_eq!(records.len(), 2, "{records:?}");
    let alice = records
        .iter()
        .find(|r| r["key"] == "alice")
        .expect("the keyed record");
    assert_eq!(alice["value"], serde_json::json!({"foo": "bar"}));
    assert_eq!(alice["topic"], topic);

    let response = client
        .delete(&instance)
        .header("Content-Type", v2)
        .send()
        .await
        .expect("delete consumer");
    assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);

    kgate.signal(libc::SIGTERM);
    let status = kgate.wait_exit(Duration::from_secs(20));
    let output = kgate.output();
    let status = status.unwrap_or_else(|| panic!("kgate did not exit on SIGTERM:\n{output}"));
    assert!(status.success(), "exit status {status:?}:\n{output}");
    broker.signal(libc::SIGTERM);
    assert!(broker.wait_exit(Duration::from_secs(20)).is_some());
}

#[test]
fn busy_rest_port_fails_startup_naming_listeners() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("local addr").port();
    let mut kgate = Kgate::spawn(&[
        "serve",
        "--set",
        &format!("listeners=http://127.0.0.1:{port}"),
        "--set",
        "broker.listeners=127.0.0.1:0",
        "--set",
        &format!("data.dir={}", path_str(dir.path())),
    ]);
    let output = kgate.refused_start(Duration::from_secs(60), "a taken port");
    assert!(output.contains("`listeners`"), "{output}");
}

#[test]
fn an_unreadable_registry_certificate_stops_startup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-ca.pem");
    let mut kgate = serve_on_port_zero(
        dir.path(),
        &[
            "schema.registry.url=https://127.0.0.1:1",
            &format!("schema.registry.ssl.ca.location={}", path_str(&missing)),
        ],
    );
    let output = kgate.refused_start(Duration::from_secs(60), "an unreadable CA file");
    assert!(output.contains("schema.registry"), "{output}");
    assert!(output.contains("no-such-ca.pem"), "{output}");
}

#[test]
fn help_explains_every_command_and_key() {
    let help = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kgate"))
            .args(args)
            .output()
            .expect("run kgate --help");
        assert!(out.status.success(), "{args:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let top = help(&["--help"]);
    for word in ["serve", "broker", "topics", "--log-format", "--log-level"] {
        assert!(top.contains(word), "kgate --help lacks {word}:\n{top}");
    }
    let serve = help(&["serve", "--help"]);
    for word in [
        "--config",
        "--set",
        "KGATE_",
        "bootstrap.servers",
        "listeners",
        "advertised.listeners",
        "host.name",
        "api.v2.enable",
        "consumer.instance.timeout.ms",
        "consumer.request.timeout.ms",
        "consumer.request.max.bytes",
        "consumer.iterator.timeout.ms",
        "producer.*",
        "data.dir",
        "broker.listeners",
        "broker.*",
    ] {
        assert!(
            serve.contains(word),
            "kgate serve --help lacks {word}:\n{serve}"
        );
    }
    let broker = help(&["broker", "--help"]);
    for word in [
        "--listen",
        "--data-dir",
        "127.0.0.1:9092",
        "./kgate-data/broker",
    ] {
        assert!(
            broker.contains(word),
            "kgate broker --help lacks {word}:\n{broker}"
        );
    }
}

#[tokio::test]
async fn serve_starts_the_schema_registry_and_the_formats_use_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = format!("data.dir={}", path_str(dir.path()));
    let mut kgate = Kgate::spawn(&[
        "serve",
        "--set",
        "listeners=http://127.0.0.1:0",
        "--set",
        "broker.listeners=127.0.0.1:0",
        "--set",
        &data_dir,
    ]);
    let registry = kgate.wait_for_line("kgate Schema Registry listening on ");
    let base = kgate.rest_url();
    let subjects = get_ok(&format!("{registry}/subjects")).await;
    assert_eq!(subjects.trim(), "[]", "GET /subjects: {subjects}");

    // An avro produce through the REST Proxy registers its schema in the built-in registry.
    let topic = "registry-wired";
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_kgate"))
        .args([
            "topics",
            "create",
            topic,
            "--bootstrap-server",
            &kgate.broker_address(),
        ])
        .output()
        .expect("run kgate topics create");
    assert!(created.status.success(), "{created:?}");
    let (status, body) = send_json(
        reqwest::Client::new().post(format!("{base}/topics/{topic}")),
        "application/vnd.kafka.avro.v2+json",
        serde_json::json!({"value_schema": "{\"type\":\"string\"}", "records": [{"value": "hello"}]}),
    )
    .await;
    assert!(status.is_success(), "avro produce: {status} {body}");
    let subjects = get_ok(&format!("{registry}/subjects")).await;
    assert!(
        subjects.contains("registry-wired-value"),
        "GET /subjects: {subjects}"
    );

    kgate.signal(libc::SIGTERM);
    let status = kgate.wait_exit(Duration::from_secs(20));
    let output = kgate.output();
    let status = status.unwrap_or_else(|| panic!("kgate did not exit on SIGTERM:\n{output}"));
    assert!(status.success(), "exit status {status:?}:\n{output}");
}

/// The WebSocket proxy's and Connect's state topics are kgate's own, like `_schemas`:
/// REST clients may not produce to or delete them (403/40301), though they may read them.
#[tokio::test]
async fn the_faces_state_topics_are_guarded_from_rest_clients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut kgate = serve_on_port_zero(dir.path(), &["connect.status.storage.topic=my-status"]);
    let rest = kgate.rest_url();
    // Connect creates its topics as it starts.
    kgate.wait_for_line("kgate Connect listening on ");
    let http = reqwest::Client::new();
    let clusters = get_ok(&format!("{rest}/v3/clusters")).await;
    let clusters: serde_json::Value = serde_json::from_str(&clusters).expect("json");
    let cluster = clusters["data"][0]["cluster_id"]
        .as_str()
        .expect("cluster id")
        .to_string();
    for topic in [
        "_wsproxy.dynamic.configs",
        "_wsproxy.session.state",
        "connect-configs",
        "connect-offsets",
        "my-status",
    ] {
        let (status, body) = send_json(
            http.post(format!("{rest}/topics/{topic}")),
            "application/vnd.kafka.json.v2+json",
            serde_json::json!({"records": [{"value": {"hostile": true}}]}),
        )
        .await;
        assert_eq!(status, 403, "produce to {topic}: {body}");
        assert_eq!(body["error_code"], 40301, "produce to {topic}: {body}");
        let response = http
            .delete(format!("{rest}/v3/clusters/{cluster}/topics/{topic}"))
            .send()
            .await
            .expect("delete");
        assert_eq!(response.status(), 403, "delete {topic}");
    }
    // Other topics are not affected.
    let (status, body) = send_json(
        http.post(format!("{rest}/v3/clusters/{cluster}/topics")),
        "application/json",
        serde_json::json!({"topic_name": "an-ordinary-topic", "partitions_count": 1}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send_json(
        http.post(format!("{rest}/topics/an-ordinary-topic")),
        "application/vnd.kafka.json.v2+json",
        serde_json::json!({"records": [{"value": 1}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    kgate.signal(libc::SIGTERM);
    let status = kgate.wait_exit(Duration::from_secs(30));
    let output = kgate.output();
    assert!(status.is_some_and(|s| s.success()), "{output}");
}
