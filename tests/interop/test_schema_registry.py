"""confluent-kafka's SchemaRegistryClient (Confluent's own Python client of the Schema
Registry API) against kgate's built-in registry, served by the real `kgate serve`
binary: register, read back, look up, compatibility settings and checks, evolution,
soft and permanent deletes, and references, for AVRO, PROTOBUF and JSON schemas."""

import json
import uuid

import pytest
from confluent_kafka.schema_registry import (
    Schema,
    SchemaReference,
    SchemaRegistryClient,
    SchemaRegistryError,
)

from helpers import http

REGISTRY_JSON = "application/vnd.schemaregistry.v1+json"

AVRO_USER = json.dumps({
    "type": "record", "name": "User", "namespace": "com.example.interop",
    "fields": [{"name": "name", "type": "string"}],
})
PROTO_ORDER = """syntax = "proto3";
package interop;

message Order {
  string id = 1;
  int32 quantity = 2;
}
"""
JSON_ITEM = json.dumps({
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"sku": {"type": "string"}, "count": {"type": "integer"}},
    "required": ["sku"],
    "additionalProperties": False,
})

# One schema of each type, and a compatible and an incompatible next version of it
# under BACKWARD: a new field that old data can do without is compatible; a field whose
# type changes (or a new field without a default, for Avro) is not.
EVOLUTIONS = {
    "AVRO": (
        AVRO_USER,
        json.dumps({
            "type": "record", "name": "User", "namespace": "com.example.interop",
            "fields": [{"name": "name", "type": "string"},
                       {"name": "age", "type": ["null", "int"], "default": None}],
        }),
        json.dumps({
            "type": "record", "name": "User", "namespace": "com.example.interop",
            "fields": [{"name": "name", "type": "string"},
                       {"name": "age", "type": ["null", "int"], "default": None},
                       {"name": "email", "type": "string"}],
        }),
    ),
    "PROTOBUF": (
        PROTO_ORDER,
        PROTO_ORDER.replace("int32 quantity = 2;", "int32 quantity = 2;\n  string note = 3;"),
        PROTO_ORDER.replace("string id = 1;", "int64 id = 1;"),
    ),
    "JSON": (
        JSON_ITEM,
        json.dumps({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"sku": {"type": "string"}, "count": {"type": "integer"},
                           "note": {"type": "string"}},
            "required": ["sku"],
            "additionalProperties": False,
        }),
        json.dumps({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"sku": {"type": "integer"}, "count": {"type": "integer"}},
            "required": ["sku"],
            "additionalProperties": False,
        }),
    ),
}
FIRST_SCHEMA = {kind: schemas[0] for kind, schemas in EVOLUTIONS.items()}


def client_for(kgate):
    """A new client: the client caches what it registered and read, and a test that
    checks the server's answers must not be served from that cache."""
    return SchemaRegistryClient({"url": kgate.registry_url})


def subject_name(label):
    return "interop-%s-%s-value" % (label, uuid.uuid4().hex[:10])


def same_schema(kind, registered, expected):
    """Schemas compare as JSON for AVRO and JSON (the registry may reformat them), as
    trimmed text for PROTOBUF."""
    if kind == "PROTOBUF":
        return registered.strip() == expected.strip()
    return json.loads(registered) == json.loads(expected)


def raises_registry_error(call, status, code=None):
    with pytest.raises(SchemaRegistryError) as caught:
        call()
    assert caught.value.http_status_code == status, caught.value
    if code is not None:
        assert caught.value.error_code == code, caught.value
    return caught.value


def test_schema_types_are_served(kgate):
    assert set(client_for(kgate).get_schema_types()) >= {"AVRO", "PROTOBUF", "JSON"}


@pytest.mark.parametrize("kind", ["AVRO", "PROTOBUF", "JSON"])
def test_register_read_back_and_look_up(kgate, kind):
    subject = subject_name(kind.lower())
    text = FIRST_SCHEMA[kind]
    schema_id = client_for(kgate).register_schema(subject, Schema(text, kind))
    assert isinstance(schema_id, int) and schema_id > 0

    # Registering the identical schema again is idempotent: same id, still one version.
    assert client_for(kgate).register_schema(subject, Schema(text, kind)) == schema_id

    by_id = client_for(kgate).get_schema(schema_id)
    assert by_id.schema_type == kind
    assert same_schema(kind, by_id.schema_str, text), by_id.schema_str

    latest = client_for(kgate).get_latest_version(subject)
    assert (latest.schema_id, latest.subject, latest.version) == (schema_id, subject, 1)
    assert latest.schema.schema_type == kind
    assert same_schema(kind, latest.schema.schema_str, text)

    first = client_for(kgate).get_version(subject, 1)
    assert (first.schema_id, first.version) == (schema_id, 1)
    assert same_schema(kind, first.schema.schema_str, text)

    found = client_for(kgate).lookup_schema(subject, Schema(text, kind))
    assert (found.schema_id, found.subject, found.version) == (schema_id, subject, 1)

    client = client_for(kgate)
    assert subject in client.get_subjects()
    assert subject in client.get_subjects(subject_prefix=subject[:-6])
    assert client.get_subjects(subject_prefix="no-such-prefix-%s" % uuid.uuid4().hex) == []
    assert client.get_versions(subject) == [1]
    assert subject in client.get_subjects_by_schema_id(schema_id)
    assert [(v.subject, v.version) for v in client.get_schema_versions(schema_id)] == [
        (subject, 1)]

    # What is not there is a typed error with Confluent's codes.
    raises_registry_error(lambda: client.get_version(subject, 2), 404, 40402)
    raises_registry_error(
        lambda: client.get_latest_version(subject_name("missing")), 404, 40401)
    raises_registry_error(lambda: client.get_schema(2_000_000_000), 404, 40403)
    other = EVOLUTIONS[kind][1]
    raises_registry_error(lambda: client.lookup_schema(subject, Schema(other, kind)), 404, 40403)


def test_invalid_schema_is_rejected_with_42201(kgate):
    client = client_for(kgate)
    for kind, text in [("AVRO", '{"type": "record", "name": "X"}'),
                       ("PROTOBUF", "message {"),
                       ("JSON", '{"type": 12}')]:
        raises_registry_error(
            lambda: client.register_schema(subject_name("invalid"), Schema(text, kind)),
            422, 42201)


def test_compatibility_settings_subject_and_global(kgate):
    client = client_for(kgate)
    assert client.get_compatibility() == "BACKWARD"
    subject = subject_name("compat")
    client.register_schema(subject, Schema(AVRO_USER, "AVRO"))

    # The client hands back the server's answer, Confluent's {"compatibility": ...}.
    assert client.set_compatibility(subject_name=subject, level="FORWARD") == {
        "compatibility": "FORWARD"}
    assert client_for(kgate).get_compatibility(subject) == "FORWARD"
    assert client_for(kgate).get_config(subject).compatibility_level == "FORWARD"
    raises_registry_error(
        lambda: client.set_compatibility(subject_name=subject, level="SIDEWAYS"), 422, 42203)

    try:
        assert client.set_compatibility(level="FULL_TRANSITIVE") == {
            "compatibility": "FULL_TRANSITIVE"}
        assert client_for(kgate).get_compatibility() == "FULL_TRANSITIVE"
        # A subject's own level wins over the global one.
        assert client_for(kgate).get_compatibility(subject) == "FORWARD"
    finally:
        client.set_compatibility(level="BACKWARD")
    assert client_for(kgate).get_compatibility() == "BACKWARD"

    # Without its own level, the subject follows the global one once its level is removed.
    client.delete_config(subject)
    raises_registry_error(lambda: client_for(kgate).get_compatibility(subject), 404, 40408)
    answer = http("GET", "%s/config/%s?defaultToGlobal=true" % (kgate.registry_url, subject))
    assert answer.status == 200, answer
    assert answer.json["compatibilityLevel"] == "BACKWARD", answer


@pytest.mark.parametrize("kind", ["AVRO", "PROTOBUF", "JSON"])
def test_evolution_compatible_accepted_incompatible_rejected(kgate, kind):
    first, compatible, incompatible = EVOLUTIONS[kind]
    subject = subject_name("evolve-%s" % kind.lower())
    client = client_for(kgate)
    first_id = client.register_schema(subject, Schema(first, kind))

    assert client.test_compatibility(subject, Schema(compatible, kind)) is True
    assert client.test_compatibility(subject, Schema(incompatible, kind)) is False
    assert client.test_compatibility(subject, Schema(incompatible, kind), version=1) is False

    second_id = client.register_schema(subject, Schema(compatible, kind))
    assert second_id != first_id
    assert client_for(kgate).get_versions(subject) == [1, 2]

    error = raises_registry_error(
        lambda: client.register_schema(subject, Schema(incompatible, kind)), 409)
    assert error.error_code == 409, error
    assert client_for(kgate).get_versions(subject) == [1, 2]
    assert client_for(kgate).get_latest_version(subject).schema_id == second_id

    # With the subject's checks switched off, the same schema is accepted.
    client.set_compatibility(subject_name=subject, level="NONE")
    third_id = client.register_schema(subject, Schema(incompatible, kind))
    latest = client_for(kgate).get_latest_version(subject)
    assert (latest.schema_id, latest.version) == (third_id, 3)


def test_transitive_compatibility_checks_every_version(kgate):
    subject = subject_name("transitive")
    client = client_for(kgate)
    client.set_compatibility(subject_name=subject, level="BACKWARD_TRANSITIVE")
    v1 = json.dumps({"type": "record", "name": "T", "fields": [
        {"name": "a", "type": "string"}]})
    # v2 drops `a`: its readers ignore it in v1 data.
    v2 = json.dumps({"type": "record", "name": "T", "fields": []})
    # v3 brings `a` back as an int with a default: it reads v2 data (default) but not
    # v1 data (a string where it wants an int).
    v3 = json.dumps({"type": "record", "name": "T", "fields": [
        {"name": "a", "type": "int", "default": 0}]})
    client.register_schema(subject, Schema(v1, "AVRO"))
    client.register_schema(subject, Schema(v2, "AVRO"))

    assert client.test_compatibility(subject, Schema(v3, "AVRO")) is True
    assert client.test_compatibility(subject, Schema(v3, "AVRO"), version=1) is False
    assert client.test_compatibility_all_versions(subject, Schema(v3, "AVRO")) is False
    raises_registry_error(lambda: client.register_schema(subject, Schema(v3, "AVRO")), 409)

    # Checked against the latest version only, v3 is fine.
    client.set_compatibility(subject_name=subject, level="BACKWARD")
    assert client.test_compatibility_all_versions(subject, Schema(v3, "AVRO")) is True
    client.register_schema(subject, Schema(v3, "AVRO"))
    assert client_for(kgate).get_versions(subject) == [1, 2, 3]


def test_delete_versions_and_subjects_soft_then_permanent(kgate):
    # Schemas no other test registers: ids are shared by every subject holding the same
    # schema, and this test checks that the id goes away with its last holder.
    namespace = "com.example.delete%s" % uuid.uuid4().hex
    first, second = (EVOLUTIONS["AVRO"][i].replace("com.example.interop", namespace)
                     for i in (0, 1))
    subject = subject_name("delete")
    client = client_for(kgate)
    first_id = client.register_schema(subject, Schema(first, "AVRO"))
    second_id = client.register_schema(subject, Schema(second, "AVRO"))

    # A permanent delete needs a soft one first.
    raises_registry_error(lambda: client.delete_version(subject, 1, permanent=True), 404, 40407)
    assert client.delete_version(subject, 1) == 1
    assert client_for(kgate).get_versions(subject) == [2]
    raises_registry_error(lambda: client_for(kgate).get_version(subject, 1), 404, 40402)
    soft_deleted = client_for(kgate).get_version(subject, 1, deleted=True)
    assert soft_deleted.schema_id == first_id
    # The id still resolves: records written with it stay readable.
    assert same_schema("AVRO", client_for(kgate).get_schema(first_id).schema_str, first)
    assert client.delete_version(subject, 1, permanent=True) == 1
    raises_registry_error(
        lambda: client_for(kgate).get_version(subject, 1, deleted=True), 404, 40402)

    raises_registry_error(lambda: client.delete_subject(subject, permanent=True), 404, 40405)
    assert client.delete_subject(subject) == [2]
    assert subject not in client_for(kgate).get_subjects()
    assert subject in client_for(kgate).get_subjects(deleted=True)
    # A subject with no live version is unknown, as in Confluent's registry.
    raises_registry_error(lambda: client_for(kgate).get_latest_version(subject), 404, 40401)
    assert client.delete_subject(subject, permanent=True) == [2]
    assert subject not in client_for(kgate).get_subjects(deleted=True)
    raises_registry_error(lambda: client_for(kgate).get_schema(second_id), 404, 40403)

    # The subject can start again from version 1; an identical schema gets its old id back
    # only while some subject still holds it, so any positive id will do here.
    again = client_for(kgate).register_schema(subject, Schema(second, "AVRO"))
    assert again > 0
    assert client_for(kgate).get_latest_version(subject).version == 1


def test_avro_reference_to_another_subject(kgate):
    client = client_for(kgate)
    address_subject = subject_name("address")
    address = json.dumps({
        "type": "record", "name": "Address", "namespace": "com.example.interop",
        "fields": [{"name": "city", "type": "string"}],
    })
    address_id = client.register_schema(address_subject, Schema(address, "AVRO"))

    person_subject = subject_name("person")
    person = json.dumps({
        "type": "record", "name": "Person", "namespace": "com.example.interop",
        "fields": [{"name": "name", "type": "string"},
                   {"name": "home", "type": "com.example.interop.Address"}],
    })
    refs = [SchemaReference("com.example.interop.Address", address_subject, 1)]
    person_id = client.register_schema(person_subject, Schema(person, "AVRO", refs))
    assert person_id != address_id

    read = client_for(kgate).get_schema(person_id)
    assert [(r.name, r.subject, r.version) for r in read.references] == [
        ("com.example.interop.Address", address_subject, 1)]
    latest = client_for(kgate).get_latest_version(person_subject)
    assert [(r.name, r.subject, r.version) for r in latest.schema.references] == [
        ("com.example.interop.Address", address_subject, 1)]
    assert client_for(kgate).get_referenced_by(address_subject, 1) == [person_id]
    found = client_for(kgate).lookup_schema(person_subject, Schema(person, "AVRO", refs))
    assert found.schema_id == person_id

    # Without the reference the named type is unknown: an invalid schema.
    raises_registry_error(
        lambda: client.register_schema(subject_name("noref"), Schema(person, "AVRO")),
        422, 42201)
    # A referenced version cannot be deleted while something refers to it.
    raises_registry_error(lambda: client.delete_version(address_subject, 1), 422, 42206)


def test_protobuf_reference_to_an_imported_file(kgate):
    client = client_for(kgate)
    money_subject = subject_name("money")
    money = """syntax = "proto3";
package interop.common;

message Money {
  int64 cents = 1;
  string currency = 2;
}
"""
    client.register_schema(money_subject, Schema(money, "PROTOBUF"))

    invoice_subject = subject_name("invoice")
    invoice = """syntax = "proto3";
package interop;

import "interop/money.proto";

message Invoice {
  string number = 1;
  interop.common.Money total = 2;
}
"""
    refs = [SchemaReference("interop/money.proto", money_subject, 1)]
    invoice_id = client.register_schema(invoice_subject, Schema(invoice, "PROTOBUF", refs))

    read = client_for(kgate).get_schema(invoice_id)
    assert read.schema_type == "PROTOBUF"
    assert [(r.name, r.subject, r.version) for r in read.references] == [
        ("interop/money.proto", money_subject, 1)]
    assert client_for(kgate).get_referenced_by(money_subject, 1) == [invoice_id]
    raises_registry_error(
        lambda: client.register_schema(subject_name("noimport"), Schema(invoice, "PROTOBUF")),
        422, 42201)


def test_registry_answers_in_its_content_type(kgate):
    # What the client does not show: the media type and the error envelope.
    answer = http("GET", kgate.registry_url + "/subjects", accept=REGISTRY_JSON)
    assert answer.status == 200, answer
    assert answer.headers.get("Content-Type", "").startswith(REGISTRY_JSON), answer.headers
    missing = http("GET", "%s/subjects/%s/versions" % (kgate.registry_url, subject_name("none")))
    assert missing.status == 404, missing
    assert missing.json["error_code"] == 40401, missing
    assert missing.json["message"], missing


def test_subject_mode_read_only_refuses_registration(kgate):
    client = client_for(kgate)
    subject = subject_name("mode")
    client.register_schema(subject, Schema(AVRO_USER, "AVRO"))
    assert client.get_global_mode() == "READWRITE"
    assert client.update_mode(subject, "READONLY") == "READONLY"
    assert client_for(kgate).get_mode(subject) == "READONLY"
    compatible = EVOLUTIONS["AVRO"][1]
    raises_registry_error(
        lambda: client.register_schema(subject, Schema(compatible, "AVRO")), 422, 42205)
    # Reads still work.
    assert client_for(kgate).get_versions(subject) == [1]
    client.delete_mode(subject)
    assert client_for(kgate).register_schema(subject, Schema(compatible, "AVRO")) > 0
    assert client_for(kgate).get_versions(subject) == [1, 2]
