"""The JSON API under /api/v1 (SPEC §10): the §7 and §9 `--json` shapes, bearer-token auth.

Errors are `{"error": message}` with the CLI's message: 401 without a live token, 404 for what
the store does not have, 409 when a rule refuses, 413 for an upload over 5 MiB, 422 for a
malformed body.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from schemas.reports import (
    CustomerShow,
    Deleted,
    ExplainOut,
    FlowOut,
    FlowStatusOut,
    FlowVersionOut,
    ImportReport,
    MemberOut,
    MembershipReport,
    SegmentOut,
    SegmentShow,
    SyncStateOut,
)
from segflow.errors import InvalidInput, SegflowError
from segflow.infra.config import Config
from segflow.infra.database import Conn
from segflow.services import access, klaviyo
from segflow.services import customers as customer_service
from segflow.services import flows as flow_service
from segflow.services import segments as segment_service
from segflow.web.app import API_PREFIX, BackgroundSyncs, connection, error_json, import_upload, malformed, status_of

PREFIX = API_PREFIX

Db = Annotated[Conn, Depends(connection)]
_bearer = HTTPBearer(auto_error=False, description="An access token from `segflow stores token STORE`.")


class Unauthorized(Exception):
    pass


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


class KlaviyoSource(BaseModel):
    type: Literal["list", "segment"]
    external_id: str | None = None
    """The list's or segment's id; or give its name."""
    external_name: str | None = None


class NewSegment(BaseModel):
    name: str
    klaviyo: KlaviyoSource | None = None
    """Set: import this Klaviyo list or segment, in the background (202 with its sync state)."""


class Emails(BaseModel):
    emails: list[str] = Field(min_length=1)


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

    @api.get("/segments", response_model=list[SegmentOut])
    def list_segments(conn: Db, store: Store) -> list[SegmentOut]:
        return [SegmentOut.model_validate(r, from_attributes=True) for r in segment_service.list_all(conn, store)]

    @api.post(
        "/segments", response_model=SegmentOut, status_code=201,
        responses={202: {"model": SyncStateOut, "description": "Importing from Klaviyo, in the background."}},
    )  # fmt: skip
    def create_segment(conn: Db, store: Store, body: NewSegment) -> Response:
        if body.klaviyo is None:
            created = SegmentOut.model_validate(segment_service.create(conn, store, body.name), from_attributes=True)
            return JSONResponse(created.model_dump(mode="json"), status_code=201)
        source = body.klaviyo
        if (source.external_id is None) == (source.external_name is None):
            raise InvalidInput("give the Klaviyo list's or segment's external_id or its external_name, not both")
        segment = klaviyo.queue_import(conn, store, body.name, source.type, source.external_id, source.external_name)
        syncs.wake()
        return JSONResponse(klaviyo.sync_state(conn, store, segment).model_dump(mode="json"), status_code=202)

    @api.post("/segments/{name:part}/sync", response_model=SyncStateOut, status_code=202)
    def sync_segment(conn: Db, store: Store, name: str) -> SyncStateOut:
        segment = klaviyo.queue_sync(conn, store, name)
        syncs.wake()
        return klaviyo.sync_state(conn, store, segment)

    # A name or email is one step of the path (segflow.web.paths), whatever it holds.
    @api.post("/segments/{name:part}/members", response_model=MembershipReport)
    def add_members(conn: Db, store: Store, name: str, body: Emails) -> MembershipReport:
        result = segment_service.change_by_email(conn, store, name, "add", body.emails)
        return MembershipReport(changed=result.changed, unchanged=result.unchanged, unknown=result.unknown)

    @api.delete("/segments/{name:part}/members/{email:part}", response_model=MembershipReport)
    def remove_member(conn: Db, store: Store, name: str, email: str) -> MembershipReport:
        result = segment_service.change_by_email(conn, store, name, "remove", [email])
        return MembershipReport(changed=result.changed, unchanged=result.unchanged, unknown=result.unknown)

    @api.post("/segments/{name:part}/import", response_model=ImportReport)
    def import_members(conn: Db, store: Store, name: str, file: Annotated[UploadFile, File()]) -> ImportReport:
        return import_upload(conn, store, name, file)

    @api.get("/segments/{name:part}", response_model=SegmentShow)
    def show_segment(conn: Db, store: Store, name: str, limit: int = 50) -> SegmentShow:
        row, members = segment_service.show(conn, store, name, max(0, min(limit, 10_000)))
        return SegmentShow(
            segment=SegmentOut.model_validate(row, from_attributes=True),
            members=[MemberOut.model_validate(m, from_attributes=True) for m in members],
        )

    @api.delete("/segments/{name:part}", response_model=Deleted)
    def delete_segment(conn: Db, store: Store, name: str) -> Deleted:
        segment, paused = segment_service.delete(conn, store, name)
        return Deleted(deleted=segment.name, members_removed=segment.members, paused_flows=paused)

    @api.get("/flows", response_model=list[FlowOut])
    def list_flows(conn: Db, store: Store) -> list[FlowOut]:
        return [FlowOut.model_validate(r, from_attributes=True) for r in flow_service.list_all(conn, store)]

    @api.get("/flows/{flow_id:part}", response_model=FlowVersionOut)
    def show_flow(conn: Db, store: Store, flow_id: str, version: int | None = None) -> FlowVersionOut:
        return FlowVersionOut.model_validate(flow_service.show(conn, store, flow_id, version), from_attributes=True)

    def status_route(change: str) -> None:
        @api.post(f"/flows/{{flow_id:part}}/{change}", response_model=FlowStatusOut, name=f"{change}_flow")
        def changed(conn: Db, store: Store, flow_id: str) -> FlowStatusOut:
            status, exited = flow_service.change_status(conn, store, flow_id, change)  # type: ignore[arg-type]
            return FlowStatusOut(id=flow_id, store_id=store, status=status, exited_runs=exited)

    for change in ("pause", "resume", "archive"):
        status_route(change)

    @api.get("/customers/{email:part}", response_model=CustomerShow)
    def show_customer(conn: Db, store: Store, email: str) -> CustomerShow:
        return customer_service.show(conn, store, email)

    @api.get("/customers/{email:part}/explain", response_model=ExplainOut)
    def explain_customer(conn: Db, store: Store, email: str, flow: str | None = None, limit: int = 50) -> ExplainOut:
        return customer_service.explain(conn, store, email, flow, max(1, min(limit, 100_000)))

    return api
