//! ACLs: CreateAcls / DescribeAcls / DeleteAcls with every filter field, durable across a
//! restart, and enforced on produce, consume, groups, describe and transactions for a
//! SASL user while the plaintext listener's anonymous principal is a super user.

mod support;
mod txn_wire;

use std::time::{Duration, Instant};

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest, RequestKind, ResponseKind,
};
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, FutureRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use support::*;
use tokio::net::TcpStream;
use txn_wire::s;

// Kafka's codes: resource TOPIC 2, GROUP 3, CLUSTER 4; pattern ANY 1, MATCH 2,
// LITERAL 3, PREFIXED 4; operation ANY 1, ALL 2, READ 3, WRITE 4, DESCRIBE 8;
// permission ANY 1, DENY 2, ALLOW 3.
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const TRANSACTIONAL_ID: i8 = 5;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DESCRIBE: i8 = 8;
const ALLOW: i8 = 3;
const DENY: i8 = 2;

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
    txn_wire::create_topic(&mut admin, &topic, 1).await;

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
    txn_wire::create_topic(&mut admin, &topic, 1).await;
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
    txn_wire::create_topic(&mut admin, &other, 1).await;
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
    txn_wire::create_topic(&mut admin, &hidden, 1).await;
    txn_wire::create_topic(&mut admin, &shown, 1).await;
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

/// A transactional producer for alice on the SASL listener (not yet initialised).
fn alice_txn_producer(addr: std::net::SocketAddr, txn_id: &str) -> BaseProducer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", addr.to_string())
        .set("transactional.id", txn_id)
        .set("message.timeout.ms", "10000");
    for (k, v) in ALICE {
        c.set(*k, *v);
    }
    c.create().unwrap()
}

fn txn_error_code(e: KafkaError) -> RDKafkaErrorCode {
    match e {
        KafkaError::Transaction(e) => e.code(),
        other => panic!("not a transaction error: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_producer_needs_write_on_its_transactional_id_topics_and_group() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, sasl) = secured(dir.path()).await;
    let mut admin = TcpStream::connect(broker.local_addr()).await.unwrap();
    let topic = unique("acl-txn");
    let group = unique("acl-txn-group");
    let txn_id = unique("acl-tid");
    txn_wire::create_topic(&mut admin, &topic, 1).await;

    // No ACL on the transactional id: initialisation fails for good.
    let id = txn_id.clone();
    let err = tokio::task::spawn_blocking(move || {
        alice_txn_producer(sasl, &id)
            .init_transactions(DEADLINE)
            .expect_err("no WRITE on the transactional id")
    })
    .await
    .unwrap();
    assert_eq!(
        txn_error_code(err),
        RDKafkaErrorCode::TransactionalIdAuthorizationFailed
    );

    // WRITE on the id, DESCRIBE (but no WRITE) on the topic: the partition cannot join
    // the transaction, which then cannot commit.
    create_acls(
        &mut admin,
        vec![
            acl(
                TRANSACTIONAL_ID,
                &txn_id,
                LITERAL,
                "User:alice",
                WRITE,
                ALLOW,
            ),
            acl(TOPIC, &topic, LITERAL, "User:alice", DESCRIBE, ALLOW),
        ],
    )
    .await;
    let (id, t) = (txn_id.clone(), topic.clone());
    tokio::task::spawn_blocking(move || {
        let producer = alice_txn_producer(sasl, &id);
        producer.init_transactions(DEADLINE).unwrap();
        producer.begin_transaction().unwrap();
        producer
            .send(BaseRecord::<(), _>::to(&t).partition(0).payload("refused"))
            .unwrap();
        let err = producer
            .commit_transaction(DEADLINE)
            .expect_err("no WRITE on the topic");
        let KafkaError::Transaction(e) = &err else {
            panic!("not a transaction error: {err:?}")
        };
        assert!(e.txn_requires_abort(), "{err:?}");
        assert_eq!(
            e.code(),
            RDKafkaErrorCode::TopicAuthorizationFailed,
            "{err:?}"
        );
    })
    .await
    .unwrap();

    // With WRITE on the topic the transaction commits; offsets for a group without READ
    // are refused.
    create_acls(
        &mut admin,
        vec![acl(TOPIC, &topic, LITERAL, "User:alice", WRITE, ALLOW)],
    )
    .await;
    let (id, t, g) = (txn_id.clone(), topic.clone(), group.clone());
    tokio::task::spawn_blocking(move || {
        let producer = alice_txn_producer(sasl, &id);
        producer.init_transactions(DEADLINE).unwrap();
        producer.begin_transaction().unwrap();
        producer
            .send(
                BaseRecord::<(), _>::to(&t)
                    .partition(0)
                    .payload("committed"),
            )
            .unwrap();
        producer.commit_transaction(DEADLINE).unwrap();

        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", sasl.to_string())
            .set("group.id", &g)
            .create()
            .unwrap();
        let metadata = consumer.group_metadata().expect("group metadata");
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(&t, 0, Offset::Offset(1))
            .unwrap();
        producer.begin_transaction().unwrap();
        let err = producer
            .send_offsets_to_transaction(&offsets, &metadata, DEADLINE)
            .expect_err("no READ on the group");
        assert_eq!(
            txn_error_code(err),
            RDKafkaErrorCode::GroupAuthorizationFailed
        );
    })
    .await
    .unwrap();
    let got = read_messages(broker.local_addr(), &topic, 1, 1);
    assert_eq!(text(&got[0]), "committed");
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_requests_are_checked_per_transactional_id_group_and_topic() {
    use txn_wire::*;
    let dir = tempfile::tempdir().unwrap();
    // No super user: the anonymous principal may do what no ACL speaks about.
    let broker = start_in(
        dir.path(),
        &[
            ("authorizer.enabled", "true"),
            ("allow.everyone.if.no.acl.found", "true"),
        ],
    )
    .await;
    let anon = "User:ANONYMOUS";
    let mut c = TcpStream::connect(broker.local_addr()).await.unwrap();
    let [t_ok, t_no_write, t_no_read, t_hidden] =
        ["ok", "nowrite", "noread", "hidden"].map(|n| unique(&format!("acl-txn-{n}")));
    for t in [&t_ok, &t_no_write, &t_no_read, &t_hidden] {
        txn_wire::create_topic(&mut c, t, 1).await;
    }
    let [tid_ok, tid_denied, tid_hidden] =
        ["ok", "denied", "hidden"].map(|n| unique(&format!("acl-tid-{n}")));
    let [g_ok, g_denied] = ["ok", "denied"].map(|n| unique(&format!("acl-txn-group-{n}")));
    let p = init_producer_id(&mut c, Some(&tid_ok), 60_000)
        .await
        .unwrap();
    let denied_p = init_producer_id(&mut c, Some(&tid_denied), 60_000)
        .await
        .unwrap();
    init_producer_id(&mut c, Some(&tid_hidden), 60_000)
        .await
        .unwrap();
    create_acls(
        &mut c,
        vec![
            acl(TRANSACTIONAL_ID, &tid_denied, LITERAL, anon, WRITE, DENY),
            acl(TRANSACTIONAL_ID, &tid_hidden, LITERAL, anon, DESCRIBE, DENY),
            acl(TOPIC, &t_no_write, LITERAL, anon, WRITE, DENY),
            acl(TOPIC, &t_no_read, LITERAL, anon, READ, DENY),
            acl(TOPIC, &t_hidden, LITERAL, anon, WRITE, ALLOW),
            acl(TOPIC, &t_hidden, LITERAL, anon, DESCRIBE, DENY),
            acl(GROUP, &g_denied, LITERAL, anon, READ, DENY),
        ],
    )
    .await;

    // Every transactional API needs WRITE on the transactional id.
    assert_eq!(
        init_producer_id(&mut c, Some(&tid_denied), 60_000).await,
        Err(TXN_ID_DENIED)
    );
    assert_eq!(
        add_partitions(&mut c, &tid_denied, denied_p, &[(&t_ok, 0)]).await,
        [(t_ok.clone(), 0, TXN_ID_DENIED)]
    );
    assert_eq!(
        add_offsets(&mut c, &tid_denied, denied_p, &g_ok).await,
        TXN_ID_DENIED
    );
    assert_eq!(
        txn_offset_commit(&mut c, &tid_denied, denied_p, &g_ok, &[(&t_ok, 0, 1)]).await,
        [(t_ok.clone(), 0, TXN_ID_DENIED)]
    );
    assert_eq!(
        end_txn(&mut c, &tid_denied, denied_p, true).await,
        TXN_ID_DENIED
    );
    // An idempotent producer needs IDEMPOTENT_WRITE on the cluster (no ACL: allowed).
    assert!(init_producer_id(&mut c, None, 60_000).await.is_ok());

    // A refused topic stops the whole AddPartitionsToTxn.
    assert_eq!(
        add_partitions(&mut c, &tid_ok, p, &[(&t_ok, 0), (&t_no_write, 0)]).await,
        sorted(vec![
            (t_ok.clone(), 0, NOT_ATTEMPTED),
            (t_no_write.clone(), 0, TOPIC_DENIED),
        ])
    );
    let described = describe_transactions(&mut c, &[&tid_ok]).await;
    assert_eq!(described[0].transaction_state.as_str(), "Empty");
    assert!(described[0].topics.is_empty(), "{described:?}");
    assert_eq!(
        add_partitions(&mut c, &tid_ok, p, &[(&t_ok, 0), (&t_hidden, 0)]).await,
        sorted(vec![(t_ok.clone(), 0, 0), (t_hidden.clone(), 0, 0)])
    );

    // DescribeTransactions and ListTransactions show only what the caller may describe.
    let described = describe_transactions(&mut c, &[&tid_ok, &tid_hidden]).await;
    assert_eq!(described[0].error_code, 0);
    assert_eq!(described[0].transaction_state.as_str(), "Ongoing");
    let topics: Vec<&str> = described[0]
        .topics
        .iter()
        .map(|t| t.topic.as_str())
        .collect();
    assert_eq!(topics, [t_ok.as_str()]);
    let hidden = described
        .iter()
        .find(|d| d.transactional_id.as_str() == tid_hidden)
        .unwrap();
    assert_eq!(hidden.error_code, TXN_ID_DENIED);
    let (listed, _) = list_transactions(&mut c, ListFilter::default()).await;
    let ids: Vec<&str> = listed.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(ids, [tid_ok.as_str()]);

    // Offsets: READ on the group, then READ on each topic.
    assert_eq!(
        add_offsets(&mut c, &tid_ok, p, &g_denied).await,
        GROUP_DENIED
    );
    assert_eq!(add_offsets(&mut c, &tid_ok, p, &g_ok).await, 0);
    assert_eq!(
        txn_offset_commit(&mut c, &tid_ok, p, &g_denied, &[(&t_ok, 0, 1)]).await,
        [(t_ok.clone(), 0, GROUP_DENIED)]
    );
    assert_eq!(
        txn_offset_commit(
            &mut c,
            &tid_ok,
            p,
            &g_ok,
            &[(&t_ok, 0, 1), (&t_no_read, 0, 1)]
        )
        .await,
        sorted(vec![
            (t_ok.clone(), 0, 0),
            (t_no_read.clone(), 0, TOPIC_DENIED)
        ])
    );
    assert_eq!(end_txn(&mut c, &tid_ok, p, true).await, 0);

    // DescribeProducers needs READ on the topic.
    assert_eq!(
        describe_producers(&mut c, &[&t_ok, &t_no_read]).await,
        sorted(vec![(t_ok.clone(), 0), (t_no_read.clone(), TOPIC_DENIED)])
    );

    // FindCoordinator needs DESCRIBE on each key; v4 answers each key on its own.
    assert_eq!(
        find_coordinator(&mut c, 1, &[&tid_ok, &tid_hidden], 4).await,
        [(tid_ok.clone(), 0), (tid_hidden.clone(), TXN_ID_DENIED)]
    );
    assert_eq!(
        find_coordinator(&mut c, 1, &[&tid_hidden], 4).await,
        [(tid_hidden.clone(), TXN_ID_DENIED)]
    );
    assert_eq!(
        find_coordinator(&mut c, 1, &[&tid_hidden], 3).await,
        [(tid_hidden.clone(), TXN_ID_DENIED)]
    );
    assert_eq!(
        find_coordinator(&mut c, 1, &[&tid_ok], 3).await,
        [(tid_ok.clone(), 0)]
    );
    assert_eq!(
        find_coordinator(&mut c, 0, &[&g_denied, &g_ok], 4).await,
        [(g_denied.clone(), GROUP_DENIED), (g_ok.clone(), 0)]
    );
    broker.shutdown().await.unwrap();
}

const TOPIC_DENIED: i16 = 29;
const GROUP_DENIED: i16 = 30;
const TXN_ID_DENIED: i16 = 53;
const NOT_ATTEMPTED: i16 = 55;

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// The error code each cluster-level API answers (the first per-item code where the
/// API has no top-level one), sent over `stream`.
async fn cluster_api_codes(stream: &mut TcpStream) -> Vec<(ApiKey, i16)> {
    use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialDeletion;
    use kafka_protocol::messages::*;
    // Filters of ANY (1) in every field; the delete filter matches nobody's ACLs.
    let mut describe_acls = DescribeAclsRequest::default();
    describe_acls.resource_type_filter = 1;
    describe_acls.pattern_type_filter = 1;
    describe_acls.operation = 1;
    describe_acls.permission_type = 1;
    let mut delete_filter = DeleteAclsFilter::default();
    delete_filter.resource_type_filter = 1;
    delete_filter.pattern_type_filter = 1;
    delete_filter.operation = 1;
    delete_filter.permission_type = 1;
    delete_filter.principal_filter = Some(s("User:nobody"));
    let mut delete_acls = DeleteAclsRequest::default();
    delete_acls.filters = vec![delete_filter];
    let mut create_acls = CreateAclsRequest::default();
    create_acls.creations = vec![acl(TOPIC, "x", LITERAL, "User:bob", READ, ALLOW)];
    let mut deletion = ScramCredentialDeletion::default();
    deletion.name = s("nobody");
    deletion.mechanism = 1;
    let mut alter_scram = AlterUserScramCredentialsRequest::default();
    alter_scram.deletions = vec![deletion];
    let mut elect = ElectLeadersRequest::default();
    elect.timeout_ms = 30_000;
    let mut list_reassignments = ListPartitionReassignmentsRequest::default();
    list_reassignments.timeout_ms = 30_000;
    let mut alter_reassignments = AlterPartitionReassignmentsRequest::default();
    alter_reassignments.timeout_ms = 30_000;
    let requests = [
        (
            RequestKind::DescribeAcls(describe_acls),
            ApiKey::DescribeAcls,
            3,
        ),
        (RequestKind::CreateAcls(create_acls), ApiKey::CreateAcls, 3),
        (RequestKind::DeleteAcls(delete_acls), ApiKey::DeleteAcls, 3),
        (
            RequestKind::DescribeUserScramCredentials(Default::default()),
            ApiKey::DescribeUserScramCredentials,
            0,
        ),
        (
            RequestKind::AlterUserScramCredentials(alter_scram),
            ApiKey::AlterUserScramCredentials,
            0,
        ),
        (
            RequestKind::DescribeLogDirs(Default::default()),
            ApiKey::DescribeLogDirs,
            4,
        ),
        (
            RequestKind::ListPartitionReassignments(list_reassignments),
            ApiKey::ListPartitionReassignments,
            0,
        ),
        (
            RequestKind::AlterPartitionReassignments(alter_reassignments),
            ApiKey::AlterPartitionReassignments,
            0,
        ),
        (RequestKind::ElectLeaders(elect), ApiKey::ElectLeaders, 2),
    ];
    let mut out = Vec::new();
    for (request, key, version) in requests {
        let code = match wire::call(stream, request, key, version).await {
            ResponseKind::DescribeAcls(r) => r.error_code,
            ResponseKind::CreateAcls(r) => r.results[0].error_code,
            ResponseKind::DeleteAcls(r) => r.filter_results[0].error_code,
            ResponseKind::DescribeUserScramCredentials(r) => r.error_code,
            ResponseKind::AlterUserScramCredentials(r) => r.results[0].error_code,
            ResponseKind::DescribeLogDirs(r) => r.error_code,
            ResponseKind::ListPartitionReassignments(r) => r.error_code,
            ResponseKind::AlterPartitionReassignments(r) => r.error_code,
            ResponseKind::ElectLeaders(r) => r.error_code,
            other => panic!("unexpected {other:?}"),
        };
        out.push((key, code));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_apis_need_describe_or_alter_on_the_cluster() {
    const CLUSTER: i8 = 4;
    const ALTER: i8 = 7;
    const CLUSTER_DENIED: i16 = 31;
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(
        dir.path(),
        &[
            ("authorizer.enabled", "true"),
            ("allow.everyone.if.no.acl.found", "true"),
        ],
    )
    .await;
    let mut c = TcpStream::connect(broker.local_addr()).await.unwrap();
    // No ACL on the cluster: every API is let through.
    for (key, code) in cluster_api_codes(&mut c).await {
        assert_ne!(code, CLUSTER_DENIED, "{key:?} while allowed");
    }
    let anon = "User:ANONYMOUS";
    create_acls(
        &mut c,
        vec![
            acl(CLUSTER, "kafka-cluster", LITERAL, anon, DESCRIBE, ALLOW),
            acl(CLUSTER, "kafka-cluster", LITERAL, anon, ALTER, DENY),
        ],
    )
    .await;
    let alters = [
        ApiKey::CreateAcls,
        ApiKey::DeleteAcls,
        ApiKey::AlterUserScramCredentials,
        ApiKey::AlterPartitionReassignments,
        ApiKey::ElectLeaders,
    ];
    for (key, code) in cluster_api_codes(&mut c).await {
        if alters.contains(&key) {
            assert_eq!(code, CLUSTER_DENIED, "{key:?} needs ALTER");
        } else {
            assert_ne!(code, CLUSTER_DENIED, "{key:?} needs only DESCRIBE");
        }
    }
    broker.shutdown().await.unwrap();
}
