"""REST SQL with real clients (`requests`, `curl`): /exec's exact JSON (key order, value
encodings per type, count/limit/nm/timings/cols/quoteLargeNum), DDL and DML replies, errors
with positions, /exp CSV, /chk, and bad input that must leave the server healthy.
"""
import json
import socket
import subprocess
import time
import urllib.parse

import numpy as np
import pytest
import requests
from questdb.ingress import Sender, TimestampNanos


def exec_sql(node, query, **params):
    return requests.get(f"{node.http_url}/exec", params={"query": query, **params}, timeout=30)


def ok(node, query, **params):
    response = exec_sql(node, query, **params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def node(make_node):
    return make_node()


def test_select_json_is_byte_for_byte_questdb_shape(node):
    assert ok(node, "create table t (ts timestamp, sym symbol, v double) timestamp(ts) partition by day") == {"ddl": "OK"}
    assert ok(node, "insert into t values ('2024-01-01T00:00:00Z', 'a', 1500.0), ('2024-01-01T00:00:01Z', null, 0.0001)") == {"dml": "OK"}
    response = exec_sql(node, "select * from t")
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.text == (
        '{"query":"select * from t","columns":[{"name":"ts","type":"TIMESTAMP"},{"name":"sym","type":"SYMBOL"},'
        '{"name":"v","type":"DOUBLE"}],"timestamp":0,"dataset":[["2024-01-01T00:00:00.000000Z","a",1500.0],'
        '["2024-01-01T00:00:01.000000Z",null,1.0E-4]],"count":2}')


def test_every_type_encodes_as_questdb_does(node):
    ok(node, "create table all_types (b boolean, by byte, sh short, ch char, i int, l long, f float, d double, "
             "dt date, ts timestamp, s string, vc varchar, sy symbol, u uuid, ip ipv4, l256 long256)")
    ok(node, "insert into all_types values (true, 7, -3, 'x', 42, 9007199254740993, 1.5, 1.0E7, "
             "'2024-10-02T00:00:00.000Z', '2024-01-01T10:00:00.123456Z', 'quote\"and\\back', 'ünï', 'sym', "
             "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1.2.3.4', '0x1f')")
    ok(node, "insert into all_types (b) values (false)")
    body = ok(node, "select * from all_types")
    assert [c["type"] for c in body["columns"]] == [
        "BOOLEAN", "BYTE", "SHORT", "CHAR", "INT", "LONG", "FLOAT", "DOUBLE", "DATE", "TIMESTAMP", "STRING", "VARCHAR",
        "SYMBOL", "UUID", "IPv4", "LONG256"]
    assert body["dataset"][0] == [
        True, 7, -3, "x", 42, 9007199254740993, 1.5, 1.0E7, "2024-10-02T00:00:00.000Z", "2024-01-01T10:00:00.123456Z",
        'quote"and\\back', "ünï", "sym", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "1.2.3.4", "0x1f"]
    # NULLs: BYTE, SHORT and BOOLEAN have none (0/false); CHAR's zero is "".
    assert body["dataset"][1] == [False, 0, 0, "", None, None, None, None, None, None, None, None, None, None, None, None]
    raw = exec_sql(node, "select d, f from all_types limit 1").text
    assert '"dataset":[[1.0E7,1.5]]' in raw
    # UPDATE answers QuestDB's DML reply and leaves every column it does not set as it was.
    assert ok(node, "update all_types set i = i + 1 where b") == {"dml": "OK", "updated": 1}
    after = ok(node, "select * from all_types")["dataset"]
    assert after[0] == body["dataset"][0][:4] + [43] + body["dataset"][0][5:]
    assert after[1] == body["dataset"][1]
    quoted = ok(node, "select l from all_types limit 1", quoteLargeNum="true")
    assert quoted["dataset"] == [["9007199254740993"]]


def test_arrays_from_ilp_v2_read_back_as_nested_json(node):
    with Sender.from_conf(f"http::addr=127.0.0.1:{node.http_port};protocol_version=2;") as sender:
        sender.row("arr", columns={"m": np.array([[1.0, 2.0], [3.0, 4.5]])}, at=TimestampNanos(1_700_000_000_000_000_000))
    # ILP acknowledges at the WAL commit; rows become visible when applied (as in QuestDB).
    deadline = time.monotonic() + 10
    while True:
        body = ok(node, "select m from arr")
        if body["dataset"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert body["columns"] == [{"name": "m", "type": "ARRAY", "dim": 2, "elemType": "DOUBLE"}]
    assert body["dataset"] == [[[[1.0, 2.0], [3.0, 4.5]]]]


def test_ilp_rows_become_queryable(node):
    with Sender.from_conf(f"http::addr=127.0.0.1:{node.http_port};") as sender:
        for i in range(100):
            sender.row("cpu", symbols={"host": f"h{i % 4}"}, columns={"usage": float(i)},
                       at=TimestampNanos(1_700_000_000_000_000_000 + i * 1_000_000_000))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = ok(node, "select host, count(), sum(usage) from cpu order by host")
        if sum(row[1] for row in body["dataset"]) == 100:
            break
        time.sleep(0.05)
    assert body["dataset"] == [["h0", 25, 1200.0], ["h1", 25, 1225.0], ["h2", 25, 1250.0], ["h3", 25, 1275.0]]


def test_today_is_an_interval_over_rows_sent_now(node):
    """`ts IN today()` over rows the official client stamps with the current time (QuestDB's
    web-console habit), and the interval's own text and bounds."""
    day_before = time.strftime("%Y-%m-%d", time.gmtime())
    with Sender.from_conf(f"http::addr=127.0.0.1:{node.http_port};") as sender:
        for i in range(10):
            sender.row("pulse", columns={"n": i}, at=TimestampNanos.now())
        # Two days ago: outside today().
        sender.row("pulse", columns={"n": 99}, at=TimestampNanos(time.time_ns() - 2 * 86_400 * 10**9))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and ok(node, "select count() from pulse")["dataset"] != [[11]]:
        time.sleep(0.05)
    body = ok(node, "select count(), min(n), max(n) from pulse where timestamp in today()")
    # Unless midnight passed during the test, today() holds exactly the ten rows sent now.
    if time.strftime("%Y-%m-%d", time.gmtime()) == day_before:
        assert body["dataset"] == [[10, 0, 9]]
    body = ok(node, "select today() t, interval_start(today()) lo, interval_end(today()) hi")
    assert [c["type"] for c in body["columns"]] == ["VARCHAR", "TIMESTAMP", "TIMESTAMP"]
    t, lo, hi = body["dataset"][0]
    day = lo[:10]
    assert t == f"('{day}T00:00:00.000Z', '{day}T23:59:59.999Z')"
    assert (lo, hi) == (f"{day}T00:00:00.000000Z", f"{day}T23:59:59.999999Z")
    error = exec_sql(node, "select interval('2024-01-02', '2024-01-01')").json()
    assert error["error"] == "invalid interval boundaries" and error["position"] == 7


def test_limit_count_nm_cols_timings_explain(node):
    ok(node, "create table n as (select x, x * 10 as y from long_sequence(10))")
    assert ok(node, "select x from n", limit="3")["dataset"] == [[1], [2], [3]]
    limited = ok(node, "select x from n", limit="4,6", count="true")
    assert limited["dataset"] == [[4], [5], [6]] and limited["count"] == 10
    assert ok(node, "select x from n", limit="4,6")["count"] == 3
    no_meta = ok(node, "select x from n", nm="true", limit="1")
    assert list(no_meta.keys()) == ["dataset", "count"]
    assert ok(node, "select x, y from n", cols="y", limit="1")["dataset"] == [[10]]
    bad_col = exec_sql(node, "select x from n", cols="nope")
    assert bad_col.status_code == 400 and "column not found: 'nope'" in bad_col.json()["error"]
    timed = ok(node, "select x from n", timings="true", explain="true", limit="1")
    assert list(timed.keys()) == ["query", "columns", "timestamp", "dataset", "count", "timings", "explain"]
    assert set(timed["timings"].keys()) == {"authentication", "compiler", "execute", "count"}
    assert timed["explain"] == {"jitCompiled": False}


def test_errors_carry_position_and_message(node):
    ok(node, "create table e (ts timestamp, x int) timestamp(ts) partition by day")
    cases = [
        ("select * from nope", 14, "table does not exist [table=nope]"),
        ("select nope from e", 7, "Invalid column: nope"),
        ("select * from e where x = 'abc", 26, "unclosed quoted string"),
        ("insert into e values ('2024-01-01', 'abc')", 36, "inconvertible value: `abc` [STRING -> INT]"),
        ("select x from e where ts > 'not-a-date'", 27, "inconvertible value"),
    ]
    for query, position, message in cases:
        response = exec_sql(node, query)
        assert response.status_code == 400, response.text
        body = response.json()
        assert list(body.keys()) == ["query", "error", "position"]
        assert body["query"] == query and body["position"] == position and message in body["error"], body


def test_empty_query_and_post_method(node):
    assert ok(node, "") == {"error": "empty query", "query": "", "position": 0}
    assert ok(node, "", version="2") == {"notice": "empty query", "query": "", "position": "0"}
    assert requests.post(f"{node.http_url}/exec", params={"query": "select 1"}, timeout=5).status_code == 405


def test_dml_and_ddl_replies(node):
    assert ok(node, "create table d (a int)") == {"ddl": "OK"}
    assert ok(node, "insert into d values (1), (2)") == {"dml": "OK"}
    assert ok(node, "insert into d select x::int from long_sequence(3)") == {"dml": "OK"}
    assert ok(node, "select count() from d")["dataset"] == [[5]]
    assert ok(node, "truncate table d") == {"ddl": "OK"}
    assert ok(node, "drop table d") == {"ddl": "OK"}
    assert ok(node, "select count() from tables()")["dataset"] == [[0]]


def test_exp_csv_quoting_nulls_and_limit(node):
    ok(node, "create table x (ts timestamp, s string, n long, d double, b boolean) timestamp(ts) partition by day")
    ok(node, "insert into x values ('2024-01-01', 'a,\"b\"\nc', 1, 1.5, true), ('2024-01-02', null, null, null, false)")
    response = requests.get(f"{node.http_url}/exp", params={"query": "select * from x"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="questdb-query-')
    assert response.text == (
        '"ts","s","n","d","b"\r\n'
        '"2024-01-01T00:00:00.000000Z","a,""b""\nc",1,1.5,true\r\n'
        '"2024-01-02T00:00:00.000000Z",,,,false\r\n')
    skipped = requests.get(f"{node.http_url}/exp", params={"query": "select n from x", "limit": "1,2"}, timeout=10)
    assert skipped.text == '"n"\r\n\r\n'
    ddl = requests.get(f"{node.http_url}/exp", params={"query": "drop table x"}, timeout=10)
    assert ddl.status_code == 400 and ddl.json()["error"] == "/exp endpoint only accepts SELECT"
    assert requests.get(f"{node.http_url}/exp", timeout=10).status_code == 400


def test_chk(node):
    ok(node, "create table present (a int)")
    assert requests.get(f"{node.http_url}/chk", params={"j": "present"}, timeout=5).text == "Exists"
    assert requests.get(f"{node.http_url}/chk", params={"j": "absent"}, timeout=5).text == "Does not exist"
    assert requests.get(f"{node.http_url}/chk", params={"j": "present", "f": "json"}, timeout=5).json() == {"status": "Exists"}
    assert requests.get(f"{node.http_url}/chk", timeout=5).text == "table name missing"


def validate(node, query, **params):
    return requests.get(f"{node.http_url}/api/v1/sql/validate", params={"query": query, **params}, timeout=10)


def test_validate_describes_without_running(node):
    ok(node, "create table v (ts timestamp, sym symbol, px decimal(10, 2)) timestamp(ts) partition by day")
    ok(node, "insert into v values ('2024-01-01', 'a', 1.5)")
    response = validate(node, "select sym, px, ts from v")
    assert response.status_code == 200
    assert response.text == ('{"query":"select sym, px, ts from v","columns":[{"name":"sym","type":"SYMBOL"},'
                             '{"name":"px","type":"DECIMAL(10,2)"},{"name":"ts","type":"TIMESTAMP"}],"timestamp":2}')
    assert validate(node, "select count() from v").json()["timestamp"] == -1
    assert validate(node, "select 1", nm="true").json() == {}
    # Statements other than queries answer their type, and none of them runs.
    for query, kind in [("insert into v values ('2024-01-02', 'b', 2)", "INSERT"),
                        ("insert into v select * from v", "INSERT AS SELECT"),
                        ("create table made (a int)", "CREATE TABLE"),
                        ("create table copy as (select * from v)", "CREATE AS SELECT"),
                        ("update v set px = 0", "UPDATE"), ("truncate table v", "TRUNCATE"),
                        ("alter table v add column extra int", "ALTER TABLE"), ("drop table v", "DROP"),
                        ("rename table v to w", "RENAME TABLE")]:
        assert validate(node, query).json() == {"queryType": kind}, query
    assert ok(node, "select count() from v")["dataset"] == [[1]]
    assert [c["name"] for c in ok(node, "select * from v")["columns"]] == ["ts", "sym", "px"]
    assert exec_sql(node, "select * from made").status_code == 400
    # Errors have /exec's shape and position; a statement changing a missing table is one.
    error = validate(node, "select nope from v")
    assert error.status_code == 400
    assert error.json() == {"query": "select nope from v", "error": error.json()["error"], "position": 7}
    assert "nope" in error.json()["error"]
    missing = validate(node, "alter table absent add column a int")
    assert missing.status_code == 400 and missing.json()["position"] == 12
    assert missing.json()["error"] == "table does not exist [table=absent]"
    assert validate(node, "create table fresh (a int); insert into fresh values (1)").json() == {"queryType": "INSERT"}
    assert validate(node, "selec 1").status_code == 400
    assert validate(node, "").json() == {"error": "empty query", "query": "", "position": 0}


def test_warnings_list_what_the_host_gets_wrong(node):
    import resource
    response = requests.get(f"{node.http_url}/warnings", timeout=10)
    assert response.status_code == 200
    warnings = response.json()
    assert isinstance(warnings, list)
    tags = [w["tag"] for w in warnings]
    assert all(set(w) == {"tag", "warning"} for w in warnings)
    # The same facts read here decide which warnings must be there.
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert ("TOO MANY OPEN FILES" in tags) == (soft != resource.RLIM_INFINITY and soft < 1048576)
    if "TOO MANY OPEN FILES" in tags:
        assert f"[current={soft}, recommended=1048576]" in warnings[tags.index("TOO MANY OPEN FILES")]["warning"]
    maps = int(open("/proc/sys/vm/max_map_count").read())
    assert ("OUT OF MMAP AREAS" in tags) == (maps < 1048576)
    fs_type = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "--target", str(node.data_dir)],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert ("UNSUPPORTED FILE SYSTEM" in tags) == (fs_type in {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "vboxsf", "fuse.sshfs", "tmpfs", "ramfs"})
    # The same warnings are logged at start-up.
    log = node.log_path.read_text()
    for warning in warnings:
        assert warning["warning"] in log


def test_curl_reads_json(node):
    ok(node, "create table c (a int)")
    ok(node, "insert into c values (5)")
    out = subprocess.run(["curl", "-sS", "-G", f"{node.http_url}/exec", "--data-urlencode", "query=select a from c"],
                         capture_output=True, text=True, timeout=30)
    assert json.loads(out.stdout)["dataset"] == [[5]]


@pytest.mark.parametrize("query,fragment", [
    ("select 'unterminated", "unclosed quoted string"),
    ("select " + "(" * 500 + "1" + ")" * 500, "nesting is too deep"),
    ("select cast('abc' as int)", "inconvertible value"),
    ("select * from e where", "unexpected end of statement"),
    ("select sum(x, x) from long_sequence(2)", "wrong number of arguments"),
    ("create table bad (a blob)", "unsupported column type"),
    ("select x from long_sequence(1) sample by 1h", "designated TIMESTAMP"),
])
def test_bad_queries_get_clear_errors_and_the_server_stays_healthy(node, query, fragment):
    response = exec_sql(node, query)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]
    assert ok(node, "select 1 + 1")["dataset"] == [[2]]


def test_division_by_zero_is_null_not_an_error(node):
    assert ok(node, "select 1 / 0, 1.0 / 0, 0.0 / 0")["dataset"] == [[None, None, None]]


def test_a_huge_query_is_refused_by_the_request_limit(node):
    response = exec_sql(node, "select " + "+".join(["1"] * 40000))
    assert response.status_code in (414, 431)
    assert ok(node, "select 2")["dataset"] == [[2]]


def test_statement_timeout_aborts_a_long_query(node):
    response = requests.get(f"{node.http_url}/exec", params={"query": "select sum(x) from long_sequence(100000000000)"},
                            headers={"Statement-Timeout": "200"}, timeout=60)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "timeout, query aborted"
    assert ok(node, "select 3")["dataset"] == [[3]]


def test_query_memory_limit_gives_a_clear_error(make_node):
    node = make_node(env={"QDB_SQL_QUERY_MEMORY_LIMIT": "8m"})
    response = exec_sql(node, "select x, x * 2 from long_sequence(10000000)")
    assert response.status_code == 400, response.text[:300]
    assert "query memory limit exceeded" in response.json()["error"]
    assert ok(node, "select x from long_sequence(10000000) limit 2")["dataset"] == [[1], [2]]
    assert ok(node, "select count() from long_sequence(10000000)")["dataset"] == [[10000000]]


def test_joins_over_rest(node):
    ok(node, "create table q (ts timestamp, s symbol, bid double) timestamp(ts) partition by day")
    ok(node, "create table t (ts timestamp, s symbol, px double) timestamp(ts) partition by day")
    ok(node, "insert into q values ('2024-01-01T00:00:00Z', 'a', 1.0), ('2024-01-01T00:00:02Z', 'a', 2.0)")
    ok(node, "insert into t values ('2024-01-01T00:00:01Z', 'a', 1.5), ('2024-01-01T00:00:03Z', 'a', 2.5)")
    body = ok(node, "select t.ts, t.px, q.bid from t asof join q on (s)")
    assert body["timestamp"] == 0
    assert body["dataset"] == [["2024-01-01T00:00:01.000000Z", 1.5, 1.0], ["2024-01-01T00:00:03.000000Z", 2.5, 2.0]]


def test_query_text_that_is_not_utf8(node):
    response = requests.get(f"{node.http_url}/exec?query=select%20%27%ff%27", timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "Bad UTF8 encoding in query text"


@pytest.mark.parametrize("path", ["/exec", "/exp"])
def test_a_query_whose_client_went_away_is_cancelled(make_node, path):
    # One query worker: while a statement runs, the next one waits for it.
    node = make_node(env={"QDB_SQL_WORKER_COUNT": "1", "QDB_QUERY_TIMEOUT": "3600000"})
    endless = urllib.parse.quote("select sum(x) from long_sequence(1000000000000)")
    with socket.create_connection(("127.0.0.1", node.http_port)) as client:
        client.sendall(f"GET {path}?query={endless} HTTP/1.1\r\nHost: sundial\r\n\r\n".encode())
        time.sleep(0.5)  # let it start running; then the client goes away
    # The worker is free again: the statement was cancelled, not left to run for hours.
    body = requests.get(f"http://127.0.0.1:{node.http_port}/exec", params={"query": "select sum(x) from long_sequence(1000)"},
                        timeout=60).json()
    assert body["dataset"] == [[500500]]



def test_ttl_drops_expired_partitions_as_ilp_rows_arrive(node):
    """A table with TTL 2 DAYS fed by the official ILP client: partitions that ended more than
    two days before the newest row (the wall clock is later) are dropped, newest kept."""
    ok(node, "create table ttl_cpu (ts timestamp, host symbol, usage double) timestamp(ts) partition by day ttl 2 days")
    day = 86_400 * 1_000_000_000
    start = 1_700_000_000_000_000_000 - 1_700_000_000_000_000_000 % day  # a midnight, 2023-11-14
    with Sender.from_conf(f"http::addr=127.0.0.1:{node.http_port};") as sender:
        for d in range(6):
            sender.row("ttl_cpu", symbols={"host": "h"}, columns={"usage": float(d)}, at=TimestampNanos(start + d * day + 12 * 3_600 * 1_000_000_000))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        names = [row[0] for row in ok(node, "select name from table_partitions('ttl_cpu')")["dataset"]]
        if len(names) == 3:
            break
        time.sleep(0.05)
    # Newest row: day 5 at noon; back 2 days is day 3 at noon: days 0-2 ended before it.
    assert names == ["2023-11-17", "2023-11-18", "2023-11-19"]
    assert ok(node, "select min(usage), max(usage), count() from ttl_cpu")["dataset"] == [[3.0, 5.0, 3]]
    # A later row moves the reference on.
    with Sender.from_conf(f"http::addr=127.0.0.1:{node.http_port};") as sender:
        sender.row("ttl_cpu", symbols={"host": "h"}, columns={"usage": 6.0}, at=TimestampNanos(start + 6 * day + 12 * 3_600 * 1_000_000_000))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        names = [row[0] for row in ok(node, "select name from table_partitions('ttl_cpu')")["dataset"]]
        if names[0] != "2023-11-17":
            break
        time.sleep(0.05)
    assert names == ["2023-11-18", "2023-11-19", "2023-11-20"]
