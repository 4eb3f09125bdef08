"""The database does what the engine relies on: UTC clock, READ COMMITTED, index access."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models.functions import Now
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from personnel.models import Person
from personnel.selectors import person_list_with_tasks
from qcproject.settings import _database
from tasks.assigner import assignment_cycle
from tasks.models import Assignment, Task, TaskStatus
from tasks.selectors import dashboard_get

pytestmark = pytest.mark.django_db


def test_suite_runs_on_mysql():
    # SQLite ignores FOR UPDATE; a green run there would prove nothing about concurrency.
    assert connection.vendor == "mysql"


def test_session_time_zone_is_utc_and_isolation_read_committed():
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@session.time_zone, @@session.tx_isolation")
        tz, isolation = cursor.fetchone()
    assert tz == "+00:00"
    assert isolation == "READ-COMMITTED"


def test_web_requests_wait_briefly_for_row_locks(settings):
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@session.innodb_lock_wait_timeout")
        (seconds,) = cursor.fetchone()
    assert seconds <= 10


def test_sqlite_quick_start_is_configured_for_concurrent_writers():
    db = _database("sqlite:////tmp/x.sqlite3")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert "busy_timeout" in db["OPTIONS"]["init_command"]
    assert db["CONN_HEALTH_CHECKS"] is True


def _explain(sql: str) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        columns = [c[0].lower() for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture
def history(transactional_db):
    """A table with a long history (5,000 completed tasks and their reviews) and a few live
    rows.

    Transactional: ANALYZE TABLE commits implicitly, so the data must be flushed afterwards.
    """
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"h{i}") for i in range(50)])
    people = Person.objects.bulk_create([Person(user=u, name=u.username) for u in users])
    Task.objects.bulk_create(
        [
            Task(
                description="done",
                status=TaskStatus.COMPLETED,
                reviews_done=1,
                assigned_to=people[i % 50],
            )
            for i in range(5000)
        ]
    )
    # Their reviews, weeks old (every dashboard window leaves them out): one for each task,
    # a second, disagreeing one for every tenth.
    long_ago = timezone.now() - timedelta(days=30)
    done = list(Task.objects.values_list("id", "assigned_to_id"))
    Assignment.objects.bulk_create(
        [
            Assignment(
                task_id=task_id,
                person_id=person_id if n == 0 else people[(i + 1) % 50].pk,
                source="ASSIGNER",
                assigned_at=long_ago,
                completed_at=long_ago,
                ended_at=long_ago,
                end_reason="COMPLETED",
                outcome="pass" if n == 0 else "fail",
            )
            for i, (task_id, person_id) in enumerate(done)
            for n in range(1 if i % 10 else 2)
        ],
        batch_size=1000,
    )
    Person.objects.filter(pk__in=[p.pk for p in people[:5]]).update(
        is_logged_in=True, last_heartbeat=Now(), idle_since=Now()
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE qc_tasks, qc_personnel, qc_assignments")
        cursor.fetchall()
    return people


def _selects(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]


def _assert_index_access(sql: str, *, allow_filesort: bool = False):
    for row in _explain(sql):
        assert row["type"] != "ALL", f"full scan: {row}\n{sql}"
        if not allow_filesort:
            assert "filesort" not in (row["extra"] or ""), f"filesort: {row}\n{sql}"


def test_idle_cycle_touches_no_history(history):
    with CaptureQueriesContext(connection) as queries:
        assignment_cycle()  # five free people, nothing pending
    for sql in _selects(queries):
        _assert_index_access(sql)


def test_assigning_cycle_reads_queue_through_its_index(history):
    Task.objects.bulk_create([Task(description=f"p{i}") for i in range(3)])
    with CaptureQueriesContext(connection) as queries:
        result = assignment_cycle()
    assert result.assigned == 3
    selects = _selects(queries)
    assert any("qc_tasks" in sql for sql in selects)
    for sql in selects:
        _assert_index_access(sql)


def test_queue_page_and_status_use_indexes(history):
    Task.objects.bulk_create([Task(description=f"p{i}") for i in range(3)])
    with CaptureQueriesContext(connection) as queries:
        list(Task.objects.open()[:50])
        Task.objects.open().count()
        person_list_with_tasks(Person.objects.logged_in())
    for sql in _selects(queries):
        # Two statuses merge in a small sort of the open tasks only, never of the history.
        _assert_index_access(sql, allow_filesort=True)


def test_dashboard_reads_through_indexes(history):
    Task.objects.bulk_create([Task(description=f"p{i}") for i in range(3)])
    assignment_cycle()
    with CaptureQueriesContext(connection) as queries:
        for window in ("hour", "today", "week"):
            dashboard_get(window=window)
    for sql in _selects(queries):
        # qc_assigners holds one row per assigner process: a scan of it costs nothing.
        if "qc_" in sql and "qc_assigners" not in sql:
            _assert_index_access(sql, allow_filesort=True)
