"""Slack: the Web API client and the bot's own identity, answers posted to `response_url`, the audit
channel, access (who may ask) and the typed request read once at the boundary."""
