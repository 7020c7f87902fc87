"""The pure core: text, the API key model, command parsing, matching, button values and outcomes.
No I/O here, and nothing of Slack, HTTP, metrics or the server (tests/test_layers.py holds it)."""
