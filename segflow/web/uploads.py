"""Uploads: a body over MAX_UPLOAD_BYTES refused before it is parsed (413, as the request's side
answers errors), and a CSV upload imported exactly as `segments import` imports a file."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from schemas.reports import ImportReport
from segflow.infra.database import Conn
from segflow.services import segments as segment_service
from segflow.web.errors import error_response
from segflow.web.paths import App, Message, Receive, Scope, Send

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
"""Uploads (CSV imports) over this are refused before a byte of them is parsed."""


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
