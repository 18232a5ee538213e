"""The JSON API under /api/v1 (SPEC §10): the §7 and §9 `--json` shapes, bearer-token auth.

One router per resource (segments, flows, customers), each requiring the bearer token's store
once for all its routes. Errors are `{"error": message}` with the CLI's message: 401 without a
live token, 404 for what the store does not have, 409 when a rule refuses, 413 for an upload
over 5 MiB, 422 for a malformed body.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from segflow.errors import SegflowError
from segflow.infra.config import Config
from segflow.web.api import customers, flows, segments
from segflow.web.deps import Unauthorized
from segflow.web.errors import API_PREFIX, error_json, malformed, status_of
from segflow.web.syncs import BackgroundSyncs

PREFIX = API_PREFIX


class ErrorOut(BaseModel):
    error: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": why}
    for code, why in (
        (401, "No valid access token."),
        (404, "The store has no such segment, flow or customer, or there is no such route."),
        (405, "The route does not take this method."),
        (409, "A rule refuses the change (the message says which)."),
        (413, "The body is over 5 MiB."),
        (422, "The body, a path step or a query parameter is malformed."),
        (500, "A fault of the server's own; it was logged."),
    )
}


def create(url: str, config: Config, syncs: BackgroundSyncs) -> FastAPI:
    api = FastAPI(
        title="segflow API", version="1", openapi_url="/openapi.json", docs_url=None, redoc_url=None,
        responses=ERRORS,
    )  # fmt: skip
    api.state.url = url
    api.state.config = config
    api.state.syncs = syncs
    _answer_errors(api)
    for resource in (segments, flows, customers):
        api.include_router(resource.router)
    return api


def _answer_errors(api: FastAPI) -> None:
    """Every error in the API's shape, `{"error": message}`, whoever raised it."""

    @api.exception_handler(Unauthorized)
    def _unauthorized(request: Request, exc: Unauthorized) -> Response:
        response = error_json(401, "no valid access token: send `Authorization: Bearer <token>`")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(SegflowError)
    def _refused(request: Request, exc: SegflowError) -> Response:
        return error_json(status_of(exc), str(exc), **exc.data)

    @api.exception_handler(RequestValidationError)
    def _malformed(request: Request, exc: RequestValidationError) -> Response:
        return error_json(422, malformed(exc))

    @api.exception_handler(HTTPException)
    def _framework(request: Request, exc: HTTPException) -> Response:
        """What the framework refuses before a route runs, in the API's own shape."""
        if exc.status_code == 404:
            return error_json(404, f"no API route {request.url.path}")
        if exc.status_code == 405:
            refused = error_json(405, f"{request.method} is not allowed on {request.url.path}")
            refused.headers.update(exc.headers or {})
            return refused
        if exc.status_code == 400:  # a body the parser could not read (a broken multipart upload)
            return error_json(422, f"malformed request body: {exc.detail}")
        return error_json(exc.status_code, str(exc.detail))

    @api.exception_handler(Exception)
    def _fault(request: Request, exc: Exception) -> Response:
        return error_json(500, "the server failed to answer; the fault was logged, and nothing was changed")
