"""Failover drills against a local cluster on 127.0.0.1 (Docs/operations/failover.md).

A continuous ILP/HTTP writer records every acknowledged row id; PG readers on the replicas
check what they see. A drill kills (or stops) the primary, promotes a replica with
`sundial promote`, keeps writing to the new primary, and reports: the sync mode, the rows
acknowledged, the rows lost, the lag the old primary reported just before the kill, and the
time from the kill to the first write the new primary accepted.

    integration/.venv/bin/python integration/drills/failover_drill.py --mode durable --kind kill
    integration/.venv/bin/python integration/drills/failover_drill.py --mode async --kind kill --lag-ms 200
    integration/.venv/bin/python integration/drills/failover_drill.py --mode async --kind planned

The integration tests run the same drills (`integration/test_failover.py`).
"""
import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import psycopg
import requests

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from cluster import Cluster, status, wait_for  # noqa: E402
from conftest import BINARY, Node  # noqa: E402
from faultproxy import FaultProxy, Toxic  # noqa: E402

TABLE = "drill"
BASE_NS = 1_700_000_000_000_000_000


def ilp_lines(ids, writer="a"):
    """ILP text of rows with these ids (one per id, increasing timestamps)."""
    return "".join(f"{TABLE},w={writer} id={i}i,v={i * 0.5} {BASE_NS + i * 1_000}\n" for i in ids).encode()


class Writer(threading.Thread):
    """Writes batches of rows with increasing ids over ILP/HTTP (`POST /write`), one request per
    batch; a batch is acknowledged when the node answers 204. Ids are never reused, so a failed
    batch's rows may or may not exist, but an acknowledged one must."""

    def __init__(self, url, batch=50, pause=0.005):
        super().__init__(daemon=True)
        self.url = url
        self.batch = batch
        self.pause = pause
        self.acked = []
        self.failures = []
        self.accepted_at = []  # (monotonic time, url) of each acknowledged request
        self.next_id = 0
        self._halt = threading.Event()
        self._paused = threading.Event()
        self._idle = threading.Event()
        self.lock = threading.Lock()

    def target(self, url):
        with self.lock:
            self.url = url

    def run(self):
        session = requests.Session()
        while not self._halt.is_set():
            if self._paused.is_set():
                self._idle.set()
                time.sleep(0.002)
                continue
            self._idle.clear()
            with self.lock:
                url = self.url
            ids = range(self.next_id, self.next_id + self.batch)
            self.next_id += self.batch
            try:
                response = session.post(url + "/write", data=ilp_lines(ids), timeout=30)
                if response.status_code == 204:
                    with self.lock:
                        self.acked.extend(ids)
                        self.accepted_at.append((time.monotonic(), url))
                else:
                    self.failures.append((time.monotonic(), url, response.status_code, response.text[:200]))
            except requests.RequestException as error:
                self.failures.append((time.monotonic(), url, None, str(error)[:200]))
                time.sleep(0.02)
            time.sleep(self.pause)

    def pause_writes(self):
        """Stops sending and waits for the request in flight to finish."""
        self._idle.clear()
        self._paused.set()
        self._idle.wait(timeout=60)

    def resume_writes(self):
        self._paused.clear()

    def stop(self):
        self._halt.set()
        self.join(timeout=60)

    def first_accepted_after(self, moment, url):
        with self.lock:
            return next((t for t, u in self.accepted_at if t > moment and u == url), None)


def ids_on(node):
    with psycopg.connect(node.pg_dsn, autocommit=True) as connection:
        return {row[0] for row in connection.execute(f"SELECT id FROM {TABLE}").fetchall()}


def promote(node, planned=False):
    """`sundial promote` against the node's main HTTP server; returns its JSON answer."""
    args = [str(BINARY), "promote", "--url", node.http_url] + (["--planned"] if planned else [])
    result = subprocess.run(args, capture_output=True, text=True, timeout=90)
    if result.returncode != 0:
        raise AssertionError(f"sundial promote failed: {result.stdout}{result.stderr}")
    return json.loads(result.stdout)


def most_advanced(replicas):
    """The replica to promote: the highest durable txn (Docs/operations/failover.md), once every
    replica noticed the primary is gone (chunks still in flight could otherwise land after the
    choice and put another replica ahead of the new primary)."""
    wait_for(lambda: all(status(r).get("upstream", {}).get("state") != "streaming" for r in replicas), timeout=30,
             message="replicas noticed the primary is gone")
    return max(replicas, key=lambda r: status(r)["positions"]["durableTxn"])


def run_drill(make_node, workdir, mode="durable", kind="kill", replicas=2, lag_ms=0, seconds=2.0, log=print):
    """Runs one drill; returns its report (a dict). `kind` is `kill` (kill -9 the primary, then
    promote) or `planned` (switchover under load). `lag_ms` puts a latency proxy between the
    primary and the first replica (async drills: a real lag to lose)."""
    env = {"QDB_REPLICATION_SYNC_MODE": mode, "QDB_REPLICATION_SYNC_TIMEOUT": "3000"}
    cluster = Cluster(make_node, workdir, tls=True, env=env, peers=True)
    primary = cluster.start_primary()
    proxy = None
    if lag_ms:
        proxy = FaultProxy(cluster.primary_port)
        proxy.set(Toxic.latency(lag_ms), connections=1000)
    members = [cluster.start_replica(via_port=proxy.port if (proxy and i == 0) else None) for i in range(replicas)]
    names = [f"replica{i + 1}" for i in range(replicas)]
    wait_for(lambda: all(status(r).get("upstream", {}).get("state") == "streaming" for r in members), message="replicas streaming")

    writer = Writer(primary.http_url)
    writer.start()
    wait_for(lambda: len(writer.acked) >= 500, timeout=60, message="writer acknowledged rows")
    time.sleep(seconds)

    report = {"mode": mode, "kind": kind, "replicas": replicas}
    if kind == "kill":
        writer.pause_writes()
        before = status(primary)
        lags = [r["flushLag"]["txns"] for r in before.get("replicas", []) if r["flushLag"]["txns"] is not None]
        report["lag_txns_before_kill"] = max(lags) if lags else None
        report["lag_rows_bound"] = (max(lags) * writer.batch) if lags else None
        killed_at = time.monotonic()
        primary.kill()
        acked_before_kill = set(writer.acked)
        writer.resume_writes()
        target_index = members.index(most_advanced(members))
        target = members[target_index]
        answer = promote(target)
        # What the promoted node shows the moment it takes writes (`applied` promises all of it).
        report["missing_at_promotion"] = len(acked_before_kill - ids_on(target))
    else:
        killed_at = time.monotonic()
        target_index = 0
        target = members[0]
        answer = promote(target, planned=True)
    promoted_at = time.monotonic()
    writer.target(target.http_url)
    first = wait_for(lambda: writer.first_accepted_after(promoted_at - 0.001, target.http_url), timeout=30,
                     message="first accepted write on the new primary")
    report["promotion"] = answer
    report["kill_to_first_write_ms"] = round((first - killed_at) * 1000, 1)
    report["promote_to_first_write_ms"] = round((first - promoted_at) * 1000, 1)
    time.sleep(0.5)
    writer.stop()

    acknowledged = set(writer.acked)
    present_at_once = ids_on(target)
    report["acknowledged_rows"] = len(acknowledged)
    report["rows_lost"] = len(acknowledged - present_at_once)
    report["failed_requests"] = len(writer.failures)
    others = [m for i, m in enumerate(members) if i != target_index]
    # The other replicas follow the new primary (announced by the promotion) and converge.
    if kind == "planned":
        others.append(primary)
    committed = lambda: status(target)["positions"]["durableTxn"]  # noqa: E731
    wait_for(lambda: all(status(o)["positions"]["appliedTxn"] >= committed() for o in others), timeout=60,
             message="the other members caught up with the new primary")
    report["others_converged"] = all(ids_on(o) == ids_on(target) for o in others)
    report["others_roles"] = [status(o)["role"] for o in others]
    report["promoted"] = names[target_index] if target_index < len(names) else "?"
    if proxy:
        proxy.close()
    report["_writer"] = writer
    report["_cluster"] = cluster
    return report


def printable(report):
    return {k: v for k, v in report.items() if not k.startswith("_")}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["async", "received", "durable", "applied"], default="durable")
    parser.add_argument("--kind", choices=["kill", "planned"], default="kill")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--lag-ms", type=int, default=0, help="latency between the primary and the first replica")
    parser.add_argument("--seconds", type=float, default=3.0, help="writing time before the failover")
    parser.add_argument("--repeat", type=int, default=1, help="run the drill N times and summarise (RELIABILITY §6.4 gates)")
    options = parser.parse_args()
    reports = []
    for attempt in range(options.repeat):
        workdir = pathlib.Path(tempfile.mkdtemp(prefix="sundial-drill-"))
        nodes = []

        def make_node(env=None, args=(), data_dir=None, wait=True, **ports):
            env = dict(env or {})
            env.setdefault("QDB_LOG_LEVEL", "warning")
            node = Node(data_dir or workdir / f"node{len(nodes)}", env=env, args=args, **ports)
            nodes.append(node)
            node.start()
            return node.wait_healthy() if wait else node

        try:
            report = run_drill(make_node, workdir, options.mode, options.kind, options.replicas, options.lag_ms, options.seconds)
            report["_writer"].stop()
            reports.append(printable(report))
            if options.repeat == 1:
                print(json.dumps(reports[-1], indent=2))
            else:
                print(f"drill {attempt + 1}: acknowledged {report['acknowledged_rows']}, lost {report['rows_lost']}"
                      f" (bound {report.get('lag_rows_bound')}), kill/switchover → first write {report['kill_to_first_write_ms']} ms",
                      flush=True)
        finally:
            for node in nodes:
                node.kill()
            shutil.rmtree(workdir, ignore_errors=True)
    if options.repeat > 1:
        lost = [r["rows_lost"] for r in reports]
        bounded = [r["rows_lost"] <= (r.get("lag_rows_bound") or 0) for r in reports if r["kind"] == "kill"]
        times = sorted(r["kill_to_first_write_ms"] for r in reports)
        print(json.dumps({
            "mode": options.mode, "kind": options.kind, "drills": len(reports),
            "acknowledged_rows_total": sum(r["acknowledged_rows"] for r in reports),
            "drills_with_loss": sum(1 for x in lost if x), "rows_lost_max": max(lost), "rows_lost_total": sum(lost),
            "missing_at_promotion_max": max((r.get("missing_at_promotion", 0) for r in reports), default=0),
            "loss_within_reported_lag": f"{sum(bounded)}/{len(bounded)}" if bounded else None,
            "kill_to_first_write_ms_median": times[len(times) // 2], "kill_to_first_write_ms_max": times[-1],
        }, indent=2))


if __name__ == "__main__":
    main()
