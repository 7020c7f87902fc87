"""What one request ended in, before it is put into words: the refusals of the gate, the notes
while an answer is on its way, and the names the audit line and the metrics share."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.core.command import Command, ListKeys, Lookup


class Event(enum.StrEnum):
    """What a person did, as the audit line's `event` and the metrics' `kind` name it."""

    COMMAND = "command"  # the slash command
    MODAL = "modal"  # the lookup modal submitted
    SHARED = "shared"  # Share in channel clicked
    PAGED = "paged"  # Next or Previous clicked
    DISMISSED = "dismissed"  # Dismiss clicked
    OPENED = "opened"  # a shortcut or the Home tab's button: the lookup modal opened
    HOME = "home"  # the Home tab opened


class Outcome(enum.StrEnum):
    """How it ended, as the audit line's `outcome` and the metrics' label name it."""

    FOUND = "found"  # one key
    SEVERAL = "several"  # more than one key matched
    NONE = "none"  # no key matched
    LISTED = "listed"  # the org's keys, or those that need care
    DENIED = "denied"
    LIMITED = "limited"
    HELP = "help"
    INVALID = "invalid"  # not a command the bot understands (a bad org id, say)
    ERROR = "error"  # Coveo failed, or the bot did
    CANCELLED = "cancelled"  # the process stopped before the answer
    SHARED = "shared"
    PAGED = "paged"
    DISMISSED = "dismissed"
    TAMPERED = "tampered"  # a button value the bot did not write
    SHARING_OFF = "sharing_off"
    GONE = "gone"  # the key to share is no longer there
    OPENED = "opened"
    HOME = "home"


class Refusal(enum.StrEnum):
    """Why a person may not use the bot; the values are stable (audit lines, metrics)."""

    BOT_IDENTITY_UNKNOWN = "bot_identity_unknown"  # auth.test has not succeeded yet
    OTHER_WORKSPACE = "other_workspace"
    NOT_LISTED = "not_listed"
    GUEST = "guest"
    DEACTIVATED = "deactivated"
    BOT_USER = "bot_user"
    UNVERIFIED = "unverified"  # Slack could not say who the person is


@dataclass(frozen=True)
class Denied:
    reason: Refusal
    groups: frozenset[str] = frozenset()  # the allowed user groups, to say whom to ask


@dataclass(frozen=True)
class Limited:
    retry_in: float


@dataclass(frozen=True)
class Working:
    """The interim answer while Coveo is asked."""

    org: str
    query: str | None
    slack_slow: bool = False  # Slack, not Coveo, is slow: it has not yet said who the person is

    @classmethod
    def of(cls, command: Command, *, slack_slow: bool = False) -> Working:
        """The interim answer for what was asked (no org or name when it is not a lookup)."""
        if isinstance(command, ListKeys | Lookup):
            return cls(command.org, command.name if isinstance(command, Lookup) else None, slack_slow)
        return cls("", None, slack_slow)


@dataclass(frozen=True)
class Unexpected:
    """A bug on our side; the user still gets an answer, the details go to the log."""

    reference: str
