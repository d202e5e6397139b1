//! Well-formed requests with extreme values are answered, never dropped: 32-bit fields at
//! their maximum (a partition index of 2147483647), strings longer than the 32,767 bytes
//! a non-flexible version can carry, and creations too large for one process.

mod support;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::wire::*;
use support::*;
use tokio::net::TcpStream;

fn name(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

async fn create_topic(s: &mut TcpStream, topic: &str, partitions: i32) -> (i16, Option<String>) {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = TopicName(name(topic));
    t.num_partitions = partitions;
    t.replication_factor = 1;
    let mut r = CreateTopicsRequest::default();
    r.topics = vec![t];
    r.timeout_ms = 30_000;
    let ResponseKind::CreateTopics(resp) =
        call(s, RequestKind::CreateTopics(r), ApiKey::CreateTopics, 5).await
    else {
        panic!("wrong response kind")
    };
    let t = &resp.topics[0];
    (
        t.error_code,
        t.error_message.as_ref().map(|m| m.to_string()),
    )
}

fn offset_commit(topic: &str, partitions: &[i32]) -> OffsetCommitRequest {
    let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
    t.name = TopicName(name(topic));
    t.partitions = partitions
        .iter()
        .map(|&p| {
            let mut part = offset_commit_request::OffsetCommitRequestPartition::default();
            part.partition_index = p;
            part.committed_offset = 5;
            // A leader epoch far beyond the bytes left, too: another plain field.
            part.committed_leader_epoch = i32::MAX;
            part
        })
        .collect();
    let mut r = OffsetCommitRequest::default();
    r.group_id = GroupId(name("robustness-group"));
    r.generation_id_or_member_epoch = -1;
    r.topics = vec![t];
    r
}

#[tokio::test]
async fn partition_indexes_at_the_32_bit_maximum_are_answered_per_partition() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let mut s = TcpStream::connect(broker.local_addr()).await.unwrap();
    let topic = unique("far-partitions");
    assert_eq!(create_topic(&mut s, &topic, 2).await.0, 0);

    for version in [2i16, 5, 8, 9] {
        let request = offset_commit(&topic, &[1, i32::MAX, 0x0100_0001]);
        let ResponseKind::OffsetCommit(resp) = call(
            &mut s,
            RequestKind::OffsetCommit(request),
            ApiKey::OffsetCommit,
            version,
        )
        .await
        else {
            panic!("wrong response kind")
        };
        let codes: Vec<(i32, i16)> = resp.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.error_code))
            .collect();
        let unknown = ResponseError::UnknownTopicOrPartition.code();
        assert_eq!(
            codes,
            vec![(1, 0), (i32::MAX, unknown), (0x0100_0001, unknown)],
            "OffsetCommit v{version}"
        );
    }

    // The partition that exists got its offset; the others were not stored.
    let mut t = offset_fetch_request::OffsetFetchRequestTopic::default();
    t.name = TopicName(name(&topic));
    t.partition_indexes = vec![1, i32::MAX];
    let mut r = OffsetFetchRequest::default();
    r.group_id = GroupId(name("robustness-group"));
    r.topics = Some(vec![t]);
    let ResponseKind::OffsetFetch(resp) =
        call(&mut s, RequestKind::OffsetFetch(r), ApiKey::OffsetFetch, 5).await
    else {
        panic!("wrong response kind")
    };
    let offsets: Vec<(i32, i64)> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    assert_eq!(offsets, vec![(1, 5), (i32::MAX, -1)]);

    // ListOffsets and Fetch for such a partition are answered too.
    let mut p = list_offsets_request::ListOffsetsPartition::default();
    p.partition_index = i32::MAX;
    p.timestamp = -1;
    let mut t = list_offsets_request::ListOffsetsTopic::default();
    t.name = TopicName(name(&topic));
    t.partitions = vec![p];
    let mut r = ListOffsetsRequest::default();
    r.replica_id = BrokerId(-1);
    r.topics = vec![t];
    let ResponseKind::ListOffsets(resp) =
        call(&mut s, RequestKind::ListOffsets(r), ApiKey::ListOffsets, 5).await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(
        resp.topics[0].partitions[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );

    let mut p = fetch_request::FetchPartition::default();
    p.partition = i32::MAX;
    p.partition_max_bytes = 1 << 20;
    let mut t = fetch_request::FetchTopic::default();
    t.topic = TopicName(name(&topic));
    t.partitions = vec![p];
    let mut r = FetchRequest::default();
    r.replica_id = BrokerId(-1);
    r.max_wait_ms = 10;
    r.max_bytes = 1 << 20;
    r.topics = vec![t];
    let ResponseKind::Fetch(resp) = call(&mut s, RequestKind::Fetch(r), ApiKey::Fetch, 11).await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(
        resp.responses[0].partitions[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    broker.shutdown().await.unwrap();
}

#[test]
fn array_lengths_beyond_the_frame_are_still_refused_before_allocating() {
    // OffsetCommit v2 whose topic array claims 2^31-1 entries in a 30-byte body: a
    // decoder that reserved room for them first would abort the process.
    let mut frame = vec![0u8, 8, 0, 2, 0, 0, 0, 1, 0, 0];
    frame.extend_from_slice(&[0, 1, b'g']); // group id
    frame.extend_from_slice(&(-1i32).to_be_bytes()); // generation
    frame.extend_from_slice(&[0, 0]); // member id
    frame.extend_from_slice(&(-1i64).to_be_bytes()); // retention
    frame.extend_from_slice(&i32::MAX.to_be_bytes()); // topics: an absurd count
    frame.extend_from_slice(&[0, 1, b't']);
    let err = kgate_broker::fuzzing::decode_request(bytes::Bytes::from(frame)).unwrap_err();
    assert!(!err.is_empty());
}

fn acl_creation(resource: &str) -> create_acls_request::AclCreation {
    let mut c = create_acls_request::AclCreation::default();
    c.resource_type = 2; // TOPIC
    c.resource_name = name(resource);
    c.resource_pattern_type = 3; // LITERAL
    c.principal = name("User:alice");
    c.host = name("*");
    c.operation = 3; // READ
    c.permission_type = 3; // ALLOW
    c
}

fn describe_all_acls() -> RequestKind {
    let mut r = DescribeAclsRequest::default();
    r.resource_type_filter = 1; // ANY
    r.resource_name_filter = None;
    r.principal_filter = None;
    r.host_filter = None;
    r.pattern_type_filter = 1; // ANY
    r.operation = 1;
    r.permission_type = 1;
    RequestKind::DescribeAcls(r)
}

#[tokio::test]
async fn an_acl_with_a_100000_character_name_is_kept_and_described_without_dropping_anyone() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let mut s = TcpStream::connect(broker.local_addr()).await.unwrap();
    let long = "n".repeat(100_000);

    // Flexible CreateAcls (v2+) carries any length, and Kafka accepts such a name.
    let mut r = CreateAclsRequest::default();
    r.creations = vec![acl_creation(&long), acl_creation("short")];
    let ResponseKind::CreateAcls(resp) =
        call(&mut s, RequestKind::CreateAcls(r), ApiKey::CreateAcls, 3).await
    else {
        panic!("wrong response kind")
    };
    assert!(resp.results.iter().all(|r| r.error_code == 0), "{resp:?}");

    // A flexible DescribeAcls returns the name whole.
    let ResponseKind::DescribeAcls(resp) =
        call(&mut s, describe_all_acls(), ApiKey::DescribeAcls, 2).await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(resp.error_code, 0);
    let mut names: Vec<usize> = resp
        .resources
        .iter()
        .map(|r| r.resource_name.len())
        .collect();
    names.sort_unstable();
    assert_eq!(names, vec![5, 100_000]);

    // v1 cannot carry it: an error code, on a connection that stays open.
    let ResponseKind::DescribeAcls(resp) =
        call(&mut s, describe_all_acls(), ApiKey::DescribeAcls, 1).await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(resp.error_code, ResponseError::UnknownServerError.code());
    assert!(
        resp.error_message
            .as_deref()
            .is_some_and(|m| m.contains("32,767")),
        "{resp:?}"
    );

    // A v1 filter naming the short one still finds it.
    let mut r = DescribeAclsRequest::default();
    r.resource_type_filter = 2;
    r.resource_name_filter = Some(name("short"));
    r.principal_filter = None;
    r.host_filter = None;
    r.pattern_type_filter = 3;
    r.operation = 1;
    r.permission_type = 1;
    let ResponseKind::DescribeAcls(resp) = call(
        &mut s,
        RequestKind::DescribeAcls(r),
        ApiKey::DescribeAcls,
        1,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.resources.len(), 1);

    // DeleteAcls v1 matching both deletes both, and lists what it can name.
    let mut f = delete_acls_request::DeleteAclsFilter::default();
    f.resource_type_filter = 1;
    f.resource_name_filter = None;
    f.principal_filter = None;
    f.host_filter = None;
    f.pattern_type_filter = 1;
    f.operation = 1;
    f.permission_type = 1;
    let mut r = DeleteAclsRequest::default();
    r.filters = vec![f];
    let ResponseKind::DeleteAcls(resp) =
        call(&mut s, RequestKind::DeleteAcls(r), ApiKey::DeleteAcls, 1).await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(resp.filter_results[0].error_code, 0);
    assert_eq!(resp.filter_results[0].matching_acls.len(), 1);
    let ResponseKind::DescribeAcls(resp) =
        call(&mut s, describe_all_acls(), ApiKey::DescribeAcls, 3).await
    else {
        panic!("wrong response kind")
    };
    assert!(resp.resources.is_empty(), "{resp:?}");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn long_names_in_old_versions_get_error_codes_not_a_closed_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let mut s = TcpStream::connect(broker.local_addr()).await.unwrap();

    // A 32,000-byte topic name in CreateTopics v4 (non-flexible): the error message
    // quoting it would be longer than v4 can carry.
    let long_topic = "t".repeat(32_000);
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = TopicName(name(&format!("{long_topic}!")));
    t.num_partitions = 1;
    t.replication_factor = 1;
    let mut r = CreateTopicsRequest::default();
    r.topics = vec![t];
    r.timeout_ms = 10_000;
    let ResponseKind::CreateTopics(resp) = call(
        &mut s,
        RequestKind::CreateTopics(r),
        ApiKey::CreateTopics,
        4,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(
        resp.topics[0].error_code,
        ResponseError::InvalidTopicException.code()
    );
    assert!(resp.topics[0].error_message.as_ref().unwrap().len() <= 32_767);

    // A group id of 100,000 bytes, joined through flexible JoinGroup, then listed by
    // ListGroups v2 (non-flexible): an error code instead of a dropped connection.
    let long_group = "g".repeat(100_000);
    let mut r = JoinGroupRequest::default();
    r.group_id = GroupId(name(&long_group));
    r.session_timeout_ms = 10_000;
    r.rebalance_timeout_ms = 10_000;
    r.protocol_type = name("consumer");
    let mut p = join_group_request::JoinGroupRequestProtocol::default();
    p.name = name("range");
    p.metadata = bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0]);
    r.protocols = vec![p];
    let ResponseKind::JoinGroup(resp) =
        call(&mut s, RequestKind::JoinGroup(r), ApiKey::JoinGroup, 9).await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(resp.error_code, ResponseError::MemberIdRequired.code());

    // The group holds only a pending member, so it is not listed yet: a committed
    // offset (flexible OffsetCommit) makes it exist.
    let topic = unique("exists");
    assert_eq!(create_topic(&mut s, &topic, 1).await.0, 0);
    let mut commit = offset_commit(&topic, &[0]);
    commit.group_id = GroupId(name(&long_group));
    let ResponseKind::OffsetCommit(resp) = call(
        &mut s,
        RequestKind::OffsetCommit(commit),
        ApiKey::OffsetCommit,
        8,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);

    let ResponseKind::ListGroups(resp) = call(
        &mut s,
        RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiKey::ListGroups,
        2,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(resp.error_code, ResponseError::UnknownServerError.code());
    let ResponseKind::ListGroups(resp) = call(
        &mut s,
        RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiKey::ListGroups,
        3,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert_eq!(resp.error_code, 0);
    assert!(resp.groups.iter().any(|g| g.group_id.len() == 100_000));
    broker.shutdown().await.unwrap();
}

async fn create_partitions(s: &mut TcpStream, topic: &str, count: i32) -> (i16, Option<String>) {
    let mut t = create_partitions_request::CreatePartitionsTopic::default();
    t.name = TopicName(name(topic));
    t.count = count;
    t.assignments = None;
    let mut r = CreatePartitionsRequest::default();
    r.topics = vec![t];
    r.timeout_ms = 30_000;
    let ResponseKind::CreatePartitions(resp) = call(
        s,
        RequestKind::CreatePartitions(r),
        ApiKey::CreatePartitions,
        1,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    let t = &resp.results[0];
    (
        t.error_code,
        t.error_message.as_ref().map(|m| m.to_string()),
    )
}

async fn partition_count(s: &mut TcpStream, topic: &str) -> Option<usize> {
    let mut t = metadata_request::MetadataRequestTopic::default();
    t.name = Some(TopicName(name(topic)));
    let mut r = MetadataRequest::default();
    r.topics = Some(vec![t]);
    r.allow_auto_topic_creation = false;
    let ResponseKind::Metadata(resp) = call(s, RequestKind::Metadata(r), ApiKey::Metadata, 9).await
    else {
        panic!("wrong response kind")
    };
    let t = &resp.topics[0];
    (t.error_code == 0).then_some(t.partitions.len())
}

/// The partition directories of `topic` under the data directory.
fn partition_dirs(data_dir: &std::path::Path, topic: &str) -> Vec<String> {
    let prefix = format!("{topic}-");
    let mut dirs: Vec<String> = std::fs::read_dir(data_dir.join("logs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.strip_prefix(&prefix)
                .is_some_and(|p| p.parse::<i32>().is_ok())
        })
        .collect();
    dirs.sort();
    dirs
}

#[tokio::test]
async fn oversized_partition_requests_are_refused_whole_with_policy_violation() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[("max.broker.partitions", "12")]).await;
    let mut s = TcpStream::connect(broker.local_addr()).await.unwrap();
    let policy = ResponseError::PolicyViolation.code();

    // 100,000 partitions in one request: refused at once, nothing on disk.
    let (code, message) = create_topic(&mut s, "huge", 100_000).await;
    assert_eq!(code, policy, "{message:?}");
    let message = message.unwrap();
    assert!(
        message.contains("max.partitions.per.request (10000)"),
        "{message}"
    );
    assert!(partition_dirs(dir.path(), "huge").is_empty());
    let (code, _) = create_topic(&mut s, "max", i32::MAX).await;
    assert_eq!(code, policy);

    // The limit counts the whole request: two topics of 6,000 each are both refused.
    let mut r = CreateTopicsRequest::default();
    for topic in ["half-a", "half-b"] {
        let mut t = create_topics_request::CreatableTopic::default();
        t.name = TopicName(name(topic));
        t.num_partitions = 6_000;
        t.replication_factor = 1;
        r.topics.push(t);
    }
    r.timeout_ms = 30_000;
    let ResponseKind::CreateTopics(resp) = call(
        &mut s,
        RequestKind::CreateTopics(r),
        ApiKey::CreateTopics,
        5,
    )
    .await
    else {
        panic!("wrong response kind")
    };
    assert!(resp.topics.iter().all(|t| t.error_code == policy));
    assert!(partition_dirs(dir.path(), "half-a").is_empty());

    // Growing a topic past the per-request limit is refused the same way.
    let (code, _) = create_topic(&mut s, "grows", 2).await;
    assert_eq!(code, 0);
    let (code, message) = create_partitions(&mut s, "grows", 20_000).await;
    assert_eq!(code, policy, "{message:?}");
    assert_eq!(partition_count(&mut s, "grows").await, Some(2));
    assert_eq!(partition_dirs(dir.path(), "grows").len(), 2);

    // max.broker.partitions bounds the broker's total: 2 + 10 fit, one more does not.
    let (code, message) = create_topic(&mut s, "big", 10).await;
    assert_eq!(code, 0, "{message:?}");
    let (code, message) = create_topic(&mut s, "one-more", 1).await;
    assert_eq!(code, policy, "{message:?}");
    assert!(message.unwrap().contains("max.broker.partitions (12)"));
    let (code, _) = create_partitions(&mut s, "grows", 3).await;
    assert_eq!(code, policy);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_creation_that_fails_part_way_leaves_no_partition_directories() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), &[]).await;
    let mut s = TcpStream::connect(broker.local_addr()).await.unwrap();
    let topic = unique("half-made");
    // A file where partition 5's directory must go makes the creation fail there.
    let blocker = dir.path().join("logs").join(format!("{topic}-5"));
    std::fs::write(&blocker, b"in the way").unwrap();

    let (code, message) = create_topic(&mut s, &topic, 8).await;
    assert_eq!(code, ResponseError::KafkaStorageError.code(), "{message:?}");
    assert_eq!(partition_count(&mut s, &topic).await, None);
    let left: Vec<String> = partition_dirs(dir.path(), &topic)
        .into_iter()
        .filter(|n| !n.ends_with("-5"))
        .collect();
    assert!(left.is_empty(), "partitions 0-4 are rolled back: {left:?}");

    // Growing a topic fails the same way and keeps its old partitions only.
    let grown = unique("grown");
    assert_eq!(create_topic(&mut s, &grown, 2).await.0, 0);
    std::fs::write(dir.path().join("logs").join(format!("{grown}-3")), b"x").unwrap();
    let (code, _) = create_partitions(&mut s, &grown, 5).await;
    assert_eq!(code, ResponseError::KafkaStorageError.code());
    assert_eq!(partition_count(&mut s, &grown).await, Some(2));
    let dirs: Vec<String> = partition_dirs(dir.path(), &grown)
        .into_iter()
        .filter(|n| !n.ends_with("-3"))
        .collect();
    assert_eq!(dirs, vec![format!("{grown}-0"), format!("{grown}-1")]);

    // With the obstacle gone, the creation succeeds.
    std::fs::remove_file(&blocker).unwrap();
    assert_eq!(create_topic(&mut s, &topic, 8).await.0, 0);
    assert_eq!(partition_count(&mut s, &topic).await, Some(8));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn orphan_partition_directories_are_removed_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("kept");
    {
        let broker = start_in(dir.path(), &[]).await;
        let mut s = TcpStream::connect(broker.local_addr()).await.unwrap();
        assert_eq!(create_topic(&mut s, &topic, 2).await.0, 0);
        let (code, _) = produce_one(&mut s, &topic).await;
        assert_eq!(code, 0);
        broker.shutdown().await.unwrap();
    }
    let logs = dir.path().join("logs");
    // What a crash in the middle of a creation or deletion leaves behind.
    for orphan in [
        format!("{topic}-7"),
        "ghost-0".to_string(),
        "ghost-1".into(),
    ] {
        std::fs::create_dir_all(logs.join(&orphan)).unwrap();
        std::fs::write(logs.join(&orphan).join("00000000000000000000.log"), b"junk").unwrap();
    }
    // Not a partition directory: left alone.
    std::fs::create_dir_all(logs.join("notes")).unwrap();

    let broker = start_in(dir.path(), &[]).await;
    let mut s = TcpStream::connect(broker.local_addr()).await.unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected = vec![format!("{topic}-0"), format!("{topic}-1"), "notes".into()];
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(partition_count(&mut s, &topic).await, Some(2));
    // The topic's data survived, and a new topic named like an orphan starts empty.
    assert_eq!(create_topic(&mut s, "ghost", 2).await.0, 0);
    broker.shutdown().await.unwrap();

    // Without topics.json, partition directories are left untouched (and the broker
    // still starts).
    let bare = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(bare.path().join("logs").join("lost-0")).unwrap();
    let broker = start_in(bare.path(), &[]).await;
    assert!(bare.path().join("logs").join("lost-0").exists());
    broker.shutdown().await.unwrap();
}

async fn produce_one(s: &mut TcpStream, topic: &str) -> (i16, i64) {
    let mut p = produce_request::PartitionProduceData::default();
    p.index = 0;
    p.records = Some(batch(&["v"], None));
    let mut t = produce_request::TopicProduceData::default();
    t.name = TopicName(name(topic));
    t.partition_data = vec![p];
    let mut r = ProduceRequest::default();
    r.acks = -1;
    r.timeout_ms = 30_000;
    r.topic_data = vec![t];
    let ResponseKind::Produce(resp) = call(s, RequestKind::Produce(r), ApiKey::Produce, 8).await
    else {
        panic!("wrong response kind")
    };
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}
