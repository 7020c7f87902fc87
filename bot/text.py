"""Small text helpers shared by parsing, matching and replies."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
# Control and format characters (including right-to-left marks and zero-width
# spaces) change how text looks without being visible; they never help a match.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf"})


def fold(text: str) -> str:
    """Text as a person means it: case, repeated spaces and invisible characters ignored."""
    if text.isascii() and text.isprintable():  # the common case, kept cheap for big orgs
        return " ".join(text.split()).lower()
    visible = "".join(
        ch for ch in text if unicodedata.category(ch) not in _INVISIBLE_CATEGORIES or ch in "\t\n"
    )
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", visible)).strip().casefold()


def unescape_slack(text: str) -> str:
    """Undo the three escapes Slack applies to command text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape_mrkdwn(text: str) -> str:
    """Make text inert in Slack mrkdwn: no mentions, links or channel pings can be formed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """A code span that stays one span whatever the text holds."""
    # A backtick would close the span early; U+02CB looks the same and is harmless.
    return "`" + escape_mrkdwn(text.replace("`", "ˋ").replace("\n", " ")) + "`"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def trigrams(text: str) -> frozenset[str]:
    """Three-character pieces of text, for ranking "did you mean" suggestions."""
    padded = f" {text} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))
