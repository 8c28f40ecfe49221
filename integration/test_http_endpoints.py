"""The main HTTP server's /ping and /settings as QuestDB serves them, to real clients."""
import json

import requests
from questdb import Sender

import rawhttp


def test_ping_is_204_ok_with_the_influxdb_version(node):
    response = requests.get(f"{node.http_url}/ping")
    assert response.status_code == 204
    assert response.reason == "OK"
    assert response.headers["X-Influxdb-Version"] == "v2.7.4"
    assert response.content == b""


def test_ping_version_is_configurable(make_node):
    node = make_node(env={"QDB_LINE_HTTP_PING_VERSION": "v1.8.10"})
    assert requests.get(f"{node.http_url}/ping").headers["X-Influxdb-Version"] == "v1.8.10"


def test_settings_is_questdbs_json(node):
    response = requests.get(f"{node.http_url}/settings")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    document = response.json()
    config = document["config"]
    assert config["release.type"] == "OSS"
    assert config["line.proto.support.versions"] == [1, 2, 3]
    assert config["cairo.max.file.name.length"] == 127
    assert config["accepting.writes"] == ["http", "tcp", "pgwire"]
    assert document["preferences.version"] == 0 and document["preferences"] == {}
    # QuestDB's own spacing, which byte-comparing tools see.
    assert '"accepting.writes":["http", "tcp", "pgwire"]' in response.text


def test_the_official_questdb_client_negotiates_from_settings(node):
    # A 404 or non-JSON /settings would make the client fall back to v1 or fail to connect.
    with Sender.from_conf(f"http::addr=127.0.0.1:{node.http_port};") as sender:
        assert sender.protocol_version >= 2
        assert sender.max_name_len == 127


def test_unknown_paths_are_404_and_wrong_methods_405(node):
    assert requests.get(f"{node.http_url}/no/such/path").status_code == 404
    response = requests.post(f"{node.http_url}/ping", data=b"x")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


def test_a_malformed_target_is_400(node):
    response = rawhttp.exchange(node.http_port, b"GET /settings?x=%zz HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert rawhttp.status_line(response) == "HTTP/1.1 400 Bad request"


def test_keep_alive_and_pipelining_keep_responses_framed(node):
    # A 204 must carry no body bytes, or the next response on the connection is garbled.
    with rawhttp.connect(node.http_port) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n"
                     b"GET /settings HTTP/1.1\r\nHost: a\r\n\r\n"
                     b"GET /ping HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = rawhttp.read_until_closed(sock)
    first, rest = data.split(b"\r\n\r\n", 1)
    assert first.startswith(b"HTTP/1.1 204 OK\r\n")
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")
    head, rest = rest.split(b"\r\n\r\n", 1)
    length = int([line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")][0])
    json.loads(rest[:length])
    assert rest[length:].startswith(b"HTTP/1.1 204 OK\r\n")
    assert b"connection: close" in rest[length:].lower()


def test_a_requests_session_reuses_one_connection(node):
    with requests.Session() as session:
        for _ in range(20):
            assert session.get(f"{node.http_url}/ping").status_code == 204
            assert session.get(f"{node.http_url}/settings").status_code == 200
