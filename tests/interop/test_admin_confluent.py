"""confluent-kafka's AdminClient (librdkafka's admin API, an independent caller of the
broker's admin requests) against the real `kgate broker` binary: every admin operation
of issue 3, each answer checked."""

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourcePatternType,
    ResourceType,
)
from confluent_kafka import ConsumerGroupTopicPartitions

from helpers import wait_until

TIMEOUT = 30


@pytest.fixture
def admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def done(futures):
    """Waits for every future of an admin call and returns their results by key."""
    return {k: f.result(timeout=TIMEOUT) for k, f in futures.items()}


def configs_of(admin, topic):
    resource = ConfigResource(ResourceType.TOPIC, topic)
    return done(admin.describe_configs([resource]))[resource]


@pytest.mark.embedded_only("reads changes back at once; on several brokers a change reaches the broker asked a moment later")
def test_topic_lifecycle_configs_partitions_records_and_offsets(admin, broker, topic_name):
    done(admin.create_topics([NewTopic(
        topic_name, num_partitions=2, replication_factor=1,
        config={"retention.ms": "3600000", "cleanup.policy": "delete"})]))

    entries = configs_of(admin, topic_name)
    assert entries["retention.ms"].value == "3600000"
    assert entries["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    # Defaults are present for what was not set.
    for name in ("segment.bytes", "max.message.bytes", "min.insync.replicas",
                 "compression.type", "delete.retention.ms"):
        assert name in entries, name
    assert entries["segment.bytes"].is_default
    assert entries["compression.type"].value == "producer"

    resource = ConfigResource(ResourceType.TOPIC, topic_name, incremental_configs=[
        ConfigEntry("retention.ms", "7200000",
                    incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", "compact",
                    incremental_operation=AlterConfigOpType.APPEND),
    ])
    done(admin.incremental_alter_configs([resource]))
    entries = configs_of(admin, topic_name)
    assert entries["retention.ms"].value == "7200000"
    assert set(entries["cleanup.policy"].value.split(",")) == {"delete", "compact"}

    done(admin.create_partitions([NewPartitions(topic_name, 4)]))
    md = admin.list_topics(topic_name, timeout=TIMEOUT)
    assert len(md.topics[topic_name].partitions) == 4

    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(10):
        producer.produce(topic_name, key=b"k", value=b"v%d" % i, partition=0)
    assert producer.flush(TIMEOUT) == 0

    latest = done(admin.list_offsets({TopicPartition(topic_name, 0): OffsetSpec.latest()}))
    assert latest[TopicPartition(topic_name, 0)].offset == 10
    earliest = done(admin.list_offsets(
        {TopicPartition(topic_name, 0): OffsetSpec.earliest()}))
    assert earliest[TopicPartition(topic_name, 0)].offset == 0

    deleted = done(admin.delete_records([TopicPartition(topic_name, 0, 4)]))
    assert deleted[TopicPartition(topic_name, 0, 4)].low_watermark == 4
    earliest = done(admin.list_offsets(
        {TopicPartition(topic_name, 0): OffsetSpec.earliest()}))
    assert earliest[TopicPartition(topic_name, 0)].offset == 4

    done(admin.delete_topics([topic_name], operation_timeout=TIMEOUT))
    wait_until(lambda: topic_name not in admin.list_topics(timeout=TIMEOUT).topics,
               message="topic gone")


@pytest.mark.embedded_only("one node: expects a single broker")
def test_describe_cluster(admin, broker):
    cluster = admin.describe_cluster().result(timeout=TIMEOUT)
    assert cluster.cluster_id
    assert len(cluster.nodes) == 1
    node = cluster.nodes[0]
    assert "%s:%d" % (node.host, node.port) == broker.bootstrap
    assert cluster.controller.id == node.id


def test_consumer_groups_listed_described_offsets_and_deleted(admin, broker, topic_name):
    done(admin.create_topics([NewTopic(topic_name, num_partitions=2, replication_factor=1)]))
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(6):
        producer.produce(topic_name, value=b"m%d" % i, partition=i % 2)
    assert producer.flush(TIMEOUT) == 0

    group = "confluent-admin-%s" % uuid.uuid4().hex[:8]
    consumer = Consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": group,
        "client.id": "admin-interop",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    try:
        consumer.subscribe([topic_name])
        seen = 0
        deadline = time.monotonic() + TIMEOUT
        while seen < 6 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                seen += 1
        assert seen == 6
        consumer.commit(asynchronous=False)

        listed = admin.list_consumer_groups().result(timeout=TIMEOUT)
        assert group in [g.group_id for g in listed.valid]

        desc = done(admin.describe_consumer_groups([group]))[group]
        assert desc.group_id == group
        assert len(desc.members) == 1
        member = desc.members[0]
        assert member.client_id == "admin-interop"
        assigned = sorted((tp.topic, tp.partition)
                          for tp in member.assignment.topic_partitions)
        assert assigned == [(topic_name, 0), (topic_name, 1)]

        offsets = done(admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)]))[group]
        by_partition = {tp.partition: tp.offset for tp in offsets.topic_partitions
                        if tp.topic == topic_name}
        assert by_partition == {0: 3, 1: 3}
    finally:
        consumer.close()

    result = done(admin.delete_consumer_groups([group]))
    assert group in result
    listed = admin.list_consumer_groups().result(timeout=TIMEOUT)
    assert group not in [g.group_id for g in listed.valid]


@pytest.mark.embedded_only("reads ACLs back at once; on several brokers a change reaches the broker asked a moment later")
def test_acls_created_described_and_deleted(admin, topic_name):
    bindings = [
        AclBinding(ResourceType.TOPIC, topic_name, ResourcePatternType.LITERAL,
                   "User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, topic_name[:20], ResourcePatternType.PREFIXED,
                   "User:bob", "*", AclOperation.WRITE, AclPermissionType.DENY),
        AclBinding(ResourceType.GROUP, "g-" + topic_name, ResourcePatternType.LITERAL,
                   "User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW),
    ]
    for f in admin.create_acls(bindings).values():
        assert f.result(timeout=TIMEOUT) is None

    everything = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
        AclOperation.ANY, AclPermissionType.ANY)
    described = admin.describe_acls(everything).result(timeout=TIMEOUT)
    for b in bindings:
        assert b in described

    # MATCH: every binding that applies to this topic name.
    matching = AclBindingFilter(
        ResourceType.TOPIC, topic_name, ResourcePatternType.MATCH, None, None,
        AclOperation.ANY, AclPermissionType.ANY)
    described = admin.describe_acls(matching).result(timeout=TIMEOUT)
    assert bindings[0] in described and bindings[1] in described
    assert bindings[2] not in described

    alice = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, "User:alice", None,
        AclOperation.ANY, AclPermissionType.ANY)
    deleted = done(admin.delete_acls([alice]))[alice]
    assert sorted(str(b) for b in deleted) == sorted(str(b) for b in
                                                    (bindings[0], bindings[2]))
    left = admin.describe_acls(everything).result(timeout=TIMEOUT)
    assert bindings[1] in left
    assert bindings[0] not in left and bindings[2] not in left
