"""Settings, read once at start-up into one frozen object.

Every problem is collected and reported together, so an admin fixes the
configuration in one pass. Secrets are wrapped in `Secret`, which never shows
its value in `repr`, `str` or f-strings.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from bot.core.regions import REGION_URLS, REGIONS, SINGLE_TOKEN_VARIABLE

_N = TypeVar("_N", int, float)  # a number setting is read as an int or a float

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_USERGROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
# Coveo API keys start with "xx" followed by a UUID; they cannot list API keys.
_COVEO_API_KEY = re.compile(r"^xx[0-9a-f]{8}-", re.IGNORECASE)


def header_safe(value: str) -> bool:
    """Whether `value` can be sent in an HTTP header as a token: visible ASCII only (no byte-order
    mark, no space, no control or non-ASCII character, which HTTP clients refuse to encode)."""
    return all("!" <= c <= "~" for c in value)


def header_problem(variable: str) -> str:
    """The problem an admin reads when `variable` holds a token that cannot go in a header."""
    return (
        f"{variable} holds a character that cannot be sent in an HTTP header (a byte-order mark, "
        "a space or another invisible or non-ASCII character): save it again as plain ASCII text."
    )


class Secret:
    """A string that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SettingsError(Exception):
    """The configuration has one or more problems; `problems` lists them all."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))

    def explain(self) -> str:
        lines = ["apikeyid cannot start: the configuration has problems.", ""]
        lines += [f"  - {p}" for p in self.problems]
        lines += [
            "",
            "Set these in the environment, or in a .env file in the directory you start the bot from",
            "(only that directory's .env is read). .env.example and README.md, in the project's",
            "source or its sdist, list every variable and explain each step.",
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class RegionSettings:
    """One Coveo region the bot serves: a token is only valid in the region that issued it."""

    name: str  # "us", "eu", …
    platform_url: str
    token: Secret
    token_file: Path | None = None
    # The variable an admin rotates: COVEO_ACCESS_TOKEN_EU, COVEO_ACCESS_TOKEN_EU_FILE, COVEO_ACCESS_TOKEN…
    token_variable: str = SINGLE_TOKEN_VARIABLE
    # APIKEYID_ALLOWED_USERGROUPS_<REGION>: when set, only their members may ask this region.
    allowed_usergroups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Settings:
    coveo_regions: tuple[RegionSettings, ...]
    slack_bot_token: Secret | None = None
    slack_signing_secret: Secret | None = None
    slack_app_token: Secret | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    allowed_users: frozenset[str] = frozenset()
    allowed_usergroups: frozenset[str] = frozenset()
    allow_everyone: bool = False
    audit_channel: str | None = None
    allow_sharing: bool = True
    suggest_orgs: bool = True  # "did you mean" other organizations (their ids, names, regions)
    inline_budget: float = 2.0
    host: str = "0.0.0.0"  # noqa: S104 - a server on a platform must listen on every interface
    port: int = 3000
    port_given: bool = False
    log_level: str = "INFO"
    log_format: str = "auto"
    cache_ttl: float = 60.0
    answer_deadline: float = 20.0
    rate_limit_per_minute: int = 20
    # HTTP mode, after SIGTERM: seconds /readyz says 503 while requests are still served, so the
    # platform stops routing here before the listener closes.
    shutdown_delay: float = 5.0
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def region_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.coveo_regions)

    @property
    def region_usergroups(self) -> dict[str, frozenset[str]]:
        """The regions that only their own user groups' members may ask, and those groups."""
        return {r.name: r.allowed_usergroups for r in self.coveo_regions if r.allowed_usergroups}

    def secrets(self) -> list[str]:
        """Every secret value configured, for log redaction and leak tests."""
        found = [r.token.reveal() for r in self.coveo_regions]
        found += [
            s.reveal()
            for s in (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token)
            if s is not None
        ]
        return [s for s in found if s]

    def access_policy(self) -> str:
        if self.allow_everyone:
            return "every member of the workspace who is not a guest"
        parts = []
        if self.allowed_users:
            parts.append(f"{len(self.allowed_users)} user(s)")
        if self.allowed_usergroups:
            parts.append(f"members of {len(self.allowed_usergroups)} user group(s)")
        return " and ".join(parts) or "nobody"


def load_settings(env: Mapping[str, str], *, for_slack: bool = True) -> Settings:
    """Build `Settings` from environment variables; raise `SettingsError` listing every problem.

    `for_slack=False` is for the terminal commands, which need only Coveo.
    """
    problems: list[str] = []
    warnings: list[str] = []

    def get(name: str) -> str:
        return _get(env, name)

    regions = _coveo_regions(env, problems, warnings)

    # Slack
    # Problems with the Slack secrets matter only to the commands that talk to Slack.
    slack_problems: list[str] = []
    bot_token, bot_token_file = _secret_from(env, "SLACK_BOT_TOKEN", slack_problems)
    signing_secret, signing_secret_file = _secret_from(env, "SLACK_SIGNING_SECRET", slack_problems)
    app_token, app_token_file = _secret_from(env, "SLACK_APP_TOKEN", slack_problems)
    slack_api_url = get("SLACK_API_URL") or DEFAULT_SLACK_API_URL
    if not slack_api_url.endswith("/"):
        slack_api_url += "/"
    problem = _url_problem("SLACK_API_URL", slack_api_url)
    if problem:
        problems.append(problem)
    allowed_users = _id_list(env, "APIKEYID_ALLOWED_USERS", _USER_ID, "U… or W…", problems)
    allowed_groups = _id_list(env, "APIKEYID_ALLOWED_USERGROUPS", _USERGROUP_ID, "S…", problems)
    allow_everyone = _boolean(env, "APIKEYID_ALLOW_EVERYONE", problems)
    allow_sharing = _boolean(env, "APIKEYID_ALLOW_SHARING", problems, default=True)
    suggest_orgs = _boolean(env, "APIKEYID_SUGGEST_ORGS", problems, default=True)
    # Slack gives up on an answer after 3 s; the budget must leave room for the answer's trip.
    inline_budget = _number(env, "APIKEYID_INLINE_BUDGET", 0, 2.5, problems, default=2.0)
    audit_channel = get("APIKEYID_AUDIT_CHANNEL") or None
    if audit_channel and not _CHANNEL_ID.match(audit_channel):
        problems.append(
            f"APIKEYID_AUDIT_CHANNEL must be a channel id like C0123ABCD (got {audit_channel!r}); "
            "in Slack: the channel's name → About → Channel ID."
        )
    if for_slack:
        problems += slack_problems
        # A secret whose file could not be read is already reported; "missing" would only confuse.
        if not bot_token and bot_token_file is None:
            problems.append("SLACK_BOT_TOKEN is missing (the bot token, xoxb-…, from the Slack app's page).")
        elif bot_token and not bot_token.startswith("xoxb-"):
            problems.append("SLACK_BOT_TOKEN must be a bot token starting with xoxb-.")
        if app_token and not app_token.startswith("xapp-"):
            problems.append("SLACK_APP_TOKEN must be an app-level token starting with xapp-.")
        if not (app_token or app_token_file or signing_secret or signing_secret_file):
            problems.append(
                "SLACK_SIGNING_SECRET is missing: HTTP mode needs it to check Slack's requests "
                "(or set SLACK_APP_TOKEN to use Socket Mode)."
            )
        if not (allow_everyone or allowed_users or allowed_groups):
            problems.append(
                "Nobody may use the bot: set APIKEYID_ALLOWED_USERS and/or APIKEYID_ALLOWED_USERGROUPS, "
                "or APIKEYID_ALLOW_EVERYONE=true to let every full member of the workspace (not guests) use it."
            )

    # Server and tuning
    host = get("HOST") or "0.0.0.0"  # noqa: S104 - platforms route to every interface
    port = _number(env, "PORT", 0, 65535, problems, default=3000)
    log_level = get("LOG_LEVEL").upper() or "INFO"
    if log_level not in LOG_LEVELS:
        problems.append(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)} (got {log_level!r}).")
        log_level = "INFO"
    log_format = get("LOG_FORMAT").lower() or "auto"
    if log_format not in ("auto", "json", "text"):
        problems.append(f"LOG_FORMAT must be auto, json or text (got {log_format!r}).")
        log_format = "auto"
    cache_ttl = _number(env, "APIKEYID_CACHE_TTL", 0, 3600, problems, default=60.0)
    deadline = _number(env, "APIKEYID_ANSWER_DEADLINE", 1, 600, problems, default=20.0)
    rate = _number(env, "APIKEYID_RATE_LIMIT", 1, 10_000, problems, default=20)
    shutdown_delay = _number(env, "APIKEYID_SHUTDOWN_DELAY", 0, 300, problems, default=5.0)

    if problems:
        raise SettingsError(problems)
    return Settings(
        coveo_regions=regions,
        slack_bot_token=Secret(bot_token) if bot_token else None,
        slack_signing_secret=Secret(signing_secret) if signing_secret else None,
        slack_app_token=Secret(app_token) if app_token else None,
        slack_api_url=slack_api_url,
        allowed_users=allowed_users,
        allowed_usergroups=allowed_groups,
        allow_everyone=allow_everyone,
        audit_channel=audit_channel,
        allow_sharing=allow_sharing,
        suggest_orgs=suggest_orgs,
        inline_budget=inline_budget,
        host=host,
        port=port,
        port_given=bool(get("PORT")),
        log_level=log_level,
        log_format=log_format,
        cache_ttl=cache_ttl,
        answer_deadline=deadline,
        rate_limit_per_minute=rate,
        shutdown_delay=shutdown_delay,
        warnings=tuple(warnings),
    )


def _secret_from(env: Mapping[str, str], name: str, problems: list[str]) -> tuple[str, Path | None]:
    """The secret `name`, given as is or in the file named by `name_FILE` (the Docker and
    Kubernetes secrets convention), and that file's path when there is one, so it can be re-read.

    ("", None) when neither is set: whether that is a problem is the caller's call.
    Both ways at once, or an unreadable or empty file, is added to `problems`.
    """
    value = _get(env, name)
    path_text = _get(env, f"{name}_FILE")
    if not path_text:
        if value and not header_safe(value):
            problems.append(header_problem(name))
        return value, None
    if value:
        problems.append(f"Set {name} or {name}_FILE, not both.")
        return value, None
    path = Path(path_text)
    try:
        # Files written by `echo` or an editor end with a newline that is not part of the secret.
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        problems.append(f"{name}_FILE cannot be read: {path} ({exc.strerror or type(exc).__name__}).")
        return "", path
    except UnicodeDecodeError:
        problems.append(f"{name}_FILE cannot be read: {path} (not UTF-8 text).")
        return "", path
    if not value:
        problems.append(f"{name}_FILE is empty: {path}.")
    elif not header_safe(value):
        problems.append(header_problem(f"{name}_FILE"))
        return "", path
    return value, path


# Coveo regions. Every region is configured by the same per-region variables:
#   COVEO_ACCESS_TOKEN_EU (or _EU_FILE)   its token: the bot serves the regions that have one
#   COVEO_PLATFORM_URL_EU                 its host, when not the usual one (REGION_URLS)
#   APIKEYID_ALLOWED_USERGROUPS_EU        when set, only their members may ask this region
# The one-region form, COVEO_ACCESS_TOKEN (or _FILE) and COVEO_PLATFORM_URL, is the first two without
# _<REGION>, for the region COVEO_REGION names: an alias. `_region_entries` first translates it into
# per-region entries, then `_coveo_regions` reads every region alike. Each entry keeps the variable
# the admin set, for problems, warnings and "rotate …" answers (`token_variable`) to name.
_TOKEN, _URL, _GROUPS = SINGLE_TOKEN_VARIABLE, "COVEO_PLATFORM_URL", "APIKEYID_ALLOWED_USERGROUPS"
_PER_REGION = (_TOKEN, _URL, _GROUPS)
_ALIASED = (_TOKEN, _URL)  # APIKEYID_ALLOWED_USERGROUPS, without _<REGION>, is the bot-wide allow-list


def _region_entries(env: Mapping[str, str], problems: list[str], warnings: list[str]) -> dict[str, list[str]]:
    """Each per-region variable set, directly or through its alias, with the variables that set it, the
    alias first: {"COVEO_ACCESS_TOKEN_EU": ["COVEO_ACCESS_TOKEN"], …}. Two is one thing set twice."""

    def is_set(variable: str) -> bool:  # a token may be given in a file instead
        return bool(_get(env, variable) or (variable.startswith(_TOKEN) and _get(env, f"{variable}_FILE")))

    entries: dict[str, list[str]] = {}
    region = _get(env, "COVEO_REGION").lower() or "us"
    if region not in REGION_URLS:
        problems.append(f"COVEO_REGION must be one of {', '.join(REGION_URLS)} (got {region!r}).")
        region = "us"
    if is_set(_TOKEN):
        entries |= {f"{alias}_{region.upper()}": [alias] for alias in _ALIASED if is_set(alias)}
    else:  # nothing to alias: tell the admin rather than drop what they set
        if _get(env, "COVEO_REGION"):
            warnings.append(
                "COVEO_REGION is ignored: it only says the region of COVEO_ACCESS_TOKEN, which is not set."
            )
        if _get(env, _URL):
            # Ignoring it could send a token to a host the admin did not mean: refuse instead.
            problems.append(
                "COVEO_PLATFORM_URL goes with COVEO_ACCESS_TOKEN; with per-region tokens, "
                "set COVEO_PLATFORM_URL_<REGION> (e.g. COVEO_PLATFORM_URL_EU)."
            )
    for variable in (f"{prefix}_{name.upper()}" for name in REGIONS for prefix in _PER_REGION):
        if is_set(variable):
            entries.setdefault(variable, []).append(variable)
    return entries


def _coveo_regions(
    env: Mapping[str, str], problems: list[str], warnings: list[str]
) -> tuple[RegionSettings, ...]:
    """The regions the bot serves, in the order of REGIONS: those given a token, in either form."""
    entries = _region_entries(env, problems, warnings)
    found: dict[str, RegionSettings] = {}
    for name in REGIONS:
        upper = name.upper()
        tokens, urls = (entries.get(f"{prefix}_{upper}", []) for prefix in _ALIASED)
        if not tokens:  # a host with no token to send there is a slip, not something to ignore
            problems += [
                f"{url} is set but the bot has no token for {upper}: set {_TOKEN}_{upper}." for url in urls
            ]
            continue
        if len(tokens) > 1:
            problems.append(
                f"Region {upper} is configured twice: {tokens[0]} (with COVEO_REGION={name}) "
                f"and {tokens[1]}. Keep one of them."
            )
        if len(urls) > 1:
            problems.append(f"Set {urls[0]} or {urls[1]}, not both.")
        # Set twice, the alias is still read, so that its own problems are listed in the same pass.
        token_var, url_var = tokens[0], (urls or [f"{_URL}_{upper}"])[0]
        token, path = _secret_from(env, token_var, problems)
        url = _get(env, url_var) or REGION_URLS[name]
        problem = _url_problem(url_var, url)
        if problem:
            problems.append(problem)
        if not token:  # unreadable or empty: `_secret_from` said so
            continue
        if _COVEO_API_KEY.match(token):
            warnings.append(
                f"{token_var} looks like an API key (it starts with 'xx'). API keys cannot list "
                "API keys: use the OAuth2 access token of a service user that holds the "
                "PLATFORM / API_KEY / VIEW privilege."
            )
        variable = f"{token_var}_FILE" if path else token_var
        groups = _id_list(env, f"{_GROUPS}_{upper}", _USERGROUP_ID, "S…", problems)
        found[name] = RegionSettings(name, url.rstrip("/"), Secret(token), path, variable, groups)
    if not any(f"{_TOKEN}_{name.upper()}" in entries for name in REGIONS):
        problems.append(
            "COVEO_ACCESS_TOKEN is missing: the OAuth2 access token of a Coveo service user "
            "that holds the API key View privilege (or set COVEO_ACCESS_TOKEN_FILE). To serve several "
            f"regions, set one COVEO_ACCESS_TOKEN_<REGION> per region ({', '.join(n.upper() for n in REGIONS)})."
        )
    problems += [
        f"{_GROUPS}_{name.upper()} is set but the bot has no token for {name.upper()}."
        for name in REGIONS
        if f"{_GROUPS}_{name.upper()}" in entries and name not in found
    ]
    problems += _unknown_region_variables(env)
    return tuple(found.values())


def _unknown_region_variables(env: Mapping[str, str]) -> list[str]:
    """A misspelt region (…_HIPPA) would silently drop a region's token, or leave a region open that
    the admin meant to restrict: every per-region variable set must name a known region."""
    known = {f"{_TOKEN}_FILE"} | {f"{_TOKEN}_{name.upper()}_FILE" for name in REGIONS}
    known |= {f"{prefix}_{name.upper()}" for prefix in _PER_REGION for name in REGIONS}
    regions = ", ".join(n.upper() for n in REGIONS)
    return [
        f"{variable} names no region: the regions are {regions} (e.g. {prefix}_{REGIONS[1].upper()})."
        for variable in sorted(env)
        for prefix in _PER_REGION
        if variable.startswith(f"{prefix}_") and variable not in known and env[variable].strip()
    ]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_problem(name: str, url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{name} must be a URL such as https://host (got {url!r})."
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        # A token sent over plain HTTP can be read on the way; loopback is for tests.
        return f"{name} must use https (plain http is allowed only for localhost)."
    if parts.username or parts.password or parts.query or parts.fragment:
        return f"{name} must not contain credentials, a query or a fragment."
    return None


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _id_list(
    env: Mapping[str, str], name: str, pattern: re.Pattern[str], shape: str, problems: list[str]
) -> frozenset[str]:
    text = _get(env, name)
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if text and not ids:  # "," or " , ": set, yet it lists nobody (for a region: it would stay open)
        problems.append(f"{name} is set but lists no id: list Slack ids like {shape}, or leave it unset.")
    bad = [i for i in ids if not pattern.match(i)]
    if bad:
        problems.append(
            f"{name} must list Slack ids like {shape}, separated by commas (bad: {', '.join(bad)})."
        )
    return frozenset(i for i in ids if pattern.match(i))


def _boolean(env: Mapping[str, str], name: str, problems: list[str], *, default: bool = False) -> bool:
    text = _get(env, name).lower()
    if not text:
        return default
    if text in TRUE_WORDS:
        return True
    if text not in FALSE_WORDS:
        problems.append(f"{name} must be true or false (got {text!r}).")
    return False


def _number(env: Mapping[str, str], name: str, low: _N, high: _N, problems: list[str], *, default: _N) -> _N:
    """`name`, between `low` and `high`, or `default` when unset; read as the default's type, so a
    setting whose default is an int (PORT=3000) takes whole numbers only."""
    text = _get(env, name)
    if not text:
        return default
    parse = type(default)
    try:
        value = parse(text)
    except ValueError:
        problems.append(f"{name} must be a {'whole ' if parse is int else ''}number (got {text!r}).")
        return low
    if not low <= value <= high:
        problems.append(f"{name} must be between {low:g} and {high:g} (got {value:g}).")
    return value
