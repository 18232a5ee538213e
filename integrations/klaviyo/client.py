"""Klaviyo lists and segments over its JSON:API (https://developers.klaviyo.com/en/reference).

- Every request carries `Authorization: Klaviyo-API-Key <key>`, a pinned `revision` and
  `accept: application/vnd.api+json`; paths start with `/api/`.
- Profiles are streamed page by page through `links.next` (cursor pagination), asking only for
  `email` and the largest page Klaviyo allows for these endpoints (100).
- `429` waits as long as `Retry-After` says; `5xx`, timeouts and connection errors are retried
  with bounded exponential back-off (tenacity). `401/403` and `404` are not retried.
- The key is held as a SecretStr: it never appears in reprs, logs or exception messages, and
  it is sent only to the configured base URL's origin: a `links.next` on another host, or
  scheme, or port is refused, never followed.
- A server that trickles or pages forever cannot hold a caller: each client has an overall
  deadline, a page limit, and refuses a `next` it has already been given.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

REVISION = "2024-10-15"
PAGE_SIZE = 100  # Klaviyo's maximum for list and segment profiles
MAX_ATTEMPTS = 6
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
MAX_RETRY_AFTER_S = 60.0
DEADLINE_S = 900.0  # one import or sync: 10,000 profiles take under a second against a fast server
MAX_PAGES = 100_000  # 10 million profiles

Kind = Literal["list", "segment"]


class KlaviyoError(Exception):
    """Base of the client's errors; messages never include the API key."""


class KlaviyoAuthError(KlaviyoError):
    """401/403: the key is wrong or lacks the scope."""


class KlaviyoNotFound(KlaviyoError):
    """404: no such list or segment."""


class KlaviyoUnavailable(KlaviyoError):
    """Klaviyo kept failing (5xx, 429, timeouts) after every retry."""


class _Retryable(KlaviyoError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Resource:
    kind: Kind
    id: str
    name: str


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, _Retryable) and error.retry_after is not None:
        return min(error.retry_after, MAX_RETRY_AFTER_S)
    return BACKOFF_S[min(state.attempt_number - 1, len(BACKOFF_S) - 1)]


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout_s: float = 15.0,
        deadline_s: float = DEADLINE_S,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._origin = httpx.URL(base_url)
        self._deadline = clock() + deadline_s
        self._deadline_s = deadline_s
        self._clock = clock
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout_s,
            headers={
                "Authorization": f"Klaviyo-API-Key {api_key.get_secret_value()}",
                "revision": REVISION,
                "accept": "application/vnd.api+json",
            },
        )
        self._sleep = sleep
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- lists and segments ----------------------------------------------------------------

    def get(self, kind: Kind, resource_id: str) -> Resource:
        document = self._get(f"/api/{kind}s/{resource_id}/")
        with _reading(document):
            return _resource(kind, document["data"])

    def find_by_name(self, kind: Kind, name: str) -> list[Resource]:
        """Every list (or segment) with exactly this name; Klaviyo names need not be unique."""
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        found: list[Resource] = []
        for page in self._pages(f"/api/{kind}s/", {"filter": f'equals(name,"{escaped}")'}):
            with _reading(page):
                found.extend(_resource(kind, item) for item in page["data"])
        return found

    def profile_emails(self, kind: Kind, resource_id: str) -> Iterator[str | None]:
        """Each member profile's email (None for profiles without one), page by page."""
        params = {"fields[profile]": "email", "page[size]": str(PAGE_SIZE)}
        for page in self._pages(f"/api/{kind}s/{resource_id}/profiles/", params):
            with _reading(page):
                emails = [(item.get("attributes") or {}).get("email") for item in page["data"]]
            for email in emails:
                yield email if isinstance(email, str) and email.strip() else None

    # --- HTTP ------------------------------------------------------------------------------

    def _pages(self, path: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        url: str | None = path
        query: dict[str, str] | None = params
        seen: set[str] = set()
        while url is not None:
            if len(seen) >= MAX_PAGES:
                raise KlaviyoError(f"Klaviyo gave more than {MAX_PAGES:,} pages; stopped")
            seen.add(url)
            document = self._get(url, query)
            yield document
            with _reading(document):
                next_url = (document.get("links") or {}).get("next")
            if next_url is not None and not isinstance(next_url, str):
                raise KlaviyoError("Klaviyo sent a malformed reply (links.next is not a URL)")
            if next_url and next_url in seen:
                raise KlaviyoError("Klaviyo's next page is one it already gave; stopped rather than loop")
            if next_url:
                self._check_origin(next_url)
            url, query = (next_url, None) if next_url else (None, None)  # `next` carries every parameter

    def _check_origin(self, url: str) -> None:
        """The API key goes with every request: only ever to the configured origin."""
        target = self._origin.join(url)
        if (target.scheme, target.host, target.port) != (self._origin.scheme, self._origin.host, self._origin.port):
            raise KlaviyoError(
                f"Klaviyo's next page link points to {target.scheme}://{target.host}, not {self._origin.host}; "
                "refused: the API key is only sent to the configured Klaviyo address"
            )

    def _get(self, url: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        retrying = Retrying(
            retry=retry_if_exception_type(_Retryable),
            stop=stop_after_attempt(MAX_ATTEMPTS),
            wait=_wait,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._get_once(url, params)
        except _Retryable as exc:
            raise KlaviyoUnavailable(f"Klaviyo did not answer after {MAX_ATTEMPTS} attempts: {exc}") from None
        raise AssertionError("tenacity either returns or raises")

    def _get_once(self, url: str, params: dict[str, str] | None) -> dict[str, Any]:
        if self._clock() > self._deadline:
            raise KlaviyoUnavailable(f"Klaviyo took longer than {self._deadline_s:.0f} s; stopped")
        self.requests += 1
        try:
            response = self._http.get(url, params=params)
        except httpx.TimeoutException:
            raise _Retryable("timed out") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"connection failed ({type(exc).__name__})") from None
        status = response.status_code
        if status == 429:
            raise _Retryable("rate limited (429)", _retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            raise _Retryable(f"server error {status}")
        if status in (401, 403):
            raise KlaviyoAuthError(f"Klaviyo refused the API key ({status})")
        if status == 404:
            raise KlaviyoNotFound("not found (404)")
        if status >= 400:
            raise KlaviyoError(f"Klaviyo rejected the request ({status}): {_first_error(response)}")
        try:
            document = response.json()
        except ValueError:
            raise KlaviyoError(f"Klaviyo sent a reply that is not JSON (status {status})") from None
        if not isinstance(document, dict):
            raise KlaviyoError(f"Klaviyo sent a reply that is not a JSON object (status {status})")
        return document


@contextmanager
def _reading(document: dict[str, Any]) -> Iterator[None]:
    """Reading a reply: one that lacks what the JSON:API promises is a KlaviyoError, not a KeyError."""
    try:
        yield
    except (KeyError, TypeError, AttributeError) as exc:
        raise KlaviyoError(f"Klaviyo sent a malformed reply ({type(exc).__name__}: {exc})") from None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date; the exponential back-off applies instead


def _first_error(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        return str(errors[0].get("detail") or errors[0].get("title")) if errors else response.reason_phrase
    except ValueError:
        return response.reason_phrase


def _resource(kind: Kind, item: dict[str, Any]) -> Resource:
    return Resource(kind=kind, id=str(item["id"]), name=str((item.get("attributes") or {}).get("name", "")))
