"""An event for every change, written in the transaction of the change: the engine's paths
and the events they leave, in order, with their bodies."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from events import services
from events.models import Event, EventType
from events.selectors import event_data
from qcproject.exceptions import DomainError
from tasks import assigner, interventions
from tasks.models import Task
from tasks.services import ImportRow, task_complete, task_create, task_import
from tasks.sessions import person_heartbeat, person_login, person_logout, person_sign_out
from tasks.testing import age_heartbeat, bulk_people, bulk_tasks, make_tasks

from .checks import assert_events_match_history

pytestmark = pytest.mark.django_db


def types(**filters) -> list[str]:
    return list(Event.objects.filter(**filters).order_by("id").values_list("type", flat=True))


def last(type_: str, **filters) -> Event:
    return Event.objects.filter(type=type_, **filters).order_by("-id").first()


def test_task_create_records_task_created_for_each_task():
    tasks = task_create(descriptions=["one", "two"])
    assert types() == [EventType.TASK_CREATED, EventType.TASK_CREATED]
    assert [e.task_id for e in Event.objects.order_by("id")] == [t.pk for t in tasks]


def test_import_records_the_external_id(supervisor):
    result = task_import(
        actor=supervisor, rows=[ImportRow(line=2, description="x", external_id="LOT-7")]
    )
    event = last(EventType.TASK_CREATED)
    assert event.task_id == result.created[0]
    assert event_data(event) == {
        "task_id": result.created[0],
        "external_id": "LOT-7",
        "person_id": None,
    }


def test_sign_in_records_signed_in_then_assigned_with_the_path(alice):
    (task,) = make_tasks("a")
    Event.objects.all().delete()
    person_login(person_id=alice.pk)
    assert types() == [EventType.PERSON_SIGNED_IN, EventType.TASK_ASSIGNED]
    assigned = last(EventType.TASK_ASSIGNED)
    assert event_data(assigned) == {
        "task_id": task.pk,
        "external_id": None,
        "person_id": alice.pk,
        "path": "sign_in",
    }
    assert event_data(last(EventType.PERSON_SIGNED_IN)) == {"person_id": alice.pk}


def test_signing_in_again_while_live_records_nothing(alice):
    person_login(person_id=alice.pk)
    before = Event.objects.count()
    person_login(person_id=alice.pk)
    person_heartbeat(person_id=alice.pk)
    assert Event.objects.count() == before


def test_sign_in_over_an_expired_session_signs_out_first(alice):
    make_tasks("a", "b")
    person_login(person_id=alice.pk)
    age_heartbeat(alice, 3600)
    Event.objects.all().delete()
    person_login(person_id=alice.pk)
    assert types() == [
        EventType.TASK_RELEASED,
        EventType.PERSON_SIGNED_OUT,
        EventType.PERSON_SIGNED_IN,
        EventType.TASK_ASSIGNED,
    ]
    assert last(EventType.TASK_RELEASED).data == {"reason": "stale"}
    assert last(EventType.PERSON_SIGNED_OUT).data == {"reason": "stale"}


def test_complete_records_completed_then_the_next_assignment(alice):
    first, second = make_tasks("a", "b")
    person_login(person_id=alice.pk)
    Event.objects.all().delete()
    task_complete(task_id=first.pk, person_id=alice.pk)
    assert [(e.type, e.task_id) for e in Event.objects.order_by("id")] == [
        (EventType.TASK_COMPLETED, first.pk),
        (EventType.TASK_ASSIGNED, second.pk),
    ]
    assert event_data(last(EventType.TASK_COMPLETED))["person_id"] == alice.pk
    assert last(EventType.TASK_ASSIGNED).data == {"path": "complete"}


def test_repeating_a_complete_records_nothing(alice):
    (task,) = make_tasks("a")
    person_login(person_id=alice.pk)
    task_complete(task_id=task.pk, person_id=alice.pk)
    before = Event.objects.count()
    task_complete(task_id=task.pk, person_id=alice.pk)
    assert Event.objects.count() == before


def test_a_refused_complete_records_nothing(alice, bob):
    (task,) = make_tasks("a")
    person_login(person_id=alice.pk)
    person_login(person_id=bob.pk)
    before = Event.objects.count()
    with pytest.raises(DomainError):
        task_complete(task_id=task.pk, person_id=bob.pk)
    assert Event.objects.count() == before


def test_logout_records_released_then_signed_out(alice):
    (task,) = make_tasks("a")
    person_login(person_id=alice.pk)
    Event.objects.all().delete()
    person_logout(person_id=alice.pk)
    assert types() == [EventType.TASK_RELEASED, EventType.PERSON_SIGNED_OUT]
    assert event_data(last(EventType.TASK_RELEASED)) == {
        "task_id": task.pk,
        "external_id": None,
        "person_id": alice.pk,
        "reason": "logout",
    }
    assert event_data(last(EventType.PERSON_SIGNED_OUT)) == {
        "person_id": alice.pk,
        "reason": "logout",
    }


def test_the_stale_sweep_records_each_release_and_sign_out_in_one_statement_each():
    people = bulk_people(30)
    bulk_tasks(30)
    assigner.assignment_assign_batch()
    for person_id in people:
        age_heartbeat(person_id, 3600)
    Event.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        signed_out, released = assigner.assignment_sweep_stale()
    inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "qc_events"')] or [
        q for q in queries if q["sql"].startswith("INSERT INTO `qc_events`")
    ]
    assert len(inserts) == 2
    assert len(signed_out) == len(released) == 30
    assert types().count(EventType.TASK_RELEASED) == 30
    assert types().count(EventType.PERSON_SIGNED_OUT) == 30


def test_the_assigner_batch_records_its_assignments_in_one_statement():
    bulk_people(40)
    bulk_tasks(50)
    Event.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        pairs = assigner.assignment_assign_batch()
    inserts = [q for q in queries if "qc_events" in q["sql"] and q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assigned = list(Event.objects.filter(type=EventType.TASK_ASSIGNED).order_by("id"))
    assert [(e.person_id, e.task_id) for e in assigned] == pairs
    assert {e.data["path"] for e in assigned} == {"assigner"}


def test_external_ids_travel_with_the_assigner_batch(supervisor, alice):
    task_import(actor=supervisor, rows=[ImportRow(line=2, description="x", external_id="E-1")])
    person_login(person_id=alice.pk)  # takes it at sign-in
    assert last(EventType.TASK_ASSIGNED).external_id == "E-1"
    person_logout(person_id=alice.pk)
    assert last(EventType.TASK_RELEASED).external_id == "E-1"
    bulk_people(1, prefix="late")
    assigner.assignment_assign_batch()
    assert last(EventType.TASK_ASSIGNED).external_id == "E-1"
    assert last(EventType.TASK_ASSIGNED).data == {"path": "assigner"}


def test_release_by_a_supervisor_records_released_and_the_holders_next_task(supervisor, alice):
    first, second = make_tasks("a", "b")
    person_login(person_id=alice.pk)
    Event.objects.all().delete()
    interventions.task_release(actor=supervisor, task_id=first.pk)
    assert [(e.type, e.task_id, e.data) for e in Event.objects.order_by("id")] == [
        (EventType.TASK_RELEASED, first.pk, {"reason": "released"}),
        (EventType.TASK_ASSIGNED, second.pk, {"path": "assigner"}),
    ]


def test_reassign_records_released_then_assigned_to_the_new_person(supervisor, alice, bob):
    (task,) = make_tasks("a")
    person_login(person_id=alice.pk)
    person_login(person_id=bob.pk)
    Event.objects.all().delete()
    interventions.task_reassign(actor=supervisor, task_id=task.pk, person_id=bob.pk)
    events = list(Event.objects.filter(task_id=task.pk).order_by("id"))
    assert [(e.type, e.person_id, e.data) for e in events] == [
        (EventType.TASK_RELEASED, alice.pk, {"reason": "reassigned"}),
        (EventType.TASK_ASSIGNED, bob.pk, {"path": "reassign"}),
    ]


def test_cancel_of_a_task_in_progress_records_released_then_cancelled(supervisor, alice):
    (task,) = make_tasks("a")
    person_login(person_id=alice.pk)
    Event.objects.all().delete()
    interventions.task_cancel(actor=supervisor, task_id=task.pk)
    assert types(task_id=task.pk) == [EventType.TASK_RELEASED, EventType.TASK_CANCELLED]
    assert last(EventType.TASK_RELEASED).data == {"reason": "cancelled"}
    assert last(EventType.TASK_CANCELLED).person_id == alice.pk


def test_cancel_of_a_pending_task_records_cancelled_without_a_person(supervisor):
    (task,) = make_tasks("a")
    interventions.task_cancel(actor=supervisor, task_id=task.pk)
    assert types(task_id=task.pk) == [EventType.TASK_CREATED, EventType.TASK_CANCELLED]
    assert last(EventType.TASK_CANCELLED).person_id is None


def test_supervisor_sign_out_records_the_reason(supervisor, alice):
    make_tasks("a")
    person_login(person_id=alice.pk)
    Event.objects.all().delete()
    person_sign_out(actor=supervisor, person_id=alice.pk)
    assert types() == [EventType.TASK_RELEASED, EventType.PERSON_SIGNED_OUT]
    assert last(EventType.PERSON_SIGNED_OUT).data == {"reason": "signed_out"}


def test_a_change_that_rolls_back_leaves_no_event():
    with pytest.raises(RuntimeError), transaction.atomic():
        task_create(descriptions=["doomed"])
        assert Event.objects.filter(type=EventType.TASK_CREATED).exists()
        raise RuntimeError("the change fails after its event was written")
    assert not Event.objects.exists()
    assert not Task.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_writing_an_event_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError):
        services.event_emit(EventType.TASK_CREATED, task_id=1)
    assert not Event.objects.exists()


def test_an_unknown_event_type_is_refused():
    with pytest.raises(ValueError), transaction.atomic():
        services.event_emit("task.exploded", task_id=1)


def test_events_match_the_history_after_a_busy_day(supervisor, make_person):
    people = [make_person() for _ in range(4)]
    tasks = make_tasks(*[f"t{i}" for i in range(8)])
    for p in people:
        person_login(person_id=p.pk)
    task_complete(task_id=tasks[0].pk, person_id=people[0].pk)
    interventions.task_release(actor=supervisor, task_id=tasks[1].pk)
    person_logout(person_id=people[2].pk)
    interventions.task_cancel(actor=supervisor, task_id=tasks[7].pk)
    person_sign_out(actor=supervisor, person_id=people[3].pk)
    assert_events_match_history()


@pytest.mark.parametrize(
    "text",
    ["O'Brien", "50% off", "back\\slash", 'a "quote"', "naïve ✓", "x'); DROP TABLE y; --", ""],
)
def test_values_that_need_quoting_are_stored_exactly(text):
    with transaction.atomic():
        services.event_emit(EventType.TASK_CREATED, task_id=1, external_id=text, data={"n": text})
        services.events_emit_for_tasks(
            EventType.TASK_RELEASED, [(2, 3, text), (4, None, None)], data={"reason": text}
        )
    rows = list(
        Event.objects.order_by("id").values_list("task_id", "person_id", "external_id", "data")
    )
    assert rows == [
        (1, None, text, {"n": text}),
        (2, 3, text, {"reason": text}),
        (4, None, None, {"reason": text}),
    ]


def test_events_match_the_history_of_reviews_a_dispute_and_its_resolution(supervisor, make_person):
    """The check reads reviews as the engine tells them: `task.reviewed` while more are
    needed, then `task.disputed` (or `task.completed`), and `task.resolved` after."""
    ada, bob = make_person("Ada"), make_person("Bob")
    (task,) = make_tasks("two looks")
    Task.objects.filter(pk=task.pk).update(reviews_required=2)
    assert person_login(person_id=ada.pk).current_task.pk == task.pk
    task_complete(task_id=task.pk, person_id=ada.pk, outcome="pass")
    assert person_login(person_id=bob.pk).current_task.pk == task.pk  # never again Ada's
    task_complete(task_id=task.pk, person_id=bob.pk, outcome="fail")
    assert types(task_id=task.pk)[-3:] == [
        EventType.TASK_REVIEWED,
        EventType.TASK_ASSIGNED,
        EventType.TASK_DISPUTED,
    ]
    assert_events_match_history()
    interventions.task_resolve(actor=supervisor, task_id=task.pk, outcome="fail", note="Lid.")
    assert types(task_id=task.pk)[-1] == EventType.TASK_RESOLVED
    assert_events_match_history()
