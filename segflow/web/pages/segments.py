"""The segments pages: the list (create, import from Klaviyo), and a segment (its members; add,
remove, import a CSV, sync, auto-sync, delete)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from segflow.errors import InvalidInput, PlanRequired, SegflowError
from segflow.services import customers as customer_service
from segflow.services import klaviyo, wording
from segflow.services import segments as segment_service
from segflow.web.deps import Db, Syncs
from segflow.web.pages.session import (
    PAGE_SIZE,
    Csrf,
    Session,
    _check,
    after_form,
    one_of,
    render,
    segment_path,
    signed_in,
)  # fmt: skip
from segflow.web.uploads import import_upload

router = APIRouter(dependencies=[Depends(signed_in)])


@router.get("/segments", response_class=HTMLResponse)
def segments_page(request: Request, conn: Db, session: Session) -> Response:
    try:
        rows = segment_service.list_all(conn, session.store_id)
    except PlanRequired as exc:
        return render(request, session, "segments.html", plan_message=str(exc), segments=[])
    return render(request, session, "segments.html", plan_message=None, segments=rows)


@router.post("/segments")
def segments_form(
    syncs: Syncs, conn: Db, session: Session, csrf_token: Csrf = "", action: Annotated[str, Form()] = "create",
    name: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "list",
    external: Annotated[str, Form()] = "", by: Annotated[str, Form()] = "name",
) -> Response:  # fmt: skip
    _check(session, csrf_token)
    try:
        if action == "create":
            row = segment_service.create(conn, session.store_id, name)
            return after_form(conn, session, segment_path(row.name), "ok", f'created segment "{row.name}"')
        if action == "import_external":
            source = one_of(kind, klaviyo.KINDS, f"kind {kind!r} is not list or segment")
            segment = klaviyo.queue_import(
                conn, session.store_id, name, source,
                external if by == "id" else None, external if by != "id" else None,
            )  # fmt: skip
            syncs.wake()
            text = f'importing Klaviyo {kind} into "{segment.name}" in the background; this page shows how it went'
            return after_form(conn, session, segment_path(segment.name), "ok", text)
        raise InvalidInput(f"unknown action {action!r}")
    except SegflowError as exc:
        return after_form(conn, session, "/segments", "error", str(exc))


@router.get("/template.csv")
def template(session: Session) -> Response:
    return PlainTextResponse(
        segment_service.template(), media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="segment-import-template.csv"'},
    )  # fmt: skip


@router.get("/segments/{name:part}", response_class=HTMLResponse)
def segment_page(request: Request, conn: Db, session: Session, name: str, q: str = "", after: str = "") -> Response:
    segment = segment_service.get(conn, session.store_id, name)
    members = customer_service.list_customers(
        conn, session.store_id, PAGE_SIZE + 1, q or None, segment.name, after or None
    )
    more = len(members) > PAGE_SIZE
    members = members[:PAGE_SIZE]
    return render(
        request, session, "segment.html", segment=segment, members=members, q=q, after=after,
        next_after=members[-1].email if more else None, path=segment_path(segment.name),
        used_by=segment_service.referencing_flows(conn, session.store_id, segment.name),
        sync=klaviyo.sync_state(conn, session.store_id, segment) if segment.source == klaviyo.PROVIDER else None,
    )  # fmt: skip


@router.post("/segments/{name:part}")
def segment_form(
    syncs: Syncs, conn: Db, session: Session, name: str, csrf_token: Csrf = "",
    action: Annotated[str, Form()] = "", emails: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None, confirm_name: Annotated[str, Form()] = "",
    auto_sync: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    _check(session, csrf_token)
    store = session.store_id
    segment = segment_service.get(conn, store, name)  # none by that name: the 404 page
    back = segment_path(segment.name)
    try:
        if action in ("add", "remove"):
            given = [e for e in emails.replace(",", " ").split() if e] or ([email] if email else [])
            if not given:
                raise InvalidInput("give at least one email")
            operation = one_of(action, segment_service.OPERATIONS, f"unknown action {action!r}")
            result = segment_service.change_by_email(conn, store, segment.name, operation, given)
            lines = wording.membership_lines(
                action, segment.name, store, result.changed, result.unchanged, result.unknown
            )
            return after_form(conn, session, back, "ok", "; ".join(lines))
        if action == "import":
            if file is None or not file.filename:
                raise InvalidInput("choose a CSV file to upload")
            report = import_upload(conn, store, segment.name, file)
            heading, *lines = wording.import_lines(segment.name, report, shown_invalid=100, where_all="")
            return after_form(conn, session, back, "ok", heading, report=[line.strip() for line in lines])
        if action == "sync":
            klaviyo.queue_sync(conn, store, segment.name)
            syncs.wake()
            text = f'sync of "{segment.name}" queued; this page shows when it has run'
            return after_form(conn, session, back, "ok", text)
        if action == "auto_sync":
            changed = klaviyo.set_auto_sync(conn, store, segment.name, auto_sync == "on")
            state = "on" if changed.auto_sync else "off"
            return after_form(conn, session, back, "ok", f'auto-sync is {state} for segment "{changed.name}"')
        if action == "delete":
            if segment_service.as_typed(confirm_name) != segment.name:
                raise InvalidInput(f'type the segment\'s name, "{segment.name}", to delete it')
            deleted, _paused = segment_service.delete(conn, store, segment.name)
            return after_form(conn, session, "/segments", "ok", wording.deleted_line(deleted.name, deleted.members))
        raise InvalidInput(f"unknown action {action!r}")
    except SegflowError as exc:
        return after_form(conn, session, back, "error", str(exc))
