"""Writes sent with the next statement (`qcproject.rawsql.defer`, the MySQL backend
`qcproject.mysql`): the same statements in the same order, in fewer round trips, and
nothing else about the transaction changes (docs/engine.md, "Hand-written statements")."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from qcproject import rawsql
from tasks.models import Task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.mysql]

INSERT = "INSERT INTO qc_tasks (description, status, created_at) VALUES (%s, 'PENDING', NOW(6))"


def _descriptions():
    return sorted(Task.objects.values_list("description", flat=True))


def _round_trips(queries) -> int:
    return sum(1 for q in queries if not q["sql"].startswith("/* deferred */"))


def test_deferred_writes_go_with_the_next_statement_which_sees_them():
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        db = rawsql.db()
        rawsql.defer(db, INSERT, ["a"])
        rawsql.defer(db, INSERT, ["b"])
        # The ORM's own statement carries them, and reads what they wrote.
        assert _descriptions() == ["a", "b"]
    # BEGIN, the read with both writes, COMMIT.
    assert _round_trips(queries) == 3
    assert _descriptions() == ["a", "b"]


def test_what_is_left_goes_before_the_commit():
    with transaction.atomic():
        rawsql.defer(rawsql.db(), INSERT, ["last"])
    assert _descriptions() == ["last"]


def test_a_rollback_forgets_them_and_the_next_transaction_does_not_send_them():
    with pytest.raises(RuntimeError), transaction.atomic():
        rawsql.defer(rawsql.db(), INSERT, ["never"])
        raise RuntimeError("the service refused")
    with transaction.atomic():
        rawsql.defer(rawsql.db(), INSERT, ["kept"])
    assert _descriptions() == ["kept"]


def test_a_savepoint_rolled_back_takes_its_deferred_writes_with_it():
    with transaction.atomic():
        rawsql.defer(rawsql.db(), INSERT, ["outer"])
        with pytest.raises(RuntimeError), transaction.atomic():
            rawsql.defer(rawsql.db(), INSERT, ["inner"])
            raise RuntimeError
    assert _descriptions() == ["outer"]


def test_a_failing_deferred_write_fails_the_statement_it_went_with_and_nothing_is_written():
    Task.objects.create(description="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        db = rawsql.db()
        rawsql.defer(db, INSERT, ["written first"])
        # The second fails (NULL in a NOT NULL column) when the read below is sent.
        rawsql.defer(db, "INSERT INTO qc_tasks (description) VALUES (NULL)", [])
        Task.objects.count()
    assert _descriptions() == ["x"]


def test_a_write_that_changes_other_than_expected_fails_the_transaction():
    task = Task.objects.create(description="x")
    update = "UPDATE qc_tasks SET description = %s WHERE id = %s"
    with pytest.raises(AssertionError), transaction.atomic():
        db = rawsql.db()
        rawsql.defer(db, update, ["changed", task.pk], expect=1)
        rawsql.defer(db, update, ["nothing", -1], expect=1)
        Task.objects.count()
    assert _descriptions() == ["x"]


def test_outside_a_transaction_a_deferred_write_runs_at_once():
    rawsql.defer(rawsql.db(), INSERT, ["now"])
    assert "_qc_deferred" not in rawsql.db().__dict__
    assert _descriptions() == ["now"]


def test_reads_sent_together_answer_each_in_order():
    Task.objects.create(description="x")
    with CaptureQueriesContext(connection) as queries:
        answers = rawsql.fetchall_each(
            rawsql.db(),
            [("SELECT 1", []), ("SELECT description FROM qc_tasks", []), ("SELECT %s", [3])],
        )
    assert answers == [((1,),), (("x",),), ((3,),)]
    assert len(queries) == 1
