import logging
import os
import signal
import socket
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections, connection

from tasks.assigner import assigner_register, assigner_report, assignment_cycle

logger = logging.getLogger("tasks.assigner")

MAX_BACKOFF = 30.0


class Command(BaseCommand):
    help = (
        "Run the assignment engine: every --interval seconds, sign out stale sessions and "
        "give every free person a pending task. Safe to run several at once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds between cycles (default: QC_ASSIGNER_INTERVAL).",
        )
        parser.add_argument("--once", action="store_true", help="Run one cycle, then exit.")

    def handle(self, *args, interval=None, once=False, **options):
        interval = settings.QC_ASSIGNER_INTERVAL if interval is None else interval
        if interval <= 0:
            raise CommandError("--interval must be a positive number of seconds.")
        if once:
            self._log(assignment_cycle())
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        name = f"{socket.gethostname()}:{os.getpid()}"
        logger.info("assigner %s started (interval %ss)", name, interval)
        self._loop(stop, interval, name=name)
        logger.info("assigner stopped")

    def _loop(self, stop: threading.Event, interval: float, *, name: str) -> None:
        """Cycle until stopped. A failing cycle (database down) is retried with backoff."""
        backoff = 0.0
        registered = False
        while not stop.is_set():
            close_old_connections()
            try:
                if not registered:
                    assigner_register(name=name)
                    registered = True
                started = time.monotonic()
                result = assignment_cycle(stop=stop)
                assigner_report(name=name, seconds=time.monotonic() - started, result=result)
            except DatabaseError as exc:
                backoff = min(max(1.0, backoff * 2), MAX_BACKOFF)
                logger.warning("database unavailable (%s); retrying in %.0fs", exc, backoff)
                _drop_connection()
                stop.wait(backoff)
                continue
            except Exception:
                backoff = min(max(1.0, backoff * 2), MAX_BACKOFF)
                logger.exception("assigner cycle failed; retrying in %.0fs", backoff)
                _drop_connection()
                stop.wait(backoff)
                continue
            if backoff:
                logger.info("database reachable again; assigner resumed")
                backoff = 0.0
            self._log(result)
            stop.wait(interval)

    def _log(self, result) -> None:
        if result:
            logger.info(
                "assigned %s, released %s (signed out %s stale sessions)",
                result.assigned,
                len(result.released),
                len(result.signed_out),
            )


def _drop_connection() -> None:
    """Forget a broken connection so the next cycle opens a fresh one."""
    try:
        connection.close()
    except DatabaseError:
        pass
