"""What the console's routes depend on, declared once: the request's connection, the console's
background syncs, and the API's bearer token and the store it belongs to."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from segflow.infra.database import Conn, ensure_partitions, open_connection
from segflow.services import access
from segflow.web.syncs import BackgroundSyncs


def connection(request: Request) -> Iterator[Conn]:
    """A FastAPI dependency: this request's connection, closed after the response."""
    conn = open_connection(request.app.state.url)
    try:
        ensure_partitions(conn, request.app.state.config)
        yield conn
    finally:
        conn.close()


Db = Annotated[Conn, Depends(connection)]


def syncs(request: Request) -> BackgroundSyncs:
    """The console's background Klaviyo syncs, to wake after queueing one."""
    running: BackgroundSyncs = request.app.state.syncs
    return running


Syncs = Annotated[BackgroundSyncs, Depends(syncs)]

_bearer = HTTPBearer(auto_error=False, description="An access token from `segflow stores token STORE`.")


class Unauthorized(Exception):
    """The API request carries no live access token (401)."""


def store_of(
    request: Request, conn: Db, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The store the request's bearer token belongs to."""
    owner = access.token_owner(conn, credentials.credentials) if credentials is not None else None
    if owner is None:
        raise Unauthorized()
    request.state.store_id = owner.store_id  # for the request's log line
    return owner.store_id


Store = Annotated[str, Depends(store_of)]
