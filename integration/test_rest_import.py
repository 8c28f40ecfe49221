"""CSV import over /imp with `requests` multipart uploads: schema inference, header detection,
timestamps and partitioning, existing tables, atomicity modes, the schema part with date
patterns, JSON and text replies, malformed input, bounded memory for large files, and the round
trip /imp(/exp(t)) == t for random tables with quotes, commas, newlines, backslashes and
non-ASCII text.
"""
import random

import pytest
import requests


@pytest.fixture
def node(make_node):
    return make_node()


def imp(node, filename, text, schema=None, **params):
    files = {}
    if schema is not None:
        files["schema"] = (None, schema)
    files["data"] = (filename, text.encode() if isinstance(text, str) else text)
    response = requests.post(f"{node.http_url}/imp", params=params, files=files, timeout=120)
    assert response.status_code == 200, response.text
    return response


def rows(node, query):
    response = requests.get(f"{node.http_url}/exec", params={"query": query}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_import_infers_types_and_header(node):
    csv = "ts,host,cpu,count,ok\n2024-01-01T00:00:00.000000Z,a,1.5,10,true\n2024-01-01T00:01:00.000000Z,b,2.5,20,false\n"
    body = imp(node, "metrics.csv", csv, fmt="json", timestamp="ts", partitionBy="DAY").json()
    assert body["status"] == "OK" and body["location"] == "metrics.csv"
    assert body["rowsImported"] == 2 and body["rowsRejected"] == 0 and body["header"] is True
    assert body["partitionBy"] == "DAY" and body["timestamp"] == "ts"
    assert [(c["name"], c["type"]) for c in body["columns"]] == [
        ("ts", "TIMESTAMP"), ("host", "VARCHAR"), ("cpu", "DOUBLE"), ("count", "INT"), ("ok", "BOOLEAN")]
    result = rows(node, "select * from 'metrics.csv'")
    assert result["timestamp"] == 0
    assert result["dataset"] == [["2024-01-01T00:00:00.000000Z", "a", 1.5, 10, True],
                                 ["2024-01-01T00:01:00.000000Z", "b", 2.5, 20, False]]


def test_name_parameter_text_reply_and_no_header(node):
    response = imp(node, "ignored.csv", "1,x\n2,y\n", name="plain")
    assert "Rows imported" in response.text and "plain" in response.text
    assert rows(node, "select f0, f1 from plain")["dataset"] == [[1, "x"], [2, "y"]]


def test_import_appends_to_an_existing_table_by_header_names(node):
    rows(node, "create table existing (ts timestamp, v long, s symbol) timestamp(ts) partition by day")
    body = imp(node, "x.csv", "s,v,ts\nq,5,2024-02-01T00:00:00Z\n", name="existing", fmt="json").json()
    assert body["rowsImported"] == 1 and "Existing table columns are used" in body["warnings"]
    assert rows(node, "select s, v from existing")["dataset"] == [["q", 5]]


def test_atomicity_modes(node):
    csv = "a,b\n1,x\n2,y\nnotanumber,z\n4,w\n"
    # Types come from the sample, so declare `a` as INT for the bad row to be bad.
    schema = '[{"name":"a","type":"INT"}]'
    col = imp(node, "t1.csv", csv, schema=schema, fmt="json").json()
    assert col["rowsImported"] == 4 and col["columns"][0]["errors"] == 1
    assert rows(node, "select a from 't1.csv'")["dataset"] == [[1], [2], [None], [4]]
    row = imp(node, "t2.csv", csv, schema=schema, fmt="json", atomicity="skipRow").json()
    assert row["rowsImported"] == 3 and row["rowsRejected"] == 1
    abort = imp(node, "t3.csv", csv, schema=schema, fmt="json", atomicity="abort").json()
    assert "inconvertible value: `notanumber`" in abort["status"]


def test_schema_part_with_a_date_pattern(node):
    csv = "when,v\n2024-03-05 - 10:11:12,1\n2024-03-06 - 00:00:00,2\n"
    schema = '[{"name":"when","type":"TIMESTAMP","pattern":"yyyy-MM-dd - HH:mm:ss"}]'
    body = imp(node, "p.csv", csv, schema=schema, fmt="json", timestamp="when", partitionBy="MONTH").json()
    assert body["rowsImported"] == 2, body
    assert rows(node, "select * from 'p.csv'")["dataset"] == [["2024-03-05T10:11:12.000000Z", 1],
                                                              ["2024-03-06T00:00:00.000000Z", 2]]


def test_overwrite_replaces_the_table(node):
    imp(node, "o.csv", "a\n1\n2\n", forceHeader="true")
    imp(node, "o.csv", "b\nx\n", overwrite="true", forceHeader="true")
    result = rows(node, "select * from 'o.csv'")
    assert [c["name"] for c in result["columns"]] == ["b"] and result["dataset"] == [["x"]]


@pytest.mark.parametrize("params,message", [
    ({"partitionBy": "DAY"}, "when specifying partitionBy you must also specify timestamp"),
    ({"partitionBy": "FORTNIGHT", "timestamp": "ts"}, "invalid partitionBy"),
    ({"atomicity": "maybe"}, "invalid atomicity"),
])
def test_bad_parameters_answer_200_with_the_message(node, params, message):
    response = imp(node, "bad.csv", "ts\n2024-01-01\n", fmt="json", **params)
    assert message in response.json()["status"]


def test_malformed_requests_get_clear_messages_and_the_server_stays_healthy(node):
    url = f"{node.http_url}/imp"
    not_multipart = requests.post(url, data=b"a,b\n", headers={"content-type": "text/csv"}, timeout=10)
    assert not_multipart.status_code == 200 and "multipart/form-data" in not_multipart.text
    truncated = requests.post(url, data=b"--xyz\r\nContent-Disposition: form-data; name=\"data\"; filename=\"t.csv\"\r\n\r\na\n1\n",
                              headers={"content-type": "multipart/form-data; boundary=xyz"}, timeout=10)
    assert "closing boundary" in truncated.text
    no_name = requests.post(url, files={"data": ("", b"a\n1\n")}, timeout=10)
    assert "no file name given" in no_name.text
    unbalanced = imp(node, "q.csv", '"never closed\n' + "x" * (2 << 20), fmt="json")
    assert "longer than" in unbalanced.json()["status"]
    bad_schema = imp(node, "s.csv", "a\n1\n", schema="[{oops", fmt="json")
    assert "invalid schema JSON" in bad_schema.json()["status"]
    assert rows(node, "select 1")["dataset"] == [[1]]


def random_text(rng):
    alphabet = ['a', 'b', ',', '"', '\n', '\\', ' ', 'é', '日', '😀', "'", '\t', 'z']
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


@pytest.mark.parametrize("seed", range(3))
def test_round_trip_export_then_import_gives_the_same_table(node, seed):
    rng = random.Random(seed)
    rows(node, f"create table src{seed} (ts timestamp, s varchar, n long, d double, b boolean) timestamp(ts) partition by day")
    values = []
    for i in range(200):
        s = "NULL" if rng.random() < 0.1 else "'" + random_text(rng).replace("'", "''") + "'"
        n = "NULL" if rng.random() < 0.1 else str(rng.randint(-10**15, 10**15))
        d = "NULL" if rng.random() < 0.1 else repr(rng.uniform(-1e6, 1e6))
        values.append(f"({1_700_000_000_000_000 + i * 1_000_000}::timestamp, {s}, {n}, {d}, {rng.random() < 0.5})")
    rows(node, f"insert into src{seed} values " + ",".join(values))
    exported = requests.get(f"{node.http_url}/exp", params={"query": f"select * from src{seed}"}, timeout=30)
    assert exported.status_code == 200
    rows(node, f"create table dst{seed} (ts timestamp, s varchar, n long, d double, b boolean) timestamp(ts) partition by day")
    body = imp(node, "x.csv", exported.content, name=f"dst{seed}", fmt="json").json()
    assert body["rowsImported"] == 200 and body["rowsRejected"] == 0, body
    assert rows(node, f"select * from dst{seed}")["dataset"] == rows(node, f"select * from src{seed}")["dataset"]


def test_round_trip_into_a_new_table_infers_the_types(node):
    rows(node, "create table inferred_src (ts timestamp, s varchar, n long, d double) timestamp(ts) partition by day")
    rows(node, "insert into inferred_src values ('2024-01-01', 'x,\"y\"', 3000000000, 0.5), ('2024-01-02', NULL, NULL, NULL)")
    exported = requests.get(f"{node.http_url}/exp", params={"query": "select * from inferred_src"}, timeout=30)
    body = imp(node, "x.csv", exported.content, name="inferred_dst", timestamp="ts", partitionBy="DAY", fmt="json").json()
    assert [(c["name"], c["type"]) for c in body["columns"]] == [
        ("ts", "TIMESTAMP"), ("s", "VARCHAR"), ("n", "LONG"), ("d", "DOUBLE")]
    assert rows(node, "select * from inferred_dst")["dataset"] == rows(node, "select * from inferred_src")["dataset"]


def peak_rss_bytes(node):
    for line in open(f"/proc/{node.process.pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_a_large_import_streams_in_bounded_memory(node):
    line = b"2024-01-01T00:00:00.000000Z,some-host-name-here,12345.678,987654321\n"
    size = 160 << 20
    count = size // len(line)

    def body():
        yield b"--bound\r\nContent-Disposition: form-data; name=\"data\"; filename=\"big.csv\"\r\n\r\n"
        yield b"ts,host,v,n\n"
        chunk = line * 16384
        sent = 0
        while sent + 16384 <= count:
            yield chunk
            sent += 16384
        yield line * (count - sent)
        yield b"\r\n--bound--\r\n"

    before = peak_rss_bytes(node)
    response = requests.post(f"{node.http_url}/imp", params={"fmt": "json"}, data=body(),
                             headers={"content-type": "multipart/form-data; boundary=bound"}, timeout=600)
    assert response.status_code == 200 and response.json()["rowsImported"] == count, response.text[:500]
    growth = peak_rss_bytes(node) - before
    # Rows commit every ~16 MiB: memory is bounded by that batch (and its WAL record), not the file.
    assert growth < 128 << 20, f"peak RSS grew by {growth >> 20} MiB importing {size >> 20} MiB"
    assert rows(node, "select count() from 'big.csv'")["dataset"] == [[count]]


def test_a_dropped_upload_commits_nothing(node):
    import socket
    body = b"--b\r\nContent-Disposition: form-data; name=\"data\"; filename=\"dropped.csv\"\r\n\r\na,b\n" + b"1,x\n" * 5000
    head = (f"POST /imp HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {len(body) + 1000}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", node.http_port)) as sock:
        sock.sendall(head + body)
    import time
    time.sleep(0.5)
    result = requests.get(f"{node.http_url}/exec", params={"query": "select count() from 'dropped.csv'"}, timeout=10)
    # Either the table was never created or it holds no rows: nothing half-imported is visible.
    assert result.status_code == 400 or result.json()["dataset"] == [[0]], result.text


def test_csv_edge_cases(node):
    bom = "\ufeffa,b\n1,x\n".encode()
    body = imp(node, "bom.csv", bom, fmt="json").json()
    assert body["rowsImported"] == 1
    crlf = imp(node, "crlf.csv", 'a,b\r\n1,"x\r\ny"\r\n2,z\r\n', fmt="json").json()
    assert crlf["rowsImported"] == 2
    assert rows(node, "select b from 'crlf.csv'")["dataset"] == [["x\r\ny"], ["z"]]
    ragged = imp(node, "ragged.csv", "a,b,c\n1,2,3\n4,5\n6,7,8,9\n", fmt="json").json()
    assert ragged["rowsImported"] == 3
    assert rows(node, "select a, c from 'ragged.csv'")["dataset"] == [[1, 3], [4, None], [6, 8]]
    empty = imp(node, "empty.csv", "", fmt="json").json()
    assert "status" in empty
    assert rows(node, "select 1")["dataset"] == [[1]]


def test_decimal_columns_import_and_export_exactly(node):
    requests.get(f"{node.http_url}/exec", params={"query": "create table prices (sym symbol, px decimal(12, 4))"}, timeout=10)
    imp(node, "prices.csv", "sym,px\na,1.5\nb,-0.00005\nc,12345678.12345\nd,\n", name="prices")
    assert rows(node, "select sym, px from prices")["dataset"] == [["a", "1.5000"], ["b", "-0.0001"], ["c", "12345678.1235"], ["d", None]]
    exported = requests.get(f"{node.http_url}/exp", params={"query": "select px from prices"}, timeout=10).text
    assert exported.splitlines() == ['"px"', "1.5000", "-0.0001", "12345678.1235", ""]


def test_wide_decimal_columns_import_and_export_exactly(node):
    requests.get(f"{node.http_url}/exec", params={"query": "create table wide (sym symbol, px decimal(40, 12))"}, timeout=10)
    csv = "sym,px\na,1234567890123456789012345678.123456789012\nb,-0.0000000000005\nc,\nd,1e20\n"
    imp(node, "wide.csv", csv, name="wide")
    assert rows(node, "select sym, px from wide")["dataset"] == [
        ["a", "1234567890123456789012345678.123456789012"], ["b", "-0.000000000001"], ["c", None],
        ["d", "100000000000000000000.000000000000"]]
    exported = requests.get(f"{node.http_url}/exp", params={"query": "select px from wide"}, timeout=10).text
    assert exported.splitlines() == ['"px"', "1234567890123456789012345678.123456789012", "-0.000000000001", "",
                                     "100000000000000000000.000000000000"]
