"""A minimal asyncio HTTP/1.1 client: hundreds of concurrent requests from one thread.

The deployed gunicorn runs sync workers, which close the connection after every response,
so each request opens its own connection and reads until the server closes it. Costs the
client little CPU, which matters on a 2-core machine shared with the server: a protocol
instead of streams, on uvloop's event loop (`run`).
"""

import asyncio
import json
import time

import uvloop


class Response:
    def __init__(self, status: int, body: bytes, started: float, finished: float):
        self.status = status
        self.body = body
        self.started = started
        self.finished = finished

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    def json(self):
        return json.loads(self.body) if self.body else None


class _Exchange(asyncio.Protocol):
    """One request on its own connection: send it, collect the answer until the server
    closes. A bare protocol rather than asyncio's streams: far less of the client's CPU per
    request, which the server would otherwise lose."""

    def __init__(self, payload: bytes, done: asyncio.Future):
        self.payload = payload
        self.done = done
        self.chunks: list[bytes] = []

    def connection_made(self, transport):
        transport.write(self.payload)

    def data_received(self, data):
        self.chunks.append(data)

    def connection_lost(self, exc):
        if not self.done.done():
            if exc is None:
                self.done.set_result(b"".join(self.chunks))
            else:
                self.done.set_exception(exc)


async def request(
    port: int,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body=None,
    host: str = "127.0.0.1",
    timeout: float = 30.0,
) -> Response:
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Connection: close",
        "Accept: application/json",
        f"Content-Length: {len(payload)}",
    ]
    if body is not None:
        lines.append("Content-Type: application/json")
    if token:
        lines.append(f"Authorization: Token {token}")
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    started = time.monotonic()
    message = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
    transport, _ = await asyncio.wait_for(
        loop.create_connection(lambda: _Exchange(message, done), host, port), timeout
    )
    try:
        raw = await asyncio.wait_for(done, timeout)
    finally:
        transport.close()
    finished = time.monotonic()
    head, _, content = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    if b"transfer-encoding: chunked" in head.lower():
        content = _unchunk(content)
    return Response(status, content, started, finished)


def run(coroutine):
    """asyncio.run on uvloop's event loop: it spends much less CPU per connection than
    asyncio's own, and the client shares the machine's cores with the server."""
    return uvloop.run(coroutine)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)
