"""The one outbound HTTP policy (proxies, NO_PROXY, no .netrc) and whose response_url the bot posts to."""

from __future__ import annotations

import aiohttp
import pytest

from bot.outbound import Outbound
from bot.slack.responses import ResponsePoster

PROXY = "http://proxy.internal:3128"


def test_the_proxy_follows_the_scheme_and_lower_case_wins() -> None:
    policy = Outbound({"HTTPS_PROXY": "http://upper:1", "https_proxy": PROXY, "HTTP_PROXY": "http://plain:2"})
    assert policy.proxy_for("https://platform.cloud.coveo.com/rest") == PROXY
    assert policy.proxy_for("http://127.0.0.1:9/api/") == "http://plain:2"
    assert Outbound({}).proxy_for("https://slack.com/api/") is None


def test_an_empty_variable_unsets_the_proxy() -> None:
    assert Outbound({"HTTPS_PROXY": PROXY, "https_proxy": ""}).proxy_for("https://slack.com/api/") is None


@pytest.mark.parametrize(
    ("no_proxy", "url", "direct"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080/x", True),
        ("127.0.0.1:8080", "http://127.0.0.1:8080/x", True),
        ("127.0.0.1:9999", "http://127.0.0.1:8080/x", False),
        (".coveo.com", "https://platform-eu.cloud.coveo.com/rest", True),
        ("coveo.com", "https://platform.cloud.coveo.com/rest", True),
        ("slack.com", "https://hooks.slack.com/commands/x", True),
        ("slack.com", "https://notslack.com/x", False),
        ("*", "https://anything.example/", True),
        ("", "http://127.0.0.1:8080/x", False),  # loopback is nothing special: proxied unless named
    ],
)
def test_no_proxy_is_honoured(no_proxy: str, url: str, direct: bool) -> None:
    policy = Outbound({"HTTP_PROXY": PROXY, "HTTPS_PROXY": PROXY, "NO_PROXY": no_proxy})
    assert (policy.proxy_for(url) is None) is direct


async def test_sessions_never_trust_the_environment() -> None:
    # trust_env=True is what makes aiohttp read ~/.netrc (and add its Basic auth to every request).
    session = Outbound({}).session()
    try:
        assert session.trust_env is False
    finally:
        await session.close()


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("https://hooks.slack.com/commands/T1/2/abc", True),
        ("https://hooks.slack.com/actions/T1/2/abc", True),
        ("https://HOOKS.SLACK.COM/commands/T1/2/abc", True),
        ("https://hooks.slack.com:443/commands/T1/2/abc", True),
        ("https://hooks.slack-gov.com/commands/T1/2/abc", True),
        ("http://hooks.slack.com/commands/T1/2/abc", False),
        ("https://hooks.slack.com:8443/commands/T1/2/abc", False),
        ("https://hooks.slack.com.evil.example/commands", False),
        ("https://evil.example/hooks.slack.com/commands", False),
        ("https://user@hooks.slack.com/commands/T1/2/abc", False),
        ("https://slack.com/api/", False),
        ("http://127.0.0.1:4000/response/abc", True),  # the configured SLACK_API_URL's origin
        ("http://127.0.0.1:4001/response/abc", False),
        ("https://127.0.0.1:4000/response/abc", False),
        ("http://localhost:4000/response/abc", False),
        ("http://127.0.0.1:notaport/response", False),
        ("javascript:alert(1)", False),
        ("", False),
    ],
)
async def test_only_slack_s_hosts_get_an_answer(url: str, trusted: bool) -> None:
    async with aiohttp.ClientSession() as session:
        poster = ResponsePoster(session, slack_api_url="http://127.0.0.1:4000/api/")
        assert poster.trusts(url) is trusted


async def test_an_untrusted_response_url_is_not_posted_and_counts_as_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures: list[None] = []
    async with aiohttp.ClientSession() as session:
        poster = ResponsePoster(
            session, slack_api_url="https://slack.com/api/", on_failure=lambda: failures.append(None)
        )
        assert await poster.post("https://evil.example/secret-path", {"text": "x"}) is False
    assert failures == [None]
    assert "secret-path" not in caplog.text and "evil.example" not in caplog.text
