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
import threading
import time
from datetime import UTC, datetime

import aiohttp
from django.conf import settings

from . import signing
from .services import Answer, Outgoing

# The most of an answer read (the rest is not read; the connection is dropped).
MAX_READ = 16 * 1024
# Margin kept between a request's end and the end of the lease.
LEASE_MARGIN = 5.0


class Sender:
    """One per worker process; `send()` is called from the worker's thread, and runs the
    requests on an event loop of its own."""

    def __init__(self, *, concurrency: int | None = None, timeout: float | None = None):
        self.concurrency = concurrency or settings.QC_WEBHOOK_CONCURRENCY
        self.timeout = timeout or settings.QC_WEBHOOK_TIMEOUT
        self.loop = asyncio.new_event_loop()
        self.session: aiohttp.ClientSession | None = None

    def close(self) -> None:
        if self.session is not None:
            self.loop.run_until_complete(self.session.close())
            self.session = None
        self.loop.close()

    def send(
        self, outgoing: list[Outgoing], *, deadline: float, stop: threading.Event | None = None
    ) -> list[Answer]:
        """Make these requests; `deadline` (time.monotonic()) is the end of their lease.
        Returns an answer for each, in order."""
        if not outgoing:
            return []
        return self.loop.run_until_complete(self._send_all(outgoing, deadline, stop))

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
                    o.url, data=o.body.encode(), headers=headers, allow_redirects=False
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
