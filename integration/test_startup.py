"""`sundial serve` startup and shutdown: data directory, identity, configuration errors, ports, signals."""
import signal
import socket
import subprocess
import time

import pytest
import requests

import rawhttp
from conftest import BINARY, ROOT, Node, free_port


def run_to_exit(tmp_path, env=None, args=(), timeout=30):
    """Starts a node expected to refuse to start; returns (exit code, output lines)."""
    node = Node(tmp_path / "data", env=env, args=args)
    node.start()
    try:
        code = node.wait_exit(timeout)
    finally:
        node.kill()
    return code, [line for line in node.log().splitlines() if line.strip()]


def test_version():
    output = subprocess.run([str(BINARY), "version"], capture_output=True, text=True, check=True).stdout
    assert output.startswith("sundial ")


def test_first_start_creates_the_layout_and_a_checksummed_identity(node):
    for name in ["conf", "node", "wal", "db"]:
        assert (node.data_dir / name).is_dir()
    identity = (node.data_dir / "node" / "identity").read_text()
    lines = identity.splitlines()
    assert lines[0] == "sundial-node-identity 1"
    assert "epoch=0" in lines and "role=standalone" in lines
    assert lines[-1].startswith("checksum=crc32c:")
    assert "created data directory" in node.log()


def test_a_restart_keeps_the_identity(make_node, tmp_path):
    first = make_node(data_dir=tmp_path / "data")
    identity = (first.data_dir / "node" / "identity").read_bytes()
    assert first.stop() == 0
    second = make_node(data_dir=tmp_path / "data")
    assert (second.data_dir / "node" / "identity").read_bytes() == identity
    assert "opened data directory" in second.log()


def test_a_damaged_identity_stops_startup(make_node, tmp_path):
    first = make_node(data_dir=tmp_path / "data")
    assert first.stop() == 0
    path = tmp_path / "data" / "node" / "identity"
    data = bytearray(path.read_bytes())
    data[40] ^= 0x01
    path.write_bytes(bytes(data))
    code, lines = run_to_exit(tmp_path)
    assert code == 1
    assert lines[-1].startswith("sundial: cannot open data directory: ")
    assert "node/identity: node identity checksum mismatch" in lines[-1]


def test_two_nodes_cannot_share_a_data_directory(make_node, tmp_path):
    make_node(data_dir=tmp_path / "data")
    code, lines = run_to_exit(tmp_path)
    assert code == 1
    assert "in use by another sundial process" in lines[-1]


@pytest.mark.parametrize("conf, expected", [
    ("http.net.bind.too=127.0.0.1:1\n", "server.conf:1: http.net.bind.too: unknown configuration key (did you mean http.net.bind.to?)"),
    ("# c\nhttp.net.connection.limit=lots\n", "server.conf:2: http.net.connection.limit: 'lots' is not valid; expected an integer"),
    ("log.level=chatty\n", "log.level: 'chatty' is not valid; expected one of trace, debug"),
])
def test_bad_server_conf_stops_startup_with_one_line(tmp_path, conf, expected):
    (tmp_path / "data" / "conf").mkdir(parents=True)
    (tmp_path / "data" / "conf" / "server.conf").write_text(conf)
    code, lines = run_to_exit(tmp_path)
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("sundial: configuration error: ")
    assert expected in lines[0]


def test_a_bad_environment_value_names_the_variable(tmp_path):
    code, lines = run_to_exit(tmp_path, env={"QDB_HTTP_ENABLED": "maybe"})
    assert code == 2
    assert lines == ["sundial: configuration error: QDB_HTTP_ENABLED (http.enabled): 'maybe' is not valid; expected true or false"]


def test_a_missing_or_unreadable_config_file_is_named(tmp_path):
    code, lines = run_to_exit(tmp_path, args=["--config", str(tmp_path / "absent.conf")])
    assert code == 2
    assert lines == [f"sundial: configuration error: cannot read configuration file {tmp_path}/absent.conf: no such file"]
    (tmp_path / "dir.conf").mkdir()
    code, lines = run_to_exit(tmp_path, args=["--config", str(tmp_path / "dir.conf")])
    assert code == 2
    assert lines[0].startswith(f"sundial: configuration error: cannot read configuration file {tmp_path}/dir.conf: ")


def test_an_explicit_config_file_and_env_overrides(make_node, tmp_path):
    port = free_port()
    conf = tmp_path / "custom.conf"
    conf.write_text(f"line.http.ping.version=v9\nshared.worker.count=2\n")
    node = make_node(args=["--config", str(conf)], env={"QDB_NOT_A_SUNDIAL_KEY": "1"})
    assert requests.get(f"{node.http_url}/ping").headers["X-Influxdb-Version"] == "v9"
    log = node.log()
    assert "ignoring environment variable QDB_NOT_A_SUNDIAL_KEY" in log
    assert "ignoring QuestDB key shared.worker.count" in log


@pytest.mark.parametrize("key, env_name", [
    ("http.net.bind.to", "QDB_HTTP_NET_BIND_TO"),
    ("http.min.net.bind.to", "QDB_HTTP_MIN_NET_BIND_TO"),
    ("pg.net.bind.to", "QDB_PG_NET_BIND_TO"),
])
def test_a_port_in_use_names_the_key_and_address(tmp_path, key, env_name):
    with socket.socket() as occupier:
        occupier.bind(("127.0.0.1", 0))
        occupier.listen()
        port = occupier.getsockname()[1]
        code, lines = run_to_exit(tmp_path, env={env_name: f"127.0.0.1:{port}"})
    assert code == 1
    assert lines[-1] == f"sundial: cannot listen on {key}=127.0.0.1:{port}: address already in use"


def test_startup_logs_one_line_per_listener(node):
    log = node.log()
    assert f"address=127.0.0.1:{node.http_port} key=http.net.bind.to" in log
    assert f"address=127.0.0.1:{node.health_port} key=http.min.net.bind.to" in log
    assert f"address=127.0.0.1:{node.pg_port} auth=password key=pg.net.bind.to" in log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_shuts_down_gracefully(node, sig):
    started = time.monotonic()
    assert node.stop(sig, timeout=5) == 0
    assert time.monotonic() - started < 5
    assert "sundial stopped" in node.log()


def test_shutdown_is_prompt_with_idle_and_half_sent_requests_open(node):
    idle = rawhttp.connect(node.http_port)
    idle.sendall(b"GET /ping HTTP/1.1\r\n\r\n")
    idle.recv(1024)
    partial = rawhttp.connect(node.http_port)
    partial.sendall(b"POST /write HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")
    health = rawhttp.connect(node.health_port)
    try:
        assert node.stop(signal.SIGTERM, timeout=5) == 0
    finally:
        for sock in (idle, partial, health):
            sock.close()


def test_shutdown_is_prompt_with_pg_connections_idle_half_sent_and_stalled(node):
    """PG connections in every state at SIGTERM: idle after login, a message half sent, and a
    client that stopped reading a large result (the server's write waits for the socket)."""
    import pgwire_probe as pg
    requests.get(f"{node.http_url}/exec", timeout=60, params={
        "query": "create table big as (select x, rnd_str(200,200,0) s from long_sequence(200000))"})
    idle = pg.Probe(node.pg_port)
    idle.login()
    half = pg.Probe(node.pg_port)
    half.login()
    half.send(b"Q\x00\x00\x00\x40select")
    stalled = pg.Probe(node.pg_port)
    stalled.login()
    stalled.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.send(pg.query("select * from big"))
    time.sleep(0.5)
    try:
        assert node.stop(signal.SIGTERM, timeout=5) == 0
        assert "sundial stopped" in node.log()
    finally:
        for probe in (idle, half, stalled):
            probe.close()


def test_the_example_configuration_starts(make_node):
    example = ROOT / "deploy" / "config" / "server.conf.example"
    node = make_node(args=["--config", str(example)])
    assert requests.get(f"{node.http_url}/ping").status_code == 204
    # No configuration warning; warnings about the host (`/warnings`, decision 0024) depend on
    # the machine the test runs on.
    host_tags = ("tag=UNSUPPORTED FILE SYSTEM", "tag=TOO MANY OPEN FILES", "tag=OUT OF MMAP AREAS")
    warnings = [line for line in node.log().splitlines() if "warning" in line and not any(t in line for t in host_tags)]
    assert warnings == []


def test_storage_opens_at_startup_and_checkpoints_at_shutdown(node):
    assert "storage opened" in node.log()
    assert "commit-mode=sync" in node.log()
    assert node.stop() == 0
    assert "storage checkpointed" in node.log()


def test_damage_to_acknowledged_wal_records_stops_startup_naming_the_file(tmp_path):
    # Real WAL content from the storage crash writer (sync commits), then one flipped byte in
    # the first record: later records prove it had been acknowledged, so this is damage, not a
    # torn tail, and the node must refuse rather than silently cut acknowledged data.
    bench = ROOT / ".build" / "release" / "sundial-storage-bench"
    data = tmp_path / "data"
    writer = subprocess.Popen([str(bench), "crash-writer", "--data-dir", str(data), "--ack-file", str(tmp_path / "acks")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    segment = sorted((data / "wal").glob("*.wal"))[0]
    raw = bytearray(segment.read_bytes())
    raw[32 + 44 + 3] ^= 0x01
    segment.write_bytes(bytes(raw))
    code, lines = run_to_exit(tmp_path)
    assert code == 1
    assert lines[-1].startswith("sundial: cannot open data directory: ")
    assert str(segment) in lines[-1] and "written after it was durable" in lines[-1]


def test_a_wal_segment_cut_short_by_power_loss_is_removed_at_startup(make_node, tmp_path):
    segment = tmp_path / "data" / "wal" / "00000000000000000001.wal"
    segment.parent.mkdir(parents=True)
    segment.write_bytes(b"SDWS\x01")  # a segment whose header never fully reached the disk
    node = make_node(data_dir=tmp_path / "data")
    assert not segment.exists()
    assert "wal-torn-bytes-cut=5" in node.log()


def test_a_bad_commit_mode_is_a_configuration_error(tmp_path):
    code, lines = run_to_exit(tmp_path, env={"QDB_CAIRO_COMMIT_MODE": "fast"})
    assert code == 2
    assert lines == ["sundial: configuration error: QDB_CAIRO_COMMIT_MODE (cairo.commit.mode): 'fast' is not valid; expected one of sync, async, nosync"]
