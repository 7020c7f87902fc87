"""A forward proxy on loopback that records every request it carries.

It speaks what an HTTP client sends to a proxy named in HTTP_PROXY / HTTPS_PROXY (RFC 9110
§9.3.6 and RFC 9112 §3.2.2): a request whose target is an absolute URL (`POST http://host/path
HTTP/1.1`), relayed to that host, or `CONNECT host:port` for https, answered 200 and then piped
both ways. Each request is recorded (method, target, and whether it carried Authorization), and
each connection is closed after one exchange (`Connection: close`), so no request escapes the
record on a kept-alive connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Relayed:
    method: str
    target: str  # the absolute URL, or host:port for CONNECT
    authorization: str | None  # the Authorization header as it reached the proxy (None for CONNECT)


class FakeProxy:
    def __init__(self) -> None:
        self.requests: list[Relayed] = []
        self._lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake proxy did not start")
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def seen(self) -> list[Relayed]:
        with self._lock:
            return list(self.requests)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]

        self.loop.run_until_complete(start())
        self._ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, version = request_line.split(" ", 2)
            headers = [line.split(":", 1) for line in header_lines if ":" in line]
            named = {name.strip().lower(): value.strip() for name, value in headers}
            if method == "CONNECT":
                with self._lock:
                    self.requests.append(Relayed(method, target, None))
                await self._tunnel(target, reader, writer)
                return
            with self._lock:
                self.requests.append(Relayed(method, target, named.get("authorization")))
            body = await reader.readexactly(int(named.get("content-length", "0") or 0))
            await self._forward(method, target, version, headers, body, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _forward(
        self,
        method: str,
        target: str,
        version: str,
        headers: list[list[str]],
        body: bytes,
        writer: asyncio.StreamWriter,
    ) -> None:
        url = urlsplit(target)
        path = url.path + (f"?{url.query}" if url.query else "")
        kept = [
            f"{name.strip()}: {value.strip()}"
            for name, value in headers
            if name.strip().lower()
            not in ("connection", "proxy-connection", "keep-alive", "proxy-authorization")
        ]
        lines = [f"{method} {path or '/'} {version}", *kept, "Connection: close", "", ""]
        up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
        try:
            up_writer.write("\r\n".join(lines).encode("latin-1") + body)
            await up_writer.drain()
            status_and_headers = await up_reader.readuntil(b"\r\n\r\n")
            first, *rest = status_and_headers.decode("latin-1").split("\r\n")
            rest = [
                line for line in rest if line and not line.lower().startswith(("connection:", "keep-alive:"))
            ]
            writer.write("\r\n".join([first, *rest, "Connection: close", "", ""]).encode("latin-1"))
            while chunk := await up_reader.read(65536):
                writer.write(chunk)
            await writer.drain()
        finally:
            up_writer.close()

    async def _tunnel(self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
