"""The bot's one outbound HTTP policy, and the httpx transport over aiohttp for the Coveo client."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp


class Outbound:
    """How every request the bot sends leaves the process: Coveo, Slack's Web API, `response_url`.

    - The proxy comes from the environment as it is when the policy is made (at start-up):
      `HTTPS_PROXY` / `HTTP_PROXY` (either case, lower-case winning, as curl and Python's urllib
      read them) by the URL's scheme, and `NO_PROXY` is honoured (`*`, host names, domain suffixes, `host:port`), with urllib's own
      matching. Nothing is special about loopback: it is proxied unless `NO_PROXY` names it.
    - `~/.netrc` is never read. aiohttp reads it (and adds its Basic auth to requests that carry
      none) only for a session made with `trust_env=True`; every session here is made with
      `trust_env=False` and gets its proxy per request instead.
    - Redirects are never followed (each caller passes `allow_redirects=False`): a token or an
      answer goes to the host it was meant for, or nowhere.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._proxies: dict[str, str] = {}
        for name in ("http", "https", "no"):
            for variable in (f"{name.upper()}_PROXY", f"{name}_proxy"):  # lower-case read last: it wins
                if variable in env:
                    if env[variable]:
                        self._proxies[name] = env[variable]
                    else:
                        self._proxies.pop(name, None)
        self._chosen: dict[tuple[str, str], str | None] = {}

    def proxy_for(self, url: str) -> str | None:
        """The proxy to send a request for `url` through, or None to connect directly."""
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        key = (scheme, netloc)
        if key not in self._chosen:
            if len(self._chosen) > 1000:  # a handful of hosts in practice; never a growing map
                self._chosen.clear()
            proxy = self._proxies.get(scheme)
            # urllib's own NO_PROXY matching (in the stdlib since 3.x, absent from typeshed).
            bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
            if proxy and bypass(netloc, self._proxies):
                proxy = None
            self._chosen[key] = proxy
        return self._chosen[key]

    def session(self, **options: Any) -> aiohttp.ClientSession:
        """An aiohttp session under this policy (its requests take `proxy=self.proxy_for(url)`)."""
        return aiohttp.ClientSession(trust_env=False, **options)
