"""kcat (the librdkafka command-line client, built by Debian) against the real
`kgate broker` binary, cross-checked with kafka-python."""

import json
import shutil
import subprocess

import pytest
from kafka import KafkaProducer

from helpers import create_topic, read_partition

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed")


def kcat(broker, *args, stdin=None):
    result = subprocess.run(
        ["kcat", "-b", broker.bootstrap, *args],
        input=stdin, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, "kcat %s failed:\n%s" % (" ".join(args), result.stderr)
    return result.stdout


def test_produce_with_keys_and_headers_and_consume_back(broker, topic_name):
    create_topic(broker, topic_name)
    lines = "".join("key-%d\tvalue-%d\n" % (i, i) for i in range(20))
    kcat(broker, "-P", "-t", topic_name, "-p", "0", "-K", "\t",
         "-H", "origin=kcat", "-H", "kind=test", stdin=lines)

    out = kcat(broker, "-C", "-t", topic_name, "-p", "0", "-o", "beginning", "-e",
               "-f", "%o|%k|%s|%h\n")
    rows = [line.split("|") for line in out.splitlines()]
    assert [row[0] for row in rows] == [str(i) for i in range(20)]
    assert [(row[1], row[2]) for row in rows] == [
        ("key-%d" % i, "value-%d" % i) for i in range(20)
    ]
    assert all(row[3] == "origin=kcat,kind=test" for row in rows)

    # An independent client reads the same records and headers.
    records = read_partition(broker, topic_name, 0, 20)
    assert records[5].key == b"key-5" and records[5].value == b"value-5"
    assert list(records[5].headers) == [("origin", b"kcat"), ("kind", b"test")]


@pytest.mark.embedded_only("one node: expects a single broker")
def test_metadata_listing(broker, topic_name):
    create_topic(broker, topic_name, partitions=3)
    metadata = json.loads(kcat(broker, "-L", "-J"))
    assert len(metadata["brokers"]) == 1
    host, port = broker.bootstrap.rsplit(":", 1)
    assert metadata["brokers"][0]["name"] == "%s:%s" % (host, port)
    topics = {t["topic"]: t for t in metadata["topics"]}
    assert topic_name in topics
    partitions = topics[topic_name]["partitions"]
    assert sorted(p["partition"] for p in partitions) == [0, 1, 2]
    broker_id = metadata["brokers"][0]["id"]
    assert all(p["leader"] == broker_id for p in partitions)

    plain = kcat(broker, "-L", "-t", topic_name)
    assert 'topic "%s" with 3 partitions' % topic_name in plain


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_each_codec_both_ways(broker, topic_name, codec):
    create_topic(broker, topic_name)
    values = ["%s-record-%d-%s" % (codec, i, "x" * 50) for i in range(30)]
    # kcat compresses; kafka-python decompresses.
    kcat(broker, "-P", "-t", topic_name, "-p", "0", "-z", codec,
         "-X", "linger.ms=50", stdin="".join(v + "\n" for v in values))
    records = read_partition(broker, topic_name, 0, 30)
    assert [r.value.decode() for r in records[:30]] == values

    # kafka-python compresses; kcat decompresses.
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, acks="all",
        compression_type=None if codec == "none" else codec, linger_ms=20,
    )
    for v in values:
        producer.send(topic_name, value=("py-" + v).encode(), partition=0)
    producer.flush(timeout=30)
    producer.close()
    out = kcat(broker, "-C", "-t", topic_name, "-p", "0", "-o", "30", "-e", "-f", "%s\n")
    assert out.splitlines() == ["py-" + v for v in values]


def test_balanced_consumer_group_reads_everything_once(broker, topic_name):
    create_topic(broker, topic_name, partitions=3)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    for i in range(30):
        producer.send(topic_name, value=b"record-%d" % i, partition=i % 3)
    producer.flush(timeout=30)
    producer.close()

    group = "kcat-" + topic_name
    # -G joins a consumer group (librdkafka's group protocol), -e exits once every
    # assigned partition is at its end; offsets are committed on the way out.
    args = ["-G", group, "-X", "auto.offset.reset=earliest", "-e", "-f", "%p %o %s\n",
            topic_name]
    first = kcat(broker, *args)
    rows = sorted(tuple(line.split(" ")) for line in first.splitlines())
    assert sorted(row[2] for row in rows) == sorted("record-%d" % i for i in range(30))
    assert len(set((row[0], row[1]) for row in rows)) == 30

    # The group's committed offsets make a second run start at the end.
    assert kcat(broker, *args).strip() == ""
