"""What one complete costs the database: the statements of `POST /tasks/{id}/complete` as a
QC person's client sends it (a real token), counted, so that a change that adds a round trip
to the most frequent request is seen (docs/benchmarks.md, "Complete")."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from personnel.services import token_issue
from tasks.models import DefectCode, Task, TaskStatus
from tasks.sessions import person_login

# The statements as MariaDB/MySQL gets them.
pytestmark = pytest.mark.mysql


@pytest.fixture
def working(client, make_person):
    alice = make_person("Alice")
    Task.objects.bulk_create([Task(description=f"t{i}") for i in range(6)])
    person_login(person_id=alice.pk)
    key = token_issue(user=alice.user).token
    auth = {"HTTP_AUTHORIZATION": f"Token {key}", "content_type": "application/json"}
    client.post(f"/personnel/{alice.pk}/heartbeat", **auth)  # the token's first use
    return alice, auth


def _complete(client, alice, auth, body=None):
    task = Task.objects.get(in_progress_person=alice.pk)
    with CaptureQueriesContext(connection) as queries:
        r = client.post(f"/tasks/{task.pk}/complete", body or {}, **auth)
    assert r.status_code == 200, r.content
    assert r.json()["next_task"]["status"] == TaskStatus.IN_PROGRESS
    # Less the first count of a name on a counter shard in an hour (`counters.count_many`):
    # a fresh database's, not a working day's. A deferred write (`qcproject.rawsql.defer`) is
    # logged on its own, marked, and again in the round trip it went with.
    return [
        q["sql"]
        for q in queries
        if not (
            q["sql"].startswith(("INSERT INTO `qc_counters`", "ROLLBACK TO SAVEPOINT qc_counts"))
            or q["sql"].startswith("/* deferred */")
        )
    ]


def _statements(round_trips: list[str]) -> list[str]:
    """The statements of these round trips (several go in one, separated by "; ")."""
    return [
        statement
        for sent in round_trips
        for statement in re.split(r"; (?=SELECT|UPDATE|INSERT|DELETE|SAVEPOINT|\()", sent)
    ]


@pytest.mark.django_db(transaction=True)
def test_a_complete_that_carries_the_next_task(client, working):
    round_trips = _complete(client, *working)
    statements = _statements(round_trips)
    # The token; BEGIN; the person's lock, the task's; the review (the assignment closed, the
    # task written); the pick (read, lock); the hand-over (the assignment, the task); the
    # events; the counts, after a savepoint (`counters.count_many`); COMMIT. The person's
    # sign of life is written at most every few seconds
    # (`tasks.services.SIGN_OF_LIFE_EVERY`): not here.
    assert len(statements) == 14, "\n".join(statements)
    # In 7 round trips: the token; BEGIN; both locks; the review with the pick's read; the
    # pick's lock; the hand-over, the events, the savepoint and the counts; COMMIT.
    assert len(round_trips) == 7, "\n".join(round_trips)
    assert [len(_statements([sent])) for sent in round_trips] == [1, 1, 2, 3, 1, 5, 1]


@pytest.mark.django_db(transaction=True)
def test_a_verdict_with_defect_codes_costs_no_statement_more(client, working):
    DefectCode.objects.create(code="SCRATCH", description="Scratch")
    bare = _complete(client, *working)
    verdict = {"outcome": "fail", "notes": "lid", "defects": ["SCRATCH"]}
    # The first reads the catalogue; the process trusts it for a few seconds.
    assert len(_complete(client, *working, verdict)) == len(bare) + 1
    assert len(_complete(client, *working, verdict)) == len(bare)


@pytest.mark.django_db(transaction=True)
def test_a_code_deactivated_here_is_refused_at_once(client, working):
    code = DefectCode.objects.create(code="SCRATCH", description="Scratch")
    _complete(client, *working, {"defects": ["SCRATCH"]})
    code.active = False
    code.save()
    alice, auth = working
    task = Task.objects.get(in_progress_person=alice.pk)
    r = client.post(f"/tasks/{task.pk}/complete", {"defects": ["SCRATCH"]}, **auth)
    assert r.status_code == 400 and "SCRATCH" in r.json()["defects"][0]
