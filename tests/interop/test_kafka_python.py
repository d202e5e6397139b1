"""kafka-python (a pure-Python Kafka client, independent of librdkafka) against the real
`kgate broker` binary."""

import threading
import time

import pytest
from kafka import (
    KafkaConsumer,
    KafkaProducer,
    OffsetAndMetadata,
    TopicPartition,
)
from kafka import errors as kafka_errors

from helpers import admin_for, create_topic, read_partition, wait_until

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c or "none")
def test_produce_consume_keys_values_headers(broker, topic_name, codec):
    create_topic(broker, topic_name)
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, acks="all", compression_type=codec,
        linger_ms=20,
    )
    futures = []
    for i in range(60):
        futures.append(producer.send(
            topic_name,
            key=b"key-%d" % i,
            value=(b"value-%d-" % i) * 20,
            headers=[("index", b"%d" % i), ("codec", (codec or "none").encode())],
            partition=0,
        ))
    producer.flush(timeout=30)
    offsets = [f.get(timeout=30).offset for f in futures]
    producer.close()
    assert offsets == list(range(60))

    records = read_partition(broker, topic_name, 0, 60)
    for i, record in enumerate(records):
        assert record.offset == i
        assert record.key == b"key-%d" % i
        assert record.value == (b"value-%d-" % i) * 20
        assert list(record.headers) == [
            ("index", b"%d" % i), ("codec", (codec or "none").encode())
        ]


def test_null_key_and_empty_value_round_trip(broker, topic_name):
    create_topic(broker, topic_name)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    producer.send(topic_name, key=None, value=b"", partition=0).get(timeout=30)
    producer.send(topic_name, key=b"k", value=None, partition=0).get(timeout=30)
    producer.close()
    first, second = read_partition(broker, topic_name, 0, 2)
    assert (first.key, first.value) == (None, b"")
    assert (second.key, second.value) == (b"k", None)


def test_idempotent_producer(broker, topic_name):
    create_topic(broker, topic_name, partitions=3)
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=True,
        max_in_flight_requests_per_connection=5, linger_ms=5,
    )
    futures = [
        producer.send(topic_name, key=b"k%d" % (i % 7), value=b"v%d" % i)
        for i in range(300)
    ]
    producer.flush(timeout=30)
    metadata = [f.get(timeout=30) for f in futures]
    producer.close()

    by_partition = {}
    for m in metadata:
        by_partition.setdefault(m.partition, []).append(m.offset)
    for partition, offsets in by_partition.items():
        # Each partition's offsets run from 0 without gap or repeat.
        assert sorted(offsets) == list(range(len(offsets))), partition
        records = read_partition(broker, topic_name, partition, len(offsets))
        assert len({r.value for r in records[:len(offsets)]}) == len(offsets)
    assert sum(len(o) for o in by_partition.values()) == 300


class Member:
    """A group member polled by a thread of its own, as applications run them: a member
    whose JoinGroup waits for the other to rejoin must not keep that other from polling
    (two members polled from one thread can block each other for a whole rebalance
    timeout, on either broker, depending on when each JoinGroup arrives)."""

    def __init__(self, consumer):
        self.consumer = consumer
        self.assigned = frozenset()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.consumer.poll(timeout_ms=200)
            self.assigned = frozenset(self.consumer.assignment())

    def close(self):
        self._stop.set()
        self._thread.join(timeout=30)
        self.consumer.close()


def test_consumer_group_rebalances_when_a_member_leaves(broker, topic_name):
    create_topic(broker, topic_name, partitions=4)
    group = "group-" + topic_name

    def member():
        c = KafkaConsumer(
            bootstrap_servers=broker.bootstrap, group_id=group,
            auto_offset_reset="earliest", enable_auto_commit=False,
            session_timeout_ms=10000, heartbeat_interval_ms=500,
            max_poll_interval_ms=60000,
        )
        c.subscribe([topic_name])
        return Member(c)

    first, second = member(), member()
    try:
        def split_evenly():
            a, b = first.assigned, second.assigned
            return len(a) == 2 and len(b) == 2 and not (a & b)

        wait_until(split_evenly, timeout=60, message="two members splitting 4 partitions")

        second.close()
        wait_until(lambda: len(first.assigned) == 4, timeout=60,
                   message="the remaining member taking all")
    finally:
        first.close()
        second.close()


def test_commit_and_fetch_offsets_with_metadata(broker, topic_name):
    create_topic(broker, topic_name, partitions=2)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    for i in range(10):
        producer.send(topic_name, value=b"%d" % i, partition=0)
    producer.flush(timeout=30)
    producer.close()

    group = "offsets-" + topic_name
    tp = TopicPartition(topic_name, 0)
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False,
    )
    consumer.assign([tp])
    consumer.commit({tp: OffsetAndMetadata(7, "kgate-metadata", -1)})
    assert consumer.committed(tp) == 7
    consumer.close()

    admin = admin_for(broker)
    try:
        offsets = admin.list_group_offsets({group: None})[group]
    finally:
        admin.close()
    assert offsets[tp].offset == 7
    assert offsets[tp].metadata == "kgate-metadata"

    # A new member of the group resumes from the committed offset.
    resumed = KafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        resumed.assign([tp])
        records = []
        deadline = time.monotonic() + 30
        while len(records) < 3 and time.monotonic() < deadline:
            for batch in resumed.poll(timeout_ms=500).values():
                records.extend(batch)
        assert [r.offset for r in records] == [7, 8, 9]
    finally:
        resumed.close()


def test_offsets_by_timestamp(broker, topic_name):
    create_topic(broker, topic_name)
    base = int(time.time() * 1000) - 100_000
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    for i in range(5):
        producer.send(topic_name, value=b"%d" % i, partition=0, timestamp_ms=base + i * 1000)
    producer.flush(timeout=30)
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None)
    try:
        tp = TopicPartition(topic_name, 0)
        found = consumer.offsets_for_times({tp: base + 2500})[tp]
        assert (found.offset, found.timestamp) == (3, base + 3000)
        exact = consumer.offsets_for_times({tp: base + 1000})[tp]
        assert exact.offset == 1
        assert consumer.offsets_for_times({tp: base + 10_000})[tp] is None
        assert consumer.beginning_offsets([tp])[tp] == 0
        assert consumer.end_offsets([tp])[tp] == 5
    finally:
        consumer.close()


@pytest.mark.embedded_only("one node: expects replication factor 3 to be refused")
def test_topic_create_add_partitions_delete(broker, topic_name):
    admin = admin_for(broker)
    try:
        admin.create_topics(
            {topic_name: {"num_partitions": 2, "replication_factor": 1}}, timeout_ms=30000
        )

        def partition_count():
            described = admin.describe_topics([topic_name])
            return len(described[0]["partitions"]) if described else 0

        wait_until(lambda: partition_count() == 2, message="2 partitions")

        with pytest.raises(kafka_errors.TopicAlreadyExistsError):
            admin.create_topics(
                {topic_name: {"num_partitions": 2, "replication_factor": 1}},
                timeout_ms=30000,
            )
        with pytest.raises(kafka_errors.InvalidReplicationFactorError):
            admin.create_topics(
                {topic_name + "-rf": {"num_partitions": 1, "replication_factor": 3}},
                timeout_ms=30000,
            )

        admin.create_partitions({topic_name: 5}, timeout_ms=30000)
        wait_until(lambda: partition_count() == 5, message="5 partitions")

        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        assert producer.send(topic_name, value=b"x", partition=4).get(timeout=30).offset == 0
        producer.close()

        admin.delete_topics([topic_name], timeout_ms=30000)
        wait_until(lambda: topic_name not in admin.list_topics(), message="topic deleted")
    finally:
        admin.close()


def test_restart_keeps_data_and_group_offsets(own_broker, topic_name):
    create_topic(own_broker, topic_name, partitions=2)
    producer = KafkaProducer(bootstrap_servers=own_broker.bootstrap, acks="all",
                             compression_type="gzip")
    sent = []
    for i in range(100):
        m = producer.send(topic_name, key=b"k%d" % i, value=b"v%d" % i,
                          partition=i % 2).get(timeout=30)
        sent.append((m.partition, m.offset, b"k%d" % i, b"v%d" % i))
    producer.close()
    group = "restart-" + topic_name
    consumer = KafkaConsumer(bootstrap_servers=own_broker.bootstrap, group_id=group,
                             enable_auto_commit=False)
    tp = TopicPartition(topic_name, 1)
    consumer.assign([tp])
    consumer.commit({tp: OffsetAndMetadata(20, "before-restart", -1)})
    consumer.close()

    own_broker.restart()

    for partition in (0, 1):
        records = read_partition(own_broker, topic_name, partition, 50)
        got = [(partition, r.offset, r.key, r.value) for r in records]
        assert got == [s for s in sent if s[0] == partition]

    admin = admin_for(own_broker)
    try:
        offsets = wait_until(lambda: admin.list_group_offsets({group: None})[group],
                             message="group offsets after restart")
    finally:
        admin.close()
    assert offsets[tp].offset == 20
    assert offsets[tp].metadata == "before-restart"
