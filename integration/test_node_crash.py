"""kill -9 of a whole node under mixed load (RELIABILITY §6.1 D1 in `sync`, D2 in `async` and
`nosync` commit modes: a process crash leaves the page cache, so no mode may lose an
acknowledged row to it).

Each cycle starts the node on the same data directory, runs at once an ILP/HTTP writer
(`requests`, 50-row requests), a PG writer (psycopg, autocommit 10-row INSERTs), a CSV
uploader (`/imp`, 200-row files), and a PG reader, then SIGKILLs the node at a random moment.
The PG writer's timestamps are random (late rows, merged into partitions); the others are in
order. After every restart:
- every acknowledged row is there (ILP 204, INSERT's CommandComplete, `/imp` status OK);
- no phantom rows: every id present was sent, and no id is there twice;
- no partial transaction: each request, statement or upload is all there or all absent;
- the node starts every time, and rows of earlier cycles never vanish.

SUNDIAL_NODE_CRASH_CYCLES sets the number of cycles of every mode (default 20 in sync, 8 in
async and nosync; RELIABILITY's gate is 1 000 in sync, 500 in each other mode).
"""
import os
import random
import threading
import time

import psycopg
import pytest
import requests

from conftest import Node

HTTP_ROWS, PG_ROWS, IMP_ROWS = 50, 10, 200
BASE_MICROS = 1_700_000_000_000_000  # 2023-11-14T22:13:20Z


class Writer:
    """One load thread: sends numbered batches until the node dies or `stop` is set, keeping
    what was sent and what was acknowledged (a batch is a tuple of ids)."""

    def __init__(self, name, send, first_id):
        self.name, self.send, self.next_id = name, send, first_id
        self.sent, self.acked = [], []
        self.stop = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            batch = tuple(range(self.next_id, self.next_id + self.size))
            self.next_id += self.size
            self.sent.append(batch)
            try:
                self.send(batch)
            except Exception as error:  # the node was killed mid-request, or refused it
                self.error = error
                return
            self.acked.append(batch)


def ts(row_id):
    return BASE_MICROS + row_id


def iso(micros):
    seconds, fraction = divmod(micros, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:06d}Z"


def http_sender(node):
    session = requests.Session()

    def send(batch):
        body = "".join(f"crash_http id={i}i {ts(i) * 1000}\n" for i in batch).encode()
        response = session.post(f"{node.http_url}/write", data=body, timeout=10)
        if response.status_code != 204:
            raise RuntimeError(f"ILP answered {response.status_code}: {response.text}")
    return send


def pg_sender(node, rng):
    conn = psycopg.connect(node.pg_dsn, autocommit=True, connect_timeout=5)

    def send(batch):
        # Timestamps anywhere in a 3-hour window: most INSERTs land among rows already
        # applied, so kills also hit out-of-order merges and held late runs.
        values = ", ".join(f"({i}, '{iso(BASE_MICROS + rng.randrange(10_800_000_000))}')" for i in batch)
        conn.execute(f"INSERT INTO crash_pg VALUES {values}")
    return send


def imp_sender(node):
    session = requests.Session()

    def send(batch):
        csv = "id,ts\n" + "".join(f"{i},{iso(ts(i))}\n" for i in batch)
        response = session.post(f"{node.http_url}/imp", params={"name": "crash_imp", "timestamp": "ts", "fmt": "json"},
                                files={"data": ("rows.csv", csv.encode())}, timeout=30)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "OK" or body.get("rowsImported") != len(batch):
            raise RuntimeError(f"/imp answered {response.status_code}: {response.text}")
    return send


def reader(node, stop):
    try:
        with psycopg.connect(node.pg_dsn, autocommit=True, connect_timeout=5) as conn:
            while not stop.is_set():
                conn.execute("SELECT count(), max(ts) FROM crash_http").fetchone()
                conn.execute("SELECT id FROM crash_pg ORDER BY ts DESC LIMIT 5").fetchall()
    except Exception:
        pass  # killed


def present_ids(node, table, first_id):
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        ids = [row[0] for row in conn.execute(f"SELECT id FROM {table} WHERE id >= {first_id}").fetchall()]
        total = conn.execute(f"SELECT count() FROM {table}").fetchone()[0]
    return ids, total


@pytest.mark.parametrize("mode,default_cycles", [("sync", 20), ("async", 8), ("nosync", 8)])
def test_every_acknowledged_row_survives_kill_9_of_the_node_under_mixed_load(tmp_path, mode, default_cycles):
    cycles = int(os.environ.get("SUNDIAL_NODE_CRASH_CYCLES", default_cycles))
    rng = random.Random(20261127)
    node = Node(tmp_path / "data", env={"QDB_CAIRO_COMMIT_MODE": mode})
    node.start().wait_healthy()
    for table in ("crash_http", "crash_pg", "crash_imp"):
        response = requests.get(f"{node.http_url}/exec", timeout=10, params={
            "query": f"CREATE TABLE {table} (id LONG, ts TIMESTAMP) TIMESTAMP(ts) PARTITION BY DAY WAL"})
        assert response.status_code == 200, response.text
    expected_total = {"crash_http": 0, "crash_pg": 0, "crash_imp": 0}
    acked_total = 0
    try:
        for cycle in range(cycles):
            first = (cycle + 1) * 10_000_000
            writers = {
                "crash_http": Writer("ilp-http", http_sender(node), first),
                "crash_pg": Writer("pg-insert", pg_sender(node, random.Random(cycle)), first),
                "crash_imp": Writer("imp", imp_sender(node), first),
            }
            for table, writer in writers.items():
                writer.size = {"crash_http": HTTP_ROWS, "crash_pg": PG_ROWS, "crash_imp": IMP_ROWS}[table]
            stop_reader = threading.Event()
            read = threading.Thread(target=reader, args=(node, stop_reader), daemon=True)
            for writer in writers.values():
                writer.thread.start()
            read.start()
            time.sleep(rng.uniform(0.2, 1.2))
            node.kill()
            for writer in writers.values():
                writer.stop.set()
                writer.thread.join(timeout=30)
                assert not writer.thread.is_alive(), f"{writer.name} hangs after the kill"
            stop_reader.set()
            read.join(timeout=30)

            node.start().wait_healthy()
            for table, writer in writers.items():
                ids, total = present_ids(node, table, first)
                present = set(ids)
                sent = {i for batch in writer.sent for i in batch}
                acked = {i for batch in writer.acked for i in batch}
                where = f"cycle {cycle}, {table}"
                assert len(ids) == len(present), f"{where}: duplicated ids"
                assert acked <= present, f"{where}: {len(acked - present)} acknowledged rows lost"
                assert present <= sent, f"{where}: {len(present - sent)} phantom rows"
                for batch in writer.sent:
                    inside = sum(1 for i in batch if i in present)
                    assert inside in (0, len(batch)), f"{where}: {inside} of {len(batch)} rows of one transaction"
                expected_total[table] += len(present)
                # Earlier cycles' rows neither vanished nor came back twice.
                assert total == expected_total[table], f"{where}: {total} rows, {expected_total[table]} expected"
                acked_total += len(acked)
        # The load really ran: every writer got acknowledgements across the cycles.
        assert all(total > 0 for total in expected_total.values()), expected_total
        print(f"\n{mode}: {cycles} kill -9 cycles, {acked_total} acknowledged rows, 0 lost; rows kept per table: {expected_total}")
    finally:
        node.kill()
