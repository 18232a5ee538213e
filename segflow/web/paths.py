"""Names in paths (SPEC §10, "any name works in a path").

A segment name or an email may hold a `/` or a `%`. A server decodes `%2F` to `/` before it
routes, so `/segments/Team%2Fmembers%2Fann%40shop.test` would be routed as the member `ann` of
the segment `Team`. Here each step of the path is decoded on its own and any `/` or `%` it
holds is kept encoded, so routing sees the steps the client sent; a path parameter of the
`part` type (`{name:part}`) is one step, decoded when it reaches the route. A step holding a
NUL matches no route: a 404, never a value handed to PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes

from starlette.convertors import Convertor, register_url_convertor

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class PathPart(Convertor[str]):
    """One step of the path, whatever it holds but a NUL."""

    regex = "[^/\x00]+"

    def convert(self, value: str) -> str:
        return unquote(value)

    def to_string(self, value: str) -> str:
        return part(value)


register_url_convertor("part", PathPart())


def part(value: str) -> str:
    """`value` as one step of a path: every character that is not a letter, digit or `-._~`
    percent-encoded, a `/` included."""
    return quote(value, safe="")


def routed_path(raw_path: bytes) -> str:
    """The path as routes match it: each step decoded, with its own `/` and `%` still encoded."""
    steps = (unquote_to_bytes(step).decode("utf-8", "replace") for step in raw_path.split(b"/"))
    return "/".join(step.replace("%", "%25").replace("/", "%2F") for step in steps)


class StepsAsSent:
    """Routes the path by the steps the client sent (see the module's docstring)."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path")
        if scope["type"] == "http" and raw_path:
            scope = {**scope, "path": routed_path(raw_path)}
        await self.app(scope, receive, send)
