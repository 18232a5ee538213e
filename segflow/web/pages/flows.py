"""The flows pages: the list, and a flow (its graph with counts, versions, a diff; pause,
resume, archive)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from engine.graph import NodeCounts
from segflow.errors import SegflowError
from segflow.services import flows as flow_service
from segflow.web.deps import Db
from segflow.web.graph import flow_svg
from segflow.web.pages.session import Csrf, Session, _check, after_form, one_of, render, signed_in
from segflow.web.paths import part

router = APIRouter(dependencies=[Depends(signed_in)])


@router.get("/flows", response_class=HTMLResponse)
def flows_page(request: Request, conn: Db, session: Session) -> Response:
    return render(request, session, "flows.html", flows=flow_service.list_all(conn, session.store_id))


@router.get("/flows/{flow_id:part}", response_class=HTMLResponse)
def flow_page(
    request: Request, conn: Db, session: Session, flow_id: str, version: int | None = None,
    diff_from: int | None = None,
) -> Response:  # fmt: skip
    shown = flow_service.show(conn, session.store_id, flow_id, version)
    flow, stats = flow_service.stats_of(conn, session.store_id, shown)
    counts = {n.id: NodeCounts(n.visits, n.waiting, n.edges) for n in stats.nodes}
    entered = sum(stats.runs.values())
    versions = flow_service.versions(conn, session.store_id, flow_id)
    diff, diff_error = None, None
    numbers = sorted(v.version for v in versions)
    if diff_from is not None and diff_from not in numbers:
        diff_error = f"flow {flow_id} has no version {diff_from} (its versions are {numbers[0]} to {numbers[-1]})"
    elif diff_from is not None and diff_from >= shown.version:
        diff_error = f"version {diff_from} is not older than the version shown, {shown.version}"
    elif (older := diff_from if diff_from is not None else shown.version - 1) >= 1:
        diff = flow_service.diff_report(flow_service.diff_to(conn, session.store_id, older, shown))
    return render(
        request, session, "flow.html", flow=flow, shown=shown, stats=stats, entered=entered,
        svg=flow_svg(flow, counts, entered), versions=versions, diff=diff, diff_error=diff_error,
        live_all=sum(v.live for v in versions), path="/flows/" + part(flow_id),
    )  # fmt: skip


@router.post("/flows/{flow_id:part}")
def flow_form(
    conn: Db, session: Session, flow_id: str, csrf_token: Csrf = "", action: Annotated[str, Form()] = ""
) -> Response:
    _check(session, csrf_token)
    flow_service.show(conn, session.store_id, flow_id, None)  # none by that id: the 404 page
    back = "/flows/" + part(flow_id)
    try:
        change = one_of(action, flow_service.STATUS_CHANGES, f"unknown action {action!r}")
        status, exited = flow_service.change_status(conn, session.store_id, flow_id, change)
        suffix = f"; {exited} in-flight runs exited" if action == "archive" else ""
        return after_form(conn, session, back, "ok", f"flow {flow_id} is {status}{suffix}")
    except SegflowError as exc:
        return after_form(conn, session, back, "error", str(exc))
