//! The Connect REST API against a real worker on the embedded broker: every endpoint,
//! with Apache Kafka Connect 4.4's status codes and error bodies, and what the worker
//! wrote to its topics.

mod common;

use std::time::Duration;

use common::{Worker, call, eventually, settings, states};
use kgate_testkit::{TestCluster, unique_name};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_lifecycle_through_the_rest_api() {
    let cluster = TestCluster::start().await;
    let prefix = unique_name("api");
    let worker = Worker::start(cluster.kafka().clone(), &settings(&prefix, &[])).await;
    let url = &worker.url;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "a\nb\nc\n").unwrap();
    let topic = unique_name("api-topic");
    let source = json!({
        "connector.class": "FileStreamSource",
        "file": input.to_str().unwrap(),
        "topic": topic,
    });

    // Root, health, plugins.
    let (status, root) = call("GET", &format!("{url}/"), None).await;
    assert_eq!(status, 200);
    assert_eq!(root["version"], "4.4.0");
    assert!(
        root["kafka_cluster_id"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{root}"
    );
    let (status, health) = call("GET", &format!("{url}/health"), None).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("healthy")));
    let (status, plugins) = call("GET", &format!("{url}/connector-plugins"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        plugins,
        json!([
            {"class": "org.apache.kafka.connect.file.FileStreamSinkConnector", "type": "sink", "version": "4.4.0"},
            {"class": "org.apache.kafka.connect.file.FileStreamSourceConnector", "type": "source", "version": "4.4.0"},
        ])
    );
    let (_, all) = call(
        "GET",
        &format!("{url}/connector-plugins?connectorsOnly=false"),
        None,
    )
    .await;
    assert!(all.as_array().unwrap().iter().any(|p| p["class"]
        == "org.apache.kafka.connect.json.JsonConverter"
        && p["type"] == "converter"));
    let (status, defs) = call(
        "GET",
        &format!("{url}/connector-plugins/FileStreamSource/config"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(defs[0]["name"], "file");
    assert_eq!(defs[1]["required"], true);
    let (status, e) = call("GET", &format!("{url}/connector-plugins/Nope/config"), None).await;
    assert_eq!(
        (status, e),
        (
            404,
            json!({"error_code": 404, "message": "Unknown plugin Nope."})
        )
    );
    let (status, infos) = call(
        "PUT",
        &format!("{url}/connector-plugins/FileStreamSource/config/validate"),
        Some(&json!({"connector.class": "FileStreamSource", "batch.size": "abc"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(infos["error_count"], 3, "{infos}");
    assert_eq!(infos["groups"][0], "Common");

    // Bad creations: Apache's 400 and 409 bodies.
    let (status, e) = call(
        "POST",
        &format!("{url}/connectors"),
        Some(&json!({"name": "bad", "config": {"connector.class": "com.example.Nope"}})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(e["message"].as_str().unwrap().starts_with("Failed to find any class that implements Connector and which name matches com.example.Nope"), "{e}");
    assert_eq!(e["error_code"], 400);
    let (status, e) = call(
        "POST",
        &format!("{url}/connectors"),
        Some(&json!({"name": "bad", "config": {"connector.class": "FileStreamSource"}})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        e["message"],
        "Connector configuration is invalid and contains the following 1 error(s):\nMissing required configuration \"topic\" which has no default value.\nYou can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`"
    );
    let (status, _) = call(
        "POST",
        &format!("{url}/connectors"),
        Some(&json!({"config": {"connector.class": "FileStreamSource", "topic": "t"}})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, e) = call(
        "POST",
        &format!("{url}/connectors"),
        Some(&json!({"name": "x"})),
    )
    .await;
    assert_eq!((status, e["error_code"].as_u64()), (400, Some(400)));
    let (status, e) = call(
        "POST",
        &format!("{url}/connectors"),
        Some(&json!("not an object")),
    )
    .await;
    assert_eq!((status, e["error_code"].as_u64()), (400, Some(400)));
    let (status, _) = call(
        "POST",
        &format!("{url}/connectors"),
        Some(&json!({"name": "x", "config": source, "initial_state": "BOGUS"})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, e) = call(
        "PUT",
        &format!("{url}/connectors/src/config"),
        Some(&json!({"connector.class": "FileStreamSource", "topic": "t", "name": "other"})),
    )
    .await;
    assert_eq!(
        (status, e["message"].as_str()),
        (
            400,
            Some(
                "Connector name configuration (other) doesn't match connector name in the URL (src)"
            )
        )
    );
    assert_eq!(
        call("GET", &format!("{url}/connectors"), None).await,
        (200, json!([]))
    );

    // Create, and see it run.
    let (status, created) = call(
        "POST",
        &format!("{url}/connectors"),
        Some(&json!({"name": "src", "config": source})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let mut expected_config = source.clone();
    expected_config["name"] = json!("src");
    assert_eq!(
        created,
        json!({"name": "src", "config": expected_config, "tasks": [], "type": "source"})
    );
    let (status, e) = call(
        "POST",
        &format!("{url}/connectors"),
        Some(&json!({"name": "src", "config": source})),
    )
    .await;
    assert_eq!(
        (status, e),
        (
            409,
            json!({"error_code": 409, "message": "Connector src already exists"})
        )
    );
    eventually("src running", Duration::from_secs(30), || async {
        states(url, "src")
            .await
            .filter(|(c, t)| c == "RUNNING" && t == &["RUNNING"])
    })
    .await;
    // The task is RUNNING before its first records (and their topic) exist.
    eventually("the topic", Duration::from_secs(30), || async {
        let meta = cluster.kafka().fresh_metadata().await.ok()?;
        meta.topics.contains_key(&topic).then_some(())
    })
    .await;
    let records = cluster
        .consume_all(&topic, 3, Duration::from_secs(30))
        .await;
    let values: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect();
    assert_eq!(
        values[0],
        r#"{"schema":{"type":"string","optional":false},"payload":"a"}"#
    );
    assert_eq!(values.len(), 3);

    assert_eq!(
        call("GET", &format!("{url}/connectors"), None).await,
        (200, json!(["src"]))
    );
    let (_, info) = call("GET", &format!("{url}/connectors/src"), None).await;
    assert_eq!(info["tasks"], json!([{"connector": "src", "task": 0}]));
    let (_, expanded) = call(
        "GET",
        &format!("{url}/connectors?expand=info&expand=status"),
        None,
    )
    .await;
    assert_eq!(expanded["src"]["info"], info);
    assert_eq!(expanded["src"]["status"]["connector"]["state"], "RUNNING");
    let (_, config) = call("GET", &format!("{url}/connectors/src/config"), None).await;
    assert_eq!(config, expected_config);
    let (_, tasks) = call("GET", &format!("{url}/connectors/src/tasks"), None).await;
    assert_eq!(tasks[0]["id"], json!({"connector": "src", "task": 0}));
    assert_eq!(
        tasks[0]["config"]["task.class"],
        "org.apache.kafka.connect.file.FileStreamSourceTask"
    );
    let (status, task) = call("GET", &format!("{url}/connectors/src/tasks/0/status"), None).await;
    assert_eq!(
        (status, task["id"].as_u64(), task["state"].as_str()),
        (200, Some(0), Some("RUNNING"))
    );
    let (status, e) = call("GET", &format!("{url}/connectors/src/tasks/5/status"), None).await;
    assert_eq!(
        (status, e["message"].as_str()),
        (404, Some("No status found for task src-5"))
    );
    assert_eq!(
        call("GET", &format!("{url}/connectors/src/topics"), None).await,
        (200, json!({"src": {"topics": [topic]}}))
    );
    let (status, _) = call("GET", &format!("{url}/connectors/src/tasks-config"), None).await;
    assert_eq!(status, 404);

    // Forgetting the topics a connector used: 202, as Apache answers (for any name), and
    // a tombstone for the topic's record in the status topic.
    assert_eq!(
        call("PUT", &format!("{url}/connectors/src/topics/reset"), None).await,
        (202, serde_json::Value::Null)
    );
    assert_eq!(
        call("GET", &format!("{url}/connectors/src/topics"), None).await,
        (200, json!({"src": {"topics": []}}))
    );
    let status_topic = format!("{prefix}-status");
    let topic_key = format!("status-topic-{topic}:connector-src");
    let history = common::read_all(cluster.kafka(), &status_topic).await;
    let last = history
        .iter()
        .rev()
        .find(|r| r.key.as_deref() == Some(topic_key.as_bytes()))
        .expect("the topic's status record");
    assert_eq!(last.value, None, "the reset writes a tombstone");
    assert!(
        history
            .iter()
            .any(|r| r.key.as_deref() == Some(topic_key.as_bytes()) && r.value.is_some()),
        "the topic was recorded before the reset"
    );
    assert_eq!(
        call("PUT", &format!("{url}/connectors/nope/topics/reset"), None)
            .await
            .0,
        202
    );
    assert_eq!(
        call("GET", &format!("{url}/connectors/nope/topics"), None).await,
        (200, json!({"nope": {"topics": []}}))
    );

    // Pause, resume, restart.
    assert_eq!(
        call("PUT", &format!("{url}/connectors/src/pause"), None)
            .await
            .0,
        202
    );
    eventually("src paused", Duration::from_secs(30), || async {
        states(url, "src")
            .await
            .filter(|(c, t)| c == "PAUSED" && t == &["PAUSED"])
    })
    .await;
    assert_eq!(
        call("PUT", &format!("{url}/connectors/src/resume"), None)
            .await
            .0,
        202
    );
    eventually("src resumed", Duration::from_secs(30), || async {
        states(url, "src")
            .await
            .filter(|(c, t)| c == "RUNNING" && t == &["RUNNING"])
    })
    .await;
    assert_eq!(
        call("POST", &format!("{url}/connectors/src/restart"), None)
            .await
            .0,
        204
    );
    let (status, restarting) = call(
        "POST",
        &format!("{url}/connectors/src/restart?includeTasks=true&onlyFailed=false"),
        None,
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(restarting["connector"]["state"], "RESTARTING");
    assert_eq!(restarting["tasks"][0]["state"], "RESTARTING");
    assert_eq!(
        call(
            "POST",
            &format!("{url}/connectors/src/tasks/0/restart"),
            None
        )
        .await
        .0,
        204
    );
    let (status, e) = call(
        "POST",
        &format!("{url}/connectors/src/tasks/7/restart"),
        None,
    )
    .await;
    assert_eq!(
        (status, e["message"].as_str()),
        (404, Some("Unknown task: src-7"))
    );
    let (status, e) = call(
        "PATCH",
        &format!("{url}/connectors/src/offsets"),
        Some(&json!({"offsets": [{"partition": {"filename": "x"}, "offset": {"position": 1}}]})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("Connectors must be in the STOPPED state"),
        "{e}"
    );

    // Stop, and work with offsets.
    assert_eq!(
        call("PUT", &format!("{url}/connectors/src/stop"), None)
            .await
            .0,
        204
    );
    eventually("src stopped", Duration::from_secs(30), || async {
        states(url, "src")
            .await
            .filter(|(c, t)| c == "STOPPED" && t.is_empty())
    })
    .await;
    let (status, offsets) = call("GET", &format!("{url}/connectors/src/offsets"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        offsets,
        json!({"offsets": [{"partition": {"filename": input.to_str().unwrap()}, "offset": {"position": 6}}]})
    );
    let (status, answer) = call("PATCH", &format!("{url}/connectors/src/offsets"), Some(&json!({"offsets": [{"partition": {"filename": input.to_str().unwrap()}, "offset": {"position": 2}}]}))).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({"message": "The offsets for this connector have been altered successfully"})
        )
    );
    let (_, offsets) = call("GET", &format!("{url}/connectors/src/offsets"), None).await;
    assert_eq!(offsets["offsets"][0]["offset"], json!({"position": 2}));
    let (status, e) = call(
        "PATCH",
        &format!("{url}/connectors/src/offsets"),
        Some(&json!({"offsets": [{"partition": {"fn": "x"}, "offset": {"position": 2}}]})),
    )
    .await;
    assert_eq!(
        (status, e["message"].as_str()),
        (
            500,
            Some("Partition objects should contain the key 'filename'")
        )
    );
    let (status, e) = call(
        "PATCH",
        &format!("{url}/connectors/src/offsets"),
        Some(&json!({})),
    )
    .await;
    assert_eq!(
        (status, e["message"].as_str()),
        (
            400,
            Some("Partitions / offsets need to be provided for an alter offsets request")
        )
    );
    let (status, answer) = call("DELETE", &format!("{url}/connectors/src/offsets"), None).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({"message": "The offsets for this connector have been reset successfully"})
        )
    );
    assert_eq!(
        call("GET", &format!("{url}/connectors/src/offsets"), None).await,
        (200, json!({"offsets": []}))
    );

    // Config updates: PUT (200 when it exists, 201 when it creates), PATCH.
    let (status, _) = call(
        "PUT",
        &format!("{url}/connectors/other/config"),
        Some(&source),
    )
    .await;
    assert_eq!(status, 201);
    let (status, updated) = call(
        "PATCH",
        &format!("{url}/connectors/other/config"),
        Some(&json!({"batch.size": "10", "file": null})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["config"]["batch.size"], "10");
    assert!(updated["config"].get("file").is_none());

    // Delete.
    assert_eq!(
        call("DELETE", &format!("{url}/connectors/src"), None)
            .await
            .0,
        204
    );
    let (status, e) = call("DELETE", &format!("{url}/connectors/src"), None).await;
    assert_eq!(
        (status, e),
        (
            404,
            json!({"error_code": 404, "message": "Connector src not found"})
        )
    );
    let (status, e) = call("GET", &format!("{url}/connectors/src/status"), None).await;
    assert_eq!(
        (status, e["message"].as_str()),
        (404, Some("No status found for connector src"))
    );
    assert_eq!(
        call("PUT", &format!("{url}/connectors/src/pause"), None)
            .await
            .0,
        404
    );
    let (status, e) = call("GET", &format!("{url}/no/such/path"), None).await;
    assert_eq!(
        (status, e),
        (
            404,
            json!({"error_code": 404, "message": "HTTP 404 Not Found"})
        )
    );

    // Loggers.
    let (status, set) = call(
        "PUT",
        &format!("{url}/admin/loggers/org.example"),
        Some(&json!({"level": "DEBUG"})),
    )
    .await;
    assert_eq!((status, set), (200, json!(["org.example"])));
    let (_, loggers) = call("GET", &format!("{url}/admin/loggers"), None).await;
    assert_eq!(loggers, json!({"org.example": {"level": "DEBUG"}}));
    let (status, _) = call(
        "PUT",
        &format!("{url}/admin/loggers/org.example"),
        Some(&json!({"level": "LOUD"})),
    )
    .await;
    assert_eq!(status, 404);
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_goes_through_a_topic_into_another_file() {
    let cluster = TestCluster::start().await;
    let prefix = unique_name("pipe");
    let worker = Worker::start(cluster.kafka().clone(), &settings(&prefix, &[])).await;
    let url = &worker.url;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    let output = dir.path().join("out.txt");
    let lines: Vec<String> = (0..5000).map(|i| format!("line {i} ünïcode")).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let topic = unique_name("pipe-topic");
    let (status, _) = call(
        "POST",
        &format!("{url}/connectors"),
        Some(&json!({"name": "source", "config": {
            "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
            "file": input.to_str().unwrap(), "topic": topic,
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        }})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        "POST",
        &format!("{url}/connectors"),
        Some(&json!({"name": "sink", "config": {
            "connector.class": "FileStreamSink", "file": output.to_str().unwrap(), "topics": topic,
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        }})),
    )
    .await;
    assert_eq!(status, 201);
    let written = eventually("the sink file", Duration::from_secs(60), || async {
        let text = std::fs::read_to_string(&output).unwrap_or_default();
        (text.lines().count() >= lines.len()).then_some(text)
    })
    .await;
    let got: Vec<&str> = written.lines().collect();
    assert_eq!(got, lines.iter().map(String::as_str).collect::<Vec<_>>());
    // The topic holds the plain strings, and the sink's offsets are in its group.
    let records = cluster
        .consume_all(&topic, lines.len(), Duration::from_secs(30))
        .await;
    assert_eq!(records.len(), lines.len());
    assert_eq!(records[0].value.as_deref(), Some(lines[0].as_bytes()));
    let offsets = eventually("sink offsets", Duration::from_secs(30), || async {
        let (_, o) = call("GET", &format!("{url}/connectors/sink/offsets"), None).await;
        (o["offsets"][0]["offset"]["kafka_offset"] == json!(lines.len())).then_some(o)
    })
    .await;
    assert_eq!(
        offsets["offsets"][0]["partition"],
        json!({"kafka_partition": 0, "kafka_topic": topic})
    );
    worker.stop().await;
}
