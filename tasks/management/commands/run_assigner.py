import logging
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections, connection

from tasks import rollups
from tasks.assigner import assigner_claim, assigner_release, assigner_report, assignment_cycle

logger = logging.getLogger("tasks.assigner")

MAX_BACKOFF = 30.0
# Closed hours whose wait percentiles one cycle computes (tasks.rollups): one as each hour
# closes; a fresh database's week of hours over a few minutes of cycles, never a long pause.
ROLLUP_HOURS_PER_CYCLE = 4
# --verbosity -> the level of the assigner's log: 0 warnings only, 1 what each cycle did,
# 2 and 3 also the idle cycles and the ids.
LOG_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}


class Command(BaseCommand):
    help = (
        "Run the assignment engine: every --interval seconds, sign out stale sessions and "
        "give every free person a pending task. Safe to run several at once, each under its "
        "own --name."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds between cycles (default: QC_ASSIGNER_INTERVAL).",
        )
        parser.add_argument("--once", action="store_true", help="Run one cycle, then exit.")
        parser.add_argument(
            "--name",
            default="",
            help=(
                "The name this assigner reports under (/metrics label `assigner`, the "
                "dashboard): stable across restarts and unique among the assigners on one "
                "database, e.g. the systemd instance name. Default: the host name (with -2, "
                "-3… for further assigners on the same host)."
            ),
        )

    def handle(self, *args, interval=None, once=False, name="", verbosity=1, **options):
        interval = settings.QC_ASSIGNER_INTERVAL if interval is None else interval
        if interval <= 0:
            raise CommandError("--interval must be a positive number of seconds.")
        name = name.strip()
        if len(name) > 255:
            raise CommandError("--name is longer than 255 characters.")
        logger.setLevel(LOG_LEVELS.get(verbosity, logging.INFO))
        if once:
            result = assignment_cycle()
            self._log(result)
            if verbosity:
                self.stdout.write(_summary(result, verbose=verbosity > 1))
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        logger.info("assigner starting (interval %ss)", interval)
        name = self._loop(stop, interval, name=name)
        if name:
            try:
                assigner_release(name=name)
            except DatabaseError as exc:
                logger.warning("could not unregister assigner %s (%s)", name, exc)
        logger.info("assigner stopped")

    def _loop(self, stop: threading.Event, interval: float, *, name: str) -> str:
        """Cycle until stopped; return the name it reported under ("" if it never could).
        A failing cycle (database down) is retried with backoff."""
        backoff = 0.0
        registered = ""
        while not stop.is_set():
            close_old_connections()
            try:
                if not registered:
                    claim = assigner_claim(name=name)
                    registered = claim.name
                    logger.info(
                        "assigner %s registered%s",
                        registered,
                        f" (taken over from {claim.took_over})" if claim.took_over else "",
                    )
                started = time.monotonic()
                result = assignment_cycle(stop=stop)
                assigner_report(
                    name=registered,
                    seconds=time.monotonic() - started,
                    assigned=result.assigned,
                    released=len(result.released),
                )
                rollups.wait_hours_rollup(limit=ROLLUP_HOURS_PER_CYCLE, stop=stop)
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
        return registered

    def _log(self, result) -> None:
        if result:
            logger.info(
                "assigned %s, released %s (signed out %s stale sessions)",
                result.assigned,
                len(result.released),
                len(result.signed_out),
            )
            logger.debug(
                "signed out people %s, released tasks %s", result.signed_out, result.released
            )
        else:
            logger.debug("idle cycle: nothing to sign out or assign")


def _summary(result, *, verbose: bool) -> str:
    """What one cycle did, for a person at a terminal."""
    if not result:
        return "Nothing to do: no stale session, and no pending task for a free person."
    text = (
        f"Assigned {result.assigned} task{'s' if result.assigned != 1 else ''}; signed out "
        f"{len(result.signed_out)} stale session{'s' if len(result.signed_out) != 1 else ''}, "
        f"their {len(result.released)} task{'s' if len(result.released) != 1 else ''} back "
        "in the queue."
    )
    if verbose and result.signed_out:
        text += f"\nSigned out people: {', '.join(map(str, result.signed_out))}"
    if verbose and result.released:
        text += f"\nReleased tasks: {', '.join(map(str, result.released))}"
    return text


def _drop_connection() -> None:
    """Forget a broken connection so the next cycle opens a fresh one."""
    try:
        connection.close()
    except DatabaseError:
        pass
