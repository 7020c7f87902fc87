"""Logging: JSON lines in production, readable text in a terminal, secrets always scrubbed.

Redaction sits on the handler, so it covers our logs and every library's
(slack_sdk logs request URLs at DEBUG, and a `response_url` is a credential).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

AUDIT = logging.getLogger("apikeyid.audit")
_redactors: list[Redactor] = []

# A Coveo API key's whole value, as support engineers paste what customers send them: `xx` and a
# UUID (with or without its dashes). Its last characters are what Coveo's masked value shows.
# Nothing is asked of what follows: a value glued to a word ("…f71343please") is still a secret.
PASTED_KEY_VALUE = re.compile(
    r"xx([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})", re.I
)
# Shapes of secrets we may meet even when they are not ours to know in advance.
_SECRET_SHAPES = re.compile(
    r"xox[abprse]-[A-Za-z0-9-]+"  # Slack tokens
    r"|xapp-[A-Za-z0-9-]+"  # Slack app-level tokens
    r"|https?://[^\s\"']*/(?:commands|actions|services)/[^\s\"']+"  # response_url and webhooks
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]+"  # Authorization headers
)
VALUE_TAIL_SHOWN = 4  # what a hidden key value leaves: as many characters as Coveo's mask shows


def hide_key_values(text: str) -> str:
    """Text a person typed, with every pasted API key value cut to the end Coveo's mask shows
    (`xx65151ec3-…-09b4c0f71343` → `…1343`): the secret never enters the bot, and a lookup of
    it still finds the key by the visible end of its value."""
    return PASTED_KEY_VALUE.sub(lambda m: "…" + m.group(5)[-VALUE_TAIL_SHOWN:].lower(), text)


_STANDARD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class Redactor(logging.Filter):
    """Replaces configured secrets and secret-shaped strings in every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._configured = {s for s in secrets if len(s) >= 6}
        self._rotated: dict[str, tuple[str, str]] = {}  # source → (current, previous)
        self.secrets = self._sorted()

    def rotate(self, source: str, current: str, previous: str) -> None:
        """`source` (a token's variable) now holds `current`: it and `previous` are scrubbed, and
        nothing older of that source (only the current and previous token can still be in use or
        in flight; every token ever rotated, scanned on every field, would only grow)."""
        older = set(self._rotated.get(source, ()))
        self._rotated[source] = (current, previous)
        for dropped in older - {current, previous}:
            self._configured.discard(dropped)
        self.secrets = self._sorted()

    def _sorted(self) -> list[str]:
        kept = self._configured | {s for pair in self._rotated.values() for s in pair}
        secrets = sorted((s for s in kept if len(s) >= 6), key=len, reverse=True)
        # One search tells whether a text holds anything to scrub: most texts (ids, outcomes,
        # key names) hold nothing, and then none of the replacements below changes them.
        self._anything = re.compile(
            "|".join([*map(re.escape, secrets), _SECRET_SHAPES.pattern, f"(?i:{PASTED_KEY_VALUE.pattern})"])
        )
        return secrets

    def scrub(self, text: str) -> str:
        if self._anything.search(text) is None:
            return text
        for secret in self.secrets:
            text = text.replace(secret, "****")
        return PASTED_KEY_VALUE.sub("****", _SECRET_SHAPES.sub("****", text))

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        fields = vars(record)
        for name, value in list(fields.items()):
            if name not in _STANDARD_FIELDS and isinstance(value, str):
                scrubbed = self.scrub(value)
                if scrubbed is not value:
                    fields[name] = scrubbed
        return True


_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)  # made once: json.dumps makes one per call


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD_FIELDS and not name.startswith("_"):
                line[name] = value
        if record.exc_text:
            line["exception"] = record.exc_text
        # One record, one physical line: JSON leaves U+0085, U+2028 and U+2029 raw, and line-based
        # tools (and str.splitlines) break a record there, so a query could split its own audit line.
        text = _ENCODER.encode(line)
        return text if text.isascii() else text.translate(_LINE_BREAKS)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = {
            k: v for k, v in vars(record).items() if k not in _STANDARD_FIELDS and not k.startswith("_")
        }
        text = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            text += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_text:
            text += "\n" + record.exc_text
        return text


def setup(level: str, fmt: str, secrets: Iterable[str], stream: TextIO | None = None) -> None:
    """Configure the root logger once; `rotate_secret` follows a token's rotation."""
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "text" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    redactor = Redactor(secrets)
    handler.addFilter(redactor)
    _redactors[:] = [redactor]
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # The audit trail is not chatter: it is written whatever LOG_LEVEL says. (A logger's own
    # level decides; the root's level does not filter records that propagate to its handler.)
    AUDIT.setLevel(logging.INFO)
    # Library chatter at DEBUG includes request bodies; keep it at INFO or above. httpx logs
    # every request at INFO, which the audit line already covers.
    for noisy in ("slack_bolt", "slack_sdk", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def rotate_secret(source: str, current: str, previous: str) -> None:
    """Scrub a secret learnt after start-up (a rotated token) from every later line, and its
    previous value still; `source`'s older values no more."""
    for redactor in _redactors:
        redactor.rotate(source, current, previous)
