"""Every sentence a user reads, and the Slack structures that carry it.

- `messages`: `render`, every answer of a lookup (and help, refusals, "looking up") as a message.
- `keys`: one API key in words. `errors`: what went wrong, and what to do about it.
- `blocks`: the reply, its buttons and Slack's limits.
- `surfaces`: clicks, the lookup modal, the Home tab and the public copy Share posts.
- `audit_lines`: the audit channel's lines. `admin`: what `apikeyid check` and `lookup` print.

Anything from a user or from Coveo goes through `bot.core.text.inert` or `code` on its way in.
No module here re-exports another's names: import each from where it is defined.
"""
