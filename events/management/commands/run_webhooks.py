import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections, connection

from events.sender import Sender
from events.worker import Deliverer, webhooks_cycle

logger = logging.getLogger("events.worker")

MAX_BACKOFF = 30.0


class Command(BaseCommand):
    help = (
        "Deliver events to the webhook endpoints: sequence new events, fan them out, post "
        "them (signed, retried with backoff). Safe to run several at once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds to wait when there is nothing to do (default: QC_WEBHOOK_INTERVAL).",
        )
        parser.add_argument(
            "--once", action="store_true", help="Run one cycle (one batch), then exit."
        )

    def handle(self, *args, interval=None, once=False, **options):
        interval = settings.QC_WEBHOOK_INTERVAL if interval is None else interval
        if interval <= 0:
            raise CommandError("--interval must be a positive number of seconds.")
        sender = Sender()
        try:
            if once:
                self._log(webhooks_cycle(sender=sender))
                return
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            logger.info("webhook worker started (interval %ss)", interval)
            self._loop(stop, interval, sender)
            logger.info("webhook worker stopped")
        finally:
            sender.close()

    def _loop(self, stop: threading.Event, interval: float, sender: Sender) -> None:
        """Cycle until stopped; at once again while there is work. A failing cycle (the
        database down) is retried with backoff; what was in flight is recorded later (or,
        its lease run out, dropped and posted again)."""
        deliverer = Deliverer(sender=sender)
        backoff = 0.0
        while not stop.is_set():
            close_old_connections()
            try:
                result = deliverer.step(stop=stop)
            except Exception as exc:
                backoff = min(max(1.0, backoff * 2), MAX_BACKOFF)
                if isinstance(exc, DatabaseError):
                    logger.warning("database unavailable (%s); retrying in %.0fs", exc, backoff)
                else:
                    logger.exception("webhook cycle failed; retrying in %.0fs", backoff)
                _drop_connection()
                stop.wait(backoff)
                continue
            if backoff:
                logger.info("webhook worker resumed")
                backoff = 0.0
            self._log(result)
            if not result:
                stop.wait(interval)
        try:
            deliverer.finish()
        except DatabaseError as exc:
            logger.warning("could not record the last answers (%s); they will go out again", exc)

    def _log(self, result) -> None:
        r = result.recorded
        if r.delivered or r.retrying or r.failed or r.disabled:
            logger.info(
                "delivered %s, retrying %s, failed %s (sequenced %s, fanned out %s)",
                r.delivered,
                r.retrying,
                r.failed,
                result.sequenced,
                result.fanned_out,
            )


def _drop_connection() -> None:
    try:
        connection.close()
    except DatabaseError:
        pass
