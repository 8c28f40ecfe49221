"""ILP ingestion benchmark (issue 4, PERFORMANCE §6.1), side by side with PostgreSQL COPY.

In one run, on the same TSBS cpu-only rows (tsbs_generate.py):
  * Sundial over HTTP: 10 k-line requests, committed rows/s (clock stops when every row is
    applied, i.e. visible to readers) and server CPU-seconds per million rows;
  * Sundial over TCP: one stream of the whole file, same measures;
  * PostgreSQL 15 (Debian), started here on loopback: `COPY FROM STDIN` of the same rows as
    CSV on one connection, rows/s and backend CPU-seconds per million rows;
  * 1-row HTTP requests: requests/s and p99 acknowledgement latency (sync commit mode).
The three bulk loads alternate for `--rounds` rounds (default 3) and each is reported as the
median of its rounds, every round printed. Prints a table with the ratios. The loader only streams pre-built bytes so it is not the limit.

    integration/.venv/bin/python integration/bench/ilp_bench.py --rows 10000000
"""
import argparse
import json
import multiprocessing
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from postgres_peer import postgres  # noqa: E402
from tsbs_generate import generate  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from conftest import free_ports  # noqa: E402  (the test harness's: distinct ports, held while chosen)

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = pathlib.Path(os.environ.get("SUNDIAL_BINARY", ROOT / ".build" / "release" / "sundial"))
# The loaders and microbenchmarks come from this checkout's release build even when
# SUNDIAL_BINARY names another node binary.
STORAGE_BENCH = pathlib.Path(os.environ.get("SUNDIAL_STORAGE_BENCH", ROOT / ".build" / "release" / "sundial-storage-bench"))
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def server_cpu_seconds(backend_pid):
    """CPU of a PostgreSQL server: its postmaster and every process it started (the backend, but
    also the WAL writer, background writer and checkpointer, which write its pages)."""
    def stat(pid):
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    postmaster = int(stat(backend_pid)[1])
    total = cpu_seconds(postmaster)
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = stat(entry.name)
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == postmaster:
                total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def wait_healthy(health_port, name, timeout=30):
    """Waits for a node's health server to answer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{health_port}/", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"{name} did not start"
        time.sleep(0.05)


class Sundial:
    extra_env = {}

    def __init__(self, workdir):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="sundial-bench-", dir=workdir))
        self.http, self.health, self.tcp, self.pg = free_ports(4)
        env = {k: v for k, v in os.environ.items() if not k.startswith("QDB_")}
        env.update({"QDB_HTTP_NET_BIND_TO": f"127.0.0.1:{self.http}", "QDB_HTTP_MIN_NET_BIND_TO": f"127.0.0.1:{self.health}",
                    "QDB_LINE_TCP_NET_BIND_TO": f"127.0.0.1:{self.tcp}", "QDB_PG_NET_BIND_TO": f"127.0.0.1:{self.pg}",
                    "QDB_LOG_LEVEL": "warning"})
        env.update(Sundial.extra_env)
        self.log = open(self.dir / "node.log", "wb")
        self.process = subprocess.Popen([str(BINARY), "serve", "--data-dir", str(self.dir / "data")],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=env)
        wait_healthy(self.health, "sundial")

    def applied_rows(self):
        return self.metric("questdb_wal_apply_written_rows_total")

    def metric(self, name):
        for line in requests.get(f"http://127.0.0.1:{self.health}/metrics", timeout=5).text.splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
        return 0

    def wait_applied(self, rows, timeout=600):
        deadline = time.monotonic() + timeout
        while self.applied_rows() < rows:
            assert time.monotonic() < deadline, "rows never became visible"
            time.sleep(0.01)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def http_requests(ilp_path, lines_per_request, port):
    """The file as ready-to-send HTTP/1.1 requests of `lines_per_request` lines each."""
    with open(ilp_path, "rb") as f:
        lines = f.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for start in range(0, len(lines), lines_per_request):
        body = b"\n".join(lines[start:start + lines_per_request]) + b"\n"
        head = (f"POST /write HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        out.append(head + body)
    return out, len(lines)


def read_response(sock, buffer):
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += sock.recv(65536)
    status = int(head.split(b" ", 2)[1])
    assert status == 204, head + rest[:length]
    return rest[length:]


def send_all_http(port, requests_bytes, connections):
    def worker(chunk):
        sock = socket.create_connection(("127.0.0.1", port))
        buffer = b""
        for request in chunk:
            sock.sendall(request)
            buffer = read_response(sock, buffer)
        sock.close()
    threads = [threading.Thread(target=worker, args=(requests_bytes[i::connections],)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def bench_http(workdir, ilp_path, rows, connections):
    payload, count = http_requests(ilp_path, 10_000, 0)
    node = Sundial(workdir)
    try:
        payload = [p.replace(b"127.0.0.1:0", f"127.0.0.1:{node.http}".encode(), 1) for p in payload]
        cpu0 = cpu_seconds(node.process.pid)
        started = time.monotonic()
        send_all_http(node.http, payload, connections)
        node.wait_applied(count)
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(node.process.pid) - cpu0
    finally:
        node.stop()
    return count / elapsed, cpu / count * 1e6


def bench_tcp(workdir, ilp_path):
    data = pathlib.Path(ilp_path).read_bytes()
    count = data.count(b"\n")
    node = Sundial(workdir)
    try:
        cpu0 = cpu_seconds(node.process.pid)
        started = time.monotonic()
        sock = socket.create_connection(("127.0.0.1", node.tcp))
        view = memoryview(data)
        for offset in range(0, len(data), 1 << 20):
            sock.sendall(view[offset:offset + (1 << 20)])
        sock.close()
        node.wait_applied(count)
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(node.process.pid) - cpu0
    finally:
        node.stop()
    return count / elapsed, cpu / count * 1e6


def one_row_client(port, slot, connections, seconds, in_order=False):
    """One client process: 1-row requests back to back, each waiting for its acknowledgement.
    The clients' timestamps interleave (`i × connections + slot`), so about every other commit
    lands before rows already applied; `in_order` sends none and the server's clock decides."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    latencies = []
    buffer = b""
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        stamp = "" if in_order else f" {1_700_000_000_000_000_000 + i * connections + slot}"
        body = f"one,host=h{slot} v={i}i{stamp}\n".encode()
        request = (f"POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        t0 = time.perf_counter()
        sock.sendall(request)
        buffer = read_response(sock, buffer)
        latencies.append(time.perf_counter() - t0)
        i += 1
    sock.close()
    return latencies


def bench_one_row(workdir, connections, seconds=5.0, in_order=False, loader="native"):
    """1-row requests from `connections` clients at once, each waiting for its 204; concurrent
    commits share fsyncs. The native loader (`sundial-storage-bench ilp-requests`, a thread per
    client) costs a few µs per request; the Python one (a process per client, so no
    interpreter lock inflates the latencies) costs more CPU per request than the server's whole
    budget at 5 k req/s on two cores, and is kept to compare with earlier runs. Returns
    requests/s, p99 and p50 in ms, the server's CPU per request in µs, and how many applies
    merged late rows into a partition per 1 000 requests."""
    node = Sundial(workdir)
    try:
        cpu0 = cpu_seconds(node.process.pid)
        merges0 = node.metric("sundial_storage_out_of_order_merges_total")
        if loader == "native":
            command = [str(STORAGE_BENCH), "ilp-requests", "--port", str(node.http), "--clients", str(connections),
                       "--seconds", str(seconds)] + (["--in-order"] if in_order else [])
            report = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            count, p99, p50 = report["requests"], report["p99_ms"], report["p50_ms"]
        else:
            with multiprocessing.get_context("fork").Pool(connections) as pool:
                results = pool.starmap(one_row_client, [(node.http, slot, connections, seconds, in_order)
                                                        for slot in range(connections)])
            merged = sorted(x for per in results for x in per)
            count, p99, p50 = len(merged), merged[int(len(merged) * 0.99)] * 1000, merged[len(merged) // 2] * 1000
        cpu = cpu_seconds(node.process.pid) - cpu0
        merges = node.metric("sundial_storage_out_of_order_merges_total") - merges0
    finally:
        node.stop()
    return count / seconds, p99, p50, cpu / count * 1e6, merges / count * 1000


def bench_postgres(workdir, csv_path):
    with postgres(workdir) as conn:
        columns = ", ".join([f"{t} text" for t in ["hostname", "region", "datacenter", "rack", "os", "arch", "team",
                                                     "service", "service_version", "service_environment"]]
                            + [f"{f} bigint" for f in ["usage_user", "usage_system", "usage_idle", "usage_nice",
                                                        "usage_iowait", "usage_irq", "usage_softirq", "usage_steal",
                                                        "usage_guest", "usage_guest_nice"]] + ["ts bigint"])
        conn.execute(f"CREATE TABLE cpu ({columns})")
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        data_bytes = pathlib.Path(csv_path).read_bytes()
        header_end = data_bytes.index(b"\n") + 1
        rows = data_bytes.count(b"\n") - 1
        cpu0, all0 = cpu_seconds(backend), server_cpu_seconds(backend)
        started = time.monotonic()
        with conn.cursor() as cur:
            with cur.copy("COPY cpu FROM STDIN WITH (FORMAT csv)") as copy:
                view = memoryview(data_bytes)[header_end:]
                for offset in range(0, len(view), 1 << 20):
                    copy.write(view[offset:offset + (1 << 20)])
        elapsed = time.monotonic() - started
        cpu, all_cpu = cpu_seconds(backend) - cpu0, server_cpu_seconds(backend) - all0
        assert conn.execute("SELECT count(*) FROM cpu").fetchone()[0] == rows
    return rows / elapsed, cpu / rows * 1e6, all_cpu / rows * 1e6


def add_data_arguments(parser):
    """The data set and scratch options every benchmark over the TSBS files takes."""
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", 10_000_000)))
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--data", default="/tmp/sundial-tsbs")
    parser.add_argument("--workdir", default="/tmp")


def main():
    parser = argparse.ArgumentParser()
    add_data_arguments(parser)
    # One loader connection: requests arrive in time order, as TSBS data is (several
    # connections interleave requests and make later ones land out of order).
    parser.add_argument("--http-connections", type=int, default=1)
    parser.add_argument("--partition-by", help="line.default.partition.by for the Sundial runs (default DAY)")
    parser.add_argument("--http-only", action="store_true", help="only the HTTP load (e.g. to compare connection counts)")
    parser.add_argument("--connection-sweep", help="comma-separated HTTP connection counts to load with in one run, "
                        "each reported as a ratio to the first (out-of-order commits from several senders)")
    parser.add_argument("--one-row-only", action="store_true",
                        help="only 1-row requests from --clients clients, timestamps interleaved and then in order")
    parser.add_argument("--clients", type=int, default=4, help="1-row clients for --one-row-only (default 4)")
    parser.add_argument("--loader", choices=["native", "python"], default="native",
                        help="1-row load from sundial-storage-bench threads (default) or Python processes")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds of the HTTP, TCP and COPY loads; each measure is their median (default 3)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a server.conf key for every Sundial node of the run (as its QDB_ variable), "
                        "e.g. cairo.wal.apply.late.hold.micros=0 for an A/B comparison; repeatable")
    args = parser.parse_args()
    for setting in args.set:
        key, _, value = setting.partition("=")
        Sundial.extra_env["QDB_" + key.upper().replace(".", "_")] = value
    if args.one_row_only:
        for in_order in (False, True):
            rate, p99, p50, cpu, merges = bench_one_row(args.workdir, args.clients, in_order=in_order, loader=args.loader)
            print(f"1-row HTTP x{args.clients} ({args.loader}), {'in order' if in_order else 'interleaved'}: "
                  f"{rate:.0f} durable requests/s, "
                  f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, {cpu:.0f} µs server CPU/request, "
                  f"{merges:.0f} late merges per 1 000 requests", flush=True)
        return
    if args.partition_by:
        Sundial.extra_env["QDB_LINE_DEFAULT_PARTITION_BY"] = args.partition_by
    ilp_path, csv_path = generate(args.hosts, args.rows, args.data)
    print(f"data: {ilp_path} ({os.path.getsize(ilp_path) / 1e9:.2f} GB), load1 {os.getloadavg()[0]:.2f}", flush=True)
    if args.connection_sweep:
        base = None
        for connections in [int(c) for c in args.connection_sweep.split(",")]:
            rate, cpu = bench_http(args.workdir, ilp_path, args.rows, connections)
            base = base or rate
            print(f"sundial HTTP x{connections}: {rate / 1e6:.3f} M rows/s committed, {cpu:.3f} µs server CPU/row, "
                  f"{rate / base:.2f}x of x{args.connection_sweep.split(',')[0]} "
                  f"(partition by {args.partition_by or 'DAY'})", flush=True)
        return
    # The loads alternate, round after round, and each measure is the median of its rounds:
    # one load's CPU per row moves ±10 % from run to run here. This VM hands memory the guest
    # has left free for a few seconds back to the host (free page reporting), and a page
    # touched again costs ~8 µs, so what a load pays for its page-cache pages depends on what
    # ran in the seconds before it (Docs/benchmarks.md, "2026-11-29 (night)"). Every round
    # is printed.
    http_runs, tcp_runs, pg_runs = [], [], []
    for round_number in range(1, args.rounds + 1):
        http_runs.append(bench_http(args.workdir, ilp_path, args.rows, args.http_connections))
        print(f"round {round_number} HTTP  : {http_runs[-1][0] / 1e6:.3f} M rows/s committed, {http_runs[-1][1]:.3f} µs "
              f"server CPU/row ({args.http_connections} connection(s), partition by {args.partition_by or 'DAY'})", flush=True)
        if args.http_only:
            continue
        tcp_runs.append(bench_tcp(args.workdir, ilp_path))
        print(f"round {round_number} TCP   : {tcp_runs[-1][0] / 1e6:.3f} M rows/s committed, {tcp_runs[-1][1]:.3f} µs "
              f"server CPU/row", flush=True)
        pg_runs.append(bench_postgres(args.workdir, csv_path))
        print(f"round {round_number} COPY  : {pg_runs[-1][0] / 1e6:.3f} M rows/s, {pg_runs[-1][1]:.3f} µs backend CPU/row, "
              f"{pg_runs[-1][2]:.3f} µs CPU/row of all its processes", flush=True)
    http_rate, http_cpu = (statistics.median(run[i] for run in http_runs) for i in range(2))
    print(f"sundial HTTP  : {http_rate / 1e6:.3f} M rows/s committed, {http_cpu:.3f} µs server CPU/row "
          f"(median of {len(http_runs)})", flush=True)
    if args.http_only:
        return
    tcp_rate, tcp_cpu = (statistics.median(run[i] for run in tcp_runs) for i in range(2))
    print(f"sundial TCP   : {tcp_rate / 1e6:.3f} M rows/s committed, {tcp_cpu:.3f} µs server CPU/row "
          f"(median of {len(tcp_runs)})", flush=True)
    pg_rate, pg_cpu, pg_all_cpu = (statistics.median(run[i] for run in pg_runs) for i in range(3))
    print(f"postgres COPY : {pg_rate / 1e6:.3f} M rows/s, {pg_cpu:.3f} µs backend CPU/row, "
          f"{pg_all_cpu:.3f} µs CPU/row of all its processes (median of {len(pg_runs)})", flush=True)
    for clients in (1, 4):
        one_rate, p99, p50, cpu, _ = bench_one_row(args.workdir, clients)
        print(f"1-row HTTP x{clients} : {one_rate:.0f} durable requests/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
              f"{cpu:.0f} µs server CPU/request (native loader)", flush=True)
    print(f"ratios        : HTTP/COPY {http_rate / pg_rate:.2f}x, TCP/COPY {tcp_rate / pg_rate:.2f}x, "
          f"CPU/row HTTP/COPY {http_cpu / pg_cpu:.2f}x (backend), {http_cpu / pg_all_cpu:.2f}x (all its processes)")


if __name__ == "__main__":
    main()
