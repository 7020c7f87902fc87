"""The lines the audit channel posts."""

from __future__ import annotations

from typing import Any

from bot.core.text import code, inert, shorten
from bot.replies.blocks import SECTION_LIMIT
from bot.replies.messages import MAX_KEYS_SHOWN, QUERY_ECHO


def audit_channel_line(audit: dict[str, Any]) -> str:
    """One short line per command for the security team's channel: who, which org and name,
    what happened, which keys. Built from the audit record, which holds no secret."""
    parts = [f"/apikeyid by {code(str(audit.get('user_id') or '?'))}"]
    if audit.get("org"):
        parts.append(f"org {code(str(audit['org']))}")
    if audit.get("query"):
        parts.append(f"“{inert(shorten(str(audit['query']), QUERY_ECHO))}”")
    outcome = str(audit.get("outcome") or "unknown")
    detail = audit.get("refusal") or audit.get("error")
    parts.append(inert(f"{outcome} ({detail})" if detail else outcome))
    key_ids = audit.get("key_ids") or []
    if key_ids:
        shown = ", ".join(code(str(k)) for k in key_ids[:MAX_KEYS_SHOWN])
        more = len(key_ids) - MAX_KEYS_SHOWN
        parts.append(f"keys {shown}" + (f" +{more} more" if more > 0 else ""))
    return shorten(" · ".join(parts), SECTION_LIMIT)


def audit_channel_summary(user_id: str, counts: dict[str, int], seconds: float) -> str:
    """The audit channel's one line for what else a person did over a minute (refusals, limits,
    help, typos, clicks): everything but a lookup or a share, which get a line each."""
    total = sum(counts.values())
    each = ", ".join(f"{inert(what)} ×{n}" for what, n in sorted(counts.items(), key=lambda c: -c[1]))
    span = f"{round(seconds)} s"
    return shorten(
        f"/apikeyid by {code(user_id)} · {total} more (summarised) in {span}: {each}", SECTION_LIMIT
    )
