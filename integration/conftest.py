"""Harness for tests that run real `sundial` processes (release build) on free loopback ports.

Each node gets its own data directory and ports; its log is shown when a test fails and the
node is stopped (SIGTERM, then SIGKILL) when the test ends.
"""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parent.parent
BINARY = pathlib.Path(os.environ.get("SUNDIAL_BINARY", ROOT / ".build" / "release" / "sundial"))


# Every port handed out in this process: the kernel gives a closed probe's port out again, and
# a port drawn earlier (a cluster member's replication port, say) may not be listened on yet
# when the next node draws its own — two listeners would then get the same port.
_handed_out = set()


def free_port():
    """A port that was free a moment ago on 127.0.0.1, never one handed out before."""
    return free_ports(1)[0]


def free_ports(count):
    """`count` distinct ports that were free a moment ago (held together while chosen, so two
    listeners of one node never draw the same port), none handed out before in this process."""
    probes = []
    try:
        ports = []
        while len(ports) < count:
            probe = socket.socket()
            probes.append(probe)
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            if port not in _handed_out:
                ports.append(port)
        _handed_out.update(ports)
        return ports
    finally:
        for probe in probes:
            probe.close()


def closed_by_peer(sock, timeout=10):
    """Whether the peer closes `sock` (EOF or reset) within `timeout`; it must send nothing."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


class Node:
    """One `sundial serve` process."""

    started = 0

    def __init__(self, data_dir, env=None, args=(), http_port=None, health_port=None, ilp_tcp_port=None, pg_port=None):
        self.data_dir = pathlib.Path(data_dir)
        ports = free_ports(4)
        self.http_port = http_port or ports[0]
        self.health_port = health_port or ports[1]
        self.ilp_tcp_port = ilp_tcp_port or ports[2]
        self.pg_port = pg_port or ports[3]
        self.args = list(args)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("QDB_")}
        self.env.update({
            "QDB_HTTP_NET_BIND_TO": f"127.0.0.1:{self.http_port}",
            "QDB_HTTP_MIN_NET_BIND_TO": f"127.0.0.1:{self.health_port}",
            "QDB_LINE_TCP_NET_BIND_TO": f"127.0.0.1:{self.ilp_tcp_port}",
            "QDB_PG_NET_BIND_TO": f"127.0.0.1:{self.pg_port}",
        })
        self.env.update(env or {})
        Node.started += 1
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-{Node.started}.log"
        self.process = None

    @property
    def http_url(self):
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pg_dsn(self):
        return f"host=127.0.0.1 port={self.pg_port} user=admin password=quest dbname=qdb"

    @property
    def health_url(self):
        return f"http://127.0.0.1:{self.health_port}"

    def start(self):
        assert BINARY.exists(), f"{BINARY} is missing: run `make release` (make test does)"
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [str(BINARY), "serve", "--data-dir", str(self.data_dir), *self.args],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, stdin=subprocess.DEVNULL)
        log.close()
        return self

    def wait_healthy(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"sundial exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.health_url, timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError(f"sundial not healthy within {timeout}s:\n{self.log()}")

    def wait_exit(self, timeout=30):
        """Waits for a node expected to stop by itself; returns its exit code."""
        return self.process.wait(timeout=timeout)

    def stop(self, sig=signal.SIGTERM, timeout=5):
        """Signals the node and returns its exit code; fails if it outlives `timeout`."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"sundial did not exit within {timeout}s of {sig!r}:\n{self.log()}")

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


@pytest.fixture
def make_node(tmp_path, request):
    """Factory: `make_node(env={...}, args=[...])` returns a started, healthy node."""
    nodes = []

    def factory(env=None, args=(), data_dir=None, wait=True, **ports):
        node = Node(data_dir or tmp_path / f"node{len(nodes)}", env=env, args=args, **ports)
        nodes.append(node)
        node.start()
        return node.wait_healthy() if wait else node

    yield factory
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for node in nodes:
        node.kill()
        if failed:
            print(f"\n----- log of {node.data_dir.name} -----\n{node.log()}")
            keep = ROOT / "integration" / "logs" / request.node.name
            keep.mkdir(parents=True, exist_ok=True)
            if node.log_path.exists():
                shutil.copy(node.log_path, keep / node.log_path.name)


@pytest.fixture
def node(make_node):
    """A node with default settings on free ports."""
    return make_node()
