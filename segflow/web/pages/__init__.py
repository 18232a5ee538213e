"""The console's pages (SPEC §10): server-rendered, no JavaScript, nothing fetched from elsewhere.

Every form posts to its page's path with a `csrf_token` field and an `action`; the answer is a
redirect (303) to the page, which shows the form's result once (the session's notice), so a
reload never submits twice. Errors are the services' own messages, as the CLI prints them.
One router per part of the console; all but sign-in require a signed-in session for every route.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from segflow.errors import SegflowError
from segflow.web.errors import malformed, status_of
from segflow.web.pages import customers, flows, segments, signin
from segflow.web.pages.session import BadCsrf, SignInRequired, error_page


def install(site: FastAPI) -> None:
    site.state.error_page = error_page
    _answer_errors(site)
    for part_of_console in (signin, segments, flows, customers):
        site.include_router(part_of_console.router)


def _answer_errors(site: FastAPI) -> None:
    """Every error as the console's error page (or the sign-in form, for a page that needs one)."""

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
