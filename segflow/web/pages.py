"""The console's pages (SPEC §10): server-rendered, no JavaScript, nothing fetched from elsewhere.

Every form posts to its page's path with a `csrf_token` field and an `action`; the answer is a
redirect (303) to the page, which shows the form's result once (the session's notice), so a
reload never submits twice. Errors are the services' own messages, as the CLI prints them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
import psycopg
from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from engine.graph import NodeCounts
from segflow.errors import InvalidInput, PlanRequired, SegflowError
from segflow.infra.config import Config
from segflow.infra.database import Conn, open_connection
from segflow.services import access, klaviyo, wording
from segflow.services import customers as customer_service
from segflow.services import flows as flow_service
from segflow.services import segments as segment_service
from segflow.web.deps import connection
from segflow.web.errors import malformed, status_of
from segflow.web.graph import flow_svg
from segflow.web.paths import part
from segflow.web.uploads import import_upload

SESSION_COOKIE = "segflow_session"
LOGIN_COOKIE = "segflow_login"
"""Double-submit token of the sign-in form, which comes before any session."""
PAGE_SIZE = 50
_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,  # every value is text, a segment name with markup included
    undefined=jinja2.StrictUndefined,  # a misspelt field fails the tests instead of showing nothing
)
_ENVIRONMENT.filters["part"] = part  # a name as one step of a link's path, its "/" included
TEMPLATES = Jinja2Templates(env=_ENVIRONMENT)

Db = Annotated[Conn, Depends(connection)]


def settings(request: Request) -> Config:
    config: Config = request.app.state.config
    return config


Settings = Annotated[Config, Depends(settings)]


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


def install(site: FastAPI) -> None:
    site.state.error_page = error_page

    @site.exception_handler(SignInRequired)
    def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)

    @site.exception_handler(BadCsrf)
    def _bad_csrf(request: Request, exc: BadCsrf) -> Response:
        text = "this form is out of date or was not sent by the console (no valid CSRF token); nothing was changed"
        return error_page(request, 403, text + ". Reload the page.")

    @site.exception_handler(SegflowError)
    def _error(request: Request, exc: SegflowError) -> Response:
        return error_page(request, status_of(exc), str(exc))

    @site.exception_handler(RequestValidationError)
    def _malformed(request: Request, exc: RequestValidationError) -> Response:
        return error_page(request, 422, malformed(exc))

    @site.exception_handler(HTTPException)
    def _framework(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return error_page(request, 404, "there is no page here")
        if exc.status_code == 405:
            return error_page(request, 405, f"this page does not take a {request.method}")
        if exc.status_code == 400:
            return error_page(request, 422, f"the form could not be read ({exc.detail}); nothing was changed")
        return error_page(request, exc.status_code, str(exc.detail))

    @site.exception_handler(Exception)
    def _fault(request: Request, exc: Exception) -> Response:
        return error_page(request, 500, "the console failed to answer; the fault was logged, and nothing was changed")

    # --- sign-in ---------------------------------------------------------------------------

    def login_form(request: Request, next_path: str, status: int = 200, error: str | None = None) -> Response:
        """The sign-in form, with a fresh double-submit token in the form and in a cookie."""
        nonce = secrets.token_urlsafe(24)
        form = render(request, None, "login.html", status, next=_local(next_path), login_token=nonce, error=error)
        form.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="lax", max_age=3600)
        return form

    @site.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/segments") -> Response:
        return login_form(request, next)

    @site.post("/login")
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

    @site.post("/logout")
    def logout(conn: Db, session: Session, csrf_token: Csrf = "") -> Response:
        _check(session, csrf_token)
        access.sign_out(conn, session.cookie)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @site.get("/")
    def home() -> Response:
        return RedirectResponse("/segments", status_code=303)

    # --- segments --------------------------------------------------------------------------

    @site.get("/segments", response_class=HTMLResponse)
    def segments_page(request: Request, conn: Db, session: Session) -> Response:
        try:
            rows = segment_service.list_all(conn, session.store_id)
        except PlanRequired as exc:
            return render(request, session, "segments.html", plan_message=str(exc), segments=[])
        return render(request, session, "segments.html", plan_message=None, segments=rows)

    @site.post("/segments")
    def segments_form(
        request: Request, conn: Db, session: Session, csrf_token: Csrf = "", action: Annotated[str, Form()] = "create",
        name: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "list",
        external: Annotated[str, Form()] = "", by: Annotated[str, Form()] = "name",
    ) -> Response:  # fmt: skip
        _check(session, csrf_token)
        try:
            if action == "create":
                row = segment_service.create(conn, session.store_id, name)
                return after_form(conn, session, segment_path(row.name), "ok", f'created segment "{row.name}"')
            if action == "import_external":
                if kind not in ("list", "segment"):
                    raise InvalidInput(f"kind {kind!r} is not list or segment")
                segment = klaviyo.queue_import(
                    conn, session.store_id, name, kind,  # type: ignore[arg-type]
                    external if by == "id" else None, external if by != "id" else None,
                )  # fmt: skip
                request.app.state.syncs.wake()
                text = f'importing Klaviyo {kind} into "{segment.name}" in the background; this page shows how it went'
                return after_form(conn, session, segment_path(segment.name), "ok", text)
            raise InvalidInput(f"unknown action {action!r}")
        except SegflowError as exc:
            return after_form(conn, session, "/segments", "error", str(exc))

    @site.get("/template.csv")
    def template(session: Session) -> Response:
        return PlainTextResponse(
            segment_service.template(), media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="segment-import-template.csv"'},
        )  # fmt: skip

    @site.get("/segments/{name:part}", response_class=HTMLResponse)
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

    @site.post("/segments/{name:part}")
    def segment_form(
        request: Request, conn: Db, session: Session, name: str, csrf_token: Csrf = "",
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
                result = segment_service.change_by_email(conn, store, segment.name, action, given)  # type: ignore[arg-type]
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
                request.app.state.syncs.wake()
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

    # --- flows -----------------------------------------------------------------------------

    @site.get("/flows", response_class=HTMLResponse)
    def flows_page(request: Request, conn: Db, session: Session) -> Response:
        return render(request, session, "flows.html", flows=flow_service.list_all(conn, session.store_id))

    @site.get("/flows/{flow_id:part}", response_class=HTMLResponse)
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

    @site.post("/flows/{flow_id:part}")
    def flow_form(
        conn: Db, session: Session, flow_id: str, csrf_token: Csrf = "", action: Annotated[str, Form()] = ""
    ) -> Response:
        _check(session, csrf_token)
        flow_service.show(conn, session.store_id, flow_id, None)  # none by that id: the 404 page
        back = "/flows/" + part(flow_id)
        try:
            if action not in ("pause", "resume", "archive"):
                raise InvalidInput(f"unknown action {action!r}")
            status, exited = flow_service.change_status(conn, session.store_id, flow_id, action)  # type: ignore[arg-type]
            suffix = f"; {exited} in-flight runs exited" if action == "archive" else ""
            return after_form(conn, session, back, "ok", f"flow {flow_id} is {status}{suffix}")
        except SegflowError as exc:
            return after_form(conn, session, back, "error", str(exc))

    # --- customers -------------------------------------------------------------------------

    @site.get("/customers/{email:part}", response_class=HTMLResponse)
    def customer_page(request: Request, conn: Db, session: Session, email: str) -> Response:
        shown = customer_service.show(conn, session.store_id, email)
        explained = customer_service.explain(conn, session.store_id, email, None, 200)
        timeline = [(step.at, wording.step_lines(step)) for step in explained.steps]
        return render(request, session, "customer.html", shown=shown, timeline=timeline)


def _local(path: str) -> str:
    """Only a path on this site, so a sign-in link cannot send the browser elsewhere."""
    # "//host" and "/\\host" are other sites to a browser.
    return path if path.startswith("/") and path[1:2] not in ("/", "\\") else "/segments"
