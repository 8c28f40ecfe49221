"""ILP ingestion with real clients: the official `questdb` Python client over HTTP and TCP
(protocol v1 and v2, auto-flush by rows and by time, arrays, a pandas DataFrame), the InfluxDB
v2 client against /api/v2/write with gzip, and curl with bad bodies.

Until SQL exists, results are read with `sundial dump` after the node stops (it replays the
WAL exactly as a restart does).
"""
import base64
import gzip
import json
import math
import socket
import subprocess
import threading
import time

import numpy as np
import pandas as pd
import pytest
import requests
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from questdb.ingress import IngressError, Sender, TimestampNanos  # the classic ILP sender API

from conftest import BINARY, closed_by_peer, free_port

BASE_NS = 1_700_000_000_000_000_000


def dump(node, table):
    """Stops the node and returns {columns: [(name, type)], rows: [dict]} of `table`."""
    assert node.stop() == 0
    out = subprocess.run([str(BINARY), "dump", "--data-dir", str(node.data_dir), table],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    names = [c["name"] for c in data["columns"]]
    return {
        "columns": [(c["name"], c["type"]) for c in data["columns"]],
        "designated": data["designatedTimestamp"],
        "partitionBy": data["partitionBy"],
        "rows": [dict(zip(names, row)) for row in data["rows"]],
    }


def wait_rows(node, table, count, timeout=10):
    """ILP's acknowledgement means durable; rows are visible once applied, a moment later."""
    deadline = time.monotonic() + timeout
    query = f"select count() from '{table}'"
    while requests.get(f"{node.http_url}/exec", params={"query": query}, timeout=10).json().get("dataset") != [[count]]:
        assert time.monotonic() < deadline, f"{table} never had {count} rows"
        time.sleep(0.02)


def wait_equal(left, right, timeout=10):
    """Whether `left()` and `right()` agree within `timeout` (both sides' rows may still be
    applying); the last comparison's result."""
    deadline = time.monotonic() + timeout
    while (a := left()) != (b := right()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return a == b


def http_conf(node, **extra):
    conf = f"http::addr=127.0.0.1:{node.http_port};"
    return conf + "".join(f"{k}={v};" for k, v in extra.items())


def tcp_conf(node, **extra):
    conf = f"tcp::addr=127.0.0.1:{node.ilp_tcp_port};"
    return conf + "".join(f"{k}={v};" for k, v in extra.items())


def test_questdb_client_over_http_creates_the_schema_clients_expect(node):
    # The c-client system test `test_insert_three_rows`: this exact schema, in this order.
    with Sender.from_conf(http_conf(node)) as sender:
        for i in range(3):
            sender.row("t", symbols={"name_a": "val_a"},
                       columns={"name_b": True, "name_c": 42 + i, "name_d": 2.5, "name_e": "val_b"},
                       at=TimestampNanos(BASE_NS + i * 1000))
    result = dump(node, "t")
    assert result["columns"] == [
        ("name_a", "SYMBOL"), ("name_b", "BOOLEAN"), ("name_c", "LONG"), ("name_d", "DOUBLE"),
        ("name_e", "VARCHAR"), ("timestamp", "TIMESTAMP_NS")]
    assert result["designated"] == "timestamp" and result["partitionBy"] == "DAY"
    assert [r["name_c"] for r in result["rows"]] == ["42", "43", "44"]
    assert result["rows"][0] == {"name_a": "val_a", "name_b": "true", "name_c": "42", "name_d": "2.5",
                                 "name_e": "val_b", "timestamp": str(BASE_NS)}


@pytest.mark.parametrize("version", [1, 2])
def test_questdb_client_protocol_versions_store_exact_doubles(make_node, version):
    node = make_node()
    values = [0.0, -0.0, 1.0, 1e100, 1e-6, -1e-6, 0.1, math.pi, 1.7976931348623157e308, 5e-324]
    with Sender.from_conf(http_conf(node, protocol_version=version)) as sender:
        for i, value in enumerate(values):
            sender.row("doubles", columns={"d": value, "i": i}, at=TimestampNanos(BASE_NS + i))
    rows = dump(node, "doubles")["rows"]
    assert [float(r["d"]) for r in rows] == values


def test_decimals_over_protocol_v3_land_exactly(node):
    from decimal import Decimal
    values = [Decimal("0.001"), Decimal("-1.500"), Decimal("99999999999999.999"), Decimal("0"), Decimal("123.4")]
    with Sender.from_conf(http_conf(node, protocol_version=3)) as sender:
        for i, value in enumerate(values):
            sender.row("prices", columns={"px": value}, at=TimestampNanos(BASE_NS + i))
    # The first value creates DECIMAL(18, its scale); later values are rounded to that scale.
    requests.get(f"{node.http_url}/exec", params={"query": "alter table prices add column fixed decimal(6, 1)"}, timeout=10)
    with Sender.from_conf(http_conf(node, protocol_version=3)) as sender:
        sender.row("prices", columns={"fixed": Decimal("12.35"), "px": Decimal("1")}, at=TimestampNanos(BASE_NS + 10))
    wait_rows(node, "prices", 6)
    # /exec quotes decimals (as QuestDB does), every digit of the column's scale kept.
    body = requests.get(f"{node.http_url}/exec", params={"query": "select px, fixed from prices"}, timeout=10).json()
    assert [c["type"] for c in body["columns"]] == ["DECIMAL(18,3)", "DECIMAL(6,1)"]
    assert [row[0] for row in body["dataset"]] == ["0.001", "-1.500", "99999999999999.999", "0.000", "123.400", "1.000"]
    assert body["dataset"][-1][1] == "12.4"
    # A value too wide for the column fails its line with a clear error; the server stays healthy.
    with pytest.raises(Exception, match="12345678"):
        with Sender.from_conf(http_conf(node, protocol_version=3)) as sender:
            sender.row("prices", columns={"fixed": Decimal("12345678")}, at=TimestampNanos(BASE_NS + 11))


def test_wide_decimals_over_protocol_v3_and_text(node):
    """Past 18 digits (QuestDB's DECIMAL128/256): the client's binary decimals and `…d` text
    land exactly in DECIMAL(38, 10) and DECIMAL(76, 0) columns; a new column from a wide value
    is DECIMAL(76, its scale)."""
    from decimal import Decimal
    exec_ok = lambda q: requests.get(f"{node.http_url}/exec", params={"query": q}, timeout=10).json()
    exec_ok("create table big (ts timestamp, a decimal(38, 10), b decimal(76, 0)) timestamp(ts) partition by day wal")
    a_values = [Decimal("1234567890123456789012345678.0123456789"), Decimal("-0.0000000001"), Decimal("42")]
    b_values = [Decimal("9" * 76), Decimal("-" + "1" * 60), Decimal("0")]
    with Sender.from_conf(http_conf(node, protocol_version=3)) as sender:
        for i, (a, b) in enumerate(zip(a_values, b_values)):
            sender.row("big", columns={"a": a, "b": b}, at=TimestampNanos(BASE_NS + i))
        sender.row("big", columns={"fresh": Decimal("12345678901234567890.25")}, at=TimestampNanos(BASE_NS + 3))
    text = f"big a=-98765432109876543210.9876543210d,b={'7' * 40}d {BASE_NS + 4}\n"
    assert requests.post(f"{node.http_url}/write", data=text, timeout=10).status_code == 204
    wait_rows(node, "big", 5)
    body = exec_ok("select a, b, fresh from big order by ts")
    assert [c["type"] for c in body["columns"]] == ["DECIMAL(38,10)", "DECIMAL(76,0)", "DECIMAL(76,2)"]
    assert [row[0] for row in body["dataset"]] == [
        "1234567890123456789012345678.0123456789", "-0.0000000001", "42.0000000000", None, "-98765432109876543210.9876543210"]
    assert [row[1] for row in body["dataset"]] == ["9" * 76, "-" + "1" * 60, "0", None, "7" * 40]
    assert body["dataset"][3][2] == "12345678901234567890.25"
    assert exec_ok("select sum(b) s from big where b < 10")["dataset"] == [["-" + "1" * 60]]
    # A value past the column's precision fails its line with a clear error; the rest stay.
    bad = requests.post(f"{node.http_url}/write", data=f"big a={'1' * 29}d {BASE_NS + 5}\n", timeout=10)
    assert bad.status_code == 400 and "a" in bad.json()["message"]
    assert exec_ok("select count() from big")["dataset"] == [[5]]
    # The storage read API (`sundial dump`) writes them the same way.
    assert [r["a"] for r in dump(node, "big")["rows"]][:2] == ["1234567890123456789012345678.0123456789", "-0.0000000001"]


def test_arrays_over_http_v2(node):
    matrix = np.array([[1.5, -2.0, 3.25], [4.0, 5.5, 6.0]], dtype=np.float64)
    with Sender.from_conf(http_conf(node, protocol_version=2)) as sender:
        sender.row("arrays", columns={"m": matrix, "v": np.array([1.0, 2.0])}, at=TimestampNanos(BASE_NS))
    result = dump(node, "arrays")
    assert ("m", "DOUBLE[][]") in result["columns"] and ("v", "DOUBLE[]") in result["columns"]
    assert result["rows"][0]["m"] == "[2, 3][1.5, -2.0, 3.25, 4.0, 5.5, 6.0]"


def test_pandas_dataframe(node):
    df = pd.DataFrame({
        "sym": pd.Categorical(["a", "b", "a"]),
        "price": [1.5, 2.5, 3.5],
        "qty": pd.array([10, None, 30], dtype="Int64"),
        "ts": pd.to_datetime([BASE_NS, BASE_NS + 1_000, BASE_NS + 2_000], unit="ns"),
    })
    with Sender.from_conf(http_conf(node)) as sender:
        sender.dataframe(df, table_name="frame", symbols=["sym"], at="ts")
    result = dump(node, "frame")
    assert [(r["sym"], r["price"], r["qty"]) for r in result["rows"]] == [
        ("a", "1.5", "10"), ("b", "2.5", None), ("a", "3.5", "30")]


def test_auto_flush_by_rows_and_by_time_over_http(node):
    with Sender.from_conf(http_conf(node, auto_flush_rows=10, auto_flush_interval="off")) as sender:
        for i in range(30):
            sender.row("by_rows", columns={"i": i}, at=TimestampNanos(BASE_NS + i))
        assert len(sender) == 0  # three requests of ten rows went out
        for i in range(30, 35):
            sender.row("by_rows", columns={"i": i}, at=TimestampNanos(BASE_NS + i))
        assert len(sender) > 0  # the close flushes the last five
    with Sender.from_conf(http_conf(node, auto_flush_rows="off", auto_flush_interval=100)) as sender:
        sender.row("by_time", columns={"i": 1}, at=TimestampNanos(BASE_NS))
        time.sleep(0.3)
        sender.row("by_time", columns={"i": 2}, at=TimestampNanos(BASE_NS + 1))
        assert len(sender) == 0  # the second row triggered the interval flush
    rows = dump(node, "by_rows")["rows"]
    assert [int(r["i"]) for r in rows] == list(range(35))


def test_column_type_changes_under_ilp_load_lose_no_row(node):
    """ALTER COLUMN TYPE while the official client streams into the table: the writer's
    batches are rebuilt for each new schema, every acknowledged row lands with its value, and
    the WAL replays the conversions (`sundial dump` reads through a replay)."""
    total = 60_000
    failures = []

    def write():
        try:
            with Sender.from_conf(http_conf(node, auto_flush_rows=500)) as sender:
                for i in range(total):
                    sender.row("live", symbols={"sym": f"s{i % 3}"}, columns={"v": i, "name": f"n{i}"},
                               at=TimestampNanos(BASE_NS + i * 1000))
                    if i % 5000 == 0:
                        time.sleep(0.05)
        except Exception as error:  # noqa: BLE001 - the assertion below reports it
            failures.append(repr(error))

    writer = threading.Thread(target=write)
    writer.start()
    exec_url = f"http://127.0.0.1:{node.http_port}/exec"
    while requests.get(exec_url, params={"query": "SELECT count() FROM live"}, timeout=10).status_code != 200:
        time.sleep(0.05)
    for column, type_ in [("v", "DOUBLE"), ("name", "SYMBOL"), ("v", "LONG"), ("sym", "VARCHAR")]:
        answer = requests.get(exec_url, params={"query": f"ALTER TABLE live ALTER COLUMN {column} TYPE {type_}"}, timeout=60)
        assert answer.json() == {"ddl": "OK"}
        time.sleep(0.2)
    writer.join()
    assert failures == []
    deadline = time.time() + 30
    while time.time() < deadline:
        counts = requests.get(exec_url, params={"query": "SELECT count(), count_distinct(v), sum(v), count_distinct(name) FROM live"},
                              timeout=10).json()["dataset"][0]
        if counts[0] == total:
            break
        time.sleep(0.1)
    assert counts == [total, total, sum(range(total)), total]
    table = dump(node, "live")
    assert dict(table["columns"])["v"] == "LONG" and dict(table["columns"])["sym"] == "VARCHAR"
    assert dict(table["columns"])["name"] == "SYMBOL"
    assert sorted(int(row["v"]) for row in table["rows"]) == list(range(total))


def test_a_bad_row_fails_the_whole_http_request_with_questdb_json(node):
    with Sender.from_conf(http_conf(node)) as sender:
        sender.row("mixed", columns={"a": 1}, at=TimestampNanos(BASE_NS))
    with pytest.raises(IngressError) as failure:
        with Sender.from_conf(http_conf(node)) as sender:
            sender.row("mixed", columns={"a": 2}, at=TimestampNanos(BASE_NS + 1))
            sender.row("mixed", columns={"a": "text"}, at=TimestampNanos(BASE_NS + 2))
    message = str(failure.value)
    assert "cast error from protocol type: STRING to column type: LONG" in message
    assert "error in line 2" in message
    assert [r["a"] for r in dump(node, "mixed")["rows"]] == ["1"]


@pytest.mark.parametrize("version", [1, 2])
def test_questdb_client_over_tcp(make_node, version):
    node = make_node()
    with Sender.from_conf(tcp_conf(node, protocol_version=version)) as sender:
        for i in range(1000):
            sender.row("tcp_rows", symbols={"host": f"h{i % 3}"}, columns={"v": i * 0.5, "n": i},
                       at=TimestampNanos(BASE_NS + i))
            if i % 100 == 99:
                sender.flush()
    # Rows commit on disconnect; wait for the commit by asking again after a moment.
    time.sleep(0.5)
    result = dump(node, "tcp_rows")
    assert len(result["rows"]) == 1000
    assert [int(r["n"]) for r in result["rows"]] == list(range(1000))


def test_tcp_commits_by_interval_while_the_client_stays_connected(make_node):
    node = make_node(env={"QDB_LINE_TCP_COMMIT_INTERVAL_DEFAULT": "200"})
    sock = socket.create_connection(("127.0.0.1", node.ilp_tcp_port))
    sock.sendall(b"live,s=a v=1i 1000\nlive,s=b v=2i 2000\n")
    deadline = time.monotonic() + 10
    committed = 0
    while time.monotonic() < deadline and committed < 2:
        metrics = requests.get(f"{node.health_url}/metrics", timeout=2).text
        for line in metrics.splitlines():
            if line.startswith("sundial_line_committed_rows_total "):
                committed = float(line.split()[1])
        time.sleep(0.05)
    assert committed == 2, "rows were not committed by interval while the connection stayed open"
    sock.close()


def test_tcp_bad_line_closes_the_connection_and_keeps_earlier_lines(node):
    sock = socket.create_connection(("127.0.0.1", node.ilp_tcp_port))
    sock.sendall(b"kept v=1i 1000\nkept v=2i 2000\nkept v=oops 3000\nkept v=4i 4000\n")
    sock.settimeout(10)
    # The server never writes: the close shows up as EOF (or a reset).
    assert closed_by_peer(sock)
    sock.close()
    deadline = time.monotonic() + 5
    while "ILP over TCP line refused" not in node.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "ILP over TCP line refused" in node.log()
    assert [r["v"] for r in dump(node, "kept")["rows"]] == ["1", "2"]


def test_influxdb_v2_client_with_gzip(node):
    with InfluxDBClient(url=node.http_url, token="ignored", org="ignored", enable_gzip=True) as client:
        write = client.write_api(write_options=SYNCHRONOUS)
        points = [Point("weather").tag("city", c).field("temp", t).field("rain", r)
                  .time(BASE_NS + i, WritePrecision.NS) for i, (c, t, r) in
                  enumerate([("Oslo", 3.5, 1), ("Rome", 18.25, 0), ("Lima", 21.0, 0)])]
        write.write(bucket="ignored", record=points)
        # Second precision: the bare timestamps are seconds.
        write.write(bucket="ignored", record="weather,city=Nuuk temp=-4.5 1700000001", write_precision=WritePrecision.S)
    rows = dump(node, "weather")["rows"]
    assert [(r["city"], r["temp"], r["rain"]) for r in rows] == [
        ("Oslo", "3.5", "1"), ("Rome", "18.25", "0"), ("Lima", "21.0", "0"), ("Nuuk", "-4.5", None)]
    assert rows[3]["timestamp"] == str(1_700_000_001_000_000)


@pytest.mark.parametrize("body,headers,status,code,fragment", [
    (b"t a=1i\nt b=\n t\n", {}, 400, "invalid", "error in line 3"),
    (b"t a=\"unterminated\n", {}, 400, "invalid", "field value is invalid"),
    (b"t,a a=1i\n", {}, 400, "invalid", "Symbol value is missing: a"),
    (b"t a=1i -5\n", {}, 400, "invalid", "designated timestamp before 1970-01-01 is not allowed"),
    (b"\x00\x01\x02", {}, 400, "invalid", "error in line 1"),
    (b"not gzip at all", {"Content-Encoding": "gzip"}, 400, "invalid", "invalid gzip body"),
    (b"t a=1i\n", {"Content-Encoding": "br"}, 415, "not supported", "unsupported content encoding"),
])
def test_curl_bad_bodies(node, body, headers, status, code, fragment):
    args = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST", "--data-binary", "@-"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args + [f"{node.http_url}/write"], input=body, capture_output=True, timeout=30)
    text, _, http_code = out.stdout.decode(errors="replace").rpartition("\n")
    assert int(http_code) == status, text
    error = json.loads(text)
    assert error["code"] == code and fragment in error["message"], error
    assert "errorId" in error
    # The server is still fine.
    assert requests.get(f"{node.http_url}/ping", timeout=5).status_code == 204


def test_precision_parameter(node):
    unsupported = requests.post(f"{node.http_url}/write?precision=fortnight", data=b"p a=1i 1\n", timeout=5)
    assert unsupported.status_code == 400 and unsupported.json()["message"] == "unsupported precision"
    for precision, value in [("s", 2), ("ms", 3_000), ("u", 4_000_000), ("n", 5_000_000_000), ("h", 1)]:
        r = requests.post(f"{node.http_url}/write?precision={precision}", data=f"p a=1i {value}\n", timeout=5)
        assert r.status_code == 204, r.text
    rows = dump(node, "p")["rows"]
    assert sorted(int(r["timestamp"]) for r in rows) == [2_000_000, 3_000_000, 4_000_000, 5_000_000, 3_600_000_000]


def test_gzip_bodies_larger_than_one_chunk_stream_through(node):
    lines = "".join(f"big,s=s{i % 7} v={i}i,x={i * 0.25} {BASE_NS + i}\n" for i in range(50_000)).encode()
    r = requests.post(f"{node.http_url}/write", data=gzip.compress(lines), headers={"Content-Encoding": "gzip"}, timeout=60)
    assert r.status_code == 204, r.text
    rows = dump(node, "big")["rows"]
    assert len(rows) == 50_000 and rows[-1]["v"] == "49999"


def test_http_basic_auth(make_node, tmp_path):
    secret = tmp_path / "password"
    secret.write_text("quest-pass\n")
    node = make_node(env={"QDB_HTTP_USER": "admin", "QDB_HTTP_PASSWORD_FILE": str(secret)})
    # /ping and GET /settings stay open; the official client reads /settings before anything.
    assert requests.get(f"{node.http_url}/ping", timeout=5).status_code == 204
    assert requests.get(f"{node.http_url}/settings", timeout=5).status_code == 200
    denied = requests.post(f"{node.http_url}/write", data=b"secure a=1i\n", timeout=5)
    assert denied.status_code == 401 and denied.text == "Unauthorized"
    wrong = requests.post(f"{node.http_url}/write", data=b"secure a=1i\n", auth=("admin", "nope"), timeout=5)
    assert wrong.status_code == 401
    with pytest.raises(IngressError):
        with Sender.from_conf(http_conf(node, username="admin", password="wrong")) as sender:
            sender.row("secure", columns={"a": 0}, at=TimestampNanos(BASE_NS))
    with Sender.from_conf(http_conf(node, username="admin", password="quest-pass")) as sender:
        sender.row("secure", columns={"a": 1}, at=TimestampNanos(BASE_NS))
    assert [r["a"] for r in dump(node, "secure")["rows"]] == ["1"]


def test_half_configured_credentials_stop_startup(make_node):
    node = make_node(env={"QDB_HTTP_USER": "admin"}, wait=False)
    assert node.wait_exit() == 2
    assert "http.user and http.password must be set together" in node.log()


def test_open_http_on_a_public_address_is_warned_about(make_node):
    node = make_node(env={"QDB_HTTP_NET_BIND_TO": f"0.0.0.0:{free_port()}"})
    assert "HTTP has no authentication" in node.log()


AUTH_KEY_ID = "testUser1"
AUTH_D = "5UjEMuA0Pj5pjK8a-fa24dyIf-Es5mYny3oE_Wmus48"
AUTH_X = "fLKYEaoEb9lrn3nkwLDA-M_xnuFOdSt9y0Z7_vWSHLU"
AUTH_Y = "Dt5tbS1dEDMSYfym3fgMv0B99szno-dFc1rYF9t0aac"


def test_tcp_ecdsa_authentication(make_node, tmp_path):
    data_dir = tmp_path / "authnode"
    (data_dir / "conf").mkdir(parents=True)
    (data_dir / "conf" / "auth.txt").write_text(
        f"# ILP clients\n{AUTH_KEY_ID} ec-p-256-sha256 {AUTH_X} {AUTH_Y}\n")
    node = make_node(data_dir=data_dir, env={"QDB_LINE_TCP_AUTH_DB_PATH": "conf/auth.txt"})
    with Sender.from_conf(tcp_conf(node, username=AUTH_KEY_ID, token=AUTH_D, token_x=AUTH_X, token_y=AUTH_Y)) as sender:
        sender.row("authed", columns={"v": 1}, at=TimestampNanos(BASE_NS))
        sender.row("authed", columns={"v": 2}, at=TimestampNanos(BASE_NS + 1))
    # Without the challenge, ILP bytes are taken as a key id: unknown, disconnected, nothing stored.
    sock = socket.create_connection(("127.0.0.1", node.ilp_tcp_port))
    sock.sendall(b"authed v=99i 3\n")
    assert closed_by_peer(sock)
    sock.close()
    # A signature that does not verify: disconnected after the challenge.
    sock = socket.create_connection(("127.0.0.1", node.ilp_tcp_port))
    sock.settimeout(10)
    sock.sendall(f"{AUTH_KEY_ID}\n".encode())
    challenge = b""
    while not challenge.endswith(b"\n"):
        challenge += sock.recv(1024)
    assert len(challenge) == 513 and all(0x20 <= b <= 0x7E for b in challenge[:-1])
    sock.sendall(base64.b64encode(bytes(64)) + b"\nauthed v=100i 4\n")
    assert closed_by_peer(sock)
    sock.close()
    deadline = time.monotonic() + 5
    while node.log().count("ILP over TCP authentication failed") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "reason=signature does not verify for key id testUser1" in node.log()
    assert [r["v"] for r in dump(node, "authed")["rows"]] == ["1", "2"]


def test_a_bad_tcp_key_file_stops_startup(make_node, tmp_path):
    data_dir = tmp_path / "badauth"
    (data_dir / "conf").mkdir(parents=True)
    (data_dir / "conf" / "auth.txt").write_text(f"{AUTH_KEY_ID} ec-p-256-sha256 {AUTH_X}\n")
    node = make_node(data_dir=data_dir, env={"QDB_LINE_TCP_AUTH_DB_PATH": "conf/auth.txt"}, wait=False)
    assert node.wait_exit() == 2
    assert "auth.txt" in node.log() and "line 1: expected" in node.log()


def test_chunked_bodies_stream_and_keep_alive_is_reused(node):
    def body():
        for i in range(200):
            # Chunk boundaries fall inside lines and inside a multi-byte character.
            yield f"chunked,s=é{i % 3} v={i}i {BASE_NS + i}\n".encode()[:7]
            yield f"chunked,s=é{i % 3} v={i}i {BASE_NS + i}\n".encode()[7:]
    with requests.Session() as session:
        for _ in range(2):
            r = session.post(f"{node.http_url}/write", data=body(), timeout=30)
            assert r.status_code == 204, r.text
    rows = dump(node, "chunked")["rows"]
    assert len(rows) == 400 and {r["s"] for r in rows} == {"é0", "é1", "é2"}


def varied_lines(prefix, count):
    """ILP lines with escapes, escaped newlines and quoted strings; a column that appears only
    after the middle and a table that appears only in the second half — what a body parsed in
    two halves at once (decision 0023) must still get exactly right."""
    tags = ["plain", "sp\\ ace", "com\\,ma", "new\\\nline", "back\\\\"]
    strings = ["x", 'quo\\"te', "esc\\\nnl", "a, b=c", "", "back\\\\"]
    for i in range(count):
        fields = f'v={i}i,d={i * 0.5},s="{strings[i % len(strings)]}"'
        if i > count // 2 + 7:
            fields += f",late={i}i"
        yield f"{prefix}_main,tag={tags[i % len(tags)]} {fields} {BASE_NS + i * 1000}\n"
        if i > count // 2 and i % 3 == 0:
            yield f"{prefix}_second n={i}i {BASE_NS + i}\r\n"


def table_json(node, table):
    r = requests.get(f"{node.http_url}/exec", params={"query": f"select * from {table}"}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    return body["columns"], body["dataset"]


def test_large_http_bodies_parsed_in_two_halves_match_small_requests(node):
    one = "".join(varied_lines("whole", 90_000)).encode()
    assert len(one) > 6 << 20  # a read-ahead round of 4 MiB, then the rest: two splits
    r = requests.post(f"{node.http_url}/write", data=one, timeout=120)
    assert r.status_code == 204, r.text
    # The same lines as small requests, each parsed in one pass.
    lines = list(varied_lines("parts", 90_000))
    for start in range(0, len(lines), 1_000):
        r = requests.post(f"{node.http_url}/write", data="".join(lines[start:start + 1_000]).encode(), timeout=60)
        assert r.status_code == 204, r.text
    wait_rows(node, "whole_main", 90_000)
    wait_rows(node, "parts_main", 90_000)
    for table in ["main", "second"]:
        assert wait_equal(lambda: table_json(node, f"whole_{table}"), lambda: table_json(node, f"parts_{table}"))
    columns, rows = table_json(node, "whole_main")
    assert [c["name"] for c in columns] == ["tag", "v", "d", "s", "timestamp", "late"]
    assert len(rows) == 90_000 and rows[45_002][3] == "esc\nnl" and rows[3][0] == "new\nline"


def test_a_bad_line_late_in_a_large_body_is_reported_with_its_number(node):
    lines = [f"late_bad,k=v{i % 10} x={i}i {BASE_NS + i}\n" for i in range(80_000)]
    lines[71_234] = f"late_bad,k=v x=oops {BASE_NS}\n"
    r = requests.post(f"{node.http_url}/write", data="".join(lines).encode(), timeout=120)
    assert r.status_code == 400
    assert r.json()["line"] == 71_235 and "error in line 71235" in r.json()["message"]
    assert requests.post(f"{node.http_url}/write", data=lines[0].encode(), timeout=10).status_code == 204
    wait_rows(node, "late_bad", 1)
    assert table_json(node, "late_bad")[1] == [["v0", 0, "2023-11-14T22:13:20.000000Z"]]


def test_a_long_tcp_stream_matches_http_and_keeps_lines_before_a_bad_one(node):
    lines = list(varied_lines("tcp", 60_000))
    bad = len(lines) - 500
    sock = socket.create_connection(("127.0.0.1", node.ilp_tcp_port))
    sock.sendall("".join(lines[:bad]).encode() + b"tcp_main v=oops\n" + "".join(lines[bad:]).encode())
    sock.settimeout(30)
    assert closed_by_peer(sock)
    sock.close()
    for start in range(0, bad, 1_000):
        text = "".join(lines[start:min(start + 1_000, bad)]).replace("tcp_", "http_")
        assert requests.post(f"{node.http_url}/write", data=text.encode(), timeout=60).status_code == 204
    deadline = time.monotonic() + 10
    while table_json(node, "tcp_main")[1].__len__() < 30_000 and time.monotonic() < deadline:
        time.sleep(0.1)
    for table in ["main", "second"]:
        assert wait_equal(lambda: table_json(node, f"tcp_{table}"), lambda: table_json(node, f"http_{table}"))


def test_large_protocol_v2_flushes_with_binary_doubles_match_v1(node):
    # Protocol v2 sends doubles as raw bytes (newlines among them), so a body cut for two-lane
    # parsing at a newline may be cut inside a value; what lands must still be exact.
    rng = np.random.default_rng(7)
    values = rng.standard_normal(120_000) * 1e3
    values[::97] = np.frombuffer(b"\x0a\x0a\x5c\x0a\x3d\x3d\x0a\x40", dtype="<f8")[0]
    for version, table in [(2, "v2_doubles"), (1, "v1_doubles")]:
        # One schema for both (v2 would make its timestamp TIMESTAMP_NS).
        r = requests.get(f"{node.http_url}/exec", timeout=30, params={"query": (
            f"create table {table} (k symbol, d double, n long, timestamp timestamp) timestamp(timestamp) partition by day")})
        assert r.status_code == 200, r.text
        with Sender.from_conf(http_conf(node, protocol_version=version, auto_flush="off")) as sender:
            for i, value in enumerate(values):
                sender.row(table, symbols={"k": f"s{i % 5}"}, columns={"d": float(value), "n": i},
                           at=TimestampNanos(BASE_NS + i))
            sender.flush()
        if version == 2:
            # The binary body was parsed on two lanes, not only in one pass.
            metrics = requests.get(f"{node.health_url}/metrics", timeout=5).text.splitlines()
            joined = [line for line in metrics if line.startswith('sundial_line_parse_splits_total{outcome="joined"}')]
            assert joined and float(joined[0].split()[-1]) >= 1, metrics
    wait_rows(node, "v2_doubles", 120_000)
    wait_rows(node, "v1_doubles", 120_000)
    v2_columns, v2_rows = table_json(node, "v2_doubles")
    v1_columns, v1_rows = table_json(node, "v1_doubles")
    assert v2_columns == v1_columns and len(v2_rows) == 120_000
    assert v2_rows == v1_rows
