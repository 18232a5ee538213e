"""A customer's page: their record, segments and journey."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from segflow.services import customers as customer_service
from segflow.services import wording
from segflow.web.deps import Db
from segflow.web.pages.session import Session, render, signed_in

router = APIRouter(dependencies=[Depends(signed_in)])


@router.get("/customers/{email:part}", response_class=HTMLResponse)
def customer_page(request: Request, conn: Db, session: Session, email: str) -> Response:
    shown = customer_service.show(conn, session.store_id, email)
    explained = customer_service.explain(conn, session.store_id, email, None, 200)
    timeline = [(step.at, wording.step_lines(step)) for step in explained.steps]
    return render(request, session, "customer.html", shown=shown, timeline=timeline)
