"""/api/v1/segments: list, create (or import from Klaviyo), show, fill, sync and delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from schemas.reports import Deleted, ImportReport, MemberOut, MembershipReport, SegmentOut, SegmentShow, SyncStateOut
from segflow.errors import InvalidInput
from segflow.services import klaviyo
from segflow.services import segments as segment_service
from segflow.web.deps import Db, Store, Syncs, store_of
from segflow.web.uploads import import_upload

router = APIRouter(dependencies=[Depends(store_of)])


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


@router.get("/segments", response_model=list[SegmentOut])
def list_segments(conn: Db, store: Store) -> list[SegmentOut]:
    return [SegmentOut.model_validate(r, from_attributes=True) for r in segment_service.list_all(conn, store)]


@router.post(
    "/segments", response_model=SegmentOut, status_code=201,
    responses={202: {"model": SyncStateOut, "description": "Importing from Klaviyo, in the background."}},
)  # fmt: skip
def create_segment(conn: Db, store: Store, body: NewSegment, syncs: Syncs) -> Response:
    if body.klaviyo is None:
        created = SegmentOut.model_validate(segment_service.create(conn, store, body.name), from_attributes=True)
        return JSONResponse(created.model_dump(mode="json"), status_code=201)
    source = body.klaviyo
    if (source.external_id is None) == (source.external_name is None):
        raise InvalidInput("give the Klaviyo list's or segment's external_id or its external_name, not both")
    segment = klaviyo.queue_import(conn, store, body.name, source.type, source.external_id, source.external_name)
    syncs.wake()
    return JSONResponse(klaviyo.sync_state(conn, store, segment).model_dump(mode="json"), status_code=202)


@router.post("/segments/{name:part}/sync", response_model=SyncStateOut, status_code=202)
def sync_segment(conn: Db, store: Store, name: str, syncs: Syncs) -> SyncStateOut:
    segment = klaviyo.queue_sync(conn, store, name)
    syncs.wake()
    return klaviyo.sync_state(conn, store, segment)


# A name or email is one step of the path (segflow.web.paths), whatever it holds.
@router.post("/segments/{name:part}/members", response_model=MembershipReport)
def add_members(conn: Db, store: Store, name: str, body: Emails) -> MembershipReport:
    result = segment_service.change_by_email(conn, store, name, "add", body.emails)
    return MembershipReport(changed=result.changed, unchanged=result.unchanged, unknown=result.unknown)


@router.delete("/segments/{name:part}/members/{email:part}", response_model=MembershipReport)
def remove_member(conn: Db, store: Store, name: str, email: str) -> MembershipReport:
    result = segment_service.change_by_email(conn, store, name, "remove", [email])
    return MembershipReport(changed=result.changed, unchanged=result.unchanged, unknown=result.unknown)


@router.post("/segments/{name:part}/import", response_model=ImportReport)
def import_members(conn: Db, store: Store, name: str, file: Annotated[UploadFile, File()]) -> ImportReport:
    return import_upload(conn, store, name, file)


@router.get("/segments/{name:part}", response_model=SegmentShow)
def show_segment(conn: Db, store: Store, name: str, limit: int = 50) -> SegmentShow:
    row, members = segment_service.show(conn, store, name, max(0, min(limit, 10_000)))
    return SegmentShow(
        segment=SegmentOut.model_validate(row, from_attributes=True),
        members=[MemberOut.model_validate(m, from_attributes=True) for m in members],
    )


@router.delete("/segments/{name:part}", response_model=Deleted)
def delete_segment(conn: Db, store: Store, name: str) -> Deleted:
    segment, paused = segment_service.delete(conn, store, name)
    return Deleted(deleted=segment.name, members_removed=segment.members, paused_flows=paused)
