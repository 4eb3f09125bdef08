"""Routing (docs/engine.md, "Routing"): priority with aging, skills, decline, reconnect, time
limits and expiry, on every path that hands out work: sign-in, complete → next, the
assigner's batch, new tasks offered on commit, supervisor reassign, and the holder freed by
an intervention or a time-out."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models.functions import Now
from django.test import override_settings

from personnel.models import Person
from personnel.selectors import person_get
from personnel.services import person_skills_set
from qcproject.db import db_now
from qcproject.exceptions import Conflict, Forbidden, NotFound
from tasks import counters, interventions, routing
from tasks.assigner import (
    assignment_assign,
    assignment_assign_batch,
    assignment_cycle,
    assignment_expire,
    assignment_sweep_stale,
    assignment_time_out,
)
from tasks.models import (
    Assignment,
    AssignmentSource,
    AuditAction,
    AuditEvent,
    EndReason,
    Exclusion,
    Task,
    TaskStatus,
)
from tasks.services import NewTask, task_complete, task_create, task_decline, task_update
from tasks.sessions import person_login, person_logout
from tasks.testing import age_heartbeat
from tasks.tests.invariants import assert_counters_match, assert_invariants

pytestmark = pytest.mark.django_db


def new_task(description, *, priority=0, skill=None, age=0, **routing_fields) -> Task:
    """A pending task created `age` seconds ago (database clock), not offered to anyone."""
    (task,) = task_create(
        tasks=[NewTask(description, priority=priority, skill=skill, **routing_fields)]
    )
    Task.objects.filter(pk=task.pk).update(created_at=Now() - timedelta(seconds=age))
    return Task.objects.get(pk=task.pk)


def qc(make_person, *skills, name=None):
    """A QC person with these skills, signed out."""
    person = make_person(name)
    Person.objects.filter(pk=person.pk).update(skills=sorted(skills))
    return Person.objects.get(pk=person.pk)


def free(make_person, *skills, idle_for=0, name=None):
    """A signed-in, free person with these skills, idle for `idle_for` seconds."""
    person = qc(make_person, *skills, name=name)
    assert person_login(person_id=person.pk).current_task is None, "a task waited"
    Person.objects.filter(pk=person.pk).update(idle_since=Now() - timedelta(seconds=idle_for))
    return person


def current(person) -> Task | None:
    return person_get(person_id=person.pk).current_task


def ages_open_assignment(task, seconds):
    Assignment.objects.filter(open_task=task.pk).update(
        assigned_at=Now() - timedelta(seconds=seconds)
    )


# --- the rules on their own ---


def test_effective_priority_rises_a_level_per_aging_period_up_to_nine(settings):
    settings.QC_PRIORITY_AGING = 600
    now = db_now()
    assert routing.effective_priority(2, now, now) == 2
    assert routing.effective_priority(2, now - timedelta(seconds=599), now) == 2
    assert routing.effective_priority(2, now - timedelta(seconds=600), now) == 3
    assert routing.effective_priority(2, now - timedelta(hours=10), now) == 9
    settings.QC_PRIORITY_AGING = 0
    assert routing.effective_priority(2, now - timedelta(hours=10), now) == 2


@pytest.mark.parametrize(
    "value, stored",
    [
        (None, None),
        ("", None),
        ("  Welding ", "welding"),
        ("x-ray", "x-ray"),
        ("class_2", "class_2"),
    ],
)
def test_skill_names_are_stored_in_lower_case(value, stored):
    assert routing.skill_clean(value) == stored


@pytest.mark.parametrize("value", ["two words", "weld!", "-x", "x--y", "é", "a" * 33, 5, ["x"]])
def test_bad_skill_names_are_refused(value):
    with pytest.raises(ValidationError):
        routing.skill_clean(value)


def test_a_persons_skills_are_cleaned_deduplicated_and_sorted():
    assert routing.skills_clean(["X-ray", "welding", "x-ray"]) == ["welding", "x-ray"]
    for bad in ("welding", [""], [None], ["ok"] * 0 + [f"s{i}" for i in range(21)]):
        with pytest.raises(ValidationError):
            routing.skills_clean(bad)


# --- priority and aging, on every path ---


def test_sign_in_gets_the_highest_priority_task_before_older_ones(make_person):
    new_task("old, routine", age=60)
    urgent = new_task("new, urgent", priority=5)
    person = qc(make_person)

    assert person_login(person_id=person.pk).current_task.pk == urgent.pk
    assert_invariants()


def test_within_a_priority_the_oldest_goes_first(make_person):
    new_task("younger", priority=3, age=10)
    older = new_task("older", priority=3, age=20)

    assert person_login(person_id=qc(make_person).pk).current_task.pk == older.pk


@override_settings(QC_PRIORITY_AGING=600)
def test_aging_lifts_a_long_waiting_task_above_newer_higher_priority_ones(make_person):
    new_task("priority 3, fresh", priority=3)
    # Priority 1 after 1,250 s: 1 + 2 = 3, the same level, and older: it goes first.
    aged = new_task("priority 1, waited long", priority=1, age=1250)

    assert person_login(person_id=qc(make_person).pk).current_task.pk == aged.pk


@override_settings(QC_PRIORITY_AGING=600)
def test_aging_stops_at_the_top_level_where_age_decides(make_person):
    top = new_task("priority 9, waited 2 min", priority=9, age=120)
    ancient = new_task("priority 0, waited 2 h", priority=0, age=7200)  # 0 + 12 → 9

    first = person_login(person_id=qc(make_person).pk).current_task
    second = person_login(person_id=qc(make_person).pk).current_task
    assert [first.pk, second.pk] == [ancient.pk, top.pk]


@override_settings(QC_PRIORITY_AGING=0)
def test_without_aging_priority_always_wins(make_person):
    new_task("priority 0, waited 2 h", age=7200)
    urgent = new_task("priority 1", priority=1)

    assert person_login(person_id=qc(make_person).pk).current_task.pk == urgent.pk


def test_complete_gives_the_highest_priority_task_next(make_person):
    person = qc(make_person)
    first = new_task("first", priority=9)
    person_login(person_id=person.pk)
    new_task("routine", age=30)
    urgent = new_task("urgent", priority=7)

    result = task_complete(task_id=first.pk, person_id=person.pk)

    assert result.next_task.pk == urgent.pk
    assert_invariants()


def test_batch_gives_the_longest_idle_person_the_best_task(make_person):
    recent = free(make_person, idle_for=10)
    longest = free(make_person, idle_for=300)
    low = new_task("low", age=100)
    high = new_task("high", priority=4)

    pairs = assignment_assign_batch()

    assert pairs == [(longest.pk, high.pk), (recent.pk, low.pk)]
    assert_invariants()


def test_new_tasks_are_offered_best_first_on_commit(
    make_person, django_capture_on_commit_callbacks
):
    person = free(make_person)
    with django_capture_on_commit_callbacks(execute=True):
        task_create(
            tasks=[NewTask("routine"), NewTask("urgent", priority=6), NewTask("later", priority=2)]
        )

    held = current(person)
    assert held.description == "urgent"
    assert Assignment.objects.get(task=held).source == AssignmentSource.NEW_TASK


def test_a_released_task_keeps_its_age_and_goes_first_in_its_level(supervisor, make_person):
    holder = qc(make_person)
    task = new_task("held", priority=2, age=300)
    person_login(person_id=holder.pk)
    new_task("same level, newer", priority=2)

    interventions.task_release(actor=supervisor, task_id=task.pk)

    assert Task.objects.get(pk=task.pk).created_at == task.created_at
    assert person_login(person_id=qc(make_person).pk).current_task.pk == task.pk


def test_the_freed_holder_gets_the_best_other_task(supervisor, make_person):
    holder = qc(make_person)
    task = new_task("held", priority=9)
    person_login(person_id=holder.pk)
    new_task("routine")
    urgent = new_task("urgent", priority=5)

    result = interventions.task_release(actor=supervisor, task_id=task.pk)

    assert result.previous_holder_id == holder.pk
    assert current(holder).pk == urgent.pk


def test_supervisor_changes_a_pending_tasks_priority_and_it_is_audited(supervisor, make_person):
    new_task("first", age=60)
    later = new_task("later")

    changed = task_update(actor=supervisor, task_id=later.pk, changes={"priority": 7})

    assert changed.priority == 7 and Task.objects.get(pk=later.pk).priority == 7
    event = AuditEvent.objects.get(action=AuditAction.TASK_EDIT)
    assert (event.task_id, event.detail) == (later.pk, "priority: 0 → 7")
    assert person_login(person_id=qc(make_person).pk).current_task.pk == later.pk


def test_priority_of_a_task_in_progress_cannot_change(supervisor, make_person):
    task = new_task("held")
    person_login(person_id=qc(make_person).pk)

    with pytest.raises(Conflict) as excinfo:
        task_update(actor=supervisor, task_id=task.pk, changes={"priority": 3})
    assert excinfo.value.code == "task_not_pending"
    with pytest.raises(ValidationError):
        task_update(actor=supervisor, task_id=new_task("x").pk, changes={"priority": 10})
    with pytest.raises(NotFound):
        task_update(actor=supervisor, task_id=987_654_321, changes={"priority": 1})
    assert not AuditEvent.objects.exists()


# --- skills, on every path ---


def test_a_task_with_a_skill_goes_only_to_people_who_have_it(make_person):
    weld = new_task("weld", skill="welding", age=60)
    anyone = new_task("anyone")
    painter = qc(make_person, "painting")
    welder = qc(make_person, "welding")

    assert person_login(person_id=painter.pk).current_task.pk == anyone.pk
    assert person_login(person_id=welder.pk).current_task.pk == weld.pk
    assert_invariants()


def test_nobody_without_the_skill_gets_it_on_any_path(
    make_person, django_capture_on_commit_callbacks
):
    painter = free(make_person, "painting")
    with django_capture_on_commit_callbacks(execute=True):
        task_create(tasks=[NewTask("weld", skill="welding")])
    assert current(painter) is None  # new tasks offered on commit
    assert assignment_cycle().assigned == 0  # the batch
    person_logout(person_id=painter.pk)
    assert person_login(person_id=painter.pk).current_task is None  # sign-in
    done = new_task("paint", skill="painting")
    person_logout(person_id=painter.pk)
    assert person_login(person_id=painter.pk).current_task.pk == done.pk
    assert task_complete(task_id=done.pk, person_id=painter.pk).next_task is None  # complete


def test_the_batch_pairs_each_person_with_a_task_of_their_skills(make_person):
    welder = free(make_person, "welding", idle_for=300)
    painter = free(make_person, "painting", idle_for=200)
    generalist = free(make_person, idle_for=100)
    paint = new_task("paint", skill="painting", priority=9)
    weld = new_task("weld", skill="welding")
    anyone = new_task("anyone")

    pairs = assignment_assign_batch()

    assert sorted(pairs) == sorted(
        [(welder.pk, weld.pk), (painter.pk, paint.pk), (generalist.pk, anyone.pk)]
    )
    assert_invariants()


def test_people_past_a_batch_who_can_take_none_are_passed_for_the_next(make_person, settings):
    settings.QC_ASSIGN_BATCH_SIZE = 2
    for i in range(3):
        free(make_person, "painting", idle_for=500 - i)  # longest idle, but no welders
    welder = free(make_person, "welding", idle_for=10)
    weld = new_task("weld", skill="welding")

    assert assignment_assign() == 1
    assert current(welder).pk == weld.pk


def test_a_new_task_is_offered_past_free_people_without_its_skill(
    make_person, settings, django_capture_on_commit_callbacks
):
    settings.QC_ASSIGN_BATCH_SIZE = 2
    for i in range(5):
        free(make_person, "painting", idle_for=500 - i)
    welder = free(make_person, "welding", idle_for=1)

    with django_capture_on_commit_callbacks(execute=True):
        (weld,) = task_create(tasks=[NewTask("weld", skill="welding")])

    assert current(welder).pk == weld.pk
    assert Assignment.objects.get(task=weld).source == AssignmentSource.NEW_TASK


@override_settings(QC_SKILL_RELAX_AFTER=300)
def test_a_task_that_waited_past_the_relax_time_goes_to_anyone(make_person):
    new_task("weld, fresh", skill="welding")
    waited = new_task("weld, waited", skill="welding", age=301)
    painter = qc(make_person, "painting")

    assert person_login(person_id=painter.pk).current_task.pk == waited.pk
    assert person_login(person_id=qc(make_person).pk).current_task is None
    assert_invariants()


def test_reassign_to_someone_without_the_skill_is_refused(supervisor, make_person, settings):
    weld = new_task("weld", skill="welding", age=100)
    painter = free(make_person, "painting")

    with pytest.raises(Conflict) as excinfo:
        interventions.task_reassign(actor=supervisor, task_id=weld.pk, person_id=painter.pk)
    assert excinfo.value.code == "skill_missing"
    assert "welding" in excinfo.value.message and painter.name in excinfo.value.message

    settings.QC_SKILL_RELAX_AFTER = 60  # it has waited 100 s: anyone may take it now
    interventions.task_reassign(actor=supervisor, task_id=weld.pk, person_id=painter.pk)
    assert current(painter).pk == weld.pk
    assert_invariants()


def test_supervisor_sets_skills_audited_and_the_pick_uses_them(supervisor, make_person):
    person = free(make_person)
    weld = new_task("weld", skill="welding")

    updated = person_skills_set(actor=supervisor, person_id=person.pk, skills=["Welding", "x-ray"])

    assert updated.skills == ["welding", "x-ray"]
    event = AuditEvent.objects.get(action=AuditAction.SKILLS)
    assert (event.person_id, event.detail) == (person.pk, "none → welding, x-ray")
    assignment_cycle()
    assert current(person).pk == weld.pk


def test_a_skill_the_current_task_needs_cannot_be_taken_away(supervisor, make_person):
    welder = free(make_person, "welding", "painting")
    new_task("weld", skill="welding")
    assignment_cycle()

    with pytest.raises(Conflict) as excinfo:
        person_skills_set(actor=supervisor, person_id=welder.pk, skills=["painting"])
    assert excinfo.value.code == "skill_in_use"
    person_skills_set(actor=supervisor, person_id=welder.pk, skills=["welding"])  # keeps it
    with pytest.raises(ValidationError):
        person_skills_set(actor=supervisor, person_id=welder.pk, skills=["no spaces"])
    with pytest.raises(NotFound):
        person_skills_set(actor=supervisor, person_id=987_654_321, skills=[])


# --- decline ---


def test_decline_puts_the_task_back_and_gives_the_next(make_person):
    person = qc(make_person)
    task = new_task("not mine", age=60)
    other = new_task("next")
    person_login(person_id=person.pk)

    result = task_decline(task_id=task.pk, person_id=person.pk, reason="  wrong line  ")

    assert result.changed and result.next_task.pk == other.pk
    assert result.task.status == TaskStatus.PENDING
    stored = Task.objects.get(pk=task.pk)
    assert stored.status == TaskStatus.PENDING and stored.created_at == task.created_at
    declined = Assignment.objects.get(task=task)
    assert (declined.end_reason, declined.decline_reason) == (EndReason.DECLINED, "wrong line")
    assert Exclusion.objects.filter(task=task, person=person).exists()
    assert Assignment.objects.get(task=other).source == AssignmentSource.DECLINE
    assert counters.totals()[counters.releases(EndReason.DECLINED)] == 1
    assert_invariants()
    assert_counters_match()


def test_a_declined_task_is_never_offered_to_that_person_again(supervisor, make_person, settings):
    person = qc(make_person, "welding")
    task = new_task("not mine", priority=9, skill="welding")
    person_login(person_id=person.pk)
    task_decline(task_id=task.pk, person_id=person.pk, reason="conflict of interest")

    # Sign-in, the batch, new tasks on commit, complete → next: it stays pending for them.
    assert current(person) is None
    person_logout(person_id=person.pk)
    assert person_login(person_id=person.pk).current_task is None
    assert assignment_cycle().assigned == 0
    filler = new_task("filler")
    assignment_cycle()
    assert current(person).pk == filler.pk
    assert task_complete(task_id=filler.pk, person_id=person.pk).next_task is None
    # Another person with the skill gets it.
    other = qc(make_person, "welding")
    assert person_login(person_id=other.pk).current_task.pk == task.pk
    # Put back in the queue: the batch passes over the decliner, idle longer, for the other.
    interventions.task_release(actor=supervisor, task_id=task.pk)
    assert current(other) is None and current(person) is None
    assignment_cycle()
    assert current(person) is None and current(other).pk == task.pk
    assert_invariants()


def test_a_supervisor_may_still_give_a_declined_task_to_the_decliner(supervisor, make_person):
    person = qc(make_person)
    task = new_task("not mine")
    person_login(person_id=person.pk)
    task_decline(task_id=task.pk, person_id=person.pk, reason="wrong line")

    interventions.task_reassign(actor=supervisor, task_id=task.pk, person_id=person.pk)

    assert current(person).pk == task.pk
    assert Assignment.objects.filter(task=task).first().source == AssignmentSource.SUPERVISOR
    assert_invariants()
    # Declined again: still one exclusion, and the repeat answers as before.
    task_decline(task_id=task.pk, person_id=person.pk, reason="still not mine")
    assert Exclusion.objects.filter(task=task, person=person).count() == 1


def test_decline_is_fenced_like_complete(make_person):
    holder, stranger = qc(make_person), qc(make_person)
    task = new_task("held")
    person_login(person_id=holder.pk)

    with pytest.raises(Forbidden):
        task_decline(task_id=task.pk, person_id=stranger.pk, reason="x")
    with pytest.raises(NotFound):
        task_decline(task_id=987_654_321, person_id=holder.pk, reason="x")
    for reason in ("", "   ", "x" * 501):
        with pytest.raises(ValidationError):
            task_decline(task_id=task.pk, person_id=holder.pk, reason=reason)
    person_logout(person_id=holder.pk)  # taken back: a late decline is refused
    with pytest.raises(Conflict) as excinfo:
        task_decline(task_id=task.pk, person_id=holder.pk, reason="too late")
    assert excinfo.value.code == "task_not_in_progress"
    assert not Exclusion.objects.exists()


def test_a_repeated_decline_answers_as_before_and_changes_nothing(make_person):
    person = qc(make_person)
    task = new_task("not mine", age=10)
    other = new_task("next")
    person_login(person_id=person.pk)
    task_decline(task_id=task.pk, person_id=person.pk, reason="wrong line")
    before = list(Assignment.objects.values_list("id", "end_reason"))

    again = task_decline(task_id=task.pk, person_id=person.pk, reason="wrong line")

    assert not again.changed and again.next_task.pk == other.pk
    assert list(Assignment.objects.values_list("id", "end_reason")) == before


def test_a_supervisor_declines_for_the_holder_audited(supervisor, make_person):
    person = qc(make_person)
    task = new_task("not theirs", age=10)
    other = new_task("next")
    person_login(person_id=person.pk)

    result = task_decline(task_id=task.pk, reason="wrong line", actor=supervisor)

    assert result.next_task.pk == other.pk and current(person).pk == other.pk
    event = AuditEvent.objects.get(action=AuditAction.DECLINE)
    assert (event.person_id, event.task_id, event.detail) == (person.pk, task.pk, "wrong line")


# --- reconnect ---


def test_back_within_the_grace_after_a_stale_session_gets_the_task_back(make_person, short_timeout):
    person = qc(make_person)
    task = new_task("mine", age=10)
    person_login(person_id=person.pk)
    age_heartbeat(person, 5)
    assignment_sweep_stale()
    assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING
    new_task("urgent meanwhile", priority=9)  # would be first for anyone else

    answer = person_login(person_id=person.pk)

    assert answer.current_task.pk == task.pk
    assert Assignment.objects.filter(task=task).first().source == AssignmentSource.LOGIN
    assert_invariants()


def test_the_task_is_free_for_others_meanwhile(make_person, short_timeout):
    person = qc(make_person)
    task = new_task("mine")
    person_login(person_id=person.pk)
    age_heartbeat(person, 5)
    assignment_sweep_stale()
    other = qc(make_person)
    assert person_login(person_id=other.pk).current_task.pk == task.pk
    routine = new_task("routine")

    assert person_login(person_id=person.pk).current_task.pk == routine.pk


def test_no_task_back_after_the_grace_or_without_a_stale_session(
    make_person, short_timeout, settings
):
    person = qc(make_person)
    task = new_task("mine", age=10)
    urgent = new_task("urgent", priority=9)
    assert person_login(person_id=person.pk).current_task.pk == urgent.pk
    task_complete(task_id=urgent.pk, person_id=person.pk)  # now holds `task`
    age_heartbeat(person, 5)
    assignment_sweep_stale()
    Person.objects.filter(pk=person.pk).update(last_release_at=Now() - timedelta(seconds=301))
    urgent2 = new_task("urgent again", priority=9)
    assert person_login(person_id=person.pk).current_task.pk == urgent2.pk  # past 300 s

    task_complete(task_id=urgent2.pk, person_id=person.pk)  # holds `task` again
    person_logout(person_id=person.pk)  # its own sign-out: no reconnect
    urgent3 = new_task("urgent, third", priority=9)
    assert person_login(person_id=person.pk).current_task.pk == urgent3.pk

    settings.QC_RECONNECT_GRACE = 0
    task_complete(task_id=urgent3.pk, person_id=person.pk)
    age_heartbeat(person, 5)
    assignment_sweep_stale()
    urgent4 = new_task("urgent, fourth", priority=9)
    assert person_login(person_id=person.pk).current_task.pk == urgent4.pk
    assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING


def test_signing_in_over_an_unswept_stale_session_keeps_the_task(make_person, short_timeout):
    person = qc(make_person)
    task = new_task("mine", age=10)
    person_login(person_id=person.pk)
    new_task("urgent", priority=9)
    age_heartbeat(person, 5)

    answer = person_login(person_id=person.pk)

    assert answer.current_task.pk == task.pk
    assert [a.end_reason for a in Assignment.objects.filter(task=task).order_by("id")] == [
        EndReason.STALE,
        "",
    ]
    assert person_get(person_id=person.pk).last_release_reason == EndReason.STALE
    assert_invariants()


# --- time limits ---


def test_a_task_over_its_time_limit_goes_back_and_the_holder_moves_on(make_person):
    holder = qc(make_person)
    task = new_task("slow", max_handle_seconds=60, age=100)
    person_login(person_id=holder.pk)
    waiting = free(make_person, idle_for=5)
    following = new_task("next")
    ages_open_assignment(task, 61)

    result = assignment_cycle()

    assert result.timed_out == [task.pk]
    timed_out = Assignment.objects.filter(task=task).order_by("id").first()
    assert timed_out.end_reason == EndReason.TIMED_OUT and timed_out.person_id == holder.pk
    assert current(holder).pk == following.pk  # not the same one
    assert current(waiting).pk == task.pk  # back in the queue with its place
    release = person_get(person_id=holder.pk)
    assert (release.last_release_task_id, release.last_release_reason) == (
        task.pk,
        EndReason.TIMED_OUT,
    )
    with pytest.raises(Conflict):
        task_complete(task_id=task.pk, person_id=holder.pk)
    assert_invariants()
    assert_counters_match()


def test_the_default_time_limit_applies_and_zero_means_none(make_person, settings):
    settings.QC_MAX_HANDLE_TIME = 60
    default = new_task("default limit", age=20)
    unlimited = new_task("no limit", max_handle_seconds=0, age=10)
    first, second = qc(make_person), qc(make_person)
    person_login(person_id=first.pk)
    person_login(person_id=second.pk)
    for task in (default, unlimited):
        ages_open_assignment(task, 3600)

    assert assignment_time_out() == [(first.pk, default.pk)]
    assert current(second).pk == unlimited.pk
    settings.QC_MAX_HANDLE_TIME = 0
    assert assignment_time_out() == []


def test_a_holder_within_the_limit_or_stale_is_not_given_a_task(make_person, short_timeout):
    holder = qc(make_person)
    task = new_task("slow", max_handle_seconds=60)
    new_task("next")
    person_login(person_id=holder.pk)
    ages_open_assignment(task, 30)
    assert assignment_time_out() == []
    ages_open_assignment(task, 61)
    age_heartbeat(holder, 5)  # silent: it gets no next task (the sweep signs it out)

    assert assignment_time_out() == [(holder.pk, task.pk)]
    assert current(holder) is None


# --- expiry ---


def test_an_expiry_in_the_past_is_refused():
    with pytest.raises(ValidationError) as excinfo:
        task_create(tasks=[NewTask("late", expires_at=db_now() - timedelta(seconds=1))])
    assert "expires_at" in excinfo.value.message_dict
    assert not Task.objects.exists()


def test_an_expired_task_is_never_assigned_and_the_cycle_closes_it(make_person):
    task = new_task("soon stale", expires_at=db_now() + timedelta(hours=1), priority=9)
    Task.objects.filter(pk=task.pk).update(expires_at=Now() - timedelta(seconds=1))
    routine = new_task("routine")
    person = qc(make_person)

    assert person_login(person_id=person.pk).current_task.pk == routine.pk
    waiting = free(make_person)
    result = assignment_cycle()

    assert result.expired == [task.pk] and result.assigned == 0
    assert Task.objects.get(pk=task.pk).status == TaskStatus.EXPIRED
    assert current(waiting) is None
    assert counters.totals()[counters.EXPIRED] == 1
    assert assignment_expire() == []
    assert_invariants()
    assert_counters_match()


def test_an_expired_task_cannot_be_reassigned_or_cancelled(supervisor, make_person):
    task = new_task("gone", expires_at=db_now() + timedelta(hours=1))
    Task.objects.filter(pk=task.pk).update(expires_at=Now() - timedelta(seconds=1))
    person = free(make_person)
    with pytest.raises(Conflict) as excinfo:
        interventions.task_reassign(actor=supervisor, task_id=task.pk, person_id=person.pk)
    assert excinfo.value.code == "task_expired"
    assignment_expire()
    for service in (interventions.task_cancel,):
        with pytest.raises(Conflict):
            service(actor=supervisor, task_id=task.pk)
