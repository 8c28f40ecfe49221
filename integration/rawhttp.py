"""Raw-socket HTTP helpers for tests that must see exact bytes and whether the server closed."""
import socket
import time


def connect(port, timeout=5):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return sock


def read_until_closed(sock, timeout=10):
    """Everything the server sends until it closes; raises if it stays open past `timeout`."""
    sock.settimeout(timeout)
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise AssertionError("server kept the connection open")
    return b"".join(chunks)


def exchange(port, data, timeout=10):
    """Sends `data`, returns all bytes until the server closes the connection."""
    with connect(port, timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_until_closed(sock, timeout)


def status_line(response):
    return response.split(b"\r\n", 1)[0].decode()
