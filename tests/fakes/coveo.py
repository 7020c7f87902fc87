"""A fake Coveo Platform API: `GET /rest/organizations/{org}/apikeys` and `GET /rest/organizations`.

Tests put organisations in `orgs` and, to inject faults, queue `Fault`s per org:
each request takes the next fault, and answers normally once the queue is empty.

One instance plays one Coveo region: it accepts only its own token (`token=`), as a real
region rejects the tokens other regions issued, and answers 404 for orgs it does not hold.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import BackgroundServer

GOOD_TOKEN = "coveo-test-token-0123456789abcdef"  # the default fake's, playing US
EU_TOKEN = "coveo-eu-test-token-fedcba9876543210"
_ids = itertools.count(1)


@dataclass
class Fault:
    status: int = 500
    body: str | None = None  # raw text; None means a Coveo-style JSON error
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a hang if longer than the bot's deadline)
    content_type: str = "application/json"
    trickle: float = 0.0  # stream a valid body one byte at a time, this many seconds apart
    endless: bool = False  # stream a JSON array that never ends (until the bot hangs up)


# Keys are built in the shape of Coveo's `ApiKeyModel` (coveo/platform-client,
# src/resources/ApiKeys/ApiKeysInterfaces.ts): dates are Unix epoch milliseconds; every field
# but `id` is optional; `exposureReport` is an `ExposureReport`, its severity, source and
# creation type from src/resources/Enums.ts; privileges are `PrivilegeModel`s
# (src/resources/BaseInterfaces.ts). The client's example value is `xx` + a UUID
# ("xx65151ec3-7b30-4772-a99a-09b4c0f71343") and `value` is optional. The client does not show
# how a listing masks it: the fake masks all but the last four characters, the part customers
# quote from the admin console, and tests also send keys without a value at all.
DAY_MS = 86_400_000


MISSING: Any = object()  # `api_key(..., field=MISSING)`: the field is left out


def now_ms() -> int:
    return int(time.time() * 1000)


def masked_value(n: int) -> str:
    return f"xx********-****-****-****-********{n:04x}"


def api_key(name: str, **fields: Any) -> dict[str, Any]:
    """An enabled API key as Coveo lists it, used yesterday, never expiring, never reported;
    `fields` replace or add Coveo's fields (a field set to `MISSING` is left out, as Coveo leaves
    out optional fields)."""
    n = next(_ids)
    key_id = f"fakekey{n:06d}abcdefghijklmno"
    key: dict[str, Any] = {
        "id": key_id,
        "resourceId": key_id,
        "organizationId": "",
        "displayName": name,
        "description": "",
        "enabled": True,
        "status": "ENABLED",
        "value": masked_value(n),
        "createdBy": "support@example.com",
        "createdDate": 1_700_000_000_000,
        "activationDate": 1_700_000_000_000,
        "lastUsedDate": now_ms() - DAY_MS,
        "privileges": [
            {"owner": "SEARCH_API", "targetDomain": "EXECUTE_QUERY", "targetId": "*", "type": "ALLOW"}
        ],
        "allowedIps": [],
        "deniedIps": [],
        # Optional fields a key without them may carry as null rather than leave out.
        "expirationDate": None,
        "apiKeyTemplateId": None,
        "exposureReport": None,
    }
    key.update(fields)
    return {k: v for k, v in key.items() if v is not MISSING}


def exposure_report(
    severity: str = "CRITICAL",
    *,
    source: str = "GITHUB",
    url: str | None = "https://github.com/example/shop/blob/main/config.js",
    reason: str | None = "Found in a public repository",
    found_ms: int = 1_760_000_000_000,
    creation_type: str = "AUTOMATED",
    deactivation_ms: int | None = None,
) -> dict[str, Any]:
    """An `ExposureReport` as Coveo attaches it to a key (ApiKeysInterfaces.ts)."""
    reason_model: dict[str, Any] = {"id": f"{next(_ids)}", "source": source, "createdDate": found_ms}
    if url is not None:
        reason_model["url"] = url
    if reason is not None:
        reason_model["reason"] = reason
    report: dict[str, Any] = {
        "apiKeyLoggerId": f"logger{next(_ids)}",
        "severity": severity,
        "reasons": [reason_model],
        "creationType": creation_type,
        "createdBy": {"username": "security-bot@coveo.com", "displayName": "Coveo security"},
    }
    if deactivation_ms is not None:
        report["deactivationDate"] = deactivation_ms
    return report


def key_in_status(name: str, status: str, **fields: Any) -> dict[str, Any]:
    """A key in one of Coveo's `ApiKeyStatus` values, with the fields Coveo sends with it."""
    now = now_ms()
    shapes: dict[str, dict[str, Any]] = {
        "ENABLED": {},
        "DISABLED": {"enabled": False, "disabledDate": now - 3 * DAY_MS},
        # `enabled` is optional in Coveo's model: left out here, the status alone says it.
        "DISABLED_FOR_INACTIVITY": {
            "enabled": MISSING,
            "disabledDate": now - 5 * DAY_MS,
            "lastUsedDate": now - 200 * DAY_MS,
        },
        "EXPIRED": {"enabled": False, "expirationDate": now - 2 * DAY_MS},
        "SOON_TO_BE_EXPIRED": {"expirationDate": now + 6 * DAY_MS},
        "SOON_TO_BE_DISABLED": {"lastUsedDate": now - 170 * DAY_MS},
        "DISABLED_EXPOSED": {
            "enabled": False,
            "disabledDate": now - DAY_MS,
            "exposureReport": exposure_report("CRITICAL", deactivation_ms=now - DAY_MS),
        },
    }
    return api_key(name, status=status, **(shapes[status] | fields))


class FakeCoveo:
    def __init__(self, token: str = GOOD_TOKEN) -> None:
        self.orgs: dict[str, list[dict[str, Any]]] = {}
        self.faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.valid_tokens = {token}
        self.latency = 0.0
        self.requests: list[dict[str, Any]] = []  # method, path, authorization
        self.org_list_shape = "array"  # or "paged"
        self._lock = threading.Lock()
        self._encoded_cache: dict[str, tuple[list[dict[str, Any]], int, bytes]] = {}
        app = web.Application()
        app.router.add_get("/rest/organizations/{org}/apikeys", self._api_keys)
        app.router.add_get("/rest/organizations", self._organizations)
        app.router.add_route("*", "/{tail:.*}", self._anything_else)
        self.server = BackgroundServer(app)

    @property
    def url(self) -> str:
        return self.server.url

    def calls(self, org: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r["path"] == f"/rest/organizations/{org}/apikeys")

    def add_org(self, org: str, keys: list[dict[str, Any]]) -> None:
        for key in keys:
            if key.get("organizationId") == "":
                key["organizationId"] = org  # as Coveo fills it
        self.orgs[org] = keys

    async def _api_keys(self, request: web.Request) -> web.StreamResponse:
        org = request.match_info["org"]
        self._record(request)
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self.faults[org].popleft() if self.faults[org] else None
        if fault is not None:
            return await self._answer_fault(fault, request)
        if not self._authorised(request):
            return _coveo_error(401, "INVALID_TOKEN", "The token is invalid or expired.")
        if org not in self.orgs:
            return _coveo_error(404, "ORGANIZATION_NOT_FOUND", f"Organization {org} not found.")
        return web.Response(
            body=self._encoded(org),
            content_type="application/json",
            headers={"X-Request-ID": f"req-{len(self.requests)}"},
        )

    def _encoded(self, org: str) -> bytes:
        # Encoded once per content, so the fake's own cost does not count as the bot's.
        keys = self.orgs[org]
        cached = self._encoded_cache.get(org)
        if cached is None or cached[0] is not keys or cached[1] != len(keys):
            cached = (keys, len(keys), json.dumps(keys).encode())
            self._encoded_cache[org] = cached
        return cached[2]

    async def _organizations(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        if not self._authorised(request):
            return _coveo_error(401, "INVALID_TOKEN", "The token is invalid or expired.")
        orgs = [{"id": org, "displayName": org.upper()} for org in list(self.orgs)]
        if request.query or self.org_list_shape == "paged":
            return web.json_response({"items": orgs, "totalEntries": len(orgs), "totalPages": 1})
        return web.json_response(orgs)

    async def _anything_else(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        return _coveo_error(404, "NOT_FOUND", "No such route.")

    async def _answer_fault(self, fault: Fault, request: web.Request) -> web.StreamResponse:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.trickle or fault.endless:
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            await response.prepare(request)
            if fault.endless:
                await response.write(b"[")
                row = (json.dumps(api_key("filler")) + ",").encode() * 100
                while True:
                    await response.write(row)
            for byte in b"[]":
                await asyncio.sleep(fault.trickle)
                await response.write(bytes([byte]))
            await response.write_eof()
            return response
        body = (
            fault.body
            if fault.body is not None
            else '{"message": "fault", "errorCode": "FAULT", "requestID": "fault-req"}'
        )
        return web.Response(
            status=fault.status, text=body, headers=fault.headers, content_type=fault.content_type
        )

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[len("Bearer ") :] in self.valid_tokens

    def _record(self, request: web.Request) -> None:
        with self._lock:
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "authorization": request.headers.get("Authorization"),
                }
            )


def _coveo_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"message": message, "errorCode": code, "requestID": f"coveo-{code.lower()}"},
        status=status,
        headers={"X-Request-ID": f"coveo-{code.lower()}"},
    )
