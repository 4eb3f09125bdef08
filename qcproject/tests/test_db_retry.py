import pytest
from django.db import OperationalError

from qcproject import db


def failing(codes):
    """A function that raises these MySQL errors in turn, then returns 'done'."""
    calls = []

    @db.retry_transaction
    def work():
        calls.append(1)
        if len(calls) <= len(codes):
            raise OperationalError(codes[len(calls) - 1], "simulated")
        return "done"

    return work, calls


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(db.time, "sleep", lambda s: None)


def test_deadlocks_are_retried_up_to_the_bound():
    work, calls = failing([1213] * (db.MAX_ATTEMPTS - 1))
    assert work() == "done" and len(calls) == db.MAX_ATTEMPTS
    work, calls = failing([1213] * db.MAX_ATTEMPTS)
    with pytest.raises(OperationalError):
        work()
    assert len(calls) == db.MAX_ATTEMPTS


def test_lock_wait_timeouts_are_retried_once():
    work, calls = failing([1205])
    assert work() == "done" and len(calls) == 2
    work, calls = failing([1205, 1213, 1205])
    with pytest.raises(OperationalError):
        work()
    assert len(calls) == 3


def test_other_errors_are_not_retried():
    work, calls = failing([2006])
    with pytest.raises(OperationalError):
        work()
    assert len(calls) == 1
