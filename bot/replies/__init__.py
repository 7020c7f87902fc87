"""Every user-facing sentence of the bot, and the Slack structures that carry them.

`messages`: each outcome of a lookup (and help, refusals, errors) as a Block Kit message, or as
plain text for the terminal. `surfaces`: clicks, the lookup modal, the Home tab and the public
copy Share posts. `admin`: what `python -m bot check` and `lookup` print for the bot's admin.
Anything from a user or from Coveo goes through `bot.text.inert` or `code` on its way in.
"""
