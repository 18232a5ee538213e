"""How each side of the console answers an error: the API with `{"error": message}`, the pages
with the console's error page; and the HTTP status of each kind of service error (SPEC §10)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from segflow.errors import InvalidInput, NotFound, SegflowError, ServiceUnavailable

API_PREFIX = "/api/v1"


def is_api(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def error_response(request: Request, status: int, message: str) -> Response:
    """An error as the request's side of the console answers it: `{"error"}` from the API, the
    console's error page (installed by the pages) elsewhere."""
    if is_api(request.url.path):
        return error_json(status, message)
    page: Callable[[Request, int, str], Response] = request.app.state.error_page
    return page(request, status, message)


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
