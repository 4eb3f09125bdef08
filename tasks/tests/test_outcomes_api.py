"""Outcomes through the API (docs/engine.md, "Outcomes"): the complete's verdict body, the
resolve endpoint, reviews_required on create and PATCH, a supervisor's view of the reviews,
and blind answers for QC people."""

from datetime import timedelta

import pytest
from django.db.models.functions import Now

from tasks.models import (
    NOTES_MAX_LENGTH,
    Assignment,
    AuditAction,
    AuditEvent,
    DefectCode,
    EndReason,
    Task,
    TaskStatus,
)
from tasks.services import NewTask, task_complete, task_create
from tasks.sessions import person_login
from tasks.tests.invariants import assert_counters_match, assert_invariants, count_rows

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def plain_settings(settings):
    settings.QC_REVIEW_SAMPLE_RATE = 0.0
    settings.QC_REQUIRE_OUTCOME = False
    yield
    assert_invariants()
    assert_counters_match()


@pytest.fixture
def catalogue(db):
    DefectCode.objects.create(code="SCRATCH", description="Scratch")
    DefectCode.objects.create(code="OLD", description="Retired", active=False)


def new_task(description="inspect", *, reviews_required=1, age=0) -> Task:
    (task,) = task_create(tasks=[NewTask(description, reviews_required=reviews_required)])
    Task.objects.filter(pk=task.pk).update(created_at=Now() - timedelta(seconds=age))
    return Task.objects.get(pk=task.pk)


def holds(person, task):
    answer = person_login(person_id=person.pk)
    assert answer.current_task is not None and answer.current_task.pk == task.pk


def complete(api, person, task, body=None):
    """The person completes the task through the API (signed in and holding it already)."""
    api.force_authenticate(person.user)
    if body is None:
        return api.post(f"/tasks/{task.pk}/complete")
    return api.post(f"/tasks/{task.pk}/complete", body, format="json")


def disputed(make_person, api=None):
    """A task whose two reviews disagree (pass, then fail); returns it and the reviewers."""
    first, second = make_person(), make_person()
    task = new_task(reviews_required=2)
    holds(first, task)
    task_complete(task_id=task.pk, person_id=first.pk, outcome="pass")
    holds(second, task)
    task_complete(task_id=task.pk, person_id=second.pk, outcome="fail")
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DISPUTED
    return task, first, second


# --- the complete's body ---


def test_a_complete_with_a_verdict_stores_it(api, alice, catalogue):
    task = new_task()
    holds(alice, task)
    r = complete(api, alice, task, {"outcome": "pass", "notes": " ok ", "defects": ["scratch"]})
    assert r.status_code == 200, r.data
    row = Assignment.objects.get(task=task)
    assert (row.outcome, row.notes, row.defects) == ("pass", "ok", ["SCRATCH"])


def test_a_bare_complete_and_an_empty_body_are_still_valid(api, alice):
    first, second = new_task("first", age=10), new_task("second")
    holds(alice, first)
    assert complete(api, alice, first).status_code == 200
    assert complete(api, alice, second, {}).status_code == 200
    assert set(Task.objects.values_list("status", flat=True)) == {TaskStatus.COMPLETED}


def test_with_qc_require_outcome_a_complete_without_a_verdict_is_400(api, alice, settings):
    settings.QC_REQUIRE_OUTCOME = True
    task = new_task()
    holds(alice, task)
    before = count_rows()
    for body in (None, {}, {"notes": "looks fine"}):
        r = complete(api, alice, task, body)
        assert r.status_code == 400, (body, r.data)
        assert "outcome" in r.data
    assert count_rows() == before
    assert complete(api, alice, task, {"outcome": "fail"}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"outcome": "maybe"},
        {"outcome": None},
        {"defects": ["NOPE"]},
        {"defects": ["OLD"]},
        {"defects": "SCRATCH"},
        {"defects": [""]},
        {"defects": [None]},
        {"notes": "x" * (NOTES_MAX_LENGTH + 1)},
        {"notes": 5 * [1]},
    ],
)
def test_a_bad_verdict_is_400_and_writes_nothing(api, alice, catalogue, body):
    task = new_task()
    holds(alice, task)
    before = count_rows()
    r = complete(api, alice, task, body)
    assert r.status_code == 400, r.data
    assert set(r.data) & {"outcome", "defects", "notes"}, r.data
    assert count_rows() == before


def test_the_defect_catalogue_lists_the_active_codes(api, alice, catalogue):
    api.force_authenticate(alice.user)
    r = api.get("/defect-codes")
    assert r.status_code == 200
    assert r.data == [{"code": "SCRATCH", "description": "Scratch"}]


# --- reviews_required on create and PATCH ---


@pytest.mark.parametrize("value", [0, 6, "2", 2.5, True, None])
def test_create_refuses_reviews_required_out_of_range(api, supervisor, value):
    api.force_authenticate(supervisor)
    r = api.post("/tasks", {"description": "x", "reviews_required": value}, format="json")
    assert r.status_code == 400, r.data
    assert "reviews_required" in r.data
    assert not Task.objects.exists()


def test_create_takes_reviews_required(api, supervisor):
    api.force_authenticate(supervisor)
    r = api.post("/tasks", {"description": "x", "reviews_required": 3}, format="json")
    assert r.status_code == 201, r.data
    assert (r.data["reviews_required"], r.data["reviews_done"]) == (3, 0)
    assert Task.objects.get().reviews_required == 3


@pytest.mark.parametrize("value", [0, 6, "2", True, None])
def test_patch_refuses_reviews_required_out_of_range(api, supervisor, value):
    task = new_task(reviews_required=2)
    api.force_authenticate(supervisor)
    r = api.patch(f"/tasks/{task.pk}", {"reviews_required": value}, format="json")
    assert r.status_code == 400, r.data
    assert "reviews_required" in r.data
    assert Task.objects.get(pk=task.pk).reviews_required == 2


def test_patch_refuses_reviews_required_at_or_below_the_reviews_done(api, supervisor, make_person):
    task = new_task(reviews_required=3)
    for _ in range(2):
        person = make_person()
        holds(person, task)
        task_complete(task_id=task.pk, person_id=person.pk)
    api.force_authenticate(supervisor)
    for value in (1, 2):
        r = api.patch(f"/tasks/{task.pk}", {"reviews_required": value}, format="json")
        assert r.status_code == 400, r.data
        assert "reviews_required" in r.data
    r = api.patch(f"/tasks/{task.pk}", {"reviews_required": 5}, format="json")
    assert r.status_code == 200 and r.data["reviews_required"] == 5


# --- resolve ---


def test_a_supervisor_resolves_a_dispute(api, supervisor, make_person):
    task, first, second = disputed(make_person)
    api.force_authenticate(supervisor)
    r = api.post(
        f"/tasks/{task.pk}/resolve", {"outcome": "pass", "note": "rechecked"}, format="json"
    )
    assert r.status_code == 200, r.data
    assert (r.data["status"], r.data["outcome"]) == (TaskStatus.COMPLETED, "pass")
    assert r.data["resolution_note"] == "rechecked"
    assert [(v["person_id"], v["outcome"]) for v in r.data["reviews"]] == [
        (first.pk, "pass"),
        (second.pk, "fail"),
    ]
    assert AuditEvent.objects.filter(action=AuditAction.RESOLVE, task_id=task.pk).exists()


def test_resolving_a_task_that_is_not_disputed_is_409(api, supervisor):
    task = new_task()
    api.force_authenticate(supervisor)
    r = api.post(f"/tasks/{task.pk}/resolve", {"outcome": "pass", "note": "x"}, format="json")
    assert r.status_code == 409 and r.data["code"] == "task_not_disputed"
    r = api.post("/tasks/987654321/resolve", {"outcome": "pass", "note": "x"}, format="json")
    assert r.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"outcome": "pass"},
        {"note": "why"},
        {"outcome": "maybe", "note": "why"},
        {"outcome": "pass", "note": "   "},
        {"outcome": "pass", "note": "n" * (NOTES_MAX_LENGTH + 1)},
    ],
)
def test_a_resolve_with_a_bad_body_is_400(api, supervisor, make_person, body):
    task, _, _ = disputed(make_person)
    api.force_authenticate(supervisor)
    r = api.post(f"/tasks/{task.pk}/resolve", body, format="json")
    assert r.status_code == 400, r.data
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DISPUTED


def test_a_qc_person_cannot_resolve_or_read_the_reviews(api, make_person):
    task, first, _ = disputed(make_person)
    api.force_authenticate(first.user)
    r = api.post(f"/tasks/{task.pk}/resolve", {"outcome": "pass", "note": "mine"}, format="json")
    assert r.status_code == 403
    assert api.get(f"/tasks/{task.pk}").status_code == 403
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DISPUTED


def test_a_supervisor_sees_every_review(api, supervisor, make_person, catalogue):
    first, second = make_person(), make_person()
    task = new_task(reviews_required=2)
    holds(first, task)
    task_complete(task_id=task.pk, person_id=first.pk, outcome="pass", notes="fine")
    holds(second, task)
    task_complete(task_id=task.pk, person_id=second.pk, outcome="pass", defects=["SCRATCH"])

    api.force_authenticate(supervisor)
    r = api.get(f"/tasks/{task.pk}")

    assert r.status_code == 200
    assert (r.data["status"], r.data["outcome"], r.data["reviews_done"]) == (
        TaskStatus.COMPLETED,
        "pass",
        2,
    )
    assert [
        {k: v[k] for k in ("person_id", "outcome", "notes", "defects")} for v in r.data["reviews"]
    ] == [
        {"person_id": first.pk, "outcome": "pass", "notes": "fine", "defects": []},
        {"person_id": second.pk, "outcome": "pass", "notes": "", "defects": ["SCRATCH"]},
    ]
    assert all(v["assigned_at"] and v["completed_at"] for v in r.data["reviews"])


# --- a retry, and no way back to a reviewer ---


def test_a_repeated_complete_after_the_first_review_is_200_and_changes_nothing(api, make_person):
    alice, bob = make_person(), make_person()
    task = new_task(reviews_required=2)
    holds(alice, task)
    first = complete(api, alice, task, {"outcome": "pass"})
    assert first.status_code == 200 and first.data["status"] == TaskStatus.PENDING
    before = count_rows()

    again = complete(api, alice, task, {"outcome": "pass"})

    assert again.status_code == 200, again.data
    assert again.data["next_task"] is None
    assert count_rows() == before

    holds(bob, task)  # the task moved on: the retry still answers 200, changing nothing
    again = complete(api, alice, task, {"outcome": "pass"})
    assert again.status_code == 200, again.data
    assert Task.objects.get(pk=task.pk).assigned_to_id == bob.pk


def test_reassigning_to_a_reviewer_is_409_already_reviewed(api, supervisor, make_person):
    alice = make_person()
    task = new_task(reviews_required=2)
    holds(alice, task)
    task_complete(task_id=task.pk, person_id=alice.pk)
    api.force_authenticate(supervisor)
    r = api.post(f"/tasks/{task.pk}/reassign", {"person_id": alice.pk}, format="json")
    assert r.status_code == 409 and r.data["code"] == "already_reviewed", r.data
    assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING


# --- blind answers ---


def test_a_qc_persons_answers_never_show_another_reviewers_verdict(api, make_person):
    alice, bob = make_person(), make_person()
    task = new_task(reviews_required=2)
    holds(alice, task)
    assert complete(api, alice, task, {"outcome": "pass"}).data["outcome"] is None
    holds(bob, task)

    r = complete(api, bob, task, {"outcome": "fail"})

    assert r.status_code == 200
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DISPUTED
    assert (r.data["status"], r.data["outcome"]) == (TaskStatus.COMPLETED, None)
    again = complete(api, alice, task)  # alice's retry, after the dispute
    assert (again.data["status"], again.data["outcome"]) == (TaskStatus.COMPLETED, None)


def test_a_qc_person_never_sees_the_outcome_of_a_task_they_completed(api, make_person):
    alice, bob = make_person(), make_person()
    task = new_task(reviews_required=2)
    following = new_task("following")
    holds(alice, task)
    complete(api, alice, task, {"outcome": "pass"})  # alice now holds `following`
    holds(bob, task)
    r = complete(api, bob, task, {"outcome": "pass"})
    assert Task.objects.get(pk=task.pk).outcome == "pass"
    assert r.data["outcome"] is None and r.data["status"] == TaskStatus.COMPLETED
    assert r.data["next_task"] is None or r.data["next_task"]["outcome"] is None
    assert following.pk in (
        Task.objects.filter(status=TaskStatus.IN_PROGRESS).values_list("id", flat=True)
    )


def test_a_supervisors_complete_answer_is_not_blind(api, supervisor, make_person):
    alice, bob = make_person(), make_person()
    task = new_task(reviews_required=2)
    holds(alice, task)
    task_complete(task_id=task.pk, person_id=alice.pk, outcome="pass")
    holds(bob, task)
    api.force_authenticate(supervisor)
    r = api.post(f"/tasks/{task.pk}/complete", {"outcome": "fail"}, format="json")
    assert r.status_code == 200
    assert r.data["status"] == TaskStatus.DISPUTED
    assert Assignment.objects.get(task=task, person=bob).outcome == "fail"


def test_sign_in_and_heartbeat_show_the_current_task_blind(api, make_person):
    alice, bob = make_person(), make_person()
    task = new_task(reviews_required=2)
    holds(alice, task)
    task_complete(task_id=task.pk, person_id=alice.pk, outcome="fail")
    api.force_authenticate(bob.user)

    signed_in = api.post("/personnel/login", {"person_id": bob.pk}, format="json")
    beat = api.post(f"/personnel/{bob.pk}/heartbeat")

    for r in (signed_in, beat):
        assert r.status_code == 200, r.data
        current = r.data["current_task"]
        assert current["id"] == task.pk and current["outcome"] is None
        assert "reviews" not in current
        assert current["reviews_done"] == 1


def test_the_qc_persons_decline_answer_is_blind(api, make_person):
    alice, bob = make_person(), make_person()
    task = new_task(reviews_required=2)
    holds(alice, task)
    task_complete(task_id=task.pk, person_id=alice.pk, outcome="pass")
    holds(bob, task)
    api.force_authenticate(bob.user)
    r = api.post(f"/tasks/{task.pk}/decline", {"reason": "not mine"}, format="json")
    assert r.status_code == 200 and r.data["outcome"] is None
    assert Assignment.objects.get(task=task, person=bob).end_reason == EndReason.DECLINED


@pytest.mark.parametrize("body", [[], ["pass"], False, 0, "", "pass"])
def test_a_complete_body_that_is_not_an_object_is_400(api, alice, body):
    task = new_task()
    holds(alice, task)
    before = count_rows()
    r = complete(api, alice, task, body)
    assert r.status_code == 400, r.data
    assert count_rows() == before


def test_a_supervisor_names_whose_review_it_is_and_may_repeat_it(api, supervisor, make_person):
    alice, bob = make_person(), make_person()
    task = new_task(reviews_required=2)
    holds(alice, task)
    api.force_authenticate(supervisor)
    body = {"outcome": "pass", "person_id": alice.pk}
    assert api.post(f"/tasks/{task.pk}/complete", body, format="json").status_code == 200
    holds(bob, task)

    again = api.post(f"/tasks/{task.pk}/complete", body, format="json")

    assert again.status_code == 200  # the same review again: nothing changes
    assert Assignment.objects.get(task=task, person=bob).end_reason == ""
    assert Task.objects.get(pk=task.pk).reviews_done == 1


def test_a_qc_person_may_not_name_someone_else(api, alice, bob):
    task = new_task()
    holds(alice, task)
    r = complete(api, alice, task, {"outcome": "pass", "person_id": bob.pk})
    assert r.status_code == 400 and "person_id" in r.json()
    assert Task.objects.get(pk=task.pk).status == TaskStatus.IN_PROGRESS
