"""Records in Confluent's wire format crossing between confluent-kafka's serializers
(AvroSerializer, JSONSerializer, ProtobufSerializer and their deserializers) and kgate's
REST Proxy, with kgate's built-in Schema Registry in the middle, all served by the real
`kgate serve` binary:

- records the Python serializers write, produced with confluent_kafka.Producer, are read
  back through a kgate v2 consumer instance in the matching embedded format;
- records produced through kgate's v2 and v3 APIs are decoded by the Python
  deserializers."""

import json
import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from helpers import create_topic, http

TIMEOUT = 30
V2 = "application/vnd.kafka.v2+json"
CONTENT_TYPES = {
    "avro": "application/vnd.kafka.avro.v2+json",
    "protobuf": "application/vnd.kafka.protobuf.v2+json",
    "jsonschema": "application/vnd.kafka.jsonschema.v2+json",
}
# The topic naming strategy, said explicitly: the client's default asks the registry for
# topic-subject associations first (a Confluent Cloud API) and only then falls back to it.
SERDE_CONF = {"subject.name.strategy.type": "TOPIC"}

USER_AVRO = json.dumps({
    "type": "record", "name": "User", "namespace": "com.example.serde",
    "fields": [
        {"name": "name", "type": "string"},
        {"name": "age", "type": ["null", "int"], "default": None},
        {"name": "score", "type": "double"},
        {"name": "active", "type": "boolean"},
        {"name": "id", "type": "long"},
        {"name": "address", "type": {
            "type": "record", "name": "Address",
            "fields": [{"name": "city", "type": "string"}]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "level", "type": {"type": "enum", "name": "Level",
                                   "symbols": ["LOW", "HIGH"]}},
    ],
})
# The users as Python values (what the Avro serializer takes and the deserializer gives)
# and in Avro's JSON encoding (what the REST Proxy shows: a non-null union branch is
# wrapped in an object named by its type).
USERS = [
    {"name": "ann", "age": 31, "score": 1.5, "active": True, "id": 2 ** 40,
     "address": {"city": "Oslo"}, "tags": ["a", "b"], "level": "HIGH"},
    {"name": "bob", "age": None, "score": -0.25, "active": False, "id": -7,
     "address": {"city": "Rome"}, "tags": [], "level": "LOW"},
]


def avro_json(user):
    encoded = dict(user)
    if user["age"] is not None:
        encoded["age"] = {"int": user["age"]}
    return encoded


ITEM_JSON_SCHEMA = json.dumps({
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Item",
    "type": "object",
    "properties": {
        "sku": {"type": "string"},
        "count": {"type": "integer"},
        "price": {"type": "number"},
        "labels": {"type": "array", "items": {"type": "string"}},
        "extra": {"type": ["object", "null"]},
    },
    "required": ["sku", "count"],
})
ITEMS = [
    {"sku": "s-1", "count": 3, "price": 9.5, "labels": ["x"], "extra": {"k": [1, 2]}},
    {"sku": "s-2", "count": 0, "labels": [], "extra": None},
]

# A protobuf file with two top-level messages, so that records of the second one carry
# a non-trivial message index ([1]) in the wire format. The .proto text is what the
# registry holds; the same file is built as a descriptor for the Python classes.
PROTO_TEXT = """syntax = "proto3";
package interop.serde;

message Note {
  string text = 1;
}

message Order {
  string id = 1;
  int32 quantity = 2;
  repeated string tags = 3;
  Line line = 4;
  message Line {
    string sku = 1;
    int64 cents = 2;
  }
}
"""

# The same messages with Order first: kgate's v2 and v3 produce (like Confluent's proxy)
# write a file's first message, index [0].
PROTO_TEXT_ORDER_FIRST = """syntax = "proto3";
package interop.serde;

message Order {
  string id = 1;
  int32 quantity = 2;
  repeated string tags = 3;
  Line line = 4;
  message Line {
    string sku = 1;
    int64 cents = 2;
  }
}

message Note {
  string text = 1;
}
"""


def proto_classes():
    """The Note and Order classes of PROTO_TEXT, built from a descriptor at run time."""
    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="interop/serde.proto", package="interop.serde",
        syntax="proto3")
    note = file.message_type.add(name="Note")
    note.field.add(name="text", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL,
                   json_name="text")
    order = file.message_type.add(name="Order")
    order.field.add(name="id", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL,
                    json_name="id")
    order.field.add(name="quantity", number=2, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL,
                    json_name="quantity")
    order.field.add(name="tags", number=3, type=F.TYPE_STRING, label=F.LABEL_REPEATED,
                    json_name="tags")
    order.field.add(name="line", number=4, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                    type_name=".interop.serde.Order.Line", json_name="line")
    line = order.nested_type.add(name="Line")
    line.field.add(name="sku", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL,
                   json_name="sku")
    line.field.add(name="cents", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL,
                   json_name="cents")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return tuple(message_factory.GetMessageClass(pool.FindMessageTypeByName(
        "interop.serde.%s" % name)) for name in ("Note", "Order"))


Note, Order = proto_classes()


def make_order(i):
    return Order(id="o-%d" % i, quantity=i, tags=["t%d" % i] * i,
                 line=Order.Line(sku="sku-%d" % i, cents=10 ** 12 + i))


def order_json(i):
    """An order as kgate's protobuf format shows it: proto3's JSON mapping (64-bit
    integers as strings) with every field present, defaults included."""
    return {"id": "o-%d" % i, "quantity": i, "tags": ["t%d" % i] * i,
            "line": {"sku": "sku-%d" % i, "cents": str(10 ** 12 + i)}}


@pytest.fixture(scope="module")
def registry(kgate):
    return SchemaRegistryClient({"url": kgate.registry_url})


@pytest.fixture(scope="module")
def cluster_id(kgate):
    answer = http("GET", kgate.rest_url + "/v3/clusters")
    assert answer.status == 200, answer
    return answer.json["data"][0]["cluster_id"]


@pytest.fixture
def topic(kgate, topic_name):
    create_topic(kgate, topic_name)
    return topic_name


def produce_raw(kgate, topic, records):
    """Produces (key bytes, value bytes) pairs with confluent_kafka.Producer and waits for
    every delivery."""
    producer = Producer({"bootstrap.servers": kgate.bootstrap, "linger.ms": 0})
    failures = []

    def delivered(err, _msg):
        if err is not None:
            failures.append(err)

    for key, value in records:
        producer.produce(topic, key=key, value=value, on_delivery=delivered)
    assert producer.flush(TIMEOUT) == 0, "records still in flight"
    assert failures == [], failures


def read_raw(kgate, topic, count):
    """Reads `count` records of partition 0 from its start with confluent_kafka.Consumer
    (assigned, no group join); returns the messages in offset order."""
    consumer = Consumer({
        "bootstrap.servers": kgate.bootstrap,
        "group.id": "interop-raw-%s" % uuid.uuid4().hex,
        "enable.auto.commit": False,
    })
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        messages = []
        deadline = time.monotonic() + TIMEOUT
        while len(messages) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            messages.append(msg)
        assert len(messages) == count, "read %d of %d records" % (len(messages), count)
        return messages
    finally:
        consumer.close()


def read_v2(kgate, topic, fmt, count):
    """Reads `count` records of `topic` through a new kgate v2 consumer instance in the
    embedded format `fmt`; returns them in offset order."""
    group = "interop-v2-%s" % uuid.uuid4().hex
    created = http("POST", "%s/consumers/%s" % (kgate.rest_url, group),
                   {"format": fmt, "auto.offset.reset": "earliest"}, V2)
    assert created.status == 200, created
    base = created.json["base_uri"]
    try:
        subscribed = http("POST", base + "/subscription", {"topics": [topic]}, V2)
        assert subscribed.status == 204, subscribed
        records = []
        deadline = time.monotonic() + TIMEOUT
        while len(records) < count:
            assert time.monotonic() < deadline, "read %d of %d records: %s" % (
                len(records), count, records)
            answer = http("GET", base + "/records?timeout=1000",
                          accept="application/vnd.kafka.%s.v2+json" % fmt)
            assert answer.status == 200, answer
            records.extend(answer.json)
        return sorted(records, key=lambda r: r["offset"])
    finally:
        http("DELETE", base, accept=V2)


def wire_id(data):
    assert data[0] == 0, "magic byte %r" % data[:1]
    return int.from_bytes(data[1:5], "big")


# --- records the Python serializers write, read through kgate's v2 consumers -----------

def test_avro_serializer_records_read_by_a_kgate_v2_consumer(kgate, registry, topic):
    # The key serializer keeps the client's default strategy: its association lookup
    # gets kgate's 404 and falls back to the topic strategy.
    key_ser = AvroSerializer(registry, '"string"')
    value_ser = AvroSerializer(registry, USER_AVRO, conf=SERDE_CONF)
    records = []
    for i, user in enumerate(USERS):
        records.append((
            key_ser("user-%d" % i, SerializationContext(topic, MessageField.KEY)),
            value_ser(user, SerializationContext(topic, MessageField.VALUE)),
        ))
    produce_raw(kgate, topic, records)

    # The serializer registered its schemas in kgate's registry under the topic's subjects.
    value_id = registry.get_latest_version("%s-value" % topic).schema_id
    key_id = registry.get_latest_version("%s-key" % topic).schema_id
    assert [wire_id(v) for _, v in records] == [value_id, value_id]
    assert wire_id(records[0][0]) == key_id

    read = read_v2(kgate, topic, "avro", len(USERS))
    assert [r["key"] for r in read] == ["user-0", "user-1"]
    assert [r["value"] for r in read] == [avro_json(u) for u in USERS]


def test_json_serializer_records_read_by_a_kgate_v2_consumer(kgate, registry, topic):
    value_ser = JSONSerializer(ITEM_JSON_SCHEMA, registry, conf=SERDE_CONF)
    produce_raw(kgate, topic, [
        (None, value_ser(item, SerializationContext(topic, MessageField.VALUE)))
        for item in ITEMS])
    latest = registry.get_latest_version("%s-value" % topic)
    assert latest.schema.schema_type == "JSON"

    read = read_v2(kgate, topic, "jsonschema", len(ITEMS))
    assert [r["value"] for r in read] == ITEMS
    assert [r["key"] for r in read] == [None, None]


def test_protobuf_records_framed_by_hand_read_by_a_kgate_v2_consumer(kgate, registry, topic):
    # The registry takes .proto text from every client; records use the second message,
    # so their header carries message index [1] (zig-zag varints: count 1, index 1).
    schema_id = registry.register_schema("%s-value" % topic, Schema(PROTO_TEXT, "PROTOBUF"))
    header = b"\x00" + schema_id.to_bytes(4, "big") + b"\x02\x02"
    records = [(None, header + make_order(i).SerializeToString()) for i in range(3)]
    # A Note, the first message: its index [0] is written as the single byte 0.
    note_header = b"\x00" + schema_id.to_bytes(4, "big") + b"\x00"
    records.append((None, note_header + Note(text="hello").SerializeToString()))
    produce_raw(kgate, topic, records)

    read = read_v2(kgate, topic, "protobuf", 4)
    assert [r["value"] for r in read[1:3]] == [order_json(1), order_json(2)]
    # Order 0 has fields at their defaults: shown with their default values.
    first = read[0]["value"]
    assert first["id"] == "o-0" and first["quantity"] == 0 and first["tags"] == [], first
    assert read[3]["value"] == {"text": "hello"}


def test_protobuf_serializer_records_read_by_a_kgate_v2_consumer(kgate, registry, topic):
    value_ser = ProtobufSerializer(Order, registry, conf=dict(SERDE_CONF))
    produce_raw(kgate, topic, [
        (None, value_ser(make_order(i), SerializationContext(topic, MessageField.VALUE)))
        for i in (1, 2)])
    read = read_v2(kgate, topic, "protobuf", 2)
    assert [r["value"] for r in read] == [order_json(1), order_json(2)]

    # And its deserializer, which reads the writer's schema from the registry.
    deser = ProtobufDeserializer(Order, dict(SERDE_CONF), registry)
    messages = read_raw(kgate, topic, 2)
    decoded = [deser(m.value(), SerializationContext(topic, MessageField.VALUE))
               for m in messages]
    assert decoded == [make_order(1), make_order(2)]


# --- records kgate's REST Proxy writes, decoded by the Python deserializers --------------

def v2_produce(kgate, topic, fmt, body):
    answer = http("POST", "%s/topics/%s" % (kgate.rest_url, topic), body,
                  CONTENT_TYPES[fmt], accept=V2)
    assert answer.status == 200, answer
    assert all(o.get("error_code") is None for o in answer.json["offsets"]), answer
    return answer.json


def test_v2_avro_records_decoded_by_avro_deserializer(kgate, registry, topic):
    first = v2_produce(kgate, topic, "avro", {
        "key_schema": '"string"', "value_schema": USER_AVRO,
        "records": [{"key": "k0", "value": avro_json(USERS[0])}]})
    value_id = first["value_schema_id"]
    second = v2_produce(kgate, topic, "avro", {
        "value_schema_id": value_id, "records": [{"value": avro_json(USERS[1])}]})
    assert second["value_schema_id"] == value_id
    assert registry.get_latest_version("%s-value" % topic).schema_id == value_id

    messages = read_raw(kgate, topic, 2)
    assert [wire_id(m.value()) for m in messages] == [value_id, value_id]
    assert wire_id(messages[0].key()) == first["key_schema_id"]
    deser = AvroDeserializer(registry, conf=SERDE_CONF)
    values = [deser(m.value(), SerializationContext(topic, MessageField.VALUE))
              for m in messages]
    assert values == USERS
    assert deser(messages[0].key(), SerializationContext(topic, MessageField.KEY)) == "k0"
    assert messages[1].key() is None


def test_v2_jsonschema_records_decoded_by_json_deserializer(kgate, registry, topic):
    first = v2_produce(kgate, topic, "jsonschema", {
        "value_schema": ITEM_JSON_SCHEMA, "records": [{"value": ITEMS[0]}]})
    v2_produce(kgate, topic, "jsonschema", {
        "value_schema_id": first["value_schema_id"], "records": [{"value": ITEMS[1]}]})

    messages = read_raw(kgate, topic, 2)
    assert {wire_id(m.value()) for m in messages} == {first["value_schema_id"]}
    # Without a schema of its own the deserializer reads the writer's from the registry.
    deser = JSONDeserializer(None, schema_registry_client=registry, conf=SERDE_CONF)
    values = [deser(m.value(), SerializationContext(topic, MessageField.VALUE))
              for m in messages]
    assert values == ITEMS


def test_v2_protobuf_records_decoded_by_protobuf_deserializer(kgate, registry, topic):
    first = v2_produce(kgate, topic, "protobuf", {
        "value_schema": PROTO_TEXT_ORDER_FIRST, "records": [{"value": order_json(1)}]})
    v2_produce(kgate, topic, "protobuf", {
        "value_schema_id": first["value_schema_id"], "records": [{"value": order_json(2)}]})

    messages = read_raw(kgate, topic, 2)
    for m in messages:
        assert wire_id(m.value()) == first["value_schema_id"]
        # Message index [0], the file's first message: the single byte 0.
        assert m.value()[5:6] == b"\x00", m.value()[:8]
    # With the registry client: it fetches the writer's schema with ?format=serialized.
    deser = ProtobufDeserializer(Order, dict(SERDE_CONF), registry)
    values = [deser(m.value(), SerializationContext(topic, MessageField.VALUE))
              for m in messages]
    assert values == [make_order(1), make_order(2)]


# --- kgate's v3 produce -------------------------------------------------------------------

V3_CASES = {
    # type: (schema, its record name, values as sent to kgate, values decoded back)
    "AVRO": (USER_AVRO, "com.example.serde.User", [avro_json(u) for u in USERS], USERS),
    "JSONSCHEMA": (ITEM_JSON_SCHEMA, "Item", ITEMS, ITEMS),
    "PROTOBUF": (PROTO_TEXT_ORDER_FIRST, "interop.serde.Order",
                 [order_json(i) for i in (1, 2)], [make_order(i) for i in (1, 2)]),
}


def v3_produce(kgate, cluster_id, topic, body):
    answer = http("POST", "%s/v3/clusters/%s/topics/%s/records" % (
        kgate.rest_url, cluster_id, topic), body)
    assert answer.status == 200, answer
    assert answer.json.get("error_code") == 200, answer
    return answer.json


def decoder_for(kind, registry):
    if kind == "AVRO":
        return AvroDeserializer(registry, conf=SERDE_CONF)
    if kind == "JSONSCHEMA":
        return JSONDeserializer(None, schema_registry_client=registry, conf=SERDE_CONF)
    return ProtobufDeserializer(Order, dict(SERDE_CONF), registry)


@pytest.mark.parametrize("kind", ["AVRO", "JSONSCHEMA", "PROTOBUF"])
def test_v3_records_decoded_by_confluent_deserializers(kgate, registry, cluster_id, topic, kind):
    schema, record_name, sent, decoded = V3_CASES[kind]
    subject = "%s-value" % topic

    # An inline schema registers it under <topic>-value; the report names subject, id and
    # version.
    first = v3_produce(kgate, cluster_id, topic, {
        "key": {"type": "STRING", "data": "k"},
        "value": {"type": kind, "schema": schema, "data": sent[0]}})
    latest = registry.get_latest_version(subject)
    report = first["value"]
    assert report["type"] == kind, first
    assert (report["subject"], report["schema_id"], report["schema_version"]) == (
        subject, latest.schema_id, 1), first
    assert report["size"] > 5, first
    schema_id = latest.schema_id

    # The same schema chosen by id, by version, and by nothing (the subject's latest).
    selections = [{"schema_id": schema_id}, {"schema_version": 1}, {}]
    for selection in selections:
        answer = v3_produce(kgate, cluster_id, topic, {
            "value": dict(selection, data=sent[1])})
        assert (answer["value"]["subject"], answer["value"]["schema_id"]) == (
            subject, schema_id), (selection, answer)

    # TOPIC_RECORD_NAME registers under <topic>-<record name>: the same schema, same id.
    named = v3_produce(kgate, cluster_id, topic, {
        "value": {"type": kind, "schema": schema, "subject_name_strategy": "TOPIC_RECORD_NAME",
                  "data": sent[0]}})
    assert named["value"]["subject"] == "%s-%s" % (topic, record_name), named
    assert named["value"]["schema_id"] == schema_id, named
    assert registry.get_latest_version("%s-%s" % (topic, record_name)).schema_id == schema_id

    expected = [decoded[0]] + [decoded[1]] * len(selections) + [decoded[0]]
    messages = read_raw(kgate, topic, len(expected))
    assert messages[0].key() == b"k"
    assert {wire_id(m.value()) for m in messages} == {schema_id}
    deser = decoder_for(kind, registry)
    values = [deser(m.value(), SerializationContext(topic, MessageField.VALUE))
              for m in messages]
    assert values == expected
