"""Partitions among three nodes (RELIABILITY §6.4 R-g): a primary and two replicas in
`durable` mode (`replication.sync.count=1`), each replica behind a fault proxy that can clog
its link — both directions, live connections included — while an ILP/HTTP writer runs. A
sequence clogs and heals the links at random (one replica, the other, both, none), always
with a stretch where both are cut, and ends by killing the primary (`kill -9`) with the links
as the sequence left them; the most advanced replica is then promoted.

- No write hangs: every request answers within `replication.sync.timeout` plus slack; with
  both replicas cut, writes fail with 503 `not replicated`.
- No acknowledged row is lost: every row acknowledged by the old primary is on the promoted
  node.

SUNDIAL_PARTITION_SEQUENCES sets how many sequences run (default 1; RELIABILITY's gate is 100).
"""
import os
import random
import threading
import time

import requests

from cluster import Cluster, status, wait_for
from drills.failover_drill import ids_on, ilp_lines, most_advanced, promote
from faultproxy import FaultProxy

SYNC_TIMEOUT_MS = 1000
# Past the sync timeout a write has answered or the node hangs: fsync, TLS and a loaded
# machine fit in the slack.
ANSWER_WITHIN_S = SYNC_TIMEOUT_MS / 1000 + 5


class TimedWriter(threading.Thread):
    """Sequential 20-row ILP/HTTP requests; keeps each request's ids, status and duration."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url, self.next_id = url, 0
        self.results = []  # (ids, status or None, seconds, body)
        self.halt = threading.Event()

    def run(self):
        session = requests.Session()
        while not self.halt.is_set():
            ids = range(self.next_id, self.next_id + 20)
            self.next_id += 20
            started = time.monotonic()
            try:
                response = session.post(self.url + "/write", data=ilp_lines(ids), timeout=60)
                self.results.append((ids, response.status_code, time.monotonic() - started, response.text[:200]))
            except requests.RequestException as error:
                self.results.append((ids, None, time.monotonic() - started, str(error)[:200]))
                return  # the primary was killed
            time.sleep(0.003)

    @property
    def acked(self):
        return {i for ids, code, _, _ in self.results if code == 204 for i in ids}


def run_sequence(make_node, workdir, rng):
    cluster = Cluster(make_node, workdir, tls=True, peers=True, env={
        "QDB_REPLICATION_SYNC_MODE": "durable", "QDB_REPLICATION_SYNC_TIMEOUT": str(SYNC_TIMEOUT_MS),
        "QDB_REPLICATION_KEEPALIVE_TIMEOUT": "1500"})
    primary = cluster.start_primary()
    proxies = [FaultProxy(cluster.primary_port), FaultProxy(cluster.primary_port)]
    try:
        replicas = [cluster.start_replica(via_port=proxy.port) for proxy in proxies]
        wait_for(lambda: all(status(r).get("upstream", {}).get("state") == "streaming" for r in replicas), timeout=30,
                 message="replicas streaming")
        writer = TimedWriter(primary.http_url)
        writer.start()
        steps = [rng.choice([(), (0,), (1,)]) for _ in range(5)]
        steps.insert(rng.randrange(len(steps) + 1), (0, 1))
        log = []
        for cut in steps:
            for index, proxy in enumerate(proxies):
                proxy.clog() if index in cut else proxy.unclog()
            hold = 1.6 if cut == (0, 1) else rng.uniform(0.3, 1.2)
            log.append((cut, round(hold, 2)))
            time.sleep(hold)
        primary.kill()
        writer.halt.set()
        writer.join(timeout=90)
        assert not writer.is_alive(), "the writer hangs"

        slow = [(list(ids)[0], code, round(seconds, 2)) for ids, code, seconds, _ in writer.results[:-1] if seconds > ANSWER_WITHIN_S]
        assert not slow, f"writes answered after more than {ANSWER_WITHIN_S} s (steps {log}): {slow}"
        refused = [body for _, code, _, body in writer.results if code == 503]
        assert refused and all("not replicated" in body for body in refused), (log, refused[:3])
        acked = writer.acked
        assert acked, f"nothing was acknowledged (steps {log})"

        # The primary is gone with the links as the sequence left them: what reached a replica
        # is all there is. The most advanced replica holds every acknowledged row.
        chosen = most_advanced(replicas)
        promote(chosen)
        wait_for(lambda: status(chosen)["role"] == "primary", timeout=30, message="promoted")
        missing = acked - ids_on(chosen)
        assert not missing, f"{len(missing)} acknowledged rows lost (steps {log}), e.g. {sorted(missing)[:5]}"
        return len(acked), len(refused), log
    finally:
        for proxy in proxies:
            proxy.close()


def test_partition_sequences_lose_no_acknowledged_row_and_never_hang(make_node, tmp_path):
    sequences = int(os.environ.get("SUNDIAL_PARTITION_SEQUENCES", 1))
    rng = random.Random(20261127)
    for sequence in range(sequences):
        acked, refused, log = run_sequence(make_node, tmp_path / f"sequence{sequence}", rng)
        print(f"\nsequence {sequence}: {acked} rows acknowledged, {refused} writes refused, 0 lost; steps {log}")
