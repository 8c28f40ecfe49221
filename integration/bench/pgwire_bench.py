"""PG wire throughput (issue 6): Sundial vs PostgreSQL 15 on the same TSBS cpu rows, one run.

1. Point query — the latest row of one host — from asyncpg with 8 concurrent connections, for
   a fixed time each: "unprepared" (literal SQL, statement cache off: Parse, Bind, Execute per
   query; once more with every text made unique by a comment, which no statement cache can
   reuse) and "prepared" (one prepared statement per connection, `$1` bound each time).
   Queries/s. PostgreSQL gets its best plan: an index on (hostname, ts DESC).
2. Result streaming: all rows of `cpu` in binary (Execute without a row limit) read by a raw
   protocol client that counts rows and bytes without decoding them, so the server is what is
   measured. MB/s and rows/s.

    python pgwire_bench.py --rows 10000000
"""
import argparse
import asyncio
import pathlib
import random
import socket
import statistics
import struct
import sys
import time

import asyncpg
import requests

sys.path.insert(0, str(pathlib.Path(__file__).parent))
sys.path.insert(0, str(pathlib.Path(__file__).parent.parent))
from ilp_bench import Sundial, add_data_arguments, http_requests, send_all_http  # noqa: E402
from postgres_peer import postgres  # noqa: E402
import pgwire_probe as pg  # noqa: E402
from query_bench import FIELDS, TAGS, load_postgres_cpu  # noqa: E402

CONNECTIONS = 8
SECONDS = 5.0


async def point_queries(connect, literal, prepared_sql, hosts, prepared, unique=False):
    """Queries/s over CONNECTIONS connections for SECONDS. `unique`: every literal query's
    text differs (a comment with a counter), so no server can reuse an earlier parse."""
    sequence = iter(range(1 << 62))

    def text(host):
        sql = literal.format(host=host)
        return f"{sql} /* {next(sequence)} */" if unique else sql

    async def worker(conn, deadline, counts):
        statement = await conn.prepare(prepared_sql) if prepared else None
        done = 0
        while time.monotonic() < deadline:
            host = random.choice(hosts)
            rows = await statement.fetch(host) if prepared else await conn.fetch(text(host))
            assert len(rows) == 1, rows
            done += 1
        counts.append(done)
    connections = [await connect() for _ in range(CONNECTIONS)]
    try:
        for conn in connections:  # warm-up
            await conn.fetch(literal.format(host=hosts[0]))
        counts = []
        started = time.monotonic()
        await asyncio.gather(*(worker(conn, started + SECONDS, counts) for conn in connections))
        return sum(counts) / (time.monotonic() - started)
    finally:
        for conn in connections:
            await conn.close()


def stream(port, user, database, password, sql):
    """(rows, bytes, seconds) of reading every row of `sql` in binary."""
    probe = pg.Probe(port, timeout=600)
    probe.send(pg.startup_packet(user=user, database=database))
    while True:
        kind, body = probe.read_message()
        if kind == "R" and struct.unpack("!i", body[:4])[0] == 3:
            probe.send(pg.message("p", pg.cstring(password)))
        if kind == "Z":
            break
    sock = probe.sock
    started = time.monotonic()
    sock.sendall(pg.parse(sql) + pg.bind(result_formats=[1]) + pg.execute() + pg.SYNC)
    rows = total = 0
    buffer = bytearray()
    finished = False
    while not finished:
        chunk = sock.recv(1 << 20)
        assert chunk, "connection closed"
        total += len(chunk)
        buffer += chunk
        offset = 0
        while len(buffer) - offset >= 5:
            kind = buffer[offset]
            (length,) = struct.unpack_from("!i", buffer, offset + 1)
            if len(buffer) - offset < 1 + length:
                break
            if kind == 0x44:
                rows += 1
            elif kind == 0x45:
                raise AssertionError(bytes(buffer[offset:offset + 1 + length]))
            elif kind == 0x5A:
                finished = True
            offset += 1 + length
        del buffer[:offset]
    seconds = time.monotonic() - started
    probe.close()
    return rows, total, seconds


class Target:
    """One server under test: how to connect and what to ask it."""

    def __init__(self, name, port, user, database, password, literal, prepared_sql, stream_sql):
        self.name, self.port, self.user, self.database, self.password = name, port, user, database, password
        self.literal, self.prepared_sql, self.stream_sql = literal, prepared_sql, stream_sql

    def connector(self, **options):
        async def connect():
            return await asyncpg.connect(host="127.0.0.1", port=self.port, user=self.user, password=self.password,
                                         database=self.database, **options)
        return connect

    def point_queries(self, kind, hosts):
        if kind == "unprepared":
            # No statement cache, so every query is Parse + Bind + Execute of literal SQL.
            return asyncio.run(point_queries(self.connector(statement_cache_size=0), self.literal, self.prepared_sql, hosts,
                                             prepared=False))
        if kind == "unique":
            # The same, every text new: what a server's statement cache cannot help with.
            return asyncio.run(point_queries(self.connector(statement_cache_size=0), self.literal, self.prepared_sql, hosts,
                                             prepared=False, unique=True))
        # Prepared: asyncpg's default cache keeps the statement; each query is Bind + Execute.
        return asyncio.run(point_queries(self.connector(), self.literal, self.prepared_sql, hosts, prepared=True))

    def stream(self):
        stream(self.port, self.user, self.database, self.password, self.stream_sql.replace("*", "ts", 1) + " LIMIT 1000")
        return stream(self.port, self.user, self.database, self.password, self.stream_sql)


KINDS = [("unprepared", "point query, unprepared (q/s)"), ("unique", "  … every query text new (q/s)"),
         ("prepared", "point query, prepared (q/s)")]


def compare(targets, hosts, rounds):
    """Both servers up, the measures alternating between them for `rounds` rounds (the order
    flipped each round): a slow phase of this shared machine then lands on both sides instead
    of on whichever server ran during it. Queries/s per round; one stream each at the end."""
    results = {target.name: {kind: [] for kind, _ in KINDS} for target in targets}
    for round_ in range(rounds):
        for kind, _ in KINDS:
            for target in (targets if round_ % 2 == 0 else targets[::-1]):
                results[target.name][kind].append(target.point_queries(kind, hosts))
    for target in targets:
        results[target.name]["stream"] = target.stream()
    return results


def main():
    parser = argparse.ArgumentParser()
    add_data_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the point-query measures (default 3)")
    args = parser.parse_args()
    stem = pathlib.Path(args.data) / f"cpu-{args.hosts}h-{args.rows}r"
    ilp, csv = stem.with_suffix(".ilp"), stem.with_suffix(".csv")
    hosts = [f"host_{i}" for i in range(args.hosts)]
    columns = ", ".join(["ts"] + TAGS + FIELDS)

    Sundial.extra_env = {"QDB_SQL_QUERY_MEMORY_LIMIT": "16g", "QDB_QUERY_TIMEOUT": "600000"}
    node = Sundial(args.workdir)
    try:
        payload, _ = http_requests(ilp, 10_000, node.http)
        send_all_http(node.http, payload, 1)
        del payload
        node.wait_applied(args.rows)
        url = f"http://127.0.0.1:{node.http}/exec"
        assert requests.get(url, params={"query": "alter table cpu rename column timestamp to ts"}).status_code == 200
        sundial = Target(
            "Sundial", node.pg, "admin", "qdb", "quest",
            "SELECT * FROM cpu WHERE hostname = '{host}' LATEST ON ts PARTITION BY hostname",
            "SELECT * FROM cpu WHERE hostname = $1 LATEST ON ts PARTITION BY hostname", f"SELECT {columns} FROM cpu")
        with postgres(args.workdir, ["work_mem=256MB", "shared_buffers=2GB", "max_wal_size=20GB"]) as conn:
            load_postgres_cpu(conn, csv)
            conn.execute("CREATE INDEX ON cpu (hostname, ts DESC)")
            conn.execute("VACUUM ANALYZE cpu")
            conn.execute("ALTER USER postgres PASSWORD 'pg'")
            peer = Target(
                "PostgreSQL 15", conn.info.port, "postgres", "postgres", "pg",
                "SELECT * FROM cpu WHERE hostname = '{host}' ORDER BY ts DESC LIMIT 1",
                "SELECT * FROM cpu WHERE hostname = $1 ORDER BY ts DESC LIMIT 1", f"SELECT {columns} FROM cpu")
            results = compare([sundial, peer], hosts, args.rounds)
    finally:
        node.stop()

    ours, theirs = results["Sundial"], results["PostgreSQL 15"]
    print(f"\nPG wire, {args.rows:,} rows, asyncpg × {CONNECTIONS} connections, {SECONDS:.0f} s a measure, "
          f"{args.rounds} alternating rounds (mean; the rounds in brackets)")
    print(f"{'measure':<34}{'Sundial':>14}{'PostgreSQL 15':>16}{'ratio':>8}   rounds (Sundial / PostgreSQL)")
    for key, label in KINDS:
        a, b = statistics.mean(ours[key]), statistics.mean(theirs[key])
        per_round = ", ".join(f"{x:,.0f} / {y:,.0f}" for x, y in zip(ours[key], theirs[key]))
        print(f"{label:<34}{a:>14,.0f}{b:>16,.0f}{a / b:>8.2f}   {per_round}")
    (s_rows, s_bytes, s_seconds), (p_rows, p_bytes, p_seconds) = ours["stream"], theirs["stream"]
    for name, rows in [("Sundial", s_rows), ("PostgreSQL 15", p_rows)]:
        assert rows == args.rows, (name, rows)
    s_rate, p_rate = s_rows / s_seconds, p_rows / p_seconds
    s_mb, p_mb = s_bytes / s_seconds / 1e6, p_bytes / p_seconds / 1e6
    print(f"{'stream all rows, binary (rows/s)':<34}{s_rate:>14,.0f}{p_rate:>16,.0f}{s_rate / p_rate:>8.2f}")
    print(f"{'stream all rows, binary (MB/s)':<34}{s_mb:>14,.1f}{p_mb:>16,.1f}{s_mb / p_mb:>8.2f}")
    print(f"{'stream, seconds':<34}{s_seconds:>14.2f}{p_seconds:>16.2f}")


if __name__ == "__main__":
    main()
