"""Failover benchmark (issue 8): one primary + 2 replicas over mutual TLS on 127.0.0.1.

Measured, in one run:
  * write throughput and ack latency (p50/p99 per ILP/HTTP request of `--batch` rows, `--writers`
    connections, each to its own table so nothing is out of order) in each
    `replication.sync.mode` with `replication.sync.count=1`, as ratios to `async` in the same run;
    and, before that (from a settled cluster: replicas caught up), the ack latency at a fixed
    offered rate (`--paced-rows`, open loop, latency from each request's due time), where
    queueing on a saturated machine does not decide the p99. The
    writers are `sundial-storage-bench ilp-requests` (a thread per writer, a few µs a request);
    `--loader python` uses `requests` instead (~1.3 ms of client time a request here, and its
    writer threads share one interpreter lock: the numbers before 2026-11-28 afternoon);
  * time from promotion to the first write the new primary accepted, emergency (kill -9 the
    primary, promote the most advanced replica; also from the kill) and planned switchover under
    load, median of `--drills` drills each (the drills of `integration/drills/`);
  * snapshot bootstrap: an empty replica joins a primary whose WAL no longer starts at txn 1;
    MB/s of table files received (the replica's own log line), beside the disk's buffered
    write + fsync rate measured in the same run on the same file system.

    integration/.venv/bin/python integration/bench/failover_bench.py
"""
import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from cluster import Cluster, status, wait_caught_up, wait_for  # noqa: E402
from conftest import Node  # noqa: E402
from drills.failover_drill import run_drill  # noqa: E402
sys.path.insert(0, str(HERE))
from ilp_bench import STORAGE_BENCH  # noqa: E402

BASE_NS = 1_700_000_000_000_000_000


class Nodes:
    """A `make_node` factory outside pytest; kills everything it started on `close`."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.started = []

    def __call__(self, env=None, args=(), data_dir=None, wait=True, **ports):
        env = dict(env or {})
        env.setdefault("QDB_LOG_LEVEL", "warning")
        node = Node(data_dir or self.workdir / f"node{len(self.started)}", env=env, args=args, **ports)
        self.started.append(node)
        node.start()
        return node.wait_healthy() if wait else node

    def close(self):
        for node in self.started:
            node.kill()


def bodies(table, batch, count):
    """`count` request bodies of `batch` rows with increasing timestamps."""
    out = []
    for request in range(count):
        base = request * batch
        out.append("".join(
            f"{table},host=h{(base + i) % 100} usage_user={(base + i) % 97}.5,usage_system={(base + i) % 89}i "
            f"{BASE_NS + (base + i) * 1_000}\n" for i in range(batch)).encode())
    return out


def load(url, writers, batch, seconds, prefix="load", rows_per_second=None):
    """Runs the writers, each on its own table `PREFIXn` in timestamp order (an out-of-order
    commit would rewrite a partition and measure that instead); returns (rows/s, latencies in
    ms, failures). Closed loop by default (each writer posts its next request when the last is
    acknowledged: the machine's maximum, where latency is mostly queueing); with
    `rows_per_second`, open loop: requests are due on a fixed schedule and each latency runs
    from the time it was due, so a stall counts for every request it delays."""
    prepared = [bodies(f"{prefix}{w}", batch, 4000) for w in range(writers)]
    latencies = [[] for _ in range(writers)]
    failures = [0] * writers
    deadline = time.monotonic() + seconds
    interval = writers * batch / rows_per_second if rows_per_second else 0.0
    first_due = time.perf_counter() + 0.05

    def run(index):
        session = requests.Session()
        due = first_due + index * interval / writers
        for body in prepared[index]:
            if time.monotonic() >= deadline:
                return
            if interval:
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                started = due
                due += interval
            else:
                started = time.perf_counter()
            response = session.post(url + "/write", data=body, timeout=60)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code == 204:
                latencies[index].append(elapsed)
            else:
                failures[index] += 1

    threads = [threading.Thread(target=run, args=(w,)) for w in range(writers)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    all_latencies = sorted(x for part in latencies for x in part)
    return len(all_latencies) * batch / elapsed, all_latencies, sum(failures)


def load_native(node, writers, batch, seconds, prefix, rows_per_second=None, first_row=0):
    """`load`'s measurement with the compiled loader: (rows/s, p50 ms, p99 ms, failures). A
    request answered with anything but 204 stops the loader, so failures are 0 or it raises.
    `first_row` continues tables an earlier phase wrote, later in time."""
    command = [str(STORAGE_BENCH), "ilp-requests", "--port", str(node.http_port), "--clients", str(writers),
               "--seconds", str(seconds), "--rows-per-request", str(batch), "--table", prefix, "--table-per-client",
               "--first-row", str(first_row)]
    if rows_per_second:
        command += ["--rate", str(rows_per_second)]
    report = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return report["rows"] / report["seconds"], report["p50_ms"], report["p99_ms"], 0


def load_measured(node, options, prefix, rows_per_second=None, seconds=None, first_row=0):
    """(rows/s, p50 ms, p99 ms, failed requests) of one phase with the chosen loader."""
    seconds = seconds or options.seconds
    if options.loader == "native":
        return load_native(node, options.writers, options.batch, seconds, prefix, rows_per_second, first_row)
    rate, latencies, failures = load(node.http_url, options.writers, options.batch, seconds, prefix=prefix,
                                     rows_per_second=rows_per_second)
    return rate, percentile(latencies, 0.5), percentile(latencies, 0.99), failures


def percentile(values, fraction):
    return values[min(len(values) - 1, int(len(values) * fraction))] if values else float("nan")


def sync_modes(workdir, options):
    results = {}
    for mode in options.modes.split(","):
        nodes = Nodes(workdir / mode)
        (workdir / mode).mkdir(parents=True)
        try:
            cluster = Cluster(nodes, workdir / mode, tls=True, env={"QDB_REPLICATION_SYNC_MODE": mode}, peers=True)
            primary = cluster.start_primary()
            replicas = [cluster.start_replica(), cluster.start_replica()]
            wait_for(lambda: all(status(r).get("upstream", {}).get("state") == "streaming" for r in replicas),
                     message="replicas streaming")
            # The warm-up creates the fixed-rate phase's tables (with the native loader; its
            # rows come later in time), so no request measured there waits for a table's
            # creation (metadata files and their fsyncs on every node).
            load_measured(primary, options, "paced" if options.loader == "native" else "warmup", seconds=1.0)
            # The fixed-rate phase first, from a settled cluster: after the closed loop the
            # replicas still apply seconds of backlog and the disks write back gigabytes, and
            # the p99 would measure that recovery instead of the acknowledgement path.
            wait_caught_up(primary, replicas, timeout=120)
            paced = (load_measured(primary, options, "paced", options.paced_rows, first_row=1 << 30)[1:]
                     if options.paced_rows else None)
            rate, p50, p99, failures = load_measured(primary, options, "load")
            results[mode] = (rate, p50, p99, failures, paced)
            print(f"{mode:9s} {rate:12,.0f} rows/s  ack p50 {results[mode][1]:6.2f} ms  p99 {results[mode][2]:6.2f} ms"
                  f"  failed requests {failures}", flush=True)
            if paced:
                print(f"{'':9s} at {options.paced_rows:,} rows/s (open loop): ack p50 {paced[0]:6.2f} ms  p99 {paced[1]:6.2f} ms"
                      f"  failed requests {paced[2]}", flush=True)
        finally:
            nodes.close()
            shutil.rmtree(workdir / mode, ignore_errors=True)
    base = results["async"][0]
    print("\nmode      throughput vs async   ack p99 (ms)   ack p99 at a fixed rate (ms)")
    for mode, (rate, _, p99, _, paced) in results.items():
        print(f"{mode:9s} {rate / base:8.2f}x            {p99:8.2f}       {paced[1] if paced else float('nan'):8.2f}")
    return results


def promotions(workdir, options):
    rows = {}
    for label, mode, kind in [("emergency (kill -9, durable)", "durable", "kill"), ("planned switchover (async)", "async", "planned")]:
        to_write, from_kill = [], []
        for attempt in range(options.drills):
            directory = workdir / f"{kind}{attempt}"
            directory.mkdir(parents=True)
            nodes = Nodes(directory)
            try:
                report = run_drill(nodes, directory, mode=mode, kind=kind, replicas=2, seconds=1.0, log=lambda *_: None)
                report["_writer"].stop()
                to_write.append(report["promote_to_first_write_ms"])
                from_kill.append(report["kill_to_first_write_ms"])
                if report["rows_lost"]:
                    print(f"  {label}: {report['rows_lost']} acknowledged rows lost!", flush=True)
            finally:
                nodes.close()
                shutil.rmtree(directory, ignore_errors=True)
        rows[label] = (statistics.median(to_write), statistics.median(from_kill), max(to_write))
        print(f"{label:32s} promote → first accepted write: median {rows[label][0]:7.1f} ms (max {rows[label][2]:.1f}); "
              f"{'kill' if kind == 'kill' else 'switchover start'} → first write: median {rows[label][1]:7.1f} ms", flush=True)
    return rows


def raw_disk_rate(directory, size):
    """MB/s writing `size` bytes in 1 MiB writes, then fsync (what a snapshot install does)."""
    import os
    block = os.urandom(1 << 20)
    path = directory / "raw-disk-probe"
    started = time.monotonic()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        written = 0
        while written < size:
            written += os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
        path.unlink()
    return written / 1_048_576 / (time.monotonic() - started)


def snapshot_bootstrap(workdir, options):
    directory = workdir / "snapshot"
    directory.mkdir(parents=True)
    nodes = Nodes(directory)
    try:
        cluster = Cluster(nodes, directory, tls=True, env={"QDB_CAIRO_WAL_SEGMENT_ROLLOVER_SIZE": "4m"}, peers=True)
        primary = cluster.start_primary()
        rate, _, _ = load(primary.http_url, 1, 10_000, options.snapshot_seconds, prefix="snap")
        rows = status(primary)["positions"]["durableTxn"]
        started = time.monotonic()
        replica = cluster.start_replica(env={"QDB_LOG_LEVEL": "info"})
        wall = time.monotonic() - started
        line = next((l for l in replica.log().splitlines() if "snapshot installed" in l), None)
        if line is None:
            print("snapshot bootstrap: the replica streamed from the WAL (no snapshot was needed)", flush=True)
            return None
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        size, seconds = int(fields["bytes"]), float(fields["seconds"])
        mb = size / 1_048_576 / seconds
        raw = raw_disk_rate(directory, size)
        print(f"snapshot bootstrap: {size / 1_048_576:,.1f} MiB in {fields['files']} files over {rows} txns of ingest: "
              f"{seconds:.2f} s = {mb:,.0f} MiB/s (node start to healthy {wall:.2f} s); disk buffered write + fsync of the same "
              f"size in this run: {raw:,.0f} MiB/s → {mb / raw:.2f}x of raw", flush=True)
        return mb, raw
    finally:
        nodes.close()
        shutil.rmtree(directory, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--paced-rows", type=int, default=100_000,
                        help="rows/s of the open-loop phase after each mode's closed-loop one (0: none)")
    parser.add_argument("--loader", choices=["native", "python"], default="native",
                        help="the writers of the sync-mode phases: sundial-storage-bench ilp-requests, or Python requests")
    parser.add_argument("--drills", type=int, default=3)
    parser.add_argument("--modes", default="async,received,durable,applied")
    parser.add_argument("--skip-promotion", action="store_true")
    parser.add_argument("--snapshot-seconds", type=float, default=8.0, help="ingest time before the snapshot bootstrap")
    options = parser.parse_args()
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="sundial-failover-bench-"))
    try:
        print(f"sync modes: {options.writers} writers x {options.batch}-row ILP/HTTP requests ({options.loader} loader), "
              f"{options.seconds} s each, primary + 2 replicas (mutual TLS), sync.count=1", flush=True)
        if options.modes:
            sync_modes(workdir, options)
        print(flush=True)
        snapshot_bootstrap(workdir, options)
        if options.skip_promotion:
            return
        print(f"\npromotion ({options.drills} drills each, primary + 2 replicas, continuous ILP/HTTP writer)", flush=True)
        promotions(workdir, options)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
