"""The delivery worker's HTTP side: posts a claim's requests concurrently over a pool of
kept-alive connections (aiohttp), outside any database transaction.

Each request: signed (Standard Webhooks), at most QC_WEBHOOK_TIMEOUT seconds, redirects not
followed (a 3xx is a failed attempt), at most MAX_READ bytes of the answer read, the target
checked against the safe-URL rule again. Up to QC_WEBHOOK_CONCURRENCY requests per endpoint
are in flight at once. A request that could not finish within the claim's lease is not
started (another worker may own the delivery by then); when the worker is told to stop,
requests in flight are abandoned and their deliveries handed back.
"""

import asyncio
import concurrent.futures
import threading
import time
from datetime import UTC, datetime

import aiohttp
import uvloop
from django.conf import settings
from yarl import URL

from . import signing
from .services import Answer, Outgoing

# The most of an answer read (the rest is not read; the connection is dropped).
MAX_READ = 16 * 1024
# Margin kept between a request's end and the end of the lease.
LEASE_MARGIN = 5.0


class Sender:
    """One per worker process: an event loop in a thread of its own runs the requests;
    `submit()` hands it a batch from the worker's thread and returns at once (the worker
    goes on with its database work meanwhile), `send()` waits for the answers."""

    def __init__(self, *, concurrency: int | None = None, timeout: float | None = None):
        self.concurrency = concurrency or settings.QC_WEBHOOK_CONCURRENCY
        self.timeout = timeout or settings.QC_WEBHOOK_TIMEOUT
        self.loop = uvloop.new_event_loop()
        self.session: aiohttp.ClientSession | None = None
        self.urls: dict[str, URL] = {}
        self.thread = threading.Thread(target=self.loop.run_forever, name="webhooks", daemon=True)
        self.thread.start()

    def close(self) -> None:
        if self.session is not None:
            asyncio.run_coroutine_threadsafe(self.session.close(), self.loop).result(10)
            self.session = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def submit(
        self, outgoing: list[Outgoing], *, deadline: float, stop: threading.Event | None = None
    ) -> concurrent.futures.Future:
        """Start these requests; `deadline` (time.monotonic()) is the end of their lease.
        The future's result is an answer for each, in order."""
        return asyncio.run_coroutine_threadsafe(self._send_all(outgoing, deadline, stop), self.loop)

    def send(
        self, outgoing: list[Outgoing], *, deadline: float, stop: threading.Event | None = None
    ) -> list[Answer]:
        """Make these requests and wait for their answers (see `submit`)."""
        if not outgoing:
            return []
        return self.submit(outgoing, deadline=deadline, stop=stop).result()

    async def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=self.timeout, connect=min(5.0, self.timeout)),
                # Only what the endpoint's URL says: no proxies from the environment, and
                # the cookies a receiver sets are not kept.
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
            )
        return self.session

    async def _send_all(self, outgoing, deadline, stop) -> list[Answer]:
        session = await self._session()
        slots: dict[int, asyncio.Semaphore] = {}
        signers: dict[str, object] = {}
        tasks = []
        for o in outgoing:
            slot = slots.setdefault(o.endpoint_id, asyncio.Semaphore(self.concurrency))
            if o.secret not in signers:
                signers[o.secret] = signing.signer(o.secret)
            if o.url not in self.urls:
                self.urls[o.url] = URL(o.url, encoded=False)
            tasks.append(
                asyncio.ensure_future(self._one(session, slot, signers[o.secret], o, deadline))
            )
        pending = set(tasks)
        while pending:
            _, pending = await asyncio.wait(pending, timeout=0.1)
            if pending and stop is not None and stop.is_set():
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                break
        answers = []
        for o, task in zip(outgoing, tasks, strict=True):
            if task.cancelled():
                answers.append(Answer(o.delivery_id, o.endpoint_id, sent=False))
            else:
                answers.append(task.result())
        return answers

    async def _one(self, session, slot, signer, o: Outgoing, deadline: float) -> Answer:
        async with slot:
            if time.monotonic() + self.timeout + LEASE_MARGIN > deadline:
                return Answer(o.delivery_id, o.endpoint_id, sent=False)
            problem = signing.url_problem(o.url)
            if problem:
                return Answer(o.delivery_id, o.endpoint_id, error=problem)
            headers = signing.headers(
                signer, msg_id=o.msg_id, timestamp=datetime.now(UTC), body=o.body
            )
            try:
                async with session.post(
                    self.urls[o.url], data=o.body.encode(), headers=headers, allow_redirects=False
                ) as response:
                    body = await response.content.read(MAX_READ)
                    return Answer(
                        o.delivery_id,
                        o.endpoint_id,
                        status=response.status,
                        body=body.decode("utf-8", "replace"),
                    )
            except TimeoutError:
                return Answer(o.delivery_id, o.endpoint_id, error="timed out")
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                return Answer(
                    o.delivery_id, o.endpoint_id, error=f"{type(exc).__name__}: {exc}"[:255]
                )
