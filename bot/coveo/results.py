"""What the key directory answers for one command: the keys found, none, a listing, or a failure."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.apikey import ApiKey, Care
from bot.core.matching import MatchedBy
from bot.core.regions import SINGLE_TOKEN_VARIABLE
from bot.coveo.errors import CoveoError, OrganizationNotFound


@dataclass(frozen=True)
class Found:
    org: str
    query: str
    keys: list[ApiKey]
    how: MatchedBy
    request_id: str | None = None  # Coveo's id for the call that listed the keys
    region: str = ""  # the region that answered


@dataclass(frozen=True)
class NotFound:
    org: str
    query: str
    suggestions: list[str]
    total: int
    request_id: str | None = None
    region: str = ""


@dataclass(frozen=True)
class Listing:
    """Every key of the org, or (with `care`) the keys that need that care, most urgent first."""

    org: str
    keys: list[ApiKey]
    request_id: str | None = None
    region: str = ""
    query: str | None = None  # the query that asked for the keys that need care (`is:exposed search`)
    care: tuple[Care, ...] = ()
    name: str = ""  # the name part of that query
    total: int = 0  # keys in the org (with `care`: before filtering; with a name too: those it matches)


@dataclass(frozen=True)
class RegionError:
    """What one region answered instead of the org's keys."""

    region: str
    error: CoveoError
    token_variable: str = SINGLE_TOKEN_VARIABLE  # what the admin rotates when the token was rejected

    @property
    def plain_not_found(self) -> bool:
        return isinstance(self.error, OrganizationNotFound)


@dataclass(frozen=True)
class Failed:
    """No region gave the org's keys. `error` and `region` are the failure to act on first;
    `asked` is every region asked and its answer."""

    org: str
    error: CoveoError
    region: str
    similar_orgs: list[Organization] = field(default_factory=list)
    asked: tuple[RegionError, ...] = ()
    unserved_hint: str | None = None  # the pasted URL's region, which the bot has no token for


Result = Found | NotFound | Listing | Failed


@dataclass(frozen=True)
class KeyList:
    """An organisation's API keys, with the id Coveo gave the request that listed them."""

    keys: list[ApiKey]
    request_id: str | None


@dataclass(frozen=True)
class Organization:
    id: str
    display_name: str
    region: str = ""  # the region whose token sees it
