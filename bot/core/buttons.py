"""What a button carries in its `value`, and reading it back without trusting it.

A click comes back from Slack signed, but its `value` is whatever the message held, and a
message is easy to forge in a test workspace or a proxy: every field is checked again
(shape, size, the org id rule) before it is used. Pure: no Slack or HTTP imports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.core.command import ORG_ID, Invalid, read_query
from bot.core.regions import REGIONS

MAX_VALUE_CHARS = 2000  # Slack's limit for a button's value
MAX_PAGE = 100_000
MAX_QUERY_CHARS = 1500  # leaves room for the rest of the value
MAX_KEY_ID_CHARS = 200
REGION_NAMES = frozenset({"", *REGIONS})  # "" when the bot did not say which region answered


class TamperedValue(ValueError):
    """A button value the bot did not write."""


@dataclass(frozen=True)
class PageRef:
    """A page of a listing (`query` None), of a lookup's hits, or of the keys that need care
    (`query` holds the qualifiers then, as `command.query_text` writes them)."""

    org: str
    region: str
    query: str | None
    page: int

    def encode(self) -> str | None:
        """The button value, or None when it would not fit (a very long query)."""
        if self.query is not None and len(self.query) > MAX_QUERY_CHARS:
            return None
        return _dump({"o": self.org, "r": self.region, "q": self.query, "p": self.page})

    @classmethod
    def decode(cls, value: str) -> PageRef:
        data = _load(value, {"o", "r", "q", "p"})
        query = data["q"]
        page = data["p"]
        if query is not None and (not isinstance(query, str) or not query or len(query) > MAX_QUERY_CHARS):
            raise TamperedValue("query")
        if query is not None and isinstance(read_query(query), Invalid):
            raise TamperedValue("qualifier")  # the bot writes only the qualifiers it knows
        if not isinstance(page, int) or isinstance(page, bool) or not 0 <= page <= MAX_PAGE:
            raise TamperedValue("page")
        return cls(_org(data), _region(data), query, page)


@dataclass(frozen=True)
class KeyRef:
    """One key of one org, for Share in channel."""

    org: str
    region: str
    key_id: str

    def encode(self) -> str | None:
        if len(self.key_id) > MAX_KEY_ID_CHARS:
            return None
        return _dump({"o": self.org, "r": self.region, "k": self.key_id})

    @classmethod
    def decode(cls, value: str) -> KeyRef:
        data = _load(value, {"o", "r", "k"})
        key_id = data["k"]
        if not isinstance(key_id, str) or not key_id or len(key_id) > MAX_KEY_ID_CHARS:
            raise TamperedValue("key id")
        return cls(_org(data), _region(data), key_id)


def _dump(data: dict[str, Any]) -> str | None:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else None


def _load(value: str, fields: set[str]) -> dict[str, Any]:
    if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS:
        raise TamperedValue("size")
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise TamperedValue("not JSON") from exc
    if not isinstance(data, dict) or set(data) != fields:
        raise TamperedValue("fields")
    return data


def _org(data: dict[str, Any]) -> str:
    org = data["o"]
    if not isinstance(org, str) or not ORG_ID.match(org):
        raise TamperedValue("org")
    return org


def _region(data: dict[str, Any]) -> str:
    region = data["r"]
    if not isinstance(region, str) or region not in REGION_NAMES:
        raise TamperedValue("region")
    return region
