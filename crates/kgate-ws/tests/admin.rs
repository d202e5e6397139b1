//! The admin server: `/admin/kafka/info` and every `/admin/client/config` route with the
//! seed's JSON shapes; dynamic limits kept in Kafka and enforced by another kgate
//! instance on the same cluster; connection limits across two instances.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_config_routes_answer_with_the_seeds_shapes() {
    let cluster = TestCluster::start().await;
    let server = WsServer::start(
        cluster.kafka().clone(),
        config(&[
            ("consumer.limits.consumer-group-2.max-connections", "2"),
            ("consumer.limits.consumer-group-2.messages-per-second", "10"),
            ("producer.limits.producer-1.max-connections", "1"),
            ("producer.limits.producer-1.messages-per-second", "10"),
        ]),
    )
    .await;
    let admin = &server.admin;

    let (status, info) = get(&format!("{admin}/admin/kafka/info")).await;
    assert_eq!(status, 200);
    assert_eq!(info.as_array().map(Vec::len), Some(1), "{info}");

    let (status, all) = get(&format!("{admin}/admin/client/config")).await;
    assert_eq!(status, 200);
    assert_eq!(
        all,
        json!({
            "consumers": {
                "static": [
                    {"batch-size": 0, "group-id": "__DEFAULT__", "max-connections": 0, "messages-per-second": 0},
                    {"group-id": "consumer-group-2", "max-connections": 2, "messages-per-second": 10}
                ],
                "dynamic": []
            },
            "producers": {
                "static": [
                    {"max-connections": 0, "messages-per-second": 0, "producer-id": "__DEFAULT__"},
                    {"max-connections": 1, "messages-per-second": 10, "producer-id": "producer-1"}
                ],
                "dynamic": []
            }
        })
    );

    let consumer = json!({"group-id": "test-consumer-2", "max-connections": 3, "messages-per-second": 300, "batch-size": 100});
    let url = format!("{admin}/admin/client/config/consumer/test-consumer-2");
    assert_eq!(get(&url).await.0, 404);
    assert_eq!(
        request(Method::PUT, &url, Some(&consumer)).await.0,
        404,
        "PUT of an unknown config"
    );
    assert_eq!(request(Method::POST, &url, Some(&consumer)).await.0, 200);
    assert_eq!(get(&url).await, (200, consumer.clone()));
    let updated = json!({"group-id": "test-consumer-2", "max-connections": 5, "messages-per-second": 300, "batch-size": 100});
    assert_eq!(request(Method::PUT, &url, Some(&updated)).await.0, 200);
    assert_eq!(get(&url).await, (200, updated.clone()));
    // The static config of an id is shown when it has no dynamic one.
    assert_eq!(
        get(&format!(
            "{admin}/admin/client/config/consumer/consumer-group-2"
        ))
        .await,
        (
            200,
            json!({"group-id": "consumer-group-2", "max-connections": 2, "messages-per-second": 10})
        )
    );

    let producer =
        json!({"max-connections": 3, "messages-per-second": 300, "producer-id": "test-producer-2"});
    // POST without an id in the path, as the original's route takes it.
    assert_eq!(
        request(
            Method::POST,
            &format!("{admin}/admin/client/config/producer"),
            Some(&producer)
        )
        .await
        .0,
        200
    );
    let purl = format!("{admin}/admin/client/config/producer/test-producer-2");
    assert_eq!(get(&purl).await, (200, producer.clone()));

    let (_, all) = get(&format!("{admin}/admin/client/config")).await;
    assert_eq!(all["consumers"]["dynamic"], json!([updated]));
    assert_eq!(all["producers"]["dynamic"], json!([producer]));

    // Wrong bodies.
    let (status, body) = request(Method::POST, &url, Some(&json!({"producer-id": "x"}))).await;
    assert_eq!(
        (status, body),
        (400, json!({"message": "Invalid JSON for consumer config."}))
    );
    let (status, body) = request(Method::POST, &url, Some(&json!({"group-id": "other"}))).await;
    assert_eq!(
        (status, body),
        (400, json!({"message": "The given id is not valid."}))
    );
    let (status, body) = request(
        Method::PUT,
        &purl,
        Some(&json!({"producer-id": "test-producer-2", "max-connections": "many"})),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"message": "Invalid JSON for producer config."}))
    );

    assert_eq!(request(Method::DELETE, &url, None).await.0, 200);
    assert_eq!(request(Method::DELETE, &url, None).await.0, 404);
    assert_eq!(
        request(
            Method::DELETE,
            &format!("{admin}/admin/client/config"),
            None
        )
        .await
        .0,
        200
    );
    let (_, all) = get(&format!("{admin}/admin/client/config")).await;
    assert_eq!(all["producers"]["dynamic"], json!([]));
    assert_eq!(
        all["producers"]["static"].as_array().map(Vec::len),
        Some(2),
        "static configs stay"
    );
    assert_eq!(get(&format!("{admin}/admin/nowhere")).await.0, 404);

    // The records are in the dynamic config topic, keyed as the original keys them.
    let landed = cluster
        .consume_all("_wsproxy.dynamic.configs", 5, Duration::from_secs(30))
        .await;
    let keys: Vec<String> = landed
        .iter()
        .map(|r| String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned())
        .collect();
    assert!(
        keys.contains(&"consumer-test-consumer-2".to_string()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"producer-test-producer-2".to_string()),
        "{keys:?}"
    );
    assert!(
        landed.iter().any(|r| r.value.is_none()),
        "removals are tombstones"
    );
    server.stop().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_configs_are_switched_off_with_405() {
    let cluster = TestCluster::start().await;
    let server = WsServer::start(
        cluster.kafka().clone(),
        config(&[("dynamic.config.enable", "false")]),
    )
    .await;
    let url = format!("{}/admin/client/config/producer/p", server.admin);
    let body = json!({"producer-id": "p", "max-connections": 1});
    assert_eq!(request(Method::POST, &url, Some(&body)).await.0, 405);
    assert_eq!(request(Method::DELETE, &url, None).await.0, 405);
    assert_eq!(
        request(
            Method::DELETE,
            &format!("{}/admin/client/config", server.admin),
            None
        )
        .await
        .0,
        405
    );
    let (status, all) = get(&format!("{}/admin/client/config", server.admin)).await;
    assert_eq!(
        (status, all["consumers"]["dynamic"].clone()),
        (200, json!([]))
    );
    server.stop().await;
    cluster.stop().await;
}

/// Opens a socket, retrying while `url` is refused (a change is still on its way to the
/// instance answering).
async fn connect_eventually(url: &str) -> Socket {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match connect_with(url, &[]).await {
            Ok(s) => return s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{url} refused: {e:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_across_two_instances_on_one_cluster() {
    let cluster = TestCluster::start().await;
    let a = WsServer::start(
        cluster.kafka().clone(),
        config(&[
            ("server.id", "node-a"),
            ("producer.sessions.enable", "true"),
        ]),
    )
    .await;
    let b = WsServer::start(
        cluster.kafka().clone(),
        config(&[
            ("server.id", "node-b"),
            ("producer.sessions.enable", "true"),
        ]),
    )
    .await;
    let topic = unique_name("ws-two");
    cluster.create_topic(&topic, 4).await;

    // A dynamic limit set through instance A's admin server ...
    let limit = json!({"group-id": "shared", "max-connections": 2});
    let url = format!("{}/admin/client/config/consumer/shared", a.admin);
    assert_eq!(request(Method::POST, &url, Some(&limit)).await.0, 200);
    // ... is seen by instance B.
    let deadline = Instant::now() + Duration::from_secs(15);
    while get(&format!("{}/admin/client/config/consumer/shared", b.admin)).await
        != (200, limit.clone())
    {
        assert!(
            Instant::now() < deadline,
            "instance B never saw the dynamic config"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let out = |server: &WsServer, client: &str| {
        format!(
            "{}/socket/out?clientId={client}&groupId=shared&topic={topic}",
            server.ws
        )
    };
    let s1 = connect(&out(&a, "c1")).await;
    let s2 = connect_eventually(&out(&b, "c2")).await;
    // The group has its two sockets, one on each instance: a third is refused by both.
    for server in [&a, &b] {
        let (status, body) = refused(&out(server, "c3")).await;
        assert_eq!(status, 400);
        assert_eq!(
            body["message"],
            json!("The max number of WebSockets for session shared has been reached. Limit is 2")
        );
    }
    // The same client id on the other instance is refused as already registered.
    let (_, body) = refused(&out(&b, "c1")).await;
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("already registered")),
        "{body}"
    );
    close(s1).await;
    let s3 = connect_eventually(&out(&b, "c3")).await;

    // Producer sessions: a static limit of one socket per client id, across instances.
    let limits = [
        ("server.id", "node-c"),
        ("producer.sessions.enable", "true"),
        ("producer.limits.p.max-connections", "1"),
    ];
    let c = WsServer::start(cluster.kafka().clone(), config(&limits)).await;
    let limits_d = [
        ("server.id", "node-d"),
        ("producer.sessions.enable", "true"),
        ("producer.limits.p.max-connections", "1"),
    ];
    let d = WsServer::start(cluster.kafka().clone(), config(&limits_d)).await;
    let inn = |server: &WsServer, instance: &str| {
        format!(
            "{}/socket/in?clientId=p&instanceId={instance}&topic={topic}",
            server.ws
        )
    };
    let (status, body) = refused(&format!("{}/socket/in?clientId=p&topic={topic}", c.ws)).await;
    assert_eq!(
        (status, body["message"].clone()),
        (
            400,
            json!("Producer sessions are enabled: the instanceId parameter is required")
        )
    );
    let p1 = connect(&inn(&c, "i1")).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match connect_with(&inn(&d, "i2"), &[]).await {
            Err((400, body)) => {
                assert_eq!(
                    body["message"],
                    json!(
                        "The max number of WebSockets for session p has been reached. Limit is 1"
                    )
                );
                break;
            }
            Ok(s) => {
                // Instance D had not read C's socket yet; it must see it soon.
                close(s).await;
                assert!(
                    Instant::now() < deadline,
                    "instance D never saw instance C's producer"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    close(p1).await;
    let p2 = connect_eventually(&inn(&d, "i2")).await;

    // The session records are in the original's format.
    let landed = cluster
        .consume_all("_wsproxy.session.state", 1, Duration::from_secs(30))
        .await;
    let last_shared = landed
        .iter()
        .rev()
        .find(|r| r.key.as_deref() == Some(b"shared".as_slice()))
        .and_then(|r| serde_json::from_slice::<serde_json::Value>(r.value.as_deref()?).ok())
        .expect("a session record for the group");
    assert_eq!(last_shared["session_type"], json!("ConsumerSession"));
    assert_eq!(last_shared["maxConnections"], json!(2));

    for s in [s2, s3, p2] {
        close(s).await;
    }
    for server in [a, b, c, d] {
        server.stop().await;
    }
    cluster.stop().await;
}
