"""Replication benchmark (issue 7, PERFORMANCE §3.5/§6.3): Sundial primary + 2 replicas over
mutual TLS on this machine, beside PostgreSQL 15 streaming replication over TLS, in one run.

Measured:
  * replication lag — primary acknowledgement of a probe row → the row visible to a query on a
    replica — probed every 10 ms, p50/p99/max, while a paced load of `--rate` rows/s (TSBS cpu
    rows, 1,000-row ILP/HTTP requests) runs; the same for PostgreSQL (COPY batches of 1,000 rows,
    probe INSERT acknowledged → visible on the hot standby);
  * the same probe while the primary ingests `--max-rows` as fast as it can, and whether the
    replicas' apply lag grew over that run (a 5-minute run at ~1 M rows/s would need ~200 GB
    for three copies: more disk than this machine has, so the run is bounded by rows);
  * primary throughput (rows/s until applied on the primary, 10k-row requests on 1 connection)
    with no replica and with 2;
  * catch-up: a replica stopped while `--catchup-rows` rows are written, then restarted: rows/s
    until it has applied everything, against the ingest rate;
  * compression ratio (column bytes of a row ÷ LZ4 bytes shipped per row; also WAL ÷ LZ4) and primary CPU spent per core with replicas
    minus without, at the maximum rate.

    integration/.venv/bin/python integration/bench/replication_bench.py --rows 10000000
"""
import argparse
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
from ilp_bench import cpu_seconds, read_response, send_all_http, wait_healthy  # noqa: E402
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
    subprocess.run(["sh", str(ROOT / "deploy" / "tls" / "make-certs.sh"), str(certs), "primary", "replica1", "replica2"],
                   check=True, capture_output=True)
    results = {}
    # Every row is sent once, in time order, so no phase pays for out-of-order merges: rows
    # [0, max) for the maximum-rate run (and the no-replica run, on its own node), [max,
    # max+catchup) for catch-up, and the paced load from the rows after those, renamed.
    paced_rows = int(args.rate * (args.probe_seconds + 2))
    lines = load_lines(ilp_path, args.max_rows + args.catchup_rows + paced_rows)
    large = requests_for(lines[:args.max_rows], 10_000)
    catchup = requests_for(lines[args.max_rows:args.max_rows + args.catchup_rows], 10_000)
    small = requests_for(lines[args.max_rows + args.catchup_rows:], 1000, table="cpu_paced")
    del lines

    # Throughput without replicas (same build, role none).
    alone = Node(base, "alone", "none", certs)
    cpu0, t0 = cpu_seconds(alone.process.pid), time.monotonic()
    send_all_http(alone.http, large, 1)
    wait_applied(alone)
    results["alone_rows_per_s"] = args.max_rows / (time.monotonic() - t0)
    results["alone_cpu_per_s"] = (cpu_seconds(alone.process.pid) - cpu0) / (time.monotonic() - t0)
    alone.stop()
    shutil.rmtree(alone.dir, ignore_errors=True)

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

    # Maximum rate: throughput with 2 replicas, probe lag, and whether apply lag grows.
    before_raw = primary.metric('sundial_replication_shipped_bytes_total{encoding="raw"}')
    before_lz4 = primary.metric('sundial_replication_shipped_bytes_total{encoding="lz4"}')
    cpu0, t0 = cpu_seconds(primary.process.pid), time.monotonic()
    # One connection: two would commit neighbouring batches out of order, and every out-of-order
    # commit rewrites the partition (a storage limitation measured here; see Docs/benchmarks.md).
    senders = [Pacer(sundial_http_sender(primary.http), large)]
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
    elapsed = time.monotonic() - t0
    finished.set()
    prober.join()
    sent_rows = sum(sender.sent for sender in senders) * 10_000
    results["replicated_rows_per_s"] = sent_rows / elapsed
    results["replicated_cpu_per_s"] = (cpu_seconds(primary.process.pid) - cpu0) / elapsed
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
    for node in [*replicas, primary]:
        node.stop()
    return results


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
    parser.add_argument("--catchup-rows", type=int, default=4_000_000)
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
    print(f"primary throughput: alone {sundial['alone_rows_per_s']:,.0f} rows/s, with 2 replicas "
          f"{sundial['replicated_rows_per_s']:,.0f} rows/s ({sundial['replicated_rows_per_s'] / sundial['alone_rows_per_s']:.2f}×)")
    print(f"apply lag (txns) over the maximum-rate run: first third {sundial['apply_lag_txns_first_third']:.1f}, "
          f"last third {sundial['apply_lag_txns_last_third']:.1f}")
    print(f"catch-up: {sundial['catchup_rows_per_s']:,.0f} rows/s vs ingest {sundial['catchup_ingest_rows_per_s']:,.0f} rows/s "
          f"({sundial['catchup_rows_per_s'] / sundial['catchup_ingest_rows_per_s']:.2f}×; "
          f"the replica's restart until healthy took {sundial['catchup_start_seconds']:.2f} s of it)")
    print(f"compression: {sundial['column_bytes_per_row']:.1f} column bytes a row ÷ {sundial['shipped_bytes_per_row']:.1f} shipped "
          f"= {sundial['column_bytes_per_row'] / sundial['shipped_bytes_per_row']:.2f}× "
          f"(WAL {sundial['wal_bytes_per_row']:.1f} bytes a row; its LZ4 ratio {sundial['compression_ratio']:.2f}×)")
    print(f"primary CPU: {sundial['alone_cpu_per_s']:.2f} cores alone, {sundial['replicated_cpu_per_s']:.2f} with 2 replicas; "
          f"per 1 M rows/s: {sundial['alone_cpu_per_s'] / sundial['alone_rows_per_s'] * 1e6:.2f} vs "
          f"{sundial['replicated_cpu_per_s'] / sundial['replicated_rows_per_s'] * 1e6:.2f} cores")


if __name__ == "__main__":
    main()
