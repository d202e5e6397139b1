//! The same REST calls sent to Apache Kafka Connect 4.4 (run from Maven Central's jars by
//! scripts/apache-connect) and to kgate's worker, both on the test kit's broker, with
//! the answers compared field by field. Only the differences the README documents are
//! normalised away: worker ids (each worker's own address), plugin versions (the
//! reference runs connect-file 4.1.1, the newest Maven Central serves here), the commit
//! id, plugin documentation texts, failure traces past their first line, and kgate's
//! Schema Registry converters in lists of recommended converters (the reference has no
//! Confluent jars).
//!
//! Skipped, with the reason printed, only when Java or Maven is missing.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Worker, call, settings};
use kgate_testkit::{TestCluster, unique_name};
use serde_json::{Value, json};

/// A running Apache Connect worker, killed when dropped.
struct Apache {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for Apache {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start_apache(bootstrap: &str, prefix: &str, dir: &std::path::Path) -> Apache {
    let script = repo_root().join("scripts/apache-connect");
    let fetched = Command::new(&script)
        .arg("fetch")
        .status()
        .expect("run scripts/apache-connect fetch");
    assert!(fetched.success(), "scripts/apache-connect fetch failed");
    let port = free_port();
    let properties = dir.join("apache-worker.properties");
    std::fs::write(
        &properties,
        format!(
            "bootstrap.servers={bootstrap}\n\
             group.id={prefix}-group\n\
             config.storage.topic={prefix}-configs\n\
             offset.storage.topic={prefix}-offsets\n\
             status.storage.topic={prefix}-status\n\
             config.storage.replication.factor=1\n\
             offset.storage.replication.factor=1\n\
             status.storage.replication.factor=1\n\
             offset.storage.partitions=3\n\
             status.storage.partitions=2\n\
             key.converter=org.apache.kafka.connect.json.JsonConverter\n\
             value.converter=org.apache.kafka.connect.json.JsonConverter\n\
             offset.flush.interval.ms=500\n\
             listeners=http://127.0.0.1:{port}\n\
             rest.advertised.host.name=127.0.0.1\n"
        ),
    )
    .expect("write the worker properties");
    let log = dir.join("apache.log");
    let out = std::fs::File::create(&log).expect("log file");
    let child = Command::new(&script)
        .arg("run")
        .arg(&properties)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log file"))
        .stderr(out)
        .spawn()
        .expect("start Apache Connect");
    let apache = Apache {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
    };
    // A JVM worker on a shared machine takes a while to join its group.
    let deadline = Instant::now() + Duration::from_secs(180);
    let http = reqwest::Client::new();
    loop {
        let answered = http.get(format!("{}/connectors", apache.url)).send().await;
        if answered.is_ok_and(|r| r.status().as_u16() == 200) {
            return apache;
        }
        assert!(
            Instant::now() < deadline,
            "Apache Connect did not start; its log:\n{}",
            std::fs::read_to_string(&apache.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Replaces what may differ by design (see the module comment).
fn normalised(value: &Value) -> Value {
    match value {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("worker_id", Value::String(_)) => json!("<worker>"),
                        ("version", Value::String(_)) => json!("<version>"),
                        ("commit", Value::String(_)) => json!("<commit>"),
                        ("documentation", Value::String(_)) => json!("<documentation>"),
                        ("trace", Value::String(t)) => {
                            json!(t.lines().next().unwrap_or_default())
                        }
                        _ => normalised(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        // kgate's Schema Registry converters are plugins the reference does not have.
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|v| {
                    !v.as_str()
                        .is_some_and(|s| s.starts_with("io.confluent.connect."))
                })
                .map(normalised)
                .collect(),
        ),
        Value::String(s) if s == "4.1.1" || s == "4.4.0" => json!("<version>"),
        Value::String(s) => Value::String(normalised_text(s)),
        other => other.clone(),
    }
}

/// Plugin versions inside messages (Apache lists its plugins in some errors).
fn normalised_text(text: &str) -> String {
    text.replace(
        "version='4.1.1', encodedVersion=4.1.1",
        "version='<version>', encodedVersion=<version>",
    )
    .replace(
        "version='4.4.0', encodedVersion=4.4.0",
        "version='<version>', encodedVersion=<version>",
    )
}

/// Sends one call to both workers and records any difference.
async fn both(
    differences: &mut Vec<String>,
    kgate: &str,
    apache: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (ks, kb) = call(method, &format!("{kgate}{path}"), body.as_ref()).await;
    let (a_s, ab) = call(method, &format!("{apache}{path}"), body.as_ref()).await;
    let (kn, an) = (normalised(&kb), normalised(&ab));
    let mut fields = Vec::new();
    diff("", &kn, &an, &mut fields);
    if ks != a_s || !fields.is_empty() {
        differences.push(format!(
            "{method} {path}: kgate {ks}, apache {a_s}\n    {}",
            fields.join("\n    ")
        ));
    }
    (ks, kb)
}

/// The fields where two answers differ, as `path: kgate vs apache`.
fn diff(path: &str, kgate: &Value, apache: &Value, out: &mut Vec<String>) {
    match (kgate, apache) {
        (Value::Object(k), Value::Object(a)) => {
            for key in k.keys().chain(a.keys().filter(|key| !k.contains_key(*key))) {
                let (kv, av) = (k.get(key), a.get(key));
                let here = format!("{path}.{key}");
                match (kv, av) {
                    (Some(kv), Some(av)) => diff(&here, kv, av, out),
                    _ => out.push(format!("{here}: {kv:?} vs {av:?}")),
                }
            }
        }
        (Value::Array(k), Value::Array(a)) if k.len() == a.len() => {
            for (i, (kv, av)) in k.iter().zip(a).enumerate() {
                // Name list items after their "name" when they have one.
                let label = kv
                    .get("name")
                    .or_else(|| kv.get("definition").and_then(|d| d.get("name")))
                    .and_then(Value::as_str)
                    .map_or(i.to_string(), str::to_string);
                diff(&format!("{path}[{label}]"), kv, av, out);
            }
        }
        _ if kgate == apache => {}
        _ => out.push(format!("{path}: {kgate} vs {apache}")),
    }
}

/// Waits until both workers show `name` in `state` with `tasks` tasks in it.
async fn settle(kgate: &str, apache: &str, name: &str, state: &str, tasks: usize) {
    for url in [kgate, apache] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) =
                call("GET", &format!("{url}/connectors/{name}/status"), None).await;
            let task_states: Vec<&str> = body["tasks"]
                .as_array()
                .map(|t| t.iter().filter_map(|t| t["state"].as_str()).collect())
                .unwrap_or_default();
            if status == 200
                && body["connector"]["state"] == state
                && task_states.len() == tasks
                && task_states.iter().all(|s| *s == state)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{url}: {name} did not reach {state}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kgate_answers_as_apache_connect_does() {
    if !have("java") || !have("mvn") {
        eprintln!("SKIPPED: Java or Maven is missing, so Apache Connect cannot run beside kgate");
        return;
    }
    let cluster = TestCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let apache = start_apache(&cluster.bootstrap(), &unique_name("apache"), dir.path()).await;
    let worker = Worker::start(
        cluster.kafka().clone(),
        &settings(&unique_name("kgate"), &[]),
    )
    .await;
    let (k, a) = (worker.url.clone(), apache.url.clone());
    let mut d = Vec::new();

    let input = dir.path().join("in.txt");
    std::fs::write(&input, "one\ntwo\n").unwrap();
    // Both workers read the same file into the same topic.
    let topic = unique_name("side-by-side");
    let source = json!({
        "connector.class": "FileStreamSource",
        "file": input.to_str().unwrap(),
        "topic": topic,
    });

    let (_, root) = both(&mut d, &k, &a, "GET", "/", None).await;
    assert_eq!(root["version"], "4.4.0");
    both(&mut d, &k, &a, "GET", "/connectors", None).await;
    both(&mut d, &k, &a, "GET", "/connector-plugins", None).await;
    both(
        &mut d,
        &k,
        &a,
        "GET",
        "/connector-plugins/FileStreamSource/config",
        None,
    )
    .await;
    both(
        &mut d,
        &k,
        &a,
        "PUT",
        "/connector-plugins/FileStreamSourceConnector/config/validate",
        Some(json!({"connector.class": "FileStreamSource", "batch.size": "x"})),
    )
    .await;
    both(
        &mut d,
        &k,
        &a,
        "PUT",
        "/connector-plugins/FileStreamSinkConnector/config/validate",
        Some(json!({"connector.class": "FileStreamSink", "name": "s", "topics": "a", "topics.regex": "b"})),
    )
    .await;

    // Bad input.
    for body in [
        json!({"name": "x", "config": {"connector.class": "com.example.Nope"}}),
        json!({"name": "x", "config": {"connector.class": "FileStreamSource"}}),
        json!({"config": {"connector.class": "FileStreamSource"}}),
    ] {
        both(&mut d, &k, &a, "POST", "/connectors", Some(body)).await;
    }
    for (method, path) in [
        ("GET", "/connectors/nope"),
        ("GET", "/connectors/nope/config"),
        ("GET", "/connectors/nope/status"),
        ("GET", "/connectors/nope/tasks"),
        ("GET", "/connectors/nope/tasks/0/status"),
        ("GET", "/connectors/nope/offsets"),
        ("PUT", "/connectors/nope/pause"),
        ("POST", "/connectors/nope/restart"),
        ("DELETE", "/connectors/nope"),
        ("GET", "/connectors/nope/topics"),
        ("PUT", "/connectors/nope/topics/reset"),
    ] {
        both(&mut d, &k, &a, method, path, None).await;
    }

    // A connector's life.
    both(
        &mut d,
        &k,
        &a,
        "POST",
        "/connectors",
        Some(json!({"name": "src", "config": source})),
    )
    .await;
    both(
        &mut d,
        &k,
        &a,
        "POST",
        "/connectors",
        Some(json!({"name": "src", "config": source})),
    )
    .await;
    settle(&k, &a, "src", "RUNNING", 1).await;
    for path in [
        "/connectors",
        "/connectors?expand=status",
        "/connectors?expand=info",
        "/connectors/src",
        "/connectors/src/config",
        "/connectors/src/status",
        "/connectors/src/tasks",
        "/connectors/src/tasks/0/status",
        "/connectors/src/tasks/3/status",
    ] {
        both(&mut d, &k, &a, "GET", path, None).await;
    }
    both(&mut d, &k, &a, "PUT", "/connectors/src/pause", None).await;
    settle(&k, &a, "src", "PAUSED", 1).await;
    both(&mut d, &k, &a, "GET", "/connectors/src/status", None).await;
    both(&mut d, &k, &a, "PUT", "/connectors/src/resume", None).await;
    settle(&k, &a, "src", "RUNNING", 1).await;
    both(&mut d, &k, &a, "POST", "/connectors/src/restart", None).await;
    both(
        &mut d,
        &k,
        &a,
        "POST",
        "/connectors/src/tasks/0/restart",
        None,
    )
    .await;
    both(
        &mut d,
        &k,
        &a,
        "POST",
        "/connectors/src/tasks/9/restart",
        None,
    )
    .await;
    settle(&k, &a, "src", "RUNNING", 1).await;
    both(
        &mut d,
        &k,
        &a,
        "PATCH",
        "/connectors/src/offsets",
        Some(json!({"offsets": [{"partition": {"filename": "x"}, "offset": {"position": 1}}]})),
    )
    .await;
    both(&mut d, &k, &a, "PUT", "/connectors/src/stop", None).await;
    settle(&k, &a, "src", "STOPPED", 0).await;
    both(&mut d, &k, &a, "GET", "/connectors/src/status", None).await;
    both(&mut d, &k, &a, "GET", "/connectors/src/offsets", None).await;
    both(
        &mut d,
        &k,
        &a,
        "PATCH",
        "/connectors/src/offsets",
        Some(json!({"offsets": [{"partition": {"nofilename": "x"}, "offset": {"position": 1}}]})),
    )
    .await;
    both(
        &mut d,
        &k,
        &a,
        "PATCH",
        "/connectors/src/offsets",
        Some(json!({"offsets": [{"partition": {"filename": input.to_str().unwrap()}, "offset": {"position": 4}}]})),
    )
    .await;
    both(&mut d, &k, &a, "GET", "/connectors/src/offsets", None).await;
    both(&mut d, &k, &a, "DELETE", "/connectors/src/offsets", None).await;
    both(&mut d, &k, &a, "GET", "/connectors/src/offsets", None).await;
    both(&mut d, &k, &a, "DELETE", "/connectors/src", None).await;
    both(&mut d, &k, &a, "GET", "/connectors", None).await;

    worker.stop().await;
    assert!(
        d.is_empty(),
        "{} answers differ from Apache Connect 4.4's:\n{}",
        d.len(),
        d.join("\n")
    );
}
