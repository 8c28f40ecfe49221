"""Query latency on the TSBS cpu-only data (PERFORMANCE §3.4, §6.2, §7): Sundial vs DuckDB
(PyPI, 2 threads) and PostgreSQL 15 (without and with the (hostname, ts) index), loaded with
the same rows in one run. Each query: 1 warm-up, then the median of 5, timed by the client.

Sundial is loaded over ILP/HTTP (the rows of the ILP benchmark) and queried over /exec and over
PG wire (psycopg, its default statement preparation); its QuestDB forms (SAMPLE BY, LATEST ON)
are timed too (/exec by a minimal HTTP client on a keep-alive socket, PG wire by psycopg). Prints
one table and the ratios, /exec against PG wire included (goal ≤ 1.2×).

    python query_bench.py --rows 10000000
"""
import argparse
import math
import pathlib
import socket
import statistics
import sys
import threading
import time
import urllib.parse

import duckdb
import psycopg
import requests

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from ilp_bench import Sundial, add_data_arguments, http_requests, send_all_http  # noqa: E402
from postgres_peer import postgres  # noqa: E402

FIELDS = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq",
          "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]
TAGS = ["hostname", "region", "datacenter", "rack", "os", "arch", "team", "service", "service_version",
        "service_environment"]
HOSTS8 = "'host_1','host_77','host_150','host_222','host_333','host_444','host_555','host_999'"
MAX5 = ", ".join(f"max({f})" for f in FIELDS[:5])
MAX10 = ", ".join(f"max({f})" for f in FIELDS)
AVG10 = ", ".join(f"avg({f})" for f in FIELDS)

# PERFORMANCE §7, PostgreSQL syntax (DuckDB and Sundial accept it).
QUERIES = {
    "Q1": "SELECT date_trunc('minute', ts) AS minute, max(usage_user) FROM cpu WHERE hostname = 'host_1' "
          "AND ts >= '2016-01-01 12:00:00' AND ts < '2016-01-01 13:00:00' GROUP BY 1 ORDER BY 1",
    "Q2": "SELECT date_trunc('hour', ts) AS hour, max(usage_user) FROM cpu WHERE hostname = 'host_1' "
          "AND ts BETWEEN '2016-01-01 06:00:00' AND '2016-01-01 18:00:00' GROUP BY 1 ORDER BY 1",
    "Q3": f"SELECT date_trunc('minute', ts) AS minute, {MAX5} FROM cpu WHERE hostname IN ({HOSTS8}) "
          "AND ts >= '2016-01-01 12:00:00' AND ts < '2016-01-01 13:00:00' GROUP BY 1 ORDER BY 1",
    "Q4": f"SELECT date_trunc('hour', ts) AS hour, {MAX10} FROM cpu WHERE hostname IN ({HOSTS8}) "
          "AND ts >= '2016-01-01 08:00:00' AND ts < '2016-01-01 16:00:00' GROUP BY 1 ORDER BY 1",
    "Q5": "SELECT date_trunc('hour', ts) AS hour, hostname, avg(usage_user) FROM cpu "
          "WHERE ts >= '2016-01-01 06:00:00' AND ts < '2016-01-01 18:00:00' GROUP BY 1, 2 ORDER BY 1, 2",
    "Q6": f"SELECT date_trunc('hour', ts) AS hour, hostname, {AVG10} FROM cpu "
          "WHERE ts >= '2016-01-01 06:00:00' AND ts < '2016-01-01 18:00:00' GROUP BY 1, 2 ORDER BY 1, 2",
    "Q7": "SELECT count(*) FROM cpu WHERE usage_user > 90.0 AND ts >= '2016-01-01 06:00:00' AND ts < '2016-01-01 18:00:00'",
    "Q8": "SELECT DISTINCT ON (hostname) * FROM cpu ORDER BY hostname, ts DESC",
    "Q9": "SELECT date_trunc('minute', ts) AS minute, max(usage_user) FROM cpu WHERE ts < '2016-01-01 18:00:00' "
          "GROUP BY 1 ORDER BY 1 DESC LIMIT 5",
    "Q10": "SELECT hostname, avg(usage_user) FROM cpu GROUP BY hostname",
}
# Where a peer or Sundial needs another form of the same question.
DUCKDB_FORMS = {"Q8": "SELECT hostname, arg_max(ts, ts), arg_max(usage_user, ts) FROM cpu GROUP BY hostname"}
PG_BEST_FORMS = {
    "Q8": "SELECT h.hostname, l.* FROM hosts h CROSS JOIN LATERAL "
          "(SELECT * FROM cpu c WHERE c.hostname = h.hostname ORDER BY ts DESC LIMIT 1) l",
}
SUNDIAL_FORMS = {"Q8": "SELECT * FROM cpu LATEST ON ts PARTITION BY hostname"}
SUNDIAL_NATIVE = {
    "Q1 SAMPLE BY": "SELECT ts, max(usage_user) FROM cpu WHERE hostname = 'host_1' "
                    "AND ts >= '2016-01-01T12:00:00' AND ts < '2016-01-01T13:00:00' SAMPLE BY 1m",
    "Q5 SAMPLE BY": "SELECT ts, hostname, avg(usage_user) FROM cpu WHERE ts IN '2016-01-01T06;12h' SAMPLE BY 1h",
    "Q9 SAMPLE BY": "SELECT ts, max(usage_user) FROM cpu WHERE ts < '2016-01-01T18:00:00' SAMPLE BY 1m ORDER BY ts DESC LIMIT 5",
}


def timed(run, repeats=5):
    run()  # warm-up
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def paired(first, second, repeats=5):
    """Medians of `first` and `second` timed alternately (after one warm-up each), so both see
    the same moments of a shared, noisy machine: their ratio is not the drift between two
    phases minutes apart."""
    first()
    second()
    a, b = [], []
    for _ in range(repeats):
        for run, samples in ((first, a), (second, b)):
            started = time.perf_counter()
            run()
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(a), statistics.median(b)


class BackgroundIngest:
    """ILP/HTTP writes at a fixed rate while queries run: the 1 M-row file shifted two days
    later (new partitions, as live data arrives), sent in 10 000-line requests."""

    def __init__(self, port, ilp_path, rows_per_second):
        with open(ilp_path, "rb") as f:
            lines = f.read().split(b"\n")
        shift = 2 * 86_400 * 1_000_000_000
        shifted = []
        for line in lines:
            if line:
                head, _, stamp = line.rpartition(b" ")
                shifted.append(head + b" " + str(int(stamp) + shift).encode())
        self.requests = []
        for start in range(0, len(shifted), 10_000):
            body = b"\n".join(shifted[start:start + 10_000]) + b"\n"
            self.requests.append((f"POST /write HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n\r\n"
                                  .encode() + body, min(10_000, len(shifted) - start)))
        self.port, self.rate = port, rows_per_second
        self.sent = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        import socket
        from ilp_bench import read_response
        sock = socket.create_connection(("127.0.0.1", self.port))
        buffer = b""
        started = time.monotonic()
        index = 0
        while not self.stopping.is_set():
            request, count = self.requests[index % len(self.requests)]
            sock.sendall(request)
            buffer = read_response(sock, buffer)
            self.sent += count
            index += 1
            ahead = self.sent / self.rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        sock.close()

    def __enter__(self):
        self.started = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join()
        self.achieved = self.sent / (time.monotonic() - self.started)


class ExecClient:
    """GET requests on one keep-alive connection, reading the status line, Content-Length or
    chunked bodies with as little Python as possible (the timed part is the server's)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def _read_until(self, marker):
        while marker not in self.buffer:
            chunk = self.sock.recv(1 << 20)
            assert chunk, "connection closed"
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _read_exactly(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(1 << 20)
            assert chunk, "connection closed"
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def get(self, target):
        self.sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = self._read_until(b"\r\n\r\n").lower()
        status = int(head.split(b" ", 2)[1])
        if b"content-length:" in head:
            return status, self._read_exactly(int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0]))
        assert b"chunked" in head, head
        parts = []
        while True:
            size = int(self._read_until(b"\r\n").split(b";", 1)[0], 16)
            parts.append(self._read_exactly(size + 2)[:size])
            if size == 0:
                return status, b"".join(parts)


def sundial_times(workdir, ilp_path, rows, ingest_rate=None, ingest_file=None):
    node = Sundial(workdir)
    try:
        payload, _ = http_requests(ilp_path, 10_000, node.http)
        send_all_http(node.http, payload, 1)
        del payload
        node.wait_applied(rows)
        url = f"http://127.0.0.1:{node.http}/exec"
        session = requests.Session()
        # Timed calls use a minimal HTTP/1.1 client on one keep-alive socket (`ExecClient`):
        # `requests` spends ~0.4 ms of client CPU per call and `http.client` ~0.15–0.25 ms
        # (its header parsing is pure Python) — more than the server's whole SELECT 1 — while
        # psycopg parses PG wire in C, so they would compare the clients, not the server paths.
        connection = ExecClient(node.http)

        def run(query):
            target = "/exec?" + urllib.parse.urlencode({"query": query})

            def call():
                status, body = connection.get(target)
                assert status == 200, body[:300]
            return call

        # ILP names the designated timestamp `timestamp`; the peers' tables call it `ts`.
        renamed = session.get(url, params={"query": "alter table cpu rename column timestamp to ts"})
        assert renamed.status_code == 200, renamed.text
        count = session.get(url, params={"query": "select count() from cpu"}).json()["dataset"][0][0]
        assert count == rows, count
        times = {name: timed(run(SUNDIAL_FORMS.get(name, query))) for name, query in QUERIES.items()}
        times.update({name: timed(run(query)) for name, query in SUNDIAL_NATIVE.items()})
        times["SELECT 1"] = timed(run("SELECT 1"))
        # The same queries over PG wire: psycopg prepares a statement from its 5th run on.
        with psycopg.connect(host="127.0.0.1", port=node.pg, user="admin", password="quest", dbname="qdb",
                             autocommit=True) as conn:
            def pg_run(query):
                return lambda: conn.execute(query).fetchall()
            both = {name: paired(run(query), pg_run(query))
                    for name, query in [(n, SUNDIAL_FORMS.get(n, q)) for n, q in QUERIES.items()] + [("SELECT 1", "SELECT 1")]}
        times["pg wire"] = {name: pair[1] for name, pair in both.items()}
        times["exec paired"] = {name: pair[0] for name, pair in both.items()}
        if ingest_rate:
            # Ingestion comes in bursts (a 10 000-line request every few tens of ms), so a
            # median of 5 of a sub-millisecond query mostly says whether its runs met a burst:
            # idle and loaded are both medians of 21, the idle ones taken just before.
            idle = {name: timed(run(SUNDIAL_FORMS.get(name, query)), repeats=21) for name, query in QUERIES.items()}
            with BackgroundIngest(node.http, ingest_file, ingest_rate) as ingest:
                loaded = {name: timed(run(SUNDIAL_FORMS.get(name, query)), repeats=21) for name, query in QUERIES.items()}
            times["idle 21"] = idle
            times["under ingest"] = loaded
            times["ingest rate"] = ingest.achieved
        return times
    finally:
        node.stop()


def duckdb_times(csv_path):
    con = duckdb.connect()
    con.execute("SET threads=2")
    columns = ", ".join([f"{t} VARCHAR" for t in TAGS] + [f"{f} DOUBLE" for f in FIELDS] + ["micros BIGINT"])
    con.execute(f"CREATE TABLE raw ({columns})")
    con.execute(f"INSERT INTO raw SELECT * FROM read_csv('{csv_path}', header=true, "
                f"columns={{{', '.join(repr(c.split()[0]) + ': ' + repr(c.split()[1]) for c in columns.split(', '))}}})")
    con.execute(f"CREATE TABLE cpu AS SELECT make_timestamp(micros) AS ts, {', '.join(TAGS + FIELDS)} FROM raw")
    con.execute("DROP TABLE raw")
    return {name: timed(lambda q=DUCKDB_FORMS.get(name, query): con.execute(q).fetchall())
            for name, query in QUERIES.items()}


def load_postgres_cpu(conn, csv_path):
    """The TSBS CSV into PostgreSQL table `cpu` (ts timestamp, tags text, fields double)."""
    columns = ", ".join([f"{t} text" for t in TAGS] + [f"{f} double precision" for f in FIELDS] + ["micros bigint"])
    conn.execute(f"CREATE UNLOGGED TABLE raw ({columns})")
    with conn.cursor() as cur, open(csv_path, "rb") as f:
        f.readline()
        with cur.copy("COPY raw FROM STDIN WITH (FORMAT csv)") as copy:
            while chunk := f.read(1 << 20):
                copy.write(chunk)
    conn.execute(f"CREATE TABLE cpu AS SELECT to_timestamp(micros / 1000000.0) AT TIME ZONE 'UTC' AS ts, "
                 f"{', '.join(TAGS + FIELDS)} FROM raw")
    conn.execute("DROP TABLE raw")


def postgres_times(workdir, csv_path):
    with postgres(workdir, ["work_mem=256MB", "shared_buffers=2GB", "max_wal_size=20GB"]) as conn:
        load_postgres_cpu(conn, csv_path)
        conn.execute("CREATE TABLE hosts AS SELECT DISTINCT hostname FROM cpu")
        conn.execute("VACUUM ANALYZE cpu")

        def run(query):
            return lambda: conn.execute(query).fetchall()

        plain = {name: timed(run(query)) for name, query in QUERIES.items()}
        conn.execute("CREATE INDEX ON cpu (hostname, ts DESC)")
        conn.execute("CREATE INDEX ON cpu (ts DESC)")
        conn.execute("ANALYZE cpu")
        indexed = {name: timed(run(PG_BEST_FORMS.get(name, query))) for name, query in QUERIES.items()}
    return plain, indexed


def geometric_mean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def main():
    parser = argparse.ArgumentParser()
    add_data_arguments(parser)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--ingest-rate", type=float, default=300_000,
                        help="rows/s of ILP sent while the queries are timed again (0: skip); about half the measured ILP rate")
    args = parser.parse_args()
    stem = pathlib.Path(args.data) / f"cpu-{args.hosts}h-{args.rows}r"
    ilp, csv = stem.with_suffix(".ilp"), stem.with_suffix(".csv")

    ingest_file = pathlib.Path(args.data) / f"cpu-{args.hosts}h-1000000r.ilp"
    sundial = sundial_times(args.workdir, ilp, args.rows, args.ingest_rate if ingest_file.exists() else None, ingest_file)
    duck = duckdb_times(csv)
    pg_plain, pg_index = ({}, {}) if args.skip_postgres else postgres_times(args.workdir, csv)

    print(f"\nQuery latency, ms (median of 5 after 1 warm-up), {args.rows:,} rows, Sundial over /exec")
    print(f"{'query':<14}{'Sundial':>10}{'DuckDB-2t':>11}{'PG':>10}{'PG+index':>10}{'S/Duck':>9}{'S/PGbest':>10}")
    duck_ratios, pg_ratios = [], []
    for name in QUERIES:
        s, d = sundial[name], duck[name]
        best = min(pg_plain.get(name, math.inf), pg_index.get(name, math.inf))
        duck_ratios.append(s / d)
        if best < math.inf:
            pg_ratios.append(s / best)
        print(f"{name:<14}{s:>10.2f}{d:>11.2f}{pg_plain.get(name, math.nan):>10.2f}{pg_index.get(name, math.nan):>10.2f}"
              f"{s / d:>9.2f}{(s / best if best < math.inf else math.nan):>10.3f}")
    for name in SUNDIAL_NATIVE:
        print(f"{name:<14}{sundial[name]:>10.2f}")
    print(f"{'SELECT 1':<14}{sundial['SELECT 1']:>10.2f}")
    wire, paired_exec = sundial["pg wire"], sundial["exec paired"]
    print("\nSundial over PG wire (psycopg) and /exec timed alternately, ms, and /exec / PG wire:")
    for name in list(QUERIES) + ["SELECT 1"]:
        print(f"{name:<14}{wire[name]:>10.2f}{paired_exec[name]:>10.2f}{paired_exec[name] / wire[name]:>9.2f}")
    exec_ratios = [paired_exec[n] / wire[n] for n in QUERIES]
    print(f"/exec / PG wire: geometric mean {geometric_mean(exec_ratios):.2f}, worst {max(exec_ratios):.2f} (goal <= 1.2)")
    print(f"geometric mean Sundial PG wire/DuckDB: {geometric_mean([wire[n] / duck[n] for n in QUERIES]):.2f}")
    if "under ingest" in sundial:
        loaded, idle = sundial["under ingest"], sundial["idle 21"]
        print(f"\nWhile ILP ingests at {sundial['ingest rate']:,.0f} rows/s (same queries, medians of 21, ms: idle, loaded, loaded/idle):")
        for name in QUERIES:
            print(f"{name:<14}{idle[name]:>10.2f}{loaded[name]:>10.2f}{loaded[name] / idle[name]:>9.2f}")
        print(f"worst loaded/idle: {max(loaded[n] / idle[n] for n in QUERIES):.2f} (goal <= 2.0)")
    print(f"\ngeometric mean Sundial/DuckDB: {geometric_mean(duck_ratios):.2f} (goal <= 1.0)")
    if pg_ratios:
        print(f"geometric mean Sundial/best PostgreSQL: {geometric_mean(pg_ratios):.3f} (goal <= 0.15)")


if __name__ == "__main__":
    main()
