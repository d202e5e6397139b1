//! Basic auth against the configured users on every endpoint, and `X-Kafka-Auth` used as
//! the SASL credentials of a socket's own Kafka clients, against the embedded broker with
//! SASL and ACLs on: a user produces and consumes what the ACLs allow, and is refused
//! (403) what they do not; a wrong password is refused (401) before the upgrade.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use common::*;
use kgate_kafka::native::acls::{
    AclBinding, AclOperation, AclPatternType, AclPermission, AclResourceType,
};
use kgate_kafka::{Kafka, KafkaConfig};
use serde_json::json;

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_guards_every_endpoint() {
    let cluster = TestCluster::start().await;
    let server = WsServer::start(
        cluster.kafka().clone(),
        config(&[
            ("basic.auth.user.alice", "s3cret"),
            ("basic.auth.realm", "kgate"),
        ]),
    )
    .await;
    let topic = unique_name("ws-basic");
    cluster.create_topic(&topic, 1).await;
    let client = reqwest::Client::new();

    for url in [
        format!("{}/healthcheck", server.http),
        format!("{}/kafka/cluster/info", server.http),
        format!("{}/admin/client/config", server.admin),
        format!("{}/admin/kafka/info", server.admin),
    ] {
        let r = client.get(&url).send().await.expect("request");
        assert_eq!(r.status().as_u16(), 401, "{url}");
        let challenge = r
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        assert_eq!(
            challenge.as_deref(),
            Some("Basic realm=\"kgate\",charset=UTF-8")
        );
        let body: serde_json::Value = r.json().await.expect("JSON");
        assert_eq!(
            body,
            json!({"message": "The resource requires authentication, which was not supplied with the request"})
        );
        let r = client
            .get(&url)
            .basic_auth("alice", Some("wrong"))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 401);
        let body: serde_json::Value = r.json().await.expect("JSON");
        assert_eq!(
            body,
            json!({"message": "The supplied authentication is invalid"})
        );
        let r = client
            .get(&url)
            .basic_auth("alice", Some("s3cret"))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 200, "{url}");
    }

    let url = format!("{}/socket/in?clientId=c&topic={topic}", server.ws);
    let (status, _) = refused(&url).await;
    assert_eq!(status, 401);
    let auth = format!("Basic {}", b64("alice:s3cret"));
    let mut socket = connect_with(&url, &[("Authorization", &auth)])
        .await
        .expect("accepted");
    send_json(
        &mut socket,
        &json!({"value": {"value": "hi", "format": "string"}}),
    )
    .await;
    assert!(next_json(&mut socket).await["offset"].is_i64());
    close(socket).await;
    server.stop().await;
    cluster.stop().await;
}

/// An embedded broker that authenticates with SASL/PLAIN and enforces ACLs: `admin` is
/// a super user (kgate's own clients), `alice` and `bob` are not.
struct SecuredCluster {
    broker: Option<kgate_broker::Broker>,
    kafka: Kafka,
    _dir: tempfile::TempDir,
}

async fn secured_cluster() -> SecuredCluster {
    let dir = tempfile::tempdir().expect("temporary directory");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mut broker_config = kgate_broker::BrokerConfig::new(dir.path().join("broker"));
    for (k, v) in [
        ("listener.security.protocol", "SASL_PLAINTEXT"),
        ("authorizer.enabled", "true"),
        ("super.users", "User:admin"),
        ("sasl.user.admin", "admin-secret"),
        ("sasl.user.alice", "alice-secret"),
        ("sasl.user.bob", "bob-secret"),
    ] {
        broker_config
            .properties
            .insert(k.to_string(), v.to_string());
    }
    let broker = kgate_broker::Broker::start(listener, broker_config)
        .await
        .expect("broker");
    let client = BTreeMap::from(
        [
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "admin"),
            ("sasl.password", "admin-secret"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let kafka = Kafka::connect(KafkaConfig {
        bootstrap_servers: broker.local_addr().to_string(),
        client,
        ..KafkaConfig::default()
    })
    .await
    .expect("client layer");
    SecuredCluster {
        broker: Some(broker),
        kafka,
        _dir: dir,
    }
}

fn allow(
    resource_type: AclResourceType,
    name: &str,
    user: &str,
    operation: AclOperation,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.to_string(),
        pattern_type: AclPatternType::Literal,
        principal: format!("User:{user}"),
        host: "*".to_string(),
        operation,
        permission: AclPermission::Allow,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_kafka_auth_credentials_are_the_sockets_own_and_acls_apply() {
    let mut cluster = secured_cluster().await;
    let kafka = cluster.kafka.clone();
    let topic = "alices-topic";
    kafka
        .create_topic(topic, 1, 1, &BTreeMap::new())
        .await
        .expect("topic");
    kafka
        .create_acls(&[
            allow(AclResourceType::Topic, topic, "alice", AclOperation::Write),
            allow(AclResourceType::Topic, topic, "alice", AclOperation::Read),
            allow(
                AclResourceType::Topic,
                topic,
                "alice",
                AclOperation::Describe,
            ),
            allow(
                AclResourceType::Group,
                "alices-group",
                "alice",
                AclOperation::Read,
            ),
        ])
        .await
        .expect("ACLs");
    let server = WsServer::start(kafka.clone(), config(&[])).await;
    let header = |user_password: &str| ("X-Kafka-Auth".to_string(), b64(user_password));

    // Alice may produce ...
    let url = format!("{}/socket/in?clientId=alice-app&topic={topic}", server.ws);
    let (k, v) = header("alice:alice-secret");
    let mut socket = connect_with(&url, &[(&k, &v)])
        .await
        .expect("alice may produce");
    for i in 0..3 {
        send_json(&mut socket, &json!({"value": {"value": format!("a{i}"), "format": "string"}, "messageId": i.to_string()})).await;
    }
    for i in 0..3 {
        let r = next_json(&mut socket).await;
        assert_eq!(r["clientMessageId"], json!(i.to_string()), "{r}");
        assert_eq!(r["offset"], json!(i), "{r}");
    }
    close(socket).await;

    // ... and consume in her group.
    let out = format!(
        "{}/socket/out?clientId=alice-reader&groupId=alices-group&topic={topic}",
        server.ws
    );
    let mut socket = connect_with(&out, &[(&k, &v)])
        .await
        .expect("alice may consume");
    for i in 0..3 {
        let r = next_json(&mut socket).await;
        assert_eq!(r["value"]["value"], json!(format!("a{i}")), "{r}");
    }
    close(socket).await;

    // Bob has no ACLs: refused before the upgrade, for producing and for consuming.
    let (k, v) = header("bob:bob-secret");
    for url in [
        format!("{}/socket/in?clientId=bob-app&topic={topic}", server.ws),
        format!(
            "{}/socket/out?clientId=bob-reader&groupId=bobs-group&topic={topic}",
            server.ws
        ),
    ] {
        match connect_with(&url, &[(&k, &v)]).await {
            Err((403, body)) => assert!(body["message"].is_string(), "{body}"),
            Err(other) => panic!("{url}: {other:?}"),
            Ok(_) => panic!("{url}: bob was let in"),
        }
    }

    // A wrong password is refused as unauthenticated; a header that is not base64 too.
    let (k, v) = header("alice:wrong");
    let url = format!("{}/socket/in?clientId=alice-app&topic={topic}", server.ws);
    match connect_with(&url, &[(&k, &v)]).await {
        Err((401, body)) => assert!(body["message"].is_string(), "{body}"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a wrong password was let in"),
    }
    match connect_with(&url, &[("X-Kafka-Auth", "%%%")]).await {
        Err((status, _)) => assert_eq!(status, 401),
        Ok(_) => panic!("a bad header was let in"),
    }

    // Only Alice's three records are in the topic.
    let landed = read_all(&kafka, topic).await;
    assert_eq!(landed, vec!["a0", "a1", "a2"]);

    server.stop().await;
    kafka.close().await;
    if let Some(broker) = cluster.broker.take() {
        broker.shutdown().await.expect("broker shutdown");
    }
}

/// Every value of partition 0 of `topic`, read through kgate's client layer as admin.
async fn read_all(kafka: &Kafka, topic: &str) -> Vec<String> {
    use kgate_kafka::consumer::{ConsumerSettings, ReadLimits, TopicPartition};
    let consumer = kafka
        .create_consumer(ConsumerSettings {
            group_id: unique_name("check"),
            client_id: "check".to_string(),
            overrides: BTreeMap::from([("auto.offset.reset".to_string(), "earliest".to_string())]),
        })
        .await
        .expect("consumer");
    consumer
        .assign(vec![TopicPartition {
            topic: topic.to_string(),
            partition: 0,
        }])
        .await
        .expect("assign");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        let records = consumer
            .read(ReadLimits {
                timeout: Duration::from_millis(300),
                max_bytes: 1 << 20,
                min_bytes: 1,
            })
            .await
            .expect("read");
        if records.is_empty() && !out.is_empty() {
            break;
        }
        out.extend(
            records.iter().map(|r| {
                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()
            }),
        );
    }
    let _ = consumer.close().await;
    out
}
