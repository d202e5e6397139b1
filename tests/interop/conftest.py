"""Fixtures for the interop tests: brokers (the real `kgate broker` binary) and topic
names."""

import uuid

import pytest

from helpers import Broker, Kgate


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A broker shared by the tests of one module (each test uses its own topics)."""
    b = Broker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.kill()


@pytest.fixture
def own_broker(tmp_path):
    """A broker for one test alone, for tests that restart it."""
    b = Broker(tmp_path / "broker").start()
    yield b
    b.kill()


@pytest.fixture
def topic_name(request):
    """A topic name no other test uses."""
    base = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")
    return "%s-%s" % (base[:60], uuid.uuid4().hex[:8])


@pytest.fixture(scope="module")
def kgate(tmp_path_factory):
    """A full `kgate serve` (REST Proxy, Schema Registry, embedded broker) shared by the
    tests of one module; each test uses its own topics and subjects."""
    k = Kgate(tmp_path_factory.mktemp("kgate")).start()
    yield k
    k.kill()
