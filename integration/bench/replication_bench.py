"""Replication benchmark (issue 7, PERFORMANCE §3.5/§6.3): Sundial primary + 2 replicas over
mutual TLS on this machine, beside PostgreSQL 15 streaming replication over TLS, in one run.

Measured:
  * replication lag — primary acknowledgement of a probe row → the row visible to a query on a
    replica — probed every 10 ms, p50/p99/max, while a paced load of `--rate` rows/s (TSBS cpu
    rows, 1,000-row ILP/HTTP requests) runs; the same for PostgreSQL (COPY batches of 1,000 rows,
    probe INSERT acknowledged → visible on the hot standby);
  * primary throughput (rows/s until applied on the primary, 10k-row requests on 1 connection)
    over the first half of `--max-rows`, with no replica, with 1 and with 2, alternated in two rounds
    of a quarter each — no probe runs then: its reader polls a replica in a loop, CPU the run
    alone would not have to share;
  * the probe while the primary ingests the second half as fast as it can, and whether the
    replicas' apply lag grew over that run;
  * a sustained run at the maximum rate for `--sustained-seconds` (default 5 minutes): the
    replicas' apply lag in the first and the last minute (`sustained_run`: small rows into a
    table with a TTL, since TSBS rows at that rate would need ~200 GB for three copies);
  * catch-up: a replica stopped while `--catchup-rows` rows (default 10 M, into a table of
    their own) are written, then restarted: rows/s until it has applied everything, against
    the ingest rate;
  * compression ratio (column bytes of a row ÷ LZ4 bytes shipped per row; also WAL ÷ LZ4) and primary CPU spent per core with replicas
    minus without, at the maximum rate.

    integration/.venv/bin/python integration/bench/replication_bench.py --rows 10000000
"""
import argparse
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psycopg
import requests

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from conftest import free_ports  # noqa: E402
from ilp_bench import STORAGE_BENCH, cpu_seconds, read_response, send_all_http, wait_healthy  # noqa: E402
from postgres_peer import PG_BIN  # noqa: E402
from tsbs_generate import generate  # noqa: E402

ROOT = HERE.parents[1]
BINARY = pathlib.Path(os.environ.get("SUNDIAL_BINARY", ROOT / ".build" / "release" / "sundial"))


class Node:
    def __init__(self, base, name, role, certs, primary_port=None, replication_port=None):
        self.name = name
        self.dir = base / name
        self.http, self.health, self.tcp, self.pg = free_ports(4)
        self.replication = replication_port or free_ports(1)[0]
        env = {k: v for k, v in os.environ.items() if not k.startswith("QDB_")}
        env.update({
            "QDB_HTTP_NET_BIND_TO": f"127.0.0.1:{self.http}", "QDB_HTTP_MIN_NET_BIND_TO": f"127.0.0.1:{self.health}",
            "QDB_LINE_TCP_NET_BIND_TO": f"127.0.0.1:{self.tcp}", "QDB_PG_NET_BIND_TO": f"127.0.0.1:{self.pg}",
            "QDB_LOG_LEVEL": "warning",
        })
        if role != "none":
            env.update({
                "QDB_REPLICATION_ROLE": role, "QDB_REPLICATION_BIND_TO": f"127.0.0.1:{self.replication}",
                "QDB_REPLICATION_TLS_CA": str(certs / "ca.pem"), "QDB_REPLICATION_TLS_CERT": str(certs / f"{name}.pem"),
                "QDB_REPLICATION_TLS_KEY": str(certs / f"{name}.key"),
            })
            if role == "replica":
                env["QDB_REPLICATION_PRIMARY"] = f"localhost:{primary_port}"
        self.env = env
        self.process = None
        self.start()

    def start(self):
        self.log = open(self.dir.parent / f"{self.name}.log", "ab")
        self.process = subprocess.Popen([str(BINARY), "serve", "--data-dir", str(self.dir)],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        wait_healthy(self.health, self.name)

    def status(self):
        return requests.get(f"http://127.0.0.1:{self.health}/status.json", timeout=5).json()

    def metric(self, name):
        total = 0.0
        for line in requests.get(f"http://127.0.0.1:{self.health}/metrics", timeout=5).text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=600)
        self.log.close()


def wait_applied(node, timeout=900):
    """Waits until `node` has applied everything it committed (rows visible to its queries)."""
    deadline = time.monotonic() + timeout
    while True:
        positions = node.status()["positions"]
        if positions["appliedTxn"] >= positions["durableTxn"]:
            return
        assert time.monotonic() < deadline, f"{node.name} did not apply its WAL"
        time.sleep(0.01)


def wait_caught_up(primary, replicas, timeout=900):
    target = primary.status()["positions"]["durableTxn"]
    deadline = time.monotonic() + timeout
    while any(r.status()["positions"]["appliedTxn"] < target for r in replicas):
        assert time.monotonic() < deadline, "replicas did not catch up"
        time.sleep(0.01)


def percentiles(samples):
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": pick(0.50) * 1000, "p99": pick(0.99) * 1000, "max": ordered[-1] * 1000, "n": len(ordered)}


class Pacer(threading.Thread):
    """Sends pre-built requests at `per_second` requests/s (or as fast as possible) until stopped."""

    def __init__(self, send, items, per_second=None):
        super().__init__(daemon=True)
        self.send, self.items, self.per_second = send, items, per_second
        self.halt = threading.Event()
        self.sent = 0

    def run(self):
        start = time.monotonic()
        for item in self.items:
            if self.halt.is_set():
                return
            if self.per_second:
                due = start + self.sent / self.per_second
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            self.send(item)
            self.sent += 1


def sundial_http_sender(port):
    import socket
    sock = socket.create_connection(("127.0.0.1", port))
    buffer = [b""]

    def send(request):
        sock.sendall(request)
        buffer[0] = read_response(sock, buffer[0])
    return send


def probe_sundial(primary, replicas, seconds, until=None):
    """Acknowledged probe row → visible on a replica (alternating), every 10 ms, for `seconds`
    or until the event `until` is set."""
    import socket
    sock = socket.create_connection(("127.0.0.1", primary.http))
    readers = [psycopg.connect(f"host=127.0.0.1 port={r.pg} user=admin password=quest dbname=qdb", autocommit=True)
               for r in replicas]
    samples, buffer, k = [], b"", 0
    body = b"probe id=0i\n"
    head = f"POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    sock.sendall(head + body)
    buffer = read_response(sock, buffer)
    for reader in readers:
        while reader.execute("SELECT count(*) FROM tables() WHERE table_name = 'probe'").fetchone()[0] == 0:
            time.sleep(0.01)
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (until and until.is_set()):
        k += 1
        body = f"probe id={k}i\n".encode()
        sock.sendall(f"POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        buffer = read_response(sock, buffer)
        acknowledged = time.monotonic()
        reader = readers[k % len(readers)]
        while (reader.execute("SELECT max(id) FROM probe").fetchone()[0] or 0) < k:
            pass
        samples.append(time.monotonic() - acknowledged)
        time.sleep(max(0.0, 0.010 - (time.monotonic() - acknowledged)))
    for reader in readers:
        reader.close()
    sock.close()
    return percentiles(samples)


def load_lines(path, count):
    """The first `count` lines of an ILP file (without their newlines)."""
    import itertools
    with open(path, "rb") as f:
        return [line.rstrip(b"\n") for line in itertools.islice(f, count)]


def requests_for(lines, per_request, table=None):
    """Ready-to-send /write requests of `per_request` lines; `table` renames the measurement."""
    out = []
    for start in range(0, len(lines), per_request):
        body = b"\n".join(lines[start:start + per_request]) + b"\n"
        if table:
            body = body.replace(b"\ncpu,", b"\n" + table.encode() + b",")
            body = table.encode() + body[3:] if body.startswith(b"cpu,") else body
        out.append(f"POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    return out


def sundial_run(args, base, ilp_path):
    certs = base / "certs"
    subprocess.run(["sh", str(ROOT / "deploy" / "tls" / "make-certs.sh"), str(certs), "primary", "replica1", "replica2",
                    "pair-primary", "pair-replica"], check=True, capture_output=True)
    results = {}
    # Every table gets its rows once, in time order, so no phase pays for out-of-order merges:
    # rows [0, max) for the maximum-rate run (and the no-replica run, on its own node), the
    # paced load from the rows after those, renamed, and catch-up from the file's first
    # `catchup` rows again into a table of its own — so the 10 M rows fit a 10 M-row file.
    paced_rows = int(args.rate * (args.probe_seconds + 2))
    lines = load_lines(ilp_path, max(args.max_rows + paced_rows, args.catchup_rows))
    assert len(lines) >= max(args.max_rows + paced_rows, args.catchup_rows), "--rows does not cover every phase"
    large = requests_for(lines[:args.max_rows], 10_000)
    half = len(large) // 2
    throughput_requests, max_rate_requests = large[:half], large[half:]
    catchup = requests_for(lines[:args.catchup_rows], 10_000, table="cpu_catchup")
    small = requests_for(lines[args.max_rows:args.max_rows + paced_rows], 1000, table="cpu_paced")
    del lines

    primary = Node(base, "primary", "primary", certs)
    replicas = [Node(base, f"replica{i}", "replica", certs, primary_port=primary.replication) for i in (1, 2)]

    # Lag at the paced rate.
    pacer = Pacer(sundial_http_sender(primary.http), small, per_second=args.rate / 1000)
    pacer.start()
    time.sleep(1)
    results["lag_paced"] = probe_sundial(primary, replicas, args.probe_seconds)
    pacer.halt.set()
    pacer.join()
    wait_caught_up(primary, replicas)

    # Maximum rate, first half: throughput alone, with 1 replica and with 2, in alternating
    # rounds of a quarter each (a node alone, role none, and a primary with one replica, each on
    # fresh directories deleted after it; then the cluster's primary on the same rows), with no
    # probe running. PERFORMANCE §6.3 states the goal for one replica on this box (its
    # PostgreSQL anchor has one standby); the cluster's two replicas apply every row on the
    # same two cores. This VM makes the first write into a page the host took back ~3 µs
    # dearer, and pages freed a moment ago are not taken back yet: a phase right after
    # another's data was deleted runs faster, so no side gets the only such start.
    before_raw = primary.metric('sundial_replication_shipped_bytes_total{encoding="raw"}')
    before_lz4 = primary.metric('sundial_replication_shipped_bytes_total{encoding="lz4"}')
    quarter = half // 2
    totals = {label: [0.0, 0.0, 0] for label in ("alone", "paired", "replicated")}  # seconds, CPU seconds, rows
    for round_requests in (throughput_requests[:quarter], throughput_requests[quarter:]):
        for label in ("alone", "paired", "replicated"):
            extra = []
            if label == "alone":
                node = Node(base, "alone", "none", certs)
            elif label == "paired":
                node = Node(base, "pair-primary", "primary", certs)
                extra = [Node(base, "pair-replica", "replica", certs, primary_port=node.replication)]
            else:
                node = primary
            cpu0, t0 = cpu_seconds(node.process.pid), time.monotonic()
            # One connection: two would commit neighbouring batches out of order, and every
            # out-of-order commit rewrites the partition (see Docs/benchmarks.md).
            send_all_http(node.http, round_requests, 1)
            wait_applied(node)
            totals[label][0] += time.monotonic() - t0
            totals[label][1] += cpu_seconds(node.process.pid) - cpu0
            totals[label][2] += len(round_requests) * 10_000
            if node is not primary:
                for done in [*extra, node]:
                    done.stop()
                    shutil.rmtree(done.dir, ignore_errors=True)
        wait_caught_up(primary, replicas)
    for label, (seconds, cpu, rows) in totals.items():
        results[f"{label}_rows_per_s"] = rows / seconds
        results[f"{label}_cpu_per_s"] = cpu / seconds

    # Second half: lag probed at the maximum rate, and whether apply lag grows.
    senders = [Pacer(sundial_http_sender(primary.http), max_rate_requests)]
    for sender in senders:
        sender.start()
    lag_txns = []
    probe = {}
    finished = threading.Event()
    prober = threading.Thread(target=lambda: probe.update(probe_sundial(primary, replicas, 3600, until=finished)))
    prober.start()
    while any(sender.is_alive() for sender in senders):
        report = primary.status()["replicas"]
        lag_txns.append(max((r["applyLag"]["txns"] or 0) for r in report))
        time.sleep(0.5)
    wait_applied(primary)
    finished.set()
    prober.join()
    sent_rows = (len(throughput_requests) + sum(sender.sent for sender in senders)) * 10_000
    results["lag_max_rate"] = probe
    third = max(1, len(lag_txns) // 3)
    results["apply_lag_txns_first_third"] = statistics.mean(lag_txns[:third])
    results["apply_lag_txns_last_third"] = statistics.mean(lag_txns[-third:])
    wait_caught_up(primary, replicas)
    raw = primary.metric('sundial_replication_shipped_bytes_total{encoding="raw"}') - before_raw
    lz4 = primary.metric('sundial_replication_shipped_bytes_total{encoding="lz4"}') - before_lz4
    results["compression_ratio"] = raw / lz4 if lz4 else float("nan")
    # Against the data itself: the bytes a row takes in the primary's column files (TSBS rows
    # are fixed-width) over the LZ4 bytes shipped per row to each replica. The WAL's own
    # encoding (narrowed integer columns, decision 0034) is part of what shipping saves.
    column_bytes = sum(path.stat().st_size for path in (primary.dir / "db").glob("cpu~*/*/*.d"))
    stored_rows = requests.get(f"http://127.0.0.1:{primary.http}/exec", params={"query": "select count() from cpu"},
                               timeout=60).json()["dataset"][0][0]
    results["column_bytes_per_row"] = column_bytes / stored_rows
    results["shipped_bytes_per_row"] = lz4 / (len(replicas) * sent_rows)
    results["wal_bytes_per_row"] = raw / (len(replicas) * sent_rows)
    print(f"sundial so far: {results}", flush=True)

    # Catch-up of a replica that missed `catchup_rows` rows.
    replicas[1].stop()
    t0 = time.monotonic()
    send_all_http(primary.http, catchup, 1)
    wait_applied(primary)
    results["catchup_ingest_rows_per_s"] = args.catchup_rows / (time.monotonic() - t0)
    t0 = time.monotonic()
    replicas[1].start()
    results["catchup_start_seconds"] = time.monotonic() - t0
    wait_caught_up(primary, [replicas[1]])
    results["catchup_rows_per_s"] = args.catchup_rows / (time.monotonic() - t0)
    # Column bytes the catching-up replica wrote past the page cache (decision 0045).
    results["catchup_direct_bytes"] = replicas[1].metric("sundial_storage_direct_write_bytes_total")
    if args.sustained_seconds:
        results["sustained"] = sustained_run(primary, replicas, args.sustained_seconds)
    for node in [*replicas, primary]:
        node.stop()
    return results


def sustained_run(primary, replicas, seconds):
    """The primary at its maximum rate for `seconds` (one compiled writer, 10 000-row requests
    of small rows), its two replicas following: the replicas' apply lag sampled each second,
    compared between the first and the last minute. TSBS rows at ~1 M rows/s for 5 minutes
    would need ~200 GB for three copies; these rows (a SYMBOL, a LONG and the timestamp) go to
    an hourly-partitioned table with a 2-hour TTL and timestamps 360 µs apart, so the nodes
    drop partitions as they go and keep ~3 hours = ~30 M rows each."""
    query = ("CREATE TABLE sustained0 (host SYMBOL, v LONG, timestamp TIMESTAMP) TIMESTAMP(timestamp) "
             "PARTITION BY HOUR TTL 2 HOURS")
    response = requests.get(f"http://127.0.0.1:{primary.http}/exec", params={"query": query}, timeout=60)
    assert response.status_code == 200, response.text
    wait_caught_up(primary, replicas)
    loader = subprocess.Popen(
        [str(STORAGE_BENCH), "ilp-requests", "--port", str(primary.http), "--clients", "1", "--seconds", str(seconds),
         "--rows-per-request", "10000", "--table", "sustained", "--table-per-client", "--timestamp-step", "360000"],
        stdout=subprocess.PIPE, text=True)
    samples = []  # (seconds since start, max apply lag in txns, in seconds)
    started = time.monotonic()
    while loader.poll() is None:
        reports = primary.status()["replicas"]
        lags = [r["applyLag"] for r in reports]
        samples.append((time.monotonic() - started, max((lag["txns"] or 0) for lag in lags),
                        max((lag["seconds"] or 0.0) for lag in lags)))
        time.sleep(1.0)
    output = loader.stdout.read()
    if loader.wait() != 0:
        raise RuntimeError(f"the sustained run's loader failed (exit {loader.returncode}); see its message above")
    report = json.loads(output)
    minute = min(60.0, seconds / 3)
    first = [s for s in samples if s[0] <= minute]
    last = [s for s in samples if s[0] >= samples[-1][0] - minute]
    t0 = time.monotonic()
    wait_caught_up(primary, replicas)
    result = {
        "seconds": report["seconds"], "rows_per_s": report["rows"] / report["seconds"],
        "lag_txns_first": statistics.mean(s[1] for s in first), "lag_txns_last": statistics.mean(s[1] for s in last),
        "lag_seconds_first": statistics.mean(s[2] for s in first), "lag_seconds_last": statistics.mean(s[2] for s in last),
        "lag_seconds_max": max(s[2] for s in samples), "drain_seconds": time.monotonic() - t0,
        "kept_rows": requests.get(f"http://127.0.0.1:{replicas[0].http}/exec", params={"query": "select count() from sustained0"},
                                  timeout=60).json()["dataset"][0][0],
    }
    print(f"sustained: {result}", flush=True)
    return result


# --- PostgreSQL 15 streaming replication over TLS ---

def run_as_postgres(command, **kwargs):
    user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(user + command, check=True, capture_output=True, **kwargs)


def start_postgres(data, port, sockets):
    user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    process = subprocess.Popen(user + [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
                                       "-c", "listen_addresses=127.0.0.1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            return process, psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True)
        except psycopg.OperationalError:
            assert time.monotonic() < deadline, "postgres did not start"
            time.sleep(0.1)


def postgres_run(args, workdir):
    base = pathlib.Path(tempfile.mkdtemp(prefix="pg-repl-", dir=workdir))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    primary_dir, standby_dir, sockets = base / "primary", base / "standby", base / "sock"
    run_as_postgres(["mkdir", str(sockets)])
    run_as_postgres([str(PG_BIN / "initdb"), "-D", str(primary_dir), "-A", "trust", "-U", "postgres"])
    run_as_postgres(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-days", "2", "-subj", "/CN=localhost", "-keyout", str(primary_dir / "server.key"),
                     "-out", str(primary_dir / "server.crt")])
    with open(primary_dir / "postgresql.auto.conf", "a") as conf:
        conf.write("ssl = on\nwal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n"
                   "shared_buffers = 512MB\nmax_wal_size = 4GB\n")
    primary_port, standby_port = free_ports(2)
    processes = []
    try:
        process, primary = start_postgres(primary_dir, primary_port, sockets)
        processes.append(process)
        run_as_postgres([str(PG_BIN / "pg_basebackup"), "-D", str(standby_dir), "-R", "-X", "stream",
                         "-d", f"host=127.0.0.1 port={primary_port} user=postgres sslmode=require"])
        process, standby = start_postgres(standby_dir, standby_port, sockets)
        processes.append(process)
        assert primary.execute("SELECT ssl FROM pg_stat_ssl JOIN pg_stat_replication USING (pid)").fetchone()[0], \
            "the standby must stream over TLS"
        primary.execute("CREATE TABLE cpu (ts timestamptz, hostname text, usage_user double precision, "
                        "usage_system double precision, usage_idle double precision)")
        primary.execute("CREATE TABLE probe (id bigint)")
        results = {}
        batch = [(f"2024-01-01 00:00:{i % 60:02d}+00", f"host_{i % 100}", i * 0.1, i * 0.2, i * 0.3) for i in range(1000)]

        def load(rate_batches, halt):
            with psycopg.connect(host="127.0.0.1", port=primary_port, user="postgres", dbname="postgres",
                                 autocommit=True) as connection:
                start, sent = time.monotonic(), 0
                while not halt.is_set():
                    if rate_batches:
                        delay = start + sent / rate_batches - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    with connection.cursor().copy("COPY cpu FROM STDIN") as copy:
                        for row in batch:
                            copy.write_row(row)
                    sent += 1
                load.sent = sent

        def probe(seconds):
            samples, k = [], 0
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                k += 1
                primary.execute("INSERT INTO probe VALUES (%s)", (k,))
                acknowledged = time.monotonic()
                while (standby.execute("SELECT max(id) FROM probe").fetchone()[0] or 0) < k:
                    pass
                samples.append(time.monotonic() - acknowledged)
                time.sleep(max(0.0, 0.010 - (time.monotonic() - acknowledged)))
            return percentiles(samples)

        for name, rate, seconds in [("lag_paced", args.rate / 1000, args.probe_seconds), ("lag_max_rate", None, args.max_seconds)]:
            halt = threading.Event()
            loaders = [threading.Thread(target=load, args=(rate, halt)) for _ in range(1 if rate else 2)]
            for loader in loaders:
                loader.start()
            time.sleep(1)
            results[name] = probe(seconds)
            print(f"postgres {name}: {results[name]}", flush=True)
            halt.set()
            for loader in loaders:
                loader.join()
        return results
    finally:
        for data in (standby_dir, primary_dir):
            if data.exists():
                subprocess.run((["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
                               + [str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                               capture_output=True)
        for process in processes:
            process.wait(timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="TSBS rows generated (must cover all phases)")
    parser.add_argument("--rate", type=int, default=100_000, help="paced load, rows/s")
    parser.add_argument("--probe-seconds", type=float, default=20.0)
    parser.add_argument("--max-rows", type=int, default=4_000_000, help="rows of the maximum-rate run")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="length of PostgreSQL's maximum-rate run")
    parser.add_argument("--catchup-rows", type=int, default=10_000_000,
                        help="rows written while one replica is down (the issue's 10 M), into their own table")
    parser.add_argument("--sustained-seconds", type=float, default=300.0,
                        help="length of the sustained maximum-rate run (0: none)")
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    args = parser.parse_args()
    ilp_path, _ = generate(1000, args.rows, "/tmp/sundial-tsbs")
    base = pathlib.Path(tempfile.mkdtemp(prefix="sundial-repl-bench-", dir=args.workdir))
    try:
        sundial = sundial_run(args, base, ilp_path)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    pg = postgres_run(args, args.workdir)

    def lag_line(label, ours, theirs):
        return (f"| {label} | {ours['p50']:.1f} / {ours['p99']:.1f} / {ours['max']:.1f} ms (n={ours['n']}) "
                f"| {theirs['p50']:.1f} / {theirs['p99']:.1f} / {theirs['max']:.1f} ms (n={theirs['n']}) "
                f"| {theirs['p50'] / ours['p50']:.2f}× / {theirs['p99'] / ours['p99']:.2f}× |")

    print("| measure | Sundial (2 replicas, mTLS) | PostgreSQL 15 (1 standby, TLS) | PG ÷ Sundial |")
    print("|---|---|---|---|")
    print(lag_line(f"lag at {args.rate:,} rows/s, p50 / p99 / max", sundial["lag_paced"], pg["lag_paced"]))
    print(lag_line("lag at maximum rate, p50 / p99 / max", sundial["lag_max_rate"], pg["lag_max_rate"]))
    print()
    print(f"primary throughput: alone {sundial['alone_rows_per_s']:,.0f} rows/s, with 1 replica "
          f"{sundial['paired_rows_per_s']:,.0f} rows/s ({sundial['paired_rows_per_s'] / sundial['alone_rows_per_s']:.2f}×), with 2 replicas "
          f"{sundial['replicated_rows_per_s']:,.0f} rows/s ({sundial['replicated_rows_per_s'] / sundial['alone_rows_per_s']:.2f}×)")
    print(f"apply lag (txns) over the maximum-rate run: first third {sundial['apply_lag_txns_first_third']:.1f}, "
          f"last third {sundial['apply_lag_txns_last_third']:.1f}")
    print(f"catch-up: {sundial['catchup_rows_per_s']:,.0f} rows/s vs ingest {sundial['catchup_ingest_rows_per_s']:,.0f} rows/s "
          f"({sundial['catchup_rows_per_s'] / sundial['catchup_ingest_rows_per_s']:.2f}×; "
          f"the replica's restart until healthy took {sundial['catchup_start_seconds']:.2f} s of it; "
          f"{sundial['catchup_direct_bytes'] / 1e6:,.0f} MB of its column writes past the page cache)")
    print(f"compression: {sundial['column_bytes_per_row']:.1f} column bytes a row ÷ {sundial['shipped_bytes_per_row']:.1f} shipped "
          f"= {sundial['column_bytes_per_row'] / sundial['shipped_bytes_per_row']:.2f}× "
          f"(WAL {sundial['wal_bytes_per_row']:.1f} bytes a row; its LZ4 ratio {sundial['compression_ratio']:.2f}×)")
    if "sustained" in sundial:
        run = sundial["sustained"]
        print(f"sustained maximum rate: {run['rows_per_s']:,.0f} rows/s for {run['seconds']:.0f} s; replicas' apply lag, "
              f"first minute {run['lag_txns_first']:.1f} txns / {run['lag_seconds_first'] * 1000:.1f} ms, last minute "
              f"{run['lag_txns_last']:.1f} txns / {run['lag_seconds_last'] * 1000:.1f} ms (max {run['lag_seconds_max'] * 1000:.1f} ms); "
              f"drained {run['drain_seconds']:.2f} s after; rows kept under the TTL {run['kept_rows']:,}")
    print(f"primary CPU: {sundial['alone_cpu_per_s']:.2f} cores alone, {sundial['replicated_cpu_per_s']:.2f} with 2 replicas; "
          f"per 1 M rows/s: {sundial['alone_cpu_per_s'] / sundial['alone_rows_per_s'] * 1e6:.2f} vs "
          f"{sundial['replicated_cpu_per_s'] / sundial['replicated_rows_per_s'] * 1e6:.2f} cores")


if __name__ == "__main__":
    main()
