"""The Coveo client against the fake Coveo over real HTTP: every failure becomes a typed error."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.apikey import KEPT, parse_api_keys, parse_date
from bot.coveo import client as coveo_client
from bot.coveo.client import (
    MAX_PAUSE,
    MIN_PAUSE,
    TOKEN_REJECTED_FOR,
    CoveoClient,
    TokenSource,
    _pause,
    _retry_after,
)
from bot.coveo.errors import (
    BadGateway,
    BadResponse,
    Blocked,
    CoveoTimeout,
    CoveoUnavailable,
    ErrorPage,
    NotAllowed,
    OrganizationNotFound,
    ResponseTooLarge,
    Throttled,
    TokenRejected,
)
from bot.replies.errors import error_text
from bot.settings import Secret
from tests.conftest import new_org
from tests.fakes.coveo import EU_TOKEN, GOOD_TOKEN, FakeCoveo, Fault, api_key

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def client(fake: FakeCoveo, token: str = GOOD_TOKEN, path: Path | None = None) -> CoveoClient:
    return CoveoClient(fake.url, TokenSource(Secret(token), path))


def soon(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


async def test_lists_keys_with_the_bearer_token(fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("a"), api_key("b")])
    coveo = client(fake_coveo)
    listed = await coveo.list_api_keys(org, deadline=soon())
    await coveo.aclose()
    assert [k.display_name for k in listed.keys] == ["a", "b"]
    assert listed.request_id and listed.request_id.startswith("req-")
    assert fake_coveo.requests[-1]["authorization"] == f"Bearer {GOOD_TOKEN}"
    assert coveo.last_answer_at is not None


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, TokenRejected),
        (419, TokenRejected),  # Coveo's own clients read 419 as an expired token
        (403, NotAllowed),
        (404, OrganizationNotFound),
        (500, CoveoUnavailable),
        (400, BadResponse),
    ],
)
async def test_statuses_map_to_typed_errors_with_request_id(
    fake_coveo: FakeCoveo, status: int, error: type
) -> None:
    org = new_org()
    fake_coveo.faults[org].append(Fault(status=status, headers={"X-Request-ID": "rid-123"}))
    coveo = client(fake_coveo)
    with pytest.raises(error) as caught:
        await coveo.list_api_keys(org, deadline=soon())
    await coveo.aclose()
    assert caught.value.status == status
    assert caught.value.request_id == "rid-123"
    assert caught.value.error_code == "FAULT"
    assert fake_coveo.calls(org) == 1  # none of these is retried


async def test_request_id_from_body_when_header_missing(fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.faults[org].append(Fault(status=403))
    coveo = client(fake_coveo)
    with pytest.raises(NotAllowed) as caught:
        await coveo.list_api_keys(org, deadline=soon())
    await coveo.aclose()
    assert caught.value.request_id == "fault-req"


async def test_429_honours_retry_after_then_succeeds(fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("a")])
    fake_coveo.faults[org].append(Fault(status=429, headers={"Retry-After": "1"}))
    coveo = client(fake_coveo)
    started = time.monotonic()
    listed = await coveo.list_api_keys(org, deadline=soon())
    await coveo.aclose()
    assert len(listed.keys) == 1
    assert time.monotonic() - started >= 0.95
    assert fake_coveo.calls(org) == 2


async def test_429_without_retry_after_backs_off_and_retries(fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("a")])
    fake_coveo.faults[org].extend([Fault(status=429), Fault(status=429)])
    coveo = client(fake_coveo)
    assert len((await coveo.list_api_keys(org, deadline=soon())).keys) == 1
    await coveo.aclose()
    assert fake_coveo.calls(org) == 3


async def test_retry_after_past_the_deadline_gives_up_at_once(fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.faults[org].append(Fault(status=429, headers={"Retry-After": "120"}))
    coveo = client(fake_coveo)
    started = time.monotonic()
    with pytest.raises(Throttled) as caught:
        await coveo.list_api_keys(org, deadline=soon(3))
    await coveo.aclose()
    assert caught.value.retry_after == 120
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_errors_are_retried(fake_coveo: FakeCoveo, status: int) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("a")])
    fake_coveo.faults[org].append(Fault(status=status))
    coveo = client(fake_coveo)
    assert len((await coveo.list_api_keys(org, deadline=soon())).keys) == 1
    await coveo.aclose()
    assert fake_coveo.calls(org) == 2


async def test_a_hang_ends_at_the_deadline(fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.faults[org].append(Fault(status=200, delay=5))
    coveo = client(fake_coveo)
    started = time.monotonic()
    with pytest.raises(CoveoTimeout):
        await coveo.list_api_keys(org, deadline=soon(1))
    await coveo.aclose()
    assert time.monotonic() - started < 1.5


async def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    coveo = CoveoClient(f"http://127.0.0.1:{port}", TokenSource(Secret(GOOD_TOKEN)))
    with pytest.raises(CoveoUnavailable) as caught:
        await coveo.list_api_keys("myorg", deadline=soon(1))
    await coveo.aclose()
    assert caught.value.status is None


async def test_html_error_page(fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.faults[org].append(
        Fault(status=500, body="<html><h1>Oops</h1></html>", content_type="text/html")
    )
    coveo = client(fake_coveo)
    with pytest.raises(CoveoUnavailable) as caught:
        await coveo.list_api_keys(org, deadline=soon())
    await coveo.aclose()
    assert caught.value.error_code is None


@pytest.mark.parametrize("body", ["not json", '{"items": []}', "<html></html>"])
async def test_unreadable_success_is_bad_response(fake_coveo: FakeCoveo, body: str) -> None:
    org = new_org()
    fake_coveo.faults[org].append(Fault(status=200, body=body))
    coveo = client(fake_coveo)
    with pytest.raises(BadResponse):
        await coveo.list_api_keys(org, deadline=soon())
    await coveo.aclose()


async def test_redirects_are_not_followed(fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.faults[org].append(Fault(status=302, headers={"Location": "http://127.0.0.2:9/steal"}))
    coveo = client(fake_coveo)
    with pytest.raises(BadResponse) as caught:
        await coveo.list_api_keys(org, deadline=soon())
    await coveo.aclose()
    assert "redirect" in caught.value.detail
    assert fake_coveo.calls(org) == 1


async def test_rotated_token_file_is_reread_on_401(fake_coveo: FakeCoveo, tmp_path: Path) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("a")])
    token_file = tmp_path / "token"
    token_file.write_text("old-expired-token\n")
    coveo = client(fake_coveo, "old-expired-token", token_file)
    token_file.write_text(GOOD_TOKEN + "\n")  # an admin rotates the token
    listed = await coveo.list_api_keys(org, deadline=soon())
    await coveo.aclose()
    assert len(listed.keys) == 1
    assert fake_coveo.requests[-1]["authorization"] == f"Bearer {GOOD_TOKEN}"


async def test_unchanged_token_file_still_reports_rejection(fake_coveo: FakeCoveo, tmp_path: Path) -> None:
    org = new_org()
    token_file = tmp_path / "token"
    token_file.write_text("expired")
    coveo = client(fake_coveo, "expired", token_file)
    with pytest.raises(TokenRejected):
        await coveo.list_api_keys(org, deadline=soon())
    await coveo.aclose()
    assert fake_coveo.calls(org) == 1


async def test_a_regions_token_file_is_reread_on_419(fake_coveo_eu: FakeCoveo, tmp_path: Path) -> None:
    org = new_org()
    fake_coveo_eu.add_org(org, [api_key("a")])
    fake_coveo_eu.faults[org].append(Fault(status=419))
    token_file = tmp_path / "eu-token"
    token_file.write_text("old-eu-token")
    tokens = TokenSource(Secret("old-eu-token"), token_file, "COVEO_ACCESS_TOKEN_EU_FILE")
    coveo = CoveoClient(fake_coveo_eu.url, tokens, "eu")
    token_file.write_text(EU_TOKEN)
    listed = await coveo.list_api_keys(org, deadline=soon())
    organizations = await coveo.list_organizations(deadline=soon())
    await coveo.aclose()
    assert len(listed.keys) == 1 and fake_coveo_eu.calls(org) == 2
    assert fake_coveo_eu.requests[-2]["authorization"] == f"Bearer {EU_TOKEN}"
    assert {o.region for o in organizations} == {"eu"}


@pytest.mark.parametrize("org", ["../x", "a/b", "my%2Forg", "", "UPPER", "org\n"])
async def test_bad_org_never_leaves(fake_coveo: FakeCoveo, org: str) -> None:
    before = len(fake_coveo.requests)
    coveo = client(fake_coveo)
    with pytest.raises(ValueError, match="organization id"):
        await coveo.list_api_keys(org, deadline=soon())
    await coveo.aclose()
    assert len(fake_coveo.requests) == before


def test_parse_keeps_only_the_tail_of_the_value() -> None:
    [key] = parse_api_keys(
        [{"id": "k", "value": "xx********-****-****-****-********1b3e", "displayName": "n"}]
    )
    assert key.value_tail == "1b3e"
    assert not hasattr(key, "value")
    assert (
        "value" not in key.raw and "'value'" not in str(key.facts(NOW)) and "****" not in str(key.facts(NOW))
    )


def test_parse_skips_entries_without_an_id() -> None:
    assert [k.id for k in parse_api_keys([{"displayName": "x"}, "junk", None, {"id": "ok"}])] == ["ok"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (1_700_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("2023-11-14T22:13:20Z", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("2023-11-14T22:13:20.000+00:00", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("1700000000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
        (True, None),
        (10**30, None),
    ],
)
def test_dates(value: object, expected: datetime | None) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize("shape", ["array", "paged"])
async def test_organizations_in_both_response_shapes(fake_coveo: FakeCoveo, shape: str) -> None:
    org = new_org()
    fake_coveo.add_org(org, [])
    fake_coveo.org_list_shape = shape
    coveo = client(fake_coveo)
    try:
        orgs = await coveo.list_organizations(deadline=soon())
    finally:
        fake_coveo.org_list_shape = "array"
        await coveo.aclose()
    assert org in {o.id for o in orgs}
    assert next(o for o in orgs if o.id == org).display_name == org.upper()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0", 0.0),
        ("12", 12.0),
        ("²", None),
        ("9" * 400, 3600.0),
        ("Wed, 21 Oct 2015 07:28:00 -0000", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 3600.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_any_retry_after_header_reads_as_bounded_seconds_or_nothing(
    header: str | None, expected: float | None
) -> None:
    assert _retry_after(header) == expected


def test_every_pause_has_a_floor_and_a_cap() -> None:
    for attempt in range(1, 10):
        pause = _pause(attempt, Throttled("x"))
        assert pause is not None and MIN_PAUSE <= pause <= MAX_PAUSE
    assert _pause(1, Throttled("x", retry_after=0.0)) == MIN_PAUSE
    assert _pause(1, Throttled("x", retry_after=MAX_PAUSE + 1)) is None  # told to the user instead


async def raw_server(answer: bytes) -> tuple[asyncio.Server, str]:
    """A loopback server that reads a request's head, writes `answer` as is and hangs up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{",
        b"NOT HTTP AT ALL\r\n\r\n",
        b"",
    ],
    ids=["cut mid-body", "not HTTP", "hang-up"],
)
async def test_a_broken_answer_is_unavailable_not_a_crash(answer: bytes) -> None:
    """Whatever the transport (aiohttp) raises reaches the caller as a CoveoError."""
    server, url = await raw_server(answer)
    coveo = CoveoClient(url, TokenSource(Secret(GOOD_TOKEN)))
    with pytest.raises(CoveoUnavailable) as caught:
        await coveo.list_api_keys("myorg", deadline=soon(1))
    await coveo.aclose()
    server.close()
    assert caught.value.status is None


async def test_gzip_answers_are_decoded_and_capped_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = json.dumps([api_key("zipped")]).encode()
    packed = gzip.compress(keys)
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {len(packed)}\r\n\r\n"
    server, url = await raw_server(head.encode() + packed)
    coveo = CoveoClient(url, TokenSource(Secret(GOOD_TOKEN)))
    listed = await coveo.list_api_keys("myorg", deadline=soon(1))
    assert [k.display_name for k in listed.keys] == ["zipped"]
    monkeypatch.setattr(coveo_client, "MAX_RESPONSE_BYTES", len(packed) + 1)  # fits packed, not unpacked
    with pytest.raises(ResponseTooLarge):
        await coveo.list_api_keys("myorg", deadline=soon(1))
    await coveo.aclose()
    server.close()


def test_parse_keeps_only_the_fields_it_reads_and_no_list() -> None:
    [key] = parse_api_keys(
        [
            api_key(
                "n",
                privileges=[
                    {"owner": "PLATFORM", "targetDomain": "SOURCE", "type": "EDIT", "targetIds": ["a"]}
                ],
                allowedIps=["10.0.0.0/8"],
                resourceId="unread",
                additionalConfiguration={"search": {"enforcedQueryPipelineConfiguration": ["x"]}},
            )
        ]
    )
    assert set(key.raw) <= set(KEPT) and "resourceId" not in key.raw
    assert key.raw["privileges"] == (
        {"owner": "PLATFORM", "targetDomain": "SOURCE", "type": "EDIT", "targetIds": ("a",)},
    )
    assert key.allowed_ips == ["10.0.0.0/8"] and [p.summary() for p in key.privileges] == [
        "PLATFORM/SOURCE EDIT"
    ]


async def test_proxies_from_the_environment_are_honoured(
    fake_coveo: FakeCoveo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment behind an egress proxy: Coveo calls must go through HTTP(S)_PROXY."""
    org = new_org()
    fake_coveo.add_org(org, [api_key("k")])
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens here once the socket is closed
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    coveo = client(fake_coveo)
    try:
        with pytest.raises(CoveoUnavailable):
            await coveo.list_api_keys(org, deadline=soon(1.5))
    finally:
        await coveo.aclose()
    assert fake_coveo.calls(org) == 0  # it went to the (dead) proxy, not around it


async def test_a_token_with_a_line_break_is_a_clear_coveo_failure(fake_coveo: FakeCoveo) -> None:
    coveo = client(fake_coveo, token="first-line\nsecond-line")
    try:
        with pytest.raises(CoveoUnavailable):
            await coveo.list_api_keys(new_org(), deadline=soon(1.0))
    finally:
        await coveo.aclose()


async def test_a_rejected_token_stops_counting_after_a_while(fake_coveo: FakeCoveo) -> None:
    coveo = client(fake_coveo, token="wrong-token")
    try:
        with pytest.raises(TokenRejected):
            await coveo.list_api_keys(new_org(), deadline=soon())
        assert coveo.token_known_rejected()
        coveo._token_rejected = time.monotonic() - TOKEN_REJECTED_FOR  # as if 5 minutes had passed
        assert not coveo.token_known_rejected()  # ready again, so a command can find out
    finally:
        await coveo.aclose()


# The error shapes Coveo's own client handles (platform-client, src/handlers/response/ResponseHandlers.ts).
@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ('{"title": "ACCESS_DENIED", "detail": "No privilege"}', "ACCESS_DENIED", "No privilege"),
        ('{"type": "INVALID_PARAM", "message": "Bad org"}', "INVALID_PARAM", "Bad org"),
        ('{"errorCode": "INVALID_TOKEN", "message": "Expired"}', "INVALID_TOKEN", "Expired"),
        ('{"code": "X_CODE", "detail": "Said in detail"}', "X_CODE", "Said in detail"),
        ('{"title": 5, "code": "LATER_ALIAS"}', "LATER_ALIAS", None),
    ],
)
async def test_json_error_bodies_are_read_with_coveos_aliases(
    fake_coveo: FakeCoveo, body: str, code: str, message: str | None
) -> None:
    org = new_org()
    fake_coveo.faults[org].append(Fault(status=400, body=body, headers={"X-Request-ID": "rid-9"}))
    coveo = client(fake_coveo)
    with pytest.raises(BadResponse) as caught:
        await coveo.list_api_keys(org, deadline=soon())
    await coveo.aclose()
    assert (caught.value.error_code, caught.value.message, caught.value.request_id) == (
        code,
        message,
        "rid-9",
    )


async def test_a_waf_block_is_named_whatever_the_status(fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.faults[org].append(
        Fault(
            status=403,
            body="<html>Forbidden</html>",
            content_type="text/html",
            headers={"x-coveo-waf-action": "block"},
        )
    )
    coveo = client(fake_coveo)
    with pytest.raises(Blocked) as caught:
        await coveo.list_api_keys(org, deadline=soon())
    await coveo.aclose()
    assert caught.value.status == 403
    assert "web application firewall" in error_text(caught.value, org, "us")


async def test_an_html_error_page_is_not_read_as_an_unknown_org(fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.faults[org].append(
        Fault(status=404, body="<html><h1>Not Found</h1></html>", content_type="text/html")
    )
    coveo = client(fake_coveo)
    with pytest.raises(ErrorPage) as caught:
        await coveo.list_api_keys(org, deadline=soon())
    await coveo.aclose()
    assert "web page (HTTP 404)" in error_text(caught.value, org, "us")


async def test_a_bad_gateway_that_lasts_is_named(fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.faults[org].extend(Fault(status=502, body="", content_type="text/plain") for _ in range(10))
    coveo = client(fake_coveo)
    with pytest.raises(BadGateway):
        await coveo.list_api_keys(org, deadline=soon(1.5))
    await coveo.aclose()
    fake_coveo.faults[org].clear()


def test_error_texts_name_the_cause() -> None:
    gateway = BadGateway("x", status=502)
    assert "502 bad gateway" in error_text(gateway, "myorg", "eu") and "unavailable" in error_text(
        gateway, "myorg", "eu"
    )
    refused = BadResponse("x", status=400, error_code="INVALID_PARAM", message="The *org* <is> bad")
    text = error_text(refused, "myorg", "eu")
    assert "HTTP 400, `INVALID_PARAM`: The ∗org∗ &lt;is&gt; bad" in text
