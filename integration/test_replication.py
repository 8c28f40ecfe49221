"""Replication end to end: real nodes on 127.0.0.1, ILP into the primary with the official
`questdb` client, reads on replicas with psycopg, writes to replicas refused on every protocol,
restarts and kill -9 on either side, retention cap, and the mutual-TLS channel."""
import socket
import ssl
import struct
import subprocess
import sys

import psycopg
import pytest
import requests
from questdb import Sender, TimestampNanos

from cluster import Cluster, issue_cert, make_certs, status, wait_caught_up, wait_for
from conftest import closed_by_peer

BASE_NS = 1_700_000_000_000_000_000


def ingest(node, start, count, table="trades", rows_per_request=1000):
    """Rows id = start … start+count-1 over ILP/HTTP, one transaction per request."""
    with Sender.from_conf(f"http::addr=127.0.0.1:{node.http_port};auto_flush_rows={rows_per_request};") as sender:
        for i in range(start, start + count):
            sender.row(table, symbols={"sym": f"s{i % 7}"}, columns={"id": i, "price": i * 0.5},
                       at=TimestampNanos(BASE_NS + i * 1_000_000))


def pg_rows(node, sql):
    with psycopg.connect(node.pg_dsn, autocommit=True) as connection:
        return connection.execute(sql).fetchall()


def summary(node, table="trades"):
    return pg_rows(node, f"SELECT count(*), count_distinct(id), sum(id), min(id), max(id) FROM {table}")[0]


@pytest.fixture
def cluster(make_node, tmp_path):
    return Cluster(make_node, tmp_path, tls=True)


@pytest.fixture
def plain_cluster(make_node, tmp_path):
    return Cluster(make_node, tmp_path, tls=False)


def test_ilp_on_primary_is_read_over_pg_on_two_replicas(cluster):
    primary = cluster.start_primary()
    replicas = [cluster.start_replica(), cluster.start_replica()]
    ingest(primary, 0, 20_000)
    wait_caught_up(primary, replicas)
    expected = summary(primary)
    assert expected == (20_000, 20_000, sum(range(20_000)), 0, 19_999)
    for replica in replicas:
        assert summary(replica) == expected
        # The same rows, values and symbols, not just the same counts.
        assert pg_rows(replica, "SELECT sym, count(*), sum(price) FROM trades ORDER BY sym") == \
            pg_rows(primary, "SELECT sym, count(*), sum(price) FROM trades ORDER BY sym")
        with psycopg.connect(replica.pg_dsn) as connection:
            assert connection.info.parameter_status("in_hot_standby") == "on"
    # Structural changes travel too: a column added on the primary appears on the replicas.
    requests.get(primary.http_url + "/exec", params={"query": "ALTER TABLE trades ADD COLUMN note VARCHAR"}, timeout=10)
    requests.get(primary.http_url + "/exec", params={"query": "CREATE TABLE extra (x INT)"}, timeout=10)
    wait_caught_up(primary, replicas)
    for replica in replicas:
        columns = [row[0] for row in pg_rows(replica, "SELECT \"column\" FROM table_columns('trades')")]
        assert "note" in columns
        assert pg_rows(replica, "SELECT count(*) FROM extra") == [(0,)]
    # So do UPDATEs: the replaced rows, and nothing else, change on every replica.
    with psycopg.connect(primary.pg_dsn, autocommit=True) as connection:
        cursor = connection.execute("UPDATE trades SET note = 'seven', price = -price WHERE sym = 's0' AND id < 700")
        assert cursor.rowcount == 100
    wait_caught_up(primary, replicas)
    expected = pg_rows(primary, "SELECT sym, note, count(*), sum(price), sum(id) FROM trades ORDER BY sym, note")
    assert (("s0", "seven", 100, -sum(i * 0.5 for i in range(0, 700, 7)), sum(range(0, 700, 7)))) in expected
    for replica in replicas:
        assert pg_rows(replica, "SELECT sym, note, count(*), sum(price), sum(id) FROM trades ORDER BY sym, note") == expected
    # A column type change is converted by each replica from its own files (the WAL carries
    # only the new schema), to the same values as on the primary.
    with psycopg.connect(primary.pg_dsn, autocommit=True) as connection:
        connection.execute("ALTER TABLE trades ALTER COLUMN id TYPE VARCHAR")
        connection.execute("ALTER TABLE trades ALTER COLUMN sym TYPE STRING")
        connection.execute("INSERT INTO trades (sym, id, price, timestamp) VALUES ('s3', '20009', 10004.5, now())")
    wait_caught_up(primary, replicas)
    expected = pg_rows(primary, "SELECT id, sym, price FROM trades WHERE id IN ('7', '19999', '20009') ORDER BY price")
    assert expected == [("7", "s0", -3.5), ("19999", "s0", 9999.5), ("20009", "s3", 10004.5)]
    for replica in replicas:
        assert pg_rows(replica, "SELECT \"column\", type FROM table_columns('trades') WHERE \"column\" IN ('id', 'sym')") == \
            [("sym", "STRING"), ("id", "VARCHAR")]
        assert pg_rows(replica, "SELECT id, sym, price FROM trades WHERE id IN ('7', '19999', '20009') ORDER BY price") == expected


def test_detached_partitions_travel_and_replicas_attach_their_own_copies(plain_cluster):
    """DETACH on the primary detaches on every replica; the operator renames the primary's
    copy to `.attachable` (as with QuestDB), and ATTACH brings the rows back everywhere, each
    replica from the copy its own DETACH kept (decision 0022)."""
    primary = plain_cluster.start_primary()
    replicas = [plain_cluster.start_replica(), plain_cluster.start_replica()]
    sql = "ALTER TABLE hours {} PARTITION LIST '2024-01-02'"
    with psycopg.connect(primary.pg_dsn, autocommit=True) as connection:
        connection.execute("CREATE TABLE hours (ts TIMESTAMP, v LONG, s SYMBOL) TIMESTAMP(ts) PARTITION BY DAY")
        connection.execute("INSERT INTO hours SELECT timestamp_sequence('2024-01-01', 3600000000), x, 's' || (x % 5) FROM long_sequence(72)")
        connection.execute(sql.format("DETACH"))
    wait_caught_up(primary, replicas)
    for node in [primary, *replicas]:
        assert pg_rows(node, "SELECT count(*), sum(v) FROM hours") == [(48, sum(range(1, 25)) + sum(range(49, 73)))]
        (table,) = (node.data_dir / "db").glob("hours~*")
        assert (table / "2024-01-02.detached" / "_detached").exists()
    (table,) = (primary.data_dir / "db").glob("hours~*")
    (table / "2024-01-02.detached").rename(table / "2024-01-02.attachable")
    with psycopg.connect(primary.pg_dsn, autocommit=True) as connection:
        connection.execute(sql.format("ATTACH"))
    wait_caught_up(primary, replicas)
    expected = pg_rows(primary, "SELECT s, count(*), sum(v), min(ts), max(ts) FROM hours ORDER BY s")
    assert sum(row[1] for row in expected) == 72 and sum(row[2] for row in expected) == sum(range(1, 73))
    for node in replicas:
        assert pg_rows(node, "SELECT s, count(*), sum(v), min(ts), max(ts) FROM hours ORDER BY s") == expected
        assert pg_rows(node, "SELECT suspended FROM wal_tables() WHERE name = 'hours'") == [(False,)]
        (table,) = (node.data_dir / "db").glob("hours~*")
        assert not (table / "2024-01-02.detached").exists()


def test_writes_to_a_replica_fail_on_every_protocol(cluster):
    primary = cluster.start_primary()
    replica = cluster.start_replica()
    ingest(primary, 0, 10)
    wait_caught_up(primary, [replica])
    with psycopg.connect(replica.pg_dsn, autocommit=True) as connection:
        for statement in ["INSERT INTO trades (id) VALUES (1)", "CREATE TABLE t (x INT)", "DROP TABLE trades"]:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as error:
                connection.execute(statement)
            assert error.value.sqlstate == "25006"
    answer = requests.get(replica.http_url + "/exec", params={"query": "INSERT INTO trades (id) VALUES (1)"}, timeout=10)
    assert answer.status_code == 421 and answer.headers["X-QuestDB-Role"] == "REPLICA"
    assert "error" in answer.json()
    answer = requests.post(replica.http_url + "/write", data=b"trades id=1i\n", timeout=10)
    assert answer.status_code == 421 and answer.headers["X-QuestDB-Role"] == "REPLICA"
    assert answer.json()["code"] == "read only" and "errorId" in answer.json()
    with socket.create_connection(("127.0.0.1", replica.ilp_tcp_port), timeout=10) as tcp:
        assert closed_by_peer(tcp)
    assert "refuses writes" in replica.log()
    # Nothing was written: the replica still mirrors the primary exactly.
    ingest(primary, 10, 10)
    wait_caught_up(primary, [replica])
    assert summary(replica) == summary(primary) == (20, 20, sum(range(20)), 0, 19)


def test_status_ready_and_metrics_report_positions_and_lag(cluster):
    primary = cluster.start_primary()
    replica = cluster.start_replica()
    ingest(primary, 0, 1000)
    wait_caught_up(primary, [replica])
    replica_status = status(replica)
    assert replica_status["role"] == "replica"
    assert replica_status["upstream"]["state"] == "streaming"
    assert replica_status["clusterId"] == status(primary)["clusterId"]

    def idle_and_zero():
        lag = status(replica)["lag"]
        reports = status(primary)["replicas"]
        return lag["txns"] == 0 and lag["seconds"] == 0 and reports and reports[0]["applyLag"]["txns"] == 0
    # An idle primary shows no lag, not a growing one.
    wait_for(idle_and_zero, message="zero lag when idle")
    report = status(primary)["replicas"][0]
    assert report["connected"] and report["slot"] and report["nodeId"] == replica_status["nodeId"]
    assert report["appliedTxn"] == status(primary)["positions"]["durableTxn"]
    assert requests.get(replica.health_url + "/ready", timeout=5).status_code == 200
    # Any path answers QuestDB's health text, or the status document when JSON is asked for.
    assert requests.get(replica.health_url + "/", timeout=5).text == "Status: Healthy"
    assert requests.get(replica.health_url + "/", headers={"Accept": "application/json"}, timeout=5).json()["role"] == "replica"
    metrics = requests.get(primary.health_url + "/metrics", timeout=5).text
    assert f'sundial_replication_replica_apply_lag_seconds{{replica="{report["nodeId"]}"}} 0' in metrics
    assert 'sundial_node_role{role="primary"} 1' in metrics
    assert "sundial_replication_shipped_bytes_total" in metrics
    assert "sundial_replication_lag_seconds 0" in requests.get(replica.health_url + "/metrics", timeout=5).text
    # `sundial status` prints the same for a person.
    printed = subprocess.run(
        [str(primary_binary()), "status", "--url", primary.health_url], capture_output=True, text=True, timeout=30)
    assert printed.returncode == 0, printed.stderr
    assert "role: primary" in printed.stdout and report["nodeId"] in printed.stdout

    # Primary gone: the replica says so, lag becomes unknown, /ready turns 503.
    primary.kill()
    wait_for(lambda: status(replica)["upstream"]["state"] != "streaming", message="replica notices the primary is gone")
    assert status(replica)["lag"]["seconds"] is None
    assert requests.get(replica.health_url + "/ready", timeout=5).status_code == 503


def primary_binary():
    from conftest import BINARY
    return BINARY


def test_replica_killed_mid_stream_resumes_without_gaps_or_duplicates(cluster):
    primary = cluster.start_primary()
    replica = cluster.start_replica()
    ingest(primary, 0, 5000)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(primary.http_port), "5000", "30000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: status(replica)["positions"]["appliedTxn"] > 8, message="replica streaming")
    replica.kill()  # SIGKILL while chunks are arriving
    assert writer.wait(timeout=120) == 0, writer.stderr.read()
    restarted = cluster.start_replica(name="replica1", data_dir=replica.data_dir)
    wait_caught_up(primary, [restarted])
    assert summary(restarted) == summary(primary) == (35_000, 35_000, sum(range(35_000)), 0, 34_999)


WRITER = """
import sys
from questdb import Sender, TimestampNanos
port, start, count = map(int, sys.argv[1:])
with Sender.from_conf(f"http::addr=127.0.0.1:{port};auto_flush_rows=500;") as sender:
    for i in range(start, start + count):
        sender.row("trades", symbols={"sym": f"s{i % 7}"}, columns={"id": i, "price": i * 0.5},
                   at=TimestampNanos(1_700_000_000_000_000_000 + i * 1_000_000))
"""


def test_primary_restart_resumes_streaming(plain_cluster):
    cluster = plain_cluster
    primary = cluster.start_primary()
    replica = cluster.start_replica()
    ingest(primary, 0, 3000)
    wait_caught_up(primary, [replica])
    assert primary.stop() == 0
    wait_for(lambda: status(replica)["upstream"]["state"] != "streaming", message="replica notices the restart")
    primary = cluster.start_primary(data_dir=primary.data_dir)
    ingest(primary, 3000, 3000)
    wait_caught_up(primary, [replica])
    assert summary(replica) == summary(primary) == (6000, 6000, sum(range(6000)), 0, 5999)


def test_replica_behind_the_retention_cap_is_told_snapshot_required(plain_cluster):
    cluster = plain_cluster
    small = {"QDB_CAIRO_WAL_SEGMENT_ROLLOVER_SIZE": "1m", "QDB_REPLICATION_MAX_RETAINED_BYTES": "2m"}
    primary = cluster.start_primary(env=small)
    replica = cluster.start_replica()
    ingest(primary, 0, 100)
    wait_caught_up(primary, [replica])
    replica.kill()
    # Far more WAL than the cap while the replica is away (the WAL narrows these rows to ~15
    # bytes, decision 0034): its slot goes, and once the tables checkpoint (every 256 txns)
    # the segments it needed are purged.
    ingest(primary, 100, 300_000, rows_per_request=300)
    wait_for(lambda: not status(primary)["replicas"][0]["slot"], message="slot dropped")
    assert "lost its replication slot" in primary.log()
    ingest(primary, 300_100, 300_000, rows_per_request=300)
    assert status(primary)["positions"]["walRetainedBytes"] < 8 << 20
    restarted = cluster.start_replica(name="replica1", data_dir=replica.data_dir)
    wait_for(lambda: status(restarted)["upstream"]["state"] == "snapshot_required", message="snapshot required")
    assert "re-bootstrap" in restarted.log()
    assert "sundial_replication_snapshot_required_total 1" in requests.get(primary.health_url + "/metrics", timeout=5).text


def test_replica_with_another_clusters_history_is_refused(plain_cluster, make_node, tmp_path):
    cluster = plain_cluster
    primary = cluster.start_primary()
    ingest(primary, 0, 10)
    stranger = make_node(data_dir=tmp_path / "stranger")
    ingest(stranger, 0, 5)
    stranger.stop()
    replica = cluster.start_replica(name="replica1", data_dir=stranger.data_dir)
    wait_for(lambda: status(replica)["upstream"]["state"] == "refused", message="refused")
    assert "cluster" in status(replica)["upstream"]["lastError"]
    assert summary(replica)[0] == 5  # its own rows untouched


# --- the mutual-TLS channel (RELIABILITY §3.5 R12–R13) ---

def hello_frame():
    """A well-formed HELLO: if the server processed it, it would answer START."""
    def string(text):
        data = text.encode()
        return struct.pack("<H", len(data)) + data
    body = struct.pack("<H", 1) + string("x" * 32) + string("y" * 32) + struct.pack("<Q", 0)
    head = struct.pack("<BBHQ", 1, 1, 0, 0) + body
    import zlib  # noqa: F401  (CRC32C is not in the stdlib: a wrong CRC still tests that nothing is answered)
    return struct.pack("<I", len(head) + 4) + head + b"\0\0\0\0"


def read_until_closed(sock, timeout=10):
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    return received


def tls_attempt(port, certs, cert_name=None, ca=None):
    """Connects with TLS as a replica would; returns the bytes the server sent back (b'' when closed)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(str(ca or certs / "ca.pem"))
    if cert_name:
        context.load_cert_chain(str(certs / f"{cert_name}.pem"), str(certs / f"{cert_name}.key"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(hello_frame())
                return tls.recv(1024)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            return b""


def test_tls_refuses_missing_foreign_and_plaintext_peers(cluster, tmp_path):
    primary = cluster.start_primary()
    port = cluster.primary_port
    foreign = make_certs(tmp_path / "foreign", "replica1")
    # Sanity: the cluster's own certificate gets an answer (REFUSED, since the HELLO's CRC is wrong
    # the connection closes; either way bytes or a close, but the handshake itself succeeds).
    assert tls_attempt(port, cluster.certs, cert_name=None) == b""  # no client certificate
    assert tls_attempt(port, foreign, cert_name="replica1", ca=cluster.certs / "ca.pem") == b""  # another CA
    with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
        plain.sendall(hello_frame())
        answer = read_until_closed(plain)
        # At most a TLS alert record (content type 21), never a replication frame.
        assert answer == b"" or answer[0] == 21, answer
    # A replica whose certificate comes from another CA never streams and says why.
    bad = cluster.start_replica(env={"QDB_REPLICATION_TLS_CERT": str(foreign / "replica1.pem"),
                                     "QDB_REPLICATION_TLS_KEY": str(foreign / "replica1.key")})
    wait_for(lambda: status(bad)["upstream"]["lastError"], message="TLS failure reported")
    assert status(bad)["upstream"]["state"] != "streaming"
    assert status(primary)["replicas"] == []


def test_expired_client_certificate_is_refused(cluster):
    primary = cluster.start_primary()
    certificate, key = issue_cert(cluster.certs, "expired", "DNS:localhost,IP:127.0.0.1",
                                  not_before="20200101000000Z", not_after="20200102000000Z")
    replica = cluster.start_replica(env={"QDB_REPLICATION_TLS_CERT": str(certificate), "QDB_REPLICATION_TLS_KEY": str(key)})
    wait_for(lambda: status(replica)["upstream"]["lastError"], message="TLS failure reported")
    assert status(replica)["upstream"]["state"] != "streaming"
    assert status(primary)["replicas"] == []
    assert "CERTIFICATE_EXPIRED" in primary.log().upper() or "EXPIRED" in primary.log().upper()


def test_primary_certificate_must_name_the_host_the_replica_dials(cluster):
    # The primary's certificate names only elsewhere.example: a replica dialling localhost refuses it.
    certificate, key = issue_cert(cluster.certs, "wrongname", "DNS:elsewhere.example")
    primary = cluster.start_primary(env={"QDB_REPLICATION_TLS_CERT": str(certificate), "QDB_REPLICATION_TLS_KEY": str(key)})
    replica = cluster.start_replica(env={"QDB_REPLICATION_PRIMARY": f"localhost:{cluster.primary_port}"})
    wait_for(lambda: status(replica)["upstream"]["lastError"], message="host-name failure reported")
    assert status(replica)["upstream"]["state"] != "streaming"
    assert status(primary)["replicas"] == []
    # The same primary is accepted under a name its certificate carries (checked against a real
    # certificate: with a DNS SAN for localhost, dialling localhost streams).
    good_certificate, good_key = issue_cert(cluster.certs, "rightname", "DNS:localhost")
    primary.kill()
    primary = cluster.start_primary(
        env={"QDB_REPLICATION_TLS_CERT": str(good_certificate), "QDB_REPLICATION_TLS_KEY": str(good_key)},
        data_dir=primary.data_dir)
    wait_for(lambda: status(replica)["upstream"]["state"] == "streaming", message="streams once the name matches")


def served_certificate(port, certs, client="replica1"):
    """The DER certificate a member's replication port presents to a client of the cluster."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(str(certs / "ca.pem"))
    context.load_cert_chain(str(certs / f"{client}.pem"), str(certs / f"{client}.key"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.getpeercert(binary_form=True)


def certificate_der(path):
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def tls_reloads(node, result):
    metrics = requests.get(node.health_url + "/metrics", timeout=5).text
    line = next((l for l in metrics.splitlines() if l.startswith(f'sundial_replication_tls_reloads_total{{result="{result}"}}')), None)
    return int(float(line.split()[-1])) if line else 0


def test_rotated_certificates_are_used_without_a_restart(cluster):
    primary = cluster.start_primary(env={"QDB_REPLICATION_TLS_RELOAD_INTERVAL": "200"})
    replica = cluster.start_replica()
    ingest(primary, 0, 500)
    wait_caught_up(primary, [replica])
    first = certificate_der(cluster.certs / "primary.pem")
    assert served_certificate(cluster.primary_port, cluster.certs) == first
    metrics = requests.get(primary.health_url + "/metrics", timeout=5).text
    assert "sundial_replication_tls_certificate_expiry_timestamp_seconds" in metrics
    # Rotation: make-certs.sh issues the primary a new key and certificate from the same CA.
    make_certs(cluster.certs, "primary")
    rotated = certificate_der(cluster.certs / "primary.pem")
    assert rotated != first
    wait_for(lambda: served_certificate(cluster.primary_port, cluster.certs) == rotated, message="new certificate served")
    assert tls_reloads(primary, "ok") == 1
    assert "replication TLS certificates reloaded" in primary.log()
    # The established stream goes on, and a replica connecting now verifies the new certificate.
    ingest(primary, 500, 500)
    second = cluster.start_replica()
    wait_caught_up(primary, [replica, second])
    assert summary(second) == summary(primary) == summary(replica)
    # A broken rotation (another member's certificate beside this key) keeps the previous pair.
    (cluster.certs / "primary.pem").write_bytes((cluster.certs / "replica3.pem").read_bytes())
    wait_for(lambda: tls_reloads(primary, "failed") == 1, message="failed reload counted")
    assert "cannot be loaded" in primary.log()
    assert served_certificate(cluster.primary_port, cluster.certs) == rotated
    ingest(primary, 1000, 100)
    wait_caught_up(primary, [replica, second])


def test_a_node_id_belongs_to_the_certificate_that_first_claimed_it(cluster):
    primary = cluster.start_primary()
    replica = cluster.start_replica(name="replica1")
    ingest(primary, 0, 200)
    wait_caught_up(primary, [replica])
    node_id = status(replica)["nodeId"]
    data_dir = replica.data_dir
    replica.kill()
    # The primary keeps the binding across its own restart (it lives in the slot file).
    primary.kill()
    primary = cluster.start_primary(data_dir=primary.data_dir)
    # replica1's data directory (its node id) presented with replica2's valid certificate.
    impostor = cluster.start_replica(name="replica2", data_dir=data_dir)
    wait_for(lambda: "belongs to the member" in (status(impostor)["upstream"]["lastError"] or ""), message="claim refused")
    error = status(impostor)["upstream"]["lastError"]
    assert node_id in error and "'replica1'" in error and "'replica2'" in error, error
    assert status(impostor)["upstream"]["state"] != "streaming"
    assert "belongs to the member" in primary.log()
    impostor.kill()
    # The rightful certificate resumes the slot where it stopped.
    back = cluster.start_replica(name="replica1", data_dir=data_dir)
    ingest(primary, 200, 200)
    wait_caught_up(primary, [back])
    assert summary(back) == summary(primary)


def spki_pin(certificate):
    """`sha256/BASE64` of a certificate's public key, as the runbook computes it."""
    key = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", str(certificate)], check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=key, check=True, capture_output=True).stdout
    import base64
    import hashlib
    return "sha256/" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_spki_pins_are_enforced_in_both_directions(make_node, tmp_path):
    cluster = Cluster(make_node, tmp_path, tls=True)
    pins = {name: spki_pin(cluster.certs / f"{name}.pem") for name in ("primary", "replica1", "replica2")}
    # Every member but replica3 pinned: streams.
    cluster.env["QDB_REPLICATION_TLS_PINS"] = ",".join(pins.values())
    primary = cluster.start_primary()
    good = cluster.start_replica()
    ingest(primary, 0, 100)
    wait_caught_up(primary, [good])
    # The primary does not pin replica3's key (same CA): refused before any frame.
    unpinned = cluster.start_replica(name="replica3")
    wait_for(lambda: status(unpinned)["upstream"]["lastError"], message="refusal reported")
    assert status(unpinned)["upstream"]["state"] != "streaming"
    assert "replication.tls.pins" in primary.log()
    # A replica that pins only some other key refuses the primary.
    picky = cluster.start_replica(name="replica2", env={"QDB_REPLICATION_TLS_PINS": pins["replica1"]})
    wait_for(lambda: "replication.tls.pins" in (status(picky)["upstream"]["lastError"] or ""), message="pin refusal reported")
    assert {r["nodeId"] for r in status(primary)["replicas"] if r["connected"]} == {status(good)["nodeId"]}


def test_malformed_pin_stops_start_up_naming_the_key(tmp_path):
    from conftest import BINARY
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("QDB_")}
    env.update({"QDB_REPLICATION_ROLE": "primary", "QDB_REPLICATION_TLS_ENABLED": "true",
                "QDB_REPLICATION_TLS_PINS": "sha256/nope"})
    result = subprocess.run([str(BINARY), "serve", "--data-dir", str(tmp_path / "d")], env=env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode != 0
    assert "replication.tls" in result.stderr
