"""Database helpers shared by the services: bounded retry of whole transactions."""

import functools
import logging
import random
import time

from django.db import OperationalError, connection

logger = logging.getLogger(__name__)

# 1205 lock wait timeout, 1213 deadlock: InnoDB rolled the statement or the whole
# transaction back; running the whole transaction again is the fix (docs/engine.md,
# "MySQL and MariaDB traps", 6).
RETRYABLE_MYSQL_ERRORS = frozenset({1205, 1213})
MAX_ATTEMPTS = 5


LOCK_WAIT_TIMEOUT = 1205
# A deadlock is found at once and costs little to retry; a lock wait timeout has already
# waited QC_DB_LOCK_WAIT_TIMEOUT seconds, so it is retried once only: a request stuck behind
# a frozen transaction must give its web worker back well within gunicorn's timeout.
MAX_LOCK_WAIT_RETRIES = 1


def _error_code(exc: OperationalError):
    return exc.args[0] if exc.args else None


def is_retryable(exc: OperationalError) -> bool:
    if _error_code(exc) in RETRYABLE_MYSQL_ERRORS:
        return True
    # SQLite, past its busy timeout.
    return "database is locked" in str(exc)


def retry_transaction(func):
    """Run `func` (which opens its own `atomic()`) again on deadlock or lock wait timeout.

    Up to MAX_ATTEMPTS (lock wait timeouts: MAX_LOCK_WAIT_RETRIES + 1) with jittered
    exponential backoff. Inside an outer transaction it does not retry: the failed
    transaction is the outer one, and only its owner can rerun it.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if connection.in_atomic_block:
            return func(*args, **kwargs)
        lock_waits = 0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if attempt == MAX_ATTEMPTS or not is_retryable(exc):
                    raise
                if _error_code(exc) == LOCK_WAIT_TIMEOUT:
                    lock_waits += 1
                    if lock_waits > MAX_LOCK_WAIT_RETRIES:
                        raise
                delay = random.uniform(0, 0.02 * 2**attempt)
                logger.info(
                    "%s: %s, retrying (attempt %s) in %.3fs", func.__name__, exc, attempt, delay
                )
                time.sleep(delay)

    return wrapper


def db_now():
    """The database's clock, as an aware UTC datetime (one clock for every deadline)."""
    from datetime import UTC, datetime

    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute("SELECT UTC_TIMESTAMP(6)")
        else:
            cursor.execute("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
        (value,) = cursor.fetchone()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)
