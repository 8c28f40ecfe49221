"""A primary and replicas on 127.0.0.1, for replication tests, drills and benchmarks."""
import pathlib
import subprocess
import time

import requests

from conftest import ROOT, free_ports

MAKE_CERTS = ROOT / "deploy" / "tls" / "make-certs.sh"


def make_certs(directory, *names):
    """Runs deploy/tls/make-certs.sh: DIR/ca.pem and DIR/NAME.pem + DIR/NAME.key per name."""
    subprocess.run(["sh", str(MAKE_CERTS), str(directory), *names], check=True, capture_output=True)
    return pathlib.Path(directory)


def issue_cert(certs, name, sans, not_before=None, not_after=None):
    """A certificate signed by `certs`' CA with exactly `sans` (e.g. "DNS:elsewhere.example") and,
    optionally, a validity window ("YYYYMMDDHHMMSSZ"): for wrong-host-name and expired cases that
    make-certs.sh deliberately cannot produce."""
    certs = pathlib.Path(certs)
    work = certs / f"{name}-ca"
    (work / "new").mkdir(parents=True, exist_ok=True)
    (work / "index.txt").write_text("")
    (work / "serial").write_text("2000\n")
    (work / "ca.cnf").write_text(
        f"[ca]\ndefault_ca=d\n[d]\ndatabase={work}/index.txt\nnew_certs_dir={work}/new\nserial={work}/serial\n"
        "default_md=sha256\npolicy=p\ndefault_days=30\n[p]\ncommonName=supplied\n")
    (work / "ext.cnf").write_text(
        f"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        f"extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName={sans}\n")
    run = lambda *args: subprocess.run(args, check=True, capture_output=True)  # noqa: E731
    run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(certs / f"{name}.key"))
    run("openssl", "req", "-new", "-key", str(certs / f"{name}.key"), "-subj", f"/CN={name}", "-out", str(work / "csr"))
    dates = (["-startdate", not_before] if not_before else []) + (["-enddate", not_after] if not_after else [])
    run("openssl", "ca", "-batch", "-notext", "-config", str(work / "ca.cnf"), "-cert", str(certs / "ca.pem"),
        "-keyfile", str(certs / "ca.key"), "-in", str(work / "csr"), "-out", str(certs / f"{name}.pem"),
        "-extfile", str(work / "ext.cnf"), *dates)
    return certs / f"{name}.pem", certs / f"{name}.key"


class Cluster:
    """`make_node` is the conftest factory; nodes are started by `start_*` and killed with the test."""

    MEMBERS = ("primary", "replica1", "replica2", "replica3")

    def __init__(self, make_node, tmp_path, tls=True, env=None, peers=False):
        """`peers=True` gives every member a fixed replication port and lists the others in
        `replication.peers` (failover: epoch checks, promotion announcements)."""
        self.make_node = make_node
        self.tmp_path = pathlib.Path(tmp_path)
        self.tls = tls
        self.env = dict(env or {})
        self.certs = make_certs(self.tmp_path / "certs", *self.MEMBERS) if tls else None
        self.ports = dict(zip(self.MEMBERS, free_ports(len(self.MEMBERS))))
        self.peers = peers
        self.primary_port = self.ports["primary"]
        self.primary = None
        self.replicas = []
        self.nodes = {}

    def address(self, name):
        """host:port of a member's replication listener."""
        return f"127.0.0.1:{self.ports[name]}"

    def node_env(self, name, role, replication_port, extra=None, via_port=None):
        replication_port = self.ports.get(name, replication_port)
        env = {
            "QDB_REPLICATION_ROLE": role,
            "QDB_REPLICATION_BIND_TO": f"127.0.0.1:{replication_port}",
            "QDB_REPLICATION_KEEPALIVE_INTERVAL": "200",
            "QDB_REPLICATION_KEEPALIVE_TIMEOUT": "3000",
            "QDB_REPLICATION_RECONNECT_MAX_BACKOFF": "500",
        }
        if role == "replica":
            env["QDB_REPLICATION_PRIMARY"] = f"127.0.0.1:{via_port or self.primary_port}"
        if self.peers:
            env["QDB_REPLICATION_PEERS"] = ",".join(self.address(other) for other in self.MEMBERS if other != name)
        if self.tls:
            env.update({
                "QDB_REPLICATION_TLS_CA": str(self.certs / "ca.pem"),
                "QDB_REPLICATION_TLS_CERT": str(self.certs / f"{name}.pem"),
                "QDB_REPLICATION_TLS_KEY": str(self.certs / f"{name}.key"),
            })
        else:
            env["QDB_REPLICATION_TLS_ENABLED"] = "false"
        env.update(self.env)
        env.update(extra or {})
        return env

    def start_primary(self, env=None, data_dir=None):
        self.primary = self.make_node(
            env=self.node_env("primary", "primary", self.primary_port, env),
            data_dir=data_dir or self.tmp_path / "primary")
        self.nodes["primary"] = self.primary
        return self.primary

    def restart(self, name, role=None, primary=None, env=None, wait=True):
        """Starts member `name` again on its data directory and ports (after a kill or stop);
        `role`/`primary` (a member name) change its configuration, as an operator would."""
        old = self.nodes[name]
        extra = dict(env or {})
        if role is not None:
            extra["QDB_REPLICATION_ROLE"] = role
        if primary is not None:
            extra["QDB_REPLICATION_PRIMARY"] = self.address(primary)
        configured = {k: v for k, v in old.env.items() if k.startswith("QDB_REPLICATION_")}
        configured.update(extra)
        node = self.make_node(
            env=configured, data_dir=old.data_dir, wait=wait, http_port=old.http_port, health_port=old.health_port,
            ilp_tcp_port=old.ilp_tcp_port, pg_port=old.pg_port)
        self.nodes[name] = node
        return node

    def start_replica(self, name=None, env=None, data_dir=None, wait=True, via_port=None):
        """A replica; `via_port` makes it connect through a proxy listening there."""
        name = name or f"replica{len(self.replicas) + 1}"
        node = self.make_node(
            env=self.node_env(name, "replica", free_ports(1)[0], env, via_port=via_port),
            data_dir=data_dir or self.tmp_path / name, wait=wait)
        self.replicas.append(node)
        self.nodes[name] = node
        return node


def status(node):
    return requests.get(node.health_url + "/status.json", timeout=5).json()


def wait_for(predicate, timeout=30, interval=0.05, message="condition"):
    """Polls until `predicate()` is truthy; returns its value. A deadline, not a timing assertion."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (requests.RequestException, OSError, KeyError) as error:
            last = error
        time.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout}s (last: {last!r})")


def wait_caught_up(primary, replicas, timeout=30):
    """Waits until every replica has applied everything the primary has committed."""
    def caught_up():
        committed = status(primary)["positions"]["durableTxn"]
        return all(status(r)["positions"]["appliedTxn"] >= committed for r in replicas)
    return wait_for(caught_up, timeout=timeout, message="replicas caught up")
