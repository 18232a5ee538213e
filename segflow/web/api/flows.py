"""/api/v1/flows: list, show a version, and pause, resume or archive."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from schemas.reports import FlowOut, FlowStatusOut, FlowVersionOut
from segflow.services import flows as flow_service
from segflow.web.deps import Db, Store, store_of

router = APIRouter(dependencies=[Depends(store_of)])


@router.get("/flows", response_model=list[FlowOut])
def list_flows(conn: Db, store: Store) -> list[FlowOut]:
    return [FlowOut.model_validate(r, from_attributes=True) for r in flow_service.list_all(conn, store)]


@router.get("/flows/{flow_id:part}", response_model=FlowVersionOut)
def show_flow(conn: Db, store: Store, flow_id: str, version: int | None = None) -> FlowVersionOut:
    return FlowVersionOut.model_validate(flow_service.show(conn, store, flow_id, version), from_attributes=True)


def _status_route(change: flow_service.StatusChange) -> None:
    @router.post(f"/flows/{{flow_id:part}}/{change}", response_model=FlowStatusOut, name=f"{change}_flow")
    def changed(conn: Db, store: Store, flow_id: str) -> FlowStatusOut:
        status, exited = flow_service.change_status(conn, store, flow_id, change)
        return FlowStatusOut(id=flow_id, store_id=store, status=status, exited_runs=exited)


for _change in flow_service.STATUS_CHANGES:
    _status_route(_change)
