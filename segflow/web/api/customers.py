"""/api/v1/customers: a customer's record and segments, and their journey explained."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from schemas.reports import CustomerShow, ExplainOut
from segflow.services import customers as customer_service
from segflow.web.deps import Db, Store, store_of

router = APIRouter(dependencies=[Depends(store_of)])


@router.get("/customers/{email:part}", response_model=CustomerShow)
def show_customer(conn: Db, store: Store, email: str) -> CustomerShow:
    return customer_service.show(conn, store, email)


@router.get("/customers/{email:part}/explain", response_model=ExplainOut)
def explain_customer(conn: Db, store: Store, email: str, flow: str | None = None, limit: int = 50) -> ExplainOut:
    return customer_service.explain(conn, store, email, flow, max(1, min(limit, 100_000)))
