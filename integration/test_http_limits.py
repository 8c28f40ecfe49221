"""Bad and hostile HTTP input (RELIABILITY §3.3) gets the right status and a closed connection."""
import select
import time

import pytest

import rawhttp


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (100 * 1024) + b"\r\n\r\n", "431 Request Header Fields Too Large"),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 1024) for i in range(70)) + b"\r\n",
     "431 Request Header Fields Too Large"),
    (b"GET /" + b"u" * (100 * 1024) + b" HTTP/1.1\r\n\r\n", "414 URI Too Long"),
    (b"POST /write HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", "400 Bad request"),
    (b"POST /write HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "400 Bad request"),
    (b"POST /write HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "400 Bad request"),
    (b"POST /write HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "400 Bad request"),
    (b"POST /write HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "400 Bad request"),
    (b"GET / HTTP/1.1\nHost: x\n\n\x00", "400 Bad request"),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "400 Bad request"),
    (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 64, "400 Bad request"),
    (b"POST /write HTTP/1.1\r\nContent-Length: 1000000000000\r\n\r\nabcde", "413 Content Too Large"),
])
def test_bad_requests_get_a_status_and_a_close(node, request_bytes, status):
    response = rawhttp.exchange(node.http_port, request_bytes)
    assert rawhttp.status_line(response) == f"HTTP/1.1 {status}"
    assert b"connection: close" in response.lower()
    # The server stays healthy after each one.
    assert rawhttp.status_line(rawhttp.exchange(
        node.http_port, b"GET /ping HTTP/1.1\r\nConnection: close\r\n\r\n")) == "HTTP/1.1 204 OK"


def test_headers_under_the_limit_are_fine(node):
    request = (b"GET /ping HTTP/1.1\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 1024) for i in range(50))
               + b"Connection: close\r\n\r\n")
    assert rawhttp.status_line(rawhttp.exchange(node.http_port, request)) == "HTTP/1.1 204 OK"


def test_a_body_over_the_configured_cap_is_413_before_it_is_sent(make_node):
    node = make_node(env={"QDB_HTTP_REQUEST_BODY_MAX_SIZE": "4k"})
    with rawhttp.connect(node.http_port) as sock:
        sock.sendall(b"POST /write HTTP/1.1\r\nContent-Length: 5000\r\n\r\n")
        response = rawhttp.read_until_closed(sock)
    assert rawhttp.status_line(response) == "HTTP/1.1 413 Content Too Large"


def test_slowloris_headers_get_408_at_the_header_deadline(make_node):
    node = make_node(env={"QDB_HTTP_REQUEST_HEADER_TIMEOUT": "1000"})
    response = b""
    with rawhttp.connect(node.http_port) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\n")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            # Look for the answer before each byte: a byte sent after the server closed draws a
            # reset, which discards the unread 408 (the server does not linger on close).
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable:
                try:
                    chunk = sock.recv(4096)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                response += chunk
                continue
            try:
                sock.sendall(b"X")  # one header byte at a time, never finishing
            except (BrokenPipeError, ConnectionResetError):
                break
    assert rawhttp.status_line(response) == "HTTP/1.1 408 Request Timeout"


def test_a_body_the_endpoint_does_not_read_ends_the_connection(node):
    # No endpoint reads this body, so the server answers and closes rather than draining it;
    # a stalled body the endpoint does wait for is 408 (HTTPConnectionGuardTests).
    with rawhttp.connect(node.http_port) as sock:
        sock.sendall(b"POST /nowhere HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n12345")
        response = rawhttp.read_until_closed(sock)
    assert rawhttp.status_line(response) == "HTTP/1.1 404 Not Found"
    assert b"connection: close" in response.lower()


def test_an_idle_keep_alive_connection_is_closed(make_node):
    node = make_node(env={"QDB_HTTP_NET_CONNECTION_TIMEOUT": "300"})
    with rawhttp.connect(node.http_port) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\n\r\n")
        response = rawhttp.read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 204 OK\r\n")

