"""What every page shares: the templates, the signed-in session and its CSRF check, the notice a
form leaves for the page it redirects to, and the console's error page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import jinja2
import psycopg
from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from segflow.errors import InvalidInput
from segflow.infra.database import Conn, open_connection
from segflow.services import access
from segflow.web.deps import Db
from segflow.web.paths import part

SESSION_COOKIE = "segflow_session"
LOGIN_COOKIE = "segflow_login"
"""Double-submit token of the sign-in form, which comes before any session."""
PAGE_SIZE = 50
_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parents[1] / "templates"),
    autoescape=True,  # every value is text, a segment name with markup included
    undefined=jinja2.StrictUndefined,  # a misspelt field fails the tests instead of showing nothing
)
_ENVIRONMENT.filters["part"] = part  # a name as one step of a link's path, its "/" included
TEMPLATES = Jinja2Templates(env=_ENVIRONMENT)


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class BadCsrf(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Signed:
    cookie: str
    store_id: str
    csrf_token: str
    notice: dict[str, Any] | None


def signed_in(request: Request, conn: Db) -> Signed:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    found = access.session(conn, cookie) if cookie else None
    if found is None:
        raise SignInRequired(request.scope.get("raw_path", b"").decode("latin-1") or request.url.path)
    request.state.store_id = found.store_id  # for the request's log line
    if found.notice is not None:
        access.set_notice(conn, cookie, None)  # shown once
    return Signed(cookie, found.store_id, found.csrf_token, found.notice)


Session = Annotated[Signed, Depends(signed_in)]
Csrf = Annotated[str, Form()]


def _check(session: Signed, csrf_token: str) -> None:
    if not csrf_token or not access.same_secret(csrf_token, session.csrf_token):
        raise BadCsrf()


def render(request: Request, session: Signed | None, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"session": session, "notice": session.notice if session else None, "section": None, "error": None, **context},
        status_code=status,
    )


def after_form(conn: Conn, session: Signed, path: str, kind: str, text: str, **details: Any) -> RedirectResponse:
    access.set_notice(conn, session.cookie, {"kind": kind, "text": text, **details})
    return RedirectResponse(path, status_code=303)


_Choice = TypeVar("_Choice", bound=str)


def one_of(value: str, allowed: tuple[_Choice, ...], refused: str) -> _Choice:
    """A form field's value as the choice it names (typed), or InvalidInput saying `refused`."""
    for choice in allowed:
        if choice == value:
            return choice
    raise InvalidInput(refused)


def segment_path(name: str) -> str:
    return "/segments/" + part(name)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """The console's own error page: the message, and the navigation and sign-out of whoever is
    signed in (looked up again: the route that failed may not have got that far)."""
    return render(request, _signed_in_quietly(request), "error.html", status, message=message)


def _signed_in_quietly(request: Request) -> Signed | None:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if not cookie:
        return None
    try:
        with open_connection(request.app.state.url) as conn:
            found = access.session(conn, cookie)
    except (psycopg.Error, ValueError):  # the error page shows, signed in or not
        return None
    return Signed(cookie, found.store_id, found.csrf_token, None) if found else None


def _local(path: str) -> str:
    """Only a path on this site, so a sign-in link cannot send the browser elsewhere."""
    # "//host" and "/\\host" are other sites to a browser.
    return path if path.startswith("/") and path[1:2] not in ("/", "\\") else "/segments"
