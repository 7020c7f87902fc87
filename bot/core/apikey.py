"""One Coveo API key as the bot sees it, parsed from Coveo's JSON.

The fields are read as Coveo's own client defines them (coveo/platform-client:
`src/resources/ApiKeys/ApiKeysInterfaces.ts` for `ApiKeyModel` and `ExposureReport`,
`src/resources/Enums.ts` for `ApiKeyStatus` and the exposure enums, `src/resources/BaseInterfaces.ts`
for `PrivilegeModel`). Only `id` is required there: every other field may be missing or null.

Organisations can hold thousands of keys, and a command shows a handful. So parsing
reads only the id, the display name and the value's visible tail; the rest is read on
first use (folded names and trigrams when matching needs them; the fields the other facts
are read from, `KEPT`, when a key is shown, and the rest of the JSON is then dropped).
The key's `value` is dropped at parse time: only its visible tail is kept.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.text import fold, trigrams

EXPIRING_WITHIN = timedelta(days=30)  # an expiry this close is a warning, whatever the status says
UNUSED_FOR = timedelta(days=90)  # a key not used for this long is a clean-up candidate


class Status(enum.StrEnum):
    """Coveo's `ApiKeyStatus` (platform-client, src/resources/Enums.ts)."""

    ENABLED = "ENABLED"
    DISABLED = "DISABLED"
    DISABLED_FOR_INACTIVITY = "DISABLED_FOR_INACTIVITY"
    EXPIRED = "EXPIRED"
    SOON_TO_BE_EXPIRED = "SOON_TO_BE_EXPIRED"
    SOON_TO_BE_DISABLED = "SOON_TO_BE_DISABLED"
    DISABLED_EXPOSED = "DISABLED_EXPOSED"


# A status that puts a key in `is:expiring` whatever its date says.
_EXPIRING_STATUSES = frozenset({Status.EXPIRED, Status.SOON_TO_BE_EXPIRED, Status.SOON_TO_BE_DISABLED})
DISABLED_STATUSES = frozenset({Status.DISABLED, Status.DISABLED_FOR_INACTIVITY, Status.DISABLED_EXPOSED})


class Severity(enum.StrEnum):
    """Coveo's `ApiKeyExposureReportSeverity`, most severe first."""

    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    WARN = "WARN"


SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity)}
UNKNOWN_SEVERITY_RANK = 2  # a severity Coveo adds later sorts with MEDIUM: neither hidden nor shouted


class Care(enum.StrEnum):
    """The listings of keys that need care (`is:exposed` …); the values are what users type."""

    EXPOSED = "exposed"
    DISABLED = "disabled"
    EXPIRING = "expiring"
    UNUSED = "unused"


@dataclass(frozen=True, slots=True)
class Privilege:
    """Coveo's `PrivilegeModel`: `targetId` and `type` are optional; `level` marks a global privilege."""

    owner: str
    target_domain: str
    type: str
    target_id: str
    level: str = ""

    @property
    def is_global(self) -> bool:
        return bool(self.level)

    def summary(self) -> str:
        """The raw form, as Coveo's privilege reference writes it."""
        if self.level:
            return f"{self.owner}/{self.target_domain} level {self.level}"
        target = "" if self.target_id in ("", "*") else f" on {self.target_id}"
        return f"{self.owner}/{self.target_domain} {self.type or 'ANY'}{target}"


@dataclass(frozen=True, slots=True)
class ExposureReason:
    """One `ApiKeyExposureReportReasonModel`: where and when the key was found."""

    source: str  # ApiKeyExposureReportReasonSource: GITHUB, MANUAL, or one Coveo adds later
    url: str
    reason: str
    found: datetime | None


@dataclass(frozen=True, slots=True)
class Exposure:
    """Coveo's `ExposureReport` on a key."""

    severity: str
    reasons: tuple[ExposureReason, ...]
    creation_type: str  # ApiKeyReportCreationType: MANUAL or AUTOMATED
    reported_by: str  # the report's `createdBy` user, by name
    deactivation: datetime | None  # when Coveo disables (or disabled) the key

    @property
    def rank(self) -> int:
        return severity_rank(self.severity)


def severity_rank(severity: str) -> int:
    """Where a severity sorts, most severe first (0)."""
    known = severity in SEVERITY_RANK
    return SEVERITY_RANK[Severity(severity)] if known else UNKNOWN_SEVERITY_RANK


class ApiKey:
    """One key of an organisation's list. Built for every key Coveo lists, so it is built lazily:
    the id, the display name and the value's visible tail are read at once (matching needs them,
    and the value is not kept); the rest (the description, the folded names, the trigrams, and
    `raw`, the fields the facts are read from) on first use, then kept with the cached list. A
    command reads the facts of the few keys it shows, not of the hundreds it matched against."""

    __slots__ = (
        "_description",
        "_folded_description",
        "_folded_name",
        "_raw",
        "_source",
        "_trigrams",
        "display_name",
        "id",
        "value_tail",
    )

    def __init__(self, id: str, display_name: str, value_tail: str, source: dict[str, Any]) -> None:
        self.id = id
        self.display_name = display_name
        self.value_tail = value_tail
        self._source: dict[str, Any] | None = source  # Coveo's object, its `value` already removed
        self._raw: dict[str, Any] | None = None
        self._description: str | None = None
        self._folded_name: str | None = None
        self._folded_description: str | None = None
        self._trigrams: frozenset[str] | None = None

    def __repr__(self) -> str:
        return f"ApiKey(id={self.id!r}, display_name={self.display_name!r}, value_tail={self.value_tail!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApiKey):
            return NotImplemented
        return (self.id, self.display_name, self.description, self.value_tail) == (
            other.id,
            other.display_name,
            other.description,
            other.value_tail,
        )

    __hash__ = None  # type: ignore[assignment]  # as the dataclass it was: equal by value, unhashable

    @property
    def raw(self) -> dict[str, Any]:
        """The fields the bot reads (`KEPT`), lists made tuples: built on first use, when Coveo's
        object (the rest of its fields) is dropped."""
        raw = self._raw
        if raw is None:
            source = self._source or {}
            raw = self._raw = {name: _frozen(source[name]) for name in KEPT if name in source}
            self._source = None
        return raw

    @property
    def description(self) -> str:
        description = self._description
        if description is None:
            fields = self._source if self._source is not None else self.raw
            description = self._description = _string(fields.get("description"))
        return description

    @property
    def folded_name(self) -> str:
        folded = self._folded_name
        if folded is None:
            folded = self._folded_name = fold(self.display_name)
        return folded

    @property
    def folded_description(self) -> str:
        folded = self._folded_description
        if folded is None:
            folded = self._folded_description = fold(self.description)
        return folded

    @property
    def name_trigrams(self) -> frozenset[str]:
        # Only "did you mean" needs these.
        trigrams_ = self._trigrams
        if trigrams_ is None:
            trigrams_ = self._trigrams = trigrams(self.folded_name)
        return trigrams_

    @property
    def enabled(self) -> bool | None:
        """Coveo's `enabled` as sent; optional in Coveo's model (None when missing)."""
        value = self.raw.get("enabled")
        return value if isinstance(value, bool) else None

    @property
    def status(self) -> str | None:
        """Coveo's `status` text as sent (a status Coveo adds later is kept as it is)."""
        return _string(self.raw.get("status")).strip().upper() or None

    @property
    def known_status(self) -> Status | None:
        status = self.status
        return Status(status) if status is not None and status in Status.__members__ else None

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
    def activated(self) -> datetime | None:
        return parse_date(self.raw.get("activationDate"))

    @property
    def disabled_since(self) -> datetime | None:
        return parse_date(self.raw.get("disabledDate"))

    @property
    def privacy_level(self) -> str | None:
        return _string(self.raw.get("privacyLevel")) or None

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
                level=_string(p.get("level")),
            )
            for p in value
            if isinstance(p, dict)
        ]

    @property
    def allowed_ips(self) -> list[str]:
        return _strings(self.raw.get("allowedIps"))

    @property
    def denied_ips(self) -> list[str]:
        return _strings(self.raw.get("deniedIps"))

    @property
    def template_id(self) -> str | None:
        return _string(self.raw.get("apiKeyTemplateId")) or None

    @property
    def exposure(self) -> Exposure | None:
        """Coveo's exposure report, when the key has one (a null or missing report: None)."""
        report = self.raw.get("exposureReport")
        if not isinstance(report, dict):
            return None
        reasons = report.get("reasons")
        return Exposure(
            severity=_string(report.get("severity")).strip().upper(),
            reasons=tuple(
                ExposureReason(
                    source=_string(r.get("source")).strip().upper(),
                    url=_string(r.get("url")),
                    reason=_string(r.get("reason")),
                    found=parse_date(r.get("createdDate")),
                )
                for r in (reasons if isinstance(reasons, tuple) else ())
                if isinstance(r, dict)
            ),
            creation_type=_string(report.get("creationType")).strip().upper(),
            reported_by=_user_name(report.get("createdBy")),
            deactivation=parse_date(report.get("deactivationDate")),
        )

    @property
    def exposed(self) -> bool:
        """Coveo reported the key exposed (a report, or the status it disables exposed keys with).
        Read without building the report: `is:exposed` asks it of every key of the org."""
        return isinstance(self.raw.get("exposureReport"), dict) or self.status == Status.DISABLED_EXPOSED

    @property
    def disabled(self) -> bool:
        """The key does not work now because it was turned off (expiry is `expired`)."""
        status = self.known_status
        if status is not None:
            return status in DISABLED_STATUSES
        return self.enabled is False

    def expired(self, now: datetime) -> bool:
        expires = self.expires
        return self.status == Status.EXPIRED or (expires is not None and expires <= now)

    def expiring(self, now: datetime) -> bool:
        """Not expired yet, but Coveo says it soon will be, or it expires within 30 days."""
        if self.expired(now):
            return False
        if self.status in (Status.SOON_TO_BE_EXPIRED, Status.SOON_TO_BE_DISABLED):
            return True
        expires = self.expires
        return expires is not None and expires - now <= EXPIRING_WITHIN

    @property
    def never_used(self) -> bool:
        """Coveo knows when the key was created but has no last use for it."""
        return self.last_used is None and self.created is not None

    def unused(self, now: datetime) -> bool:
        """Never used, or not for 90 days."""
        last = self.last_used
        return self.never_used or (last is not None and now - last >= UNUSED_FOR)

    def needs(self, care: Care, now: datetime) -> bool:
        match care:
            case Care.EXPOSED:
                return self.exposed
            case Care.DISABLED:
                return self.disabled
            case Care.EXPIRING:  # expired or expiring, read once (asked of every key of the org)
                expires = self.expires
                return self.status in _EXPIRING_STATUSES or (
                    expires is not None and expires - now <= EXPIRING_WITHIN
                )
            case Care.UNUSED:
                return self.unused(now)
        raise ValueError(care)

    def urgency(self, care: Care, now: datetime) -> tuple[float, ...]:
        """Sort key within the listing of keys that need `care`, most urgent first.

        - exposed: most severe first; among equal severities a key that still works first (a leaked
          key that works is the most urgent), then the disabled or expired ones.
        - disabled: disabled because exposed first (replace it), then the most recently disabled
          (what just stopped working), then those Coveo gave no date for.
        - expiring: soonest expiry first, so expired ones first (an `EXPIRED` without a date as if
          it just expired), then a soon-to-expire status without a date.
        - unused: longest unused first: never used first (oldest created first), then by the last use.
        """
        match care:
            case Care.EXPOSED:
                report = self.raw.get("exposureReport")
                rank = (
                    severity_rank(_string(report.get("severity")).strip().upper())
                    if isinstance(report, dict)
                    else len(SEVERITY_RANK)
                )
                working = not self.disabled and not self.expired(now)
                return (rank, 0 if working else 1)
            case Care.DISABLED:
                since = self.disabled_since
                return (
                    0 if self.status == Status.DISABLED_EXPOSED else 1,
                    -since.timestamp() if since is not None else math.inf,
                )
            case Care.EXPIRING:
                expires = self.expires
                if expires is None and self.expired(now):
                    expires = now
                return (expires.timestamp() if expires is not None else math.inf,)
            case Care.UNUSED:
                last, created = self.last_used, self.created
                if last is not None:
                    return (1, last.timestamp())
                return (0, created.timestamp() if created is not None else -math.inf)
        raise ValueError(care)

    def facts(self, now: datetime) -> dict[str, Any]:
        """What the bot knows about the key, as plain JSON values (for `--json`); never the value."""

        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        exposure = self.exposure
        return {
            "id": self.id,
            "displayName": self.display_name,
            "description": self.description,
            "enabled": self.enabled,
            "status": self.status,
            "createdDate": iso(self.created),
            "lastUsedDate": iso(self.last_used),
            "expirationDate": iso(self.expires),
            "activationDate": iso(self.activated),
            "disabledDate": iso(self.disabled_since),
            "privacyLevel": self.privacy_level,
            "privileges": [p.summary() for p in self.privileges],
            "allowedIps": self.allowed_ips,
            "deniedIps": self.denied_ips,
            "apiKeyTemplateId": self.template_id,
            "valueEndsWith": self.value_tail,
            "exposed": self.exposed,
            "exposureReport": None
            if exposure is None
            else {
                "severity": exposure.severity or None,
                "creationType": exposure.creation_type or None,
                "createdBy": exposure.reported_by or None,
                "deactivationDate": iso(exposure.deactivation),
                "reasons": [
                    {"source": r.source or None, "url": r.url or None, "reason": r.reason or None}
                    | {"createdDate": iso(r.found)}
                    for r in exposure.reasons
                ],
            },
            "disabled": self.disabled,
            "expired": self.expired(now),
            "expiring": self.expiring(now),
            "neverUsed": self.never_used,
            "unused": self.unused(now),
            "needs": [care.value for care in Care if self.needs(care, now)],
        }


def most_urgent_first(keys: Iterable[ApiKey], care: Sequence[Care], now: datetime) -> list[ApiKey]:
    """The keys in the order of the first qualifier's urgency, the next ones breaking ties, then by name."""
    return sorted(
        keys, key=lambda k: (*(part for c in care for part in k.urgency(c, now)), k.folded_name, k.id)
    )


def parse_api_keys(items: Sequence[Any], *, consume: bool = False) -> list[ApiKey]:
    """Keys from Coveo's JSON array; entries without an id are skipped. Each key holds its
    object without the `value`: a shallow copy, or with `consume` (objects just decoded, which
    nobody else holds) the object itself, its value removed."""
    keys: list[ApiKey] = []
    append = keys.append
    for item in items:
        if not isinstance(item, dict):
            continue
        key_id = item.get("id")
        if not isinstance(key_id, str) or not key_id:
            continue
        source = item if consume else dict(item)
        tail = _value_tail(source.pop("value", None))
        append(ApiKey(key_id, _string(source.get("displayName")), tail, source))
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
    "activationDate",
    "disabledDate",
    "privacyLevel",
    "privileges",
    "allowedIps",
    "deniedIps",
    "apiKeyTemplateId",
    "exposureReport",
)
_CONTAINERS = (list, dict)


def parse_date(value: Any) -> datetime | None:
    """Coveo dates come as epoch milliseconds (its model) or ISO 8601 strings; anything else is unknown."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):
            if not math.isfinite(value):
                return None
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


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, tuple) else []


def _user_name(value: Any) -> str:
    """Who a `UserModel` (or a plain user name, as `ApiKeyModel.createdBy` may be) is, by name."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for name in ("displayName", "username", "name", "email"):
            text = value.get(name)
            if isinstance(text, str) and text.strip():
                return text
    return ""


def _frozen(value: Any) -> Any:
    """Lists become tuples: once every container holds only strings and numbers the garbage
    collector stops tracking it. (Only the keys whose facts were read have `raw`; the others
    keep Coveo's object, lists and all: building `raw` for every key cost more CPU than the
    collector spent on those lists, measured at 200 commands in flight.)"""
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
    # Read once per key of every list Coveo sends: the usual mask ("*", no "•") takes one split.
    _, star, visible = value.rpartition("*")
    if not star or "•" in visible:
        last_mask = max(value.rfind("*"), value.rfind("•"))
        # An unmasked value (never expected) still yields only its last four characters.
        visible = value[last_mask + 1 :] if last_mask >= 0 else value[-4:]
    visible = visible[-16:]
    if not (visible.isascii() and visible.isalnum()):
        visible = "".join(ch for ch in visible if ch.isascii() and ch.isalnum())
    return visible[-8:].lower()
