"""Outcomes (docs/engine.md, "Outcomes"): a complete is a review with a verdict, notes and
defect codes; a task needs `reviews_required` reviews by different people; disagreeing
reviews make it DISPUTED until a supervisor resolves it; audit sampling; no automatic path
gives a task back to someone who reviewed it."""

import io
import math
import random
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Now

from events.models import Event, EventType
from personnel.models import Person
from personnel.selectors import person_get
from qcproject.db import db_now
from qcproject.exceptions import Conflict, DomainError, NotFound
from tasks import counters, interventions, reviews
from tasks.assigner import (
    assignment_assign,
    assignment_assign_batch,
    assignment_expire,
    assignment_sweep_stale,
)
from tasks.importing import parse_import_file
from tasks.models import (
    MAX_REVIEWS,
    NOTES_MAX_LENGTH,
    Assignment,
    AuditAction,
    AuditEvent,
    DefectCode,
    EndReason,
    Exclusion,
    ExclusionReason,
    Task,
    TaskStatus,
)
from tasks.services import (
    NewTask,
    task_complete,
    task_create,
    task_decline,
    task_import,
    task_import_validate,
    task_update,
)
from tasks.sessions import person_heartbeat, person_login, person_logout
from tasks.testing import age_heartbeat
from tasks.tests.invariants import assert_counters_match, assert_invariants, count_rows

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_sampling(settings):
    """No audit sampling unless a test asks for it; the rows and counters agree afterwards."""
    settings.QC_REVIEW_SAMPLE_RATE = 0.0
    settings.QC_REQUIRE_OUTCOME = False
    yield
    assert_invariants()
    assert_counters_match()


@pytest.fixture
def catalogue(db):
    DefectCode.objects.create(code="SCRATCH", description="Scratch")
    DefectCode.objects.create(code="DENT", description="Dent")
    DefectCode.objects.create(code="OLD", description="Retired", active=False)


def new_task(description="inspect", *, reviews_required=1, age=0) -> Task:
    """A pending task created `age` seconds ago, offered to nobody (on-commit never runs)."""
    (task,) = task_create(tasks=[NewTask(description, reviews_required=reviews_required)])
    Task.objects.filter(pk=task.pk).update(created_at=Now() - timedelta(seconds=age))
    return Task.objects.get(pk=task.pk)


def holds(person, task) -> None:
    """Sign the person in (or keep them signed in) and check they hold `task`."""
    answer = person_login(person_id=person.pk)
    assert answer.current_task is not None and answer.current_task.pk == task.pk, (
        f"{person.name} holds {answer.current_task}, not task {task.pk}"
    )


def review(person, task, **verdict):
    """The person signs in, gets `task` and completes it with this verdict."""
    holds(person, task)
    result = task_complete(task_id=task.pk, person_id=person.pk, **verdict)
    assert result.changed
    return result


def fresh(task) -> Task:
    return Task.objects.get(pk=task.pk)


def reviews_of(task) -> list[tuple]:
    return list(
        Assignment.objects.filter(task=task, end_reason=EndReason.COMPLETED)
        .order_by("id")
        .values_list("person_id", "outcome", "notes", "defects")
    )


def events_of(task) -> list[tuple]:
    return list(
        Event.objects.filter(task_id=task.pk)
        .exclude(type=EventType.TASK_CREATED)
        .exclude(type=EventType.TASK_ASSIGNED)
        .order_by("id")
        .values_list("type", "data")
    )


def current(person):
    return person_get(person_id=person.pk).current_task


# --- the verdict of one review ---


def test_the_verdict_notes_and_defects_are_stored_on_the_assignment(alice, catalogue):
    task = new_task()
    result = review(
        alice, task, outcome="fail", notes="  chipped corner  ", defects=["scratch", " Dent "]
    )

    assert reviews_of(task) == [(alice.pk, "fail", "chipped corner", ["SCRATCH", "DENT"])]
    assert result.task.status == TaskStatus.COMPLETED and result.task.outcome == "fail"
    task = fresh(task)
    assert (task.status, task.outcome, task.reviews_done) == (TaskStatus.COMPLETED, "fail", 1)
    assert events_of(task) == [(EventType.TASK_COMPLETED, {"outcome": "fail"})]


def test_a_bare_complete_is_still_a_review_without_a_verdict(alice):
    task = new_task()
    review(alice, task)

    assert reviews_of(task) == [(alice.pk, "", "", None)]
    task = fresh(task)
    assert (task.status, task.outcome, task.reviews_done) == (TaskStatus.COMPLETED, "", 1)
    assert counters.totals().get(counters.outcomes("")) == 1
    assert events_of(task) == [(EventType.TASK_COMPLETED, None)]


def test_a_review_without_defect_codes_stores_sql_null(make_person, catalogue):
    bare, logged = new_task("bare", age=10), new_task("logged")
    person = make_person()
    review(person, bare)
    task_complete(task_id=logged.pk, person_id=person.pk, defects=["DENT"])

    assert list(
        Assignment.objects.filter(defects__isnull=True).values_list("task_id", flat=True)
    ) == [bare.pk]
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM qc_assignments WHERE defects IS NULL")
        assert cursor.fetchone()[0] == 1


def test_with_qc_require_outcome_a_bare_complete_is_refused_and_writes_nothing(alice, settings):
    settings.QC_REQUIRE_OUTCOME = True
    task = new_task()
    holds(alice, task)
    before = count_rows()

    for verdict in ({}, {"outcome": ""}, {"outcome": None, "notes": "fine"}):
        with pytest.raises(ValidationError) as excinfo:
            task_complete(task_id=task.pk, person_id=alice.pk, **verdict)
        assert "outcome" in excinfo.value.message_dict

    assert count_rows() == before
    assert task_complete(task_id=task.pk, person_id=alice.pk, outcome="pass").changed
    assert fresh(task).outcome == "pass"


@pytest.mark.parametrize(
    ("verdict", "field"),
    [
        ({"outcome": "maybe"}, "outcome"),
        ({"outcome": "PASS"}, "outcome"),
        ({"defects": ["NOPE"]}, "defects"),
        ({"defects": ["SCRATCH", "NOPE"]}, "defects"),
        ({"defects": ["OLD"]}, "defects"),  # inactive
        ({"defects": "SCRATCH"}, "defects"),  # a string, not a list
        ({"defects": [7]}, "defects"),
        ({"defects": [f"C{i}" for i in range(reviews.MAX_DEFECTS + 1)]}, "defects"),
        ({"notes": "x" * (NOTES_MAX_LENGTH + 1)}, "notes"),
    ],
)
def test_a_bad_verdict_is_refused_and_writes_nothing(alice, catalogue, verdict, field):
    task = new_task()
    holds(alice, task)
    before, totals = count_rows(), counters.totals()

    with pytest.raises(ValidationError) as excinfo:
        task_complete(task_id=task.pk, person_id=alice.pk, **verdict)

    assert field in excinfo.value.message_dict
    assert count_rows() == before and counters.totals() == totals
    assert not Exclusion.objects.exists()
    assert fresh(task).status == TaskStatus.IN_PROGRESS


def test_defect_codes_are_normalised_and_each_logged_once(alice, catalogue):
    task = new_task()
    review(alice, task, defects=["scratch", "SCRATCH", " Scratch ", "dent"])

    assert reviews_of(task)[0][3] == ["SCRATCH", "DENT"]
    totals = counters.totals()
    assert totals[counters.defects("SCRATCH")] == 1 and totals[counters.defects("DENT")] == 1


def test_a_blank_defect_code_is_refused():
    with pytest.raises(ValidationError) as refused:
        reviews.verdict_clean("pass", "", ["SCRATCH", " "])
    assert "defects" in refused.value.message_dict


def test_notes_at_the_limit_are_kept(alice):
    task = new_task()
    review(alice, task, notes="n" * NOTES_MAX_LENGTH)
    assert len(reviews_of(task)[0][2]) == NOTES_MAX_LENGTH


def test_a_supervisor_completing_for_the_holder_records_the_verdict_on_theirs(alice):
    task = new_task()
    holds(alice, task)
    task_complete(task_id=task.pk, person_id=None, outcome="pass", notes="by phone")
    assert reviews_of(task) == [(alice.pk, "pass", "by phone", None)]


# --- several reviews ---


def test_two_reviews_that_agree_complete_the_task_with_their_outcome(make_person):
    alice, bob = make_person("Alice"), make_person("Bob")
    task = new_task(reviews_required=2)

    first = review(alice, task, outcome="pass")
    assert first.task.status == TaskStatus.PENDING and first.next_task is None
    task_after_one = fresh(task)
    assert (task_after_one.status, task_after_one.reviews_done) == (TaskStatus.PENDING, 1)
    assert task_after_one.assigned_to_id is None and task_after_one.outcome == ""
    assert task_after_one.created_at == task.created_at  # keeps its place in the queue
    assert Exclusion.objects.get(task=task).person_id == alice.pk
    assert Exclusion.objects.get(task=task).reason == ExclusionReason.REVIEWED
    assert current(alice) is None

    review(bob, task, outcome="pass")

    task = fresh(task)
    assert (task.status, task.outcome, task.reviews_done) == (TaskStatus.COMPLETED, "pass", 2)
    assert [r[:2] for r in reviews_of(task)] == [(alice.pk, "pass"), (bob.pk, "pass")]
    assert events_of(task) == [
        (EventType.TASK_REVIEWED, {"outcome": "pass", "reviews_done": 1, "reviews_required": 2}),
        (EventType.TASK_COMPLETED, {"outcome": "pass"}),
    ]
    totals = counters.totals()
    assert totals[counters.reviews("pass")] == 2
    assert totals[counters.outcomes("pass")] == 1
    assert totals[counters.COMPLETIONS] == 2
    assert counters.DISPUTES not in totals


def test_a_verdict_and_no_verdict_complete_with_the_verdict(make_person):
    people = [make_person() for _ in range(3)]
    task = new_task(reviews_required=3)
    review(people[0], task)
    review(people[1], task, outcome="fail")
    review(people[2], task)
    assert (fresh(task).status, fresh(task).outcome) == (TaskStatus.COMPLETED, "fail")


def test_reviews_that_disagree_make_a_dispute_a_supervisor_resolves(make_person, supervisor):
    alice, bob = make_person("Alice"), make_person("Bob")
    task = new_task(reviews_required=2)
    review(alice, task, outcome="pass")
    result = review(bob, task, outcome="fail")

    assert result.task.status == TaskStatus.DISPUTED
    task = fresh(task)
    assert (task.status, task.outcome, task.reviews_done) == (TaskStatus.DISPUTED, "", 2)
    assert not Task.objects.pending().exists()  # out of the queue
    assert events_of(task)[-1] == (EventType.TASK_DISPUTED, None)
    assert counters.totals()[counters.DISPUTES] == 1

    resolved = interventions.task_resolve(
        actor=supervisor, task_id=task.pk, outcome="fail", note="  photo shows the dent "
    )

    assert resolved.task.status == TaskStatus.COMPLETED
    task = fresh(task)
    assert (task.status, task.outcome) == (TaskStatus.COMPLETED, "fail")
    assert task.resolution_note == "photo shows the dent"
    audit = AuditEvent.objects.get(action=AuditAction.RESOLVE)
    assert (audit.task_id, audit.actor_id) == (task.pk, supervisor.pk)
    assert "fail" in audit.detail and "photo shows the dent" in audit.detail
    assert events_of(task)[-1] == (EventType.TASK_RESOLVED, {"outcome": "fail"})
    assert counters.totals()[counters.outcomes("fail")] == 1


def test_resolving_a_task_that_is_not_disputed_is_409(make_person, supervisor):
    done = new_task("done")
    review(make_person(), done, outcome="pass")
    pending = new_task("waits")
    for task in (pending, done):
        status = fresh(task).status
        with pytest.raises(Conflict) as excinfo:
            interventions.task_resolve(actor=supervisor, task_id=task.pk, outcome="pass", note="x")
        assert excinfo.value.code == "task_not_disputed", status
    with pytest.raises(NotFound):
        interventions.task_resolve(actor=supervisor, task_id=987_654_321, outcome="pass", note="x")
    assert not AuditEvent.objects.filter(action=AuditAction.RESOLVE).exists()


@pytest.mark.parametrize(
    ("outcome", "note", "field"),
    [
        ("maybe", "why", "outcome"),
        ("", "why", "outcome"),
        ("pass", "   ", "note"),
        ("pass", "n" * (NOTES_MAX_LENGTH + 1), "note"),
    ],
)
def test_a_resolution_needs_an_outcome_and_a_note(make_person, supervisor, outcome, note, field):
    task = new_task(reviews_required=2)
    review(make_person(), task, outcome="pass")
    review(make_person(), task, outcome="fail")

    with pytest.raises(ValidationError) as excinfo:
        interventions.task_resolve(actor=supervisor, task_id=task.pk, outcome=outcome, note=note)

    assert field in excinfo.value.message_dict
    assert fresh(task).status == TaskStatus.DISPUTED


def test_a_disputed_task_cannot_be_reassigned_released_or_cancelled(make_person, supervisor):
    alice, bob, carol = make_person(), make_person(), make_person()
    task = new_task(reviews_required=2)
    review(alice, task, outcome="pass")
    review(bob, task, outcome="fail")
    person_login(person_id=carol.pk)
    with pytest.raises(Conflict):
        interventions.task_reassign(actor=supervisor, task_id=task.pk, person_id=carol.pk)
    with pytest.raises(Conflict):
        interventions.task_release(actor=supervisor, task_id=task.pk)
    with pytest.raises(Conflict):
        interventions.task_cancel(actor=supervisor, task_id=task.pk)
    assert fresh(task).status == TaskStatus.DISPUTED


def test_the_database_refuses_a_completed_task_with_too_few_reviews(db):
    task = new_task(reviews_required=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(status=TaskStatus.COMPLETED, reviews_done=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(reviews_required=MAX_REVIEWS + 1)


# --- reviews_required ---


@pytest.mark.parametrize("value", [0, MAX_REVIEWS + 1, -1, "2", 2.0, True, None])
def test_reviews_required_out_of_range_or_not_a_number_is_refused(db, value):
    with pytest.raises(ValidationError) as excinfo:
        task_create(tasks=[NewTask("x", reviews_required=value)])
    assert "reviews_required" in excinfo.value.message_dict
    assert not Task.objects.exists()


@pytest.mark.parametrize("value", [0, MAX_REVIEWS + 1, "2", True])
def test_a_supervisor_cannot_set_reviews_required_out_of_range(supervisor, value):
    task = new_task(reviews_required=2)  # True would equal the default 1: no change
    with pytest.raises(ValidationError) as excinfo:
        task_update(actor=supervisor, task_id=task.pk, changes={"reviews_required": value})
    assert "reviews_required" in excinfo.value.message_dict
    assert fresh(task).reviews_required == 2


def test_reviews_required_may_not_fall_to_the_reviews_done(make_person, supervisor):
    task = new_task(reviews_required=3)
    review(make_person(), task)
    review(make_person(), task)
    for value in (1, 2):
        with pytest.raises(ValidationError) as excinfo:
            task_update(actor=supervisor, task_id=task.pk, changes={"reviews_required": value})
        assert "reviews_required" in excinfo.value.message_dict

    task_update(actor=supervisor, task_id=task.pk, changes={"reviews_required": 4})

    assert fresh(task).reviews_required == 4
    assert "reviews_required: 3 → 4" in AuditEvent.objects.get(action=AuditAction.TASK_EDIT).detail


def test_reviews_required_changes_only_while_the_task_waits(alice, supervisor):
    task = new_task()
    holds(alice, task)
    with pytest.raises(Conflict):
        task_update(actor=supervisor, task_id=task.pk, changes={"reviews_required": 2})


def test_raising_reviews_required_sends_the_next_review_to_someone_else(make_person, supervisor):
    alice, bob = make_person(), make_person()
    task = new_task(reviews_required=2)
    review(alice, task, outcome="pass")
    task_update(actor=supervisor, task_id=task.pk, changes={"reviews_required": 3})
    review(bob, task, outcome="pass")
    assert current(alice) is None and fresh(task).status == TaskStatus.PENDING


# --- a repeated complete (a retry after a lost answer) ---


def test_a_repeated_complete_after_the_first_review_changes_nothing(make_person):
    alice, bob = make_person(), make_person()
    task = new_task(reviews_required=2)
    review(alice, task, outcome="pass")
    before = count_rows()

    again = task_complete(task_id=task.pk, person_id=alice.pk, outcome="fail")

    assert not again.changed and again.next_task is None
    assert count_rows() == before
    assert reviews_of(task)[0][1] == "pass"  # the first answer stands

    holds(bob, task)  # the second review is under way
    again = task_complete(task_id=task.pk, person_id=alice.pk)
    assert not again.changed
    assert current(bob).pk == task.pk and fresh(task).assigned_to_id == bob.pk

    task_complete(task_id=task.pk, person_id=bob.pk, outcome="fail")
    again = task_complete(task_id=task.pk, person_id=alice.pk)
    assert not again.changed and again.task.status == TaskStatus.DISPUTED


def test_a_repeated_complete_answers_the_reviewers_current_task(make_person):
    alice = make_person()
    task = new_task("first", reviews_required=2, age=10)
    other = new_task("second")
    result = review(alice, task)
    assert result.next_task.pk == other.pk

    again = task_complete(task_id=task.pk, person_id=alice.pk)

    assert not again.changed and again.next_task.pk == other.pk


# --- never again to a reviewer ---


def test_complete_then_next_never_gives_the_reviewer_the_same_task(make_person):
    alice = make_person()
    task = new_task(reviews_required=2, age=10)

    result = review(alice, task)

    assert result.next_task is None and current(alice) is None
    later = new_task("later")
    assert person_login(person_id=alice.pk).current_task.pk == later.pk
    assert fresh(task).status == TaskStatus.PENDING


def test_signing_in_again_never_gives_the_reviewer_the_task(make_person):
    alice = make_person()
    task = new_task(reviews_required=2)
    review(alice, task)
    person_logout(person_id=alice.pk)

    assert person_login(person_id=alice.pk).current_task is None
    assert person_heartbeat(person_id=alice.pk).current_task is None


def test_the_assigner_never_gives_the_reviewer_the_task(make_person):
    alice, bob = make_person("Alice"), make_person("Bob")
    task = new_task(reviews_required=2)
    review(alice, task)

    assert assignment_assign_batch() == []  # alice is free, live, and the only one
    assert fresh(task).status == TaskStatus.PENDING

    # Bob signed in (as on sign-in, without its pick), idle for less time than alice.
    Person.objects.filter(pk=bob.pk).update(
        is_logged_in=True, last_heartbeat=Now(), logged_in_at=Now(), idle_since=Now()
    )
    Person.objects.filter(pk=alice.pk).update(idle_since=Now() - timedelta(hours=1))

    # One batch locks as many people as there are tasks: alice, passed over; the loop goes
    # on to the next free people.
    assert assignment_assign_batch() == []
    assert assignment_assign() == 1
    assert current(bob).pk == task.pk and current(alice) is None


def test_a_reconnect_never_gives_the_reviewer_the_task_back(make_person, short_timeout):
    alice = make_person()
    task = new_task(reviews_required=2)
    holds(alice, task)
    age_heartbeat(alice, 5)
    assignment_sweep_stale()  # takes it back: alice's last release
    assert person_login(person_id=alice.pk).current_task.pk == task.pk  # the reconnect
    task_complete(task_id=task.pk, person_id=alice.pk)
    age_heartbeat(alice, 5)
    assignment_sweep_stale()  # signs the idle alice out: her last release is still the task
    alice_row = Person.objects.get(pk=alice.pk)
    assert alice_row.last_release_task_id == task.pk
    assert alice_row.last_release_reason == EndReason.STALE

    assert person_login(person_id=alice.pk).current_task is None
    assert fresh(task).status == TaskStatus.PENDING


def test_reassigning_to_a_reviewer_is_409_already_reviewed(make_person, supervisor):
    alice, bob = make_person(), make_person()
    task = new_task(reviews_required=2)
    review(alice, task)
    holds(bob, task)

    with pytest.raises(Conflict) as excinfo:
        interventions.task_reassign(actor=supervisor, task_id=task.pk, person_id=alice.pk)

    assert excinfo.value.code == "already_reviewed"
    assert fresh(task).assigned_to_id == bob.pk
    assert not AuditEvent.objects.filter(action=AuditAction.REASSIGN).exists()


def test_a_reviewer_who_had_declined_counts_once_and_stays_excluded(make_person, supervisor):
    alice, bob = make_person(), make_person()
    task = new_task(reviews_required=2)
    holds(alice, task)
    task_decline(task_id=task.pk, person_id=alice.pk, reason="not mine")
    interventions.task_reassign(actor=supervisor, task_id=task.pk, person_id=alice.pk)
    task_complete(task_id=task.pk, person_id=alice.pk, outcome="pass")

    assert Exclusion.objects.filter(task=task, person=alice).count() == 1
    assert person_login(person_id=alice.pk).current_task is None
    review(bob, task, outcome="pass")
    assert fresh(task).status == TaskStatus.COMPLETED


def test_a_task_between_reviews_may_be_cancelled(make_person, supervisor):
    task = new_task(reviews_required=2)
    review(make_person(), task, outcome="pass")
    interventions.task_cancel(actor=supervisor, task_id=task.pk)
    assert fresh(task).status == TaskStatus.CANCELLED


def test_a_task_between_reviews_may_expire(make_person):
    (task,) = task_create(
        tasks=[NewTask("soon", reviews_required=2, expires_at=db_now() + timedelta(hours=1))]
    )
    review(make_person(), task, outcome="fail")
    Task.objects.filter(pk=task.pk).update(expires_at=Now() - timedelta(seconds=1))

    assert assignment_expire() == [task.pk]

    task = fresh(task)
    assert (task.status, task.reviews_done, task.outcome) == (TaskStatus.EXPIRED, 1, "")


# --- audit sampling ---


def test_with_sample_rate_one_every_single_review_task_gets_a_second_review(make_person, settings):
    settings.QC_REVIEW_SAMPLE_RATE = 1.0
    alice, bob = make_person(), make_person()
    task = new_task()

    result = review(alice, task, outcome="pass")

    assert result.task.status == TaskStatus.PENDING
    task = fresh(task)
    assert (task.reviews_required, task.reviews_done, task.sampled) == (2, 1, True)
    assert counters.totals()[counters.SAMPLED] == 1
    review(bob, task, outcome="pass")  # the second review is not sampled again
    task = fresh(task)
    assert (task.status, task.reviews_required, task.outcome) == (
        TaskStatus.COMPLETED,
        2,
        "pass",
    )
    assert counters.totals()[counters.SAMPLED] == 1


def test_with_sample_rate_one_tasks_needing_several_reviews_are_not_sampled(make_person, settings):
    settings.QC_REVIEW_SAMPLE_RATE = 1.0
    task = new_task(reviews_required=2)
    review(make_person(), task)
    review(make_person(), task)
    task = fresh(task)
    assert (task.status, task.reviews_required, task.sampled) == (TaskStatus.COMPLETED, 2, False)


def test_with_sample_rate_zero_no_task_is_sampled(make_person, settings, monkeypatch):
    settings.QC_REVIEW_SAMPLE_RATE = 0.0
    monkeypatch.setattr(reviews.random, "random", lambda: 0.0)  # the luckiest draw
    person = make_person()
    for i in range(5):
        task = new_task(f"t{i}")
        review(person, task)
        assert fresh(task).status == TaskStatus.COMPLETED
    assert not Task.objects.filter(sampled=True).exists()
    assert counters.SAMPLED not in counters.totals()


def test_sampling_draws_at_the_configured_rate(settings, monkeypatch):
    settings.QC_REVIEW_SAMPLE_RATE = 0.1
    monkeypatch.setattr(reviews, "random", random.Random(20261202))
    draws, rate = 2000, 0.1

    hits = sum(reviews.audit_sampled() for _ in range(draws))

    sigma = math.sqrt(draws * rate * (1 - rate))
    assert abs(hits - draws * rate) <= 4 * sigma, hits


def test_sampling_through_complete_follows_the_draw(make_person, settings, monkeypatch):
    settings.QC_REVIEW_SAMPLE_RATE = 0.5
    draws = iter([0.7, 0.2])  # not sampled, then sampled
    monkeypatch.setattr(reviews.random, "random", lambda: next(draws))
    person = make_person()
    first, second = new_task("first", age=10), new_task("second")
    review(person, first)
    result = task_complete(task_id=second.pk, person_id=person.pk)
    assert fresh(first).sampled is False and fresh(first).status == TaskStatus.COMPLETED
    assert fresh(second).sampled is True and result.task.status == TaskStatus.PENDING


# --- counters ---


def test_each_review_counts_its_verdict_and_defects(make_person, catalogue):
    a, b, c = make_person(), make_person(), make_person()
    task = new_task(reviews_required=3)
    review(a, task, outcome="pass", defects=["DENT"])
    review(b, task, outcome="pass", defects=["DENT", "SCRATCH"])
    review(c, task)

    totals = counters.totals()
    assert totals[counters.reviews("pass")] == 2
    assert counters.reviews("fail") not in totals
    assert totals[counters.defects("DENT")] == 2 and totals[counters.defects("SCRATCH")] == 1
    assert totals[counters.outcomes("pass")] == 1
    assert totals[counters.COMPLETIONS] == 3


# --- the import ---


def parsed(content: bytes):
    upload = io.BytesIO(content)
    upload.name, upload.size = "tasks.csv", len(content)
    return parse_import_file(upload)


def test_the_import_reads_reviews_required(supervisor):
    file = parsed(b"description,reviews_required\nTwice,2\nOnce,\nFive times,5\n")
    assert file.errors == {}
    assert task_import_validate(file.rows) == {}

    result = task_import(actor=supervisor, rows=file.rows)

    assert len(result.created) == 3
    assert list(Task.objects.order_by("id").values_list("description", "reviews_required")) == [
        ("Twice", 2),
        ("Once", 1),
        ("Five times", 5),
    ]


@pytest.mark.parametrize("value", [b"7", b"0", b"two", b"1.5"])
def test_the_import_refuses_reviews_required_out_of_range(supervisor, value):
    file = parsed(b"description,reviews_required\nGood,1\nBad," + value + b"\n")
    assert file.errors == {}
    errors = task_import_validate(file.rows)
    assert list(errors) == [3]
    assert any("reviews_required" in message for message in errors[3]), errors
    with pytest.raises(DomainError):
        task_import(actor=supervisor, rows=file.rows)
    assert not Task.objects.exists()


@pytest.mark.xfail(
    strict=True,
    reason="KNOWN LIMIT: a supervisor's complete that does not name the reviewer acts for "
    "whoever holds the task; repeated after a first review (a retry after a lost answer), "
    "it records the next reviewer's review with the supervisor's verdict. Naming them "
    "(`holder_id`, the body's `person_id`) makes the retry safe: the next test.",
)
def test_a_supervisors_repeated_complete_never_records_the_next_reviewers_review(
    make_person, supervisor
):
    alice, bob = make_person(), make_person()
    task = new_task(reviews_required=2)
    holds(alice, task)
    task_complete(task_id=task.pk, person_id=None, outcome="fail")  # for alice
    holds(bob, task)

    try:
        task_complete(task_id=task.pk, person_id=None, outcome="fail")  # the same, again
    except Conflict:
        pass

    assert Assignment.objects.get(task=task, person=bob).end_reason == ""


def test_a_supervisors_complete_naming_the_reviewer_is_safe_to_repeat(make_person, supervisor):
    alice, bob = make_person(), make_person()
    task = new_task(reviews_required=2)
    holds(alice, task)
    first = task_complete(task_id=task.pk, holder_id=alice.pk, outcome="fail")
    assert first.changed
    holds(bob, task)

    again = task_complete(task_id=task.pk, holder_id=alice.pk, outcome="fail")

    assert not again.changed
    assert Assignment.objects.get(task=task, person=bob).end_reason == ""
    assert Task.objects.get(pk=task.pk).reviews_done == 1
