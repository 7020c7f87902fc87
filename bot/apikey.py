"""One Coveo API key as the bot sees it, parsed from Coveo's JSON.

Organisations can hold thousands of keys, and a command shows a handful. So parsing
keeps only what matching needs (id, names, value tail, trigrams) and the fields the
other facts are read from when a key is shown (`KEPT`); the rest of the JSON is dropped.
The key's `value` is dropped at parse time: only its visible tail is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.text import fold, trigrams


@dataclass(frozen=True, slots=True)
class Privilege:
    owner: str
    target_domain: str
    type: str
    target_id: str

    def summary(self) -> str:
        target = "" if self.target_id in ("", "*") else f" on {self.target_id}"
        return f"{self.owner}/{self.target_domain} {self.type or 'ANY'}{target}"


@dataclass(slots=True)
class ApiKey:
    id: str
    display_name: str
    description: str
    value_tail: str
    folded_name: str
    folded_description: str
    raw: dict[str, Any] = field(repr=False, compare=False)
    _trigrams: frozenset[str] | None = field(default=None, repr=False, compare=False)

    @property
    def name_trigrams(self) -> frozenset[str]:
        # Only "did you mean" needs these: computed on first use, then kept with the cached list.
        if self._trigrams is None:
            self._trigrams = trigrams(self.folded_name)
        return self._trigrams

    @property
    def enabled(self) -> bool | None:
        value = self.raw.get("enabled")
        return value if isinstance(value, bool) else None

    @property
    def status(self) -> str | None:
        return _string(self.raw.get("status")) or None

    @property
    def created(self) -> datetime | None:
        return parse_date(self.raw.get("createdDate"))

    @property
    def last_used(self) -> datetime | None:
        return parse_date(self.raw.get("lastUsedDate"))

    @property
    def expires(self) -> datetime | None:
        return parse_date(self.raw.get("expirationDate"))

    @property
    def privileges(self) -> list[Privilege]:
        value = self.raw.get("privileges")
        if not isinstance(value, tuple):
            return []
        return [
            Privilege(
                owner=_string(p.get("owner")),
                target_domain=_string(p.get("targetDomain")),
                type=_string(p.get("type")),
                target_id=_string(p.get("targetId")),
            )
            for p in value
            if isinstance(p, dict)
        ]

    @property
    def allowed_ips(self) -> int:
        return _count(self.raw.get("allowedIps"))

    @property
    def denied_ips(self) -> int:
        return _count(self.raw.get("deniedIps"))

    @property
    def template_id(self) -> str | None:
        return _string(self.raw.get("apiKeyTemplateId")) or None

    @property
    def exposed(self) -> bool:
        """Coveo's exposure report: any sign that the key was found somewhere public."""
        report = self.raw.get("exposureReport")
        if isinstance(report, dict):
            for flag in ("exposed", "isExposed"):
                if isinstance(report.get(flag), bool):
                    return bool(report[flag])
            status = report.get("status")
            if isinstance(status, str):
                return "EXPOSED" in status.upper() and "NOT" not in status.upper()
            return bool(report.get("exposures") or report.get("detections"))
        return bool(report) if isinstance(report, list) else False

    @property
    def disabled(self) -> bool:
        return self.enabled is False or (self.status or "").upper() == "DISABLED"

    def expired(self, now: datetime) -> bool:
        expires = self.expires
        return (self.status or "").upper() == "EXPIRED" or (expires is not None and expires <= now)

    def facts(self) -> dict[str, Any]:
        """Everything the bot may show about the key, as plain JSON values (for `--json`)."""

        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "id": self.id,
            "displayName": self.display_name,
            "description": self.description,
            "enabled": self.enabled,
            "status": self.status,
            "createdDate": iso(self.created),
            "lastUsedDate": iso(self.last_used),
            "expirationDate": iso(self.expires),
            "privileges": [p.summary() for p in self.privileges],
            "allowedIps": self.allowed_ips,
            "deniedIps": self.denied_ips,
            "apiKeyTemplateId": self.template_id,
            "valueEndsWith": self.value_tail,
            "exposed": self.exposed,
        }


def parse_api_keys(items: Sequence[Any]) -> list[ApiKey]:
    """Keys from Coveo's JSON array; entries without an id are skipped."""
    keys = []
    for item in items:
        if not isinstance(item, dict):
            continue
        key_id = item.get("id")
        if not isinstance(key_id, str) or not key_id:
            continue
        tail = _value_tail(item.get("value"))
        # Only the fields the bot reads: copying and freezing every field cost more than decoding the JSON.
        raw = {name: _frozen(item[name]) for name in KEPT if name in item}
        name = _string(raw.get("displayName"))
        description = _string(raw.get("description"))
        keys.append(
            ApiKey(
                id=key_id,
                display_name=name,
                description=description,
                value_tail=tail,
                folded_name=fold(name),
                folded_description=fold(description),
                raw=raw,
            )
        )
    return keys


# What the bot reads of a key after parsing (ApiKey's properties); the rest of Coveo's JSON,
# the value first, is dropped.
KEPT = (
    "id",
    "displayName",
    "description",
    "enabled",
    "status",
    "createdDate",
    "lastUsedDate",
    "expirationDate",
    "privileges",
    "allowedIps",
    "deniedIps",
    "apiKeyTemplateId",
    "exposureReport",
)
_CONTAINERS = (list, dict)


def parse_date(value: Any) -> datetime | None:
    """Coveo dates come as epoch milliseconds or ISO 8601 strings; anything else is unknown."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):
            # Values this small are seconds, not milliseconds (before 1973 in ms).
            seconds = value / 1000 if abs(value) >= 1e11 else float(value)
            return datetime.fromtimestamp(seconds, tz=UTC)
        if isinstance(value, str) and value.strip():
            text = value.strip()
            if text.lstrip("-").isdigit():
                return parse_date(int(text))
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _count(value: Any) -> int:
    return len(value) if isinstance(value, tuple) else 0


def _frozen(value: Any) -> Any:
    """Lists become tuples. Cached keys then hold no list, and once every container holds only
    strings and numbers the garbage collector stops tracking it: full collections over a cache
    of thousands of keys no longer pause the event loop for tens of milliseconds."""
    kind = type(value)
    if kind is list:
        return tuple([_frozen(v) if type(v) in _CONTAINERS else v for v in value])
    if kind is dict:
        return {k: _frozen(v) if type(v) in _CONTAINERS else v for k, v in value.items()}
    return value


def _value_tail(value: Any) -> str:
    """The characters Coveo leaves visible at the end of a masked value (what customers can read)."""
    if not isinstance(value, str):
        return ""
    last_mask = max(value.rfind("*"), value.rfind("•"))
    # An unmasked value (never expected) still yields only its last four characters.
    visible = (value[last_mask + 1 :] if last_mask >= 0 else value[-4:])[-16:]
    if not (visible.isascii() and visible.isalnum()):
        visible = "".join(ch for ch in visible if ch.isascii() and ch.isalnum())
    return visible[-8:].lower()
