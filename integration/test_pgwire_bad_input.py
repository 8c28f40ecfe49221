"""PG wire bad input (RELIABILITY §3.2): every catalogued case against a real node over a raw
socket. Where PostgreSQL's answer is the right one, the same bytes go to a real PostgreSQL 15
started by the test, and the answer class must match: message types, severity and SQLSTATE
of each error, and whether the connection closed. Afterwards the node still serves.
"""
import socket
import struct
import sys
import tempfile
import time
import pathlib

import psycopg
import pytest

import pgwire_probe as pg
from pgwire_probe import Probe

sys.path.insert(0, str(pathlib.Path(__file__).parent / "bench"))
from postgres_peer import postgres  # noqa: E402


@pytest.fixture(scope="module")
def sundial(tmp_path_factory):
    from conftest import Node
    node = Node(tmp_path_factory.mktemp("pgbad") / "node", env={
        "QDB_PG_AUTHENTICATION_TIMEOUT": "1500", "QDB_PG_NET_CONNECTION_LIMIT": "6"})
    node.start()
    node.wait_healthy()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def postgres_port():
    # Under /tmp itself: the server runs as `postgres`, which cannot enter pytest's private directories.
    with postgres(tempfile.gettempdir()) as conn:
        yield conn.info.port


def answer(port, steps, login=True):
    """Sends `steps` (bytes) after logging in; returns (message kinds, [(severity, code)], closed)."""
    probe = Probe(port)
    try:
        if login and port == POSTGRES_PORT[0]:
            probe.login(user="postgres", database="postgres")
        elif login:
            probe.login()
        probe.send(b"".join(steps))
        deadline = time.monotonic() + 5
        messages = []
        probe.sock.settimeout(0.4)
        while time.monotonic() < deadline:
            try:
                received = probe.read_message()
            except socket.timeout:
                break
            if received is None:
                break
            messages.append(received)
        errors = [(f.get("S"), f.get("C")) for f in pg.errors(messages)]
        return pg.kinds(messages), errors, probe.closed, messages
    finally:
        probe.close()


POSTGRES_PORT = [None]

# (id, steps): sent after login to both servers; the answers must have the same class.
SAME_AS_POSTGRES = [
    ("P12 unknown message type", [pg.message("z", b"")]),
    ("P15 query not NUL-terminated", [pg.query(b"select 1")]),
    ("P16 query with invalid UTF-8", [pg.query(b"select '\xff'\0")]),
    ("P17 bind without parse", [pg.bind(), pg.execute(), pg.SYNC]),
    ("P18 execute of unknown portal", [pg.execute("nope"), pg.SYNC]),
    ("P19 bind with too many parameters", [pg.parse("select 1"), pg.bind(params=[b"1"]), pg.SYNC]),
    ("P20 negative parameter length", [pg.parse("select $1::int", types=[23]), pg.bind(params=[(-5, b"")]), pg.SYNC]),
    ("P20 parameter longer than message", [pg.parse("select $1::int", types=[23]), pg.bind(params=[(1000, b"12")]), pg.SYNC]),
    ("P21 describe unknown statement", [pg.describe("S", "nope"), pg.SYNC]),
    ("P22 second startup after login", [pg.startup_packet()]),
    ("close of a missing statement", [pg.close("S", "nope"), pg.SYNC]),
    ("binary parameter of the wrong width", [pg.parse("select $1::int", types=[23]), pg.bind(params=[b"\0\1"], formats=[1]), pg.SYNC]),
    ("text parameter that does not parse", [pg.parse("select $1::int", types=[23]), pg.bind(params=[b"abc"]), pg.SYNC]),
    ("execute with a row limit suspends", [
        pg.parse("select 1 union all select 2 union all select 3"), pg.bind(), pg.execute(max_rows=2), pg.execute(max_rows=2), pg.SYNC]),
    ("flush sends without sync", [pg.parse("select 1"), pg.FLUSH]),
    ("sync storm", [pg.SYNC] * 50),
    ("empty query", [pg.query("")]),
    ("copy data outside copy is ignored", [pg.message("d", b"abc"), pg.message("c"), pg.SYNC]),
    ("two statements in one parse", [pg.parse("select 1; select 2"), pg.SYNC]),
    ("simple query stops at the first error", [pg.query("select 1; selec 2; select 3")]),
    ("error skips to sync", [pg.parse("selec 1"), pg.bind(), pg.describe("P"), pg.execute(), pg.SYNC, pg.query("select 1")]),
    ("terminate", [pg.TERMINATE]),
    ("extended query after a failed transaction", [
        pg.query("begin"), pg.query("selec"), pg.query("select 1"), pg.query("rollback"), pg.query("select 1")]),
]


@pytest.mark.parametrize("case", SAME_AS_POSTGRES, ids=[c[0] for c in SAME_AS_POSTGRES])
def test_answers_like_postgresql(sundial, postgres_port, case):
    POSTGRES_PORT[0] = postgres_port
    _, steps = case
    ours = answer(sundial.pg_port, steps)
    theirs = answer(postgres_port, steps)
    assert ours[:3] == theirs[:3], f"Sundial {ours[:3]} vs PostgreSQL {theirs[:3]}"
    assert healthy(sundial)


def healthy(node):
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        return conn.execute("select 1").fetchone() == (1,)


def raw(port, data, wait=2.0):
    """Sends `data` on a fresh connection; returns (bytes received, closed)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=wait)
    try:
        sock.sendall(data)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return received, False
            except ConnectionResetError:
                return received, True
            if not chunk:
                return received, True
            received += chunk
    finally:
        sock.close()


def test_p1_unknown_protocol_is_fatal_0a000(sundial):
    received, closed = raw(sundial.pg_port, struct.pack("!ii", 8, 0xDEADBEEF - 2**32))
    assert closed and received[:1] == b"E"
    assert pg.fields(received[5:])["C"] == "0A000"


def test_p1_protocol_3_2_negotiates_down_and_continues(sundial):
    received, closed = raw(sundial.pg_port, pg.startup_packet(version=(3, 2), _pq_=None) if False else
                           pg.startup_packet(version=(3, 2), **{"_pq_.test": "1"}), wait=1.0)
    assert not closed
    assert received[:1] == b"v"
    length = struct.unpack("!i", received[1:5])[0]
    minor, count = struct.unpack("!ii", received[5:13])
    assert (minor & 0xFFFF, count) == (0, 1) and b"_pq_.test\0" in received[13:1 + length]
    assert received[1 + length:2 + length] == b"R"


@pytest.mark.parametrize("data", [
    struct.pack("!i", 0x7FFFFFFF) + b"\0" * 8,  # P2
    struct.pack("!i", 4) + b"\0" * 8,  # P3
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # P4
], ids=["P2 huge startup length", "P3 tiny startup length", "P4 HTTP request"])
def test_bad_startup_packets_close_silently(sundial, data):
    received, closed = raw(sundial.pg_port, data)
    assert closed and received == b""
    assert healthy(sundial)


def test_p5_p6_encryption_requests_are_refused_then_startup_works(sundial):
    probe = Probe(sundial.pg_port)
    probe.send(struct.pack("!ii", 8, 80877104))  # GSSENCRequest
    assert probe.read_byte() == b"N"
    probe.send(struct.pack("!ii", 8, 80877103))  # SSLRequest, TLS not configured
    assert probe.read_byte() == b"N"
    probe.login()
    probe.send(pg.query("select 1"))
    assert pg.kinds(probe.until_ready()) == "TDCZ"
    probe.close()


def test_p8_bogus_cancel_request_closes_without_reply(sundial):
    received, closed = raw(sundial.pg_port, struct.pack("!iiii", 16, 80877102, 12345, 678))
    assert closed and received == b""


@pytest.mark.parametrize("data", [
    pg.message("Q")[:1] + struct.pack("!i", 0x7FFFFFFF),  # P13
    b"Q" + struct.pack("!i", 3),  # P14
], ids=["P13 huge message length", "P14 message length below 4"])
def test_bad_message_lengths_close(sundial, data):
    probe = Probe(sundial.pg_port)
    probe.login()
    probe.send(data)
    probe.sock.settimeout(3)
    assert probe.until_closed() == [] and probe.closed
    probe.close()
    assert healthy(sundial)


def test_wrong_password_and_unknown_user_fail_the_same_way(sundial):
    for user, password in [("admin", "wrong"), ("nobody", "quest")]:
        probe = Probe(sundial.pg_port)
        probe.send(pg.startup_packet(user=user))
        kind, body = probe.read_message()
        assert kind == "R" and struct.unpack("!i", body)[0] == 3
        probe.send(pg.message("p", pg.cstring(password)))
        messages = probe.until_closed()
        assert probe.closed
        assert pg.errors(messages) == [{"S": "FATAL", "V": "FATAL", "C": "28P01",
                                        "M": f'password authentication failed for user "{user}"'}]
        probe.close()


def test_p24_silent_and_partial_startups_close_after_the_authentication_timeout(sundial):
    started = time.monotonic()
    for data in [b"", struct.pack("!i", 40) + b"\0\3\0\0", pg.startup_packet()]:
        received, closed = raw(sundial.pg_port, data, wait=10)
        assert closed
    assert time.monotonic() - started < 3 * 1.5 + 3


def test_p25_connections_past_the_limit_get_53300(sundial):
    held = [socket.create_connection(("127.0.0.1", sundial.pg_port)) for _ in range(6)]
    try:
        time.sleep(0.3)
        received, closed = raw(sundial.pg_port, b"")
        assert closed and received[:1] == b"E"
        fields = pg.fields(received[5:])
        assert fields["S"] == "FATAL" and fields["C"] == "53300" and fields["M"] == "sorry, too many clients already"
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert healthy(sundial)


def test_replication_startup_parameter_is_refused(sundial):
    probe = Probe(sundial.pg_port)
    probe.send(pg.startup_packet(replication="true"))
    messages = probe.until_closed()
    assert [e["C"] for e in pg.errors(messages)] == ["0A000"] and probe.closed
    probe.close()


def test_hundreds_of_startup_parameters_are_accepted_within_the_size_limit(sundial):
    probe = Probe(sundial.pg_port)
    probe.login(**{f"p{i}": "x" for i in range(300)})
    probe.send(pg.query("select 1"))
    assert pg.kinds(probe.until_ready()) == "TDCZ"
    probe.close()
