"""httpx over aiohttp: the transport of the Coveo client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx

from bot.outbound import Outbound


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
