"""A TCP fault proxy (RELIABILITY §5.3, a toxiproxy substitute) for the link between two nodes.

    proxy = FaultProxy(upstream_port)          # listens on proxy.port, forwards to 127.0.0.1:upstream_port
    proxy.set(Toxic.flip(after=5000), connections=2)
    ...
    proxy.clear(); proxy.close()

Toxics act on the upstream→downstream direction (primary → replica), on the next `connections`
connections (then the link is clean again, so the cluster can converge):
latency (ms per chunk), slice (1-byte writes), truncate after N bytes (close mid-stream), reset
after N bytes (RST), flip one bit at byte N, replay (re-send bytes already sent), blackhole (accept,
never forward). Runs its own asyncio loop on a thread; toxics switch at run time.

`clog()` partitions the link at once, both directions, live connections included: bytes stop
flowing (held by the proxy and then by TCP's own flow control, as a network partition holds
them) until `unclog()`, when what was held flows on, as after a healed partition.
"""
import asyncio
import socket
import struct
import threading
from dataclasses import dataclass


@dataclass
class Toxic:
    kind: str
    after: int = 0
    amount: int = 0

    @staticmethod
    def latency(ms):
        return Toxic("latency", amount=ms)

    @staticmethod
    def slice():
        return Toxic("slice")

    @staticmethod
    def truncate(after):
        return Toxic("truncate", after=after)

    @staticmethod
    def reset(after):
        return Toxic("reset", after=after)

    @staticmethod
    def flip(after):
        return Toxic("flip", after=after)

    @staticmethod
    def replay(after, amount=4096):
        return Toxic("replay", after=after, amount=amount)

    @staticmethod
    def blackhole():
        return Toxic("blackhole")


class FaultProxy:
    def __init__(self, upstream_port, host="127.0.0.1"):
        self.upstream = (host, upstream_port)
        self.loop = asyncio.new_event_loop()
        self.lock = threading.Lock()
        self.toxic = None
        self.remaining = 0
        self.connections = 0
        self.faults_applied = 0
        self.clogged = False
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, 0))
        listener.listen(16)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self.listener = listener
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def set(self, toxic, connections=1):
        with self.lock:
            self.toxic = toxic
            self.remaining = connections

    def clear(self):
        self.set(None, 0)

    def clog(self):
        self.clogged = True

    def unclog(self):
        self.clogged = False

    def close(self):
        async def finish_connections():
            # Cancelled and awaited here, so none is left pending when the loop stops.
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            asyncio.run_coroutine_threadsafe(finish_connections(), self.loop).result(timeout=5)
        except Exception:
            pass  # a connection that would not finish is not worth failing a test over
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.listener.close()

    def _take_toxic(self):
        with self.lock:
            self.connections += 1
            if self.toxic is None or self.remaining <= 0:
                return None
            self.remaining -= 1
            return self.toxic

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())
        self.loop.run_forever()

    async def _serve(self):
        self.server = await asyncio.start_server(self._connection, sock=self.listener)

    async def _connection(self, down_reader, down_writer):
        toxic = self._take_toxic()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            down_writer.close()
            return
        if toxic is not None and toxic.kind == "blackhole":
            await asyncio.sleep(3600)
            return
        upward = asyncio.ensure_future(self._pipe(down_reader, up_writer, None))
        downward = asyncio.ensure_future(self._pipe(up_reader, down_writer, toxic))
        await asyncio.wait([upward, downward], return_when=asyncio.FIRST_COMPLETED)
        for task in (upward, downward):
            task.cancel()
        for writer in (up_writer, down_writer):
            try:
                writer.close()
            except Exception:
                pass

    async def _pipe(self, reader, writer, toxic):
        sent = 0
        history = bytearray()
        done = False
        try:
            while True:
                data = await reader.read(65536)
                # Held while partitioned, a close included: nothing crosses a clogged link.
                while self.clogged:
                    await asyncio.sleep(0.005)
                if not data:
                    break
                if toxic is None or done:
                    writer.write(data)
                    await writer.drain()
                    continue
                kind = toxic.kind
                if kind == "latency":
                    await asyncio.sleep(toxic.amount / 1000)
                    writer.write(data)
                elif kind == "slice":
                    for index in range(len(data)):
                        writer.write(data[index:index + 1])
                        await writer.drain()
                elif kind in ("truncate", "reset", "flip", "replay") and sent + len(data) > toxic.after:
                    cut = max(0, toxic.after - sent)
                    if kind == "truncate":
                        writer.write(data[:cut])
                        await writer.drain()
                        self.faults_applied += 1
                        return
                    if kind == "reset":
                        writer.write(data[:cut])
                        await writer.drain()
                        sock = writer.get_extra_info("socket")
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.faults_applied += 1
                        writer.transport.abort()
                        return
                    if kind == "flip":
                        damaged = bytearray(data)
                        damaged[cut] ^= 0x10
                        writer.write(bytes(damaged))
                        self.faults_applied += 1
                        done = True
                    else:  # replay: bytes already delivered come again, then the stream goes on
                        writer.write(data[:cut])
                        history.extend(data[:cut])
                        writer.write(bytes(history[-toxic.amount:]))
                        writer.write(data[cut:])
                        self.faults_applied += 1
                        done = True
                else:
                    writer.write(data)
                sent += len(data)
                if len(history) < 1 << 20:
                    history.extend(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError, OSError):
            pass
