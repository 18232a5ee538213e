"""`segflow serve`: the console's pages and the JSON API as one ASGI application (SPEC §10).

Both call the services the CLI calls (segflow.services.segments, .flows, .customers, .klaviyo), so a rule
and its message exist once. Every request opens its own autocommit connection, as a CLI command
does, and every service call is scoped by the store the token or session belongs to: another
store's segment, flow or customer is not found (404), never forbidden, so its existence leaks
nothing.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from schemas.reports import ImportReport
from segflow.errors import InvalidInput, NotFound, SegflowError, ServiceUnavailable
from segflow.infra.config import Config
from segflow.infra.database import Conn, check_schema, database_url, ensure_partitions, open_connection
from segflow.services import segments as segment_service
from segflow.web.paths import App, Message, Receive, Scope, Send, StepsAsSent

log = structlog.get_logger()

API_PREFIX = "/api/v1"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
"""Uploads (CSV imports) over this are refused before a byte of them is parsed."""

SECURITY_HEADERS = {
    # The pages run no script and load nothing from elsewhere; say so, so an injected tag could
    # do nothing either, and no other site may frame them (clickjacking).
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Every answer but the sign-in form shows a store's data: none is kept by a browser or a proxy.
    "Cache-Control": "no-store",
}


def create_app(config: Config) -> App:
    from segflow.web import api, pages  # the routes need this module's helpers

    url = database_url(config)
    with open_connection(url) as conn:
        check_schema(conn, embedded=not config.database_url)
    syncs = BackgroundSyncs(config, url)

    @asynccontextmanager
    async def running(_site: FastAPI) -> AsyncIterator[None]:
        syncs.start()
        try:
            yield
        finally:
            await run_in_threadpool(syncs.stop)

    site = FastAPI(title="segflow console", openapi_url=None, docs_url=None, redoc_url=None, lifespan=running)

    @site.middleware("http")
    async def log_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """One line per request, with the store the token or session belongs to (never the token)."""
        started = time.perf_counter()
        if b"%00" in request.scope.get("query_string", b""):
            # A NUL is no value any field can hold: refused here, for every route alike.
            message = "the query holds a NUL character (%00); nothing was read"
            response = await run_in_threadpool(error_response, request, 422, message)
        else:
            response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        log.info(
            "http_request", method=request.method, path=request.url.path, status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000, 1), store_id=getattr(request.state, "store_id", None),
        )  # fmt: skip
        return response

    site.state.url = url
    site.state.config = config
    site.state.syncs = syncs
    pages.install(site)
    json_api = api.create(url, config, syncs)
    site.mount(api.PREFIX, json_api)
    return BodyLimit(StepsAsSent(site), MAX_UPLOAD_BYTES)


SYNC_SLOTS = 4
"""Klaviyo syncs the console runs at once, one per store at most (SPEC §10: bounded)."""


class BackgroundSyncs:
    """The console's queued Klaviyo syncs and imports, run beside the requests: a request only
    queues one (and wakes these), so no page or API answer waits on Klaviyo."""

    def __init__(self, config: Config, url: str, slots: int = SYNC_SLOTS) -> None:
        from segflow.services import klaviyo
        from segflow.services.syncs import SyncLoop

        def now() -> datetime:
            return datetime.now(UTC)

        self._loops = [
            SyncLoop(config, url, now, take=klaviyo.sync_queued, name=f"segflow-console-sync-{slot}")
            for slot in range(slots)
        ]

    def start(self) -> None:
        for loop in self._loops:
            loop.start()

    def wake(self) -> None:
        for loop in self._loops:
            loop.wake()

    def stop(self, within_s: float = 10) -> None:
        """All told to stop at once, then waited for together: a sync held by a slow Klaviyo does
        not hold the console's exit (the threads are daemons; its claim lapses, and the next
        console or worker takes the segment again)."""
        for loop in self._loops:
            loop.halt()
        deadline = time.monotonic() + within_s
        for loop in self._loops:
            if loop.is_alive():
                loop.join(max(0.0, deadline - time.monotonic()))


def is_api(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def error_response(request: Request, status: int, message: str) -> Response:
    """An error as the request's side of the console answers it: `{"error"}` from the API, the
    console's error page (installed by the pages) elsewhere."""
    if is_api(request.url.path):
        return error_json(status, message)
    page: Callable[[Request, int, str], Response] = request.app.state.error_page
    return page(request, status, message)


def connection(request: Request) -> Iterator[Conn]:
    """A FastAPI dependency: this request's connection, closed after the response."""
    conn = open_connection(request.app.state.url)
    try:
        ensure_partitions(conn, request.app.state.config)
        yield conn
    finally:
        conn.close()


def status_of(error: SegflowError) -> int:
    """The HTTP status of a service's error (SPEC §10): what the store does not have is 404, a
    rule that refuses (a segment in use, the plan, a duplicate name) 409, a malformed value 422."""
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, InvalidInput):
        return 422
    if isinstance(error, ServiceUnavailable):
        return 503
    return 409  # AlreadyExists, PlanRequired, and every other rule that refuses


def malformed(exc: RequestValidationError) -> str:
    """A request the routes' types refuse, in one line naming the field (`query.version: ...`)."""
    problems = exc.errors()
    first = problems[0] if problems else {}
    where = ".".join(str(step) for step in first.get("loc", ()) if step != "body") or "body"
    return f"malformed request: {where}: {first.get('msg', 'invalid')}"


def error_json(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class BodyTooLarge(Exception):
    """A request body went past MAX_UPLOAD_BYTES while it was being read."""


TOO_LARGE_TEXT = f"the upload is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB; nothing was read or written"


class BodyLimit:
    """Refuses a request body over `limit` bytes with 413: from its Content-Length, before the
    application sees a byte of it, and while reading when it is sent without one. Then the
    application's own answer (a parser that met the cut-off body says 400) is replaced by the
    413 as the request's side of the console gives it."""

    def __init__(self, app: App, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._discard(receive, int(declared))
            await self._too_large(scope, receive, send)
            return
        read = 0
        over = False

        async def counted() -> Message:
            nonlocal read, over
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.limit:
                    over = True
                    raise BodyTooLarge()
            return message

        answered = False

        async def unless_over(message: Message) -> None:
            nonlocal answered
            if not over:
                await send(message)
            elif message["type"] == "http.response.start" and not answered:
                answered = True
                await self._too_large(scope, receive, send)

        try:
            await self.app(scope, counted, unless_over)
        except BodyTooLarge:
            if not answered:
                await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request({**scope, "app": site_of(self.app)})
        response = await run_in_threadpool(error_response, request, 413, TOO_LARGE_TEXT)
        await response(scope, receive, send)

    async def _discard(self, receive: Receive, declared: int) -> None:
        """Read what the client sends, keeping none of it, so it is still listening when the 413
        comes: a server that closes on an unread body resets the connection, and the client
        sees an error instead of the answer. Up to 4 times the limit; past that, the reset."""
        left = min(declared, 4 * self.limit)
        while left > 0:
            message = await receive()
            if message["type"] != "http.request":
                return
            left -= len(message.get("body", b""))
            if not message.get("more_body", False):
                return


def site_of(app: App) -> FastAPI:
    """The FastAPI application inside `create_app`'s wrappers (its route table, its state)."""
    inner: Any = app
    while not isinstance(inner, FastAPI):
        inner = inner.app
    return inner


def import_upload(conn: Conn, store_id: str, name: str, file: UploadFile) -> ImportReport:
    """The upload saved to a file of the server's choosing, then imported exactly as `segments
    import` imports a file: all or nothing, 8,900 rows at most. Messages name the upload by the
    name it came with, never where it was saved."""
    with tempfile.TemporaryDirectory(prefix="segflow-upload-") as folder:
        path = Path(folder) / "upload.csv"
        with path.open("wb") as out:
            while chunk := file.file.read(1 << 16):
                out.write(chunk)
        _segment, report = segment_service.import_csv(conn, store_id, name, path, shown_as=upload_name(file.filename))
    return report


def upload_name(sent: str | None) -> str:
    """The file name an upload came with, as its messages show it: its last step, printable,
    at most 100 characters."""
    last = (sent or "").replace("\\", "/").rsplit("/", 1)[-1]
    shown = "".join(c for c in last if c.isprintable())[:100].strip()
    return shown if shown not in ("", ".", "..") else "the upload"
