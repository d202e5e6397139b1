//! `/socket/in`: every format type and parameter, result frames in order with the
//! client's message ids, error frames for bad frames (nothing acknowledged lost), the
//! refusals before the upgrade, and transactions; what landed is read back with rdkafka.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::{Value, json};

fn frame(key: Option<(Value, &str)>, value: (Value, &str), id: &str) -> Value {
    let mut f = json!({"value": {"value": value.0, "format": value.1}, "messageId": id});
    if let Some((k, fmt)) = key {
        f["key"] = json!({"value": k, "format": fmt});
    }
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_type_lands_as_the_java_serializers_write_it() {
    let cluster = TestCluster::start().await;
    let server = WsServer::start(cluster.kafka().clone(), config(&[])).await;
    let topic = unique_name("ws-in-types");
    cluster.create_topic(&topic, 3).await;

    // (keyType, valType, key, value, expected key bytes, expected value bytes)
    type Case = (&'static str, &'static str, Value, Value, Vec<u8>, Vec<u8>);
    let cases: Vec<Case> = vec![
        (
            "string",
            "string",
            json!("k1"),
            json!("v1"),
            b"k1".to_vec(),
            b"v1".to_vec(),
        ),
        (
            "string",
            "json",
            json!("k2"),
            json!({"a": [1, 2]}),
            b"k2".to_vec(),
            br#"{"a":[1,2]}"#.to_vec(),
        ),
        (
            "int",
            "long",
            json!(-5),
            json!(1_i64 << 40),
            (-5_i32).to_be_bytes().to_vec(),
            (1_i64 << 40).to_be_bytes().to_vec(),
        ),
        (
            "short",
            "double",
            json!(7),
            json!(2.5),
            7_i16.to_be_bytes().to_vec(),
            2.5_f64.to_be_bytes().to_vec(),
        ),
        (
            "long",
            "float",
            json!(9),
            json!(0.25),
            9_i64.to_be_bytes().to_vec(),
            0.25_f32.to_be_bytes().to_vec(),
        ),
        (
            "json",
            "int",
            json!({"id": 1}),
            json!(42),
            br#"{"id":1}"#.to_vec(),
            42_i32.to_be_bytes().to_vec(),
        ),
        (
            "double",
            "short",
            json!(1.5),
            json!(-2),
            1.5_f64.to_be_bytes().to_vec(),
            (-2_i16).to_be_bytes().to_vec(),
        ),
        (
            "float",
            "byte_array",
            json!(3.0),
            json!("AAEC"),
            3.0_f32.to_be_bytes().to_vec(),
            vec![0, 1, 2],
        ),
    ];
    let mut expected = Vec::new();
    for (i, (kt, vt, k, v, kb, vb)) in cases.into_iter().enumerate() {
        let url = format!(
            "{}/socket/in?clientId=c{i}&topic={topic}&keyType={kt}&valType={vt}",
            server.ws
        );
        let mut socket = connect(&url).await;
        let id = format!("m-{i}");
        send_json(&mut socket, &frame(Some((k, kt)), (v, vt), &id)).await;
        let result = next_json(&mut socket).await;
        assert_eq!(result["topic"], json!(topic), "{result}");
        assert_eq!(result["clientMessageId"], json!(id), "{result}");
        assert!(
            result["offset"].as_i64().is_some_and(|o| o >= 0),
            "{result}"
        );
        assert!(
            result["timestamp"].as_i64().is_some_and(|t| t > 0),
            "{result}"
        );
        let partition = result["partition"].as_i64().expect("partition") as i32;
        expected.push((partition, result["offset"].as_i64().unwrap_or(-1), kb, vb));
        close(socket).await;
    }

    let landed = cluster
        .consume_all(&topic, expected.len(), Duration::from_secs(30))
        .await;
    assert_eq!(landed.len(), expected.len());
    for (partition, offset, key, value) in expected {
        let r = landed
            .iter()
            .find(|r| r.partition == partition && r.offset == offset)
            .unwrap_or_else(|| panic!("no record at {partition}/{offset}"));
        assert_eq!(r.key.as_deref(), Some(key.as_slice()));
        assert_eq!(r.value.as_deref(), Some(value.as_slice()));
    }
    server.stop().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_come_in_order_and_bad_frames_get_error_frames_in_their_place() {
    let cluster = TestCluster::start().await;
    let server = WsServer::start(cluster.kafka().clone(), config(&[])).await;
    let topic = unique_name("ws-in-order");
    cluster.create_topic(&topic, 2).await;
    let url = format!(
        "{}/socket/in?clientId=orders&topic={topic}&valType=int",
        server.ws
    );
    let mut socket = connect(&url).await;

    // Many records at once, with headers and without keys, bad frames in between.
    let mut sent = Vec::new();
    for i in 0..200 {
        match i % 50 {
            10 => {
                send_text(&mut socket, "{not json").await;
                sent.push(None);
            }
            20 => {
                send_json(
                    &mut socket,
                    &frame(None, (json!("seven"), "int"), &format!("bad-{i}")),
                )
                .await;
                sent.push(Some(format!("bad-{i}")));
            }
            30 => {
                send_json(&mut socket, &json!({"messageId": format!("novalue-{i}")})).await;
                sent.push(Some(format!("novalue-{i}")));
            }
            _ => {
                let mut f = frame(None, (json!(i), "int"), &format!("m-{i}"));
                f["headers"] = json!([{"key": "n", "value": i.to_string()}]);
                send_json(&mut socket, &f).await;
                sent.push(Some(format!("m-{i}")));
            }
        }
    }
    let mut good = 0;
    for expected in &sent {
        let answer = next_json(&mut socket).await;
        match expected.as_deref() {
            Some(id) if id.starts_with("m-") => {
                assert_eq!(answer["clientMessageId"], json!(id), "{answer}");
                assert!(answer.get("error").is_none(), "{answer}");
                good += 1;
            }
            Some(id) => {
                assert_eq!(answer["clientMessageId"], json!(id), "{answer}");
                assert!(answer["error"].is_string(), "{answer}");
            }
            None => {
                assert!(
                    answer["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("not valid JSON")),
                    "{answer}"
                );
            }
        }
    }
    close(socket).await;

    let landed = cluster
        .consume_all(&topic, good, Duration::from_secs(30))
        .await;
    assert_eq!(
        landed.len(),
        good,
        "exactly the acknowledged records landed"
    );
    for r in &landed {
        let value = i32::from_be_bytes(
            r.value
                .as_deref()
                .expect("value")
                .try_into()
                .expect("4 bytes"),
        );
        assert_eq!(
            r.headers,
            vec![("n".to_string(), Some(value.to_string().into_bytes()))]
        );
        assert!(r.key.is_none());
    }
    server.stop().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_are_refused_before_the_upgrade_with_the_originals_answers() {
    let cluster = TestCluster::start().await;
    let server = WsServer::start(cluster.kafka().clone(), config(&[])).await;
    let topic = unique_name("ws-in-refused");
    cluster.create_topic(&topic, 1).await;
    let base = format!("{}/socket/in", server.ws);

    let cases = [
        (
            format!("{base}?topic={topic}"),
            "Request is missing required parameter 'clientId'",
        ),
        (
            format!("{base}?clientId=c"),
            "Request is missing required parameter 'topic'",
        ),
        (
            format!("{base}?clientId=c&topic={topic}&valType=avro9"),
            "The query parameter 'valType' was malformed:\navro9 is not a valid format type",
        ),
        (
            format!("{base}?clientId=c&topic=no-such-topic"),
            "Topic no-such-topic does not exist",
        ),
        (
            format!("{base}?clientId=c&topic={topic}&transactional=true&instanceId=i"),
            "Transactional producers are not enabled on this proxy (ws.producer.exactly.once.enable)",
        ),
        (
            format!("{base}?clientId=c&topic={topic}&socketPayload=avro"),
            "The query parameter 'socketPayload' was malformed:\navro is not a valid socket payload; the proxy speaks json",
        ),
    ];
    for (url, message) in cases {
        let (status, body) = refused(&url).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(body, json!({"message": message}), "{url}");
    }
    // A plain HTTP request is not a socket.
    let (status, body) = get(&format!(
        "{}/socket/in?clientId=c&topic={topic}",
        server.http
    ))
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"message": "Expected WebSocket Upgrade request"})
        )
    );
    let (status, body) = get(&format!("{}/nowhere", server.http)).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"message": "This is not the resource you are looking for."})
        )
    );

    server.stop().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_and_cluster_info() {
    let cluster = TestCluster::start().await;
    let server = WsServer::start(cluster.kafka().clone(), config(&[])).await;
    let (status, body) = get(&format!("{}/healthcheck", server.http)).await;
    assert_eq!((status, body), (200, json!({"response": "I'm healthy"})));
    let (status, body) = get(&format!("{}/kafka/cluster/info", server.http)).await;
    assert_eq!(status, 200, "{body}");
    let brokers = body.as_array().expect("a list of brokers");
    assert_eq!(brokers.len(), 1);
    let port = cluster
        .bootstrap()
        .rsplit_once(':')
        .map(|(_, p)| p.to_string())
        .unwrap_or_default();
    assert_eq!(brokers[0]["port"].to_string(), port);
    assert!(
        brokers[0]["id"].is_i64() && brokers[0]["host"].is_string(),
        "{body}"
    );
    server.stop().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_sockets_are_read_committed_and_a_rate_limit_paces_records() {
    let cluster = TestCluster::start().await;
    let server = WsServer::start(
        cluster.kafka().clone(),
        config(&[
            ("producer.exactly.once.enable", "true"),
            ("producer.limits.slow.messages-per-second", "5"),
        ]),
    )
    .await;
    let topic = unique_name("ws-in-txn");
    cluster.create_topic(&topic, 1).await;

    let url = format!(
        "{}/socket/in?clientId=tx&instanceId=one&topic={topic}&transactional=true",
        server.ws
    );
    let mut socket = connect(&url).await;
    for i in 0..20 {
        send_json(
            &mut socket,
            &frame(None, (json!(format!("t{i}")), "string"), &format!("m{i}")),
        )
        .await;
    }
    for i in 0..20 {
        let r = next_json(&mut socket).await;
        assert_eq!(r["clientMessageId"], json!(format!("m{i}")), "{r}");
        assert!(r.get("error").is_none(), "{r}");
    }
    close(socket).await;
    let committed = read_committed(&cluster.bootstrap(), &topic, 20).await;
    assert_eq!(
        committed,
        (0..20).map(|i| format!("t{i}")).collect::<Vec<_>>(),
        "a read_committed consumer sees every acknowledged record"
    );

    // messages-per-second = 5: ten records need at least ~1.8 s.
    let url = format!("{}/socket/in?clientId=slow&topic={topic}", server.ws);
    let mut socket = connect(&url).await;
    let started = Instant::now();
    for i in 0..10 {
        send_json(
            &mut socket,
            &frame(None, (json!(i.to_string()), "string"), "r"),
        )
        .await;
    }
    for _ in 0..10 {
        next_json(&mut socket).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1700),
        "{:?}",
        started.elapsed()
    );
    close(socket).await;
    server.stop().await;
    cluster.stop().await;
}

/// Values of `topic` as a read_committed consumer sees them, once `count` arrived.
async fn read_committed(bootstrap: &str, topic: &str, count: usize) -> Vec<String> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", unique_name("rc"))
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Beginning)
            .expect("partition");
        consumer.assign(&tpl).expect("assign");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut out = Vec::new();
        while out.len() < count && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            }
        }
        out
    })
    .await
    .expect("reader")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_what_was_taken_and_closes_with_1001() {
    let cluster = TestCluster::start().await;
    let server = WsServer::start(
        cluster.kafka().clone(),
        config(&[("max.frame.bytes", "4096")]),
    )
    .await;
    let topic = unique_name("ws-in-shutdown");
    cluster.create_topic(&topic, 1).await;

    // A frame over ws.max.frame.bytes closes the socket with 1009.
    let url = format!("{}/socket/in?clientId=big&topic={topic}", server.ws);
    let mut socket = connect(&url).await;
    send_json(
        &mut socket,
        &frame(None, (json!("x".repeat(8000)), "string"), "big"),
    )
    .await;
    match next_frame(&mut socket, FRAME_WAIT).await {
        Some(Frame::Closed(code, _)) => assert_eq!(code, 1009),
        other => panic!("expected a close, got {other:?}"),
    }

    let url = format!("{}/socket/in?clientId=s&topic={topic}", server.ws);
    let mut producing = connect(&url).await;
    let out = format!("{}/socket/out?clientId=s&topic={topic}", server.ws);
    let mut consuming = connect(&out).await;
    for i in 0..500 {
        send_json(
            &mut producing,
            &frame(None, (json!(i.to_string()), "string"), &i.to_string()),
        )
        .await;
    }
    let stopping = tokio::spawn(server.stop());
    // Every record the proxy took is answered before the close; none is lost.
    let mut answered = 0;
    loop {
        match next_frame(&mut producing, FRAME_WAIT).await {
            Some(Frame::Json(r)) => {
                assert_eq!(r["clientMessageId"], json!(answered.to_string()), "{r}");
                answered += 1;
            }
            Some(Frame::Closed(code, reason)) => {
                assert_eq!(code, 1001, "{reason}");
                break;
            }
            None => panic!("no close"),
        }
    }
    let closed = loop {
        match next_frame(&mut consuming, FRAME_WAIT).await {
            Some(Frame::Json(_)) => continue,
            Some(Frame::Closed(code, _)) => break code,
            None => panic!("the consumer socket was not closed"),
        }
    };
    assert_eq!(closed, 1001);
    stopping.await.expect("server stopped");
    let landed = cluster
        .consume_all(&topic, answered, Duration::from_secs(30))
        .await;
    assert_eq!(
        landed.len(),
        answered,
        "every answered record landed, and only those"
    );
    cluster.stop().await;
}
