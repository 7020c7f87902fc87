"""Coveo: the errors (one tree), the client for one region, its transport, and the key directory
(cache, single flight, region memory, the race across regions). It reports to metrics through the
hooks it is given and imports nothing of Slack, metrics, the flow or serving."""
