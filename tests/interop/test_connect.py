"""kgate's Kafka Connect API driven by an independent Connect client from PyPI
(kafka-connect-py's KafkaConnect), with what landed in Kafka read by kafka-python."""

import json
import pathlib

import pytest
from kafka import KafkaConsumer
from kafka_connect import KafkaConnect
from requests.exceptions import HTTPError

from helpers import wait_until

pytestmark = pytest.mark.timeout(240)

SOURCE = "org.apache.kafka.connect.file.FileStreamSourceConnector"
SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"


@pytest.fixture
def connect(kgate):
    return KafkaConnect(url=kgate.connect_url)


def states(connect, name):
    status = connect.get_connector_status(name)
    return status["connector"]["state"], [t["state"] for t in status["tasks"]]


def running(connect, name, tasks=1):
    wait_until(
        lambda: states(connect, name) == ("RUNNING", ["RUNNING"] * tasks),
        timeout=60,
        message="%s running" % name,
    )


def read_values(bootstrap, topic, count):
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=2000,
    )
    values = []
    try:
        for _ in range(30):
            for message in consumer:
                values.append(message.value.decode())
            if len(values) >= count:
                break
    finally:
        consumer.close()
    return values


def test_cluster_info_and_plugins(connect):
    info = connect.get_cluster_info()
    assert info["version"] == "4.4.0"
    assert info["kafka_cluster_id"]
    classes = {p["class"]: p["type"] for p in connect.list_connector_plugins()}
    assert classes[SOURCE] == "source"
    assert classes[SINK] == "sink"

    # Validation answers with Apache's ConfigInfos: an error per missing required key.
    answer = connect.validate_connector_config(
        "FileStreamSourceConnector",
        {"connector.class": SOURCE, "name": "v", "batch.size": "x"},
    )
    assert answer["name"] == SOURCE
    assert answer["error_count"] == 2
    by_name = {c["value"]["name"]: c["value"] for c in answer["configs"]}
    assert by_name["topic"]["errors"] == [
        'Missing required configuration "topic" which has no default value.'
    ]
    assert by_name["batch.size"]["errors"] == [
        "Invalid value x for configuration batch.size: Not a number of type INT"
    ]


def test_a_file_pipeline_through_the_client(connect, kgate, tmp_path, topic_name):
    source_file = tmp_path / "in.txt"
    sink_file = tmp_path / "out.txt"
    lines = ["line %d" % i for i in range(50)]
    source_file.write_text("".join(l + "\n" for l in lines))
    source = "%s-src" % topic_name
    sink = "%s-sink" % topic_name

    created = connect.create_connector({
        "name": source,
        "config": {
            "connector.class": SOURCE,
            "file": str(source_file),
            "topic": topic_name,
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        },
    })
    assert created["name"] == source
    assert created["type"] == "source"
    running(connect, source)
    assert sorted(read_values(kgate.bootstrap, topic_name, len(lines))) == sorted(lines)

    connect.create_connector({
        "name": sink,
        "config": {
            "connector.class": SINK,
            "file": str(sink_file),
            "topics": topic_name,
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "tasks.max": "1",
        },
    })
    running(connect, sink)
    wait_until(
        lambda: sink_file.exists() and sink_file.read_text().count("\n") >= len(lines),
        timeout=90,
        message="the sink file",
    )
    assert sorted(sink_file.read_text().splitlines()) == sorted(lines)

    # Listing, with Apache's expansions.
    assert {source, sink} <= set(connect.list_connectors())
    expanded = connect.list_connectors(expand="status")
    assert expanded[source]["status"]["connector"]["state"] == "RUNNING"
    assert expanded[sink]["status"]["type"] == "sink"
    assert connect.get_connector(source)["tasks"] == [{"connector": source, "task": 0}]
    assert connect.get_connector_config(sink)["topics"] == topic_name
    tasks = connect.list_connector_tasks(source)
    assert tasks[0]["id"] == {"connector": source, "task": 0}
    assert connect.get_connector_task_status(source, 0)["state"] == "RUNNING"
    assert connect.list_connector_topics(source) == {source: {"topics": [topic_name]}}

    # Pause and resume.
    connect.pause_connector(source)
    wait_until(lambda: states(connect, source) == ("PAUSED", ["PAUSED"]), timeout=60,
               message="paused")
    connect.resume_connector(source)
    running(connect, source)

    # The client sends includeTasks/onlyFailed as Python booleans ("True"/"False").
    restarted = connect.restart_connector(source, include_tasks=True, only_failed=False)
    assert restarted["connector"]["state"] == "RESTARTING"
    assert connect.restart_connector(source) is None  # 204: the connector alone
    connect.restart_connector_task(source, 0)
    running(connect, source)

    # A new configuration restarts the task with it.
    connect.update_connector(source, {
        "connector.class": SOURCE,
        "file": str(source_file),
        "topic": topic_name,
        "batch.size": "10",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    })
    wait_until(lambda: connect.list_connector_tasks(source)[0]["config"].get("batch.size") == "10",
               timeout=60, message="new task configuration")
    more = ["more %d" % i for i in range(5)]
    with source_file.open("a") as f:
        f.write("".join(l + "\n" for l in more))
    wait_until(
        lambda: sink_file.read_text().count("\n") >= len(lines) + len(more),
        timeout=90,
        message="the appended lines in the sink file",
    )
    assert sorted(sink_file.read_text().splitlines()) == sorted(lines + more)

    connect.reset_connector_topics(source)
    assert connect.list_connector_topics(source) == {source: {"topics": []}}

    connect.stop_connector(source)
    wait_until(lambda: states(connect, source) == ("STOPPED", []), timeout=60,
               message="stopped")
    connect.delete_connector(source)
    connect.delete_connector(sink)
    wait_until(lambda: source not in connect.list_connectors(), timeout=30,
               message="deleted")
    with pytest.raises(HTTPError) as missing:
        connect.get_connector(source)
    assert missing.value.response.status_code == 404
    assert missing.value.response.json() == {
        "error_code": 404,
        "message": "Connector %s not found" % source,
    }


def test_client_mistakes_get_apache_errors(connect, tmp_path):
    with pytest.raises(HTTPError) as unknown:
        connect.create_connector({
            "name": "no-such-class",
            "config": {"connector.class": "com.example.Nope", "topic": "t"},
        })
    assert unknown.value.response.status_code == 400
    body = unknown.value.response.json()
    assert body["error_code"] == 400
    assert body["message"].startswith(
        "Failed to find any class that implements Connector and which name matches com.example.Nope"
    )

    with pytest.raises(HTTPError) as invalid:
        connect.create_connector({
            "name": "no-topic",
            "config": {"connector.class": "FileStreamSource", "file": str(tmp_path / "x")},
        })
    assert invalid.value.response.status_code == 400
    assert "Missing required configuration \"topic\"" in invalid.value.response.json()["message"]

    with pytest.raises(HTTPError) as missing:
        connect.get_connector_status("never-created")
    assert missing.value.response.status_code == 404
