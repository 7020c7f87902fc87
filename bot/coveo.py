"""Async client for the one Coveo Platform call the bot makes: list an organisation's API keys.

Every failure becomes a `CoveoError` carrying the HTTP status, Coveo's error code
and request id (for support tickets); `replies.py` turns each kind into user text.

    CoveoError
    ├── TokenRejected          401 or 419: the service user's token expired, was revoked, or is another region's
    ├── NotAllowed             403: the token lacks the API key View privilege on this org
    ├── OrganizationNotFound   404: no such org in this client's region
    ├── Throttled              429: Coveo asks us to slow down (retry_after seconds)
    ├── CoveoUnavailable       5xx or network failure
    │   └── CoveoTimeout       no answer before the command's deadline
    └── BadResponse            an answer that is not the JSON we expect (or a redirect)

Transient failures (429, 502, 503, 504, network errors) are retried with
exponential backoff and full jitter until the caller's deadline.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bot import logs
from bot.apikey import ApiKey, parse_api_keys
from bot.command import ORG_ID
from bot.settings import RegionSettings, Secret, Settings

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
MAX_BACKOFF = 4.0
FIRST_BACKOFF = 0.25
REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class CoveoError(Exception):
    """A Coveo call failed. `detail` is for logs; users see text from `replies.py`."""

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.error_code = error_code
        self.request_id = request_id
        self.retry_after = retry_after

    @property
    def kind(self) -> str:
        """A short stable name for logs and the audit trail."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()


class TokenRejected(CoveoError): ...


class NotAllowed(CoveoError): ...


class OrganizationNotFound(CoveoError): ...


class Throttled(CoveoError): ...


class CoveoUnavailable(CoveoError): ...


class CoveoTimeout(CoveoUnavailable): ...


class BadResponse(CoveoError): ...


@dataclass(frozen=True)
class KeyList:
    """An organisation's API keys, with the id Coveo gave the request that listed them."""

    keys: list[ApiKey]
    request_id: str | None


@dataclass(frozen=True)
class Organization:
    id: str
    display_name: str
    region: str = ""  # the region whose token sees it


class TokenSource:
    """The Coveo access token, re-read from its file when Coveo rejects it (rotation without restart)."""

    def __init__(self, token: Secret, path: Path | None = None, variable: str = "COVEO_ACCESS_TOKEN") -> None:
        self._token = token
        self._path = path
        self.variable = variable  # where the token comes from, named in logs and in "rotate …" answers

    @property
    def current(self) -> Secret:
        return self._token

    def reload(self) -> bool:
        """Re-read the token file; True when it now holds a different token."""
        if self._path is None:
            return False
        try:
            fresh = self._path.read_text(encoding="utf-8").strip()
        except OSError:
            log.warning("could not re-read %s", self.variable)
            return False
        if not fresh or fresh == self._token.reveal():
            return False
        self._token = Secret(fresh)
        logs.add_secret(fresh)
        log.info("Coveo token re-read from %s", self.variable)
        return True


class CoveoClient:
    """Lists API keys in one region. One instance (and one pooled `httpx.AsyncClient`) per region and process."""

    def __init__(self, base_url: str, tokens: TokenSource, region: str = "us") -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.region = region
        self._http = new_http_client()
        self.last_answer_at: float | None = None  # wall-clock time Coveo last answered, for /healthz

    @classmethod
    def for_region(cls, region: RegionSettings) -> CoveoClient:
        """The client for one configured region; the token is re-read from its file when there is one."""
        return cls(
            region.platform_url,
            TokenSource(region.token, region.token_file, region.token_variable),
            region.name,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> dict[str, CoveoClient]:
        """One client per region the settings configure, by region name, in the settings' order."""
        return {r.name: cls.for_region(r) for r in settings.coveo_regions}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def list_api_keys(self, org_id: str, *, deadline: float) -> KeyList:
        """All API keys of `org_id`. `deadline` is a `time.monotonic()` instant."""
        if not ORG_ID.match(org_id):
            raise ValueError("not a Coveo organization id")
        url = f"{self.base_url}/rest/organizations/{quote(org_id, safe='')}/apikeys"
        data, request_id = await self._get_json(url, deadline)
        if not isinstance(data, list):
            raise BadResponse(
                f"expected a JSON array of API keys, got {type(data).__name__}", request_id=request_id
            )
        return KeyList(parse_api_keys(data), request_id)

    async def list_organizations(self, *, deadline: float) -> list[Organization]:
        """The organisations the token can see (for "did you mean" and `python -m bot check`)."""
        data, _ = await self._get_json(f"{self.base_url}/rest/organizations", deadline)
        # A bare array without query parameters; {items, totalEntries, totalPages} with them.
        items = data.get("items") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise BadResponse("expected a list of organizations")
        organizations = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                name = item.get("displayName")
                organizations.append(
                    Organization(item["id"], name if isinstance(name, str) else "", self.region)
                )
        return organizations

    async def _get_json(self, url: str, deadline: float) -> tuple[Any, str | None]:
        """The decoded JSON body and Coveo's request id."""
        attempt = 0
        token_reloaded = False
        while True:
            attempt += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CoveoTimeout("no answer from Coveo before the deadline")
            try:
                response = await self._http.get(
                    url,
                    headers={"Authorization": f"Bearer {self.tokens.current.reveal()}"},
                    timeout=_attempt_timeout(remaining),
                )
            except httpx.TimeoutException:
                error: CoveoError = CoveoTimeout("Coveo did not answer in time")
            except httpx.HTTPError as exc:
                error = CoveoUnavailable(f"cannot reach Coveo ({type(exc).__name__})")
            else:
                self.last_answer_at = time.time()
                if response.is_success:
                    return _decode_json(response), response.headers.get("x-request-id")
                error = _error_from(response)
                if isinstance(error, TokenRejected) and not token_reloaded and self.tokens.reload():
                    token_reloaded = True
                    continue
            if not _retryable(error):
                raise error
            pause = _backoff(attempt, error.retry_after)
            if time.monotonic() + pause >= deadline:
                raise error
            log.info(
                "coveo retry",
                extra={
                    "event": "coveo_retry",
                    "attempt": attempt,
                    "error": error.kind,
                    "pause": round(pause, 3),
                },
            )
            await asyncio.sleep(pause)


def new_http_client() -> httpx.AsyncClient:
    # Redirects are not followed: the Authorization header must reach the configured host only.
    return httpx.AsyncClient(
        timeout=REQUEST_TIMEOUT,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
        headers={"Accept": "application/json", "User-Agent": "apikeyid-slack-bot"},
    )


def _attempt_timeout(remaining: float) -> httpx.Timeout:
    read = min(REQUEST_TIMEOUT.read or 10.0, remaining)
    return httpx.Timeout(read, connect=min(REQUEST_TIMEOUT.connect or 5.0, remaining))


def _decode_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise BadResponse(
            "Coveo answered with something that is not JSON",
            status=response.status_code,
            request_id=response.headers.get("x-request-id"),
        ) from exc


def _error_from(response: httpx.Response) -> CoveoError:
    status = response.status_code
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    fields = body if isinstance(body, dict) else {}
    code = fields.get("errorCode") if isinstance(fields.get("errorCode"), str) else None
    message = fields.get("message") if isinstance(fields.get("message"), str) else ""
    request_id = response.headers.get("x-request-id") or (
        fields.get("requestID") if isinstance(fields.get("requestID"), str) else None
    )
    detail = (
        f"Coveo answered {status}" + (f" {code}" if code else "") + (f": {message[:200]}" if message else "")
    )
    kwargs: dict[str, Any] = {"status": status, "error_code": code, "request_id": request_id}
    if status in (401, 419):  # 419: Coveo's own clients read it as an expired token
        return TokenRejected(detail, **kwargs)
    if status == 403:
        return NotAllowed(detail, **kwargs)
    if status == 404:
        return OrganizationNotFound(detail, **kwargs)
    if status == 429:
        return Throttled(detail, retry_after=_retry_after(response.headers.get("retry-after")), **kwargs)
    if status >= 500:
        return CoveoUnavailable(detail, **kwargs)
    if 300 <= status < 400:
        return BadResponse(f"Coveo answered with a redirect ({status}); it was not followed", **kwargs)
    return BadResponse(detail, **kwargs)


def _retry_after(header: str | None) -> float | None:
    if not header:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _retryable(error: CoveoError) -> bool:
    if isinstance(error, Throttled):
        return True
    if isinstance(error, CoveoUnavailable):
        return error.status is None or error.status in RETRYABLE_STATUSES
    return False


def _backoff(attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return retry_after
    # Full jitter spreads retries from many commands so they do not hit Coveo in step.
    return random.uniform(0, min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (attempt - 1)))  # noqa: S311 - not crypto
