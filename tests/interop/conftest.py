"""Fixtures for the interop tests: brokers (the real `kgate broker` binary, or the Apache
Kafka peer when KGATE_TEST_KAFKA=apache) and topic names.

Tests that can only pass on the embedded broker carry `@pytest.mark.embedded_only("why")`
(or use the `own_broker` fixture, which restarts its broker); on the Apache peer they are
skipped with that reason."""

import uuid

import pytest

from helpers import ApacheCluster, Broker, Kgate, apache_bootstrap, peer


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "embedded_only(reason): passes only on the embedded broker"
    )


def pytest_report_header(config):
    if peer() == "apache":
        return "kafka peer: apache (%s)" % apache_bootstrap()
    return "kafka peer: embedded"


def pytest_collection_modifyitems(config, items):
    if peer() == "embedded":
        return
    for item in items:
        marker = item.get_closest_marker("embedded_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "embedded broker only"
            item.add_marker(pytest.mark.skip(reason="embedded broker only: %s" % reason))


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A broker shared by the tests of one module (each test uses its own topics); on the
    Apache peer, that cluster."""
    if peer() == "apache":
        yield ApacheCluster(apache_bootstrap())
        return
    b = Broker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.kill()


@pytest.fixture
def own_broker(tmp_path):
    """A broker for one test alone, for tests that restart it (embedded broker only)."""
    if peer() == "apache":
        pytest.skip("embedded broker only: restarts its broker")
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
    """A full `kgate serve` (REST Proxy, Schema Registry, and the embedded broker or the
    Apache peer) shared by the tests of one module; each test uses its own topics and
    subjects."""
    bootstrap = apache_bootstrap() if peer() == "apache" else None
    k = Kgate(tmp_path_factory.mktemp("kgate"), bootstrap=bootstrap).start()
    yield k
    if k.process.poll() is not None:
        # It ended while its tests ran: its last words go to the report of the test
        # that was running at teardown.
        print("kgate exited with %s; its last output:" % k.process.returncode)
        print("\n".join(k.output[-40:]))
    k.kill()
