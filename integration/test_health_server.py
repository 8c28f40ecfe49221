"""The health and metrics server (9003) as QuestDB's min HTTP server answers, plus process metrics."""
import time

import requests

import rawhttp


def parse_prometheus(text):
    """{name{labels}: value} and {name: type} from Prometheus text exposition format."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples, types


def test_any_path_answers_healthy(node):
    for path in ["/", "/status", "/anything/at/all?x=1"]:
        response = requests.get(f"{node.health_url}{path}")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/plain"
        assert response.text == "Status: Healthy"


def test_metrics_are_prometheus_text_with_process_metrics(node):
    response = requests.get(f"{node.health_url}/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples, types = parse_prometheus(response.text)
    assert types["process_resident_memory_bytes"] == "gauge"
    assert samples["process_resident_memory_bytes"] > 1_000_000
    assert samples["questdb_memory_rss"] > 1_000_000
    assert samples["process_open_fds"] > 3
    assert samples["process_max_fds"] >= samples["process_open_fds"]
    assert samples["sundial_uptime_seconds"] >= 0
    assert samples["process_start_time_seconds"] > 1.7e9
    assert types["sundial_http_refused_connections_total"] == "counter"


def test_storage_metrics_are_published_from_startup(node):
    samples, types = parse_prometheus(requests.get(f"{node.health_url}/metrics").text)
    assert samples["sundial_wal_next_txn"] == 1
    assert samples["sundial_storage_applied_txn"] == 0
    assert samples["questdb_suspended_tables"] == 0
    assert types["questdb_wal_written_rows_total"] == "counter"
    assert types["questdb_wal_apply_written_rows_total"] == "counter"


def test_metrics_count_connections_and_rejections(node):
    rawhttp.exchange(node.http_port, b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n")
    with rawhttp.connect(node.http_port) as held:
        held.sendall(b"GET /ping HTTP/1.1\r\n\r\n")
        held.recv(1024)
        samples, _ = parse_prometheus(requests.get(f"{node.health_url}/metrics").text)
    assert samples["questdb_http_connections"] >= 1
    assert samples['sundial_http_rejected_requests_total{server="http",reason="bad_request"}'] == 1


def test_metrics_can_be_disabled(make_node):
    node = make_node(env={"QDB_METRICS_ENABLED": "false"})
    assert requests.get(f"{node.health_url}/metrics").text == "Status: Healthy"


def test_health_answers_while_the_main_server_is_saturated(make_node):
    node = make_node(env={"QDB_HTTP_NET_CONNECTION_LIMIT": "2"})
    held = [rawhttp.connect(node.http_port) for _ in range(2)]
    try:
        for sock in held:
            sock.sendall(b"GET /ping HTTP/1.1\r\n\r\n")
            assert sock.recv(1024).startswith(b"HTTP/1.1 204")
        refused = rawhttp.exchange(node.http_port, b"GET /ping HTTP/1.1\r\n\r\n")
        assert rawhttp.status_line(refused) == "HTTP/1.1 503 Service Unavailable"
        assert b"Retry-After: 1" in refused
        assert requests.get(node.health_url, timeout=5).text == "Status: Healthy"
    finally:
        for sock in held:
            sock.close()
    # The listener stayed open: once the server has seen the closes, requests succeed again.
    deadline = time.monotonic() + 10
    while (status := requests.get(f"{node.http_url}/ping", timeout=5).status_code) != 204:
        assert status == 503 and time.monotonic() < deadline
        time.sleep(0.05)


def answer(node, path, timeout=30):
    """The health server's first answer, whatever its status (a red one included)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(f"{node.health_url}{path}", timeout=2)
        except requests.RequestException:
            assert time.monotonic() < deadline and node.process.poll() is None, node.log()
            time.sleep(0.05)


def test_pessimistic_health_turns_red_after_an_unhandled_error(make_node, tmp_path):
    """`http.pessimistic.health.check.enabled`: QuestDB's 500 `Status: Unhealthy` once any
    unhandled error was counted — here a table found damaged at start (its `_meta` flipped)."""
    pessimistic = {"QDB_HTTP_PESSIMISTIC_HEALTH_CHECK_ENABLED": "true"}
    node = make_node(env=pessimistic, data_dir=tmp_path / "data")
    assert requests.get(node.health_url).text == "Status: Healthy"
    for query in ["CREATE TABLE broken (v LONG, ts TIMESTAMP) TIMESTAMP(ts) PARTITION BY DAY WAL",
                  "INSERT INTO broken VALUES (1, '2024-01-01T00:00:00Z')"]:
        assert requests.get(f"{node.http_url}/exec", params={"query": query}, timeout=10).status_code == 200
    # Answered errors are not unhandled: health stays green.
    assert requests.get(f"{node.http_url}/exec", params={"query": "SELECT nope FROM broken"}, timeout=10).status_code == 400
    assert requests.get(node.health_url).status_code == 200
    assert node.stop() == 0
    meta = next((tmp_path / "data" / "db").glob("broken*/_meta"))
    damaged = bytearray(meta.read_bytes())
    damaged[10] ^= 0x40
    meta.write_bytes(bytes(damaged))

    for env, expected in [(pessimistic, 500), ({}, 200)]:
        node = make_node(env=env, data_dir=tmp_path / "data", wait=False)
        response = answer(node, "/anything")
        assert response.status_code == expected, response.text
        if expected == 500:
            assert response.headers["Content-Type"] == "text/plain"
            assert response.text == "Status: Unhealthy\nUnhandled errors: 1"
        samples, types = parse_prometheus(requests.get(f"{node.health_url}/metrics").text)
        assert samples["questdb_unhandled_errors_total"] == 1 and types["questdb_unhandled_errors_total"] == "counter"
        assert node.stop() == 0
