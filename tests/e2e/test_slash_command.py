"""The whole path over real HTTP: signed slash command → bot process → fake Coveo → answer to fake Slack."""

from __future__ import annotations

import time

from tests.conftest import BotProcess, message_text, new_org, sign
from tests.fakes.coveo import FakeCoveo, Fault, api_key


def test_found_by_exact_name_replies_with_id_only_to_the_user(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    # Coveo's model sends epoch milliseconds; an ISO string (as other tools write dates) reads too.
    wanted = api_key("Push source key", description="pushes documents", lastUsedDate="2026-11-01T10:00:00Z")
    fake_coveo.add_org(org, [api_key("Search key"), wanted])

    response, response_url = bot.send(f"{org} Push source key")

    # Coveo answered within the inline budget: the ack is the answer, and nothing follows it.
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    time.sleep(0.2)
    assert bot.slack.answers_for(response_url) == []
    text = message_text(answer)
    assert f"`{wanted['id']}`" in text
    assert "Push source key" in text
    assert "SEARCH_API/EXECUTE_QUERY ALLOW" in text
    assert "Created:" in text and "2023-11-14" in text  # epoch milliseconds
    assert "2026-11-01" in text  # ISO string date
    assert "xx****" not in text and wanted["value"] not in text


def test_case_and_spacing_do_not_matter(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    key = api_key("Push Source  Key")
    fake_coveo.add_org(org, [key, api_key("Other")])
    answer = bot.ask(f"{org}   push source key")
    assert key["id"] in message_text(answer)


def test_quotes_of_any_kind_are_optional(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    key = api_key("Push key")
    fake_coveo.add_org(org, [key])
    for text in ('"Push key"', "“Push key”", "'Push key'", "‘Push key’"):
        assert key["id"] in message_text(bot.ask(f"{org} {text}")), text


def test_several_hits_are_all_reported(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    first, second = api_key("Duplicate"), api_key("Duplicate", enabled=False, status="DISABLED")
    fake_coveo.add_org(org, [first, second, api_key("Unique")])
    text = message_text(bot.ask(f"{org} Duplicate"))
    assert "2 API keys match" in text
    assert first["id"] in text and second["id"] in text
    assert "disabled" in text


def test_description_match(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    key = api_key("k1", description="Key for the Zendesk integration")
    fake_coveo.add_org(org, [key, api_key("k2", description="other")])
    text = message_text(bot.ask(f"{org} key for the zendesk integration"))
    assert key["id"] in text
    assert "Matched by description" in text


def test_no_hit_suggests_close_names(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("Production search"), api_key("Staging search"), api_key("Analytics")])
    text = message_text(bot.ask(f"{org} Prodution serch"))
    assert "No API key" in text
    assert "Did you mean" in text and "Production search" in text


def test_org_alone_lists_every_key(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    keys = [api_key(f"key {i}") for i in range(3)]
    fake_coveo.add_org(org, keys)
    text = message_text(bot.ask(org))
    assert "3 API keys in" in text
    assert all(k["id"] in text for k in keys)


def test_help_and_empty_text_give_usage_at_once(bot: BotProcess) -> None:
    for text in ("", "help", "  HELP "):
        answer = bot.ask(text)
        assert "/apikeyid <org> <key name>" in message_text(answer)


def test_bad_org_is_refused_before_any_coveo_request(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    before = len(fake_coveo.requests)
    answer = bot.ask("not/an..org some key")
    text = message_text(answer)
    assert "is not a Coveo organization id" in text
    assert "lowercase letters and digits" in text
    assert len(fake_coveo.requests) == before


def test_unknown_org_mentions_the_region(bot: BotProcess) -> None:
    text = message_text(bot.ask(f"{new_org()} anything"))
    assert "knows no organization" in text
    assert "US" in text


def test_token_rejected_tells_to_rotate(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("k")])
    fake_coveo.faults[org].append(Fault(status=401, headers={"X-Request-ID": "req-401"}))
    text = message_text(bot.ask(f"{org} k"))
    assert "rejected the bot's access token" in text
    assert "rotate" in text
    assert "req-401" in text


def test_coveo_down_says_try_again(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.add_org(org, [api_key("k")])
    fake_coveo.faults[org].extend(Fault(status=503) for _ in range(50))
    started = time.monotonic()
    text = message_text(bot.ask(f"{org} k"))
    assert "unavailable" in text and "Try again" in text
    assert time.monotonic() - started < 8  # the bot's deadline is 5 s in tests
    fake_coveo.faults[org].clear()


def test_forbidden_names_the_privilege(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    fake_coveo.faults[org].append(Fault(status=403))
    text = message_text(bot.ask(f"{org} k"))
    assert "API_KEY / VIEW" in text


def test_five_thousand_keys_fit_in_one_message(bot: BotProcess, fake_coveo: FakeCoveo) -> None:
    org = new_org()
    keys = [api_key(f"key number {i}") for i in range(5000)]
    fake_coveo.add_org(org, keys)
    listing = bot.ask(org)
    assert len(listing["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in listing["blocks"] if b["type"] == "section")
    assert "Showing 1–100 of 5000" in message_text(listing) and "Next ›" in message_text(listing)
    found = bot.ask(f"{org} key number 4321")
    assert keys[4321]["id"] in message_text(found)


def test_requests_without_a_good_signature_get_401(bot: BotProcess) -> None:
    body, _ = bot.command_body("help")
    url = f"{bot.url}/slack/events"
    cases = {
        "missing": {"Content-Type": "application/x-www-form-urlencoded"},
        "forged": sign(body, secret="not-the-secret"),
        "stale": sign(body, timestamp=str(int(time.time()) - 600)),
        "future": sign(body, timestamp=str(int(time.time()) + 600)),
        "malformed timestamp": {**sign(body), "X-Slack-Request-Timestamp": "12abc"},
        "huge timestamp": {**sign(body), "X-Slack-Request-Timestamp": "9" * 400},
        "malformed signature": {**sign(body), "X-Slack-Signature": "v0=ü".encode()},  # type: ignore[dict-item]
    }
    for name, headers in cases.items():
        response = bot.client.post(url, content=body, headers=headers)
        assert response.status_code == 401, name
    tampered = bot.client.post(url, content=body.replace("help", "hel"), headers=sign(body))
    assert tampered.status_code == 401


def test_healthz(bot: BotProcess) -> None:
    health = bot.client.get(f"{bot.url}/healthz").json()
    assert health["status"] == "ok"
    assert health["slack_auth_warm"] is True
    assert health["mode"] == "http"
