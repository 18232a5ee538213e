"""A fake Klaviyo: a real HTTP server on a free port that speaks enough of Klaviyo's JSON:API.

It enforces the headers a real call needs (the key, a revision, the JSON:API accept type),
pages profiles with opaque cursors in `links.next`, honours `fields[profile]` and refuses
`page[size]` over 100, filters lists and segments with `equals(name,"...")`, and can be told
to answer 429 (with Retry-After) or 5xx for the next requests.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

MAX_PAGE = 100
_FILTER = re.compile(r'^equals\(name,"((?:[^"\\]|\\.)*)"\)$')


@dataclass
class Group:
    name: str
    emails: list[str | None]
    garbled: bytes | None = None
    """Set: its profile pages are answered with these bytes (200), as a broken server might."""


@dataclass
class FakeKlaviyo:
    api_key: str
    lists: dict[str, Group] = field(default_factory=dict)
    segments: dict[str, Group] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    _faults: list[tuple[int, int, float | None]] = field(default_factory=list)
    """(answer at request number, status, retry-after)"""
    next_base: str | None = None
    """Set: `links.next` points there instead of at this server (a hostile or confused server)."""
    repeat_cursor: bool = False
    """Set: every page's `next` is the first page again (a server that pages forever)."""
    on_request: Callable[[str], None] = lambda _path: None
    """Called with each request's path before it is answered (tests look at the database then)."""

    def start(self) -> FakeKlaviyo:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_GET(self) -> None:
                status, body, headers = fake.handle(self.path, {k.lower(): v for k, v in self.headers.items()})
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/vnd.api+json")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_at(self, request_number: int, status: int = 429, retry_after: float | None = 1) -> None:
        """Answer the Nth request from now (1 = the next) with `status`."""
        self._faults.append((len(self.requests) + request_number, status, retry_after))

    # --- the API ---------------------------------------------------------------------------

    def handle(self, raw_path: str, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        self.requests.append((raw_path, headers))
        self.on_request(raw_path)
        number = len(self.requests)
        for fault in list(self._faults):
            if fault[0] == number:
                self._faults.remove(fault)
                extra = {"Retry-After": str(fault[2])} if fault[2] is not None else {}
                return fault[1], _errors(fault[1], "injected"), extra
        if headers.get("authorization") != f"Klaviyo-API-Key {self.api_key}":
            return 401, _errors(401, "Incorrect authentication credentials."), {}
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.pre)?", headers.get("revision", "")):
            return 400, _errors(400, "A revision header is required."), {}
        if headers.get("accept") != "application/vnd.api+json":
            return 406, _errors(406, "accept must be application/vnd.api+json"), {}
        url = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        if len(parts) < 2 or parts[0] != "api" or parts[1] not in ("lists", "segments"):
            return 404, _errors(404, "no such path"), {}
        kind = parts[1][:-1]
        groups = self.lists if kind == "list" else self.segments
        if len(parts) == 2:
            return self._collection(kind, groups, query)
        group = groups.get(parts[2])
        if group is None:
            return 404, _errors(404, f"{kind} {parts[2]} not found"), {}
        if len(parts) == 3:
            return 200, {"data": _resource(kind, parts[2], group)}, {}
        if len(parts) == 4 and parts[3] == "profiles":
            if group.garbled is not None:
                return 200, group.garbled, {}
            return self._profiles(url.path, group, query)
        return 404, _errors(404, "no such path"), {}

    def _collection(
        self, kind: str, groups: dict[str, Group], query: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        items = list(groups.items())
        if "filter" in query:
            match = _FILTER.match(query["filter"])
            if match is None:
                return 400, _errors(400, "unsupported filter"), {}
            wanted = match.group(1).replace('\\"', '"').replace("\\\\", "\\")
            items = [(gid, g) for gid, g in items if g.name == wanted]
        return 200, {"data": [_resource(kind, gid, g) for gid, g in items], "links": {"next": None}}, {}

    def _profiles(self, path: str, group: Group, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        size = int(query.get("page[size]", "20"))
        if not 1 <= size <= MAX_PAGE:
            return 400, _errors(400, f"page[size] must be between 1 and {MAX_PAGE}"), {}
        start = int(base64.urlsafe_b64decode(query["page[cursor]"]).decode()) if "page[cursor]" in query else 0
        fields = query.get("fields[profile]")
        page = []
        for i, email in enumerate(group.emails[start : start + size], start=start):
            attributes = {"email": email, "first_name": "Fake", "phone_number": "+15550000000"}
            if fields is not None:
                attributes = {k: v for k, v in attributes.items() if k in fields.split(",")}
            page.append({"type": "profile", "id": f"P{i:06d}", "attributes": attributes})
        following = start + size
        next_url = None
        if following < len(group.emails) or self.repeat_cursor:
            cursor = 0 if self.repeat_cursor else following
            params = {**query, "page[cursor]": base64.urlsafe_b64encode(str(cursor).encode()).decode()}
            next_url = f"{self.next_base or self.base_url}{path}?{urlencode(params)}"
        return 200, {"data": page, "links": {"self": path, "next": next_url}}, {}


def _resource(kind: str, resource_id: str, group: Group) -> dict[str, Any]:
    return {"type": kind, "id": resource_id, "attributes": {"name": group.name}}


def _errors(status: int, detail: str) -> dict[str, Any]:
    return {"errors": [{"status": status, "title": detail, "detail": detail}]}
