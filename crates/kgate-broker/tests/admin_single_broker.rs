//! Admin APIs with single-broker semantics over the raw protocol: DescribeLogDirs sizes,
//! partition reassignments (nothing to move), ElectLeaders (never needed), and SCRAM
//! credentials described, altered and used to log in.

mod support;

use std::time::Duration;

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterUserScramCredentialsRequest, ApiKey, BrokerId,
    DescribeLogDirsRequest, DescribeUserScramCredentialsRequest, ElectLeadersRequest,
    ListPartitionReassignmentsRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::producer::FutureRecord;
use support::*;
use tokio::net::TcpStream;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

async fn produce_some(addr: std::net::SocketAddr, topic: &str, n: usize) {
    let p = producer(addr, &[]);
    for i in 0..n {
        p.send(
            FutureRecord::to(topic)
                .key("k")
                .payload(&format!("value {i}")),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_dirs_reassignments_and_elections_answer_as_a_single_kafka_broker() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[("auto.create.topics.enable", "true")]).await;
    let topic = unique("admin");
    produce_some(broker.local_addr(), &topic, 5).await;
    let mut conn = TcpStream::connect(broker.local_addr()).await.unwrap();

    let ResponseKind::DescribeLogDirs(resp) = wire::call(
        &mut conn,
        RequestKind::DescribeLogDirs({
            let mut all = DescribeLogDirsRequest::default();
            all.topics = None;
            all
        }),
        ApiKey::DescribeLogDirs,
        4,
    )
    .await
    else {
        panic!("not a DescribeLogDirs response")
    };
    assert_eq!(resp.results.len(), 1);
    let logs = &resp.results[0];
    assert_eq!(logs.error_code, 0);
    assert!(logs.log_dir.ends_with("logs"), "{}", logs.log_dir.as_str());
    let mine = logs
        .topics
        .iter()
        .find(|t| t.name.as_str() == topic)
        .expect("the topic's partitions are listed");
    assert!(mine.partitions[0].partition_size > 0);

    let ResponseKind::ListPartitionReassignments(resp) = wire::call(
        &mut conn,
        RequestKind::ListPartitionReassignments(ListPartitionReassignmentsRequest::default()),
        ApiKey::ListPartitionReassignments,
        0,
    )
    .await
    else {
        panic!("not a ListPartitionReassignments response")
    };
    assert_eq!(resp.error_code, 0);
    assert!(resp.topics.is_empty());

    let part = |index: i32, replicas: Option<Vec<i32>>| {
        let mut p = ReassignablePartition::default();
        p.partition_index = index;
        p.replicas = replicas.map(|r| r.into_iter().map(BrokerId).collect());
        p
    };
    let mut t = ReassignableTopic::default();
    t.name = TopicName(s(&topic));
    t.partitions = vec![
        part(0, Some(vec![1])),
        part(0, Some(vec![2])),
        part(0, None),
        part(9, Some(vec![1])),
    ];
    let mut req = AlterPartitionReassignmentsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 30_000;
    let ResponseKind::AlterPartitionReassignments(resp) = wire::call(
        &mut conn,
        RequestKind::AlterPartitionReassignments(req),
        ApiKey::AlterPartitionReassignments,
        0,
    )
    .await
    else {
        panic!("not an AlterPartitionReassignments response")
    };
    let codes: Vec<i16> = resp.responses[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    // Already there; no such broker; nothing to cancel; no such partition.
    assert_eq!(codes, vec![0, 39, 85, 3]);

    let mut tp = TopicPartitions::default();
    tp.topic = TopicName(s(&topic));
    tp.partitions = vec![0, 7];
    let mut req = ElectLeadersRequest::default();
    req.topic_partitions = Some(vec![tp]);
    req.timeout_ms = 30_000;
    let ResponseKind::ElectLeaders(resp) = wire::call(
        &mut conn,
        RequestKind::ElectLeaders(req),
        ApiKey::ElectLeaders,
        2,
    )
    .await
    else {
        panic!("not an ElectLeaders response")
    };
    let codes: Vec<i16> = resp.replica_election_results[0]
        .partition_result
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, vec![84, 3]);
    broker.shutdown().await.unwrap();
}

/// PBKDF2-HMAC-SHA-256 as a client computes a salted password.
fn salted_password(password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut out = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        std::num::NonZeroU32::new(iterations).unwrap(),
        salt,
        password.as_bytes(),
        &mut out,
    );
    out.to_vec()
}

async fn describe_users(conn: &mut TcpStream) -> Vec<(String, Vec<i8>)> {
    let mut req = DescribeUserScramCredentialsRequest::default();
    req.users = None;
    let ResponseKind::DescribeUserScramCredentials(resp) = wire::call(
        conn,
        RequestKind::DescribeUserScramCredentials(req),
        ApiKey::DescribeUserScramCredentials,
        0,
    )
    .await
    else {
        panic!("not a DescribeUserScramCredentials response")
    };
    assert_eq!(resp.error_code, 0);
    resp.results
        .into_iter()
        .map(|r| {
            (
                r.user.to_string(),
                r.credential_infos.iter().map(|c| c.mechanism).collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_credentials_are_described_altered_durably_and_usable() {
    let dir = tempfile::tempdir().unwrap();
    let props = [("sasl.user.alice", "alice-secret")];
    let mut broker = start_in(dir.path(), &props).await;
    let mut conn = TcpStream::connect(broker.local_addr()).await.unwrap();
    assert_eq!(
        describe_users(&mut conn).await,
        vec![("alice".to_string(), vec![1, 2])]
    );

    let salt = b"0123456789abcdef".to_vec();
    let mut up = ScramCredentialUpsertion::default();
    up.name = s("carol");
    up.mechanism = 1;
    up.iterations = 8192;
    up.salt = salt.clone().into();
    up.salted_password = salted_password("carol-secret", &salt, 8192).into();
    let mut too_weak = up.clone();
    too_weak.name = s("dave");
    too_weak.iterations = 10;
    let mut del = ScramCredentialDeletion::default();
    del.name = s("alice");
    del.mechanism = 2;
    let mut req = AlterUserScramCredentialsRequest::default();
    req.upsertions = vec![up, too_weak];
    req.deletions = vec![del];
    let ResponseKind::AlterUserScramCredentials(resp) = wire::call(
        &mut conn,
        RequestKind::AlterUserScramCredentials(req),
        ApiKey::AlterUserScramCredentials,
        0,
    )
    .await
    else {
        panic!("not an AlterUserScramCredentials response")
    };
    let results: Vec<(String, i16)> = resp
        .results
        .iter()
        .map(|r| (r.user.to_string(), r.error_code))
        .collect();
    assert_eq!(
        results,
        vec![
            ("alice".into(), 0),
            ("carol".into(), 0),
            ("dave".into(), 93)
        ]
    );
    drop(conn);

    // Durable: a restarted broker still knows carol and that alice lost SHA-512.
    broker.shutdown().await.unwrap();
    broker = start_in(dir.path(), &props).await;
    let mut conn = TcpStream::connect(broker.local_addr()).await.unwrap();
    assert_eq!(
        describe_users(&mut conn).await,
        vec![
            ("alice".to_string(), vec![1]),
            ("carol".to_string(), vec![1])
        ]
    );
    let sasl = broker
        .add_listener(
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            "SASL_PLAINTEXT",
        )
        .unwrap();
    producer(
        sasl,
        &[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.username", "carol"),
            ("sasl.password", "carol-secret"),
        ],
    )
    .send(
        FutureRecord::to(&unique("carol")).key("k").payload("hi"),
        Duration::from_secs(30),
    )
    .await
    .expect("carol logs in with the credential set at run time");
    broker.shutdown().await.unwrap();
}
