from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import logs


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    logs.setup("INFO", "json", ["configured-secret-value"], stream)
    yield stream
    logging.getLogger().handlers.clear()


def test_json_lines_with_extra_fields(captured: io.StringIO) -> None:
    logs.AUDIT.info("command", extra={"event": "command", "user_id": "U1", "key_ids": ["a", "b"]})
    line = json.loads(captured.getvalue())
    assert line["message"] == "command" and line["user_id"] == "U1" and line["key_ids"] == ["a", "b"]
    assert line["logger"] == "apikeyid.audit" and line["level"] == "info" and line["time"]


def test_configured_and_secret_shaped_values_are_scrubbed(captured: io.StringIO) -> None:
    log = logging.getLogger("anything")
    log.warning("token %s leaked", "configured-secret-value")
    log.warning("slack xoxb-123-456-abcdef and xapp-1-A1-2-ff")
    log.warning("header", extra={"auth": "Bearer abc.def-ghi"})
    log.warning("posting to https://hooks.slack.com/commands/T1/123/abcdef")
    logs.rotate_secret("COVEO_ACCESS_TOKEN", "rotated-token-42", "configured-secret-value")
    log.warning("later rotated-token-42")
    try:
        raise RuntimeError("boom configured-secret-value")
    except RuntimeError:
        log.exception("failed")
    out = captured.getvalue()
    for secret in (
        "configured-secret-value",
        "xoxb-123",
        "xapp-1",
        "abc.def-ghi",
        "hooks.slack.com/commands",
        "rotated-token-42",
    ):
        assert secret not in out, secret
    assert out.count("****") >= 7
    assert "RuntimeError" in out


def test_text_format_is_readable() -> None:
    stream = io.StringIO()
    logs.setup("INFO", "text", [], stream)
    try:
        logging.getLogger("bot").info("hello", extra={"event": "start"})
    finally:
        logging.getLogger().handlers.clear()
    assert "INFO" in stream.getvalue() and "hello event=start" in stream.getvalue()
    assert not stream.getvalue().startswith("{")


def test_a_json_record_is_one_line_whatever_its_text_holds(captured: io.StringIO) -> None:
    # Unicode line breaks that JSON leaves raw would split the record for any line-based reader.
    logs.AUDIT.info("command", extra={"query": "a\u2028b\u2029c\x85d\re\nf"})
    [line] = captured.getvalue().splitlines()
    assert json.loads(line)["query"] == "a\u2028b\u2029c\x85d\re\nf"


PASTED = "xx65151ec3-7b30-4772-a99a-09b4c0f71343"


def test_a_pasted_key_value_is_cut_to_the_end_its_mask_shows() -> None:
    assert logs.hide_key_values(f"myorg {PASTED}") == "myorg …1343"
    assert logs.hide_key_values(f"key={PASTED.upper().replace('-', '')}.") == "key=…1343."
    assert logs.hide_key_values("xx65151ec3 and a plain name") == "xx65151ec3 and a plain name"
    # Glued to the next word, it is still the whole secret.
    assert logs.hide_key_values(f"{PASTED}please check") == "…1343please check"


def test_a_pasted_key_value_never_reaches_a_log_line(captured: io.StringIO) -> None:
    logging.getLogger("anything").warning("asked for %s", PASTED, extra={"query": f"k {PASTED}"})
    out = captured.getvalue()
    assert PASTED not in out and "09b4c0f71343" not in out and out.count("****") == 2


def test_the_scrubber_keeps_the_current_and_previous_token_only() -> None:
    redactor = logs.Redactor(["slack-secret-value", "first-token-0"])
    for n in range(1, 50):
        redactor.rotate(
            "COVEO_ACCESS_TOKEN_FILE",
            f"rotated-token-{n}",
            f"rotated-token-{n - 1}" if n > 1 else "first-token-0",
        )
    # Fifty rotations later: the Slack secret, the current token and the one before it.
    assert sorted(redactor.secrets) == ["rotated-token-48", "rotated-token-49", "slack-secret-value"]
    assert redactor.scrub("rotated-token-49 rotated-token-48") == "**** ****"


def _full_scrub(redactor: logs.Redactor, text: str) -> str:
    for secret in redactor.secrets:
        text = text.replace(secret, "****")
    return logs.PASTED_KEY_VALUE.sub("****", logs._SECRET_SHAPES.sub("****", text))


@given(
    st.lists(
        st.sampled_from(
            [
                "configured-secret-value",
                "rotated-token-7",
                "xoxb-1-2-abc",
                "xapp-1-A",
                "https://hooks.slack.com/commands/T1/2/x",
                "BeArEr abc.def",
                PASTED.upper(),
                PASTED.replace("-", ""),
                "xx65151ec3",
                "bearer",
                "prod key",
                " ",
                "…1343",
                "é",
            ]
        ),
        max_size=6,
    ).map("".join)
)
def test_the_quick_look_never_skips_a_text_the_full_scrub_would_change(text: str) -> None:
    redactor = logs.Redactor(["configured-secret-value"])
    redactor.rotate("COVEO_ACCESS_TOKEN_FILE", "rotated-token-7", "configured-secret-value")
    assert redactor.scrub(text) == _full_scrub(redactor, text)
