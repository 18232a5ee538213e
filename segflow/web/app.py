"""`segflow serve`: the console's pages and the JSON API as one ASGI application (SPEC §10).

Both call the services the CLI calls (segflow.services.segments, .flows, .customers, .klaviyo), so a rule
and its message exist once. Every request opens its own autocommit connection, as a CLI command
does, and every service call is scoped by the store the token or session belongs to: another
store's segment, flow or customer is not found (404), never forbidden, so its existence leaks
nothing.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from segflow.infra.config import Config
from segflow.infra.database import check_schema, database_url, open_connection
from segflow.web.errors import error_response
from segflow.web.paths import App, StepsAsSent
from segflow.web.syncs import BackgroundSyncs
from segflow.web.uploads import MAX_UPLOAD_BYTES, BodyLimit

log = structlog.get_logger()

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
    from segflow.web import api, pages  # loaded with the console, not with every command

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
