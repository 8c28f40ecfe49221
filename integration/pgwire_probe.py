"""A raw PostgreSQL protocol 3.0 client for tests that must send what no driver would:
messages are built byte by byte and every backend message is returned as (type, body)."""
import socket
import struct


def cstring(text):
    return text.encode() + b"\0"


def message(kind, body=b""):
    return kind.encode() + struct.pack("!i", len(body) + 4) + body


def startup_packet(user="admin", database="qdb", version=(3, 0), **extra):
    body = struct.pack("!i", version[0] << 16 | version[1])
    for name, value in {"user": user, "database": database, **extra}.items():
        body += cstring(name) + cstring(value)
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def query(sql):
    return message("Q", cstring(sql) if isinstance(sql, str) else sql)


def parse(sql, name="", types=()):
    return message("P", cstring(name) + cstring(sql) + struct.pack("!h", len(types)) + b"".join(struct.pack("!i", t) for t in types))


def bind(portal="", statement="", params=(), formats=(), result_formats=()):
    body = cstring(portal) + cstring(statement) + struct.pack("!h", len(formats)) + b"".join(struct.pack("!h", f) for f in formats)
    body += struct.pack("!h", len(params))
    for param in params:
        if param is None:
            body += struct.pack("!i", -1)
        elif isinstance(param, tuple):  # (declared length, bytes): a lying length
            body += struct.pack("!i", param[0]) + param[1]
        else:
            body += struct.pack("!i", len(param)) + param
    body += struct.pack("!h", len(result_formats)) + b"".join(struct.pack("!h", f) for f in result_formats)
    return message("B", body)


def describe(kind, name=""):
    return message("D", kind.encode() + cstring(name))


def execute(portal="", max_rows=0):
    return message("E", cstring(portal) + struct.pack("!i", max_rows))


def close(kind, name=""):
    return message("C", kind.encode() + cstring(name))


SYNC = message("S")
FLUSH = message("H")
TERMINATE = message("X")


class Probe:
    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""
        self.closed = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.closed = True
        self.buffer += chunk
        return bool(chunk)

    def read_byte(self):
        while not self.buffer:
            if not self._fill():
                return None
        byte, self.buffer = self.buffer[:1], self.buffer[1:]
        return byte

    def read_message(self):
        while len(self.buffer) < 5:
            if not self._fill():
                return None
        kind = self.buffer[:1].decode()
        (length,) = struct.unpack("!i", self.buffer[1:5])
        while len(self.buffer) < 1 + length:
            if not self._fill():
                return None
        body = self.buffer[5:1 + length]
        self.buffer = self.buffer[1 + length:]
        return kind, body

    def until_ready(self):
        """Messages up to and including ReadyForQuery, or up to the close."""
        return self._read_until(stop_at_ready=True)

    def until_closed(self):
        return self._read_until(stop_at_ready=False)

    def _read_until(self, stop_at_ready):
        messages = []
        while (received := self.read_message()) is not None:
            messages.append(received)
            if stop_at_ready and received[0] == "Z":
                break
        return messages

    def login(self, user="admin", password="quest", **extra):
        self.send(startup_packet(user=user, **extra))
        while True:
            kind, body = self.read_message()
            if kind == "R" and struct.unpack("!i", body[:4])[0] == 3:
                self.send(message("p", cstring(password)))
            elif kind == "Z":
                return
            elif kind == "E":
                raise AssertionError(f"login failed: {fields(body)}")

    def close(self):
        self.sock.close()


def fields(body):
    """An ErrorResponse/NoticeResponse body as {code letter: value}."""
    result = {}
    for part in body.split(b"\0"):
        if part:
            result[part[:1].decode()] = part[1:].decode()
    return result


def errors(messages):
    return [fields(body) for kind, body in messages if kind == "E"]


def kinds(messages):
    return "".join(kind for kind, _ in messages)
