//! ACLs: CreateAcls / DescribeAcls / DeleteAcls with every filter field, durable across a
//! restart, and enforced on produce, consume, groups and describe for a SASL user while
//! the plaintext listener's anonymous principal is a super user.

mod support;

use std::time::{Duration, Instant};

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, CreateTopicsRequest, DeleteAclsRequest, DescribeAclsRequest,
    RequestKind, ResponseKind, TopicName, create_topics_request::CreatableTopic,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{ClientConfig, Message};
use support::*;
use tokio::net::TcpStream;

// Kafka's codes: resource TOPIC 2, GROUP 3, CLUSTER 4; pattern ANY 1, MATCH 2,
// LITERAL 3, PREFIXED 4; operation ANY 1, ALL 2, READ 3, WRITE 4, DESCRIBE 8;
// permission ANY 1, DENY 2, ALLOW 3.
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DESCRIBE: i8 = 8;
const ALLOW: i8 = 3;
const DENY: i8 = 2;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn acl(rt: i8, name: &str, pattern: i8, principal: &str, op: i8, perm: i8) -> AclCreation {
    let mut a = AclCreation::default();
    a.resource_type = rt;
    a.resource_name = s(name);
    a.resource_pattern_type = pattern;
    a.principal = s(principal);
    a.host = s("*");
    a.operation = op;
    a.permission_type = perm;
    a
}

async fn create_acls(stream: &mut TcpStream, acls: Vec<AclCreation>) {
    let n = acls.len();
    let mut req = CreateAclsRequest::default();
    req.creations = acls;
    let ResponseKind::CreateAcls(resp) =
        wire::call(stream, RequestKind::CreateAcls(req), ApiKey::CreateAcls, 3).await
    else {
        panic!("not a CreateAcls response")
    };
    assert_eq!(resp.results.len(), n, "{resp:?}");
    for r in resp.results {
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    }
}

/// (resource type, name, pattern, principal, operation, permission) of every described ACL.
async fn describe(
    stream: &mut TcpStream,
    rt: i8,
    name: Option<&str>,
    pattern: i8,
    principal: Option<&str>,
) -> Vec<(i8, String, i8, String, i8, i8)> {
    let mut req = DescribeAclsRequest::default();
    req.resource_type_filter = rt;
    req.resource_name_filter = name.map(s);
    req.pattern_type_filter = pattern;
    req.principal_filter = principal.map(s);
    req.host_filter = None;
    req.operation = 1;
    req.permission_type = 1;
    let ResponseKind::DescribeAcls(resp) = wire::call(
        stream,
        RequestKind::DescribeAcls(req),
        ApiKey::DescribeAcls,
        3,
    )
    .await
    else {
        panic!("not a DescribeAcls response")
    };
    assert_eq!(resp.error_code, 0);
    let mut out = Vec::new();
    for r in resp.resources {
        for a in r.acls {
            out.push((
                r.resource_type,
                r.resource_name.to_string(),
                r.pattern_type,
                a.principal.to_string(),
                a.operation,
                a.permission_type,
            ));
        }
    }
    out.sort();
    out
}

async fn create_topic(stream: &mut TcpStream, name: &str) {
    let mut t = CreatableTopic::default();
    t.name = TopicName(s(name));
    t.num_partitions = 1;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 30_000;
    let ResponseKind::CreateTopics(resp) = wire::call(
        stream,
        RequestKind::CreateTopics(req),
        ApiKey::CreateTopics,
        5,
    )
    .await
    else {
        panic!("not a CreateTopics response")
    };
    assert_eq!(resp.topics[0].error_code, 0);
}

/// A broker whose plaintext listener is a super user and whose second listener
/// authenticates `alice` with SASL/PLAIN.
async fn secured(dir: &std::path::Path) -> (kgate_broker::Broker, std::net::SocketAddr) {
    let mut broker = start_in(
        dir,
        &[
            ("authorizer.enabled", "true"),
            ("super.users", "User:ANONYMOUS;User:admin"),
            ("sasl.user.alice", "alice-secret"),
        ],
    )
    .await;
    let sasl = broker
        .add_listener(
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            "SASL_PLAINTEXT",
        )
        .unwrap();
    (broker, sasl)
}

const ALICE: &[(&str, &str)] = &[
    ("security.protocol", "SASL_PLAINTEXT"),
    ("sasl.mechanism", "PLAIN"),
    ("sasl.username", "alice"),
    ("sasl.password", "alice-secret"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_are_created_described_by_every_filter_deleted_and_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, _) = secured(dir.path()).await;
    let mut admin = TcpStream::connect(broker.local_addr()).await.unwrap();
    create_acls(
        &mut admin,
        vec![
            acl(TOPIC, "orders", LITERAL, "User:alice", READ, ALLOW),
            acl(TOPIC, "ord", PREFIXED, "User:bob", WRITE, ALLOW),
            acl(TOPIC, "*", LITERAL, "User:carol", DESCRIBE, DENY),
            acl(GROUP, "g1", LITERAL, "User:alice", READ, ALLOW),
        ],
    )
    .await;
    // ANY with a null name: everything.
    assert_eq!(describe(&mut admin, 1, None, 1, None).await.len(), 4);
    // Resource type and principal filters.
    assert_eq!(describe(&mut admin, GROUP, None, 1, None).await.len(), 1);
    assert_eq!(
        describe(&mut admin, 1, None, 1, Some("User:bob")).await,
        vec![(
            TOPIC,
            "ord".into(),
            PREFIXED,
            "User:bob".into(),
            WRITE,
            ALLOW
        )]
    );
    // LITERAL with a name matches that exact binding only.
    assert_eq!(
        describe(&mut admin, TOPIC, Some("orders"), LITERAL, None)
            .await
            .len(),
        1
    );
    // MATCH finds every binding that applies to `orders`: literal, prefix and wildcard.
    let matching = describe(&mut admin, TOPIC, Some("orders"), 2, None).await;
    assert_eq!(matching.len(), 3, "{matching:?}");
    // PREFIXED pattern filter.
    assert_eq!(
        describe(&mut admin, TOPIC, None, PREFIXED, None)
            .await
            .len(),
        1
    );

    let mut f = DeleteAclsFilter::default();
    f.resource_type_filter = TOPIC;
    f.pattern_type_filter = 1;
    f.principal_filter = Some(s("User:carol"));
    f.resource_name_filter = None;
    f.host_filter = None;
    f.operation = 1;
    f.permission_type = DENY;
    let mut req = DeleteAclsRequest::default();
    req.filters = vec![f];
    let ResponseKind::DeleteAcls(resp) = wire::call(
        &mut admin,
        RequestKind::DeleteAcls(req),
        ApiKey::DeleteAcls,
        3,
    )
    .await
    else {
        panic!("not a DeleteAcls response")
    };
    assert_eq!(resp.filter_results[0].error_code, 0);
    assert_eq!(resp.filter_results[0].matching_acls.len(), 1);
    assert_eq!(&*resp.filter_results[0].matching_acls[0].resource_name, "*");
    drop(admin);

    broker.shutdown().await.unwrap();
    let (broker, _) = secured(dir.path()).await;
    let mut admin = TcpStream::connect(broker.local_addr()).await.unwrap();
    let left = describe(&mut admin, 1, None, 1, None).await;
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(!left.iter().any(|a| a.3 == "User:carol"));
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_needs_write_and_a_deny_wins_over_an_allow() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, sasl) = secured(dir.path()).await;
    let mut admin = TcpStream::connect(broker.local_addr()).await.unwrap();
    let topic = unique("acl-produce");
    create_topic(&mut admin, &topic).await;

    let first = producer(sasl, &[ALICE, &[("message.timeout.ms", "10000")]].concat());
    let denied = first
        .send(
            FutureRecord::to(&topic).key("k").payload("no"),
            Duration::from_secs(30),
        )
        .await;
    let err = format!(
        "{:?}",
        denied.expect_err("produce without WRITE must fail").0
    );
    assert!(err.contains("TopicAuthorizationFailed"), "{err}");

    create_acls(
        &mut admin,
        vec![acl(
            TOPIC,
            "acl-produce-",
            PREFIXED,
            "User:alice",
            WRITE,
            ALLOW,
        )],
    )
    .await;
    let second = producer(sasl, ALICE);
    second
        .send(
            FutureRecord::to(&topic).key("k").payload("yes"),
            Duration::from_secs(30),
        )
        .await
        .expect("produce with a prefixed WRITE ACL");

    create_acls(
        &mut admin,
        vec![acl(TOPIC, &topic, LITERAL, "User:*", WRITE, DENY)],
    )
    .await;
    let third = producer(sasl, &[ALICE, &[("message.timeout.ms", "10000")]].concat());
    let denied = third
        .send(
            FutureRecord::to(&topic).key("k").payload("no"),
            Duration::from_secs(30),
        )
        .await;
    let err = format!("{:?}", denied.expect_err("DENY must win").0);
    assert!(err.contains("TopicAuthorizationFailed"), "{err}");
    // Only the allowed record landed.
    let got = read_messages(broker.local_addr(), &topic, 1, 1);
    assert_eq!(text(&got[0]), "yes");
    broker.shutdown().await.unwrap();
}

fn group_consumer(addr: std::net::SocketAddr, group: &str) -> StreamConsumer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", addr.to_string())
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000");
    for (k, v) in ALICE {
        c.set(*k, *v);
    }
    c.create().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consuming_in_a_group_needs_read_on_the_group_and_the_topic() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, sasl) = secured(dir.path()).await;
    let mut admin = TcpStream::connect(broker.local_addr()).await.unwrap();
    let topic = unique("acl-consume");
    let group = unique("acl-group");
    create_topic(&mut admin, &topic).await;
    producer(broker.local_addr(), &[])
        .send(
            FutureRecord::to(&topic).key("k").payload("secret"),
            Duration::from_secs(30),
        )
        .await
        .unwrap();

    // READ on the topic but nothing on the group: the group refuses.
    create_acls(
        &mut admin,
        vec![acl(TOPIC, &topic, LITERAL, "User:alice", READ, ALLOW)],
    )
    .await;
    let consumer = group_consumer(sasl, &group);
    consumer.subscribe(&[&topic]).unwrap();
    let err = tokio::time::timeout(DEADLINE, consumer.recv())
        .await
        .expect("an error within the deadline")
        .expect_err("group access must be refused");
    assert!(
        format!("{err:?}").contains("GroupAuthorizationFailed"),
        "{err:?}"
    );
    drop(consumer);

    // With READ on the group too, the record arrives.
    create_acls(
        &mut admin,
        vec![acl(GROUP, &group, LITERAL, "User:alice", READ, ALLOW)],
    )
    .await;
    let consumer = group_consumer(sasl, &group);
    consumer.subscribe(&[&topic]).unwrap();
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < DEADLINE, "record never arrived");
        match tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await {
            Ok(Ok(m)) => {
                assert_eq!(m.payload(), Some(&b"secret"[..]));
                break;
            }
            Ok(Err(e)) => panic!("consume failed: {e}"),
            Err(_) => {}
        }
    }
    drop(consumer);

    // A topic without READ: fetching it is refused even inside an allowed group.
    let other = unique("acl-other");
    create_topic(&mut admin, &other).await;
    create_acls(
        &mut admin,
        vec![acl(TOPIC, &other, LITERAL, "User:alice", DESCRIBE, ALLOW)],
    )
    .await;
    let consumer = group_consumer(sasl, &group);
    consumer.subscribe(&[&other]).unwrap();
    let err = tokio::time::timeout(DEADLINE, consumer.recv())
        .await
        .expect("an error within the deadline")
        .expect_err("topic read must be refused");
    assert!(
        format!("{err:?}").contains("TopicAuthorizationFailed"),
        "{err:?}"
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_the_principal_may_not_describe_is_hidden_from_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, sasl) = secured(dir.path()).await;
    let mut admin = TcpStream::connect(broker.local_addr()).await.unwrap();
    let hidden = unique("acl-hidden");
    let shown = unique("acl-shown");
    create_topic(&mut admin, &hidden).await;
    create_topic(&mut admin, &shown).await;
    create_acls(
        &mut admin,
        vec![acl(TOPIC, &shown, LITERAL, "User:alice", READ, ALLOW)],
    )
    .await;
    let alice = consumer(sasl, ALICE);
    let names: Vec<String> = tokio::task::spawn_blocking(move || {
        let md = alice.fetch_metadata(None, Duration::from_secs(30)).unwrap();
        md.topics().iter().map(|t| t.name().to_string()).collect()
    })
    .await
    .unwrap();
    assert!(names.contains(&shown), "READ implies DESCRIBE: {names:?}");
    assert!(!names.contains(&hidden), "{names:?}");
    // The super user sees both.
    let admin_client = consumer(broker.local_addr(), &[]);
    let all: Vec<String> = tokio::task::spawn_blocking(move || {
        let md = admin_client
            .fetch_metadata(None, Duration::from_secs(30))
            .unwrap();
        md.topics().iter().map(|t| t.name().to_string()).collect()
    })
    .await
    .unwrap();
    assert!(all.contains(&hidden) && all.contains(&shown));
    broker.shutdown().await.unwrap();
}
