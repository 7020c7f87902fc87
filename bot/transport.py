"""The bot's one outbound HTTP policy, and the httpx transport over aiohttp for the Coveo client."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx


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


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx's requests, sent over aiohttp's connection pool.

    httpx stays the client (its timeouts, headers, cookies, decoding and errors); only the
    sending changes. httpcore's own pool re-scans every queued request against every
    connection whenever one is freed: with 200 commands in flight that was a third of the bot's
    CPU (measured with py-spy). aiohttp is already here for the HTTP server and Slack.
    Requests leave under the bot's one outbound policy (`Outbound`: proxies and NO_PROXY from
    the environment, never `~/.netrc`, no redirects).
    """

    def __init__(self, max_connections: int, policy: Outbound | None = None) -> None:
        self._max_connections = max_connections
        self._policy = policy or Outbound()  # the environment as it is at start-up
        self._ssl = httpx.create_ssl_context()  # httpx's defaults: certifi, SSL_CERT_FILE/DIR
        self._session: aiohttp.ClientSession | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:  # made on first use, inside the event loop
            self._session = self._policy.session(
                connector=aiohttp.TCPConnector(limit=self._max_connections, ssl=self._ssl),
                cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies
                auto_decompress=False,  # httpx decodes, so the size cap counts decoded bytes
            )
        timeout = request.extensions.get("timeout", {})
        url = str(request.url)
        try:
            response = await self._session.request(
                request.method,
                url,
                headers=request.headers.multi_items(),
                data=await request.aread() or None,
                proxy=self._policy.proxy_for(url),
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        except aiohttp.ClientError as exc:
            raise _httpx_error(exc, request) from exc
        except ValueError as exc:  # e.g. a token with a line break in it: aiohttp refuses the header
            raise httpx.LocalProtocolError(f"request refused before sending ({type(exc).__name__})") from exc
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_AiohttpBody(response, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class _AiohttpBody(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except aiohttp.ClientError as exc:
            raise _httpx_error(exc, self._request) from exc

    async def aclose(self) -> None:
        # A body read to its end gives the connection back; one abandoned midway (too large,
        # deadline) closes it, so no half-read answer is left on a pooled connection.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


def _httpx_error(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    """The httpx error for what aiohttp raised, so callers keep catching httpx's errors only."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(str(exc), request=request)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(str(exc), request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(exc), request=request)
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(str(exc), request=request)
    return httpx.ReadError(str(exc), request=request)
