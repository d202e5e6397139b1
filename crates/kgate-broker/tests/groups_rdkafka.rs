//! The group coordinator driven by librdkafka (through rdkafka) against the embedded
//! broker: rebalancing, committed offsets (also across a restart), static membership,
//! and group administration. Raw protocol requests cover what rdkafka does not expose.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, GroupId, ListGroupsRequest, RequestKind, ResponseKind,
    describe_groups_response,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

use support::{DEADLINE, start_in, unique};

/// Counts the rebalances a consumer goes through.
#[derive(Default)]
struct Counting {
    assigns: AtomicUsize,
    revokes: AtomicUsize,
}

impl ClientContext for Counting {}

impl ConsumerContext for Counting {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if matches!(rebalance, Rebalance::Revoke(_)) {
            self.revokes.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if matches!(rebalance, Rebalance::Assign(_)) {
            self.assigns.fetch_add(1, Ordering::SeqCst);
        }
    }
}

type GroupConsumer = BaseConsumer<Counting>;

/// A consumer of `group` with short timeouts so rebalances are quick.
fn group_consumer(
    addr: SocketAddr,
    group: &str,
    client_id: &str,
    instance: Option<&str>,
) -> GroupConsumer {
    group_consumer_with(addr, group, client_id, instance, &[])
}

/// Like `group_consumer`, with further settings.
fn group_consumer_with(
    addr: SocketAddr,
    group: &str,
    client_id: &str,
    instance: Option<&str>,
    extra: &[(&str, &str)],
) -> GroupConsumer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", addr.to_string())
        .set("group.id", group)
        .set("client.id", client_id)
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "300")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    if let Some(instance) = instance {
        c.set("group.instance.id", instance);
    }
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create_with_context(Counting::default())
        .expect("consumer")
}

fn admin(addr: SocketAddr) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", addr.to_string())
        .create()
        .expect("admin client")
}

async fn create_topic(addr: SocketAddr, name: &str, partitions: i32) {
    let results = admin(addr)
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

/// The partitions of `topic` assigned to `consumer`.
fn assigned(consumer: &GroupConsumer, topic: &str) -> BTreeSet<i32> {
    consumer
        .assignment()
        .map(|tpl| {
            tpl.elements()
                .iter()
                .filter(|e| e.topic() == topic)
                .map(|e| e.partition())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls every consumer (which runs their rebalance callbacks) until `done` holds.
fn poll_until(consumers: &[&GroupConsumer], what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    loop {
        for c in consumers {
            // Messages are not the point here; polling drives the group protocol.
            let _ = c.poll(Duration::from_millis(20));
        }
        if done() {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
    }
}

/// Runs blocking rdkafka code off the async workers, which serve the broker.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

/// DescribeGroups (v5) of one group over the raw protocol.
async fn describe_group(
    stream: &mut tokio::net::TcpStream,
    group: &str,
) -> describe_groups_response::DescribedGroup {
    let mut req = DescribeGroupsRequest::default();
    req.groups = vec![GroupId(s(group))];
    let ResponseKind::DescribeGroups(mut resp) = support::wire::call(
        stream,
        RequestKind::DescribeGroups(req),
        ApiKey::DescribeGroups,
        5,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(resp.groups.len(), 1, "{resp:?}");
    resp.groups.remove(0)
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// Two members split 4 partitions; when one leaves, the other gets all 4 back.
async fn two_members_split_and_the_survivor_takes_all(strategy: &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let topic = unique("groups-split");
    create_topic(addr, &topic, 4).await;
    let group = unique("g-split");
    blocking(move || {
        let settings = [("partition.assignment.strategy", strategy)];
        let a = group_consumer_with(addr, &group, "member-a", None, &settings);
        a.subscribe(&[&topic]).unwrap();
        poll_until(&[&a], "a owns all 4 partitions", || {
            assigned(&a, &topic).len() == 4
        });

        let b = group_consumer_with(addr, &group, "member-b", None, &settings);
        b.subscribe(&[&topic]).unwrap();
        poll_until(&[&a, &b], "a and b own 2 partitions each", || {
            let (pa, pb) = (assigned(&a, &topic), assigned(&b, &topic));
            pa.len() == 2 && pb.len() == 2 && pa.is_disjoint(&pb)
        });
        assert!(a.context().revokes.load(Ordering::SeqCst) >= 1);

        // b closes (LeaveGroup); a alone gets everything back.
        drop(b);
        poll_until(&[&a], "a owns all 4 partitions again", || {
            assigned(&a, &topic).len() == 4
        });
    })
    .await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_partitions_and_the_survivor_takes_all_when_one_leaves() {
    two_members_split_and_the_survivor_takes_all("range").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cooperative_protocol_rebalances_incrementally_too() {
    two_members_split_and_the_survivor_takes_all("cooperative-sticky").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_keep_their_metadata_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let topic = unique("groups-commit");
    create_topic(addr, &topic, 3).await;
    let standalone = unique("g-standalone");
    let member_group = unique("g-member");

    let (t, g1, g2) = (topic.clone(), standalone.clone(), member_group.clone());
    blocking(move || {
        // A consumer that never joins commits with generation -1, as Kafka allows.
        let c = group_consumer(addr, &g1, "committer", None);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&t, 0, Offset::Offset(5)).unwrap();
        tpl.add_partition_offset(&t, 1, Offset::Offset(7)).unwrap();
        tpl.find_partition(&t, 0)
            .unwrap()
            .set_metadata("checkpoint-0");
        c.commit(&tpl, CommitMode::Sync).expect("standalone commit");

        // A member commits within its generation.
        let m = group_consumer(addr, &g2, "member", None);
        m.subscribe(&[&t]).unwrap();
        poll_until(&[&m], "the member owns 3 partitions", || {
            assigned(&m, &t).len() == 3
        });
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&t, 2, Offset::Offset(11)).unwrap();
        tpl.find_partition(&t, 2)
            .unwrap()
            .set_metadata("member-meta");
        m.commit(&tpl, CommitMode::Sync).expect("member commit");
    })
    .await;

    let check = |addr: SocketAddr| {
        let (t, g1, g2) = (topic.clone(), standalone.clone(), member_group.clone());
        blocking(move || {
            let reader = group_consumer(addr, &g1, "reader", None);
            let mut query = TopicPartitionList::new();
            for p in 0..3 {
                query.add_partition(&t, p);
            }
            let got = reader
                .committed_offsets(query.clone(), DEADLINE)
                .expect("committed offsets");
            let p0 = got.find_partition(&t, 0).unwrap();
            assert_eq!(p0.offset(), Offset::Offset(5));
            assert_eq!(p0.metadata(), "checkpoint-0");
            assert_eq!(
                got.find_partition(&t, 1).unwrap().offset(),
                Offset::Offset(7)
            );
            assert_eq!(got.find_partition(&t, 2).unwrap().offset(), Offset::Invalid);

            let reader = group_consumer(addr, &g2, "reader", None);
            let got = reader
                .committed_offsets(query, DEADLINE)
                .expect("committed offsets");
            let p2 = got.find_partition(&t, 2).unwrap();
            assert_eq!(p2.offset(), Offset::Offset(11));
            assert_eq!(p2.metadata(), "member-meta");
        })
    };
    check(addr).await;

    broker.shutdown().await.unwrap();
    let broker = start_in(dir.path(), &[]).await;
    check(broker.local_addr()).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_static_member_takes_its_partitions_back_without_a_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let topic = unique("groups-static");
    create_topic(addr, &topic, 4).await;
    let group = unique("g-static");
    let (t, g) = (topic.clone(), group.clone());
    let (b_assigns, b_revokes, a_partitions, b_id) = blocking(move || {
        let a = group_consumer(addr, &g, "static-a", Some("instance-a"));
        let b = group_consumer(addr, &g, "static-b", Some("instance-b"));
        a.subscribe(&[&t]).unwrap();
        b.subscribe(&[&t]).unwrap();
        poll_until(&[&a, &b], "a and b own 2 partitions each", || {
            let (pa, pb) = (assigned(&a, &t), assigned(&b, &t));
            pa.len() == 2 && pb.len() == 2 && pa.is_disjoint(&pb)
        });
        let groups = b.fetch_group_list(Some(&g), DEADLINE).expect("describe");
        let b_id = groups.groups()[0]
            .members()
            .iter()
            .find(|m| m.client_id() == "static-b")
            .map(|m| m.id().to_string())
            .expect("b is a member");
        let a_partitions = assigned(&a, &t);
        // A static member does not leave the group when it closes.
        drop(a);
        let b_assigns = b.context().assigns.load(Ordering::SeqCst);
        let b_revokes = b.context().revokes.load(Ordering::SeqCst);
        let restarted = group_consumer(addr, &g, "static-a-again", Some("instance-a"));
        restarted.subscribe(&[&t]).unwrap();
        poll_until(
            &[&restarted, &b],
            "the restarted instance gets its partitions",
            || assigned(&restarted, &t) == a_partitions,
        );
        // A rebalance, had there been one, started when the instance rejoined; give b a
        // few heartbeats to hear of it.
        let quiet_until = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < quiet_until {
            let _ = b.poll(Duration::from_millis(50));
            let _ = restarted.poll(Duration::from_millis(50));
        }
        assert_eq!(assigned(&b, &t).len(), 2);
        let described = b.fetch_group_list(Some(&g), DEADLINE).expect("describe");
        let info = &described.groups()[0];
        assert_eq!(info.state(), "Stable");
        assert_eq!(info.members().len(), 2);
        assert!(
            info.members()
                .iter()
                .any(|m| m.client_id() == "static-a-again")
        );
        assert!(
            info.members().iter().any(|m| m.id() == b_id),
            "b kept its member id"
        );
        let b_now = (
            b.context().assigns.load(Ordering::SeqCst),
            b.context().revokes.load(Ordering::SeqCst),
        );
        (b_now.0 - b_assigns, b_now.1 - b_revokes, a_partitions, b_id)
    })
    .await;
    assert_eq!((b_assigns, b_revokes), (0, 0), "b went through a rebalance");
    assert_eq!(a_partitions.len(), 2);

    // DescribeGroups v5 shows the instance ids.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let described = describe_group(&mut stream, &group).await;
    let instances: BTreeSet<String> = described
        .members
        .iter()
        .filter_map(|m| m.group_instance_id.as_ref().map(|i| i.to_string()))
        .collect();
    assert_eq!(
        instances,
        BTreeSet::from(["instance-a".to_string(), "instance-b".to_string()])
    );
    assert!(
        described
            .members
            .iter()
            .any(|m| m.member_id.as_str() == b_id)
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_listed_described_and_deleted_once_empty() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let topic = unique("groups-admin");
    create_topic(addr, &topic, 2).await;
    let group = unique("g-admin");

    let (t, g) = (topic.clone(), group.clone());
    let consumer = blocking(move || {
        let c = group_consumer(addr, &g, "described-client", None);
        c.subscribe(&[&t]).unwrap();
        poll_until(&[&c], "the member owns 2 partitions", || {
            assigned(&c, &t).len() == 2
        });
        let list = c.fetch_group_list(Some(&g), DEADLINE).expect("describe");
        let info = &list.groups()[0];
        assert_eq!(info.name(), g);
        assert_eq!(info.state(), "Stable");
        assert_eq!(info.protocol_type(), "consumer");
        assert_eq!(info.protocol(), "range");
        let member = &info.members()[0];
        assert_eq!(member.client_id(), "described-client");
        assert_eq!(member.client_host(), "/127.0.0.1");
        assert!(member.metadata().is_some_and(|m| !m.is_empty()));
        assert!(member.assignment().is_some_and(|a| !a.is_empty()));
        let all = c.fetch_group_list(None, DEADLINE).expect("list");
        assert!(all.groups().iter().any(|i| i.name() == g));
        c
    })
    .await;

    // ListGroups v4 filters by state.
    let list = |states: &[&str]| {
        let mut req = ListGroupsRequest::default();
        req.states_filter = states.iter().map(|x| s(x)).collect();
        RequestKind::ListGroups(req)
    };
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let ResponseKind::ListGroups(stable) =
        support::wire::call(&mut stream, list(&["Stable"]), ApiKey::ListGroups, 4).await
    else {
        panic!("wrong response kind")
    };
    assert!(
        stable
            .groups
            .iter()
            .any(|l| l.group_id.as_str() == group && l.group_state.as_str() == "Stable")
    );
    let ResponseKind::ListGroups(empty) =
        support::wire::call(&mut stream, list(&["Empty"]), ApiKey::ListGroups, 4).await
    else {
        panic!("wrong response kind")
    };
    assert!(!empty.groups.iter().any(|l| l.group_id.as_str() == group));

    let admin = admin(addr);
    let result = admin
        .delete_groups(&[&group], &AdminOptions::new())
        .await
        .expect("delete");
    assert_eq!(
        result[0],
        Err((group.clone(), RDKafkaErrorCode::NonEmptyGroup))
    );

    blocking(move || drop(consumer)).await;
    let start = Instant::now();
    loop {
        let result = admin
            .delete_groups(&[&group], &AdminOptions::new())
            .await
            .expect("delete");
        if result[0] == Ok(group.clone()) {
            break;
        }
        // The member's LeaveGroup may still be on its way.
        assert!(
            start.elapsed() < DEADLINE,
            "group never became deletable: {result:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let result = admin
        .delete_groups(&[&group], &AdminOptions::new())
        .await
        .expect("delete");
    assert_eq!(
        result[0],
        Err((group.clone(), RDKafkaErrorCode::GroupIdNotFound))
    );
    let gone = describe_group(&mut stream, &group).await;
    assert_eq!(gone.group_state.as_str(), "Dead");
    broker.shutdown().await.unwrap();
}

/// Set in the child process of the kill -9 test: the data directory it runs a broker on.
const CRASH_CHILD_ENV: &str = "KGATE_GROUPS_CRASH_CHILD_DIR";

/// One standalone commit of `offset` (metadata `m<offset>`) over the raw protocol.
fn commit_request(group: &str, topic: &str, offset: i64) -> RequestKind {
    use kafka_protocol::messages::OffsetCommitRequest;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    let mut partition = OffsetCommitRequestPartition::default();
    partition.partition_index = 0;
    partition.committed_offset = offset;
    partition.committed_metadata = Some(s(&format!("m{offset}")));
    let mut t = OffsetCommitRequestTopic::default();
    t.name = TopicName(s(topic));
    t.partitions = vec![partition];
    let mut req = OffsetCommitRequest::default();
    req.group_id = GroupId(s(group));
    req.topics = vec![t];
    RequestKind::OffsetCommit(req)
}

/// The child: commits ever larger offsets, printing each acknowledged one, until killed.
async fn crash_child(dir: &str) {
    let broker = start_in(std::path::Path::new(dir), &[]).await;
    let addr = broker.local_addr();
    create_topic(addr, "crash-topic", 1).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    for offset in 1.. {
        let request = commit_request("crash-group", "crash-topic", offset);
        let ResponseKind::OffsetCommit(resp) =
            support::wire::call(&mut stream, request, ApiKey::OffsetCommit, 8).await
        else {
            panic!("wrong response kind")
        };
        assert_eq!(resp.topics[0].partitions[0].error_code, 0);
        println!("ACK {offset}");
        // The parent kills us long before this; never outlive a lost parent.
        assert!(started.elapsed() < DEADLINE, "crash child was not killed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_commits_survive_a_kill_9_of_the_broker() {
    if let Ok(dir) = std::env::var(CRASH_CHILD_ENV) {
        crash_child(&dir).await;
        return;
    }
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "acknowledged_commits_survive_a_kill_9_of_the_broker",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD_ENV, dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the crash child");
    let stdout = child.stdout.take().unwrap();
    let acks = Arc::new(AtomicI64::new(0));
    let seen = acks.clone();
    // Spawned now (not lazily like `blocking`), so the child never stalls on a full pipe.
    let reader = tokio::task::spawn_blocking(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("ACK ") {
                seen.store(n.trim().parse().unwrap(), Ordering::SeqCst);
            }
        }
    });
    let start = Instant::now();
    while acks.load(Ordering::SeqCst) < 100 && start.elapsed() < DEADLINE * 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // SIGKILL: no shutdown, no flush; only what was fsynced before each ACK counts.
    child.kill().expect("kill -9");
    let last_ack = acks.load(Ordering::SeqCst);
    // The reader ends when the dead child's stdout closes.
    reader.await.expect("reader task");
    let _ = child.wait();
    assert!(
        last_ack >= 100,
        "the child stopped after {last_ack} commits"
    );

    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    let (committed, metadata) = blocking(move || {
        let reader = group_consumer(addr, "crash-group", "reader", None);
        let mut query = TopicPartitionList::new();
        query.add_partition("crash-topic", 0);
        let got = reader
            .committed_offsets(query, DEADLINE)
            .expect("committed offsets");
        let p = got.find_partition("crash-topic", 0).unwrap();
        (p.offset(), p.metadata().to_string())
    })
    .await;
    let Offset::Offset(committed) = committed else {
        panic!("nothing committed after the crash: {committed:?}")
    };
    // The commit in flight at the kill may or may not have made it; acknowledged ones did.
    assert!(
        committed >= last_ack,
        "acknowledged {last_ack}, recovered {committed}"
    );
    assert_eq!(metadata, format!("m{committed}"));
    broker.shutdown().await.unwrap();
}

/// A JoinGroup request of `member` (empty for a new one) at v5.
fn join_request(group: &str, member: &str) -> RequestKind {
    join_request_with_session(group, member, 10_000)
}

/// A JoinGroup request at v5 with the given session timeout.
fn join_request_with_session(group: &str, member: &str, session_timeout_ms: i32) -> RequestKind {
    use kafka_protocol::messages::JoinGroupRequest;
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    let mut protocol = JoinGroupRequestProtocol::default();
    protocol.name = s("range");
    protocol.metadata = bytes::Bytes::from_static(b"\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff");
    let mut req = JoinGroupRequest::default();
    req.group_id = GroupId(s(group));
    req.session_timeout_ms = session_timeout_ms;
    req.rebalance_timeout_ms = 10_000;
    req.member_id = s(member);
    req.protocol_type = s("consumer");
    req.protocols = vec![protocol];
    RequestKind::JoinGroup(req)
}

/// Joins a new member through the MEMBER_ID_REQUIRED round trip; returns its member id.
async fn member_id(stream: &mut tokio::net::TcpStream, group: &str) -> String {
    let ResponseKind::JoinGroup(resp) =
        support::wire::call(stream, join_request(group, ""), ApiKey::JoinGroup, 5).await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(resp.error_code, 79, "MEMBER_ID_REQUIRED");
    resp.member_id.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_heartbeating_is_removed_after_its_session_timeout() {
    use kafka_protocol::messages::{HeartbeatRequest, SyncGroupRequest};
    let dir = tempfile::tempdir().unwrap();
    // A 1 s session, below Kafka's default minimum of 6 s.
    let broker = start_in(dir.path(), &[("group.min.session.timeout.ms", "1000")]).await;
    let addr = broker.local_addr();
    let group = unique("g-silent");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let member = member_id(&mut stream, &group).await;
    let join = join_request_with_session(&group, &member, 1_000);
    let ResponseKind::JoinGroup(joined) =
        support::wire::call(&mut stream, join, ApiKey::JoinGroup, 5).await
    else {
        panic!("wrong response kind")
    };
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    let mut sync = SyncGroupRequest::default();
    sync.group_id = GroupId(s(&group));
    sync.generation_id = 1;
    sync.member_id = s(&member);
    let ResponseKind::SyncGroup(synced) = support::wire::call(
        &mut stream,
        RequestKind::SyncGroup(sync),
        ApiKey::SyncGroup,
        3,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(synced.error_code, 0);

    // No heartbeats from here on: the coordinator's timer must remove the member.
    let start = Instant::now();
    loop {
        let described = describe_group(&mut stream, &group).await;
        if described.group_state.as_str() == "Empty" {
            assert!(described.members.is_empty());
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the silent member was never removed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut heartbeat = HeartbeatRequest::default();
    heartbeat.group_id = GroupId(s(&group));
    heartbeat.generation_id = 1;
    heartbeat.member_id = s(&member);
    let ResponseKind::Heartbeat(resp) = support::wire::call(
        &mut stream,
        RequestKind::Heartbeat(heartbeat),
        ApiKey::Heartbeat,
        3,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(resp.error_code, 25, "UNKNOWN_MEMBER_ID");
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_started_together_share_the_first_generation() {
    let dir = tempfile::tempdir().unwrap();
    // Kafka's default: the first rebalance of a new group waits 3 s for more members.
    let broker = start_in(dir.path(), &[("group.initial.rebalance.delay.ms", "3000")]).await;
    let addr = broker.local_addr();
    let topic = unique("together");
    create_topic(addr, &topic, 3).await;
    let group = unique("together-group");
    let t = topic.clone();
    let (most, last, assigns) = blocking(move || {
        let a = group_consumer(addr, &group, "a", None);
        let b = group_consumer(addr, &group, "b", None);
        a.subscribe(&[&t]).unwrap();
        b.subscribe(&[&t]).unwrap();
        let sizes = || (assigned(&a, &t).len(), assigned(&b, &t).len());
        // The most partitions each consumer ever held.
        let mut most = (0, 0);
        let start = Instant::now();
        loop {
            for c in [&a, &b] {
                let _ = c.poll(Duration::from_millis(20));
            }
            let now = sizes();
            most = (most.0.max(now.0), most.1.max(now.1));
            if now.0 > 0 && now.1 > 0 {
                break;
            }
            assert!(start.elapsed() < DEADLINE, "no assignment: {now:?}");
        }
        let assigns = (
            a.context().assigns.load(Ordering::SeqCst),
            b.context().assigns.load(Ordering::SeqCst),
        );
        (most, sizes(), assigns)
    })
    .await;
    // One generation for both: 2/1 from the start; a first generation of one member
    // would have given it all 3 and taken them back in a second rebalance.
    assert_eq!(last.0 + last.1, 3);
    assert!(most.0 <= 2 && most.1 <= 2, "never 3/0: {most:?}");
    assert_eq!(assigns, (1, 1), "one rebalance each");
    broker.shutdown().await.unwrap();
}

/// A raw JoinGroup v5 with `session_timeout_ms`; returns its error code.
async fn join_with_session(addr: SocketAddr, group: &str, session_timeout_ms: i32) -> i16 {
    use kafka_protocol::messages::{JoinGroupRequest, join_group_request};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut r = JoinGroupRequest::default();
    r.group_id = GroupId(StrBytes::from_string(group.to_string()));
    r.session_timeout_ms = session_timeout_ms;
    r.rebalance_timeout_ms = 10_000;
    r.protocol_type = StrBytes::from_static_str("consumer");
    let mut p = join_group_request::JoinGroupRequestProtocol::default();
    p.name = StrBytes::from_static_str("range");
    r.protocols = vec![p];
    let ResponseKind::JoinGroup(resp) =
        support::wire::call(&mut s, RequestKind::JoinGroup(r), ApiKey::JoinGroup, 5).await
    else {
        panic!("wrong response kind")
    };
    resp.error_code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_timeouts_are_bounded_by_the_group_configs() {
    let invalid = kafka_protocol::ResponseError::InvalidSessionTimeout.code();
    let required = kafka_protocol::ResponseError::MemberIdRequired.code();
    // Kafka's defaults: 6 s to 30 min.
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let addr = broker.local_addr();
    assert_eq!(join_with_session(addr, "bounds", 5_999).await, invalid);
    assert_eq!(join_with_session(addr, "bounds", 1_800_001).await, invalid);
    assert_eq!(join_with_session(addr, "bounds", 6_000).await, required);
    assert_eq!(join_with_session(addr, "bounds", 1_800_000).await, required);
    broker.shutdown().await.unwrap();
    // Configured bounds.
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(
        dir.path(),
        &[
            ("group.min.session.timeout.ms", "1000"),
            ("group.max.session.timeout.ms", "60000"),
        ],
    )
    .await;
    let addr = broker.local_addr();
    assert_eq!(join_with_session(addr, "bounds", 1_000).await, required);
    assert_eq!(join_with_session(addr, "bounds", 60_001).await, invalid);
    // librdkafka sees the refusal as a fatal consumer error.
    let group = unique("short-session");
    let t = unique("short-session-topic");
    create_topic(addr, &t, 1).await;
    let refused = blocking(move || {
        let c = group_consumer_with(addr, &group, "c", None, &[("session.timeout.ms", "70000")]);
        c.subscribe(&[&t]).unwrap();
        let start = Instant::now();
        loop {
            if let Some(Err(e)) = c.poll(Duration::from_millis(100)) {
                return e.rdkafka_error_code();
            }
            assert!(start.elapsed() < DEADLINE, "no error");
        }
    })
    .await;
    assert_eq!(refused, Some(RDKafkaErrorCode::InvalidSessionTimeout));
    broker.shutdown().await.unwrap();
}
