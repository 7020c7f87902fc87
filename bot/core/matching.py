"""Find the keys a support engineer means by a name.

Tiers, tried in order; the first that finds anything wins and all its hits are reported:
the visible tail of the masked value (`…1b3e`, only for a name written so), an API key id
(reverse lookup), the exact display name, the display name ignoring case and spacing, the
description ignoring case, and finally display name or description containing the name.
A name written like a value tail that no value ends with is still looked up by the other
tiers: a key may be named `*0000`.

`find_all` is every key some tier finds (for `is:exposed search`: every exposed key that
matches the name, not only those of the tier that would win among all keys).
"""

from __future__ import annotations

import enum
import heapq
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.core.apikey import ApiKey
from bot.core.text import fold, trigrams

# "…1b3e", "...1b3e" or "*1b3e": the end of the masked value customers read off their screen.
_VALUE_TAIL = re.compile(r"^(?:…|\.{2,}|\*+)\s*([0-9A-Za-z]{4,8})$")

SUGGESTION_CUTOFF = 0.3  # below this a suggestion is noise, not a near miss


class MatchedBy(enum.StrEnum):
    """Which tier found the keys; the values are stable (audit lines, `--json`)."""

    ID = "id"
    VALUE_TAIL = "value_tail"
    EXACT_NAME = "exact_name"
    NAME_IGNORING_CASE = "name_ignoring_case"
    DESCRIPTION = "description"
    CONTAINS = "contains"


@dataclass(frozen=True)
class Hits:
    keys: list[ApiKey]
    how: MatchedBy


@dataclass(frozen=True)
class NoHit:
    suggestions: list[str]


def find(keys: Sequence[ApiKey], name: str) -> Hits | NoHit:
    """The keys of the first tier with a hit, tightest first; else the closest names."""
    for how, select in _tiers(name):
        hits = select(keys)
        if hits:
            return Hits(hits, how)
    folded = fold(name)
    return NoHit(suggest(keys, folded) if folded else [])


def find_all(keys: Sequence[ApiKey], name: str) -> list[ApiKey]:
    """Every key some tier of `find` matches, in the order given (the looser tiers included)."""
    chosen = {id(k) for _, select in _tiers(name) for k in select(keys)}
    return [k for k in keys if id(k) in chosen]


Select = Callable[[Sequence[ApiKey]], list[ApiKey]]


def _tiers(name: str) -> list[tuple[MatchedBy, Select]]:
    """What `name` can match, tightest first, each as the keys it selects. A value tail comes
    first when the text looks like one; when no value ends so, the text may still be a name (or
    id) that only looks like a tail. (Each tier is one comprehension: a test called per key cost
    more than the comparison it made.)"""
    tiers: list[tuple[MatchedBy, Select]] = []
    tail = _VALUE_TAIL.match(name.strip())
    if tail:
        wanted = tail.group(1).lower()
        tiers.append(
            (
                MatchedBy.VALUE_TAIL,
                lambda keys: [k for k in keys if k.value_tail and k.value_tail.endswith(wanted)],
            )
        )
    tiers += [
        (MatchedBy.ID, lambda keys: [k for k in keys if k.id == name]),
        (MatchedBy.EXACT_NAME, lambda keys: [k for k in keys if k.display_name == name]),
    ]
    folded = fold(name)
    if folded:
        tiers += [
            (MatchedBy.NAME_IGNORING_CASE, lambda keys: [k for k in keys if k.folded_name == folded]),
            (MatchedBy.DESCRIPTION, lambda keys: [k for k in keys if k.folded_description == folded]),
            (
                MatchedBy.CONTAINS,
                lambda keys: [k for k in keys if folded in k.folded_name or folded in k.folded_description],
            ),
        ]
    return tiers


def suggest(keys: Sequence[ApiKey], folded: str, limit: int = 5) -> list[str]:
    """Display names closest to what was typed, best first."""
    return closest(folded, ((k.name_trigrams, k.folded_name, k.display_name) for k in keys), limit)


def closest(folded: str, candidates: Iterable[tuple[frozenset[str], str, str]], limit: int = 5) -> list[str]:
    """Labels of the candidates (trigrams, folded text, label) most like `folded`, best first.

    The score mixes how alike the two are overall (Jaccard of trigrams) with how much of what
    was typed appears in the candidate, so "pusher" still finds "Push source key". One set
    intersection per candidate, where difflib would cost an alignment each (200 ms for 10,000 keys).
    """
    wanted = trigrams(folded)
    scored: dict[str, tuple[float, str]] = {}
    for grams, text, label in candidates:
        shared = len(wanted & grams)
        if shared == 0 or text in scored:
            continue
        jaccard = shared / (len(wanted) + len(grams) - shared)
        score = (jaccard + shared / len(wanted)) / 2
        if score >= SUGGESTION_CUTOFF:
            scored[text] = (score, label)
    return [label for _, label in heapq.nlargest(limit, scored.values())]
