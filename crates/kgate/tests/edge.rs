//! The real binary at its edges (issue 13): the HTTP timeouts and connection limit reach
//! every face, errors below the faces' own code are in the envelope, the listeners and
//! the embedded broker survive file-descriptor exhaustion, and start-up and shutdown say
//! what happened (an unreachable cluster, a face that fails) and exit accordingly.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Kgate, path_str};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `kgate serve` on free ports with its data in `dir`, `settings` on top, and at most
/// `open_files` file descriptors when given.
fn serve(dir: &std::path::Path, settings: &[&str], open_files: Option<u64>) -> Kgate {
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
    Kgate::spawn_limited(&args, &[], open_files)
}

/// The REST Proxy's and the registry's base URLs.
fn faces(kgate: &mut Kgate) -> (String, String) {
    let registry = kgate.wait_for_line("kgate Schema Registry listening on ");
    (kgate.rest_url(), registry)
}

fn socket_address(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// Polls `url` until it answers 200, for up to 30 s.
async fn eventually_ok(url: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        match client.get(url).send().await {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => last = format!("status {}", response.status()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("GET {url} never answered 200; last: {last}");
}

/// Sends `request` on a new connection and reads the answer until the server closes.
async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).to_string()
}

/// The status and JSON body of a raw answer, which must be JSON.
fn status_and_json(answer: &str) -> (u16, serde_json::Value) {
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head in {answer:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    assert!(
        head.to_ascii_lowercase().contains("json"),
        "not JSON: {head}"
    );
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, body)
}

/// Whether the server closes `stream` within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 256];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Stops `kgate` with SIGTERM and returns its output, checking that it exited 0.
fn stop_cleanly(mut kgate: Kgate) -> String {
    kgate.signal(libc::SIGTERM);
    let status = kgate.wait_exit(Duration::from_secs(30));
    let output = kgate.output();
    let status = status.unwrap_or_else(|| panic!("kgate did not exit on SIGTERM:\n{output}"));
    assert!(status.success(), "exit status {status:?}:\n{output}");
    output
}

#[tokio::test]
async fn timeouts_limits_and_envelopes_reach_every_face() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut kgate = serve(
        dir.path(),
        &["idle.timeout.ms=1000", "server.connection.limit=50"],
        None,
    );
    let (rest, registry) = faces(&mut kgate);
    eventually_ok(&format!("{registry}/subjects")).await;

    for base in [&rest, &registry] {
        let addr = socket_address(base);
        // A connection that sends nothing is closed after idle.timeout.ms.
        let opened = Instant::now();
        let mut silent = TcpStream::connect(addr).await.expect("connect");
        assert!(
            closed_within(&mut silent, Duration::from_secs(30)).await,
            "{base}: a silent connection stayed open"
        );
        assert!(opened.elapsed() >= Duration::from_millis(1000), "{base}");

        // 1,100 idle connections, far past server.connection.limit: a new client is
        // still served at once.
        let mut idle = Vec::new();
        for _ in 0..1_100 {
            idle.push(TcpStream::connect(addr).await.expect("connect"));
        }
        let path = if *base == rest {
            "/topics"
        } else {
            "/subjects"
        };
        let answer = reqwest::get(format!("{base}{path}")).await.expect("served");
        assert_eq!(answer.status().as_u16(), 200, "{base}");
        drop(idle);

        // Errors hyper answers by itself are in the envelope.
        let header = format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
            "a".repeat(512 * 1024)
        );
        let (status, body) = status_and_json(&raw_exchange(addr, header.as_bytes()).await);
        assert_eq!(
            (status, body["error_code"].as_u64()),
            (431, Some(431)),
            "{base}"
        );
        let (status, body) =
            status_and_json(&raw_exchange(addr, b"BAD REQUEST LINE\r\n\r\n").await);
        assert_eq!(
            (status, body["error_code"].as_u64()),
            (400, Some(400)),
            "{base}"
        );
    }

    // A path parameter that is not UTF-8, on each face's own routes.
    for url in [
        format!("{rest}/topics/%FF%FE"),
        format!("{registry}/subjects/%FF%FE/versions"),
    ] {
        let response = reqwest::get(&url).await.expect("GET");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"));
        assert!(status == 400 || status == 404, "{url}: {status} {text}");
        assert!(body["error_code"].is_u64(), "{url}: {text}");
        assert!(body["message"].is_string(), "{url}: {text}");
    }
    stop_cleanly(kgate);
}

#[tokio::test]
async fn every_listener_accepts_again_after_file_descriptors_run_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 512: the embedded broker keeps at least 256 descriptors in reserve and refuses to
    // create `_schemas` with fewer to spare.
    let mut kgate = serve(dir.path(), &[], Some(512));
    let (rest, registry) = faces(&mut kgate);
    let broker = kgate.broker_address();
    eventually_ok(&format!("{rest}/topics")).await;
    eventually_ok(&format!("{registry}/subjects")).await;
    // Connect creates its state topics after its listener is announced, and the broker
    // refuses to create topics with too few descriptors to spare: a start still under
    // way when the pressure begins fails, and a face that fails stops kgate. Connect
    // answers once its start is done.
    let connect = kgate.wait_for_line("kgate Connect listening on ");
    eventually_ok(&format!("{connect}/connectors")).await;

    // More connections than kgate has descriptors, to all three listeners: the broker's
    // have no limit and exhaust the process's descriptors.
    // Once kgate cannot accept, the system's backlog fills and a connect waits: stop
    // at the first that does not complete promptly.
    let mut pressure = Vec::new();
    for address in [broker.clone(), rest.clone(), registry.clone()] {
        let addr = socket_address(&address);
        for _ in 0..600 {
            match tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => pressure.push(stream),
                Ok(Err(_)) | Err(_) => break,
            }
        }
    }
    assert!(
        pressure.len() > 512,
        "only {} connections opened",
        pressure.len()
    );
    // The pressure holds until kgate has run out of descriptors.
    kgate.wait_for_text("Too many open files");
    drop(pressure);

    // Once the pressure is gone, each listener serves again.
    eventually_ok(&format!("{rest}/topics")).await;
    eventually_ok(&format!("{registry}/subjects")).await;
    let topic = "after-pressure";
    let created = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_kgate"))
            .args(["topics", "create", topic, "--bootstrap-server", &broker])
            .output()
            .expect("run kgate topics create")
    })
    .await
    .expect("topics create");
    assert!(
        created.status.success(),
        "a new Kafka client reaches the broker: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    eventually_ok(&format!("{rest}/topics/{topic}")).await;
    stop_cleanly(kgate);
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

#[test]
fn an_unreachable_cluster_is_named_early_and_kgate_exits_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = closed_port();
    let address = format!("127.0.0.1:{port}");
    let mut kgate = Kgate::spawn(&[
        "serve",
        "--set",
        "listeners=http://127.0.0.1:0",
        "--set",
        &format!("bootstrap.servers={address}"),
        "--set",
        "client.init.timeout.ms=4000",
        "--set",
        &format!("data.dir={}", path_str(dir.path())),
    ]);
    let line = kgate.wait_for_text("cannot reach the Kafka cluster");
    assert!(line.contains(&address), "{line}");
    assert!(line.contains("ERROR"), "{line}");
    let output = kgate.refused_start(Duration::from_secs(60), "an unreachable cluster");
    assert!(
        !output.contains("listening on"),
        "a face was announced although the cluster never answered:\n{output}"
    );
    let last = output.lines().last().unwrap_or_default();
    assert!(
        last.contains("cannot reach the Kafka cluster") && last.contains(&address),
        "{output}"
    );
    // librdkafka's connection error is logged once, not once per callback.
    let mut seen = std::collections::HashSet::new();
    for line in output.lines().filter(|l| l.contains("librdkafka")) {
        let Some(at) = line.find("Connect to ") else {
            continue;
        };
        let event = line[at..].split(" facility=").next().unwrap_or_default();
        let event = event.split(" error=").next().unwrap_or_default();
        assert!(
            seen.insert(event.to_string()),
            "logged twice: {event}\n{output}"
        );
    }
    assert!(!seen.is_empty(), "{output}");
}

#[test]
fn topics_create_without_a_broker_names_the_address_and_fails_soon() {
    let port = closed_port();
    let address = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kgate"))
        .args(["topics", "create", "t", "--bootstrap-server", &address])
        .output()
        .expect("run kgate topics create");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
    assert!(stderr.contains("--bootstrap-server"), "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
    // Generous for a loaded machine; it takes about 6 s (5 s of trying).
    assert!(elapsed < Duration::from_secs(40), "took {elapsed:?}");
}

#[test]
fn a_face_failing_after_it_was_announced_stops_kgate_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    // With ACLs enforced and none granted, the registry cannot create `_schemas`: it
    // fails after every face was announced.
    let mut kgate = serve(dir.path(), &["broker.authorizer.enabled=true"], None);
    let rest = kgate.rest_url();
    let output = kgate.refused_start(Duration::from_secs(60), "a failing registry");
    assert!(output.contains("Schema Registry"), "{output}");
    assert!(output.contains("kgate: error:"), "{output}");
    // The REST Proxy went down with it.
    assert!(
        std::net::TcpStream::connect(socket_address(&rest)).is_err(),
        "the REST Proxy is still half-alive"
    );
}

#[tokio::test]
async fn a_clean_shutdown_logs_no_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut kgate = serve(dir.path(), &[], None);
    let (rest, registry) = faces(&mut kgate);
    eventually_ok(&format!("{registry}/subjects")).await;
    let client = reqwest::Client::new();
    let cluster: serde_json::Value = client
        .get(format!("{rest}/v3/clusters"))
        .send()
        .await
        .expect("clusters")
        .json()
        .await
        .expect("JSON");
    let cluster = cluster["data"][0]["cluster_id"]
        .as_str()
        .expect("cluster id")
        .to_string();
    let created = client
        .post(format!("{rest}/v3/clusters/{cluster}/topics"))
        .header("Content-Type", "application/json")
        .body(r#"{"topic_name":"shutdown-check"}"#)
        .send()
        .await
        .expect("create topic");
    assert_eq!(created.status().as_u16(), 201);
    let produced = client
        .post(format!("{rest}/topics/shutdown-check"))
        .header("Content-Type", "application/vnd.kafka.avro.v2+json")
        .body(r#"{"value_schema":"{\"type\":\"string\"}","records":[{"value":"a"}]}"#)
        .send()
        .await
        .expect("produce");
    assert!(produced.status().is_success());
    // A consumer instance left open: shutdown closes it.
    let v2 = "application/vnd.kafka.v2+json";
    let made = client
        .post(format!("{rest}/consumers/g"))
        .header("Content-Type", v2)
        .body(r#"{"name":"c","format":"avro","auto.offset.reset":"earliest"}"#)
        .send()
        .await
        .expect("create consumer");
    assert!(made.status().is_success());
    let instance = format!("{rest}/consumers/g/instances/c");
    let subscribed = client
        .post(format!("{instance}/subscription"))
        .header("Content-Type", v2)
        .body(r#"{"topics":["shutdown-check"]}"#)
        .send()
        .await
        .expect("subscribe");
    assert!(subscribed.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let records: serde_json::Value = client
            .get(format!("{instance}/records?timeout=1000"))
            .header("Accept", "application/vnd.kafka.avro.v2+json")
            .send()
            .await
            .expect("read")
            .json()
            .await
            .expect("records");
        if records.as_array().is_some_and(|r| !r.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "no record read");
    }

    let output = stop_cleanly(kgate);
    let errors: Vec<&str> = output
        .lines()
        .filter(|l| l.contains(" ERROR ") || l.contains("WARN librdkafka"))
        .collect();
    assert!(
        errors.is_empty(),
        "a clean shutdown logged:\n{}",
        errors.join("\n")
    );
}
