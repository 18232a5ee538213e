"""Signing in with an access token, and out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from segflow.services import access
from segflow.web.deps import Db
from segflow.web.pages.session import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    BadCsrf,
    Csrf,
    Session,
    _check,
    _local,
    render,
)  # fmt: skip

router = APIRouter()


def login_form(request: Request, next_path: str, status: int = 200, error: str | None = None) -> Response:
    """The sign-in form, with a fresh double-submit token in the form and in a cookie."""
    nonce = secrets.token_urlsafe(24)
    form = render(request, None, "login.html", status, next=_local(next_path), login_token=nonce, error=error)
    form.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="lax", max_age=3600)
    return form


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/segments") -> Response:
    return login_form(request, next)


@router.post("/login")
def login(
    request: Request, conn: Db, token: Annotated[str, Form()] = "", csrf_token: Csrf = "",
    next: Annotated[str, Form()] = "/segments",
) -> Response:  # fmt: skip
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not access.same_secret(csrf_token, expected):
        raise BadCsrf()
    made = access.sign_in(conn, token.strip())
    if made is None:
        why = "that token is not a live access token; make one with `segflow stores token STORE`"
        return login_form(request, next, 401, why)
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, made.cookie, httponly=True, samesite="lax",
        max_age=int(access.SESSION_LIFETIME.total_seconds()), secure=request.url.scheme == "https",
    )  # fmt: skip
    response.delete_cookie(LOGIN_COOKIE)
    return response


@router.post("/logout")
def logout(conn: Db, session: Session, csrf_token: Csrf = "") -> Response:
    _check(session, csrf_token)
    access.sign_out(conn, session.cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def home() -> Response:
    return RedirectResponse("/segments", status_code=303)
