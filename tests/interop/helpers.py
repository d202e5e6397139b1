"""Shared by the interop tests: running the real `kgate broker` binary, and polling.

The binary is found through KGATE_BIN (set by scripts/test), else under the cargo
target directory. Each broker listens on 127.0.0.1 port 0; the real port is read from
the line the binary prints ("kgate broker listening on HOST:PORT").

The Kafka peer is the embedded broker unless KGATE_TEST_KAFKA=apache, with the running
Apache Kafka cluster's bootstrap servers in KGATE_TEST_BOOTSTRAP (`scripts/apache-kafka
start` prints them): then the `broker` fixture is that cluster, shared by every test, and
`kgate serve` is pointed at it.
"""

import json
import os
import pathlib
import queue
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

REPO = pathlib.Path(__file__).resolve().parents[2]
LISTENING = "kgate broker listening on "
STARTUP_SECONDS = 60


def peer():
    """The Kafka peer of this run: "embedded" (the default) or "apache"."""
    name = os.environ.get("KGATE_TEST_KAFKA") or "embedded"
    if name not in ("embedded", "apache"):
        raise RuntimeError("KGATE_TEST_KAFKA=%s: expected embedded or apache" % name)
    return name


def apache_bootstrap():
    """The bootstrap servers of the Apache Kafka peer."""
    bootstrap = os.environ.get("KGATE_TEST_BOOTSTRAP", "").strip()
    if not bootstrap:
        raise RuntimeError(
            "KGATE_TEST_KAFKA=apache needs KGATE_TEST_BOOTSTRAP "
            "(printed by scripts/apache-kafka start)"
        )
    return bootstrap


class ApacheCluster:
    """The running Apache Kafka cluster, in the place of a `Broker`: it is shared by the
    whole run, so it is neither started nor stopped here."""

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap

    def kill(self):
        pass


def kgate_binary():
    explicit = os.environ.get("KGATE_BIN")
    if explicit:
        return pathlib.Path(explicit)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    for profile in ("debug", "release"):
        candidate = target / profile / "kgate"
        if candidate.exists():
            return candidate
    raise RuntimeError(
        "kgate binary not found: build it (cargo build -p kgate) or set KGATE_BIN"
    )


class _Process:
    """A kgate process started for a test: its output is kept, and the lines it prints at
    start-up say where it listens."""

    def __init__(self):
        self.process = None
        self.output = []

    def _launch(self, args, what, ready):
        """Starts `args` and reads its output until `ready(line)` says start-up is done."""
        # KGATE_* variables are configuration keys for `kgate serve` (KGATE_BIN would
        # be an unknown key and stop start-up).
        env = {k: v for k, v in os.environ.items() if not k.startswith("KGATE_")}
        env.setdefault("RUST_LOG", "info")
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
        lines = queue.Queue()

        def pump(stream, sink, keep):
            for line in stream:
                keep.append(line.rstrip("\n"))
                sink.put(line.rstrip("\n"))
            sink.put(None)

        threading.Thread(
            target=pump, args=(self.process.stdout, lines, self.output), daemon=True
        ).start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise RuntimeError("%s did not start:\n%s" % (what, "\n".join(self.output)))
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("%s exited at start:\n%s" % (what, "\n".join(self.output)))
            if ready(line):
                return self

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


class Broker(_Process):
    """One `kgate broker` process on a data directory that outlives restarts."""

    def __init__(self, data_dir, extra_args=()):
        super().__init__()
        self.data_dir = pathlib.Path(data_dir)
        self.extra_args = list(extra_args)
        self.bootstrap = None

    def start(self):
        def ready(line):
            if line.startswith(LISTENING):
                self.bootstrap = line[len(LISTENING):].strip()
                return True
            return False

        return self._launch(
            [str(kgate_binary()), "broker", "--listen", "127.0.0.1:0",
             "--data-dir", str(self.data_dir), *self.extra_args],
            "broker",
            ready,
        )

    def stop(self, timeout=30):
        """SIGTERM and wait: the clean shutdown path."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("broker did not stop on SIGTERM in time")
            assert code == 0, "broker exited with %s:\n%s" % (code, "\n".join(self.output))

    def restart(self):
        self.stop()
        return self.start()


def wait_until(condition, timeout=30, interval=0.2, message="condition"):
    """Polls `condition` until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last_error = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last error: %r)" % (message, last_error))


def admin_for(broker):
    return KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)


def create_topic(broker, name, partitions=1):
    admin = admin_for(broker)
    try:
        admin.create_topics(
            {name: {"num_partitions": partitions, "replication_factor": 1}},
            timeout_ms=30000,
        )
        wait_until(lambda: name in admin.list_topics(), message="topic %s listed" % name)
    finally:
        admin.close()
    # On a cluster of several brokers a new topic reaches each broker's metadata a moment
    # later: a test that goes on through kgate waits until kgate's REST Proxy sees it.
    rest_url = getattr(broker, "rest_url", None)
    if rest_url:
        wait_until(
            lambda: http("GET", "%s/topics/%s" % (rest_url, name)).status == 200,
            message="topic %s seen by kgate" % name,
        )


def read_partition(broker, topic, partition, count, timeout=30):
    """Reads `count` records of one partition from its beginning, without a group."""
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        records = []
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        assert len(records) >= count, "read %d of %d records" % (len(records), count)
        return records
    finally:
        consumer.close()


# --- the full kgate (`kgate serve`): REST Proxy, Schema Registry, embedded broker --------

REST_LISTENING = "kgate REST Proxy listening on "
REGISTRY_LISTENING = "kgate Schema Registry listening on "
CONNECT_LISTENING = "kgate Connect listening on "


class Kgate(_Process):
    """One `kgate serve` process: the REST Proxy, the built-in Schema Registry and the
    embedded broker, every listener on 127.0.0.1 port 0. The bound addresses are read
    from the lines the binary prints at start-up."""

    def __init__(self, data_dir, extra_sets=(), bootstrap=None):
        super().__init__()
        self.data_dir = pathlib.Path(data_dir)
        self.extra_sets = list(extra_sets)
        # A cluster of its own (the Apache peer): no embedded broker is started.
        self.external_bootstrap = bootstrap
        self.bootstrap = None
        self.rest_url = None
        self.registry_url = None
        self.connect_url = None

    def start(self):
        sets = [
            "listeners=http://127.0.0.1:0",
            "schema.registry.listeners=http://127.0.0.1:0",
            "ws.listeners=http://127.0.0.1:0",
            "ws.admin.listeners=http://127.0.0.1:0",
            "connect.listeners=http://127.0.0.1:0",
            "data.dir=%s" % self.data_dir,
            *self.extra_sets,
        ]
        if self.external_bootstrap:
            sets.append("bootstrap.servers=%s" % self.external_bootstrap)
            self.bootstrap = self.external_bootstrap
        else:
            sets.append("broker.listeners=127.0.0.1:0")
        args = [str(kgate_binary()), "serve"]
        for s in sets:
            args += ["--set", s]

        def ready(line):
            if line.startswith(LISTENING):
                self.bootstrap = line[len(LISTENING):].strip()
            elif line.startswith(REST_LISTENING):
                self.rest_url = line[len(REST_LISTENING):].strip()
            elif line.startswith(REGISTRY_LISTENING):
                self.registry_url = line[len(REGISTRY_LISTENING):].strip()
            elif line.startswith(CONNECT_LISTENING):
                self.connect_url = line[len(CONNECT_LISTENING):].strip()
            # Connect is announced last; it may be switched off with connect.enable.
            connect_off = "connect.enable=false" in self.extra_sets
            wanted = (self.bootstrap, self.rest_url, self.registry_url)
            return None not in wanted and (connect_off or self.connect_url is not None)

        return self._launch(args, "kgate", ready)


class HttpAnswer:
    """Status, headers (case-insensitive) and body (parsed as JSON when it is JSON) of one
    HTTP exchange."""

    def __init__(self, status, headers, text):
        self.status = status
        self.headers = headers
        self.text = text
        try:
            self.json = json.loads(text) if text else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "HTTP %s %s" % (self.status, self.text[:2000])


# Loopback only: a proxy from the environment must not sit between a test and kgate.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method, url, body=None, content_type=None, accept=None, timeout=30):
    """One HTTP request with the standard library (no client of our own to trust);
    a JSON-able `body` is sent as JSON. Error statuses are answers, not exceptions."""
    data = None
    headers = {}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = content_type or "application/json"
    if accept:
        headers["Accept"] = accept
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with _DIRECT.open(request, timeout=timeout) as resp:
            return HttpAnswer(resp.status, resp.headers, resp.read().decode())
    except urllib.error.HTTPError as e:
        return HttpAnswer(e.code, e.headers, e.read().decode())
