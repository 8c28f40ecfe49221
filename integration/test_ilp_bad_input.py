"""RELIABILITY §3.1: the ILP bad-input catalogue (I1–I26), over HTTP and TCP, each case followed
by a canary (a good ILP row must still be accepted and become visible, and the health port must
answer). Exact error texts are checked in the Swift tests; here: status, code, line number,
connection behaviour and what is stored.
"""
import gzip
import json
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import BINARY, closed_by_peer

BASE = 1_700_000_000_000_000_000


def metric(node, name):
    for line in requests.get(f"{node.health_url}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def canary(node):
    """A good row is accepted and becomes visible; the health port answers."""
    before = metric(node, "questdb_wal_apply_written_rows_total")
    r = requests.post(f"{node.http_url}/write", data=b"canary v=1i\n", timeout=10)
    assert r.status_code == 204, r.text
    deadline = time.monotonic() + 10
    while metric(node, "questdb_wal_apply_written_rows_total") <= before:
        assert time.monotonic() < deadline, "canary row never became visible"
        time.sleep(0.02)
    assert requests.get(node.health_url, timeout=5).text.startswith("Status: Healthy")


def post(node, body, headers=None, path="/write"):
    return requests.post(f"{node.http_url}{path}", data=body, headers=headers or {}, timeout=30)


def tcp_send(node, payload, wait_close=True):
    """Sends `payload` over ILP/TCP; returns True when the server closed the connection."""
    sock = socket.create_connection(("127.0.0.1", node.ilp_tcp_port))
    sock.settimeout(10)
    try:
        sock.sendall(payload)
        return closed_by_peer(sock) if wait_close else False
    finally:
        sock.close()


def dump_rows(node, table):
    assert node.stop() == 0
    out = subprocess.run([str(BINARY), "dump", "--data-dir", str(node.data_dir), table],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        return None
    data = json.loads(out.stdout)
    names = [c["name"] for c in data["columns"]]
    return [dict(zip(names, row)) for row in data["rows"]]


HTTP_CASES = [
    # (id, body, status, code, line)
    ("I2 blank lines", b"\n\nok_i2 a=1i\n\n\n", 204, None, None),
    ("I3 CRLF", b"ok_i3 a=1i 1\r\nok_i3 a=2i 2\r\n", 204, None, None),
    ("I6 bare continuation", b"t,s=\x80 a=1i\n", 400, "invalid", 1),
    ("I6 overlong", b"t a=\"\xc0\x80\"\n", 400, "invalid", 1),
    ("I6 surrogate", b"t\xed\xa0\x80 a=1i\n", 400, "invalid", 1),
    ("I6 truncated at end", b"ok a=1i\nt a=\"\xe2\x82\"\n", 400, "invalid", 2),
    ("I8 forbidden table char", b"bad?name a=1i\n", 400, "invalid", 1),
    ("I8 forbidden column char", b"t a-b=1i\n", 400, "invalid", 1),
    ("I9 dotdot", b"..\\ x a=1i\n", 400, "invalid", 1),
    ("I9 path", b"a/b a=1i\n", 400, "invalid", 1),
    ("I9 hidden", b".hidden a=1i\n", 400, "invalid", 1),
    ("I9 long name", b"t" * 10_000 + b" a=1i\n", 400, "invalid", 1),
    ("I11 unterminated quote", b"t f=\"abc\nt a=1i\n", 400, "invalid", 1),
    ("I12 table only", b"t\n", 400, "invalid", 1),
    ("I12 no fields", b"t \n", 400, "invalid", 1),
    ("I12 empty value then nothing", b"t a\n", 400, "invalid", 1),
    ("I12 empty name", b"t =1i\n", 400, "invalid", 1),
    ("I12 no table", b",a=1 b=1i\n", 400, "invalid", 1),
    ("I12 extra token", b"t a=1i 1 extra\n", 400, "invalid", 1),
    ("I15 int overflow", b"t a=9223372036854775808i\n", 400, "invalid", 1),
    ("I16 hex float", b"t a=0x10\n", 400, "invalid", 1),
    ("I16 underscore", b"t a=1_0\n", 400, "invalid", 1),
    ("I17 negative ts", b"t a=1i -1\n", 400, "invalid", 1),
    ("I17 fractional ts", b"t a=1i 1.5\n", 400, "invalid", 1),
    ("I17 junk ts", b"t a=1i 12abc\n", 400, "invalid", 1),
    ("I17 past 9999", b"ts_far a=1i 253402300800000000t\n", 400, "invalid", 1),
    ("I21 truncated binary double", b"t a==\x10\x01\x02\x03", 400, "invalid", 1),
    ("I21 33 dimensions", b"t a==\x0e\x0a\x21\n", 400, "invalid", 1),
    ("I21 shape overflow", b"t a==\x0e\x0a\x02\xff\xff\xff\xff\xff\xff\xff\xff\n", 400, "invalid", 1),
    ("NUL byte", b"t a=\x001i\n", 400, "invalid", 1),
]


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c[0] for c in HTTP_CASES])
def test_http_bad_input(node, case):
    _, body, status, code, line = case
    r = post(node, body)
    assert r.status_code == status, r.text
    if code:
        error = r.json()
        assert error["code"] == code and error.get("line") == line, error
        assert "errorId" in error
    canary(node)


def test_i4_line_length_limit_over_http(make_node):
    node = make_node(env={"QDB_LINE_HTTP_MAX_RECV_BUFFER_SIZE": "4k"})
    for size, status in [(4096 - 1, 204), (4096, 204), (4096 + 1, 413), (409_600, 413)]:
        prefix = b"long s=\""
        body = prefix + b"x" * (size - len(prefix) - 2) + b"\"\n"
        assert len(body) == size
        r = post(node, body)
        assert r.status_code == status, (size, r.text)
        if status == 413:
            assert r.json()["code"] == "request too large"
    canary(node)


def test_i4_line_length_limit_over_tcp(make_node):
    node = make_node(env={"QDB_LINE_TCP_MAX_MEASUREMENT_SIZE": "4k"})
    assert tcp_send(node, b"long s=\"" + b"x" * 10_000 + b"\"\n")
    canary(node)


def test_i5_body_cap_and_gzip_bomb(make_node):
    node = make_node(env={"QDB_HTTP_REQUEST_BODY_MAX_SIZE": "1m"})
    assert post(node, b"t a=1i\n" * 200_000).status_code == 413
    bomb = gzip.compress(b"0" * (64 << 20))
    assert len(bomb) < (1 << 20)
    r = post(node, bomb, {"Content-Encoding": "gzip"})
    assert r.status_code == 413 and r.json()["code"] == "request too large", r.text
    canary(node)


def test_i1_partial_last_line_is_never_applied_over_tcp(node):
    assert not tcp_send(node, b"partial a=1i 1000\npartial a=2i 20", wait_close=False)
    time.sleep(0.5)
    canary(node)
    assert [r["a"] for r in dump_rows(node, "partial")] == ["1"]


def test_i10_escapes_round_trip(node):
    r = post(node, b"esc,t=x\\ y\\,z\\=w f=\"q\\\"uote\\\\b\\\nl\",g=\"a,b c=d\" 1000\n")
    assert r.status_code == 204, r.text
    rows = dump_rows(node, "esc")
    assert rows == [{"t": "x y,z=w", "f": "q\"uote\\b\nl", "g": "a,b c=d", "timestamp": "1"}]


def test_i13_type_conflicts_reject_the_line_and_leave_the_table_unchanged(node):
    assert post(node, b"conf,s=a l=1i,d=1.5,v=\"x\",b=t 1000\n").status_code == 204
    for line in [b"conf l=1.5 2000\n", b"conf l=\"1\" 2000\n", b"conf d=\"1\" 2000\n", b"conf v=1i 2000\n",
                 b"conf b=1.5 2000\n", b"conf l=5t 2000\n", b"conf,l=tag s=\"x\" 2000\n"]:
        r = post(node, line)
        assert r.status_code == 400 and "cast error" in r.json()["message"], (line, r.text)
    assert post(node, b"conf,s=b l=2i,d=2i,b=f 3000\n").status_code == 204  # int into DOUBLE is a cast
    rows = dump_rows(node, "conf")
    assert [(r["s"], r["l"], r["d"], r["b"]) for r in rows] == [("a", "1", "1.5", "true"), ("b", "2", "2.0", "false")]


def test_i14_type_flips_across_concurrent_connections(node):
    values = [b"1i", b"1.5", b"\"1\"", b"t"]
    results = []

    def writer(k):
        for i in range(20):
            r = post(node, b"flip v=" + values[(k + i) % 4] + b" " + str(1000 + k * 100 + i).encode() + b"\n")
            results.append(r.status_code)
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) <= {204, 400} and 204 in results and 400 in results
    canary(node)
    rows = dump_rows(node, "flip")
    assert len(rows) == results.count(204)


def test_i18_duplicates_keep_the_first_and_the_next_line_is_exact(node):
    body = (b"dup,t=a,t=b a=1i,a=2i 1000\n"
            b"dup,t=c a=3i,timestamp=5000t 9000\n"
            b"dup,t=d a=4i 6000\n")
    assert post(node, body).status_code == 204
    rows = dump_rows(node, "dup")
    # Stored in timestamp order: 1 µs, 6 µs, then the field-given 5000 µs.
    assert [(r["t"], r["a"], r["timestamp"]) for r in rows] == [("a", "1", "1"), ("d", "4", "6"), ("c", "3", "5000")]


def test_i19_many_fields_on_one_line(node):
    fields = ",".join(f"f{i}={i}i" for i in range(5000))
    r = post(node, f"wide {fields} 1000\n".encode())
    assert r.status_code == 400 and "too many columns" in r.json()["message"], r.text
    fields = ",".join(f"f{i}={i}i" for i in range(1000))
    assert post(node, f"wide {fields} 1000\n".encode()).status_code == 204
    canary(node)


def test_i20_symbol_cardinality_is_capped(make_node):
    node = make_node(env={"QDB_CAIRO_MAX_SYMBOL_VALUES": "100"})
    assert post(node, b"".join(b"card,k=v%d x=%di %d\n" % (i, i, 1000 + i) for i in range(60))).status_code == 204
    # 60 known + 50 new distinct values would pass 100: the whole request is refused …
    r = post(node, b"".join(b"card,k=v%d x=%di %d\n" % (i, i, 2000 + i) for i in range(10, 120)))
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "request too large" and "symbol column k of table card" in r.json()["message"], r.text
    # … over TCP the connection closes and the batch is not applied …
    assert tcp_send(node, b"".join(b"card,k=w%d x=1i %d\n" % (i, 3000 + i) for i in range(200)))
    # … and values already known, or new ones within the cap, are still written.
    assert post(node, b"card,k=v1 x=1i 4000\ncard,k=new x=2i 4001\n").status_code == 204
    canary(node)
    rows = dump_rows(node, "card")
    assert len(rows) == 62 and sorted({row["k"] for row in rows}) == sorted([f"v{i}" for i in range(60)] + ["new"])


def test_i22_a_failing_second_table_commits_nothing(node):
    assert post(node, b"mt_b x=1i 1000\n").status_code == 204
    r = post(node, b"mt_a x=1i 2000\nmt_b x=\"s\" 2000\n")
    assert r.status_code == 400 and r.json()["line"] == 2
    # The table line 1 created stays (like added columns, as in QuestDB), without its row.
    assert not dump_rows(node, "mt_a")


def test_i23_precision(node):
    r = post(node, b"p a=1i 1\n", path="/write?precision=xyz")
    assert r.status_code == 400 and r.json()["code"] == "not supported"
    canary(node)


@pytest.mark.parametrize("payload", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    bytes.fromhex("16030100a1010000") + b"\x00" * 160,
    b"\x00\x00\x00\x08\x04\xd2\x16\x2f",
    b"\x00" * 65536,
], ids=["http", "tls-hello", "pg-ssl-request", "zeros"])
def test_i24_foreign_protocols_on_the_tcp_port(node, payload):
    assert tcp_send(node, payload)
    canary(node)


def test_tcp_bad_lines_close_and_keep_earlier_lines(node):
    for bad in [b"tk a=oops\n", b"tk,s a=1i\n", b"tk a=1i -5\n", b"tk a=\"\xc0\x80\"\n", b"tk a==\x63\x00\n"]:
        assert tcp_send(node, b"tk a=1i 1000\n" + bad + b"tk a=2i 2000\n")
    canary(node)
    rows = dump_rows(node, "tk")
    assert [r["a"] for r in rows] == ["1"] * 5


def test_i25_idle_and_trickling_tcp_connections_are_closed(make_node):
    node = make_node(env={"QDB_LINE_TCP_NET_CONNECTION_TIMEOUT": "600", "QDB_LINE_TCP_COMMIT_INTERVAL_DEFAULT": "100"})
    idle = socket.create_connection(("127.0.0.1", node.ilp_tcp_port))
    idle.sendall(b"idle a=1i 1000\n")
    started = time.monotonic()
    assert closed_by_peer(idle)
    assert time.monotonic() - started < 5
    trickle = socket.create_connection(("127.0.0.1", node.ilp_tcp_port))
    trickle.settimeout(0.2)
    started = time.monotonic()
    closed = False
    for byte in b"trickle a=1i 1000" * 10:
        try:
            trickle.sendall(bytes([byte]))
            if trickle.recv(1) == b"":
                closed = True
                break
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            closed = True
            break
    assert closed and time.monotonic() - started < 10, "a trickling partial line held the connection"
    canary(node)
    assert [r["a"] for r in dump_rows(node, "idle")] == ["1"]


def test_the_tcp_connection_limit_closes_extra_connections_only(make_node):
    node = make_node(env={"QDB_LINE_TCP_NET_CONNECTION_LIMIT": "2"})
    held = [socket.create_connection(("127.0.0.1", node.ilp_tcp_port)) for _ in range(2)]
    for sock in held:
        sock.sendall(b"limited v=1i 1000\n")
    time.sleep(0.3)
    extra = socket.create_connection(("127.0.0.1", node.ilp_tcp_port))
    assert closed_by_peer(extra)
    extra.close()
    assert "connection limit reached" in node.log()
    for sock in held:
        sock.close()
    time.sleep(0.3)
    # Slots free up again once connections close.
    assert not tcp_send(node, b"limited v=2i 2000\n", wait_close=False)
    canary(node)
    assert [r["v"] for r in dump_rows(node, "limited")] == ["1", "1", "2"]
