"""Small text helpers shared by parsing, matching and replies."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
# Control and format characters (including right-to-left marks and zero-width
# spaces) change how text looks without being visible; they never help a match.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf"})
# Characters that open or close mrkdwn emphasis, strike or code, and a harmless look-alike of each.
_MARKUP_LOOKALIKES = str.maketrans({"*": "∗", "~": "∼", "`": "ˋ"})
# snake_case names keep their underscores; only one that could start or end italics is replaced.
_LONE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


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


def one_line(text: str) -> str:
    """Text as one visible line: invisible characters dropped, every run of whitespace one space.

    Bidirectional overrides and zero-width characters could reorder or hide the bot's own
    words around them; a newline could start a line that looks like the bot's.
    """
    if not (text.isascii() and text.isprintable()):
        text = "".join(
            " " if ch.isspace() else ch
            for ch in text
            if ch.isspace() or unicodedata.category(ch) not in _INVISIBLE_CATEGORIES
        )
    return " ".join(text.split())


def inert(text: str) -> str:
    """Text from Coveo or a user, unable to form mrkdwn structure of its own.

    One line; `& < >` escaped, so no mention, link or channel ping; asterisks, tildes,
    backticks (and underscores that could open or close italics) become look-alikes, so no
    emphasis, strike or code span. The bot's own labels and code spans stay the only ones.
    """
    text = one_line(text).translate(_MARKUP_LOOKALIKES)
    text = _LONE_UNDERSCORE.sub("ˍ", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """A code span that stays one span whatever the text holds."""
    return f"`{inert(text)}`"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def trigrams(text: str) -> frozenset[str]:
    """Three-character pieces of text, for ranking "did you mean" suggestions."""
    padded = f" {text} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))
