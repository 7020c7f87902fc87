"""Async client for the one Coveo Platform call the bot makes: list an organisation's API keys.

Every failure becomes one of the errors of `bot/coveo/errors.py` (the tree is drawn there).

Error answers are read the way Coveo's own client reads them (coveo/platform-client,
src/handlers/response/ResponseHandlers.ts): the WAF header first, then 502, then an HTML body,
then a JSON body whose code is `title` or its aliases `type`, `errorCode`, `code`, and whose
message is `detail` or its alias `message`; the request id is the X-Request-ID header.

Transient failures (429, 502, 503, 504, network errors) are retried with exponential
backoff and full jitter, each pause between MIN_PAUSE and MAX_PAUSE, at most MAX_ATTEMPTS
times and never past the caller's deadline, which bounds each whole attempt (a body that
trickles in included). A Retry-After longer than MAX_PAUSE is not waited for: the user is
told when to try again instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bot import logs
from bot.core.apikey import parse_api_keys
from bot.core.command import ORG_ID
from bot.coveo.errors import (
    BadGateway,
    BadResponse,
    Blocked,
    ClientFailure,
    CoveoError,
    CoveoTimeout,
    CoveoUnavailable,
    ErrorPage,
    NotAllowed,
    OrganizationNotFound,
    ResponseTooLarge,
    Throttled,
    TokenRejected,
)
from bot.coveo.hooks import OTHER, CoveoHooks, NoHooks, failure_status
from bot.coveo.results import KeyList, Organization
from bot.coveo.transport import AiohttpTransport
from bot.outbound import Outbound
from bot.settings import RegionSettings, Secret, Settings, header_problem, header_safe

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
MAX_ATTEMPTS = 6
MIN_PAUSE = 0.2  # even "Retry-After: 0" gets a pause: a throttling Coveo is not hammered
MAX_PAUSE = 4.0
FIRST_BACKOFF = 0.25
MAX_RETRY_AFTER = 3600.0  # what any Retry-After header is clamped to
# 5,000 keys are about 5 MB of JSON; past this the answer is refused rather than held in memory.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
TOKEN_REJECTED_FOR = 300.0  # how long a rejected token keeps /readyz at 503 without a new one
REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_CONNECTIONS = 100  # per region and process; aiohttp's default, and what the benchmark's floor uses


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
        except UnicodeDecodeError:
            log.warning("%s is not UTF-8 text; keeping the token read before", self.variable)
            return False
        if not fresh or fresh == self._token.reveal():
            return False
        if not header_safe(fresh):
            # httpx could not even send it; the old token stays, and Coveo's 401 is the answer.
            log.warning(
                "%s; keeping the token read before",
                header_problem(self.variable),
                extra={"event": "token_unusable", "variable": self.variable},
            )
            return False
        logs.rotate_secret(self.variable, fresh, self._token.reveal())
        self._token = Secret(fresh)
        log.info("Coveo token re-read from %s", self.variable)
        return True


class CoveoClient:
    """Lists API keys in one region. One instance (and one pooled `httpx.AsyncClient`) per region and process."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenSource,
        region: str = "us",
        hooks: CoveoHooks | None = None,
        policy: Outbound | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.region = region
        self.hooks: CoveoHooks = hooks or NoHooks()
        self._http = new_http_client(policy)
        self.last_answer_at: float | None = None  # wall-clock time Coveo last answered, for /healthz
        # Coveo said no to the token, even freshly re-read, and has not said yes since (for /readyz).
        self._token_rejected: float | None = None  # when Coveo last rejected the token (monotonic)

    @classmethod
    def for_region(
        cls, region: RegionSettings, hooks: CoveoHooks | None = None, policy: Outbound | None = None
    ) -> CoveoClient:
        """The client for one configured region; the token is re-read from its file when there is one."""
        return cls(
            region.platform_url,
            TokenSource(region.token, region.token_file, region.token_variable),
            region.name,
            hooks,
            policy,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, hooks: CoveoHooks | None = None, policy: Outbound | None = None
    ) -> dict[str, CoveoClient]:
        """One client per region the settings configure, by region name, in the settings' order."""
        return {r.name: cls.for_region(r, hooks, policy) for r in settings.coveo_regions}

    def token_known_rejected(self) -> bool:
        """Whether Coveo rejected this region's token (after re-reading its file) and has accepted
        none since. A new token in the file clears it: an unready bot gets no commands, so no
        request would ever try the rotated token. Only reads a local file, never calls Coveo."""
        if self._token_rejected is not None and (
            self.tokens.reload() or time.monotonic() - self._token_rejected >= TOKEN_REJECTED_FOR
        ):
            # A new token in the file, or long enough to try again: without commands (an unready
            # bot gets none) nothing else would ever find out that the token works again.
            self._token_rejected = None
        return self._token_rejected is not None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def list_api_keys(self, org_id: str, *, deadline: float) -> KeyList:
        """All API keys of `org_id`. `deadline` is a `time.monotonic()` instant.

        Raises only `CoveoError` (a failure of this region) or `ValueError` (not an org id)."""
        if not ORG_ID.match(org_id):
            raise ValueError("not a Coveo organization id")
        try:
            return await self._list_api_keys(org_id, deadline)
        except CoveoError:
            raise
        except Exception as exc:
            raise self._unexpected(exc) from exc

    def _unexpected(self, exc: Exception) -> ClientFailure:
        # The exception's text may quote the token or the answer: its type alone is logged.
        log.warning(
            "a Coveo call failed unexpectedly",
            extra={"event": "coveo_client_failure", "region": self.region, "error": type(exc).__name__},
        )
        return ClientFailure.of(exc)

    async def _list_api_keys(self, org_id: str, deadline: float) -> KeyList:
        url = f"{self.base_url}/rest/organizations/{quote(org_id, safe='')}/apikeys"
        data, request_id = await self._get_json(url, deadline)
        if not isinstance(data, list):
            raise BadResponse(
                f"expected a JSON array of API keys, got {type(data).__name__}", request_id=request_id
            )
        return KeyList(parse_api_keys(data, consume=True), request_id)  # data: just decoded, ours

    async def list_organizations(self, *, deadline: float) -> list[Organization]:
        """The organisations the token can see (for "did you mean" and `python -m bot check`)."""
        try:
            return await self._list_organizations(deadline)
        except CoveoError:
            raise
        except Exception as exc:
            raise self._unexpected(exc) from exc

    async def _list_organizations(self, deadline: float) -> list[Organization]:
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
        token_reloaded = False
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CoveoTimeout("no answer from Coveo before the deadline")
            try:
                started = time.monotonic()
                status: int | str = OTHER
                try:
                    async with asyncio.timeout(remaining):
                        answer = await self._fetch(url, remaining)
                        status = answer.status
                except BaseException as exc:
                    status = failure_status(exc)
                    raise
                finally:
                    self.hooks.coveo_request(self.region, status, time.monotonic() - started)
            except (TimeoutError, httpx.TimeoutException):
                error: CoveoError = CoveoTimeout("Coveo did not answer in time")
            except httpx.HTTPError as exc:
                error = CoveoUnavailable(f"cannot reach Coveo ({type(exc).__name__})")
            else:
                self.last_answer_at = time.time()
                if answer.ok:
                    self._token_rejected = None
                    return answer.json(), answer.request_id
                error = answer.error()
                if isinstance(error, TokenRejected) and not token_reloaded and self.tokens.reload():
                    token_reloaded = True
                    continue
                if isinstance(error, TokenRejected):
                    self._token_rejected = time.monotonic()
            pause = _pause(attempt, error) if _retryable(error) and attempt < MAX_ATTEMPTS else None
            if pause is None or time.monotonic() + pause >= deadline:
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
            self.hooks.coveo_retry(self.region)
            await asyncio.sleep(pause)

    async def _fetch(self, url: str, remaining: float) -> _Answer:
        """One GET, its body read in full but never past MAX_RESPONSE_BYTES."""
        headers = {"Authorization": f"Bearer {self.tokens.current.reveal()}"}
        async with self._http.stream(
            "GET", url, headers=headers, timeout=_attempt_timeout(remaining)
        ) as response:
            request_id = response.headers.get("x-request-id")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
                raise _too_large(response.status_code, request_id)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():  # decoded: a small gzip body can unpack huge
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    chunks.clear()  # the traceback keeps this frame alive: not its 32 MB
                    raise _too_large(response.status_code, request_id)
                chunks.append(chunk)
            return _Answer(response.status_code, response.headers, b"".join(chunks))


@dataclass(frozen=True)
class _Answer:
    """One HTTP answer from Coveo, read in full."""

    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def request_id(self) -> str | None:
        value: str | None = self.headers.get("x-request-id")
        return value

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as exc:  # nesting past Python's recursion limit too
            raise BadResponse(
                "Coveo answered with something that is not JSON we can read",
                status=self.status,
                request_id=self.request_id,
            ) from exc

    def error(self) -> CoveoError:
        return _error_from(self)


def _too_large(status: int, request_id: str | None) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"Coveo's answer is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MB",
        status=status,
        request_id=request_id,
    )


def new_http_client(policy: Outbound | None = None) -> httpx.AsyncClient:
    # Redirects are not followed: the Authorization header must reach the configured host only.
    return httpx.AsyncClient(
        transport=AiohttpTransport(MAX_CONNECTIONS, policy),
        timeout=REQUEST_TIMEOUT,
        follow_redirects=False,
        headers={"Accept": "application/json", "User-Agent": "apikeyid-slack-bot"},
    )


def _attempt_timeout(remaining: float) -> httpx.Timeout:
    read = min(REQUEST_TIMEOUT.read or 10.0, remaining)
    return httpx.Timeout(read, connect=min(REQUEST_TIMEOUT.connect or 5.0, remaining))


ERROR_CODE_FIELDS = (
    "title",
    "type",
    "errorCode",
    "code",
)  # platform-client's errorTypeAliases, after `title`
ERROR_MESSAGE_FIELDS = ("detail", "message")  # its errorDetailAliases, after `detail`


def _error_from(response: _Answer) -> CoveoError:
    status = response.status
    content_type = (response.headers.get("content-type") or "").split(";")[0].strip().lower()
    try:
        body: Any = json.loads(response.body)
    except (ValueError, RecursionError):
        body = None
    fields = body if isinstance(body, dict) else {}
    code = _first_text(fields, ERROR_CODE_FIELDS)
    message = _first_text(fields, ERROR_MESSAGE_FIELDS)
    request_id = response.headers.get("x-request-id") or _first_text(fields, ("requestID", "requestId"))
    detail = (
        f"Coveo answered {status}" + (f" {code}" if code else "") + (f": {message[:200]}" if message else "")
    )
    kwargs: dict[str, Any] = {
        "status": status,
        "error_code": code,
        "request_id": request_id,
        "message": message[:500] if message else None,
    }
    if (response.headers.get("x-coveo-waf-action") or "").strip().lower() == "block":
        return Blocked(f"Coveo's web application firewall blocked the request ({status})", **kwargs)
    if status == 502:
        return BadGateway(f"Coveo answered 502 bad gateway{f' {code}' if code else ''}", **kwargs)
    if status == 429:
        return Throttled(detail, retry_after=_retry_after(response.headers.get("retry-after")), **kwargs)
    if status >= 500:
        return CoveoUnavailable(detail, **kwargs)
    if content_type == "text/html" or (body is None and response.body.lstrip()[:1] == b"<"):
        # Not Coveo's API speaking (its errors are JSON): a proxy, a captive portal, a wrong host.
        return ErrorPage(f"Coveo answered {status} with an HTML page instead of JSON", **kwargs)
    if status in (401, 419):  # 419: Coveo's own clients read it as an expired token
        return TokenRejected(detail, **kwargs)
    if status == 403:
        return NotAllowed(detail, **kwargs)
    if status == 404:
        return OrganizationNotFound(detail, **kwargs)
    if 300 <= status < 400:
        return BadResponse(f"Coveo answered with a redirect ({status}); it was not followed", **kwargs)
    return BadResponse(detail, **kwargs)


def _first_text(fields: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _retry_after(header: str | None) -> float | None:
    """Seconds Coveo asks us to wait, within [0, MAX_RETRY_AFTER]; None when the header says nothing usable."""
    text = (header or "").strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():  # isdigit alone accepts "²", which float() refuses
        return float(min(int(text[:8]), MAX_RETRY_AFTER))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC of unknown origin; Python leaves it naive
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - datetime.now(UTC)).total_seconds()), MAX_RETRY_AFTER)


def _retryable(error: CoveoError) -> bool:
    if isinstance(error, Throttled):
        return True
    if isinstance(error, CoveoUnavailable):
        return error.status is None or error.status in RETRYABLE_STATUSES
    return False


def _pause(attempt: int, error: CoveoError) -> float | None:
    """Seconds to wait before the next attempt; None when Coveo asks for longer than a command waits."""
    if error.retry_after is not None:
        return None if error.retry_after > MAX_PAUSE else max(MIN_PAUSE, error.retry_after)
    # Full jitter spreads retries from many commands so they do not hit Coveo in step.
    ceiling = max(MIN_PAUSE, min(MAX_PAUSE, FIRST_BACKOFF * 2 ** (attempt - 1)))
    return random.uniform(MIN_PAUSE, ceiling)  # noqa: S311 - not crypto
