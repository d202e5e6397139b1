"""The Kafka WebSocket Proxy API of the real `kgate serve`, driven by a WebSocket client
kgate did not write (Python `websockets`), with what landed in Kafka checked by another
independent client (kafka-python): produce with result frames, consume with acks and
redelivery after a reconnect, the HTTP endpoints, and a bad `ws.*` key refused at start.
"""

import asyncio
import json
import subprocess
import time

import pytest
import websockets
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from helpers import Kgate, create_topic, http, kgate_binary, wait_until

WS_LISTENING = "kgate WebSocket proxy listening on "
ADMIN_LISTENING = "kgate WebSocket admin listening on "


@pytest.fixture(scope="module")
def ws_kgate(tmp_path_factory):
    """A full `kgate serve` and the addresses of its WebSocket proxy and admin server."""
    k = Kgate(tmp_path_factory.mktemp("kgate-ws")).start()

    def found(prefix):
        return next((l[len(prefix):].strip() for l in k.output if l.startswith(prefix)), None)

    k.ws_http = wait_until(lambda: found(WS_LISTENING), message="the WebSocket proxy line")
    k.ws_admin = wait_until(lambda: found(ADMIN_LISTENING), message="the admin line")
    k.ws_url = "ws://" + k.ws_http[len("http://"):]
    yield k
    k.kill()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=60))


def test_produced_frames_get_results_and_land_in_kafka(ws_kgate, topic_name):
    create_topic(ws_kgate, topic_name, partitions=2)
    url = "%s/socket/in?clientId=py&topic=%s&keyType=string&valType=json" % (
        ws_kgate.ws_url, topic_name)

    async def produce():
        async with websockets.connect(url) as ws:
            for i in range(20):
                await ws.send(json.dumps({
                    "headers": [{"key": "origin", "value": "python"}],
                    "key": {"value": "k%d" % i, "format": "string"},
                    "value": {"value": {"n": i, "tags": ["a", "b"]}, "format": "json"},
                    "messageId": "py-%d" % i,
                }))
            await ws.send("not json")
            return [json.loads(await ws.recv()) for _ in range(21)]

    answers = run(produce())
    for i, r in enumerate(answers[:20]):
        assert r["clientMessageId"] == "py-%d" % i, r
        assert r["topic"] == topic_name and r["offset"] >= 0 and r["timestamp"] > 0, r
    assert "error" in answers[20], answers[20]

    consumer = KafkaConsumer(bootstrap_servers=ws_kgate.bootstrap, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        consumer.assign([TopicPartition(topic_name, p) for p in (0, 1)])
        records = []
        deadline = time.monotonic() + 30
        while len(records) < 20 and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    assert len(records) == 20
    by_key = {r.key.decode(): r for r in records}
    for i in range(20):
        r = by_key["k%d" % i]
        assert json.loads(r.value) == {"n": i, "tags": ["a", "b"]}
        assert r.headers == [("origin", b"python")]
        answer = answers[i]
        assert (r.partition, r.offset) == (answer["partition"], answer["offset"])


def test_acks_commit_and_unacked_records_come_again(ws_kgate, topic_name):
    create_topic(ws_kgate, topic_name)
    producer = KafkaProducer(bootstrap_servers=ws_kgate.bootstrap)
    for i in range(6):
        producer.send(topic_name, key=b"k", value=("%d" % i).encode(), partition=0)
    producer.flush()
    producer.close()
    url = "%s/socket/out?clientId=py&groupId=py-group&topic=%s&keyType=string&autoCommit=false" % (
        ws_kgate.ws_url, topic_name)

    async def first_connection():
        async with websockets.connect(url) as ws:
            got = [json.loads(await ws.recv()) for _ in range(6)]
            await ws.send(json.dumps({"wsProxyMessageId": got[2]["wsProxyMessageId"]}))
            # Give the proxy a moment to take the ack before the socket closes.
            await asyncio.sleep(0.5)
            return got

    async def second_connection():
        async with websockets.connect(url) as ws:
            return [json.loads(await ws.recv()) for _ in range(3)]

    got = run(first_connection())
    assert [r["value"] for r in got] == [{"value": "%d" % i, "format": "string"} for i in range(6)]
    assert got[0]["key"] == {"value": "k", "format": "string"}
    assert got[0]["wsProxyMessageId"] == "%s-0-0-%d" % (topic_name, got[0]["timestamp"])
    again = run(second_connection())
    assert [r["offset"] for r in again] == [3, 4, 5]


def test_http_endpoints(ws_kgate):
    answer = http("GET", ws_kgate.ws_http + "/healthcheck")
    assert (answer.status, answer.json) == (200, {"response": "I'm healthy"})
    answer = http("GET", ws_kgate.ws_http + "/kafka/cluster/info")
    assert answer.status == 200 and answer.json[0]["port"] > 0, answer
    answer = http("GET", ws_kgate.ws_admin + "/admin/client/config")
    assert answer.status == 200, answer
    assert answer.json["consumers"]["static"][0]["group-id"] == "__DEFAULT__"
    body = {"group-id": "py-group", "max-connections": 1}
    answer = http("POST", ws_kgate.ws_admin + "/admin/client/config/consumer/py-group", body)
    assert answer.status == 200, answer
    answer = http("GET", ws_kgate.ws_admin + "/admin/client/config/consumer/py-group")
    assert (answer.status, answer.json) == (200, body)
    answer = http("GET", ws_kgate.ws_http + "/socket/in?clientId=x&topic=nope")
    assert answer.status == 400, answer


def test_a_bad_ws_key_stops_start_up_naming_it(tmp_path):
    result = subprocess.run(
        [str(kgate_binary()), "serve", "--set", "ws.consumer.limits.g.speed=1",
         "--set", "data.dir=%s" % tmp_path, "--set", "listeners=http://127.0.0.1:0",
         "--set", "broker.listeners=127.0.0.1:0"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0
    assert "ws.consumer.limits.g.speed" in result.stdout + result.stderr
