"""A throwaway PostgreSQL 15 server for benchmarks: initdb in a temporary directory, started on
a free loopback port as the `postgres` user when run as root, stopped and removed on exit."""
import contextlib
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

import psycopg

PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def postgres(workdir, settings=()):
    """Yields an autocommit psycopg connection to a fresh server; `settings` are `name=value`."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="pg-bench-", dir=workdir))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    user = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
        user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(user + [str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True)
    options = ["-c", "listen_addresses=127.0.0.1"] + [arg for setting in settings for arg in ("-c", setting)]
    server = subprocess.Popen(user + [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
                                      *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True)
                break
            except psycopg.OperationalError:
                assert time.monotonic() < deadline, "postgres did not start"
                time.sleep(0.1)
        with conn:
            yield conn
    finally:
        subprocess.run(user + [str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True)
        server.wait(timeout=60)
        shutil.rmtree(base, ignore_errors=True)
