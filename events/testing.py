"""A webhook receiver for the tests, the benchmark and the reliability suite: a real HTTP
server on 127.0.0.1 (aiohttp) that verifies each request's Standard Webhooks signature with
the `standardwebhooks` library, as a receiver in production would, records what it
accepted, and answers as it is told (fail for a while, wait, redirect, send a large body).

In a thread of the test process: `Receiver(secret).start()`. As a process of its own:
`python -m events.testing --port 8199 --secret whsec_...`; then `GET /_received` returns
what it accepted, `POST /_control` with {"fail_for": seconds, "status": 503} makes it fail.
"""

import argparse
import asyncio
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    payload: dict
    headers: dict
    at: float  # time.monotonic()
    wall: float = 0.0  # time.time(), to compare with an event's timestamp


@dataclass
class Receiver:
    secret: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    # Answer with this status (2xx: accepted and recorded); `answer` decides per request
    # when set: (payload, attempt number of this webhook-id) -> (status, body, headers).
    status: int = 204
    answer: object = None
    delay: float = 0.0
    received: list = field(default_factory=list)
    refused: int = 0  # requests answered with a non-2xx (failures the receiver made)
    bad_signatures: int = 0
    requests: int = 0
    fail_until: float = 0.0
    fail_status: int = 503

    def __post_init__(self):
        self.lock = threading.Lock()
        self.attempts: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    # --- the server -----------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/_control", self._control)
        app.router.add_get("/_received", self._list)
        app.router.add_route("*", "/{tail:.*}", self._hook)
        return app

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.text()
        with self.lock:
            self.requests += 1
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except (WebhookVerificationError, ValueError):
            with self.lock:
                self.bad_signatures += 1
            return web.Response(status=401, text="bad signature")
        webhook_id = request.headers["webhook-id"]
        with self.lock:
            n = self.attempts[webhook_id] = self.attempts.get(webhook_id, 0) + 1
        if self.delay:
            await asyncio.sleep(self.delay)
        headers: dict = {}
        text = ""
        if time.monotonic() < self.fail_until:
            status = self.fail_status
        elif self.answer is not None:
            status, text, headers = self.answer(payload, n)
        else:
            status = self.status
        if 200 <= status < 300:
            with self.lock:
                self.received.append(
                    Received(
                        webhook_id,
                        payload,
                        dict(request.headers),
                        time.monotonic(),
                        time.time(),
                    )
                )
        else:
            with self.lock:
                self.refused += 1
        return web.Response(status=status, text=text, headers=headers)

    async def _control(self, request: web.Request) -> web.Response:
        order = await request.json()
        self.fail_status = int(order.get("status", 503))
        self.fail_until = time.monotonic() + float(order.get("fail_for", 0))
        return web.json_response({"ok": True})

    async def _list(self, request: web.Request) -> web.Response:
        with self.lock:
            rows = [
                {"webhook_id": r.webhook_id, "payload": r.payload, "at": r.at, "wall": r.wall}
                for r in self.received
            ]
            figures = {
                "requests": self.requests,
                "refused": self.refused,
                "bad_signatures": self.bad_signatures,
            }
        return web.json_response({"received": rows, **figures})

    # --- in a thread ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def start(self) -> "Receiver":
        ready = threading.Event()

        def serve():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._runner = web.AppRunner(self.app(), access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, self.port)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # the port chosen
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="webhook-receiver", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the receiver did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        """Wait until `n` requests were accepted; return them (all, in arrival order)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.02)
        with self.lock:
            return list(self.received)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m events.testing", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--secret", required=True)
    args = parser.parse_args(argv)
    receiver = Receiver(secret=args.secret, host=args.host, port=args.port)
    web.run_app(receiver.app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
