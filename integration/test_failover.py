"""Failover with real nodes on 127.0.0.1 (issue 8): drills with a continuous ILP/HTTP writer
recording every acknowledged row id, promotion by `sundial promote`, `POST
/api/v1/cluster/promote` and `SELECT pg_promote()`, fencing of stale primaries (SIGSTOP, restart),
rejoin at or before the fork point, and synchronous modes that fail rather than hang."""
import signal
import subprocess
import time

import psycopg
import pytest
import requests

from cluster import Cluster, status, wait_caught_up, wait_for
from conftest import BINARY
from drills.failover_drill import TABLE, Writer, ids_on, ilp_lines, printable, promote, run_drill


def write(node, ids, timeout=30):
    return requests.post(node.http_url + "/write", data=ilp_lines(ids, writer="t"), timeout=timeout)


def sync_cluster(make_node, tmp_path, mode="durable", timeout_ms=3000, **env):
    extra = {"QDB_REPLICATION_SYNC_MODE": mode, "QDB_REPLICATION_SYNC_TIMEOUT": str(timeout_ms)}
    extra.update(env)
    return Cluster(make_node, tmp_path, tls=True, env=extra, peers=True)


def caught_up_pair(make_node, tmp_path, rows=100):
    """An async primary and one replica holding the same `rows` rows."""
    cluster = sync_cluster(make_node, tmp_path, mode="async")
    primary = cluster.start_primary()
    replica = cluster.start_replica()
    assert write(primary, range(0, rows)).status_code == 204
    wait_caught_up(primary, [replica])
    return cluster, primary, replica


# (a) durable: kill -9, promote, nothing acknowledged is lost; the other replica follows.
def test_durable_mode_kill_and_promote_loses_no_acknowledged_row(make_node, tmp_path):
    report = run_drill(make_node, tmp_path, mode="durable", kind="kill", replicas=2)
    print(printable(report))
    assert report["acknowledged_rows"] > 500
    assert report["rows_lost"] == 0
    assert report["others_converged"] and report["others_roles"] == ["replica"]
    assert report["promotion"]["epoch"] == 1


# (b) applied: the promoted node shows every acknowledged row at once (no wait for apply).
def test_applied_mode_promoted_node_shows_every_acknowledged_row_at_once(make_node, tmp_path):
    report = run_drill(make_node, tmp_path, mode="applied", kind="kill", replicas=2)
    print(printable(report))
    assert report["acknowledged_rows"] > 500
    assert report["missing_at_promotion"] == 0
    assert report["rows_lost"] == 0


# (c) async: loss bounded by the lag reported just before the kill, and reported.
def test_async_mode_loss_is_bounded_by_the_reported_lag(make_node, tmp_path):
    report = run_drill(make_node, tmp_path, mode="async", kind="kill", replicas=1, lag_ms=150)
    print(printable(report))
    assert report["lag_rows_bound"] is not None
    assert report["rows_lost"] <= report["lag_rows_bound"]
    assert report["acknowledged_rows"] > 500


# (d) planned switchover under load: zero loss; the old primary becomes a replica of the new one.
def test_planned_switchover_under_load_loses_nothing(make_node, tmp_path):
    report = run_drill(make_node, tmp_path, mode="async", kind="planned", replicas=2)
    print(printable(report))
    assert report["rows_lost"] == 0
    assert report["promotion"]["planned"] is True and report["promotion"]["drainedTxn"] is not None
    assert report["others_converged"]
    assert report["others_roles"] == ["replica", "replica"]
    cluster = report["_cluster"]
    assert status(cluster.nodes["primary"])["upstream"]["address"] == cluster.address("replica1")


# (e) SIGSTOP the primary, promote, SIGCONT: it fences on contact and acknowledges nothing after.
def test_stopped_primary_fences_itself_and_acknowledges_nothing_after_promotion(make_node, tmp_path):
    cluster = sync_cluster(make_node, tmp_path, mode="durable", timeout_ms=2000)
    primary = cluster.start_primary()
    first, second = cluster.start_replica(), cluster.start_replica()
    assert write(primary, range(0, 100)).status_code == 204
    wait_caught_up(primary, [first, second])
    primary.process.send_signal(signal.SIGSTOP)
    try:
        answer = promote(first)
        assert answer["epoch"] == 1
        # The other replica learned of the new epoch and follows the new primary.
        wait_for(lambda: status(second).get("upstream", {}).get("address") == cluster.address("replica1"),
                 message="replica2 re-pointed")
    finally:
        primary.process.send_signal(signal.SIGCONT)
    promoted_at = time.monotonic()
    # Writes to the old primary after the promotion: none may be acknowledged.
    answers = [write(primary, range(1000 + 100 * n, 1100 + 100 * n)) for n in range(3)]
    wait_for(lambda: status(primary)["role"] == "fenced", timeout=20, message="old primary fenced")
    answers.append(write(primary, range(2000, 2100)))
    assert all(a.status_code != 204 for a in answers), [(a.status_code, a.text) for a in answers]
    fenced = answers[-1]
    assert fenced.status_code == 421 and fenced.headers["X-QuestDB-Role"] == "FENCED"
    assert "fenced" in status(primary)["fencedReason"] or "epoch" in status(primary)["fencedReason"]
    assert time.monotonic() - promoted_at < 60
    # The new primary takes writes and its replica has them.
    assert write(first, range(5000, 5100)).status_code == 204
    wait_caught_up(first, [second])
    assert ids_on(second) == ids_on(first)
    assert not (ids_on(first) & set(range(1000, 2100)))
    with psycopg.connect(primary.pg_dsn, autocommit=True) as connection:
        assert connection.info.parameter_status("in_hot_standby") == "on"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            connection.execute(f"INSERT INTO {TABLE}(id, v, timestamp) VALUES (1, 1.0, now())")


# (f) a killed primary restarted with its old configuration starts fenced.
def test_restarted_old_primary_starts_fenced(make_node, tmp_path):
    cluster, primary, replica = caught_up_pair(make_node, tmp_path)
    primary.kill()
    assert promote(replica)["epoch"] == 1
    old = cluster.restart("primary")
    wait_for(lambda: status(old)["role"] == "fenced", timeout=20, message="restarted old primary fenced")
    refused = write(old, range(100, 110))
    assert refused.status_code == 421 and refused.headers["X-QuestDB-Role"] == "FENCED"
    assert "epoch 1" in status(old)["fencedReason"]
    # A restart keeps it fenced (the role is recorded), even with no peer reachable.
    old.stop()
    replica.stop()
    old = cluster.restart("primary")
    assert status(old)["role"] == "fenced"


# (g) rejoin: at or before the fork point it follows; past it, refused naming both positions.
def test_old_primary_rejoins_only_at_or_before_the_fork_point(make_node, tmp_path):
    cluster, primary, replica = caught_up_pair(make_node, tmp_path)
    primary.kill()
    promote(replica)
    assert write(replica, range(100, 200)).status_code == 204
    # Caught up when killed: its last txn is before the fork point, so it rejoins as a replica.
    old = cluster.restart("primary", role="replica", primary="replica1")
    wait_caught_up(replica, [old])
    assert ids_on(old) == set(range(0, 200))
    assert status(old)["role"] == "replica"

    # Now fork it: kill the new primary while the old one is down, write on the old one alone...
    (tmp_path / "second").mkdir()
    cluster2, a, b = caught_up_pair(make_node, tmp_path / "second")
    b.stop()
    assert write(a, range(100, 150)).status_code == 204  # only on a: past b's fork point-to-be
    last_on_a = status(a)["positions"]["durableTxn"]
    a.kill()
    b = cluster2.restart("replica1")
    answer = promote(b)
    old = cluster2.restart("primary", role="replica", primary="replica1")
    wait_for(lambda: status(old).get("upstream", {}).get("state") == "snapshot_required", timeout=30,
             message="rejoin past the fork point refused")
    error = status(old)["upstream"]["lastError"]
    assert f"txn {last_on_a}" in error and f"began at txn {answer['forkTxn']}" in error, error
    assert write(b, range(200, 210)).status_code == 204
    assert 100 not in ids_on(b)
    # ...then re-bootstrapped on request: its rows past the fork point are moved aside, not lost.
    old.stop()
    resync = subprocess.run([str(BINARY), "rejoin", "--data-dir", str(old.data_dir), "--primary", cluster2.address("replica1"),
                             "--resync"], capture_output=True, text=True, timeout=30)
    assert resync.returncode == 0, resync.stderr
    assert "before-resync-" in resync.stdout
    old = cluster2.restart("primary")
    wait_caught_up(b, [old])
    assert ids_on(old) == ids_on(b)
    assert status(old)["role"] == "replica" and status(old)["upstream"]["state"] == "streaming"


# Snapshot bootstrap: an empty node joins while the primary keeps ingesting, although the primary
# purged the WAL it would need from txn 1; every file arrives with its checksum.
def test_empty_replica_bootstraps_from_a_snapshot_under_ingest(make_node, tmp_path):
    cluster = sync_cluster(make_node, tmp_path, mode="async", QDB_CAIRO_WAL_SEGMENT_ROLLOVER_SIZE="1m",
                           QDB_CAIRO_WAL_CHECKPOINT_TXNS="256")
    primary = cluster.start_primary()
    # Enough transactions for two checkpoints over 1 MiB segments: the first ones are purged.
    # The WAL narrows these rows to ~11 bytes (decision 0034): 3 MB of it takes 270 000.
    for start in range(0, 300_000, 500):
        assert write(primary, range(start, start + 500)).status_code == 204
    writer = Writer(primary.http_url, batch=100)
    writer.next_id = 1_000_000
    writer.start()
    try:
        wait_for(lambda: len(writer.acked) >= 2000, message="writer running")
        replica = cluster.start_replica()
        wait_for(lambda: status(replica).get("upstream", {}).get("state") == "streaming", timeout=60, message="replica streaming")
        assert "snapshot installed" in replica.log()
        assert "sending a snapshot" in primary.log()
        time.sleep(0.5)
    finally:
        writer.stop()
    wait_caught_up(primary, [replica], timeout=60)
    assert ids_on(replica) == ids_on(primary)
    assert set(writer.acked) <= ids_on(replica)
    # The bootstrapped replica is a full member: it survives a restart and can be promoted.
    replica.stop()
    replica = cluster.restart("replica1")
    assert write(primary, range(2_000_000, 2_000_100)).status_code == 204
    wait_caught_up(primary, [replica])
    primary.kill()
    assert promote(replica)["epoch"] == 1
    assert write(replica, range(3_000_000, 3_000_010)).status_code == 204


# (h) a sync mode with its replicas down: writes fail within the timeout, on every protocol.
def test_sync_mode_without_replicas_fails_writes_instead_of_hanging(make_node, tmp_path):
    cluster = sync_cluster(make_node, tmp_path, mode="durable", timeout_ms=1000)
    primary = cluster.start_primary()
    replica = cluster.start_replica()
    assert write(primary, range(0, 10)).status_code == 204
    replica.stop()
    started = time.monotonic()
    answer = write(primary, range(10, 20), timeout=30)
    assert answer.status_code == 503 and answer.json()["code"] == "not replicated", answer.text
    assert "replication.sync.timeout" in answer.json()["message"]
    with psycopg.connect(primary.pg_dsn, autocommit=True) as connection:
        with pytest.raises(psycopg.Error) as failure:
            connection.execute(f"INSERT INTO {TABLE}(id, v, timestamp) VALUES (30, 1.0, now())")
        assert failure.value.sqlstate == "40003"
    exec_answer = requests.get(primary.http_url + "/exec", params={"query": f"INSERT INTO {TABLE}(id, v, timestamp) VALUES (31, 1.0, now())"},
                               timeout=30)
    assert exec_answer.status_code == 503
    assert time.monotonic() - started < 25  # three writes, each bounded by the 1 s timeout; not a hang
    # With the replica back, writes are acknowledged again.
    cluster.restart("replica1")
    wait_for(lambda: write(primary, range(40, 50)).status_code == 204, timeout=30, message="writes acknowledged again")
    assert status(primary)["sync"]["mode"] == "durable"


def test_promotion_over_http_and_pg_promote(make_node, tmp_path):
    cluster = sync_cluster(make_node, tmp_path, mode="async", QDB_HTTP_USER="admin", QDB_HTTP_PASSWORD="secret")
    primary = cluster.start_primary()
    first, second = cluster.start_replica(), cluster.start_replica()
    auth = ("admin", "secret")
    assert requests.post(primary.http_url + "/write", data=ilp_lines(range(10), writer="t"), auth=auth, timeout=10).status_code == 204
    wait_caught_up(primary, [first, second])
    # Refused without credentials, and on a primary.
    assert requests.post(first.http_url + "/api/v1/cluster/promote", timeout=10).status_code == 401
    conflict = requests.post(primary.http_url + "/api/v1/cluster/promote", auth=auth, timeout=10)
    assert conflict.status_code == 409 and "already the primary" in conflict.json()["error"]
    with psycopg.connect(primary.pg_dsn, autocommit=True) as connection:
        with pytest.raises(psycopg.Error) as failure:
            connection.execute("SELECT pg_promote()")
        assert failure.value.sqlstate == "55000"
    primary.kill()
    settings = lambda node: requests.get(node.http_url + "/settings", timeout=10).json()["config"]["accepting.writes"]  # noqa: E731
    assert settings(first) == []
    # pg_promote() on a replica, as PostgreSQL.
    with psycopg.connect(first.pg_dsn, autocommit=True) as connection:
        assert connection.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        assert connection.execute("SELECT pg_promote()").fetchone() == (True,)
        assert connection.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
    assert settings(first) == ["http", "tcp", "pgwire"]
    with psycopg.connect(first.pg_dsn, autocommit=True) as connection:
        assert connection.info.parameter_status("in_hot_standby") == "off"
        connection.execute(f"INSERT INTO {TABLE}(id, v, timestamp) VALUES (500, 1.0, now())")
    wait_for(lambda: status(second).get("upstream", {}).get("address") == cluster.address("replica1"),
             message="replica2 follows the promoted node")
    wait_caught_up(first, [second])
    assert 500 in ids_on(second)
    # sundial follow re-points at runtime; a bad address is refused with the node's message.
    bad = subprocess.run([str(BINARY), "follow", "--url", second.http_url, "--user", "admin", "--password", "secret",
                          "--primary", "nowhere"], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "HOST:PORT" in bad.stderr
    ok = subprocess.run([str(BINARY), "follow", "--url", second.http_url, "--user", "admin", "--password", "secret",
                         "--primary", cluster.address("replica1")], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert '"following"' in ok.stdout
    text = subprocess.run([str(BINARY), "status", "--url", first.health_url], capture_output=True, text=True, timeout=30).stdout
    assert "role: primary" in text and "epoch: 1" in text
